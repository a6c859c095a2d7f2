package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/salvo-sh/salvo/actors"
	"github.com/salvo-sh/salvo/fleet"
	"github.com/salvo-sh/salvo/httpapi"
	"github.com/salvo-sh/salvo/internal/testutil"
	"github.com/salvo-sh/salvo/scaling"
)

// scaleDocs reads the up documents a master's hook appended to its file
// (none when the file does not exist). A document still being written
// (a truncated last one) is left for the next read.
func scaleDocs(t *testing.T, path string) []scaling.Document {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	var docs []scaling.Document
	dec := json.NewDecoder(bytes.NewReader(b))
	for {
		var d scaling.Document
		switch err := dec.Decode(&d); {
		case err == nil:
			docs = append(docs, d)
			continue
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			return docs
		default:
			t.Fatalf("%s: not a stream of documents: %v\n%s", path, err, b)
		}
	}
}

// scalerAudit reads the scaler's audit rows on a master (viewer and
// audit routes are open: the harness runs without authentication).
func scalerAudit(t *testing.T, url string) []struct{ Route, Target, Outcome string } {
	t.Helper()
	var pg struct {
		Items []struct{ Route, Target, Outcome string } `json:"items"`
	}
	if code := testutil.DoJSON(t, "GET", url+"/api/v1/audit?limit=1000&actor="+scaling.Actor, nil, &pg); code != http.StatusOK {
		t.Fatalf("audit on %s: %d", url, code)
	}
	return pg.Items
}

// queueGauge returns the value line of salvo_queue_jobs{tag="T"} on a
// node's /metrics, and whether the node exports salvo_queue_jobs at all.
func queueGauge(t *testing.T, url, tag string) (string, bool) {
	t.Helper()
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("metrics of %s: %d %v", url, resp.StatusCode, err)
	}
	prefix := fmt.Sprintf("salvo_queue_jobs{tag=%q} ", tag)
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, prefix) {
			return strings.TrimPrefix(line, prefix), true
		}
	}
	return "", strings.Contains(string(b), "\nsalvo_queue_jobs{")
}

