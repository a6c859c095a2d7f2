package actors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/salvo-sh/salvo/job"
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
	// MaxTargets is the most targets a job may have once its nodesets
	// are expanded (job.TargetExpander); 0 means job.DefaultMaxTargets.
	MaxTargets int
	// APIAddr is this node's API address, shown in its member entry.
	APIAddr string
	// Credentials, when set, reads the SSH credential a job names
	// (ssh.credential): store.ErrNotFound for an unknown one.
	Credentials func(ctx context.Context, name string) (*job.Credential, error)
	// KeyDir is where a job that is not an admin's may name SSH key and
	// known_hosts files itself (job.CheckPaths).
	KeyDir string
	// Policy, when set, refuses submitted targets outside the target
	// policy (a 400 naming the target and the rule). Workers check the
	// addresses they dial with their own (commands.HTTPConfig.Policy).
	Policy *job.Policy
	// Tags are the local worker's tags.
	Tags []string
	// Membership is the cluster's view of its nodes; nil on a single node.
	Membership Membership
	// NoLocalWorker leaves out the local worker (a master-only node).
	NoLocalWorker bool
	// System is the actor system to run on (one with remote started, for a
	// cluster); nil starts a local one that Shutdown stops.
	System *actor.ActorSystem
	// AskTimeout bounds every engine → actor request.
	AskTimeout time.Duration
	Master     MasterConfig
	Worker     WorkerConfig
	// Metrics, when set, is shared by the master and the worker.
	Metrics *Metrics
	Logger  *slog.Logger
	// OnCrash, when set, is told when the master or the local worker
	// panics; the actor has been stopped (see supervise.go). The node
	// should shut down and exit non-zero.
	OnCrash func(*Crash)
}

// DefaultConfig returns an engine configuration with the documented defaults.
func DefaultConfig() Config {
	return Config{
		Name:       "local",
		Capacity:   job.DefaultCapacity,
		ChunkSize:  job.DefaultChunkSize,
		MaxTargets: job.DefaultMaxTargets,
		AskTimeout: 10 * time.Second,
		Master:     DefaultMasterConfig(),
		Worker:     DefaultWorkerConfig(),
		Logger:     slog.Default(),
	}
}

