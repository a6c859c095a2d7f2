package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/salvo-sh/salvo/actors"
	"github.com/salvo-sh/salvo/conf"
	"github.com/salvo-sh/salvo/httpapi"
	"github.com/salvo-sh/salvo/job"
	"github.com/salvo-sh/salvo/scaling"
	"github.com/salvo-sh/salvo/schedule"
	"github.com/salvo-sh/salvo/store"
)

// part is a node's cluster part: its actor system (with remote when
// clustered), its membership, and the engine (a master) or the worker (a
// worker-only node), with the master's member watch. REST Commander's
// shutdownNode stops it while the store and the API stay; createNode
// starts it again (docs/rest-commander.md).
type part struct {
	cn     *clusterNode   // nil on a single node
	engine *actors.Engine // a master's outside a Raft group
	worker *actors.WorkerHost
	watch  *watcher // a clustered master's
	prune  *pruner  // a master's outside a Raft group, with --retention
	// scale is a master's scaler outside a Raft group, with scaling
	// policies (scale.go).
	scale *scaling.Scaler
	// ha is an HA master's place in its Raft group, which runs its
	// engine while it leads (ha.go).
	ha *haPart
	// sched runs the schedules of a master outside a Raft group
	// (schedules.go).
	sched *schedule.Scheduler
}

// startPart starts the node's cluster part; a clustered node joins the
// gossip addresses of join.
func (s *Server) startPart(ctx context.Context, join []string) (_ *part, err error) {
	p := &part{}
	defer func() {
		if err != nil {
			// What started stops (the returns set the result to nil).
			_ = s.stopPart(context.Background(), p)
		}
	}()
	cfg := s.cfg
	var system *actor.ActorSystem
	if cfg.Clustered() {
		if p.cn, err = startRemote(cfg, s.logger); err != nil {
			return nil, err
		}
		system = p.cn.system
	}
	switch {
	case cfg.HA():
		if cfg.HasRole(conf.RoleWorker) {
			// The node's worker follows the leader, whichever master it is.
			if p.worker, err = s.startWorker(system); err != nil {
				return nil, err
			}
			p.cn.worker = p.worker
		}
		if p.ha, err = s.startRaft(p); err != nil {
			return nil, err
		}
		p.cn.raftAddr = p.ha.group.Addr()
	case cfg.HasRole(conf.RoleMaster):
		if p.engine, err = s.newEngine(ctx, p.cn, !cfg.HasRole(conf.RoleWorker), 0); err != nil {
			return nil, err
		}
		if p.cn != nil {
			p.cn.engine.set(p.engine)
		}
		p.prune = s.startPruner()
		p.sched = s.startScheduler(p.engine)
		p.scale = s.startScaler(p.engine)
	default:
		if p.worker, err = s.startWorker(system); err != nil {
			return nil, err
		}
		p.cn.worker = p.worker
	}
	if p.cn != nil {
		advertised := s.capacity
		if !cfg.HasRole(conf.RoleWorker) {
			advertised = 0 // a master-only node runs no requests
		}
		if err := p.cn.join(s.apiAddr(), advertised, join); err != nil {
			return nil, err
		}
		if p.engine != nil && cfg.ClusterWatch > 0 {
			p.watch = startWatcher(p.engine, s.apiURL(s.apiAddr()), s.nodeToken, s.client(5*time.Second), s.apiURL, cfg.ClusterWatch, s.logger)
		}
	}
	if p.ha != nil {
		p.ha.start()
	}
	return p, nil
}

