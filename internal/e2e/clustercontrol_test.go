package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/salvo-sh/salvo/fleet"
	"github.com/salvo-sh/salvo/internal/testutil"
	"github.com/salvo-sh/salvo/store"
)

// post calls a REST Commander route and returns its status.
func post(t *testing.T, url string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&http.Client{Timeout: 2 * time.Minute}).Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// waitLog waits until a process's log has a line holding every one of parts.
func waitLog(t *testing.T, p *testutil.Process, timeout time.Duration, parts ...string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		for _, line := range strings.Split(p.Log(), "\n") {
			all := true
			for _, s := range parts {
				all = all && strings.Contains(line, s)
			}
			if all {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line with %q after %s:\n%s", parts, timeout, p.Log())
		}
		time.Sleep(20 * time.Millisecond) // polling the log: the process has no other signal
	}
}

// notAlive waits until the master no longer lists name as alive.
func notAlive(t *testing.T, url, name string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if m, ok := member(members(t, url), name); !ok || m.State != "alive" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still alive", name)
		}
		time.Sleep(50 * time.Millisecond) // polling the API: gossip has no outside signal
	}
}

// peersCluster starts two workers alone (no --join) and a master whose
// config lists their APIs under cluster.peers; nothing is joined yet.
func peersCluster(t *testing.T, bin, prefix string, masterArgs ...string) (master, w1, w2 *testutil.Process) {
	t.Helper()
	w1 = testutil.StartServer(t, bin, gossipArgs(prefix+"-1", "worker", "")...)
	w2 = testutil.StartServer(t, bin, gossipArgs(prefix+"-2", "worker", "")...)
	cfgFile := filepath.Join(t.TempDir(), "master.yaml")
	yaml := fmt.Sprintf("cluster:\n  peers: [%q, %q]\n", w1.Addr, w2.Addr)
	if err := os.WriteFile(cfgFile, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"--data-dir", t.TempDir(), "--config", cfgFile}, masterArgs...)
	master = testutil.StartServer(t, bin, append(args, gossipArgs(prefix+"-boss", "master", "")...)...)
	return master, w1, w2
}

// TestClusterControl: REST Commander's cluster control with real
// processes. shutdownNode stops a node's cluster part and keeps its API;
// the master brings an enabled member back and leaves a disabled one; with
// every node shut down, one createNode call on a worker naming the master
// rebuilds the cluster, which then runs a job.
func TestClusterControl(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	bin := testutil.BuildSalvo(t)
	master, w1, w2 := peersCluster(t, bin, "cc", "--cluster-watch", "200ms")
	if code := post(t, master.URL()+"/distributedAgents/createNode"); code != http.StatusOK {
		t.Fatalf("createNode on the master: %d", code)
	}
	waitWorkers(t, master.URL(), "cc-1", "cc-2")

	// An enabled member shut down is brought back by the master.
	if code := post(t, w1.URL()+"/distributedAgents/shutdownNode"); code != http.StatusOK {
		t.Fatalf("shutdownNode on cc-1: %d", code)
	}
	if code := testutil.DoJSON(t, "GET", w1.URL()+"/livez", nil, nil); code != http.StatusOK {
		t.Errorf("cc-1's API after shutdownNode: /livez %d, want 200", code)
	}
	waitLog(t, master, 30*time.Second, "an enabled member is gone", "cc-1")
	waitLog(t, master, 30*time.Second, "asked to join again", "cc-1")
	waitWorkers(t, master.URL(), "cc-1")

	// A disabled one is not; enabled again, it is.
	if code := testutil.DoJSON(t, "POST", master.URL()+"/api/v1/cluster/members/cc-2/disable", nil, nil); code != http.StatusOK {
		t.Fatalf("disable cc-2: %d", code)
	}
	if code := post(t, w2.URL()+"/distributedAgents/shutdownNode"); code != http.StatusOK {
		t.Fatalf("shutdownNode on cc-2: %d", code)
	}
	waitLog(t, master, 30*time.Second, "a disabled member is gone", "cc-2")
	notAlive(t, master.URL(), "cc-2")
	if code := testutil.DoJSON(t, "POST", master.URL()+"/api/v1/cluster/members/cc-2/enable", nil, nil); code != http.StatusOK {
		t.Fatalf("enable cc-2: %d", code)
	}
	waitLog(t, master, 30*time.Second, "asked to join again", "cc-2")
	waitWorkers(t, master.URL(), "cc-2")

	// Every node shut down, the master first: the APIs stay and say so.
	for _, n := range []*testutil.Process{master, w1, w2} {
		if code := post(t, n.URL()+"/distributedAgents/shutdownNode"); code != http.StatusOK {
			t.Fatalf("shutdownNode on %s: %d", n.Addr, code)
		}
	}
	for _, n := range []*testutil.Process{master, w1, w2} {
		waitLog(t, n, 30*time.Second, "the cluster part is stopped")
	}
	var e struct {
		Error string `json:"error"`
	}
	if code := testutil.DoJSON(t, "GET", master.URL()+"/api/v1/cluster/members", nil, &e); code != http.StatusServiceUnavailable || !strings.Contains(e.Error, "createNode") {
		t.Errorf("members on a shut-down master: %d %+v, want 503 naming createNode", code, e)
	}
	if code := testutil.DoJSON(t, "GET", w1.URL()+"/readyz", nil, nil); code != http.StatusServiceUnavailable {
		t.Errorf("a shut-down worker's /readyz: %d, want 503", code)
	}

	// One call on a worker, naming the master, brings the cluster back.
	if code := post(t, w1.URL()+"/distributedAgents/createNode?masterUrl="+master.URL()); code != http.StatusOK {
		t.Fatalf("createNode on cc-1 naming the master: %d\n%s", code, w1.Log())
	}
	waitWorkers(t, master.URL(), "cc-1", "cc-2")
	const hosts = 200
	f := testutil.StartFleet(t, func(c *fleet.Config) { c.Hosts = hosts })
	id := submit(t, master.URL(), map[string]any{"targets": fleet.Targets(hosts, f.Addr().Port), "maxConcurrency": 20})
	st := waitFor(t, master.URL(), id, time.Minute, terminal)
	if st.State != store.JobGathered || st.Counts["ok"] != hosts {
		t.Fatalf("job on the rebuilt cluster: %+v", st)
	}
}

