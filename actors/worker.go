package actors

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"golang.org/x/sync/semaphore"

	"github.com/salvo-sh/salvo/actors/wire"
	"github.com/salvo-sh/salvo/commands"
	"github.com/salvo-sh/salvo/internal/procstat"
	"github.com/salvo-sh/salvo/job"
)

// WorkerConfig configures a Worker actor.
type WorkerConfig struct {
	// Name is the worker's node name; results carry it.
	Name string
	// Capacity is the most concurrent requests this worker runs over all jobs.
	Capacity int
	// Tags restrict which jobs the worker takes (a job with tags runs on
	// workers sharing at least one).
	Tags []string
	// BatchSize is the most results in one ResultBatch.
	BatchSize int
	// BatchBytes flushes a batch early once its bodies reach this size.
	BatchBytes int
	// BatchInterval flushes a non-empty batch at least this often.
	BatchInterval time.Duration
	// MaxUnacked is how many batches a job may have unacknowledged on this
	// worker before it stops sending (the backpressure bound).
	MaxUnacked int
	// LeaseTimeout bounds a LeaseRequest round trip.
	LeaseTimeout time.Duration
	// AckTimeout bounds the wait for the acknowledgement of a batch; a batch
	// not acknowledged by then is abandoned (its targets run again elsewhere
	// or after a restart).
	AckTimeout time.Duration
	// ResendAfter is how long a result batch may wait for its
	// acknowledgement before it is sent again (a restarted master lost
	// it); 0 never sends one again.
	ResendAfter time.Duration
	// LoadInterval is how often the worker reports its load.
	LoadInterval time.Duration
	// HTTP configures the shared HTTP executor.
	HTTP commands.HTTPConfig
	// SSH configures the shared SSH executor (set SSH.DataDir to the
	// node's data dir: accept-new keeps host keys there).
	SSH commands.SSHConfig
	// Metrics receives per-request figures; nil disables them.
	Metrics *Metrics
	// Logger is the worker's logger.
	Logger *slog.Logger
	// Crashed, when set, is told when the worker panics (see supervise.go).
	Crashed func(*Crash)
	// BodyBudget bounds the memory response bodies take on the node, over
	// all the worker's jobs. A quarter of it (bodyShare) bounds the bytes
	// the worker holds: a request reserves its job's maxBodyBytes before it
	// starts (and waits for it), keeps what its output takes until the
	// result's batch is acknowledged, and gives back the rest at once. The
	// rest is what held bodies cost beyond themselves: the garbage a body
	// leaves until the collector reuses its memory (Go lets the heap grow
	// to twice what is live) and the store's copies while it writes it
	// (docs/operations.md has the figures). 0 means no bound. The worker
	// holds at least one request of the largest cap (SSH output counting
	// twice) whatever the budget.
	BodyBudget int64
}

// DefaultWorkerConfig returns a worker configuration with the documented defaults.
func DefaultWorkerConfig() WorkerConfig {
	return WorkerConfig{
		Name:          "local",
		Capacity:      job.DefaultCapacity,
		BatchSize:     500,
		BatchBytes:    4 << 20,
		BatchInterval: 100 * time.Millisecond,
		MaxUnacked:    8,
		LeaseTimeout:  30 * time.Second,
		AckTimeout:    60 * time.Second,
		ResendAfter:   2 * time.Second,
		LoadInterval:  500 * time.Millisecond,
		HTTP:          commands.DefaultHTTPConfig(),
		SSH:           commands.DefaultSSHConfig(),
		Logger:        slog.Default(),
	}
}

// Worker is the actor that runs leased targets. It owns one runner per job.
type Worker struct {
	cfg    WorkerConfig
	exec   *commands.HTTPExecutor
	ssh    *commands.SSHExecutor
	master *actor.PID
	// term is the highest Raft term of a master announcement the worker
	// accepted (0: none yet, or a cluster without Raft). It never goes
	// down, so that a deposed leader cannot take the worker back.
	term    uint64
	runners map[string]*runner
	// refused holds the masters whose JobStarts the worker refused (they
	// are not its master), so that each is logged once.
	refused map[string]struct{}
	// restart holds a JobStart from a new master session, kept until the
	// job's part for the earlier session has finished.
	restart  map[string]*JobStart
	set      *runnerSet          // shared with the WorkerHost; nil without one
	budget   *semaphore.Weighted // BodyBudget; nil without a bound
	leaving  bool
	draining bool   // drain was asked: no part starts any more
	stopped  bool   // Stopping was handled
	session  string // random per start (RegisterWorker.session)
	stopTick func()
	usage    *procstat.Sampler // the node's resource use, sampled beside the actor
	// dropStarts is how many JobStarts a test makes the worker lose.
	dropStarts int
}

