package scaling

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/salvo-sh/salvo/actors"
	"github.com/salvo-sh/salvo/auth"
	"github.com/salvo-sh/salvo/conf"
	"github.com/salvo-sh/salvo/store"
)

// Cluster is what the scaler reads and drains: the master's engine
// (*actors.Engine). SetEnabled is the drain of
// POST /api/v1/cluster/members/NAME/disable.
type Cluster interface {
	Load(ctx context.Context) (*actors.Load, error)
	SetEnabled(ctx context.Context, worker string, enabled bool) ([]actors.Member, error)
}

// AuditLog keeps the scaler's audit entries: the node's store, through
// the Raft log in a group.
type AuditLog interface {
	PutAudit(ctx context.Context, e auth.Entry) error
}

// Actor is the audit entries' actor.
const Actor = "scaler"

// Config configures a Scaler.
type Config struct {
	// Policies are the tags' policies (the config file's scaling).
	Policies map[string]conf.ScalingPolicy
	// Interval is how often the load is read; 0 means Interval(Policies).
	Interval time.Duration
	// BackoffMin and BackoffMax bound the wait after a failed call of a
	// tag's hook: it starts at BackoffMin and doubles with each failure in
	// a row of the same direction.
	BackoffMin, BackoffMax time.Duration
	// AskTimeout bounds each read of the load, drain and enable.
	AskTimeout time.Duration
	// Audit, when set, stores an entry per step (actor "scaler").
	Audit  AuditLog
	Logger *slog.Logger
	// Now is the rules' clock.
	Now func() time.Time
	// Run calls a hook; nil means RunHook.
	Run func(ctx context.Context, h conf.ScalingHook, doc *Document) (string, error)
}

// DefaultConfig returns the scaler's defaults for policies.
func DefaultConfig(policies map[string]conf.ScalingPolicy) Config {
	return Config{
		Policies:   policies,
		Interval:   Interval(policies),
		BackoffMin: 10 * time.Second,
		BackoffMax: 10 * time.Minute,
		AskTimeout: 10 * time.Second,
		Logger:     slog.Default(),
		Now:        time.Now,
		Run:        RunHook,
	}
}

// Scaler applies the policies to the master's load: one decision loop,
// and at most one call of a tag's hooks at a time (docs/scaling.md).
type Scaler struct {
	cfg    Config
	cl     Cluster
	cancel context.CancelFunc
	wg     sync.WaitGroup // the loop and the calls under way

	mu      sync.Mutex
	tags    map[string]*tagState
	order   []string
	loadErr bool // the last read of the load failed (logged once)
}

// tagState is what the scaler remembers of a tag.
type tagState struct {
	policy conf.ScalingPolicy
	// busy is set while a call for the tag is under way: none other
	// starts.
	busy bool
	// lastUp is when a worker was last asked for; lastWaiting when jobs
	// were last seen waiting (the scaler's start at first).
	lastUp, lastWaiting time.Time
	// failures counts the failed calls in a row per direction; retryAt
	// is the end of their backoff.
	failures map[string]int
	retryAt  map[string]time.Time
}

// decision is one call the rules chose.
type decision struct {
	tag, dir, reason string
	policy           conf.ScalingPolicy
	load             actors.TagLoad
	worker           *actors.LoadWorker // down
}

// New returns a scaler of cl that is not started (Start starts one).
func New(cl Cluster, cfg Config) *Scaler {
	def := DefaultConfig(cfg.Policies)
	if cfg.Interval <= 0 {
		cfg.Interval = def.Interval
	}
	if cfg.BackoffMin <= 0 {
		cfg.BackoffMin = def.BackoffMin
	}
	if cfg.BackoffMax < cfg.BackoffMin {
		cfg.BackoffMax = max(def.BackoffMax, cfg.BackoffMin)
	}
	if cfg.AskTimeout <= 0 {
		cfg.AskTimeout = def.AskTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = def.Logger
	}
	if cfg.Now == nil {
		cfg.Now = def.Now
	}
	if cfg.Run == nil {
		cfg.Run = def.Run
	}
	s := &Scaler{cfg: cfg, cl: cl, tags: map[string]*tagState{}}
	now := cfg.Now()
	for tag, p := range cfg.Policies {
		s.tags[tag] = &tagState{policy: p.WithDefaults(), lastWaiting: now, failures: map[string]int{}, retryAt: map[string]time.Time{}}
		s.order = append(s.order, tag)
	}
	sort.Strings(s.order)
	return s
}

