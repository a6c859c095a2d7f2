package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/salvo-sh/salvo/fleet"
	"github.com/salvo-sh/salvo/internal/testutil"
	"github.com/salvo-sh/salvo/job"
)

// testAccessFlags registers the connection flags as cmd/salvo does.
func testAccessFlags(fs *flag.FlagSet, a *Access) {
	fs.StringVar(&a.Server, "server", "", "server")
	fs.StringVar(&a.Token, "token", "", "token")
	fs.StringVar(&a.TokenFile, "token-file", "", "token file")
	fs.StringVar(&a.CA, "ca", "", "ca")
	fs.StringVar(&a.Cert, "cert", "", "cert")
	fs.StringVar(&a.Key, "key", "", "key")
}

// jobsEnv is a real salvo node (store, engine, API) with one finished job
// over okHosts hosts of a fleet and one refused target.
type jobsEnv struct {
	url, id string
	total   int
}

const okHosts = 5

func startJobsEnv(t *testing.T) jobsEnv {
	t.Helper()
	t.Setenv("XDG_CONFIG_HOME", t.TempDir()) // no user config file
	t.Setenv("SALVO_SERVER", "")
	t.Setenv("SALVO_TOKEN", "")
	f2 := testutil.StartFleet(t, func(c *fleet.Config) { c.Hosts = okHosts })
	node := testutil.StartNode(t, nil)
	targets := append(fleet.Targets(okHosts, f2.Addr().Port), "127.0.0.1:1") // :1 refuses
	var sub struct {
		ID string `json:"id"`
	}
	if code := testutil.DoJSON(t, "POST", node.URL+"/api/v1/jobs", map[string]any{
		"name": "cli-test", "targets": targets, "http": map[string]any{"path": "/"},
	}, &sub); code != 202 {
		t.Fatalf("submit: %d", code)
	}
	return jobsEnv{url: node.URL, id: sub.ID, total: len(targets)}
}

func (e jobsEnv) run(t *testing.T, name string, args ...string) runOutput {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := runJobCommand(ctx, name, jobCommands[name], testAccessFlags, append(args, "--server", e.url), &stdout, &stderr)
	return runOutput{code, stdout.String(), stderr.String()}
}

