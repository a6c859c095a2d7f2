package httpapi_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/salvo-sh/salvo/actors"
	"github.com/salvo-sh/salvo/fleet"
	"github.com/salvo-sh/salvo/internal/testutil"
	"github.com/salvo-sh/salvo/job"
	"github.com/salvo-sh/salvo/store"
)

// jobHosts returns a finished job's results as "index host value" lines,
// by index.
func jobHosts(t *testing.T, url, id string) []string {
	t.Helper()
	var page struct {
		Items []job.Result `json:"items"`
	}
	if code := testutil.DoJSON(t, "GET", url+"/api/v1/jobs/"+id+"/results?limit=100", nil, &page); code != http.StatusOK {
		t.Fatalf("results: %d", code)
	}
	var out []string
	for _, r := range page.Items {
		out = append(out, fmt.Sprintf("%d %s %s", r.Index, r.Host, r.State))
	}
	slices.Sort(out)
	return out
}

func TestSubmitNodesets(t *testing.T) {
	f := testutil.StartFleet(t, func(c *fleet.Config) { c.Hosts = 6 })
	n := testutil.StartNode(t, nil)
	port := f.Addr().Port
	// Hosts 127.1.0.0 to .5; .3 is written twice and excluded.
	id := submit(t, n.URL, map[string]any{
		"targets": []any{
			fmt.Sprintf("127.1.0.[0-3]:%d", port),
			map[string]any{"host": fmt.Sprintf("127.1.0.[4-5]:%d", port), "vars": map[string]string{"P": "/v"}},
			fmt.Sprintf("127.1.0.3:%d", port),
		},
		"exclude": []string{fmt.Sprintf("127.1.0.[1,3]:%d", port)},
		"http":    map[string]any{"path": "/$INDEX"},
	})
	st := testutil.WaitJob(t, n.Engine, id, time.Minute)
	if st.State != store.JobGathered || st.Total != 4 {
		t.Fatalf("job: %+v, want 4 targets gathered", st)
	}
	want := []string{"0 127.1.0.0 ok", "1 127.1.0.2 ok", "2 127.1.0.4 ok", "3 127.1.0.5 ok"}
	if got := jobHosts(t, n.URL, id); !slices.Equal(got, want) {
		t.Errorf("results %q, want %q", got, want)
	}
	// The stored spec keeps what was written.
	if j, err := n.Store.GetJob(t.Context(), id); err != nil || len(j.Spec.Exclude) != 1 || j.Total != 4 {
		t.Errorf("stored job %+v, %v", j, err)
	}
}

func TestSubmitNodesetErrors(t *testing.T) {
	n := testutil.StartNode(t, func(c *actors.Config) { c.MaxTargets = 5 })
	cases := []struct {
		name, body, field, msg string
	}{
		{"reversed range", `{"targets": ["a", "web-[5-1]"]}`, "targets[1]", "reversed range 5-1"},
		{"unclosed", `{"targets": ["web-[1-3"]}`, "targets[0]", "unclosed '['"},
		{"bad host of a nodeset", `{"targets": ["a", "b", "web-[1-2]/x"]}`, "targets[2]", `"web-1/x"`},
		{"bad target after an expansion", `{"targets": ["a[1-3]", "b c"]}`, "targets[1]", "whitespace"},
		{"nodeset past the ceiling", `{"targets": ["h[1-6]"]}`, "targets[0]", "more than 5 targets"},
		{"nodesets past the ceiling", `{"targets": ["h[1-3]", "g[1-3]"]}`, "targets[1]", "more than 5 targets"},
		{"plain targets past the ceiling", `{"targets": ["a", "b", "c", "d", "e", "f"]}`, "targets[5]", "more than 5 targets"},
		{"plain after a nodeset past the ceiling", `{"targets": ["h[1-5]", "a"]}`, "targets[1]", "more than 5 targets"},
		{"bad exclude", `{"targets": ["a"], "exclude": ["b", "c-[1-"]}`, "exclude[1]", "unclosed"},
		{"exclude not a list", `{"targets": ["a"], "exclude": "a"}`, "exclude", "array"},
		{"everything excluded", `{"targets": ["a", "b[1-2]"], "exclude": ["a,b[1-2]"]}`, "exclude", "every one of the job's 3 targets"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var e apiError
			if code := testutil.DoJSON(t, "POST", n.URL+"/api/v1/jobs", tc.body, &e); code != http.StatusBadRequest {
				t.Fatalf("status %d, want 400 (%+v)", code, e)
			}
			if e.Field != tc.field || !strings.Contains(e.Error, tc.msg) {
				t.Errorf("%+v, want field %s and %q", e, tc.field, tc.msg)
			}
		})
	}
	jobs, _, err := n.Store.ListJobs(t.Context(), store.JobQuery{})
	if err != nil || len(jobs) != 0 {
		t.Errorf("refused jobs left %d stored (%v)", len(jobs), err)
	}
}

func TestNodeGroupNodesets(t *testing.T) {
	f := testutil.StartFleet(t, func(c *fleet.Config) { c.Hosts = 4 })
	n := testutil.StartNode(t, func(c *actors.Config) { c.MaxTargets = 5 })
	port := f.Addr().Port
	put := func(hosts ...string) (int, apiError) {
		var e apiError
		code := testutil.DoJSON(t, "PUT", n.URL+"/api/v1/nodegroups/web", map[string]any{"hosts": hosts}, &e)
		return code, e
	}
	for _, tc := range []struct {
		hosts      []string
		field, msg string
	}{
		{[]string{"a", "web-[1-"}, "hosts[1]", "unclosed '['"},
		{[]string{"web-[1-2]/x"}, "hosts[0]", `invalid target "web-1/x"`},
		{[]string{"a", "b[1-5]"}, "hosts[1]", "more than 5 targets"},
		{[]string{"a", "b", "c", "d", "e", "f"}, "hosts[5]", "more than 5 targets"},
	} {
		if code, e := put(tc.hosts...); code != http.StatusBadRequest || e.Field != tc.field || !strings.Contains(e.Error, tc.msg) {
			t.Errorf("PUT %q: %d %+v, want 400 naming %s with %q", tc.hosts, code, e, tc.field, tc.msg)
		}
	}
	// Kept as written, expanded when a job uses the group.
	group := fmt.Sprintf("127.1.0.[0-3]:%d", port)
	if code, e := put(group); code != http.StatusOK {
		t.Fatalf("PUT %s: %d %+v", group, code, e)
	}
	var got struct {
		Hosts []string `json:"hosts"`
	}
	testutil.DoJSON(t, "GET", n.URL+"/api/v1/nodegroups/web", nil, &got)
	if !slices.Equal(got.Hosts, []string{group}) {
		t.Errorf("stored hosts %q", got.Hosts)
	}
	id := submit(t, n.URL, map[string]any{"nodeGroup": "web", "exclude": []string{fmt.Sprintf("127.1.0.2:%d", port)}})
	if st := testutil.WaitJob(t, n.Engine, id, time.Minute); st.State != store.JobGathered || st.Total != 3 {
		t.Fatalf("node group job: %+v", st)
	}
	want := []string{"0 127.1.0.0 ok", "1 127.1.0.1 ok", "2 127.1.0.3 ok"}
	if hosts := jobHosts(t, n.URL, id); !slices.Equal(hosts, want) {
		t.Errorf("results %q, want %q", hosts, want)
	}
}
