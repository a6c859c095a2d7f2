// Package server assembles a salvo node from its configuration: the store,
// the engine (master and worker actors) and the HTTP API, and shuts them down
// in order.
package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/salvo-sh/salvo/actors"
	"github.com/salvo-sh/salvo/auth"
	"github.com/salvo-sh/salvo/conf"
	"github.com/salvo-sh/salvo/httpapi"
	"github.com/salvo-sh/salvo/job"
	"github.com/salvo-sh/salvo/replica"
	"github.com/salvo-sh/salvo/store"
)

// Server is one running salvo node.
type Server struct {
	cfg      *conf.Config
	logger   *slog.Logger
	st       store.Store    // a master's: local, or rs on an HA master
	local    *store.SQLite  // a master's own SQLite store
	dirLock  *store.DirLock // a master's lock on its data dir
	rs       *replica.Store // an HA master's replicated store (docs/ha.md)
	metrics  *actors.Metrics
	capacity int
	api      *httpapi.Server
	engines  *engineSwitch // the API's engine on a master
	http     *http.Server
	ln       net.Listener
	served   chan error
	// crashed receives the first panic of an actor (actors.Crash): the
	// node shuts down and Wait returns it.
	crashed chan *actors.Crash

	// transition serializes starting the cluster part again (createNode)
	// and the node's shutdown.
	transition sync.Mutex
	closing    atomic.Bool
	mu         sync.Mutex
	part       *part         // the running cluster part; nil after shutdownNode
	stopping   chan struct{} // closed once the part shutdownNode took is stopped
	lastMaster string        // a worker-only node's last known master API

	// transport carries the node's calls to other nodes' APIs (apitls.go).
	transport *http.Transport
	// creds keeps a master's SSH credentials.
	creds *credentialStore
	// policy is the target policy (--allow-targets, --deny-targets).
	policy *job.Policy
	// nodeToken is a master's own token with authentication on, carried
	// by its calls to other nodes (auth.go).
	nodeToken string
	// audit is a master's audit log (its store, replicated in a group):
	// the scaler's entries go there.
	audit httpapi.AuditLog

	shutdownOnce sync.Once
	shutdownErr  error
}