// newEngine starts a master's engine on the part's actor system (its own
// on a single node), with a local worker unless noLocalWorker, leading in
// a Raft term (0 without Raft).
func (s *Server) newEngine(ctx context.Context, cn *clusterNode, noLocalWorker bool, term uint64) (*actors.Engine, error) {
	cfg := s.cfg
	ec := actors.DefaultConfig()
	ec.Name, ec.Capacity, ec.ChunkSize, ec.Tags = cfg.Name, s.capacity, cfg.ChunkSize, cfg.Tags
	ec.MaxTargets = cfg.MaxTargets
	ec.Metrics, ec.Logger, ec.APIAddr = s.metrics, s.logger, s.apiAddr()
	ec.OnCrash = s.crash
	ec.NoLocalWorker, ec.Master.Term = noLocalWorker, term
	if term > 0 {
		// Each write waits a Raft commit round: batches in flight share one.
		ec.Master.WriteParallel = actors.RaftWriteParallel
	}
	s.fillWorker(&ec.Worker)
	ec.Policy = s.policy
	ec.Credentials, ec.KeyDir = s.creds.GetCredential, cfg.SSHKeyDirPath()
	if cn != nil {
		ec.System, ec.Membership = cn.system, cn
	}
	e, err := actors.NewEngine(ctx, ec, s.st)
	if err != nil {
		return nil, fmt.Errorf("start engine: %w", err)
	}
	return e, nil
}

// startPruner starts the retention's pruner of the node's store (nil
// without --retention).
func (s *Server) startPruner() *pruner {
	pc := DefaultPrunerConfig(time.Duration(s.cfg.Retention))
	pc.Logger = s.logger
	return startPruner(s.st, pc)
}

// startWorker starts the worker of a node whose worker is not an engine's
// local one: a worker-only node's, an HA master's.
func (s *Server) startWorker(system *actor.ActorSystem) (*actors.WorkerHost, error) {
	cfg := s.cfg
	wc := actors.DefaultWorkerConfig()
	wc.Name, wc.Capacity, wc.Tags, wc.Metrics, wc.Logger = cfg.Name, s.capacity, cfg.Tags, s.metrics, s.logger.With("component", "worker")
	s.fillWorker(&wc)
	wc.Crashed = s.crash
	return actors.StartWorker(system, wc, nil)
}

// fillWorker sets what a node's worker takes from the node's config, the
// master's local worker and a worker-only node's alike.
func (s *Server) fillWorker(wc *actors.WorkerConfig) {
	wc.SSH.DataDir = s.cfg.DataDir // accept-new remembers host keys here
	wc.HTTP.GracefulClose = s.cfg.HTTPGracefulClose
	wc.HTTP.MaxHeaderBytes = s.cfg.HTTPMaxHeaderBytes
	wc.BodyBudget = s.cfg.BodyMemoryBytes()
	wc.HTTP.Policy, wc.SSH.Policy = s.policy, s.policy
}

