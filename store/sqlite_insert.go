package store

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/salvo-sh/salvo/job"
)

// PutResults' insert path. It runs on the writer's driver connection
// ((*sql.Conn).Raw), not through database/sql: database/sql converts and
// copies every argument of every statement into a new []driver.NamedValue
// (19 per result, about 0.8 KB), where this path fills one buffer that
// every call reuses. Statements are prepared on that connection once.
//
// Most results are plain: state ok, no error, no stderr, no exit code, not
// truncated. Those go in statements whose VALUES carry these columns as
// literals, 12 arguments per result instead of 19 (each text argument is
// copied into C memory by the driver), and every statement binds the job
// key once (?1) instead of once per row. The stored rows are the same.

// resultGroup is the most results one INSERT statement stores: one
// statement per group instead of per row cuts the driver's per-statement
// cost. 19 columns × 64 rows stays far below SQLite's 32,766 bound on
// variables. Groups have power-of-two sizes, so that the statements of
// every size are prepared once (groupSizes of them per kind).
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

// maxGroupBytes bounds the bodies one insert statement carries: the
// driver copies every bound value out of the Go heap before SQLite runs
// the statement, so a group of large bodies would be held twice at once.
const maxGroupBytes = 4 << 20

// groupFor returns the size and slot of the next group of rs: groupSize's,
// halved until its bodies fit in maxGroupBytes (one result at least).
func groupFor(rs []*job.Result) (size, slot int) {
	size, slot = groupSize(len(rs))
	for size > 1 && groupBytes(rs[:size]) > maxGroupBytes {
		size >>= 1
		slot--
	}
	return size, slot
}

func groupBytes(rs []*job.Result) int {
	n := 0
	for _, r := range rs {
		n += len(r.Body) + len(r.Stderr)
	}
	return n
}

// insertColumns are the columns of results that the insert statements set.
const insertColumns = `job_key, idx, host, state, status_code, exit_code, latency_ms, body_bytes, truncated,
	error_class, attempts, worker, value, started_at, finished_at, target, error, stderr, body`

