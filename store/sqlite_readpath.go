package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// GroupResults returns a page of the results of one aggregation group (the
// results whose key q.By names q.Value, as Aggregate names groups, or,
// with q.Of, the group of result q.Of) in index order from index q.Cursor
// on, without bodies, and the cursor of the next page (0 at the end).
//
// The group's key is compared in SQL, in one query bounded by the page:
// a status that is a result state ("error", "timeout") is read through the
// (job, state, index) index; other keys have no index (one on the value
// would cost every insert), so the query reads the job in index order from
// the cursor and stops after q.Limit matches or MaxGroupScan indexes,
// whichever comes first. A page of a sparse group may thus be short, even
// empty, with a next cursor. A ByBody group named by q.Of is compared on
// its outcome and on result q.Of's body (and stderr, q.SameStderr) read in
// the query; an unknown q.Of is ErrNotFound.
func (s *SQLite) GroupResults(ctx context.Context, jobID string, q GroupQuery) ([]ValueRow, int, error) {
	if err := s.enter(); err != nil {
		return nil, 0, err
	}
	defer s.leave()
	expr, ok := groupExprs[q.By]
	if !ok {
		return nil, 0, fmt.Errorf("group results of job %s: unknown key %q", jobID, q.By)
	}
	if q.SameStderr && (q.By != ByBody || q.Of == nil) {
		return nil, 0, fmt.Errorf("group results of job %s: SameStderr needs ByBody and Of", jobID)
	}
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultResultLimit
	}
	var of *outcome
	if q.Of != nil {
		var err error
		if q, of, err = s.groupOf(ctx, jobID, q, expr); err != nil {
			return nil, 0, fmt.Errorf("group results of job %s: %w", jobID, err)
		}
	}
	query, args, indexed := groupResultsQuery(jobID, q, expr, limit, of)
	rows, err := s.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, 0, fmt.Errorf("group results of job %s: %w", jobID, err)
	}
	defer rows.Close()
	out := make([]ValueRow, 0, min(limit+1, 1024))
	for rows.Next() {
		var r ValueRow
		if err := rows.Scan(&r.Index, &r.Host, &r.State, &r.ErrorClass, &r.Value); err != nil {
			return nil, 0, fmt.Errorf("group results of job %s: %w", jobID, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("group results of job %s: %w", jobID, err)
	}
	if len(out) > limit {
		return out[:limit], out[limit].Index, nil
	}
	if indexed {
		return out, 0, nil
	}
	// The page is short: it ends the group unless the scan stopped at
	// MaxGroupScan with results beyond.
	next := max(q.Cursor, 0) + MaxGroupScan
	var more bool
	err = s.r.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM results WHERE `+jobKeyIs+` AND idx >= ?)`, jobID, next).Scan(&more)
	if err != nil {
		return nil, 0, fmt.Errorf("group results of job %s: %w", jobID, err)
	}
	if !more {
		next = 0
	}
	return out, next, nil
}

// groupOf resolves q.Of, the index of a result of the group: for ByBody,
// the result's outcome (its body is compared in the page's query); for
// the other keys, the value of its key, q.Of cleared. ErrNotFound when
// the job has no result q.Of.
func (s *SQLite) groupOf(ctx context.Context, jobID string, q GroupQuery, expr string) (GroupQuery, *outcome, error) {
	var (
		row *sql.Row
		of  outcome
		err error
	)
	if q.By == ByBody {
		row = s.r.QueryRowContext(ctx, `SELECT state, status_code, exit_code, error_class FROM results WHERE `+jobKeyIs+` AND idx = ?`, jobID, *q.Of)
		err = row.Scan(&of.state, &of.statusCode, &of.exitCode, &of.errorClass)
	} else {
		row = s.r.QueryRowContext(ctx, `SELECT `+expr+` FROM results WHERE `+jobKeyIs+` AND idx = ?`, jobID, *q.Of)
		err = row.Scan(&q.Value)
	}
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return q, nil, fmt.Errorf("result %d: %w", *q.Of, ErrNotFound)
	case err != nil:
		return q, nil, fmt.Errorf("result %d: %w", *q.Of, err)
	case q.By == ByBody:
		return q, &of, nil
	}
	q.Of = nil
	return q, nil, nil
}

// groupResultsQuery returns the query of a GroupResults page of at most
// limit results (it asks for one more, the next page's first) of the group
// whose key expr names q.Value, or, of set, of the ByBody group of result
// q.Of, which has that outcome; its arguments, and whether it reads a
// state's index (else it reads at most MaxGroupScan indexes from the
// cursor on).
func groupResultsQuery(jobID string, q GroupQuery, expr string, limit int, of *outcome) (string, []any, bool) {
	cursor := max(q.Cursor, 0)
	var b strings.Builder
	b.WriteString(`SELECT idx, host, state, error_class, value FROM results WHERE ` + jobKeyIs + ` AND idx >= ?`)
	args := []any{jobID, cursor}
	state, indexed := statusState(q.By, q.Value)
	if of != nil {
		indexed = false
	}
	if indexed {
		// Implied by the key, and lets SQLite read the state's index.
		b.WriteString(` AND state = ?`)
		args = append(args, state)
	} else {
		b.WriteString(` AND idx < ?`)
		args = append(args, cursor+MaxGroupScan)
	}
	if of == nil {
		b.WriteString(` AND (` + expr + `) = ? ORDER BY idx LIMIT ?`)
		return b.String(), append(args, q.Value, limit+1), indexed
	}
	// Result q.Of's body and stderr are read once, in the query: they
	// need not travel.
	b.WriteString(` AND state = ? AND status_code = ? AND exit_code IS ? AND error_class = ?
		AND (` + expr + `) = (SELECT ` + expr + ` FROM results WHERE ` + jobKeyIs + ` AND idx = ?)`)
	args = append(args, of.state, of.statusCode, of.exitCode, of.errorClass, jobID, *q.Of)
	if q.SameStderr {
		b.WriteString(` AND stderr = (SELECT stderr FROM results WHERE ` + jobKeyIs + ` AND idx = ?)`)
		args = append(args, jobID, *q.Of)
	}
	b.WriteString(` ORDER BY idx LIMIT ?`)
	return b.String(), append(args, limit+1), false
}

// statusState returns the result state that a ByStatus group's value
// implies, when it names one: groupExprs[ByStatus] gives the state itself
// to results with neither a status code nor an exit code, and "200" or
// "exit 1" to the others.
func statusState(by, value string) (string, bool) {
	if by != ByStatus || value == "" || strings.HasPrefix(value, "exit ") {
		return "", false
	}
	if _, err := strconv.Atoi(value); err == nil {
		return "", false
	}
	return value, true
}

// resultsQuery returns the query of a Results page of at most limit
// results (it asks for one more, the next page's first) and its arguments.
// Every page reads from its cursor on in index order: States and Host
// through their indexes, (job, state, index) and (job, host, index), so
// that such a page costs its size, not the job's; with both, the host's
// index, the narrow one (the unary + keeps SQLite from choosing the
// state's). Several states without a host are one SELECT per state, each
// reading its state's index in index order, merged (MERGE (UNION ALL)):
// the merge reads each state only as far as the page needs, where
// state IN (...) would sort every match after the cursor. Q is tested on
// each result from the cursor on until the page is full.
func resultsQuery(jobID string, q ResultQuery, limit int) (string, []any) {
	states := distinct(q.States)
	if q.Host == "" && len(states) > 1 {
		var b strings.Builder
		var args []any
		for i, st := range states {
			if i > 0 {
				b.WriteString(` UNION ALL `)
			}
			arm, armArgs := resultsWhere(jobID, ResultQuery{States: []string{st}, Q: q.Q, Cursor: q.Cursor})
			b.WriteString(arm)
			args = append(args, armArgs...)
		}
		b.WriteString(` ORDER BY idx LIMIT ?`)
		return b.String(), append(args, limit+1)
	}
	q.States = states
	query, args := resultsWhere(jobID, q)
	return query + ` ORDER BY idx LIMIT ?`, append(args, limit+1)
}

// resultsWhere is the SELECT of resultsQuery without ORDER BY and LIMIT,
// and its arguments: for a host with any states, or at most one state.
func resultsWhere(jobID string, q ResultQuery) (string, []any) {
	var b strings.Builder
	b.WriteString(`SELECT ` + resultColumns + ` FROM results WHERE ` + jobKeyIs + ` AND idx >= ?`)
	args := []any{jobID, max(q.Cursor, 0)}
	switch {
	case q.Host != "" && len(q.States) > 0:
		b.WriteString(` AND host = ? AND +state IN (?` + strings.Repeat(`, ?`, len(q.States)-1) + `)`)
		args = append(args, q.Host)
		for _, st := range q.States {
			args = append(args, st)
		}
	case q.Host != "":
		b.WriteString(` AND host = ?`)
		args = append(args, q.Host)
	case len(q.States) > 0:
		b.WriteString(` AND state = ?`)
		args = append(args, q.States[0])
	}
	if q.Q != "" {
		b.WriteString(` AND (instr(body, ?) > 0 OR instr(stderr, ?) > 0 OR instr(error, ?) > 0 OR instr(value, ?) > 0)`)
		args = append(args, q.Q, q.Q, q.Q, q.Q)
	}
	return b.String(), args
}

// distinct returns ss without repeats, in their first order.
func distinct(ss []string) []string {
	out := make([]string, 0, len(ss))
	for _, s := range ss {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}
