package commands

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/salvo-sh/salvo/job"
)

// TestRunExpectHTTP runs HTTP jobs with and without expect against a real
// loopback server whose path picks the status (/503) and whose body is
// "status=<code>".
func TestRunExpectHTTP(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code, err := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/"))
		if err != nil {
			code = 200
		}
		w.WriteHeader(code)
		fmt.Fprintf(w, "status=%d", code)
	}))
	t.Cleanup(srv.Close)
	hostPort := strings.TrimPrefix(srv.URL, "http://")
	// A port nothing listens on: the result has no answer.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()

	h := newTestExecutor(t, DefaultHTTPConfig())
	tests := []struct {
		name      string
		target    string
		path      string
		expect    *job.Expect
		state     string
		class     string
		errSubstr string
	}{
		{"no expect: 503 is ok", hostPort, "/503", nil, job.StateOK, "", ""},
		{"empty expect: 503 is ok", hostPort, "/503", &job.Expect{}, job.StateOK, "", ""},
		{"2xx: 200 ok", hostPort, "/200", &job.Expect{Status: []job.StatusMatch{"2xx", "304"}}, job.StateOK, "", ""},
		{"2xx: 204 ok", hostPort, "/204", &job.Expect{Status: []job.StatusMatch{"2xx", "304"}}, job.StateOK, "", ""},
		{"304 listed: ok", hostPort, "/304", &job.Expect{Status: []job.StatusMatch{"2xx", "304"}}, job.StateOK, "", ""},
		{"2xx: 503 failed", hostPort, "/503", &job.Expect{Status: []job.StatusMatch{"2xx", "304"}}, job.StateFailed,
			job.ClassExpectation, "expect: status 503 is not one of 2xx, 304"},
		{"2xx: 301 failed", hostPort, "/301", &job.Expect{Status: []job.StatusMatch{"2XX"}}, job.StateFailed,
			job.ClassExpectation, "expect: status 301 is not one of 2xx"},
		{"5xx: 503 ok", hostPort, "/503", &job.Expect{Status: []job.StatusMatch{"5xx"}}, job.StateOK, "", ""},
		{"404 exact", hostPort, "/404", &job.Expect{Status: []job.StatusMatch{"404"}}, job.StateOK, "", ""},
		{"body matches", hostPort, "/200", &job.Expect{BodyRegex: `^status=2\d\d$`}, job.StateOK, "", ""},
		{"body misses", hostPort, "/500", &job.Expect{BodyRegex: `^status=2\d\d$`}, job.StateFailed,
			job.ClassExpectation, `expect: body does not match /^status=2\d\d$/`},
		{"status ok, body misses", hostPort, "/201", &job.Expect{Status: []job.StatusMatch{"2xx"}, BodyRegex: "status=200"},
			job.StateFailed, job.ClassExpectation, "body does not match"},
		{"status first", hostPort, "/500", &job.Expect{Status: []job.StatusMatch{"2xx"}, BodyRegex: "status=200"},
			job.StateFailed, job.ClassExpectation, "status 500"},
		{"no answer stays error", closed, "/200", &job.Expect{Status: []job.StatusMatch{"2xx"}}, job.StateError,
			job.ClassConnectRefused, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := testSpec(tc.target)
			s.HTTP.Path = tc.path
			s.Expect = tc.expect
			p := mustPlan(t, s, h)
			r := runTarget(t, p, 0)
			if r.State != tc.state || r.ErrorClass != tc.class || !strings.Contains(r.Error, tc.errSubstr) {
				t.Fatalf("got state %q class %q error %q (status %d); want %q %q containing %q",
					r.State, r.ErrorClass, r.Error, r.StatusCode, tc.state, tc.class, tc.errSubstr)
			}
			if tc.state == job.StateOK && r.Error != "" {
				t.Fatalf("ok result with error %q", r.Error)
			}
			if r.StatusCode != 0 && r.Value != strconv.Itoa(r.StatusCode) {
				t.Fatalf("value %q, want the status %d (the value rules do not change)", r.Value, r.StatusCode)
			}
		})
	}
}

// BenchmarkExpectCheck is the per-result cost of an expectation.
func BenchmarkExpectCheck(b *testing.B) {
	m, err := (&job.Expect{Status: []job.StatusMatch{"2xx", "304"}, BodyRegex: "ok"}).Compile()
	if err != nil {
		b.Fatal(err)
	}
	body := []byte(strings.Repeat("x", 1000) + "ok")
	for b.Loop() {
		if m.CheckHTTP(200, body) != "" {
			b.Fatal("miss")
		}
	}
}
