package scaling

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/salvo-sh/salvo/actors"
	"github.com/salvo-sh/salvo/auth"
	"github.com/salvo-sh/salvo/conf"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// clock is a fake clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// fakeCluster is a master's load that SetEnabled changes.
type fakeCluster struct {
	mu    sync.Mutex
	load  actors.Load
	calls []string // "disable w", "enable w"
	err   error    // of Load
}

func (f *fakeCluster) Load(context.Context) (*actors.Load, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	l := f.load
	l.Workers = slices.Clone(f.load.Workers)
	l.Tags = slices.Clone(f.load.Tags)
	return &l, nil
}

func (f *fakeCluster) SetEnabled(_ context.Context, name string, enabled bool) ([]actors.Member, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	verb := "disable"
	if enabled {
		verb = "enable"
	}
	f.calls = append(f.calls, verb+" "+name)
	for i := range f.load.Workers {
		if f.load.Workers[i].Name == name {
			f.load.Workers[i].Enabled = enabled
		}
	}
	return nil, nil
}

func (f *fakeCluster) set(mod func(*actors.Load)) {
	f.mu.Lock()
	mod(&f.load)
	f.mu.Unlock()
}

func (f *fakeCluster) history() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// fakeAudit records the entries' routes and outcomes.
type fakeAudit struct {
	mu      sync.Mutex
	entries []auth.Entry
}

func (a *fakeAudit) PutAudit(_ context.Context, e auth.Entry) error {
	a.mu.Lock()
	a.entries = append(a.entries, e)
	a.mu.Unlock()
	return nil
}

func (a *fakeAudit) routes() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for _, e := range a.entries {
		out = append(out, e.Route+" "+e.Target+" "+e.Outcome)
	}
	return out
}

func intp(n int) *int { return &n }

func policy(minWorkers int) conf.ScalingPolicy {
	return conf.ScalingPolicy{
		Up:   &conf.ScalingUp{WhenWaitingFor: 30 * time.Second, Cooldown: time.Minute, MaxWorkers: 4, Hook: conf.ScalingHook{Exec: "up"}},
		Down: &conf.ScalingDown{WhenIdleFor: 10 * time.Minute, MinWorkers: intp(minWorkers), DrainTimeout: time.Second, Hook: conf.ScalingHook{Exec: "down"}},
	}
}

func worker(name string, idle time.Duration, tags ...string) actors.LoadWorker {
	return actors.LoadWorker{Name: name, Tags: tags, Enabled: true, Capacity: 10, IdleSeconds: idle.Seconds()}
}

// loadOf builds a load with tag T's figures from its workers.
func loadOf(waiting int, oldest time.Duration, workers ...actors.LoadWorker) *actors.Load {
	tl := actors.TagLoad{Tag: "T", Waiting: waiting, OldestWaitingSeconds: oldest.Seconds()}
	all := actors.TagLoad{Tag: actors.AnyTag, Waiting: waiting, OldestWaitingSeconds: oldest.Seconds()}
	count := func(t *actors.TagLoad, w actors.LoadWorker) {
		t.Workers++
		if w.Enabled {
			t.Enabled++
		}
	}
	for _, w := range workers {
		count(&all, w)
		if w.HasTag("T") {
			count(&tl, w)
		}
	}
	return &actors.Load{Time: t0, Tags: []actors.TagLoad{all, tl}, Workers: workers}
}

