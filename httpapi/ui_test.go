package httpapi_test

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/salvo-sh/salvo/actors"
	"github.com/salvo-sh/salvo/fleet"
	"github.com/salvo-sh/salvo/internal/testutil"
	"github.com/salvo-sh/salvo/job"
	"github.com/salvo-sh/salvo/nodeset"
	"github.com/salvo-sh/salvo/store"
)

// get fetches a URL without following redirects.
func get(t *testing.T, u string) (*http.Response, string) {
	t.Helper()
	c := &http.Client{
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := c.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s: %v", u, err)
	}
	return resp, string(b)
}

var importRE = regexp.MustCompile(`(?m)^import\s+(?:[^'"]*?\s+from\s+)?['"](\./[^'"]+)['"]`)

func TestUIServesEmbeddedFiles(t *testing.T) {
	n := testutil.StartNode(t, nil)
	cases := []struct {
		path, status, ctype, contains string
	}{
		{"/ui/", "200", "text/html", `<script type="module" src="js/app.js">`},
		{"/ui/style.css", "200", "text/css", ".bar"},
		{"/ui/js/app.js", "200", "javascript", "hashchange"},
		{"/ui/js/nope.js", "404", "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.path, func(t *testing.T) {
			resp, body := get(t, n.URL+tc.path)
			if got := fmt.Sprint(resp.StatusCode); got != tc.status {
				t.Fatalf("status %s, want %s", got, tc.status)
			}
			if !strings.Contains(resp.Header.Get("Content-Type"), tc.ctype) {
				t.Errorf("Content-Type %q, want %q", resp.Header.Get("Content-Type"), tc.ctype)
			}
			if !strings.Contains(body, tc.contains) {
				t.Errorf("body does not contain %q", tc.contains)
			}
			if tc.status == "200" && !strings.Contains(resp.Header.Get("Content-Security-Policy"), "script-src 'self'") {
				t.Errorf("no content security policy: %q", resp.Header.Get("Content-Security-Policy"))
			}
		})
	}
	t.Run("root redirects to the dashboard", func(t *testing.T) {
		resp, _ := get(t, n.URL+"/")
		if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/ui/" {
			t.Errorf("GET /: %d Location %q, want 302 /ui/", resp.StatusCode, resp.Header.Get("Location"))
		}
	})
	t.Run("every imported module is served", func(t *testing.T) {
		// Walk the module graph from app.js: a missing file would break the
		// whole dashboard in the browser.
		seen := map[string]bool{}
		queue := []string{"js/app.js"}
		for len(queue) > 0 {
			p := queue[0]
			queue = queue[1:]
			if seen[p] {
				continue
			}
			seen[p] = true
			resp, body := get(t, n.URL+"/ui/"+p)
			if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Content-Type"), "javascript") {
				t.Fatalf("%s: %d %q", p, resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			for _, m := range importRE.FindAllStringSubmatch(body, -1) {
				ref, _ := url.Parse(m[1])
				queue = append(queue, strings.TrimPrefix((&url.URL{Path: "/" + p}).ResolveReference(ref).Path, "/"))
			}
		}
		if len(seen) < 6 {
			t.Errorf("found only %d modules from app.js: %v", len(seen), seen)
		}
	})
}

