package commands_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/salvo-sh/salvo/commands"
	"github.com/salvo-sh/salvo/fleet"
	"github.com/salvo-sh/salvo/internal/testutil"
	"github.com/salvo-sh/salvo/job"
)

// sshSpec returns a normalized SSH job for targets.
func sshSpec(t *testing.T, targets []string, mod func(*job.Spec)) *job.Spec {
	t.Helper()
	s := &job.Spec{Protocol: job.ProtocolSSH, SSH: &job.SSHSpec{Command: "echo $HOST"},
		Timeouts: job.Timeouts{Connect: job.Duration(10 * time.Second), Request: job.Duration(10 * time.Second)}}
	for _, h := range targets {
		s.Targets = append(s.Targets, job.TargetSpec{Host: h})
	}
	if mod != nil {
		mod(s)
	}
	if err := s.Normalize(0); err != nil {
		t.Fatalf("normalize: %v", err)
	}
	return s
}

// runAll runs every target of s with conc goroutines, results by index.
func runAll(t *testing.T, s *job.Spec, x *commands.SSHExecutor, conc int) []job.Result {
	t.Helper()
	p, err := commands.NewPlan(s, nil, commands.WithSSH(x))
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	out := make([]job.Result, len(s.Targets))
	next := make(chan int)
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				out[i] = p.Run(context.Background(), job.IndexedTarget{Index: i, Target: s.Targets[i]})
			}
		}()
	}
	for i := range s.Targets {
		next <- i
	}
	close(next)
	wg.Wait()
	return out
}

func runOne(t *testing.T, s *job.Spec, x *commands.SSHExecutor) job.Result {
	t.Helper()
	return runAll(t, s, x, 1)[0]
}

// newExecutor returns an executor with a data dir and no agent; closed at
// the end of the test.
func newExecutor(t *testing.T, mod func(*commands.SSHConfig)) *commands.SSHExecutor {
	cfg := commands.DefaultSSHConfig()
	cfg.DataDir = t.TempDir()
	cfg.AgentSocket = filepath.Join(cfg.DataDir, "no-agent")
	cfg.KnownHostsFiles = []string{filepath.Join(cfg.DataDir, "none")}
	if mod != nil {
		mod(&cfg)
	}
	x := commands.NewSSHExecutor(cfg)
	t.Cleanup(func() { x.Close() })
	return x
}

// keyAuth sets the job's user, port, key and a known_hosts file holding
// the server's key for hosts.
func keyAuth(t *testing.T, d *testutil.SSHD, hosts ...string) func(*job.Spec) {
	kh := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(kh, []byte(d.KnownHostsLines(hosts...)), 0o600); err != nil {
		t.Fatal(err)
	}
	return func(s *job.Spec) {
		s.SSH.User, s.SSH.Port = d.User, d.Port
		s.SSH.Auth.PrivateKeyFile = d.UserKey.File
		s.SSH.KnownHostsFile = kh
	}
}

func loopbackHosts(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("127.0.%d.%d", 1+i/250, 1+i%250)
	}
	return out
}

func TestSSHManyTargetsAcceptNew(t *testing.T) {
	if testing.Short() {
		t.Skip("200 sshd connections")
	}
	d := testutil.StartSSHD(t, nil)
	x := newExecutor(t, nil)
	hosts := loopbackHosts(200)
	s := sshSpec(t, hosts, func(s *job.Spec) {
		s.SSH.User, s.SSH.Port = d.User, d.Port
		s.SSH.Auth.PrivateKeyFile = d.UserKey.File
		s.SSH.HostKeyPolicy = job.HostKeyAcceptNew
		s.SSH.Command = "echo host=$HOST index=$INDEX"
	})
	start := time.Now()
	res := runAll(t, s, x, 50)
	t.Logf("200 targets in %s", time.Since(start))
	for i, r := range res {
		want := fmt.Sprintf("host=%s index=%d\n", hosts[i], i)
		if r.State != job.StateOK || r.Body != want || r.ExitCode == nil || *r.ExitCode != 0 || r.Value != "0" {
			t.Fatalf("target %d: %+v, want body %q", i, r, want)
		}
		if r.Host != hosts[i] || r.Target != d.User+"@"+d.Addr(hosts[i]) {
			t.Fatalf("target %d: host %q target %q", i, r.Host, r.Target)
		}
	}
	// Every host was remembered once, in the data dir.
	data, err := os.ReadFile(filepath.Join(x.Config().DataDir, commands.AcceptNewKnownHostsFile))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(data), "\n"); n != len(hosts) {
		t.Fatalf("known_hosts has %d lines, want %d", n, len(hosts))
	}
	// The remembered keys pass the strict policy.
	s2 := sshSpec(t, hosts[:3], func(s *job.Spec) {
		s.SSH.User, s.SSH.Port = d.User, d.Port
		s.SSH.Auth.PrivateKeyFile = d.UserKey.File
		s.SSH.KnownHostsFile = filepath.Join(x.Config().DataDir, commands.AcceptNewKnownHostsFile)
	})
	for i, r := range runAll(t, s2, newExecutor(t, nil), 3) {
		if r.State != job.StateOK {
			t.Fatalf("strict target %d: %+v", i, r)
		}
	}
}