// The rules, table-driven with a fake clock and a fake load.
func TestDecide(t *testing.T) {
	idle := 11 * time.Minute
	busy := worker("busy", 0, "T")
	busy.Reserved, busy.RunningJobs, busy.IdleSeconds = 10, 1, 0
	master := worker("m", 5*time.Hour, "T")
	master.Master = true
	disabled := worker("off", 5*time.Hour, "T")
	disabled.Enabled = false
	leased := worker("leased", 5*time.Hour, "T")
	leased.Leases = 1

	tests := []struct {
		name   string
		tag    string
		policy conf.ScalingPolicy
		state  func(*tagState) // from a state 20 minutes old
		load   *actors.Load
		dir    string // "" for none
		worker string
	}{
		{"waited long enough: up", "T", policy(1), nil, loadOf(2, 31*time.Second, busy), DirectionUp, ""},
		{"not waited long enough", "T", policy(1), nil, loadOf(2, 29*time.Second, busy), "", ""},
		{"up from zero workers", "T", policy(0), nil, loadOf(1, time.Minute), DirectionUp, ""},
		{"in the cooldown of the last up", "T", policy(1), func(s *tagState) { s.lastUp = t0.Add(-59 * time.Second) },
			loadOf(2, time.Hour, busy), "", ""},
		{"past the cooldown", "T", policy(1), func(s *tagState) { s.lastUp = t0.Add(-61 * time.Second) },
			loadOf(2, time.Hour, busy), DirectionUp, ""},
		{"cooldown defaults to whenWaitingFor", "T", conf.ScalingPolicy{Up: &conf.ScalingUp{WhenWaitingFor: 30 * time.Second, Hook: conf.ScalingHook{Exec: "x"}}},
			func(s *tagState) { s.lastUp = t0.Add(-31 * time.Second) }, loadOf(1, time.Hour, busy), DirectionUp, ""},
		{"at maxWorkers", "T", policy(1), nil, loadOf(2, time.Hour, busy, busy, busy, busy), "", ""},
		{"up in its backoff", "T", policy(1), func(s *tagState) { s.retryAt[DirectionUp] = t0.Add(time.Second) },
			loadOf(2, time.Hour, busy), "", ""},
		{"up past its backoff", "T", policy(1), func(s *tagState) { s.retryAt[DirectionUp] = t0 },
			loadOf(2, time.Hour, busy), DirectionUp, ""},
		{"waiting jobs and no up rule: no down either", "T", conf.ScalingPolicy{Down: policy(0).Down}, nil,
			loadOf(1, time.Hour, worker("a", idle, "T")), "", ""},

		{"idle long enough: down, the most idle", "T", policy(1), nil,
			loadOf(0, 0, worker("a", idle, "T"), worker("b", idle+time.Minute, "T"), worker("c", idle, "T")), DirectionDown, "b"},
		{"idle ties go to the first by name", "T", policy(1), nil,
			loadOf(0, 0, worker("a", idle, "T"), worker("b", idle, "T")), DirectionDown, "a"},
		{"not idle long enough", "T", policy(1), nil,
			loadOf(0, 0, worker("a", 9*time.Minute, "T"), worker("b", 9*time.Minute, "T")), "", ""},
		{"not below minWorkers", "T", policy(2), nil,
			loadOf(0, 0, worker("a", idle, "T"), worker("b", idle, "T")), "", ""},
		{"minWorkers defaults to 1", "T", conf.ScalingPolicy{Down: &conf.ScalingDown{WhenIdleFor: time.Minute, Hook: conf.ScalingHook{Exec: "x"}}}, nil,
			loadOf(0, 0, worker("a", idle, "T")), "", ""},
		{"minWorkers 0: the last one goes", "T", policy(0), nil, loadOf(0, 0, worker("a", idle, "T")), DirectionDown, "a"},
		{"jobs waited lately", "T", policy(1), func(s *tagState) { s.lastWaiting = t0.Add(-9 * time.Minute) },
			loadOf(0, 0, worker("a", idle, "T"), worker("b", idle, "T")), "", ""},
		{"never the busy, the master's, the disabled, one holding a lease, one of another tag", "T", policy(1), nil,
			loadOf(0, 0, busy, master, disabled, leased, worker("u", 5*time.Hour, "U"), worker("a", idle, "T")), DirectionDown, "a"},
		{"none to pick", "T", policy(1), nil, loadOf(0, 0, busy, master, leased), "", ""},
		{"down in its backoff", "T", policy(1), func(s *tagState) { s.retryAt[DirectionDown] = t0.Add(time.Second) },
			loadOf(0, 0, worker("a", idle, "T"), worker("b", idle, "T")), "", ""},
		{"the whole cluster: any tag", actors.AnyTag, policy(1), nil,
			loadOf(0, 0, worker("a", idle, "T"), worker("u", idle+time.Second, "U")), DirectionDown, "u"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := &tagState{policy: tc.policy.WithDefaults(), lastWaiting: t0.Add(-20 * time.Minute),
				failures: map[string]int{}, retryAt: map[string]time.Time{}}
			if tc.state != nil {
				tc.state(st)
			}
			d := st.decide(t0, tc.tag, tc.load)
			switch {
			case tc.dir == "" && d != nil:
				t.Fatalf("decided %s %+v (%s), want nothing", d.dir, d.worker, d.reason)
			case tc.dir == "":
				return
			case d == nil:
				t.Fatalf("decided nothing, want %s", tc.dir)
			case d.dir != tc.dir:
				t.Fatalf("decided %s, want %s", d.dir, tc.dir)
			case tc.worker != "" && (d.worker == nil || d.worker.Name != tc.worker):
				t.Fatalf("picked %+v, want %s", d.worker, tc.worker)
			}
		})
	}
}

