package actors_test

import (
	"context"
	"errors"
	"fmt"
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

// rolloutSpec is a job over targets with a rollout of batches.
func rolloutSpec(targets []string, conc int, batches ...string) *job.Spec {
	s := spec(targets, conc)
	s.Rollout = &job.Rollout{}
	for _, b := range batches {
		s.Rollout.Batches = append(s.Rollout.Batches, job.BatchSize(b))
	}
	return s
}

// refusedTarget is host i of the fleet on a port nothing listens on: its
// result is error (connect_refused), and it never reaches the fleet.
func refusedTarget(i int) string { return fleet.HostAddr(i) + ":1" }

// waitState polls a job's status until it is in state, bounded: a pause
// has no outside signal.
func waitState(t *testing.T, eng *actors.Engine, id, state string) *actors.JobStatus {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := eng.Status(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if st.State == state {
			return st
		}
		if st.Terminal() || time.Now().After(deadline) {
			t.Fatalf("job %s never %s: %+v (rollout %+v)", id, state, st, st.Rollout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitDone polls a job's status until it has done results, bounded:
// progress has no outside signal.
func waitDone(t *testing.T, eng *actors.Engine, id string, done int) *actors.JobStatus {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := eng.Status(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if st.Done >= done {
			return st
		}
		if st.Terminal() || time.Now().After(deadline) {
			t.Fatalf("job %s never had %d results: %+v", id, done, st)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// results reads every result of a job, in index order.
func results(t *testing.T, st store.Store, id string) []job.Result {
	t.Helper()
	var out []job.Result
	cursor := 0
	for {
		page, next, err := st.Results(context.Background(), id, store.ResultQuery{Cursor: cursor, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, page...)
		if next == 0 {
			return out
		}
		cursor = next
	}
}

// A fleet whose hosts of the second batch fail one in two stops after
// that batch: the job ends failed, its reason names the batch and the
// figures, and exactly the targets never sent are skipped, none of them
// having reached the fleet. With chunks of 7 the batches end inside
// chunks; with 1,000 the job is one chunk.
func TestRolloutStopsOverItsBudget(t *testing.T) {
	const hosts = 100
	f := testutil.StartFleet(t, func(c *fleet.Config) { c.Hosts = hosts })
	for _, chunk := range []int{7, 1000} {
		t.Run(fmt.Sprintf("chunk %d", chunk), func(t *testing.T) {
			n := testutil.StartNode(t, func(c *actors.Config) { c.ChunkSize = chunk })
			base := make([]uint32, hosts)
			for i := range base {
				base[i] = f.HostRequests(i)
			}
			targets := fleet.Targets(hosts, f.Addr().Port)
			for i := 10; i < 30; i += 2 {
				targets[i] = refusedTarget(i) // half of batch 2 fails
			}
			s := rolloutSpec(targets, 5, "10", "20", "100%")
			pct := 20.0
			s.Rollout.MaxFailurePercent = &pct
			jr, err := n.Engine.Submit(context.Background(), s)
			if err != nil {
				t.Fatal(err)
			}
			fin := testutil.WaitJob(t, n.Engine, jr.ID, time.Minute)
			if fin.State != store.JobFailed {
				t.Fatalf("final %+v", fin)
			}
			for _, want := range []string{"batch 2/3", "10 failures in 30 targets", "33.3%", "maxFailurePercent 20%", "targets 30 and after"} {
				if !strings.Contains(fin.Reason, want) {
					t.Errorf("reason %q does not say %q", fin.Reason, want)
				}
			}
			if fin.Done != hosts || fin.Counts[job.StateOK] != 20 || fin.Counts[job.StateError] != 10 || fin.Counts[job.StateSkipped] != 70 {
				t.Errorf("counts %v, done %d", fin.Counts, fin.Done)
			}
			for _, r := range results(t, n.Store, jr.ID) {
				sent := r.Index < 30
				if skipped := r.State == job.StateSkipped && r.Error == job.RolloutStopped; skipped == sent {
					t.Errorf("target %d: %s %q", r.Index, r.State, r.Error)
				}
				refused := r.Index >= 10 && r.Index < 30 && r.Index%2 == 0
				if got := f.HostRequests(r.Index) - base[r.Index]; (got > 0) != (sent && !refused) {
					t.Errorf("target %d (%s) reached the fleet %d times", r.Index, r.State, got)
				}
			}
			ro := fin.Rollout
			if ro == nil || ro.State != actors.RolloutStopped || ro.Batch != 2 || ro.Batches != 3 || len(ro.PerBatch) != 2 {
				t.Fatalf("rollout %+v", ro)
			}
			if b := ro.PerBatch[1]; b.From != 10 || b.To != 30 || b.Failures != 10 || b.Counts[job.StateOK] != 10 || !b.Complete {
				t.Errorf("batch 2: %+v", b)
			}
			if bu := ro.Budget; bu.Failures != 10 || bu.Ran != 30 || !bu.Exceeded || bu.Left == nil || *bu.Left != 0 {
				t.Errorf("budget %+v", bu)
			}
			// The stored record says the same.
			j, err := n.Store.GetJob(context.Background(), jr.ID)
			if err != nil {
				t.Fatal(err)
			}
			if rs := actors.StatusFromJob(j).Rollout; rs == nil || rs.State != actors.RolloutStopped || len(rs.PerBatch) != 2 {
				t.Errorf("stored rollout %+v", rs)
			}
		})
	}
}

// Within its budget a rollout runs every batch (the last size repeating)
// and ends gathered; a last batch over the budget fails the job with
// nothing skipped.
func TestRolloutRunsEveryBatch(t *testing.T) {
	const hosts = 23
	f := testutil.StartFleet(t, func(c *fleet.Config) { c.Hosts = hosts })
	n := testutil.StartNode(t, func(c *actors.Config) { c.ChunkSize = 4 })
	ctx := context.Background()

	s := rolloutSpec(fleet.Targets(hosts, f.Addr().Port), 3, "1", "5")
	limit := 0
	s.Rollout.MaxFailures = &limit
	jr, err := n.Engine.Submit(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	fin := testutil.WaitJob(t, n.Engine, jr.ID, time.Minute)
	if fin.State != store.JobGathered || fin.Counts[job.StateOK] != hosts {
		t.Fatalf("final %+v", fin)
	}
	ro := fin.Rollout
	if ro == nil || ro.State != actors.RolloutDone || ro.Batches != 6 || ro.Batch != 6 || len(ro.PerBatch) != 6 {
		t.Fatalf("rollout %+v", ro)
	}
	for k, want := range [][2]int{{0, 1}, {1, 6}, {6, 11}, {11, 16}, {16, 21}, {21, 23}} {
		if b := ro.PerBatch[k]; b.From != want[0] || b.To != want[1] || b.Counts[job.StateOK] != want[1]-want[0] {
			t.Errorf("batch %d: %+v, want [%d, %d) ok", k+1, b, want[0], want[1])
		}
	}

	targets := fleet.Targets(hosts, f.Addr().Port)
	targets[hosts-1] = refusedTarget(hosts - 1)
	s = rolloutSpec(targets, 3, "20", "100%")
	s.Rollout.MaxFailures = &limit
	jr, err = n.Engine.Submit(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	fin = testutil.WaitJob(t, n.Engine, jr.ID, time.Minute)
	if fin.State != store.JobFailed || !strings.Contains(fin.Reason, "last batch 2/2") || fin.Counts[job.StateSkipped] != 0 || fin.Done != hosts {
		t.Fatalf("final %+v", fin)
	}
}

// With approve the job is paused after each batch, and nothing of the
// next batch reaches the fleet until it is resumed.
func TestRolloutWaitsForApproval(t *testing.T) {
	const hosts = 40
	f := testutil.StartFleet(t, func(c *fleet.Config) { c.Hosts = hosts })
	n := testutil.StartNode(t, func(c *actors.Config) { c.ChunkSize = 8 })
	ctx := context.Background()
	s := rolloutSpec(fleet.Targets(hosts, f.Addr().Port), 4, "5", "10", "100%")
	s.Rollout.Approve = true
	jr, err := n.Engine.Submit(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	reached := func() (first, rest int) {
		for i := range hosts {
			if f.HostRequests(i) == 0 {
				continue
			}
			if i < 5 {
				first++
			} else {
				rest++
			}
		}
		return first, rest
	}
	st := waitState(t, n.Engine, jr.ID, store.JobPaused)
	if ro := st.Rollout; ro == nil || ro.State != actors.RolloutApproval || ro.Batch != 1 || !strings.Contains(st.Reason, "salvo resume "+jr.ID) {
		t.Fatalf("paused %+v, rollout %+v", st, st.Rollout)
	}
	// Still paused a while later, and nothing past batch 1 was sent.
	for range 20 {
		time.Sleep(10 * time.Millisecond) // an observation window: nothing must happen in it
		if first, rest := reached(); first != 5 || rest != 0 {
			t.Fatalf("while paused: %d of batch 1 and %d later targets reached the fleet", first, rest)
		}
	}
	if _, err := n.Engine.Pause(ctx, jr.ID); !isStateError(err) {
		t.Errorf("pause of a paused job: %v, want a JobStateError", err)
	}
	if _, err := n.Engine.Resume(ctx, jr.ID); err != nil {
		t.Fatal(err)
	}
	st = waitState(t, n.Engine, jr.ID, store.JobPaused)
	if st.Rollout.Batch != 2 || st.Done != 15 {
		t.Fatalf("after batch 2: %+v, rollout %+v", st, st.Rollout)
	}
	if _, err := n.Engine.Resume(ctx, jr.ID); err != nil {
		t.Fatal(err)
	}
	fin := testutil.WaitJob(t, n.Engine, jr.ID, time.Minute)
	if fin.State != store.JobGathered || fin.Counts[job.StateOK] != hosts {
		t.Fatalf("final %+v", fin)
	}
	if _, err := n.Engine.Resume(ctx, jr.ID); !errors.Is(err, actors.ErrJobFinished) {
		t.Errorf("resume of a finished job: %v", err)
	}
	if _, err := n.Engine.Resume(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("resume of an unknown job: %v", err)
	}
}

func isStateError(err error) bool {
	var se *actors.JobStateError
	return errors.As(err, &se)
}

// The pause between batches is a timer: the status says when the next
// batch starts, and the job goes on by itself.
func TestRolloutPausesBetweenBatches(t *testing.T) {
	const hosts = 6
	f := testutil.StartFleet(t, func(c *fleet.Config) { c.Hosts = hosts })
	n := testutil.StartNode(t, nil)
	s := rolloutSpec(fleet.Targets(hosts, f.Addr().Port), 2, "3")
	s.Rollout.Pause = job.Duration(300 * time.Millisecond)
	start := time.Now()
	jr, err := n.Engine.Submit(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	fin := testutil.WaitJob(t, n.Engine, jr.ID, time.Minute)
	if fin.State != store.JobGathered || fin.Counts[job.StateOK] != hosts {
		t.Fatalf("final %+v", fin)
	}
	if took := time.Since(start); took < 300*time.Millisecond {
		t.Errorf("two batches with a 300ms pause took %s", took)
	}
}

// A plain job pauses between leases and resumes; a paused job cancels.
func TestPauseAndResumeAJob(t *testing.T) {
	const hosts = 200
	f := testutil.StartFleet(t, func(c *fleet.Config) {
		c.Hosts = hosts
		c.LatencyMin, c.LatencyMax = 5*time.Millisecond, 5*time.Millisecond
	})
	n := testutil.StartNode(t, func(c *actors.Config) { c.ChunkSize = 10 })
	ctx := context.Background()
	for _, then := range []string{"resume", "cancel"} {
		t.Run(then, func(t *testing.T) {
			jr, err := n.Engine.Submit(ctx, spec(fleet.Targets(hosts, f.Addr().Port), 2))
			if err != nil {
				t.Fatal(err)
			}
			waitDone(t, n.Engine, jr.ID, 20)
			st, err := n.Engine.Pause(ctx, jr.ID)
			if err != nil || st.State != store.JobPaused {
				t.Fatalf("pause: %+v %v", st, err)
			}
			// The leases in flight end: then nothing moves.
			settledDone := -1
			for i := 0; ; i++ {
				st, err = n.Engine.Status(ctx, jr.ID)
				if err != nil {
					t.Fatal(err)
				}
				inFlight := 0
				for _, w := range st.Workers {
					inFlight += w.InFlight
				}
				if st.Done == settledDone && inFlight == 0 {
					break
				}
				if i > 300 {
					t.Fatalf("a paused job does not settle: %+v", st)
				}
				settledDone = st.Done
				time.Sleep(50 * time.Millisecond) // the leases in flight have no outside signal
			}
			if st.State != store.JobPaused || st.Done >= hosts || st.Done == 0 {
				t.Fatalf("paused: %+v", st)
			}
			if then == "cancel" {
				if _, err := n.Engine.Cancel(ctx, jr.ID); err != nil {
					t.Fatal(err)
				}
				fin := testutil.WaitJob(t, n.Engine, jr.ID, time.Minute)
				if fin.State != store.JobCancelled || fin.Counts[job.StateCancelled] != hosts-st.Done {
					t.Fatalf("cancelled: %+v, paused at %d", fin, st.Done)
				}
				return
			}
			if _, err := n.Engine.Resume(ctx, jr.ID); err != nil {
				t.Fatal(err)
			}
			if _, err := n.Engine.Resume(ctx, jr.ID); !isStateError(err) {
				t.Errorf("resume of a running job: %v, want a JobStateError", err)
			}
			fin := testutil.WaitJob(t, n.Engine, jr.ID, time.Minute)
			if fin.State != store.JobGathered || fin.Counts[job.StateOK] != hosts {
				t.Fatalf("final %+v", fin)
			}
		})
	}
}

// A worker lost in a batch: its targets run again on the other worker
// (failOver) or are stored error/worker_lost (no failOver), neither counts
// against the budget, and the rollout goes on.
func TestRolloutSurvivesALostWorker(t *testing.T) {
	const hosts = 100
	// Batch 1 lasts about 600 ms (40 targets, 4 in flight, 60 ms each):
	// long enough for the poll below to see node-b answer in it even on
	// a loaded machine (at 20 ms it saw that in batch 2 once in 15 runs).
	f := testutil.StartFleet(t, func(c *fleet.Config) {
		c.Hosts = hosts
		c.LatencyMin, c.LatencyMax = 60*time.Millisecond, 60*time.Millisecond
	})
	for _, failOver := range []bool{true, false} {
		t.Run(fmt.Sprintf("failOver %v", failOver), func(t *testing.T) {
			n := testutil.StartNode(t, func(c *actors.Config) { c.ChunkSize = 5 })
			eng := n.Engine
			ctx := context.Background()
			wc := actors.DefaultWorkerConfig()
			wc.Name, wc.Logger = "node-b", testutil.Logger(t)
			other, err := eng.System().Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor {
				return actors.NewWorker(wc, eng.MasterPID())
			}), "worker-b")
			if err != nil {
				t.Fatal(err)
			}
			waitMembers(t, eng, 2)
			s := rolloutSpec(fleet.Targets(hosts, f.Addr().Port), 2, "40", "100%")
			zero := 0
			s.Rollout.MaxFailures = &zero
			s.FailOver = &failOver
			jr, err := eng.Submit(ctx, s)
			if err != nil {
				t.Fatal(err)
			}
			// node-b runs a share of batch 1, then it is gone.
			for i := 0; ; i++ {
				st, err := eng.Status(ctx, jr.ID)
				if err != nil {
					t.Fatal(err)
				}
				if st.Workers["node-b"].Responses > 0 {
					if st.Rollout.Batch != 1 {
						t.Fatalf("node-b answered only in batch %d", st.Rollout.Batch)
					}
					break
				}
				if i > 1000 || st.Terminal() {
					t.Fatalf("node-b never ran a target: %+v", st)
				}
				time.Sleep(5 * time.Millisecond) // progress has no outside signal
			}
			if err := eng.System().Root.StopFuture(other).Wait(); err != nil {
				t.Fatal(err)
			}
			eng.WorkerLost("node-b", "test: stopped")
			fin := testutil.WaitJob(t, eng, jr.ID, time.Minute)
			if fin.State != store.JobGathered || fin.Done != hosts {
				t.Fatalf("final %+v (rollout %+v)", fin, fin.Rollout)
			}
			ro := fin.Rollout
			if ro == nil || len(ro.PerBatch) != 2 || ro.Budget.Failures != 0 {
				t.Fatalf("rollout %+v", ro)
			}
			lost := fin.Counts[job.StateError]
			if failOver && (lost != 0 || fin.Counts[job.StateOK] != hosts) {
				t.Errorf("failOver: counts %v", fin.Counts)
			}
			if !failOver && (lost == 0 || ro.PerBatch[0].WorkerLost != lost || ro.PerBatch[0].Failures != 0) {
				t.Errorf("no failOver: counts %v, batch 1 %+v", fin.Counts, ro.PerBatch[0])
			}
		})
	}
}

// A rollout paused for approval is still paused, at the same batch, after
// a restart of its master on the same store (what an HA failover is:
// docs/ha.md), and resumes from there without running a target twice;
// one restarted mid-batch finishes that batch first.
func TestRolloutResumesAfterARestart(t *testing.T) {
	const hosts = 30
	f := testutil.StartFleet(t, func(c *fleet.Config) {
		c.Hosts = hosts
		c.LatencyMin, c.LatencyMax = 10*time.Millisecond, 10*time.Millisecond
	})
	dir := t.TempDir()
	st := openStore(t, dir)
	defer st.Close()
	cfg := actors.DefaultConfig()
	cfg.Logger, cfg.ChunkSize = testutil.Logger(t), 4
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	start := func() *actors.Engine {
		eng, err := actors.NewEngine(ctx, cfg, st)
		if err != nil {
			t.Fatal(err)
		}
		return eng
	}
	eng := start()
	s := rolloutSpec(fleet.Targets(hosts, f.Addr().Port), 1, "6", "12", "100%")
	s.Rollout.Approve = true
	jr, err := eng.Submit(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, eng, jr.ID, store.JobPaused)
	if err := eng.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	eng = start()
	got := waitState(t, eng, jr.ID, store.JobPaused)
	if ro := got.Rollout; ro == nil || ro.Batch != 1 || ro.State != actors.RolloutApproval || got.Done != 6 {
		t.Fatalf("after the restart: %+v, rollout %+v", got, got.Rollout)
	}
	if _, err := eng.Resume(ctx, jr.ID); err != nil {
		t.Fatal(err)
	}
	// Restart again in the middle of batch 2 (targets 6..17, one at a time).
	if got = waitDone(t, eng, jr.ID, 8); got.Done >= 18 {
		t.Fatalf("batch 2 ran whole before the restart: %+v", got)
	}
	if err := eng.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	eng = start()
	defer func() { _ = eng.Shutdown(context.Background()) }()
	got = waitState(t, eng, jr.ID, store.JobPaused)
	if ro := got.Rollout; ro == nil || ro.Batch != 2 || got.Done != 18 || len(ro.PerBatch) != 2 || ro.PerBatch[0].Counts[job.StateOK] != 6 {
		t.Fatalf("after the second restart: %+v, rollout %+v", got, got.Rollout)
	}
	if _, err := eng.Resume(ctx, jr.ID); err != nil {
		t.Fatal(err)
	}
	fin := testutil.WaitJob(t, eng, jr.ID, time.Minute)
	if fin.State != store.JobGathered || fin.Counts[job.StateOK] != hosts || len(fin.Rollout.PerBatch) != 3 {
		t.Fatalf("final %+v, rollout %+v", fin, fin.Rollout)
	}
	for i := range hosts {
		if n := f.HostRequests(i); n != 1 {
			t.Errorf("target %d reached the fleet %d times", i, n)
		}
	}
}