// usageInterval is how often a worker reads its node's resource use.
const usageInterval = 2 * time.Second

// NewWorker returns a Worker that registers with master when it starts.
func NewWorker(cfg WorkerConfig, master *actor.PID) *Worker {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	w := &Worker{cfg: cfg, master: master, runners: map[string]*runner{}, restart: map[string]*JobStart{},
		refused: map[string]struct{}{}, session: hex.EncodeToString(b[:])}
	if cfg.BodyBudget > 0 {
		w.budget = semaphore.NewWeighted(max(cfg.BodyBudget/bodyShare, 2*job.MaxBodyBytesLimit))
	}
	return w
}

// bodyShare is the part of WorkerConfig.BodyBudget the worker's bodies may
// hold at once: one in four.
const bodyShare = 4

// BodyMemoryFor is the WorkerConfig.BodyBudget (--body-memory) with which
// a worker may keep that many HTTP requests of maxBodyBytes each in flight
// at once (each reserves its job's maxBodyBytes from a bodyShare of it).
func BodyMemoryFor(requests int, maxBodyBytes int64) int64 {
	return int64(requests) * maxBodyBytes * bodyShare
}

// runnerDone is sent by a runner to its worker when it has finished.
type runnerDone struct {
	jobID string
	r     *runner
}

// loadTick asks the worker to report its load.
type loadTick struct{}

// Receive implements actor.Actor.
func (w *Worker) Receive(ctx actor.Context) {
	defer guard(ctx, "worker", w.cfg.Logger, w.cfg.Crashed)
	if w.stopped {
		// Messages delivered after Stopping start nothing; requests get
		// an answer so that no caller waits for its timeout.
		switch m := ctx.Message().(type) {
		case *JobCancel:
			ctx.Respond(&JobCancelled{JobId: m.JobId})
		case *drainWorker:
			ctx.Respond(&drained{})
		}
		return
	}
	switch m := ctx.Message().(type) {
	case *actor.Started:
		w.exec = commands.NewHTTPExecutor(w.cfg.HTTP)
		w.ssh = commands.NewSSHExecutor(w.cfg.SSH)
		w.usage = procstat.Start(usageInterval)
		w.register(ctx)
		w.startTicker(ctx)
	case *JobStart:
		if w.leaving || w.draining {
			return // the master forgot this worker, or the node stops
		}
		if w.dropStarts > 0 {
			w.dropStarts-- // a test's lost message
			return
		}
		if w.fenced(ctx, m) {
			return
		}
		w.start(ctx, m)
	case *BatchAck:
		if r := w.runners[m.JobId]; r != nil {
			r.ack(m)
		}
	case *JobCancel:
		if r := w.runners[m.JobId]; r != nil {
			r.cancel()
		}
		ctx.Respond(&JobCancelled{JobId: m.JobId})
	case *JobStop:
		if r := w.runners[m.JobId]; r != nil {
			w.cfg.Logger.Info("stopping a part of a job the master gave to others", "job", m.JobId)
			r.stop()
		}
	case *runnerDone:
		if w.runners[m.jobID] == m.r {
			delete(w.runners, m.jobID)
		}
		if w.set != nil {
			w.set.remove(m.r)
		}
		if js := w.restart[m.jobID]; js != nil && (w.leaving || w.draining) {
			delete(w.restart, m.jobID) // nothing starts while the worker goes
		}
		if js := w.restart[m.jobID]; js != nil && w.runners[m.jobID] == nil {
			// The part for the earlier master is done: start the new one,
			// unless its master lost the lead meanwhile (fenced answers it).
			delete(w.restart, m.jobID)
			if !w.fenced(ctx, js) {
				w.start(ctx, js)
				return
			}
		}
		// To the runner's current master: the one it was handed over to
		// when the master changed.
		ctx.Send(m.r.master(), &JobWorkerDone{JobId: m.jobID, Worker: w.cfg.Name, MasterSession: m.r.cfg.session})
		w.reportLoad(ctx)
	case *MasterFound:
		w.masterFound(ctx, m)
	case *loadTick:
		w.reportLoad(ctx)
	case *drainWorker:
		if w.master != nil && !w.leaving && !m.local {
			// Tell the master first: it takes the leases back and starts
			// nothing new here. The answer is awaited outside Receive
			// (bounded: a dead master does not answer), so that acks and
			// loads keep flowing meanwhile.
			w.leaving = true
			f := ctx.RequestFuture(w.master, &WorkerLeaving{Worker: w.cfg.Name}, 5*time.Second)
			ctx.ReenterAfter(f, func(any, error) { w.drain(ctx) })
			return
		}
		w.drain(ctx)
	case *crashNow:
		panic(m.reason) // a test's injected fault (supervise.go)
	case *dropJobStarts:
		w.dropStarts = m.n // a test's injected fault (supervise.go)
	case *actor.Stopping:
		w.stopped = true
		if w.stopTick != nil {
			w.stopTick()
			w.stopTick = nil
		}
		for _, r := range w.runners {
			r.stop()
		}
		if w.exec != nil {
			w.exec.Close()
		}
		if w.ssh != nil {
			_ = w.ssh.Close()
		}
		if w.usage != nil {
			w.usage.Stop()
		}
	}
}

