package httpapi_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/salvo-sh/salvo/actors"
	"github.com/salvo-sh/salvo/fleet"
	"github.com/salvo-sh/salvo/httpapi"
	"github.com/salvo-sh/salvo/internal/testutil"
	"github.com/salvo-sh/salvo/job"
	"github.com/salvo-sh/salvo/nodeset"
	"github.com/salvo-sh/salvo/store"
)

type apiError struct {
	Error string `json:"error"`
	Field string `json:"field"`
}

func TestSubmitRejectsBadSpecs(t *testing.T) {
	n := testutil.StartNode(t, func(c *actors.Config) { c.Capacity = 100 })
	cases := []struct {
		name  string
		body  string
		field string
	}{
		{"invalid json", `{"targets": [`, ""},
		{"unknown field", `{"targets": ["h1"], "bogus": 1}`, "bogus"},
		{"unknown protocol", `{"targets": ["h1"], "protocol": "gopher"}`, "protocol"},
		{"bad duration", `{"targets": ["h1"], "timeouts": {"connect": "3 parsecs"}}`, "timeouts.connect"},
		{"undefined variable", `{"targets": ["h1", {"host": "h2", "vars": {"ID": "2"}}], "http": {"path": "/x/${ID}"}}`, "http.path"},
		{"empty targets", `{"targets": []}`, "targets"},
		{"neither targets nor node group", `{"http": {"path": "/"}}`, "targets"},
		{"both targets and node group", `{"targets": ["h1"], "nodeGroup": "web"}`, "targets"},
		{"negative concurrency", `{"targets": ["h1"], "maxConcurrency": -1}`, "maxConcurrency"},
		{"concurrency over capacity", `{"targets": ["h1"], "maxConcurrency": 101}`, "maxConcurrency"},
		{"bad url target", `{"targets": ["http://[::1"]}`, "targets[0]"},
		{"bad regex", `{"targets": ["h1"], "aggregation": {"regex": "("}}`, "aggregation.regex"},
		{"unknown node group", `{"nodeGroup": "nope"}`, "nodeGroup"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var e apiError
			code := testutil.DoJSON(t, "POST", n.URL+"/api/v1/jobs", tc.body, &e)
			if code != http.StatusBadRequest {
				t.Fatalf("status %d, want 400 (%+v)", code, e)
			}
			if e.Error == "" {
				t.Errorf("empty error message")
			}
			if tc.field != "" && !strings.HasPrefix(e.Field, tc.field) {
				t.Errorf("field %q, want %q (error %q)", e.Field, tc.field, e.Error)
			}
		})
	}
	t.Run("undefined variable names the first target missing it", func(t *testing.T) {
		var e apiError
		testutil.DoJSON(t, "POST", n.URL+"/api/v1/jobs",
			`{"targets": [{"host": "h0", "vars": {"ID": "0"}}, "h1"], "http": {"path": "/x/$ID"}}`, &e)
		if !strings.Contains(e.Error, "ID") || !strings.Contains(e.Error, "h1") {
			t.Errorf("error %q should name the variable ID and the target h1", e.Error)
		}
	})
}

