package e2e

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
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

// gossipArgs returns the flags of a clustered node on free loopback ports.
func gossipArgs(name, role, join string) []string {
	args := []string{"--name", name, "--roles", role, "--gossip-addr", "127.0.0.1:0", "--remote-addr", "127.0.0.1:0"}
	if join != "" {
		args = append(args, "--join", join)
	}
	return args
}

// gossipAddrOf reads a node's gossip address from the members list.
func members(t *testing.T, url string) []actors.Member {
	t.Helper()
	var pg struct {
		Items []actors.Member `json:"items"`
	}
	if code := testutil.DoJSON(t, "GET", url+"/api/v1/cluster/members", nil, &pg); code != http.StatusOK {
		t.Fatalf("members: %d", code)
	}
	return pg.Items
}

// membersThrough reads the member list from a worker-only node, waiting
// (bounded) while it answers 503 because it does not know its master yet.
func membersThrough(t *testing.T, url string) []actors.Member {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var pg struct {
			Items []actors.Member `json:"items"`
		}
		code := testutil.DoJSON(t, "GET", url+"/api/v1/cluster/members", nil, &pg)
		switch {
		case code == http.StatusOK:
			return pg.Items
		case code != http.StatusServiceUnavailable || time.Now().After(deadline):
			t.Fatalf("members through %s: %d", url, code)
		}
		time.Sleep(20 * time.Millisecond) // polling the API: the worker's event has no outside signal
	}
}

func member(ms []actors.Member, name string) (actors.Member, bool) {
	for _, m := range ms {
		if m.Name == name {
			return m, true
		}
	}
	return actors.Member{}, false
}

// waitMembers waits until the master sees these workers registered.
func waitWorkers(t *testing.T, url string, names ...string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ms := members(t, url)
		ok := true
		for _, n := range names {
			m, found := member(ms, n)
			ok = ok && found && m.State == "alive" && m.Capacity > 0
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("workers %v not registered: %+v", names, ms)
		}
		time.Sleep(50 * time.Millisecond) // polling the API: no signal to wait on
	}
}

// TestClusterSurvivesKilledWorkers runs a 20,000-target job on a master and
// three worker processes, kills a worker with SIGKILL at a random point,
// several times over, and checks that every target ends with exactly one
// stored result, right for its host, and that the killed nodes show dead.
func TestClusterSurvivesKilledWorkers(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	const hosts = 20000
	f := testutil.StartFleet(t, func(c *fleet.Config) {
		c.Hosts = hosts
		c.LatencyMin, c.LatencyMax = 2*time.Millisecond, 8*time.Millisecond
	})
	bin := testutil.BuildSalvo(t)
	master := testutil.StartServer(t, bin, append([]string{"--data-dir", t.TempDir()}, gossipArgs("master", "master", "")...)...)
	ms := members(t, master.URL())
	self, _ := member(ms, "master")
	join := self.GossipAddr
	if join == "" {
		t.Fatalf("master has no gossip address: %+v", ms)
	}
	workers := map[string]*testutil.Process{}
	for _, n := range []string{"w1", "w2", "w3"} {
		workers[n] = testutil.StartServer(t, bin, gossipArgs(n, "worker", join)...)
	}
	waitWorkers(t, master.URL(), "w1", "w2", "w3")
	membersThrough(t, workers["w1"].URL()) // w1 forwards the API: it knows the master

	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	var killed []string
	for round := 0; round < 3; round++ {
		id := submit(t, workers["w1"].URL(), map[string]any{ // through a worker: forwarded to the master
			"targets": fleet.Targets(hosts, f.Addr().Port), "maxConcurrency": 100,
			"http": map[string]any{"path": "/round"},
		})
		// Kill a worker (not w1, which serves our API calls) at a random point.
		at := 2000 + rng.IntN(hosts/2)
		waitFor(t, master.URL(), id, 2*time.Minute, func(st actors.JobStatus) bool { return st.Done >= at || st.Terminal() })
		victim := []string{"w2", "w3"}[rng.IntN(2)]
		if err := workers[victim].Cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		_ = workers[victim].Wait(10 * time.Second)
		killed = append(killed, victim)
		t.Logf("round %d: killed %s at %d stored results", round, victim, at)

		st := waitFor(t, master.URL(), id, 3*time.Minute, terminal)
		if st.State != store.JobGathered || st.Done != hosts || st.Counts[job.StateOK] != hosts {
			t.Fatalf("round %d: final status %+v", round, st)
		}
		results := streamResults(t, master.URL(), id)
		if len(results) != hosts {
			t.Fatalf("round %d: %d results, want %d", round, len(results), hosts)
		}
		for i, r := range results {
			exp := f.Expect(i)
			if r.Index != i || r.Host != fleet.HostAddr(i) || r.Body != exp.Body || r.StatusCode != exp.Status {
				t.Fatalf("round %d: result %d wrong: %+v", round, i, r)
			}
		}
		// The killed node shows dead, in both views.
		deadline := time.Now().Add(30 * time.Second)
		for {
			m, ok := member(members(t, master.URL()), victim)
			if ok && m.State == "dead" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("killed %s shows %+v", victim, m)
			}
			time.Sleep(100 * time.Millisecond) // failure detection takes its time
		}
		var cl struct {
			URL   []string `json:"url"`
			State []string `json:"state"`
		}
		testutil.DoJSON(t, "GET", master.URL()+"/distributedAgents/getClusterList", nil, &cl)
		vm, _ := member(members(t, master.URL()), victim)
		found := false
		for i, u := range cl.URL {
			if u == vm.GossipAddr && i < len(cl.State) {
				found = true
				if cl.State[i] != "false" {
					t.Errorf("getClusterList shows killed %s (%s) as state %q", victim, u, cl.State[i])
				}
			}
		}
		if !found {
			t.Errorf("getClusterList lacks killed %s (%s): %+v", victim, vm.GossipAddr, cl)
		}
		// A replacement joins under a new name for the next round.
		name := fmt.Sprintf("%s-r%d", victim, round)
		workers[victim] = testutil.StartServer(t, bin, gossipArgs(name, "worker", join)...)
		waitWorkers(t, master.URL(), name)
	}
	if len(killed) != 3 {
		t.Fatalf("killed %v", killed)
	}
}

