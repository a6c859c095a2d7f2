package actors

import (
	"context"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/salvo-sh/salvo/job"
	"github.com/salvo-sh/salvo/store"
)

// readTimeout bounds one store read of the reader.
const readTimeout = 30 * time.Second

// reader is the master's store reader: it reads target chunks and filters
// targets down to those without a stored result, and answers the master
// with messages, so that a slow disk never stalls the master's Receive.
// Its queue is bounded by what the master asks (one chunk read per job at
// a time, one filter per lost worker and job); the master owns it and
// closes it when it stops.
type reader struct {
	st     store.Store
	ops    chan any
	master *actor.PID
	root   *actor.RootContext
	done   chan struct{}
	cancel context.CancelFunc
	ctx    context.Context
}

// Reader operations and their replies to the master.
type (
	// readChunk reads chunk n of a job minus its stored targets.
	readChunk struct {
		jobID string
		gen   int
		chunk int
	}
	chunkRead struct {
		jobID   string
		gen     int
		chunk   int
		targets []job.IndexedTarget
		// end is the index after the chunk's last target, stored or not
		// (0 for an empty chunk): a rollout's batches are index ranges.
		end int
		err error
	}
	// filterStored keeps the targets without a stored result (a lost
	// worker's leases).
	filterStored struct {
		jobID   string
		gen     int
		worker  string
		reason  string
		targets []job.IndexedTarget
		// handBack: the worker finished its part (not lost): its targets
		// go back to the queue whatever the job's failOver.
		handBack bool
	}
	filtered struct {
		filterStored
		unstored []job.IndexedTarget
		err      error
	}
)

// readerQueue bounds the reader's queue. The master never has more than one
// chunk read per job and one filter per lost worker per job outstanding, so
// a send finds room unless thousands of jobs run at once; the master then
// waits for room, as it did before reads left its Receive.
const readerQueue = 1024

func newReader(st store.Store, root *actor.RootContext, master *actor.PID) *reader {
	ctx, cancel := context.WithCancel(context.Background())
	r := &reader{st: st, ops: make(chan any, readerQueue), master: master, root: root,
		done: make(chan struct{}), ctx: ctx, cancel: cancel}
	go r.run()
	return r
}

// close stops the reader: reads in progress are cancelled, queued ones are
// dropped. It returns when the reader's goroutine has returned.
func (r *reader) close() {
	r.cancel()
	close(r.ops)
	<-r.done
}

func (r *reader) run() {
	defer close(r.done)
	for op := range r.ops {
		if r.ctx.Err() != nil {
			continue // closing: drop what is queued
		}
		switch o := op.(type) {
		case readChunk:
			ts, end, err := r.unstored(o.jobID, o.chunk)
			r.root.Send(r.master, &chunkRead{jobID: o.jobID, gen: o.gen, chunk: o.chunk, targets: ts, end: end, err: err})
		case filterStored:
			ts, err := r.filter(o.jobID, o.targets)
			r.root.Send(r.master, &filtered{filterStored: o, unstored: ts, err: err})
		}
	}
}

// unstored reads chunk c of a job minus the targets already stored, and
// the index after the chunk's last target.
func (r *reader) unstored(jobID string, c int) ([]job.IndexedTarget, int, error) {
	ctx, cancel := context.WithTimeout(r.ctx, readTimeout)
	defer cancel()
	targets, err := r.st.Chunk(ctx, jobID, c)
	if err != nil || len(targets) == 0 {
		return nil, 0, err
	}
	end := targets[len(targets)-1].Index + 1
	stored, err := r.st.StoredIndexes(ctx, jobID, targets[0].Index, end)
	if err != nil {
		return nil, 0, err
	}
	return keepUnstored(targets, stored), end, nil
}

// filter returns the targets that have no stored result.
func (r *reader) filter(jobID string, ts []job.IndexedTarget) ([]job.IndexedTarget, error) {
	if len(ts) == 0 {
		return nil, nil
	}
	lo, hi := ts[0].Index, ts[0].Index
	for _, t := range ts {
		lo, hi = min(lo, t.Index), max(hi, t.Index)
	}
	ctx, cancel := context.WithTimeout(r.ctx, readTimeout)
	defer cancel()
	stored, err := r.st.StoredIndexes(ctx, jobID, lo, hi+1)
	if err != nil {
		return nil, err
	}
	return keepUnstored(ts, stored), nil
}

// keepUnstored returns the targets whose index is not in stored, reusing
// ts's array.
func keepUnstored(ts []job.IndexedTarget, stored map[int]bool) []job.IndexedTarget {
	if len(stored) == 0 {
		return ts
	}
	out := ts[:0]
	for _, t := range ts {
		if !stored[t.Index] {
			out = append(out, t)
		}
	}
	return out
}
