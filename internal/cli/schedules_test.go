package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/salvo-sh/salvo/fleet"
	"github.com/salvo-sh/salvo/internal/testutil"
)

// The schedule commands against a real node: put one of a command and one
// of a spec file, list them, show one, run it now twice, read its history
// and delete it; usage errors exit 2, the server's refusals 1.
func TestScheduleCommands(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	t.Setenv("SALVO_SERVER", "")
	t.Setenv("SALVO_TOKEN", "")
	f := testutil.StartFleet(t, func(c *fleet.Config) { c.Hosts = 3 })
	node := testutil.StartNode(t, nil)
	if code := testutil.DoJSON(t, "PUT", node.URL+"/api/v1/nodegroups/web", map[string]any{"hosts": fleet.Targets(3, f.Addr().Port)}, nil); code != 200 {
		t.Fatalf("node group: %d", code)
	}
	if code := testutil.DoJSON(t, "PUT", node.URL+"/api/v1/commands/home", map[string]any{"http": map[string]any{"path": "/"},
		"aggregation": map[string]any{"regex": `version=(\S+)`}}, nil); code != 200 {
		t.Fatalf("command: %d", code)
	}
	specFile := filepath.Join(t.TempDir(), "spec.json")
	if err := os.WriteFile(specFile, []byte(`{"nodeGroup": "web", "http": {"path": "/health"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	badSpec := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(badSpec, []byte(`{"http": {"methd": "GET"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(name string, args ...string) runOutput {
		t.Helper()
		var stdout, stderr bytes.Buffer
		var code int
		all := append(args, "--server", node.URL)
		if name == "schedules" {
			code = SchedulesCommand(testAccessFlags)(all, &stdout, &stderr)
		} else {
			code = ScheduleCommand(testAccessFlags)(append([]string{name}, all...), &stdout, &stderr)
		}
		return runOutput{code, stdout.String(), stderr.String()}
	}
	tests := []struct {
		name string
		verb string
		args []string
		code int
		out  string // in stdout (code 0) or stderr
	}{
		{"put a command", "put", []string{"nightly", "--cron", "0 3 * * *", "--command", "home", "--node-group", "web", "--timezone", "Europe/Paris"}, 0, "cron      0 3 * * * (Europe/Paris)"},
		{"put a spec", "put", []string{"health", "--cron", "@every 1h", "--spec", specFile, "--catch-up", "skip", "--disabled"}, 0, "enabled   false"},
		{"no cron", "put", []string{"x", "--command", "home"}, 2, "--cron is required"},
		{"both", "put", []string{"x", "--cron", "@daily", "--command", "home", "--spec", specFile}, 2, "exactly one of --command and --spec"},
		{"bad spec file", "put", []string{"x", "--cron", "@daily", "--spec", badSpec}, 2, "http.methd"},
		{"no name", "put", []string{"--cron", "@daily"}, 2, "want one schedule name"},
		{"bad cron", "put", []string{"x", "--cron", "61 * * * *", "--command", "home", "--node-group", "web"}, 1, "cron: end of range (61) above maximum (59)"},
		{"unknown group", "put", []string{"x", "--cron", "@daily", "--command", "home", "--node-group", "db"}, 1, `nodeGroup: unknown node group "db"`},
		{"show", "show", []string{"nightly"}, 0, "runs      command home on web"},
		{"show unknown", "show", []string{"nope"}, 1, `schedule "nope" not found`},
		{"run", "run", []string{"nightly"}, 0, "state"},
		{"bad limit", "history", []string{"nightly", "--limit", "0"}, 2, "--limit 0"},
		{"unknown verb", "pause", []string{"nightly"}, 2, `unknown verb "pause"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := run(tc.verb, tc.args...)
			text := out.stdout
			if tc.code != 0 {
				text = out.stderr
			}
			if out.code != tc.code || !strings.Contains(text, tc.out) {
				t.Errorf("exit %d, want %d with %q\nstdout: %s\nstderr: %s", out.code, tc.code, tc.out, out.stdout, out.stderr)
			}
		})
	}

	// A second run, once the first has ended: the history compares them.
	var st struct{ ID string }
	out := run("run", "nightly", "--output", "json")
	if err := json.Unmarshal([]byte(out.stdout), &st); out.code != 0 || err != nil || st.ID == "" {
		t.Fatalf("run --output json: %d %s %v", out.code, out.stdout, err)
	}
	for _, id := range jobIDs(t, node.URL, "nightly") {
		testutil.WaitJob(t, node.Engine, id, testTimeout)
	}
	out = run("history", "nightly")
	lines := strings.Split(strings.TrimSpace(out.stdout), "\n")
	if out.code != 0 || len(lines) != 3 || !strings.HasPrefix(lines[0], "SLOT") || !strings.Contains(lines[1], st.ID) ||
		!strings.Contains(lines[1], "(manual)") || !strings.Contains(lines[1], "3/3") || strings.Fields(lines[1])[5] != "0" {
		t.Errorf("history: %d\n%s%s", out.code, out.stdout, out.stderr)
	}
	out = run("schedules")
	lines = strings.Split(strings.TrimSpace(out.stdout), "\n")
	if out.code != 0 || len(lines) != 3 || !strings.HasPrefix(lines[1], "health") || !strings.Contains(lines[1], "spec on web") ||
		!strings.HasPrefix(lines[2], "nightly") || !strings.Contains(lines[2], "gathered at") {
		t.Errorf("schedules: %d\n%s%s", out.code, out.stdout, out.stderr)
	}
	if out := run("delete", "health"); out.code != 0 || !strings.Contains(out.stdout, "schedule health deleted") {
		t.Errorf("delete: %+v", out)
	}
	if out := run("delete", "health"); out.code != 1 {
		t.Errorf("delete again: %+v", out)
	}
}

// jobIDs lists the ids of a schedule's jobs (GET /api/v1/jobs?schedule=).
func jobIDs(t *testing.T, url, schedule string) []string {
	t.Helper()
	var page struct{ Items []struct{ ID string } }
	if code := testutil.DoJSON(t, "GET", url+"/api/v1/jobs?schedule="+schedule, nil, &page); code != 200 {
		t.Fatalf("jobs of %s: %d", schedule, code)
	}
	var ids []string
	for _, it := range page.Items {
		ids = append(ids, it.ID)
	}
	return ids
}