func TestRequestLimitsAndNotFound(t *testing.T) {
	n := testutil.StartNode(t, nil)
	big := `{"targets": ["` + strings.Repeat("a", 2<<20) + `"]}`
	var e apiError
	if code := testutil.DoJSON(t, "POST", n.URL+"/api/v1/jobs", big, &e); code != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized body: status %d, want 413", code)
	}
	// The same body sent chunked (no Content-Length): 413 too, not 400.
	req, err := http.NewRequest("POST", n.URL+"/api/v1/jobs", io.MultiReader(strings.NewReader(big)))
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = -1
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge || len(resp.TransferEncoding) != 0 && resp.TransferEncoding[0] == "" {
		t.Errorf("oversized chunked body: status %d, want 413", resp.StatusCode)
	}
	// A name that differs from a stored one only by case is refused.
	if code := testutil.DoJSON(t, "PUT", n.URL+"/api/v1/nodegroups/Web", map[string]any{"hosts": []string{"h"}}, nil); code != http.StatusOK {
		t.Fatalf("PUT nodegroup Web: %d", code)
	}
	e = apiError{}
	if code := testutil.DoJSON(t, "PUT", n.URL+"/api/v1/nodegroups/WEB", map[string]any{"hosts": []string{"h"}}, &e); code != http.StatusBadRequest || e.Field != "name" {
		t.Errorf("PUT nodegroup WEB beside Web: %d %+v, want 400 naming name", code, e)
	}
	// Definition names that could be taken for paths (an encoded slash
	// reaches no route at all).
	for name, want := range map[string]int{".": 400, "..": 400, "%2E%2E": 400, "a%2Fb": 404} {
		e = apiError{}
		code := testutil.DoJSON(t, "PUT", n.URL+"/api/v1/nodegroups/"+name, map[string]any{"hosts": []string{"h"}}, &e)
		if code != want || (want == 400 && e.Field != "name") {
			t.Errorf("PUT nodegroup %q: status %d %+v, want %d", name, code, e, want)
		}
	}
	for _, path := range []string{"/api/v1/jobs/nope", "/api/v1/jobs/nope/results", "/api/v1/jobs/nope/aggregate", "/api/v1/jobs/nope/events", "/api/v1/nothing"} {
		e = apiError{}
		if code := testutil.DoJSON(t, "GET", n.URL+path, nil, &e); code != http.StatusNotFound || e.Error == "" {
			t.Errorf("GET %s: status %d %+v, want 404 with an error", path, code, e)
		}
	}
	if code := testutil.DoJSON(t, "POST", n.URL+"/api/v1/jobs/nope/cancel", nil, &e); code != http.StatusNotFound {
		t.Errorf("cancel unknown: status %d, want 404", code)
	}
	for _, q := range []string{"limit=0", "limit=10001", "limit=x", "state=weird", "cursor=garbage"} {
		if code := testutil.DoJSON(t, "GET", n.URL+"/api/v1/jobs?"+q, nil, &e); code != http.StatusBadRequest {
			t.Errorf("list jobs ?%s: status %d, want 400", q, code)
		}
	}
}

// submit posts a spec and returns the job id.
func submit(t *testing.T, url string, spec map[string]any) string {
	t.Helper()
	var st actors.JobStatus
	if code := testutil.DoJSON(t, "POST", url+"/api/v1/jobs", spec, &st); code != http.StatusAccepted {
		t.Fatalf("submit: status %d", code)
	}
	if st.ID == "" {
		t.Fatal("submit returned no id")
	}
	return st.ID
}

