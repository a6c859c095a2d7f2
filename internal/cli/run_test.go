package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/salvo-sh/salvo/job"
)

// testTimeout bounds every Run in these tests.
const testTimeout = 20 * time.Second

func writeTargets(t *testing.T, lines ...string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "targets.txt")
	if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// fastClient polls quickly so that fallback tests stay short.
func fastClient() *ClientConfig {
	c := DefaultClientConfig()
	c.PollInterval = 5 * time.Millisecond
	c.StreamIdleTimeout = 2 * time.Second
	c.RequestTimeout = 5 * time.Second
	return &c
}

type runOutput struct {
	code           int
	stdout, stderr string
}

func runWith(t *testing.T, ctx context.Context, opts RunOptions) runOutput {
	t.Helper()
	if ctx == nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
	}
	var stdout, stderr bytes.Buffer
	code := Run(ctx, opts, &stdout, &stderr)
	return runOutput{code, stdout.String(), stderr.String()}
}

func TestRunExitCodes(t *testing.T) {
	tests := []struct {
		name      string
		configure func(*fakeServer)
		targets   []string
		opts      RunOptions
		want      int
		stdout    []string // substrings of stdout
		stderr    []string // substrings of stderr
	}{
		{
			name: "refused with field",
			configure: func(s *fakeServer) {
				s.submitErr = &APIError{Status: 400, Message: "undefined variable ID", Field: "http.path"}
			},
			targets: []string{"10.0.0.1"},
			want:    ExitUsage,
			stderr:  []string{"undefined variable ID", "field http.path"},
		},
		{
			name:      "server error on submit",
			configure: func(s *fakeServer) { s.submitErr = &APIError{Status: 503, Message: "store unavailable"} },
			targets:   []string{"10.0.0.1"},
			want:      ExitUnreachable,
			stderr:    []string{"store unavailable"},
		},
		{
			name:    "all ok",
			targets: []string{"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"},
			opts:    RunOptions{Regex: `version=(\S+)`},
			want:    ExitOK,
			stdout: []string{"job job-1  state gathered  total 4  ok 4  elapsed 2.5s  rate 2/s",
				"VALUE", "COUNT", "HOSTS", "1.25.3", "1.24.0", "50.0%", "10.0.0.1,10.0.0.3"},
			stderr: []string{"job job-1 submitted (4 targets)", "progress: 100% 4/4 ok 4 err 0"},
		},
		{
			name:    "errors and timeouts",
			targets: []string{"10.0.0.1", "bad-1", "bad-2", "slow-1"},
			want:    ExitFailures,
			stdout:  []string{"ok 1  error 2  timeout 1", "connect_refused [error]", "timeout [error]", "bad-1,bad-2"},
		},
		{
			name:      "job failed",
			configure: func(s *fakeServer) { s.finalState = JobFailed },
			targets:   []string{"10.0.0.1"},
			want:      ExitCancelled,
			stdout:    []string{"state failed", "reason: store unavailable"},
		},
		{
			name:      "job cancelled elsewhere",
			configure: func(s *fakeServer) { s.finalState = JobCancelled },
			targets:   []string{"10.0.0.1"},
			want:      ExitCancelled,
			stdout:    []string{"state cancelled"},
		},
		{
			name:    "by status",
			targets: []string{"10.0.0.1", "bad-1"},
			opts:    RunOptions{By: ByStatus},
			want:    ExitFailures,
			stdout:  []string{"200", "0 [error]"},
		},
		{
			name:    "by body",
			targets: []string{"10.0.0.1", "10.0.0.2", "10.0.0.3", "bad-1"},
			opts:    RunOptions{By: ByBody},
			want:    ExitFailures,
			stdout: []string{"\n10.0.0.1,10.0.0.3 (2)\n" + strings.Repeat("-", 21) + "\nstdout:\nversion=1.25.3\n",
				"\n10.0.0.2 (1)\n", "\nbad-1 (1) [error]\n"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFakeServer(t, tc.configure)
			opts := tc.opts
			opts.Server = srv.URL()
			opts.TargetsFile = writeTargets(t, tc.targets...)
			out := runWith(t, nil, opts)
			if out.code != tc.want {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", out.code, tc.want, out.stdout, out.stderr)
			}
			for _, s := range tc.stdout {
				if !strings.Contains(out.stdout, s) {
					t.Errorf("stdout lacks %q:\n%s", s, out.stdout)
				}
			}
			for _, s := range tc.stderr {
				if !strings.Contains(out.stderr, s) {
					t.Errorf("stderr lacks %q:\n%s", s, out.stderr)
				}
			}
		})
	}
}