// A single node: shutdownNode stops its engine and keeps its API (submits
// 503, stored jobs still read); createNode starts the engine again.
func TestSingleNodeShutdownNodeAndCreateNode(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	bin := testutil.BuildSalvo(t)
	srv := testutil.StartServer(t, bin, "--data-dir", t.TempDir())
	const hosts = 50
	f := testutil.StartFleet(t, func(c *fleet.Config) { c.Hosts = hosts })
	spec := map[string]any{"targets": fleet.Targets(hosts, f.Addr().Port)}
	first := submit(t, srv.URL(), spec)
	waitFor(t, srv.URL(), first, time.Minute, terminal)

	if code := post(t, srv.URL()+"/distributedAgents/createNode"); code != http.StatusNotImplemented {
		t.Errorf("createNode on a running single node: %d, want 501", code)
	}
	if code := post(t, srv.URL()+"/distributedAgents/shutdownNode"); code != http.StatusOK {
		t.Fatalf("shutdownNode: %d", code)
	}
	waitLog(t, srv, 30*time.Second, "the cluster part is stopped")
	var e struct {
		Error string `json:"error"`
	}
	if code := testutil.DoJSON(t, "POST", srv.URL()+"/api/v1/jobs", spec, &e); code != http.StatusServiceUnavailable || !strings.Contains(e.Error, "createNode") {
		t.Errorf("submit while shut down: %d %+v, want 503 naming createNode", code, e)
	}
	if code := testutil.DoJSON(t, "GET", srv.URL()+"/readyz", nil, nil); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz while shut down: %d, want 503", code)
	}
	if st := status(t, srv.URL(), first); st.State != store.JobGathered {
		t.Errorf("a stored job while shut down: %+v", st)
	}
	if code := post(t, srv.URL()+"/distributedAgents/createNode"); code != http.StatusOK {
		t.Fatalf("createNode after shutdownNode: %d", code)
	}
	id := submit(t, srv.URL(), spec)
	if st := waitFor(t, srv.URL(), id, time.Minute, terminal); st.State != store.JobGathered || st.Counts["ok"] != hosts {
		t.Fatalf("job after createNode: %+v", st)
	}
}

// A master whose config lists the peers, asked with another master-capable
// node's masterUrl, rebuilds the cluster around that node: it runs as the
// master, the peers leave the old master and join it.
func TestCreateNodeRebuildsAroundAnotherMaster(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	bin := testutil.BuildSalvo(t)
	old, w1, w2 := peersCluster(t, bin, "rb")
	next := testutil.StartServer(t, bin, append([]string{"--data-dir", t.TempDir()}, gossipArgs("rb-new", "master", "")...)...)
	if code := post(t, old.URL()+"/distributedAgents/createNode"); code != http.StatusOK {
		t.Fatalf("createNode on the old master: %d", code)
	}
	waitWorkers(t, old.URL(), "rb-1", "rb-2")

	if code := post(t, old.URL()+"/distributedAgents/createNode?masterUrl="+next.URL()); code != http.StatusOK {
		t.Fatalf("createNode naming the new master: %d\n%s", code, old.Log())
	}
	waitWorkers(t, next.URL(), "rb-1", "rb-2")
	notAlive(t, old.URL(), "rb-1")
	notAlive(t, old.URL(), "rb-2")
	if _, ok := member(members(t, next.URL()), "rb-boss"); ok {
		t.Errorf("the old master is a member of the new cluster: %+v", members(t, next.URL()))
	}
	const hosts = 200
	f := testutil.StartFleet(t, func(c *fleet.Config) { c.Hosts = hosts })
	id := submit(t, w1.URL(), map[string]any{"targets": fleet.Targets(hosts, f.Addr().Port), "maxConcurrency": 20})
	st := waitFor(t, next.URL(), id, time.Minute, terminal)
	if st.State != store.JobGathered || st.Counts["ok"] != hosts {
		t.Fatalf("job on the rebuilt cluster: %+v", st)
	}

	// Every node shut down: one call on the old master rebuilds the
	// cluster around the new one, which runs a job.
	for _, n := range []*testutil.Process{old, next, w1, w2} {
		if code := post(t, n.URL()+"/distributedAgents/shutdownNode"); code != http.StatusOK {
			t.Fatalf("shutdownNode on %s: %d", n.Addr, code)
		}
	}
	for _, n := range []*testutil.Process{old, next, w1, w2} {
		waitLog(t, n, 30*time.Second, "the cluster part is stopped")
	}
	if code := post(t, old.URL()+"/distributedAgents/createNode?masterUrl="+next.URL()); code != http.StatusOK {
		t.Fatalf("createNode on the shut-down old master naming the new one: %d\n%s", code, old.Log())
	}
	waitWorkers(t, next.URL(), "rb-1", "rb-2")
	id = submit(t, next.URL(), map[string]any{"targets": fleet.Targets(hosts, f.Addr().Port), "maxConcurrency": 20})
	if st := waitFor(t, next.URL(), id, time.Minute, terminal); st.State != store.JobGathered || st.Counts["ok"] != hosts {
		t.Fatalf("job on the cluster rebuilt from nothing: %+v", st)
	}
}