func TestJobLifecycleThroughAPI(t *testing.T) {
	const hosts = 1000
	f := testutil.StartFleet(t, func(c *fleet.Config) { c.Hosts = hosts; c.ErrorRate = 0.1 })
	n := testutil.StartNode(t, nil)
	port := f.Addr().Port
	targets := fleet.Targets(hosts, port)
	id := submit(t, n.URL, map[string]any{
		"name": "lifecycle", "targets": targets, "maxConcurrency": 50,
		"http":        map[string]any{"path": "/v/$INDEX", "headers": map[string]string{"Authorization": "Bearer s3cret"}},
		"aggregation": map[string]any{"regex": `version=(\S+)`},
	})

	// SSE: progress events, then one end event with the final status.
	final := readEvents(t, n.URL+"/api/v1/jobs/"+id+"/events")
	if final.State != store.JobGathered || final.Done != hosts || final.Total != hosts {
		t.Fatalf("final status %+v", final)
	}
	if final.Counts[job.StateOK] != hosts {
		t.Errorf("ok count %d, want %d (500s are responses)", final.Counts[job.StateOK], hosts)
	}

	// Results: paging with a cursor returns every index exactly once.
	seen := map[int]bool{}
	cursor := ""
	for pages := 0; ; pages++ {
		var pg struct {
			Items      []job.Result `json:"items"`
			NextCursor string       `json:"nextCursor"`
		}
		testutil.DoJSON(t, "GET", n.URL+"/api/v1/jobs/"+id+"/results?limit=300&cursor="+cursor, nil, &pg)
		for _, r := range pg.Items {
			if seen[r.Index] {
				t.Fatalf("index %d twice", r.Index)
			}
			seen[r.Index] = true
			exp := f.Expect(r.Index)
			if r.StatusCode != exp.Status || r.Body != exp.Body || r.Host != fleet.HostAddr(r.Index) {
				t.Fatalf("result %d: %d %q from %s, want %d %q", r.Index, r.StatusCode, r.Body, r.Host, exp.Status, exp.Body)
			}
		}
		if pg.NextCursor == "" {
			break
		}
		if pages > 10 {
			t.Fatal("too many pages")
		}
		cursor = pg.NextCursor
	}
	if len(seen) != hosts {
		t.Fatalf("%d results, want %d", len(seen), hosts)
	}

	// Filters.
	var pg struct {
		Items []job.Result `json:"items"`
	}
	host := fleet.HostAddr(7)
	testutil.DoJSON(t, "GET", n.URL+"/api/v1/jobs/"+id+"/results?host="+host, nil, &pg)
	if len(pg.Items) != 1 || pg.Items[0].Host != host {
		t.Errorf("host filter: %+v", pg.Items)
	}
	testutil.DoJSON(t, "GET", n.URL+"/api/v1/jobs/"+id+"/results?q=version%3Dv3&limit=10000", nil, &pg)
	want := 0
	for i := 0; i < hosts; i++ {
		if strings.Contains(f.Expect(i).Body, "version=v3") {
			want++
		}
	}
	if len(pg.Items) != want {
		t.Errorf("q filter: %d results, want %d", len(pg.Items), want)
	}

	// NDJSON streams every result.
	req, _ := http.NewRequest("GET", n.URL+"/api/v1/jobs/"+id+"/results", nil)
	req.Header.Set("Accept", "application/x-ndjson")
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	lines := 0
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var r job.Result
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("ndjson line %d: %v", lines, err)
		}
		lines++
	}
	resp.Body.Close()
	if lines != hosts {
		t.Errorf("ndjson: %d lines, want %d", lines, hosts)
	}

	// Aggregation by value matches the fleet's distribution (500s have a body too).
	expect := map[string]int{}
	statuses := map[string]int{}
	for i := 0; i < hosts; i++ {
		e := f.Expect(i)
		v := "NA"
		if k := strings.Index(e.Body, "version="); k >= 0 {
			v = strings.Fields(e.Body[k+len("version="):])[0]
		}
		expect[v]++
		statuses[strconv.Itoa(e.Status)]++
	}
	checkGroups(t, n.URL+"/api/v1/jobs/"+id+"/aggregate?by=value", expect)
	checkGroups(t, n.URL+"/api/v1/jobs/"+id+"/aggregate?by=status", statuses)

	// The stored spec has the secret header redacted.
	j, err := n.Store.GetJob(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if got := j.Spec.HTTP.Headers["Authorization"]; got != job.Redacted {
		t.Errorf("stored Authorization header %q, want redacted", got)
	}

	// Metrics count the stored targets.
	resp, err = http.Get(n.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), fmt.Sprintf(`salvo_targets_done_total{protocol="http",state="ok"} %d`, hosts)) {
		t.Errorf("metrics lack the ok count:\n%s", grep(string(body), "salvo_"))
	}
	if !strings.Contains(string(body), fmt.Sprintf(`salvo_request_duration_seconds_count{protocol="http",state="ok"} %d`, hosts)) {
		t.Errorf("metrics lack the request latencies by protocol:\n%s", grep(string(body), "salvo_request"))
	}

	// The job list has it, newest first.
	var jobs struct {
		Items []actors.JobStatus `json:"items"`
	}
	testutil.DoJSON(t, "GET", n.URL+"/api/v1/jobs?state=gathered", nil, &jobs)
	if len(jobs.Items) != 1 || jobs.Items[0].ID != id {
		t.Errorf("job list: %+v", jobs.Items)
	}
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// aggAnswer is the answer of /aggregate.
type aggAnswer struct {
	By     string `json:"by"`
	Groups []struct {
		Value       string   `json:"value"`
		Count       int      `json:"count"`
		Hosts       []string `json:"hosts"`
		Folded      string   `json:"folded"`
		HostsTotal  int      `json:"hostsTotal"`
		HostsCursor *string  `json:"hostsCursor"`
		IsError     bool     `json:"isError"`
	} `json:"groups"`
}

