package actors_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/salvo-sh/salvo/actors"
	"github.com/salvo-sh/salvo/fleet"
	"github.com/salvo-sh/salvo/httpapi"
	"github.com/salvo-sh/salvo/internal/testutil"
	"github.com/salvo-sh/salvo/job"
	"github.com/salvo-sh/salvo/store"
)

// goroutines counts the goroutines whose stack holds any of the functions.
func goroutines(funcs ...string) int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	count := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		for _, f := range funcs {
			if strings.Contains(g, f) {
				count++
				break
			}
		}
	}
	return count
}

// settled returns the count of goroutines running funcs once it is at
// most want, or after a bounded wait: a goroutine that closed its done
// channel still has its last instructions to run, and nothing signals its
// very end.
func settled(want int, funcs ...string) int {
	n := goroutines(funcs...)
	for i := 0; i < 100 && n > want; i++ {
		time.Sleep(10 * time.Millisecond)
		n = goroutines(funcs...)
	}
	return n
}

// The goroutines an actor's life owns, by the functions they run.
const (
	writerFunc = "actors.(*writer).run"
	readerFunc = "actors.(*reader).run"
	tickerFunc = "actors.tick.func"
	runnerFunc = "actors.(*runner)."
)

func openStore(t *testing.T, dir string) *store.SQLite {
	t.Helper()
	st, err := store.OpenSQLite(store.DefaultSQLiteConfig(dir))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func storedTotal(t *testing.T, st store.Store, id string) int {
	t.Helper()
	counts, err := st.CountResults(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, c := range counts {
		n += c
	}
	return n
}

// A panic in the master or the worker is never a silent restart: the actor
// stops with the goroutines of its life, the engine is told (the node then
// exits non-zero), and the job finishes after the node starts again.
func TestPanicStopsTheActorAndTheJobResumes(t *testing.T) {
	for _, who := range []string{"master", "worker"} {
		t.Run(who, func(t *testing.T) {
			const hosts = 300
			f := testutil.StartFleet(t, func(c *fleet.Config) {
				c.Hosts = hosts
				c.LatencyMin, c.LatencyMax = 10*time.Millisecond, 10*time.Millisecond
			})
			st := openStore(t, t.TempDir())
			defer st.Close()
			crashes := make(chan *actors.Crash, 4)
			cfg := actors.DefaultConfig()
			cfg.Logger = testutil.Logger(t)
			// A worker whose master died gives its batches and its lease
			// request up soon (a stopped actor drops what its mailbox held).
			cfg.Worker.AckTimeout, cfg.Worker.LeaseTimeout, cfg.Master.LeaseHold = 2*time.Second, 3*time.Second, time.Second
			if who == "master" {
				// The shutdown after a master's crash gives the worker's
				// unacknowledged batches up at once: it must not wait for
				// an AckTimeout far beyond its own bound.
				cfg.Worker.AckTimeout = 10 * time.Minute
			}
			cfg.OnCrash = func(c *actors.Crash) { crashes <- c }
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			eng, err := actors.NewEngine(ctx, cfg, st)
			if err != nil {
				t.Fatal(err)
			}
			// The worker has started (and its ticker with it) once it answers.
			if _, err := eng.System().Root.RequestFuture(eng.WorkerPID(), &actors.JobCancel{JobId: "none"}, 5*time.Second).Result(); err != nil {
				t.Fatal(err)
			}
			before := settled(2, tickerFunc) // an earlier test's engine may still be stopping its tickers
			if before != 2 {
				t.Fatalf("%d ticker goroutines, want the master's and the worker's", before)
			}
			jr, err := eng.Submit(ctx, spec(fleet.Targets(hosts, f.Addr().Port), 5))
			if err != nil {
				t.Fatal(err)
			}
			pid := eng.MasterPID()
			if who == "worker" {
				pid = eng.WorkerPID()
			} else {
				// Crash the master mid-job, with results on their way: the
				// worker then holds batches nobody will acknowledge.
				deadline := time.Now().Add(30 * time.Second)
				for {
					st, err := eng.Status(ctx, jr.ID)
					if err != nil {
						t.Fatal(err)
					}
					if st.Done >= 20 {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("no progress: %+v", st)
					}
					time.Sleep(5 * time.Millisecond) // progress has no outside signal
				}
			}
			eng.System().Root.Send(pid, actors.CrashNow("injected fault"))
			var c *actors.Crash
			select {
			case c = <-crashes:
			case <-ctx.Done():
				t.Fatal("no crash reported")
			}
			if c.Actor != who || !strings.Contains(c.Error(), "injected fault") || !strings.Contains(string(c.Stack), "Receive") {
				t.Fatalf("crash %v, stack:\n%s", c, c.Stack)
			}
			// The actor stops (it is not restarted): wait for its end.
			if err := eng.System().Root.StopFuture(pid).Wait(); err != nil {
				t.Fatalf("wait for the %s to stop: %v", who, err)
			}
			if who == "master" {
				if n := settled(0, writerFunc, readerFunc); n != 0 {
					t.Errorf("%d writer/reader goroutines of the dead master left", n)
				}
				if _, err := eng.Status(ctx, jr.ID); err == nil {
					t.Error("a master answers after the master crashed: it was restarted")
				}
			}
			if n := settled(before-1, tickerFunc); n != before-1 {
				t.Errorf("%d ticker goroutines after the %s stopped, want %d", n, who, before-1)
			}
			if _, err := eng.Submit(ctx, spec([]string{"127.0.0.1"}, 1)); !errors.Is(err, actors.ErrNotAccepting) {
				t.Errorf("submit after a crash: %v, want ErrNotAccepting", err)
			}
			sctx, scancel := context.WithTimeout(ctx, 20*time.Second)
			err = eng.Shutdown(sctx)
			scancel()
			if who == "master" && err != nil {
				t.Errorf("shutdown after the master's crash: %v (it waited for acknowledgements nobody sends)", err)
			} else if err != nil {
				t.Logf("shutdown after the crash: %v", err)
			}
			if n := settled(0, writerFunc, readerFunc, tickerFunc, runnerFunc); n != 0 {
				t.Errorf("%d actor goroutines left after shutdown", n)
			}

			// The node starts again on the same store: the job resumes.
			cfg.OnCrash = nil
			eng, err = actors.NewEngine(ctx, cfg, st)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = eng.Shutdown(context.Background()) }()
			fin := testutil.WaitJob(t, eng, jr.ID, time.Minute)
			if fin.State != store.JobGathered || fin.Done != hosts {
				t.Fatalf("after restart: %+v", fin)
			}
			if n := storedTotal(t, st, jr.ID); n != hosts {
				t.Fatalf("%d results stored, want %d", n, hosts)
			}
		})
	}
}

// gateStore is a store whose master-side calls (the reads and writes of
// the master's reader and writer) wait while its gate is closed.
type gateStore struct {
	store.Store
	mu      sync.Mutex
	gate    chan struct{} // nil: open
	blocked atomic.Int32
	entered chan struct{} // a call reached a closed gate
	put     chan struct{} // closed after the first PutResults
	putOnce sync.Once
}

func newGateStore(st store.Store) *gateStore {
	return &gateStore{Store: st, entered: make(chan struct{}, 1), put: make(chan struct{})}
}

func (g *gateStore) close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.gate = make(chan struct{})
}

