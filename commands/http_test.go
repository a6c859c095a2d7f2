package commands

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/salvo-sh/salvo/job"
)

// testSpec returns an HTTP spec with short timeouts for targets.
func testSpec(targets ...string) *job.Spec {
	s := &job.Spec{
		HTTP:     &job.HTTPSpec{},
		Timeouts: job.Timeouts{Connect: job.Duration(time.Second), Request: job.Duration(2 * time.Second)},
	}
	for _, t := range targets {
		s.Targets = append(s.Targets, job.TargetSpec{Host: t})
	}
	return s
}

// newTestExecutor returns an executor closed at cleanup.
func newTestExecutor(t testing.TB, cfg HTTPConfig) *HTTPExecutor {
	t.Helper()
	h := NewHTTPExecutor(cfg)
	t.Cleanup(h.Close)
	return h
}

// mustPlan normalizes s and compiles it.
func mustPlan(t testing.TB, s *job.Spec, h *HTTPExecutor) *Plan {
	t.Helper()
	if err := s.Normalize(2500); err != nil {
		t.Fatalf("normalize: %v", err)
	}
	p, err := NewPlan(s, h)
	if err != nil {
		t.Fatalf("new plan: %v", err)
	}
	return p
}

// runTarget runs target i of the plan with a bounded context.
func runTarget(t testing.TB, p *Plan, i int) job.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return p.Run(ctx, job.IndexedTarget{Index: i, Target: p.Spec().Targets[i]})
}