func checkGroups(t *testing.T, url string, want map[string]int) {
	t.Helper()
	var agg aggAnswer
	testutil.DoJSON(t, "GET", url, nil, &agg)
	got := map[string]int{}
	for i, g := range agg.Groups {
		got[g.Value] = g.Count
		if i > 0 && g.Count > agg.Groups[i-1].Count {
			t.Errorf("%s: groups not sorted by count", url)
		}
		if len(g.Hosts) == 0 || g.Folded == "" {
			t.Errorf("%s: group %q lacks hosts", url, g.Value)
		}
		// Small groups: every host is folded, none is left to page.
		if len(g.Hosts) != min(g.Count, 20) || g.HostsTotal != g.Count || g.HostsCursor != nil {
			t.Errorf("%s: group %q of %d: %d hosts, hostsTotal %d, hostsCursor %v; want %d, %d, none",
				url, g.Value, g.Count, len(g.Hosts), g.HostsTotal, g.HostsCursor, min(g.Count, 20), g.Count)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s: groups %v, want %v", url, got, want)
	}
}

// readEvents reads an SSE stream to its end event and returns the final status.
func readEvents(t *testing.T, url string) actors.JobStatus {
	t.Helper()
	resp, err := (&http.Client{Timeout: 2 * time.Minute}).Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("content type %q", ct)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	event, progress := "", 0
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			var st actors.JobStatus
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &st); err != nil {
				t.Fatalf("event data: %v", err)
			}
			if event == "end" {
				if !st.Terminal() {
					t.Errorf("end event with state %s", st.State)
				}
				return st
			}
			progress++
		}
	}
	t.Fatalf("stream ended without an end event after %d progress events (%v)", progress, sc.Err())
	return actors.JobStatus{}
}

func TestDefinitionsAndNodeGroupJobs(t *testing.T) {
	f := testutil.StartFleet(t, func(c *fleet.Config) { c.Hosts = 20 })
	n := testutil.StartNode(t, nil)
	var e apiError
	if code := testutil.DoJSON(t, "PUT", n.URL+"/api/v1/nodegroups/web", `{"hosts": []}`, &e); code != 400 || e.Field != "hosts" {
		t.Errorf("empty node group: %d %+v", code, e)
	}
	if code := testutil.DoJSON(t, "PUT", n.URL+"/api/v1/aggregations/ver", `{"regex": "("}`, &e); code != 400 || e.Field != "regex" {
		t.Errorf("bad regex: %d %+v", code, e)
	}
	if code := testutil.DoJSON(t, "PUT", n.URL+"/api/v1/nodegroups/web", map[string]any{"hosts": fleet.Targets(20, f.Addr().Port)}, nil); code != 200 {
		t.Fatalf("put node group: %d", code)
	}
	if code := testutil.DoJSON(t, "PUT", n.URL+"/api/v1/aggregations/ver", map[string]any{"regex": `version=(\S+)`}, nil); code != 200 {
		t.Fatalf("put aggregation: %d", code)
	}
	var names struct {
		Items []string `json:"items"`
	}
	testutil.DoJSON(t, "GET", n.URL+"/api/v1/nodegroups", nil, &names)
	if fmt.Sprint(names.Items) != "[web]" {
		t.Errorf("node groups %v", names.Items)
	}
	id := submit(t, n.URL, map[string]any{"nodeGroup": "web", "aggregation": map[string]any{"name": "ver"}})
	st := testutil.WaitJob(t, n.Engine, id, time.Minute)
	if st.State != store.JobGathered || st.Total != 20 {
		t.Fatalf("node group job: %+v", st)
	}
	checkGroups(t, n.URL+"/api/v1/jobs/"+id+"/aggregate", fleet.Distribution(20))
	if code := testutil.DoJSON(t, "DELETE", n.URL+"/api/v1/nodegroups/web", nil, nil); code != http.StatusNoContent {
		t.Errorf("delete: %d", code)
	}
	if code := testutil.DoJSON(t, "GET", n.URL+"/api/v1/nodegroups/web", nil, &e); code != http.StatusNotFound {
		t.Errorf("get deleted: %d", code)
	}
}

