package actors

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"golang.org/x/sync/semaphore"
	"golang.org/x/time/rate"

	"github.com/salvo-sh/salvo/actors/wire"
	"github.com/salvo-sh/salvo/commands"
	"github.com/salvo-sh/salvo/job"
	"github.com/salvo-sh/salvo/throttle"
)

// runnerConfig is what a runner needs from its worker.
type runnerConfig struct {
	jobID  string
	spec   *job.Spec
	plan   *commands.Plan
	worker WorkerConfig
	system *actor.ActorSystem
	self   *actor.PID // the worker actor
	// master is the master the runner is started for. It may change while
	// the runner runs (handOver): the runner's goroutines read
	// runner.master(), never this.
	master *actor.PID
	// budget is the worker's budget of response bytes in flight; nil
	// without one.
	budget *semaphore.Weighted
	// session is the master's session the runner was started for.
	session string
}

// item is one leased target waiting to run.
type item struct {
	target job.IndexedTarget
	lease  int64
}

// leased is one result with the lease it belongs to, and the bytes of the
// worker's body budget it holds until its batch is acknowledged.
type leased struct {
	result job.Result
	lease  int64
	hold   int64
}

// runner runs one job on one worker: a feeder pulls leases from the master,
// maxConcurrency slot goroutines run targets, and a batcher sends results
// back in acknowledged batches. Unless the spec turns it off, an adaptive
// throttle bounds how many slots run a request at once, and a controller
// goroutine ticks it. Memory is bounded by the lease size, the concurrency
// and the unacknowledged batches, never by the target count.
type runner struct {
	cfg runnerConfig
	// to is the master the runner's batches, LeaseDones, lease requests
	// and JobWorkerDone go to: cfg.master at first, the new master after
	// handOver. The feeder and the batcher read it at every send.
	to       atomic.Pointer[actor.PID]
	maxConc  int
	limiter  *rate.Limiter        // nil when ratePerSecond is 0
	throttle *throttle.Controller // nil when the spec turns the throttle off

	queue   chan item
	results chan leased
	acks    chan *BatchAck
	// resendNow asks the batcher to send every unacknowledged batch again
	// at once (a new master session started).
	resendNow chan struct{}
	// abandonCh, closed by abandon, makes the batcher give up its
	// unacknowledged batches at once: their master is gone for good.
	abandonCh   chan struct{}
	abandonOnce sync.Once

	// runCtx is cancelled by cancel: it stops retries and backoffs.
	runCtx    context.Context
	runCancel context.CancelFunc
	// stopCtx is cancelled by stop and cancel: no new lease, no new request.
	stopCtx    context.Context
	stopCancel context.CancelFunc

	mu         sync.Mutex
	stopped    bool
	started    int64
	inFlight   int
	leaseSizes map[int64]int // lease → targets leased, until all its results are sent

	// unacked is the batcher's count of unacknowledged batches, the
	// throttle's backpressure signal.
	unacked atomic.Int32

	wg        sync.WaitGroup // feeder and slots
	slotsDone chan struct{}  // closed when the feeder and every slot returned
	ctlDone   chan struct{}  // closed when the throttle controller returned
	finished  chan struct{}  // closed when the batcher has finished
}

func newRunner(cfg runnerConfig) *runner {
	maxConc := cfg.spec.MaxConcurrency
	if maxConc <= 0 {
		maxConc = 1
	}
	r := &runner{
		cfg:        cfg,
		maxConc:    maxConc,
		queue:      make(chan item, leaseSize(cfg)),
		results:    make(chan leased, cfg.worker.BatchSize),
		acks:       make(chan *BatchAck, 2*cfg.worker.MaxUnacked+2),
		resendNow:  make(chan struct{}, 1),
		abandonCh:  make(chan struct{}),
		leaseSizes: map[int64]int{},
		slotsDone:  make(chan struct{}),
		ctlDone:    make(chan struct{}),
		finished:   make(chan struct{}),
	}
	if cfg.spec.Throttle == nil || *cfg.spec.Throttle {
		tc := throttle.DefaultConfig()
		if tc.Backpressure == 0 {
			tc.Backpressure = cfg.worker.MaxUnacked
		}
		r.throttle = throttle.New(tc, maxConc)
	}
	if rps := cfg.spec.RatePerSecond; rps > 0 {
		burst := int(rps)
		if burst < 1 {
			burst = 1
		}
		r.limiter = rate.NewLimiter(rate.Limit(rps), burst)
	}
	r.runCtx, r.runCancel = context.WithCancel(context.Background())
	r.stopCtx, r.stopCancel = context.WithCancel(r.runCtx)
	r.to.Store(cfg.master)
	return r
}

