package store

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/salvo-sh/salvo/job"
)

// resultColumns are read back by scanResult, in this order.
const resultColumns = `idx, host, state, status_code, exit_code, latency_ms, body_bytes, truncated,
	error_class, attempts, worker, value, started_at, finished_at, target, error, stderr, body`

// jobKeyIs selects the results of the job whose id is the next argument (no
// rows when the job has no key yet).
const jobKeyIs = `job_key = (SELECT key FROM job_keys WHERE id = ?)`

// maxCachedKeys bounds the job key cache; past it, the cache starts over.
const maxCachedKeys = 4096

func (s *SQLite) cachedKey(jobID string) (int64, bool) {
	s.keysMu.Lock()
	defer s.keysMu.Unlock()
	k, ok := s.keys[jobID]
	return k, ok
}

func (s *SQLite) cacheKey(jobID string, key int64) {
	s.keysMu.Lock()
	defer s.keysMu.Unlock()
	if s.keys == nil || len(s.keys) >= maxCachedKeys {
		s.keys = make(map[string]int64)
	}
	s.keys[jobID] = key
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
// on, and the cursor of the next page (0 at the end). A result matches any
// of States and exactly Host; Q is a case-sensitive substring of body,
// stderr, error or value (no wildcards). See resultsQuery for what a page
// reads.
func (s *SQLite) Results(ctx context.Context, jobID string, q ResultQuery) ([]job.Result, int, error) {
	if err := s.enter(); err != nil {
		return nil, 0, err
	}
	defer s.leave()
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultResultLimit
	}
	query, args := resultsQuery(jobID, q, limit)
	rows, err := s.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, 0, fmt.Errorf("results of job %s: %w", jobID, err)
	}
	defer rows.Close()
	out := make([]job.Result, 0, min(limit+1, 1024))
	for rows.Next() {
		var r job.Result
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
func scanResult(rows *sql.Rows, r *job.Result) error {
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
