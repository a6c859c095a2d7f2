package commands_test

import (
	"fmt"
	"testing"

	"github.com/salvo-sh/salvo/internal/testutil"
	"github.com/salvo-sh/salvo/job"
)

// TestSSHCommandShellVars runs a command on a real sshd: salvo expands its
// own variables (the long and short built-ins, a target var), and every
// other reference reaches the remote shell as written, which expands it
// there ($HOME, ${HOME}, $$HOME, a variable of the session's environment,
// an unset one, $#, a loop variable).
func TestSSHCommandShellVars(t *testing.T) {
	d := testutil.StartSSHD(t, func(c *testutil.SSHDConfig) { c.Env = []string{"REMOTE_ONLY=from-sshd"} })
	x := newExecutor(t, nil)
	hosts := []string{"127.0.0.1", "127.0.0.2"}
	auth := keyAuth(t, d, hosts...)
	s := sshSpec(t, hosts, func(s *job.Spec) {
		auth(s)
		s.SSH.Command = `echo "$SALVO_HOST ${SALVO_INDEX} $INDEX $MSG|$HOME|${HOME}|$$HOME|$REMOTE_ONLY|[$UNSET_X]|n=$#"; for f in a b; do printf %s $f; done`
		for i := range s.Targets {
			s.Targets[i].Vars = map[string]string{"MSG": fmt.Sprintf("msg-%d", i)}
		}
	})
	for i, r := range runAll(t, s, x, 2) {
		// The sessions' HOME is the server's directory (testutil.SSHDConfig).
		want := fmt.Sprintf("%s %d %d msg-%d|%s|%s|%s|from-sshd|[]|n=0\nab", hosts[i], i, i, i, d.Dir, d.Dir, d.Dir)
		if r.State != job.StateOK || r.Body != want {
			t.Errorf("target %d: state %s body %q stderr %q error %q; want body %q", i, r.State, r.Body, r.Stderr, r.Error, want)
		}
	}
}