func quietTLSServer(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "tls ok sni=%s", r.TLS.ServerName)
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func TestRunMisbehavingServers(t *testing.T) {
	hang := startRawServer(t, hangHandler)
	reset := startRawServer(t, resetHandler)
	closer := startRawServer(t, func(c net.Conn, _ <-chan struct{}) { readRequestHead(c); c.Close() })
	garbage := startRawServer(t, func(c net.Conn, _ <-chan struct{}) {
		readRequestHead(c)
		io.WriteString(c, "HELLO THERE\r\n\r\n")
		c.Close()
	})
	chunked := startRawServer(t, endlessHandler("chunked"))
	identity := startRawServer(t, endlessHandler("identity"))
	length := startRawServer(t, endlessHandler("length"))
	unavailable := startFastHTTP(t, func(ctx *fasthttp.RequestCtx) {
		ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
		ctx.SetBodyString("busy")
	})
	exact := startRawServer(t, func(c net.Conn, _ <-chan struct{}) {
		readRequestHead(c)
		// Exactly the cap, chunked: not truncated.
		io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3e8\r\n"+strings.Repeat("y", 1000)+"\r\n0\r\n\r\n")
		c.Close()
	})
	head := startRawServer(t, func(c net.Conn, done <-chan struct{}) {
		readRequestHead(c)
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 12345\r\n\r\n")
		<-done
		c.Close()
	})
	// Response headers of 60 KiB (read again with a larger buffer) and of
	// 100 KiB (beyond DefaultMaxHeaderBytes).
	headers := func(n int) func(net.Conn, <-chan struct{}) {
		return func(c net.Conn, _ <-chan struct{}) {
			readRequestHead(c)
			io.WriteString(c, "HTTP/1.1 200 OK\r\nX-Big: "+strings.Repeat("h", n)+"\r\nContent-Length: 2\r\n\r\nok")
			c.Close()
		}
	}
	bigHeaders := startRawServer(t, headers(60<<10))
	hugeHeaders := startRawServer(t, headers(100<<10))
	tlsSrv := quietTLSServer(t)
	refused := freePort(t)

	h := newTestExecutor(t, DefaultHTTPConfig())
	pool := x509.NewCertPool()
	pool.AddCert(tlsSrv.Certificate())
	trusting := newTestExecutor(t, HTTPConfig{RootCAs: pool})

	tests := []struct {
		name      string
		target    string
		mod       func(*job.Spec)
		exec      *HTTPExecutor
		state     string
		class     string
		status    int
		value     string
		truncated bool
		bodyLen   int
		bodyBytes int64 // -1: at least bodyLen
		maxTime   time.Duration
	}{
		{name: "hang", target: hang.hostPort(), mod: func(s *job.Spec) { s.Timeouts.Request = job.Duration(300 * time.Millisecond) },
			state: job.StateTimeout, class: job.ClassTimeout, value: job.ClassTimeout, maxTime: 2 * time.Second},
		{name: "reset", target: reset.hostPort(), state: job.StateError, class: job.ClassReset, value: job.ClassReset},
		{name: "closed", target: closer.hostPort(), state: job.StateError, class: job.ClassProtocol},
		{name: "big headers", target: bigHeaders.hostPort(), state: job.StateOK, status: 200, value: "200", bodyLen: 2, bodyBytes: 2},
		{name: "huge headers", target: hugeHeaders.hostPort(), state: job.StateError, class: job.ClassTooLarge},
		{name: "garbage", target: garbage.hostPort(), state: job.StateError, class: job.ClassProtocol},
		{name: "endless chunked", target: chunked.hostPort(), mod: func(s *job.Spec) { s.MaxBodyBytes = 1000; s.Timeouts.Request = job.Duration(10 * time.Second) },
			state: job.StateOK, status: 200, value: "200", truncated: true, bodyLen: 1000, bodyBytes: -1, maxTime: 2 * time.Second},
		{name: "endless identity", target: identity.hostPort(), mod: func(s *job.Spec) { s.MaxBodyBytes = 1000; s.Timeouts.Request = job.Duration(10 * time.Second) },
			state: job.StateOK, status: 200, value: "200", truncated: true, bodyLen: 1000, bodyBytes: -1, maxTime: 2 * time.Second},
		{name: "endless content-length", target: length.hostPort(), mod: func(s *job.Spec) { s.MaxBodyBytes = 1000; s.Timeouts.Request = job.Duration(10 * time.Second) },
			state: job.StateOK, status: 200, value: "200", truncated: true, bodyLen: 1000, bodyBytes: 1 << 30, maxTime: 2 * time.Second},
		{name: "exact cap", target: exact.hostPort(), mod: func(s *job.Spec) { s.MaxBodyBytes = 1000 },
			state: job.StateOK, status: 200, value: "200", bodyLen: 1000, bodyBytes: 1000},
		{name: "head", target: head.hostPort(), mod: func(s *job.Spec) { s.HTTP.Method = "HEAD" },
			state: job.StateOK, status: 200, value: "200", maxTime: time.Second},
		{name: "503", target: unavailable, state: job.StateOK, status: 503, value: "503", bodyLen: 4, bodyBytes: 4},
		{name: "refused", target: fmt.Sprintf("127.0.0.1:%d", refused), state: job.StateError, class: job.ClassConnectRefused, value: job.ClassConnectRefused},
		{name: "tls verify", target: tlsSrv.URL + "/", state: job.StateError, class: job.ClassTLS, value: job.ClassTLS},
		{name: "tls skip verify", target: tlsSrv.URL + "/", mod: func(s *job.Spec) { s.HTTP.InsecureSkipVerify = true },
			state: job.StateOK, status: 200, value: "200", bodyLen: len("tls ok sni="), bodyBytes: -1},
		{name: "tls trusted root", target: tlsSrv.URL + "/", exec: trusting, state: job.StateOK, status: 200, value: "200", bodyLen: len("tls ok sni="), bodyBytes: -1},
		{name: "plain to tls port", target: strings.Replace(tlsSrv.URL, "https", "http", 1), state: job.StateOK, status: 400, value: "400", bodyLen: 1, bodyBytes: -1},
		{name: "tls to plain port", target: "https://" + unavailable + "/", mod: func(s *job.Spec) { s.HTTP.InsecureSkipVerify = true },
			state: job.StateError, class: job.ClassTLS},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := testSpec(tc.target)
			if tc.mod != nil {
				tc.mod(s)
			}
			exec := h
			if tc.exec != nil {
				exec = tc.exec
			}
			p := mustPlan(t, s, exec)
			start := time.Now()
			r := runTarget(t, p, 0)
			elapsed := time.Since(start)
			if r.State != tc.state || r.ErrorClass != tc.class || r.StatusCode != tc.status {
				t.Fatalf("state/class/status = %s/%s/%d, want %s/%s/%d (error %q)", r.State, r.ErrorClass, r.StatusCode, tc.state, tc.class, tc.status, r.Error)
			}
			if tc.value != "" && r.Value != tc.value {
				t.Errorf("value = %q, want %q", r.Value, tc.value)
			}
			if (r.Error != "") != (tc.class != "") {
				t.Errorf("error = %q with class %q", r.Error, r.ErrorClass)
			}
			if r.Truncated != tc.truncated {
				t.Errorf("truncated = %v, want %v", r.Truncated, tc.truncated)
			}
			if tc.bodyLen > 0 && len(r.Body) < tc.bodyLen || tc.bodyBytes >= 0 && tc.bodyLen > 0 && len(r.Body) != tc.bodyLen {
				t.Errorf("len(body) = %d, want %d", len(r.Body), tc.bodyLen)
			}
			switch {
			case tc.bodyBytes > 0 && r.BodyBytes != tc.bodyBytes:
				t.Errorf("bodyBytes = %d, want %d", r.BodyBytes, tc.bodyBytes)
			case tc.bodyBytes < 0 && r.BodyBytes < int64(len(r.Body)):
				t.Errorf("bodyBytes = %d < len(body) %d", r.BodyBytes, len(r.Body))
			}
			if tc.maxTime > 0 && elapsed > tc.maxTime {
				t.Errorf("took %v, want under %v", elapsed, tc.maxTime)
			}
			if r.Attempts != 1 || r.Host != "127.0.0.1" || r.Target == "" || r.FinishedAt.Before(r.StartedAt) ||
				r.StartedAt.Location() != time.UTC || r.LatencyMs <= 0 {
				t.Errorf("bookkeeping: attempts %d host %q target %q started %v finished %v latency %v",
					r.Attempts, r.Host, r.Target, r.StartedAt, r.FinishedAt, r.LatencyMs)
			}
		})
	}
}

