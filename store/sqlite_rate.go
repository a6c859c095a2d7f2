package store

import (
	"context"
	"fmt"
)

// RateSeries counts a job's answered results (neither skipped nor
// cancelled: those were never sent) by the time they finished, in
// q.Buckets spans of q.Step from q.From on. A result that finished before
// q.From counts in the first span, one after the last span in the last.
//
// It is one GROUP BY over the job's results in key order, reading the
// state and finished_at columns of each record, which come before the
// large text ones, and no body: its time grows with the job, its answer
// and memory with q.Buckets (at most MaxRateBuckets).
func (s *SQLite) RateSeries(ctx context.Context, jobID string, q RateQuery) ([]int, error) {
	if q.Buckets < 1 || q.Buckets > MaxRateBuckets || q.Step <= 0 {
		return nil, fmt.Errorf("rate series of job %s: %d buckets of %s (want 1 to %d of more than 0)", jobID, q.Buckets, q.Step, MaxRateBuckets)
	}
	step := q.Step.Microseconds()
	if step < 1 {
		step = 1
	}
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	rows, err := s.r.QueryContext(ctx, `SELECT min(max((finished_at - ?) / ?, 0), ?) AS bucket, count(*)
		FROM results WHERE `+jobKeyIs+` AND state NOT IN ('skipped', 'cancelled') GROUP BY bucket`,
		unixMicro(q.From), step, q.Buckets-1, jobID)
	if err != nil {
		return nil, fmt.Errorf("rate series of job %s: %w", jobID, err)
	}
	defer rows.Close()
	out := make([]int, q.Buckets)
	for rows.Next() {
		var b, n int
		if err := rows.Scan(&b, &n); err != nil {
			return nil, fmt.Errorf("rate series of job %s: %w", jobID, err)
		}
		if b >= 0 && b < len(out) { // the query clamps it
			out[b] += n
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("rate series of job %s: %w", jobID, err)
	}
	return out, nil
}