// testScaler is a scaler of a fake cluster with a fake clock and hook.
func testScaler(t *testing.T, cl *fakeCluster, p conf.ScalingPolicy, run func(ctx context.Context, h conf.ScalingHook, doc *Document) (string, error)) (*Scaler, *clock, *fakeAudit) {
	t.Helper()
	c := &clock{t: t0}
	a := &fakeAudit{}
	s := New(cl, Config{Policies: map[string]conf.ScalingPolicy{"T": p}, Interval: 5 * time.Millisecond, BackoffMin: 10 * time.Second,
		BackoffMax: 35 * time.Second, Audit: a, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: c.Now, Run: run})
	t.Cleanup(s.Stop)
	return s, c, a
}

// Never two calls at once for a tag: a step while the up hook runs starts
// none; the cooldown then holds the next up until it has passed.
func TestOneCallAtATimeAndCooldown(t *testing.T) {
	cl := &fakeCluster{load: *loadOf(3, time.Hour, worker("a", 0, "T"))}
	release := make(chan struct{})
	var mu sync.Mutex
	running, most, calls := 0, 0, 0
	s, c, a := testScaler(t, cl, policy(1), func(ctx context.Context, h conf.ScalingHook, doc *Document) (string, error) {
		mu.Lock()
		running++
		calls++
		most = max(most, running)
		mu.Unlock()
		select {
		case <-release:
		case <-ctx.Done():
		}
		mu.Lock()
		running--
		mu.Unlock()
		if doc.Direction != DirectionUp || doc.Change != 1 || doc.Current != 1 || doc.Desired != 2 || doc.Load.Waiting != 3 {
			return "", fmt.Errorf("document %+v", doc)
		}
		return "", nil
	})
	ctx := context.Background()
	s.step(ctx)
	s.step(ctx)
	s.step(ctx)
	close(release)
	s.wg.Wait()
	if calls != 1 || most != 1 {
		t.Fatalf("%d calls, %d at once; want 1 and 1", calls, most)
	}
	c.Add(59 * time.Second)
	s.step(ctx)
	s.wg.Wait()
	if calls != 1 {
		t.Fatalf("an up within the cooldown: %d calls", calls)
	}
	c.Add(2 * time.Second)
	s.step(ctx)
	s.wg.Wait()
	if calls != 2 {
		t.Fatalf("no up past the cooldown: %d calls", calls)
	}
	if got := a.routes(); !slices.Equal(got, []string{"/scaling/T/up T done", "/scaling/T/up T done"}) {
		t.Errorf("audit %q", got)
	}
}

