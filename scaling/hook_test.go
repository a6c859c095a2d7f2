//go:build unix

package scaling

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/salvo-sh/salvo/actors"
	"github.com/salvo-sh/salvo/conf"
)

func testDoc() *Document {
	return &Document{Tag: "T", Direction: DirectionDown, Change: -1, Current: 3, Desired: 2, Worker: "w-2",
		Reason: "idle", Load: actors.TagLoad{Tag: "T", Waiting: 0, Workers: 3}, Time: t0}
}

// An exec hook gets the document on its standard input and its figures as
// SALVO_SCALE_*, without the node's salvo server settings.
func TestExecHookGetsTheDocument(t *testing.T) {
	t.Setenv("SALVO_DATA_DIR", "/the/masters/data")
	t.Setenv("SALVO_TOKEN", "kept")
	dir := t.TempDir()
	line := `cat > "$OUT/doc.json"; env | grep '^SALVO_' | sort > "$OUT/env"; echo started "$SALVO_SCALE_WORKER"`
	t.Setenv("OUT", dir)
	out, err := RunHook(context.Background(), conf.ScalingHook{Exec: line, Timeout: 10 * time.Second}, testDoc())
	if err != nil {
		t.Fatal(err)
	}
	if out != "started w-2" {
		t.Errorf("output %q", out)
	}
	b, err := os.ReadFile(filepath.Join(dir, "doc.json"))
	if err != nil {
		t.Fatal(err)
	}
	var got Document
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("the document on stdin: %v: %s", err, b)
	}
	if want := testDoc(); got.Tag != want.Tag || got.Worker != want.Worker || got.Desired != 2 || !got.Time.Equal(want.Time) || got.Load.Workers != 3 {
		t.Errorf("document %+v, want %+v", got, want)
	}
	env, err := os.ReadFile(filepath.Join(dir, "env"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"SALVO_SCALE_TAG=T\n", "SALVO_SCALE_DIRECTION=down\n", "SALVO_SCALE_CHANGE=-1\n",
		"SALVO_SCALE_CURRENT=3\n", "SALVO_SCALE_DESIRED=2\n", "SALVO_SCALE_WORKER=w-2\n", "SALVO_TOKEN=kept\n"} {
		if !strings.Contains(string(env), want) {
			t.Errorf("environment lacks %q:\n%s", want, env)
		}
	}
	if strings.Contains(string(env), "SALVO_DATA_DIR") {
		t.Errorf("the hook got the master's SALVO_DATA_DIR:\n%s", env)
	}
}

// A hook that exits non-zero fails, with its output.
func TestExecHookFails(t *testing.T) {
	out, err := RunHook(context.Background(), conf.ScalingHook{Exec: "echo no capacity >&2; exit 3"}, testDoc())
	var ee interface{ ExitCode() int }
	if !errors.As(err, &ee) || ee.ExitCode() != 3 || out != "no capacity" {
		t.Fatalf("got %q, %v; want exit 3 with the output", out, err)
	}
}

// Past its timeout a hook's whole process group is killed: the hook and
// what it started.
func TestExecHookTimeoutKillsTheGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "child")
	line := `sleep 60 & echo $! > "` + pidFile + `"; wait`
	start := time.Now()
	_, err := RunHook(context.Background(), conf.ScalingHook{Exec: line, Timeout: 300 * time.Millisecond}, testDoc())
	took := time.Since(start)
	if err == nil || !strings.Contains(err.Error(), "longer than its timeout 300ms") {
		t.Fatalf("err %v, want the timeout", err)
	}
	if took > 300*time.Millisecond+hookWaitDelay+2*time.Second {
		t.Errorf("RunHook returned after %s", took)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		// A killed child is a zombie until its parent (the killed shell,
		// then init) reaps it: look at its state.
		if st, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); err == nil && strings.Contains(string(st), ") Z ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the hook's child %d still runs after the timeout", pid)
		}
		time.Sleep(10 * time.Millisecond) // another process's end: nothing to wait on
	}
}

// A hook that leaves a background process holding its output still
// succeeds, once hookWaitDelay has passed.
func TestExecHookLeavingABackgroundProcess(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "child")
	_, err := RunHook(context.Background(), conf.ScalingHook{Exec: `sleep 30 & echo $! > "` + pidFile + `"`, Timeout: 10 * time.Second}, testDoc())
	if b, rerr := os.ReadFile(pidFile); rerr == nil {
		if pid, _ := strconv.Atoi(strings.TrimSpace(string(b))); pid > 0 {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	if err != nil {
		t.Fatalf("err %v", err)
	}
}

// A webhook gets the document as a POST; an answer that is not 2xx fails,
// and the error does not repeat the URL (it may hold a token).
func TestWebhook(t *testing.T) {
	var got Document
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		b, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(b, &got)
		w.WriteHeader(status)
		_, _ = w.Write([]byte("ok"))
	}))
	defer srv.Close()
	url := srv.URL + "/scale?token=s3cret"
	if out, err := RunHook(context.Background(), conf.ScalingHook{Webhook: url}, testDoc()); err != nil || out != "ok" || got.Worker != "w-2" {
		t.Fatalf("got %q, %v, %+v", out, err, got)
	}
	status = http.StatusBadGateway
	if _, err := RunHook(context.Background(), conf.ScalingHook{Webhook: url}, testDoc()); err == nil || !strings.Contains(err.Error(), "502") {
		t.Fatalf("err %v, want 502", err)
	}
	srv.Close()
	_, err := RunHook(context.Background(), conf.ScalingHook{Webhook: url}, testDoc())
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("err %v: want an error without the URL", err)
	}
}
