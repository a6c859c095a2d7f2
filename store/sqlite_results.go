package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/salvo-sh/salvo/commands"
)

// insertResultSQL stores one result; a result whose (job_key, idx) is
// already stored changes nothing and affects no row.
const insertResultSQL = `INSERT INTO results (
	job_key, idx, host, state, status_code, exit_code, latency_ms, body_bytes, truncated,
	error_class, attempts, worker, value, started_at, finished_at, target, error, stderr, body
) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (job_key, idx) DO NOTHING`

// resultColumns are read back by scanResult, in this order.
const resultColumns = `idx, host, state, status_code, exit_code, latency_ms, body_bytes, truncated,
	error_class, attempts, worker, value, started_at, finished_at, target, error, stderr, body`

// jobKeyIs selects the results of the job whose id is the next argument (no
// rows when the job has no key yet).
const jobKeyIs = `job_key = (SELECT key FROM job_keys WHERE id = ?)`

// jobKey returns the integer key of a job id, creating it when missing.
func jobKey(ctx context.Context, tx *sql.Tx, jobID string) (int64, error) {
	var key int64
	err := tx.QueryRowContext(ctx, `SELECT key FROM job_keys WHERE id = ?`, jobID).Scan(&key)
	if errors.Is(err, sql.ErrNoRows) {
		var res sql.Result
		if res, err = tx.ExecContext(ctx, `INSERT INTO job_keys (id) VALUES (?)`, jobID); err == nil {
			key, err = res.LastInsertId()
		}
	}
	if err != nil {
		return 0, fmt.Errorf("key of job %s: %w", jobID, err)
	}
	return key, nil
}