func TestJobCommands(t *testing.T) {
	e := startJobsEnv(t)
	// status --wait is the synchronisation: the API answers once the job ends.
	if out := e.run(t, "status", e.id, "--wait", "20s"); out.code != 0 || !strings.Contains(out.stdout, "state     gathered") {
		t.Fatalf("status --wait: %d\n%s%s", out.code, out.stdout, out.stderr)
	}
	lines := func(s string) []string { return strings.Split(strings.TrimSuffix(s, "\n"), "\n") }

	tests := []struct {
		name  string
		cmd   string
		args  []string
		code  int
		check func(t *testing.T, out runOutput)
	}{
		{"status table", "status", []string{e.id}, 0, func(t *testing.T, out runOutput) {
			for _, s := range []string{"id        " + e.id, "name      cli-test", "protocol  http", "done      6/6 (100.0%)", "counts    ok 5  failed 0  error 1"} {
				if !strings.Contains(out.stdout, s) {
					t.Errorf("lacks %q", s)
				}
			}
		}},
		{"status json", "status", []string{"--output", "json", e.id}, 0, func(t *testing.T, out runOutput) {
			var st Status
			if err := json.Unmarshal([]byte(out.stdout), &st); err != nil || st.ID != e.id || st.State != JobGathered || st.Done != e.total {
				t.Errorf("decoded %+v, %v", st, err)
			}
		}},
		{"jobs table", "jobs", nil, 0, func(t *testing.T, out runOutput) {
			l := lines(out.stdout)
			if len(l) != 2 || !strings.HasPrefix(l[0], "ID ") || !strings.Contains(l[0], "DONE/TOTAL") {
				t.Fatalf("want header and one job:\n%s", out.stdout)
			}
			f := strings.Fields(l[1])
			if f[0] != e.id || f[1] != "cli-test" || f[2] != JobGathered || f[3] != "http" || f[4] != "6/6" {
				t.Errorf("row %q", l[1])
			}
		}},
		{"jobs json state filter", "jobs", []string{"--state", "processing", "--output", "json"}, 0, func(t *testing.T, out runOutput) {
			var sts []Status
			if err := json.Unmarshal([]byte(out.stdout), &sts); err != nil || len(sts) != 0 {
				t.Errorf("want no processing job: %v %s", err, out.stdout)
			}
		}},
		{"jobs json", "jobs", []string{"--output", "json"}, 0, func(t *testing.T, out runOutput) {
			var sts []Status
			if err := json.Unmarshal([]byte(out.stdout), &sts); err != nil || len(sts) != 1 || sts[0].ID != e.id {
				t.Errorf("%v %s", err, out.stdout)
			}
		}},
		{"jobs bad state", "jobs", []string{"--state", "nosuch"}, 1, func(t *testing.T, out runOutput) {
			if !strings.Contains(out.stderr, `salvo jobs: state: unknown job state "nosuch"`) {
				t.Errorf("stderr %q", out.stderr)
			}
		}},
		{"results ndjson", "results", []string{e.id, "--output", "ndjson"}, 0, func(t *testing.T, out runOutput) {
			sc := bufio.NewScanner(strings.NewReader(out.stdout))
			n := 0
			for sc.Scan() {
				var r job.Result
				if err := json.Unmarshal(sc.Bytes(), &r); err != nil || r.Index != n {
					t.Errorf("line %d: %v %s", n, err, sc.Text())
				}
				n++
			}
			if n != e.total {
				t.Errorf("%d lines, want %d", n, e.total)
			}
		}},
		{"results json", "results", []string{e.id, "--output", "json"}, 0, func(t *testing.T, out runOutput) {
			var rs []job.Result
			if err := json.Unmarshal([]byte(out.stdout), &rs); err != nil || len(rs) != e.total || rs[0].Body == "" {
				t.Errorf("%v: %d results", err, len(rs))
			}
		}},
		{"results csv", "results", []string{e.id, "--output", "csv"}, 0, func(t *testing.T, out runOutput) {
			rows, err := csv.NewReader(strings.NewReader(out.stdout)).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(rows[0], ","); got != "index,host,state,statusCode,exitCode,latencyMs,errorClass,error,value" {
				t.Errorf("header %s", got)
			}
			if len(rows) != e.total+1 {
				t.Fatalf("%d rows, want %d", len(rows), e.total+1)
			}
			if r := rows[1]; r[0] != "0" || r[1] != fleet.HostAddr(0) || r[2] != "ok" || r[3] != "200" {
				t.Errorf("row 1 %q", r)
			}
			if r := rows[e.total]; r[1] != "127.0.0.1" || r[2] != "error" || r[6] == "" || r[7] == "" {
				t.Errorf("last row %q", r)
			}
		}},
		{"results csv body", "results", []string{e.id, "--output", "csv", "--body", "--state", "ok"}, 0, func(t *testing.T, out runOutput) {
			rows, err := csv.NewReader(strings.NewReader(out.stdout)).ReadAll()
			if err != nil || len(rows) != okHosts+1 || rows[0][9] != "body" || rows[1][9] == "" {
				t.Errorf("%v %q", err, rows)
			}
		}},
		{"results table state filter", "results", []string{e.id, "--state", "error,timeout"}, 0, func(t *testing.T, out runOutput) {
			l := lines(out.stdout)
			if len(l) != 2 || !strings.HasPrefix(l[0], "INDEX  HOST") || strings.Contains(l[0], "BODY") {
				t.Fatalf("want header and one row:\n%s", out.stdout)
			}
			if f := strings.Fields(l[1]); f[0] != "5" || f[1] != "127.0.0.1" || f[2] != "error" {
				t.Errorf("row %q", l[1])
			}
		}},
		{"results host", "results", []string{e.id, "--host", fleet.HostAddr(2), "--output", "ndjson"}, 0, func(t *testing.T, out runOutput) {
			if n := len(lines(out.stdout)); n != 1 || !strings.Contains(out.stdout, `"index":2,`) {
				t.Errorf("%d lines:\n%s", n, out.stdout)
			}
		}},
		{"results bad state", "results", []string{e.id, "--state", "ok,bogus"}, 1, func(t *testing.T, out runOutput) {
			if !strings.HasPrefix(out.stderr, `salvo results: state: unknown result state "bogus"`) || out.stdout != "" {
				t.Errorf("stderr %q stdout %q", out.stderr, out.stdout)
			}
		}},
		{"results unknown job", "results", []string{"nosuch"}, 1, func(t *testing.T, out runOutput) {
			if out.stderr != "salvo results: job \"nosuch\" not found\n" {
				t.Errorf("stderr %q", out.stderr)
			}
		}},
		{"results bad output", "results", []string{e.id, "--output", "xml"}, 2, func(t *testing.T, out runOutput) {
			if !strings.Contains(out.stderr, `--output "xml": want table, json, ndjson, csv`) {
				t.Errorf("stderr %q", out.stderr)
			}
		}},
		{"results no job", "results", nil, 2, nil},
		{"status unknown job", "status", []string{"nosuch", "--wait", "1s"}, 1, func(t *testing.T, out runOutput) {
			if out.stderr != "salvo status: job \"nosuch\" not found\n" {
				t.Errorf("stderr %q", out.stderr)
			}
		}},
		{"aggregate status", "aggregate", []string{e.id, "--by", "status"}, 0, func(t *testing.T, out runOutput) {
			l := lines(out.stdout)
			if len(l) != 3 || !strings.HasPrefix(l[0], "VALUE") {
				t.Fatalf("want header and two groups:\n%s", out.stdout)
			}
			if f := strings.Fields(l[1]); f[0] != "200" || f[1] != "5" || f[3] != "127.1.0.[0-4]" {
				t.Errorf("row %q", l[1])
			}
		}},
		{"aggregate max-hosts", "aggregate", []string{e.id, "--by", "status", "--max-hosts", "2"}, 0, func(t *testing.T, out runOutput) {
			if !strings.Contains(out.stdout, "127.1.0.[0-1] (+3 more)") {
				t.Errorf("stdout:\n%s", out.stdout)
			}
		}},
		{"aggregate json", "aggregate", []string{e.id, "--by", "errorClass", "--output", "json"}, 0, func(t *testing.T, out runOutput) {
			var agg Aggregate
			if err := json.Unmarshal([]byte(out.stdout), &agg); err != nil || agg.By != ByErrorClass || len(agg.Groups) != 2 {
				t.Errorf("%v %s", err, out.stdout)
			}
		}},
		{"aggregate bad by", "aggregate", []string{e.id, "--by", "nope"}, 2, nil},
		{"cancel finished job", "cancel", []string{e.id}, 1, func(t *testing.T, out runOutput) {
			if out.stderr != "salvo cancel: job already finished\n" {
				t.Errorf("stderr %q", out.stderr)
			}
		}},
		{"cancel unknown job", "cancel", []string{"nosuch"}, 1, func(t *testing.T, out runOutput) {
			if out.stderr != "salvo cancel: job \"nosuch\" not found\n" {
				t.Errorf("stderr %q", out.stderr)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := e.run(t, tc.cmd, tc.args...)
			if out.code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", out.code, tc.code, out.stdout, out.stderr)
			}
			if tc.check != nil {
				tc.check(t, out)
			}
		})
	}
}