// A failing hook backs off: 10 s, then 20 s, then at most 35 s; a success
// ends the backoff.
func TestBackoffAfterFailures(t *testing.T) {
	cl := &fakeCluster{load: *loadOf(1, time.Hour)}
	calls, fail := 0, true
	s, c, a := testScaler(t, cl, conf.ScalingPolicy{Up: &conf.ScalingUp{WhenWaitingFor: time.Second, Cooldown: time.Second, Hook: conf.ScalingHook{Exec: "x"}}},
		func(context.Context, conf.ScalingHook, *Document) (string, error) {
			calls++
			if fail {
				return "no cloud today", errors.New("exit status 1")
			}
			return "", nil
		})
	ctx := context.Background()
	step := func(after time.Duration, want int) {
		t.Helper()
		c.Add(after)
		s.step(ctx)
		s.wg.Wait()
		if calls != want {
			t.Fatalf("%d calls, want %d", calls, want)
		}
	}
	step(0, 1)
	step(9*time.Second, 1)
	step(time.Second, 2) // 10 s after the first failure
	step(19*time.Second, 2)
	step(time.Second, 3) // 20 s after the second
	step(34*time.Second, 3)
	step(time.Second, 4) // capped at 35 s
	step(35*time.Second, 5)
	fail = false
	step(35*time.Second, 6)
	step(time.Second, 7) // no backoff after a success, past the 1 s cooldown
	if got := a.routes(); len(got) != 7 || got[0] != "/scaling/T/up T failed: exit status 1" || got[6] != "/scaling/T/up T done" {
		t.Errorf("audit %q", got)
	}
}

// Down: the most idle worker is drained, its hook called once it holds
// no job, and once it has left its name is enabled again; every step is
// audited.
func TestDownDrainsThenCallsTheHook(t *testing.T) {
	cl := &fakeCluster{load: *loadOf(0, 0, worker("a", time.Hour, "T"), worker("b", 2*time.Hour, "T"), worker("c", time.Hour, "T"))}
	var got *Document
	s, c, a := testScaler(t, cl, policy(1), func(ctx context.Context, h conf.ScalingHook, doc *Document) (string, error) {
		got = doc
		if calls := cl.history(); !slices.Equal(calls, []string{"disable b"}) {
			return "", fmt.Errorf("the hook runs after %v, want the drain only", calls)
		}
		cl.set(func(l *actors.Load) {
			l.Workers = slices.DeleteFunc(l.Workers, func(w actors.LoadWorker) bool { return w.Name == "b" })
		})
		return "", nil
	})
	s.step(context.Background())
	s.wg.Wait()
	if calls := cl.history(); len(calls) != 0 {
		t.Fatalf("a scaler that just started drained %v: it knows of no job waiting whenIdleFor ago", calls)
	}
	c.Add(11 * time.Minute) // past whenIdleFor since the scaler started
	s.step(context.Background())
	s.wg.Wait()
	if got == nil || got.Direction != DirectionDown || got.Worker != "b" || got.Change != -1 || got.Current != 3 || got.Desired != 2 {
		t.Fatalf("document %+v", got)
	}
	if got.WorkerLoad == nil || got.WorkerLoad.Enabled || !got.WorkerLoad.Idle() {
		t.Errorf("the worker's figures in the document, once drained: %+v", got.WorkerLoad)
	}
	if calls := cl.history(); !slices.Equal(calls, []string{"disable b", "enable b"}) {
		t.Errorf("calls %v", calls)
	}
	if r := a.routes(); !slices.Equal(r, []string{"/scaling/T/drain b done", "/scaling/T/down b done", "/scaling/T/enable b done"}) {
		t.Errorf("audit %q", r)
	}
}

// A drained worker that still runs a job after drainTimeout is enabled
// again; its hook is not called, and the direction backs off.
func TestDrainTimeoutEnablesAgain(t *testing.T) {
	cl := &fakeCluster{load: *loadOf(0, 0, worker("a", time.Hour, "T"), worker("b", 2*time.Hour, "T"))}
	p := policy(1)
	p.Down.DrainTimeout = 50 * time.Millisecond
	hooked := false
	s, c, a := testScaler(t, cl, p, func(context.Context, conf.ScalingHook, *Document) (string, error) {
		hooked = true
		return "", nil
	})
	// A job reaches b between the decision and the drain.
	s.cl = &raceCluster{fakeCluster: cl}
	c.Add(11 * time.Minute) // past whenIdleFor since the scaler started
	s.step(context.Background())
	s.wg.Wait()
	if hooked {
		t.Fatal("the hook ran for a worker still running a job")
	}
	if calls := cl.history(); !slices.Equal(calls, []string{"disable b", "enable b"}) {
		t.Errorf("calls %v", calls)
	}
	r := a.routes()
	if len(r) != 3 || r[1] != "/scaling/T/down b failed: the drained worker b still runs a job after 50ms: context deadline exceeded" {
		t.Errorf("audit %q", r)
	}
	if st := s.tags["T"]; st.failures[DirectionDown] != 1 || !st.retryAt[DirectionDown].After(t0) {
		t.Errorf("no backoff after the drain timeout: %+v", st)
	}
}

