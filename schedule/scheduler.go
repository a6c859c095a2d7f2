package schedule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/salvo-sh/salvo/job"
	"github.com/salvo-sh/salvo/store"
)

// ErrUnavailable wraps a submit refused because the engine takes no job
// now (it stops, its part is shut down): the slot is not decided, and is
// tried again at the next wake.
var ErrUnavailable = errors.New("the engine takes no job now")

// Run is one run of a schedule: the job of a slot, or a manual run.
type Run struct {
	Schedule string
	Slot     time.Time
	Manual   bool
}

// SubmitFunc submits a run's job through the engine (actors.Engine.Submit
// with the run linked to the job) and returns its id. A slot that already
// has a job is an error wrapping store.ErrSlotTaken; an engine that takes
// no job now, one wrapping ErrUnavailable.
type SubmitFunc func(ctx context.Context, spec *job.Spec, run Run) (string, error)

// Config configures a Scheduler.
type Config struct {
	// Store holds the schedules, their runs and their state (the
	// replicated store on a master of a Raft group).
	Store store.Store
	// Submit submits a run's job.
	Submit SubmitFunc
	// Now and After are the clock; tests drive them.
	Now   func() time.Time
	After func(time.Duration) <-chan time.Time
	// Reload bounds the time between two looks at the schedules: a change
	// made without Notify, or a slot whose job could not be stored for a
	// passing reason, is seen again within it.
	Reload time.Duration
	// Late is how long after its time a slot of a catchUp "skip" schedule
	// still runs; one later is skipped.
	Late time.Duration
	// SubmitTimeout bounds the submit of one run, the storing of its
	// targets included.
	SubmitTimeout time.Duration
	Logger        *slog.Logger
}

// DefaultConfig returns the defaults: the real clock, a look every 30 s
// at least, slots of skip schedules late by a minute at most, submits
// bounded by ten minutes.
func DefaultConfig() Config {
	return Config{
		Now:           time.Now,
		After:         time.After,
		Reload:        30 * time.Second,
		Late:          time.Minute,
		SubmitTimeout: 10 * time.Minute,
		Logger:        slog.Default(),
	}
}

// Scheduler submits the jobs of the schedules' due slots. It runs on the
// master that writes: one outside a Raft group, or the leader of a group
// while it leads. What it decided is in the store (the runs, and each
// schedule's state), so a new leader goes on where the last one stopped.
type Scheduler struct {
	cfg    Config
	notify chan struct{}
	cancel context.CancelFunc
	done   chan struct{}

	mu sync.Mutex
	// skipped is, by schedule, the latest slot a skip schedule left out
	// (never stored: a new leader skips it again).
	skipped map[string]time.Time
}

// New returns a scheduler of cfg's schedules; Start runs it, Tick runs one
// pass.
func New(cfg Config) *Scheduler {
	def := DefaultConfig()
	if cfg.Now == nil {
		cfg.Now = def.Now
	}
	if cfg.After == nil {
		cfg.After = def.After
	}
	if cfg.Reload <= 0 {
		cfg.Reload = def.Reload
	}
	if cfg.Late <= 0 {
		cfg.Late = def.Late
	}
	if cfg.SubmitTimeout <= 0 {
		cfg.SubmitTimeout = def.SubmitTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = def.Logger
	}
	return &Scheduler{cfg: cfg, notify: make(chan struct{}, 1), skipped: map[string]time.Time{}}
}

// Start runs the scheduler's loop until Stop: it wakes at the next slot
// of any enabled schedule, on Notify, and at least every Reload.
func (s *Scheduler) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel, s.done = cancel, make(chan struct{})
	go s.run(ctx)
}

// Stop ends the loop and waits for it (a submit under way is cancelled).
// It accepts nil and a scheduler never started.
func (s *Scheduler) Stop() {
	if s == nil || s.cancel == nil {
		return
	}
	s.cancel()
	<-s.done
}