func TestSSHResults(t *testing.T) {
	d := testutil.StartSSHD(t, nil)
	x := newExecutor(t, nil)
	host := "127.0.0.1"
	auth := keyAuth(t, d, host)
	tests := []struct {
		name    string
		mod     func(*job.Spec)
		check   func(job.Result) bool
		explain string
	}{
		{"exit 3 with stderr", func(s *job.Spec) { s.SSH.Command = "echo out; echo err >&2; exit 3" },
			func(r job.Result) bool {
				return r.State == job.StateFailed && r.ExitCode != nil && *r.ExitCode == 3 &&
					r.Body == "out\n" && r.Stderr == "err\n" && r.Value == "3" && r.ErrorClass == ""
			}, "failed, exit 3, stdout and stderr apart"},
		{"regex value", func(s *job.Spec) {
			s.SSH.Command = "echo version=1.2.3"
			s.Aggregation = &job.Aggregation{Regex: `version=(\S+)`}
		}, func(r job.Result) bool { return r.State == job.StateOK && r.Value == "1.2.3" }, "value from the regex"},
		{"output cap", func(s *job.Spec) {
			s.SSH.Command = "head -c 100000 /dev/zero; head -c 5000 /dev/zero >&2"
			s.MaxBodyBytes = 1000
		}, func(r job.Result) bool {
			return r.State == job.StateOK && len(r.Body) == 1000 && len(r.Stderr) == 1000 &&
				r.BodyBytes == 100000 && r.Truncated
		}, "both streams capped, truncated set, bodyBytes counts all"},
		{"killed by a signal", func(s *job.Spec) { s.SSH.Command = "kill -TERM $$$$" },
			func(r job.Result) bool {
				return r.State == job.StateFailed && r.ExitCode != nil && *r.ExitCode == 128+15 &&
					strings.Contains(r.Error, "TERM")
			}, "failed with 128+15"},
		{"set-up time apart from the command's", func(s *job.Spec) { s.SSH.Command = "sleep 0.3; echo done" },
			func(r job.Result) bool {
				return r.State == job.StateOK && r.ConnectMs > 0 && r.LatencyMs >= 300 && r.LatencyMs-r.ConnectMs >= 300
			}, "ok, connectMs > 0 and latencyMs at least connectMs + the command's 300 ms"},
		{"skipped by NA", func(s *job.Spec) {
			s.SSH.Command = "echo $V"
			s.Vars = map[string]string{"V": "NA"}
		}, func(r job.Result) bool { return r.State == job.StateSkipped }, "skipped"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := sshSpec(t, []string{host}, func(s *job.Spec) { auth(s); tc.mod(s) })
			if r := runOne(t, s, x); !tc.check(r) {
				t.Fatalf("got %+v; want %s", r, tc.explain)
			}
		})
	}
}