func (g *gateStore) open() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.gate != nil {
		close(g.gate)
		g.gate = nil
	}
}

func (g *gateStore) wait(ctx context.Context) {
	g.mu.Lock()
	ch := g.gate
	g.mu.Unlock()
	if ch == nil {
		return
	}
	g.blocked.Add(1)
	defer g.blocked.Add(-1)
	select {
	case g.entered <- struct{}{}:
	default:
	}
	select {
	case <-ch:
	case <-ctx.Done():
	}
}

func (g *gateStore) Chunk(ctx context.Context, id string, n int) ([]job.IndexedTarget, error) {
	g.wait(ctx)
	return g.Store.Chunk(ctx, id, n)
}

func (g *gateStore) StoredIndexes(ctx context.Context, id string, lo, hi int) (map[int]bool, error) {
	g.wait(ctx)
	return g.Store.StoredIndexes(ctx, id, lo, hi)
}

func (g *gateStore) PutResults(ctx context.Context, id string, rs []job.Result) (map[string]int, error) {
	g.wait(ctx)
	defer g.putOnce.Do(func() { close(g.put) })
	return g.Store.PutResults(ctx, id, rs)
}

func (g *gateStore) UpdateJob(ctx context.Context, j *store.Job) error {
	g.wait(ctx)
	return g.Store.UpdateJob(ctx, j)
}