// Notify makes the loop look at the schedules now (one was put or
// deleted). It accepts nil and never blocks.
func (s *Scheduler) Notify() {
	if s == nil {
		return
	}
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// minWait keeps a loop whose next slot is already due from spinning.
const minWait = 10 * time.Millisecond

func (s *Scheduler) run(ctx context.Context) {
	defer close(s.done)
	for {
		next := s.Tick(ctx, s.cfg.Now())
		wait := s.cfg.Reload
		if !next.IsZero() {
			wait = min(max(next.Sub(s.cfg.Now()), minWait), s.cfg.Reload)
		}
		select {
		case <-ctx.Done():
			return
		case <-s.notify:
		case <-s.cfg.After(wait):
		}
	}
}

// Tick decides every enabled schedule's due slot as of now, and returns
// the time of the next slot of any of them (zero when none is enabled).
func (s *Scheduler) Tick(ctx context.Context, now time.Time) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	names, err := s.cfg.Store.ListDefinitions(ctx, store.KindSchedule)
	if err != nil {
		if ctx.Err() == nil {
			s.cfg.Logger.Warn("schedules: cannot list them; trying again later", "in", s.cfg.Reload, "err", err)
		}
		return time.Time{}
	}
	var next time.Time
	for i, name := range names {
		if ctx.Err() != nil || i == MaxSchedules {
			break
		}
		n := s.tick(ctx, name, now)
		if !n.IsZero() && (next.IsZero() || n.Before(next)) {
			next = n
		}
	}
	for name := range s.skipped {
		if _, err := s.cfg.Store.GetDefinition(ctx, store.KindSchedule, name); errors.Is(err, store.ErrNotFound) {
			delete(s.skipped, name)
		}
	}
	return next
}

// tick decides schedule name's due slot, if it has one, and returns its
// next slot.
func (s *Scheduler) tick(ctx context.Context, name string, now time.Time) time.Time {
	log := s.cfg.Logger.With("schedule", name)
	d, err := Load(ctx, s.cfg.Store, name)
	if errors.Is(err, store.ErrNotFound) {
		return time.Time{} // deleted meanwhile
	}
	if err != nil {
		log.Warn("schedule: cannot read it", "err", err)
		return time.Time{}
	}
	if !d.Enabled {
		return time.Time{}
	}
	sched, err := d.Schedule()
	if err != nil {
		log.Warn("schedule: its cron expression does not parse", "cron", d.Cron, "err", err)
		return time.Time{}
	}
	ref, err := s.decided(ctx, name, d)
	if err != nil {
		log.Warn("schedule: cannot read its last run; trying again later", "err", err)
		return time.Time{}
	}
	due := Latest(sched, ref, now)
	if due.IsZero() {
		return sched.Next(ref)
	}
	if d.CatchUp == CatchUpSkip && now.Sub(due) > s.cfg.Late {
		s.skipped[name] = due
		log.Info("schedule: slots were missed while no master ran; skipping them (catchUp skip)",
			"since", ref, "latest", due, "late", now.Sub(due).Round(time.Second))
		return sched.Next(due)
	}
	if first := sched.Next(ref); first.Before(due) {
		log.Info("schedule: slots were missed while no master ran; running the latest once (catchUp once)",
			"since", ref, "slot", due)
	}
	s.runSlot(ctx, log, name, d, due)
	return sched.Next(due)
}

// state is a schedule's KindScheduleState record.
type state struct {
	// LastSlot is the latest slot decided: run, refused or taken.
	LastSlot time.Time `json:"lastSlot"`
}

// decided is the time after which schedule name's slots are still to be
// decided: the latest of its last put, its latest slot's job, its stored
// state (which outlives a job the retention deleted) and the slot this
// scheduler skipped last.
func (s *Scheduler) decided(ctx context.Context, name string, d *Definition) (time.Time, error) {
	ref := d.UpdatedAt
	later := func(t time.Time) {
		if t.After(ref) {
			ref = t
		}
	}
	runs, _, err := s.cfg.Store.ScheduleRuns(ctx, store.RunQuery{Schedule: name, Slots: true, Limit: 1})
	if err != nil {
		return time.Time{}, err
	}
	if len(runs) > 0 {
		later(runs[0].Slot)
	}
	body, err := s.cfg.Store.GetDefinition(ctx, store.KindScheduleState, name)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return time.Time{}, err
	default:
		var st state
		if err := json.Unmarshal(body, &st); err != nil {
			return time.Time{}, fmt.Errorf("stored state of schedule %q: %w", name, err)
		}
		later(st.LastSlot)
	}
	later(s.skipped[name])
	return ref, nil
}