// master returns the runner's current master.
func (r *runner) master() *actor.PID { return r.to.Load() }

func leaseSize(cfg runnerConfig) int {
	n := 2 * cfg.spec.MaxConcurrency
	if n < job.DefaultChunkSize {
		n = job.DefaultChunkSize
	}
	return n
}

// start launches the runner's goroutines.
func (r *runner) start() {
	if m := r.cfg.worker.Metrics; m != nil {
		m.setConcurrency(r.cfg.jobID, r.concurrency())
	}
	r.wg.Add(1 + r.maxConc)
	go r.feed()
	for i := 0; i < r.maxConc; i++ {
		go r.slot()
	}
	go func() {
		r.wg.Wait()
		close(r.slotsDone)
		close(r.results)
	}()
	if r.throttle != nil {
		go r.control()
	} else {
		close(r.ctlDone)
	}
	go r.batch()
}

// concurrency returns the job's effective concurrency on this worker.
func (r *runner) concurrency() int {
	if r.throttle != nil {
		return r.throttle.Limit()
	}
	return r.maxConc
}

// control ticks the throttle until every slot has returned, and keeps the
// job's concurrency gauge up to date.
func (r *runner) control() {
	defer close(r.ctlDone)
	th, m := r.throttle, r.cfg.worker.Metrics
	tick := time.NewTicker(th.Config().TickInterval)
	defer tick.Stop()
	fds := throttle.NewFDSampler(th.Config().FDInterval, th.Config().FDHighWater)
	shown := th.Limit()
	for {
		select {
		case <-r.slotsDone:
			return
		case <-tick.C:
		}
		open, limit := fds.Sample(time.Now())
		if d, ok := th.Tick(throttle.Signals{Unacked: int(r.unacked.Load()), OpenFDs: open, FDLimit: limit}); ok {
			r.decided(d)
		}
		if l := th.Limit(); m != nil && l != shown {
			m.setConcurrency(r.cfg.jobID, l)
			shown = l
		}
	}
}

// decided counts and logs a decrease of the throttle's limit, and logs an
// undone error probe.
func (r *runner) decided(d throttle.Decision) {
	wc := r.cfg.worker
	if d.Undo {
		// An error probe whose decrease did not lower the failures: the
		// hosts' own, not congestion; the limit is back where it was.
		wc.Logger.Debug("throttle probe undone: failures do not fall with the load", "job", r.cfg.jobID,
			"from", d.From, "to", d.To, "troubleShare", d.Share, "usualShare", d.ErrorBase)
		return
	}
	if d.Reason == throttle.ReasonIncrease {
		return
	}
	if wc.Metrics != nil {
		wc.Metrics.throttled(d.Reason)
	}
	wc.Logger.Debug("throttle decrease", "job", r.cfg.jobID, "reason", d.Reason, "from", d.From, "to", d.To,
		"samples", d.Samples, "troubleShare", d.Share, "usualShare", d.ErrorBase,
		"p50", d.P50, "baseline", d.Baseline, "unacked", d.Unacked, "openFDs", d.OpenFDs, "fdLimit", d.FDLimit)
}

// stop stops leasing and starting requests; in-flight requests finish.
func (r *runner) stop() {
	r.mu.Lock()
	r.stopped = true
	r.mu.Unlock()
	r.stopCancel()
}

