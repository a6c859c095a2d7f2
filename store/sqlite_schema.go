package store

import (
	"context"
	"database/sql"
	"fmt"
)

// schemaVersion is stored in PRAGMA user_version.
const schemaVersion = 8

// schema is the SQLite layout of docs/design.md §9, with one change: results
// are keyed by (job_key, idx), job_key being the job's integer in job_keys.
// Times are integers: unix milliseconds for jobs, unix microseconds for
// results, 0 for the zero time. Large text columns come last in results so
// that reading the small ones stops early in each record.
const schema = `
CREATE TABLE IF NOT EXISTS jobs (
	id          TEXT PRIMARY KEY,
	name        TEXT NOT NULL DEFAULT '',
	spec        TEXT NOT NULL,
	secrets     INTEGER NOT NULL DEFAULT 0,
	state       TEXT NOT NULL,
	reason      TEXT NOT NULL DEFAULT '',
	total       INTEGER NOT NULL DEFAULT 0,
	counts      TEXT NOT NULL DEFAULT '{}',
	workers     TEXT NOT NULL DEFAULT '{}',
	created_at  INTEGER NOT NULL,
	started_at  INTEGER NOT NULL DEFAULT 0,
	finished_at INTEGER NOT NULL DEFAULT 0,
	-- submitted_by is the name of the token that submitted the job ('' without
	-- authentication); rerun_of the id of the job it reruns ('' for none).
	submitted_by TEXT NOT NULL DEFAULT '',
	rerun_of     TEXT NOT NULL DEFAULT '',
	-- rollout is a rollout job's progress as JSON ('' for other jobs:
	-- docs/rollouts.md).
	rollout      TEXT NOT NULL DEFAULT '',
	-- schedule names the schedule whose run the job is ('' for none), slot
	-- the time it runs for (unix ms), manual a run outside the slots
	-- (docs/schedules.md).
	schedule TEXT NOT NULL DEFAULT '',
	slot     INTEGER NOT NULL DEFAULT 0,
	manual   INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS jobs_created ON jobs (created_at, id);
CREATE INDEX IF NOT EXISTS jobs_state_created ON jobs (state, created_at, id);
-- jobs_name_created serves ?name= (exact) newest first; jobs_finished the
-- retention's search for jobs finished before a time.
CREATE INDEX IF NOT EXISTS jobs_name_created ON jobs (name, created_at, id);
CREATE INDEX IF NOT EXISTS jobs_finished ON jobs (finished_at);
-- jobs_schedule_slot makes a schedule's slot run once (a second job of the
-- slot is refused, on every replica of a Raft log alike) and serves its
-- history, latest slot first.
CREATE UNIQUE INDEX IF NOT EXISTS jobs_schedule_slot ON jobs (schedule, slot, manual) WHERE schedule != '';

CREATE TABLE IF NOT EXISTS target_chunks (
	job_id  TEXT NOT NULL,
	chunk   INTEGER NOT NULL,
	targets TEXT NOT NULL,
	PRIMARY KEY (job_id, chunk)
);

-- job_keys gives each job id a small integer that results are keyed by:
-- integer keys make the results indexes smaller and their inserts faster
-- than repeating a text id in every row of four b-trees.
CREATE TABLE IF NOT EXISTS job_keys (
	key INTEGER PRIMARY KEY,
	id  TEXT NOT NULL UNIQUE
);

CREATE TABLE IF NOT EXISTS results (
	job_key     INTEGER NOT NULL,
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
	started_at  INTEGER NOT NULL,
	finished_at INTEGER NOT NULL,
	target      TEXT NOT NULL,
	error       TEXT NOT NULL,
	stderr      TEXT NOT NULL,
	body        TEXT NOT NULL,
	PRIMARY KEY (job_key, idx)
);
CREATE INDEX IF NOT EXISTS results_host ON results (job_key, host, idx);
CREATE INDEX IF NOT EXISTS results_state ON results (job_key, state, idx);
DROP INDEX IF EXISTS results_value; -- no query filters by value: aggregation scans a job in index order

-- aggregate_cache keeps the groups of a terminal job's aggregate by key
-- (up to 1,000 groups, each with its first hosts): its results no longer
-- change, so later answers need not read them all again.
CREATE TABLE IF NOT EXISTS aggregate_cache (
	job_id TEXT NOT NULL,
	by_key TEXT NOT NULL,
	groups BLOB NOT NULL,
	PRIMARY KEY (job_id, by_key)
);

CREATE TABLE IF NOT EXISTS definitions (
	kind TEXT NOT NULL,
	name TEXT NOT NULL,
	body BLOB NOT NULL,
	PRIMARY KEY (kind, name)
);

-- raft_state holds the Raft state machine's own figures, such as the index
-- of the last log entry applied to this store (sqlite_replica.go).
CREATE TABLE IF NOT EXISTS raft_state (
	key   TEXT PRIMARY KEY,
	value INTEGER NOT NULL
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
	if v == 1 {
		// Version 2 adds jobs.workers (per-worker request/response counts).
		if _, err := tx.ExecContext(ctx, `ALTER TABLE jobs ADD COLUMN workers TEXT NOT NULL DEFAULT '{}'`); err != nil {
			return fmt.Errorf("migrate schema to version 2: %w", err)
		}
	}
	if v == 1 || v == 2 {
		// Version 3 adds jobs.secrets: the spec lost secrets to redaction.
		// Older rows said so only by a "<redacted>" string in their spec
		// (encoding/json writes it with <> escaped).
		if _, err := tx.ExecContext(ctx, `ALTER TABLE jobs ADD COLUMN secrets INTEGER NOT NULL DEFAULT 0`); err != nil {
			return fmt.Errorf("migrate schema to version 3: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE jobs SET secrets = 1
			WHERE instr(spec, '"\u003credacted\u003e"') > 0 OR instr(spec, '"<redacted>"') > 0`); err != nil {
			return fmt.Errorf("migrate schema to version 3: %w", err)
		}
	}
	if v >= 1 && v < 6 {
		// Version 6 adds jobs.submitted_by and jobs.rerun_of (and the
		// indexes jobs_name_created and jobs_finished, below).
		for _, col := range []string{"submitted_by", "rerun_of"} {
			if err := addColumn(ctx, tx, "jobs", col, `TEXT NOT NULL DEFAULT ''`); err != nil {
				return fmt.Errorf("migrate schema to version 6: %w", err)
			}
		}
	}
	if v >= 1 && v < 7 {
		// Version 7 adds jobs.rollout (docs/rollouts.md).
		if err := addColumn(ctx, tx, "jobs", "rollout", `TEXT NOT NULL DEFAULT ''`); err != nil {
			return fmt.Errorf("migrate schema to version 7: %w", err)
		}
	}
	if v >= 1 && v < 8 {
		// Version 8 adds jobs.schedule, jobs.slot and jobs.manual (and the
		// index jobs_schedule_slot, below): the runs of schedules.
		for _, c := range []struct{ name, decl string }{
			{"schedule", `TEXT NOT NULL DEFAULT ''`}, {"slot", `INTEGER NOT NULL DEFAULT 0`}, {"manual", `INTEGER NOT NULL DEFAULT 0`},
		} {
			if err := addColumn(ctx, tx, "jobs", c.name, c.decl); err != nil {
				return fmt.Errorf("migrate schema to version 8: %w", err)
			}
		}
	}
	// Version 4 adds the tokens and audit tables (authSchema), version 5
	// raft_state.
	if _, err := tx.ExecContext(ctx, schema+authSchema); err != nil {
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

// addColumn adds a column to a table unless the table has it already.
func addColumn(ctx context.Context, tx *sql.Tx, table, column, decl string) error {
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM pragma_table_info(?) WHERE name = ?`, table, column).Scan(&n); err != nil {
		return fmt.Errorf("read the columns of %s: %w", table, err)
	}
	if n > 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `ALTER TABLE `+quoteIdent(table)+` ADD COLUMN `+quoteIdent(column)+` `+decl); err != nil {
		return fmt.Errorf("add column %s.%s: %w", table, column, err)
	}
	return nil
}
