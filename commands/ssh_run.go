package commands

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/salvo-sh/salvo/job"
)

// Phases of an SSH attempt, carried by *ExchangeError.
const (
	PhaseSSHHandshake = "ssh handshake"
	PhaseSSHSession   = "ssh session"
)

// sshPlan is the SSH part of a compiled plan.
type sshPlan struct {
	x       *SSHExecutor
	user    string // the job's user ("" = the config's, else the executor's default)
	port    int    // the job's port; 0 (only with a config file) = the config's, else 22
	auth    *sshAuth
	policy  string
	hosts   *knownHostsDB // nil for the off policy
	hostErr error         // why host keys cannot be checked (accept-new without a file)
	sudo    bool
	prompt  string        // the sudo prompt marker
	bastion *bastion      // the job's proxyJump without a config file; else nil
	jump    string        // the job's proxyJump
	connect time.Duration // the connect timeout, for bastions

	// With ssh.configFile: the file, parsed on the first target, and the
	// bastions its hosts (or the job's proxyJump, resolved through it) use.
	cfgFile  string // absolute
	cfgOnce  sync.Once
	cfg      *sshClientConfig
	cfgErr   error
	bmu      sync.Mutex
	bastions map[string]*bastion // by jump host as written
}

// maxPlanBastions bounds the bastions one job keeps for reuse; past it
// (a ProxyJump with %h, one per target) each target gets its own.
const maxPlanBastions = 1024

// newSSHPlan compiles the SSH part of a spec. It reads no file: NewPlan
// runs inside the worker actor.
func newSSHPlan(s *job.SSHSpec, x *SSHExecutor, connect time.Duration) (*sshPlan, error) {
	sp := &sshPlan{
		x:       x,
		user:    s.User,
		port:    s.Port,
		auth:    newSSHAuth(s.Auth, x),
		policy:  s.HostKeyPolicy,
		sudo:    s.Sudo,
		jump:    s.ProxyJump,
		connect: connect,
	}
	if s.ConfigFile != "" {
		sp.cfgFile = absPath(expandHome(s.ConfigFile))
		sp.bastions = map[string]*bastion{}
	}
	if sp.port == 0 && sp.cfgFile == "" {
		sp.port = job.DefaultSSHPort
	}
	switch sp.policy {
	case job.HostKeyOff, job.HostKeyInsecure:
	case job.HostKeyAcceptNew:
		f := s.KnownHostsFile
		if f == "" && x.cfg.DataDir != "" {
			f = filepath.Join(x.cfg.DataDir, AcceptNewKnownHostsFile)
		}
		if f == "" {
			sp.hostErr = errors.New("hostKeyPolicy accept-new needs ssh.knownHostsFile or a worker data dir to remember keys in")
			break
		}
		sp.hosts = x.knownHosts([]string{absPath(expandHome(f))})
	default: // strict
		files := x.cfg.KnownHostsFiles
		if s.KnownHostsFile != "" {
			files = []string{s.KnownHostsFile}
		}
		abs := make([]string, len(files))
		for i, f := range files {
			abs[i] = absPath(expandHome(f))
		}
		sp.hosts = x.knownHosts(abs)
	}
	if sp.sudo {
		var b [8]byte
		_, _ = rand.Read(b[:]) // never fails
		sp.prompt = "[salvo-sudo-" + hex.EncodeToString(b[:]) + "] "
	}
	if s.ProxyJump != "" {
		if _, err := job.ParseTarget(s.ProxyJump, job.ProtocolSSH); err != nil {
			return nil, fmt.Errorf("ssh.proxyJump: %w", err)
		}
		if sp.cfgFile == "" {
			b, err := sp.newBastion(s.ProxyJump, nil)
			if err != nil {
				return nil, fmt.Errorf("ssh.proxyJump: %w", err)
			}
			sp.bastion = b
		}
	}
	return sp, nil
}

