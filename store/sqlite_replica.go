package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// The primitives of a store kept as a replica of a Raft log: the state
// machine applies entries with ApplyCreate and the other writes, records
// how far it got with SetAppliedIndex, and copies the whole store with
// SnapshotTo and RestoreFrom.

// ApplyCreate stores, in one transaction, the encoded target chunks of job
// jobID (as ChunkTargets emits them) as chunks first, first+1, …, and, when
// jr is not nil, the job's row as CreateJobFrom writes it, with jr.Total as
// given. A job whose targets do not fit in one log entry is created by
// entries of chunks followed by one with the job: it is visible once all
// its chunks are stored. Applying an entry again changes nothing: chunks
// are replaced by the same text and a stored job row is kept.
//
// jr.CreatedAt must be set: a row that every replica writes must not
// depend on a replica's clock.
func (s *SQLite) ApplyCreate(ctx context.Context, jobID string, jr *Job, first int, chunks []string) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	switch {
	case jobID == "":
		return errors.New("apply create: empty job id")
	case first < 0:
		return fmt.Errorf("apply create of job %s: negative first chunk %d", jobID, first)
	case jr != nil && jr.ID != jobID:
		return fmt.Errorf("apply create of job %s: the job's id is %q", jobID, jr.ID)
	case jr != nil && jr.CreatedAt.IsZero():
		return fmt.Errorf("apply create of job %s: zero creation time", jobID)
	case jr == nil && len(chunks) == 0:
		return nil
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("apply create of job %s: begin: %w", jobID, err)
	}
	defer tx.Rollback()
	if len(chunks) > 0 {
		ins, err := tx.PrepareContext(ctx, `INSERT OR REPLACE INTO target_chunks (job_id, chunk, targets) VALUES (?, ?, ?)`)
		if err != nil {
			return fmt.Errorf("apply create of job %s: prepare chunks: %w", jobID, err)
		}
		defer ins.Close()
		for i, text := range chunks {
			if _, err := ins.ExecContext(ctx, jobID, first+i, text); err != nil {
				return fmt.Errorf("apply create of job %s: chunk %d: %w", jobID, first+i, err)
			}
		}
	}
	if jr != nil {
		if err := insertJob(ctx, tx, jr, jr.CreatedAt, true); err != nil {
			return fmt.Errorf("apply create of job %s: %w", jobID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("apply create of job %s: commit: %w", jobID, err)
	}
	s.wrote()
	return nil
}

// appliedIndexKey is the raft_state row of the applied index.
const appliedIndexKey = "applied_index"

// AppliedIndex returns the index SetAppliedIndex last stored, 0 when it
// never did.
func (s *SQLite) AppliedIndex(ctx context.Context) (uint64, error) {
	if err := s.enter(); err != nil {
		return 0, err
	}
	defer s.leave()
	var v int64
	err := s.r.QueryRowContext(ctx, `SELECT value FROM raft_state WHERE key = ?`, appliedIndexKey).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read applied index: %w", err)
	}
	if v < 0 {
		return 0, fmt.Errorf("read applied index: negative value %d", v)
	}
	return uint64(v), nil
}

// SetAppliedIndex stores the index of the last log entry applied to the
// store.
func (s *SQLite) SetAppliedIndex(ctx context.Context, index uint64) error {
	if index > math.MaxInt64 {
		return fmt.Errorf("set applied index: %d does not fit in an SQLite integer", index)
	}
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	_, err := s.w.ExecContext(ctx, `INSERT INTO raft_state (key, value) VALUES (?, ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`, appliedIndexKey, int64(index))
	if err != nil {
		return fmt.Errorf("set applied index %d: %w", index, err)
	}
	s.wrote()
	return nil
}

// SnapshotTo writes a consistent copy of the whole store to a new file at
// path (SQLite's VACUUM INTO: a compact database file in rollback journal
// mode, synced before SnapshotTo returns), which must not exist.
//
// The copy runs on the writer's connection: it holds the state between
// two writes, which wait for it. It is a read transaction, so readers go
// on meanwhile.
func (s *SQLite) SnapshotTo(ctx context.Context, path string) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	// VACUUM INTO accepts an empty file: creating it here first fails
	// when path exists, with no window in which another could create it.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("snapshot to %s: %w", path, err)
	}
	defer f.Close()
	if _, err := s.w.ExecContext(ctx, `VACUUM INTO ?`, path); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("snapshot to %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("snapshot to %s: sync: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("snapshot to %s: %w", path, err)
	}
	return nil
}

// snapSchema is the name RestoreFrom attaches the snapshot as.
const snapSchema = "snap"