func TestPprofRoutes(t *testing.T) {
	cfg := httpapi.DefaultConfig()
	cfg.Pprof = true
	srv := httptest.NewServer(httpapi.New(cfg, nil, nil).Handler())
	defer srv.Close()
	for _, p := range []string{"/debug/pprof/", "/debug/pprof/cmdline", "/debug/pprof/heap?debug=1", "/debug/pprof/symbol"} {
		resp, err := http.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %d", p, resp.StatusCode)
		}
	}
}

// TestStatusWait checks GET /api/v1/jobs/{id}?wait=D: a bad wait is a 400
// naming the field; a short one answers the running status after it; a
// long one answers as soon as the job is gathered.
func TestStatusWait(t *testing.T) {
	f := testutil.StartFleet(t, func(c *fleet.Config) {
		c.Hosts = 10
		c.LatencyMin, c.LatencyMax = 400*time.Millisecond, 400*time.Millisecond
	})
	n := testutil.StartNode(t, nil)
	id := submit(t, n.URL, map[string]any{"targets": fleet.Targets(10, f.Addr().Port), "maxConcurrency": 5})
	for _, q := range []string{"x", "-1s", "11m", "601", "1.5"} {
		var e apiError
		if code := testutil.DoJSON(t, "GET", n.URL+"/api/v1/jobs/"+id+"?wait="+q, nil, &e); code != http.StatusBadRequest || e.Field != "wait" {
			t.Errorf("?wait=%s: status %d %+v, want 400 naming wait", q, code, e)
		}
	}
	var st actors.JobStatus
	start := time.Now()
	if code := testutil.DoJSON(t, "GET", n.URL+"/api/v1/jobs/"+id+"?wait=100ms", nil, &st); code != http.StatusOK {
		t.Fatalf("?wait=100ms: status %d", code)
	}
	if st.Terminal() || time.Since(start) < 100*time.Millisecond {
		t.Errorf("?wait=100ms answered %s after %v; want the running status after the wait", st.State, time.Since(start))
	}
	if code := testutil.DoJSON(t, "GET", n.URL+"/api/v1/jobs/"+id+"?wait=60", nil, &st); code != http.StatusOK {
		t.Fatalf("?wait=60: status %d", code)
	}
	if st.State != store.JobGathered || st.Done != 10 {
		t.Errorf("?wait=60 answered %+v, want the gathered job", st)
	}
	if time.Since(start) > 30*time.Second {
		t.Errorf("?wait=60 took %v: it did not answer at the job's end", time.Since(start))
	}
}

// startStoreAPI serves the API over a fresh store without an engine, for
// the read paths of jobs stored by the test itself.
func startStoreAPI(t *testing.T) (string, store.Store) {
	t.Helper()
	st, err := store.OpenSQLite(store.DefaultSQLiteConfig(t.TempDir()))
	if err != nil {
		t.Fatalf("store: %v", err)
	}
	cfg := httpapi.DefaultConfig()
	cfg.Logger = testutil.Logger(t)
	api := httpapi.New(cfg, nil, st)
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(func() {
		api.Close()
		srv.Close()
		if err := st.Close(); err != nil {
			t.Errorf("store close: %v", err)
		}
	})
	return srv.URL, st
}

