package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/salvo-sh/salvo/job"
)

const jobColumns = `id, name, spec, secrets, state, reason, total, counts, workers, created_at, started_at, finished_at, submitted_by, rerun_of, rollout, schedule, slot, manual`

// CreateJob stores a job and its targets; see Store.
func (s *SQLite) CreateJob(ctx context.Context, jr *Job, targets []job.TargetSpec, chunkSize int) error {
	return s.CreateJobFrom(ctx, jr, chunkSize, Yield(targets))
}

// Yield is a CreateJobFrom next function that yields targets at once.
func Yield(targets []job.TargetSpec) func() ([]job.TargetSpec, error) {
	done := false
	return func() ([]job.TargetSpec, error) {
		if done {
			return nil, nil
		}
		done = true
		return targets, nil
	}
}

// CreateJobFrom stores a job and the targets next yields; see Store.
func (s *SQLite) CreateJobFrom(ctx context.Context, jr *Job, chunkSize int, next func() ([]job.TargetSpec, error)) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	if jr == nil || jr.ID == "" {
		return errors.New("create job: empty id")
	}
	created := jr.CreatedAt
	if created.IsZero() {
		created = time.Now()
	}

	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("create job %s: begin: %w", jr.ID, err)
	}
	defer tx.Rollback()
	if err := insertJob(ctx, tx, jr, created, false); err != nil {
		return fmt.Errorf("create job %s: %w", jr.ID, err)
	}
	ins, err := tx.PrepareContext(ctx, `INSERT INTO target_chunks (job_id, chunk, targets) VALUES (?, ?, ?)`)
	if err != nil {
		return fmt.Errorf("create job %s: prepare chunks: %w", jr.ID, err)
	}
	defer ins.Close()
	total, err := ChunkTargets(chunkSize, next, func(chunk int, text string) error {
		if _, err := ins.ExecContext(ctx, jr.ID, chunk, text); err != nil {
			return fmt.Errorf("chunk %d: %w", chunk, err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("create job %s: %w", jr.ID, err)
	}
	if jr.Total == 0 && total > 0 {
		if _, err := tx.ExecContext(ctx, `UPDATE jobs SET total = ? WHERE id = ?`, total, jr.ID); err != nil {
			return fmt.Errorf("create job %s: total: %w", jr.ID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("create job %s: commit: %w", jr.ID, err)
	}
	s.wrote()
	return nil
}

// ChunkTargets numbers the targets next yields from index 0 (next returns
// an empty slice at the end), cuts them into chunks of chunkSize targets
// (DefaultChunkSize when chunkSize <= 0) and calls emit once per chunk, in
// order, with the chunk's number and its encoding as target_chunks stores
// it (job.AppendIndexedTargets). It returns the number of targets, and the
// first error of next, of an encoding or of emit.
func ChunkTargets(chunkSize int, next func() ([]job.TargetSpec, error), emit func(chunk int, text string) error) (total int, err error) {
	if chunkSize <= 0 {
		chunkSize = DefaultChunkSize
	}
	buf := make([]job.IndexedTarget, 0, chunkSize)
	chunk := 0
	var b []byte
	flush := func() error {
		var err error
		if b, err = job.AppendIndexedTargets(b[:0], buf); err != nil {
			return fmt.Errorf("encode chunk %d: %w", chunk, err)
		}
		if err := emit(chunk, string(b)); err != nil {
			return err
		}
		chunk++
		clear(buf) // drop the targets' vars
		buf = buf[:0]
		return nil
	}
	for {
		targets, err := next()
		if err != nil {
			return total, err
		}
		if len(targets) == 0 {
			break
		}
		for _, t := range targets {
			buf = append(buf, job.IndexedTarget{Index: total, Target: t})
			total++
			if len(buf) == chunkSize {
				if err := flush(); err != nil {
					return total, err
				}
			}
		}
	}
	if len(buf) > 0 {
		if err := flush(); err != nil {
			return total, err
		}
	}
	return total, nil
}

// insertJob writes the row of jr, created at created, with jr.Total as
// given. A stored row of the same id makes it fail, unless keep is set:
// then that row stays as it is (a replayed entry changes nothing). A job
// of a schedule's slot that already has another job fails with
// ErrSlotTaken, keep or not.
func insertJob(ctx context.Context, tx *sql.Tx, jr *Job, created time.Time, keep bool) error {
	spec, counts, workers, err := marshalJob(jr)
	if err != nil {
		return err
	}
	if err := checkSlot(ctx, tx, jr); err != nil {
		return err
	}
	insert := `INSERT`
	if keep {
		insert = `INSERT OR IGNORE`
	}
	_, err = tx.ExecContext(ctx, insert+` INTO jobs (`+jobColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		jr.ID, jr.Name, string(spec), jr.SecretsRedacted, jr.State, jr.Reason, jr.Total, string(counts), string(workers),
		unixMilli(created), unixMilli(jr.StartedAt), unixMilli(jr.FinishedAt), jr.SubmittedBy, jr.RerunOf, string(jr.Rollout),
		jr.Schedule, unixMilli(jr.Slot), jr.Manual)
	return err
}

// checkSlot refuses, with ErrSlotTaken, a job of a schedule's slot that
// another job holds. It reads in the writer's transaction, so no other
// write comes between the check and the insert (the unique index
// jobs_schedule_slot is the last guard).
func checkSlot(ctx context.Context, tx *sql.Tx, jr *Job) error {
	if jr.Schedule == "" {
		return nil
	}
	var other string
	err := tx.QueryRowContext(ctx, `SELECT id FROM jobs WHERE schedule = ? AND schedule != '' AND slot = ? AND manual = ?`,
		jr.Schedule, unixMilli(jr.Slot), jr.Manual).Scan(&other)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil
	case err != nil:
		return fmt.Errorf("read the slot of schedule %q: %w", jr.Schedule, err)
	case other != jr.ID:
		return fmt.Errorf("schedule %q, slot %s: %w (job %s)", jr.Schedule, jr.Slot.UTC().Format(time.RFC3339Nano), ErrSlotTaken, other)
	}
	return nil
}

// UpdateJob writes the job's name, state, reason, total, counts, times
// and rollout progress.
// The spec and creation time are not changed.
func (s *SQLite) UpdateJob(ctx context.Context, jr *Job) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	_, counts, workers, err := marshalJob(jr)
	if err != nil {
		return fmt.Errorf("update job %s: %w", jr.ID, err)
	}
	res, err := s.w.ExecContext(ctx,
		`UPDATE jobs SET name = ?, state = ?, reason = ?, total = ?, counts = ?, workers = ?, started_at = ?, finished_at = ?, rollout = ? WHERE id = ?`,
		jr.Name, jr.State, jr.Reason, jr.Total, string(counts), string(workers), unixMilli(jr.StartedAt), unixMilli(jr.FinishedAt),
		string(jr.Rollout), jr.ID)
	if err != nil {
		return fmt.Errorf("update job %s: %w", jr.ID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("update job %s: %w", jr.ID, err)
	}
	if n == 0 {
		return fmt.Errorf("update job %s: %w", jr.ID, ErrNotFound)
	}
	s.wrote()
	return nil
}

// GetJob returns a job by id, or ErrNotFound.
func (s *SQLite) GetJob(ctx context.Context, id string) (*Job, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	jr, err := scanJob(s.r.QueryRowContext(ctx, `SELECT `+jobColumns+` FROM jobs WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("job %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get job %s: %w", id, err)
	}
	return jr, nil
}

// ListJobs returns jobs newest first (by creation time, then id), optionally
// of one state, of one name and matching q (see JobQuery), and the cursor
// of the next page ("" at the end).
func (s *SQLite) ListJobs(ctx context.Context, q JobQuery) ([]*Job, string, error) {
	if err := s.enter(); err != nil {
		return nil, "", err
	}
	defer s.leave()
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultResultLimit
	}
	query := `SELECT ` + jobColumns + ` FROM jobs WHERE 1=1`
	var args []any
	if q.State != "" {
		query += ` AND state = ?`
		args = append(args, q.State)
	}
	if len(q.Name) > MaxJobQuery || len(q.Q) > MaxJobQuery || len(q.Schedule) > MaxJobQuery {
		return nil, "", fmt.Errorf("list jobs: name, q and schedule take at most %d bytes", MaxJobQuery)
	}
	if q.Name != "" {
		query += ` AND name = ?`
		args = append(args, q.Name)
	}
	if q.Schedule != "" {
		query += ` AND schedule = ? AND schedule != ''`
		args = append(args, q.Schedule)
	}
	if q.Q != "" {
		// The path is matched without its query, which may carry a key.
		const path = `json_extract(spec, '$.http.path')`
		query += ` AND (name LIKE ? ESCAPE '\' OR id LIKE ? ESCAPE '\'
			OR json_extract(spec, '$.ssh.command') LIKE ? ESCAPE '\'
			OR (CASE WHEN instr(` + path + `, '?') > 0 THEN substr(` + path + `, 1, instr(` + path + `, '?') - 1) ELSE ` + path + ` END) LIKE ? ESCAPE '\')`
		like := "%" + escapeLike(q.Q) + "%"
		args = append(args, like, like, like, like)
	}
	if q.Cursor != "" {
		c, err := decodeJobCursor(q.Cursor)
		if err != nil {
			return nil, "", fmt.Errorf("list jobs: %w", err)
		}
		query += ` AND (created_at < ? OR (created_at = ? AND id < ?))`
		args = append(args, c.createdMs, c.createdMs, c.id)
	}
	query += ` ORDER BY created_at DESC, id DESC LIMIT ?`
	args = append(args, limit+1)
	jobs, err := s.queryJobs(ctx, query, args...)
	if err != nil {
		return nil, "", fmt.Errorf("list jobs: %w", err)
	}
	next := ""
	if len(jobs) > limit {
		jobs = jobs[:limit]
		last := jobs[limit-1]
		next = jobCursor{createdMs: unixMilli(last.CreatedAt), id: last.ID}.encode()
	}
	return jobs, next, nil
}

// escapeLike escapes the wildcards of LIKE (with ESCAPE '\') in s.
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// Unfinished returns every job not in a terminal state, oldest first.
func (s *SQLite) Unfinished(ctx context.Context) ([]*Job, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	jobs, err := s.queryJobs(ctx, `SELECT `+jobColumns+` FROM jobs WHERE state NOT IN (?, ?, ?) ORDER BY created_at, id`,
		JobGathered, JobCancelled, JobFailed)
	if err != nil {
		return nil, fmt.Errorf("unfinished jobs: %w", err)
	}
	return jobs, nil
}

// ChunkCount is the number of target chunks of a job, or ErrNotFound when
// the job does not exist.
func (s *SQLite) ChunkCount(ctx context.Context, jobID string) (int, error) {
	if err := s.enter(); err != nil {
		return 0, err
	}
	defer s.leave()
	var exists, n int
	err := s.r.QueryRowContext(ctx,
		`SELECT (SELECT count(*) FROM jobs WHERE id = ?1), (SELECT count(*) FROM target_chunks WHERE job_id = ?1)`,
		jobID).Scan(&exists, &n)
	if err != nil {
		return 0, fmt.Errorf("chunk count of job %s: %w", jobID, err)
	}
	if exists == 0 {
		return 0, fmt.Errorf("job %s: %w", jobID, ErrNotFound)
	}
	return n, nil
}

// Chunk returns chunk n of a job's targets, or ErrNotFound.
func (s *SQLite) Chunk(ctx context.Context, jobID string, n int) ([]job.IndexedTarget, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	var b []byte
	err := s.r.QueryRowContext(ctx, `SELECT targets FROM target_chunks WHERE job_id = ? AND chunk = ?`, jobID, n).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("chunk %d of job %s: %w", n, jobID, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("chunk %d of job %s: %w", n, jobID, err)
	}
	ts, err := job.DecodeIndexedTargets(b)
	if err != nil {
		return nil, fmt.Errorf("chunk %d of job %s: decode: %w", n, jobID, err)
	}
	return ts, nil
}

// queryJobs runs a query selecting jobColumns.
func (s *SQLite) queryJobs(ctx context.Context, query string, args ...any) ([]*Job, error) {
	rows, err := s.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var jobs []*Job
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, err
		}
		jobs = append(jobs, j)
	}
	return jobs, rows.Err()
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface {
	Scan(dest ...any) error
}

// scanJob reads one row of jobColumns.
func scanJob(row scanner) (*Job, error) {
	var (
		j                                Job
		spec, counts, workers            []byte
		rollout                          string
		created, started, finished, slot int64
	)
	if err := row.Scan(&j.ID, &j.Name, &spec, &j.SecretsRedacted, &j.State, &j.Reason, &j.Total, &counts, &workers, &created, &started, &finished,
		&j.SubmittedBy, &j.RerunOf, &rollout, &j.Schedule, &slot, &j.Manual); err != nil {
		return nil, err
	}
	if rollout != "" {
		j.Rollout = []byte(rollout)
	}
	j.Slot = fromUnixMilli(slot)
	if err := json.Unmarshal(spec, &j.Spec); err != nil {
		return nil, fmt.Errorf("decode spec of job %s: %w", j.ID, err)
	}
	if err := json.Unmarshal(workers, &j.Workers); err != nil {
		return nil, fmt.Errorf("decode workers of job %s: %w", j.ID, err)
	}
	if len(j.Workers) == 0 {
		j.Workers = nil
	}
	if err := json.Unmarshal(counts, &j.Counts); err != nil {
		return nil, fmt.Errorf("decode counts of job %s: %w", j.ID, err)
	}
	j.CreatedAt = fromUnixMilli(created)
	j.StartedAt = fromUnixMilli(started)
	j.FinishedAt = fromUnixMilli(finished)
	return &j, nil
}

// marshalJob encodes a job's spec, counts and worker figures.
func marshalJob(jr *Job) (spec, counts, workers []byte, err error) {
	spec, err = json.Marshal(jr.Spec)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("encode spec: %w", err)
	}
	counts, err = json.Marshal(jr.Counts)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("encode counts: %w", err)
	}
	if jr.Workers == nil {
		workers = []byte("{}")
	} else if workers, err = json.Marshal(jr.Workers); err != nil {
		return nil, nil, nil, fmt.Errorf("encode workers: %w", err)
	}
	return spec, counts, workers, nil
}

// DeleteJob deletes a terminal job and everything stored of it, in steps
// of DeleteBatch rows (DeleteJobStep); see Store.
func (s *SQLite) DeleteJob(ctx context.Context, id string) error {
	for first := true; ; first = false {
		more, err := s.DeleteJobStep(ctx, id, DeleteBatch)
		if errors.Is(err, ErrNotFound) && !first {
			return nil // another delete finished it
		}
		if err != nil || !more {
			return err
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("delete job %s: %w", id, err)
		}
	}
}

// DeleteJobStep deletes, in one transaction, up to batch results of job
// id; once none is left, up to batch/DefaultChunkSize (at least one) of
// its target chunks; once none is left, its cached aggregates, its row and
// its key. It reports whether rows may be left (call it again). It returns
// ErrNotFinished, deleting nothing, while the job is not terminal, and
// ErrNotFound when nothing of the job is stored. A Raft group applies it
// as one log entry: every replica deletes the same rows.
func (s *SQLite) DeleteJobStep(ctx context.Context, id string, batch int) (more bool, err error) {
	if err := s.enter(); err != nil {
		return false, err
	}
	defer s.leave()
	if id == "" {
		return false, errors.New("delete job: empty id")
	}
	batch = max(batch, 1)
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("delete job %s: begin: %w", id, err)
	}
	defer tx.Rollback()
	var state string
	err = tx.QueryRowContext(ctx, `SELECT state FROM jobs WHERE id = ?`, id).Scan(&state)
	found := err == nil
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return false, fmt.Errorf("delete job %s: %w", id, err)
	case !Terminal(state):
		return false, fmt.Errorf("delete job %s (%s): %w", id, state, ErrNotFinished)
	}
	deleted := func(query string, args ...any) (int64, error) {
		res, err := tx.ExecContext(ctx, query, args...)
		if err != nil {
			return 0, err
		}
		return res.RowsAffected()
	}
	// The job's results, by rowid through the (job_key, idx) index.
	n, err := deleted(`DELETE FROM results WHERE rowid IN (SELECT r.rowid FROM results r
		JOIN job_keys k ON r.job_key = k.key WHERE k.id = ? LIMIT ?)`, id, batch)
	if err != nil {
		return false, fmt.Errorf("delete job %s: results: %w", id, err)
	}
	if n < int64(batch) {
		chunks := max(1, batch/DefaultChunkSize)
		c, err := deleted(`DELETE FROM target_chunks WHERE rowid IN (SELECT rowid FROM target_chunks WHERE job_id = ? LIMIT ?)`, id, chunks)
		if err != nil {
			return false, fmt.Errorf("delete job %s: target chunks: %w", id, err)
		}
		n += c
		if c < int64(chunks) {
			var last int64
			for _, q := range []string{`DELETE FROM aggregate_cache WHERE job_id = ?`, `DELETE FROM jobs WHERE id = ?`, `DELETE FROM job_keys WHERE id = ?`} {
				c, err := deleted(q, id)
				if err != nil {
					return false, fmt.Errorf("delete job %s: %w", id, err)
				}
				last += c
			}
			if !found && n == 0 && last == 0 {
				return false, fmt.Errorf("job %s: %w", id, ErrNotFound)
			}
			// PutResults looks the key up again; it takes the writer's
			// connection, which this transaction holds.
			s.keysMu.Lock()
			delete(s.keys, id)
			s.keysMu.Unlock()
			if err := tx.Commit(); err != nil {
				return false, fmt.Errorf("delete job %s: commit: %w", id, err)
			}
			s.wrote()
			return false, nil
		}
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("delete job %s: commit: %w", id, err)
	}
	s.wrote()
	return true, nil
}

// ExpiredJobs returns at most limit terminal jobs finished before before
// (created before it, for one without a finished time), the oldest first;
// see Store.
func (s *SQLite) ExpiredJobs(ctx context.Context, before time.Time, limit int) ([]*Job, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	if limit <= 0 {
		limit = DefaultResultLimit
	}
	ms := unixMilli(before)
	jobs, err := s.queryJobs(ctx, `SELECT `+jobColumns+` FROM jobs
		WHERE state IN (?, ?, ?) AND ((finished_at > 0 AND finished_at < ?) OR (finished_at = 0 AND created_at < ?))
		ORDER BY CASE WHEN finished_at > 0 THEN finished_at ELSE created_at END, id LIMIT ?`,
		JobGathered, JobCancelled, JobFailed, ms, ms, limit)
	if err != nil {
		return nil, fmt.Errorf("expired jobs: %w", err)
	}
	return jobs, nil
}