func TestUIGroupListsAGroupsResultsPaged(t *testing.T) {
	f := testutil.StartFleet(t, func(c *fleet.Config) { c.Hosts = 200 })
	n := testutil.StartNode(t, nil)
	targets := fleet.Targets(200, f.Addr().Port)
	targets = append(targets, "127.0.0.1:1") // refused: error class connect_refused
	var st actors.JobStatus
	code := testutil.DoJSON(t, "POST", n.URL+"/api/v1/jobs", map[string]any{
		"targets": targets, "aggregation": map[string]string{"regex": `version=(\S+)`},
		"timeouts": map[string]string{"connect": "2s", "request": "5s"},
	}, &st)
	if code != http.StatusAccepted {
		t.Fatalf("submit: %d", code)
	}
	testutil.WaitJob(t, n.Engine, st.ID, 30*time.Second)

	// collect pages through the cursor until the end.
	collect := func(by, value string, limit int) (hosts []string, pages int) {
		cursor := ""
		for pages = 1; pages < 100; pages++ {
			var pg groupAnswer
			u := fmt.Sprintf("%s/api/v1/jobs/%s/group?by=%s&value=%s&limit=%d&cursor=%s", n.URL, st.ID, by, url.QueryEscape(value), limit, cursor)
			if code := testutil.DoJSON(t, "GET", u, nil, &pg); code != http.StatusOK {
				t.Fatalf("GET %s: %d", u, code)
			}
			last := -1
			var page []string
			for _, it := range pg.Items {
				if it.Index <= last {
					t.Fatalf("indexes not ascending: %d after %d", it.Index, last)
				}
				last = it.Index
				page = append(page, it.Host)
			}
			if pg.Folded != nodeset.Fold(page) {
				t.Errorf("GET %s: folded %q, want %q", u, pg.Folded, nodeset.Fold(page))
			}
			hosts = append(hosts, page...)
			if pg.NextCursor == "" {
				return hosts, pages
			}
			cursor = pg.NextCursor
		}
		t.Fatalf("more than 100 pages")
		return nil, 0
	}
	cases := []struct {
		by, value string
		limit     int
		want      func(i int) bool // which fleet hosts belong to the group
		extra     []string         // hosts outside the fleet
	}{
		{"value", "v1", 7, func(i int) bool { return fleet.Version(i) == "v1" }, nil},
		{"value", "v3", 1000, func(i int) bool { return fleet.Version(i) == "v3" }, nil},
		{"errorClass", "none", 50, func(int) bool { return true }, nil},
		{"errorClass", "connect_refused", 10, func(int) bool { return false }, []string{"127.0.0.1"}},
		{"value", "no such value", 10, func(int) bool { return false }, nil},
		{"status", "200", 30, func(i int) bool { return f.Expect(i).Status == 200 }, nil},
		{"status", "error", 30, func(int) bool { return false }, []string{"127.0.0.1"}},
		{"body", "[error: connect_refused]", 5, func(int) bool { return false }, []string{"127.0.0.1"}},
		{"body", f.Expect(3).Body, 5, func(i int) bool { return f.Expect(i).Body == f.Expect(3).Body }, nil},
	}
	for _, tc := range cases {
		t.Run(tc.by+"="+tc.value, func(t *testing.T) {
			var want []string
			for i := range 200 {
				if tc.want(i) {
					want = append(want, fleet.HostAddr(i))
				}
			}
			want = append(want, tc.extra...)
			got, pages := collect(tc.by, tc.value, tc.limit)
			if strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("hosts (%d) = %v\nwant (%d) %v", len(got), got, len(want), want)
			}
			if wantPages := max(1, (len(want)+tc.limit-1)/tc.limit); pages != wantPages {
				t.Errorf("%d pages, want %d", pages, wantPages)
			}
		})
	}
	t.Run("bad parameters", func(t *testing.T) {
		for q, field := range map[string]string{
			"by=nope&value=x":      "by", // body, status: keys of /aggregate too
			"by=value":             "value",
			"value=v1&cursor=-1":   "cursor",
			"value=v1&limit=10001": "limit",
		} {
			var e apiError
			if code := testutil.DoJSON(t, "GET", n.URL+"/api/v1/jobs/"+st.ID+"/group?"+q, nil, &e); code != http.StatusBadRequest || e.Field != field {
				t.Errorf("%s: %d field %q, want 400 field %q (%s)", q, code, e.Field, field, e.Error)
			}
		}
		var e apiError
		if code := testutil.DoJSON(t, "GET", n.URL+"/api/v1/jobs/nope/group?value=v1", nil, &e); code != http.StatusNotFound {
			t.Errorf("unknown job: %d, want 404", code)
		}
	})
}

// TestUIGroupPagesFromACursor checks that a page of /group holds the
// group's results only, from the cursor on, for every key, and that a
// group's hostsCursor from /aggregate goes on after its first 1,000 hosts.
func TestUIGroupPagesFromACursor(t *testing.T) {
	u, st := startStoreAPI(t)
	rs := storeBigJob(t, st, "big")
	cases := []struct {
		by, value string
		cursor    int
		limit     int
	}{
		{store.ByValue, "1.0", 1501, 100},
		{store.ByValue, "1.1", 0, 10000},
		{store.ByValue, job.ClassConnectRefused, 2990, 3},
		{store.ByStatus, "503", 17, 400},
		{store.ByStatus, job.StateError, 1000, 64},
		{store.ByErrorClass, "none", 2500, 50},
		{store.ByErrorClass, "", 2990, 50}, // "" is none, as earlier versions took it
		{store.ByBody, "v0", 2999, 10},
		{store.ByBody, "[error: connect_refused]", 5, 1000},
		{store.ByValue, "1.0", 3000, 10},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%s=%s/from %d", tc.by, tc.value, tc.cursor), func(t *testing.T) {
			key := tc.value
			if key == "" {
				key = "none"
			}
			var want []string
			for _, r := range rs {
				if r.Index >= tc.cursor && bigJobKey(r, tc.by) == key {
					want = append(want, r.Host)
				}
			}
			got := pageGroup(t, u+"/api/v1/jobs/big", tc.by, tc.value, fmt.Sprint(tc.cursor), tc.limit)
			if strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("hosts (%d) = %v\nwant (%d) %v", len(got), got, len(want), want)
			}
		})
	}
}

