package actors

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/salvo-sh/salvo/job"
	"github.com/salvo-sh/salvo/store"
)

// writer is the master's single store writer: result batches, job updates
// and the cancelled-result fill of a cancelled job go through it in order,
// so that a job's final state is written after its last result. It reports
// back to the master with messages.
//
// The master never waits on it: submit only queues. The queue is bounded
// by the protocol, not by a channel: result batches by the workers'
// unacknowledged-batch limit (a batch is acknowledged once written), job
// records by the number of jobs (a job's queued record is replaced by its
// newer one). Once more than high result operations wait, the writer is
// congested: the master grants no new lease until the writer has caught up
// to low and says so with writerDrained.
type writer struct {
	st     store.Store
	master *actor.PID
	root   *actor.RootContext
	logger *slog.Logger
	done   chan struct{}
	// ends, when set, is told after a terminal state is written (or could
	// not be: its waiters then read the state the master still serves).
	ends *JobEnds

	high, low int
	// parallel is how many result batches are stored at once; any other
	// operation waits for those in flight, so that a job's record is
	// still written after the results queued before it.
	parallel int
	inFlight sync.WaitGroup

	// health is told when writes fail for lack of space and when they
	// succeed again; fullRetry is how long the writer waits before it
	// tries a write refused for lack of space again.
	health    *StoreHealth
	fullRetry time.Duration
	lastWarn  time.Time // under mu
	// quit ends the waits of retries: close gives up on writes that
	// still find the disk full after closeWait.
	quit chan struct{}

	mu        sync.Mutex
	queue     []any
	backlog   int           // result operations queued or being written
	congested bool          // backlog reached high; cleared at low
	closed    bool          // close was called: drain the queue, then stop
	wake      chan struct{} // capacity 1: the queue has work
}

// Writer operations and their replies to the master.
type (
	writeResults struct{ batch *ResultBatch }
	writeJob     struct{ job store.Job }
	// fillCancelled stores a cancelled result for every target of a job
	// that has none; with state set, a result of that state and error
	// msg instead (a rollout stopped: skipped, job.RolloutStopped).
	fillCancelled struct {
		jobID    string
		protocol string
		worker   string
		state    string
		msg      string
	}

	// failTargets stores an error result for each target (a lost
	// worker's targets when the job has failOver off).
	failTargets struct {
		jobID, protocol, worker string
		targets                 []job.IndexedTarget
		class, msg              string
	}

	// writerDrained tells the master that a congested writer caught up.
	writerDrained struct{}
	// storeFull tells the master that writes fail for lack of space
	// (full) or succeed again.
	storeFull struct{ full bool }

	batchStored struct {
		batch  *ResultBatch
		counts map[string]int
		err    error
		// lost: the results are a lost worker's targets stored as
		// error/worker_lost (failTargets), which no rollout counts as
		// failures.
		lost bool
	}
	cancelFilled struct {
		jobID  string
		counts map[string]int
		err    error
	}
)

// newWriter starts a writer that is congested above high queued result
// operations and stores up to parallel result batches at once.
func newWriter(st store.Store, root *actor.RootContext, master *actor.PID, logger *slog.Logger, high, parallel int) *writer {
	high = max(high, 2)
	w := &writer{st: st, master: master, root: root, logger: logger, done: make(chan struct{}), parallel: max(1, parallel),
		high: high, low: high / 2, wake: make(chan struct{}, 1), quit: make(chan struct{}),
		health: &StoreHealth{}, fullRetry: 2 * time.Second}
	go w.run()
	return w
}

// submit queues an operation; it never blocks. A job record replaces the
// same job's record still queued, and goes to the end of the queue, after
// every result queued before it.
func (w *writer) submit(op any) {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		w.logger.Error("store write after the writer closed; dropped", "op", opName(op))
		return
	}
	switch o := op.(type) {
	case writeJob:
		for i, q := range w.queue {
			if qj, ok := q.(writeJob); ok && qj.job.ID == o.job.ID {
				w.queue = append(w.queue[:i], w.queue[i+1:]...)
				break
			}
		}
	case writeResults, failTargets:
		w.backlog++
		if w.backlog >= w.high {
			w.congested = true
		}
	}
	w.queue = append(w.queue, op)
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// isCongested reports whether the master should hold new leases back.
func (w *writer) isCongested() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.congested
}