func TestSSHErrors(t *testing.T) {
	d := testutil.StartSSHD(t, nil)
	x := newExecutor(t, nil)
	host := "127.0.0.2"
	auth := keyAuth(t, d, host)
	dir := t.TempDir()
	wrong := testutil.NewSSHKey(t, dir, "wrong", "")
	tests := []struct {
		name   string
		target string
		mod    func(*job.Spec)
		state  string
		class  string
		msg    string
	}{
		{"wrong key", host, func(s *job.Spec) { s.SSH.Auth.PrivateKeyFile = wrong.File },
			job.StateError, job.ClassAuth, "unable to authenticate"},
		{"missing key file", host, func(s *job.Spec) { s.SSH.Auth.PrivateKeyFile = filepath.Join(dir, "nope") },
			job.StateError, job.ClassAuth, "read private key"},
		{"connection refused", "127.0.0.3:1", nil, job.StateError, job.ClassConnectRefused, "refused"},
		{"command timeout", host, func(s *job.Spec) {
			s.SSH.Command = "sleep 30"
			s.Timeouts.Request = job.Duration(time.Second)
		}, job.StateTimeout, job.ClassTimeout, "did not finish within 1s"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := sshSpec(t, []string{tc.target}, func(s *job.Spec) {
				auth(s)
				if tc.mod != nil {
					tc.mod(s)
				}
			})
			start := time.Now()
			r := runOne(t, s, x)
			if r.State != tc.state || r.ErrorClass != tc.class || !strings.Contains(r.Error, tc.msg) || r.ExitCode != nil {
				t.Fatalf("got %+v; want %s/%s with %q", r, tc.state, tc.class, tc.msg)
			}
			if r.Value != tc.class {
				t.Errorf("value %q, want the error class", r.Value)
			}
			if el := time.Since(start); el > 3*time.Second {
				t.Errorf("took %s", el)
			}
		})
	}
}

// TestSSHHostKeyClasses: against a real sshd, an unknown host key and a
// changed one (known_hosts holds another key for the host) fail with
// distinct error classes, and each message says what was found where.
func TestSSHHostKeyClasses(t *testing.T) {
	d := testutil.StartSSHD(t, nil)
	x := newExecutor(t, nil)
	host := "127.0.0.2"
	dir := t.TempDir()
	served := ssh.FingerprintSHA256(d.HostKey.Public)
	other := testutil.NewSSHKey(t, dir, "other_host_key", "")
	write := func(name, content string) string {
		f := filepath.Join(dir, name)
		if err := os.WriteFile(f, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return f
	}
	// Known hosts of other hosts only; then a line with another key for host.
	othersOnly := d.KnownHostsLines("127.0.0.8", "127.0.0.9")
	changed := othersOnly + strings.Replace(d.KnownHostsLines(host), d.HostKey.AuthorizedLine(), other.AuthorizedLine(), 1)
	changedKH := write("changed", changed)
	revokedKH := write("revoked", "@revoked * "+d.HostKey.AuthorizedLine()+"\n")
	tests := []struct {
		name  string
		kh    string
		class string
		msg   []string
	}{
		{"missing file", filepath.Join(dir, "nope"), job.ClassHostKeyUnknown,
			[]string{"unknown host", filepath.Join(dir, "nope"), "presented ssh-ed25519 " + served}},
		{"empty file", write("empty", ""), job.ClassHostKeyUnknown, []string{"unknown host", served}},
		{"other hosts only", write("others", othersOnly), job.ClassHostKeyUnknown, []string{"unknown host", served}},
		{"another key on file", changedKH, job.ClassHostKeyChanged, []string{
			"changed", "it presented ssh-ed25519 " + served + ", which differs from the one known for it in " + changedKH + ":3",
			ssh.FingerprintSHA256(other.Public), "man-in-the-middle", "ssh-keygen -R '[" + host + "]:"}},
		{"revoked key", revokedKH, job.ClassHostKey, []string{"revoked in " + revokedKH + ":1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := sshSpec(t, []string{host}, func(s *job.Spec) {
				s.SSH.User, s.SSH.Port = d.User, d.Port
				s.SSH.Auth.PrivateKeyFile = d.UserKey.File
				s.SSH.KnownHostsFile = tc.kh
			})
			r := runOne(t, s, x)
			if r.State != job.StateError || r.ErrorClass != tc.class || r.Value != tc.class {
				t.Fatalf("got %s/%s (value %q): %s; want error/%s", r.State, r.ErrorClass, r.Value, r.Error, tc.class)
			}
			for _, m := range tc.msg {
				if !strings.Contains(r.Error, m) {
					t.Errorf("error %q\nlacks %q", r.Error, m)
				}
			}
			t.Logf("%s: %s", r.ErrorClass, r.Error)
		})
	}
}