// Start starts a scaler of cl: nil (which Stop accepts) without policies.
func Start(cl Cluster, cfg Config) *Scaler {
	if len(cfg.Policies) == 0 {
		return nil
	}
	s := New(cl, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.wg.Add(1)
	go s.run(ctx)
	s.cfg.Logger.Info("scaling: started", "tags", s.order, "interval", s.cfg.Interval)
	return s
}

// Stop ends the loop, kills the hooks under way and waits for them. A
// worker being drained is enabled again. It accepts nil.
func (s *Scaler) Stop() {
	if s == nil {
		return
	}
	if s.cancel != nil {
		s.cancel()
	}
	s.wg.Wait()
}

func (s *Scaler) run(ctx context.Context) {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.step(ctx)
		}
	}
}

// step reads the load once and starts the calls the rules choose.
func (s *Scaler) step(ctx context.Context) {
	l, err := s.readLoad(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		if !s.loadErr && ctx.Err() == nil {
			s.cfg.Logger.Warn("scaling: cannot read the master's load; trying again", "every", s.cfg.Interval, "err", err)
		}
		s.loadErr = true
		return
	}
	s.loadErr = false
	now := s.cfg.Now()
	for _, tag := range s.order {
		st := s.tags[tag]
		if l.Tag(tag).Waiting > 0 {
			st.lastWaiting = now // also while a call is under way
		}
		if st.busy {
			continue
		}
		d := st.decide(now, tag, l)
		if d == nil {
			continue
		}
		st.busy = true
		s.wg.Add(1)
		go s.carry(ctx, st, d)
	}
}

func (s *Scaler) readLoad(ctx context.Context) (*actors.Load, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.AskTimeout)
	defer cancel()
	return s.cl.Load(ctx)
}

