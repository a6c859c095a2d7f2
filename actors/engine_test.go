package actors_test

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/salvo-sh/salvo/actors"
	"github.com/salvo-sh/salvo/fleet"
	"github.com/salvo-sh/salvo/internal/testutil"
	"github.com/salvo-sh/salvo/job"
	"github.com/salvo-sh/salvo/store"
)

func spec(targets []string, conc int) *job.Spec {
	ts := make([]job.TargetSpec, len(targets))
	for i, h := range targets {
		ts[i] = job.TargetSpec{Host: h}
	}
	return &job.Spec{Targets: ts, MaxConcurrency: conc}
}

func TestCapacityReservationAndStrictFIFO(t *testing.T) {
	f := testutil.StartFleet(t, func(c *fleet.Config) {
		c.Hosts = 400
		c.LatencyMin, c.LatencyMax = 20*time.Millisecond, 20*time.Millisecond
	})
	n := testutil.StartNode(t, func(c *actors.Config) { c.Capacity = 100 })
	ctx := context.Background()
	port := f.Addr().Port

	a, err := n.Engine.Submit(ctx, spec(fleet.Targets(400, port), 80))
	if err != nil {
		t.Fatal(err)
	}
	b, err := n.Engine.Submit(ctx, spec(fleet.Targets(10, port), 50))
	if err != nil {
		t.Fatal(err)
	}
	c, err := n.Engine.Submit(ctx, spec(fleet.Targets(10, port), 10))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		id, state string
	}{{a.ID, store.JobProcessing}, {b.ID, store.JobWaiting}, {c.ID, store.JobWaiting}} {
		st, err := n.Engine.Status(ctx, tc.id)
		if err != nil {
			t.Fatal(err)
		}
		// A may already be done on a fast machine; B and C must wait while
		// A holds 80 of 100: B does not fit and C may not overtake it.
		if st.State != tc.state && !(tc.id == a.ID && st.Terminal()) {
			t.Errorf("job %s: state %s, want %s", tc.id, st.State, tc.state)
		}
		if tc.state == store.JobWaiting && st.Reason == "" {
			t.Errorf("waiting job %s has no reason", tc.id)
		}
	}
	sa := testutil.WaitJob(t, n.Engine, a.ID, time.Minute)
	sb := testutil.WaitJob(t, n.Engine, b.ID, time.Minute)
	sc := testutil.WaitJob(t, n.Engine, c.ID, time.Minute)
	for _, st := range []*actors.JobStatus{sa, sb, sc} {
		if st.State != store.JobGathered || st.Done != st.Total {
			t.Errorf("job %s: %+v", st.ID, st)
		}
	}
	if sb.StartedAt.Before(*sa.StartedAt) || sc.StartedAt.Before(*sb.StartedAt) {
		t.Errorf("jobs did not start in submission order: %v %v %v", sa.StartedAt, sb.StartedAt, sc.StartedAt)
	}
	if !sb.StartedAt.After(sa.StartedAt.Add(100 * time.Millisecond)) {
		t.Errorf("B started at %v, before A (started %v) released its reservation", sb.StartedAt, sa.StartedAt)
	}
}

// Memory and goroutines grow with concurrency, never with the target count.
func TestGoroutinesBoundedByConcurrency(t *testing.T) {
	const hosts, conc = 20000, 10
	f := testutil.StartFleet(t, func(c *fleet.Config) { c.Hosts = hosts })
	n := testutil.StartNode(t, nil)
	base := runtime.NumGoroutine()
	st, err := n.Engine.Submit(context.Background(), spec(fleet.Targets(hosts, f.Addr().Port), conc))
	if err != nil {
		t.Fatal(err)
	}
	peak := 0
	for {
		if g := runtime.NumGoroutine(); g > peak {
			peak = g
		}
		s, err := n.Engine.Status(context.Background(), st.ID)
		if err != nil {
			t.Fatal(err)
		}
		if s.Terminal() {
			if s.State != store.JobGathered || s.Done != hosts {
				t.Fatalf("final %+v", s)
			}
			break
		}
		time.Sleep(5 * time.Millisecond) // sampling goroutines while the job runs
	}
	// The fleet's server goroutines serve up to conc connections too.
	if extra := peak - base; extra > 4*conc+50 {
		t.Errorf("%d extra goroutines for a %d-target job at concurrency %d", extra, hosts, conc)
	}
}

