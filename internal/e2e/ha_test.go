package e2e

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/salvo-sh/salvo/actors"
	"github.com/salvo-sh/salvo/fleet"
	"github.com/salvo-sh/salvo/internal/server"
	"github.com/salvo-sh/salvo/internal/testutil"
	"github.com/salvo-sh/salvo/job"
	"github.com/salvo-sh/salvo/raftgroup"
	"github.com/salvo-sh/salvo/store"
)

// haMaster is one master of a Raft group started by a test: its
// addresses stay across restarts, so that a restarted master is the same
// member on the same disk.
type haMaster struct {
	name, dir, ip string
	args          []string
	p             *testutil.Process
}

func (m *haMaster) url() string { return m.p.URL() }

// start starts (or restarts) the master.
func (m *haMaster) start(t *testing.T, bin string) {
	t.Helper()
	m.p = testutil.StartServer(t, bin, m.args...)
}

// kill kills the master with SIGKILL and waits for it to exit.
func (m *haMaster) kill(t *testing.T) {
	t.Helper()
	if err := m.p.Cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = m.p.Wait(10 * time.Second)
}

// haCluster is a test's Raft group of masters and its workers.
type haCluster struct {
	masters []*haMaster
	workers []*testutil.Process
	join    string
}

// startHA starts n masters (each on its own loopback address, so that a
// test can cut one off with iptables) that bootstrap a Raft group, and
// the workers, which join through the first master. "{name}" in an extra
// argument is the master's name (m1, m2, …): a config file of its own.
func startHA(t *testing.T, bin string, n, workers int, extra ...string) *haCluster {
	t.Helper()
	c := &haCluster{}
	net := 20 + rand.IntN(200)
	var gossips []string
	for i := range n {
		ip := fmt.Sprintf("127.0.%d.%d", net, 1+i)
		m := &haMaster{name: fmt.Sprintf("m%d", i+1), dir: t.TempDir(), ip: ip}
		gossip := fmt.Sprintf("%s:%d", ip, testutil.FreePort(t))
		gossips = append(gossips, gossip)
		m.args = []string{"--name", m.name, "--roles", "master", "--data-dir", m.dir,
			"--http-addr", fmt.Sprintf("%s:%d", ip, testutil.FreePort(t)),
			"--gossip-addr", gossip, "--remote-addr", fmt.Sprintf("%s:%d", ip, testutil.FreePort(t)),
			"--raft-addr", fmt.Sprintf("%s:%d", ip, testutil.FreePort(t)),
			"--bootstrap-expect", fmt.Sprint(n)}
		for _, a := range extra {
			m.args = append(m.args, strings.ReplaceAll(a, "{name}", m.name))
		}
		c.masters = append(c.masters, m)
	}
	// Every master joins the others, so that any of them restarts alone.
	c.join = strings.Join(gossips, ",")
	for _, m := range c.masters {
		m.args = append(m.args, "--join", c.join)
	}
	var wg sync.WaitGroup
	for _, m := range c.masters {
		wg.Add(1)
		go func() { defer wg.Done(); m.start(t, bin) }()
	}
	wg.Wait()
	for i := range workers {
		c.workers = append(c.workers, testutil.StartServer(t, bin, gossipArgs(fmt.Sprintf("w%d", i+1), "worker", c.join)...))
	}
	return c
}

// localRaft reads a master's own view of the group; ok is false when it
// does not answer.
func localRaft(t *testing.T, url string) (raftgroup.Status, bool) {
	t.Helper()
	var st raftgroup.Status
	code, err := testutil.TryJSON("GET", url+"/api/v1/cluster/raft?scope=local", nil, &st)
	return st, err == nil && code == http.StatusOK
}

// leader waits until one of the alive masters leads with its master
// running (it answers the members list itself), at most within, and
// returns it.
func (c *haCluster) leader(t *testing.T, within time.Duration, alive ...*haMaster) *haMaster {
	t.Helper()
	if len(alive) == 0 {
		alive = c.masters
	}
	deadline := time.Now().Add(within)
	for {
		for _, m := range alive {
			st, ok := localRaft(t, m.url())
			if !ok || st.State != "Leader" {
				continue
			}
			// A leader whose master runs answers the members list itself
			// (before, it answers 503: no leader to forward to).
			resp, err := http.Get(m.url() + "/api/v1/cluster/members")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return m
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no master leads with its master running within %s", within)
		}
		time.Sleep(50 * time.Millisecond) // polling the APIs: an election has no outside signal
	}
}