func TestUIMemberEnableDisable(t *testing.T) {
	n := testutil.StartNode(t, nil)
	type members struct {
		Items []actors.Member `json:"items"`
	}
	enabled := func(ms members) (bool, bool) {
		for _, m := range ms.Items {
			if m.Name == "node-a" {
				return m.Enabled, true
			}
		}
		return false, false
	}
	for _, tc := range []struct {
		action string
		want   bool
	}{{"disable", false}, {"disable", false}, {"enable", true}} {
		var got members
		if code := testutil.DoJSON(t, "POST", n.URL+"/api/v1/cluster/members/node-a/"+tc.action, nil, &got); code != http.StatusOK {
			t.Fatalf("%s: %d", tc.action, code)
		}
		if en, ok := enabled(got); !ok || en != tc.want {
			t.Errorf("%s answered enabled=%v (found %v), want %v", tc.action, en, ok, tc.want)
		}
		var list members
		testutil.DoJSON(t, "GET", n.URL+"/api/v1/cluster/members", nil, &list)
		if en, ok := enabled(list); !ok || en != tc.want {
			t.Errorf("after %s the members list says enabled=%v (found %v), want %v", tc.action, en, ok, tc.want)
		}
	}
	var e apiError
	if code := testutil.DoJSON(t, "POST", n.URL+"/api/v1/cluster/members/nobody/disable", nil, &e); code != http.StatusNotFound || !strings.Contains(e.Error, "nobody") {
		t.Errorf("unknown member: %d %q, want 404 naming it", code, e.Error)
	}
	if code := testutil.DoJSON(t, "GET", n.URL+"/api/v1/cluster/members/node-a/disable", nil, &e); code != http.StatusMethodNotAllowed {
		t.Errorf("GET of a toggle: %d, want 405", code)
	}
}

// rateAnswer is the answer of /rate.
type rateAnswer struct {
	From     *time.Time `json:"from"`
	To       *time.Time `json:"to"`
	BucketMs int64      `json:"bucketMs"`
	Counts   []int      `json:"counts"`
}

