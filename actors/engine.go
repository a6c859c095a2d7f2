package actors

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/salvo-sh/salvo/commands"
	"github.com/salvo-sh/salvo/store"
)

// Engine errors.
var (
	// ErrNotAccepting is returned by Submit while the engine shuts down.
	ErrNotAccepting = errors.New("not accepting jobs: shutting down")
	// ErrJobFinished is returned by Cancel for a job already terminal.
	ErrJobFinished = errors.New("job already finished")
)

// Config configures an Engine: one master and one local worker.
type Config struct {
	// Name is this node's name; results carry it as their worker.
	Name string
	// Capacity is the local worker's capacity in concurrent requests.
	Capacity int
	// ChunkSize is the number of targets per stored chunk and lease.
	ChunkSize int
	// APIAddr is this node's API address, shown in its member entry.
	APIAddr string
	// AskTimeout bounds every engine → actor request.
	AskTimeout time.Duration
	Master     MasterConfig
	Worker     WorkerConfig
	// Metrics, when set, is shared by the master and the worker.
	Metrics *Metrics
	Logger  *slog.Logger
}

// DefaultConfig returns an engine configuration with the documented defaults.
func DefaultConfig() Config {
	return Config{
		Name:       "local",
		Capacity:   2500,
		ChunkSize:  1000,
		AskTimeout: 10 * time.Second,
		Master:     DefaultMasterConfig(),
		Worker:     DefaultWorkerConfig(),
		Logger:     slog.Default(),
	}
}

// Engine runs jobs: it validates and stores submitted jobs, and owns the
// actor system with the master and the local worker.
type Engine struct {
	cfg    Config
	st     store.Store
	system *actor.ActorSystem
	master *actor.PID
	worker *actor.PID

	mu        sync.Mutex
	accepting bool
	shutdown  bool
}

// NewEngine starts the actor system, the master and the local worker, and
// resumes every unfinished job found in the store.
func NewEngine(ctx context.Context, cfg Config, st store.Store) (*Engine, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Capacity <= 0 || cfg.ChunkSize <= 0 {
		return nil, fmt.Errorf("engine: capacity and chunk size must be positive")
	}
	logger := cfg.Logger
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return logger.With("component", "actor")
	}))
	e := &Engine{cfg: cfg, st: st, system: system, accepting: true}

	mc := cfg.Master
	mc.Store, mc.Metrics, mc.Logger = st, cfg.Metrics, logger.With("component", "master")
	master, err := system.Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor { return NewMaster(mc) }), "master")
	if err != nil {
		return nil, fmt.Errorf("engine: spawn master: %w", err)
	}
	e.master = master

	wc := cfg.Worker
	wc.Name, wc.Capacity, wc.Metrics, wc.Logger = cfg.Name, cfg.Capacity, cfg.Metrics, logger.With("component", "worker")
	worker, err := system.Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor { return NewWorker(wc, master) }), "worker")
	if err != nil {
		system.Root.Stop(master)
		return nil, fmt.Errorf("engine: spawn worker: %w", err)
	}
	e.worker = worker
	// Register the local worker before anything is asked of the engine
	// (the worker also announces itself; registration is idempotent).
	if _, err := e.ask(&RegisterWorker{Name: cfg.Name, Pid: worker, Capacity: int32(cfg.Capacity)}); err != nil {
		_ = e.Shutdown(ctx)
		return nil, fmt.Errorf("engine: register worker: %w", err)
	}

	if err := e.resume(ctx); err != nil {
		_ = e.Shutdown(ctx)
		return nil, err
	}
	return e, nil
}

// resume re-queues every job that was not terminal when the node stopped.
// Targets with a stored result do not run again.
func (e *Engine) resume(ctx context.Context) error {
	jobs, err := e.st.Unfinished(ctx)
	if err != nil {
		return fmt.Errorf("engine: list unfinished jobs: %w", err)
	}
	for _, j := range jobs {
		counts, err := e.st.CountResults(ctx, j.ID)
		if err != nil {
			return fmt.Errorf("engine: count results of %s: %w", j.ID, err)
		}
		j.Counts = counts
		if hasRedacted(j.Spec) {
			// Its secrets were never stored: it cannot run again as it was.
			j.State, j.Reason, j.FinishedAt = store.JobFailed, "restarted: the job's secrets are not stored; submit it again", time.Now().UTC()
			if err := e.st.UpdateJob(ctx, j); err != nil {
				return fmt.Errorf("engine: fail job %s: %w", j.ID, err)
			}
			continue
		}
		e.cfg.Logger.Info("resuming job", "job", j.ID, "state", j.State, "stored", sum(counts), "total", j.Total)
		if _, err := e.ask(&enqueueJob{job: j, spec: j.Spec}); err != nil {
			return fmt.Errorf("engine: resume %s: %w", j.ID, err)
		}
	}
	return nil
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// hasRedacted reports whether a stored spec lost secrets to redaction.
func hasRedacted(s *commands.Spec) bool {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // keep "<redacted>" as it is
	return enc.Encode(s) == nil && strings.Contains(b.String(), commands.Redacted)
}

func (e *Engine) ask(msg any) (any, error) {
	return e.system.Root.RequestFuture(e.master, msg, e.cfg.AskTimeout).Result()
}

// Capacity is the local worker's capacity.
func (e *Engine) Capacity() int { return e.cfg.Capacity }

// Name is this node's name.
func (e *Engine) Name() string { return e.cfg.Name }

// Accepting reports whether the engine takes new jobs.
func (e *Engine) Accepting() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.accepting
}