// decide applies a tag's rules to the load (docs/scaling.md): up when its
// oldest waiting job has waited whenWaitingFor, past the cooldown of the
// last up, below maxWorkers; down, while no job of the tag waits and none
// has for whenIdleFor, when an enabled worker of the tag that is no
// master has run no job for whenIdleFor and more than minWorkers are
// enabled: the most idle one. A direction whose last call failed waits
// its backoff. It returns nil when nothing is to be done.
func (st *tagState) decide(now time.Time, tag string, l *actors.Load) *decision {
	tl := l.Tag(tag)
	if tl.Waiting > 0 {
		st.lastWaiting = now
		up := st.policy.Up
		waited := seconds(tl.OldestWaitingSeconds)
		switch {
		case up == nil || waited < up.WhenWaitingFor:
		case !st.lastUp.IsZero() && now.Sub(st.lastUp) < up.Cooldown:
		case up.MaxWorkers > 0 && tl.Workers >= up.MaxWorkers:
		case now.Before(st.retryAt[DirectionUp]):
		default:
			return &decision{tag: tag, dir: DirectionUp, policy: st.policy, load: tl,
				reason: fmt.Sprintf("%d jobs wait, the oldest for %s (whenWaitingFor %s)", tl.Waiting, waited.Round(time.Second), up.WhenWaitingFor)}
		}
		return nil
	}
	down := st.policy.Down
	if down == nil || now.Sub(st.lastWaiting) < down.WhenIdleFor || tl.Enabled <= *down.MinWorkers ||
		now.Before(st.retryAt[DirectionDown]) {
		return nil
	}
	var pick *actors.LoadWorker
	for i := range l.Workers {
		w := &l.Workers[i]
		if !w.HasTag(tag) || !w.Enabled || w.Master || !w.Idle() || seconds(w.IdleSeconds) < down.WhenIdleFor {
			continue
		}
		if pick == nil || w.IdleSeconds > pick.IdleSeconds {
			pick = w // Workers are by name: ties go to the first
		}
	}
	if pick == nil {
		return nil
	}
	w := *pick
	return &decision{tag: tag, dir: DirectionDown, policy: st.policy, load: tl, worker: &w,
		reason: fmt.Sprintf("%s has run no job for %s and nothing waits (whenIdleFor %s, %d enabled, minWorkers %d)",
			w.Name, seconds(w.IdleSeconds).Round(time.Second), down.WhenIdleFor, tl.Enabled, *down.MinWorkers)}
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// carry makes one decision's calls, then records its outcome in the
// tag's state: the cooldown of an up, or the backoff of a failure.
func (s *Scaler) carry(ctx context.Context, st *tagState, d *decision) {
	defer s.wg.Done()
	var err error
	if d.dir == DirectionUp {
		err = s.scaleUp(ctx, d)
	} else {
		err = s.scaleDown(ctx, d)
	}
	now := s.cfg.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	st.busy = false
	switch {
	case err == nil:
		st.failures[d.dir], st.retryAt[d.dir] = 0, time.Time{}
		if d.dir == DirectionUp {
			st.lastUp = now
		}
	case ctx.Err() == nil:
		st.failures[d.dir]++
		st.retryAt[d.dir] = now.Add(s.backoff(st.failures[d.dir]))
	}
}

// backoff is the wait after n failed calls in a row.
func (s *Scaler) backoff(n int) time.Duration {
	b := s.cfg.BackoffMin
	for i := 1; i < n && b < s.cfg.BackoffMax; i++ {
		b *= 2
	}
	return min(b, s.cfg.BackoffMax)
}

func (s *Scaler) scaleUp(ctx context.Context, d *decision) error {
	doc := s.document(d, +1)
	start := time.Now()
	out, err := s.cfg.Run(ctx, d.policy.Up.Hook, doc)
	s.decided(d, doc, &d.policy.Up.Hook, time.Since(start), out, err)
	return err
}

// scaleDown drains the decision's worker (as POST …/disable does), waits
// until it holds no job, calls the hook to stop it, then waits for it to
// leave and enables its name again, so that a worker started later under
// the same name takes jobs. A drain that outlasts drainTimeout, or a
// failed hook, enables the worker again.
func (s *Scaler) scaleDown(ctx context.Context, d *decision) error {
	name, down := d.worker.Name, d.policy.Down
	if err := s.setEnabled(ctx, name, false); err != nil {
		err = fmt.Errorf("drain %s: %w", name, err)
		s.decided(d, s.document(d, -1), &down.Hook, 0, "", err)
		return err
	}
	s.audit(d.tag, "drain", name, nil)
	s.cfg.Logger.Info("scaling: draining a worker before its stop", "tag", d.tag, "worker", name,
		"idleSeconds", d.worker.IdleSeconds, "drainTimeout", down.DrainTimeout)
	lw, err := s.waitWorker(ctx, name, down.DrainTimeout, func(w *actors.LoadWorker) bool { return w == nil || w.Idle() })
	if err != nil {
		err = fmt.Errorf("the drained worker %s still runs a job after %s: %w", name, down.DrainTimeout, err)
		s.decided(d, s.document(d, -1), &down.Hook, 0, "", err)
		s.enable(ctx, d.tag, name, "its drain did not end")
		return err
	}
	doc := s.document(d, -1)
	doc.WorkerLoad = lw
	start := time.Now()
	out, err := s.cfg.Run(ctx, down.Hook, doc)
	s.decided(d, doc, &down.Hook, time.Since(start), out, err)
	if err != nil {
		s.enable(ctx, d.tag, name, "its stop failed")
		return err
	}
	if _, err := s.waitWorker(ctx, name, down.DrainTimeout, func(w *actors.LoadWorker) bool { return w == nil }); err != nil {
		s.cfg.Logger.Warn("scaling: the worker is still registered after its hook stopped it; it stays disabled",
			"tag", d.tag, "worker", name, "waited", down.DrainTimeout, "err", err)
		return nil
	}
	s.enable(ctx, d.tag, name, "it has left: a worker of that name may come again")
	return nil
}

// document builds a decision's document for a change of +1 or -1.
func (s *Scaler) document(d *decision, change int) *Document {
	doc := &Document{Tag: d.tag, Direction: d.dir, Change: change, Current: d.load.Workers,
		Desired: max(0, d.load.Workers+change), Reason: d.reason, Load: d.load, Time: s.cfg.Now().UTC()}
	if d.worker != nil {
		doc.Worker = d.worker.Name
	}
	return doc
}

// waitWorker reads the load every Interval until done holds for the
// worker (nil once it is not registered), for at most timeout. It
// returns the worker's last figures (nil when it is gone).
func (s *Scaler) waitWorker(ctx context.Context, name string, timeout time.Duration, done func(*actors.LoadWorker) bool) (*actors.LoadWorker, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	for {
		if l, err := s.readLoad(ctx); err == nil {
			var w *actors.LoadWorker
			if lw, ok := l.Worker(name); ok {
				w = &lw
			}
			if done(w) {
				return w, nil
			}
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

func (s *Scaler) setEnabled(ctx context.Context, name string, enabled bool) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.AskTimeout)
	defer cancel()
	_, err := s.cl.SetEnabled(ctx, name, enabled)
	return err
}

// enable enables a worker the scaler drained, even while the scaler
// stops; why is logged.
func (s *Scaler) enable(ctx context.Context, tag, name, why string) {
	err := s.setEnabled(context.WithoutCancel(ctx), name, true)
	if err != nil {
		s.cfg.Logger.Warn("scaling: cannot enable a drained worker again", "tag", tag, "worker", name, "why", why, "err", err)
	} else {
		s.cfg.Logger.Info("scaling: a drained worker is enabled again", "tag", tag, "worker", name, "why", why)
	}
	s.audit(tag, "enable", name, err)
}

// decided logs a decision's outcome in one line and audits it.
func (s *Scaler) decided(d *decision, doc *Document, h *conf.ScalingHook, took time.Duration, out string, err error) {
	l := d.load
	attrs := []any{"tag", d.tag, "direction", d.dir, "change", doc.Change, "current", doc.Current, "desired", doc.Desired}
	target := d.tag
	if doc.Worker != "" {
		attrs, target = append(attrs, "worker", doc.Worker), doc.Worker
	}
	attrs = append(attrs, "waiting", l.Waiting, "oldestWaitingSeconds", l.OldestWaitingSeconds, "workers", l.Workers,
		"enabled", l.Enabled, "capacity", l.Capacity, "reserved", l.Reserved, "free", l.Free, "inFlight", l.InFlight,
		"reason", d.reason, "hook", hookKind(h), "took", took.Round(time.Millisecond))
	if err != nil {
		s.cfg.Logger.Warn("scaling decision", append(attrs, "outcome", "failed", "err", err, "output", out)...)
	} else {
		s.cfg.Logger.Info("scaling decision", append(attrs, "outcome", "done")...)
		if out != "" {
			s.cfg.Logger.Debug("scaling: hook output", "tag", d.tag, "direction", d.dir, "output", out)
		}
	}
	s.audit(d.tag, d.dir, target, err)
}

// audit stores one step's entry; a store that cannot take it is logged.
func (s *Scaler) audit(tag, step, target string, err error) {
	if s.cfg.Audit == nil {
		return
	}
	e := auth.Entry{Time: s.cfg.Now().UTC(), Actor: Actor, Method: "SCALE", Route: "/scaling/" + tag + "/" + step,
		Target: target, Status: 200, Outcome: "done"}
	if err != nil {
		e.Status, e.Outcome = 500, "failed: "+err.Error()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	switch err := s.cfg.Audit.PutAudit(ctx, e); {
	case errors.Is(err, store.ErrNotLeader):
		s.cfg.Logger.Info("scaling: audit entry kept in this node's log only: not the raft leader", "route", e.Route)
	case err != nil:
		s.cfg.Logger.Error("scaling: cannot store an audit entry", "route", e.Route, "err", err)
	}
}