// stopPart stops a cluster part: a master stops scheduling and lets
// in-flight requests reach the store, a worker hands its leases back, and
// the node leaves the cluster.
func (s *Server) stopPart(ctx context.Context, p *part) error {
	var errs []error
	if p.ha != nil {
		if err := p.ha.stopHA(); err != nil {
			errs = append(errs, err)
		}
	}
	if p.watch != nil {
		p.watch.stop()
	}
	p.prune.stop()
	p.sched.Stop()
	p.scale.Stop() // before the engine: a drained worker is enabled again
	if p.engine != nil {
		if err := p.engine.Shutdown(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if p.worker != nil {
		// Hand back: stop starting requests, send what ran; the master
		// leases the rest again once this node has left.
		if err := p.worker.Drain(ctx, true); err != nil {
			errs = append(errs, err)
		}
		p.worker.Stop()
	}
	if p.cn != nil {
		if err := p.cn.leave(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// current is the running cluster part, nil after shutdownNode.
func (s *Server) current() *part {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.part
}

// takePart takes the running part away from the API and returns it with a
// channel to close once it is stopped, and the channel of the part being
// stopped before it (closed, or nil, when none).
func (s *Server) takePart() (p *part, done chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p = s.part
	if p == nil {
		return nil, nil
	}
	s.part = nil
	s.engines.set(nil)
	done = make(chan struct{})
	s.stopping = done
	return p, done
}

// shutdownPart serves REST Commander's shutdownNode: it stops the cluster
// part and keeps the API. It does not block: the part stops behind it,
// and a createNode meanwhile waits for it to be gone.
func (s *Server) shutdownPart() {
	p, done := s.takePart()
	if p == nil {
		return
	}
	s.logger.Info("shutdownNode: stopping the node's cluster part; the API stays (createNode starts it again)")
	go func() {
		defer close(done)
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
		defer cancel()
		if err := s.stopPart(ctx, p); err != nil {
			s.logger.Warn("shutdownNode: the cluster part stopped with errors", "err", err)
		}
		s.logger.Info("shutdownNode: the cluster part is stopped")
	}()
}

// waitStopped waits until no part is being stopped, or ctx ends.
func (s *Server) waitStopped(ctx context.Context) error {
	s.mu.Lock()
	stopping := s.stopping
	s.mu.Unlock()
	if stopping == nil {
		return nil
	}
	select {
	case <-stopping:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("the cluster part is still stopping: %w", context.Cause(ctx))
	}
}

// restartPart starts the cluster part again after shutdownNode, joining
// join. A part that runs is kept, unless replace is set: it is then
// stopped first (a worker moving to another master). It reports whether it
// started one.
func (s *Server) restartPart(ctx context.Context, join []string, replace bool) (bool, error) {
	s.transition.Lock()
	defer s.transition.Unlock()
	if s.closing.Load() {
		return false, &httpapi.Error{Status: http.StatusServiceUnavailable, Msg: "the node is shutting down"}
	}
	if s.current() != nil {
		if !replace {
			return false, nil
		}
		p, done := s.takePart()
		err := s.stopPart(ctx, p)
		close(done)
		if err != nil {
			s.logger.Warn("createNode: the cluster part stopped with errors", "err", err)
		}
	}
	if err := s.waitStopped(ctx); err != nil {
		return false, &httpapi.Error{Status: http.StatusServiceUnavailable, Msg: "createNode: " + err.Error()}
	}
	p, err := s.startPart(ctx, join)
	if err != nil {
		return false, &httpapi.Error{Status: http.StatusServiceUnavailable, Msg: "createNode: " + err.Error()}
	}
	s.mu.Lock()
	s.part = p
	s.engines.set(p.engine)
	s.mu.Unlock()
	s.logger.Info("createNode: the node's cluster part is started", "join", join)
	return true, nil
}

// masterAPI is the master's API address for a worker-only node's
// forwarder ("" while unknown or while the cluster part is stopped).
func (s *Server) masterAPI() string {
	if p := s.current(); p != nil && p.cn != nil {
		return p.cn.MasterAPI()
	}
	return ""
}

// errStopped answers the API while the cluster part is stopped.
var errStopped = &httpapi.Error{Status: http.StatusServiceUnavailable,
	Msg: "this node's cluster part is shut down (shutdownNode): createNode starts it again"}

// engineSwitch is the API's engine: the running part's, or none after
// shutdownNode, when calls answer 503 and stored jobs are read from the
// store.
type engineSwitch struct {
	engineRef
	name string
	st   store.Store
	// follower, on an HA master, says whether it follows a leader (whose
	// API is known): it is then ready without an engine.
	follower func() (string, bool)
	// stray, on a master outside any Raft group, names the leader of a
	// Raft group it sees in the cluster: it then takes no job.
	stray func() string
}

var _ httpapi.Engine = (*engineSwitch)(nil)

// engineRef holds the engine that may change under its readers (the
// API's, the membership's).
type engineRef struct {
	mu sync.RWMutex
	e  *actors.Engine
}

func (r *engineRef) set(e *actors.Engine) {
	r.mu.Lock()
	r.e = e
	r.mu.Unlock()
}

func (r *engineRef) get() *actors.Engine {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.e
}

// Name is the node's name.
func (w *engineSwitch) Name() string { return w.name }

// strayErr refuses jobs on a stray master (docs/ha.md).
func (w *engineSwitch) strayErr() error {
	if w.stray == nil {
		return nil
	}
	if leader := w.stray(); leader != "" {
		return &httpapi.Error{Status: http.StatusConflict, Msg: fmt.Sprintf(
			"this master is outside the cluster's Raft group (led by %s), so no worker runs its jobs: submit to the group's masters, or start this one with their --bootstrap-expect to join the group", leader)}
	}
	return nil
}

func (w *engineSwitch) Submit(ctx context.Context, spec *job.Spec) (*actors.JobStatus, error) {
	if err := w.strayErr(); err != nil {
		return nil, err
	}
	if e := w.get(); e != nil {
		return e.Submit(ctx, spec)
	}
	return nil, errStopped
}

func (w *engineSwitch) SubmitStream(ctx context.Context, body io.Reader) (*actors.JobStatus, error) {
	if err := w.strayErr(); err != nil {
		return nil, err
	}
	if e := w.get(); e != nil {
		return e.SubmitStream(ctx, body)
	}
	return nil, errStopped
}

func (w *engineSwitch) Status(ctx context.Context, id string) (*actors.JobStatus, error) {
	if e := w.get(); e != nil {
		return e.Status(ctx, id)
	}
	return w.stored(ctx, id)
}

// stored is a job's status as the store has it.
func (w *engineSwitch) stored(ctx context.Context, id string) (*actors.JobStatus, error) {
	j, err := w.st.GetJob(ctx, id)
	if err != nil {
		return nil, err
	}
	return actors.StatusFromJob(j), nil
}

func (w *engineSwitch) Wait(ctx context.Context, id string) (*actors.JobStatus, error) {
	if e := w.get(); e != nil {
		return e.Wait(ctx, id)
	}
	return w.stored(ctx, id)
}

func (w *engineSwitch) StatusOf(ctx context.Context, j *store.Job) *actors.JobStatus {
	if e := w.get(); e != nil {
		return e.StatusOf(ctx, j)
	}
	return actors.StatusFromJob(j)
}

func (w *engineSwitch) Cancel(ctx context.Context, id string) (*actors.JobStatus, error) {
	if e := w.get(); e != nil {
		return e.Cancel(ctx, id)
	}
	return nil, errStopped
}

func (w *engineSwitch) Pause(ctx context.Context, id string) (*actors.JobStatus, error) {
	if e := w.get(); e != nil {
		return e.Pause(ctx, id)
	}
	return nil, errStopped
}

func (w *engineSwitch) Resume(ctx context.Context, id string) (*actors.JobStatus, error) {
	if e := w.get(); e != nil {
		return e.Resume(ctx, id)
	}
	return nil, errStopped
}

func (w *engineSwitch) Rerun(ctx context.Context, id string, states []string) (*actors.JobStatus, error) {
	if err := w.strayErr(); err != nil {
		return nil, err
	}
	if e := w.get(); e != nil {
		return e.Rerun(ctx, id, states)
	}
	return nil, errStopped
}

func (w *engineSwitch) Members(ctx context.Context) ([]actors.Member, error) {
	if e := w.get(); e != nil {
		return e.Members(ctx)
	}
	return nil, errStopped
}

func (w *engineSwitch) SetEnabled(ctx context.Context, worker string, enabled bool) ([]actors.Member, error) {
	if e := w.get(); e != nil {
		return e.SetEnabled(ctx, worker, enabled)
	}
	return nil, errStopped
}

func (w *engineSwitch) Load(ctx context.Context) (*actors.Load, error) {
	if e := w.get(); e != nil {
		return e.Load(ctx)
	}
	return nil, errStopped
}

func (w *engineSwitch) ResetQueue(ctx context.Context) ([]string, error) {
	if e := w.get(); e != nil {
		return e.ResetQueue(ctx)
	}
	return nil, errStopped
}

func (w *engineSwitch) Accepting() bool {
	e := w.get()
	return e != nil && e.Accepting()
}

func (w *engineSwitch) Ready() error {
	if err := w.strayErr(); err != nil {
		return err
	}
	if e := w.get(); e != nil {
		return e.Ready()
	}
	if w.follower != nil {
		if leader, ok := w.follower(); ok {
			if leader == "" {
				return errors.New("the raft group has no leader now")
			}
			return nil // a follower: reads here, the rest forwarded
		}
	}
	return errStopped
}

func (w *engineSwitch) Capacity() int {
	if e := w.get(); e != nil {
		return e.Capacity()
	}
	return 0
}