func TestRunTableRows(t *testing.T) {
	srv := newFakeServer(t, nil)
	targets := []string{"10.0.0.1", "10.0.0.2", "10.0.0.3", "bad-1"}
	out := runWith(t, nil, RunOptions{Server: srv.URL(), TargetsFile: writeTargets(t, targets...), Regex: `version=(\S+)`, NoProgress: true})
	if out.code != ExitFailures {
		t.Fatalf("exit %d, stderr %s", out.code, out.stderr)
	}
	lines := strings.Split(strings.TrimRight(out.stdout, "\n"), "\n")
	// header, blank, column titles, one row per group
	if len(lines) != 6 {
		t.Fatalf("want 6 lines, got %d:\n%s", len(lines), out.stdout)
	}
	rows := map[string][]string{}
	for _, l := range lines[3:] {
		f := strings.Fields(l)
		rows[f[0]] = f
	}
	want := map[string][]string{
		"1.25.3":          {"1.25.3", "2", "50.0%", "10.0.0.1,10.0.0.3"},
		"1.24.0":          {"1.24.0", "1", "25.0%", "10.0.0.2"},
		"connect_refused": {"connect_refused", "[error]", "1", "25.0%", "bad-1"},
	}
	for k, w := range want {
		if strings.Join(rows[k], " ") != strings.Join(w, " ") {
			t.Errorf("row %s = %q, want %q", k, rows[k], w)
		}
	}
	if f := strings.Fields(lines[2]); strings.Join(f, " ") != "VALUE COUNT % HOSTS" {
		t.Errorf("column titles %q", lines[2])
	}
	if strings.Contains(out.stderr, "progress:") {
		t.Errorf("--no-progress printed progress:\n%s", out.stderr)
	}
}

func TestRunSendsSpec(t *testing.T) {
	srv := newFakeServer(t, nil)
	opts := RunOptions{
		Server:         srv.URL(),
		TargetsFile:    writeTargets(t, "# fleet", "", "10.0.0.1", "  web-2.example.com:8080  ", "https://10.0.0.3:8443/health"),
		Name:           "nginx-version",
		Path:           "/status/$HOST",
		Method:         "post",
		Body:           "{}",
		Headers:        []string{"X-Target: $HOST", "Authorization:Bearer x"},
		Scheme:         "https",
		Port:           "8443",
		Concurrency:    50,
		ConnectTimeout: 2 * time.Second,
		Timeout:        7 * time.Second,
		Retries:        2,
		Regex:          `version=(\S+)`,
		Insecure:       true,
		NoProgress:     true,
	}
	if out := runWith(t, nil, opts); out.code != ExitOK {
		t.Fatalf("exit %d: %s", out.code, out.stderr)
	}
	got := srv.lastSpec(t)
	want := job.Spec{
		Name:     "nginx-version",
		Protocol: "http",
		Targets:  []job.TargetSpec{{Host: "10.0.0.1"}, {Host: "web-2.example.com:8080"}, {Host: "https://10.0.0.3:8443/health"}},
		HTTP: &job.HTTPSpec{Method: "POST", Scheme: "https", Port: "8443", Path: "/status/$HOST", Body: "{}",
			Headers: map[string]string{"X-Target": "$HOST", "Authorization": "Bearer x"}, InsecureSkipVerify: true},
		MaxConcurrency: 50,
		Timeouts:       job.Timeouts{Connect: job.Duration(2 * time.Second), Request: job.Duration(7 * time.Second)},
		Retries:        job.Retries{Max: 2},
		Aggregation:    &job.Aggregation{Regex: `version=(\S+)`},
	}
	gb, _ := json.Marshal(got)
	wb, _ := json.Marshal(want)
	if !bytes.Equal(gb, wb) {
		t.Errorf("spec sent:\n%s\nwant:\n%s", gb, wb)
	}
}

func TestRunSpecFromStdin(t *testing.T) {
	srv := newFakeServer(t, nil)
	spec := `{"name": "from-file", "targets": ["10.0.0.1", {"host": "10.0.0.2", "vars": {"ID": "2"}}],
	          "http": {"path": "/s/${ID}", "headers": {"A": "1"}}, "maxConcurrency": 10}`
	out := runWith(t, nil, RunOptions{Server: srv.URL(), SpecFile: "-", Stdin: strings.NewReader(spec),
		Concurrency: 20, Headers: []string{"B: 2"}, NoProgress: true})
	if out.code != ExitOK {
		t.Fatalf("exit %d: %s", out.code, out.stderr)
	}
	got := srv.lastSpec(t)
	if got.Name != "from-file" || got.MaxConcurrency != 20 || got.HTTP.Path != "/s/${ID}" ||
		got.HTTP.Headers["A"] != "1" || got.HTTP.Headers["B"] != "2" || got.Targets[1].Vars["ID"] != "2" {
		t.Errorf("spec sent: %+v http %+v", got, got.HTTP)
	}
}

