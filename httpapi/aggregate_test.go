package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/salvo-sh/salvo/internal/testutil"
	"github.com/salvo-sh/salvo/job"
	"github.com/salvo-sh/salvo/store"
)

// outcomeGroup is a group of /aggregate?by=body with its outcome and
// stderr parts, as clients read it.
type outcomeGroup struct {
	Value       string         `json:"value"`
	Count       int            `json:"count"`
	Hosts       []string       `json:"hosts"`
	Folded      string         `json:"folded"`
	HostsTotal  int            `json:"hostsTotal"`
	HostsCursor *string        `json:"hostsCursor"`
	IsError     bool           `json:"isError"`
	Index       *int           `json:"index"`
	State       string         `json:"state"`
	StatusCode  *int           `json:"statusCode"`
	ExitCode    *int           `json:"exitCode"`
	ErrorClass  string         `json:"errorClass"`
	Stderr      []outcomeGroup `json:"stderr"`
}

// storeOutcomeJob stores job id: SSH and HTTP results whose outputs are
// alike but whose outcomes differ, on hosts 127.0.0.1 onwards.
func storeOutcomeJob(t *testing.T, st store.Store, id string) {
	t.Helper()
	ctx := t.Context()
	if err := st.CreateJob(ctx, &store.Job{ID: id, Spec: &job.Spec{Protocol: job.ProtocolSSH}, State: store.JobGathered,
		Total: 14, Counts: map[string]int{}}, nil, 0); err != nil {
		t.Fatalf("CreateJob: %v", err)
	}
	exit := func(c int) *int { return &c }
	var rs []job.Result
	add := func(n int, f func(r *job.Result)) {
		for range n {
			r := job.Result{Index: len(rs), Host: fmt.Sprintf("127.0.0.%d", len(rs)+1), State: job.StateOK, Attempts: 1}
			f(&r)
			rs = append(rs, r)
		}
	}
	add(3, func(r *job.Result) { r.ExitCode, r.Body, r.Value = exit(0), "up\n", "0" })                            // 0-2
	add(4, func(r *job.Result) { r.State, r.ExitCode, r.Stderr, r.Value = job.StateFailed, exit(4), "x\n", "4" }) // 3-6
	add(2, func(r *job.Result) { r.State, r.ExitCode, r.Stderr, r.Value = job.StateFailed, exit(4), "y\n", "4" }) // 7-8
	add(2, func(r *job.Result) { r.StatusCode, r.Body, r.Value = 200, "same", "200" })                            // 9-10
	add(2, func(r *job.Result) { r.StatusCode, r.Body, r.Value = 503, "same", "503" })                            // 11-12
	add(1, func(r *job.Result) {
		r.State, r.ErrorClass, r.Value = job.StateError, job.ClassConnectRefused, "refused"
	}) // 13
	if _, err := st.PutResults(ctx, id, rs); err != nil {
		t.Fatalf("PutResults: %v", err)
	}
}