// TestRunConnectTimeout fills the accept queue of a listener that never
// accepts; the kernel then drops further SYNs and the dial times out.
func TestRunConnectTimeout(t *testing.T) {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Skipf("socket: %v", err)
	}
	defer syscall.Close(fd)
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Skipf("bind: %v", err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Skipf("listen: %v", err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Skipf("getsockname: %v", err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
	// Fill the queue: dial until one dial times out.
	full := false
	for i := 0; i < 16 && !full; i++ {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			full = true
			break
		}
		defer c.Close()
	}
	if !full {
		t.Skip("could not fill the accept queue on this kernel")
	}
	s := testSpec(addr)
	s.Timeouts.Connect = job.Duration(200 * time.Millisecond)
	p := mustPlan(t, s, newTestExecutor(t, DefaultHTTPConfig()))
	start := time.Now()
	r := runTarget(t, p, 0)
	if r.ErrorClass != job.ClassConnectTimeout || r.State != job.StateTimeout {
		t.Fatalf("state/class = %s/%s (%s), want timeout/connect_timeout", r.State, r.ErrorClass, r.Error)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("connect timeout took %v", el)
	}
}

func TestRunRetries(t *testing.T) {
	tests := []struct {
		name         string
		method       string
		nonIdem      bool
		max          int
		wantAttempts int
	}{
		{"GET retried", "GET", false, 2, 3},
		{"GET no retries", "GET", false, 0, 1},
		{"PUT retried", "PUT", false, 1, 2},
		{"POST not retried", "POST", false, 2, 1},
		{"POST retryNonIdempotent", "POST", true, 2, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hang := startRawServer(t, hangHandler)
			s := testSpec(hang.hostPort())
			s.HTTP.Method = tc.method
			s.HTTP.RetryNonIdempotent = tc.nonIdem
			s.Timeouts.Request = job.Duration(150 * time.Millisecond)
			s.Retries = job.Retries{Max: tc.max, Backoff: job.Duration(10 * time.Millisecond)}
			p := mustPlan(t, s, newTestExecutor(t, DefaultHTTPConfig()))
			r := runTarget(t, p, 0)
			if r.Attempts != tc.wantAttempts {
				t.Fatalf("attempts = %d, want %d", r.Attempts, tc.wantAttempts)
			}
			if got := hang.accepted.Load(); got != int64(tc.wantAttempts) {
				t.Errorf("server accepted %d connections, want %d", got, tc.wantAttempts)
			}
			if r.State != job.StateTimeout || r.ErrorClass != job.ClassTimeout {
				t.Errorf("state/class = %s/%s", r.State, r.ErrorClass)
			}
		})
	}
}

func TestRunRetryNotOnResponse(t *testing.T) {
	addr := startFastHTTP(t, func(ctx *fasthttp.RequestCtx) { ctx.SetStatusCode(503) })
	s := testSpec(addr)
	s.Retries = job.Retries{Max: 3, Backoff: job.Duration(time.Millisecond)}
	p := mustPlan(t, s, newTestExecutor(t, DefaultHTTPConfig()))
	if r := runTarget(t, p, 0); r.Attempts != 1 || r.StatusCode != 503 {
		t.Fatalf("attempts %d status %d, want 1 and 503", r.Attempts, r.StatusCode)
	}
}

func TestRunRetryBackoffAndRefused(t *testing.T) {
	// Refused connections are retried with a doubling backoff: 20+40 ms.
	s := testSpec(fmt.Sprintf("127.0.0.1:%d", freePort(t)))
	s.Retries = job.Retries{Max: 2, Backoff: job.Duration(20 * time.Millisecond)}
	p := mustPlan(t, s, newTestExecutor(t, DefaultHTTPConfig()))
	start := time.Now()
	r := runTarget(t, p, 0)
	if r.Attempts != 3 || r.ErrorClass != job.ClassConnectRefused {
		t.Fatalf("attempts %d class %s, want 3 connect_refused", r.Attempts, r.ErrorClass)
	}
	if el := time.Since(start); el < 60*time.Millisecond {
		t.Errorf("retries took %v, want at least the 60ms of backoff", el)
	}
}

