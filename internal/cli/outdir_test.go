package cli

import (
	"encoding/csv"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/salvo-sh/salvo/fleet"
	"github.com/salvo-sh/salvo/internal/testutil"
	"github.com/salvo-sh/salvo/job"
)

// TestFileStemHostile: whatever the host, its files stay inside the
// directory, are plain names, and distinct hosts never share one.
func TestFileStemHostile(t *testing.T) {
	long := strings.Repeat("a", 300)
	hosts := []string{
		"10.0.0.1", "web-1.example.com", "WEB-1.Example.com",
		"../../etc/passwd", "..", ".", "...", ".hidden", "a/b", "a%2Fb", `a\b`, "/abs",
		"::1", "[::1]", "fe80::1%eth0", "host\x00name", "host\nname", "host\rname", "\x1b[2Jx",
		"ホスト", "~root", "a_80", "a@b", "a~1", "", " ", "con", "a*b?c", "$(rm -rf /)",
		long, long + "b", long + "c", strings.Repeat("/", 300), strings.Repeat("é", 200),
	}
	dir := t.TempDir()
	outer := filepath.Dir(dir)
	before, _ := os.ReadDir(outer)
	seen := map[string]string{}
	o, err := prepareOutDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i, h := range hosts {
		s := fileStem(h)
		if prev, dup := seen[s]; dup {
			t.Errorf("hosts %q and %q share the stem %q", prev, h, s)
		}
		seen[s] = h
		switch {
		case s == "" || s == "." || s == ".." || strings.HasPrefix(s, "."):
			t.Errorf("fileStem(%q) = %q", h, s)
		case strings.ContainsAny(s, `/\`+"\x00\n\r\x1b"):
			t.Errorf("fileStem(%q) = %q has a separator or a control character", h, s)
		case len(s) > maxStemBytes:
			t.Errorf("fileStem(%q) is %d bytes", h, len(s))
		}
		for _, c := range []byte(s) {
			if c < 0x21 || c > 0x7e {
				t.Errorf("fileStem(%q) = %q has byte %#x", h, s, c)
			}
		}
		if filepath.Dir(filepath.Join(dir, s+".out")) != dir {
			t.Errorf("fileStem(%q) = %q leaves the directory", h, s)
		}
		if err := o.write(&job.Result{Index: i, Host: h, Target: h, Body: "b" + strconv.Itoa(i)}); err != nil {
			t.Errorf("write %q: %v", h, err)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2*len(hosts) {
		t.Errorf("%d files in the directory, want %d", len(entries), 2*len(hosts))
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			t.Errorf("%s is not a regular file", e.Name())
		}
	}
	if after, _ := os.ReadDir(outer); len(after) != len(before) {
		t.Errorf("the directory above got %d entries, had %d", len(after), len(before))
	}
	for _, tc := range []struct{ host, want string }{
		{"10.0.0.1", "10.0.0.1"}, {"../x", "%2E.%2Fx"}, {"a_80", "a%5F80"}, {"::1", "%3A%3A1"}, {"", "%00"},
	} {
		if got := fileStem(tc.host); got != tc.want {
			t.Errorf("fileStem(%q) = %q, want %q", tc.host, got, tc.want)
		}
	}
}

// TestOutDirNames: targets that share a host get [user@]host_port, the
// same target twice ~INDEX; the same results give the same names.
func TestOutDirNames(t *testing.T) {
	results := []job.Result{
		{Index: 0, Host: "h", Target: "http://h:8081/"},
		{Index: 1, Host: "h", Target: "http://h:8082/"},
		{Index: 2, Host: "h", Target: "http://h:8082/"},
		{Index: 3, Host: "h", Target: "alice@h:22"},
		{Index: 4, Host: "h", Target: "bob@h"},
		{Index: 5, Host: "g", Target: "http://g:80/"},
		{Index: 6, Host: "h", Target: "h"},
	}
	want := []string{"h", "h_8082", "h_8082~2", "alice@h_22", "bob@h", "g", "h~6"}
	for run := 0; run < 2; run++ {
		o := &outDir{dir: t.TempDir(), used: map[string]bool{}}
		for i := range results {
			if got := o.stem(&results[i]); got != want[i] {
				t.Errorf("run %d: result %d named %q, want %q", run, i, got, want[i])
			}
		}
	}
}

func TestPrepareOutDir(t *testing.T) {
	base := t.TempDir()
	// The modes the umask lets through.
	probe := filepath.Join(base, "probe")
	if err := os.Mkdir(probe, 0o777); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(probe)
	umask := 0o777 &^ fi.Mode().Perm()

	dir := filepath.Join(base, "a", "b")
	o, err := prepareOutDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o755&^umask {
		t.Errorf("directory: %v %v", fi.Mode(), err)
	}
	if err := o.write(&job.Result{Host: "h", Body: "out", Stderr: "warn", Error: "exit status 3"}); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"h.out": "out", "h.err": "warn\nexit status 3\n"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || string(b) != want {
			t.Errorf("%s = %q, %v; want %q", name, b, err, want)
		}
		if fi, _ := os.Stat(filepath.Join(dir, name)); fi.Mode().Perm() != 0o644&^umask {
			t.Errorf("%s mode %v", name, fi.Mode())
		}
	}
	// Again: the files are overwritten, not appended to.
	o, _ = prepareOutDir(dir)
	if err := o.write(&job.Result{Host: "h", Body: "2"}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "h.out")); string(b) != "2" {
		t.Errorf("h.out = %q after a second write", b)
	}

	file := filepath.Join(base, "file")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{file, filepath.Join(file, "sub"), ""} {
		if _, err := prepareOutDir(d); err == nil {
			t.Errorf("prepareOutDir(%q) accepted", d)
		}
	}
	if _, err := prepareOutDir(file); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("prepareOutDir(file): %v", err)
	}

	// A symbolic link planted where a host's file goes is not followed.
	victim := filepath.Join(base, "victim")
	if err := os.WriteFile(victim, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, filepath.Join(dir, "evil.out")); err != nil {
		t.Fatal(err)
	}
	if err := o.write(&job.Result{Host: "evil", Body: "overwritten"}); err == nil {
		t.Error("wrote through a symbolic link")
	}
	if b, _ := os.ReadFile(victim); string(b) != "keep" {
		t.Errorf("victim = %q", b)
	}
}

// TestResultsOutDir writes a real job's results: one .out and .err per
// target, the refused target's error in its .err.
func TestResultsOutDir(t *testing.T) {
	e := startJobsEnv(t)
	if out := e.run(t, "status", e.id, "--wait", "20s"); out.code != 0 {
		t.Fatalf("status --wait: %d %s", out.code, out.stderr)
	}
	dir := filepath.Join(t.TempDir(), "out")
	out := e.run(t, "results", e.id, "--outdir", dir)
	if out.code != 0 || out.stdout != "" || !strings.Contains(out.stderr, "6 results written to "+dir) {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", out.code, out.stdout, out.stderr)
	}
	checkFleetOutDir(t, dir, okHosts, true)

	okOnly := filepath.Join(t.TempDir(), "ok")
	if out := e.run(t, "results", e.id, "--state", "ok", "--outdir", okOnly); out.code != 0 {
		t.Fatalf("--state ok: exit %d %s", out.code, out.stderr)
	}
	checkFleetOutDir(t, okOnly, okHosts, false)

	file := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if out := e.run(t, "results", e.id, "--outdir", file); out.code != ExitUsage || !strings.Contains(out.stderr, "not a directory") {
		t.Errorf("--outdir FILE: exit %d %s", out.code, out.stderr)
	}
}

// checkFleetOutDir checks the files of n fleet hosts (and of the refused
// 127.0.0.1:1 when refused).
func checkFleetOutDir(t *testing.T, dir string, n int, refused bool) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := 2 * n
	if refused {
		want += 2
	}
	if len(entries) != want {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("files %v, want %d", names, want)
	}
	for i := 0; i < n; i++ {
		host := fleet.HostAddr(i)
		body, err := os.ReadFile(filepath.Join(dir, host+".out"))
		if err != nil || !strings.HasPrefix(string(body), "host="+host+" version=") {
			t.Errorf("%s.out = %q, %v", host, body, err)
		}
		if b, err := os.ReadFile(filepath.Join(dir, host+".err")); err != nil || len(b) != 0 {
			t.Errorf("%s.err = %q, %v", host, b, err)
		}
	}
	if refused {
		if b, err := os.ReadFile(filepath.Join(dir, "127.0.0.1.out")); err != nil || len(b) != 0 {
			t.Errorf("127.0.0.1.out = %q, %v", b, err)
		}
		if b, err := os.ReadFile(filepath.Join(dir, "127.0.0.1.err")); err != nil || !strings.Contains(string(b), "refused") || !strings.HasSuffix(string(b), "\n") {
			t.Errorf("127.0.0.1.err = %q, %v", b, err)
		}
	}
}

// TestRunOutDirAndCSV runs a real job with --output csv --outdir.
func TestRunOutDirAndCSV(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	f := testutil.StartFleet(t, func(c *fleet.Config) { c.Hosts = okHosts })
	node := testutil.StartNode(t, nil)
	targets := writeTargets(t, append(fleet.Targets(okHosts, f.Addr().Port), "127.0.0.1:1")...)
	dir := filepath.Join(t.TempDir(), "out")
	out := runWith(t, nil, RunOptions{Server: node.URL, TargetsFile: targets, Path: "/", Output: OutputCSV, OutDir: dir, NoProgress: true})
	if out.code != ExitFailures {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", out.code, out.stdout, out.stderr)
	}
	rows, err := csv.NewReader(strings.NewReader(out.stdout)).ReadAll()
	if err != nil || len(rows) != okHosts+2 || strings.Join(rows[0], ",") != strings.Join(csvHeader, ",") {
		t.Fatalf("csv: %v\n%s", err, out.stdout)
	}
	for i, row := range rows[1:] {
		if row[0] != strconv.Itoa(i) {
			t.Errorf("row %d: %q", i, row)
		}
	}
	if last := rows[len(rows)-1]; last[1] != "127.0.0.1" || last[2] != job.StateError {
		t.Errorf("last row %q", last)
	}
	checkFleetOutDir(t, dir, okHosts, true)
	if !strings.Contains(out.stderr, "6 results written to "+dir) {
		t.Errorf("stderr:\n%s", out.stderr)
	}

	// An --outdir that is a file is refused before the job is submitted.
	srv := newFakeServer(t, nil)
	file := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	out = runWith(t, nil, RunOptions{Server: srv.URL(), TargetsFile: writeTargets(t, "10.0.0.1"), OutDir: file})
	if out.code != ExitUsage || !strings.Contains(out.stderr, "not a directory") {
		t.Errorf("--outdir FILE: exit %d %s", out.code, out.stderr)
	}
	srv.mu.Lock()
	n := len(srv.specs)
	srv.mu.Unlock()
	if n != 0 {
		t.Errorf("%d jobs submitted with an unusable --outdir", n)
	}
}