// Submit resolves, validates and stores a job, and queues it. Validation
// errors are *commands.FieldError.
func (e *Engine) Submit(ctx context.Context, spec *commands.Spec) (*JobStatus, error) {
	if !e.Accepting() {
		return nil, ErrNotAccepting
	}
	if err := e.resolve(ctx, spec); err != nil {
		return nil, err
	}
	if err := spec.Normalize(e.cfg.Capacity); err != nil {
		return nil, err
	}
	targets := spec.Targets
	spec.Targets = nil
	return e.create(ctx, spec, len(targets), func(job *store.Job) error {
		return e.st.CreateJob(ctx, job, targets, e.cfg.ChunkSize)
	})
}

// create stores a normalized job (its targets written by put) and queues it.
func (e *Engine) create(ctx context.Context, spec *commands.Spec, total int, put func(*store.Job) error) (*JobStatus, error) {
	stored := spec.Redacted()
	stored.Targets = nil
	job := &store.Job{
		ID:        newJobID(),
		Name:      spec.Name,
		Spec:      stored,
		State:     store.JobWaiting,
		Total:     total,
		Counts:    map[string]int{},
		CreatedAt: time.Now().UTC(),
	}
	if err := put(job); err != nil {
		var fe *commands.FieldError
		if errors.As(err, &fe) {
			return nil, fe
		}
		return nil, fmt.Errorf("store job: %w", err)
	}
	// The master reads targets from the store, a chunk at a time.
	res, err := e.ask(&enqueueJob{job: job, spec: spec})
	if err != nil {
		return nil, fmt.Errorf("queue job %s: %w", job.ID, err)
	}
	st, _ := res.(*JobStatus)
	if st == nil {
		return StatusFromJob(job), nil
	}
	return st, nil
}

// resolve replaces a node group and a named aggregation by their stored
// definitions.
func (e *Engine) resolve(ctx context.Context, spec *commands.Spec) error {
	if spec.NodeGroup != "" && len(spec.Targets) == 0 {
		body, err := e.st.GetDefinition(ctx, store.KindNodeGroup, spec.NodeGroup)
		if errors.Is(err, store.ErrNotFound) {
			return &commands.FieldError{Field: "nodeGroup", Msg: fmt.Sprintf("unknown node group %q", spec.NodeGroup)}
		}
		if err != nil {
			return fmt.Errorf("read node group %q: %w", spec.NodeGroup, err)
		}
		var ng struct {
			Hosts []string `json:"hosts"`
		}
		if err := json.Unmarshal(body, &ng); err != nil {
			return fmt.Errorf("node group %q: %w", spec.NodeGroup, err)
		}
		for _, h := range ng.Hosts {
			spec.Targets = append(spec.Targets, commands.TargetSpec{Host: h})
		}
		if spec.Origin == nil {
			spec.Origin = &commands.Origin{}
		}
		spec.Origin.NodeGroup = spec.NodeGroup
		if len(spec.Targets) == 0 {
			return &commands.FieldError{Field: "nodeGroup", Msg: fmt.Sprintf("node group %q has no hosts", spec.NodeGroup)}
		}
		spec.NodeGroup = ""
	}
	if a := spec.Aggregation; a != nil && a.Name != "" && a.Regex == "" {
		body, err := e.st.GetDefinition(ctx, store.KindAggregation, a.Name)
		if errors.Is(err, store.ErrNotFound) {
			return &commands.FieldError{Field: "aggregation.name", Msg: fmt.Sprintf("unknown aggregation %q", a.Name)}
		}
		if err != nil {
			return fmt.Errorf("read aggregation %q: %w", a.Name, err)
		}
		var ag commands.Aggregation
		if err := json.Unmarshal(body, &ag); err != nil {
			return fmt.Errorf("aggregation %q: %w", a.Name, err)
		}
		a.Regex = ag.Regex
	}
	return nil
}

// newJobID returns a time-ordered, unique job id.
func newJobID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return time.Now().UTC().Format("20060102-150405.000") + "-" + hex.EncodeToString(b[:])
}

