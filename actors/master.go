package actors

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/salvo-sh/salvo/job"
	"github.com/salvo-sh/salvo/store"
)

// MasterConfig configures the Master actor.
type MasterConfig struct {
	// Store holds jobs, target chunks and results.
	Store store.Store
	// PersistInterval is how often a running job's counts are written.
	PersistInterval time.Duration
	// WriteQueue bounds the store writer's queue.
	WriteQueue int
	// MaxSweeps bounds how often a job whose workers all finished with
	// targets still unstored is leased again before it fails.
	MaxSweeps int
	// Strategies are the scheduling strategies by name; nil means
	// DefaultStrategies.
	Strategies map[string]Strategy
	// Metrics, when set, receives job and result figures.
	Metrics *Metrics
	// Logger is the master's logger.
	Logger *slog.Logger
	// Ends, when set, is told each time a job's terminal state is stored.
	Ends *JobEnds
}

// DefaultMasterConfig returns a master configuration with the documented defaults.
func DefaultMasterConfig() MasterConfig {
	return MasterConfig{
		PersistInterval: time.Second,
		WriteQueue:      256,
		MaxSweeps:       3,
		Logger:          slog.Default(),
	}
}

// Master is the actor that owns the job queue: it schedules jobs on workers
// within their capacity, leases target chunks, gathers result batches into
// the store and acknowledges them, and tracks every job's progress.
type Master struct {
	cfg     MasterConfig
	self    *actor.PID
	writer  *writer
	workers map[string]*workerInfo
	jobs    map[string]*jobRun // jobs not yet terminal
	queue   []string           // waiting jobs, FIFO
	lease   int64              // last lease id
	// stopping is set when the node shuts down: no job starts or is
	// swept again; unfinished jobs resume at the next start.
	stopping bool
	stopTick chan struct{}
	// strategies are the scheduling strategies by name.
	strategies map[string]Strategy
	// lost names workers lost since they last registered.
	lost map[string]bool
	// disabled names workers that take no new job (drain).
	disabled map[string]bool
}

type workerInfo struct {
	name     string
	pid      *actor.PID
	capacity int
	reserved int
	running  map[string]bool
	tags     []string
	load     *WorkerLoad
}

type jobRun struct {
	job       *store.Job
	spec      *job.Spec
	specJSON  []byte // spec as JobStart carries it
	chunks    int
	nextChunk int
	requeue   []job.IndexedTarget
	leases    map[int64]*leaseInfo
	workers   map[string]*jobWorker
	stored    int
	cancelled bool
	sweeps    int
	dirty     bool
}

type leaseInfo struct {
	worker  string
	targets []job.IndexedTarget
	// pending counts the lease's results not yet committed; the lease is
	// forgotten when it reaches zero, so the master's memory follows the
	// leases in flight, not the job's size.
	pending int
	done    bool // the worker sent every result of it
}

type jobWorker struct {
	pid       *actor.PID
	reserved  int
	released  bool
	finished  bool
	load      *JobLoad
	responses int64
}

// NewMaster returns a Master.
func NewMaster(cfg MasterConfig) *Master {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	strategies := cfg.Strategies
	if strategies == nil {
		strategies = DefaultStrategies()
	}
	return &Master{cfg: cfg, workers: map[string]*workerInfo{}, jobs: map[string]*jobRun{},
		strategies: strategies, lost: map[string]bool{}, disabled: map[string]bool{}}
}

// Messages from the engine to the master.
type (
	// enqueueJob adds a stored job to the queue (submit and resume).
	enqueueJob struct {
		job  *store.Job
		spec *job.Spec
	}
	// statusQuery asks for a job's live status; the reply is *JobStatus or
	// nil when the master does not run the job.
	statusQuery struct{ id string }
	// cancelJob stops leasing a job; the reply is cancelReply.
	cancelJob   struct{ id string }
	cancelReply struct {
		status  *JobStatus
		workers []*actor.PID // workers to send JobCancel to
		found   bool
	}
	// persistTick writes running jobs' counts.
	persistTick struct{}
	// setEnabled enables or disables a worker; the reply is memberList.
	setEnabled struct {
		worker  string
		enabled bool
		known   bool // the name is a cluster member even if not registered
	}
	// membersQuery asks for the workers; the reply is memberList.
	membersQuery struct{}
	// memberList answers with the registered workers and the names of
	// every disabled worker, registered or not.
	memberList struct {
		members  []Member
		disabled map[string]bool
	}
	// resetQueue cancels every waiting job; the reply lists them.
	resetQueue struct{ cancelled []string }
	// stopScheduling tells the master that the node shuts down.
	stopScheduling struct{}
)

