// Package e2e tests salvo as users run it: the salvo binary started as a
// real process, a simulated fleet on loopback, jobs through the API.
package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/salvo-sh/salvo/actors"
	"github.com/salvo-sh/salvo/fleet"
	"github.com/salvo-sh/salvo/internal/testutil"
	"github.com/salvo-sh/salvo/job"
	"github.com/salvo-sh/salvo/store"
)

func submit(t *testing.T, url string, spec map[string]any) string {
	t.Helper()
	var st actors.JobStatus
	if code := testutil.DoJSON(t, "POST", url+"/api/v1/jobs", spec, &st); code != http.StatusAccepted {
		t.Fatalf("submit: status %d", code)
	}
	return st.ID
}

func status(t *testing.T, url, id string) actors.JobStatus {
	t.Helper()
	return statusWait(t, url, id, "")
}

// statusWait reads a job's status with ?wait=wait (none when empty): the
// answer comes at the job's end or after wait.
func statusWait(t *testing.T, url, id, wait string) actors.JobStatus {
	t.Helper()
	u := url + "/api/v1/jobs/" + id
	if wait != "" {
		u += "?wait=" + wait
	}
	var st actors.JobStatus
	if code := testutil.DoJSON(t, "GET", u, nil, &st); code != http.StatusOK {
		t.Fatalf("status: %d", code)
	}
	return st
}

// waitFor polls a job's status until cond holds.
func waitFor(t *testing.T, url, id string, timeout time.Duration, cond func(actors.JobStatus) bool) actors.JobStatus {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		// The server holds each call up to 50 ms, or until the job ends.
		st := statusWait(t, url, id, "50ms")
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s: condition not met within %s; last status %+v", id, timeout, st)
		}
	}
}

func terminal(st actors.JobStatus) bool { return st.Terminal() }

