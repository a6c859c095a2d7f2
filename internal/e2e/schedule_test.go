package e2e

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/salvo-sh/salvo/actors"
	"github.com/salvo-sh/salvo/fleet"
	"github.com/salvo-sh/salvo/internal/testutil"
	"github.com/salvo-sh/salvo/store"
)

// scheduleJobs lists the jobs of a schedule in a master's store (a
// follower answers from its own), oldest slot first.
func scheduleJobs(t *testing.T, url, name string) []actors.JobStatus {
	t.Helper()
	var page struct{ Items []actors.JobStatus }
	if code, err := testutil.TryJSON("GET", url+"/api/v1/jobs?schedule="+name+"&limit=10000", nil, &page); err != nil || code != http.StatusOK {
		t.Fatalf("jobs of schedule %s at %s: %d %v", name, url, code, err)
	}
	slices.SortFunc(page.Items, func(a, b actors.JobStatus) int { return a.Slot.Compare(*b.Slot) })
	return page.Items
}

// waitRuns waits (bounded) until a schedule has n runs at the leader, and
// returns them.
func waitRuns(t *testing.T, url, name string, n int, within time.Duration) []actors.JobStatus {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		jobs := scheduleJobs(t, url, name)
		if len(jobs) >= n {
			return jobs
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d runs of %s within %s, want %d", len(jobs), name, within, n)
		}
		time.Sleep(200 * time.Millisecond) // the scheduler's runs have no outside signal
	}
}

// An "@every 1s" schedule on a Raft group of three masters, the leader
// killed (SIGKILL) while it runs: no slot has two jobs on any master, the
// new leader goes on from the slots the old one decided, the slots missed
// during the election ran once (the latest, catchUp once), and every run
// is gathered.
func TestHAScheduleExactlyOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	f := testutil.StartFleet(t, func(c *fleet.Config) { c.Hosts = 5 })
	bin := testutil.BuildSalvo(t)
	c := startHA(t, bin, 3, 1)
	leader := c.leader(t, 30*time.Second)
	c.waitWorkersAt(t, leader)
	put := func(url, path string, body any) {
		t.Helper()
		if code := testutil.DoJSON(t, http.MethodPut, url+"/api/v1"+path, body, nil); code != http.StatusOK {
			t.Fatalf("PUT %s: %d", path, code)
		}
	}
	put(leader.url(), "/nodegroups/fleet", map[string]any{"hosts": fleet.Targets(5, f.Addr().Port)})
	sched := map[string]any{"cron": "@every 1s", "nodeGroup": "fleet", "spec": map[string]any{"http": map[string]any{"path": "/"}}}
	put(leader.url(), "/schedules/tick", sched)

	before := waitRuns(t, leader.url(), "tick", 3, 30*time.Second)
	killed := leader
	killedAt := time.Now()
	killed.kill(t)
	var alive []*haMaster
	for _, m := range c.masters {
		if m != killed {
			alive = append(alive, m)
		}
	}
	leader = c.leader(t, 15*time.Second, alive...)
	t.Logf("%s leads %s after the kill of %s", leader.name, time.Since(killedAt).Round(time.Millisecond), killed.name)
	killed.start(t, bin)
	waitRuns(t, leader.url(), "tick", len(before)+4, 30*time.Second)
	sched["enabled"] = false
	put(leader.url(), "/schedules/tick", sched)
	runs := scheduleJobs(t, leader.url(), "tick")
	for _, j := range runs {
		waitFor(t, leader.url(), j.ID, time.Minute, terminal)
	}

	// The leader's store: one job per slot, every slot on the second,
	// each run gathered with its five targets.
	var slots []time.Time
	var gap []actors.JobStatus // the first run after the kill, and the one before
	for i, j := range runs {
		if j.Slot == nil || j.Manual || j.Slot.Nanosecond() != 0 {
			t.Fatalf("run %s: slot %v manual %v", j.ID, j.Slot, j.Manual)
		}
		if i > 0 && j.Slot.Equal(slots[i-1]) {
			t.Errorf("slot %s has two jobs: %s and %s", j.Slot, runs[i-1].ID, j.ID)
		}
		slots = append(slots, *j.Slot)
		if gap == nil && j.CreatedAt.After(killedAt) && i > 0 && runs[i-1].CreatedAt.Before(killedAt) {
			gap = []actors.JobStatus{runs[i-1], j}
		}
	}
	if gap == nil {
		t.Fatalf("no run on each side of the kill: %v", slots)
	}
	// The slots between the old leader's last one and the new leader's
	// first were missed: the new leader ran the latest of them, once (its
	// job made less than a slot after it), none of the older ones.
	last, first := *gap[0].Slot, *gap[1].Slot
	lag := gap[1].CreatedAt.Sub(first)
	if first.Sub(last) < time.Second || lag < 0 || lag > 1500*time.Millisecond {
		t.Errorf("after the kill: slots %s then %s, the latter's job made %s after its slot; want the latest slot run at once",
			last, first, lag)
	}
	t.Logf("slots missed during the election: %d; the first after it ran %s after its time", first.Sub(last)/time.Second-1, lag)
	for _, j := range runs {
		st := waitFor(t, leader.url(), j.ID, time.Minute, terminal)
		if st.State != store.JobGathered || st.Done != 5 {
			t.Errorf("run %s (slot %s): %s, %d done", j.ID, j.Slot, st.State, st.Done)
		}
	}
	// Every master's store holds the same runs.
	for _, m := range c.masters {
		deadline := time.Now().Add(30 * time.Second)
		for {
			var got []time.Time
			for _, j := range scheduleJobs(t, m.url(), "tick") {
				got = append(got, *j.Slot)
			}
			if slices.EqualFunc(got, slots, time.Time.Equal) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s's store: slots %v, the leader's %v", m.name, got, slots)
			}
			time.Sleep(100 * time.Millisecond) // a follower's store catches up
		}
	}
	t.Logf("%d runs, one per slot, across the kill (slots %s → %s)", len(runs), last, first)
}