// Engine runs jobs: it validates and stores submitted jobs, and owns the
// actor system with the master and the local worker.
type Engine struct {
	cfg       Config
	st        store.Store
	system    *actor.ActorSystem
	ownSystem bool
	master    *actor.PID
	worker    *WorkerHost

	ends   *JobEnds
	health *StoreHealth

	mu        sync.Mutex
	accepting bool
	shutdown  bool
	crashed   map[string]bool // actors that panicked and were stopped
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
	if cfg.MaxTargets <= 0 {
		cfg.MaxTargets = job.DefaultMaxTargets
	}
	logger := cfg.Logger
	system, ownSystem := cfg.System, false
	if system == nil {
		system, ownSystem = NewSystem(logger), true
	}
	e := &Engine{cfg: cfg, st: st, system: system, ownSystem: ownSystem, accepting: true, ends: NewJobEnds(),
		health: &StoreHealth{}}

	mc := cfg.Master
	mc.Store, mc.Metrics, mc.Logger, mc.Ends = st, cfg.Metrics, logger.With("component", "master"), e.ends
	mc.Crashed, mc.Health = e.crash, e.health
	if cfg.Membership == nil {
		// A single node: no worker outlives the master, none holds results.
		mc.ResumeGrace = 0
	}
	master, err := system.Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor { return NewMaster(mc) }), MasterName)
	if err != nil {
		return nil, fmt.Errorf("engine: spawn master: %w", err)
	}
	e.master = master

	if !cfg.NoLocalWorker {
		wc := cfg.Worker
		wc.Name, wc.Capacity, wc.Metrics, wc.Logger = cfg.Name, cfg.Capacity, cfg.Metrics, logger.With("component", "worker")
		wc.Crashed = e.crash
		if wc.Tags == nil {
			wc.Tags = cfg.Tags
		}
		wh, err := StartWorker(system, wc, master)
		if err != nil {
			system.Root.Stop(master)
			return nil, fmt.Errorf("engine: %w", err)
		}
		e.worker = wh
		// Register the local worker before anything is asked of the engine
		// (the worker also announces itself; registration is idempotent).
		if _, err := e.ask(ctx, &RegisterWorker{Name: cfg.Name, Pid: wh.PID(), Capacity: int32(cfg.Capacity), Tags: wc.Tags}); err != nil {
			_ = e.Shutdown(ctx)
			return nil, fmt.Errorf("engine: register worker: %w", err)
		}
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
		if j.SecretsRedacted {
			// Its secrets were never stored: it cannot run again as it was.
			j.State, j.Reason, j.FinishedAt = store.JobFailed, "restarted: the job's secrets are not stored; submit it again", time.Now().UTC()
			if err := e.st.UpdateJob(ctx, j); err != nil {
				return fmt.Errorf("engine: fail job %s: %w", j.ID, err)
			}
			continue
		}
		spec := j.Spec
		if spec != nil && spec.SSH != nil && spec.SSH.Credential != "" {
			spec = spec.Clone()
			if err := e.credential(ctx, spec.SSH); err != nil {
				j.State, j.Reason, j.FinishedAt = store.JobFailed, "restarted: "+err.Error(), time.Now().UTC()
				if err := e.st.UpdateJob(ctx, j); err != nil {
					return fmt.Errorf("engine: fail job %s: %w", j.ID, err)
				}
				continue
			}
		}
		chunks, err := e.st.ChunkCount(ctx, j.ID)
		if err != nil {
			return fmt.Errorf("engine: count chunks of %s: %w", j.ID, err)
		}
		var rr *rolloutResume
		if spec != nil && spec.Rollout != nil {
			if rr, err = e.resumeRollout(ctx, j, spec.Rollout, sum(counts)); err != nil {
				return fmt.Errorf("engine: %w", err)
			}
		}
		e.cfg.Logger.Info("resuming job", "job", j.ID, "state", j.State, "stored", sum(counts), "total", j.Total)
		if _, err := e.ask(ctx, &enqueueJob{job: j, spec: spec, chunks: chunks, rollout: rr}); err != nil {
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

// ask sends msg to the master and waits for its answer, at most the
// engine's AskTimeout and never past ctx's deadline.
func (e *Engine) ask(ctx context.Context, msg any) (any, error) {
	return e.askPID(ctx, e.master, msg)
}

// askPID is ask for any actor.
func (e *Engine) askPID(ctx context.Context, pid *actor.PID, msg any) (any, error) {
	if err := ctx.Err(); err != nil {
		return nil, context.Cause(ctx)
	}
	timeout := e.cfg.AskTimeout
	if d, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(d))
	}
	if timeout <= 0 {
		return nil, context.DeadlineExceeded
	}
	res, err := e.system.Root.RequestFuture(pid, msg, timeout).Result()
	if err != nil {
		return nil, err
	}
	if dl, ok := res.(*actor.DeadLetterResponse); ok {
		return nil, fmt.Errorf("actor %s is not running", dl.Target.GetId())
	}
	return res, nil
}

// crash records that an actor panicked and was stopped, and tells OnCrash.
func (e *Engine) crash(c *Crash) {
	e.mu.Lock()
	if e.crashed == nil {
		e.crashed = map[string]bool{}
	}
	e.crashed[c.Actor] = true
	e.accepting = false
	e.mu.Unlock()
	if e.cfg.OnCrash != nil {
		e.cfg.OnCrash(c)
	}
}

