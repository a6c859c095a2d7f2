package store

import (
	"context"
	"testing"
	"time"

	"github.com/salvo-sh/salvo/job"
)

// A rollout's progress round-trips through UpdateJob; a paused job is
// unfinished and listed by ?state=; a version 6 file gets the column.
func TestJobRolloutAndPaused(t *testing.T) {
	ctx := context.Background()
	cfg := DefaultSQLiteConfig(t.TempDir())
	s, err := OpenSQLite(cfg)
	if err != nil {
		t.Fatal(err)
	}
	j := &Job{ID: "r1", Spec: &job.Spec{}, State: JobWaiting, Total: 1, CreatedAt: time.Now()}
	if err := s.CreateJob(ctx, j, []job.TargetSpec{{Host: "h"}}, 10); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetJob(ctx, "r1"); err != nil || got.Rollout != nil {
		t.Fatalf("new job: %+v %v", got, err)
	}
	j.State, j.Rollout = JobPaused, []byte(`{"batch":2}`)
	if err := s.UpdateJob(ctx, j); err != nil {
		t.Fatal(err)
	}
	check := func(s *SQLite, want string) {
		t.Helper()
		got, err := s.GetJob(ctx, "r1")
		if err != nil || got.State != JobPaused || string(got.Rollout) != want {
			t.Fatalf("job %+v %v, want paused with rollout %s", got, err, want)
		}
		un, err := s.Unfinished(ctx)
		if err != nil || len(un) != 1 || un[0].ID != "r1" {
			t.Fatalf("unfinished %v %v", un, err)
		}
		page, _, err := s.ListJobs(ctx, JobQuery{State: JobPaused, Limit: 10})
		if err != nil || len(page) != 1 {
			t.Fatalf("paused jobs %v %v", page, err)
		}
	}
	check(s, `{"batch":2}`)

	// A version 6 file: no rollout column.
	if _, err := s.w.ExecContext(ctx, `ALTER TABLE jobs DROP COLUMN rollout`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.w.ExecContext(ctx, `PRAGMA user_version = 6`); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = OpenSQLite(cfg)
	if err != nil {
		t.Fatalf("open a version 6 file: %v", err)
	}
	defer s.Close()
	check(s, "")
}