// Receive implements actor.Actor.
func (m *Master) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *actor.Started:
		m.self = ctx.Self()
		m.writer = newWriter(m.cfg.Store, ctx.ActorSystem().Root, ctx.Self(), m.cfg.Logger, m.cfg.WriteQueue)
		m.writer.ends = m.cfg.Ends
		m.startTicker(ctx)
	case *actor.Stopping:
		if m.stopTick != nil {
			close(m.stopTick)
		}
		for _, r := range m.jobs {
			m.persist(r)
		}
		m.writer.close()
	case *RegisterWorker:
		m.register(ctx, msg)
		if ctx.Sender() != nil {
			ctx.Respond(m.memberList())
		}
		m.schedule(ctx)
	case *workerLost:
		m.workerLost(ctx, msg.name, msg.reason)
	case *WorkerLeaving:
		m.workerLost(ctx, msg.Worker, "it is leaving")
		ctx.Respond(&LeavingAck{})
	case *actor.Terminated:
		for name, w := range m.workers {
			if w.pid.Equal(msg.Who) {
				m.workerLost(ctx, name, "its actor terminated")
			}
		}
	case *enqueueJob:
		m.enqueue(ctx, msg)
	case *statusQuery:
		if r := m.jobs[msg.id]; r != nil {
			ctx.Respond(m.status(r))
		} else {
			ctx.Respond((*JobStatus)(nil))
		}
	case *cancelJob:
		ctx.Respond(m.cancel(ctx, msg.id))
	case *LeaseRequest:
		ctx.Respond(m.grant(ctx, msg))
	case *ResultBatch:
		if r := m.jobs[msg.JobId]; r == nil {
			// The job ended (results arriving twice after it was gathered,
			// or after a cancel): the store ignores duplicates, ack anyway.
			ctx.Send(msg.From, &BatchAck{JobId: msg.JobId, LeaseId: msg.LeaseId, Seq: msg.Seq})
			return
		}
		m.writer.ops <- writeResults{batch: msg}
	case *batchStored:
		m.stored(ctx, msg)
	case *LeaseDone:
		if r := m.jobs[msg.JobId]; r != nil {
			if l := r.leases[msg.LeaseId]; l != nil {
				l.done = true
			}
			m.checkFinished(ctx, r)
		}
	case *JobWorkerDone:
		m.workerDone(ctx, msg)
	case *WorkerLoad:
		w := m.workers[msg.Worker]
		if w == nil && ctx.Sender() != nil && !m.lost[msg.Worker] {
			// A worker the master forgot (it restarted): take it back.
			m.register(ctx, &RegisterWorker{Name: msg.Worker, Pid: ctx.Sender(), Capacity: msg.Capacity})
			w = m.workers[msg.Worker]
			m.schedule(ctx)
		}
		if w != nil {
			w.load = msg
		}
		for id, jl := range msg.Jobs {
			if r := m.jobs[id]; r != nil {
				if jw := r.workers[msg.Worker]; jw != nil && jl != nil {
					jw.load = jl
				}
			}
		}
	case *cancelFilled:
		m.cancelFilled(ctx, msg)
	case *setEnabled:
		if m.workers[msg.worker] == nil && !msg.known {
			ctx.Respond(&memberList{})
			return
		}
		// Kept by name: a disabled worker that comes back stays disabled.
		if msg.enabled {
			delete(m.disabled, msg.worker)
		} else {
			m.disabled[msg.worker] = true
		}
		m.cfg.Logger.Info("worker enablement", "worker", msg.worker, "enabled", msg.enabled)
		m.schedule(ctx)
		ctx.Respond(m.memberList())
	case *membersQuery:
		ctx.Respond(m.memberList())
	case *resetQueue:
		var ids []string
		for _, id := range m.queue {
			if r := m.jobs[id]; r != nil && r.job.State == store.JobWaiting && !r.cancelled {
				ids = append(ids, id)
				m.cancel(ctx, id)
			}
		}
		ctx.Respond(&resetQueue{cancelled: ids})
	case *stopScheduling:
		m.stopping = true
		ctx.Respond(&stopScheduling{})
	case *persistTick:
		for _, r := range m.jobs {
			if r.dirty {
				m.persist(r)
			}
		}
	}
}

