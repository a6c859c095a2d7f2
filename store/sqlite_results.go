package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/salvo-sh/salvo/job"
)

// resultGroup is the most results one INSERT statement stores: one
// statement per group instead of per row cuts database/sql's and the
// driver's per-statement cost, a third of the store's CPU per result.
// 19 columns × 64 rows stays far below SQLite's 32,766 bound on variables.
// Groups have power-of-two sizes, so that the statements of every size are
// prepared once, at open (groupSizes of them per kind).
const resultGroup = 64

// groupSizes is the number of group sizes: 1, 2, 4, ... resultGroup.
const groupSizes = 7

// groupSize returns the size of the next group when n results are left:
// the largest power of two not above n and resultGroup, and its slot in
// the statement arrays.
func groupSize(n int) (size, slot int) {
	size, slot = resultGroup, groupSizes-1
	for size > n {
		size >>= 1
		slot--
	}
	return size, slot
}

// resultInsertColumns is the number of columns insertResultsSQL sets per row.
const resultInsertColumns = 19

// insertResultsSQL returns the statement that stores n results. It has no
// ON CONFLICT clause (which costs a b-tree probe per row): a result whose
// (job_key, idx) is stored already makes it fail, and PutResults then
// inserts only the new ones.
func insertResultsSQL(n int) string {
	var b strings.Builder
	b.WriteString(`INSERT INTO results (
	job_key, idx, host, state, status_code, exit_code, latency_ms, body_bytes, truncated,
	error_class, attempts, worker, value, started_at, finished_at, target, error, stderr, body
) VALUES `)
	row := "(?" + strings.Repeat(", ?", resultInsertColumns-1) + ")"
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(row)
	}
	return b.String()
}

// storedInGroupSQL returns the query of which of n indexes of a job are
// stored already.
func storedInGroupSQL(n int) string {
	return `SELECT idx FROM results WHERE job_key = ? AND idx IN (?` + strings.Repeat(", ?", n-1) + `)`
}

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

// PutResults stores results of a job in one transaction, resultGroup rows
// per statement. A result whose (job, index) is already stored, by an
// earlier call or earlier in the same batch, is ignored. It returns how many
// of each state were newly stored.
func (s *SQLite) PutResults(ctx context.Context, jobID string, results []job.Result) (map[string]int, error) {
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
	key, cached := s.cachedKey(jobID)
	if !cached {
		if key, err = jobKey(ctx, tx, jobID); err != nil {
			return nil, fmt.Errorf("put results: %w", err)
		}
	}
	// Statements run under a context without a done channel, so that the
	// driver does not start a watcher goroutine per statement; cancellation
	// is checked between groups, and database/sql rolls the transaction
	// back when ctx ends.
	stmtCtx := context.WithoutCancel(ctx)
	g := resultGrouper{key: key, tx: tx, s: s}
	for rest := results; len(rest) > 0; {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("put results of job %s: %w", jobID, err)
		}
		n, slot := groupSize(len(rest))
		group := rest[:n]
		rest = rest[n:]
		// Almost every group is new: insert it as it is. A plain INSERT
		// fails at a stored (job, index), and SQLite then backs out the
		// whole statement while the transaction goes on; only such a
		// group pays for finding out which of its results are new.
		err := g.insert(stmtCtx, slot, g.pointers(group))
		if err == nil {
			for i := range group {
				counts[group[i].State]++
			}
			continue
		}
		if !isKeyConflict(err) {
			return nil, fmt.Errorf("put results of job %s: %w", jobID, err)
		}
		fresh, err := g.fresh(stmtCtx, group)
		if err != nil {
			return nil, fmt.Errorf("put results of job %s: %w", jobID, err)
		}
		for len(fresh) > 0 {
			// Fresh results of a group with stored ones go in smaller groups.
			m, slot := groupSize(len(fresh))
			if err := g.insert(stmtCtx, slot, fresh[:m]); err != nil {
				return nil, fmt.Errorf("put results of job %s: %w", jobID, err)
			}
			for _, r := range fresh[:m] {
				counts[r.State]++
			}
			fresh = fresh[m:]
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("put results of job %s: commit: %w", jobID, err)
	}
	if !cached {
		s.cacheKey(jobID, key) // committed now: a rolled back key is never cached
	}
	s.wrote()
	return counts, nil
}

