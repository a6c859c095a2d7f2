package commands

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/salvo-sh/salvo/job"
)

type recordCloser struct {
	bytes.Buffer
	closed bool
}

func (r *recordCloser) Close() error { r.closed = true; return nil }

func TestSudoWriter(t *testing.T) {
	const prompt = "[salvo-sudo-abc] "
	tests := []struct {
		name     string
		writes   []string
		stderr   string
		stdin    string
		closedIn bool
	}{
		{"prompt in one write", []string{prompt, "warning\n"}, "warning\n", "pw\n", false},
		{"prompt split across writes", []string{"x[salvo-", "sudo-abc", "] y\n"}, "xy\n", "pw\n", false},
		{"no prompt", []string{"plain [salvo stderr\n"}, "plain [salvo stderr\n", "", false},
		{"second prompt closes stdin", []string{prompt + "Sorry, try again.\n" + prompt}, "Sorry, try again.\n", "pw\n", true},
		{"prefix at the end is held back", []string{"a[salvo-su"}, "a", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out capBuffer
			out.max = 1 << 10
			in := &recordCloser{}
			w := &sudoWriter{dst: &out, prompt: []byte(prompt), stdin: in, password: "pw"}
			for _, s := range tc.writes {
				if n, err := w.Write([]byte(s)); n != len(s) || err != nil {
					t.Fatalf("write %q: %d, %v", s, n, err)
				}
			}
			if out.String() != tc.stderr || in.String() != tc.stdin || in.closed != tc.closedIn {
				t.Fatalf("stderr %q stdin %q closed %v; want %q %q %v", out.String(), in.String(), in.closed,
					tc.stderr, tc.stdin, tc.closedIn)
			}
		})
	}
}

func TestCapBuffer(t *testing.T) {
	c := capBuffer{max: 5}
	for _, s := range []string{"abc", "defg", "hij"} {
		if n, err := c.Write([]byte(s)); n != len(s) || err != nil {
			t.Fatalf("write: %d %v", n, err)
		}
	}
	if c.String() != "abcde" || c.n != 10 || !c.truncated() {
		t.Fatalf("got %q n=%d truncated=%v", c.String(), c.n, c.truncated())
	}
}

func TestShellQuoteAndSudoCommand(t *testing.T) {
	if got := shellQuote(`it's "x"`); got != `'it'\''s "x"'` {
		t.Fatalf("shellQuote: %s", got)
	}
	sp := &sshPlan{auth: &sshAuth{password: "pw"}, prompt: "[p] "}
	got := sp.sudoCommand("echo 'hi'")
	if got != `sudo -S -p '[p] ' -- sh -c 'exec </dev/null; echo '\''hi'\'''` || strings.Contains(got, "pw") {
		t.Fatalf("sudo command %s", got)
	}
	sp.auth.password = ""
	if got := sp.sudoCommand("id"); got != "sudo -n -- sh -c 'id'" {
		t.Fatalf("sudo -n command %s", got)
	}
}

func TestHostKeyAlgorithms(t *testing.T) {
	ed := probeKey()
	if got := hostKeyAlgorithms([]ssh.PublicKey{ed, ed}); len(got) != 1 || got[0] != ssh.KeyAlgoED25519 {
		t.Fatalf("ed25519: %v", got)
	}
	if got := hostKeyAlgorithms(nil); got != nil {
		t.Fatalf("none: %v", got)
	}
}

func TestClassifySSH(t *testing.T) {
	hs := func(err error) error { return &ExchangeError{Phase: PhaseSSHHandshake, Err: err} }
	tests := []struct {
		name string
		out  sshOutcome
		want string
	}{
		{"dropped before the banner (MaxStartups)", sshOutcome{err: hs(fmt.Errorf("ssh: handshake failed: %w", io.EOF))}, job.ClassReset},
		{"reset", sshOutcome{err: hs(errors.New("read tcp: connection reset by peer"))}, job.ClassReset},
		{"auth", sshOutcome{err: hs(errors.New("ssh: handshake failed: ssh: unable to authenticate, attempted methods [none publickey]"))}, job.ClassAuth},
		{"host key", sshOutcome{err: hs(&HostKeyError{Host: "h:22", Msg: "x", Err: &knownhosts.KeyError{}})}, job.ClassHostKey},
		{"connect timeout", sshOutcome{err: hs(ErrConnectTimeout)}, job.ClassConnectTimeout},
		{"algorithms", sshOutcome{err: hs(errors.New("ssh: handshake failed: ssh: no common algorithm for key exchange"))}, job.ClassProtocol},
		{"command timeout", sshOutcome{timedOut: true, err: errors.New("x")}, job.ClassTimeout},
		{"bastion refused", sshOutcome{err: &ExchangeError{Phase: PhaseDial, Err: &ssh.OpenChannelError{Reason: ssh.ConnectionFailed, Message: "Connection refused"}}}, job.ClassConnectRefused},
		{"dial refused", sshOutcome{err: &ExchangeError{Phase: PhaseDial, Err: &net.OpError{Op: "dial", Err: errors.New("connect: connection refused")}}}, job.ClassConnectRefused},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := classifySSH(&tc.out); got != tc.want {
				t.Fatalf("classifySSH(%v) = %s, want %s", tc.out.err, got, tc.want)
			}
		})
	}
	if !Retryable(job.ClassReset) {
		t.Fatalf("a dropped handshake must be retryable")
	}
}