// richRow and plainRow are one row of VALUES, after the job key (?1), for
// any result and for a plain one (see isPlain): the arguments are those
// richArgs and plainArgs append, in this order. In SQL a "?" after "?1"
// takes the next number, so the key is bound once per statement.
const (
	richRow  = `(?1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	plainRow = `(?1, ?, ?, 'ok', ?, NULL, ?, ?, 0, '', ?, ?, ?, ?, ?, ?, '', '', ?)`
)

// insertSQL returns the statement that stores n results, each as row. It
// has no ON CONFLICT clause (which costs a b-tree probe per row): a result
// whose (job_key, idx) is stored already makes it fail, and PutResults
// then inserts only the new ones.
func insertSQL(row string, n int) string {
	var b strings.Builder
	b.WriteString(`INSERT INTO results (` + insertColumns + `) VALUES `)
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

// isPlain reports whether r goes in a plain statement: its columns that
// plainRow sets as literals have those values.
func isPlain(r *job.Result) bool {
	return r.State == job.StateOK && r.ExitCode == nil && !r.Truncated &&
		r.ErrorClass == "" && r.Error == "" && r.Stderr == ""
}

// rawConn is what the insert path needs of the driver's connection.
type rawConn interface {
	driver.ConnPrepareContext
	driver.ConnBeginTx
	driver.ExecerContext
	driver.QueryerContext
}

// insertConn is the insert path's state on the writer's driver connection:
// the statements prepared there and the buffers every call reuses. The
// writer pool has one connection, and Raw holds it, so one call at a time
// uses it; mu makes sure.
type insertConn struct {
	mu sync.Mutex
	// conn is the connection the statements were prepared on; nil before
	// the first prepare.
	conn                   rawConn
	plain, rich, storedIn  [groupSizes]driver.Stmt
	args                   []driver.NamedValue
	plainBuf, richBuf, buf []*job.Result
}

// prepare prepares the statements on c unless they are prepared there
// already. Statements of an earlier connection (which database/sql has
// closed, finalizing nothing) are dropped: that connection is gone.
func (ic *insertConn) prepare(ctx context.Context, c rawConn) error {
	if ic.conn == c {
		return nil
	}
	ic.conn = nil
	for slot := range groupSizes {
		n := 1 << slot
		var err error
		if ic.plain[slot], err = c.PrepareContext(ctx, insertSQL(plainRow, n)); err != nil {
			return fmt.Errorf("prepare insert of %d plain results: %w", n, err)
		}
		if ic.rich[slot], err = c.PrepareContext(ctx, insertSQL(richRow, n)); err != nil {
			return fmt.Errorf("prepare insert of %d results: %w", n, err)
		}
		if ic.storedIn[slot], err = c.PrepareContext(ctx, storedInGroupSQL(n)); err != nil {
			return fmt.Errorf("prepare lookup of %d results: %w", n, err)
		}
	}
	ic.conn = c
	return nil
}

// close finalizes the statements when c is the connection they belong to.
func (ic *insertConn) close(c rawConn) error {
	if ic.conn != c {
		return nil
	}
	ic.conn = nil
	var errs []error
	for _, st := range append(append(ic.plain[:], ic.rich[:]...), ic.storedIn[:]...) {
		if st != nil {
			if err := st.Close(); err != nil {
				errs = append(errs, fmt.Errorf("close statement: %w", err))
			}
		}
	}
	ic.plain, ic.rich, ic.storedIn = [groupSizes]driver.Stmt{}, [groupSizes]driver.Stmt{}, [groupSizes]driver.Stmt{}
	return errors.Join(errs...)
}

// withWriter runs f with the writer's driver connection and the insert
// state, holding both.
func (s *SQLite) withWriter(ctx context.Context, f func(c rawConn, ic *insertConn) error) error {
	conn, err := s.w.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		c, ok := dc.(rawConn)
		if !ok {
			return fmt.Errorf("driver connection %T lacks prepare, begin, exec or query with a context", dc)
		}
		s.ins.mu.Lock()
		defer s.ins.mu.Unlock()
		return f(c, &s.ins)
	})
}

// prepareInserts prepares PutResults' statements on the writer (at open).
func (s *SQLite) prepareInserts(ctx context.Context) error {
	return s.withWriter(ctx, func(c rawConn, ic *insertConn) error { return ic.prepare(ctx, c) })
}

// closeInserts finalizes PutResults' statements (before the writer closes).
func (s *SQLite) closeInserts() error {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.BusyTimeout+10*time.Second)
	defer cancel()
	return s.withWriter(ctx, func(c rawConn, ic *insertConn) error { return ic.close(c) })
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
	var key int64
	var cached bool
	err := s.withWriter(ctx, func(c rawConn, ic *insertConn) error {
		// Statements run under a context without a done channel, so that
		// the driver does not start a watcher goroutine per statement;
		// cancellation is checked between groups. The transaction's
		// context bounds its commit's wait for a lock.
		stmtCtx := context.WithoutCancel(ctx)
		if err := ic.prepare(stmtCtx, c); err != nil {
			return err
		}
		tx, err := c.BeginTx(ctx, driver.TxOptions{})
		if err != nil {
			return fmt.Errorf("begin: %w", err)
		}
		done := false
		defer func() {
			if !done {
				tx.Rollback()
			}
		}()
		if key, cached = s.cachedKey(jobID); !cached {
			if key, err = rawJobKey(stmtCtx, c, jobID); err != nil {
				return err
			}
		}
		w := resultWriter{ic: ic, key: key, counts: counts}
		if err := w.putAll(ctx, stmtCtx, results); err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		done = true
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("commit: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("put results of job %s: %w", jobID, err)
	}
	if !cached {
		s.cacheKey(jobID, key) // committed now: a rolled back key is never cached
	}
	s.wrote()
	return counts, nil
}

// rawJobKey returns the integer key of a job id, creating it when missing.
func rawJobKey(ctx context.Context, c rawConn, jobID string) (int64, error) {
	arg := []driver.NamedValue{{Ordinal: 1, Value: jobID}}
	key, found, err := queryInt(ctx, c, `SELECT key FROM job_keys WHERE id = ?`, arg)
	if err == nil && !found {
		var res driver.Result
		if res, err = c.ExecContext(ctx, `INSERT INTO job_keys (id) VALUES (?)`, arg); err == nil {
			key, err = res.LastInsertId()
		}
	}
	if err != nil {
		return 0, fmt.Errorf("key of job %s: %w", jobID, err)
	}
	return key, nil
}

// queryInt returns the first column of the first row of a query, an
// integer, and whether there is a row.
func queryInt(ctx context.Context, c rawConn, query string, args []driver.NamedValue) (int64, bool, error) {
	rows, err := c.QueryContext(ctx, query, args)
	if err != nil {
		return 0, false, err
	}
	defer rows.Close()
	dest := make([]driver.Value, len(rows.Columns()))
	if err := rows.Next(dest); errors.Is(err, io.EOF) {
		return 0, false, nil
	} else if err != nil {
		return 0, false, err
	}
	v, ok := dest[0].(int64)
	if !ok {
		return 0, false, fmt.Errorf("%s: got %T, want an integer", query, dest[0])
	}
	return v, true, nil
}

// resultWriter stores one PutResults call's results in groups.
type resultWriter struct {
	ic     *insertConn
	key    int64
	counts map[string]int
	seen   map[int]bool // indexes of this call stored through fresh
}

// putAll stores results: plain ones with the plain statements, the others
// with the rich ones, each kind in order. When one index is in the batch
// both as a plain and as a rich result, which of them comes first matters
// (the first one is stored), so then every result goes with the rich
// statements, in the batch's order.
func (w *resultWriter) putAll(ctx, stmtCtx context.Context, results []job.Result) error {
	plain, rich := w.ic.plainBuf[:0], w.ic.richBuf[:0]
	for i := range results {
		if r := &results[i]; isPlain(r) {
			plain = append(plain, r)
		} else {
			rich = append(rich, r)
		}
	}
	defer func() {
		// Keep the buffers (unless a huge batch grew them), not the
		// results they point to.
		w.ic.plainBuf, w.ic.richBuf, w.ic.buf = keepBuf(plain), keepBuf(rich), keepBuf(w.ic.buf)
	}()
	if len(plain) > 0 && len(rich) > 0 && sharesIndex(plain, rich) {
		rich = rich[:0]
		for i := range results {
			rich = append(rich, &results[i])
		}
		plain = plain[:0]
	}
	if err := w.put(ctx, stmtCtx, true, plain); err != nil {
		return err
	}
	return w.put(ctx, stmtCtx, false, rich)
}

// maxKeptBuf is the largest result pointer buffer kept for the next call.
const maxKeptBuf = 1 << 14

// keepBuf returns b emptied and cleared up to its capacity, or nil when
// it is too large to keep.
func keepBuf(b []*job.Result) []*job.Result {
	if cap(b) > maxKeptBuf {
		return nil
	}
	clear(b[:cap(b)])
	return b[:0]
}

// sharesIndex reports whether a and b have a result index in common.
func sharesIndex(a, b []*job.Result) bool {
	if len(a) > len(b) {
		a, b = b, a
	}
	set := make(map[int]struct{}, len(a))
	for _, r := range a {
		set[r.Index] = struct{}{}
	}
	for _, r := range b {
		if _, ok := set[r.Index]; ok {
			return true
		}
	}
	return false
}

// put stores rs, all plain or not, resultGroup per statement.
func (w *resultWriter) put(ctx, stmtCtx context.Context, plain bool, rs []*job.Result) error {
	for rest := rs; len(rest) > 0; {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, slot := groupFor(rest)
		group := rest[:n]
		rest = rest[n:]
		// Almost every group is new: insert it as it is. A plain INSERT
		// fails at a stored (job, index), and SQLite then backs out the
		// whole statement while the transaction goes on; only such a
		// group pays for finding out which of its results are new.
		err := w.insert(stmtCtx, plain, slot, group)
		if err == nil {
			w.count(group)
			continue
		}
		if !isKeyConflict(err) {
			return err
		}
		fresh, err := w.fresh(stmtCtx, group)
		if err != nil {
			return err
		}
		for len(fresh) > 0 {
			// Fresh results of a group with stored ones go in smaller groups.
			m, slot := groupFor(fresh)
			if err := w.insert(stmtCtx, plain, slot, fresh[:m]); err != nil {
				return err
			}
			w.count(fresh[:m])
			fresh = fresh[m:]
		}
	}
	return nil
}

func (w *resultWriter) count(rs []*job.Result) {
	for _, r := range rs {
		w.counts[r.State]++
	}
}

// fresh returns the results of group that are neither stored nor earlier
// in this call, in a buffer reused by the next call.
func (w *resultWriter) fresh(ctx context.Context, group []*job.Result) ([]*job.Result, error) {
	if w.seen == nil {
		w.seen = make(map[int]bool, len(group))
	}
	args := append(w.ic.args[:0], driver.NamedValue{Ordinal: 1, Value: w.key})
	for _, r := range group {
		args = appendArg(args, int64(r.Index))
	}
	_, slot := groupSize(len(group))
	stored, err := w.stored(ctx, slot, args)
	clear(args)
	w.ic.args = args[:0]
	if err != nil {
		return nil, fmt.Errorf("find stored results: %w", err)
	}
	buf := w.ic.buf[:0]
	for _, r := range group {
		if stored[r.Index] || w.seen[r.Index] {
			continue
		}
		w.seen[r.Index] = true
		buf = append(buf, r)
	}
	w.ic.buf = buf
	return buf, nil
}

// stored runs the lookup statement of slot and returns the indexes found.
func (w *resultWriter) stored(ctx context.Context, slot int, args []driver.NamedValue) (map[int]bool, error) {
	rows, err := w.ic.storedIn[slot].(driver.StmtQueryContext).QueryContext(ctx, args)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	stored := make(map[int]bool)
	dest := make([]driver.Value, 1)
	for {
		err := rows.Next(dest)
		if errors.Is(err, io.EOF) {
			return stored, nil
		}
		if err != nil {
			return nil, err
		}
		i, ok := dest[0].(int64)
		if !ok {
			return nil, fmt.Errorf("stored index is %T, want an integer", dest[0])
		}
		stored[int(i)] = true
	}
}

// isKeyConflict reports whether err is SQLite's primary key constraint
// error: a result of the same job and index is stored already.
func isKeyConflict(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && (se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY || se.Code() == sqlite3.SQLITE_CONSTRAINT)
}

// appendArg appends the next positional argument.
func appendArg(args []driver.NamedValue, v driver.Value) []driver.NamedValue {
	return append(args, driver.NamedValue{Ordinal: len(args) + 1, Value: v})
}

// insert stores rs, all fresh and all plain or not, with the insert
// statement of slot.
func (w *resultWriter) insert(ctx context.Context, plain bool, slot int, rs []*job.Result) error {
	// Arguments are driver values (int64, not int; nil for NULL), which
	// the driver binds as they are.
	args := append(w.ic.args[:0], driver.NamedValue{Ordinal: 1, Value: w.key})
	st := w.ic.rich[slot]
	if plain {
		st = w.ic.plain[slot]
		for _, r := range rs {
			args = appendArg(args, int64(r.Index))
			args = appendArg(args, r.Host)
			args = appendArg(args, int64(r.StatusCode))
			args = appendArg(args, r.LatencyMs)
			args = appendArg(args, r.BodyBytes)
			args = appendArg(args, int64(r.Attempts))
			args = appendArg(args, r.Worker)
			args = appendArg(args, r.Value)
			args = appendArg(args, unixMicro(r.StartedAt))
			args = appendArg(args, unixMicro(r.FinishedAt))
			args = appendArg(args, r.Target)
			args = appendArg(args, r.Body)
		}
	} else {
		for _, r := range rs {
			var exit driver.Value
			if r.ExitCode != nil {
				exit = int64(*r.ExitCode)
			}
			truncated := int64(0)
			if r.Truncated {
				truncated = 1
			}
			args = appendArg(args, int64(r.Index))
			args = appendArg(args, r.Host)
			args = appendArg(args, r.State)
			args = appendArg(args, int64(r.StatusCode))
			args = appendArg(args, exit)
			args = appendArg(args, r.LatencyMs)
			args = appendArg(args, r.BodyBytes)
			args = appendArg(args, truncated)
			args = appendArg(args, r.ErrorClass)
			args = appendArg(args, int64(r.Attempts))
			args = appendArg(args, r.Worker)
			args = appendArg(args, r.Value)
			args = appendArg(args, unixMicro(r.StartedAt))
			args = appendArg(args, unixMicro(r.FinishedAt))
			args = appendArg(args, r.Target)
			args = appendArg(args, r.Error)
			args = appendArg(args, r.Stderr)
			args = appendArg(args, r.Body)
		}
	}
	res, err := st.(driver.StmtExecContext).ExecContext(ctx, args)
	clear(args) // the buffer must not keep the results alive
	w.ic.args = args[:0]
	if err != nil {
		return fmt.Errorf("insert results %d..%d: %w", rs[0].Index, rs[len(rs)-1].Index, err)
	}
	if n, err := res.RowsAffected(); err != nil || n != int64(len(rs)) {
		// Every row was checked to be fresh inside this transaction.
		return fmt.Errorf("insert results %d..%d: %d of %d rows stored (%v)", rs[0].Index, rs[len(rs)-1].Index, n, len(rs), err)
	}
	return nil
}
