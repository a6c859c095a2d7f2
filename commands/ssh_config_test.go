package commands_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/salvo-sh/salvo/commands"
	"github.com/salvo-sh/salvo/internal/testutil"
	"github.com/salvo-sh/salvo/job"
)

// writeFile writes content to dir/name and returns the path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	f := filepath.Join(dir, name)
	if err := os.WriteFile(f, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// TestSSHConfigFileAliases: names that resolve nowhere reach the real
// sshd through the config's HostName, Port, User and IdentityFile, and
// the results keep the names as written.
func TestSSHConfigFileAliases(t *testing.T) {
	d := testutil.StartSSHD(t, nil)
	x := newExecutor(t, nil)
	dir := t.TempDir()
	cfg := writeFile(t, dir, "config", fmt.Sprintf(`Host web-*
  HostName 127.0.0.1
  Port %d
  User %s
  IdentityFile %s
`, d.Port, d.User, d.UserKey.File))
	kh := writeFile(t, dir, "known_hosts", d.KnownHostsLines("127.0.0.1"))
	hosts := []string{"web-1", "web-2"}
	s := sshSpec(t, hosts, func(s *job.Spec) {
		s.SSH.ConfigFile = cfg
		s.SSH.KnownHostsFile = kh
	})
	if s.SSH.Port != 0 {
		t.Fatalf("normalized port %d: with a config file an unset port must stay 0", s.SSH.Port)
	}
	for i, r := range runAll(t, s, x, 2) {
		if r.State != job.StateOK || r.Body != hosts[i]+"\n" {
			t.Fatalf("target %d: %+v", i, r)
		}
		if r.Host != hosts[i] || r.Target != d.User+"@"+d.Addr("127.0.0.1") {
			t.Errorf("target %d: host %q target %q, want %q and %q", i, r.Host, r.Target, hosts[i], d.User+"@"+d.Addr("127.0.0.1"))
		}
	}
	// Without the config the names lead nowhere.
	s2 := sshSpec(t, hosts[:1], func(s *job.Spec) { keyAuth(t, d, "127.0.0.1")(s) })
	if r := runOne(t, s2, x); r.State == job.StateOK {
		t.Fatalf("web-1 without the config: %+v, want an error", r)
	}
}

// TestSSHConfigPrecedence: a target's own user and port win over the
// job's, which win over the config's, which win over the defaults; the
// job's key and the config's IdentityFile keys are all offered.
func TestSSHConfigPrecedence(t *testing.T) {
	d := testutil.StartSSHD(t, nil)
	x := newExecutor(t, nil)
	dir := t.TempDir()
	closed := testutil.FreePort(t) // nothing listens there
	wrongKey := testutil.NewSSHKey(t, dir, "wrong", "")
	locked := testutil.NewSSHKey(t, dir, "locked", "a passphrase")
	const badUser = "salvo-no-such-user"
	cfg := writeFile(t, dir, "config", fmt.Sprintf(`Host onlymissing-*
  IdentityFile %[1]s/missing-key
Host locked-*
  IdentityFile %[7]s
Host wrongport-*
  Port %[2]d
Host wronguser-*
  User %[3]s
Host *
  HostName 127.0.0.1
  Port %[4]d
  User %[5]s
Host * !onlymissing-*
  IdentityFile %[6]s
`, dir, closed, badUser, d.Port, d.User, d.UserKey.File, locked.File))
	kh := writeFile(t, dir, "known_hosts", d.KnownHostsLines("127.0.0.1"))
	sshdAt := func(user string, port int) string { return user + "@127.0.0.1:" + strconv.Itoa(port) }
	tests := []struct {
		name   string
		target string
		mod    func(*job.SSHSpec)
		class  string // "" for ok
		want   string // the result's target: user@address dialled
		errSub string
	}{
		{"the config alone", "web-1", nil, "", sshdAt(d.User, d.Port), ""},
		{"the config's port applies", "wrongport-1", nil, job.ClassConnectRefused, sshdAt(d.User, closed), ""},
		{"the job's port beats the config's", "wrongport-1", func(s *job.SSHSpec) { s.Port = d.Port }, "", sshdAt(d.User, d.Port), ""},
		{"the target's port beats the job's and the config's", "wrongport-1:" + strconv.Itoa(d.Port),
			func(s *job.SSHSpec) { s.Port = closed }, "", sshdAt(d.User, d.Port), ""},
		{"the config's user applies", "wronguser-1", nil, job.ClassAuth, sshdAt(badUser, d.Port), "unable to authenticate"},
		{"the job's user beats the config's", "wronguser-1", func(s *job.SSHSpec) { s.User = d.User }, "", sshdAt(d.User, d.Port), ""},
		{"the target's user beats the job's", d.User + "@wronguser-1", func(s *job.SSHSpec) { s.User = badUser }, "", sshdAt(d.User, d.Port), ""},
		{"the config's key after the job's", "web-1", func(s *job.SSHSpec) { s.Auth.PrivateKeyFile = wrongKey.File }, "", sshdAt(d.User, d.Port), ""},
		{"a missing IdentityFile is skipped", "onlymissing-1", func(s *job.SSHSpec) { s.Auth.PrivateKeyFile = d.UserKey.File }, "", sshdAt(d.User, d.Port), ""},
		{"only missing IdentityFiles", "onlymissing-1", nil, job.ClassAuth, sshdAt(d.User, d.Port), "IdentityFile keys of ssh.configFile do not exist: " + dir + "/missing-key"},
		{"a protected IdentityFile", "locked-1", nil, job.ClassAuth, sshdAt(d.User, d.Port), "private key " + locked.File + " is passphrase-protected and salvo cannot ask"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := sshSpec(t, []string{tc.target}, func(s *job.Spec) {
				s.SSH.ConfigFile, s.SSH.KnownHostsFile = cfg, kh
				if tc.mod != nil {
					tc.mod(s.SSH)
				}
			})
			r := runOne(t, s, x)
			if r.ErrorClass != tc.class || (tc.class == "" && r.State != job.StateOK) || !strings.Contains(r.Error, tc.errSub) {
				t.Fatalf("got %s/%s: %s; want class %q with %q", r.State, r.ErrorClass, r.Error, tc.class, tc.errSub)
			}
			if r.Target != tc.want {
				t.Errorf("target %q, want %q", r.Target, tc.want)
			}
		})
	}
}