// TestAggregateByBodyOutcomes checks /aggregate?by=body: groups of one
// output and one outcome, failed ones first, each with its state, its exit
// or status code and its stderr parts, each part's hosts paged by
// /group?index=&stderr=same; and by=stderr.
func TestAggregateByBodyOutcomes(t *testing.T) {
	u, st := startStoreAPI(t)
	storeOutcomeJob(t, st, "mix")
	var agg struct {
		By     string         `json:"by"`
		Groups []outcomeGroup `json:"groups"`
	}
	if code := testutil.DoJSON(t, "GET", u+"/api/v1/jobs/mix/aggregate?by=body", nil, &agg); code != http.StatusOK {
		t.Fatalf("aggregate: %d", code)
	}
	type part struct {
		stderr, folded string
		index          int
	}
	type want struct {
		value, state string
		status       int    // 0: absent
		exit         string // "": absent
		class        string
		folded       string
		index        int
		isError      bool
		parts        []part
	}
	wants := []want{
		{"", job.StateFailed, 0, "4", "", "127.0.0.[4-9]", 3, false, []part{{"x\n", "127.0.0.[4-7]", 3}, {"y\n", "127.0.0.[8-9]", 7}}},
		{"[error: connect_refused]", job.StateError, 0, "", job.ClassConnectRefused, "127.0.0.14", 13, true, []part{{"", "127.0.0.14", 13}}},
		{"up\n", job.StateOK, 0, "0", "", "127.0.0.[1-3]", 0, false, []part{{"", "127.0.0.[1-3]", 0}}},
		{"same", job.StateOK, 200, "", "", "127.0.0.[10-11]", 9, false, []part{{"", "127.0.0.[10-11]", 9}}},
		{"same", job.StateOK, 503, "", "", "127.0.0.[12-13]", 11, false, []part{{"", "127.0.0.[12-13]", 11}}},
	}
	if len(agg.Groups) != len(wants) {
		t.Fatalf("%d groups, want %d: %+v", len(agg.Groups), len(wants), agg.Groups)
	}
	orZero := func(p *int) int {
		if p == nil {
			return 0
		}
		return *p
	}
	for i, w := range wants {
		g := agg.Groups[i]
		exit := ""
		if g.ExitCode != nil {
			exit = fmt.Sprint(*g.ExitCode)
		}
		if g.Value != w.value || g.State != w.state || orZero(g.StatusCode) != w.status || exit != w.exit || g.ErrorClass != w.class ||
			g.Folded != w.folded || g.Index == nil || *g.Index != w.index || g.IsError != w.isError || g.HostsCursor != nil {
			t.Errorf("group %d = %+v (exit %v, status %v)\nwant %+v", i, g, g.ExitCode, g.StatusCode, w)
			continue
		}
		if len(g.Stderr) != len(w.parts) {
			t.Errorf("group %d: %d stderr parts, want %d", i, len(g.Stderr), len(w.parts))
			continue
		}
		for k, p := range w.parts {
			sp := g.Stderr[k]
			if sp.Value != p.stderr || sp.Folded != p.folded || sp.Index == nil || *sp.Index != p.index || sp.State != "" {
				t.Errorf("group %d part %d = %+v, want %+v", i, k, sp, p)
			}
		}
	}

	// /group by index: a group's hosts; with stderr=same, a part's.
	for _, tc := range []struct {
		q    string
		want string
	}{
		{"by=body&index=3", "127.0.0.[4-9]"},
		{"by=body&index=5", "127.0.0.[4-9]"}, // any result of the group names it
		{"by=body&index=3&stderr=same", "127.0.0.[4-7]"},
		{"by=body&index=8&stderr=same", "127.0.0.[8-9]"},
		{"by=body&index=11", "127.0.0.[12-13]"},                 // the 503s, not the 200s of the same body
		{"by=body&value=same", "127.0.0.[10-13]"},               // by value: that body, whatever the outcome
		{"by=value&index=3", "127.0.0.[4-9]"},                   // value "4"
		{"by=stderr&index=4", "127.0.0.[4-7]"},                  // stderr "x\n"
		{"by=status&index=12&value=ignored", "127.0.0.[12-13]"}, // index wins
	} {
		var pg groupAnswer
		if code := testutil.DoJSON(t, "GET", u+"/api/v1/jobs/mix/group?"+tc.q, nil, &pg); code != http.StatusOK || pg.Folded != tc.want || pg.NextCursor != "" {
			t.Errorf("group?%s: %d folded %q next %q, want %q", tc.q, code, pg.Folded, pg.NextCursor, tc.want)
		}
	}

	// Fields a client tells apart: an SSH group has no statusCode, an
	// HTTP one no exitCode.
	var raw struct {
		Groups []map[string]json.RawMessage `json:"groups"`
	}
	testutil.DoJSON(t, "GET", u+"/api/v1/jobs/mix/aggregate?by=body", nil, &raw)
	if _, ok := raw.Groups[0]["statusCode"]; ok {
		t.Errorf("SSH group has a statusCode: %s", raw.Groups[0]["statusCode"])
	}
	if _, ok := raw.Groups[3]["exitCode"]; ok {
		t.Errorf("HTTP group has an exitCode: %s", raw.Groups[3]["exitCode"])
	}

	// by=stderr: stderr alone, whatever the outcome.
	checkGroups(t, u+"/api/v1/jobs/mix/aggregate?by=stderr", map[string]int{"": 7, "x\n": 4, "y\n": 2, "[error: connect_refused]": 1})

	t.Run("bad parameters", func(t *testing.T) {
		for q, want := range map[string]struct {
			code  int
			field string
		}{
			"by=body&index=-1":                 {http.StatusBadRequest, "index"},
			"by=body&index=x":                  {http.StatusBadRequest, "index"},
			"by=body&index=3&stderr=nope":      {http.StatusBadRequest, "stderr"},
			"by=value&index=3&stderr=same":     {http.StatusBadRequest, "stderr"},
			"by=body&value=same&stderr=same":   {http.StatusBadRequest, "stderr"},
			"by=body":                          {http.StatusBadRequest, "value"},
			"by=body&index=99":                 {http.StatusNotFound, "index"},
			"by=value&index=99":                {http.StatusNotFound, "index"},
			"by=body&index=99&stderr=same":     {http.StatusNotFound, "index"},
			"by=stderr&value=x&cursor=nowhere": {http.StatusBadRequest, "cursor"},
		} {
			var e apiError
			if code := testutil.DoJSON(t, "GET", u+"/api/v1/jobs/mix/group?"+q, nil, &e); code != want.code || e.Field != want.field {
				t.Errorf("%s: %d field %q, want %d field %q (%s)", q, code, e.Field, want.code, want.field, e.Error)
			}
			if want.code == http.StatusNotFound && !strings.Contains(e.Error, "no result 99") {
				t.Errorf("%s: error %q does not name the result", q, e.Error)
			}
		}
	})
}