// Start starts a node as its configuration says: a master opens the store,
// resumes unfinished jobs and serves the API; a worker-only node runs a
// worker and forwards the API to its master; a clustered node (--gossip-addr
// or --join) also starts memberlist and proto.actor remote.
func Start(ctx context.Context, cfg *conf.Config, logger *slog.Logger) (s *Server, err error) {
	s = &Server{cfg: cfg, logger: logger, served: make(chan error, 1), crashed: make(chan *actors.Crash, 1),
		engines: &engineSwitch{name: cfg.Name}}
	var cleanup []func()
	defer func() {
		if err != nil {
			for i := len(cleanup) - 1; i >= 0; i-- {
				cleanup[i]()
			}
		}
	}()

	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", cfg.HTTPAddr, err)
	}
	s.ln = ln
	cleanup = append(cleanup, func() { _ = ln.Close() })

	serverTLS, err := apiTLS(cfg)
	if err != nil {
		return nil, err
	}
	clientTLS, err := apiClientTLS(cfg)
	if err != nil {
		return nil, err
	}
	s.transport = &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       clientTLS,
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: 35 * time.Minute, // the forwarder's compat calls wait for their job
		IdleConnTimeout:       time.Minute,
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s.metrics = actors.NewMetrics(reg)
	if cfg.HasRole(conf.RoleMaster) {
		reg.MustRegister(actors.NewLoadCollector(s.engines.Load)) // per tag, while this master runs
	}
	if s.policy, err = cfg.Policy(); err != nil {
		return nil, err
	}
	s.capacity = fitCapacity(cfg.Capacity, logger)

	ac := httpapi.DefaultConfig()
	ac.MaxRequestBytes, ac.Pprof, ac.Gatherer, ac.Logger = cfg.MaxRequestBytes, cfg.Pprof, reg, logger.With("component", "api")
	ac.MaxTargets = cfg.MaxTargets
	ac.Shutdown = s.shutdownPart
	ac.CreateNode = s.createNode
	ac.Addr, ac.Access.Hosts, ac.RateLimit = ln.Addr().String(), cfg.APIHosts, float64(cfg.RateLimit)
	if adv := s.apiAddr(); adv != ac.Addr {
		ac.Access.Hosts = append(slices.Clone(cfg.APIHosts), adv) // the name the others call it by
	}
	ac.Forward, ac.ForwardScheme = s.transport, cfg.APIScheme()
	ac.SchedulesChanged = s.notifySchedules

	if cfg.HasRole(conf.RoleMaster) {
		// The lock keeps a second node and salvo restore off the data
		// dir while this one runs (docs/operations.md).
		lock, err := store.LockDir(cfg.DataDir)
		if err != nil {
			return nil, err
		}
		s.dirLock = lock
		// Not s.dirLock: a failed Start returns a nil s before the cleanup runs.
		cleanup = append(cleanup, func() { _ = lock.Unlock() })
		// Held by this process alone now: a backup or restore copy in
		// the data dir is a dead process's, interrupted (docs/operations.md).
		if err := store.RemoveStaleCopies(cfg.DataDir, logger); err != nil {
			logger.Warn("cannot remove the copies of interrupted backups or restores", "err", err)
		}
		local, err := store.OpenSQLite(store.DefaultSQLiteConfig(cfg.DataDir))
		if err != nil {
			return nil, fmt.Errorf("open store in %s: %w", cfg.DataDir, err)
		}
		s.local, s.st = local, local
		cleanup = append(cleanup, func() { _ = local.Close() })
		ac.Backup, ac.BackupDir = local, cfg.DataDir
		var tokens interface {
			httpapi.Tokens
			httpapi.AuditLog
		} = local
		if cfg.HA() {
			// Every write goes through the Raft log; the leader stores
			// the config's definitions and prepares the tokens (ha.go).
			rc := replica.DefaultConfig(filepath.Join(cfg.DataDir, RaftDir, "fsm"))
			rc.Logger = logger.With("component", "replica")
			if s.rs, err = replica.New(rc, local); err != nil {
				return nil, err
			}
			s.st, tokens = s.rs, s.rs
			ac.Follower, ac.Raft = s.follower, raftOps{s}
			s.engines.follower = s.follower
		} else {
			if cfg.Clustered() {
				s.engines.stray = s.strayOf
			}
			if err := loadDefinitions(ctx, cfg, local, logger); err != nil {
				return nil, err
			}
			if cfg.AuthEnabled() {
				if err := s.bootstrapTokens(ctx, local); err != nil {
					return nil, err
				}
			}
		}
		ac.Access.Audit, s.audit = tokens, tokens
		sealer, err := auth.LoadSealer(filepath.Join(cfg.DataDir, SecretKeyFile))
		if err != nil {
			return nil, err
		}
		s.creds = &credentialStore{st: s.st, sealer: sealer}
		ac.Credentials = s.creds
		if cfg.AuthEnabled() {
			ac.Access.Tokens = tokens
		}
		s.engines.st = s.st
		s.api = httpapi.New(ac, s.engines, s.st)
	} else {
		if cfg.AuthEnabled() {
			ac.Access.Verify = s.verifyAtMaster
		}
		s.api = httpapi.NewForwarder(ac, s.masterAPI)
	}
	p, err := s.startPart(ctx, cfg.Join)
	if err != nil {
		return nil, err
	}
	s.part = p
	s.engines.set(p.engine)

	s.http = &http.Server{
		Handler:           s.api.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		TLSConfig:         serverTLS,
	}
	if serverTLS != nil {
		go func() { s.served <- s.http.ServeTLS(ln, "", "") }()
	} else {
		go func() { s.served <- s.http.Serve(ln) }()
	}
	logger.Info("listening", "addr", ln.Addr().String(), "advertised", s.apiAddr(), "name", cfg.Name, "roles", cfg.Roles, "auth", cfg.AuthEnabled(),
		"dataDir", cfg.DataDir, "capacity", s.capacity, "bodyMemory", cfg.BodyMemoryBytes())
	return s, nil
}

// Addr is the API's listening address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// apiAddr is the API address the node publishes to the others
// (--advertise-http, conf.Config.HTTPAdvertise).
func (s *Server) apiAddr() string { return s.cfg.HTTPAdvertise(s.ln.Addr().String()) }

// crash takes an actor's panic: the first one makes Wait shut the node
// down and return it. It does not block.
func (s *Server) crash(c *actors.Crash) {
	select {
	case s.crashed <- c:
	default:
	}
}

// Wait blocks until ctx is done, the HTTP server fails or an actor
// panics, then shuts down. After a panic it
// returns the *actors.Crash: the process should exit non-zero, and the
// next start resumes every unfinished job from the store.
func (s *Server) Wait(ctx context.Context) error {
	var serveErr error
	var crash *actors.Crash
	select {
	case <-ctx.Done():
	case serveErr = <-s.served:
	case crash = <-s.crashed:
		s.logger.Error("an actor panicked: shutting the node down", "err", crash)
	}
	err := s.Shutdown()
	if crash != nil {
		return errors.Join(crash, err)
	}
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return errors.Join(serveErr, err)
	}
	return err
}

// Shutdown stops taking jobs, lets in-flight requests finish and reach the
// store, closes the API and flushes the store, all within the configured
// shutdown timeout.
func (s *Server) Shutdown() error {
	s.shutdownOnce.Do(func() { s.shutdownErr = s.shutdown() })
	return s.shutdownErr
}

