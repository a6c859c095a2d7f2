// Package fleet simulates many HTTP target hosts on loopback for tests,
// benchmarks and the demo.
//
// One listener, normally on 0.0.0.0, answers every host: on Linux every
// address of 127.0.0.0/8 is local, so a connection to 127.1.0.7:PORT reaches
// it, and the host is told apart by the connection's destination address,
// not by the Host header. Host i lives at HostAddr(i) = 127.1.0.0 + i and
// answers deterministically (see Expectation), so results can be checked
// host by host with Fleet.Expect.
package fleet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// Errors returned by the fleet.
var (
	// ErrInvalidConfig wraps every configuration error from New.
	ErrInvalidConfig = errors.New("fleet: invalid config")
	// ErrAlreadyStarted is returned by a second Start.
	ErrAlreadyStarted = errors.New("fleet: already started")
	// ErrClosed is returned by Start after Close.
	ErrClosed = errors.New("fleet: closed")
)

// Fleet serves the simulated hosts. Create it with New, then Start it; Close
// stops it.
type Fleet struct {
	cfg Config
	log *slog.Logger
	pad []byte // BodyBytes of 'x'
	srv *fasthttp.Server

	requests atomic.Uint64
	// hits counts the requests that reached each host, on arrival.
	hits     []atomic.Uint32
	inFlight atomic.Int64
	// refused counts requests reset by the overload mode.
	refused atomic.Uint64
	conns   connTracker

	// done is closed by Close: it wakes handlers waiting out a latency and
	// the listener's accept back-off.
	done      chan struct{}
	serveDone chan struct{}

	mu      sync.Mutex
	ln      net.Listener
	addr    *net.TCPAddr
	started bool
	closed  bool

	closeOnce sync.Once
	closeErr  error
}

// New validates cfg and returns a fleet that is not listening yet.
func New(cfg Config) (*Fleet, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.StatusCodes = append([]StatusShare(nil), cfg.StatusCodes...)
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	f := &Fleet{
		cfg:       cfg,
		log:       log,
		done:      make(chan struct{}),
		serveDone: make(chan struct{}),
		hits:      make([]atomic.Uint32, cfg.Hosts),
	}
	if cfg.BodyBytes > 0 {
		f.pad = make([]byte, cfg.BodyBytes)
		for i := range f.pad {
			f.pad[i] = 'x'
		}
	}
	f.srv = &fasthttp.Server{
		Handler:               f.handle,
		Name:                  "salvo-fleet",
		Concurrency:           cfg.Concurrency,
		ReadTimeout:           cfg.ReadTimeout,
		WriteTimeout:          cfg.WriteTimeout,
		IdleTimeout:           cfg.IdleTimeout,
		CloseOnShutdown:       true,
		NoDefaultContentType:  true,
		ConnState:             f.conns.track,
		Logger:                fasthttpLogger{log},
		MaxRequestBodySize:    4 << 20,
		SecureErrorLogMessage: true,
	}
	return f, nil
}

// Start opens the listener and serves in the background until Close.
func (f *Fleet) Start() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case f.closed:
		return ErrClosed
	case f.started:
		return ErrAlreadyStarted
	}
	ln, err := net.Listen(listenNetwork(f.cfg.Listen), f.cfg.Listen)
	if err != nil {
		return fmt.Errorf("fleet: listen on %s: %w", f.cfg.Listen, err)
	}
	addr, ok := ln.Addr().(*net.TCPAddr)
	if !ok {
		_ = ln.Close()
		return fmt.Errorf("fleet: listener address %v is not TCP", ln.Addr())
	}
	f.ln, f.addr, f.started = ln, addr, true
	rl := &retryListener{Listener: ln, done: f.done, log: f.log}
	go func() {
		defer close(f.serveDone)
		if err := f.srv.Serve(rl); err != nil {
			f.log.Error("fleet: serve stopped", "err", err)
		}
	}()
	f.log.Info("fleet listening", "addr", addr.String(), "hosts", f.cfg.Hosts,
		"first", HostAddr(0))
	return nil
}

// Addr returns the listener's address (its port is the fleet's port), or
// nil before Start.
func (f *Fleet) Addr() *net.TCPAddr {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.addr
}

// Hosts returns the number of hosts the fleet answers for.
func (f *Fleet) Hosts() int { return f.cfg.Hosts }

// Requests returns the number of requests served so far, /__fleet/stats
// and requests reset by the overload mode excluded.
func (f *Fleet) Requests() uint64 { return f.requests.Load() }

// HostRequests returns how many requests reached host i so far (counted on
// arrival, before any latency), or 0 for a host outside the fleet.
func (f *Fleet) HostRequests(i int) uint32 {
	if i < 0 || i >= len(f.hits) {
		return 0
	}
	return f.hits[i].Load()
}

// Refused returns the number of requests whose connection the overload
// mode reset (Config.MaxConcurrency).
func (f *Fleet) Refused() uint64 { return f.refused.Load() }

// InFlight returns the number of requests being served now.
func (f *Fleet) InFlight() int64 { return f.inFlight.Load() }

