package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/salvo-sh/salvo/actors"
	"github.com/salvo-sh/salvo/internal/testutil"
	"github.com/salvo-sh/salvo/job"
)

// ruled is a block header of the ByBody summary: head between rules.
func ruled(head string) string {
	rule := strings.Repeat("-", min(max(len(head), 15), 80))
	return rule + "\n" + head + "\n" + rule + "\n"
}

// submittedID reads the job id from `salvo run`'s stderr.
func submittedID(t *testing.T, stderr string) string {
	t.Helper()
	m := regexp.MustCompile(`job (\S+) submitted`).FindStringSubmatch(stderr)
	if m == nil {
		t.Fatalf("no job id in stderr:\n%s", stderr)
	}
	return m[1]
}

// jobsEnvOf is a jobsEnv for the job id on the node at url, for the job
// commands.
func jobsEnvOf(t *testing.T, url, id string) jobsEnv {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir()) // no user config file
	t.Setenv("SALVO_SERVER", "")
	t.Setenv("SALVO_TOKEN", "")
	return jobsEnv{url: url, id: id}
}

// TestRunSSHSummaryOutcomes runs `echo x >&2; exit 4` on 50 targets and
// `true` on 10 through a real sshd: the summary shows the failed group
// first with its exit code and stderr, then the ok one, each with its
// whole host list; --output json, `salvo aggregate --by stderr` and
// --max-hosts show the same groups.
func TestRunSSHSummaryOutcomes(t *testing.T) {
	d := testutil.StartSSHD(t, nil)
	node := testutil.StartNode(t, func(c *actors.Config) { c.Worker.SSH.DataDir = t.TempDir() })
	var hosts []string
	for i := 1; i <= 60; i++ {
		hosts = append(hosts, fmt.Sprintf("127.0.0.%d", i))
	}
	opts := RunOptions{
		Server:      node.URL,
		TargetsFile: writeTargets(t, hosts...),
		Port:        strconv.Itoa(d.Port),
		By:          ByBody,
		NoProgress:  true,
		SSH: SSHOptions{Command: "[ $INDEX -ge 50 ] && exit 0; echo x >&2; exit 4", User: d.User, Identity: d.UserKey.File,
			HostKeyPolicy: job.HostKeyAcceptNew},
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	out := runWith(t, ctx, opts)
	if out.code != ExitFailures {
		t.Fatalf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", out.code, out.stdout, out.stderr)
	}
	want := ruled("127.0.0.[1-50] (50): exit 4, failed") + "stdout: (empty)\nstderr:\nx\n" +
		ruled("127.0.0.[51-60] (10): exit 0") + "stdout: (empty)\n"
	if !strings.HasSuffix(out.stdout, "\n\n"+want) || !strings.Contains(out.stdout, "total 60  ok 10  failed 50") {
		t.Fatalf("summary:\n%s\nwant it to end with:\n%s", out.stdout, want)
	}
	id := submittedID(t, out.stderr)
	e := jobsEnvOf(t, node.URL, id)

	t.Run("json", func(t *testing.T) {
		o := opts
		o.Output = OutputJSON
		out := runWith(t, ctx, o)
		var doc struct {
			Aggregate Aggregate `json:"aggregate"`
		}
		if err := json.Unmarshal([]byte(out.stdout), &doc); err != nil || len(doc.Aggregate.Groups) != 2 {
			t.Fatalf("exit %d, %v:\n%s", out.code, err, out.stdout)
		}
		failed, ok := doc.Aggregate.Groups[0], doc.Aggregate.Groups[1]
		if failed.State != job.StateFailed || failed.ExitCode == nil || *failed.ExitCode != 4 || failed.Folded != "127.0.0.[1-50]" ||
			len(failed.Stderr) != 1 || failed.Stderr[0].Value != "x\n" || failed.Stderr[0].Folded != "127.0.0.[1-50]" {
			t.Errorf("failed group %+v", failed)
		}
		if ok.State != job.StateOK || ok.ExitCode == nil || *ok.ExitCode != 0 || ok.Folded != "127.0.0.[51-60]" || ok.Value != "" {
			t.Errorf("ok group %+v", ok)
		}
	})
	t.Run("max-hosts", func(t *testing.T) {
		o := opts
		o.MaxHosts = 5
		out := runWith(t, ctx, o)
		for _, s := range []string{"\n127.0.0.[1-5] (+45 more) (50): exit 4, failed\n", "\n127.0.0.[51-55] (+5 more) (10): exit 0\n"} {
			if !strings.Contains(out.stdout, s) {
				t.Errorf("stdout lacks %q:\n%s", s, out.stdout)
			}
		}
	})
	t.Run("aggregate by stderr", func(t *testing.T) {
		out := e.run(t, "aggregate", id, "--by", "stderr")
		want := ruled("127.0.0.[1-50] (50)") + "stderr:\nx\n" + ruled("127.0.0.[51-60] (10)") + "stderr: (empty)\n"
		if out.code != 0 || out.stdout != want {
			t.Errorf("exit %d:\n%s\nwant:\n%s%s", out.code, out.stdout, want, out.stderr)
		}
	})
	t.Run("aggregate by body", func(t *testing.T) {
		out := e.run(t, "aggregate", id, "--by", "body")
		if out.code != 0 || out.stdout != want {
			t.Errorf("exit %d:\n%s\nwant:\n%s%s", out.code, out.stdout, want, out.stderr)
		}
	})
}

// TestRunHTTPSummaryOutcomes runs 1,400 HTTP targets answering the same
// body, every fifth with a 503: by body the 200s and the 503s are apart
// with their statuses, each group's host list whole (the 200s' 1,120
// hosts are more than the aggregation folds: the rest are paged by the
// group's index); with --expect-status 2xx the 503s are failed and first.
func TestRunHTTPSummaryOutcomes(t *testing.T) {
	ln, err := net.Listen("tcp", "0.0.0.0:0") // every 127.x.y.z reaches it
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if i, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/")); i%5 == 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		fmt.Fprint(w, "same\n")
	}))
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	node := testutil.StartNode(t, nil)
	const n = 1400
	var lines, ok, busy []string
	for i := range n {
		h := fmt.Sprintf("127.0.%d.%d", 1+i/200, 1+i%200)
		lines = append(lines, h)
		if i%5 == 0 {
			busy = append(busy, h)
		} else {
			ok = append(ok, h)
		}
	}
	opts := RunOptions{Server: node.URL, TargetsFile: writeTargets(t, lines...), Port: strconv.Itoa(ln.Addr().(*net.TCPAddr).Port),
		Path: "/$INDEX", By: ByBody, NoProgress: true}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()

	// blocks returns the summary's block headers and the host list of each.
	blocks := func(t *testing.T, stdout string) ([]string, [][]string) {
		t.Helper()
		var heads []string
		var lists [][]string
		for _, m := range regexp.MustCompile(`(?m)^(\S+)(?: \(\+[\d,]+ more\))? \(([\d,]+)\): (.+)$`).FindAllStringSubmatch(stdout, -1) {
			heads = append(heads, m[2]+": "+m[3])
			lists = append(lists, expandNodeset(t, m[1]))
		}
		return heads, lists
	}
	out := runWith(t, ctx, opts)
	if out.code != ExitOK {
		t.Fatalf("exit %d\n%s%s", out.code, out.stdout, out.stderr)
	}
	heads, lists := blocks(t, out.stdout)
	if want := []string{"1,120: HTTP 200", "280: HTTP 503"}; !slices.Equal(heads, want) || !slices.Equal(lists[0], ok) || !slices.Equal(lists[1], busy) {
		t.Fatalf("blocks %q, want %q with every host:\n%.3000s", heads, want, out.stdout)
	}
	if !strings.Contains(out.stdout, "body:\nsame\n") {
		t.Errorf("no body:\n%.2000s", out.stdout)
	}

	o := opts
	o.ExpectStatus = "2xx"
	out = runWith(t, ctx, o)
	if out.code != ExitFailures {
		t.Fatalf("exit %d\n%s%s", out.code, out.stdout, out.stderr)
	}
	heads, lists = blocks(t, out.stdout)
	if want := []string{"280: HTTP 503, failed (expectation)", "1,120: HTTP 200"}; !slices.Equal(heads, want) ||
		!slices.Equal(lists[0], busy) || !slices.Equal(lists[1], ok) {
		t.Fatalf("blocks %q, want %q with every host", heads, want)
	}

	// salvo aggregate --max-hosts beyond the hosts the answer lists: the
	// first ones are paged by the group's index.
	e := jobsEnvOf(t, node.URL, submittedID(t, out.stderr))
	res := e.run(t, "aggregate", e.id, "--by", "body", "--max-hosts", "1050")
	heads, lists = blocks(t, res.stdout)
	if len(heads) != 2 || !slices.Equal(lists[1], ok[:1050]) || !strings.Contains(res.stdout, " (+70 more) (1,120): HTTP 200\n") {
		t.Errorf("exit %d, blocks %q:\n%.3000s%s", res.code, heads, res.stdout, res.stderr)
	}
}