// The master never waits on the disk: while every store call is stuck,
// the job's status and the members list still answer.
func TestMasterAnswersWhileTheStoreIsStuck(t *testing.T) {
	const hosts = 2000
	f := testutil.StartFleet(t, func(c *fleet.Config) {
		c.Hosts = hosts
		c.LatencyMin, c.LatencyMax = 2*time.Millisecond, 2*time.Millisecond
	})
	sq := openStore(t, t.TempDir())
	defer sq.Close()
	gs := newGateStore(sq)
	defer gs.open()
	cfg := actors.DefaultConfig()
	cfg.Logger = testutil.Logger(t)
	cfg.ChunkSize = 50 // many leases: the master reads chunks all the time
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	eng, err := actors.NewEngine(ctx, cfg, gs)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = eng.Shutdown(context.Background()) }()
	api := httpapi.New(httpapi.DefaultConfig(), eng, gs)
	defer api.Close()
	srv := httptest.NewServer(api.Handler())
	defer srv.Close()

	jr, err := eng.Submit(ctx, spec(fleet.Targets(hosts, f.Addr().Port), 20))
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-gs.put: // results flow: leases, batches and job writes are under way
	case <-ctx.Done():
		t.Fatal("no result stored")
	}
	gs.close()
	select {
	case <-gs.entered:
	case <-ctx.Done():
		t.Fatal("no store call reached the closed gate")
	}

	client := &http.Client{Timeout: 2 * time.Second}
	for _, path := range []string{"/api/v1/jobs/" + jr.ID, "/api/v1/cluster/members"} {
		resp, err := client.Get(srv.URL + path)
		if err != nil {
			t.Fatalf("GET %s while the store is stuck: %v", path, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d", path, resp.StatusCode)
		}
		if gs.blocked.Load() == 0 {
			t.Fatalf("GET %s answered, but no store call was stuck any more", path)
		}
	}
	gs.open()
	fin := testutil.WaitJob(t, eng, jr.ID, time.Minute)
	if fin.State != store.JobGathered || fin.Done != hosts {
		t.Fatalf("final %+v", fin)
	}
}