// waitWorkersAt waits until the leader has every worker registered.
func (c *haCluster) waitWorkersAt(t *testing.T, leader *haMaster) {
	t.Helper()
	var names []string
	for i := range c.workers {
		names = append(names, fmt.Sprintf("w%d", i+1))
	}
	waitWorkers(t, leader.url(), names...)
}

// resultsPerIndex reads every stored result of a job on a master (a
// follower answers from its own store) and counts them per index.
func resultsPerIndex(t *testing.T, url, id string) map[int]int {
	t.Helper()
	seen := map[int]int{}
	for _, r := range streamResults(t, url, id) {
		seen[r.Index]++
	}
	return seen
}

// checkStores checks that every master's store holds exactly one result
// per target, all ok, waiting (bounded) for a follower's store to catch up.
func checkStores(t *testing.T, masters []*haMaster, id string, hosts int) {
	t.Helper()
	for _, m := range masters {
		deadline := time.Now().Add(30 * time.Second)
		for {
			var st actors.JobStatus
			code, err := testutil.TryJSON("GET", m.url()+"/api/v1/jobs/"+id, nil, &st)
			if err == nil && code == http.StatusOK && st.State == store.JobGathered {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: job %s not gathered in its store within 30 s: %d %+v %v", m.name, id, code, st, err)
			}
			time.Sleep(100 * time.Millisecond) // polling a follower's store
		}
		seen := resultsPerIndex(t, m.url(), id)
		if len(seen) != hosts {
			t.Fatalf("%s: %d targets with a result, want %d", m.name, len(seen), hosts)
		}
		for i, n := range seen {
			if n != 1 {
				t.Fatalf("%s: target %d has %d results", m.name, i, n)
			}
		}
		ok := 0
		for _, r := range streamResults(t, m.url(), id) {
			if r.State == job.StateOK {
				ok++
			}
		}
		if ok != hosts {
			t.Fatalf("%s: %d results ok, want %d", m.name, ok, hosts)
		}
	}
}

// 3 masters and 2 workers run a 20,000-target job while the leader is
// killed (SIGKILL) five times at random points, and started again each
// time: a new leader within 10 s each time, the job gathered, exactly one
// correct stored result per target on every master, and targets sent
// twice within what was in flight at the kills.
func TestHAKillLeaderFiveTimes(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	const hosts, conc, kills = 20000, 20, 5
	f := testutil.StartFleet(t, func(c *fleet.Config) {
		c.Hosts = hosts
		c.LatencyMin, c.LatencyMax = 10*time.Millisecond, 20*time.Millisecond
	})
	bin := testutil.BuildSalvo(t)
	c := startHA(t, bin, 3, 2)
	leader := c.leader(t, 30*time.Second)
	c.waitWorkersAt(t, leader)

	id := submit(t, leader.url(), map[string]any{"targets": fleet.Targets(hosts, f.Addr().Port), "maxConcurrency": conc})
	for k := range kills {
		at := (k + 1) * hosts / (kills + 2)
		at += rand.IntN(hosts / (kills + 2) / 2)
		waitFor(t, leader.url(), id, 2*time.Minute, func(st actors.JobStatus) bool { return st.Done >= at || st.Terminal() })
		killed := leader
		t.Logf("kill %d: %s at about %d done", k+1, killed.name, at)
		killed.kill(t)
		start := time.Now()
		var alive []*haMaster
		for _, m := range c.masters {
			if m != killed {
				alive = append(alive, m)
			}
		}
		leader = c.leader(t, 10*time.Second, alive...)
		t.Logf("kill %d: %s leads after %s", k+1, leader.name, time.Since(start).Round(time.Millisecond))
		killed.start(t, bin)
	}
	st := waitFor(t, leader.url(), id, 3*time.Minute, terminal)
	if st.State != store.JobGathered || st.Done != hosts {
		t.Fatalf("job across %d leader kills: %+v", kills, st)
	}
	checkStores(t, c.masters, id, hosts)
	twice := 0
	for i := range hosts {
		switch n := f.HostRequests(i); {
		case n == 0:
			t.Fatalf("host %d never requested", i)
		case n > 1:
			twice += int(n - 1)
		}
	}
	bound := kills * conc * len(c.workers)
	t.Logf("%d targets sent twice over %d kills (bound %d: in flight at the kills)", twice, kills, bound)
	if twice > bound {
		t.Errorf("%d targets sent twice, more than the %d in flight at the kills", twice, bound)
	}
}

