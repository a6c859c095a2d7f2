package testutil

import (
	"bufio"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// SSHDPath is where Debian's openssh-server installs sshd.
const SSHDPath = "/usr/sbin/sshd"

// RequireSSHD returns the path of OpenSSH's sshd. When it is missing the
// test is skipped, or fails under CI (env CI set), where .ci/run installs
// it.
func RequireSSHD(t testing.TB) string {
	t.Helper()
	if _, err := os.Stat(SSHDPath); err != nil {
		Missing(t, fmt.Sprintf("%s is missing (apt-get install openssh-server): %v", SSHDPath, err))
	}
	return SSHDPath
}

// Missing ends a test that needs a tool the machine lacks: it is skipped,
// or fails under CI (env CI set), where .ci/run installs every such tool.
func Missing(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatal(msg + "; under CI it must be installed")
	}
	t.Skip(msg)
}

// SSHKey is a generated ed25519 key pair; the private key is on disk in
// OpenSSH format (mode 0600).
type SSHKey struct {
	// File is the private key file.
	File string
	// Signer signs with the key.
	Signer ssh.Signer
	// Public is the public key.
	Public ssh.PublicKey
}

// AuthorizedLine returns the key as an authorized_keys line.
func (k SSHKey) AuthorizedLine() string {
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k.Public)))
}

// NewSSHKey generates an ed25519 key and writes it to dir/name, encrypted
// with passphrase when it is not empty, and dir/name.pub.
func NewSSHKey(t testing.TB, dir, name, passphrase string) SSHKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatalf("generate key: %v", err)
	}
	var block *pem.Block
	if passphrase == "" {
		block, err = ssh.MarshalPrivateKey(priv, name)
	} else {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(priv, name, []byte(passphrase))
	}
	if err != nil {
		t.Fatalf("marshal key: %v", err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatalf("signer: %v", err)
	}
	k := SSHKey{File: filepath.Join(dir, name), Signer: signer, Public: signer.PublicKey()}
	if err := os.WriteFile(k.File, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatalf("write key: %v", err)
	}
	if err := os.WriteFile(k.File+".pub", []byte(k.AuthorizedLine()+" "+name+"\n"), 0o644); err != nil {
		t.Fatalf("write public key: %v", err)
	}
	return k
}

// SSHDConfig configures StartSSHD.
type SSHDConfig struct {
	// HostKey is the server's host key; nil generates one.
	HostKey *SSHKey
	// AuthorizedKeys may log in; nil authorizes a generated key (SSHD.UserKey).
	AuthorizedKeys []ssh.PublicKey
	// Env are more NAME=VALUE variables for the sessions (one SetEnv
	// line: sshd takes only the first). HOME is always the server's
	// directory, so that the login's dotfiles (a slow ~/.bashrc) stay out
	// of the tests.
	Env []string
	// Users may log in besides the current user (AllowUsers).
	Users []string
	// Extra are more sshd_config lines (before any Match block).
	Extra []string
}

// SSHD is a real OpenSSH server started for a test: `sshd -D -e -f CONFIG`
// as the current user on 0.0.0.0:Port (every 127.x.y.z reaches it, and
// AllowUsers admits only loopback clients), with its host key, user key and
// config in a temporary directory. No system file is touched except that
// /run/sshd (sshd's privilege separation directory) is created if missing.
type SSHD struct {
	// Port is the listening port.
	Port int
	// User is the login to use (the current user).
	User string
	// Dir holds the config and keys.
	Dir string
	// HostKey is the current host key.
	HostKey SSHKey
	// UserKey is authorized when SSHDConfig.AuthorizedKeys was nil.
	UserKey SSHKey

	t    testing.TB
	path string
	cfg  SSHDConfig

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	log  strings.Builder
}

