package schedule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/salvo-sh/salvo/job"
	"github.com/salvo-sh/salvo/store"
)

// testLogger writes warnings to the test's log (internal/testutil's
// Logger, which this package cannot import: testutil imports httpapi).
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// putSchedule stores a schedule as the API does.
func putSchedule(t *testing.T, st store.Store, name string, d Definition) {
	t.Helper()
	if d.CatchUp == "" {
		d.CatchUp = CatchUpOnce
	}
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.PutDefinition(context.Background(), store.KindSchedule, name, b); err != nil {
		t.Fatal(err)
	}
}

// submitter stores each run's job as the engine does (Engine.create with
// the run linked), counting the submits.
type submitter struct {
	st     store.Store
	mu     sync.Mutex
	calls  []Run
	errs   []error
	refuse error // returned instead, when set
}

func (s *submitter) submit(ctx context.Context, spec *job.Spec, run Run) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, run)
	if s.refuse != nil {
		s.errs = append(s.errs, s.refuse)
		return "", s.refuse
	}
	j := &store.Job{ID: job.NewID(), Name: spec.Name, Spec: spec, State: store.JobGathered, Total: 1, Counts: map[string]int{},
		CreatedAt: time.Now(), Schedule: run.Schedule, Slot: run.Slot, Manual: run.Manual}
	err := s.st.CreateJob(ctx, j, []job.TargetSpec{{Host: "h1"}}, 10)
	s.errs = append(s.errs, err)
	if err != nil {
		return "", fmt.Errorf("store job: %w", err)
	}
	return j.ID, nil
}

func (s *submitter) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.calls)
}

func newScheduler(t *testing.T, st store.Store, sub *submitter) *Scheduler {
	cfg := DefaultConfig()
	cfg.Store, cfg.Submit, cfg.Logger = st, sub.submit, testLogger(t)
	return New(cfg)
}