// closeWait bounds how long close waits for queued writes while the disk
// is full; what is not written then runs again after the next start.
const closeWait = 10 * time.Second

// close stops accepting operations and waits until every queued one is
// written, or, while the disk is full, at most closeWait.
func (w *writer) close() {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
	t := time.NewTimer(closeWait)
	defer t.Stop()
	for {
		select {
		case <-w.done:
			return
		case <-t.C:
			if w.health.Err() == nil {
				t.Reset(closeWait) // writing, not stuck: keep waiting
				continue
			}
			w.logger.Error("store full at shutdown: giving up the writes still queued (their targets run again after the next start)")
			close(w.quit)
			<-w.done
			return
		}
	}
}

// next returns the next queued operation, waiting for one; ok is false
// once the writer is closed and its queue is empty.
func (w *writer) next() (op any, ok bool) {
	for {
		w.mu.Lock()
		if len(w.queue) > 0 {
			op = w.queue[0]
			w.queue[0] = nil
			w.queue = w.queue[1:]
			w.mu.Unlock()
			return op, true
		}
		closed := w.closed
		w.mu.Unlock()
		if closed {
			return nil, false
		}
		<-w.wake
	}
}

// written accounts for a result operation that was written.
func (w *writer) written() {
	w.mu.Lock()
	w.backlog--
	drained := w.congested && w.backlog <= w.low
	if drained {
		w.congested = false
	}
	w.mu.Unlock()
	if drained {
		w.root.Send(w.master, &writerDrained{})
	}
}

func opName(op any) string {
	switch op.(type) {
	case writeResults:
		return "results"
	case writeJob:
		return "job"
	case failTargets:
		return "failTargets"
	case fillCancelled:
		return "fillCancelled"
	}
	return "unknown"
}

func (w *writer) run() {
	defer close(w.done)
	defer w.inFlight.Wait()
	slots := make(chan struct{}, max(1, w.parallel))
	for {
		op, ok := w.next()
		if !ok {
			return
		}
		if _, results := op.(writeResults); !results {
			w.inFlight.Wait()
		}
		switch o := op.(type) {
		case writeResults:
			put := func() {
				counts, err := w.putResults(o.batch.JobId, fromWireResults(o.batch.Results))
				w.written()
				w.root.Send(w.master, &batchStored{batch: o.batch, counts: counts, err: err})
			}
			if w.parallel <= 1 {
				put()
				continue
			}
			slots <- struct{}{}
			w.inFlight.Add(1)
			go func() {
				defer func() { <-slots; w.inFlight.Done() }()
				put()
			}()
		case writeJob:
			if err := w.retry(func(ctx context.Context) error { return w.st.UpdateJob(ctx, &o.job) }); err != nil {
				w.logger.Error("cannot store job state", "job", o.job.ID, "state", o.job.State, "err", err)
			}
			if w.ends != nil && store.Terminal(o.job.State) {
				w.ends.Ended(o.job.ID)
			}
		case failTargets:
			now := time.Now().UTC()
			rs := make([]job.Result, len(o.targets))
			for i, t := range o.targets {
				rs[i] = unansweredResult(t, o.protocol, o.worker, now, job.StateError, o.class, o.msg)
			}
			counts, err := w.putResults(o.jobID, rs)
			w.written()
			w.root.Send(w.master, &batchStored{batch: &ResultBatch{JobId: o.jobID, Worker: o.worker}, counts: counts, err: err,
				lost: o.class == job.ClassWorkerLost})
		case fillCancelled:
			counts, err := w.fillCancelled(o)
			w.root.Send(w.master, &cancelFilled{jobID: o.jobID, counts: counts, err: err})
		}
	}
}