// StartSSHD starts sshd and stops it when the test ends; mod may change the
// configuration.
func StartSSHD(t testing.TB, mod func(*SSHDConfig)) *SSHD {
	t.Helper()
	path := RequireSSHD(t)
	u, err := user.Current()
	if err != nil {
		t.Fatalf("current user: %v", err)
	}
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Fatalf("sshd needs /run/sshd (its privilege separation directory): %v", err)
	}
	dir := t.TempDir()
	d := &SSHD{User: u.Username, Dir: dir, t: t, path: path}
	var cfg SSHDConfig
	if mod != nil {
		mod(&cfg)
	}
	if cfg.HostKey == nil {
		hk := NewSSHKey(t, dir, "ssh_host_ed25519_key", "")
		cfg.HostKey = &hk
	}
	if cfg.AuthorizedKeys == nil {
		d.UserKey = NewSSHKey(t, dir, "id_ed25519", "")
		cfg.AuthorizedKeys = []ssh.PublicKey{d.UserKey.Public}
	}
	d.cfg = cfg
	var ak strings.Builder
	for _, k := range cfg.AuthorizedKeys {
		ak.Write(ssh.MarshalAuthorizedKey(k))
	}
	if err := os.WriteFile(filepath.Join(dir, "authorized_keys"), []byte(ak.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		d.Stop()
		if t.Failed() {
			t.Logf("sshd log:\n%s", d.Log())
		}
	})
	var lastErr error
	for range 5 {
		port, err := freePort()
		if err != nil {
			t.Fatalf("free port: %v", err)
		}
		d.Port = port
		if lastErr = d.start(*cfg.HostKey); lastErr == nil {
			return d
		}
	}
	t.Fatalf("start sshd: %v\n%s", lastErr, d.Log())
	return nil
}

// FreePort returns a TCP port that was free on 0.0.0.0 a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	p, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// freePort returns a port that was free on 0.0.0.0 a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// start writes the config for hostKey and starts sshd, waiting until it
// listens.
func (d *SSHD) start(hostKey SSHKey) error {
	d.HostKey = hostKey
	conf := []string{
		"Port " + strconv.Itoa(d.Port),
		"ListenAddress 0.0.0.0",
		"HostKey " + hostKey.File,
		"PidFile none",
		"AuthorizedKeysFile " + filepath.Join(d.Dir, "authorized_keys"),
		"StrictModes no",
		"UsePAM no",
		"MaxStartups 1000",
		"MaxSessions 100",
		"LoginGraceTime 30",
		"PubkeyAuthentication yes",
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
		"PermitRootLogin prohibit-password",
		"AllowUsers " + allowUsers(append([]string{d.User}, d.cfg.Users...)),
		"PermitUserRC no",
		"PermitUserEnvironment no",
		"SetEnv " + strings.Join(append([]string{"HOME=" + d.Dir}, d.cfg.Env...), " "),
		"UseDNS no",
		"PrintMotd no",
		"PrintLastLog no",
		"Subsystem sftp internal-sftp",
		"LogLevel VERBOSE",
	}
	if sshdAtLeast(d.path, 9, 8) {
		// Newer sshd penalises sources with failed logins; every test
		// client is 127.0.0.1.
		conf = append(conf, "PerSourcePenalties no")
	}
	conf = append(conf, d.cfg.Extra...)
	cfgFile := filepath.Join(d.Dir, "sshd_config")
	if err := os.WriteFile(cfgFile, []byte(strings.Join(conf, "\n")+"\n"), 0o600); err != nil {
		return err
	}
	cmd := exec.Command(d.path, "-D", "-e", "-f", cfgFile)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", d.path, err)
	}
	done := make(chan struct{})
	ready := make(chan struct{}, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			d.mu.Lock()
			d.log.WriteString(line + "\n")
			d.mu.Unlock()
			if strings.HasPrefix(line, "Server listening on") {
				select {
				case ready <- struct{}{}:
				default:
				}
			}
		}
		_ = cmd.Wait()
		close(done)
	}()
	d.mu.Lock()
	d.cmd, d.done = cmd, done
	d.mu.Unlock()
	select {
	case <-ready:
		return nil
	case <-done:
		return fmt.Errorf("sshd exited before listening")
	case <-time.After(10 * time.Second):
		d.Stop()
		return fmt.Errorf("sshd did not listen within 10s")
	}
}

// Stop stops sshd (SIGTERM, then SIGKILL after 5 s) and waits for it. It is
// idempotent.
func (d *SSHD) Stop() {
	d.mu.Lock()
	cmd, done := d.cmd, d.done
	d.cmd = nil
	d.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(os.Interrupt)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// Restart stops sshd and starts it again on the same port with hostKey.
func (d *SSHD) Restart(t testing.TB, hostKey SSHKey) {
	t.Helper()
	d.Stop()
	if err := d.start(hostKey); err != nil {
		t.Fatalf("restart sshd: %v\n%s", err, d.Log())
	}
}

// Log returns what sshd logged so far.
func (d *SSHD) Log() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.log.String()
}

