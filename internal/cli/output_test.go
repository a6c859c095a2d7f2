package cli

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestWriteGroupsByBody(t *testing.T) {
	exit := func(c int) *int { return &c }
	agg := &Aggregate{By: ByBody, Groups: []Group{
		{Value: "", Count: 50, Folded: "127.0.0.[1-50]", State: JobFailed, ExitCode: exit(4),
			Stderr: []Group{{Value: "x\n", Count: 50, Folded: "127.0.0.[1-50]"}}},
		{Value: "out\n", Count: 5, Folded: "web-[1-5]", State: JobFailed, ExitCode: exit(1),
			Stderr:     []Group{{Value: "a", Count: 3, Folded: "web-[1-3]"}, {Value: "", Count: 1, Folded: "web-4"}},
			StderrMore: 1, StderrMoreGroups: 1},
		{Value: "[error: connect_refused]", Count: 2, Folded: "db-[1-2]", State: "error", ErrorClass: "connect_refused", IsError: true,
			Stderr: []Group{{Value: "", Count: 2, Folded: "db-[1-2]"}}},
		{Value: "busy", Count: 2, Folded: "lb-[1-2]", State: "failed", StatusCode: 503, ErrorClass: "expectation",
			Stderr: []Group{{Value: "", Count: 2, Folded: "lb-[1-2]"}}},
		{Value: "hello", Count: 100, Folded: "127.0.0.[51-60]", HostsOmitted: 90, State: "ok", ExitCode: exit(0),
			Stderr: []Group{{Value: "", Count: 100, Folded: "127.0.0.[51-60]"}}},
	}}
	var b strings.Builder
	if err := writeGroups(&b, agg, 0); err != nil {
		t.Fatal(err)
	}
	ruled := func(head string) string {
		rule := strings.Repeat("-", max(len(head), 15))
		return rule + "\n" + head + "\n" + rule + "\n"
	}
	want := ruled("127.0.0.[1-50] (50): exit 4, failed") + "stdout: (empty)\nstderr:\nx\n" +
		ruled("web-[1-5] (5): exit 1, failed") + "stdout:\nout\nstderr of web-[1-3] (3):\na\nstderr of web-4 (1): (empty)\n" +
		"stderr of 1 more host: 1 other output, not shown (--by stderr lists them)\n" +
		ruled("db-[1-2] (2): error (connect_refused)") +
		ruled("lb-[1-2] (2): HTTP 503, failed (expectation)") + "body:\nbusy\n" +
		ruled("127.0.0.[51-60] (+90 more) (100): exit 0") + "stdout:\nhello\n"
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestWriteGroupsTable(t *testing.T) {
	agg := &Aggregate{By: ByValue, Groups: []Group{
		{Value: "1.25", Count: 3, Folded: "10.0.0.[1-2],10.0.1.[1-250]"},
		{Value: "connect_refused", Count: 1, Folded: "bad-1", IsError: true},
		{Value: "1.24", Count: 1, Folded: "10.0.9.1", HostsOmitted: 4},
	}}
	var b strings.Builder
	if err := writeGroups(&b, agg, 10); err != nil {
		t.Fatal(err)
	}
	want := `VALUE                    COUNT  %      HOSTS
1.25                     3      30.0%  10.0.0.[1-2],10.0.1.[1-250]
connect_refused [error]  1      10.0%  bad-1
1.24                     1      10.0%  10.0.9.1 (+4 more)
`
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
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
