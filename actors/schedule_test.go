package actors_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/salvo-sh/salvo/actors"
	"github.com/salvo-sh/salvo/fleet"
	"github.com/salvo-sh/salvo/internal/testutil"
	"github.com/salvo-sh/salvo/job"
	"github.com/salvo-sh/salvo/store"
)

// When a cancel of a waiting job, or resetScheduler, returns, every job it
// cancelled reads cancelled: 50 times over, with no sleep between.
func TestCancelIsReadYourWrites(t *testing.T) {
	f := testutil.StartFleet(t, func(c *fleet.Config) {
		c.Hosts = 10
		c.LatencyMin, c.LatencyMax = 8*time.Second, 8*time.Second // longer than the 50 rounds
	})
	n := testutil.StartNode(t, func(c *actors.Config) { c.Capacity = 10 })
	eng, ctx := n.Engine, context.Background()
	port := f.Addr().Port
	// A holds the whole capacity: every later job waits.
	a, err := eng.Submit(ctx, spec(fleet.Targets(10, port), 10))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		b, err := eng.Submit(ctx, spec(fleet.Targets(2, port), 5))
		if err != nil {
			t.Fatal(err)
		}
		c, err := eng.Submit(ctx, spec(fleet.Targets(2, port), 5))
		if err != nil {
			t.Fatal(err)
		}
		if st, err := eng.Cancel(ctx, b.ID); err != nil || st.State != store.JobCancelled {
			t.Fatalf("round %d: cancel of a waiting job answered %+v, %v", i, st, err)
		}
		if st, _ := eng.Status(ctx, b.ID); st.State != store.JobCancelled {
			t.Fatalf("round %d: after cancel returned, the job reads %s", i, st.State)
		}
		ids, err := eng.ResetQueue(ctx)
		if err != nil || len(ids) != 1 || ids[0] != c.ID {
			t.Fatalf("round %d: reset cancelled %v, %v; want [%s]", i, ids, err, c.ID)
		}
		if st, _ := eng.Status(ctx, c.ID); st.State != store.JobCancelled || st.Counts[job.StateCancelled] != 2 {
			t.Fatalf("round %d: after resetScheduler returned, the job reads %s %v", i, st.State, st.Counts)
		}
	}
	// A running job reads cancelling from the cancel's answer to its end.
	st, err := eng.Cancel(ctx, a.ID)
	if err != nil || st.State != actors.StateCancelling {
		t.Fatalf("cancel of a running job answered %+v, %v; want %s", st, err, actors.StateCancelling)
	}
	if st, _ := eng.Status(ctx, a.ID); st.State != actors.StateCancelling && st.State != store.JobCancelled {
		t.Fatalf("a cancelled running job reads %s", st.State)
	}
}

// A job that no worker could run (its tags, or a maxConcurrency above every
// worker's capacity) waits with its reason and does not hold back the jobs
// behind it; jobs competing for the same workers keep FIFO order.
func TestUnservableJobsBlockNoOne(t *testing.T) {
	f := testutil.StartFleet(t, func(c *fleet.Config) { c.Hosts = 20 })
	n := testutil.StartNode(t, func(c *actors.Config) { c.Capacity = 100 })
	eng, ctx := n.Engine, context.Background()
	port := f.Addr().Port

	tagged := spec(fleet.Targets(5, port), 5)
	tagged.Tags = []string{"dc9"}
	tj, err := eng.Submit(ctx, tagged)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := 0; i < 2; i++ {
		j, err := eng.Submit(ctx, spec(fleet.Targets(20, port), 10))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, j.ID)
	}
	for _, id := range ids {
		if st := testutil.WaitJob(t, eng, id, 30*time.Second); st.State != store.JobGathered {
			t.Fatalf("job behind an unservable one: %+v", st)
		}
	}
	st, err := eng.Status(ctx, tj.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != store.JobWaiting || !strings.Contains(st.Reason, "dc9") {
		t.Fatalf("tagged job: %+v", st)
	}
}

// Strategies choose: with worker r (500 free, 1 job) and worker w (2,300
// free, 2 jobs), a 3-target job runs on w with resource-aware and on r with
// job-count-aware, 20 times out of 20; maxWorkers bounds the spread.
func TestStrategiesChoose(t *testing.T) {
	hold := testutil.StartFleet(t, func(c *fleet.Config) {
		c.Hosts = 10
		c.LatencyMin, c.LatencyMax = 8*time.Second, 8*time.Second // longer than the 41 jobs below
	})
	f := testutil.StartFleet(t, func(c *fleet.Config) { c.Hosts = 3000 })
	n := testutil.StartNode(t, func(c *actors.Config) { c.Name, c.Tags = "r", []string{"r"} })
	eng, ctx := n.Engine, context.Background()
	wc := actors.DefaultWorkerConfig()
	wc.Name, wc.Tags, wc.Logger = "w", []string{"w"}, testutil.Logger(t)
	if _, err := eng.System().Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor {
		return actors.NewWorker(wc, eng.MasterPID())
	}), "worker-w"); err != nil {
		t.Fatal(err)
	}
	waitMembers(t, eng, 2)
	// Hold capacity: 2,000 on r with one job, 200 on w with two.
	for _, h := range []struct {
		tag  string
		conc int
	}{{"r", 2000}, {"w", 100}, {"w", 100}} {
		s := spec(fleet.Targets(1, hold.Addr().Port), h.conc)
		s.Tags = []string{h.tag}
		if _, err := eng.Submit(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct{ strategy, want string }{{actors.ResourceAware, "w"}, {actors.JobCountAware, "r"}} {
		for i := 0; i < 20; i++ {
			s := spec(fleet.Targets(3, f.Addr().Port), 10)
			s.Strategy = tc.strategy
			jr, err := eng.Submit(ctx, s)
			if err != nil {
				t.Fatal(err)
			}
			if st := testutil.WaitJob(t, eng, jr.ID, 30*time.Second); st.State != store.JobGathered {
				t.Fatalf("%s job: %+v", tc.strategy, st)
			}
			rs, _, err := n.Store.Results(ctx, jr.ID, store.ResultQuery{Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rs {
				if r.Worker != tc.want {
					t.Fatalf("%s: round %d ran on %s, want %s", tc.strategy, i, r.Worker, tc.want)
				}
			}
		}
	}
	// maxWorkers 1 keeps a job of several leases on one worker.
	s := spec(fleet.Targets(3000, f.Addr().Port), 10)
	s.MaxWorkers = 1
	jr, err := eng.Submit(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if st := testutil.WaitJob(t, eng, jr.ID, time.Minute); st.State != store.JobGathered || len(st.Workers) != 1 {
		t.Fatalf("maxWorkers 1: %+v", st)
	}
}
