package store

import (
	"context"
	"testing"
	"time"

	"github.com/salvo-sh/salvo/job"
)

// SecretsRedacted is a column of its own, kept through UpdateJob, and
// computed for the rows of a version 2 file when it is migrated.
func TestJobSecretsRedacted(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cfg := DefaultSQLiteConfig(dir)
	s, err := OpenSQLite(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mk := func(id string, secrets bool, spec *job.Spec) {
		t.Helper()
		j := &Job{ID: id, Spec: spec, SecretsRedacted: secrets, State: JobWaiting, Total: 1, CreatedAt: time.Now()}
		if err := s.CreateJob(ctx, j, []job.TargetSpec{{Host: "h"}}, 10); err != nil {
			t.Fatal(err)
		}
		j.State = JobProcessing
		if err := s.UpdateJob(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	body := &job.Spec{HTTP: &job.HTTPSpec{Body: job.Redacted}} // the text, no secret
	secret := &job.Spec{HTTP: &job.HTTPSpec{Headers: map[string]string{"Authorization": job.Redacted}}}
	mk("plain", false, body)
	mk("secret", true, secret)
	for id, want := range map[string]bool{"plain": false, "secret": true} {
		j, err := s.GetJob(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if j.SecretsRedacted != want {
			t.Errorf("job %s: SecretsRedacted %v, want %v", id, j.SecretsRedacted, want)
		}
	}

	// Make the file a version 2 one: no secrets column.
	if _, err := s.w.ExecContext(ctx, `ALTER TABLE jobs DROP COLUMN secrets`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.w.ExecContext(ctx, `PRAGMA user_version = 2`); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = OpenSQLite(cfg)
	if err != nil {
		t.Fatalf("open a version 2 file: %v", err)
	}
	defer s.Close()
	var v int
	if err := s.r.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil || v != schemaVersion {
		t.Fatalf("schema version %d (%v), want %d", v, err, schemaVersion)
	}
	// A version 2 row said "secrets lost" only by the redaction marker in
	// its spec: the migration keeps that meaning for old rows.
	for id, want := range map[string]bool{"plain": true, "secret": true} {
		j, err := s.GetJob(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if j.SecretsRedacted != want {
			t.Errorf("migrated job %s: SecretsRedacted %v, want %v", id, j.SecretsRedacted, want)
		}
	}
}

// The aggregate of a terminal job is computed once and read back after:
// a result stored after the end (which the master never does) does not
// show, and the groups are the same.
func TestAggregateOfATerminalJobIsKept(t *testing.T) {
	ctx := context.Background()
	s, err := OpenSQLite(DefaultSQLiteConfig(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	j := &Job{ID: "done", Spec: &job.Spec{}, State: JobProcessing, Total: 3, CreatedAt: time.Now()}
	if err := s.CreateJob(ctx, j, []job.TargetSpec{{Host: "a"}, {Host: "b"}, {Host: "c"}}, 10); err != nil {
		t.Fatal(err)
	}
	put := func(i int, v string) {
		t.Helper()
		if _, err := s.PutResults(ctx, "done", []job.Result{{Index: i, Host: string(rune('a' + i)), State: job.StateOK, Value: v}}); err != nil {
			t.Fatal(err)
		}
	}
	put(0, "v1")
	put(1, "v1")
	live, err := s.Aggregate(ctx, "done", ByValue, 10)
	if err != nil || len(live) != 1 || live[0].Count != 2 {
		t.Fatalf("running job's aggregate: %+v %v", live, err)
	}
	put(2, "v2")
	j.State = JobGathered
	if err := s.UpdateJob(ctx, j); err != nil {
		t.Fatal(err)
	}
	first, err := s.Aggregate(ctx, "done", ByValue, 10)
	if err != nil || len(first) != 2 {
		t.Fatalf("terminal job's aggregate: %+v %v", first, err)
	}
	put(3, "v3") // not a target of the job: only to show the answer is kept
	again, err := s.Aggregate(ctx, "done", ByValue, 1)
	if err != nil || len(again) != 1 || again[0].Value != first[0].Value || again[0].Count != first[0].Count ||
		len(again[0].Indexes) != len(first[0].Indexes) {
		t.Fatalf("kept aggregate %+v %v, want the first group of %+v", again, err, first)
	}
	all, _ := s.Aggregate(ctx, "done", ByValue, 10)
	if len(all) != 2 {
		t.Fatalf("the kept aggregate changed: %+v", all)
	}
}
