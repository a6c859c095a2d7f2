package cli

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/salvo-sh/salvo/actors"
	"github.com/salvo-sh/salvo/fleet"
	"github.com/salvo-sh/salvo/internal/testutil"
	"github.com/salvo-sh/salvo/job"
)

func TestBuildSpecSSH(t *testing.T) {
	targets := "10.0.0.1\nops@10.0.0.2:2222\n"
	full := SSHOptions{On: true, Command: "uptime", User: "deploy", Identity: "/keys/id", Passphrase: "pp",
		Password: "pw", Agent: true, KnownHosts: "/kh", HostKeyPolicy: "accept-new", Sudo: true, ProxyJump: "jump@b:22", ConfigFile: "/etc/salvo/ssh_config"}
	tests := []struct {
		name  string
		opts  RunOptions
		check func(*job.Spec) bool
		err   string
	}{
		{"every flag", RunOptions{TargetsFile: "-", SSH: full, Port: "2200"}, func(s *job.Spec) bool {
			return s.Protocol == "ssh" && len(s.Targets) == 2 && s.Targets[1].Host == "ops@10.0.0.2:2222" && s.HTTP == nil &&
				*s.SSH == job.SSHSpec{User: "deploy", Port: 2200, Command: "uptime",
					Auth:          job.SSHAuth{PrivateKeyFile: "/keys/id", Passphrase: "pp", Password: "pw", Agent: true},
					HostKeyPolicy: "accept-new", KnownHostsFile: "/kh", Sudo: true, ProxyJump: "jump@b:22", ConfigFile: "/etc/salvo/ssh_config"}
		}, ""},
		{"--command implies --ssh", RunOptions{TargetsFile: "-", SSH: SSHOptions{Command: "id"}}, func(s *job.Spec) bool {
			return s.Protocol == "ssh" && s.SSH.Command == "id"
		}, ""},
		{"--ssh without --command", RunOptions{TargetsFile: "-", SSH: SSHOptions{On: true}}, nil, "needs --command"},
		{"HTTP flag on an SSH job", RunOptions{TargetsFile: "-", SSH: SSHOptions{Command: "id"}, Path: "/x"}, nil, "apply to HTTP jobs"},
		{"bad SSH port", RunOptions{TargetsFile: "-", SSH: SSHOptions{Command: "id"}, Port: "$P"}, nil, "port number"},
		{"SSH flag on an HTTP job", RunOptions{TargetsFile: "-", SSH: SSHOptions{User: "u"}, Path: "/x"}, nil, "apply to SSH jobs"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Stdin = strings.NewReader(targets)
			s, err := BuildSpec(tc.opts)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(s) {
				t.Fatalf("spec %+v ssh %+v", s, s.SSH)
			}
			if err := s.Normalize(0); err != nil {
				t.Fatalf("the server would refuse it: %v", err)
			}
		})
	}
	// A spec file's SSH settings, overridden by flags.
	s, err := BuildSpec(RunOptions{SpecFile: "-", Stdin: strings.NewReader(
		`{"protocol": "ssh", "targets": ["a"], "ssh": {"command": "old", "user": "u"}}`),
		SSH: SSHOptions{Command: "new"}, Port: "2022"})
	if err != nil || s.SSH.Command != "new" || s.SSH.User != "u" || s.SSH.Port != 2022 {
		t.Fatalf("spec file override: %v %+v", err, s.SSH)
	}
}

// TestRunSSHFoldsOutputs runs `salvo run --ssh` against an in-process node
// and the fleet's SSH server: the table groups identical outputs with
// their hosts folded, as clush -b does.
func TestRunSSHFoldsOutputs(t *testing.T) {
	dir := t.TempDir()
	key := testutil.NewSSHKey(t, dir, "id", "")
	fc := fleet.DefaultSSHConfig()
	fc.AuthorizedKeys = []ssh.PublicKey{key.Public}
	fl, err := fleet.NewSSHServer(fc)
	if err != nil {
		t.Fatal(err)
	}
	if err := fl.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fl.Close() })
	node := testutil.StartNode(t, func(c *actors.Config) { c.Worker.SSH.DataDir = t.TempDir() })

	var lines []string
	for i := range 12 {
		lines = append(lines, fleet.HostAddr(i))
	}
	lines = append(lines, "127.0.0.1:1") // nothing listens: connect_refused
	opts := RunOptions{
		Server:      node.URL,
		TargetsFile: writeTargets(t, lines...),
		Port:        fmt.Sprint(fl.Addr().Port),
		By:          ByBody,
		NoProgress:  true,
		SSH: SSHOptions{Command: "echo same output; exit 0", User: "ops", Identity: key.File,
			HostKeyPolicy: job.HostKeyAcceptNew},
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	out := runWith(t, ctx, opts)
	if out.code != ExitFailures {
		t.Fatalf("exit %d (want 1: one target refused)\nstdout:\n%s\nstderr:\n%s", out.code, out.stdout, out.stderr)
	}
	for _, want := range []string{"total 13  ok 12  error 1", "\n127.1.0.[0-11] (12): exit 0\n", "stdout:\nsame output\n",
		"\n127.0.0.1 (1): error (connect_refused)\n"} {
		if !strings.Contains(out.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, out.stdout)
		}
	}
}