func TestDisabledWorkerTakesNoNewJobs(t *testing.T) {
	f := testutil.StartFleet(t, func(c *fleet.Config) { c.Hosts = 10 })
	n := testutil.StartNode(t, nil)
	ctx := context.Background()
	ms, err := n.Engine.SetEnabled(ctx, "node-a", false)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 1 || ms[0].Enabled {
		t.Fatalf("members after disable: %+v", ms)
	}
	if _, err := n.Engine.SetEnabled(ctx, "nope", false); err == nil {
		t.Error("disabling an unknown worker succeeded")
	}
	st, err := n.Engine.Submit(ctx, spec(fleet.Targets(10, f.Addr().Port), 5))
	if err != nil {
		t.Fatal(err)
	}
	if st.State != store.JobWaiting || st.Reason == "" {
		t.Fatalf("job on a disabled node: %+v", st)
	}
	// Still waiting after a full status round trip through the master.
	if st, _ = n.Engine.Status(ctx, st.ID); st.State != store.JobWaiting {
		t.Fatalf("job started on a disabled node: %+v", st)
	}
	if _, err := n.Engine.SetEnabled(ctx, "node-a", true); err != nil {
		t.Fatal(err)
	}
	if final := testutil.WaitJob(t, n.Engine, st.ID, time.Minute); final.State != store.JobGathered {
		t.Fatalf("after enable: %+v", final)
	}
}