// TestSSHTimeoutKillsCommand: a 1 s command timeout ends the result within
// 2 s, and the remote process gets SIGHUP. OpenSSH honours signal requests
// only for logins other than root (a root session has no privilege
// separation), so the test logs in as another user when it runs as root
// and the machine has one; otherwise it checks that sshd got the request.
func TestSSHTimeoutKillsCommand(t *testing.T) {
	other, hasOther := testutil.OtherLoginUser()
	d := testutil.StartSSHD(t, func(c *testutil.SSHDConfig) {
		if hasOther {
			c.Users = []string{other}
		}
	})
	login := d.User
	if d.User == "root" && hasOther {
		login = other
	}
	x := newExecutor(t, nil)
	host := "127.0.0.4"
	// A sleep length no other process uses, to find it in /proc.
	secs := fmt.Sprintf("30.%03d", time.Now().UnixNano()%1000)
	s := sshSpec(t, []string{host}, func(s *job.Spec) {
		keyAuth(t, d, host)(s)
		s.SSH.User = login
		s.SSH.Command = "sleep " + secs
		s.Timeouts.Request = job.Duration(time.Second)
	})
	start := time.Now()
	r := runOne(t, s, x)
	el := time.Since(start)
	if r.State != job.StateTimeout || r.ErrorClass != job.ClassTimeout {
		t.Fatalf("got %+v, want timeout", r)
	}
	if el > 2*time.Second {
		t.Fatalf("timeout result after %s, want within 2s", el)
	}
	if login == "root" {
		t.Cleanup(func() { killSleep(secs) })
		deadline := time.Now().Add(5 * time.Second)
		for !strings.Contains(d.Log(), "session_signal_req") {
			if time.Now().After(deadline) {
				t.Fatalf("sshd got no signal request")
			}
			time.Sleep(20 * time.Millisecond) // polling sshd's log: no signal to wait on
		}
		t.Logf("logged in as root: OpenSSH refuses signals to root sessions; the signal request was sent")
		return
	}
	deadline := time.Now().Add(5 * time.Second)
	for sleepPID(secs) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("remote `sleep %s` still runs 5s after the timeout", secs)
		}
		time.Sleep(20 * time.Millisecond) // polling /proc: no signal to wait on
	}
}

// killSleep kills the `sleep secs` process this test left behind.
func killSleep(secs string) {
	if pid := sleepPID(secs); pid > 0 {
		if p, err := os.FindProcess(pid); err == nil {
			_ = p.Kill()
		}
	}
}

// sleepPID returns the pid of a `sleep secs` process, 0 when there is none.
func sleepPID(secs string) int {
	files, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	want := []byte("sleep\x00" + secs + "\x00")
	for _, f := range files {
		if b, err := os.ReadFile(f); err == nil && bytes.Equal(b, want) {
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(f)))
			return pid
		}
	}
	return 0
}

func TestSSHAcceptNewRefusesChangedKey(t *testing.T) {
	d := testutil.StartSSHD(t, nil)
	x := newExecutor(t, nil)
	host := "127.0.0.5"
	mod := func(s *job.Spec) {
		s.SSH.User, s.SSH.Port = d.User, d.Port
		s.SSH.Auth.PrivateKeyFile = d.UserKey.File
		s.SSH.HostKeyPolicy = job.HostKeyAcceptNew
	}
	if r := runOne(t, sshSpec(t, []string{host}, mod), x); r.State != job.StateOK {
		t.Fatalf("first contact: %+v", r)
	}
	// The same key again: fine.
	if r := runOne(t, sshSpec(t, []string{host}, mod), x); r.State != job.StateOK {
		t.Fatalf("second contact: %+v", r)
	}
	d.Restart(t, testutil.NewSSHKey(t, t.TempDir(), "new_host_key", ""))
	r := runOne(t, sshSpec(t, []string{host}, mod), x)
	if r.State != job.StateError || r.ErrorClass != job.ClassHostKeyChanged ||
		!strings.Contains(r.Error, "man-in-the-middle") || !strings.Contains(r.Error, "accept-new never replaces") {
		t.Fatalf("changed key: %+v, want error/host_key_changed", r)
	}
	// A fresh executor on the same data dir (a restarted worker) still refuses.
	x2 := newExecutor(t, func(c *commands.SSHConfig) { c.DataDir = x.Config().DataDir })
	if r := runOne(t, sshSpec(t, []string{host}, mod), x2); r.ErrorClass != job.ClassHostKeyChanged {
		t.Fatalf("changed key after restart: %+v", r)
	}
	// Off checks nothing.
	off := func(s *job.Spec) { mod(s); s.SSH.HostKeyPolicy = "insecure" }
	if r := runOne(t, sshSpec(t, []string{host}, off), x); r.State != job.StateOK {
		t.Fatalf("policy off: %+v", r)
	}
}

