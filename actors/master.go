package actors

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
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
	// WriteParallel is how many result batches the writer stores at once
	// (1: one after the other). A replicated store (docs/ha.md) waits a
	// commit round per write: several in flight share one round.
	WriteParallel int
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
	// PartGrace is how long after a job's start on a worker its load
	// reports may leave the job out: past it, a part missing from three
	// reports in a row is taken as finished (its JobStart or its
	// JobWorkerDone was lost), so that the job goes on.
	PartGrace time.Duration
	// LeaseHold is how long a lease request waits for targets (a chunk
	// being read, a congested writer) before it is answered empty and the
	// worker asks again. It must stay below the workers' LeaseTimeout.
	LeaseHold time.Duration
	// PrefetchChunks is how many chunks of a running job are read ahead of
	// its lease requests.
	PrefetchChunks int
	// Crashed, when set, is told when the master panics (see supervise.go).
	Crashed func(*Crash)
	// Health, when set, is told by the writer when the store's disk is
	// full and when it takes writes again.
	Health *StoreHealth
	// FullRetry is how long the writer waits before it tries again a write
	// refused for lack of space.
	FullRetry time.Duration
	// Term is the Raft term the master leads in (0 without Raft); its job
	// starts carry it (docs/ha.md).
	Term uint64
	// ResumeGrace is how long a job resumed at start grants no lease:
	// workers that ran on while the master was away send their results
	// first (WorkerConfig.ResendAfter), so that those targets are not run
	// again.
	ResumeGrace time.Duration
}

// RaftWriteParallel is the WriteParallel of a master whose store is
// replicated through Raft (docs/ha.md).
const RaftWriteParallel = 8