// config returns the job's parsed ssh.configFile (nil without one); the
// file is read on the first call, once per job.
func (sp *sshPlan) config() (*sshClientConfig, error) {
	if sp.cfgFile == "" {
		return nil, nil
	}
	sp.cfgOnce.Do(func() {
		sp.cfg, sp.cfgErr = sp.x.sshConfig(sp.cfgFile)
		if sp.cfgErr != nil {
			sp.cfgErr = fmt.Errorf("ssh.configFile %s: %w", sp.cfgFile, sp.cfgErr)
		}
	})
	return sp.cfg, sp.cfgErr
}

// sshRoute is how one target is reached.
type sshRoute struct {
	user    string
	addr    string // host:port dialled
	port    int
	keys    []string // the config's IdentityFile keys
	bastion *bastion // nil: direct
}

// route applies the precedence of docs/ssh.md ("OpenSSH client config")
// to target t: its own user and port, then the job's, then the config's
// for t.Host as written, then the defaults. On error it returns the
// target's error class.
func (sp *sshPlan) route(t job.Target) (sshRoute, string, error) {
	user := t.User
	if user == "" {
		user = sp.user
	}
	port := sp.port
	if t.HasPort {
		port = t.Port
	}
	cfg, err := sp.config()
	if err != nil {
		return sshRoute{}, job.ClassOther, err
	}
	hr, err := cfg.route(t.Host, user, port, sp.x.defaultUser)
	if err != nil {
		return sshRoute{}, job.ClassOther, fmt.Errorf("ssh.configFile %s: %w", sp.cfgFile, err)
	}
	r := sshRoute{user: hr.user, port: hr.port, addr: string(job.AppendHostPort(nil, hr.host, hr.port)), keys: hr.keys, bastion: sp.bastion}
	if hr.host != t.Host {
		// The policy saw the name as written at submit; the worker
		// checks the address it dials (checkConn), this the name.
		if err := sp.x.cfg.Policy.CheckHost(hr.host); err != nil {
			return r, job.ClassPolicy, fmt.Errorf("HostName %s of %s: %w", hr.host, t.Host, err)
		}
	}
	if cfg == nil {
		return r, "", nil
	}
	jump := sp.jump // the job's proxyJump wins, as ssh -J over ProxyJump
	if jump == "" {
		jump = hr.proxyJump
	}
	if jump != "" {
		if r.bastion, err = sp.bastionFor(jump, cfg); err != nil {
			return r, job.ClassOther, fmt.Errorf("ssh.configFile %s: %w", sp.cfgFile, err)
		}
	}
	return r, "", nil
}

// bastionFor returns the job's bastion for jump, resolved through cfg.
func (sp *sshPlan) bastionFor(jump string, cfg *sshClientConfig) (*bastion, error) {
	sp.bmu.Lock()
	defer sp.bmu.Unlock()
	if b := sp.bastions[jump]; b != nil {
		return b, nil
	}
	b, err := sp.newBastion(jump, cfg)
	if err != nil {
		return nil, err
	}
	if len(sp.bastions) < maxPlanBastions {
		sp.bastions[jump] = b
	}
	return b, nil
}

