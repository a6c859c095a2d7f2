// Package testutil starts real salvo parts for tests: an in-process fleet,
// an in-process node (store, engine, API on a loopback listener), and the
// salvo binary as a child process.
package testutil

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/salvo-sh/salvo/actors"
	"github.com/salvo-sh/salvo/fleet"
	"github.com/salvo-sh/salvo/httpapi"
	"github.com/salvo-sh/salvo/store"
)

// Logger returns a logger that writes to the test log at warn level and above.
func Logger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// StartFleet starts an in-process fleet on 0.0.0.0 with a free port and
// closes it when the test ends.
func StartFleet(t testing.TB, mod func(*fleet.Config)) *fleet.Fleet {
	t.Helper()
	cfg := fleet.DefaultConfig()
	if mod != nil {
		mod(&cfg)
	}
	f, err := fleet.New(cfg)
	if err != nil {
		t.Fatalf("fleet: %v", err)
	}
	if err := f.Start(); err != nil {
		t.Fatalf("fleet start: %v", err)
	}
	t.Cleanup(func() { _ = f.Close() })
	return f
}

// Node is an in-process salvo node.
type Node struct {
	URL      string
	Engine   *actors.Engine
	Store    store.Store
	Registry *prometheus.Registry
	Dir      string
}

// StartNode starts a store, an engine and the API on a loopback listener,
// and stops them when the test ends.
func StartNode(t testing.TB, mod func(*actors.Config)) *Node {
	t.Helper()
	dir := t.TempDir()
	st, err := store.OpenSQLite(store.DefaultSQLiteConfig(dir))
	if err != nil {
		t.Fatalf("store: %v", err)
	}
	reg := prometheus.NewRegistry()
	cfg := actors.DefaultConfig()
	cfg.Name = "node-a"
	cfg.Logger = Logger(t)
	cfg.Metrics = actors.NewMetrics(reg)
	if mod != nil {
		mod(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	eng, err := actors.NewEngine(ctx, cfg, st)
	if err != nil {
		t.Fatalf("engine: %v", err)
	}
	ac := httpapi.DefaultConfig()
	ac.Gatherer, ac.Logger = reg, cfg.Logger
	ac.MaxRequestBytes, ac.MaxTargets = 1<<20, cfg.MaxTargets
	api := httpapi.New(ac, eng, st)
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := eng.Shutdown(ctx); err != nil {
			t.Errorf("engine shutdown: %v", err)
		}
		api.Close()
		srv.Close()
		if err := st.Close(); err != nil {
			t.Errorf("store close: %v", err)
		}
	})
	return &Node{URL: srv.URL, Engine: eng, Store: st, Registry: reg, Dir: dir}
}

// WaitJob waits until a job is terminal and returns its final status.
func WaitJob(t testing.TB, eng *actors.Engine, id string, timeout time.Duration) *actors.JobStatus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	st, err := eng.Wait(ctx, id)
	if err != nil {
		t.Fatalf("status %s: %v", id, err)
	}
	if !st.Terminal() {
		t.Fatalf("job %s not finished after %s: %+v", id, timeout, st)
	}
	return st
}

// DoJSON sends a request with an optional JSON body and decodes a JSON
// answer into out (when not nil). It returns the status code.
func DoJSON(t testing.TB, method, url string, body any, out any) int {
	t.Helper()
	code, err := TryJSON(method, url, body, out)
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// TryJSON is DoJSON returning its failure (a node that does not answer,
// a body that is not JSON) instead of failing the test; a request times
// out after 60 s.
func TryJSON(method, url string, body any, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		switch b := body.(type) {
		case string:
			rd = strings.NewReader(b)
		case []byte:
			rd = strings.NewReader(string(b))
		default:
			buf, err := json.Marshal(b)
			if err != nil {
				return 0, fmt.Errorf("marshal: %w", err)
			}
			rd = strings.NewReader(string(buf))
		}
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return 0, fmt.Errorf("request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	c := &http.Client{Timeout: 60 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return 0, fmt.Errorf("%s %s: %w", method, url, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, fmt.Errorf("%s %s: read body: %w", method, url, err)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: decode %q: %w", method, url, raw, err)
		}
	}
	return resp.StatusCode, nil
}

// BuildSalvo builds the salvo binary with the race detector once per test
// process and returns its path.
func BuildSalvo(t testing.TB) string {
	t.Helper()
	return raceBuild.build(t, "-race")
}

// BuildSalvoNoRace is BuildSalvo without the race detector, for tests that
// measure the process's memory (the detector's shadow memory would count
// in its RSS).
func BuildSalvoNoRace(t testing.TB) string {
	t.Helper()
	return plainBuild.build(t)
}

// binary is one build of cmd/salvo, made once per test process.
type binary struct {
	once sync.Once
	path string
	err  error
}

var raceBuild, plainBuild binary

func (b *binary) build(t testing.TB, flags ...string) string {
	t.Helper()
	b.once.Do(func() {
		dir, err := os.MkdirTemp("", "salvo-bin-")
		if err != nil {
			b.err = err
			return
		}
		b.path = filepath.Join(dir, "salvo")
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..")
		args := append(append([]string{"build"}, flags...), "-o", b.path, "./cmd/salvo")
		cmd := exec.Command("go", args...)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if b.err != nil {
		t.Fatalf("%v", b.err)
	}
	return b.path
}

// Process is a salvo child process.
type Process struct {
	Cmd  *exec.Cmd
	Addr string // the API address it logged, for servers
	done chan struct{}
	err  error
	mu   sync.Mutex
	log  strings.Builder
}

// StartServer starts `salvo server` with JSON logs and waits until it
// listens; it is killed when the test ends.
func StartServer(t testing.TB, bin string, args ...string) *Process {
	t.Helper()
	args = append([]string{"server", "--http-addr", "127.0.0.1:0", "--log-format", "json"}, args...)
	cmd := exec.Command(bin, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &Process{Cmd: cmd, done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start salvo server: %v", err)
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.log.WriteString(line + "\n")
			p.mu.Unlock()
			var m struct {
				Msg  string `json:"msg"`
				Addr string `json:"addr"`
			}
			if json.Unmarshal([]byte(line), &m) == nil && m.Msg == "listening" {
				select {
				case addr <- m.Addr:
				default:
				}
			}
		}
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("server log:\n%s", p.Log())
		}
	})
	select {
	case p.Addr = <-addr:
	case <-p.done:
		t.Fatalf("salvo server exited before listening: %v\n%s", p.err, p.Log())
	case <-time.After(60 * time.Second):
		t.Fatalf("salvo server did not listen within 60s\n%s", p.Log())
	}
	return p
}

// Log returns what the process wrote to stderr so far.
func (p *Process) Log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// URL is the server's base URL.
func (p *Process) URL() string { return "http://" + p.Addr }

// Wait waits for the process to exit and returns its error.
func (p *Process) Wait(timeout time.Duration) error {
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		return fmt.Errorf("process did not exit within %s", timeout)
	}
}

// RunServerToExit runs `salvo server` with args and waits (bounded) for it
// to exit, returning its combined output; for nodes that must fail to start.
func RunServerToExit(t testing.TB, bin string, timeout time.Duration, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	args = append([]string{"server", "--http-addr", "127.0.0.1:0"}, args...)
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	return string(out), err
}