// TestHAScalerFollowsTheLeader: 3 masters of a Raft group, each with the
// same up policy for tag T whose hook appends the document to a file of
// that master's own, and a job for T that no worker can run (the one
// worker has no tag). Only the leader calls its hook, with the job
// waiting in the document; a follower forwards GET /cluster/load to it
// and exports no load gauge. The leader killed (SIGKILL), the new one
// calls its own hook, the dead one's file stops and the other follower's
// stays empty; the audit holds one row per call made, whoever made it.
func TestHAScalerFollowsTheLeader(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	const tag, hosts = "T", 3
	const scalerStarted = `"msg":"scaling: started"` // scaling.Start's log line
	f := testutil.StartFleet(t, func(c *fleet.Config) { c.Hosts = hosts })
	bin := testutil.BuildSalvo(t)
	dir := t.TempDir()
	file := func(name string) string { return filepath.Join(dir, name+".up") }
	for _, name := range []string{"m1", "m2", "m3"} {
		cfg := fmt.Sprintf("scaling:\n  %s:\n    up: {whenWaitingFor: 1s, cooldown: 1s, exec: %q, timeout: 10s}\n",
			tag, "cat >> '"+file(name)+"'")
		if err := os.WriteFile(filepath.Join(dir, name+".yaml"), []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c := startHA(t, bin, 3, 1, "--config", filepath.Join(dir, "{name}.yaml"))
	start := time.Now()
	leader := c.leader(t, 30*time.Second)
	c.waitWorkersAt(t, leader)
	var followers []*haMaster
	for _, m := range c.masters {
		if m != leader {
			followers = append(followers, m)
		}
	}
	t.Logf("%s leads after %s", leader.name, time.Since(start).Round(time.Millisecond))
	total := func() int {
		n := 0
		for _, m := range c.masters {
			n += len(scaleDocs(t, file(m.name)))
		}
		return n
	}
	// waitDocs waits (polling a file other processes write, at most
	// within) until m's hook wrote more than n documents, and returns them.
	waitDocs := func(m *haMaster, n int, within time.Duration) []scaling.Document {
		t.Helper()
		deadline := time.Now().Add(within)
		for {
			if docs := scaleDocs(t, file(m.name)); len(docs) > n {
				return docs
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: no up document past %d within %s", m.name, n, within)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	checkDocs := func(m *haMaster, docs []scaling.Document) {
		t.Helper()
		for i, d := range docs {
			if d.Tag != tag || d.Direction != scaling.DirectionUp || d.Change != 1 || d.Current != 0 || d.Desired != 1 ||
				d.Load.Tag != tag || d.Load.Waiting != 1 || d.Load.OldestWaitingSeconds < 1 || d.Load.Workers != 0 {
				t.Errorf("%s: document %d: %+v", m.name, i, d)
			}
		}
	}
	// noneFrom checks that the masters neither called their hook nor
	// started a scaler.
	noneFrom := func(ms ...*haMaster) {
		t.Helper()
		for _, m := range ms {
			if docs := scaleDocs(t, file(m.name)); len(docs) != 0 {
				t.Errorf("%s, a follower, called its up hook %d times: %+v", m.name, len(docs), docs)
			}
			if strings.Contains(m.p.Log(), scalerStarted) {
				t.Errorf("%s, a follower, started a scaler", m.name)
			}
		}
	}
	// auditMatches waits (bounded) until url's audit holds exactly one up
	// row per document written by every master, read while no hook wrote
	// (a call's row follows its document by the time of a Raft commit;
	// the next call waits its 1 s cooldown).
	auditMatches := func(url string) int {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			before := total()
			rows := scalerAudit(t, url)
			if after := total(); before == after && len(rows) == after {
				for _, r := range rows {
					if r.Route != "/scaling/"+tag+"/up" || r.Target != tag || r.Outcome != "done" {
						t.Errorf("audit row: %+v", r)
					}
				}
				return after
			}
			if time.Now().After(deadline) {
				t.Fatalf("audit on %s: %d scaler rows, %d documents written by the masters: %+v", url, len(rows), before, rows)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	id := submit(t, leader.url(), map[string]any{"targets": fleet.Targets(hosts, f.Addr().Port), "tags": []string{tag}})
	submitted := time.Now()

	// The leader asks for a worker of T once the job waited 1 s, and
	// again past each 1 s cooldown; the followers never.
	docs := waitDocs(leader, 1, 15*time.Second)
	t.Logf("%s: %d up calls %s after the submit", leader.name, len(docs), time.Since(submitted).Round(time.Millisecond))
	checkDocs(leader, docs)
	if !strings.Contains(leader.p.Log(), scalerStarted) {
		t.Errorf("%s leads and its log has no %s", leader.name, scalerStarted)
	}
	noneFrom(followers...)

	// A follower runs no master: it forwards the load to the leader
	// (no replica header) and exports none of its gauges.
	for _, fl := range followers {
		var l actors.Load
		req, _ := http.NewRequest("GET", fl.url()+"/api/v1/cluster/load", nil)
		resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		err = json.NewDecoder(resp.Body).Decode(&l)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("load through %s: %d %v", fl.name, resp.StatusCode, err)
		}
		if h := resp.Header.Get(httpapi.ReplicaHeader); h != "" {
			t.Errorf("load through %s answered by the follower itself (%s: %s), want forwarded to the leader", fl.name, httpapi.ReplicaHeader, h)
		}
		if tl := l.Tag(tag); tl.Waiting != 1 || tl.Workers != 0 || l.Tag("*").Workers != 1 {
			t.Errorf("load through %s: %+v, * %+v", fl.name, tl, l.Tag("*"))
		}
		if v, has := queueGauge(t, fl.url(), tag); has {
			t.Errorf("%s, a follower, exports salvo_queue_jobs (T: %q)", fl.name, v)
		}
	}
	if v, _ := queueGauge(t, leader.url(), tag); v != "1" {
		t.Errorf("the leader's salvo_queue_jobs{tag=%q} is %q, want 1", tag, v)
	}

	// Kill the leader right after a call's audit row is committed: well
	// within the cooldown, no call of its under way.
	n := len(scaleDocs(t, file(leader.name)))
	waitDocs(leader, n, 10*time.Second)
	auditMatches(leader.url())
	killed := leader
	killed.kill(t)
	dead := len(scaleDocs(t, file(killed.name)))
	killedAt := time.Now()
	t.Logf("killed %s after %d up calls", killed.name, dead)

	leader = c.leader(t, 20*time.Second, followers...)
	t.Logf("%s leads %s after the kill", leader.name, time.Since(killedAt).Round(time.Millisecond))
	var other *haMaster
	for _, m := range followers {
		if m != leader {
			other = m
		}
	}
	// The new leader resumed the job, which waits again: it asks in turn.
	waitDocs(leader, 0, 15*time.Second)
	docs = waitDocs(leader, 1, 10*time.Second)
	t.Logf("%s: %d up calls %s after the kill", leader.name, len(docs), time.Since(killedAt).Round(time.Millisecond))
	checkDocs(leader, docs)
	noneFrom(other)
	if got := len(scaleDocs(t, file(killed.name))); got != dead {
		t.Errorf("%s, killed, has %d documents, had %d at its death", killed.name, got, dead)
	}
	rows := auditMatches(leader.url())
	t.Logf("%d scaler audit rows, one per call (%s %d, %s %d)", rows, killed.name, dead, leader.name, rows-dead)

	if st := status(t, leader.url(), id); st.Terminal() || st.Done != 0 {
		t.Errorf("the job for %s with no worker of %s: %+v", tag, tag, st)
	}
	for i := range hosts {
		if n := f.HostRequests(i); n != 0 {
			t.Errorf("host %d requested %d times by a worker without tag %s", i, n, tag)
		}
	}
	t.Logf("took %s", time.Since(start).Round(time.Millisecond))
}