// Addr returns host:port of the server at a loopback address.
func (d *SSHD) Addr(host string) string {
	return net.JoinHostPort(host, strconv.Itoa(d.Port))
}

// KnownHostsLines returns known_hosts lines for the current host key at
// each host.
func (d *SSHD) KnownHostsLines(hosts ...string) string {
	var b strings.Builder
	for _, h := range hosts {
		b.WriteString(knownhosts.Line([]string{knownhosts.Normalize(d.Addr(h))}, d.HostKey.Public))
		b.WriteByte('\n')
	}
	return b.String()
}

// allowUsers is an AllowUsers value admitting users from loopback only.
func allowUsers(users []string) string {
	out := make([]string, len(users))
	for i, u := range users {
		out[i] = u + "@127.0.0.0/8"
	}
	return strings.Join(out, " ")
}

// OtherLoginUser returns a user other than the current one whose login
// shell is a real shell (listed in /etc/shells) and whose account is not
// locked, if there is one: a test
// that needs a login without root's privileges (when running as root) can
// use it with SSHDConfig.Users.
func OtherLoginUser() (string, bool) {
	me, err := user.Current()
	if err != nil {
		return "", false
	}
	shells, err := os.ReadFile("/etc/shells")
	if err != nil {
		return "", false
	}
	valid := map[string]bool{}
	for _, l := range strings.Split(string(shells), "\n") {
		if l = strings.TrimSpace(l); strings.HasPrefix(l, "/") {
			valid[l] = true
		}
	}
	passwd, err := os.ReadFile("/etc/passwd")
	if err != nil {
		return "", false
	}
	// sshd without PAM refuses accounts whose password is locked ("!").
	locked := map[string]bool{}
	if shadow, err := os.ReadFile("/etc/shadow"); err == nil {
		for _, l := range strings.Split(string(shadow), "\n") {
			if f := strings.Split(l, ":"); len(f) > 1 && strings.HasPrefix(f[1], "!") {
				locked[f[0]] = true
			}
		}
	}
	for _, l := range strings.Split(string(passwd), "\n") {
		f := strings.Split(l, ":")
		if len(f) == 7 && f[0] != me.Username && f[2] != "0" && valid[f[6]] && !locked[f[0]] {
			return f[0], true
		}
	}
	return "", false
}

var sshdVersion = regexp.MustCompile(`OpenSSH_(\d+)\.(\d+)`)

// sshdAtLeast reports whether the sshd at path is version major.minor or newer.
func sshdAtLeast(path string, major, minor int) bool {
	out, _ := exec.Command(path, "-V").CombinedOutput()
	m := sshdVersion.FindSubmatch(out)
	if m == nil {
		return false
	}
	ma, _ := strconv.Atoi(string(m[1]))
	mi, _ := strconv.Atoi(string(m[2]))
	return ma > major || (ma == major && mi >= minor)
}

// SSHAgent is an ssh-agent started for a test.
type SSHAgent struct {
	// Socket is the agent's socket (SSH_AUTH_SOCK).
	Socket string
}

// StartSSHAgent starts `ssh-agent -D -a SOCKET` and kills it when the test
// ends; the test is skipped (failed under CI) without ssh-agent.
func StartSSHAgent(t testing.TB) *SSHAgent {
	t.Helper()
	bin, err := exec.LookPath("ssh-agent")
	if err != nil {
		Missing(t, "ssh-agent is missing (apt-get install openssh-client)")
	}
	// A short path: unix socket paths are limited to 108 bytes.
	dir, err := os.MkdirTemp("", "salvo-agent-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "agent.sock")
	cmd := exec.Command(bin, "-D", "-a", sock)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start ssh-agent: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c, err := net.Dial("unix", sock); err == nil {
			c.Close()
			break
		}
		select {
		case <-done:
			t.Fatalf("ssh-agent exited")
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("ssh-agent did not listen on %s within 10s", sock)
		}
		time.Sleep(10 * time.Millisecond) // the agent gives no readiness signal
	}
	return &SSHAgent{Socket: sock}
}

// Add loads a key file into the agent with ssh-add.
func (a *SSHAgent) Add(t testing.TB, keyFile string) {
	t.Helper()
	cmd := exec.Command("ssh-add", keyFile)
	cmd.Env = append(os.Environ(), "SSH_AUTH_SOCK="+a.Socket)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ssh-add %s: %v\n%s", keyFile, err, out)
	}
}
