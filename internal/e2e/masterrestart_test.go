package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/salvo-sh/salvo/actors"
	"github.com/salvo-sh/salvo/fleet"
	"github.com/salvo-sh/salvo/internal/testutil"
	"github.com/salvo-sh/salvo/store"
)

// A master killed mid-job and started again 3 s later on the same disk
// and addresses: the workers run on through the leases they hold, hand
// their results to the master when it is back, and the master leases
// again only what no worker brought back. Targets sent twice are at most
// those in flight at the kill (concurrency × workers), counted per host
// at the fleet.
func TestMasterRestartSendsFewTargetsTwice(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	const hosts, conc, workers = 20000, 100, 2
	f := testutil.StartFleet(t, func(c *fleet.Config) {
		c.Hosts = hosts
		c.LatencyMin, c.LatencyMax = 5*time.Millisecond, 15*time.Millisecond
	})
	bin := testutil.BuildSalvo(t)
	dir := t.TempDir()
	masterArgs := []string{"--data-dir", dir, "--name", "master", "--roles", "master",
		"--gossip-addr", fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t)),
		"--remote-addr", fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))}
	httpAddr := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	startMaster := func() *testutil.Process {
		return testutil.StartServer(t, bin, append(masterArgs, "--http-addr", httpAddr)...)
	}
	master := startMaster()
	self, _ := member(members(t, master.URL()), "master")
	for _, n := range []string{"w1", "w2"} {
		testutil.StartServer(t, bin, gossipArgs(n, "worker", self.GossipAddr)...)
	}
	waitWorkers(t, master.URL(), "w1", "w2")

	id := submit(t, master.URL(), map[string]any{"targets": fleet.Targets(hosts, f.Addr().Port), "maxConcurrency": conc})
	waitFor(t, master.URL(), id, time.Minute, func(st actors.JobStatus) bool { return st.Done >= 5000 })
	if err := master.Cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = master.Wait(10 * time.Second)
	time.Sleep(3 * time.Second) // the master stays away for 3 s, as in the report
	master = startMaster()

	st := waitFor(t, master.URL(), id, 3*time.Minute, terminal)
	if st.State != store.JobGathered || st.Done != hosts {
		t.Fatalf("job across the master's restart: %+v", st)
	}
	twice := 0
	for i := 0; i < hosts; i++ {
		switch n := f.HostRequests(i); {
		case n == 0:
			t.Fatalf("host %d never requested", i)
		case n > 1:
			twice += int(n - 1)
		}
	}
	t.Logf("%d targets sent twice (bound %d)", twice, conc*workers)
	if twice > conc*workers {
		t.Errorf("%d targets sent twice, more than the %d in flight at the kill", twice, conc*workers)
	}
}
