package cli

import (
	"strings"
	"testing"

	"github.com/salvo-sh/salvo/internal/testutil"
)

// TestRunPrintsSubmitWarnings: the warnings of a real node's submit
// answer reach stderr, once each, and stdout keeps only the job id.
func TestRunPrintsSubmitWarnings(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir()) // no user config file
	t.Setenv("SALVO_SERVER", "")
	t.Setenv("SALVO_TOKEN", "")
	node := testutil.StartNode(t, nil)
	out := runWith(t, nil, RunOptions{
		Server: node.URL, TargetsFile: writeTargets(t, "127.0.0.1:1"), Detach: true,
		SSH: SSHOptions{Command: "echo $HOST $HOME"},
	})
	if out.code != ExitOK {
		t.Fatalf("exit %d: %s", out.code, out.stderr)
	}
	want := "salvo run: warning: ssh.command: $HOST is salvo's built-in (the target's host), not the remote shell's; write ${SALVO_HOST} for salvo's or $$HOST for the shell's\n"
	if out.stderr != want {
		t.Errorf("stderr %q, want %q", out.stderr, want)
	}
	if strings.Count(out.stdout, "\n") != 1 || strings.Contains(out.stdout, "warning") {
		t.Errorf("stdout %q, want the job id alone", out.stdout)
	}
}