// expandNodeset expands a folded host list ("a[1-3],b.[01-02].c") in
// order: the test's reading of nodeset.Fold's output.
func expandNodeset(t *testing.T, s string) []string {
	t.Helper()
	var out []string
	depth, start := 0, 0
	for i := 0; i <= len(s); i++ {
		switch {
		case i < len(s) && s[i] == '[':
			depth++
		case i < len(s) && s[i] == ']':
			depth--
		case i == len(s) || (s[i] == ',' && depth == 0):
			out = append(out, expandItem(t, s[start:i])...)
			start = i + 1
		}
	}
	return out
}

// expandItem expands one item of a folded list, its brackets from the
// left.
func expandItem(t *testing.T, item string) []string {
	open := strings.IndexByte(item, '[')
	if open < 0 {
		return []string{item}
	}
	end := strings.IndexByte(item, ']')
	if end < open {
		t.Fatalf("bad nodeset item %q", item)
	}
	var out []string
	for _, r := range strings.Split(item[open+1:end], ",") {
		lo, hi, isRange := strings.Cut(r, "-")
		if !isRange {
			hi = lo
		}
		a, err1 := strconv.Atoi(lo)
		b, err2 := strconv.Atoi(hi)
		if err1 != nil || err2 != nil || b < a {
			t.Fatalf("bad range %q in %q", r, item)
		}
		for v := a; v <= b; v++ {
			for _, rest := range expandItem(t, item[end+1:]) {
				out = append(out, fmt.Sprintf("%s%0*d%s", item[:open], len(lo), v, rest))
			}
		}
	}
	return out
}
