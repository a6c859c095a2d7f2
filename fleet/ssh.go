package fleet

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"
)

// SSHConfig configures an SSHServer. Build one with DefaultSSHConfig.
type SSHConfig struct {
	// Listen is the TCP address of the single listener that answers every
	// host; 0.0.0.0 (the default) receives every 127.x.y.z.
	Listen string
	// HostKey is the server's host key (the same for every host); nil
	// generates an ed25519 key at start.
	HostKey ssh.Signer
	// AuthorizedKeys are the public keys accepted for any user.
	AuthorizedKeys []ssh.PublicKey
	// Password, when not empty, is accepted for any user by the password
	// and keyboard-interactive methods.
	Password string
	// KeyboardInteractiveOnly offers the password through
	// keyboard-interactive only, as hosts whose sshd has
	// PasswordAuthentication off and PAM on.
	KeyboardInteractiveOnly bool
	// HandshakeTimeout bounds a connection's SSH handshake.
	HandshakeTimeout time.Duration
	// Logger receives the server's log lines; nil discards them.
	Logger *slog.Logger
}

// DefaultSSHConfig returns an SSH fleet on 0.0.0.0 with a random port and
// no credentials (set AuthorizedKeys or Password).
func DefaultSSHConfig() SSHConfig {
	return SSHConfig{Listen: "0.0.0.0:0", HandshakeTimeout: 10 * time.Second}
}

// Validate reports every invalid field of c, wrapping ErrInvalidConfig.
func (c SSHConfig) Validate() error {
	var errs []error
	if c.Listen == "" {
		errs = append(errs, errors.New("ssh listen address is empty"))
	}
	if len(c.AuthorizedKeys) == 0 && c.Password == "" {
		errs = append(errs, errors.New("ssh: no credentials: give authorized keys or a password"))
	}
	if c.HandshakeTimeout <= 0 {
		errs = append(errs, errors.New("ssh handshake timeout must be positive"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, errors.Join(errs...))
	}
	return nil
}

// SSHStats counts what an SSHServer did.
type SSHStats struct {
	// Connections is the number of connections accepted.
	Connections uint64 `json:"connections"`
	// AuthFailures is the number of handshakes that failed.
	HandshakeFailures uint64 `json:"handshakeFailures"`
	// Commands is the number of exec requests run.
	Commands uint64 `json:"commands"`
	// Active is the number of connections open now.
	Active int64 `json:"active"`
}

// SSHServer answers SSH for every simulated host: one listener, the
// connection's destination address is the host. It accepts the configured
// keys (or password) for any user and runs a small fixed set of commands
// in process, deterministically (see RunCommand): no shell, no real
// processes. Create it with NewSSHServer, then Start; Close stops it.
type SSHServer struct {
	cfg    SSHConfig
	log    *slog.Logger
	config *ssh.ServerConfig
	keys   map[string]bool // authorized keys, marshalled

	conns, failures, commands atomic.Uint64
	active                    atomic.Int64

	mu      sync.Mutex
	ln      net.Listener
	addr    *net.TCPAddr
	open    map[net.Conn]struct{}
	started bool
	closed  bool
	done    chan struct{} // closed by Close: wakes sleeping commands
	wg      sync.WaitGroup
}

// NewSSHServer validates cfg and returns a server that is not listening yet.
func NewSSHServer(cfg SSHConfig) (*SSHServer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.HostKey == nil {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("fleet: ssh host key: %w", err)
		}
		if cfg.HostKey, err = ssh.NewSignerFromKey(priv); err != nil {
			return nil, fmt.Errorf("fleet: ssh host key: %w", err)
		}
	}
	s := &SSHServer{cfg: cfg, log: log, keys: map[string]bool{}, open: map[net.Conn]struct{}{}, done: make(chan struct{})}
	for _, k := range cfg.AuthorizedKeys {
		s.keys[string(k.Marshal())] = true
	}
	sc := &ssh.ServerConfig{ServerVersion: "SSH-2.0-salvo-fleet"}
	if len(s.keys) > 0 {
		sc.PublicKeyCallback = func(_ ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			if s.keys[string(key.Marshal())] {
				return nil, nil
			}
			return nil, errors.New("unknown public key")
		}
	}
	if pw := []byte(cfg.Password); len(pw) > 0 {
		check := func(got []byte) error {
			if subtle.ConstantTimeCompare(got, pw) == 1 {
				return nil
			}
			return errors.New("wrong password")
		}
		if !cfg.KeyboardInteractiveOnly {
			sc.PasswordCallback = func(_ ssh.ConnMetadata, got []byte) (*ssh.Permissions, error) {
				return nil, check(got)
			}
		}
		sc.KeyboardInteractiveCallback = func(_ ssh.ConnMetadata, ask ssh.KeyboardInteractiveChallenge) (*ssh.Permissions, error) {
			ans, err := ask("", "", []string{"Password: "}, []bool{false})
			if err != nil {
				return nil, err
			}
			if len(ans) != 1 {
				return nil, errors.New("want one answer")
			}
			return nil, check([]byte(ans[0]))
		}
	}
	sc.AddHostKey(cfg.HostKey)
	s.config = sc
	return s, nil
}

