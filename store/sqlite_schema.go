package store

import (
	"context"
	"database/sql"
	"fmt"
)

// schemaVersion is stored in PRAGMA user_version.
const schemaVersion = 1

// schema is the SQLite layout of DESIGN.md §2.5. Times are integers: unix
// milliseconds for jobs, unix microseconds for results, 0 for the zero time.
// Large text columns come last in results so that scans of the small ones
// stop early in each record.
const schema = `
CREATE TABLE IF NOT EXISTS jobs (
	id          TEXT PRIMARY KEY,
	name        TEXT NOT NULL DEFAULT '',
	spec        TEXT NOT NULL,
	state       TEXT NOT NULL,
	reason      TEXT NOT NULL DEFAULT '',
	total       INTEGER NOT NULL DEFAULT 0,
	counts      TEXT NOT NULL DEFAULT '{}',
	created_at  INTEGER NOT NULL,
	started_at  INTEGER NOT NULL DEFAULT 0,
	finished_at INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS jobs_created ON jobs (created_at, id);
CREATE INDEX IF NOT EXISTS jobs_state_created ON jobs (state, created_at, id);

CREATE TABLE IF NOT EXISTS target_chunks (
	job_id  TEXT NOT NULL,
	chunk   INTEGER NOT NULL,
	targets TEXT NOT NULL,
	PRIMARY KEY (job_id, chunk)
);

CREATE TABLE IF NOT EXISTS results (
	job_id      TEXT NOT NULL,
	idx         INTEGER NOT NULL,
	host        TEXT NOT NULL,
	state       TEXT NOT NULL,
	status_code INTEGER NOT NULL,
	exit_code   INTEGER,
	latency_ms  REAL NOT NULL,
	body_bytes  INTEGER NOT NULL,
	truncated   INTEGER NOT NULL,
	error_class TEXT NOT NULL,
	attempts    INTEGER NOT NULL,
	worker      TEXT NOT NULL,
	value       TEXT NOT NULL,
	body_hash   INTEGER NOT NULL,
	started_at  INTEGER NOT NULL,
	finished_at INTEGER NOT NULL,
	target      TEXT NOT NULL,
	error       TEXT NOT NULL,
	stderr      TEXT NOT NULL,
	body        TEXT NOT NULL,
	PRIMARY KEY (job_id, idx)
);
CREATE INDEX IF NOT EXISTS results_host ON results (job_id, host, idx);
CREATE INDEX IF NOT EXISTS results_state ON results (job_id, state, idx);
CREATE INDEX IF NOT EXISTS results_value ON results (job_id, value, idx);

CREATE TABLE IF NOT EXISTS definitions (
	kind TEXT NOT NULL,
	name TEXT NOT NULL,
	body BLOB NOT NULL,
	PRIMARY KEY (kind, name)
);
`

// createSchema creates the tables and indexes when missing and checks the
// schema version.
func createSchema(ctx context.Context, db *sql.DB) error {
	var v int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if v > schemaVersion {
		return fmt.Errorf("schema version %d is newer than this binary's %d", v, schemaVersion)
	}
	// The page size of a new file must be set before WAL mode, which writes
	// the file's header; on an existing file both are no-ops.
	if _, err := db.ExecContext(ctx, fmt.Sprintf("PRAGMA page_size = %d", pageSize)); err != nil {
		return fmt.Errorf("set page size: %w", err)
	}
	var mode string
	if err := db.QueryRowContext(ctx, "PRAGMA journal_mode = WAL").Scan(&mode); err != nil {
		return fmt.Errorf("set WAL mode: %w", err)
	}
	if mode != "wal" {
		return fmt.Errorf("set WAL mode: journal mode is %q", mode)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("create schema: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, schema); err != nil {
		return fmt.Errorf("create schema: %w", err)
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", schemaVersion)); err != nil {
		return fmt.Errorf("set schema version: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("create schema: %w", err)
	}
	return nil
}