// streamResults reads every result of a job as NDJSON.
func streamResults(t *testing.T, url, id string) []job.Result {
	t.Helper()
	req, _ := http.NewRequest("GET", url+"/api/v1/jobs/"+id+"/results", nil)
	req.Header.Set("Accept", "application/x-ndjson")
	resp, err := (&http.Client{Timeout: 2 * time.Minute}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out []job.Result
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 4<<20)
	for sc.Scan() {
		var r job.Result
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("result line: %v", err)
		}
		out = append(out, r)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestTenThousandTargets(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	const hosts = 10000
	f := testutil.StartFleet(t, func(c *fleet.Config) {
		c.Hosts = hosts
		c.ErrorRate = 0.05
		c.StatusCodes = []fleet.StatusShare{{Code: 404, Share: 0.02}}
	})
	bin := testutil.BuildSalvo(t)
	srv := testutil.StartServer(t, bin, "--data-dir", t.TempDir())
	id := submit(t, srv.URL(), map[string]any{
		"targets": fleet.Targets(hosts, f.Addr().Port), "maxConcurrency": 200,
		"http":        map[string]any{"path": "/status"},
		"aggregation": map[string]any{"regex": `version=(\S+)`},
	})
	st := waitFor(t, srv.URL(), id, 3*time.Minute, terminal)
	if st.State != store.JobGathered || st.Done != hosts || st.Counts[job.StateOK] != hosts {
		t.Fatalf("final status %+v", st)
	}

	results := streamResults(t, srv.URL(), id)
	if len(results) != hosts {
		t.Fatalf("%d results, want %d", len(results), hosts)
	}
	want := map[string]int{}
	for i, r := range results {
		if r.Index != i {
			t.Fatalf("result %d has index %d", i, r.Index)
		}
		exp := f.Expect(i)
		if r.Host != fleet.HostAddr(i) || r.StatusCode != exp.Status || r.Body != exp.Body {
			t.Fatalf("result %d: host %s status %d body %q; want %s %d %q", i, r.Host, r.StatusCode, r.Body, fleet.HostAddr(i), exp.Status, exp.Body)
		}
		v := exp.Version
		if v == "" {
			v = "NA" // the regex does not match an error body
		}
		if r.Value != v {
			t.Fatalf("result %d: value %q, want %q", i, r.Value, v)
		}
		want[v]++
	}
	var agg struct {
		Groups []store.Group `json:"groups"`
	}
	testutil.DoJSON(t, "GET", srv.URL()+"/api/v1/jobs/"+id+"/aggregate?by=value", nil, &agg)
	got := map[string]int{}
	for _, g := range agg.Groups {
		got[g.Value] = g.Count
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("aggregate %v, want %v", got, want)
	}
	if f.Requests() != hosts {
		t.Errorf("fleet served %d requests, want exactly %d", f.Requests(), hosts)
	}
}

// storedIndexes opens the data dir's store (the server must be stopped).
func storedIndexes(t *testing.T, dir, id string, total int) map[int]bool {
	t.Helper()
	st, err := store.OpenSQLite(store.DefaultSQLiteConfig(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	idx, err := st.StoredIndexes(context.Background(), id, 0, total)
	if err != nil {
		t.Fatal(err)
	}
	return idx
}

func TestKillAndRestartResumesWithoutRerunningStoredTargets(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	const hosts = 4000
	f := testutil.StartFleet(t, func(c *fleet.Config) {
		c.Hosts = hosts
		c.LatencyMin, c.LatencyMax = 20*time.Millisecond, 40*time.Millisecond
	})
	bin := testutil.BuildSalvo(t)
	dir := t.TempDir()
	srv := testutil.StartServer(t, bin, "--data-dir", dir, "--shutdown-timeout", "20s")
	id := submit(t, srv.URL(), map[string]any{
		"targets": fleet.Targets(hosts, f.Addr().Port), "maxConcurrency": 50,
	})

	// 1. SIGKILL mid-job.
	waitFor(t, srv.URL(), id, time.Minute, func(st actors.JobStatus) bool { return st.Done >= 600 })
	if err := srv.Cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = srv.Wait(30 * time.Second)
	before := storedIndexes(t, dir, id, hosts)
	hits := func() []uint32 {
		h := make([]uint32, hosts)
		for i := range h {
			h[i] = f.HostRequests(i)
		}
		return h
	}
	hitsAtKill := hits()
	if len(before) == 0 || len(before) >= hosts {
		t.Fatalf("%d results stored at the kill; want some but not all", len(before))
	}

	// 2. Restart, then SIGTERM mid-job: a graceful stop exits 0.
	srv = testutil.StartServer(t, bin, "--data-dir", dir, "--shutdown-timeout", "20s")
	waitFor(t, srv.URL(), id, time.Minute, func(st actors.JobStatus) bool { return st.Done >= len(before)+600 })
	if err := srv.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := srv.Wait(25 * time.Second); err != nil {
		t.Fatalf("SIGTERM: server did not exit cleanly: %v", err)
	}
	if !strings.Contains(srv.Log(), `"msg":"stopped"`) {
		t.Errorf("server log lacks the stopped line")
	}
	middle := storedIndexes(t, dir, id, hosts)
	hitsAtTerm := hits()
	for i := range before {
		if !middle[i] {
			t.Fatalf("index %d stored before the restart is gone", i)
		}
	}

	// 3. Restart again: the job completes with one result per target, and
	// no target with a stored result ran again.
	srv = testutil.StartServer(t, bin, "--data-dir", dir)
	st := waitFor(t, srv.URL(), id, 2*time.Minute, terminal)
	if st.State != store.JobGathered || st.Done != hosts || st.Counts[job.StateOK] != hosts {
		t.Fatalf("after restart: %+v", st)
	}
	results := streamResults(t, srv.URL(), id)
	if len(results) != hosts {
		t.Fatalf("%d results, want %d", len(results), hosts)
	}
	for i, r := range results {
		if r.Index != i || r.State != job.StateOK {
			t.Fatalf("result %d: %+v", i, r)
		}
	}
	final := hits()
	for i := range before {
		if hitsAtKill[i] != 1 || final[i] != 1 {
			t.Fatalf("host %d, stored before the kill, was requested %d times then %d", i, hitsAtKill[i], final[i])
		}
	}
	for i := range middle {
		if final[i] != hitsAtTerm[i] {
			t.Fatalf("host %d, stored before SIGTERM, was requested again after the restart (%d then %d)", i, hitsAtTerm[i], final[i])
		}
	}
	for i := 0; i < hosts; i++ {
		if f.HostRequests(i) == 0 {
			t.Fatalf("host %d never requested", i)
		}
	}
}

func TestCancelStopsNewRequests(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	const hosts, conc = 3000, 20
	f := testutil.StartFleet(t, func(c *fleet.Config) {
		c.Hosts = hosts
		c.LatencyMin, c.LatencyMax = 30*time.Millisecond, 50*time.Millisecond
	})
	n := testutil.StartNode(t, nil)
	id := submit(t, n.URL, map[string]any{
		"targets": fleet.Targets(hosts, f.Addr().Port), "maxConcurrency": conc,
		"retries": map[string]any{"max": 2},
	})
	waitFor(t, n.URL, id, time.Minute, func(st actors.JobStatus) bool { return st.Done >= 100 })
	if code := testutil.DoJSON(t, "POST", n.URL+"/api/v1/jobs/"+id+"/cancel", nil, nil); code != http.StatusOK {
		t.Fatalf("cancel: %d", code)
	}
	arrived := func() int {
		total := 0
		for i := 0; i < hosts; i++ {
			total += int(f.HostRequests(i))
		}
		return total
	}
	atCancel := arrived()
	st := waitFor(t, n.URL, id, time.Minute, terminal)
	if st.State != store.JobCancelled {
		t.Fatalf("state %s, want cancelled", st.State)
	}
	if st.Done != hosts || st.Counts[job.StateCancelled] == 0 || st.Counts[job.StateOK]+st.Counts[job.StateCancelled] != hosts {
		t.Fatalf("counts %+v", st)
	}
	// Requests that had passed the gate when cancel returned may still
	// reach the fleet; nothing else may.
	if final := arrived(); final > atCancel+conc {
		t.Errorf("%d requests arrived after cancel returned (%d then %d), more than the %d in flight", final-atCancel, atCancel, final, conc)
	}
	// Every host that was requested has its answer stored; every other
	// target is cancelled.
	for _, r := range streamResults(t, n.URL, id) {
		hit := f.HostRequests(r.Index) > 0
		if hit != (r.State == job.StateOK) {
			t.Fatalf("target %d: state %s but requested %d times", r.Index, r.State, f.HostRequests(r.Index))
		}
	}
	// A second cancel reports the job as finished.
	if code := testutil.DoJSON(t, "POST", n.URL+"/api/v1/jobs/"+id+"/cancel", nil, nil); code != http.StatusConflict {
		t.Errorf("second cancel: %d, want 409", code)
	}
}