func (m *Master) startTicker(ctx actor.Context) {
	m.stopTick = tick(ctx, m.cfg.PersistInterval, &persistTick{})
}

// tick sends msg to the calling actor every interval until the returned
// channel is closed (by the actor, when it stops).
func tick(ctx actor.Context, interval time.Duration, msg any) chan struct{} {
	stop := make(chan struct{})
	self, root := ctx.Self(), ctx.ActorSystem().Root
	go func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				root.Send(self, msg)
			}
		}
	}()
	return stop
}

// persist queues a write of the job's record.
func (m *Master) persist(r *jobRun) {
	j := *r.job
	j.Counts = make(map[string]int, len(r.job.Counts))
	for k, v := range r.job.Counts {
		j.Counts[k] = v
	}
	j.Workers = r.workerFigures()
	r.dirty = false
	m.writer.ops <- writeJob{job: j}
}

func (m *Master) setState(r *jobRun, state, reason string) {
	if m.cfg.Metrics != nil {
		m.cfg.Metrics.jobs.WithLabelValues(r.job.State).Dec()
		m.cfg.Metrics.jobs.WithLabelValues(state).Inc()
	}
	r.job.State, r.job.Reason = state, reason
	now := time.Now().UTC()
	if state == store.JobProcessing && r.job.StartedAt.IsZero() {
		r.job.StartedAt = now
	}
	if store.Terminal(state) {
		r.job.FinishedAt = now
	}
	m.cfg.Logger.Info("job state", "job", r.job.ID, "state", state, "reason", reason,
		"done", r.stored, "total", r.job.Total)
	m.persist(r)
}

func (m *Master) enqueue(ctx actor.Context, msg *enqueueJob) {
	if _, ok := m.jobs[msg.job.ID]; ok {
		ctx.Respond(m.status(m.jobs[msg.job.ID]))
		return
	}
	specJSON, err := json.Marshal(msg.spec)
	if err != nil {
		m.cfg.Logger.Error("cannot encode job spec", "job", msg.job.ID, "err", err)
		ctx.Respond((*JobStatus)(nil))
		return
	}
	r := &jobRun{
		job:      msg.job,
		spec:     msg.spec,
		specJSON: specJSON,
		leases:   map[int64]*leaseInfo{},
		workers:  map[string]*jobWorker{},
	}
	if r.job.Counts == nil {
		r.job.Counts = map[string]int{}
	}
	for _, n := range r.job.Counts {
		r.stored += n
	}
	n, err := m.cfg.Store.ChunkCount(context.Background(), r.job.ID)
	if err != nil {
		m.cfg.Logger.Error("cannot read job chunks", "job", r.job.ID, "err", err)
	}
	r.chunks = n
	m.jobs[r.job.ID] = r
	if m.cfg.Metrics != nil {
		m.cfg.Metrics.jobs.WithLabelValues(r.job.State).Inc()
	}
	if r.job.State != store.JobWaiting {
		m.setState(r, store.JobWaiting, "resumed after restart")
	}
	m.queue = append(m.queue, r.job.ID)
	m.schedule(ctx)
	if ctx.Sender() != nil {
		ctx.Respond(m.status(r))
	}
}