// resultGrouper stores one PutResults call's groups; its buffers are
// reused from group to group.
type resultGrouper struct {
	tx   *sql.Tx
	s    *SQLite
	key  int64
	seen map[int]bool // indexes of this call stored so far
	args []any
	buf  []*job.Result // fresh's result
}

// fresh returns the results of group that are neither stored nor earlier
// in this call.
func (g *resultGrouper) fresh(ctx context.Context, group []job.Result) ([]*job.Result, error) {
	if g.seen == nil {
		g.seen = make(map[int]bool, len(group))
	}
	g.args = append(g.args[:0], g.key)
	for i := range group {
		g.args = append(g.args, int64(group[i].Index))
	}
	_, slot := groupSize(len(group))
	rows, err := g.tx.StmtContext(ctx, g.s.storedIn[slot]).QueryContext(ctx, g.args...)
	if err != nil {
		return nil, fmt.Errorf("find stored results: %w", err)
	}
	defer rows.Close()
	stored := make(map[int]bool)
	for rows.Next() {
		var i int
		if err := rows.Scan(&i); err != nil {
			return nil, fmt.Errorf("find stored results: %w", err)
		}
		stored[i] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find stored results: %w", err)
	}
	g.buf = g.buf[:0]
	for i := range group {
		r := &group[i]
		if stored[r.Index] || g.seen[r.Index] {
			continue
		}
		g.seen[r.Index] = true
		g.buf = append(g.buf, r)
	}
	return g.buf, nil
}

// pointers returns pointers to the results of group, in a buffer reused
// by the next call.
func (g *resultGrouper) pointers(group []job.Result) []*job.Result {
	g.buf = g.buf[:0]
	for i := range group {
		g.buf = append(g.buf, &group[i])
	}
	return g.buf
}

// isKeyConflict reports whether err is SQLite's primary key constraint
// error: a result of the same job and index is stored already.
func isKeyConflict(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && (se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY || se.Code() == sqlite3.SQLITE_CONSTRAINT)
}

// insert stores rs, all fresh, with the insert statement of slot.
func (g *resultGrouper) insert(ctx context.Context, slot int, rs []*job.Result) error {
	// Arguments are driver values already (int64, not int; nil, not
	// sql.NullInt64): database/sql then converts none of them by reflection.
	g.args = g.args[:0]
	for _, r := range rs {
		var exit any
		if r.ExitCode != nil {
			exit = int64(*r.ExitCode)
		}
		truncated := int64(0)
		if r.Truncated {
			truncated = 1
		}
		g.args = append(g.args, g.key, int64(r.Index), r.Host, r.State, int64(r.StatusCode),
			exit, r.LatencyMs, r.BodyBytes, truncated, r.ErrorClass,
			int64(r.Attempts), r.Worker, r.Value, unixMicro(r.StartedAt), unixMicro(r.FinishedAt),
			r.Target, r.Error, r.Stderr, r.Body)
	}
	res, err := g.tx.StmtContext(ctx, g.s.insertResults[slot]).ExecContext(ctx, g.args...)
	if err != nil {
		return fmt.Errorf("insert results %d..%d: %w", rs[0].Index, rs[len(rs)-1].Index, err)
	}
	if n, err := res.RowsAffected(); err != nil || n != int64(len(rs)) {
		// Every row was checked to be fresh inside this transaction.
		return fmt.Errorf("insert results %d..%d: %d of %d rows stored (%v)", rs[0].Index, rs[len(rs)-1].Index, n, len(rs), err)
	}
	return nil
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
func (s *SQLite) Results(ctx context.Context, jobID string, q ResultQuery) ([]job.Result, int, error) {
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