// A tagged worker whose registration the master lost (as when the master
// restarts) is registered again from its load report with its tags, and
// keeps receiving tagged jobs.
func TestTaggedWorkerKeepsItsTagsWhenReRegistered(t *testing.T) {
	f := testutil.StartFleet(t, func(c *fleet.Config) { c.Hosts = 20 })
	n := testutil.StartNode(t, func(c *actors.Config) {
		c.Tags = []string{"dc1"}
		c.Worker.LoadInterval = 50 * time.Millisecond
	})
	eng := n.Engine
	eng.System().Root.Send(eng.MasterPID(), actors.ForgetWorker(eng.Name()))
	s := spec(fleet.Targets(20, f.Addr().Port), 5)
	s.Tags = []string{"dc1"}
	jr, err := eng.Submit(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	fin := testutil.WaitJob(t, eng, jr.ID, 30*time.Second)
	if fin.State != store.JobGathered || fin.Done != 20 {
		t.Fatalf("tagged job: %+v", fin)
	}
	ms, err := eng.Members(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 1 || len(ms[0].Tags) != 1 || ms[0].Tags[0] != "dc1" {
		t.Fatalf("members after re-registration: %+v", ms)
	}
}

// Cancel tells every worker, even when one cannot be told; the answer is
// the master's decision and the error names the worker that failed.
func TestCancelTellsEveryWorker(t *testing.T) {
	const hosts = 2000
	f := testutil.StartFleet(t, func(c *fleet.Config) {
		c.Hosts = hosts
		c.LatencyMin, c.LatencyMax = 10*time.Millisecond, 10*time.Millisecond
	})
	n := testutil.StartNode(t, func(c *actors.Config) { c.ChunkSize = 1000 })
	eng := n.Engine
	ctx := context.Background()
	// A second worker on the node's actor system, that will be gone
	// without the master noticing (the master watches only remote workers).
	wc := actors.DefaultWorkerConfig()
	wc.Name, wc.Logger = "node-b", testutil.Logger(t)
	other, err := eng.System().Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor {
		return actors.NewWorker(wc, eng.MasterPID())
	}), "worker-b")
	if err != nil {
		t.Fatal(err)
	}
	waitMembers(t, eng, 2)

	jr, err := eng.Submit(ctx, spec(fleet.Targets(hosts, f.Addr().Port), 5))
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.System().Root.StopFuture(other).Wait(); err != nil {
		t.Fatal(err)
	}
	// Through the API: the master's decision is the answer (200), with a
	// warning naming what could not be told.
	var st actors.JobStatus
	if code := testutil.DoJSON(t, "POST", n.URL+"/api/v1/jobs/"+jr.ID+"/cancel", nil, &st); code != http.StatusOK {
		t.Fatalf("cancel with a gone worker: %d %+v", code, st)
	}
	if st.ID != jr.ID || len(st.Warnings) != 1 || !strings.Contains(st.Warnings[0], "cancel on worker") {
		t.Fatalf("cancel answer: %+v", st)
	}
	eng.WorkerLost("node-b", "test: stopped")
	fin := testutil.WaitJob(t, eng, jr.ID, time.Minute)
	if fin.State != store.JobCancelled {
		t.Fatalf("final %+v", fin)
	}
	// node-a was told at once: it did not run on through its 1,000-target
	// lease (at 5 × 10 ms that takes 2 s).
	if ok := fin.Counts[job.StateOK]; ok >= 500 {
		t.Errorf("%d targets ran after the cancel: the local worker was not told", ok)
	}
}

// waitMembers waits, bounded, until the master has n registered workers.
func waitMembers(t *testing.T, eng *actors.Engine, n int) {
	t.Helper()
	for i := 0; i < 200; i++ {
		ms, err := eng.Members(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) == n {
			return
		}
		time.Sleep(10 * time.Millisecond) // registration is an asynchronous message
	}
	t.Fatalf("master never had %d workers", n)
}