// storeBigJob stores job id with 3,000 results on hosts 10.0.0.0 onwards:
// every fifth refused (600), the others alternating between 200 "v0"
// (value 1.0) and 503 "v1" (value 1.1), 1,200 each. Every key has groups
// above 1,000 results.
func storeBigJob(t *testing.T, st store.Store, id string) []job.Result {
	t.Helper()
	ctx := t.Context()
	jr := &store.Job{ID: id, Spec: &job.Spec{Protocol: job.ProtocolHTTP}, State: store.JobGathered, Total: 3000, Counts: map[string]int{}}
	if err := st.CreateJob(ctx, jr, nil, 0); err != nil {
		t.Fatalf("CreateJob: %v", err)
	}
	rs := make([]job.Result, 3000)
	for i := range rs {
		r := job.Result{Index: i, Host: fmt.Sprintf("10.0.%d.%d", i/256, i%256), State: job.StateOK, Attempts: 1}
		switch {
		case i%5 == 0:
			r.State, r.ErrorClass, r.Value, r.Error = job.StateError, job.ClassConnectRefused, job.ClassConnectRefused, "refused"
		case i%2 == 0:
			r.StatusCode, r.Value, r.Body = 200, "1.0", "v0"
		default:
			r.StatusCode, r.Value, r.Body = 503, "1.1", "v1"
		}
		rs[i] = r
	}
	if _, err := st.PutResults(ctx, id, rs); err != nil {
		t.Fatalf("PutResults: %v", err)
	}
	return rs
}

// bigJobKey is the group of a storeBigJob result by each key.
func bigJobKey(r job.Result, by string) string {
	switch by {
	case store.ByValue:
		return r.Value
	case store.ByStatus:
		if r.StatusCode > 0 {
			return strconv.Itoa(r.StatusCode)
		}
		return r.State
	case store.ByErrorClass:
		if r.ErrorClass == "" {
			return "none"
		}
		return r.ErrorClass
	}
	if r.Body == "" {
		return "[" + r.State + ": " + r.ErrorClass + "]"
	}
	return r.Body
}

