package e2e

import (
	"net/http"
	"testing"
	"time"

	"github.com/salvo-sh/salvo/actors"
	"github.com/salvo-sh/salvo/fleet"
	"github.com/salvo-sh/salvo/internal/testutil"
	"github.com/salvo-sh/salvo/store"
)

// A rollout across leader failovers (docs/rollouts.md): 3 masters and a
// worker; the job paused for approval after batch 1 is still paused, at
// batch 1, on the new leader once the old one is killed; a resume sent
// to a follower reaches the leader; the leader killed again in the middle
// of batch 2 leaves the rollout to the next one, which finishes it. Batch
// 1's targets ran once, the budget (no failure) held.
func TestHARollout(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	const hosts, first, conc = 60, 10, 2
	f := testutil.StartFleet(t, func(c *fleet.Config) {
		c.Hosts = hosts
		c.LatencyMin, c.LatencyMax = 30*time.Millisecond, 30*time.Millisecond
	})
	bin := testutil.BuildSalvo(t)
	c := startHA(t, bin, 3, 1)
	leader := c.leader(t, 30*time.Second)
	c.waitWorkersAt(t, leader)

	id := submit(t, leader.url(), map[string]any{"targets": fleet.Targets(hosts, f.Addr().Port), "maxConcurrency": conc,
		"rollout": map[string]any{"batches": []any{first, "100%"}, "approve": true, "maxFailures": 0}})
	approval := func(st actors.JobStatus) bool {
		return st.State == store.JobPaused && st.Rollout != nil && st.Rollout.State == actors.RolloutApproval
	}
	st := waitFor(t, leader.url(), id, time.Minute, func(st actors.JobStatus) bool { return approval(st) || st.Terminal() })
	if !approval(st) || st.Rollout.Batch != 1 || st.Done != first {
		t.Fatalf("after batch 1: %+v, rollout %+v", st, st.Rollout)
	}

	others := func(not *haMaster) []*haMaster {
		var out []*haMaster
		for _, m := range c.masters {
			if m != not {
				out = append(out, m)
			}
		}
		return out
	}
	killed := leader
	killed.kill(t)
	leader = c.leader(t, 10*time.Second, others(killed)...)
	st = waitFor(t, leader.url(), id, 30*time.Second, func(st actors.JobStatus) bool { return approval(st) || st.Terminal() })
	if !approval(st) || st.Rollout.Batch != 1 || st.Done != first {
		t.Fatalf("on the new leader %s: %+v, rollout %+v", leader.name, st, st.Rollout)
	}
	killed.start(t, bin)
	c.waitWorkersAt(t, leader)
	var follower *haMaster // the one that stayed up: it knows the leader
	for _, m := range others(leader) {
		if m != killed {
			follower = m
		}
	}
	var resumed actors.JobStatus
	if code := testutil.DoJSON(t, "POST", follower.url()+"/api/v1/jobs/"+id+"/resume", nil, &resumed); code != http.StatusOK {
		t.Fatalf("resume through the follower %s: %d %+v", follower.name, code, resumed)
	}

	st = waitFor(t, leader.url(), id, time.Minute, func(st actors.JobStatus) bool { return st.Done >= first+15 || st.Terminal() })
	if st.Terminal() || st.Rollout.Batch != 2 {
		t.Fatalf("batch 2 is not running: %+v, rollout %+v", st, st.Rollout)
	}
	t.Logf("killing the leader %s at %d of %d", leader.name, st.Done, hosts)
	killed = leader
	killed.kill(t)
	leader = c.leader(t, 10*time.Second, others(killed)...)
	killed.start(t, bin)
	st = waitFor(t, leader.url(), id, 3*time.Minute, terminal)
	if st.State != store.JobGathered || st.Done != hosts || st.Rollout == nil || st.Rollout.State != actors.RolloutDone ||
		len(st.Rollout.PerBatch) != 2 || st.Rollout.Budget.Failures != 0 {
		t.Fatalf("final %+v, rollout %+v", st, st.Rollout)
	}
	checkStores(t, c.masters, id, hosts)
	twice := 0
	for i := range hosts {
		n := f.HostRequests(i)
		switch {
		case n == 0:
			t.Errorf("host %d never requested", i)
		case i < first && n != 1:
			t.Errorf("host %d of batch 1 requested %d times", i, n)
		case n > 1:
			twice += int(n - 1)
		}
	}
	if twice > conc*len(c.workers) {
		t.Errorf("%d targets sent twice, more than the %d in flight at the kill", twice, conc*len(c.workers))
	}
}