// TestClusterTagsAndDrain: a job with tags runs only on workers with one of
// them; a disabled worker gets no lease of a new job until enabled again; a
// node with another gossip key cannot join.
func TestClusterTagsDrainAndKeys(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	const hosts = 4000 // more than one lease (1,000 targets), so both workers get some
	f := testutil.StartFleet(t, func(c *fleet.Config) { c.Hosts = hosts })
	bin := testutil.BuildSalvo(t)
	dir := t.TempDir()
	key := filepath.Join(dir, "gossip.key")
	other := filepath.Join(dir, "other.key")
	if err := os.WriteFile(key, []byte("MDEyMzQ1Njc4OWFiY2RlZg==\n"), 0o600); err != nil { // 16 bytes
		t.Fatal(err)
	}
	if err := os.WriteFile(other, []byte("ZmVkY2JhOTg3NjU0MzIxMA==\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	withKey := func(args []string, k string) []string { return append(args, "--gossip-key-file", k) }
	master := testutil.StartServer(t, bin, withKey(append([]string{"--data-dir", t.TempDir()}, gossipArgs("master", "master", "")...), key)...)
	self, _ := member(members(t, master.URL()), "master")
	join := self.GossipAddr
	testutil.StartServer(t, bin, withKey(append(gossipArgs("dc1", "worker", join), "--tags", "dc1"), key)...)
	testutil.StartServer(t, bin, withKey(append(gossipArgs("dc2", "worker", join), "--tags", "dc2"), key)...)
	waitWorkers(t, master.URL(), "dc1", "dc2")

	targets := fleet.Targets(hosts, f.Addr().Port)
	workersOf := func(id string) map[string]int {
		seen := map[string]int{}
		for _, r := range streamResults(t, master.URL(), id) {
			seen[r.Worker]++
		}
		return seen
	}

	id := submit(t, master.URL(), map[string]any{"targets": targets, "tags": []string{"dc2"}, "maxConcurrency": 20})
	if st := waitFor(t, master.URL(), id, time.Minute, terminal); st.State != store.JobGathered {
		t.Fatalf("tagged job: %+v", st)
	}
	if w := workersOf(id); len(w) != 1 || w["dc2"] != hosts {
		t.Errorf("a dc2 job ran on %v", w)
	}

	// A tag no worker has: the job waits and says why.
	id = submit(t, master.URL(), map[string]any{"targets": targets[:5], "tags": []string{"dc9"}})
	if st := status(t, master.URL(), id); st.State != store.JobWaiting || !strings.Contains(st.Reason, "dc9") {
		t.Errorf("dc9 job: %+v", st)
	}
	testutil.DoJSON(t, "POST", master.URL()+"/api/v1/jobs/"+id+"/cancel", nil, nil)

	// Drain dc1: a new job runs on dc2 only; enabled again, on both.
	dc1, _ := member(members(t, master.URL()), "dc1")
	host, port, _ := strings.Cut(dc1.GossipAddr, ":")
	var msg string
	if code := testutil.DoJSON(t, "POST", master.URL()+"/distributedAgents/disableClusterMember?url="+host+"&port="+port, nil, &msg); code != http.StatusOK {
		t.Fatalf("disable: %d %s", code, msg)
	}
	id = submit(t, master.URL(), map[string]any{"targets": targets, "maxConcurrency": 20})
	waitFor(t, master.URL(), id, time.Minute, terminal)
	if w := workersOf(id); w["dc1"] != 0 || w["dc2"] != hosts {
		t.Errorf("job while dc1 is disabled ran on %v", w)
	}
	if code := testutil.DoJSON(t, "POST", master.URL()+"/distributedAgents/enableClusterMember?url="+host+"&port="+port, nil, &msg); code != http.StatusOK {
		t.Fatalf("enable: %d %s", code, msg)
	}
	id = submit(t, master.URL(), map[string]any{"targets": targets, "maxConcurrency": 20,
		"retries": map[string]any{"max": 1}})
	waitFor(t, master.URL(), id, time.Minute, terminal)
	if w := workersOf(id); w["dc1"] == 0 || w["dc2"] == 0 {
		t.Errorf("job after enabling dc1 ran on %v, want both", w)
	}

	// Another gossip key: refused, and the cluster is unchanged.
	before := len(members(t, master.URL()))
	p := startServerExpectFailure(t, bin, withKey(gossipArgs("intruder", "worker", join), other)...)
	if !strings.Contains(p, "gossip key") {
		t.Errorf("intruder's log does not say why it was refused:\n%s", p)
	}
	if after := len(members(t, master.URL())); after != before {
		t.Errorf("members %d → %d after a node with another key tried to join", before, after)
	}
}

func startServerExpectFailure(t *testing.T, bin string, args ...string) string {
	t.Helper()
	out, err := testutil.RunServerToExit(t, bin, 60*time.Second, args...)
	if err == nil {
		t.Errorf("server started although it should not have:\n%s", out)
	}
	return out
}

// TestCreateNodeBuildsTheCluster: workers started alone (no --join) join
// when the master's createNode asks the peers of its config to.
func TestCreateNodeBuildsTheCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	bin := testutil.BuildSalvo(t)
	master, w1, w2 := peersCluster(t, bin, "lone")

	var e struct {
		Error string `json:"error"`
	}
	if code := testutil.DoJSON(t, "POST", w1.URL()+"/distributedAgents/createNode", nil, &e); code != http.StatusBadRequest {
		t.Errorf("createNode on a worker without masterUrl: %d %+v, want 400", code, e)
	}
	req, _ := http.NewRequest("POST", master.URL()+"/distributedAgents/createNode", nil)
	resp, err := (&http.Client{Timeout: time.Minute}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("createNode on the master: %d", resp.StatusCode)
	}
	waitWorkers(t, master.URL(), "lone-1", "lone-2")
	// A worker's API now forwards to the master, once the worker has had
	// the master's join event (the master may register it before): until
	// then it answers 503.
	if ms := membersThrough(t, w2.URL()); len(ms) != 3 {
		t.Errorf("members through a worker: %+v", ms)
	}

	// A worker stopped with SIGTERM mid-job hands its leases back: the job
	// completes on the other, every target once.
	const hosts = 5000
	f := testutil.StartFleet(t, func(c *fleet.Config) {
		c.Hosts = hosts
		c.LatencyMin, c.LatencyMax = 5*time.Millisecond, 10*time.Millisecond
	})
	id := submit(t, w2.URL(), map[string]any{"targets": fleet.Targets(hosts, f.Addr().Port), "maxConcurrency": 50})
	waitFor(t, master.URL(), id, time.Minute, func(st actors.JobStatus) bool { return st.Done >= 1000 || st.Terminal() })
	if err := w1.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := w1.Wait(30 * time.Second); err != nil {
		t.Errorf("worker did not stop cleanly: %v", err)
	}
	st := waitFor(t, master.URL(), id, 2*time.Minute, terminal)
	if st.State != store.JobGathered || st.Done != hosts || st.Counts[job.StateOK] != hosts {
		t.Fatalf("after a worker left: %+v", st)
	}
	byWorker := map[string]int{}
	for i, r := range streamResults(t, master.URL(), id) {
		if r.Index != i || r.Body != f.Expect(i).Body {
			t.Fatalf("result %d: %+v", i, r)
		}
		byWorker[r.Worker]++
	}
	if byWorker["lone-1"] == 0 || byWorker["lone-2"] == 0 {
		t.Errorf("results by worker: %v", byWorker)
	}
	if m, _ := member(members(t, master.URL()), "lone-1"); m.State != "left" {
		t.Errorf("the stopped worker shows %q, want left", m.State)
	}
}