// GET /rate divides a job's run into at most 120 spans (or ?buckets=) of
// 250 ms or more and counts its answered results in each: a finished
// job's from its start to its end, a running job's to now, none for a job
// not started.
func TestUIRateSeries(t *testing.T) {
	u, st := startStoreAPI(t)
	ctx := t.Context()
	t0 := time.Now().UTC().Add(-2 * time.Hour).Truncate(time.Millisecond)
	// put stores job id, started at start (zero: not started) and finished
	// at end (zero: running), with a result finishing at each offset, the
	// last one cancelled.
	put := func(id string, start, end time.Time, offsets ...time.Duration) {
		t.Helper()
		state := store.JobGathered
		if end.IsZero() {
			state = store.JobProcessing
		}
		if start.IsZero() {
			state = store.JobWaiting
		}
		j := &store.Job{ID: id, Spec: &job.Spec{Protocol: job.ProtocolHTTP}, State: state, Total: len(offsets),
			Counts: map[string]int{}, CreatedAt: t0, StartedAt: start, FinishedAt: end}
		if err := st.CreateJob(ctx, j, nil, 0); err != nil {
			t.Fatal(err)
		}
		if err := st.UpdateJob(ctx, j); err != nil {
			t.Fatal(err)
		}
		rs := make([]job.Result, len(offsets))
		for i, off := range offsets {
			rs[i] = job.Result{Index: i, Host: fmt.Sprintf("10.0.0.%d", i), State: job.StateOK, FinishedAt: start.Add(off)}
		}
		if i := len(rs) - 1; i > 0 {
			rs[i].State = job.StateCancelled // not sent: not counted
		}
		if len(rs) > 0 {
			if _, err := st.PutResults(ctx, id, rs); err != nil {
				t.Fatal(err)
			}
		}
	}
	put("hour", t0, t0.Add(time.Hour), 0, 29*time.Second, 30*time.Second, 59*time.Minute, time.Hour, time.Hour)
	put("short", t0, t0.Add(2*time.Second), 0, 300*time.Millisecond, 1900*time.Millisecond, 2*time.Second)
	put("running", time.Now().UTC().Add(-10*time.Second), time.Time{}, time.Second, 9*time.Second, 9*time.Second)
	put("waiting", time.Time{}, time.Time{})

	sum := func(ns []int) int {
		s := 0
		for _, n := range ns {
			s += n
		}
		return s
	}
	for _, tc := range []struct {
		name, path string
		bucketMs   int64
		buckets    int
		first      []int // the first counts
		answered   int
	}{
		{"an hour in 120 spans", "hour/rate", 30_000, 120, []int{2, 1}, 5},
		{"an hour in 10 spans", "hour/rate?buckets=10", 360_000, 10, []int{3}, 5},
		{"two seconds in spans of 250 ms", "short/rate", 250, 8, []int{1, 1, 0, 0, 0, 0, 0, 1}, 3},
		{"one span", "short/rate?buckets=1", 2000, 1, []int{3}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var a rateAnswer
			if code := testutil.DoJSON(t, "GET", u+"/api/v1/jobs/"+tc.path, nil, &a); code != http.StatusOK {
				t.Fatalf("GET: %d", code)
			}
			if a.BucketMs != tc.bucketMs || len(a.Counts) != tc.buckets || sum(a.Counts) != tc.answered {
				t.Errorf("%d spans of %d ms holding %d, want %d of %d ms holding %d: %v",
					len(a.Counts), a.BucketMs, sum(a.Counts), tc.buckets, tc.bucketMs, tc.answered, a.Counts)
			}
			for i, n := range tc.first {
				if i < len(a.Counts) && a.Counts[i] != n {
					t.Errorf("span %d holds %d, want %d: %v", i, a.Counts[i], n, a.Counts)
				}
			}
			if a.From == nil || !a.From.Equal(t0) || a.To == nil || a.To.Before(*a.From) {
				t.Errorf("from %v to %v, want from %v", a.From, a.To, t0)
			}
		})
	}
	t.Run("running job", func(t *testing.T) {
		var a rateAnswer
		if code := testutil.DoJSON(t, "GET", u+"/api/v1/jobs/running/rate", nil, &a); code != http.StatusOK {
			t.Fatalf("GET: %d", code)
		}
		if a.To == nil || time.Since(*a.To) > 5*time.Second || a.From == nil || a.To.Sub(*a.From) < 10*time.Second {
			t.Errorf("from %v to %v, want to now, 10 s after from", a.From, a.To)
		}
		if a.BucketMs != 250 || len(a.Counts) < 40 || len(a.Counts) > 60 || sum(a.Counts) != 2 || a.Counts[4] != 1 {
			t.Errorf("%d spans of %d ms: %v", len(a.Counts), a.BucketMs, a.Counts)
		}
	})
	t.Run("job not started", func(t *testing.T) {
		var a rateAnswer
		if code := testutil.DoJSON(t, "GET", u+"/api/v1/jobs/waiting/rate", nil, &a); code != http.StatusOK {
			t.Fatalf("GET: %d", code)
		}
		if a.From != nil || a.To != nil || a.Counts == nil || len(a.Counts) != 0 {
			t.Errorf("%+v, want no span", a)
		}
	})
	t.Run("bad requests", func(t *testing.T) {
		for _, q := range []string{"0", "121", "ten", "-1"} {
			var e apiError
			if code := testutil.DoJSON(t, "GET", u+"/api/v1/jobs/hour/rate?buckets="+q, nil, &e); code != http.StatusBadRequest || e.Field != "buckets" {
				t.Errorf("buckets=%s: %d field %q, want 400 naming buckets", q, code, e.Field)
			}
		}
		if code := testutil.DoJSON(t, "GET", u+"/api/v1/jobs/nope/rate", nil, nil); code != http.StatusNotFound {
			t.Errorf("unknown job: %d, want 404", code)
		}
	})
}
