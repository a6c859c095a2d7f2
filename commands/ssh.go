package commands

import (
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/salvo-sh/salvo/job"
	"golang.org/x/crypto/ssh"
)

// AcceptNewKnownHostsFile is the file, under SSHConfig.DataDir, where the
// accept-new policy remembers host keys when a job names no knownHostsFile.
const AcceptNewKnownHostsFile = "ssh_known_hosts"

// DefaultBastionHandshakes is the default bound on concurrent SSH handshakes
// through one proxyJump bastion: sshd's default MaxStartups drops
// unauthenticated connections beyond 10.
const DefaultBastionHandshakes = 10

// ErrSSHExecutorClosed is the error of an SSH attempt after Close.
var ErrSSHExecutorClosed = errors.New("commands: ssh executor closed")

// SSHConfig configures an SSHExecutor.
type SSHConfig struct {
	// Policy, when set, refuses a connection whose address the target
	// policy denies (errorClass policy). Targets reached through a
	// bastion are checked at submit only: the bastion resolves them.
	Policy *job.Policy
	// DataDir is the worker's data directory: the accept-new policy keeps
	// the host keys it learns in DataDir/ssh_known_hosts when a job names
	// no knownHostsFile. Empty: such jobs fail with errorClass host_key.
	DataDir string
	// KnownHostsFiles are the files the strict policy reads when a job
	// names no knownHostsFile; missing files are ignored. "~/" is the
	// worker user's home directory.
	KnownHostsFiles []string
	// AgentSocket is the ssh-agent socket of jobs with ssh.auth.agent (and
	// of jobs with no credentials at all); empty means $SSH_AUTH_SOCK.
	AgentSocket string
	// DefaultUser is the login of targets when neither the target nor the
	// job names one; empty means the worker's OS user.
	DefaultUser string
	// BastionHandshakes bounds the SSH handshakes in progress at once
	// through one proxyJump bastion (default 10, sshd's MaxStartups).
	BastionHandshakes int
	// ClientVersion is the identification string sent to servers.
	ClientVersion string
}

// DefaultSSHConfig returns the default SSH executor configuration.
func DefaultSSHConfig() SSHConfig {
	return SSHConfig{
		KnownHostsFiles:   []string{"~/.ssh/known_hosts", "/etc/ssh/ssh_known_hosts"},
		BastionHandshakes: DefaultBastionHandshakes,
		ClientVersion:     "SSH-2.0-salvo",
	}
}

// SSHExecutor holds what SSH jobs of one worker share: the known_hosts
// files (read once, re-read when they change on disk, appended to by the
// accept-new policy under one lock), the parsed ssh.configFile files
// (likewise) and the bastion connections of proxyJump jobs, which Close
// shuts. Connections to targets are not pooled: each target gets its own
// connection, closed after its command. It is safe for concurrent use.
type SSHExecutor struct {
	cfg   SSHConfig
	probe ssh.PublicKey // a key no known_hosts file holds, to list a host's known keys

	mu       sync.Mutex
	hosts    map[string]*knownHostsDB // by the files' joined paths
	bastions map[*bastion]struct{}
	closed   atomic.Bool

	cfgMu   sync.Mutex
	configs map[string]*sshConfigEntry // ssh.configFile by absolute path
}

// NewSSHExecutor returns an executor with cfg; zero fields take the
// defaults of DefaultSSHConfig.
func NewSSHExecutor(cfg SSHConfig) *SSHExecutor {
	def := DefaultSSHConfig()
	if cfg.KnownHostsFiles == nil {
		cfg.KnownHostsFiles = def.KnownHostsFiles
	}
	if cfg.BastionHandshakes <= 0 {
		cfg.BastionHandshakes = def.BastionHandshakes
	}
	if cfg.ClientVersion == "" {
		cfg.ClientVersion = def.ClientVersion
	}
	return &SSHExecutor{
		cfg:      cfg,
		probe:    probeKey(),
		hosts:    map[string]*knownHostsDB{},
		bastions: map[*bastion]struct{}{},
		configs:  map[string]*sshConfigEntry{},
	}
}

// Config returns the executor's configuration.
func (x *SSHExecutor) Config() SSHConfig { return x.cfg }

// Close closes the bastion connections of proxyJump jobs; attempts that
// start afterwards fail. It is idempotent.
func (x *SSHExecutor) Close() error {
	if x.closed.Swap(true) {
		return nil
	}
	x.mu.Lock()
	bs := make([]*bastion, 0, len(x.bastions))
	for b := range x.bastions {
		bs = append(bs, b)
	}
	x.mu.Unlock()
	for _, b := range bs {
		b.close()
	}
	return nil
}

// knownHosts returns the shared database of files (created on first use).
func (x *SSHExecutor) knownHosts(files []string) *knownHostsDB {
	key := strings.Join(files, "\x00")
	x.mu.Lock()
	defer x.mu.Unlock()
	db := x.hosts[key]
	if db == nil {
		db = &knownHostsDB{files: files, probe: x.probe}
		x.hosts[key] = db
	}
	return db
}

// track registers a bastion whose connection Close must shut; it reports
// false after Close.
func (x *SSHExecutor) track(b *bastion, on bool) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	if on {
		if x.closed.Load() {
			return false
		}
		x.bastions[b] = struct{}{}
	} else {
		delete(x.bastions, b)
	}
	return true
}

// agentSocket returns the ssh-agent socket path, "" when there is none.
func (x *SSHExecutor) agentSocket() string {
	if x.cfg.AgentSocket != "" {
		return x.cfg.AgentSocket
	}
	return os.Getenv("SSH_AUTH_SOCK")
}

// defaultUser returns the login used when neither target nor job names one.
func (x *SSHExecutor) defaultUser() string {
	if x.cfg.DefaultUser != "" {
		return x.cfg.DefaultUser
	}
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return os.Getenv("USER")
}

// expandHome replaces a leading "~/" with the user's home directory.
func expandHome(p string) string {
	if p == "~" || strings.HasPrefix(p, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, p[1:])
		}
	}
	return p
}

// probeKey returns a fixed public key that stands for "any key" when the
// known keys of a host are listed: checking it yields a KeyError that names
// them.
func probeKey() ssh.PublicKey {
	seed := sha256.Sum256([]byte("salvo known_hosts probe"))
	priv := ed25519.NewKeyFromSeed(seed[:])
	pub, _ := ssh.NewPublicKey(priv.Public()) // never fails for ed25519
	return pub
}