// slots lists the slots of a schedule's runs, oldest first, and checks
// that none has two jobs.
func slots(t *testing.T, st store.Store, name string) []time.Time {
	t.Helper()
	runs, _, err := st.ScheduleRuns(context.Background(), store.RunQuery{Schedule: name, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var out []time.Time
	for i := len(runs) - 1; i >= 0; i-- {
		if len(out) > 0 && out[len(out)-1].Equal(runs[i].Slot) && !runs[i].Manual {
			t.Errorf("slot %s has two jobs", runs[i].Slot)
		}
		out = append(out, runs[i].Slot)
	}
	return out
}

func at(t *testing.T, s string) time.Time { return mustTime(t, "2026-01-10T"+s+"Z") }

func times(t *testing.T, ss ...string) []time.Time {
	var out []time.Time
	for _, s := range ss {
		out = append(out, at(t, s))
	}
	return out
}

// Each due slot runs once, on time; none before the schedule was put, none
// of a disabled schedule; Tick says when the next slot comes.
func TestTickRunsDueSlots(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	sub := &submitter{st: st}
	putSchedule(t, st, "q", Definition{Cron: "*/15 * * * *", Command: "uptime", NodeGroup: "web", Enabled: true, UpdatedAt: at(t, "10:07:00")})
	putSchedule(t, st, "off", Definition{Cron: "* * * * *", Command: "uptime", NodeGroup: "web", Enabled: false, UpdatedAt: at(t, "10:00:00")})
	s := newScheduler(t, st, sub)
	steps := []struct {
		now, next string
		submits   int
	}{
		{"10:07:30", "10:15:00", 0},
		{"10:15:00.010", "10:30:00", 1},
		{"10:15:20", "10:30:00", 1}, // a wake on Notify: the slot is decided
		{"10:30:02", "10:45:00", 2},
	}
	for _, step := range steps {
		if next := s.Tick(ctx, at(t, step.now)); !next.Equal(at(t, step.next)) {
			t.Errorf("at %s: next %s, want %s", step.now, next, step.next)
		}
		if n := sub.count(); n != step.submits {
			t.Errorf("at %s: %d submits, want %d", step.now, n, step.submits)
		}
	}
	if got, want := slots(t, st, "q"), times(t, "10:15:00", "10:30:00"); !slices.EqualFunc(got, want, time.Time.Equal) {
		t.Errorf("slots %v, want %v", got, want)
	}
	if got := slots(t, st, "off"); len(got) != 0 {
		t.Errorf("a disabled schedule ran: %v", got)
	}
	// The job is the engine's: named after the schedule, on its group.
	runs, _, _ := st.ScheduleRuns(ctx, store.RunQuery{Schedule: "q", Limit: 1})
	if j := runs[0]; j.Name != "q" || j.Spec.NodeGroup != "web" || j.Spec.Origin.Command != "uptime" {
		t.Errorf("the run's job: %+v", j)
	}
}

// After a downtime a "once" schedule runs its latest missed slot, once; a
// "skip" schedule runs none of them, but a slot only a little late (a
// failover) still runs; neither ever runs the old slots in a storm.
func TestCatchUp(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	for _, name := range []string{"once", "skip"} {
		putSchedule(t, st, name, Definition{Cron: "*/15 * * * *", Command: "uptime", NodeGroup: "web", Enabled: true,
			CatchUp: name, UpdatedAt: at(t, "09:50:00")})
	}
	// The first master runs 10:00 and goes down.
	sub := &submitter{st: st}
	newScheduler(t, st, sub).Tick(ctx, at(t, "10:00:01"))
	// A new master (nothing in memory) starts at 11:20: 10:15 to 11:15
	// were missed.
	sub2 := &submitter{st: st}
	s2 := newScheduler(t, st, sub2)
	if next := s2.Tick(ctx, at(t, "11:20:00")); !next.Equal(at(t, "11:30:00")) {
		t.Errorf("next %s, want 11:30", next)
	}
	if got, want := slots(t, st, "once"), times(t, "10:00:00", "11:15:00"); !slices.EqualFunc(got, want, time.Time.Equal) {
		t.Errorf("once: slots %v, want %v", got, want)
	}
	if got, want := slots(t, st, "skip"), times(t, "10:00:00"); !slices.EqualFunc(got, want, time.Time.Equal) {
		t.Errorf("skip: slots %v, want %v", got, want)
	}
	// Later wakes of the same master neither run the missed slots nor
	// skip again; the next slot runs for both.
	s2.Tick(ctx, at(t, "11:25:00"))
	if n := sub2.count(); n != 1 {
		t.Errorf("%d submits after the catch-up, want 1 (once's 11:15)", n)
	}
	s2.Tick(ctx, at(t, "11:30:00"))
	// A failover that takes 20 s: the 11:45 slot is late, not missed.
	newScheduler(t, st, &submitter{st: st}).Tick(ctx, at(t, "11:45:20"))
	for _, name := range []string{"once", "skip"} {
		if got := slots(t, st, name); !got[len(got)-1].Equal(at(t, "11:45:00")) || !got[len(got)-2].Equal(at(t, "11:30:00")) {
			t.Errorf("%s: slots %v, want 11:30 and 11:45 last", name, got)
		}
	}
}

// hidingStore is a replica that has not applied the other master's job
// yet: it shows no run and no state of any schedule.
type hidingStore struct{ store.Store }

func (hidingStore) ScheduleRuns(context.Context, store.RunQuery) ([]*store.Job, string, error) {
	return nil, "", nil
}

func (h hidingStore) GetDefinition(ctx context.Context, kind, name string) ([]byte, error) {
	if kind == store.KindScheduleState {
		return nil, store.ErrNotFound
	}
	return h.Store.GetDefinition(ctx, kind, name)
}

// Two schedulers in turn on one store, as two leaders: the second sees
// the slot's job and submits nothing; one that does not see it yet is
// refused by the store (ErrSlotTaken) and records nothing.
func TestSlotRunsOnceAcrossSchedulers(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	putSchedule(t, st, "q", Definition{Cron: "*/15 * * * *", Command: "uptime", NodeGroup: "web", Enabled: true, UpdatedAt: at(t, "10:07:00")})
	a, b, c := &submitter{st: st}, &submitter{st: st}, &submitter{st: st}
	newScheduler(t, st, a).Tick(ctx, at(t, "10:15:00"))
	newScheduler(t, st, b).Tick(ctx, at(t, "10:15:03"))
	if a.count() != 1 || b.count() != 0 {
		t.Fatalf("submits: %d and %d, want 1 and 0", a.count(), b.count())
	}
	newScheduler(t, hidingStore{st}, c).Tick(ctx, at(t, "10:15:04"))
	if c.count() != 1 || !errors.Is(c.errs[0], store.ErrSlotTaken) {
		t.Fatalf("the blind scheduler: %d submits, %v", c.count(), c.errs)
	}
	if got := slots(t, st, "q"); len(got) != 1 {
		t.Errorf("slots %v, want one", got)
	}
	jobs, _, err := st.ListJobs(ctx, store.JobQuery{Schedule: "q"})
	if err != nil || len(jobs) != 1 || jobs[0].State != store.JobGathered {
		t.Errorf("the schedule's jobs: %v %v, want the one run (no failed record)", jobs, err)
	}
}

// A slot whose job is refused (its command is gone) is a failed run in the
// history, with the reason, and is not tried again; a passing failure (the
// engine stops) decides nothing and the slot is tried at the next wake.
func TestRefusedSlotIsAFailedRun(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	putSchedule(t, st, "q", Definition{Cron: "*/15 * * * *", Command: "uptime", NodeGroup: "web", Enabled: true, UpdatedAt: at(t, "10:07:00")})
	sub := &submitter{st: st, refuse: fmt.Errorf("%w: shutting down", ErrUnavailable)}
	s := newScheduler(t, st, sub)
	s.Tick(ctx, at(t, "10:15:00"))
	if got := slots(t, st, "q"); len(got) != 0 || sub.count() != 1 {
		t.Fatalf("a passing failure: slots %v, %d submits", got, sub.count())
	}
	// The next wake tries again, and this time the engine refuses the spec.
	sub.refuse = &job.FieldError{Field: "targets[0]", Msg: `"10.0.0.1" is denied by the target policy`}
	s.Tick(ctx, at(t, "10:15:30"))
	s.Tick(ctx, at(t, "10:16:00")) // not again
	if sub.count() != 2 {
		t.Errorf("%d submits, want 2", sub.count())
	}
	runs, _, err := st.ScheduleRuns(ctx, store.RunQuery{Schedule: "q"})
	if err != nil || len(runs) != 1 {
		t.Fatalf("runs %v %v", runs, err)
	}
	j := runs[0]
	if j.State != store.JobFailed || !strings.Contains(j.Reason, "denied by the target policy") || !j.Slot.Equal(at(t, "10:15:00")) ||
		j.SubmittedBy != "schedule:q" || j.FinishedAt.IsZero() || j.Total != 0 {
		t.Errorf("the failed run: %+v", j)
	}
	// The command deleted: refused before the engine, recorded too.
	sub.refuse = nil
	if err := st.DeleteDefinition(ctx, store.KindCommand, "uptime"); err != nil {
		t.Fatal(err)
	}
	s.Tick(ctx, at(t, "10:30:00"))
	runs, _, _ = st.ScheduleRuns(ctx, store.RunQuery{Schedule: "q"})
	if len(runs) != 2 || runs[0].State != store.JobFailed || !strings.Contains(runs[0].Reason, `unknown command "uptime"`) || sub.count() != 2 {
		t.Errorf("a gone command: %d runs, %+v, %d submits", len(runs), runs[0], sub.count())
	}
}

// The stored state outlives a run the retention deleted: a new master does
// not run that slot again.
func TestStateOutlivesPrunedRuns(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	putSchedule(t, st, "weekly", Definition{Cron: "0 0 * * 0", Command: "uptime", NodeGroup: "web", Enabled: true, UpdatedAt: at(t, "00:00:00")})
	sub := &submitter{st: st}
	newScheduler(t, st, sub).Tick(ctx, mustTime(t, "2026-01-11T00:00:01Z"))
	runs, _, _ := st.ScheduleRuns(ctx, store.RunQuery{Schedule: "weekly"})
	if len(runs) != 1 {
		t.Fatalf("runs %v", runs)
	}
	if err := st.DeleteJob(ctx, runs[0].ID); err != nil {
		t.Fatal(err)
	}
	newScheduler(t, st, sub).Tick(ctx, mustTime(t, "2026-01-12T00:00:00Z"))
	if sub.count() != 1 {
		t.Errorf("%d submits: the pruned slot ran again", sub.count())
	}
}

// fakeClock drives the loop: After hands each wait to the test, which
// moves the time and fires it.
type fakeClock struct {
	mu    sync.Mutex
	now   time.Time
	waits chan fakeWait
}

type fakeWait struct {
	d  time.Duration
	ch chan time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	c.waits <- fakeWait{d, ch}
	return ch
}

// wait returns the loop's next wait, once it has ticked.
func (c *fakeClock) wait(t *testing.T) fakeWait {
	t.Helper()
	select {
	case w := <-c.waits:
		return w
	case <-time.After(10 * time.Second):
		t.Fatal("the loop did not wait within 10 s")
		return fakeWait{}
	}
}

// fire moves the clock by the wait and fires it.
func (c *fakeClock) fire(w fakeWait) {
	c.mu.Lock()
	c.now = c.now.Add(w.d)
	now := c.now
	c.mu.Unlock()
	w.ch <- now
}

// The loop sleeps until the next slot (at most Reload), runs it, and looks
// again at once on Notify; Stop ends it.
func TestLoop(t *testing.T) {
	st := openStore(t)
	putSchedule(t, st, "q", Definition{Cron: "* * * * *", Command: "uptime", NodeGroup: "web", Enabled: true, UpdatedAt: at(t, "10:00:30")})
	clock := &fakeClock{now: at(t, "10:00:30"), waits: make(chan fakeWait)}
	sub := &submitter{st: st}
	cfg := DefaultConfig()
	cfg.Store, cfg.Submit, cfg.Logger, cfg.Now, cfg.After = st, sub.submit, testLogger(t), clock.Now, clock.After
	cfg.Reload = 45 * time.Second
	s := New(cfg)
	s.Start()
	defer s.Stop()
	want := []struct {
		wait    time.Duration
		submits int // once the wait's tick is done
	}{
		{30 * time.Second, 0}, // 10:00:30 → the 10:01 slot
		{45 * time.Second, 1}, // 10:01 ran; 10:02 is past Reload
		{15 * time.Second, 1}, // 10:01:45
		{45 * time.Second, 2}, // 10:02 ran
	}
	for i, w := range want {
		got := clock.wait(t)
		if got.d != w.wait {
			t.Errorf("wait %d: %s, want %s", i, got.d, w.wait)
		}
		if n := sub.count(); n != w.submits {
			t.Errorf("wait %d: %d submits, want %d", i, n, w.submits)
		}
		clock.fire(got)
	}
	// 10:02:45: a schedule put now is run at its slot after a Notify.
	clock.wait(t) // the 10:02:45 tick is done
	putSchedule(t, st, "r", Definition{Cron: "@every 5s", Command: "uptime", NodeGroup: "web", Enabled: true, UpdatedAt: clock.Now()})
	s.Notify()
	if w := clock.wait(t); w.d != 5*time.Second {
		t.Errorf("after Notify: wait %s, want 5s for r", w.d)
	} else {
		clock.fire(w)
	}
	clock.wait(t) // the 10:02:50 tick is done
	if got := slots(t, st, "r"); len(got) != 1 || !got[0].Equal(at(t, "10:02:50")) {
		t.Errorf("r's slots %v, want 10:02:50", got)
	}
}