// TestCancelRunningJob cancels a job whose hosts answer after a minute: its
// in-flight requests end with their 2 s timeout, then the job is cancelled.
func TestCancelRunningJob(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	t.Setenv("SALVO_SERVER", "")
	t.Setenv("SALVO_TOKEN", "")
	f := testutil.StartFleet(t, func(c *fleet.Config) {
		c.Hosts, c.LatencyMin, c.LatencyMax, c.ShutdownTimeout = 3, time.Minute, time.Minute, 100*time.Millisecond
	})
	node := testutil.StartNode(t, nil)
	var sub struct {
		ID string `json:"id"`
	}
	if code := testutil.DoJSON(t, "POST", node.URL+"/api/v1/jobs", map[string]any{
		"targets": fleet.Targets(3, f.Addr().Port), "timeouts": map[string]any{"request": "2s"},
	}, &sub); code != 202 {
		t.Fatalf("submit: %d", code)
	}
	e := jobsEnv{url: node.URL, id: sub.ID, total: 3}
	out := e.run(t, "cancel", e.id, "--output", "json")
	var st Status
	if out.code != 0 || json.Unmarshal([]byte(out.stdout), &st) != nil || st.ID != e.id {
		t.Fatalf("cancel: exit %d\n%s%s", out.code, out.stdout, out.stderr)
	}
	out = e.run(t, "status", e.id, "--wait", "20s")
	if out.code != 0 || !strings.Contains(out.stdout, "state     cancelled") {
		t.Errorf("status after cancel: exit %d\n%s%s", out.code, out.stdout, out.stderr)
	}
}