func TestSSHAgentAndPassphrase(t *testing.T) {
	dir := t.TempDir()
	agentKey := testutil.NewSSHKey(t, dir, "agent_key", "")
	locked := testutil.NewSSHKey(t, dir, "locked_key", "correct horse")
	d := testutil.StartSSHD(t, func(c *testutil.SSHDConfig) {
		c.AuthorizedKeys = []ssh.PublicKey{agentKey.Public, locked.Public}
	})
	agent := testutil.StartSSHAgent(t)
	agent.Add(t, agentKey.File)
	host := "127.0.0.6"
	kh := filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(kh, []byte(d.KnownHostsLines(host)), 0o600); err != nil {
		t.Fatal(err)
	}
	x := newExecutor(t, func(c *commands.SSHConfig) { c.AgentSocket = agent.Socket })
	base := func(s *job.Spec) {
		s.SSH.User, s.SSH.Port, s.SSH.KnownHostsFile = d.User, d.Port, kh
		s.SSH.Command = "whoami"
	}
	passFile := filepath.Join(t.TempDir(), "passphrase")
	if err := os.WriteFile(passFile, []byte("correct horse\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		auth  job.SSHAuth
		class string
	}{
		{"agent", job.SSHAuth{Agent: true}, ""},
		{"no credentials: not the agent", job.SSHAuth{}, job.ClassAuth},
		{"passphrase file", job.SSHAuth{PrivateKeyFile: locked.File, PassphraseFile: passFile}, ""},
		{"passphrase", job.SSHAuth{PrivateKeyFile: locked.File, Passphrase: "correct horse"}, ""},
		{"wrong passphrase", job.SSHAuth{PrivateKeyFile: locked.File, Passphrase: "wrong"}, job.ClassAuth},
		{"missing passphrase", job.SSHAuth{PrivateKeyFile: locked.File}, job.ClassAuth},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := sshSpec(t, []string{host}, func(s *job.Spec) { base(s); s.SSH.Auth = tc.auth })
			r := runOne(t, s, x)
			if r.ErrorClass != tc.class {
				t.Fatalf("got %+v, want class %q", r, tc.class)
			}
			if tc.class == "" && r.Body != d.User+"\n" {
				t.Fatalf("body %q", r.Body)
			}
			if strings.Contains(r.Error, "horse") || strings.Contains(r.Error, "wrong\"") {
				t.Fatalf("the passphrase leaked into the error: %q", r.Error)
			}
		})
	}
}

// TestSSHSudo runs sudo against the real sshd with a stand-in sudo on the
// session's PATH (sshd's SetEnv): it checks that the password arrives on
// stdin after the prompt and never on the command line.
func TestSSHSudo(t *testing.T) {
	bin := t.TempDir()
	argsLog := filepath.Join(bin, "args.log")
	const password = "s3cret-sudo-pw"
	script := `#!/bin/sh
# stand-in for sudo -S -p PROMPT -- CMD...
echo "$*" >> ` + argsLog + `
[ "$1" = -n ] && { echo "sudo: a password is required" >&2; exit 1; }
[ "$1" = -S ] || exit 90
[ "$2" = -p ] || exit 91
prompt=$3; shift 3
[ "$1" = -- ] && shift
printf '%s' "$prompt" >&2
IFS= read -r pw || exit 92
[ "$pw" = '` + password + `' ] || { echo "Sorry, try again." >&2; exit 1; }
exec "$@"
`
	if err := os.WriteFile(filepath.Join(bin, "sudo"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	d := testutil.StartSSHD(t, func(c *testutil.SSHDConfig) {
		c.Env = []string{"PATH=" + bin + ":/usr/local/bin:/usr/bin:/bin"}
	})
	x := newExecutor(t, nil)
	host := "127.0.0.7"
	auth := keyAuth(t, d, host)
	tests := []struct {
		name     string
		password string
		state    string
		body     string
	}{
		{"right password", password, job.StateOK, "as root: 7\n"},
		{"wrong password", "nope", job.StateFailed, ""},
		{"no password: sudo -n", "", job.StateFailed, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := sshSpec(t, []string{host}, func(s *job.Spec) {
				auth(s)
				s.SSH.Sudo = true
				s.SSH.Auth.Password = tc.password
				s.SSH.Command = `echo "as root: $(cat)7"` // reads stdin: must be empty
			})
			r := runOne(t, s, x)
			if r.State != tc.state || r.Body != tc.body {
				t.Fatalf("got %+v, want %s with body %q", r, tc.state, tc.body)
			}
			if strings.Contains(r.Stderr, "salvo-sudo") {
				t.Errorf("the sudo prompt shows in stderr: %q", r.Stderr)
			}
		})
	}
	logged, err := os.ReadFile(argsLog)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(logged), password) || !strings.Contains(string(logged), "-S -p") {
		t.Fatalf("sudo command lines %q: want -S -p and no password", logged)
	}
}