// handOver makes master the runner's master and stops the runner: the
// earlier master lost the lead. No lease request goes out once it returns
// (the feeder sends under mu after checking stopped); requests in flight
// finish; every batch, the unacknowledged ones at once, goes to master, and
// so does the runner's JobWorkerDone. The new master leases the targets
// this part did not run to the job's new part. It never blocks.
func (r *runner) handOver(master *actor.PID) {
	r.mu.Lock()
	r.to.Store(master)
	r.stopped = true
	r.mu.Unlock()
	r.stopCancel()
	r.requestResend() // after the store: the batcher's forced resend reads master
}

// abandon makes the batcher give up its unacknowledged batches without
// waiting for AckTimeout: the master that would acknowledge them is gone
// (it crashed, and the node shuts down). Their targets have no stored
// result and run again at the next start. It never blocks.
func (r *runner) abandon() {
	r.abandonOnce.Do(func() { close(r.abandonCh) })
}

// isStopped reports whether stop was called: the runner starts nothing
// more and only finishes what it has.
func (r *runner) isStopped() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stopped
}

// cancel is stop plus no more retries or backoff waits.
func (r *runner) cancel() {
	r.stop()
	r.runCancel()
}

// requestResend asks the batcher to send its unacknowledged batches again
// at once. It never blocks.
func (r *runner) requestResend() {
	select {
	case r.resendNow <- struct{}{}:
	default:
	}
}

// ack routes a BatchAck to the batcher. It never blocks the worker actor.
func (r *runner) ack(a *BatchAck) {
	select {
	case r.acks <- a:
	default:
		r.cfg.worker.Logger.Warn("dropping unexpected batch ack", "job", r.cfg.jobID, "seq", a.Seq)
	}
}

// leaseComplete reports whether n results are all of lease's targets.
func (r *runner) leaseComplete(lease int64, n int) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	size, ok := r.leaseSizes[lease]
	return ok && n >= size
}

// load returns the runner's live figures.
func (r *runner) load() *JobLoad {
	r.mu.Lock()
	defer r.mu.Unlock()
	return &JobLoad{Started: r.started, InFlight: int32(r.inFlight), Concurrency: int32(r.concurrency())}
}

// feed pulls leases from the master until the job has no more targets or
// the runner stops.
func (r *runner) feed() {
	defer r.wg.Done()
	defer close(r.queue)
	root := r.cfg.system.Root
	for {
		// The lease gate: the check and the send hold mu, so that once stop
		// or handOver returns no request goes out, to the deposed master
		// least of all. A send only enqueues: nothing waits under mu.
		r.mu.Lock()
		if r.stopped {
			r.mu.Unlock()
			return
		}
		f := root.RequestFuture(r.master(), &LeaseRequest{
			JobId: r.cfg.jobID, Worker: r.cfg.worker.Name,
		}, r.cfg.worker.LeaseTimeout)
		r.mu.Unlock()
		res, err := f.Result()
		if err != nil {
			r.cfg.worker.Logger.Warn("lease request failed", "job", r.cfg.jobID, "err", err)
			return
		}
		g, ok := res.(*LeaseGrant)
		if !ok {
			r.cfg.worker.Logger.Error("unexpected lease reply", "job", r.cfg.jobID)
			return
		}
		if len(g.Targets) > 0 {
			r.mu.Lock()
			r.leaseSizes[g.LeaseId] = len(g.Targets)
			r.mu.Unlock()
		}
		for _, t := range g.Targets {
			select {
			case r.queue <- item{target: fromWireTarget(t), lease: g.LeaseId}:
			case <-r.stopCtx.Done():
				return
			}
		}
		if g.Last {
			return
		}
	}
}