// RestoreFrom replaces the content of every table with that of the
// database file at path, a file SnapshotTo made, in one transaction:
// readers see the old content or the new, never a mix. The snapshot must
// have this binary's schema version and tables. The job key cache is
// cleared.
//
// Writes must not run during RestoreFrom (a Raft state machine applies
// entries and restores one at a time): a write waiting for the writer is
// undone by the restore, and a PutResults still returning when RestoreFrom
// begins may cache a job key of the old content.
func (s *SQLite) RestoreFrom(ctx context.Context, path string) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("restore from %s: %w", path, err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("restore from %s: %w", path, err)
	}
	// A read-only URI: ATTACH neither creates a missing file nor writes
	// to the snapshot.
	uri := (&url.URL{Scheme: "file", OmitHost: true, Path: abs, RawQuery: "mode=ro"}).String()

	// The writer's connection: the restore is ordered with the writes,
	// and its prepared statements and pragmas stay.
	conn, err := s.w.Conn(ctx)
	if err != nil {
		return fmt.Errorf("restore from %s: %w", path, err)
	}
	defer conn.Close()
	// ATTACH and DETACH are refused inside a transaction: they surround it.
	if _, err := conn.ExecContext(ctx, `ATTACH DATABASE ? AS `+snapSchema, uri); err != nil {
		return fmt.Errorf("restore from %s: attach: %w", path, err)
	}
	err = s.restore(ctx, conn)
	if _, derr := conn.ExecContext(context.WithoutCancel(ctx), `DETACH DATABASE `+snapSchema); derr != nil {
		err = errors.Join(err, fmt.Errorf("detach: %w", derr))
	}
	if err != nil {
		return fmt.Errorf("restore from %s: %w", path, err)
	}
	s.wrote()
	return nil
}

// restore copies the attached snapshot's tables into main's, on the
// writer's connection, and clears the job key cache once committed.
func (s *SQLite) restore(ctx context.Context, conn *sql.Conn) error {
	var v int
	if err := conn.QueryRowContext(ctx, `PRAGMA `+snapSchema+`.user_version`).Scan(&v); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if v != schemaVersion {
		return fmt.Errorf("snapshot schema version %d, want %d", v, schemaVersion)
	}
	tables, err := listTables(ctx, conn, "main")
	if err != nil {
		return err
	}
	snapTables, err := listTables(ctx, conn, snapSchema)
	if err != nil {
		return err
	}
	if !slices.Equal(tables, snapTables) {
		return fmt.Errorf("snapshot tables %v, want %v", snapTables, tables)
	}

	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	for _, t := range tables {
		if err := copyTable(ctx, tx, t); err != nil {
			return fmt.Errorf("table %s: %w", t, err)
		}
	}
	// AUTOINCREMENT counters (audit ids): a restored replica numbers its
	// next rows as the snapshot's source does.
	if _, err := tx.ExecContext(ctx, `DELETE FROM main.sqlite_sequence`); err != nil {
		return fmt.Errorf("table sqlite_sequence: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO main.sqlite_sequence (name, seq)
		SELECT name, seq FROM `+snapSchema+`.sqlite_sequence`); err != nil {
		return fmt.Errorf("table sqlite_sequence: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	// Job keys changed. Later writes wait for the connection held here, so
	// none of them sees a key cached before.
	s.keysMu.Lock()
	s.keys = nil
	s.keysMu.Unlock()
	return nil
}

// listTables returns the names of a schema's tables, but SQLite's own, sorted.
func listTables(ctx context.Context, conn *sql.Conn, schema string) ([]string, error) {
	rows, err := conn.QueryContext(ctx, `SELECT name FROM `+schema+`.sqlite_master
		WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\' ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list tables of %s: %w", schema, err)
	}
	return scanNames(rows, "list tables of "+schema)
}

// listColumns returns the names of a table's columns in their order.
func listColumns(ctx context.Context, tx *sql.Tx, schema, table string) ([]string, error) {
	rows, err := tx.QueryContext(ctx, `SELECT name FROM pragma_table_info(?, ?) ORDER BY cid`, table, schema)
	if err != nil {
		return nil, fmt.Errorf("list columns of %s.%s: %w", schema, table, err)
	}
	return scanNames(rows, "list columns of "+schema+"."+table)
}

// scanNames reads a query's one text column and closes rows.
func scanNames(rows *sql.Rows, what string) ([]string, error) {
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		names = append(names, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return names, nil
}

// copyTable replaces the rows of main's table with the snapshot's.
// Columns are matched by name: a migrated file has added columns last
// (ALTER TABLE ADD COLUMN), where a new one has them in schema order.
// When the orders agree, "SELECT *" lets SQLite copy the records as they
// are (its transfer optimization) instead of row by row.
func copyTable(ctx context.Context, tx *sql.Tx, table string) error {
	cols, err := listColumns(ctx, tx, "main", table)
	if err != nil {
		return err
	}
	snapCols, err := listColumns(ctx, tx, snapSchema, table)
	if err != nil {
		return err
	}
	if !slices.Equal(slices.Sorted(slices.Values(cols)), slices.Sorted(slices.Values(snapCols))) {
		return fmt.Errorf("snapshot columns %v, want %v", snapCols, cols)
	}
	q := quoteIdent(table)
	if _, err := tx.ExecContext(ctx, `DELETE FROM main.`+q); err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	insert := `INSERT INTO main.` + q + ` SELECT * FROM ` + snapSchema + `.` + q
	if !slices.Equal(cols, snapCols) {
		list := make([]string, len(cols))
		for i, c := range cols {
			list[i] = quoteIdent(c)
		}
		l := strings.Join(list, ", ")
		insert = `INSERT INTO main.` + q + ` (` + l + `) SELECT ` + l + ` FROM ` + snapSchema + `.` + q
	}
	if _, err := tx.ExecContext(ctx, insert); err != nil {
		return fmt.Errorf("copy: %w", err)
	}
	return nil
}

// quoteIdent quotes an SQL identifier.
func quoteIdent(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}