// isCrashed reports whether the named actor panicked.
func (e *Engine) isCrashed(name string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.crashed[name]
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

// Ready returns nil when the engine takes jobs, else why not: it shuts
// down (ErrNotAccepting), or the store's disk is full (an error wrapping
// store.ErrFull).
func (e *Engine) Ready() error {
	if !e.Accepting() {
		return ErrNotAccepting
	}
	return e.health.Err()
}

// Submit resolves, validates and stores a job, and queues it. Validation
// errors are *job.FieldError; while the store's disk is full the error
// wraps store.ErrFull.
func (e *Engine) Submit(ctx context.Context, spec *job.Spec) (*JobStatus, error) {
	if err := e.Ready(); err != nil {
		return nil, err
	}
	if err := e.resolve(ctx, spec); err != nil {
		return nil, err
	}
	if err := spec.NormalizeFor(e.cfg.Capacity, e.cfg.MaxTargets, e.cfg.Policy); err != nil {
		return nil, err
	}
	targets := spec.Targets
	spec.Targets = nil
	return e.create(ctx, spec, len(targets), "", func(jr *store.Job) error {
		return e.st.CreateJob(ctx, jr, targets, e.cfg.ChunkSize)
	})
}

// create stores a normalized job (its targets written by put), submitted
// by the token WithSubmitter named in ctx and rerunning job rerunOf (""
// for none), and queues it.
func (e *Engine) create(ctx context.Context, spec *job.Spec, total int, rerunOf string, put func(*store.Job) error) (*JobStatus, error) {
	src := spec
	if spec.SSH != nil && spec.SSH.Credential != "" {
		// The store keeps the credential's name, read again at a resume,
		// not what it gave.
		src = spec.Clone()
		src.SSH.Auth, src.SSH.KnownHostsFile, src.SSH.ConfigFile = job.SSHAuth{}, "", ""
	}
	stored, redacted := src.RedactSecrets()
	stored.Targets = nil
	jr := &store.Job{
		ID:              job.NewID(),
		Name:            spec.Name,
		Spec:            stored,
		SecretsRedacted: redacted,
		State:           store.JobWaiting,
		Total:           total,
		Counts:          map[string]int{},
		CreatedAt:       time.Now().UTC(),
		SubmittedBy:     submitterOf(ctx),
		RerunOf:         rerunOf,
	}
	if run, ok := scheduleRunOf(ctx); ok {
		// The store keeps milliseconds: the live status says the same.
		jr.Schedule, jr.Slot, jr.Manual = run.Schedule, run.Slot.UTC().Truncate(time.Millisecond), run.Manual
	}
	if err := put(jr); err != nil {
		var fe *job.FieldError
		if errors.As(err, &fe) {
			return nil, fe
		}
		if store.IsFull(err) && !errors.Is(err, store.ErrFull) {
			return nil, fmt.Errorf("store job: %w: %w", store.ErrFull, err)
		}
		return nil, fmt.Errorf("store job: %w", err)
	}
	// The master reads targets from the store, a chunk at a time.
	chunks, err := e.st.ChunkCount(ctx, jr.ID)
	if err != nil {
		return nil, fmt.Errorf("count chunks of job %s: %w", jr.ID, err)
	}
	res, err := e.ask(ctx, &enqueueJob{job: jr, spec: spec, chunks: chunks})
	if err != nil {
		return nil, fmt.Errorf("queue job %s: %w", jr.ID, err)
	}
	st, _ := res.(*JobStatus)
	if st == nil {
		st = StatusFromJob(jr)
	}
	st.Warnings = append(st.Warnings, spec.Warnings()...)
	return st, nil
}

// resolve replaces a node group and a named aggregation by their stored
// definitions.
// credential fills an SSH spec from the credential it names.
func (e *Engine) credential(ctx context.Context, s *job.SSHSpec) error {
	if e.cfg.Credentials == nil {
		return &job.FieldError{Field: "ssh.credential", Msg: "this node keeps no credentials"}
	}
	c, err := e.cfg.Credentials(ctx, s.Credential)
	if errors.Is(err, store.ErrNotFound) {
		return &job.FieldError{Field: "ssh.credential", Msg: fmt.Sprintf("unknown credential %q", s.Credential)}
	}
	if err != nil {
		return fmt.Errorf("read credential %q: %w", s.Credential, err)
	}
	return c.Apply(s)
}

func (e *Engine) resolve(ctx context.Context, spec *job.Spec) error {
	if spec.SSH != nil {
		// The paths a spec names on its own first: a credential's are
		// an admin's choice.
		if err := job.CheckPaths(ctx, spec.SSH, e.cfg.KeyDir); err != nil {
			return err
		}
		if spec.SSH.Credential != "" {
			if err := e.credential(ctx, spec.SSH); err != nil {
				return err
			}
		}
	}
	if spec.NodeGroup != "" && len(spec.Targets) == 0 {
		body, err := e.st.GetDefinition(ctx, store.KindNodeGroup, spec.NodeGroup)
		if errors.Is(err, store.ErrNotFound) {
			return &job.FieldError{Field: "nodeGroup", Msg: fmt.Sprintf("unknown node group %q", spec.NodeGroup)}
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
			spec.Targets = append(spec.Targets, job.TargetSpec{Host: h})
		}
		if spec.Origin == nil {
			spec.Origin = &job.Origin{}
		}
		spec.Origin.NodeGroup = spec.NodeGroup
		if len(spec.Targets) == 0 {
			return &job.FieldError{Field: "nodeGroup", Msg: fmt.Sprintf("node group %q has no hosts", spec.NodeGroup)}
		}
		spec.NodeGroup = ""
	}
	return store.ResolveAggregation(ctx, e.st, spec.Aggregation)
}

// Status returns a job's live status, or its stored one when it is not
// running. It returns store.ErrNotFound for an unknown job.
func (e *Engine) Status(ctx context.Context, id string) (*JobStatus, error) {
	res, err := e.ask(ctx, &statusQuery{id: id})
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

// Wait returns the status of job id once it is terminal (its final state
// stored), or its current status when ctx ends first; the error is then
// nil. It returns an error only when the job's status cannot be read.
func (e *Engine) Wait(ctx context.Context, id string) (*JobStatus, error) {
	// Statuses are read without ctx's deadline, so that a wait that ends
	// still answers; Status is bounded by the engine's ask timeout.
	rctx := context.WithoutCancel(ctx)
	ended, stop := e.ends.Watch(id)
	defer stop()
	st, err := e.Status(rctx, id)
	if err != nil || st.Terminal() {
		return st, err
	}
	select {
	case <-ended:
	case <-ctx.Done():
	}
	return e.Status(rctx, id)
}

// StatusOf returns the status of a job read from the store: the master's
// live one while the job is not terminal, else the stored record's.
func (e *Engine) StatusOf(ctx context.Context, j *store.Job) *JobStatus {
	if !store.Terminal(j.State) {
		if res, err := e.ask(ctx, &statusQuery{id: j.ID}); err == nil {
			if st, _ := res.(*JobStatus); st != nil {
				return st
			}
		}
	}
	return StatusFromJob(j)
}

// Cancel stops a job: once the master has decided, no new lease of the job
// is granted; when Cancel returns, every worker that answered starts no new
// request of it. Workers are told at once, all of them even when one fails;
// the status returned is the master's decision, and the error, when
// non-nil, joins the workers that could not be told (*WorkerCancelError):
// their in-flight leases end with their timeouts. In-flight requests
// finish within their timeouts; every target without a result is then
// stored as cancelled.
func (e *Engine) Cancel(ctx context.Context, id string) (*JobStatus, error) {
	res, err := e.ask(ctx, &cancelJob{id: id})
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
	if reply.filling {
		// Nothing of it ran (it was waiting): its end is a store write
		// away. Answer once it is there, so that the caller reads
		// cancelled (read-your-writes), bounded by the ask timeout.
		return e.waitEnd(ctx, id, reply.status), nil
	}
	errs := make([]error, len(reply.workers))
	var wg sync.WaitGroup
	for i, w := range reply.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := e.askPID(ctx, w, &JobCancel{JobId: id}); err != nil {
				errs[i] = &WorkerCancelError{Worker: w.Address, Err: err}
			}
		}()
	}
	wg.Wait()
	return reply.status, errors.Join(errs...)
}