func TestSSHProxyJump(t *testing.T) {
	d := testutil.StartSSHD(t, nil)
	x := newExecutor(t, func(c *commands.SSHConfig) { c.BastionHandshakes = 3 })
	bastion := "127.0.0.8"
	hosts := loopbackHosts(12)
	s := sshSpec(t, hosts, func(s *job.Spec) {
		keyAuth(t, d, append([]string{bastion}, hosts...)...)(s)
		s.SSH.ProxyJump = d.User + "@" + d.Addr(bastion)
	})
	for i, r := range runAll(t, s, x, 6) {
		if want := hosts[i] + "\n"; r.State != job.StateOK || r.Body != want {
			t.Fatalf("target %d: %+v, want %q", i, r, want)
		}
	}
	// The bastion saw one connection: the targets went through it.
	if n := strings.Count(d.Log(), "on "+bastion+" port"); n != 1 {
		t.Errorf("bastion connections: %d, want 1\n%s", n, d.Log())
	}
	// An unknown bastion host key fails every target with host_key_unknown.
	s2 := sshSpec(t, hosts[:2], func(s *job.Spec) {
		keyAuth(t, d, hosts[:2]...)(s)
		s.SSH.ProxyJump = d.Addr(bastion)
	})
	for i, r := range runAll(t, s2, x, 2) {
		if r.ErrorClass != job.ClassHostKeyUnknown {
			t.Fatalf("target %d through an unknown bastion: %+v", i, r)
		}
	}
}

// TestSSHPasswordFleet: password and keyboard-interactive authentication,
// against the Go fleet SSH server (the real sshd, run as a test user,
// cannot check passwords without PAM or a system account's password).
func TestSSHPasswordFleet(t *testing.T) {
	const password = "fleet-pass-123"
	for _, kbd := range []bool{false, true} {
		t.Run(fmt.Sprintf("keyboardInteractiveOnly=%v", kbd), func(t *testing.T) {
			cfg := fleet.DefaultSSHConfig()
			cfg.Password = password
			cfg.KeyboardInteractiveOnly = kbd
			srv, err := fleet.NewSSHServer(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if err := srv.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { srv.Close() })
			x := newExecutor(t, nil)
			hosts := []string{"127.1.0.1", "127.1.0.2"}
			for _, pw := range []string{password, "bad"} {
				s := sshSpec(t, hosts, func(s *job.Spec) {
					s.SSH.User, s.SSH.Port = "ops", srv.Addr().Port
					s.SSH.Auth.Password = pw
					s.SSH.HostKeyPolicy = job.HostKeyAcceptNew
					s.SSH.Command = "hostname; whoami"
				})
				for i, r := range runAll(t, s, x, 2) {
					switch {
					case pw == password && (r.State != job.StateOK || r.Body != hosts[i]+"\nops\n"):
						t.Fatalf("target %d: %+v", i, r)
					case pw != password && r.ErrorClass != job.ClassAuth:
						t.Fatalf("target %d with a bad password: %+v", i, r)
					}
					if strings.Contains(r.Error, password) {
						t.Fatalf("password in the error: %q", r.Error)
					}
				}
			}
		})
	}
}

