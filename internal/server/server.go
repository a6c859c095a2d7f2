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
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/salvo-sh/salvo/actors"
	"github.com/salvo-sh/salvo/conf"
	"github.com/salvo-sh/salvo/httpapi"
	"github.com/salvo-sh/salvo/store"
)

// Server is one running salvo node.
type Server struct {
	cfg    *conf.Config
	logger *slog.Logger
	st     store.Store
	engine *actors.Engine
	api    *httpapi.Server
	http   *http.Server
	ln     net.Listener
	served chan error
}

// Start opens the store, resumes unfinished jobs and starts serving the API.
func Start(ctx context.Context, cfg *conf.Config, logger *slog.Logger) (*Server, error) {
	s := &Server{cfg: cfg, logger: logger, served: make(chan error, 1)}
	st, err := store.OpenSQLite(store.DefaultSQLiteConfig(cfg.DataDir))
	if err != nil {
		return nil, fmt.Errorf("open store in %s: %w", cfg.DataDir, err)
	}
	s.st = st
	if err := loadDefinitions(ctx, cfg, st, logger); err != nil {
		_ = st.Close()
		return nil, err
	}

	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		_ = st.Close()
		return nil, fmt.Errorf("listen on %s: %w", cfg.HTTPAddr, err)
	}
	s.ln = ln

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	ec := actors.DefaultConfig()
	ec.Name, ec.Capacity, ec.ChunkSize = cfg.Name, cfg.Capacity, cfg.ChunkSize
	ec.Metrics, ec.Logger, ec.APIAddr = actors.NewMetrics(reg), logger, ln.Addr().String()
	engine, err := actors.NewEngine(ctx, ec, st)
	if err != nil {
		_ = ln.Close()
		_ = st.Close()
		return nil, fmt.Errorf("start engine: %w", err)
	}
	s.engine = engine

	ac := httpapi.DefaultConfig()
	ac.MaxRequestBytes, ac.Pprof, ac.Gatherer, ac.Logger = cfg.MaxRequestBytes, cfg.Pprof, reg, logger.With("component", "api")
	s.api = httpapi.New(ac, engine, st)

	s.http = &http.Server{
		Handler:           s.api.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	go func() { s.served <- s.http.Serve(ln) }()
	logger.Info("listening", "addr", ln.Addr().String(), "name", cfg.Name, "dataDir", cfg.DataDir, "capacity", cfg.Capacity)
	return s, nil
}

// Addr is the API's listening address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Wait blocks until ctx is done or the HTTP server fails, then shuts down.
func (s *Server) Wait(ctx context.Context) error {
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-s.served:
	}
	err := s.Shutdown()
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return errors.Join(serveErr, err)
	}
	return err
}

// Shutdown stops taking jobs, lets in-flight requests finish and reach the
// store, closes the API and flushes the store, all within the configured
// shutdown timeout.
func (s *Server) Shutdown() error {
	ctx, cancel := context.WithTimeoutCause(context.Background(), s.cfg.ShutdownTimeout,
		fmt.Errorf("shutdown took longer than %s", s.cfg.ShutdownTimeout))
	defer cancel()
	s.logger.Info("shutting down")
	var errs []error
	if err := s.engine.Shutdown(ctx); err != nil {
		errs = append(errs, err)
	}
	s.api.Close()
	if err := s.http.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("http shutdown: %w", err))
	}
	if err := s.st.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close store: %w", err))
	}
	s.logger.Info("stopped")
	return errors.Join(errs...)
}

// loadDefinitions writes the config file's named definitions into the store.
// A stored definition of the same name that differs is kept and reported.
func loadDefinitions(ctx context.Context, cfg *conf.Config, st store.Store, logger *slog.Logger) error {
	put := func(kind, name string, v any) error {
		body, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("%s %q: %w", kind, name, err)
		}
		old, err := st.GetDefinition(ctx, kind, name)
		switch {
		case err == nil && !bytes.Equal(old, body):
			logger.Warn("config definition differs from the stored one; keeping the stored one (delete it through the API to use the file's)",
				"kind", kind, "name", name)
			return nil
		case err == nil:
			return nil
		case !errors.Is(err, store.ErrNotFound):
			return fmt.Errorf("read %s %q: %w", kind, name, err)
		}
		return st.PutDefinition(ctx, kind, name, body)
	}
	for name, ng := range cfg.NodeGroups {
		if err := put(store.KindNodeGroup, name, ng); err != nil {
			return err
		}
	}
	for name, c := range cfg.Commands {
		if err := put(store.KindCommand, name, c.Redacted()); err != nil {
			return err
		}
	}
	for name, a := range cfg.Aggregations {
		if err := put(store.KindAggregation, name, a); err != nil {
			return err
		}
	}
	for name, h := range cfg.HeaderSets {
		if err := put(store.KindHeaderSet, name, h); err != nil {
			return err
		}
	}
	return nil
}