// newBastion builds the bastion of jump, [user@]host[:port] (an
// "ssh://" prefix allowed), resolved through cfg when not nil: the jump's
// own user and port, then the config's for its host, then the job's user
// (else the executor's default, looked up when it connects) and port 22
// (ssh -l and -p do not reach a jump host). With a nil cfg it reads no file.
func (sp *sshPlan) newBastion(jump string, cfg *sshClientConfig) (*bastion, error) {
	if strings.Contains(jump, ",") {
		return nil, fmt.Errorf("proxyJump %q: more than one jump host is not supported", jump)
	}
	t, err := job.ParseTarget(strings.TrimPrefix(jump, "ssh://"), job.ProtocolSSH)
	if err != nil {
		return nil, fmt.Errorf("proxyJump: %w", err)
	}
	port := 0
	if t.HasPort {
		port = t.Port
	}
	hr, err := cfg.route(t.Host, t.User, port, func() string { return sp.user })
	if err != nil {
		return nil, fmt.Errorf("jump host: %w", err)
	}
	if hr.proxyJump != "" {
		return nil, fmt.Errorf("jump host %s has ProxyJump %s: chains of jump hosts are not supported", t.Host, hr.proxyJump)
	}
	return &bastion{
		x:       sp.x,
		plan:    sp,
		addr:    string(job.AppendHostPort(nil, hr.host, hr.port)),
		user:    hr.user,
		keys:    hr.keys,
		connect: sp.connect,
		sem:     make(chan struct{}, sp.x.cfg.BastionHandshakes),
	}, nil
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// clientConfig returns the handshake settings for user at addr.
func (sp *sshPlan) clientConfig(user, addr string, remote net.Addr, methods []ssh.AuthMethod) (*ssh.ClientConfig, error) {
	cfg := &ssh.ClientConfig{
		User:          user,
		Auth:          methods,
		ClientVersion: sp.x.cfg.ClientVersion,
	}
	switch {
	case sp.hostErr != nil:
		return nil, &HostKeyError{Host: addr, Class: job.ClassHostKey, Msg: sp.hostErr.Error()}
	case sp.hosts == nil:
		cfg.HostKeyCallback = ssh.InsecureIgnoreHostKey()
	default:
		cfg.HostKeyAlgorithms = hostKeyAlgorithms(sp.hosts.knownKeys(addr, remote))
		if sp.policy == job.HostKeyAcceptNew {
			cfg.HostKeyCallback = sp.hosts.trust
		} else {
			cfg.HostKeyCallback = sp.hosts.verify
		}
	}
	return cfg, nil
}

// sshOutcome is what one attempt produced.
type sshOutcome struct {
	stdout, stderr capBuffer
	exit           *int
	signal         string
	started        bool          // the command was sent: no retry
	setup          time.Duration // connect, authenticate, open the session: until started
	timedOut       bool
	err            error
}

// runSSH executes the plan against one SSH target.
func (p *Plan) runSSH(ctx context.Context, t job.Target, env *job.Env, res job.Result) job.Result {
	sp := p.ssh
	rt, class, err := sp.route(t)
	if err != nil {
		return finishError(res, class, err)
	}
	env.Port = rt.port
	res.Target = rt.user + "@" + rt.addr

	bp := p.bufs.Get().(*[]byte)
	// A name salvo does not define is the remote shell's (docs/ssh.md).
	cmdb := p.sshCmd.AppendShellEnv((*bp)[:0], env)
	cmd := string(cmdb)
	*bp = cmdb[:0]
	p.bufs.Put(bp)
	if sp.sudo {
		cmd = sp.sudoCommand(cmd)
	}

	var out *sshOutcome
	backoff := p.backoff
	var start time.Time
	for {
		res.Attempts++
		start = time.Now()
		out = sp.attempt(ctx, &rt, cmd, p.connect, p.timeout, p.maxBody)
		if out.err == nil {
			break
		}
		class = classifySSH(out)
		if out.started || res.Attempts > p.retries || !Retryable(class) || !sleepCtx(ctx, backoff) {
			break
		}
		backoff = min(backoff*2, maxBackoff)
	}
	res.LatencyMs = float64(time.Since(start)) / float64(time.Millisecond)
	if out.started {
		res.ConnectMs = float64(out.setup) / float64(time.Millisecond)
	}
	if out.err != nil && !out.started && ctx.Err() != nil && errors.Is(out.err, context.Canceled) {
		// The job was cancelled before the command was sent.
		res.State, res.Value, res.Error = job.StateCancelled, job.StateCancelled, context.Cause(ctx).Error()
		res.FinishedAt = time.Now().UTC()
		return res
	}
	res.Body = out.stdout.String()
	res.Stderr = out.stderr.String()
	res.BodyBytes = out.stdout.n
	res.Truncated = out.stdout.truncated() || out.stderr.truncated()
	res.FinishedAt = time.Now().UTC()
	if out.err != nil {
		res.State = job.StateForClass(class)
		res.ErrorClass = class
		res.Error = out.err.Error()
		res.Value = class
		return res
	}
	code := *out.exit
	res.ExitCode = &code
	res.State = job.StateOK
	res.Value = p.value([]byte(res.Body), code)
	switch {
	case out.signal != "":
		res.State = job.StateFailed
		res.Error = "killed by signal " + out.signal
	case !p.expect.ExitOK(code):
		res.State = job.StateFailed
		if why := p.expect.ExitReason(code); why != "" {
			failExpectation(&res, why)
		}
	case p.expect != nil:
		if why := p.expect.CheckBody([]byte(res.Body)); why != "" {
			failExpectation(&res, why)
		}
	}
	return res
}

// attempt connects, authenticates, runs cmd and waits for its exit
// status. The connect timeout bounds the TCP connect and the SSH handshake;
// the command timeout runs from the start of the command. An attempt that
// has started runs to its end or timeout even when ctx is cancelled.
func (sp *sshPlan) attempt(ctx context.Context, rt *sshRoute, cmd string, connect, timeout time.Duration, maxBody int) *sshOutcome {
	out := &sshOutcome{stdout: capBuffer{max: maxBody}, stderr: capBuffer{max: maxBody}}
	begin := time.Now()
	if sp.x.closed.Load() {
		out.err = ErrSSHExecutorClosed
		return out
	}
	client, done, err := sp.dial(ctx, rt, connect)
	if err != nil {
		out.err = err
		return out
	}
	defer done()
	defer client.Close()

	sess, err := client.NewSession()
	if err != nil {
		out.err = &ExchangeError{Phase: PhaseSSHSession, Err: err}
		return out
	}
	defer sess.Close()
	sess.Stdout = &out.stdout
	var stdin io.WriteCloser
	if sp.sudo && sp.auth.password != "" {
		if stdin, err = sess.StdinPipe(); err != nil {
			out.err = &ExchangeError{Phase: PhaseSSHSession, Err: err}
			return out
		}
		sess.Stderr = &sudoWriter{dst: &out.stderr, prompt: []byte(sp.prompt), stdin: stdin, password: sp.auth.password}
	} else {
		sess.Stderr = &out.stderr
	}
	if err := sess.Start(cmd); err != nil {
		out.err = &ExchangeError{Phase: PhaseSSHSession, Err: err}
		return out
	}
	out.started = true
	out.setup = time.Since(begin)

	// On timeout: SIGHUP to the remote process group (sshd ≥ 7.9 honours
	// signal requests), then close the session and connection.
	fired := make(chan struct{})
	timer := time.AfterFunc(timeout, func() {
		defer close(fired)
		_ = sess.Signal(ssh.SIGHUP)
		_ = sess.Close()
		_ = client.Close()
	})
	werr := sess.Wait()
	if !timer.Stop() {
		<-fired
		out.timedOut = true
		out.err = &ExchangeError{Phase: PhaseSSHSession, Err: fmt.Errorf("command did not finish within %s: %w", timeout, context.DeadlineExceeded)}
		return out
	}
	var ee *ssh.ExitError
	var missing *ssh.ExitMissingError
	switch {
	case werr == nil:
		code := 0
		out.exit = &code
	case errors.As(werr, &ee):
		code := ee.ExitStatus()
		out.exit = &code
		out.signal = ee.Signal()
	case errors.As(werr, &missing):
		out.err = &ExchangeError{Phase: PhaseSSHSession, Err: errors.New("the session closed without an exit status")}
	default:
		out.err = &ExchangeError{Phase: PhaseSSHSession, Err: werr}
	}
	return out
}

// dial connects to the route's address (directly or through its bastion)
// and completes the SSH handshake within the connect timeout. done
// releases the bastion connection; call it after closing the client.
func (sp *sshPlan) dial(ctx context.Context, rt *sshRoute, connect time.Duration) (client *ssh.Client, done func(), err error) {
	done = func() {}
	addr := rt.addr
	methods, closeAuth, err := sp.auth.methods(rt.keys)
	if err != nil {
		return nil, done, err
	}
	defer closeAuth()
	var conn net.Conn
	if b := rt.bastion; b != nil {
		release, err := b.acquireHandshake(ctx)
		if err != nil {
			return nil, done, err
		}
		defer release()
		if conn, err = b.dial(ctx, addr); err != nil {
			return nil, done, err
		}
		done = b.put
	} else {
		d := net.Dialer{Timeout: connect}
		if conn, err = d.DialContext(ctx, "tcp", addr); err != nil {
			return nil, done, &ExchangeError{Phase: PhaseDial, Err: err}
		}
		host, _, _ := net.SplitHostPort(addr)
		if conn, err = checkConn(sp.x.cfg.Policy, host, conn); err != nil {
			return nil, done, &ExchangeError{Phase: PhaseDial, Err: err}
		}
	}
	client, err = sp.handshake(conn, rt.user, addr, methods, connect)
	if err != nil {
		done()
		return nil, func() {}, err
	}
	return client, done, nil
}

// handshake runs the SSH handshake on conn, bounded by timeout.
func (sp *sshPlan) handshake(conn net.Conn, user, addr string, methods []ssh.AuthMethod, timeout time.Duration) (*ssh.Client, error) {
	cfg, err := sp.clientConfig(user, addr, conn.RemoteAddr(), methods)
	if err != nil {
		conn.Close()
		return nil, err
	}
	// A timer rather than a deadline: a connection through a bastion is an
	// SSH channel, which has no deadlines.
	var expired bool
	var mu sync.Mutex
	timer := time.AfterFunc(timeout, func() {
		mu.Lock()
		expired = true
		mu.Unlock()
		conn.Close()
	})
	c, chans, reqs, err := ssh.NewClientConn(conn, addr, cfg)
	timer.Stop()
	mu.Lock()
	timedOut := expired
	mu.Unlock()
	if err != nil {
		if timedOut {
			err = fmt.Errorf("ssh handshake did not finish within %s: %w", timeout, ErrConnectTimeout)
		}
		return nil, &ExchangeError{Phase: PhaseSSHHandshake, Err: err}
	}
	if timedOut {
		c.Close()
		return nil, &ExchangeError{Phase: PhaseSSHHandshake, Err: fmt.Errorf("ssh handshake did not finish within %s: %w", timeout, ErrConnectTimeout)}
	}
	return ssh.NewClient(c, chans, reqs), nil
}

// ErrConnectTimeout marks a connection or SSH handshake that did not
// complete within the connect timeout.
var ErrConnectTimeout = errors.New("connect timeout")

// classifySSH maps a failed attempt to an error class.
func classifySSH(out *sshOutcome) string {
	err := out.err
	var hk *HostKeyError
	var ae *AuthError
	var oe *ssh.OpenChannelError
	switch {
	case out.timedOut:
		return job.ClassTimeout
	case errors.As(err, &hk):
		return hk.ErrorClass()
	case errors.As(err, &ae):
		return job.ClassAuth
	case errors.Is(err, ErrConnectTimeout):
		return job.ClassConnectTimeout
	case errors.Is(err, ErrSSHExecutorClosed):
		return job.ClassOther
	case errors.As(err, &oe):
		// A bastion could not reach the target.
		if oe.Reason == ssh.ConnectionFailed {
			if strings.Contains(strings.ToLower(oe.Message), "timed out") {
				return job.ClassConnectTimeout
			}
			return job.ClassConnectRefused
		}
		return job.ClassProtocol
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "unable to authenticate"):
		return job.ClassAuth
	case strings.Contains(msg, "no common algorithm"), strings.Contains(msg, "ssh: overflow"),
		strings.Contains(msg, "ssh: unexpected message"), strings.Contains(msg, "ssh: parse error"):
		return job.ClassProtocol
	}
	var xe *ExchangeError
	if errors.As(err, &xe) && xe.Phase == PhaseSSHHandshake {
		// sshd dropped the connection before or during the handshake (its
		// MaxStartups limit on unauthenticated connections): retryable.
		if c := classifyCause(err, PhaseDial); c == job.ClassConnectTimeout || c == job.ClassConnectRefused || c == job.ClassReset {
			return c
		}
		if errors.Is(err, net.ErrClosed) || strings.Contains(msg, "connection reset") || strings.Contains(msg, "EOF") {
			return job.ClassReset
		}
		return job.ClassProtocol
	}
	return Classify(err)
}