// schedule starts waiting jobs in FIFO order while the head fits.
func (m *Master) schedule(ctx actor.Context) {
	for len(m.queue) > 0 && !m.stopping {
		r := m.jobs[m.queue[0]]
		if r == nil || r.job.State != store.JobWaiting || r.cancelled {
			m.queue = m.queue[1:]
			continue
		}
		if r.stored >= r.job.Total {
			m.queue = m.queue[1:]
			m.setState(r, store.JobProcessing, "")
			m.finish(ctx, r)
			continue
		}
		need := r.spec.MaxConcurrency
		var eligible []WorkerView
		tagged := 0
		for _, w := range m.workers {
			if !sharesTag(r.spec.Tags, w.tags) {
				continue
			}
			tagged++
			if !m.disabled[w.name] && w.capacity-w.reserved >= need {
				eligible = append(eligible, WorkerView{Name: w.name, Capacity: w.capacity, Reserved: w.reserved, RunningJobs: len(w.running), Tags: w.tags})
			}
		}
		strategy, err := strategyOf(m.strategies, r.spec.Strategy)
		if err != nil {
			m.queue = m.queue[1:]
			m.setState(r, store.JobFailed, err.Error())
			m.end(ctx, r)
			continue
		}
		if len(eligible) == 0 {
			reason := "waiting for a worker with free capacity"
			switch {
			case len(m.workers) == 0:
				reason = "waiting for a worker"
			case tagged == 0:
				reason = fmt.Sprintf("waiting: no worker has any of the tags %v", r.spec.Tags)
			case m.allDisabled():
				reason = "waiting: every worker is disabled"
			}
			setReason(r, reason)
			for _, id := range m.queue[1:] {
				if q := m.jobs[id]; q != nil {
					setReason(q, "queued behind job "+r.job.ID)
				}
			}
			return // strict FIFO: nothing overtakes the head
		}
		m.queue = m.queue[1:]
		m.setState(r, store.JobProcessing, "")
		for _, v := range strategy.Order(eligible) {
			m.startOn(ctx, r, m.workers[v.Name])
		}
	}
}

func (m *Master) allDisabled() bool {
	for _, w := range m.workers {
		if !m.disabled[w.name] {
			return false
		}
	}
	return true
}

func (m *Master) memberList() *memberList {
	disabled := make(map[string]bool, len(m.disabled))
	for n := range m.disabled {
		disabled[n] = true
	}
	return &memberList{members: m.members(), disabled: disabled}
}

