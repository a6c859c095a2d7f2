package cli

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestCountFolded(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
	}{
		{"", 0},
		{"web-1", 1},
		{"a,b,c", 3},
		{"10.0.0.[1-5]", 5},
		{"10.0.0.[1-5,7,9-10],web-[01-03]", 11},
		{"r[1-2]n[1-3]", 6},
		{"10.0.[0-1].[1-254]", 508},
		{"bad[", -1},
		{"x[a-b]", -1},
		{"x[5-1]", -1},
	} {
		if got := countFolded(tc.in); got != tc.want {
			t.Errorf("countFolded(%q) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

func TestHostsCell(t *testing.T) {
	many := make([]string, 0, 30)
	for i := 0; i < 30; i++ {
		many = append(many, "host-with-a-long-name-"+string(rune('a'+i%26)))
	}
	tests := []struct {
		name  string
		group Group
		want  string
	}{
		{"short", Group{Count: 5, Folded: "10.0.0.[1-5]"}, "10.0.0.[1-5]"},
		{"cut between items",
			Group{Count: 40, Folded: "10.0.0.[1-10],10.0.1.[1-10],10.0.2.[1-10],10.0.3.[1-10],10.0.4.[1-10]"},
			"10.0.0.[1-10],10.0.1.[1-10],10.0.2.[1-10],10.0.3.[1-10],… (+10 more)"},
		{"cut inside one bracket",
			Group{Count: 20, Folded: "10.0.0.[1,3,5,7,9,11,13,15,17,19,21,23,25,27,29,31,33,35,37,39]"},
			"10.0.0.[1,3,5,7,9,11,13,15,17,19,21,23,25,27,29,31,33,35,…] (+2 more)"},
		{"no folded: first hosts of more", Group{Count: 25, Hosts: []string{"a", "b"}}, "a,b (+23 more)"},
		{"no hosts at all", Group{Count: 3}, "(3 hosts)"},
		{"unparseable long",
			Group{Count: 2, Folded: strings.Repeat("x", 70) + "[z]"},
			strings.Repeat("x", 59) + "… (2 hosts)"},
		{"long plain names", Group{Count: 30, Folded: strings.Join(many, ",")},
			"host-with-a-long-name-a,host-with-a-long-name-b,… (+28 more)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := hostsCell(tc.group, hostsWidth)
			if got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestDisplayValue(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", `""`},
		{"1.25.3", "1.25.3"},
		{"a\tb\nc", `a\tb\nc`},
		{"bell\x07", "bell?"},
		{"héllo", "héllo"},
		{strings.Repeat("v", 50), strings.Repeat("v", 39) + "…"},
	} {
		if got := displayValue(tc.in, valueWidth); got != tc.want {
			t.Errorf("displayValue(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestJobHeaderElapsed(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	st := Status{ID: "j", State: JobGathered, Total: 3000, Done: 3000, Counts: Counts{OK: 2990, Failed: 4, Skipped: 6},
		StartedAt: Time{start}, FinishedAt: Time{start.Add(1500 * time.Millisecond)}}
	el := jobElapsed(st, time.Hour)
	if el != 1500*time.Millisecond {
		t.Fatalf("elapsed %s", el)
	}
	want := "job j  state gathered  total 3,000  ok 2,990  failed 4  skipped 6  elapsed 1.5s  rate 2,000/s"
	if got := jobHeader(st, el); got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	if el := jobElapsed(Status{}, time.Second); el != time.Second {
		t.Errorf("without server times: %s", el)
	}
}

func TestWriteJSONKeepsServerFields(t *testing.T) {
	var st Status
	if err := json.Unmarshal([]byte(`{"id": "j", "state": "gathered", "maxConcurrency": 100, "total": 1}`), &st); err != nil {
		t.Fatal(err)
	}
	if st.ID != "j" || st.Total != 1 {
		t.Fatalf("decoded %+v", st)
	}
	var buf strings.Builder
	if err := writeJSON(&buf, st, &Aggregate{By: ByValue, Groups: []Group{{Value: "200", Count: 1}}}); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Status    map[string]any `json:"status"`
		Aggregate Aggregate      `json:"aggregate"`
	}
	if err := json.Unmarshal([]byte(buf.String()), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Status["maxConcurrency"] != float64(100) || doc.Status["id"] != "j" || len(doc.Aggregate.Groups) != 1 {
		t.Errorf("document %s", buf.String())
	}
	// A status built in code (no server document) is written from its fields.
	buf.Reset()
	if err := writeJSON(&buf, Status{ID: "k", State: JobFailed}, nil); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `"id": "k"`) || strings.Contains(buf.String(), "aggregate") ||
		strings.Contains(buf.String(), "startedAt") {
		t.Errorf("document %s", buf.String())
	}
}