// PutResults stores results of a job in one transaction, with one prepared
// insert per result. A result whose (job, index) is already stored, by an
// earlier call or earlier in the same batch, is ignored. It returns how many
// of each state were newly stored.
func (s *SQLite) PutResults(ctx context.Context, jobID string, results []commands.Result) (map[string]int, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	counts := make(map[string]int, 2)
	if len(results) == 0 {
		return counts, nil
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("put results of job %s: begin: %w", jobID, err)
	}
	defer tx.Rollback()
	key, err := jobKey(ctx, tx, jobID)
	if err != nil {
		return nil, fmt.Errorf("put results: %w", err)
	}
	st := tx.StmtContext(ctx, s.insertResult)
	defer st.Close()
	// Rows run under a context without a done channel, so that the driver
	// does not start a watcher goroutine per statement; cancellation is
	// checked between rows, and database/sql rolls the transaction back when
	// ctx ends.
	rowCtx := context.WithoutCancel(ctx)
	args := make([]any, 19)
	for i := range results {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("put results of job %s: %w", jobID, err)
		}
		r := &results[i]
		var exit sql.NullInt64
		if r.ExitCode != nil {
			exit = sql.NullInt64{Int64: int64(*r.ExitCode), Valid: true}
		}
		truncated := 0
		if r.Truncated {
			truncated = 1
		}
		args[0], args[1], args[2], args[3], args[4] = key, r.Index, r.Host, r.State, r.StatusCode
		args[5], args[6], args[7], args[8], args[9] = exit, r.LatencyMs, r.BodyBytes, truncated, r.ErrorClass
		args[10], args[11], args[12], args[13], args[14] = r.Attempts, r.Worker, r.Value, unixMicro(r.StartedAt), unixMicro(r.FinishedAt)
		args[15], args[16], args[17], args[18] = r.Target, r.Error, r.Stderr, r.Body
		res, err := st.ExecContext(rowCtx, args...)
		if err != nil {
			return nil, fmt.Errorf("put result %d of job %s: %w", r.Index, jobID, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return nil, fmt.Errorf("put result %d of job %s: %w", r.Index, jobID, err)
		}
		if n > 0 {
			counts[r.State]++
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("put results of job %s: commit: %w", jobID, err)
	}
	s.wrote()
	return counts, nil
}

// StoredIndexes returns the set of indexes in [lo, hi) that have a result.
func (s *SQLite) StoredIndexes(ctx context.Context, jobID string, lo, hi int) (map[int]bool, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	rows, err := s.r.QueryContext(ctx, `SELECT idx FROM results WHERE `+jobKeyIs+` AND idx >= ? AND idx < ?`, jobID, lo, hi)
	if err != nil {
		return nil, fmt.Errorf("stored indexes of job %s: %w", jobID, err)
	}
	defer rows.Close()
	set := make(map[int]bool)
	for rows.Next() {
		var i int
		if err := rows.Scan(&i); err != nil {
			return nil, fmt.Errorf("stored indexes of job %s: %w", jobID, err)
		}
		set[i] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("stored indexes of job %s: %w", jobID, err)
	}
	return set, nil
}

// CountResults returns the stored results of a job per state.
func (s *SQLite) CountResults(ctx context.Context, jobID string) (map[string]int, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	rows, err := s.r.QueryContext(ctx, `SELECT state, count(*) FROM results WHERE `+jobKeyIs+` GROUP BY state`, jobID)
	if err != nil {
		return nil, fmt.Errorf("count results of job %s: %w", jobID, err)
	}
	defer rows.Close()
	counts := make(map[string]int)
	for rows.Next() {
		var (
			state string
			n     int
		)
		if err := rows.Scan(&state, &n); err != nil {
			return nil, fmt.Errorf("count results of job %s: %w", jobID, err)
		}
		counts[state] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count results of job %s: %w", jobID, err)
	}
	return counts, nil
}

// Results returns a page of results ordered by index, from index q.Cursor
// on, and the cursor of the next page (0 at the end). State and Host match
// exactly; Q is a case-sensitive substring of body, stderr, error or value
// (no wildcards).
func (s *SQLite) Results(ctx context.Context, jobID string, q ResultQuery) ([]commands.Result, int, error) {
	if err := s.enter(); err != nil {
		return nil, 0, err
	}
	defer s.leave()
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultResultLimit
	}
	var b strings.Builder
	b.WriteString(`SELECT ` + resultColumns + ` FROM results WHERE ` + jobKeyIs + ` AND idx >= ?`)
	args := []any{jobID, max(q.Cursor, 0)}
	if q.State != "" {
		b.WriteString(` AND state = ?`)
		args = append(args, q.State)
	}
	if q.Host != "" {
		b.WriteString(` AND host = ?`)
		args = append(args, q.Host)
	}
	if q.Q != "" {
		b.WriteString(` AND (instr(body, ?) > 0 OR instr(stderr, ?) > 0 OR instr(error, ?) > 0 OR instr(value, ?) > 0)`)
		args = append(args, q.Q, q.Q, q.Q, q.Q)
	}
	b.WriteString(` ORDER BY idx LIMIT ?`)
	args = append(args, limit+1)

	rows, err := s.r.QueryContext(ctx, b.String(), args...)
	if err != nil {
		return nil, 0, fmt.Errorf("results of job %s: %w", jobID, err)
	}
	defer rows.Close()
	out := make([]commands.Result, 0, min(limit+1, 1024))
	for rows.Next() {
		var r commands.Result
		if err := scanResult(rows, &r); err != nil {
			return nil, 0, fmt.Errorf("results of job %s: %w", jobID, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("results of job %s: %w", jobID, err)
	}
	next := 0
	if len(out) > limit {
		next = out[limit].Index
		out = out[:limit]
	}
	return out, next, nil
}

// scanResult reads one row of resultColumns into r.
func scanResult(rows *sql.Rows, r *commands.Result) error {
	var (
		exit              sql.NullInt64
		truncated         int
		started, finished int64
	)
	err := rows.Scan(&r.Index, &r.Host, &r.State, &r.StatusCode, &exit, &r.LatencyMs, &r.BodyBytes, &truncated,
		&r.ErrorClass, &r.Attempts, &r.Worker, &r.Value, &started, &finished, &r.Target, &r.Error, &r.Stderr, &r.Body)
	if err != nil {
		return err
	}
	if exit.Valid {
		e := int(exit.Int64)
		r.ExitCode = &e
	}
	r.Truncated = truncated != 0
	r.StartedAt = fromUnixMicro(started)
	r.FinishedAt = fromUnixMicro(finished)
	return nil
}
