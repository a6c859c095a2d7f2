package e2e

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/salvo-sh/salvo/actors"
	"github.com/salvo-sh/salvo/fleet"
	"github.com/salvo-sh/salvo/internal/testutil"
	"github.com/salvo-sh/salvo/store"
)

// waitMemberState waits, bounded, until the master shows member name in
// state (alive, dead, left).
func waitMemberState(t *testing.T, url, name, state string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		m, ok := member(members(t, url), name)
		if ok && m.State == state {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("member %s is %+v after %s, want %s", name, m, timeout, state)
		}
		time.Sleep(50 * time.Millisecond) // polling the API: gossip has no outside signal
	}
}

// startMaster starts a master-only node and returns it with its gossip
// address, for workers to join.
func startMaster(t *testing.T, bin string) (*testutil.Process, string) {
	t.Helper()
	master := testutil.StartServer(t, bin, append([]string{"--data-dir", t.TempDir()}, gossipArgs("master", "master", "")...)...)
	self, _ := member(members(t, master.URL()), "master")
	return master, self.GossipAddr
}

// runsOnlyOn disables worker off, runs a job over targets and checks that
// it ends gathered with every result from worker on.
func runsOnlyOn(t *testing.T, url, off, on string, targets []string) {
	t.Helper()
	m, _ := member(members(t, url), off)
	host, port, _ := strings.Cut(m.GossipAddr, ":")
	var msg string
	if code := testutil.DoJSON(t, "POST", url+"/distributedAgents/disableClusterMember?url="+host+"&port="+port, nil, &msg); code != http.StatusOK {
		t.Fatalf("disable %s: %d %s", off, code, msg)
	}
	id := submit(t, url, map[string]any{"targets": targets, "maxConcurrency": 20})
	st := waitFor(t, url, id, time.Minute, terminal)
	if st.State != store.JobGathered || st.Done != len(targets) {
		t.Fatalf("job with only %s enabled: %+v", on, st)
	}
	for _, r := range streamResults(t, url, id) {
		if r.Worker != on {
			t.Fatalf("result of %s from %s, want %s", r.Host, r.Worker, on)
		}
	}
}

// A worker paused long enough to be taken for dead (SIGSTOP) comes back
// registered and leased to when it resumes (SIGCONT), not as a zombie that
// shows alive and never gets work: with the other worker disabled, a job
// runs on it to the end.
func TestPausedWorkerComesBack(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	const hosts = 2000
	f := testutil.StartFleet(t, func(c *fleet.Config) {
		c.Hosts = hosts
		c.LatencyMin, c.LatencyMax = 2*time.Millisecond, 5*time.Millisecond
	})
	bin := testutil.BuildSalvo(t)
	master, join := startMaster(t, bin)
	w1 := testutil.StartServer(t, bin, gossipArgs("w1", "worker", join)...)
	testutil.StartServer(t, bin, gossipArgs("w2", "worker", join)...)
	waitWorkers(t, master.URL(), "w1", "w2")
	targets := fleet.Targets(hosts, f.Addr().Port)

	// A job runs on both while w1 pauses: the master takes w1 for dead and
	// hands its leases to w2.
	running := submit(t, master.URL(), map[string]any{"targets": targets, "maxConcurrency": 10})
	if err := w1.Cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := true
	defer func() {
		if stopped {
			_ = w1.Cmd.Process.Signal(syscall.SIGCONT)
		}
	}()
	waitMemberState(t, master.URL(), "w1", "dead", 60*time.Second)
	if err := w1.Cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	stopped = false
	waitWorkers(t, master.URL(), "w1") // alive and registered again

	if st := waitFor(t, master.URL(), running, 2*time.Minute, terminal); st.State != store.JobGathered || st.Done != hosts {
		t.Fatalf("job across the pause: %+v", st)
	}
	counts := map[int]int{}
	for _, r := range streamResults(t, master.URL(), running) {
		counts[r.Index]++
	}
	if len(counts) != hosts {
		t.Fatalf("%d distinct results, want %d", len(counts), hosts)
	}

	// Only w1 may take the next job: it must get it and finish it.
	runsOnlyOn(t, master.URL(), "w2", "w1", targets[:500])
}