// A follower killed mid-job does not interrupt it; started again after
// the leader compacted its log past what the follower holds, it catches
// up from a snapshot and its store holds the job.
func TestHAFollowerCatchesUpFromSnapshot(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	const hosts = 3000
	f := testutil.StartFleet(t, func(c *fleet.Config) { c.Hosts = hosts })
	bin := testutil.BuildSalvo(t)
	c := startHA(t, bin, 3, 1, "--raft-trailing-logs", "8", "--raft-snapshot-threshold", "16")
	leader := c.leader(t, 30*time.Second)
	c.waitWorkersAt(t, leader)
	var follower *haMaster
	for _, m := range c.masters {
		if m != leader {
			follower = m
			break
		}
	}
	id1 := submit(t, leader.url(), map[string]any{"targets": fleet.Targets(hosts, f.Addr().Port), "maxConcurrency": 50})
	waitFor(t, leader.url(), id1, time.Minute, func(st actors.JobStatus) bool { return st.Done >= 500 })
	follower.kill(t)
	st := waitFor(t, leader.url(), id1, 2*time.Minute, terminal)
	if st.State != store.JobGathered || st.Done != hosts {
		t.Fatalf("job with a follower killed: %+v", st)
	}
	id2 := submit(t, leader.url(), map[string]any{"targets": fleet.Targets(hosts, f.Addr().Port), "maxConcurrency": 50})
	if st := waitFor(t, leader.url(), id2, 2*time.Minute, terminal); st.State != store.JobGathered {
		t.Fatalf("second job: %+v", st)
	}
	var snap map[string]any
	if code := testutil.DoJSON(t, "POST", leader.url()+"/api/v1/cluster/raft/snapshot", nil, &snap); code != http.StatusOK {
		t.Fatalf("snapshot: %d %v", code, snap)
	}
	follower.start(t, bin)
	waitLog(t, follower.p, time.Minute, "restored the store from a snapshot")
	checkStores(t, []*haMaster{follower}, id1, hosts)
	checkStores(t, []*haMaster{follower}, id2, hosts)

	// Its store without its Raft state (a copied data dir, a raft dir
	// lost): it refuses to start rather than skip the new log's entries.
	follower.kill(t)
	if err := os.RemoveAll(filepath.Join(follower.dir, server.RaftDir)); err != nil {
		t.Fatal(err)
	}
	out, err := testutil.RunServerToExit(t, bin, 30*time.Second, follower.args...)
	if err == nil || !strings.Contains(out, "holds no Raft state") {
		t.Fatalf("a store without its raft state: %v\n%s", err, out)
	}
}