// retry runs a store call, each attempt bounded by a timeout: up to three
// times for an error, and for as long as it takes while the disk is full
// (the writer pauses; nothing queued is dropped, and the master grants no
// lease meanwhile).
func (w *writer) retry(f func(ctx context.Context) error) error {
	failures := 0
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := f(ctx)
		cancel()
		switch {
		case err == nil:
			w.writable()
			return nil
		case store.IsFull(err):
			w.full(err)
			if !w.pause(w.fullRetry) {
				return err
			}
		case errors.Is(err, store.ErrNotLeader):
			return err // deposed: the new leader's master takes over
		default:
			failures++
			if failures >= 3 || !w.pause(time.Duration(failures)*100*time.Millisecond) {
				return err
			}
		}
	}
}

// fullWarnInterval is how often the log repeats that the store is full.
const fullWarnInterval = time.Minute

// full records a write refused for lack of space: the master is told once,
// the log says it once per fullWarnInterval.
func (w *writer) full(err error) {
	if w.health.setFull(err) {
		w.mu.Lock()
		w.lastWarn = time.Now()
		w.mu.Unlock()
		w.logger.Error("the store's disk is full: writes are paused until space returns", "err", err)
		w.root.Send(w.master, &storeFull{full: true})
		return
	}
	w.mu.Lock() // results may be stored in parallel
	warn := time.Since(w.lastWarn) >= fullWarnInterval
	if warn {
		w.lastWarn = time.Now()
	}
	queued := len(w.queue)
	w.mu.Unlock()
	if warn {
		w.logger.Error("the store's disk is still full: writes are paused", "err", err, "queued", queued)
	}
}

// writable records a write that succeeded.
func (w *writer) writable() {
	if w.health.clear() {
		w.logger.Info("the store takes writes again")
		w.root.Send(w.master, &storeFull{full: false})
	}
}

// pause waits d; false when the writer is told to quit.
func (w *writer) pause(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-w.quit:
		return false
	}
}

func (w *writer) putResults(jobID string, rs []job.Result) (map[string]int, error) {
	var counts map[string]int
	err := w.retry(func(ctx context.Context) error {
		var err error
		counts, err = w.st.PutResults(ctx, jobID, rs)
		return err
	})
	return counts, err
}

func (w *writer) fillCancelled(o fillCancelled) (map[string]int, error) {
	jobID := o.jobID
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	n, err := w.st.ChunkCount(ctx, jobID)
	if err != nil {
		return nil, err
	}
	total := map[string]int{}
	now := time.Now().UTC()
	state := o.state
	if state == "" {
		state = job.StateCancelled
	}
	for c := 0; c < n; c++ {
		targets, err := w.st.Chunk(ctx, jobID, c)
		if err != nil {
			return total, err
		}
		if len(targets) == 0 {
			continue
		}
		stored, err := w.st.StoredIndexes(ctx, jobID, targets[0].Index, targets[len(targets)-1].Index+1)
		if err != nil {
			return total, err
		}
		var rs []job.Result
		for _, t := range targets {
			if stored[t.Index] {
				continue
			}
			rs = append(rs, unansweredResult(t, o.protocol, o.worker, now, state, "", o.msg))
		}
		if len(rs) == 0 {
			continue
		}
		counts, err := w.putResults(jobID, rs)
		if err != nil {
			return total, err
		}
		for k, v := range counts {
			total[k] += v
		}
	}
	return total, nil
}

// unansweredResult is the result of a target that was never sent: state
// cancelled, or error with an error class (a lost worker's targets). Its
// value is the class, or the state when there is none.
func unansweredResult(t job.IndexedTarget, protocol, worker string, now time.Time, state, class, msg string) job.Result {
	host := t.Target.Host
	if pt, err := job.ParseTarget(t.Target.Host, protocol); err == nil {
		host = pt.Host
	}
	value := class
	if value == "" {
		value = state
	}
	return job.Result{
		Index: t.Index, Host: host, Target: t.Target.Host, State: state, ErrorClass: class, Error: msg,
		Value: value, Worker: worker, StartedAt: now, FinishedAt: now,
	}
}