func TestRunOutputJSON(t *testing.T) {
	srv := newFakeServer(t, nil)
	out := runWith(t, nil, RunOptions{Server: srv.URL(), TargetsFile: writeTargets(t, "10.0.0.1", "bad-1"),
		Output: OutputJSON, By: ByErrorClass})
	if out.code != ExitFailures {
		t.Fatalf("exit %d: %s", out.code, out.stderr)
	}
	var doc struct {
		Status    Status    `json:"status"`
		Aggregate Aggregate `json:"aggregate"`
	}
	dec := json.NewDecoder(strings.NewReader(out.stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("stdout is not one JSON document: %v\n%s", err, out.stdout)
	}
	if dec.More() {
		t.Errorf("more than one document:\n%s", out.stdout)
	}
	if doc.Status.ID != "job-1" || doc.Status.State != JobGathered || doc.Status.Total != 2 ||
		doc.Status.Counts.OK != 1 || doc.Status.Counts.Error != 1 || doc.Status.FinishedAt.IsZero() {
		t.Errorf("status %+v", doc.Status)
	}
	if doc.Aggregate.By != ByErrorClass || len(doc.Aggregate.Groups) != 2 {
		t.Errorf("aggregate %+v", doc.Aggregate)
	}
}

func TestRunOutputNDJSON(t *testing.T) {
	srv := newFakeServer(t, nil)
	hosts := []string{"10.0.0.1", "10.0.0.2", "bad-1", "10.0.0.4", "slow-1"}
	out := runWith(t, nil, RunOptions{Server: srv.URL(), TargetsFile: writeTargets(t, hosts...), Output: OutputNDJSON})
	if out.code != ExitFailures {
		t.Fatalf("exit %d: %s", out.code, out.stderr)
	}
	sc := bufio.NewScanner(strings.NewReader(out.stdout))
	n := 0
	for sc.Scan() {
		var r job.Result
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("line %d: %v: %s", n, err, sc.Text())
		}
		if r.Index != n || r.Host != hosts[n] {
			t.Errorf("line %d: index %d host %s", n, r.Index, r.Host)
		}
		n++
	}
	if n != len(hosts) {
		t.Errorf("%d records, want %d", n, len(hosts))
	}
	if strings.Contains(out.stderr, "warning") {
		t.Errorf("unexpected warning: %s", out.stderr)
	}
}

func TestRunPollingFallback(t *testing.T) {
	srv := newFakeServer(t, func(s *fakeServer) { s.noEvents = true; s.steps = 6 })
	out := runWith(t, nil, RunOptions{Server: srv.URL(), TargetsFile: writeTargets(t, "10.0.0.1", "10.0.0.2"), Client: fastClient()})
	if out.code != ExitOK {
		t.Fatalf("exit %d: %s", out.code, out.stderr)
	}
	if r := srv.reads(); r < 6 {
		t.Errorf("%d status reads, want at least 6 polls", r)
	}
	if !strings.Contains(out.stdout, "state gathered") {
		t.Errorf("stdout:\n%s", out.stdout)
	}
}

func TestRunInterruptCancelsJob(t *testing.T) {
	srv := newFakeServer(t, func(s *fakeServer) { s.hold = true })
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	runCtx, interrupt := context.WithCancel(ctx)
	go func() {
		select {
		case <-srv.eventsOpened:
			interrupt()
		case <-ctx.Done():
		}
	}()
	out := runWith(t, runCtx, RunOptions{Server: srv.URL(), TargetsFile: writeTargets(t, "10.0.0.1")})
	if out.code != ExitCancelled {
		t.Fatalf("exit %d: %s", out.code, out.stderr)
	}
	if got := srv.cancelled(); len(got) != 1 || got[0] != "job-1" {
		t.Errorf("cancelled %v, want [job-1]", got)
	}
	if !strings.Contains(out.stderr, "job job-1 cancelled") {
		t.Errorf("stderr:\n%s", out.stderr)
	}
}