// TestSSHDroppedHandshakeRetried: a server that drops connections before
// its banner, as sshd does past MaxStartups, gives a retryable reset; with
// retries the target gets through.
func TestSSHDroppedHandshakeRetried(t *testing.T) {
	key := testutil.NewSSHKey(t, t.TempDir(), "id", "")
	cfg := fleet.DefaultSSHConfig()
	cfg.AuthorizedKeys = []ssh.PublicKey{key.Public}
	srv, err := fleet.NewSSHServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	front, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { front.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for n := 0; ; n++ {
			c, err := front.Accept()
			if err != nil {
				return
			}
			if n%3 < 2 { // drop two connections out of three
				c.Close()
				continue
			}
			back, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", srv.Addr().Port))
			if err != nil {
				c.Close()
				continue
			}
			wg.Add(2)
			go func() { defer wg.Done(); io.Copy(back, c); back.Close() }()
			go func() { defer wg.Done(); io.Copy(c, back); c.Close() }()
		}
	}()
	x := newExecutor(t, nil)
	target := front.Addr().String()
	for _, retries := range []int{0, 2} {
		s := sshSpec(t, []string{target}, func(s *job.Spec) {
			s.SSH.User, s.SSH.Auth.PrivateKeyFile = "u", key.File
			s.SSH.HostKeyPolicy = job.HostKeyOff
			s.SSH.Command = "hostname"
			s.Retries = job.Retries{Max: retries, Backoff: job.Duration(10 * time.Millisecond)}
		})
		r := runOne(t, s, x)
		switch retries {
		case 0:
			if r.State != job.StateError || r.ErrorClass != job.ClassReset || r.Attempts != 1 {
				t.Fatalf("no retries: %+v, want error/reset", r)
			}
		default:
			if r.State != job.StateOK || r.Attempts != 2 || r.Body != "127.0.0.1\n" {
				t.Fatalf("with retries: %+v, want ok after 2 attempts", r)
			}
		}
	}
}

// TestSSHExpect checks expect.exitCodes and expect.bodyRegex against a
// real sshd: the default (exit 0 ok, other failed with no class) holds
// without them.
func TestSSHExpect(t *testing.T) {
	d := testutil.StartSSHD(t, nil)
	x := newExecutor(t, nil)
	host := "127.0.0.1"
	auth := keyAuth(t, d, host)
	tests := []struct {
		name   string
		cmd    string
		expect *job.Expect
		state  string
		class  string
		errSub string
	}{
		{"default: exit 0 ok", "echo hi", nil, job.StateOK, "", ""},
		{"default: exit 1 failed, no class", "exit 1", nil, job.StateFailed, "", ""},
		{"exit 1 listed: ok", "echo x; exit 1", &job.Expect{ExitCodes: []int{0, 1}}, job.StateOK, "", ""},
		{"exit 0 not listed: failed", "true", &job.Expect{ExitCodes: []int{2}}, job.StateFailed,
			job.ClassExpectation, "expect: exit code 0 is not one of 2"},
		{"exit 3 not listed: failed", "exit 3", &job.Expect{ExitCodes: []int{0, 1}}, job.StateFailed,
			job.ClassExpectation, "expect: exit code 3 is not one of 0, 1"},
		{"stdout matches", "echo version=2", &job.Expect{BodyRegex: `version=2`}, job.StateOK, "", ""},
		{"stdout misses", "echo version=1", &job.Expect{BodyRegex: `version=2`}, job.StateFailed,
			job.ClassExpectation, "expect: body does not match /version=2/"},
		{"bodyRegex alone keeps exit 1 failed", "echo version=2; exit 1", &job.Expect{BodyRegex: `version=2`},
			job.StateFailed, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := sshSpec(t, []string{host}, func(s *job.Spec) { auth(s); s.SSH.Command = tc.cmd; s.Expect = tc.expect })
			r := runOne(t, s, x)
			if r.State != tc.state || r.ErrorClass != tc.class || !strings.Contains(r.Error, tc.errSub) || r.ExitCode == nil {
				t.Fatalf("got %+v; want state %q class %q error containing %q", r, tc.state, tc.class, tc.errSub)
			}
		})
	}
}
