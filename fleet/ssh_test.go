package fleet

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

func TestRunCommand(t *testing.T) {
	tests := []struct {
		line           string
		stdin          string
		stdout, stderr string
		status         int
	}{
		{"echo hello  world", "", "hello world\n", "", 0},
		{`echo -n "a  b" 'c d' e\ f`, "", "a  b c d e f", "", 0},
		{"hostname; whoami", "", "127.1.0.9\nops\n", "", 0},
		{"echo out; echo err >&2; exit 3", "", "out\n", "err\n", 3},
		{"false && echo no; true || echo no2; echo yes", "", "yes\n", "", 0},
		{"false; exit", "", "", "", 1},
		{"nosuch arg", "", "", "sh: 1: nosuch: not found\n", 127},
		{"sh -c 'echo inner; exit 4'; echo after", "", "inner\nafter\n", "", 0},
		{"exit 300", "", "", "", 300 & 0xff},
		{"sleep 0.01 && echo slept", "", "slept\n", "", 0},
		{"sudo -S -p PROMPT: -- sh -c 'exec </dev/null; whoami'", "pw\n", "ops\n", "PROMPT:", 0},
		{"sudo -S -p P -- whoami", "bad\n", "", "Psudo: 1 incorrect password attempt\n", 1},
		{"sudo -n -- whoami", "", "", "sudo: a password is required\n", 1},
		{"echo 'unterminated", "", "", "sh: syntax error: unterminated '\n", 2},
	}
	for _, tc := range tests {
		t.Run(tc.line, func(t *testing.T) {
			var out, errb bytes.Buffer
			env := &Env{Host: "127.1.0.9", User: "ops", Password: "pw", Stdin: strings.NewReader(tc.stdin),
				Stdout: &out, Stderr: &errb, Stop: make(chan struct{})}
			st := RunCommand(tc.line, env)
			if st != tc.status || out.String() != tc.stdout || errb.String() != tc.stderr {
				t.Fatalf("status %d stdout %q stderr %q; want %d %q %q", st, out.String(), errb.String(),
					tc.status, tc.stdout, tc.stderr)
			}
		})
	}
	if u := simulatedUptime("127.1.0.1"); u != simulatedUptime("127.1.0.1") || u == simulatedUptime("127.1.0.2") {
		t.Fatalf("uptime is not deterministic per host: %q", u)
	}
}

// startSSHFleet starts a fleet SSH server accepting a generated key and a
// password; it returns the server and a client config.
func startSSHFleet(t *testing.T) (*SSHServer, *ssh.ClientConfig) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultSSHConfig()
	cfg.AuthorizedKeys = []ssh.PublicKey{signer.PublicKey()}
	cfg.Password = "pw"
	s, err := NewSSHServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	cc := &ssh.ClientConfig{
		User:            "ops",
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: ssh.FixedHostKey(s.HostKey()),
		Timeout:         5 * time.Second,
	}
	return s, cc
}

func run(t *testing.T, s *SSHServer, cc *ssh.ClientConfig, host, cmd string) (string, string, error) {
	t.Helper()
	c, err := ssh.Dial("tcp", fmt.Sprintf("%s:%d", host, s.Addr().Port), cc)
	if err != nil {
		return "", "", err
	}
	defer c.Close()
	sess, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	var out, errb bytes.Buffer
	sess.Stdout, sess.Stderr = &out, &errb
	err = sess.Run(cmd)
	return out.String(), errb.String(), err
}

func TestSSHServerHosts(t *testing.T) {
	s, cc := startSSHFleet(t)
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			host := HostAddr(i)
			out, _, err := run(t, s, cc, host, "hostname; echo idx=$X")
			if err != nil || out != host+"\nidx=$X\n" {
				errs <- fmt.Errorf("host %s: %q %v", host, out, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	_, errOut, err := run(t, s, cc, "127.1.0.1", "echo x >&2; exit 7")
	var ee *ssh.ExitError
	if !errors.As(err, &ee) || ee.ExitStatus() != 7 || errOut != "x\n" {
		t.Fatalf("exit 7: %v %q", err, errOut)
	}
	if st := s.Stats(); st.Connections != 51 || st.Commands != 51 {
		t.Fatalf("stats %+v", st)
	}
}

func TestSSHServerAuth(t *testing.T) {
	s, cc := startSSHFleet(t)
	bad := *cc
	_, otherPriv, _ := ed25519.GenerateKey(rand.Reader)
	other, _ := ssh.NewSignerFromKey(otherPriv)
	bad.Auth = []ssh.AuthMethod{ssh.PublicKeys(other)}
	if _, _, err := run(t, s, &bad, "127.1.0.1", "true"); err == nil || !strings.Contains(err.Error(), "unable to authenticate") {
		t.Fatalf("unknown key: %v", err)
	}
	pw := *cc
	pw.Auth = []ssh.AuthMethod{ssh.Password("pw")}
	if out, _, err := run(t, s, &pw, "127.1.0.2", "whoami"); err != nil || out != "ops\n" {
		t.Fatalf("password: %q %v", out, err)
	}
	if st := s.Stats(); st.HandshakeFailures != 1 {
		t.Fatalf("stats %+v", st)
	}
	if _, err := NewSSHServer(DefaultSSHConfig()); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("no credentials: %v", err)
	}
}

// TestSSHServerSignalAndClose: a signal ends a sleeping command (status
// 129, as a SIGHUP'd process), and Close ends sleeping sessions at once.
func TestSSHServerSignalAndClose(t *testing.T) {
	s, cc := startSSHFleet(t)
	c, err := ssh.Dial("tcp", fmt.Sprintf("127.1.0.3:%d", s.Addr().Port), cc)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sess, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	if err := sess.Start("sleep 60"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := sess.Signal(ssh.SIGHUP); err != nil {
		t.Fatal(err)
	}
	var ee *ssh.ExitError
	if err := sess.Wait(); !errors.As(err, &ee) || ee.ExitStatus() != 129 || time.Since(start) > 5*time.Second {
		t.Fatalf("signalled sleep: %v after %s", err, time.Since(start))
	}

	sess2, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	if err := sess2.Start("sleep 60"); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- sess2.Wait() }()
	start = time.Now()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatalf("session still open 5s after Close")
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("Close took %s", el)
	}
}
