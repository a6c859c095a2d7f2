package server

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/salvo-sh/salvo/job"
	"github.com/salvo-sh/salvo/store"
)

// syncBuffer is a bytes.Buffer safe for a logger's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A round deletes the finished jobs older than the retention, with their
// results, in batches, logging one line each; it keeps newer and
// unfinished jobs.
func TestPrunerRound(t *testing.T) {
	ctx := context.Background()
	st, err := store.OpenSQLite(store.DefaultSQLiteConfig(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	mk := func(id, state string, finishedAgo time.Duration) {
		t.Helper()
		j := &store.Job{ID: id, Name: "n-" + id, Spec: &job.Spec{Protocol: job.ProtocolHTTP}, State: state, Counts: map[string]int{},
			CreatedAt: now.Add(-finishedAgo - time.Hour)}
		if store.Terminal(state) {
			j.FinishedAt = now.Add(-finishedAgo)
		}
		if err := st.CreateJob(ctx, j, []job.TargetSpec{{Host: "h1"}, {Host: "h2"}}, 10); err != nil {
			t.Fatal(err)
		}
		if _, err := st.PutResults(ctx, id, []job.Result{{Index: 0, Host: "h1", State: job.StateOK}, {Index: 1, Host: "h2", State: job.StateError}}); err != nil {
			t.Fatal(err)
		}
	}
	day := 24 * time.Hour
	for i, id := range []string{"old1", "old2", "old3", "old4", "old5"} {
		mk(id, store.JobGathered, 31*day+time.Duration(i)*time.Minute)
	}
	mk("old-cancelled", store.JobCancelled, 40*day)
	mk("young", store.JobGathered, 29*day)
	mk("old-running", store.JobProcessing, 60*day)

	var logs syncBuffer
	cfg := DefaultPrunerConfig(30 * day)
	cfg.Batch = 2 // several reads of expired jobs
	cfg.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
	p := &pruner{cfg: cfg, st: st}
	n, err := p.prune(ctx, now)
	if err != nil || n != 6 {
		t.Fatalf("prune: %d %v, want 6 jobs", n, err)
	}
	jobs, _, err := st.ListJobs(ctx, store.JobQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, j := range jobs {
		left = append(left, j.ID)
	}
	slices.Sort(left)
	if !slices.Equal(left, []string{"old-running", "young"}) {
		t.Errorf("left %v, want old-running and young", left)
	}
	if c, _ := st.CountResults(ctx, "old1"); len(c) != 0 {
		t.Errorf("results of a pruned job left: %v", c)
	}
	var pruned []string
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatal(err)
		}
		if m["msg"] == "job pruned" {
			pruned = append(pruned, m["job"].(string))
		}
	}
	if want := []string{"old-cancelled", "old5", "old4", "old3", "old2", "old1"}; !slices.Equal(pruned, want) {
		t.Errorf("logged %v, want one line per job, oldest first: %v", pruned, want)
	}
	if n, err := p.prune(ctx, now); n != 0 || err != nil {
		t.Errorf("a second round: %d %v, want nothing", n, err)
	}

	// MaxJobs bounds a round.
	mk("a", store.JobGathered, 50*day)
	mk("b", store.JobGathered, 50*day)
	p.cfg.MaxJobs = 1
	if n, err := p.prune(ctx, now); n != 1 || err != nil {
		t.Errorf("a bounded round: %d %v, want 1", n, err)
	}
}

// No retention, no pruner; a started one stops.
func TestPrunerStartStop(t *testing.T) {
	st, err := store.OpenSQLite(store.DefaultSQLiteConfig(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if p := startPruner(st, DefaultPrunerConfig(0)); p != nil {
		t.Fatal("a pruner without retention")
	}
	var nilPruner *pruner
	nilPruner.stop()
	cfg := DefaultPrunerConfig(time.Hour)
	cfg.Logger = slog.New(slog.DiscardHandler)
	p := startPruner(st, cfg)
	if p == nil || p.cfg.Interval != 6*time.Minute {
		t.Fatalf("pruner %+v, want a round every 6m", p)
	}
	p.stop()
	select {
	case <-p.done:
	default:
		t.Fatal("stop returned before the pruner ended")
	}
}