// A job whose body holds the text "<redacted>" but no secret resumes after
// a restart: whether secrets were lost is a field of the job, not a search.
func TestResumeKeepsJobsWithoutSecrets(t *testing.T) {
	f := testutil.StartFleet(t, func(c *fleet.Config) {
		c.Hosts = 50
		c.LatencyMin, c.LatencyMax = 50*time.Millisecond, 50*time.Millisecond
	})
	dir := t.TempDir()
	st := openStore(t, dir)
	defer st.Close()
	cfg := actors.DefaultConfig()
	cfg.Logger = testutil.Logger(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	eng, err := actors.NewEngine(ctx, cfg, st)
	if err != nil {
		t.Fatal(err)
	}
	s := spec(fleet.Targets(50, f.Addr().Port), 1)
	s.HTTP = &job.HTTPSpec{Method: "POST", Body: `{"note": "<redacted>"}`}
	jr, err := eng.Submit(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.Shutdown(ctx); err != nil { // mid-job: 50 × 50 ms at concurrency 1
		t.Fatal(err)
	}
	eng, err = actors.NewEngine(ctx, cfg, st)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = eng.Shutdown(context.Background()) }()
	fin := testutil.WaitJob(t, eng, jr.ID, time.Minute)
	if fin.State != store.JobGathered || fin.Done != 50 {
		t.Fatalf("resumed job: %+v", fin)
	}
}

// A store whose disk is full pauses the job instead of failing it: nothing
// is dropped, /readyz says why, submits get 507, the status counts what is
// stored, and the job goes on by itself when space returns.
func TestFullDiskPausesTheJob(t *testing.T) {
	const hosts = 3000
	f := testutil.StartFleet(t, func(c *fleet.Config) {
		c.Hosts = hosts
		c.LatencyMin, c.LatencyMax = time.Millisecond, 3*time.Millisecond
	})
	st := openStore(t, t.TempDir())
	defer st.Close()
	cfg := actors.DefaultConfig()
	cfg.Logger = testutil.Logger(t)
	cfg.Master.FullRetry = 50 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	eng, err := actors.NewEngine(ctx, cfg, st)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = eng.Shutdown(context.Background()) }()
	api := httpapi.New(httpapi.DefaultConfig(), eng, st)
	defer api.Close()
	srv := httptest.NewServer(api.Handler())
	defer srv.Close()

	jr, err := eng.Submit(ctx, spec(fleet.Targets(hosts, f.Addr().Port), 50))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SetMaxBytes(ctx, 1); err != nil { // no room to grow from here on
		t.Fatal(err)
	}
	var ready struct{ Status, Reason string }
	for i := 0; ; i++ {
		code := testutil.DoJSON(t, "GET", srv.URL+"/readyz", nil, &ready)
		if code == http.StatusServiceUnavailable {
			break
		}
		if i == 500 {
			t.Fatalf("/readyz still %d with a full store", code)
		}
		time.Sleep(10 * time.Millisecond) // polling the API: the writer's state has no outside signal
	}
	if !strings.Contains(ready.Reason, "full") {
		t.Errorf("/readyz reason %q", ready.Reason)
	}
	var e struct{ Error string }
	code := testutil.DoJSON(t, "POST", srv.URL+"/api/v1/jobs", map[string]any{"targets": []string{"127.0.0.1"}}, &e)
	if code != http.StatusInsufficientStorage || !strings.Contains(e.Error, "full") {
		t.Errorf("submit with a full store: %d %+v, want 507", code, e)
	}
	paused, err := eng.Status(ctx, jr.ID)
	if err != nil {
		t.Fatal(err)
	}
	if paused.Terminal() || !strings.Contains(paused.Reason, "disk is full") {
		t.Errorf("job while the store is full: %+v", paused)
	}
	if n := storedTotal(t, st, jr.ID); paused.Done != n {
		t.Errorf("status says %d done, the store holds %d", paused.Done, n)
	}

	if err := st.SetMaxBytes(ctx, 0); err != nil { // space returns
		t.Fatal(err)
	}
	fin := testutil.WaitJob(t, eng, jr.ID, time.Minute)
	if fin.State != store.JobGathered || fin.Done != hosts || fin.Reason != "" {
		t.Fatalf("after space returned: %+v", fin)
	}
	if n := storedTotal(t, st, jr.ID); n != hosts {
		t.Fatalf("%d results stored, want %d", n, hosts)
	}
	if code := testutil.DoJSON(t, "GET", srv.URL+"/readyz", nil, &ready); code != http.StatusOK {
		t.Errorf("/readyz %d after space returned", code)
	}
}

// A JobStart lost on its way leaves the master counting a part the worker
// never runs: the worker's load reports leave the job out, and the master
// takes the part as finished and starts it again, so the job completes.
func TestLostJobStartIsReconciled(t *testing.T) {
	const hosts = 50
	f := testutil.StartFleet(t, func(c *fleet.Config) { c.Hosts = hosts })
	n := testutil.StartNode(t, func(c *actors.Config) {
		c.Master.PartGrace = 500 * time.Millisecond
		c.Worker.LoadInterval = 100 * time.Millisecond
	})
	// Queued in the worker's mailbox ahead of the job's JobStart.
	n.Engine.System().Root.Send(n.Engine.WorkerPID(), actors.DropJobStarts(1))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	jr, err := n.Engine.Submit(ctx, spec(fleet.Targets(hosts, f.Addr().Port), 5))
	if err != nil {
		t.Fatal(err)
	}
	fin := testutil.WaitJob(t, n.Engine, jr.ID, 30*time.Second)
	if fin.State != store.JobGathered || fin.Counts[job.StateOK] != hosts {
		t.Fatalf("job after a lost JobStart: %+v", fin)
	}
}