func TestResetQueueCancelsWaitingJobsOnly(t *testing.T) {
	f := testutil.StartFleet(t, func(c *fleet.Config) {
		c.Hosts = 200
		c.LatencyMin, c.LatencyMax = 20*time.Millisecond, 20*time.Millisecond
	})
	n := testutil.StartNode(t, func(c *actors.Config) { c.Capacity = 10 })
	ctx := context.Background()
	port := f.Addr().Port
	running, err := n.Engine.Submit(ctx, spec(fleet.Targets(200, port), 10))
	if err != nil {
		t.Fatal(err)
	}
	waiting, err := n.Engine.Submit(ctx, spec(fleet.Targets(5, port), 10))
	if err != nil {
		t.Fatal(err)
	}
	ids, err := n.Engine.ResetQueue(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 1 || ids[0] != waiting.ID {
		t.Fatalf("reset cancelled %v, want [%s]", ids, waiting.ID)
	}
	if st := testutil.WaitJob(t, n.Engine, waiting.ID, time.Minute); st.State != store.JobCancelled || st.Counts["cancelled"] != 5 {
		t.Errorf("waiting job after reset: %+v", st)
	}
	if st := testutil.WaitJob(t, n.Engine, running.ID, time.Minute); st.State != store.JobGathered {
		t.Errorf("running job after reset: %+v", st)
	}
}

// A job whose secrets were redacted in the store cannot resume: it fails
// with a reason instead of sending "<redacted>" to its targets.
func TestResumeFailsJobsWithRedactedSecrets(t *testing.T) {
	f := testutil.StartFleet(t, func(c *fleet.Config) {
		c.Hosts = 50
		c.LatencyMin, c.LatencyMax = 50*time.Millisecond, 50*time.Millisecond
	})
	dir := t.TempDir()
	st, err := store.OpenSQLite(store.DefaultSQLiteConfig(dir))
	if err != nil {
		t.Fatal(err)
	}
	cfg := actors.DefaultConfig()
	cfg.Logger = testutil.Logger(t)
	eng, err := actors.NewEngine(context.Background(), cfg, st)
	if err != nil {
		t.Fatal(err)
	}
	s := spec(fleet.Targets(50, f.Addr().Port), 1)
	s.HTTP = &job.HTTPSpec{Headers: map[string]string{"Authorization": "Bearer s3cret"}}
	jr, err := eng.Submit(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	// Stop mid-job: with concurrency 1 and 50 ms per host, it is not done.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := eng.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	eng, err = actors.NewEngine(context.Background(), cfg, st)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = eng.Shutdown(ctx); _ = st.Close() }()
	got, err := eng.Status(context.Background(), jr.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != store.JobFailed || !strings.Contains(got.Reason, "secrets") {
		t.Fatalf("resumed job with secrets: %+v", got)
	}
}

// ratePerSecond caps how fast a job starts requests on a worker.
func TestRatePerSecondCapsStarts(t *testing.T) {
	const hosts, rps = 60, 40
	f := testutil.StartFleet(t, func(c *fleet.Config) { c.Hosts = hosts })
	n := testutil.StartNode(t, nil)
	s := spec(fleet.Targets(hosts, f.Addr().Port), 20)
	s.RatePerSecond = rps
	st, err := n.Engine.Submit(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	if final := testutil.WaitJob(t, n.Engine, st.ID, time.Minute); final.State != store.JobGathered {
		t.Fatalf("final %+v", final)
	}
	rs, _, err := n.Store.Results(context.Background(), st.ID, store.ResultQuery{Limit: hosts})
	if err != nil {
		t.Fatal(err)
	}
	first, last := rs[0].StartedAt, rs[0].StartedAt
	for _, r := range rs {
		if r.StartedAt.Before(first) {
			first = r.StartedAt
		}
		if r.StartedAt.After(last) {
			last = r.StartedAt
		}
	}
	// A burst of rps, then the remaining hosts-rps at rps per second.
	if spread, want := last.Sub(first), time.Duration(float64(hosts-rps)/rps*float64(time.Second))*9/10; spread < want {
		t.Errorf("%d requests started within %s at ratePerSecond %d, want at least %s", hosts, spread, rps, want)
	}
}

// TestWaitReturnsAtTheEnd checks Engine.Wait: a wait shorter than the job
// returns the running status, a longer one returns as soon as the job's
// final state is stored, and a wait on a finished job returns at once.
func TestWaitReturnsAtTheEnd(t *testing.T) {
	f := testutil.StartFleet(t, func(c *fleet.Config) {
		c.Hosts = 20
		c.LatencyMin, c.LatencyMax = 300*time.Millisecond, 300*time.Millisecond
	})
	n := testutil.StartNode(t, nil)
	ctx := context.Background()
	st, err := n.Engine.Submit(ctx, spec(fleet.Targets(20, f.Addr().Port), 5)) // 4 waves of 300 ms
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	got, err := n.Engine.Wait(short, st.ID)
	cancel()
	if err != nil || got.Terminal() {
		t.Fatalf("short wait: %+v, %v; want the running status", got, err)
	}
	long, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	got, err = n.Engine.Wait(long, st.ID)
	if err != nil || got.State != store.JobGathered || got.Done != 20 {
		t.Fatalf("long wait: %+v, %v; want gathered with 20 done", got, err)
	}
	j, err := n.Store.GetJob(ctx, st.ID)
	if err != nil || j.State != store.JobGathered {
		t.Fatalf("stored job %+v, %v: the end was signalled before it was stored", j, err)
	}
	done, cancel2 := context.WithCancel(ctx)
	cancel2() // already over: a finished job needs no waiting
	if got, err := n.Engine.Wait(done, st.ID); err != nil || got.State != store.JobGathered {
		t.Errorf("wait on a finished job: %+v, %v", got, err)
	}
}

// A worker's load reports carry its node's resource use, and the members
// list shows it (Submarine's resource usage).
func TestMembersShowResourceUse(t *testing.T) {
	n := testutil.StartNode(t, nil)
	deadline := time.Now().Add(10 * time.Second)
	for {
		ms, err := n.Engine.Members(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) == 1 && ms[0].Usage != nil && ms[0].Usage.RSSBytes > 1<<20 && ms[0].Usage.OpenFDs > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("members after 10 s: %+v", ms)
		}
		time.Sleep(50 * time.Millisecond) // load reports come every 500 ms: nothing signals one
	}
}
