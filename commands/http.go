package commands

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/valyala/fasthttp"

	"github.com/salvo-sh/salvo/job"
)

// ErrExecutorClosed is returned by HTTPExecutor.Do after Close.
var ErrExecutorClosed = errors.New("commands: executor closed")

// HTTPConfig configures an HTTPExecutor.
type HTTPConfig struct {
	// DialConcurrency bounds concurrent TCP dials per dialer (one for IP
	// literals, one for host names); 0 means unlimited, leaving the bound to
	// the jobs' concurrency. fasthttp's own default of 1,000 would throttle
	// a worker with a higher capacity (docs/design.md §12).
	DialConcurrency int
	// MaxIdleConnDuration is kept for configuration compatibility: every
	// exchange sends "Connection: close" and closes its connection, so no
	// connection is ever idle and the value is not used.
	MaxIdleConnDuration time.Duration
	// ReadBufferSize is the per-exchange read buffer. Response headers that
	// do not fit in it are read again with a buffer of MaxHeaderBytes, for
	// that exchange only.
	ReadBufferSize int
	// MaxHeaderBytes bounds a response's header block; a larger one fails
	// the target with errorClass too_large.
	MaxHeaderBytes int
	// WriteBufferSize is the per-exchange write buffer.
	WriteBufferSize int
	// UserAgent is sent when a job sets no User-Agent header.
	UserAgent string
	// DNSCacheDuration is how long resolved host names are cached.
	DNSCacheDuration time.Duration
	// DialDualStack lets host names resolve to IPv6 addresses too (IPv6
	// literals are always dialled).
	DialDualStack bool
	// RootCAs verifies servers' certificates; nil means the system roots.
	RootCAs *x509.CertPool
	// Policy, when set, refuses a connection whose address the target
	// policy denies (a name resolving into a denied range): the result
	// is error, errorClass policy, and no byte is sent.
	Policy *job.Policy
	// GracefulClose closes connections with a FIN handshake. By default
	// an exchange, once over, closes its connection with SO_LINGER 0 (a
	// reset): the response has been read, and neither side then keeps
	// the connection in TIME_WAIT, which at 100,000 distinct targets fills
	// the kernel's TIME_WAIT table and costs both sides CPU (about 5% more
	// targets/s here). Targets may log the reset.
	GracefulClose bool
}

// DefaultMaxHeaderBytes is the default bound on a response's header block.
const DefaultMaxHeaderBytes = 64 << 10

// DefaultHTTPConfig returns the default executor configuration.
func DefaultHTTPConfig() HTTPConfig {
	return HTTPConfig{
		DialConcurrency:  0,
		ReadBufferSize:   8192,
		MaxHeaderBytes:   DefaultMaxHeaderBytes,
		WriteBufferSize:  4096,
		UserAgent:        "salvo",
		DNSCacheDuration: time.Minute,
	}
}

// maxPooledBody is the largest body buffer an Exchange keeps when it goes
// back to the pool.
const maxPooledBody = 1 << 20

// HTTPExecutor performs one-shot HTTP exchanges with fasthttp's request and
// response types over connections it dials itself: a TCPDialer without
// fasthttp's 1,000-dial limit, a connect timeout on the dial, TLS with the
// target host as server name, "Connection: close" on every request, and a
// streamed, capped response body. Per-request settings (timeouts, TLS
// verification, body cap) travel with each Exchange, so one executor serves
// every job of a worker. It is safe for concurrent use.
type HTTPExecutor struct {
	cfg HTTPConfig
	// ipSlots bounds concurrent dials to IP literals when DialConcurrency
	// is set; nil means unlimited.
	ipSlots    chan struct{}
	nameDialer *fasthttp.TCPDialer
	tlsVerify  *tls.Config
	tlsSkip    *tls.Config
	pool       sync.Pool
	closed     atomic.Bool
}