// members returns the view of every worker, sorted by name.
func (m *Master) members() []Member {
	out := make([]Member, 0, len(m.workers))
	for _, w := range m.workers {
		out = append(out, Member{
			Name: w.name, Enabled: !m.disabled[w.name], State: "alive", Capacity: w.capacity, Tags: w.tags,
			Reserved: w.reserved, RunningJobs: len(w.running), InFlight: int(w.load.GetInFlight()),
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// register adds a worker, or refreshes one that registers again.
func (m *Master) register(ctx actor.Context, msg *RegisterWorker) {
	delete(m.lost, msg.Name)
	if w := m.workers[msg.Name]; w != nil && w.pid.Equal(msg.Pid) {
		w.capacity, w.tags = int(msg.Capacity), msg.Tags // nothing else changes
		return
	}
	if old := m.workers[msg.Name]; old != nil {
		// The same name from a new actor: the old one is gone.
		m.workerLost(ctx, msg.Name, "it registered again")
	}
	m.workers[msg.Name] = &workerInfo{name: msg.Name, pid: msg.Pid, capacity: int(msg.Capacity),
		tags: msg.Tags, running: map[string]bool{}}
	if msg.Pid.Address != ctx.Self().Address {
		ctx.Watch(msg.Pid) // proto.actor's Terminated is a second failure signal
	}
	m.cfg.Logger.Info("worker registered", "worker", msg.Name, "capacity", msg.Capacity, "tags", msg.Tags,
		"address", msg.Pid.Address)
}

// workerLost is sent to the master when a worker node fails or leaves.
type workerLost struct {
	name   string
	reason string
}

// workerLost forgets a worker. The targets of its leases that have no
// stored result go back to their job's queue (failOver) or are stored as
// error/worker_lost; a job left with no running worker is leased again.
func (m *Master) workerLost(ctx actor.Context, name, reason string) {
	w := m.workers[name]
	if w == nil {
		return
	}
	delete(m.workers, name)
	m.lost[name] = true
	if w.pid.Address != ctx.Self().Address {
		ctx.Unwatch(w.pid)
	}
	m.cfg.Logger.Warn("worker lost", "worker", name, "reason", reason, "jobs", len(w.running))
	for _, r := range m.jobs {
		jw := r.workers[name]
		if jw == nil {
			continue
		}
		jw.finished, jw.released = true, true
		var lost []job.IndexedTarget
		for id, l := range r.leases {
			if l.worker == name {
				lost = append(lost, l.targets...)
				delete(r.leases, id)
			}
		}
		unstored, err := m.filterStored(r.job.ID, lost)
		if err != nil {
			m.cfg.Logger.Error("cannot read stored results", "job", r.job.ID, "err", err)
			unstored = lost
		}
		if len(unstored) > 0 {
			if r.spec.FailOver == nil || *r.spec.FailOver {
				r.requeue = append(r.requeue, unstored...)
				m.cfg.Logger.Info("targets of a lost worker go back to the queue", "job", r.job.ID, "worker", name, "targets", len(unstored))
			} else {
				m.writer.ops <- failTargets{jobID: r.job.ID, protocol: r.spec.Protocol, worker: name,
					targets: unstored, class: job.ClassWorkerLost, msg: "worker " + name + " was lost: " + reason}
			}
		}
		m.relaunch(ctx, r)
	}
	m.schedule(ctx)
}

// relaunch starts a processing job again on the eligible workers when
// none of its workers still runs it and targets are left to lease.
func (m *Master) relaunch(ctx actor.Context, r *jobRun) {
	if r.cancelled || r.job.State == store.JobWaiting || store.Terminal(r.job.State) {
		return
	}
	for _, jw := range r.workers {
		if !jw.finished {
			return // a running worker leases the requeued targets
		}
	}
	if len(r.requeue) == 0 && r.nextChunk >= r.chunks {
		return // nothing left to lease; results in flight complete the job
	}
	r.job.Workers, r.workers = r.workerFigures(), map[string]*jobWorker{}
	m.setState(r, store.JobWaiting, "a worker was lost; leasing its targets again")
	m.queue = append([]string{r.job.ID}, m.queue...)
}

// filterStored returns the targets that have no stored result.
func (m *Master) filterStored(jobID string, ts []job.IndexedTarget) ([]job.IndexedTarget, error) {
	if len(ts) == 0 {
		return nil, nil
	}
	lo, hi := ts[0].Index, ts[0].Index
	for _, t := range ts {
		lo, hi = min(lo, t.Index), max(hi, t.Index)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stored, err := m.cfg.Store.StoredIndexes(ctx, jobID, lo, hi+1)
	if err != nil {
		return nil, err
	}
	var out []job.IndexedTarget
	for _, t := range ts {
		if !stored[t.Index] {
			out = append(out, t)
		}
	}
	return out, nil
}

// setReason records why a job waits.
func setReason(r *jobRun, reason string) {
	if r.job.Reason != reason {
		r.job.Reason = reason
		r.dirty = true
	}
}

func (m *Master) startOn(ctx actor.Context, r *jobRun, w *workerInfo) {
	need := r.spec.MaxConcurrency
	w.reserved += need
	w.running[r.job.ID] = true
	r.workers[w.name] = &jobWorker{pid: w.pid, reserved: need}
	ctx.Send(w.pid, &JobStart{JobId: r.job.ID, Spec: r.specJSON, Master: ctx.Self()})
}

// release returns a job's reservation on a worker. It is idempotent.
func (m *Master) release(r *jobRun, name string) {
	jw := r.workers[name]
	if jw == nil || jw.released {
		return
	}
	jw.released = true
	if w := m.workers[name]; w != nil {
		w.reserved -= jw.reserved
		delete(w.running, r.job.ID)
	}
}

// grant answers a LeaseRequest with the next targets of a job that have no
// stored result.
func (m *Master) grant(ctx actor.Context, req *LeaseRequest) *LeaseGrant {
	r := m.jobs[req.JobId]
	if r == nil || r.cancelled || r.job.State != store.JobProcessing {
		return &LeaseGrant{JobId: req.JobId, Last: true}
	}
	targets := r.requeue
	r.requeue = nil
	for len(targets) == 0 && r.nextChunk < r.chunks {
		c := r.nextChunk
		r.nextChunk++
		var err error
		targets, err = m.unstored(r.job.ID, c)
		if err != nil {
			m.cfg.Logger.Error("cannot read target chunk", "job", r.job.ID, "chunk", c, "err", err)
			m.setState(r, store.JobFailed, "store: "+err.Error())
			m.end(ctx, r)
			return &LeaseGrant{JobId: req.JobId, Last: true}
		}
	}
	if len(targets) == 0 {
		return &LeaseGrant{JobId: req.JobId, Last: true}
	}
	m.lease++
	r.leases[m.lease] = &leaseInfo{worker: req.Worker, targets: targets, pending: len(targets)}
	return &LeaseGrant{JobId: req.JobId, LeaseId: m.lease, Targets: toWireTargets(targets)}
}

// unstored reads chunk c of a job minus the targets already stored.
func (m *Master) unstored(jobID string, c int) ([]job.IndexedTarget, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	targets, err := m.cfg.Store.Chunk(ctx, jobID, c)
	if err != nil || len(targets) == 0 {
		return nil, err
	}
	stored, err := m.cfg.Store.StoredIndexes(ctx, jobID, targets[0].Index, targets[len(targets)-1].Index+1)
	if err != nil {
		return nil, err
	}
	if len(stored) == 0 {
		return targets, nil
	}
	out := targets[:0]
	for _, t := range targets {
		if !stored[t.Index] {
			out = append(out, t)
		}
	}
	return out, nil
}

func (m *Master) stored(ctx actor.Context, msg *batchStored) {
	b := msg.batch
	r := m.jobs[b.JobId]
	if msg.err != nil {
		m.cfg.Logger.Error("cannot store results", "job", b.JobId, "results", len(b.Results), "err", msg.err)
		if m.cfg.Metrics != nil {
			m.cfg.Metrics.storeFailures.Inc()
		}
		if r != nil {
			m.setState(r, store.JobFailed, "store: "+msg.err.Error())
			m.end(ctx, r)
		}
		return
	}
	if b.From != nil {
		ctx.Send(b.From, &BatchAck{JobId: b.JobId, LeaseId: b.LeaseId, Seq: b.Seq})
	}
	if m.cfg.Metrics != nil {
		m.cfg.Metrics.stored(msg.counts)
	}
	if r == nil {
		return
	}
	for st, n := range msg.counts {
		r.job.Counts[st] += n
		r.stored += n
	}
	if jw := r.workers[b.Worker]; jw != nil {
		jw.responses += int64(len(b.Results))
	}
	if l := r.leases[b.LeaseId]; l != nil {
		l.pending -= len(b.Results)
		if l.pending <= 0 {
			delete(r.leases, b.LeaseId)
		}
	}
	r.dirty = true
	m.checkFinished(ctx, r)
}

// checkFinished moves a job on when every target has a stored result, or
// when every target has been answered but not all answers are stored yet.
func (m *Master) checkFinished(ctx actor.Context, r *jobRun) {
	if r.cancelled {
		return
	}
	if r.stored >= r.job.Total {
		m.finish(ctx, r)
		return
	}
	if r.job.State != store.JobProcessing || r.nextChunk < r.chunks || len(r.requeue) > 0 {
		return
	}
	for _, l := range r.leases {
		if !l.done {
			return
		}
	}
	m.setState(r, store.JobFinishedNotGathered, "")
}

func (m *Master) finish(ctx actor.Context, r *jobRun) {
	m.setState(r, store.JobGathered, "")
	m.end(ctx, r)
}

// end forgets a terminal job and frees its reservations.
func (m *Master) end(ctx actor.Context, r *jobRun) {
	for name := range r.workers {
		m.release(r, name)
	}
	delete(m.jobs, r.job.ID)
	m.schedule(ctx)
}

func (m *Master) workerDone(ctx actor.Context, msg *JobWorkerDone) {
	r := m.jobs[msg.JobId]
	if r == nil {
		return
	}
	jw := r.workers[msg.Worker]
	if jw == nil {
		return // not (or no longer) one of the job's workers: it was lost
	}
	jw.finished = true
	m.release(r, msg.Worker)
	for _, jw := range r.workers {
		if !jw.finished {
			m.schedule(ctx)
			return
		}
	}
	// Every worker has finished its part.
	if r.cancelled {
		m.writer.ops <- fillCancelled{jobID: r.job.ID, protocol: r.spec.Protocol, worker: msg.Worker}
		return
	}
	if r.stored >= r.job.Total {
		m.finish(ctx, r)
		return
	}
	if m.stopping {
		return // the node stops: the job resumes at the next start
	}
	if len(r.requeue) > 0 || r.nextChunk < r.chunks {
		// Targets handed back by a lost worker are left: lease them.
		m.relaunch(ctx, r)
		m.schedule(ctx)
		return
	}
	// Targets are missing (abandoned batches): lease them again.
	r.sweeps++
	if r.sweeps > m.cfg.MaxSweeps {
		m.setState(r, store.JobFailed, "targets left without a stored result after repeated sweeps")
		m.end(ctx, r)
		return
	}
	m.cfg.Logger.Warn("job has unstored targets after its workers finished; leasing them again",
		"job", r.job.ID, "stored", r.stored, "total", r.job.Total, "sweep", r.sweeps)
	r.job.Workers = r.workerFigures()
	r.nextChunk, r.leases, r.workers = 0, map[int64]*leaseInfo{}, map[string]*jobWorker{}
	m.setState(r, store.JobWaiting, "sweeping unstored targets")
	m.queue = append([]string{r.job.ID}, m.queue...)
	m.schedule(ctx)
}

func (m *Master) cancel(ctx actor.Context, id string) *cancelReply {
	r := m.jobs[id]
	if r == nil {
		return &cancelReply{}
	}
	reply := &cancelReply{found: true}
	if !r.cancelled {
		r.cancelled = true
		r.requeue = nil
		for _, jw := range r.workers {
			if !jw.finished {
				reply.workers = append(reply.workers, jw.pid)
			}
		}
		if len(reply.workers) == 0 {
			// Nothing runs (still waiting, or every worker is done): fill
			// the remaining results now. The writer stores them after any
			// batch already queued.
			m.writer.ops <- fillCancelled{jobID: r.job.ID, protocol: r.spec.Protocol}
		}
		r.job.Reason = "cancel requested"
		r.dirty = true
	}
	reply.status = m.status(r)
	return reply
}

func (m *Master) cancelFilled(ctx actor.Context, msg *cancelFilled) {
	r := m.jobs[msg.jobID]
	if r == nil {
		return
	}
	for st, n := range msg.counts {
		r.job.Counts[st] += n
		r.stored += n
	}
	if msg.err != nil {
		m.cfg.Logger.Error("cannot store cancelled results", "job", r.job.ID, "err", msg.err)
	}
	m.setState(r, store.JobCancelled, "cancelled")
	m.end(ctx, r)
}

func (m *Master) status(r *jobRun) *JobStatus {
	s := StatusFromJob(r.job)
	s.Done = r.stored
	var started int64
	for name, wc := range r.workerFigures() {
		ws := WorkerStatus{Requests: wc.Requests, Responses: wc.Responses}
		if jw := r.workers[name]; jw != nil && !jw.finished {
			ws.Concurrency, ws.InFlight = int(jw.load.GetConcurrency()), int(jw.load.GetInFlight())
		}
		s.Workers[name] = ws
		started += wc.Requests
	}
	answered := int64(r.stored - r.job.Counts[job.StateSkipped] - r.job.Counts[job.StateCancelled])
	s.Sent = max(started, answered)
	s.Rate = jobRate(r.stored, r.job.StartedAt, r.job.FinishedAt)
	return s
}

// workerFigures returns each worker's requests and responses: those of
// earlier runs of the job (before a worker was lost) plus the current ones.
// A worker's requests are at least its responses: its load report, which
// counts requests, comes now and then.
func (r *jobRun) workerFigures() map[string]store.WorkerCount {
	out := make(map[string]store.WorkerCount, len(r.job.Workers)+len(r.workers))
	for name, wc := range r.job.Workers {
		out[name] = wc
	}
	for name, jw := range r.workers {
		wc := out[name]
		wc.Requests += max(jw.load.GetStarted(), jw.responses)
		wc.Responses += jw.responses
		out[name] = wc
	}
	return out
}