// DefaultMasterConfig returns a master configuration with the documented defaults.
func DefaultMasterConfig() MasterConfig {
	return MasterConfig{
		PersistInterval: time.Second,
		WriteQueue:      256,
		MaxSweeps:       3,
		LeaseHold:       5 * time.Second,
		PartGrace:       5 * time.Second,
		FullRetry:       2 * time.Second,
		ResumeGrace:     5 * time.Second,
		PrefetchChunks:  2,
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
	reader  *reader
	workers map[string]*workerInfo
	jobs    map[string]*jobRun // jobs not yet terminal
	queue   []string           // waiting jobs, FIFO
	lease   int64              // last lease id
	// stopping is set when the node shuts down: no job starts or is
	// swept again; unfinished jobs resume at the next start.
	stopping bool
	// session is random per master start (JobStart.master_session);
	// born is when the master started.
	session string
	born    time.Time
	// stopped is set once the actor handled Stopping.
	stopped bool
	// storeFull is set while the store refuses writes for lack of space:
	// no lease is granted.
	storeFull bool
	// scheduling is set while schedule runs; again asks it for another
	// pass (a job ended during the pass).
	scheduling, again bool
	stopTick          func()
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
	session  string // the worker's start (RegisterWorker.session); "" when unknown
	load     *WorkerLoad
	// idleSince is when the worker last had no job to run (load.go).
	idleSince time.Time
}

type jobRun struct {
	job       *store.Job
	spec      *job.Spec
	specJSON  []byte // spec as JobStart carries it
	chunks    int
	nextChunk int // the next chunk to read
	requeue   []job.IndexedTarget
	// ready holds chunks read ahead of lease requests, minus their stored
	// targets; reading is set while the reader reads the next one, and
	// filtering counts lost workers' leases being checked against the store.
	ready     [][]job.IndexedTarget
	reading   bool
	filtering int
	// gen changes when the job is swept from its first chunk again: reads
	// of an earlier generation are dropped.
	gen int
	// parked are lease requests waiting for targets.
	parked []parkedLease
	// holdUntil: no lease before it (a job resumed at start); resumed
	// marks such a job.
	holdUntil time.Time
	resumed   bool
	// inWriter holds the batches queued for the writer, so that a batch a
	// worker sends again before its first copy is stored is dropped.
	inWriter  map[batchKey]struct{}
	leases    map[int64]*leaseInfo
	workers   map[string]*jobWorker
	stored    int
	cancelled bool
	filling   bool // the cancelled results are being stored
	sweeps    int
	dirty     bool
	// readEnd is the index after the last chunk read (rollout batches
	// are index ranges); roll is a rollout's state (rollout.go), nil
	// without one; paused says why a paused job is (pausedByOperator,
	// pausedByApproval).
	readEnd int
	roll    *rolloutRun
	paused  string
	// waitingSince is when the job last went back to waiting (load.go);
	// zero for a job waiting since its creation.
	waitingSince time.Time
}

// pausedFull is the reason of a running job while the store is full.
const pausedFull = "paused: the store's disk is full; the job goes on by itself when space returns"

// resumeWindow is how long after its start the master takes a worker's
// registration as one that may hold results of resumed jobs.
const resumeWindow = 30 * time.Second

// batchKey names a result batch: lease ids are unique across master
// restarts, and seq counts per runner.
type batchKey struct{ lease, seq int64 }

// parkedLease is a lease request the master answers later.
type parkedLease struct {
	to     *actor.PID // the request's sender (a future)
	worker string
	since  time.Time
}

type leaseInfo struct {
	worker  string
	targets []job.IndexedTarget
	// pending counts the lease's results not yet committed; the lease is
	// forgotten when it reaches zero, so the master's memory follows the
	// leases in flight, not the job's size.
	pending int
	done    bool // the worker sent every result of it
	// counted holds the seqs of the lease's batches already counted: a
	// batch sent again after its first copy was stored counts once.
	counted map[int64]struct{}
}

type jobWorker struct {
	pid       *actor.PID
	reserved  int
	released  bool
	finished  bool
	load      *JobLoad
	responses int64
	startedAt time.Time // JobStart sent
	missing   int       // load reports in a row without the job (PartGrace)
}

// partMisses is how many load reports in a row may leave out a part
// before the master takes it as finished.
const partMisses = 3

// NewMaster returns a Master.
func NewMaster(cfg MasterConfig) *Master {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	strategies := cfg.Strategies
	if strategies == nil {
		strategies = DefaultStrategies()
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	return &Master{cfg: cfg, workers: map[string]*workerInfo{}, jobs: map[string]*jobRun{},
		strategies: strategies, lost: map[string]bool{}, disabled: map[string]bool{},
		// Lease ids start from the clock, so that a restarted master never
		// reuses an id a worker still holds from the one before.
		lease: time.Now().UnixNano(), session: hex.EncodeToString(b[:]), born: time.Now()}
}

// Messages from the engine to the master.
type (
	// enqueueJob adds a stored job to the queue (submit and resume);
	// chunks is its number of stored target chunks.
	enqueueJob struct {
		job    *store.Job
		spec   *job.Spec
		chunks int
		// rollout is where a resumed rollout job was (nil: at its start).
		rollout *rolloutResume
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
		filling bool // nothing ran: the cancelled results are being stored
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
	defer guard(ctx, "master", m.cfg.Logger, m.cfg.Crashed)
	if m.stopped {
		// proto.actor delivers messages between Stopping and the end: a
		// stopped master grants nothing and acknowledges nothing (a batch
		// not acknowledged runs again after the restart).
		if _, ok := ctx.Message().(*LeaseRequest); ok {
			ctx.Respond(&LeaseGrant{JobId: ctx.Message().(*LeaseRequest).JobId, Last: true})
		}
		return
	}
	switch msg := ctx.Message().(type) {
	case *actor.Started:
		m.self = ctx.Self()
		m.writer = newWriter(m.cfg.Store, ctx.ActorSystem().Root, ctx.Self(), m.cfg.Logger, m.cfg.WriteQueue, m.cfg.WriteParallel)
		m.writer.ends = m.cfg.Ends
		if m.cfg.Health != nil {
			m.writer.health = m.cfg.Health
		}
		if m.cfg.FullRetry > 0 {
			m.writer.fullRetry = m.cfg.FullRetry
		}
		m.reader = newReader(m.cfg.Store, ctx.ActorSystem().Root, ctx.Self())
		m.startTicker(ctx)
	case *actor.Stopping:
		m.stopped = true
		if m.stopTick != nil {
			m.stopTick()
			m.stopTick = nil
		}
		if m.reader != nil {
			m.reader.close()
		}
		for _, r := range m.jobs {
			m.releaseParked(ctx, r, true) // no worker waits on a stopped master
			r.roll.stopTimer()
			m.persist(r)
		}
		if m.writer != nil {
			m.writer.close()
		}
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
	case *pauseJob:
		ctx.Respond(m.pause(ctx, msg.id))
	case *resumeJob:
		ctx.Respond(m.resume(ctx, msg.id))
	case *rolloutTimer:
		m.rolloutTimerDone(ctx, msg)
	case *LeaseRequest:
		m.grant(ctx, msg)
	case *chunkRead:
		m.chunkRead(ctx, msg)
	case *filtered:
		m.filtered(ctx, msg)
	case *writerDrained:
		for _, r := range m.jobs {
			m.serve(ctx, r)
		}
	case *storeFull:
		m.storeFull = msg.full
		for _, r := range m.jobs {
			if r.job.State != store.JobProcessing {
				continue
			}
			if msg.full {
				setReason(r, pausedFull)
			} else if r.job.Reason == pausedFull {
				setReason(r, "")
			}
			m.serve(ctx, r)
		}
	case *ResultBatch:
		if r := m.jobs[msg.JobId]; r == nil {
			if time.Since(m.born) < resumeWindow {
				// Perhaps a job this new master has not resumed yet (a
				// leader that just took over): no ack, so that the worker
				// sends the batch again once it has.
				return
			}
			// The job ended (results arriving twice after it was gathered,
			// or after a cancel): the store ignores duplicates, ack anyway.
			ctx.Send(msg.From, &BatchAck{JobId: msg.JobId, LeaseId: msg.LeaseId, Seq: msg.Seq})
			return
		}
		r := m.jobs[msg.JobId]
		key := batchKey{msg.LeaseId, msg.Seq}
		if _, queued := r.inWriter[key]; queued {
			return // sent again before the first copy was stored: its ack comes
		}
		r.inWriter[key] = struct{}{}
		m.writer.submit(writeResults{batch: msg})
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
	case *workerAlive:
		m.workerAlive(ctx, msg)
	case *WorkerLoad:
		w := m.workers[msg.Worker]
		if w != nil && ctx.Sender() != nil && restarted(w.session, msg.Session) {
			// Restarted under the same name and address before anyone
			// noticed: its old leases are gone with the old process.
			m.register(ctx, &RegisterWorker{Name: msg.Worker, Pid: ctx.Sender(), Capacity: msg.Capacity, Tags: msg.Tags, Session: msg.Session})
			w = m.workers[msg.Worker]
			m.schedule(ctx)
		}
		if w == nil && ctx.Sender() != nil && !m.lost[msg.Worker] {
			// A worker the master forgot (it restarted): take it back, with
			// the tags its report carries.
			m.register(ctx, &RegisterWorker{Name: msg.Worker, Pid: ctx.Sender(), Capacity: msg.Capacity, Tags: msg.Tags, Session: msg.Session})
			w = m.workers[msg.Worker]
			m.schedule(ctx)
		}
		if w != nil {
			w.load = msg
		}
		for id, jl := range msg.Jobs {
			r := m.jobs[id]
			var jw *jobWorker
			if r != nil {
				jw = r.workers[msg.Worker]
			}
			switch {
			case jw != nil && !jw.finished:
				if jl != nil {
					jw.load = jl
				}
			case r != nil && ctx.Sender() != nil:
				// The worker runs a part of the job that the master took
				// back (the worker was taken for lost and came back): its
				// leases went to others, so it stops.
				ctx.Send(ctx.Sender(), &JobStop{JobId: id})
			}
		}
		if w != nil {
			m.reconcileParts(ctx, msg)
		}
	case *cancelFilled:
		m.cancelFilled(ctx, msg)
	case *setEnabled:
		if m.workers[msg.worker] == nil && !msg.known && !(msg.enabled && m.disabled[msg.worker]) {
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
	case *loadQuery:
		ctx.Respond(m.load(time.Now()))
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
		now := time.Now()
		for _, r := range m.jobs {
			if r.dirty {
				m.persist(r)
			}
			if !r.holdUntil.IsZero() && !now.Before(r.holdUntil) {
				r.holdUntil = time.Time{}
				m.serve(ctx, r)
			}
			m.expireParked(ctx, r, now)
		}
	case *crashNow:
		panic(msg.reason) // a test's injected fault (supervise.go)
	case *forgetWorker:
		// A test's injected fault: the registration is lost as when the
		// master restarts, without the worker being taken for lost.
		if w := m.workers[msg.name]; w != nil {
			delete(m.workers, msg.name)
			if w.pid.Address != ctx.Self().Address {
				ctx.Unwatch(w.pid)
			}
		}
	}
}

func (m *Master) startTicker(ctx actor.Context) {
	m.stopTick = tick(ctx, m.cfg.PersistInterval, &persistTick{})
}

// tick sends msg to the calling actor every interval until the returned
// stop function is called (by the actor, when it stops); stop returns once
// the ticking goroutine has.
func tick(ctx actor.Context, interval time.Duration, msg any) (stop func()) {
	quit, done := make(chan struct{}), make(chan struct{})
	self, root := ctx.Self(), ctx.ActorSystem().Root
	go func() {
		defer close(done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				root.Send(self, msg)
			}
		}
	}()
	return func() {
		close(quit)
		<-done
	}
}

// persist queues a write of the job's record.
func (m *Master) persist(r *jobRun) {
	j := *r.job
	j.Counts = make(map[string]int, len(r.job.Counts))
	for k, v := range r.job.Counts {
		j.Counts[k] = v
	}
	j.Workers = r.workerFigures()
	if rs := m.rolloutStatus(r); rs != nil {
		if b, err := json.Marshal(rs); err == nil {
			j.Rollout = b
		}
	}
	r.dirty = false
	m.writer.submit(writeJob{job: j})
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
	if state == store.JobWaiting {
		r.waitingSince = now
	}
	attrs := []any{"job", r.job.ID, "state", state, "reason", reason, "done", r.stored, "total", r.job.Total}
	if store.Terminal(state) {
		// The job's end: what it was and its results per state.
		counts := make([]any, 0, len(job.ResultStates))
		for _, st := range job.ResultStates {
			counts = append(counts, slog.Int(st, r.job.Counts[st]))
		}
		attrs = append(attrs, "name", r.job.Name, slog.Group("counts", counts...))
		if r.spec != nil {
			attrs = append(attrs, "protocol", r.spec.Protocol)
		}
	}
	m.cfg.Logger.Info("job state", attrs...)
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
		inWriter: map[batchKey]struct{}{},
	}
	if r.job.Counts == nil {
		r.job.Counts = map[string]int{}
	}
	for _, n := range r.job.Counts {
		r.stored += n
	}
	r.chunks = msg.chunks
	if msg.spec != nil && msg.spec.Rollout != nil {
		r.roll = newRolloutRun(msg.spec.Rollout, r.job.Total, msg.rollout)
	}
	m.jobs[r.job.ID] = r
	if m.cfg.Metrics != nil {
		m.cfg.Metrics.jobs.WithLabelValues(r.job.State).Inc()
	}
	switch {
	case r.job.State == store.JobPaused:
		// Resumed at start, paused: it stays so until resumed (and
		// leases nothing within the grace once resumed, as below).
		r.holdUntil, r.resumed = time.Now().Add(m.cfg.ResumeGrace), m.cfg.ResumeGrace > 0
		r.paused = pausedByOperator
		if r.atBoundary() && r.roll.spec.Approve {
			r.paused = pausedByApproval
		}
		r.dirty = true
	case r.atBoundary() && r.stored < r.job.Total:
		// Resumed at the end of a batch: nothing of it runs any more.
		m.setState(r, store.JobProcessing, "resumed after restart")
		m.rolloutStep(ctx, r)
	case r.job.State != store.JobWaiting:
		// Resumed at start: workers may still hold results of it.
		r.holdUntil, r.resumed = time.Now().Add(m.cfg.ResumeGrace), m.cfg.ResumeGrace > 0
		m.setState(r, store.JobWaiting, "resumed after restart")
		fallthrough
	default:
		m.queue = append(m.queue, r.job.ID)
	}
	m.schedule(ctx)
	if ctx.Sender() != nil {
		ctx.Respond(m.status(r))
	}
}

// schedule starts waiting jobs in queue order. A job starts on the workers
// its strategy picks among those with room for it (§8 of docs/design.md):
// all of them up to the job's maxWorkers, and only the first when the job
// fits in one lease. Jobs that compete for the same workers keep strict
// FIFO order: a job that cannot start claims every worker that could run
// it, and no later job starts on a claimed worker. A job that no alive,
// enabled worker could ever run (its tags, or a maxConcurrency above every
// worker's capacity) claims nothing: it waits with its reason and holds
// back no other job.
func (m *Master) schedule(ctx actor.Context) {
	if m.stopping {
		return
	}
	if m.scheduling {
		// A job ended while schedule ran (finish, end): go once more.
		m.again = true
		return
	}
	m.scheduling = true
	defer func() { m.scheduling = false }()
	for {
		m.again = false
		m.scheduleOnce(ctx)
		if !m.again || m.stopping {
			return
		}
	}
}

// scheduleOnce is one pass of schedule over the queue.
func (m *Master) scheduleOnce(ctx actor.Context) {
	claimed := map[string]string{} // worker → the earlier job that waits for it
	keep := m.queue[:0]
	for _, id := range m.queue {
		r := m.jobs[id]
		if r == nil || r.job.State != store.JobWaiting || r.cancelled {
			continue
		}
		if r.stored >= r.job.Total {
			m.setState(r, store.JobProcessing, "")
			m.finish(ctx, r)
			continue
		}
		strategy, err := strategyOf(m.strategies, r.spec.Strategy)
		if err != nil {
			m.setState(r, store.JobFailed, err.Error())
			m.end(ctx, r)
			continue
		}
		need := r.spec.MaxConcurrency
		var eligible []WorkerView
		candidates, tagged, behind := 0, 0, ""
		for _, w := range m.workers {
			if !sharesTag(r.spec.Tags, w.tags) {
				continue
			}
			tagged++
			if m.disabled[w.name] || w.capacity < need {
				continue
			}
			candidates++
			if by, ok := claimed[w.name]; ok {
				behind = by
				continue
			}
			if w.capacity-w.reserved >= need {
				eligible = append(eligible, WorkerView{Name: w.name, Capacity: w.capacity, Reserved: w.reserved, RunningJobs: len(w.running), Tags: w.tags})
			}
		}
		if len(eligible) == 0 {
			keep = append(keep, id)
			if candidates == 0 {
				setReason(r, m.unservable(r, tagged))
				continue // it claims nothing: later jobs may run
			}
			reason := "waiting for a worker with free capacity"
			if behind != "" {
				reason = "queued behind job " + behind
			}
			setReason(r, reason)
			for _, w := range m.workers {
				if sharesTag(r.spec.Tags, w.tags) && !m.disabled[w.name] && w.capacity >= need {
					if _, ok := claimed[w.name]; !ok {
						claimed[w.name] = id
					}
				}
			}
			continue
		}
		picked := ordered(strategy, eligible)
		if r.chunks <= 1 && len(r.requeue) == 0 {
			picked = picked[:1] // one lease: the strategy's first choice runs it
		}
		if mw := r.spec.MaxWorkers; mw > 0 && len(picked) > mw {
			picked = picked[:mw]
		}
		m.setState(r, store.JobProcessing, "")
		m.prefetch(r) // the first chunk is read while the workers start
		for _, v := range picked {
			m.startOn(ctx, r, m.workers[v.Name])
		}
	}
	m.queue = keep
}

// unservable says why no worker could ever run a waiting job.
func (m *Master) unservable(r *jobRun, tagged int) string {
	switch {
	case len(m.workers) == 0:
		return "waiting for a worker"
	case tagged == 0:
		return fmt.Sprintf("waiting: no worker has any of the tags %v", r.spec.Tags)
	}
	for _, w := range m.workers {
		if sharesTag(r.spec.Tags, w.tags) && !m.disabled[w.name] {
			return fmt.Sprintf("waiting: maxConcurrency %d is above the capacity of every worker that could run it", r.spec.MaxConcurrency)
		}
	}
	return "waiting: every worker is disabled"
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
		mb := Member{
			Name: w.name, Enabled: !m.disabled[w.name], State: "alive", Capacity: w.capacity, Tags: w.tags,
			Reserved: w.reserved, RunningJobs: len(w.running), InFlight: int(w.load.GetInFlight()),
		}
		if u := w.load.GetUsage(); u != nil {
			mb.Usage = &Usage{CPUPercent: u.GetCpuPercent(), RSSBytes: u.GetRssBytes(), OpenFDs: int(u.GetOpenFds()), Load1: u.GetLoad1()}
		}
		out = append(out, mb)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// register adds a worker, or refreshes one that registers again.
func (m *Master) register(ctx actor.Context, msg *RegisterWorker) {
	delete(m.lost, msg.Name)
	if w := m.workers[msg.Name]; w != nil && w.pid.Equal(msg.Pid) && !restarted(w.session, msg.Session) {
		w.capacity, w.tags = int(msg.Capacity), msg.Tags // nothing else changes
		if w.session == "" {
			w.session = msg.Session
		}
		return
	}
	if old := m.workers[msg.Name]; old != nil {
		// The same name from a new actor, or from the same address after
		// a restart: the old one is gone, with its leases.
		m.workerLost(ctx, msg.Name, "it registered again")
		delete(m.lost, msg.Name)
	}
	m.workers[msg.Name] = &workerInfo{name: msg.Name, pid: msg.Pid, capacity: int(msg.Capacity),
		tags: msg.Tags, session: msg.Session, running: map[string]bool{}, idleSince: time.Now()}
	// A worker that comes back soon after the master started may hold
	// results of resumed jobs (its connection came back later than the
	// others'): hold their leases a little longer, for it to send them.
	if now := time.Now(); now.Sub(m.born) < resumeWindow {
		for _, r := range m.jobs {
			if r.resumed && r.holdUntil.Before(now.Add(m.cfg.ResumeGrace/2)) {
				r.holdUntil = now.Add(m.cfg.ResumeGrace / 2)
			}
		}
	}
	if msg.Pid.Address != ctx.Self().Address {
		ctx.Watch(msg.Pid) // proto.actor's Terminated is a second failure signal
	}
	m.cfg.Logger.Info("worker registered", "worker", msg.Name, "capacity", msg.Capacity, "tags", msg.Tags,
		"address", msg.Pid.Address)
}

// restarted reports whether a worker's new session says it started again.
func restarted(known, got string) bool { return known != "" && got != "" && known != got }

// workerAlive tells the master that the membership sees a worker node
// alive: one the master does not have registered (it was taken for lost
// after a pause or a partition, or its registration was lost) is
// registered from its membership data.
type workerAlive struct {
	name, remoteAddr string
	capacity         int
	tags             []string
}

func (m *Master) workerAlive(ctx actor.Context, msg *workerAlive) {
	if m.workers[msg.name] != nil || msg.remoteAddr == "" || msg.capacity <= 0 {
		return
	}
	m.cfg.Logger.Info("worker alive again: registering it", "worker", msg.name, "wasLost", m.lost[msg.name])
	m.register(ctx, &RegisterWorker{Name: msg.name, Pid: actor.NewPID(msg.remoteAddr, WorkerName),
		Capacity: int32(msg.capacity), Tags: msg.tags})
	m.schedule(ctx)
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
		if r.cancelled {
			m.fillIfAllFinished(r, name)
			continue
		}
		m.takeBack(r, name, reason, false)
		m.relaunch(ctx, r)
		m.rolloutStep(ctx, r)
	}
	m.schedule(ctx)
}

// takeBack takes a worker's leases of a job back: all of them for a lost
// worker, and for one that finished its part (handBack) those it never
// completed (a runner stopped before it ran a lease granted to it). Which
// of their targets have a stored result is for the reader to say; the
// job's lease requests wait for its answer (filtered).
func (m *Master) takeBack(r *jobRun, name, reason string, handBack bool) {
	var back []job.IndexedTarget
	for id, l := range r.leases {
		if l.worker == name && !(handBack && l.done) {
			back = append(back, l.targets...)
			delete(r.leases, id)
		}
	}
	if len(back) > 0 {
		r.filtering++
		m.reader.ops <- filterStored{jobID: r.job.ID, gen: r.gen, worker: name, reason: reason, targets: back, handBack: handBack}
	}
}

// filtered takes back a lost worker's targets that have no stored result:
// they go back to the job's queue (failOver) or are stored as
// error/worker_lost.
func (m *Master) filtered(ctx actor.Context, msg *filtered) {
	r := m.jobs[msg.jobID]
	if r == nil || msg.gen != r.gen {
		return
	}
	r.filtering--
	unstored := msg.unstored
	if msg.err != nil {
		m.cfg.Logger.Error("cannot read stored results", "job", r.job.ID, "err", msg.err)
		unstored = msg.targets
	}
	if len(unstored) > 0 && !r.cancelled {
		if msg.handBack || r.spec.FailOver == nil || *r.spec.FailOver {
			r.requeue = append(r.requeue, unstored...)
			m.cfg.Logger.Info("targets of a lost worker go back to the queue", "job", r.job.ID, "worker", msg.worker, "targets", len(unstored))
		} else {
			m.writer.submit(failTargets{jobID: r.job.ID, protocol: r.spec.Protocol, worker: msg.worker,
				targets: unstored, class: job.ClassWorkerLost, msg: "worker " + msg.worker + " was lost: " + msg.reason})
		}
	}
	m.serve(ctx, r)
	m.relaunch(ctx, r)
	m.checkFinished(ctx, r)
	m.schedule(ctx)
}

// relaunch starts a processing job again on the eligible workers when
// none of its workers still runs it and targets are left to lease.
func (m *Master) relaunch(ctx actor.Context, r *jobRun) {
	if r.cancelled || r.job.State == store.JobWaiting || r.job.State == store.JobPaused || store.Terminal(r.job.State) {
		return
	}
	for _, jw := range r.workers {
		if !jw.finished {
			return // a running worker leases the requeued targets
		}
	}
	if !r.batchLeasable() {
		return // nothing left to lease (in the batch); results in flight complete it
	}
	r.job.Workers, r.workers = r.workerFigures(), map[string]*jobWorker{}
	m.setState(r, store.JobWaiting, "a worker was lost; leasing its targets again")
	m.queue = append([]string{r.job.ID}, m.queue...)
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
	r.workers[w.name] = &jobWorker{pid: w.pid, reserved: need, startedAt: time.Now()}
	ctx.Send(w.pid, &JobStart{JobId: r.job.ID, Spec: r.specJSON, Master: ctx.Self(), MasterSession: m.session, Term: m.cfg.Term})
}

// reconcileParts is the other side of a load report: a part the master
// counts on the worker that the report leaves out, three times in a row
// and PartGrace after its start, is not running there (its JobStart or
// its JobWorkerDone was lost). It is taken as finished, so that its
// leases go back and the job goes on.
func (m *Master) reconcileParts(ctx actor.Context, msg *WorkerLoad) {
	for id, r := range m.jobs {
		jw := r.workers[msg.Worker]
		if jw == nil || jw.finished {
			continue
		}
		if _, ok := msg.Jobs[id]; ok {
			jw.missing = 0
			continue
		}
		if time.Since(jw.startedAt) < m.cfg.PartGrace {
			continue
		}
		if jw.missing++; jw.missing < partMisses {
			continue
		}
		m.cfg.Logger.Warn("a worker does not run a part of a job the master counts on it: taking the part as finished",
			"job", id, "worker", msg.Worker, "reports", jw.missing)
		m.workerDone(ctx, &JobWorkerDone{JobId: id, Worker: msg.Worker})
	}
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
		if len(w.running) == 0 {
			w.idleSince = time.Now()
		}
	}
}

// grant takes a LeaseRequest: it is answered at once when targets are at
// hand, else parked until the reader has read the next chunk, the writer
// has caught up, or LeaseHold has passed.
func (m *Master) grant(ctx actor.Context, req *LeaseRequest) {
	r := m.jobs[req.JobId]
	if r == nil || r.cancelled || r.job.State != store.JobProcessing {
		ctx.Respond(&LeaseGrant{JobId: req.JobId, Last: true})
		return
	}
	if jw := r.workers[req.Worker]; jw == nil || jw.finished {
		// Not one of the job's running workers (a part the master took
		// back when it lost the worker): it gets nothing more.
		ctx.Respond(&LeaseGrant{JobId: req.JobId, Last: true})
		return
	}
	if ctx.Sender() == nil {
		return // not a request: nowhere to answer
	}
	r.parked = append(r.parked, parkedLease{to: ctx.Sender(), worker: req.Worker, since: time.Now()})
	m.serve(ctx, r)
}

// serve answers a job's parked lease requests in order while it has
// targets to lease (and the writer is not congested), answers them with
// Last when nothing is left to lease, and reads ahead.
func (m *Master) serve(ctx actor.Context, r *jobRun) {
	for len(r.parked) > 0 {
		if r.cancelled || r.job.State != store.JobProcessing {
			m.releaseParked(ctx, r, true)
			return
		}
		if m.storeFull || m.writer.isCongested() || time.Now().Before(r.holdUntil) {
			break // storeFull, writerDrained or persistTick serves them
		}
		targets := r.take()
		if targets == nil {
			if r.batchLeasable() {
				break // a read or a filter is on its way: its answer serves them
			}
			m.releaseParked(ctx, r, true)
			break
		}
		p := r.parked[0]
		r.parked[0] = parkedLease{}
		r.parked = r.parked[1:]
		if jw := r.workers[p.worker]; jw == nil || jw.finished {
			// Parked before its worker was lost or finished: nothing more
			// for it, and the targets stay for the others.
			ctx.Send(p.to, &LeaseGrant{JobId: r.job.ID, Last: true})
			r.requeue = append(targets, r.requeue...)
			continue
		}
		m.lease++
		r.leases[m.lease] = &leaseInfo{worker: p.worker, targets: targets, pending: len(targets)}
		ctx.Send(p.to, &LeaseGrant{JobId: r.job.ID, LeaseId: m.lease, Targets: toWireTargets(targets)})
	}
	m.prefetch(r)
}

// releaseParked answers every parked lease request of a job: with Last
// (nothing more to lease) or empty (ask again).
func (m *Master) releaseParked(ctx actor.Context, r *jobRun, last bool) {
	for _, p := range r.parked {
		ctx.Send(p.to, &LeaseGrant{JobId: r.job.ID, Last: last})
	}
	r.parked = nil
}

// expireParked answers lease requests parked for LeaseHold or longer with
// an empty grant, so that no worker's request times out: it asks again.
func (m *Master) expireParked(ctx actor.Context, r *jobRun, now time.Time) {
	hold := m.cfg.LeaseHold
	if hold <= 0 || len(r.parked) == 0 || now.Sub(r.parked[0].since) < hold {
		return
	}
	keep := r.parked[:0]
	for _, p := range r.parked {
		if now.Sub(p.since) >= hold {
			ctx.Send(p.to, &LeaseGrant{JobId: r.job.ID})
		} else {
			keep = append(keep, p)
		}
	}
	r.parked = keep
}

// take returns the next targets to lease: a lost worker's first, then the
// chunks read ahead, up to the end of a rollout's batch in progress; nil
// when none is at hand.
func (r *jobRun) take() []job.IndexedTarget {
	if len(r.requeue) > 0 {
		t := r.requeue
		r.requeue = nil
		return t
	}
	if len(r.ready) > 0 {
		t := r.ready[0]
		if limit := r.limit(); t[len(t)-1].Index >= limit {
			// A rollout's batch ends in this chunk: the rest waits.
			n := sort.Search(len(t), func(i int) bool { return t[i].Index >= limit })
			if n == 0 {
				return nil
			}
			r.ready[0] = t[n:]
			return t[:n:n]
		}
		r.ready[0] = nil
		r.ready = r.ready[1:]
		return t
	}
	return nil
}

// leasable reports whether the job has targets left to lease, at hand or
// still to be read.
func (r *jobRun) leasable() bool {
	return len(r.requeue) > 0 || len(r.ready) > 0 || r.reading || r.filtering > 0 || r.nextChunk < r.chunks
}

// prefetch asks the reader for the job's next chunk when fewer than
// PrefetchChunks are read ahead.
func (m *Master) prefetch(r *jobRun) {
	if r.reading || r.cancelled || r.job.State != store.JobProcessing ||
		r.nextChunk >= r.chunks || len(r.ready) >= max(1, m.cfg.PrefetchChunks) ||
		time.Now().Before(r.holdUntil) { // read after the hold: results still arrive meanwhile
		return
	}
	r.reading = true
	c := r.nextChunk
	r.nextChunk++
	m.reader.ops <- readChunk{jobID: r.job.ID, gen: r.gen, chunk: c}
}

// chunkRead takes a chunk the reader read.
func (m *Master) chunkRead(ctx actor.Context, msg *chunkRead) {
	r := m.jobs[msg.jobID]
	if r == nil || msg.gen != r.gen {
		return
	}
	r.reading = false
	r.readEnd = max(r.readEnd, msg.end)
	if msg.err != nil {
		m.cfg.Logger.Error("cannot read target chunk", "job", r.job.ID, "chunk", msg.chunk, "err", msg.err)
		m.setState(r, store.JobFailed, "store: "+msg.err.Error())
		m.end(ctx, r)
		return
	}
	if len(msg.targets) > 0 {
		r.ready = append(r.ready, msg.targets)
	}
	m.serve(ctx, r)
	m.checkFinished(ctx, r)
}

func (m *Master) stored(ctx actor.Context, msg *batchStored) {
	b := msg.batch
	r := m.jobs[b.JobId]
	if r != nil {
		delete(r.inWriter, batchKey{b.LeaseId, b.Seq})
	}
	if errors.Is(msg.err, store.ErrNotLeader) {
		// Deposed (docs/ha.md): no ack, so that the worker delivers the
		// batch to the new leader, and the job is left as it is stored.
		m.cfg.Logger.Warn("not the raft leader any more: results left to the new leader", "job", b.JobId, "results", len(b.Results))
		return
	}
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
		protocol := ""
		if r != nil {
			protocol = r.spec.Protocol
		}
		m.cfg.Metrics.stored(protocol, msg.counts)
	}
	if r == nil {
		return
	}
	for st, n := range msg.counts {
		r.job.Counts[st] += n
		r.stored += n
	}
	if msg.lost && r.roll != nil {
		r.roll.lost += msg.counts[job.StateError]
	}
	if jw := r.workers[b.Worker]; jw != nil {
		jw.responses += int64(len(b.Results))
	}
	if l := r.leases[b.LeaseId]; l != nil {
		if _, seen := l.counted[b.Seq]; !seen {
			if l.counted == nil {
				l.counted = map[int64]struct{}{}
			}
			l.counted[b.Seq] = struct{}{}
			l.pending -= len(b.Results)
		}
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
	if r.atBoundary() {
		m.rolloutStep(ctx, r)
		return
	}
	if r.job.State != store.JobProcessing || r.leasable() {
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
	if ro := r.roll; ro != nil && !ro.checked {
		// A rollout's last batch is checked too: over budget, it fails.
		ro.checked = true
		r.closeBatch()
		if over, why := ro.spec.Exceeded(r.budget()); over {
			m.stopRollout(ctx, r, why)
			return
		}
	}
	m.setState(r, store.JobGathered, "")
	m.end(ctx, r)
}

// end forgets a terminal job and frees its reservations.
func (m *Master) end(ctx actor.Context, r *jobRun) {
	m.releaseParked(ctx, r, true)
	r.roll.stopTimer()
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
	if msg.MasterSession != "" && msg.MasterSession != m.session {
		return // the end of a part an earlier master started
	}
	jw := r.workers[msg.Worker]
	if jw == nil {
		return // not (or no longer) one of the job's workers: it was lost
	}
	jw.finished = true
	m.release(r, msg.Worker)
	if !r.cancelled {
		m.takeBack(r, msg.Worker, "its part ended with leases not run", true)
	}
	for _, jw := range r.workers {
		if !jw.finished {
			m.schedule(ctx)
			return
		}
	}
	// Every worker has finished its part.
	if r.cancelled {
		m.fillIfAllFinished(r, msg.Worker)
		return
	}
	if r.stored >= r.job.Total {
		m.finish(ctx, r)
		return
	}
	if m.stopping {
		return // the node stops: the job resumes at the next start
	}
	if r.atBoundary() {
		m.rolloutStep(ctx, r) // the batch is done: check it, wait or go on
		return
	}
	if r.job.State == store.JobPaused {
		return // nothing runs now: a resume leases (or sweeps) again
	}
	if r.batchLeasable() {
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
	r.gen, r.ready, r.reading, r.filtering, r.readEnd = r.gen+1, nil, false, 0, 0
	m.setState(r, store.JobWaiting, "sweeping unstored targets")
	m.queue = append([]string{r.job.ID}, m.queue...)
	m.schedule(ctx)
}

// fillIfAllFinished stores a cancelled job's missing results once none of
// its workers runs it any more (the last one finished or was lost).
func (m *Master) fillIfAllFinished(r *jobRun, worker string) {
	if r.filling {
		return
	}
	for _, jw := range r.workers {
		if !jw.finished {
			return
		}
	}
	r.filling = true
	m.writer.submit(fillCancelled{jobID: r.job.ID, protocol: r.spec.Protocol, worker: worker})
}

func (m *Master) cancel(ctx actor.Context, id string) *cancelReply {
	r := m.jobs[id]
	if r == nil {
		return &cancelReply{}
	}
	reply := &cancelReply{found: true}
	if !r.cancelled {
		r.cancelled = true
		r.roll.stopTimer()
		r.requeue, r.ready = nil, nil
		m.releaseParked(ctx, r, true)
		for _, jw := range r.workers {
			if !jw.finished {
				reply.workers = append(reply.workers, jw.pid)
			}
		}
		if len(reply.workers) == 0 {
			// Nothing runs (still waiting, or every worker is done): fill
			// the remaining results now. The writer stores them after any
			// batch already queued.
			r.filling = true
			m.writer.submit(fillCancelled{jobID: r.job.ID, protocol: r.spec.Protocol})
		}
		r.job.Reason = "cancel requested"
		r.dirty = true
	}
	reply.filling = r.filling
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
	if m.cfg.Metrics != nil {
		m.cfg.Metrics.done(r.spec.Protocol, msg.counts)
	}
	if msg.err != nil {
		m.cfg.Logger.Error("cannot store cancelled results", "job", r.job.ID, "err", msg.err)
	}
	if ro := r.roll; ro != nil {
		ro.filled = msg.counts
		if ro.stop != "" {
			m.setState(r, store.JobFailed, ro.stop)
			m.end(ctx, r)
			return
		}
	}
	m.setState(r, store.JobCancelled, "cancelled")
	m.end(ctx, r)
}

func (m *Master) status(r *jobRun) *JobStatus {
	s := StatusFromJob(r.job)
	if r.cancelled && !store.Terminal(r.job.State) && (r.roll == nil || r.roll.stop == "") {
		s.State = StateCancelling
	}
	s.Rollout = m.rolloutStatus(r)
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