// HostKey returns the server's public host key.
func (s *SSHServer) HostKey() ssh.PublicKey { return s.cfg.HostKey.PublicKey() }

// Start opens the listener and serves in the background until Close.
func (s *SSHServer) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return ErrClosed
	case s.started:
		return ErrAlreadyStarted
	}
	ln, err := net.Listen(listenNetwork(s.cfg.Listen), s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("fleet: ssh listen on %s: %w", s.cfg.Listen, err)
	}
	s.ln, s.addr, s.started = ln, ln.Addr().(*net.TCPAddr), true
	s.wg.Add(1)
	go s.serve(ln)
	s.log.Info("fleet ssh listening", "addr", s.addr.String(),
		"hostKey", ssh.FingerprintSHA256(s.cfg.HostKey.PublicKey()))
	return nil
}

// Addr returns the listener's address, or nil before Start.
func (s *SSHServer) Addr() *net.TCPAddr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Stats returns the server's counters.
func (s *SSHServer) Stats() SSHStats {
	return SSHStats{
		Connections:       s.conns.Load(),
		HandshakeFailures: s.failures.Load(),
		Commands:          s.commands.Load(),
		Active:            s.active.Load(),
	}
}

// Close stops accepting, closes every connection (sleeping commands end
// at once) and waits for the server's goroutines. It is idempotent.
func (s *SSHServer) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.done)
	ln := s.ln
	for c := range s.open {
		c.Close()
	}
	s.mu.Unlock()
	var err error
	if ln != nil {
		if cerr := ln.Close(); cerr != nil && !errors.Is(cerr, net.ErrClosed) {
			err = fmt.Errorf("fleet: close ssh listener: %w", cerr)
		}
	}
	s.wg.Wait()
	return err
}

func (s *SSHServer) serve(ln net.Listener) {
	defer s.wg.Done()
	backoff := 5 * time.Millisecond
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of descriptors and the like: back off, as net/http does.
			s.log.Warn("fleet: ssh accept", "err", err)
			select {
			case <-s.done:
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, time.Second)
			continue
		}
		backoff = 5 * time.Millisecond
		if !s.add(c) {
			c.Close()
			return
		}
		s.wg.Add(1)
		go s.handle(c)
	}
}

// add tracks an open connection; false after Close.
func (s *SSHServer) add(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.open[c] = struct{}{}
	return true
}

func (s *SSHServer) remove(c net.Conn) {
	s.mu.Lock()
	delete(s.open, c)
	s.mu.Unlock()
}