// TestAggregateCapsHostsAndPagesTheRest checks that an aggregation group of
// more than 1,000 hosts folds its first 1,000, counts every one in
// hostsTotal, and that /group from its hostsCursor pages every other host
// exactly once, each page folded.
func TestAggregateCapsHostsAndPagesTheRest(t *testing.T) {
	url, st := startStoreAPI(t)
	rs := storeBigJob(t, st, "big")
	for _, tc := range []struct {
		by     string
		groups int
		limit  int // of the /group pages
	}{
		{store.ByValue, 3, 250},
		{store.ByStatus, 3, 1000},
		{store.ByErrorClass, 2, 7},
		{store.ByBody, 3, 10000},
	} {
		t.Run(tc.by, func(t *testing.T) {
			var agg aggAnswer
			if code := testutil.DoJSON(t, "GET", url+"/api/v1/jobs/big/aggregate?by="+tc.by, nil, &agg); code != http.StatusOK {
				t.Fatalf("aggregate: %d", code)
			}
			if agg.By != tc.by || len(agg.Groups) != tc.groups {
				t.Fatalf("aggregate by %s: %d groups, want %d", agg.By, len(agg.Groups), tc.groups)
			}
			for _, g := range agg.Groups {
				var want []job.Result
				for _, r := range rs {
					if bigJobKey(r, tc.by) == g.Value {
						want = append(want, r)
					}
				}
				hosts := make([]string, len(want))
				for i, r := range want {
					hosts[i] = r.Host
				}
				first := hosts[:min(len(hosts), store.MaxGroupHosts)]
				if g.Count != len(want) || g.HostsTotal != len(want) {
					t.Errorf("group %q: count %d, hostsTotal %d; want %d", g.Value, g.Count, g.HostsTotal, len(want))
				}
				if strings.Join(g.Hosts, ",") != strings.Join(hosts[:min(len(hosts), 20)], ",") {
					t.Errorf("group %q: hosts %v, want the first 20", g.Value, g.Hosts)
				}
				if wantFolded := nodeset.Fold(first); g.Folded != wantFolded {
					t.Errorf("group %q: folded %q, want %q (the first %d hosts)", g.Value, g.Folded, wantFolded, len(first))
				}
				if len(want) <= store.MaxGroupHosts {
					if g.HostsCursor != nil {
						t.Errorf("group %q of %d: hostsCursor %q, want none", g.Value, len(want), *g.HostsCursor)
					}
					continue
				}
				if g.HostsCursor == nil || *g.HostsCursor != strconv.Itoa(want[store.MaxGroupHosts].Index) {
					t.Fatalf("group %q: hostsCursor %v, want %d", g.Value, g.HostsCursor, want[store.MaxGroupHosts].Index)
				}
				got := pageGroup(t, url+"/api/v1/jobs/big", tc.by, g.Value, *g.HostsCursor, tc.limit)
				if strings.Join(got, ",") != strings.Join(hosts[store.MaxGroupHosts:], ",") {
					t.Errorf("group %q: paged %d hosts, want the other %d, once each in order", g.Value, len(got), len(hosts)-store.MaxGroupHosts)
				}
			}
		})
	}
	t.Run("bad parameters", func(t *testing.T) {
		for q, field := range map[string]string{
			"by=nope":    "by",
			"limit=0":    "limit",
			"limit=x":    "limit",
			"limit=1001": "limit",
		} {
			var e apiError
			if code := testutil.DoJSON(t, "GET", url+"/api/v1/jobs/big/aggregate?"+q, nil, &e); code != http.StatusBadRequest || e.Field != field {
				t.Errorf("%s: %d field %q, want 400 field %q (%s)", q, code, e.Field, field, e.Error)
			}
		}
	})
}

// groupAnswer is the answer of /group.
type groupAnswer struct {
	Items []struct {
		Index      int    `json:"index"`
		Host       string `json:"host"`
		State      string `json:"state"`
		Value      string `json:"value"`
		ErrorClass string `json:"errorClass"`
	} `json:"items"`
	Folded     string `json:"folded"`
	NextCursor string `json:"nextCursor"`
}

// pageGroup follows /group's cursors from cursor to the end and returns
// the hosts of every page, checking that each page holds at most limit
// results of the group in index order, its hosts folded.
func pageGroup(t *testing.T, jobURL, by, value, cursor string, limit int) []string {
	t.Helper()
	var hosts []string
	last := -1
	for pages := 0; pages < 10_000; pages++ {
		var pg groupAnswer
		u := fmt.Sprintf("%s/group?by=%s&value=%s&limit=%d&cursor=%s", jobURL, by, url.QueryEscape(value), limit, cursor)
		if code := testutil.DoJSON(t, "GET", u, nil, &pg); code != http.StatusOK {
			t.Fatalf("GET %s: %d", u, code)
		}
		if len(pg.Items) > limit {
			t.Fatalf("GET %s: %d items", u, len(pg.Items))
		}
		var page []string
		for _, it := range pg.Items {
			if it.Index <= last {
				t.Fatalf("GET %s: index %d after %d", u, it.Index, last)
			}
			last = it.Index
			page = append(page, it.Host)
		}
		if pg.Folded != nodeset.Fold(page) {
			t.Fatalf("GET %s: folded %q, want %q", u, pg.Folded, nodeset.Fold(page))
		}
		hosts = append(hosts, page...)
		if pg.NextCursor == "" {
			return hosts
		}
		cursor = pg.NextCursor
	}
	t.Fatal("paging does not end")
	return nil
}
