package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// ScheduleRuns returns a page of a schedule's runs, the latest slot first
// (ties by id), through the index jobs_schedule_slot; see Store.
func (s *SQLite) ScheduleRuns(ctx context.Context, q RunQuery) ([]*Job, string, error) {
	if err := s.enter(); err != nil {
		return nil, "", err
	}
	defer s.leave()
	if q.Schedule == "" {
		return nil, "", errors.New("schedule runs: no schedule")
	}
	query, args, limit, err := scheduleRunsQuery(q)
	if err != nil {
		return nil, "", err
	}
	jobs, err := s.queryJobs(ctx, query, args...)
	if err != nil {
		return nil, "", fmt.Errorf("runs of schedule %q: %w", q.Schedule, err)
	}
	next := ""
	if len(jobs) > limit {
		jobs = jobs[:limit]
		last := jobs[limit-1]
		next = jobCursor{createdMs: unixMilli(last.Slot), id: last.ID}.encode()
	}
	return jobs, next, nil
}

// scheduleRunsQuery is ScheduleRuns' query, and the page's size.
func scheduleRunsQuery(q RunQuery) (string, []any, int, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultResultLimit
	}
	query := `SELECT ` + jobColumns + ` FROM jobs WHERE schedule = ? AND schedule != ''`
	args := []any{q.Schedule}
	if q.Slots {
		query += ` AND manual = 0`
	}
	if q.Cursor != "" {
		c, err := decodeJobCursor(q.Cursor)
		if err != nil {
			return "", nil, 0, fmt.Errorf("schedule runs: %w", err)
		}
		query += ` AND slot <= ? AND (slot < ? OR id < ?)`
		args = append(args, c.createdMs, c.createdMs, c.id)
	}
	query += ` ORDER BY slot DESC, id DESC LIMIT ?`
	return query, append(args, limit+1), limit, nil
}

// compareQuery reads, for the first ?3 results of job key ?1 in index
// order, the host, the value, whether it is the host's first result
// there, and the value of the host's first result in job key ?2 (NULL
// when it has none).
const compareQuery = `WITH r AS (SELECT idx, host, value FROM results WHERE job_key = ?1 ORDER BY idx LIMIT ?3)
	SELECT r.host, r.value,
		(SELECT min(f.idx) FROM results f WHERE f.job_key = ?1 AND f.host = r.host) = r.idx,
		(SELECT p.value FROM results p WHERE p.job_key = ?2 AND p.host = r.host ORDER BY p.idx LIMIT 1)
	FROM r ORDER BY r.idx`

// CompareValues compares two jobs' values host by host; see Store. The
// scan reads jobID's results in index order and, for each, the first
// result of its host in both jobs through results_host: its cost is
// maxScan index lookups, whatever the jobs' sizes, and its memory
// maxChanged hosts. When both jobs are terminal the answer no longer
// changes: it is computed once and kept in aggregate_cache.
func (s *SQLite) CompareValues(ctx context.Context, jobID, prevID string, maxScan, maxChanged int) (ValueChanges, error) {
	var out ValueChanges
	if err := s.enter(); err != nil {
		return out, err
	}
	defer s.leave()
	maxScan, maxChanged = max(maxScan, 1), max(maxChanged, 0)
	var n int
	err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM jobs WHERE id IN (?, ?) AND state IN (`+terminalStatesSQL+`)`, jobID, prevID).Scan(&n)
	if err != nil {
		return out, wrapCompare(jobID, prevID, err)
	}
	if n != 2 || jobID == prevID {
		return s.compareValues(ctx, jobID, prevID, maxScan, maxChanged)
	}
	key := fmt.Sprintf("changes/v1/%s/%d/%d", prevID, maxScan, maxChanged)
	if ok, err := s.readCache(ctx, jobID, key, &out); err != nil || ok {
		return out, wrapCompare(jobID, prevID, err)
	}
	if out, err = s.compareValues(ctx, jobID, prevID, maxScan, maxChanged); err != nil {
		return out, err
	}
	return out, wrapCompare(jobID, prevID, s.keepCache(ctx, jobID, key, out))
}

// terminalStatesSQL lists the terminal job states (Terminal) for SQL.
const terminalStatesSQL = `'` + JobGathered + `', '` + JobCancelled + `', '` + JobFailed + `'`

// compareValues is CompareValues without the cache.
func (s *SQLite) compareValues(ctx context.Context, jobID, prevID string, maxScan, maxChanged int) (ValueChanges, error) {
	var out ValueChanges
	keyOf := func(id string) (int64, bool, error) {
		var k int64
		err := s.r.QueryRowContext(ctx, `SELECT key FROM job_keys WHERE id = ?`, id).Scan(&k)
		if errors.Is(err, sql.ErrNoRows) {
			return 0, false, nil
		}
		return k, err == nil, err
	}
	cur, ok, err := keyOf(jobID)
	if err != nil || !ok {
		out.Complete = err == nil // no results: nothing changed
		return out, wrapCompare(jobID, prevID, err)
	}
	prev, ok, err := keyOf(prevID)
	if err != nil || !ok {
		out.Complete = err == nil
		return out, wrapCompare(jobID, prevID, err)
	}
	rows, err := s.r.QueryContext(ctx, compareQuery, cur, prev, maxScan+1)
	if err != nil {
		return out, wrapCompare(jobID, prevID, err)
	}
	defer rows.Close()
	for rows.Next() {
		if out.Scanned == maxScan {
			return out, wrapCompare(jobID, prevID, rows.Close()) // more than the scan reads
		}
		var (
			host, value string
			first       bool
			was         sql.NullString
		)
		if err := rows.Scan(&host, &value, &first, &was); err != nil {
			return out, wrapCompare(jobID, prevID, err)
		}
		out.Scanned++
		if !first || !was.Valid || was.String == value {
			continue
		}
		out.Count++
		if len(out.Changed) < maxChanged {
			out.Changed = append(out.Changed, HostChange{Host: host, From: was.String, To: value})
		}
	}
	if err := rows.Err(); err != nil {
		return out, wrapCompare(jobID, prevID, err)
	}
	out.Complete = true
	return out, nil
}

func wrapCompare(jobID, prevID string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("compare the values of jobs %s and %s: %w", jobID, prevID, err)
}
