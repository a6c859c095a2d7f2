package cli

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/salvo-sh/salvo/fleet"
	"github.com/salvo-sh/salvo/internal/testutil"
)

// interruptAfter sends SIGINT on ints each time an id arrives on ready,
// up to n times, and stops when ctx ends.
func interruptAfter(ctx context.Context, ints chan<- os.Signal, n int, ready ...<-chan string) {
	go func() {
		for i := 0; i < n; i++ {
			select {
			case <-ready[min(i, len(ready)-1)]:
				ints <- os.Interrupt
			case <-ctx.Done():
				return
			}
		}
	}()
}

func TestRunCtrlC(t *testing.T) {
	tests := []struct {
		name      string
		configure func(*fakeServer)
		twice     bool
		code      int
		stderr    []string
		stdout    []string
	}{
		{"first cancels and waits for the end", func(s *fakeServer) { s.hold = true }, false, ExitCancelled,
			[]string{"salvo run: cancelling job job-1 (Ctrl-C again to leave at once)", "cancelled"},
			[]string{"state cancelled"}},
		{"second leaves at once", func(s *fakeServer) { s.hold, s.cancelHold = true, true }, true, ExitInterrupted,
			[]string{"cancelling job job-1", "leaving now; job job-1 may still be cancelling"}, nil},
		{"cancel fails", func(s *fakeServer) {
			s.hold, s.cancelErr = true, &APIError{Status: 503, Message: "store unavailable"}
		}, false, ExitUnreachable,
			[]string{"cannot cancel job job-1: cancel job: server answered 503: store unavailable", "salvo cancel job-1"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFakeServer(t, tc.configure)
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			ints := make(chan os.Signal, 2)
			if tc.twice {
				interruptAfter(ctx, ints, 2, srv.eventsOpened, srv.cancelSeen)
			} else {
				interruptAfter(ctx, ints, 1, srv.eventsOpened)
			}
			out := runWith(t, ctx, RunOptions{Server: srv.URL(), TargetsFile: writeTargets(t, "10.0.0.1", "10.0.0.2"),
				Interrupts: ints, Client: fastClient()})
			if out.code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", out.code, tc.code, out.stdout, out.stderr)
			}
			if got := srv.cancelled(); len(got) != 1 || got[0] != "job-1" {
				t.Errorf("cancels %v, want one of job-1", got)
			}
			for _, s := range tc.stderr {
				if !strings.Contains(out.stderr, s) {
					t.Errorf("stderr lacks %q:\n%s", s, out.stderr)
				}
			}
			for _, s := range tc.stdout {
				if !strings.Contains(out.stdout, s) {
					t.Errorf("stdout lacks %q:\n%s", s, out.stdout)
				}
			}
			if tc.stdout == nil && out.stdout != "" {
				t.Errorf("stdout not empty:\n%s", out.stdout)
			}
		})
	}
}

// TestInterruptOutsideFollowEndsCommand: a SIGINT no follower listens for
// ends the context, as a plain Ctrl-C would.
func TestInterruptOutsideFollowEndsCommand(t *testing.T) {
	ints := make(chan os.Signal, 1)
	ctx, stop := withInterrupts(context.Background(), ints)
	defer stop()
	ints <- syscall.SIGINT
	select {
	case <-ctx.Done():
	case <-time.After(testTimeout):
		t.Fatal("the context did not end")
	}
	// Claimed, a SIGINT goes to the follower and leaves the context be.
	ints2 := make(chan os.Signal, 1)
	ctx2, stop2 := withInterrupts(context.Background(), ints2)
	defer stop2()
	got, release := claimInterrupts(ctx2)
	ints2 <- syscall.SIGINT
	select {
	case <-got:
	case <-time.After(testTimeout):
		t.Fatal("the follower got no SIGINT")
	}
	release()
	if ctx2.Err() != nil {
		t.Fatal("a claimed SIGINT ended the context")
	}
}

// TestStatusWaitCtrlC: a Ctrl-C during `salvo status JOB --wait` cancels a
// job whose hosts answer after a minute; the command waits until the job
// is cancelled (its in-flight requests time out after 2 s) and exits 3.
func TestStatusWaitCtrlC(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	t.Setenv("SALVO_SERVER", "")
	t.Setenv("SALVO_TOKEN", "")
	node := testutil.StartNode(t, nil)
	f := testutil.StartFleet(t, func(c *fleet.Config) {
		c.Hosts, c.LatencyMin, c.LatencyMax, c.ShutdownTimeout = 3, time.Minute, time.Minute, 100*time.Millisecond
	})
	var sub struct {
		ID string `json:"id"`
	}
	if code := testutil.DoJSON(t, "POST", node.URL+"/api/v1/jobs", map[string]any{
		"targets": fleet.Targets(3, f.Addr().Port), "timeouts": map[string]any{"request": "2s"},
	}, &sub); code != 202 {
		t.Fatalf("submit: %d", code)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	ints := make(chan os.Signal, 2)
	ictx, stop := withInterrupts(ctx, ints)
	defer stop()
	r := ictx.Value(interruptRouterKey{}).(*interruptRouter)
	go func() {
		select {
		case <-r.claimed:
			ints <- os.Interrupt
		case <-ctx.Done():
		}
	}()
	var stdout, stderr strings.Builder
	code := runJobCommand(ictx, "status", jobCommands["status"], testAccessFlags,
		[]string{sub.ID, "--wait", "5m", "--server", node.URL}, &stdout, &stderr)
	if code != ExitCancelled {
		t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, ExitCancelled, stdout.String(), stderr.String())
	}
	if !strings.Contains(stdout.String(), "state     cancelled") || !strings.Contains(stderr.String(), "salvo status: cancelling job "+sub.ID) {
		t.Errorf("stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	}
	var st Status
	if code := testutil.DoJSON(t, http.MethodGet, node.URL+"/api/v1/jobs/"+sub.ID, nil, &st); code != 200 || st.State != JobCancelled {
		raw, _ := json.Marshal(st)
		t.Errorf("job after the command: %d %s", code, raw)
	}
}