// NewHTTPExecutor returns an executor; zero fields of cfg take the
// DefaultHTTPConfig values.
func NewHTTPExecutor(cfg HTTPConfig) *HTTPExecutor {
	def := DefaultHTTPConfig()
	if cfg.ReadBufferSize <= 0 {
		cfg.ReadBufferSize = def.ReadBufferSize
	}
	if cfg.WriteBufferSize <= 0 {
		cfg.WriteBufferSize = def.WriteBufferSize
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = def.UserAgent
	}
	if cfg.DNSCacheDuration <= 0 {
		cfg.DNSCacheDuration = def.DNSCacheDuration
	}
	if cfg.DialConcurrency < 0 {
		cfg.DialConcurrency = 0
	}
	e := &HTTPExecutor{
		cfg: cfg,
		nameDialer: &fasthttp.TCPDialer{
			Concurrency:      cfg.DialConcurrency,
			DNSCacheDuration: cfg.DNSCacheDuration,
		},
		tlsVerify: &tls.Config{
			MinVersion: tls.VersionTLS12,
			RootCAs:    cfg.RootCAs,
			NextProtos: []string{"http/1.1"},
		},
		tlsSkip: &tls.Config{
			MinVersion:         tls.VersionTLS12,
			InsecureSkipVerify: true, //nolint:gosec // per job, off by default
			NextProtos:         []string{"http/1.1"},
		},
	}
	if cfg.DialConcurrency > 0 {
		e.ipSlots = make(chan struct{}, cfg.DialConcurrency)
	}
	e.pool.New = func() any {
		return &Exchange{
			br: bufio.NewReaderSize(nil, cfg.ReadBufferSize),
			bw: bufio.NewWriterSize(nil, cfg.WriteBufferSize),
		}
	}
	return e
}

// Config returns the executor's configuration.
func (e *HTTPExecutor) Config() HTTPConfig { return e.cfg }

// Close makes later calls to Do fail with ErrExecutorClosed and drops the
// DNS cache. Exchanges in progress finish within their timeouts. Close is
// idempotent.
func (e *HTTPExecutor) Close() {
	if e.closed.Swap(true) {
		return
	}
	e.nameDialer.FlushDNSCache()
}

// Exchange is one HTTP request and its outcome. Get one from
// AcquireExchange, fill Request and the target fields, call Do, read the
// outputs and give it back with ReleaseExchange.
type Exchange struct {
	// Request is the request to send: method, request URI (path and
	// query), headers and body. The executor adds Host (unless set),
	// User-Agent (unless set) and "Connection: close".
	Request fasthttp.Request
	// Scheme is "http" or "https".
	Scheme string
	// Host is the host name or address to dial, without brackets.
	Host string
	// Port is the port to dial.
	Port int
	// ConnectTimeout bounds the TCP dial (at most Timeout).
	ConnectTimeout time.Duration
	// Timeout bounds the whole exchange: dial, TLS, request and body.
	Timeout time.Duration
	// InsecureSkipVerify turns TLS certificate verification off.
	InsecureSkipVerify bool
	// MaxBodyBytes caps the body read (DefaultMaxBodyBytes when 0).
	MaxBodyBytes int

	// StatusCode is the response status, 0 when none arrived.
	StatusCode int
	// Body is the response body, at most MaxBodyBytes; valid until the
	// Exchange is released or reused.
	Body []byte
	// BodyBytes is the body size: the Content-Length when known, else the
	// number of bytes read.
	BodyBytes int64
	// Truncated reports that the body was longer than MaxBodyBytes.
	Truncated bool
	// Latency is the time from dial to the end of the body.
	Latency time.Duration

	resp    fasthttp.Response
	br      *bufio.Reader
	bw      *bufio.Writer
	addr    []byte
	scratch [512]byte
}