// runSlot submits the job of schedule name's slot, or records why it
// could not (a failed run), and then the slot as decided. A slot that
// another master decided first is left as it is. A passing failure (the
// engine stops, the store is full or no longer leads) decides nothing:
// the slot is tried again at the next wake.
func (s *Scheduler) runSlot(ctx context.Context, log *slog.Logger, name string, d *Definition, slot time.Time) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.SubmitTimeout)
	defer cancel()
	log = log.With("slot", slot)
	run := Run{Schedule: name, Slot: slot}
	spec, err := Build(ctx, s.cfg.Store, name, d)
	var id string
	if err == nil {
		id, err = s.cfg.Submit(job.WithPathAuthority(ctx, d.PathAuthority), spec.Clone(), run)
	}
	switch {
	case err == nil:
		log.Info("schedule: slot's job submitted", "job", id)
	case errors.Is(err, store.ErrSlotTaken):
		log.Info("schedule: the slot already has its job", "err", err)
	case Passing(err):
		if ctx.Err() == nil || errors.Is(err, context.DeadlineExceeded) {
			log.Warn("schedule: cannot submit the slot's job now; trying again at the next wake", "err", err)
		}
		return
	default:
		log.Warn("schedule: the slot's job was refused; recorded as a failed run", "err", err)
		if err := s.recordFailure(ctx, name, spec, run, err); err != nil && !errors.Is(err, store.ErrSlotTaken) {
			log.Warn("schedule: cannot record the failed run; trying again at the next wake", "err", err)
			return
		}
	}
	b, _ := json.Marshal(state{LastSlot: slot})
	if err := s.cfg.Store.PutDefinition(ctx, store.KindScheduleState, name, b); err != nil {
		log.Warn("schedule: cannot store its state (the slot's job is stored)", "err", err)
	}
}

// Passing reports whether a submit failed for a reason of the moment
// rather than of the schedule: the slot is then tried again.
func Passing(err error) bool {
	return errors.Is(err, ErrUnavailable) || errors.Is(err, store.ErrNotLeader) || errors.Is(err, store.ErrClosed) ||
		store.IsFull(err) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// recordFailure stores a failed run: a failed job with no targets whose
// reason says why the slot's job could not be submitted.
func (s *Scheduler) recordFailure(ctx context.Context, name string, spec *job.Spec, run Run, cause error) error {
	now := s.cfg.Now().UTC()
	jr := &store.Job{
		ID:          job.NewID(),
		Name:        name,
		State:       store.JobFailed,
		Reason:      "the schedule could not submit the slot's job: " + cause.Error(),
		Counts:      map[string]int{},
		CreatedAt:   now,
		FinishedAt:  now,
		SubmittedBy: Submitter(name),
		Schedule:    run.Schedule,
		Slot:        run.Slot.UTC(),
		Manual:      run.Manual,
	}
	if spec != nil {
		jr.Name = spec.Name
		jr.Spec = spec.Redacted()
		jr.Spec.Targets = nil
	}
	return s.cfg.Store.CreateJob(ctx, jr, nil, job.DefaultChunkSize)
}

// Submitter is the submitter a schedule's runs are recorded with.
func Submitter(name string) string { return "schedule:" + name }

// catchUpWindows are the spans Latest looks back over, shortest first: a
// slot found in one is the latest, and scanning it costs at most its
// slots (a minute's granularity: 527,040 in a year).
var catchUpWindows = []time.Duration{time.Hour, 24 * time.Hour, 32 * 24 * time.Hour, 366 * 24 * time.Hour, 5 * 366 * 24 * time.Hour}

// Latest returns the latest slot of sched after ref and at or before now,
// or the zero time when there is none. @every schedules are computed; cron
// schedules are scanned over the shortest window back from now that holds
// a slot, never more than five years.
func Latest(sched cron.Schedule, ref, now time.Time) time.Time {
	if floor := now.Add(-catchUpWindows[len(catchUpWindows)-1]); ref.Before(floor) {
		ref = floor
	}
	if c, ok := sched.(cron.ConstantDelaySchedule); ok {
		first := c.Next(ref)
		if first.After(now) || c.Delay <= 0 {
			return time.Time{}
		}
		return first.Add(now.Sub(first) / c.Delay * c.Delay)
	}
	for _, w := range catchUpWindows {
		start := now.Add(-w)
		if start.Before(ref) {
			start = ref
		}
		t := sched.Next(start)
		if t.IsZero() || t.After(now) {
			if !start.After(ref) {
				return time.Time{} // the window reaches ref: no slot since
			}
			continue
		}
		for {
			n := sched.Next(t)
			if n.IsZero() || n.After(now) {
				return t
			}
			t = n
		}
	}
	return time.Time{}
}
