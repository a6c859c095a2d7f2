package job

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestExpectParseGood(t *testing.T) {
	tests := []struct {
		name string
		js   string
		want *Expect // after Normalize
	}{
		{"status mixed", `{"targets":["a"],"expect":{"status":["2xx",304,"404"]}}`,
			&Expect{Status: []StatusMatch{"2xx", "304", "404"}}},
		{"status upper class", `{"targets":["a"],"expect":{"status":["5XX"]}}`, &Expect{Status: []StatusMatch{"5xx"}}},
		{"body regex", `{"targets":["a"],"expect":{"bodyRegex":"^ok$"}}`, &Expect{BodyRegex: "^ok$"}},
		{"ssh exit codes", `{"targets":["a"],"protocol":"ssh","ssh":{"command":"x"},"expect":{"exitCodes":[0,1],"bodyRegex":"v"}}`,
			&Expect{ExitCodes: []int{0, 1}, BodyRegex: "v"}},
		{"empty expect dropped", `{"targets":["a"],"expect":{}}`, nil},
		{"empty lists dropped", `{"targets":["a"],"expect":{"status":[],"exitCodes":[]}}`, nil},
		{"null expect", `{"targets":["a"],"expect":null}`, nil},
		{"regex at the limit", `{"targets":["a"],"expect":{"bodyRegex":"` + strings.Repeat("a", MaxExpectRegexBytes) + `"}}`,
			&Expect{BodyRegex: strings.Repeat("a", MaxExpectRegexBytes)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := decodeNormalize(t, tc.js, 2500)
			if err != nil {
				t.Fatalf("error %v", err)
			}
			if !reflect.DeepEqual(s.Expect, tc.want) {
				t.Fatalf("expect = %+v, want %+v", s.Expect, tc.want)
			}
			// A clone is deep, and the spec round-trips through JSON.
			c := s.Clone()
			if c.Expect != nil && len(c.Expect.Status) > 0 {
				c.Expect.Status[0] = "1xx"
				if s.Expect.Status[0] == "1xx" {
					t.Fatal("Clone shares expect.status")
				}
			}
			b, err := json.Marshal(s)
			if err != nil {
				t.Fatal(err)
			}
			s2, err := decodeNormalize(t, string(b), 2500)
			if err != nil {
				t.Fatalf("re-decode %s: %v", b, err)
			}
			if !reflect.DeepEqual(s2.Expect, s.Expect) {
				t.Fatalf("round trip %s: %+v, want %+v", b, s2.Expect, s.Expect)
			}
		})
	}
}

func TestExpectStatusJSON(t *testing.T) {
	b, err := json.Marshal(Expect{Status: []StatusMatch{"2xx", "304"}})
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"status":["2xx",304]}` {
		t.Fatalf("marshal = %s", b)
	}
}

func TestExpectParseBad(t *testing.T) {
	tests := []struct {
		name  string
		js    string
		field string
		msg   []string
	}{
		{"status out of range", `{"targets":["a"],"expect":{"status":["2xx",99]}}`, "expect.status[1]", []string{"100..599"}},
		{"status 600", `{"targets":["a"],"expect":{"status":[600]}}`, "expect.status[0]", []string{"600"}},
		{"status class 6xx", `{"targets":["a"],"expect":{"status":["6xx"]}}`, "expect.status[0]", []string{`"6xx"`}},
		{"status word", `{"targets":["a"],"expect":{"status":[200,"ok"]}}`, "expect.status[1]", []string{`"ok"`}},
		{"status float", `{"targets":["a"],"expect":{"status":[200.5]}}`, "expect.status[0]", nil},
		{"status bool", `{"targets":["a"],"expect":{"status":[true]}}`, "expect.status[0]", []string{"status code"}},
		{"status not a list", `{"targets":["a"],"expect":{"status":"2xx"}}`, "expect.status", []string{"array"}},
		{"status on ssh", `{"targets":["a"],"protocol":"ssh","ssh":{"command":"x"},"expect":{"status":["2xx"]}}`, "expect.status", []string{"http jobs only"}},
		{"exit codes on http", `{"targets":["a"],"expect":{"exitCodes":[0]}}`, "expect.exitCodes", []string{"ssh jobs only"}},
		{"exit code negative", `{"targets":["a"],"protocol":"ssh","ssh":{"command":"x"},"expect":{"exitCodes":[0,-1]}}`, "expect.exitCodes[1]", []string{"0..255"}},
		{"exit code string", `{"targets":["a"],"protocol":"ssh","ssh":{"command":"x"},"expect":{"exitCodes":["0"]}}`, "expect.exitCodes[0]", []string{"integer"}},
		{"bad regex", `{"targets":["a"],"expect":{"bodyRegex":"("}}`, "expect.bodyRegex", []string{"invalid regex"}},
		{"regex too long", `{"targets":["a"],"expect":{"bodyRegex":"` + strings.Repeat("a", MaxExpectRegexBytes+1) + `"}}`, "expect.bodyRegex", []string{"1001 bytes", "1000"}},
		{"unknown field", `{"targets":["a"],"expect":{"statusCodes":[200]}}`, "expect.statusCodes", []string{"unknown field"}},
		{"not an object", `{"targets":["a"],"expect":[200]}`, "expect", []string{"object"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeNormalize(t, tc.js, 2500)
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error = %v (%T), want *FieldError on %q", err, err, tc.field)
			}
			if fe.Field != tc.field {
				t.Fatalf("field = %q (%s), want %q", fe.Field, fe.Msg, tc.field)
			}
			for _, m := range tc.msg {
				if !strings.Contains(fe.Msg, m) {
					t.Errorf("message %q does not contain %q", fe.Msg, m)
				}
			}
		})
	}
}

func TestExpectMatcher(t *testing.T) {
	m, err := (&Expect{Status: []StatusMatch{"2xx", "304"}, BodyRegex: `^ok`}).Compile()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		status int
		body   string
		want   string
	}{
		{200, "ok", ""},
		{299, "ok then", ""},
		{304, "ok", ""},
		{305, "ok", "expect: status 305 is not one of 2xx, 304"},
		{503, "ok", "expect: status 503 is not one of 2xx, 304"},
		{200, "not ok", "expect: body does not match /^ok/"},
		{0, "", "expect: status 0 is not one of 2xx, 304"},
	}
	for _, tc := range tests {
		if got := m.CheckHTTP(tc.status, []byte(tc.body)); got != tc.want {
			t.Errorf("CheckHTTP(%d, %q) = %q, want %q", tc.status, tc.body, got, tc.want)
		}
	}
	var none *ExpectMatcher
	if none.CheckHTTP(500, nil) != "" || !none.ExitOK(0) || none.ExitOK(1) || none.ExitReason(1) != "" {
		t.Error("a nil matcher must keep the defaults")
	}
	x, err := (&Expect{ExitCodes: []int{0, 3}}).Compile()
	if err != nil {
		t.Fatal(err)
	}
	if !x.ExitOK(3) || x.ExitOK(1) || x.ExitReason(1) != "expect: exit code 1 is not one of 0, 3" || x.ExitReason(0) != "" {
		t.Errorf("exit codes: ExitOK(3)=%v ExitOK(1)=%v ExitReason(1)=%q", x.ExitOK(3), x.ExitOK(1), x.ExitReason(1))
	}
	b, err := (&Expect{BodyRegex: "v=2"}).Compile()
	if err != nil {
		t.Fatal(err)
	}
	if !b.ExitOK(0) || b.ExitOK(1) || b.ExitReason(1) != "" {
		t.Error("bodyRegex alone must keep the exit 0 default")
	}
}