// Close stops the fleet: it stops accepting, wakes requests waiting out
// their latency so they answer at once, waits up to ShutdownTimeout for
// in-flight requests, closes the connections left and waits for the
// server's goroutines. It is idempotent and safe before Start.
func (f *Fleet) Close() error {
	f.closeOnce.Do(func() { f.closeErr = f.close() })
	return f.closeErr
}

func (f *Fleet) close() error {
	f.mu.Lock()
	f.closed = true
	ln, started := f.ln, f.started
	f.mu.Unlock()

	close(f.done)
	if !started {
		return nil
	}
	var errs []error
	if err := ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		errs = append(errs, fmt.Errorf("fleet: close listener: %w", err))
	}
	<-f.serveDone

	// Graceful part: fasthttp closes idle connections and waits for the
	// active ones (their responses carry Connection: close).
	ctx, cancel := context.WithTimeoutCause(context.Background(), f.cfg.ShutdownTimeout,
		errors.New("fleet: shutdown timeout"))
	defer cancel()
	if err := f.srv.ShutdownWithContext(ctx); err != nil && !errors.Is(err, net.ErrClosed) &&
		!errors.Is(err, context.DeadlineExceeded) {
		errs = append(errs, fmt.Errorf("fleet: shutdown: %w", err))
	}
	// Forced part: whatever is still open is closed, and its goroutine
	// returns once its read or write fails.
	if n := f.conns.closeAll(); n > 0 {
		f.log.Warn("fleet: closed connections still open after shutdown timeout", "conns", n)
	}
	waitCtx, waitCancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer waitCancel()
	if err := f.conns.wait(waitCtx); err != nil {
		errs = append(errs, fmt.Errorf("fleet: wait for connections: %w", err))
	}
	f.log.Info("fleet closed", "requests", f.requests.Load())
	return errors.Join(errs...)
}

// listenNetwork returns "tcp4" for an IPv4 listen address such as 0.0.0.0,
// which Go would otherwise open as a dual-stack [::] socket, and "tcp"
// otherwise.
func listenNetwork(addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return "tcp"
	}
	if ip, err := netip.ParseAddr(host); err == nil && ip.Is4() {
		return "tcp4"
	}
	return "tcp"
}

// connTracker follows the server's connections through fasthttp's ConnState
// hook so that Close can close them all and wait for them.
type connTracker struct {
	mu      sync.Mutex
	conns   map[net.Conn]struct{}
	waiting chan struct{} // closed when conns becomes empty during wait
}

// track is the fasthttp ConnState hook.
func (t *connTracker) track(c net.Conn, state fasthttp.ConnState) {
	switch state {
	case fasthttp.StateNew:
		t.mu.Lock()
		if t.conns == nil {
			t.conns = make(map[net.Conn]struct{})
		}
		t.conns[c] = struct{}{}
		t.mu.Unlock()
	case fasthttp.StateClosed, fasthttp.StateHijacked:
		t.mu.Lock()
		delete(t.conns, c)
		if len(t.conns) == 0 && t.waiting != nil {
			close(t.waiting)
			t.waiting = nil
		}
		t.mu.Unlock()
	}
}

// count returns the number of open connections.
func (t *connTracker) count() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.conns)
}

// closeAll closes every tracked connection and returns how many there were.
func (t *connTracker) closeAll() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	for c := range t.conns {
		_ = c.Close()
	}
	return len(t.conns)
}

// wait blocks until no connection is tracked or ctx ends. Call it only once
// no new connection can be accepted.
func (t *connTracker) wait(ctx context.Context) error {
	t.mu.Lock()
	if len(t.conns) == 0 {
		t.mu.Unlock()
		return nil
	}
	if t.waiting == nil {
		t.waiting = make(chan struct{})
	}
	ch, n := t.waiting, len(t.conns)
	t.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%d connections still open: %w", n, ctx.Err())
	}
}

// retryListener retries Accept after temporary errors such as running out
// of file descriptors (EMFILE), which would otherwise stop fasthttp's Serve
// for good, backing off like net/http does.
type retryListener struct {
	net.Listener
	done <-chan struct{}
	log  *slog.Logger
}

// Accept returns the next connection, waiting out temporary errors.
func (l *retryListener) Accept() (net.Conn, error) {
	var delay time.Duration
	for {
		c, err := l.Listener.Accept()
		if err == nil || errors.Is(err, net.ErrClosed) || !isTemporary(err) {
			return c, err
		}
		delay = min(max(2*delay, 5*time.Millisecond), time.Second)
		l.log.Warn("fleet: accept failed, retrying", "err", err, "delay", delay)
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-l.done:
			t.Stop()
			return nil, net.ErrClosed
		}
	}
}

// isTemporary reports whether an accept error is worth retrying.
func isTemporary(err error) bool {
	var te interface{ Temporary() bool }
	return errors.As(err, &te) && te.Temporary()
}

// fasthttpLogger sends fasthttp's log lines to slog.
type fasthttpLogger struct{ log *slog.Logger }

// Printf implements fasthttp.Logger.
func (l fasthttpLogger) Printf(format string, args ...any) {
	l.log.Warn("fleet: http server: " + fmt.Sprintf(format, args...))
}