func (s *Server) shutdown() error {
	ctx, cancel := context.WithTimeoutCause(context.Background(), s.cfg.ShutdownTimeout,
		fmt.Errorf("shutdown took longer than %s", s.cfg.ShutdownTimeout))
	defer cancel()
	s.logger.Info("shutting down")
	var errs []error
	s.closing.Store(true)
	s.transition.Lock() // a createNode under way finishes first
	defer s.transition.Unlock()
	if p, done := s.takePart(); p != nil {
		if err := s.stopPart(ctx, p); err != nil {
			errs = append(errs, err)
		}
		close(done)
	}
	if err := s.waitStopped(ctx); err != nil { // one shutdownNode took
		errs = append(errs, err)
	}
	s.api.Close()
	if err := s.http.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("http shutdown: %w", err))
	}
	if s.rs != nil {
		_ = s.rs.Close()
	}
	if s.local != nil {
		if err := s.local.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close store: %w", err))
		}
	}
	if err := s.dirLock.Unlock(); err != nil {
		errs = append(errs, fmt.Errorf("unlock data dir: %w", err))
	}
	s.logger.Info("stopped")
	return errors.Join(errs...)
}

// loadDefinitions writes the config file's named definitions, and those
// of the REST Commander files in cfg.RCConfDir, into the store. A name
// defined in both is an error. A stored definition of the same name that
// differs is kept and reported.
func loadDefinitions(ctx context.Context, cfg *conf.Config, st store.Store, logger *slog.Logger) error {
	defs := cfg.Definitions()
	if cfg.RCConfDir != "" {
		imp, err := conf.ImportRCSkipping(cfg.RCConfDir) // a start never fails on a file REST Commander loaded
		if err != nil {
			return fmt.Errorf("import REST Commander files from %s: %w", cfg.RCConfDir, err)
		}
		for _, n := range imp.Notes {
			logger.Info("REST Commander import", "note", n)
		}
		for _, w := range imp.Warnings {
			logger.Warn("REST Commander import", "warning", w)
		}
		if err := defs.Merge(imp.Definitions); err != nil {
			return fmt.Errorf("import REST Commander files from %s: %w", cfg.RCConfDir, err)
		}
		logger.Info("imported REST Commander files", "dir", cfg.RCConfDir, "definitions", imp.Len())
	}
	results, err := PutDefinitions(ctx, st, defs, false)
	if err != nil {
		return err
	}
	for _, r := range results {
		if r.Action == ActionKept {
			logger.Warn("config definition differs from the stored one; keeping the stored one (delete it through the API to use the file's)",
				"kind", r.Kind, "name", r.Name, "origin", r.Origin)
		}
	}
	return nil
}

// What PutDefinitions did with a definition.
const (
	ActionCreated   = "created"
	ActionUnchanged = "unchanged"
	ActionReplaced  = "replaced"
	ActionKept      = "kept" // a different stored definition was kept
)

// DefinitionResult tells what PutDefinitions did with one definition.
type DefinitionResult struct {
	Kind   string // store kind
	Name   string
	Origin string // where it was read ("file:line")
	Action string // ActionCreated, ActionUnchanged, ActionReplaced or ActionKept
}

// PutDefinitions writes named definitions into the store: header sets,
// aggregations, node groups, then commands (secrets redacted), each kind in
// name order. A stored definition of the same name that differs is
// replaced when replace is set and kept otherwise.
func PutDefinitions(ctx context.Context, st store.Store, d conf.Definitions, replace bool) ([]DefinitionResult, error) {
	var out []DefinitionResult
	put := func(kind, name string, v any) error {
		body, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("%s %q: %w", kind, name, err)
		}
		r := DefinitionResult{Kind: kind, Name: name, Origin: d.Origins[kind+"/"+name], Action: ActionCreated}
		old, err := st.GetDefinition(ctx, kind, name)
		switch {
		case err == nil && bytes.Equal(old, body):
			r.Action = ActionUnchanged
		case err == nil && !replace:
			r.Action = ActionKept
		case err == nil:
			r.Action = ActionReplaced
		case !errors.Is(err, store.ErrNotFound):
			return fmt.Errorf("read %s %q: %w", kind, name, err)
		}
		if r.Action == ActionCreated || r.Action == ActionReplaced {
			if err := st.PutDefinition(ctx, kind, name, body); err != nil {
				return err
			}
		}
		out = append(out, r)
		return nil
	}
	for _, name := range slices.Sorted(maps.Keys(d.HeaderSets)) {
		if err := put(store.KindHeaderSet, name, d.HeaderSets[name]); err != nil {
			return out, err
		}
	}
	for _, name := range slices.Sorted(maps.Keys(d.Aggregations)) {
		if err := put(store.KindAggregation, name, d.Aggregations[name]); err != nil {
			return out, err
		}
	}
	for _, name := range slices.Sorted(maps.Keys(d.NodeGroups)) {
		if err := put(store.KindNodeGroup, name, d.NodeGroups[name]); err != nil {
			return out, err
		}
	}
	for _, name := range slices.Sorted(maps.Keys(d.Commands)) {
		if err := put(store.KindCommand, name, d.Commands[name].Redacted()); err != nil {
			return out, err
		}
	}
	return out, nil
}
