package actors

import (
	"context"
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/salvo-sh/salvo/job"
	"github.com/salvo-sh/salvo/store"
)

// writer is the master's single store writer: result batches, job updates
// and the cancelled-result fill of a cancelled job go through it in order,
// so that a job's final state is written after its last result. It reports
// back to the master with messages.
type writer struct {
	st     store.Store
	ops    chan any
	master *actor.PID
	root   *actor.RootContext
	logger *slog.Logger
	done   chan struct{}
	// ends, when set, is told after a terminal state is written (or could
	// not be: its waiters then read the state the master still serves).
	ends *JobEnds
}

// Writer operations and their replies to the master.
type (
	writeResults struct{ batch *ResultBatch }
	writeJob     struct{ job store.Job }
	// fillCancelled stores a cancelled result for every target of a job
	// that has none.
	fillCancelled struct {
		jobID    string
		protocol string
		worker   string
	}

	// failTargets stores an error result for each target (a lost
	// worker's targets when the job has failOver off).
	failTargets struct {
		jobID, protocol, worker string
		targets                 []job.IndexedTarget
		class, msg              string
	}

	batchStored struct {
		batch  *ResultBatch
		counts map[string]int
		err    error
	}
	cancelFilled struct {
		jobID  string
		counts map[string]int
		err    error
	}
)

func newWriter(st store.Store, root *actor.RootContext, master *actor.PID, logger *slog.Logger, queue int) *writer {
	w := &writer{st: st, ops: make(chan any, queue), master: master, root: root, logger: logger, done: make(chan struct{})}
	go w.run()
	return w
}

// close stops accepting operations and waits until every queued one is written.
func (w *writer) close() {
	close(w.ops)
	<-w.done
}

func (w *writer) run() {
	defer close(w.done)
	for op := range w.ops {
		switch o := op.(type) {
		case writeResults:
			counts, err := w.putResults(o.batch.JobId, fromWireResults(o.batch.Results))
			w.root.Send(w.master, &batchStored{batch: o.batch, counts: counts, err: err})
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
			w.root.Send(w.master, &batchStored{batch: &ResultBatch{JobId: o.jobID, Worker: o.worker}, counts: counts, err: err})
		case fillCancelled:
			counts, err := w.fillCancelled(o)
			w.root.Send(w.master, &cancelFilled{jobID: o.jobID, counts: counts, err: err})
		}
	}
}

// retry runs a store call up to three times, each bounded by a timeout.
func (w *writer) retry(f func(ctx context.Context) error) error {
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		if attempt > 0 {
			time.Sleep(time.Duration(attempt) * 100 * time.Millisecond)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err = f(ctx)
		cancel()
		if err == nil {
			return nil
		}
	}
	return err
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
			rs = append(rs, unansweredResult(t, o.protocol, o.worker, now, job.StateCancelled, "", ""))
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
