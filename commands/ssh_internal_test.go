package commands

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
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
		{"host key unknown", sshOutcome{err: hs(&HostKeyError{Host: "h:22", Class: job.ClassHostKeyUnknown, Msg: "x", Err: &knownhosts.KeyError{}})}, job.ClassHostKeyUnknown},
		{"host key changed", sshOutcome{err: hs(&HostKeyError{Host: "h:22", Class: job.ClassHostKeyChanged, Msg: "x"})}, job.ClassHostKeyChanged},
		{"host key, no class", sshOutcome{err: hs(&HostKeyError{Host: "h:22", Msg: "x"})}, job.ClassHostKey},
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
	if cfg != nil || !errors.As(err, &hk) || hk.Host != "127.0.0.1:1" || hk.ErrorClass() != job.ClassHostKey || !strings.Contains(err.Error(), "data dir") {
		t.Fatalf("accept-new without a data dir: %v", err)
	}
}

func TestHostKeyError(t *testing.T) {
	key := func(seed string) ssh.PublicKey {
		s := sha256.Sum256([]byte(seed))
		pub, _ := ssh.NewPublicKey(ed25519.NewKeyFromSeed(s[:]).Public())
		return pub
	}
	got, old, old2 := key("presented"), key("old"), key("old2")
	fp := ssh.FingerprintSHA256
	files := []string{"/a/known_hosts", "/b/known_hosts"}
	tests := []struct {
		name      string
		host      string
		err       error
		acceptNew bool
		class     string
		msg       []string
	}{
		{"unknown", "h:22", &knownhosts.KeyError{}, false, job.ClassHostKeyUnknown,
			[]string{"unknown host", "/a/known_hosts, /b/known_hosts", fp(got)}},
		{"changed", "h:22", &knownhosts.KeyError{Want: []knownhosts.KnownKey{{Key: old, Filename: "/a/known_hosts", Line: 7}}}, false,
			job.ClassHostKeyChanged, []string{"changed", fp(got) + ", which differs from the one known for it in /a/known_hosts:7 (ssh-ed25519 " + fp(old) + ")",
				"man-in-the-middle", "ssh-keygen -R 'h' -f /a/known_hosts"}},
		{"changed, two keys, accept-new", "h:2222", &knownhosts.KeyError{Want: []knownhosts.KnownKey{
			{Key: old, Filename: "/a/known_hosts", Line: 7}, {Key: old2, Filename: "/b/known_hosts"}}}, true,
			job.ClassHostKeyChanged, []string{"the ones known for it in /a/known_hosts:7 (ssh-ed25519 " + fp(old) + "), /b/known_hosts (ssh-ed25519 " + fp(old2) + ")",
				"man-in-the-middle attack (accept-new never replaces a known key)",
				"ssh-keygen -R '[h]:2222' -f /a/known_hosts; ssh-keygen -R '[h]:2222' -f /b/known_hosts"}},
		{"revoked", "h:22", &knownhosts.RevokedError{Revoked: knownhosts.KnownKey{Key: got, Filename: "/a/known_hosts", Line: 3}}, false,
			job.ClassHostKey, []string{"revoked in /a/known_hosts:3"}},
		{"unreadable file", "h:22", errors.New("known_hosts /a/known_hosts: permission denied"), false,
			job.ClassHostKey, []string{"permission denied"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := hostKeyError(tc.host, got, tc.err, files, tc.acceptNew)
			var hk *HostKeyError
			if !errors.As(err, &hk) || hk.ErrorClass() != tc.class || !errors.Is(err, tc.err) {
				t.Fatalf("hostKeyError = %#v, want class %s wrapping %v", err, tc.class, tc.err)
			}
			for _, m := range tc.msg {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q\nlacks %q", err, m)
				}
			}
		})
	}
	if err := hostKeyError("h:22", got, nil, files, false); err != nil {
		t.Fatalf("no error: %v", err)
	}
}