// Leadership moves by the operator's call mid-job; a dead voter is
// removed; a stray master outside the group (no --bootstrap-expect)
// never gets a worker to run its job.
func TestHATransferRemoveAndStray(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	const hosts = 4000
	f := testutil.StartFleet(t, func(c *fleet.Config) {
		c.Hosts = hosts + 100
		c.LatencyMin, c.LatencyMax = 5*time.Millisecond, 10*time.Millisecond
	})
	bin := testutil.BuildSalvo(t)
	c := startHA(t, bin, 3, 2)
	leader := c.leader(t, 30*time.Second)
	c.waitWorkersAt(t, leader)

	id := submit(t, leader.url(), map[string]any{"targets": fleet.Targets(hosts, f.Addr().Port), "maxConcurrency": 20})
	waitFor(t, leader.url(), id, time.Minute, func(st actors.JobStatus) bool { return st.Done >= 1000 })
	var to *haMaster
	for _, m := range c.masters {
		if m != leader {
			to = m
			break
		}
	}
	// Through a follower: it forwards the call to the leader.
	var out map[string]any
	via := c.masters[0]
	if via == leader {
		via = c.masters[1]
	}
	if code := testutil.DoJSON(t, "POST", via.url()+"/api/v1/cluster/raft/transfer?to="+to.name, nil, &out); code != http.StatusOK {
		t.Fatalf("transfer to %s through %s: %d %v", to.name, via.name, code, out)
	}
	if got := c.leader(t, 10*time.Second); got != to {
		t.Fatalf("after the transfer %s leads, want %s", got.name, to.name)
	}
	st := waitFor(t, to.url(), id, 2*time.Minute, terminal)
	if st.State != store.JobGathered || st.Done != hosts {
		t.Fatalf("job across a leadership transfer: %+v", st)
	}
	checkStores(t, c.masters, id, hosts)

	// REST Commander's "assign a new master": createNode with the
	// masterUrl of another master of the group moves the leadership there.
	back := via
	if back == to {
		back = c.masters[2]
	}
	if code := post(t, to.url()+"/distributedAgents/createNode?masterUrl="+back.p.Addr); code != http.StatusOK {
		t.Fatalf("createNode naming %s on %s: %d", back.name, to.name, code)
	}
	if got := c.leader(t, 10*time.Second); got != back {
		t.Fatalf("after createNode %s leads, want %s", got.name, back.name)
	}
	to = back

	// A dead voter is removed: the group is two voters.
	var dead *haMaster
	for _, m := range c.masters {
		if m != to {
			dead = m
			break
		}
	}
	dead.kill(t)
	if code := testutil.DoJSON(t, "DELETE", to.url()+"/api/v1/cluster/raft/servers/"+dead.name, nil, &out); code != http.StatusOK {
		t.Fatalf("remove %s: %d %v", dead.name, code, out)
	}
	var rs server.RaftStatus
	if code := testutil.DoJSON(t, "GET", to.url()+"/api/v1/cluster/raft", nil, &rs); code != http.StatusOK || len(rs.Voters) != 2 {
		t.Fatalf("raft status after the removal: %d %+v", code, rs)
	}
	for _, v := range rs.Voters {
		if v == dead.name {
			t.Fatalf("%s still a voter: %+v", dead.name, rs)
		}
	}
	if code := testutil.DoJSON(t, "DELETE", to.url()+"/api/v1/cluster/raft/servers/nosuch", nil, &out); code != http.StatusNotFound {
		t.Fatalf("removing an unknown member: %d %v, want 404", code, out)
	}

	// A stray master: a second master outside the group joins the
	// cluster and takes a job; no worker runs it.
	stray := testutil.StartServer(t, bin, "--name", "stray", "--roles", "master", "--data-dir", t.TempDir(),
		"--gossip-addr", "127.0.0.1:0", "--remote-addr", "127.0.0.1:0", "--join", c.join)
	before := f.Requests()
	var strayTargets []string
	for i := hosts; i < hosts+100; i++ {
		strayTargets = append(strayTargets, fleet.Targets(hosts+100, f.Addr().Port)[i])
	}
	spec := map[string]any{"targets": strayTargets, "maxConcurrency": 10}
	// Submitted at once, before the stray has seen the group: accepted
	// or refused, no worker runs it.
	var first map[string]any
	code, err := testutil.TryJSON("POST", stray.URL()+"/api/v1/jobs", spec, &first)
	t.Logf("a job submitted to the stray at its start: %d %v %v", code, first, err)
	// Once it sees the group's leader it is not ready and refuses jobs.
	deadline := time.Now().Add(20 * time.Second)
	for {
		var body map[string]any
		if code, _ := testutil.TryJSON("GET", stray.URL()+"/readyz", nil, &body); code == http.StatusServiceUnavailable {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the stray master is still ready 20 s after joining the cluster of a Raft group")
		}
		time.Sleep(100 * time.Millisecond) // polling its API
	}
	var refusal map[string]any
	if code := testutil.DoJSON(t, "POST", stray.URL()+"/api/v1/jobs", spec, &refusal); code != http.StatusConflict ||
		!strings.Contains(fmt.Sprint(refusal["error"]), "outside the cluster's Raft group") {
		t.Fatalf("a job submitted to the stray: %d %v, want 409 naming the Raft group", code, refusal)
	}
	if id, _ := first["id"].(string); id != "" {
		// Accepted before it knew: given time, still no worker runs it.
		var sst actors.JobStatus
		deadline := time.Now().Add(15 * time.Second)
		for time.Now().Before(deadline) {
			if code, err := testutil.TryJSON("GET", stray.URL()+"/api/v1/jobs/"+id, nil, &sst); err == nil && code == http.StatusOK && sst.Terminal() {
				break
			}
			time.Sleep(200 * time.Millisecond) // polling its API
		}
		t.Logf("the stray's first job: %s %q", sst.State, sst.Reason)
	}
	for i := hosts; i < hosts+100; i++ {
		if n := f.HostRequests(i); n != 0 {
			t.Fatalf("the stray master's job reached host %d (%d requests)", i, n)
		}
	}
	t.Logf("fleet requests %d → %d", before, f.Requests())
}