// TestSSHConfigFileErrors: a config that cannot be read or parsed, or a
// host whose settings salvo cannot follow, fails the targets with a
// message naming the file; nothing is dialled.
func TestSSHConfigFileErrors(t *testing.T) {
	x := newExecutor(t, nil)
	dir := t.TempDir()
	tests := []struct {
		name, config, target, msg string
	}{
		{"missing file", "", "a", "no such file or directory"},
		{"Include", "Host *\n  Include other\n", "a", "line 2: Include is not supported"},
		{"bad port", "Host a\n  Port 0\n", "a", "line 2: Port \"0\""},
		{"ProxyCommand", "Host pc\n  ProxyCommand nc %h %p\n", "pc", "ProxyCommand is not supported"},
		{"a chain of jump hosts", "Host j\n  ProxyJump k\nHost t\n  ProxyJump j\n", "t", "jump host j has ProxyJump k: chains of jump hosts are not supported"},
		{"several jump hosts", "Host t\n  ProxyJump j,k\n", "t", "more than one jump host is not supported"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := filepath.Join(dir, fmt.Sprintf("config%d", i))
			if tc.config != "" {
				writeFile(t, dir, filepath.Base(f), tc.config)
			}
			s := sshSpec(t, []string{tc.target, tc.target}, func(s *job.Spec) {
				s.SSH.ConfigFile = f
				s.SSH.Auth.Password = "x"
				s.SSH.HostKeyPolicy = job.HostKeyOff
			})
			for j, r := range runAll(t, s, x, 2) {
				if r.State != job.StateError || r.ErrorClass != job.ClassOther || !strings.Contains(r.Error, "ssh.configFile "+f) ||
					!strings.Contains(r.Error, tc.msg) || r.Attempts != 0 {
					t.Fatalf("target %d: %s/%s (%d attempts): %s; want error/other naming %s with %q", j, r.State, r.ErrorClass, r.Attempts, r.Error, f, tc.msg)
				}
			}
		})
	}
}

// TestSSHConfigProxyJump: a config's ProxyJump, and the job's proxyJump
// naming a host of the config, go through one bastion connection whose
// address, port, user and key come from the config.
func TestSSHConfigProxyJump(t *testing.T) {
	d := testutil.StartSSHD(t, nil)
	bastion, target := "127.0.0.8", "127.0.0.9"
	dir := t.TempDir()
	cfg := writeFile(t, dir, "config", fmt.Sprintf(`Host gw
  HostName %s
Host app-*
  ProxyJump gw
  HostName %s
Host *
  Port %d
  User %s
  IdentityFile %s
`, bastion, target, d.Port, d.User, d.UserKey.File))
	kh := writeFile(t, dir, "known_hosts", d.KnownHostsLines(bastion, target))
	for _, tc := range []struct {
		name    string
		targets []string
		jump    string
	}{
		{"the config's ProxyJump", []string{"app-1", "app-2", "app-3"}, ""},
		{"the job's proxyJump through the config", []string{target, target}, "gw"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := newExecutor(t, nil)
			before := strings.Count(d.Log(), "on "+bastion+" port")
			s := sshSpec(t, tc.targets, func(s *job.Spec) {
				s.SSH.ConfigFile, s.SSH.KnownHostsFile, s.SSH.ProxyJump = cfg, kh, tc.jump
				s.SSH.Command = "echo $HOST; echo $$SSH_CONNECTION"
			})
			for i, r := range runAll(t, s, x, 3) {
				// sshd sees the target connection come from the bastion's
				// side: the server address is the target's HostName.
				if r.State != job.StateOK || !strings.HasPrefix(r.Body, tc.targets[i]+"\n") || !strings.Contains(r.Body, " "+target+" ") {
					t.Fatalf("target %d: %+v", i, r)
				}
			}
			if n := strings.Count(d.Log(), "on "+bastion+" port") - before; n != 1 {
				t.Errorf("bastion connections: %d, want 1", n)
			}
		})
	}
}

// TestSSHConfigPolicy: the target policy checks the HostName a config
// gives, which the submit never saw.
func TestSSHConfigPolicy(t *testing.T) {
	pol, err := job.NewPolicy(nil, []string{"*.internal"})
	if err != nil {
		t.Fatal(err)
	}
	x := newExecutor(t, func(c *commands.SSHConfig) { c.Policy = pol })
	cfg := writeFile(t, t.TempDir(), "config", "Host *\n  HostName %h.internal\n")
	s := sshSpec(t, []string{"db"}, func(s *job.Spec) {
		s.SSH.ConfigFile, s.SSH.Auth.Password, s.SSH.HostKeyPolicy = cfg, "x", job.HostKeyOff
	})
	if r := runOne(t, s, x); r.ErrorClass != job.ClassPolicy || !strings.Contains(r.Error, "db.internal") {
		t.Fatalf("got %+v, want errorClass policy naming db.internal", r)
	}
}