// drain stops leasing and starting requests; in-flight requests finish
// within their timeouts and their batches are flushed. The caller waits on
// the channels of the answer outside this actor, so that acknowledgements
// keep arriving meanwhile.
func (w *Worker) drain(ctx actor.Context) {
	w.draining = true
	done := make([]<-chan struct{}, 0, len(w.runners))
	for _, r := range w.runners {
		r.stop()
		done = append(done, r.finished)
	}
	ctx.Respond(&drained{done: done})
}

// drainWorker asks a worker to stop every runner (engine → worker); the
// worker answers with drained. A local drain (the master itself stops)
// skips telling the master.
type drainWorker struct{ local bool }

// drained holds channels closed when each stopped runner has finished.
type drained struct {
	done []<-chan struct{}
}

func (w *Worker) start(ctx actor.Context, m *JobStart) {
	if r, ok := w.runners[m.JobId]; ok {
		if r.cfg.session == m.MasterSession && !r.isStopped() {
			return // already running: a duplicate start changes nothing
		}
		if r.cfg.session == m.MasterSession {
			// The master stopped this part (JobStop) and gives the job to
			// this worker again: the new part starts once the old one
			// has finished.
			w.restart[m.JobId] = m
			return
		}
		// A new master (it restarted): the part run for the earlier one
		// stops, sends its unacknowledged results to the new master at
		// once, and the new part starts when it has finished. Targets it
		// had not started go back to the new master's leases.
		w.cfg.Logger.Info("new master session: finishing the job's earlier part first", "job", m.JobId)
		w.restart[m.JobId] = m
		r.stop()
		r.requestResend()
		return
	}
	master := m.Master
	if master == nil {
		master = w.master
	}
	var spec job.Spec
	err := json.Unmarshal(m.Spec, &spec)
	var plan *commands.Plan
	if err == nil {
		plan, err = commands.NewPlan(&spec, w.exec, commands.WithSSH(w.ssh))
	}
	if err != nil {
		// The master validated the spec; this is a bug or a version skew.
		w.cfg.Logger.Error("cannot run job", "job", m.JobId, "err", err)
		ctx.Send(master, &JobWorkerDone{JobId: m.JobId, Worker: w.cfg.Name, MasterSession: m.MasterSession})
		return
	}
	r := newRunner(runnerConfig{
		jobID:   m.JobId,
		spec:    &spec,
		plan:    plan,
		worker:  w.cfg,
		system:  ctx.ActorSystem(),
		self:    ctx.Self(),
		master:  master,
		budget:  w.budget,
		session: m.MasterSession,
	})
	w.runners[m.JobId] = r
	if w.set != nil {
		w.set.add(r)
	}
	r.start()
}

// MasterFound tells a worker where the master is (membership → worker);
// the worker registers with it.
type MasterFound struct {
	// Master is the master's actor.
	Master *actor.PID
	// Term is the master's Raft term; 0 in a cluster without Raft. An
	// announcement with a lower term than one the worker accepted is stale
	// (a deposed leader's) and ignored.
	Term uint64
}