// The leader cut off from the other masters (iptables drops the packets
// between their addresses; the workers still reach every master) steps
// down, the other two elect a leader, no worker runs more than its
// capacity (counted at the fleet), and once the partition heals the old
// leader follows and its store converges. Needs root for iptables.
func TestHAPartitionedLeaderStepsDown(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	requireIPTables(t)
	const hosts, capacity = 8000, 40
	f := testutil.StartFleet(t, func(c *fleet.Config) {
		c.Hosts = hosts
		c.LatencyMin, c.LatencyMax = 10*time.Millisecond, 20*time.Millisecond
	})
	bin := testutil.BuildSalvo(t)
	c := startHA(t, bin, 3, 0)
	for i := range 2 {
		c.workers = append(c.workers, testutil.StartServer(t, bin, append(gossipArgs(fmt.Sprintf("w%d", i+1), "worker", c.join),
			"--capacity", fmt.Sprint(capacity))...))
	}
	leader := c.leader(t, 30*time.Second)
	c.waitWorkersAt(t, leader)

	var peak atomic.Int64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tk := time.NewTicker(time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tk.C:
				if n := f.InFlight(); n > peak.Load() {
					peak.Store(n)
				}
			}
		}
	}()
	defer func() { close(stop); <-sampled }()

	id := submit(t, leader.url(), map[string]any{"targets": fleet.Targets(hosts, f.Addr().Port), "maxConcurrency": capacity})
	waitFor(t, leader.url(), id, time.Minute, func(st actors.JobStatus) bool { return st.Done >= 1500 })
	var others []*haMaster
	for _, m := range c.masters {
		if m != leader {
			others = append(others, m)
		}
	}
	rules := [][]string{}
	for _, o := range others {
		rules = append(rules, []string{"OUTPUT", "-s", leader.ip, "-d", o.ip, "-j", "DROP"},
			[]string{"OUTPUT", "-s", o.ip, "-d", leader.ip, "-j", "DROP"})
	}
	for _, r := range rules {
		iptables(t, append([]string{"-A"}, r...)...)
	}
	healed := false
	heal := func() {
		if healed {
			return
		}
		healed = true
		for _, r := range rules {
			iptables(t, append([]string{"-D"}, r...)...)
		}
	}
	t.Cleanup(heal)
	start := time.Now()
	newLeader := c.leader(t, 15*time.Second, others...)
	t.Logf("%s leads %s after the partition", newLeader.name, time.Since(start).Round(time.Millisecond))
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, ok := localRaft(t, leader.url())
		if ok && st.State != "Leader" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the partitioned leader %s did not step down: %+v", leader.name, st)
		}
		time.Sleep(50 * time.Millisecond) // polling its API
	}
	st := waitFor(t, newLeader.url(), id, 3*time.Minute, terminal)
	if st.State != store.JobGathered || st.Done != hosts {
		t.Fatalf("job across the partition: %+v", st)
	}
	heal()
	checkStores(t, c.masters, id, hosts)
	if p := peak.Load(); p > int64(capacity*len(c.workers)) {
		t.Errorf("%d requests in flight at the fleet at the peak, more than the workers' capacity %d", p, capacity*len(c.workers))
	} else {
		t.Logf("peak in flight at the fleet %d (capacity %d)", p, capacity*len(c.workers))
	}
}

