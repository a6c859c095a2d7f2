package cli

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/salvo-sh/salvo/fleet"
	"github.com/salvo-sh/salvo/internal/testutil"
	"github.com/salvo-sh/salvo/job"
)

// A job where two of six targets fail: salvo status and salvo jobs say
// what it ran, --name and --q find it, salvo rerun runs exactly the two
// failed targets with their vars (and --wait follows the new job), and
// salvo delete deletes a job.
func TestRerunAndDeleteCommands(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	t.Setenv("SALVO_SERVER", "")
	t.Setenv("SALVO_TOKEN", "")
	f := testutil.StartFleet(t, func(c *fleet.Config) { c.Hosts = 4 })
	node := testutil.StartNode(t, nil)
	var targets []any
	for i, h := range fleet.Targets(4, f.Addr().Port) {
		targets = append(targets, map[string]any{"host": h, "vars": map[string]string{"ID": "ok" + string(rune('0'+i))}})
	}
	// Ports 1 and 2 refuse: state error.
	targets = append(targets[:2], map[string]any{"host": "127.0.0.1:1", "vars": map[string]string{"ID": "first"}}, targets[2],
		map[string]any{"host": "127.0.0.1:2", "vars": map[string]string{"ID": "second"}}, targets[3])
	var sub struct {
		ID string `json:"id"`
	}
	if code := testutil.DoJSON(t, "POST", node.URL+"/api/v1/jobs", map[string]any{
		"name": "rollout", "targets": targets, "http": map[string]any{"path": "/v/${ID}"},
	}, &sub); code != 202 {
		t.Fatalf("submit: %d", code)
	}
	e := jobsEnv{url: node.URL, id: sub.ID, total: len(targets)}
	if out := e.run(t, "status", e.id, "--wait", "20s"); out.code != 0 || !strings.Contains(out.stdout, "counts    ok 4  failed 0  error 2") ||
		!strings.Contains(out.stdout, "ran       GET /v/${ID}\n") {
		t.Fatalf("status --wait: %d\n%s%s", out.code, out.stdout, out.stderr)
	}
	for _, args := range [][]string{{"--name", "rollout"}, {"--q", "/V/"}} {
		out := e.run(t, "jobs", args...)
		l := strings.Split(strings.TrimSpace(out.stdout), "\n")
		if out.code != 0 || len(l) != 2 || !strings.HasSuffix(l[0], "RAN") || !strings.HasPrefix(l[1], e.id) || !strings.HasSuffix(l[1], "GET /v/${ID}") {
			t.Errorf("jobs %v: %d\n%s%s", args, out.code, out.stdout, out.stderr)
		}
	}
	if out := e.run(t, "jobs", "--name", "roll"); out.code != 0 || strings.Count(out.stdout, "\n") != 1 {
		t.Errorf("jobs --name roll (no such name): %d\n%s", out.code, out.stdout)
	}

	out := e.run(t, "rerun", e.id)
	rerunID := strings.TrimSpace(out.stdout)
	if out.code != 0 || rerunID == "" || strings.ContainsAny(rerunID, " \n") {
		t.Fatalf("rerun: %d\n%s%s", out.code, out.stdout, out.stderr)
	}
	out = e.run(t, "status", rerunID, "--wait", "20s", "--output", "json")
	var st struct {
		Name    string `json:"name"`
		RerunOf string `json:"rerunOf"`
		Total   int    `json:"total"`
		State   string `json:"state"`
	}
	if err := json.Unmarshal([]byte(out.stdout), &st); err != nil || st.RerunOf != e.id || st.Total != 2 || st.Name != "rollout (rerun of "+e.id+")" || !Terminal(st.State) {
		t.Fatalf("the rerun's status: %v %+v\n%s", err, st, out.stdout)
	}
	out = e.run(t, "results", rerunID, "--output", "json")
	var rs []job.Result
	if err := json.Unmarshal([]byte(out.stdout), &rs); err != nil {
		t.Fatalf("results: %v\n%s", err, out.stdout)
	}
	var got []string
	for _, r := range rs {
		got = append(got, r.Target)
	}
	if want := []string{"http://127.0.0.1:1/v/first", "http://127.0.0.1:2/v/second"}; !slices.Equal(got, want) {
		t.Errorf("the rerun ran %v, want %v", got, want)
	}

	// --wait follows the new job and prints its status; the status says
	// which job it reruns.
	out = e.run(t, "rerun", rerunID, "--state", "error", "--wait", "20s")
	if out.code != 0 || !strings.Contains(out.stdout, "rerun of  "+rerunID+"\n") || !strings.Contains(out.stdout, "done      2/2") ||
		!strings.Contains(out.stdout, "name      rollout (rerun of "+rerunID+")") {
		t.Errorf("rerun --wait: %d\n%s%s", out.code, out.stdout, out.stderr)
	}
	for _, tc := range []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{e.id, "--state", "timeout"}, 1, "no target in state timeout"},
		{[]string{e.id, "--state", "bogus"}, 1, `states: unknown result state "bogus"`},
		{[]string{"nosuch"}, 1, `job "nosuch" not found`},
		{nil, 2, "want one job id"},
	} {
		if out := e.run(t, "rerun", tc.args...); out.code != tc.code || !strings.Contains(out.stderr, tc.stderr) {
			t.Errorf("rerun %v: %d %q, want %d and %q", tc.args, out.code, out.stderr, tc.code, tc.stderr)
		}
	}

	if out := e.run(t, "delete", rerunID); out.code != 0 || out.stdout != "deleted "+rerunID+"\n" {
		t.Errorf("delete: %d\n%s%s", out.code, out.stdout, out.stderr)
	}
	if out := e.run(t, "status", rerunID); out.code != 1 || !strings.Contains(out.stderr, "not found") {
		t.Errorf("status of a deleted job: %d %q", out.code, out.stderr)
	}
	if out := e.run(t, "delete", rerunID); out.code != 1 || !strings.Contains(out.stderr, "not found") {
		t.Errorf("delete again: %d %q", out.code, out.stderr)
	}
}
