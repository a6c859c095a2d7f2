package actors

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/asynkron/protoactor-go/actor"
)

// WorkerName is the actor name of a node's worker: a master addresses the
// worker of the node whose remote address is A as actor.NewPID(A, WorkerName).
const WorkerName = "worker"

// MasterName is the actor name of the master.
const MasterName = "master"

// NewSystem returns an actor system that logs through logger.
func NewSystem(logger *slog.Logger) *actor.ActorSystem {
	return actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return logger.With("component", "actor")
	}))
}

// WorkerHost runs a node's Worker actor.
type WorkerHost struct {
	system  *actor.ActorSystem
	pid     *actor.PID
	cfg     WorkerConfig
	runners *runnerSet
}

// runnerSet tracks a worker's runners for its host, which waits for them
// outside the actor: a worker that stopped (or panicked) leaves runners
// finishing their in-flight requests.
type runnerSet struct {
	mu sync.Mutex
	m  map[*runner]struct{}
}

func (s *runnerSet) add(r *runner) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[*runner]struct{}{}
	}
	s.m[r] = struct{}{}
}

func (s *runnerSet) remove(r *runner) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, r)
}

// abandon makes every runner give up its unacknowledged batches.
func (s *runnerSet) abandon() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for r := range s.m {
		r.abandon()
	}
}

func (s *runnerSet) finished() []<-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]<-chan struct{}, 0, len(s.m))
	for r := range s.m {
		out = append(out, r.finished)
	}
	return out
}

// StartWorker spawns the node's worker on system. master may be nil: the
// worker registers when it learns its master (SetMaster).
func StartWorker(system *actor.ActorSystem, cfg WorkerConfig, master *actor.PID) (*WorkerHost, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	runners := &runnerSet{}
	pid, err := system.Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor {
		w := NewWorker(cfg, master)
		w.set = runners
		return w
	}), WorkerName)
	if err != nil {
		return nil, fmt.Errorf("spawn worker: %w", err)
	}
	return &WorkerHost{system: system, pid: pid, cfg: cfg, runners: runners}, nil
}

// Wait returns when every runner of the worker has finished (their
// in-flight requests ended and their batches were sent), or ctx ends.
func (h *WorkerHost) Wait(ctx context.Context) error {
	for _, done := range h.runners.finished() {
		select {
		case <-done:
		case <-ctx.Done():
			return fmt.Errorf("wait for worker runners: %w", context.Cause(ctx))
		}
	}
	return nil
}

// Abandon makes the worker's runners give up their unacknowledged result
// batches at once, for a shutdown after the master crashed: nobody will
// acknowledge them, and waiting AckTimeout would outlast the shutdown's
// bound.
func (h *WorkerHost) Abandon() { h.runners.abandon() }

// PID is the worker's actor.
func (h *WorkerHost) PID() *actor.PID { return h.pid }

// SetMaster tells the worker where its master is; it registers there. It
// is SetLeader with term 0, for a cluster without Raft.
func (h *WorkerHost) SetMaster(master *actor.PID) { h.SetLeader(master, 0) }

// SetLeader tells the worker that master leads with Raft term term; the
// membership layer calls it whenever the leader changes. The worker
// registers with master and gives it the results of the parts it ran for
// the earlier master; from then on it refuses JobStarts from any other
// master. An announcement with a lower term than one the worker has seen
// is stale and ignored, and term 0 counts only until a term is seen.
func (h *WorkerHost) SetLeader(master *actor.PID, term uint64) {
	h.system.Root.Send(h.pid, &MasterFound{Master: master, Term: term})
}

// Drain stops every job on the worker: no request starts, in-flight ones
// finish and their results are sent and acknowledged (or abandoned after
// the ack timeout). With handBack the worker first tells its master that it
// leaves, so that the master leases the targets not run to other workers at
// once. It returns when the worker's runners have finished or ctx ends.
func (h *WorkerHost) Drain(ctx context.Context, handBack bool) error {
	res, err := h.system.Root.RequestFuture(h.pid, &drainWorker{local: !handBack}, h.cfg.LeaseTimeout).Result()
	if err != nil {
		return fmt.Errorf("drain worker: %w", err)
	}
	d, ok := res.(*drained)
	if !ok {
		return fmt.Errorf("drain worker: unexpected reply %T", res)
	}
	for _, done := range d.done {
		select {
		case <-done:
		case <-ctx.Done():
			return fmt.Errorf("drain worker: %w", context.Cause(ctx))
		}
	}
	return nil
}

// Stop stops the worker actor (after Drain).
func (h *WorkerHost) Stop() {
	_ = h.system.Root.PoisonFuture(h.pid).Wait()
}
