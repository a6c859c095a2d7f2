package main

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/creack/pty"

	"github.com/salvo-sh/salvo/fleet"
	"github.com/salvo-sh/salvo/internal/testutil"
)

// ptyProc is the salvo binary run on a pseudo-terminal.
type ptyProc struct {
	cmd    *exec.Cmd
	master *os.File
	done   chan struct{} // closed once the process has exited
	read   chan struct{} // closed once the output is read to its end

	mu      sync.Mutex
	out     strings.Builder
	changed chan struct{} // closed and replaced when output arrives
}

// startPTY runs salvo with args on a terminal of cols columns.
func startPTY(t *testing.T, cols uint16, args ...string) *ptyProc {
	t.Helper()
	bin := testutil.BuildSalvo(t)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+t.TempDir(), "SALVO_SERVER=", "SALVO_TOKEN=")
	master, err := pty.StartWithSize(cmd, &pty.Winsize{Cols: cols, Rows: 24})
	if err != nil {
		t.Fatalf("start on a pty: %v", err)
	}
	p := &ptyProc{cmd: cmd, master: master, done: make(chan struct{}), read: make(chan struct{}), changed: make(chan struct{})}
	go func() {
		defer close(p.read)
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			p.mu.Lock()
			p.out.Write(buf[:n])
			close(p.changed)
			p.changed = make(chan struct{})
			p.mu.Unlock()
			if err != nil {
				return // EIO once the process and its terminal are gone
			}
		}
	}()
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
		master.Close()
		<-p.read
	})
	return p
}

// output returns what the process wrote so far, and a channel closed when
// more comes.
func (p *ptyProc) output() (string, <-chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String(), p.changed
}

// waitFor waits until the output matches re and returns the output.
func (p *ptyProc) waitFor(t *testing.T, re *regexp.Regexp, timeout time.Duration) string {
	t.Helper()
	deadline := time.After(timeout)
	for {
		out, changed := p.output()
		if re.MatchString(out) {
			return out
		}
		select {
		case <-changed:
		case <-p.read:
			if out, _ := p.output(); re.MatchString(out) {
				return out
			}
			t.Fatalf("exited without %s in its output:\n%q", re, out)
		case <-deadline:
			t.Fatalf("no %s in the output after %s:\n%q", re, timeout, out)
		}
	}
}

// exit waits for the process to end and returns its exit code and output.
func (p *ptyProc) exit(t *testing.T, timeout time.Duration) (int, string) {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		out, _ := p.output()
		t.Fatalf("still running after %s:\n%q", timeout, out)
	}
	select {
	case <-p.read:
	case <-time.After(timeout):
		t.Fatal("the terminal's output did not end")
	}
	out, _ := p.output()
	return p.cmd.ProcessState.ExitCode(), out
}