func TestNormalizeSSH(t *testing.T) {
	tests := []struct {
		name   string
		ssh    job.SSHSpec
		policy string
		field  string
	}{
		{"default strict", job.SSHSpec{Command: "x"}, job.HostKeyStrict, ""},
		{"off", job.SSHSpec{Command: "x", HostKeyPolicy: "off"}, job.HostKeyOff, ""},
		{"insecure is off", job.SSHSpec{Command: "x", HostKeyPolicy: "insecure"}, job.HostKeyOff, ""},
		{"accept-new", job.SSHSpec{Command: "x", HostKeyPolicy: "Accept-New"}, job.HostKeyAcceptNew, ""},
		{"bad policy", job.SSHSpec{Command: "x", HostKeyPolicy: "yolo"}, "", "ssh.hostKeyPolicy"},
		{"bad proxyJump", job.SSHSpec{Command: "x", ProxyJump: "u@h:99999"}, "", "ssh.proxyJump"},
		{"bad user", job.SSHSpec{Command: "x", User: "a:b"}, "", "ssh.user"},
		{"proxyJump ok", job.SSHSpec{Command: "x", ProxyJump: "jump@bastion:2222"}, job.HostKeyStrict, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ss := tc.ssh
			s := &job.Spec{Protocol: job.ProtocolSSH, Targets: []job.TargetSpec{{Host: "h"}}, SSH: &ss}
			err := s.Normalize(0)
			var fe *job.FieldError
			switch {
			case tc.field == "" && err != nil:
				t.Fatalf("normalize: %v", err)
			case tc.field != "" && (!errors.As(err, &fe) || fe.Field != tc.field):
				t.Fatalf("normalize: %v, want field %s", err, tc.field)
			case tc.field == "" && s.SSH.HostKeyPolicy != tc.policy:
				t.Fatalf("policy %q, want %q", s.SSH.HostKeyPolicy, tc.policy)
			}
		})
	}
}

func TestSSHRedacted(t *testing.T) {
	s := &job.Spec{Protocol: job.ProtocolSSH, SSH: &job.SSHSpec{Command: "x", Auth: job.SSHAuth{
		PrivateKeyFile: "/k", Passphrase: "phrase-1", Password: "pass-2"}}}
	r := s.Redacted()
	if r.SSH.Auth.Password != job.Redacted || r.SSH.Auth.Passphrase != job.Redacted || r.SSH.Auth.PrivateKeyFile != "/k" {
		t.Fatalf("redacted auth %+v", r.SSH.Auth)
	}
	if s.SSH.Auth.Password != "pass-2" {
		t.Fatalf("Redacted changed the original")
	}
}

func TestAcceptNewNeedsAFile(t *testing.T) {
	s := &job.Spec{Protocol: job.ProtocolSSH, Targets: []job.TargetSpec{{Host: "127.0.0.1:1"}},
		SSH: &job.SSHSpec{Command: "x", HostKeyPolicy: job.HostKeyAcceptNew, Auth: job.SSHAuth{Password: "p"}}}
	if err := s.Normalize(0); err != nil {
		t.Fatal(err)
	}
	p, err := NewPlan(s, nil, WithSSH(NewSSHExecutor(SSHConfig{})))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := p.ssh.clientConfig("u", "127.0.0.1:1", nil, nil)
	var hk *HostKeyError
	if cfg != nil || !errors.As(err, &hk) || hk.Host != "127.0.0.1:1" || !strings.Contains(err.Error(), "data dir") {
		t.Fatalf("accept-new without a data dir: %v", err)
	}
}