// handle serves one connection.
func (s *SSHServer) handle(c net.Conn) {
	defer s.wg.Done()
	defer s.remove(c)
	defer c.Close()
	s.conns.Add(1)
	s.active.Add(1)
	defer s.active.Add(-1)

	_ = c.SetDeadline(time.Now().Add(s.cfg.HandshakeTimeout))
	sc, chans, reqs, err := ssh.NewServerConn(c, s.config)
	if err != nil {
		s.failures.Add(1)
		s.log.Debug("fleet: ssh handshake", "remote", c.RemoteAddr().String(), "err", err)
		return
	}
	_ = c.SetDeadline(time.Time{})
	defer sc.Close()
	host := "127.0.0.1"
	if a, ok := c.LocalAddr().(*net.TCPAddr); ok {
		host = a.IP.String()
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Add(1)
	go func() {
		defer wg.Done()
		ssh.DiscardRequests(reqs)
	}()
	for nc := range chans {
		if nc.ChannelType() != "session" {
			_ = nc.Reject(ssh.UnknownChannelType, "only session channels")
			continue
		}
		ch, creqs, err := nc.Accept()
		if err != nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.session(ch, creqs, host, sc.User())
		}()
	}
}

// session serves one session channel: env and pty requests are accepted
// and ignored, one exec runs a command, a signal stops it.
func (s *SSHServer) session(ch ssh.Channel, reqs <-chan *ssh.Request, host, user string) {
	defer ch.Close()
	stop := make(chan struct{}) // closed on a signal request or when the channel goes
	var stopOnce sync.Once
	halt := func() { stopOnce.Do(func() { close(stop) }) }
	defer halt()
	finished := make(chan uint32, 1)
	running := false
	for {
		select {
		case code := <-finished:
			status := make([]byte, 4)
			binary.BigEndian.PutUint32(status, code)
			_, _ = ch.SendRequest("exit-status", false, status)
			_ = ch.CloseWrite()
			return
		case req, ok := <-reqs:
			if !ok {
				halt()
				if running {
					<-finished
				}
				return
			}
			switch req.Type {
			case "exec":
				if running {
					_ = req.Reply(false, nil)
					continue
				}
				var payload struct{ Command string }
				if err := ssh.Unmarshal(req.Payload, &payload); err != nil {
					_ = req.Reply(false, nil)
					continue
				}
				_ = req.Reply(true, nil)
				running = true
				s.commands.Add(1)
				env := &Env{Host: host, User: user, Password: s.cfg.Password,
					Stdin: ch, Stdout: ch, Stderr: ch.Stderr(), Stop: mergeStop(stop, s.done)}
				go func() { finished <- uint32(RunCommand(payload.Command, env)) }()
			case "signal":
				halt()
				_ = req.Reply(true, nil)
			case "env", "pty-req", "window-change":
				_ = req.Reply(true, nil)
			default:
				_ = req.Reply(false, nil)
			}
		}
	}
}

// mergeStop returns a channel closed when a or b is.
func mergeStop(a, b <-chan struct{}) <-chan struct{} {
	select {
	case <-b:
		return b
	default:
	}
	out := make(chan struct{})
	go func() {
		select {
		case <-a:
		case <-b:
		}
		close(out)
	}()
	return out
}

// ReadAuthorizedKeys reads an authorized_keys file (or a .pub file).
func ReadAuthorizedKeys(path string) ([]ssh.PublicKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("fleet: authorized keys: %w", err)
	}
	var keys []ssh.PublicKey
	for len(bytes.TrimSpace(data)) > 0 {
		k, _, _, rest, err := ssh.ParseAuthorizedKey(data)
		if err != nil {
			return nil, fmt.Errorf("fleet: authorized keys %s: %w", path, err)
		}
		keys = append(keys, k)
		data = rest
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("fleet: authorized keys %s: no key", path)
	}
	return keys, nil
}

// ReadHostKey reads a private host key file (OpenSSH or PEM format).
func ReadHostKey(path string) (ssh.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("fleet: host key: %w", err)
	}
	k, err := ssh.ParsePrivateKey(data)
	if err != nil {
		return nil, fmt.Errorf("fleet: host key %s: %w", path, err)
	}
	return k, nil
}