// slot runs targets one at a time.
func (r *runner) slot() {
	defer r.wg.Done()
	for {
		var it item
		var ok bool
		select {
		case it, ok = <-r.queue:
			if !ok {
				return
			}
		case <-r.stopCtx.Done():
			return
		}
		th := r.throttle
		if th != nil {
			if err := th.Acquire(r.stopCtx); err != nil {
				return
			}
		}
		if r.limiter != nil {
			if err := r.limiter.Wait(r.stopCtx); err != nil {
				if th != nil {
					th.Release()
				}
				return
			}
		}
		// The body budget: a request may bring back up to its cap of
		// output; it waits until the worker can hold that much.
		hold := r.bodyHold()
		if r.cfg.budget != nil {
			if err := r.cfg.budget.Acquire(r.stopCtx, hold); err != nil {
				if th != nil {
					th.Release()
				}
				return
			}
		}
		// The gate: once stop returns, no request starts.
		r.mu.Lock()
		if r.stopped {
			r.mu.Unlock()
			if th != nil {
				th.Release()
			}
			r.releaseBody(hold)
			return
		}
		r.started++
		r.inFlight++
		r.mu.Unlock()
		m := r.cfg.worker.Metrics
		if m != nil {
			m.inFlight.Inc()
		}

		var started time.Time
		if th != nil {
			started = th.Now()
		}
		res := r.cfg.plan.Run(r.runCtx, it.target)
		res.Worker = r.cfg.worker.Name
		if th != nil {
			if d, ok := th.Done(started, &res); ok {
				r.decided(d)
			}
		}
		if m != nil {
			m.inFlight.Dec()
			m.observeResult(r.cfg.spec.Protocol, &res)
		}

		r.mu.Lock()
		r.inFlight--
		r.mu.Unlock()
		// Keep what the output takes until its batch is acknowledged.
		if keep := int64(len(res.Body) + len(res.Stderr)); keep < hold {
			r.releaseBody(hold - keep)
			hold = keep
		}
		r.results <- leased{result: res, lease: it.lease, hold: hold}
	}
}

// bodyHold is what one request of the job may take of the body budget: its
// body cap (twice for SSH: stdout and stderr each have it).
func (r *runner) bodyHold() int64 {
	n := int64(r.cfg.spec.MaxBodyBytes)
	if n <= 0 {
		n = job.DefaultMaxBodyBytes
	}
	if r.cfg.spec.Protocol == job.ProtocolSSH {
		n *= 2
	}
	return n
}

// releaseBody gives n bytes back to the body budget.
func (r *runner) releaseBody(n int64) {
	if r.cfg.budget != nil && n > 0 {
		r.cfg.budget.Release(n)
	}
}