// raceCluster gives b a job as it is drained.
type raceCluster struct{ *fakeCluster }

func (r *raceCluster) SetEnabled(ctx context.Context, name string, enabled bool) ([]actors.Member, error) {
	if !enabled {
		r.set(func(l *actors.Load) {
			for i := range l.Workers {
				if l.Workers[i].Name == name {
					l.Workers[i].Reserved, l.Workers[i].RunningJobs, l.Workers[i].IdleSeconds = 5, 1, 0
				}
			}
		})
	}
	return r.fakeCluster.SetEnabled(ctx, name, enabled)
}

// A failing down hook enables the worker again.
func TestFailedDownHookEnablesAgain(t *testing.T) {
	cl := &fakeCluster{load: *loadOf(0, 0, worker("a", time.Hour, "T"), worker("b", 2*time.Hour, "T"))}
	s, c, _ := testScaler(t, cl, policy(1), func(context.Context, conf.ScalingHook, *Document) (string, error) {
		return "", errors.New("exit status 3")
	})
	c.Add(11 * time.Minute) // past whenIdleFor since the scaler started
	s.step(context.Background())
	s.wg.Wait()
	if calls := cl.history(); !slices.Equal(calls, []string{"disable b", "enable b"}) {
		t.Errorf("calls %v", calls)
	}
}

// Stop kills the call under way and waits for it; a worker being drained
// is enabled again.
func TestStopEndsTheCall(t *testing.T) {
	cl := &fakeCluster{load: *loadOf(0, 0, worker("a", time.Hour, "T"), worker("b", 2*time.Hour, "T"))}
	started := make(chan struct{})
	s, c, _ := testScaler(t, cl, policy(1), func(ctx context.Context, h conf.ScalingHook, doc *Document) (string, error) {
		close(started)
		<-ctx.Done()
		return "", ctx.Err()
	})
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	c.Add(11 * time.Minute) // past whenIdleFor since the scaler started
	s.step(ctx)
	<-started
	done := make(chan struct{})
	go func() { s.Stop(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Stop did not return")
	}
	if calls := cl.history(); !slices.Equal(calls, []string{"disable b", "enable b"}) {
		t.Errorf("calls %v", calls)
	}
}

// Start needs policies; Stop takes nil.
func TestStartWithoutPolicies(t *testing.T) {
	if s := Start(&fakeCluster{}, Config{}); s != nil {
		t.Fatal("a scaler without policies")
	}
	var s *Scaler
	s.Stop()
}

// A load that cannot be read decides nothing.
func TestNoLoadNoDecision(t *testing.T) {
	cl := &fakeCluster{load: *loadOf(3, time.Hour), err: errors.New("ask master: timeout")}
	calls := 0
	s, _, _ := testScaler(t, cl, policy(0), func(context.Context, conf.ScalingHook, *Document) (string, error) { calls++; return "", nil })
	s.step(context.Background())
	s.wg.Wait()
	if calls != 0 {
		t.Fatalf("%d calls without a load", calls)
	}
}

func TestInterval(t *testing.T) {
	for _, tc := range []struct {
		p    map[string]conf.ScalingPolicy
		want time.Duration
	}{
		{nil, 5 * time.Second},
		{map[string]conf.ScalingPolicy{"T": policy(1)}, 5 * time.Second},
		{map[string]conf.ScalingPolicy{"T": {Up: &conf.ScalingUp{WhenWaitingFor: 2 * time.Second}}}, 500 * time.Millisecond},
		{map[string]conf.ScalingPolicy{"T": {Down: &conf.ScalingDown{WhenIdleFor: 100 * time.Millisecond}}}, 100 * time.Millisecond},
	} {
		if got := Interval(tc.p); got != tc.want {
			t.Errorf("Interval(%v) = %s, want %s", tc.p, got, tc.want)
		}
	}
}