// A worker killed and started again at once under the same name and the
// same addresses (faster than the failure detector) holds none of the
// leases of the process before: the master learns it from the new
// session, hands those leases to the others (or to it), and the job ends
// with one result per target.
func TestWorkerRestartedUnderTheSameName(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	const hosts = 4000
	f := testutil.StartFleet(t, func(c *fleet.Config) {
		c.Hosts = hosts
		c.LatencyMin, c.LatencyMax = 2*time.Millisecond, 5*time.Millisecond
	})
	bin := testutil.BuildSalvo(t)
	master, join := startMaster(t, bin)
	gossip := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	remote := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	args := []string{"--name", "w1", "--roles", "worker", "--gossip-addr", gossip, "--remote-addr", remote, "--join", join}
	w1 := testutil.StartServer(t, bin, args...)
	waitWorkers(t, master.URL(), "w1")

	id := submit(t, master.URL(), map[string]any{"targets": fleet.Targets(hosts, f.Addr().Port), "maxConcurrency": 10})
	waitFor(t, master.URL(), id, time.Minute, func(st actors.JobStatus) bool { return st.Done > 200 })
	if err := w1.Cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = w1.Wait(10 * time.Second)
	testutil.StartServer(t, bin, args...)

	st := waitFor(t, master.URL(), id, 2*time.Minute, terminal)
	if st.State != store.JobGathered || st.Done != hosts {
		t.Fatalf("job across the restart: %+v", st)
	}
	seen := map[int]bool{}
	for _, r := range streamResults(t, master.URL(), id) {
		if seen[r.Index] {
			t.Fatalf("index %d stored twice", r.Index)
		}
		seen[r.Index] = true
	}
	if len(seen) != hosts {
		t.Fatalf("%d results, want %d", len(seen), hosts)
	}
}

// requireIPTables skips a test that cuts the network with iptables where
// it cannot (not root, no CAP_NET_ADMIN), and fails it where iptables is
// missing.
func requireIPTables(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("a network partition needs root (iptables)")
	}
	if _, err := exec.LookPath("iptables"); err != nil {
		testutil.Missing(t, "iptables is missing (apt-get install iptables)")
	}
	if out, err := exec.Command("iptables", "-w", "5", "-S", "OUTPUT").CombinedOutput(); err != nil {
		t.Skipf("iptables cannot change rules here (no CAP_NET_ADMIN?): %v %s", err, out)
	}
}

// iptables runs iptables with args, failing the test on an error.
func iptables(t *testing.T, args ...string) {
	t.Helper()
	out, err := exec.Command("iptables", append([]string{"-w", "5"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("iptables %v: %v\n%s", args, err, out)
	}
}

// A worker cut off from the cluster by a real network partition
// (iptables drops every packet to its own loopback address, and every
// packet its sockets send from it) is taken for dead; when the partition
// heals it is registered again and leased to. Needs root for iptables.
func TestPartitionedWorkerComesBack(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	requireIPTables(t)
	const hosts = 2000
	const addr = "127.0.9.9" // outside the fleet's 127.1.0.0 and up
	f := testutil.StartFleet(t, func(c *fleet.Config) { c.Hosts = hosts })
	bin := testutil.BuildSalvo(t)
	master, join := startMaster(t, bin)
	testutil.StartServer(t, bin, "--name", "w1", "--roles", "worker", "--http-addr", addr+":0",
		"--gossip-addr", addr+":0", "--remote-addr", addr+":0", "--join", join)
	testutil.StartServer(t, bin, gossipArgs("w2", "worker", join)...)
	waitWorkers(t, master.URL(), "w1", "w2")

	rule := []string{"-m", "comment", "--comment", "salvo-partition-test", "-j", "DROP"}
	cut := [][]string{append([]string{"INPUT", "-d", addr}, rule...), append([]string{"OUTPUT", "-s", addr}, rule...)}
	for _, r := range cut {
		iptables(t, append([]string{"-I"}, r...)...)
	}
	healed := false
	heal := func() {
		if !healed {
			healed = true
			for _, r := range cut {
				iptables(t, append([]string{"-D"}, r...)...)
			}
		}
	}
	defer heal()
	waitMemberState(t, master.URL(), "w1", "dead", 60*time.Second)
	heal()
	waitWorkers(t, master.URL(), "w1")

	runsOnlyOn(t, master.URL(), "w2", "w1", fleet.Targets(hosts, f.Addr().Port)[:500])
}