// TakeBody returns the body as a string. A body larger than the pooled
// buffers is handed over without a copy (the Exchange lets go of it); a
// smaller one is copied and its buffer reused.
func (x *Exchange) TakeBody() string {
	if len(x.Body) <= maxPooledBody {
		return string(x.Body)
	}
	b := x.Body
	x.Body = nil
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// AcquireExchange returns an empty Exchange from the executor's pool.
func (e *HTTPExecutor) AcquireExchange() *Exchange {
	return e.pool.Get().(*Exchange)
}

// ReleaseExchange resets x and returns it to the pool; x must not be used
// afterwards.
func (e *HTTPExecutor) ReleaseExchange(x *Exchange) {
	x.Request.Reset()
	x.resp.Reset()
	x.Scheme, x.Host, x.Port = "", "", 0
	x.ConnectTimeout, x.Timeout, x.InsecureSkipVerify, x.MaxBodyBytes = 0, 0, false, 0
	x.resetOutputs()
	if cap(x.Body) > maxPooledBody {
		x.Body = nil
	}
	e.pool.Put(x)
}

func (x *Exchange) resetOutputs() {
	x.StatusCode = 0
	x.Body = x.Body[:0]
	x.BodyBytes = 0
	x.Truncated = false
	x.Latency = 0
}

// Do performs the exchange described by x and fills its outputs. A returned
// error is an *ExchangeError naming the phase (use Classify); StatusCode is
// set when the error came after the response headers.
func (e *HTTPExecutor) Do(x *Exchange) error {
	x.resetOutputs()
	if e.closed.Load() {
		return &ExchangeError{Phase: PhaseTransport, Err: ErrExecutorClosed}
	}
	start := time.Now()
	err := e.do(x, start)
	x.Latency = time.Since(start)
	return err
}

func (e *HTTPExecutor) do(x *Exchange, start time.Time) error {
	timeout := x.Timeout
	if timeout <= 0 {
		timeout = job.DefaultRequestTimeout
	}
	deadline := start.Add(timeout)
	connectTimeout := x.ConnectTimeout
	if connectTimeout <= 0 || connectTimeout > timeout {
		connectTimeout = timeout
	}
	x.addr = job.AppendHostPort(x.addr[:0], x.Host, x.Port)
	conn, err := e.dial(x.Host, string(x.addr), connectTimeout)
	if err != nil {
		return &ExchangeError{Phase: PhaseDial, Err: err}
	}
	defer e.closeConn(conn)
	if err := conn.SetDeadline(deadline); err != nil {
		return &ExchangeError{Phase: PhaseDial, Err: err}
	}
	if x.Scheme == "https" {
		base := e.tlsVerify
		if x.InsecureSkipVerify {
			base = e.tlsSkip
		}
		cfg := base.Clone()
		cfg.ServerName = x.Host
		tc := tls.Client(conn, cfg)
		if err := tc.Handshake(); err != nil {
			return &ExchangeError{Phase: PhaseTLS, Err: err}
		}
		conn = tc
	}

	req := &x.Request
	if len(req.Header.Host()) == 0 {
		req.Header.SetHostBytes(hostHeader(x.scratch[:0], x.Scheme, x.Host, x.Port))
	}
	if len(req.Header.UserAgent()) == 0 {
		req.Header.SetUserAgent(e.cfg.UserAgent)
	}
	req.Header.SetConnectionClose()
	x.bw.Reset(conn)
	err = req.Write(x.bw)
	if err == nil {
		err = x.bw.Flush()
	}
	x.bw.Reset(nil)
	if err != nil {
		return &ExchangeError{Phase: PhaseWrite, Err: err}
	}

	x.br.Reset(conn)
	defer x.br.Reset(nil)
	// Peek first: fasthttp reports any error on the first byte as io.EOF,
	// which would hide a reset or a timeout.
	if _, err := x.br.Peek(1); err != nil {
		return &ExchangeError{Phase: PhaseRead, Err: err}
	}
	resp := &x.resp
	resp.Reset()
	resp.StreamBody = true
	if req.Header.IsHead() {
		resp.SkipBody = true
	}
	if err := resp.ReadLimitBody(x.br, 0); err != nil {
		var small *fasthttp.ErrSmallBuffer
		if !errors.As(err, &small) || e.cfg.MaxHeaderBytes <= x.br.Size() {
			return &ExchangeError{Phase: PhaseRead, Err: err}
		}
		// Headers larger than the pooled buffer: nothing was consumed, so
		// read them again through a buffer of MaxHeaderBytes that starts
		// with what is buffered. Too large for it is too_large.
		buffered, _ := x.br.Peek(x.br.Buffered())
		head := bytes.Clone(buffered)
		big := bufio.NewReaderSize(io.MultiReader(bytes.NewReader(head), conn), e.cfg.MaxHeaderBytes)
		resp.Reset()
		resp.StreamBody = true
		resp.SkipBody = req.Header.IsHead()
		if err := resp.ReadLimitBody(big, 0); err != nil {
			return &ExchangeError{Phase: PhaseRead, Err: err}
		}
	}
	x.StatusCode = resp.StatusCode()
	err = x.readBody(conn)
	_ = resp.CloseBodyStream()
	if err != nil {
		return &ExchangeError{Phase: PhaseReadBody, Err: err}
	}
	return nil
}

// closeConn closes the TCP connection c of an exchange, with a reset
// unless cfg.GracefulClose.
func (e *HTTPExecutor) closeConn(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok && !e.cfg.GracefulClose {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}

// dialIP connects to an IP literal. It turns TCP keepalive off: an
// exchange is over long before a keepalive probe, and Go's default of
// keepalive on costs four setsockopt calls per connection (2% of a
// worker's CPU at 100,000 targets).
func (e *HTTPExecutor) dialIP(network, addr string, timeout time.Duration) (net.Conn, error) {
	start := time.Now()
	if e.ipSlots != nil {
		t := time.NewTimer(timeout)
		select {
		case e.ipSlots <- struct{}{}:
			t.Stop()
		case <-t.C:
			return nil, fasthttp.ErrDialTimeout
		}
		defer func() { <-e.ipSlots }()
	}
	left := timeout - time.Since(start)
	if left <= 0 {
		return nil, fasthttp.ErrDialTimeout
	}
	d := net.Dialer{Timeout: left, KeepAlive: -1}
	return d.Dial(network, addr)
}

// dial connects to addr: IP literals without DNS, names through the
// caching resolver; then the target policy checks the address reached.
func (e *HTTPExecutor) dial(host, addr string, timeout time.Duration) (net.Conn, error) {
	var conn net.Conn
	var err error
	if a, perr := netip.ParseAddr(host); perr == nil {
		network := "tcp"
		if a.Is4() {
			network = "tcp4"
		}
		conn, err = e.dialIP(network, addr, timeout)
	} else if e.cfg.DialDualStack {
		conn, err = e.nameDialer.DialDualStackTimeout(addr, timeout)
	} else {
		conn, err = e.nameDialer.DialTimeout(addr, timeout)
	}
	if err != nil {
		return nil, err
	}
	return checkConn(e.cfg.Policy, host, conn)
}

// checkConn closes conn, before a byte is sent, when the target policy
// denies the address it reached.
func checkConn(p *job.Policy, host string, conn net.Conn) (net.Conn, error) {
	if p == nil {
		return conn, nil
	}
	ta, ok := conn.RemoteAddr().(*net.TCPAddr)
	if !ok {
		return conn, nil
	}
	if err := p.CheckAddr(host, ta.AddrPort().Addr()); err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

// readBody reads at most MaxBodyBytes of the streamed body into x.Body. It
// never waits for more than the cap: past it, one non-blocking probe tells
// whether more was already on its way.
func (x *Exchange) readBody(conn net.Conn) error {
	stream := x.resp.BodyStream()
	if stream == nil {
		return nil
	}
	limit := x.MaxBodyBytes
	if limit <= 0 {
		limit = job.DefaultMaxBodyBytes
	}
	cl := x.resp.Header.ContentLength()
	want := limit
	if cl >= 0 && cl < want {
		want = cl
	}
	buf := x.Body[:0]
	if cl >= 0 && cap(buf) < want {
		buf = make([]byte, 0, want)
	}
	if cl < 0 && want > maxPooledBody && cap(buf) < want {
		// Unknown length and a cap above the pooled size: the worker's body
		// budget has reserved the whole cap for this request, so take it at
		// once rather than through a dozen doublings of garbage.
		buf = make([]byte, 0, want)
	}
	eof := false
	var rerr error
	for len(buf) < want {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, min(max(cap(buf), 4096), want-len(buf)))
		}
		n, err := stream.Read(buf[len(buf):min(cap(buf), want)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			eof = true
			break
		}
		if err != nil {
			rerr = err
			break
		}
	}
	x.Body = buf
	x.BodyBytes = int64(len(buf))
	if rerr != nil || eof {
		return rerr
	}
	switch {
	case cl >= 0 && cl <= limit:
		// The whole body has been read.
	case cl > limit:
		x.Truncated = true
		x.BodyBytes = int64(cl)
	default:
		// Unknown length and the cap is reached: probe without waiting.
		_ = conn.SetReadDeadline(time.Now())
		n, err := stream.Read(x.scratch[:])
		x.BodyBytes += int64(n)
		x.Truncated = n > 0 || err != io.EOF
	}
	return nil
}

// hostHeader appends the Host header value: host[:port], the port left out
// when it is the scheme's default.
func hostHeader(dst []byte, scheme, host string, port int) []byte {
	if (scheme == "https" && port == job.DefaultHTTPSPort) || (scheme != "https" && port == job.DefaultHTTPPort) {
		if len(host) > 0 && host[0] != '[' && containsColon(host) {
			dst = append(dst, '[')
			dst = append(dst, host...)
			return append(dst, ']')
		}
		return append(dst, host...)
	}
	return job.AppendHostPort(dst, host, port)
}

func containsColon(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == ':' {
			return true
		}
	}
	return false
}