// WorkerCancelError is a worker that could not be told to cancel a job.
type WorkerCancelError struct {
	Worker string // the worker's actor address
	Err    error
}

// Error implements error.
func (e *WorkerCancelError) Error() string {
	return "cancel on worker " + e.Worker + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *WorkerCancelError) Unwrap() error { return e.Err }

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
	// Usage is what the member's node uses of its machine, from its
	// worker's load reports (absent for a node without a worker).
	Usage *Usage `json:"usage,omitempty"`
	// Leader is set on the master that leads the cluster's Raft group,
	// RaftTerm the term it leads in (docs/ha.md).
	Leader   bool   `json:"leader,omitempty"`
	RaftTerm uint64 `json:"raftTerm,omitempty"`
}

// Usage is a node's resource use (internal/procstat).
type Usage struct {
	CPUPercent float64 `json:"cpuPercent"`
	RSSBytes   int64   `json:"rssBytes"`
	OpenFDs    int     `json:"openFds"`
	Load1      float64 `json:"load1"`
}

// NodeInfo is what the cluster's membership says of a node.
type NodeInfo struct {
	Name       string
	Roles      []string
	GossipAddr string
	RemoteAddr string
	APIAddr    string
	State      string // alive, suspect, dead, left
	Capacity   int
	Tags       []string
	// Leader and Term: a master leading its Raft group, in that term.
	Leader bool
	Term   uint64
}

