package httpapi_test

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/salvo-sh/salvo/internal/testutil"
	"github.com/salvo-sh/salvo/job"
	"github.com/salvo-sh/salvo/store"
)

// storedJob stores a gathered job of results in the given states (result i
// on host 10.0.0.i, target 10.0.0.i:8080, but result 3 on web-3 and result
// 9 on host 10.0.0.1 too, another port) and returns its id. The engine does not run it.
func storedJob(t *testing.T, n *testutil.Node, states []string) string {
	t.Helper()
	ctx := t.Context()
	id := "stored-" + strings.ReplaceAll(t.Name(), "/", "-")
	targets := make([]job.TargetSpec, len(states))
	results := make([]job.Result, len(states))
	now := time.Now().UTC()
	for i, st := range states {
		host := fmt.Sprintf("10.0.0.%d", i)
		port := 8080
		switch i {
		case 3:
			host = "web-3"
		case 9:
			host, port = "10.0.0.1", 9090
		}
		targets[i] = job.TargetSpec{Host: fmt.Sprintf("%s:%d", host, port)}
		results[i] = job.Result{Index: i, Host: host, Target: fmt.Sprintf("http://%s:%d/", host, port), State: st,
			Value: st, Worker: "node-a", StartedAt: now, FinishedAt: now}
	}
	j := &store.Job{ID: id, Spec: &job.Spec{Protocol: job.ProtocolHTTP}, State: store.JobGathered, Total: len(states),
		Counts: map[string]int{}, CreatedAt: now, FinishedAt: now}
	if err := n.Store.CreateJob(ctx, j, targets, 100); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Store.PutResults(ctx, id, results); err != nil {
		t.Fatal(err)
	}
	return id
}

// The state parameter takes several states, repeated or comma-separated;
// host takes a target's host:port form. Bad values are a 400 naming the
// parameter.
func TestResultsStateAndHostParameters(t *testing.T) {
	n := testutil.StartNode(t, nil)
	id := storedJob(t, n, []string{
		job.StateOK, job.StateError, job.StateTimeout, job.StateOK, job.StateFailed,
		job.StateTimeout, job.StateError, job.StateCancelled, job.StateOK, job.StateTimeout,
	})
	tests := []struct {
		name  string
		query string
		want  []int  // result indexes, over every page
		field string // the field a 400 names
	}{
		{"no filter", "", []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, ""},
		{"one state", "state=timeout", []int{2, 5, 9}, ""},
		{"repeated", "state=timeout&state=error", []int{1, 2, 5, 6, 9}, ""},
		{"comma-separated", "state=timeout,error", []int{1, 2, 5, 6, 9}, ""},
		{"comma with spaces", "state=" + url.QueryEscape("failed, cancelled"), []int{4, 7}, ""},
		{"mixed and repeated twice", "state=ok,timeout&state=ok", []int{0, 2, 3, 5, 8, 9}, ""},
		{"empty state is every state", "state=", []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, ""},
		{"states over pages", "state=timeout,error&limit=2", []int{1, 2, 5, 6, 9}, ""},
		{"unknown state", "state=timeout,eror", nil, "state"},
		{"unknown repeated state", "state=ok&state=bogus", nil, "state"},
		{"host", "host=10.0.0.2", []int{2}, ""},
		{"host of two targets", "host=10.0.0.1", []int{1, 9}, ""},
		{"host with a port", "host=10.0.0.2:8080", []int{2}, ""},
		{"host with another port", "host=10.0.0.2:1234", []int{2}, ""},
		{"host in capitals", "host=WEB-3", []int{3}, ""},
		{"host as a URL", "host=" + url.QueryEscape("http://web-3:8080/x?y=1"), []int{3}, ""},
		{"host with a user", "host=" + url.QueryEscape("root@10.0.0.4:22"), []int{4}, ""},
		{"host and states", "host=10.0.0.1:9090&state=error,timeout", []int{1, 9}, ""},
		{"host and a state", "host=10.0.0.1&state=timeout", []int{9}, ""},
		{"host with a bad port", "host=10.0.0.2:http", nil, "host"},
		{"host with a path but no scheme", "host=" + url.QueryEscape("10.0.0.2/x"), nil, "host"},
		{"host with colons", "host=a:b:c", nil, "host"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []int
			cursor := ""
			for pages := 0; ; pages++ {
				if pages > 10 {
					t.Fatal("too many pages")
				}
				u := n.URL + "/api/v1/jobs/" + id + "/results?" + tc.query
				if cursor != "" {
					u += "&cursor=" + cursor
				}
				var pg struct {
					Items      []job.Result `json:"items"`
					NextCursor string       `json:"nextCursor"`
					apiError
				}
				code := testutil.DoJSON(t, "GET", u, nil, &pg)
				if tc.field != "" {
					if code != http.StatusBadRequest || pg.Field != tc.field || !strings.Contains(pg.Error, tc.field) {
						t.Fatalf("GET ?%s: %d %+v, want 400 naming %s", tc.query, code, pg.apiError, tc.field)
					}
					return
				}
				if code != http.StatusOK {
					t.Fatalf("GET ?%s: %d %+v", tc.query, code, pg.apiError)
				}
				for _, r := range pg.Items {
					got = append(got, r.Index)
				}
				if cursor = pg.NextCursor; cursor == "" {
					break
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("GET ?%s: indexes %v, want %v", tc.query, got, tc.want)
			}
		})
	}
}