// sudoCommand wraps cmd to run under sudo. With a password, sudo reads it
// from stdin when it prompts (never from the command line); the command's
// own stdin is /dev/null. Without one, sudo -n fails rather than prompt.
func (sp *sshPlan) sudoCommand(cmd string) string {
	if sp.auth.password == "" {
		return "sudo -n -- sh -c " + shellQuote(cmd)
	}
	return "sudo -S -p " + shellQuote(sp.prompt) + " -- sh -c " + shellQuote("exec </dev/null; "+cmd)
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// capBuffer keeps the first max bytes written and counts them all.
type capBuffer struct {
	max int
	buf []byte
	n   int64
}

// Write implements io.Writer; it never fails, so the remote side is never
// blocked by a full buffer.
func (c *capBuffer) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	if room := c.max - len(c.buf); room > 0 {
		c.buf = append(c.buf, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (c *capBuffer) String() string { return string(c.buf) }

func (c *capBuffer) truncated() bool { return c.n > int64(len(c.buf)) }

// sudoWriter passes stderr through, answering sudo's prompt with the
// password on stdin and removing the prompt from the output. A second
// prompt (a wrong password) gets stdin closed, so sudo gives up.
type sudoWriter struct {
	dst      io.Writer
	prompt   []byte
	stdin    io.WriteCloser
	password string
	answered bool
	pending  []byte // a tail that may be the start of the prompt
}

func (w *sudoWriter) Write(p []byte) (int, error) {
	data := append(w.pending, p...)
	w.pending = nil
	for {
		i := bytes.Index(data, w.prompt)
		if i < 0 {
			break
		}
		_, _ = w.dst.Write(data[:i])
		data = data[i+len(w.prompt):]
		if w.answered {
			_ = w.stdin.Close()
		} else {
			w.answered = true
			_, _ = io.WriteString(w.stdin, w.password+"\n")
		}
	}
	keep := 0
	for k := min(len(w.prompt)-1, len(data)); k > 0; k-- {
		if bytes.HasPrefix(w.prompt, data[len(data)-k:]) {
			keep = k
			break
		}
	}
	_, _ = w.dst.Write(data[:len(data)-keep])
	w.pending = append([]byte(nil), data[len(data)-keep:]...)
	return len(p), nil
}

// bastion is a proxyJump host: one SSH connection to it, shared by the
// job's targets (each target a direct-tcpip channel on it), opened on
// first use and closed once idle. Handshakes through it are bounded.
type bastion struct {
	x       *SSHExecutor
	plan    *sshPlan
	addr    string
	user    string   // "": the executor's default
	keys    []string // the config's IdentityFile keys for the jump host
	connect time.Duration
	sem     chan struct{}

	mu      sync.Mutex
	client  *ssh.Client
	refs    int
	dialing chan struct{} // closed when the dial in progress ends
	lastErr error
	errAt   time.Time
	idle    *time.Timer
}

// bastionIdle is how long an unused bastion connection stays open.
const bastionIdle = 2 * time.Second

// acquireHandshake waits for a handshake slot; release frees it.
func (b *bastion) acquireHandshake(ctx context.Context) (func(), error) {
	select {
	case b.sem <- struct{}{}:
		return func() { <-b.sem }, nil
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}

// dial opens a channel to addr through the bastion, connecting to the
// bastion first if needed. On success the caller holds a reference to the
// bastion connection and must put it back when the target is done.
func (b *bastion) dial(ctx context.Context, addr string) (net.Conn, error) {
	c, err := b.get(ctx)
	if err != nil {
		return nil, err
	}
	dctx, cancel := context.WithTimeout(ctx, b.connect)
	defer cancel()
	conn, err := c.DialContext(dctx, "tcp", addr)
	if err != nil {
		b.put()
		var oe *ssh.OpenChannelError
		if !errors.As(err, &oe) {
			b.drop(c) // the bastion connection itself failed
		}
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("%w (%w)", ErrConnectTimeout, err)
		}
		return nil, &ExchangeError{Phase: PhaseDial, Err: fmt.Errorf("via bastion %s: %w", b.addr, err)}
	}
	return conn, nil
}

// get returns the bastion connection, dialling it when there is none. A
// dial that failed within the last connect timeout is not retried: its
// error is returned at once, so a dead bastion fails the job fast.
func (b *bastion) get(ctx context.Context) (*ssh.Client, error) {
	for {
		b.mu.Lock()
		if b.client != nil {
			b.refs++
			if b.idle != nil {
				b.idle.Stop()
			}
			c := b.client
			b.mu.Unlock()
			return c, nil
		}
		if b.lastErr != nil && time.Since(b.errAt) < b.connect {
			err := b.lastErr
			b.mu.Unlock()
			return nil, err
		}
		if wait := b.dialing; wait != nil {
			b.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return nil, context.Cause(ctx)
			}
		}
		done := make(chan struct{})
		b.dialing = done
		b.mu.Unlock()

		c, err := b.open(ctx)
		b.mu.Lock()
		b.dialing = nil
		close(done)
		if err != nil {
			b.lastErr, b.errAt = err, time.Now()
			b.mu.Unlock()
			return nil, err
		}
		if !b.x.track(b, true) {
			b.mu.Unlock()
			c.Close()
			return nil, ErrSSHExecutorClosed
		}
		b.client, b.lastErr = c, nil
		b.mu.Unlock()
		go func() {
			// Forget the connection when it dies; ends when it is closed.
			_ = c.Wait()
			b.drop(c)
		}()
	}
}

// open dials the bastion and authenticates with the job's credentials.
func (b *bastion) open(ctx context.Context) (*ssh.Client, error) {
	methods, closeAuth, err := b.plan.auth.methods(b.keys)
	if err != nil {
		return nil, err
	}
	defer closeAuth()
	d := net.Dialer{Timeout: b.connect}
	conn, err := d.DialContext(ctx, "tcp", b.addr)
	if err != nil {
		return nil, &ExchangeError{Phase: PhaseDial, Err: fmt.Errorf("bastion %s: %w", b.addr, err)}
	}
	user := b.user
	if user == "" {
		user = b.x.defaultUser()
	}
	c, err := b.plan.handshake(conn, user, b.addr, methods, b.connect)
	if err != nil {
		return nil, fmt.Errorf("bastion %s: %w", b.addr, err)
	}
	return c, nil
}

// put releases a reference; the last one arms the idle timer.
func (b *bastion) put() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refs--
	if b.refs > 0 || b.client == nil {
		return
	}
	c := b.client
	if b.idle == nil {
		b.idle = time.AfterFunc(bastionIdle, func() { b.closeIfIdle(c) })
	} else {
		b.idle.Stop()
		b.idle = time.AfterFunc(bastionIdle, func() { b.closeIfIdle(c) })
	}
}

func (b *bastion) closeIfIdle(c *ssh.Client) {
	b.mu.Lock()
	if b.refs > 0 || b.client != c {
		b.mu.Unlock()
		return
	}
	b.mu.Unlock()
	b.drop(c)
}

// drop forgets and closes c if it is the current connection.
func (b *bastion) drop(c *ssh.Client) {
	b.mu.Lock()
	cur := b.client == c
	if cur {
		b.client = nil
	}
	b.mu.Unlock()
	if cur {
		b.x.track(b, false)
	}
	c.Close()
}

// close shuts the bastion connection (SSHExecutor.Close).
func (b *bastion) close() {
	b.mu.Lock()
	c := b.client
	b.client = nil
	if b.idle != nil {
		b.idle.Stop()
	}
	b.mu.Unlock()
	if c != nil {
		c.Close()
	}
}