func TestRunCancelStopsRetries(t *testing.T) {
	hang := startRawServer(t, hangHandler)
	s := testSpec(hang.hostPort())
	s.Timeouts.Request = job.Duration(time.Second)
	s.Retries = job.Retries{Max: 5, Backoff: job.Duration(10 * time.Millisecond)}
	p := mustPlan(t, s, newTestExecutor(t, DefaultHTTPConfig()))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-hang.acceptCh:
			cancel()
		case <-time.After(10 * time.Second):
		}
	}()
	r := p.Run(ctx, job.IndexedTarget{Index: 0, Target: s.Targets[0]})
	if r.Attempts != 1 || r.State != job.StateTimeout {
		t.Fatalf("attempts %d state %s, want 1 attempt that timed out", r.Attempts, r.State)
	}
	// Cancelled before the first attempt: nothing is sent.
	r = p.Run(ctx, job.IndexedTarget{Index: 0, Target: s.Targets[0]})
	if r.State != job.StateCancelled || r.Attempts != 0 {
		t.Fatalf("state %s attempts %d, want cancelled with 0 attempts", r.State, r.Attempts)
	}
	if got := hang.accepted.Load(); got != 1 {
		t.Errorf("server accepted %d connections, want 1", got)
	}
}

func TestExecutorClosed(t *testing.T) {
	addr := startFastHTTP(t, func(ctx *fasthttp.RequestCtx) {})
	h := NewHTTPExecutor(DefaultHTTPConfig())
	p := mustPlan(t, testSpec(addr), h)
	h.Close()
	h.Close()
	r := runTarget(t, p, 0)
	if r.State != job.StateError || !strings.Contains(r.Error, "closed") {
		t.Fatalf("state %s error %q after Close", r.State, r.Error)
	}
}

// TestExchangeClose checks how an exchange ends its connection: with a
// reset by default, so that no side keeps it in TIME_WAIT, and with a FIN
// when GracefulClose is set. The server answers, then reads on: a reset
// makes that read fail with ECONNRESET, a FIN makes it return io.EOF.
func TestExchangeClose(t *testing.T) {
	tests := []struct {
		name     string
		graceful bool
		want     error
	}{
		{"reset by default", false, syscall.ECONNRESET},
		{"graceful", true, io.EOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := make(chan error, 1)
			srv := startRawServer(t, func(c net.Conn, _ <-chan struct{}) {
				defer c.Close()
				readRequestHead(c)
				if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"); err != nil {
					got <- err
					return
				}
				_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
				_, err := c.Read(make([]byte, 1))
				got <- err
			})
			h := newTestExecutor(t, HTTPConfig{GracefulClose: tt.graceful})
			p := mustPlan(t, testSpec(srv.hostPort()), h)
			if r := runTarget(t, p, 0); r.State != job.StateOK || r.Body != "ok" {
				t.Fatalf("result %+v, want ok with body ok", r)
			}
			select {
			case err := <-got:
				if !errors.Is(err, tt.want) {
					t.Errorf("server's read after the exchange: %v, want %v", err, tt.want)
				}
			case <-time.After(15 * time.Second):
				t.Fatal("the server's read did not end")
			}
		})
	}
}

// TestDialIP checks the dialer of IP literals: keepalive is off on its
// connections, and with DialConcurrency a dial waits for a free slot only
// until its connect timeout.
func TestDialIP(t *testing.T) {
	srv := startRawServer(t, func(c net.Conn, _ <-chan struct{}) {
		readRequestHead(c)
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		c.Close()
	})
	h := newTestExecutor(t, HTTPConfig{DialConcurrency: 1})

	c, err := h.dialIP("tcp4", srv.hostPort(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	keepalive := -1
	if err := raw.Control(func(fd uintptr) {
		keepalive, err = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_KEEPALIVE)
	}); err != nil || keepalive != 0 {
		t.Errorf("SO_KEEPALIVE = %d (%v), want 0", keepalive, err)
	}
	c.Close()

	spec := testSpec(srv.hostPort())
	spec.Timeouts.Connect = job.Duration(100 * time.Millisecond)
	p := mustPlan(t, spec, h)
	h.ipSlots <- struct{}{} // the only dial slot is taken
	if r := runTarget(t, p, 0); r.State != job.StateTimeout || r.ErrorClass != job.ClassConnectTimeout {
		t.Errorf("dial with no free slot: %s/%s, want timeout/%s", r.State, r.ErrorClass, job.ClassConnectTimeout)
	}
	<-h.ipSlots
	if r := runTarget(t, p, 0); r.State != job.StateOK {
		t.Errorf("dial with a free slot: %+v, want ok", r)
	}
}