func writeTargetsFile(t *testing.T, targets []string) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "targets.txt")
	if err := os.WriteFile(file, []byte(strings.Join(targets, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

var jobSubmitted = regexp.MustCompile(`job (\S+) submitted`)

// TestTerminalNarrow runs a job in a 40-column terminal: the progress is
// redrawn in place ('\r', no newline between redraws) on lines of at most
// 39 columns, so that the terminal never wraps them.
func TestTerminalNarrow(t *testing.T) {
	node := testutil.StartNode(t, nil)
	f := testutil.StartFleet(t, func(c *fleet.Config) {
		c.Hosts, c.LatencyMin, c.LatencyMax = 30, 100*time.Millisecond, 600*time.Millisecond
	})
	dir := filepath.Join(t.TempDir(), "out")
	p := startPTY(t, 40, "run", "--server", node.URL, "--targets-file", writeTargetsFile(t, fleet.Targets(30, f.Addr().Port)),
		"--path", "/", "--concurrency", "3", "--outdir", dir)
	code, out := p.exit(t, 2*time.Minute)
	if code != 0 {
		t.Fatalf("exit %d:\n%q", code, out)
	}
	// The redraws: from the line after "job … submitted" to the last erase.
	sub := jobSubmitted.FindStringIndex(out)
	last := strings.LastIndex(out, "\x1b[K")
	if sub == nil || last < sub[1] {
		t.Fatalf("no progress after the job's line:\n%q", out)
	}
	begin := sub[1] + strings.Index(out[sub[1]:], "\n") + 1
	region := out[begin:last]
	if strings.Contains(region, "\n") {
		t.Errorf("a newline between redraws:\n%q", region)
	}
	redraws := 0
	for _, line := range strings.Split(region, "\r") {
		line = strings.ReplaceAll(line, "\x1b[K", "")
		if line == "" {
			continue
		}
		redraws++
		if n := utf8.RuneCountInString(line); n > 39 {
			t.Errorf("a line of %d columns in a 40-column terminal: %q", n, line)
		}
	}
	if redraws < 3 {
		t.Errorf("%d redraws:\n%q", redraws, region)
	}
	if !strings.Contains(out, "30 results written to "+dir) {
		t.Errorf("no --outdir line:\n%q", out)
	}
	if entries, err := os.ReadDir(dir); err != nil || len(entries) != 60 {
		t.Errorf("%d files in --outdir, want 60: %v", len(entries), err)
	}
}

// slowJob starts a node and a fleet whose hosts answer after a minute, and
// salvo run of 3 of them with request timeout timeout on a terminal; it
// returns once the progress is drawn (the Ctrl-C handler is then set).
func slowJob(t *testing.T, timeout string) (p *ptyProc, nodeURL, id string) {
	t.Helper()
	node := testutil.StartNode(t, nil)
	// Started last, closed first: its held requests end before the node stops.
	f := testutil.StartFleet(t, func(c *fleet.Config) {
		c.Hosts, c.LatencyMin, c.LatencyMax, c.ShutdownTimeout = 3, time.Minute, time.Minute, 100*time.Millisecond
	})
	p = startPTY(t, 100, "run", "--server", node.URL, "--targets-file", writeTargetsFile(t, fleet.Targets(3, f.Addr().Port)),
		"--path", "/", "--timeout", timeout)
	out := p.waitFor(t, regexp.MustCompile(`\x1b\[K`), time.Minute)
	m := jobSubmitted.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no job id:\n%q", out)
	}
	return p, node.URL, m[1]
}

func jobState(t *testing.T, nodeURL, id string) string {
	t.Helper()
	var st struct {
		State string `json:"state"`
	}
	if code := testutil.DoJSON(t, http.MethodGet, nodeURL+"/api/v1/jobs/"+id, nil, &st); code != 200 {
		t.Fatalf("status of %s: %d", id, code)
	}
	return st.State
}

// TestTerminalCtrlC: a Ctrl-C cancels the job and waits for its in-flight
// requests (3 s timeout) to end: the summary is the cancelled job's, the
// exit status 3, and the job is cancelled on the server, not left running.
func TestTerminalCtrlC(t *testing.T) {
	p, nodeURL, id := slowJob(t, "3s")
	if _, err := p.master.Write([]byte{3}); err != nil { // ^C: the line discipline sends SIGINT
		t.Fatal(err)
	}
	p.waitFor(t, regexp.MustCompile(`cancelling, \d+ in flight`), 30*time.Second)
	code, out := p.exit(t, time.Minute)
	if code != 3 {
		t.Fatalf("exit %d, want 3:\n%q", code, out)
	}
	for _, s := range []string{"salvo run: cancelling job " + id + " (Ctrl-C again to leave at once)", "state cancelled"} {
		if !strings.Contains(out, s) {
			t.Errorf("output lacks %q:\n%q", s, out)
		}
	}
	if st := jobState(t, nodeURL, id); st != "cancelled" {
		t.Errorf("job %s is %s after salvo run exited, want cancelled", id, st)
	}
}

// TestTerminalCtrlCTwice: a second Ctrl-C leaves at once (exit 130) while
// the job's requests (30 s timeout) are still in flight.
func TestTerminalCtrlCTwice(t *testing.T) {
	p, nodeURL, id := slowJob(t, "30s")
	if _, err := p.master.Write([]byte{3}); err != nil {
		t.Fatal(err)
	}
	p.waitFor(t, regexp.MustCompile(`cancel of job \S+ accepted`), 30*time.Second)
	start := time.Now()
	if _, err := p.master.Write([]byte{3}); err != nil {
		t.Fatal(err)
	}
	code, out := p.exit(t, 10*time.Second)
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("left %s after the second Ctrl-C", took)
	}
	if code != 130 {
		t.Fatalf("exit %d, want 130:\n%q", code, out)
	}
	if !strings.Contains(out, "leaving now; job "+id+" may still be cancelling") {
		t.Errorf("output:\n%q", out)
	}
	if st := jobState(t, nodeURL, id); st != "cancelling" {
		t.Errorf("job %s is %s, want cancelling (its requests are in flight for 30 s)", id, st)
	}
}