// masterFound takes a master announcement. A new master gets the runners
// of the earlier one (handOver) before the worker registers with it.
func (w *Worker) masterFound(ctx actor.Context, m *MasterFound) {
	if m.Master == nil {
		return // nothing to register with
	}
	if m.Term < w.term {
		// A deposed leader's announcement delivered late: following it
		// would lease the worker's capacity to a master that no longer
		// owns the jobs. Term 0 falls here once any term was seen.
		w.cfg.Logger.Info("ignoring the announcement of a master of an earlier term",
			"master", m.Master.String(), "term", m.Term, "knownTerm", w.term, "current", pidString(w.master))
		return
	}
	// At an equal term the latest announcement wins: without Raft every
	// announcement has term 0, and SetMaster must move the worker as before.
	w.term = m.Term
	if !samePID(w.master, m.Master) {
		prev := w.master
		w.master = m.Master
		w.cfg.Logger.Info("master found", "master", m.Master.String(), "term", m.Term, "previous", pidString(prev))
		// First: once the new master sees the registration, no runner
		// leases from the earlier one any more.
		w.handOver(m.Master)
	}
	w.register(ctx)
}

// handOver gives every runner started for another master to master: the
// runner stops (no new lease or request, in-flight requests finish), and
// its batches, those unacknowledged at once and those still to come, and
// its JobWorkerDone go to master. The results a worker held when the
// leader died thus reach the new leader, whose JobStart (a new session)
// starts the job's new part once this one has finished (start).
func (w *Worker) handOver(master *actor.PID) {
	for id, r := range w.runners {
		if samePID(r.master(), master) {
			continue
		}
		w.cfg.Logger.Info("master changed: the job's part stops and sends its results to the new master",
			"job", id, "from", pidString(r.master()), "to", master.String())
		r.handOver(master)
	}
}

// maxRefused bounds the masters remembered as refused; beyond it the
// memory starts again (a refusal is then logged once more).
const maxRefused = 64

// fenced refuses a JobStart from a master that is not the worker's (a stray
// second master, or a deposed leader still sending) and reports whether it
// did. Nothing runs; the sender gets JobWorkerDone, so that it does not
// wait for the worker. A JobStart without a master, or one while the
// worker knows no master, is not fenced (as before leader terms).
func (w *Worker) fenced(ctx actor.Context, m *JobStart) bool {
	if m.Master == nil || w.master == nil || samePID(m.Master, w.master) {
		return false
	}
	if m.Term > w.term {
		// A leader of a later term than any seen: its job start proves
		// its leadership before the membership's announcement arrives.
		w.masterFound(ctx, &MasterFound{Master: m.Master, Term: m.Term})
		return false
	}
	from := m.Master.String()
	if _, seen := w.refused[from]; !seen {
		if len(w.refused) >= maxRefused {
			clear(w.refused)
		}
		w.refused[from] = struct{}{}
		w.cfg.Logger.Warn("refusing job starts from a master that is not this worker's",
			"job", m.JobId, "from", from, "master", w.master.String(), "term", w.term)
	}
	ctx.Send(m.Master, &JobWorkerDone{JobId: m.JobId, Worker: w.cfg.Name, MasterSession: m.MasterSession})
	return true
}

// samePID reports whether a and b name the same actor; nil equals only nil.
func samePID(a, b *actor.PID) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(b)
}

// pidString is pid for a log, "" for nil.
func pidString(pid *actor.PID) string {
	if pid == nil {
		return ""
	}
	return pid.String()
}

// register announces the worker to its master, if it knows one.
func (w *Worker) register(ctx actor.Context) {
	if w.master == nil {
		return
	}
	ctx.Send(w.master, &RegisterWorker{Name: w.cfg.Name, Pid: ctx.Self(), Capacity: int32(w.cfg.Capacity), Tags: w.cfg.Tags, Session: w.session})
}

func (w *Worker) startTicker(ctx actor.Context) {
	if w.cfg.LoadInterval > 0 {
		w.stopTick = tick(ctx, w.cfg.LoadInterval, &loadTick{})
	}
}

func (w *Worker) reportLoad(ctx actor.Context) {
	if w.master == nil {
		return
	}
	load := &WorkerLoad{
		Worker:      w.cfg.Name,
		Capacity:    int32(w.cfg.Capacity),
		RunningJobs: int32(len(w.runners)),
		Jobs:        make(map[string]*JobLoad, len(w.runners)),
		Tags:        w.cfg.Tags,
		Session:     w.session,
	}
	if w.usage != nil {
		u := w.usage.Latest()
		load.Usage = &wire.Usage{CpuPercent: u.CPUPercent, RssBytes: u.RSSBytes, OpenFds: int32(u.OpenFDs), Load1: u.Load1}
	}
	for id, r := range w.runners {
		jl := r.load()
		load.Jobs[id] = jl
		load.InFlight += jl.InFlight
		load.Reserved += int32(r.maxConc)
	}
	ctx.Request(w.master, load) // as a request, so the master knows where it came from
}