// batch groups results per lease into batches, sends them to the master and
// keeps at most MaxUnacked batches unacknowledged.
func (r *runner) batch() {
	defer func() {
		<-r.ctlDone // returns once every slot has (results is closed)
		if m := r.cfg.worker.Metrics; m != nil {
			m.jobEnded(r.cfg.jobID)
		}
		r.cfg.system.Root.Send(r.cfg.self, &runnerDone{jobID: r.cfg.jobID, r: r})
		close(r.finished) // last: WorkerHost.Wait returns on it
	}()
	wc := r.cfg.worker
	root := r.cfg.system.Root
	pending := map[int64][]*wire.Result{}
	pendingBytes := map[int64]int{}
	pendingHold := map[int64]int64{} // lease → body budget its pending results hold
	sent := map[int64]int{}          // lease → results sent
	unacked := map[int64]time.Time{} // seq → sent at
	unackedHold := map[int64]int64{} // seq → body budget held
	// Unacknowledged batches are kept (at most MaxUnacked) and sent again
	// every ResendAfter: a master that restarted lost them, and stores
	// them once (a batch it already stored changes nothing).
	unackedBatch := map[int64]*ResultBatch{}
	lastSend := map[int64]time.Time{}
	var seq int64

	forget := func(s int64) {
		delete(unacked, s)
		r.releaseBody(unackedHold[s])
		delete(unackedHold, s)
		delete(unackedBatch, s)
		delete(lastSend, s)
		r.unacked.Store(int32(len(unacked)))
	}
	// resend sends unacknowledged batches again: those due after
	// ResendAfter, or all of them at once (all) when a new master (a new
	// session, or a new leader after handOver) never saw them. Those get
	// the whole AckTimeout from now: the clock of the earlier master's
	// acknowledgement does not bind the new one.
	resend := func(now time.Time, all bool) {
		to := r.master()
		for s, b := range unackedBatch {
			if all || (wc.ResendAfter > 0 && now.Sub(lastSend[s]) >= wc.ResendAfter) {
				lastSend[s] = now
				if all {
					unacked[s] = now
				}
				root.Send(to, b)
			}
		}
	}
	handleAck := func(a *BatchAck) {
		// Seqs count per runner: an ack meant for an earlier runner of the
		// job on this worker names another lease.
		if b, ok := unackedBatch[a.Seq]; ok && b.LeaseId == a.LeaseId {
			forget(a.Seq)
		}
	}
	// waitRoom blocks until fewer than limit batches are unacknowledged;
	// a batch unacknowledged for AckTimeout is abandoned.
	waitRoom := func(limit int) {
		for len(unacked) >= limit && len(unacked) > 0 {
			oldest := time.Time{}
			for _, at := range unacked {
				if oldest.IsZero() || at.Before(oldest) {
					oldest = at
				}
			}
			wait := time.Until(oldest.Add(wc.AckTimeout))
			if wc.ResendAfter > 0 {
				wait = min(wait, wc.ResendAfter)
			}
			resend(time.Now(), false)
			if time.Now().After(oldest.Add(wc.AckTimeout)) {
				for s, at := range unacked {
					if at.Equal(oldest) {
						wc.Logger.Warn("batch not acknowledged, abandoning it", "job", r.cfg.jobID, "seq", s)
						forget(s)
					}
				}
				continue
			}
			t := time.NewTimer(max(wait, time.Millisecond))
			select {
			case a := <-r.acks:
				handleAck(a)
			case <-r.resendNow:
				resend(time.Now(), true)
			case <-r.abandonCh:
				wc.Logger.Warn("master gone: abandoning unacknowledged batches", "job", r.cfg.jobID, "batches", len(unacked))
				for s := range unacked {
					forget(s)
				}
			case <-t.C:
			}
			t.Stop()
		}
	}
	flush := func(lease int64) {
		ws := pending[lease]
		if len(ws) == 0 {
			return
		}
		waitRoom(wc.MaxUnacked)
		seq++
		now := time.Now()
		unacked[seq], lastSend[seq] = now, now
		unackedHold[seq] = pendingHold[lease]
		delete(pendingHold, lease)
		r.unacked.Store(int32(len(unacked)))
		b := &ResultBatch{JobId: r.cfg.jobID, Worker: wc.Name, LeaseId: lease, Seq: seq, Results: ws, From: r.cfg.self}
		unackedBatch[seq] = b // before the send: a handOver's forced resend covers it
		root.Send(r.master(), b)
		delete(pending, lease)
		delete(pendingBytes, lease)
		sent[lease] += len(ws)
		r.mu.Lock()
		size, ok := r.leaseSizes[lease]
		if ok && sent[lease] >= size {
			delete(r.leaseSizes, lease)
		}
		r.mu.Unlock()
		if ok && sent[lease] >= size {
			delete(sent, lease)
			root.Send(r.master(), &LeaseDone{JobId: r.cfg.jobID, Worker: wc.Name, LeaseId: lease})
		}
	}
	flushAll := func() {
		for lease := range pending {
			flush(lease)
		}
	}

	tick := time.NewTicker(wc.BatchInterval)
	defer tick.Stop()
	for {
		select {
		case lr, ok := <-r.results:
			if !ok {
				flushAll()
				waitRoom(1) // every batch acknowledged (or abandoned)
				return
			}
			pending[lr.lease] = append(pending[lr.lease], toWireResult(&lr.result))
			pendingBytes[lr.lease] += len(lr.result.Body) + len(lr.result.Stderr)
			pendingHold[lr.lease] += lr.hold
			if len(pending[lr.lease]) >= wc.BatchSize || pendingBytes[lr.lease] >= wc.BatchBytes ||
				r.leaseComplete(lr.lease, sent[lr.lease]+len(pending[lr.lease])) {
				// A lease's last results go at once rather than at the next
				// tick: the job's end waits for them.
				flush(lr.lease)
			}
		case <-tick.C:
			flushAll()
			resend(time.Now(), false)
		case <-r.resendNow:
			resend(time.Now(), true)
		case a := <-r.acks:
			handleAck(a)
		}
	}
}