// Membership is the cluster's view of its nodes (package cluster); nil for
// a single node.
type Membership interface {
	Nodes() []NodeInfo
}

// Members lists the cluster's nodes with the master's figures for each
// worker: every member memberlist knows (dead and left ones too), and every
// registered worker.
func (e *Engine) Members(ctx context.Context) ([]Member, error) {
	res, err := e.ask(ctx, &membersQuery{})
	if err != nil {
		return nil, fmt.Errorf("ask master: %w", err)
	}
	return e.merge(res.(*memberList)), nil
}

// merge joins the master's worker figures with the membership's view.
func (e *Engine) merge(ml *memberList) []Member {
	workers := ml.members
	byName := map[string]*Member{}
	var out []Member
	if e.cfg.Membership != nil {
		for _, n := range e.cfg.Membership.Nodes() {
			out = append(out, Member{
				Name: n.Name, Roles: n.Roles, GossipAddr: n.GossipAddr, RemoteAddr: n.RemoteAddr,
				APIAddr: n.APIAddr, State: n.State, Enabled: true, Capacity: n.Capacity, Tags: n.Tags,
				Leader: n.Leader, RaftTerm: n.Term,
			})
		}
	}
	for i := range out {
		byName[out[i].Name] = &out[i]
	}
	for _, w := range workers {
		m := byName[w.Name]
		if m == nil {
			w.State = "alive"
			if w.Name == e.cfg.Name {
				w.Roles, w.APIAddr = []string{"master", "worker"}, e.cfg.APIAddr
			} else {
				w.Roles = []string{"worker"}
			}
			out = append(out, w)
			continue
		}
		m.Enabled, m.Capacity, m.Reserved, m.RunningJobs, m.InFlight = w.Enabled, w.Capacity, w.Reserved, w.RunningJobs, w.InFlight
		m.Usage = w.Usage
	}
	for i := range out {
		if ml.disabled[out[i].Name] {
			out[i].Enabled = false
		}
		if out[i].Tags == nil {
			out[i].Tags = []string{}
		}
		if out[i].Roles == nil {
			out[i].Roles = []string{}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// SetEnabled enables or disables (drains) a worker: a disabled worker gets
// no new job; jobs running on it finish; it stays disabled if it leaves
// and comes back. It returns store.ErrNotFound for an unknown worker.
func (e *Engine) SetEnabled(ctx context.Context, worker string, enabled bool) ([]Member, error) {
	known := false
	if e.cfg.Membership != nil {
		for _, n := range e.cfg.Membership.Nodes() {
			known = known || n.Name == worker
		}
	}
	res, err := e.ask(ctx, &setEnabled{worker: worker, enabled: enabled, known: known})
	if err != nil {
		return nil, fmt.Errorf("ask master: %w", err)
	}
	ml := res.(*memberList)
	if ml.members == nil {
		return nil, fmt.Errorf("worker %q: %w", worker, store.ErrNotFound)
	}
	return e.merge(ml), nil
}

// ResetQueue cancels every waiting job (REST Commander's resetScheduler);
// running jobs go on. It returns the ids of the cancelled jobs.
func (e *Engine) ResetQueue(ctx context.Context) ([]string, error) {
	res, err := e.ask(ctx, &resetQueue{})
	if err != nil {
		return nil, fmt.Errorf("ask master: %w", err)
	}
	ids := res.(*resetQueue).cancelled
	// Read-your-writes: each reads cancelled when this returns. One
	// deadline bounds the whole wait, not one per job.
	wctx, cancel := context.WithTimeout(ctx, e.cfg.AskTimeout)
	defer cancel()
	for _, id := range ids {
		_, _ = e.Wait(wctx, id)
	}
	return ids, nil
}

// waitEnd waits, at most AskTimeout and within ctx, for a job whose end is
// only a store write away, and returns its status then (or st when it
// cannot be read).
func (e *Engine) waitEnd(ctx context.Context, id string, st *JobStatus) *JobStatus {
	wctx, cancel := context.WithTimeout(ctx, e.cfg.AskTimeout)
	defer cancel()
	if got, err := e.Wait(wctx, id); err == nil && got != nil {
		return got
	}
	return st
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

	var errs []error
	masterUp := !e.isCrashed("master")
	if masterUp {
		if _, err := e.ask(ctx, &stopScheduling{}); err != nil {
			errs = append(errs, fmt.Errorf("stop scheduling: %w", err))
		}
	}
	if e.worker != nil {
		if !masterUp {
			e.worker.Abandon() // no master acknowledges anything now
		}
		if !e.isCrashed("worker") {
			if err := e.worker.Drain(ctx, false); err != nil {
				errs = append(errs, err)
			}
			e.worker.Stop()
		}
		// A crashed worker's runners were stopped with it: wait for them.
		if err := e.worker.Wait(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if e.master != nil && masterUp {
		// The master stops once its queued messages are handled, within
		// ctx: a stuck one does not hold the shutdown past its bound.
		f := e.system.Root.PoisonFuture(e.master)
		stopped := make(chan struct{})
		go func() {
			_ = f.Wait()
			close(stopped)
		}()
		select {
		case <-stopped:
		case <-ctx.Done():
			errs = append(errs, fmt.Errorf("stop the master: %w", context.Cause(ctx)))
		}
	}
	err := errors.Join(errs...)
	if e.ownSystem {
		e.system.Shutdown()
	}
	return err
}

// MasterPID is the master actor.
func (e *Engine) MasterPID() *actor.PID { return e.master }

// System is the engine's actor system.
func (e *Engine) System() *actor.ActorSystem { return e.system }

// WorkerAlive tells the master that the membership sees a worker node
// alive, with its remote address, capacity and tags: a worker the master
// does not have registered (taken for lost after a pause or a partition)
// is registered again and leased to.
func (e *Engine) WorkerAlive(name, remoteAddr string, capacity int, tags []string) {
	e.system.Root.Send(e.master, &workerAlive{name: name, remoteAddr: remoteAddr, capacity: capacity, tags: tags})
}

// WorkerLost tells the master that a worker node failed or left: its
// unacknowledged targets go back to the queue (failOver) or are stored as
// error/worker_lost.
func (e *Engine) WorkerLost(name, reason string) {
	e.system.Root.Send(e.master, &workerLost{name: name, reason: reason})
}
