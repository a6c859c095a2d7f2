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