// Status returns a job's live status, or its stored one when it is not
// running. It returns store.ErrNotFound for an unknown job.
func (e *Engine) Status(ctx context.Context, id string) (*JobStatus, error) {
	res, err := e.ask(&statusQuery{id: id})
	if err != nil {
		return nil, fmt.Errorf("ask master: %w", err)
	}
	if st, _ := res.(*JobStatus); st != nil {
		return st, nil
	}
	j, err := e.st.GetJob(ctx, id)
	if err != nil {
		return nil, err
	}
	return StatusFromJob(j), nil
}

// Cancel stops a job: when it returns, no new request of the job starts.
// In-flight requests finish within their timeouts; every target without a
// result is then stored as cancelled.
func (e *Engine) Cancel(ctx context.Context, id string) (*JobStatus, error) {
	res, err := e.ask(&cancelJob{id: id})
	if err != nil {
		return nil, fmt.Errorf("ask master: %w", err)
	}
	reply := res.(*cancelReply)
	if !reply.found {
		j, err := e.st.GetJob(ctx, id)
		if err != nil {
			return nil, err
		}
		return StatusFromJob(j), ErrJobFinished
	}
	for _, w := range reply.workers {
		if _, err := e.system.Root.RequestFuture(w, &JobCancel{JobId: id}, e.cfg.AskTimeout).Result(); err != nil {
			return nil, fmt.Errorf("cancel on worker %s: %w", w.Id, err)
		}
	}
	return reply.status, nil
}

// Member is a worker as the master sees it.
type Member struct {
	Name        string   `json:"name"`
	Roles       []string `json:"roles"`
	GossipAddr  string   `json:"gossipAddr"`
	RemoteAddr  string   `json:"remoteAddr"`
	APIAddr     string   `json:"apiAddr"`
	State       string   `json:"state"`
	Enabled     bool     `json:"enabled"`
	Capacity    int      `json:"capacity"`
	Reserved    int      `json:"reserved"`
	RunningJobs int      `json:"runningJobs"`
	InFlight    int      `json:"inFlight"`
	Tags        []string `json:"tags"`
}

// Members lists the workers known to the master.
func (e *Engine) Members(ctx context.Context) ([]Member, error) {
	res, err := e.ask(&membersQuery{})
	if err != nil {
		return nil, fmt.Errorf("ask master: %w", err)
	}
	return e.decorate(res.(*memberList).members), nil
}

// decorate adds what this node knows of itself to its own member entry.
func (e *Engine) decorate(ms []Member) []Member {
	for i := range ms {
		if ms[i].Name == e.cfg.Name {
			ms[i].Roles = []string{"master", "worker"}
			ms[i].APIAddr = e.cfg.APIAddr
		}
		if ms[i].Tags == nil {
			ms[i].Tags = []string{}
		}
	}
	return ms
}

// SetEnabled enables or disables (drains) a worker: a disabled worker gets
// no new job; jobs running on it finish. It returns store.ErrNotFound for
// an unknown worker.
func (e *Engine) SetEnabled(ctx context.Context, worker string, enabled bool) ([]Member, error) {
	res, err := e.ask(&setEnabled{worker: worker, enabled: enabled})
	if err != nil {
		return nil, fmt.Errorf("ask master: %w", err)
	}
	ms := res.(*memberList).members
	if ms == nil {
		return nil, fmt.Errorf("worker %q: %w", worker, store.ErrNotFound)
	}
	return e.decorate(ms), nil
}

// ResetQueue cancels every waiting job (REST Commander's resetScheduler);
// running jobs go on. It returns the ids of the cancelled jobs.
func (e *Engine) ResetQueue(ctx context.Context) ([]string, error) {
	res, err := e.ask(&resetQueue{})
	if err != nil {
		return nil, fmt.Errorf("ask master: %w", err)
	}
	return res.(*resetQueue).cancelled, nil
}

// Shutdown stops taking jobs, lets in-flight requests finish and their
// results reach the store, and stops the actors. Targets not yet run stay
// without a result and run when the node starts again. It is idempotent.
func (e *Engine) Shutdown(ctx context.Context) error {
	e.mu.Lock()
	if e.shutdown {
		e.mu.Unlock()
		return nil
	}
	e.shutdown, e.accepting = true, false
	e.mu.Unlock()

	var err error
	if _, ferr := e.ask(&stopScheduling{}); ferr != nil {
		err = fmt.Errorf("stop scheduling: %w", ferr)
	}
	if e.worker != nil {
		res, ferr := e.system.Root.RequestFuture(e.worker, &drainWorker{}, e.cfg.AskTimeout).Result()
		if ferr != nil {
			err = fmt.Errorf("drain worker: %w", ferr)
		} else if d, ok := res.(*drained); ok {
			for _, done := range d.done {
				select {
				case <-done:
				case <-ctx.Done():
					err = fmt.Errorf("drain worker: %w", context.Cause(ctx))
				}
			}
		}
		_ = e.system.Root.PoisonFuture(e.worker).Wait()
	}
	if e.master != nil {
		_ = e.system.Root.PoisonFuture(e.master).Wait()
	}
	e.system.Shutdown()
	return err
}
