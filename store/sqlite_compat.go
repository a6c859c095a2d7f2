package store

import (
	"context"
	"fmt"
)

// ResultSummary counts a job's answered results per worker and returns the
// time of the last answer, in one pass over the job's results that reads no
// bodies.
func (s *SQLite) ResultSummary(ctx context.Context, jobID string) (ResultSummary, error) {
	out := ResultSummary{ByWorker: map[string]int{}}
	if err := s.enter(); err != nil {
		return out, err
	}
	defer s.leave()
	rows, err := s.r.QueryContext(ctx, `SELECT worker, count(*), max(finished_at) FROM results
		WHERE `+jobKeyIs+` AND state NOT IN ('skipped', 'cancelled') GROUP BY worker`, jobID)
	if err != nil {
		return out, fmt.Errorf("result summary of job %s: %w", jobID, err)
	}
	defer rows.Close()
	var last int64
	for rows.Next() {
		var (
			worker   string
			n        int
			finished int64
		)
		if err := rows.Scan(&worker, &n, &finished); err != nil {
			return out, fmt.Errorf("result summary of job %s: %w", jobID, err)
		}
		out.ByWorker[worker] = n
		last = max(last, finished)
	}
	if err := rows.Err(); err != nil {
		return out, fmt.Errorf("result summary of job %s: %w", jobID, err)
	}
	if last > 0 {
		out.LastAnswer = fromUnixMicro(last)
	}
	return out, nil
}

// ScanValues calls fn for every result of a job in index order with its
// index, host, state, error class and value. Bodies are not read: memory
// does not grow with the job.
func (s *SQLite) ScanValues(ctx context.Context, jobID string, fn func(ValueRow) error) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	rows, err := s.r.QueryContext(ctx, `SELECT idx, host, state, error_class, value FROM results
		WHERE `+jobKeyIs+` ORDER BY idx`, jobID)
	if err != nil {
		return fmt.Errorf("scan values of job %s: %w", jobID, err)
	}
	defer rows.Close()
	for rows.Next() {
		var r ValueRow
		if err := rows.Scan(&r.Index, &r.Host, &r.State, &r.ErrorClass, &r.Value); err != nil {
			return fmt.Errorf("scan values of job %s: %w", jobID, err)
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("scan values of job %s: %w", jobID, err)
	}
	return nil
}
