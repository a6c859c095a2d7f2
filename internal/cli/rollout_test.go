package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/salvo-sh/salvo/fleet"
	"github.com/salvo-sh/salvo/internal/testutil"
	"github.com/salvo-sh/salvo/job"
)

// lockedBuffer is a bytes.Buffer written by one goroutine and read by
// another.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// The rollout flags make the spec's rollout, checked as the server does.
func TestRolloutFlags(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    RolloutOptions
		spec *job.Rollout // the spec file's
		want string       // the rollout as JSON, or the usage error
	}{
		{"sizes and a share", RolloutOptions{Batches: "1, 5%,100%", MaxFail: "5%", Pause: 30 * time.Second, Approve: true}, nil,
			`{"batches":[1,"5%","100%"],"pause":"30s","maxFailurePercent":5,"approve":true}`},
		{"a count", RolloutOptions{Batches: "10", MaxFail: "10"}, nil, `{"batches":[10],"maxFailures":10}`},
		{"over the spec's", RolloutOptions{MaxFail: "3"}, &job.Rollout{Batches: []job.BatchSize{"2"}, Approve: true},
			`{"batches":[2],"maxFailures":3,"approve":true}`},
		{"no batches", RolloutOptions{MaxFail: "5%"}, nil, "need --batches"},
		{"zero", RolloutOptions{Batches: "1,0"}, nil, "--batches: count 0 must be at least 1"},
		{"over 100%", RolloutOptions{Batches: "150%"}, nil, "--batches: share \"150%\" is above 100%"},
		{"empty", RolloutOptions{Batches: ","}, nil, "--batches \",\""},
		{"bad max-fail", RolloutOptions{Batches: "1", MaxFail: "many"}, nil, "--max-fail \"many\""},
		{"max-fail over 100%", RolloutOptions{Batches: "1", MaxFail: "120%"}, nil, "--max-fail: 120 is out of range 0..100"},
		{"negative pause", RolloutOptions{Batches: "1", Pause: -time.Second}, nil, "--pause -1s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := &job.Spec{Rollout: tc.spec}
			err := applyRolloutFlags(spec, tc.o)
			if strings.HasPrefix(tc.want, "{") {
				if err != nil {
					t.Fatal(err)
				}
				b, _ := json.Marshal(spec.Rollout)
				if string(b) != tc.want {
					t.Errorf("rollout %s, want %s", b, tc.want)
				}
				return
			}
			var ue *usageError
			if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want a usage error with %q", err, tc.want)
			}
		})
	}
}

// salvo run --batches … --approve through a real node: the progress says
// the batch, the paused job says how to go on, salvo resume goes on, and
// the job ends gathered; over its budget the job fails (exit 3).
func TestRunRollout(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	t.Setenv("SALVO_SERVER", "")
	t.Setenv("SALVO_TOKEN", "")
	const hosts = 6
	f := testutil.StartFleet(t, func(c *fleet.Config) { c.Hosts = hosts })
	node := testutil.StartNode(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()

	var stdout, stderr lockedBuffer
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, RunOptions{Server: node.URL, Targets: fleet.Targets(hosts, f.Addr().Port),
			Rollout: RolloutOptions{Batches: "2,100%", MaxFail: "0", Approve: true}, Client: fastClient()}, &stdout, &stderr)
	}()
	resume := regexp.MustCompile(`job (\S+) is paused after batch 1/2: go on with salvo resume (\S+) `)
	var id string
	for i := 0; ; i++ {
		if m := resume.FindStringSubmatch(stderr.String()); m != nil {
			id = m[2]
			break
		}
		if i > 1000 {
			t.Fatalf("salvo run never said how to resume:\n%s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond) // salvo run's output has no other signal
	}
	env := jobsEnv{url: node.URL, id: id}
	if out := env.run(t, "status", id); out.code != 0 || !strings.Contains(out.stdout, "rollout   batch 1/2 (approval)") ||
		!strings.Contains(out.stdout, "batch 1   targets 0-1 done: ok 2") || !strings.Contains(out.stdout, "maxFailures 0; 0 more allowed") {
		t.Errorf("status of the paused job: %d\n%s%s", out.code, out.stdout, out.stderr)
	}
	if out := env.run(t, "pause", id); out.code != ExitJobError || !strings.Contains(out.stderr, "already paused") {
		t.Errorf("pause of a paused job: %d %s", out.code, out.stderr)
	}
	if out := env.run(t, "resume", id); out.code != 0 || !strings.Contains(out.stdout, "id        "+id) {
		t.Errorf("resume: %d\n%s%s", out.code, out.stdout, out.stderr)
	}
	select {
	case code := <-done:
		if code != ExitOK || !strings.Contains(stdout.String(), "state gathered") || !strings.Contains(stderr.String(), "batch 1/2") {
			t.Errorf("salvo run: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
		}
	case <-ctx.Done():
		t.Fatalf("salvo run did not end after the resume:\n%s", stderr.String())
	}
	if out := env.run(t, "resume", id); out.code != ExitJobError || !strings.Contains(out.stderr, "finished") {
		t.Errorf("resume of a finished job: %d %s", out.code, out.stderr)
	}

	// Over budget: batch 1's refused target stops the job.
	targets := append([]string{"127.0.0.1:1"}, fleet.Targets(hosts, f.Addr().Port)...)
	out := runWith(t, nil, RunOptions{Server: node.URL, Targets: targets, NoProgress: true,
		Rollout: RolloutOptions{Batches: "3", MaxFail: "10%"}, Client: fastClient()})
	if out.code != ExitCancelled || !strings.Contains(out.stdout, "rollout stopped after batch 1/3") {
		t.Errorf("over budget: exit %d\nstdout:\n%s\nstderr:\n%s", out.code, out.stdout, out.stderr)
	}
}