func TestRunDetach(t *testing.T) {
	srv := newFakeServer(t, nil)
	out := runWith(t, nil, RunOptions{Server: srv.URL(), TargetsFile: writeTargets(t, "10.0.0.1"), Detach: true})
	if out.code != ExitOK || out.stdout != "job-1\n" {
		t.Fatalf("exit %d stdout %q stderr %q", out.code, out.stdout, out.stderr)
	}
	if srv.reads() != 0 {
		t.Errorf("--detach read the job's status")
	}
}

func TestRunUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	out := runWith(t, nil, RunOptions{Server: addr, TargetsFile: writeTargets(t, "10.0.0.1")})
	if out.code != ExitUnreachable {
		t.Fatalf("exit %d: %s", out.code, out.stderr)
	}
	if !strings.Contains(out.stderr, "http://"+addr) {
		t.Errorf("stderr does not name the server: %s", out.stderr)
	}
}

func TestRunUsageErrors(t *testing.T) {
	targets := writeTargets(t, "10.0.0.1")
	empty := writeTargets(t, "# nothing", "")
	tests := []struct {
		name string
		opts RunOptions
		msg  string
	}{
		{"neither", RunOptions{}, "exactly one of --spec and --targets-file"},
		{"both", RunOptions{SpecFile: "x.json", TargetsFile: targets}, "exactly one of"},
		{"missing file", RunOptions{TargetsFile: filepath.Join(t.TempDir(), "nope")}, "no such file"},
		{"no targets", RunOptions{TargetsFile: empty}, "no targets"},
		{"bad output", RunOptions{TargetsFile: targets, Output: "xml"}, "--output"},
		{"bad by", RunOptions{TargetsFile: targets, By: "host"}, "--by"},
		{"bad header", RunOptions{TargetsFile: targets, Headers: []string{"novalue"}}, "Key:Value"},
		{"bad spec", RunOptions{SpecFile: "-", Stdin: strings.NewReader(`{"targetz": []}`)}, "unknown field"},
		{"negative", RunOptions{TargetsFile: targets, Concurrency: -1}, "negative"},
		{"http flag on ssh", RunOptions{SpecFile: "-", Stdin: strings.NewReader(`{"protocol":"ssh","targets":["h"]}`), Path: "/x"}, "HTTP jobs"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// No server: a usage error must not reach the network.
			tc.opts.Server = "127.0.0.1:1"
			out := runWith(t, nil, tc.opts)
			if out.code != ExitUsage {
				t.Fatalf("exit %d, want 2: %s", out.code, out.stderr)
			}
			if !strings.Contains(out.stderr, tc.msg) {
				t.Errorf("stderr %q lacks %q", out.stderr, tc.msg)
			}
		})
	}
}

func TestRunPlainProgressLines(t *testing.T) {
	srv := newFakeServer(t, func(s *fakeServer) { s.steps = 10 })
	hosts := make([]string, 10)
	for i := range hosts {
		hosts[i] = "10.0.0." + string(rune('0'+i))
	}
	out := runWith(t, nil, RunOptions{Server: srv.URL(), TargetsFile: writeTargets(t, hosts...)})
	if out.code != ExitOK {
		t.Fatalf("exit %d: %s", out.code, out.stderr)
	}
	re := regexp.MustCompile(`^progress: +(\d+)% (\d+)/10 ok \d+ err 0 [\d,]+/s \d+\.\ds`)
	var pcts []string
	for _, l := range strings.Split(out.stderr, "\n") {
		if !strings.HasPrefix(l, "progress:") {
			continue
		}
		if strings.Contains(l, "\r") {
			t.Errorf("carriage return in non-terminal output: %q", l)
		}
		m := re.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("progress line %q does not match %s", l, re)
		}
		pcts = append(pcts, m[1])
	}
	// Each step is a 10% step: one line per step, the last at 100%.
	if len(pcts) != 10 || pcts[len(pcts)-1] != "100" {
		t.Errorf("progress percentages %v, want 10 lines ending at 100", pcts)
	}
}

func TestRunRefusedMessageNamesFieldOnce(t *testing.T) {
	srv := newFakeServer(t, func(s *fakeServer) {
		s.submitErr = &APIError{Status: 400, Message: "http.path: undefined variable $NOPE", Field: "http.path"}
	})
	out := runWith(t, nil, RunOptions{Server: srv.URL(), TargetsFile: writeTargets(t, "10.0.0.1")})
	if out.code != ExitUsage {
		t.Fatalf("exit %d: %s", out.code, out.stderr)
	}
	if want := "salvo run: job refused: http.path: undefined variable $NOPE\n"; out.stderr != want {
		t.Errorf("stderr %q, want %q", out.stderr, want)
	}
}