// raftAddrOf is the Raft address a member's own view of the group gives
// name ("" when name is not a voter there).
func raftAddrOf(st raftgroup.Status, name string) string {
	for _, v := range st.Voters {
		if v.Name == name {
			return v.Addr
		}
	}
	return ""
}

// A follower that comes back on the same data dir with another Raft
// address (a pod with a new IP) is re-addressed by the leader, once, and
// catches up: the group's configuration shows its new address, and a job
// submitted after reaches its store.
func TestHAMasterBackOnAnotherRaftAddress(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	const hosts = 200
	f := testutil.StartFleet(t, func(c *fleet.Config) { c.Hosts = hosts })
	bin := testutil.BuildSalvo(t)
	c := startHA(t, bin, 3, 1)
	leader := c.leader(t, 30*time.Second)
	c.waitWorkersAt(t, leader)
	var follower *haMaster
	for _, m := range c.masters {
		if m != leader {
			follower = m
			break
		}
	}
	st, ok := localRaft(t, leader.url())
	old := raftAddrOf(st, follower.name)
	if !ok || old == "" {
		t.Fatalf("%s not a voter on the leader %s: %+v", follower.name, leader.name, st)
	}

	follower.kill(t)
	fresh := fmt.Sprintf("%s:%d", follower.ip, testutil.FreePort(t))
	for i, a := range follower.args {
		if a == "--raft-addr" {
			follower.args[i+1] = fresh
		}
	}
	follower.start(t, bin)
	start := time.Now()
	deadline := start.Add(20 * time.Second)
	for {
		leader = c.leader(t, 10*time.Second)
		st, ok = localRaft(t, leader.url())
		if ok && raftAddrOf(st, follower.name) == fresh {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the leader %s still has %s at %q 20 s after its restart on %s: %+v", leader.name, follower.name, raftAddrOf(st, follower.name), fresh, st)
		}
		time.Sleep(100 * time.Millisecond) // polling the leader's API: a configuration change has no outside signal
	}
	t.Logf("%s re-addressed %s → %s after %s", follower.name, old, fresh, time.Since(start).Round(time.Millisecond))
	waitLog(t, leader.p, 5*time.Second, "another raft address", follower.name, old, fresh)

	// A write after the change reaches the restarted master.
	id := submit(t, leader.url(), map[string]any{"targets": fleet.Targets(hosts, f.Addr().Port), "maxConcurrency": 20})
	if st := waitFor(t, leader.url(), id, time.Minute, terminal); st.State != store.JobGathered || st.Done != hosts {
		t.Fatalf("job after the re-addressing: %+v", st)
	}
	checkStores(t, []*haMaster{follower}, id, hosts)
	lst, ok := localRaft(t, leader.url())
	if !ok {
		t.Fatalf("the leader %s does not answer its raft status", leader.name)
	}
	deadline = time.Now().Add(10 * time.Second)
	for {
		fst, ok := localRaft(t, follower.url())
		if ok && fst.AppliedIndex >= lst.AppliedIndex && raftAddrOf(fst, follower.name) == fresh {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s applied %d (its own address %q), the leader %d, 10 s after the job", follower.name, fst.AppliedIndex, raftAddrOf(fst, follower.name), lst.AppliedIndex)
		}
		time.Sleep(50 * time.Millisecond) // polling the follower's API
	}
	// The change was made once: the passes since saw the address equal.
	var n int
	for _, m := range c.masters {
		n += strings.Count(m.p.Log(), "another raft address")
	}
	if n != 1 {
		t.Fatalf("%d re-addressings logged over %s, want 1", n, time.Since(start).Round(time.Millisecond))
	}
}
