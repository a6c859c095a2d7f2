package store

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"slices"

	"github.com/salvo-sh/salvo/job"
)

// groupExprs maps an aggregation key to the SQL expression whose value
// names a result's group:
//
//   - ByValue: the result's value.
//   - ByStatus: the HTTP status code ("200", "503") when there is one, else
//     "exit N" when there is an exit code (SSH), else the state ("error",
//     "timeout", "skipped", "cancelled").
//   - ByErrorClass: the error class, "none" for results without one.
//   - ByBody: the body; a ByBody group is also of one outcome (state,
//     status code, exit code, error class: scanBodies). A target that got
//     no answer (error, timeout, skipped, cancelled) and so has no body is
//     named by why: "[error: connect_refused]", "[timeout: timeout]",
//     "[skipped]", rather than by an empty body.
//   - ByStderr: the stderr, named as ByBody names a missing body.
var groupExprs = map[string]string{
	ByValue: `value`,
	ByStatus: `CASE WHEN status_code > 0 THEN CAST(status_code AS TEXT)
		WHEN exit_code IS NOT NULL THEN 'exit ' || exit_code ELSE state END`,
	ByErrorClass: `CASE WHEN error_class = '' THEN 'none' ELSE error_class END`,
	ByBody:       orWhy(`body`),
	ByStderr:     orWhy(`stderr`),
}

// orWhy is the expression of column col, or, when it is empty on a result
// without an answer, "[state: error class]".
func orWhy(col string) string {
	return `CASE WHEN ` + col + ` = '' AND state IN ('error', 'timeout', 'skipped', 'cancelled')
		THEN '[' || state || CASE WHEN error_class = '' THEN '' ELSE ': ' || error_class END || ']'
		ELSE ` + col + ` END`
}

// failedOrder ranks the states of ByBody groups that are not ok: they
// come first, in this order, an unknown state after them, ok last.
var failedOrder = []string{job.StateFailed, job.StateError, job.StateTimeout, job.StateSkipped, job.StateCancelled}

// outcomeRank is a state's place in the order of ByBody groups.
func outcomeRank(state string) int {
	if i := slices.Index(failedOrder, state); i >= 0 {
		return i
	}
	if state == job.StateOK {
		return len(failedOrder) + 1
	}
	return len(failedOrder)
}

// aggGroup is a group being counted.
type aggGroup struct {
	value   string
	count   int
	isError bool
	hosts   []groupHost // of the group's first MaxGroupHosts results, at least one
	next    int         // index of the result after them, 0 until there is one
	first   int         // index of the group's first result
}

// bodyGroup is a ByBody group being counted: its results share an outcome
// and a body, and are counted again by stderr in parts, which hold the
// hosts (the group's own hosts are left empty until mergeHosts).
type bodyGroup struct {
	aggGroup
	outcome outcome
	parts   []*aggGroup // by stderr, in the order of their first results
	// firstStderr is the hash of parts[0]'s stderr: most groups have one
	// part, found without a map.
	firstStderr uint64
}

// outcome is what a ByBody group's results share besides their body.
type outcome struct {
	state      string
	statusCode int
	exitCode   sql.NullInt64
	errorClass string
}

// groupHost is one result of an aggGroup.
type groupHost struct {
	idx  int
	host string
}

// add counts the result idx on host in g.
func (g *aggGroup) add(idx int, host []byte, isErr bool) {
	if g.count == 0 {
		g.first = idx
	}
	g.count++
	g.isError = g.isError || isErr
	switch {
	case len(g.hosts) < MaxGroupHosts:
		g.hosts = append(g.hosts, groupHost{idx: idx, host: string(host)})
	case g.next == 0:
		g.next = idx
	}
}

// Aggregate groups a job's results by a key (ByValue, ByStatus,
// ByErrorClass, ByBody or ByStderr) in one pass over the results in index
// order, and returns at most limit groups (DefaultGroupLimit when ≤ 0):
// the largest first, ties by value; ByBody groups in the order of their
// outcomes' states (failed, error, timeout, skipped, cancelled, then ok),
// then the largest first, ties by first result. Each group lists the hosts and
// indexes of its first MaxGroupHosts results and the cursor of the rest
// for GroupResults; IsError is set when some result of the group is an
// error or a timeout. A ByBody group carries its outcome and its results
// split by stderr (Group.Stderr), each part with its hosts as a group has.
//
// The pass reads every result of the job: its time grows with the job; its
// memory grows with the number of groups (ByBody: of their stderr parts),
// not of results: a group keeps at most MaxGroupHosts hosts. ByBody and
// ByStderr group by a 64-bit hash seeded per call and keep no output in
// memory but the kept groups' first ones; when groups tie at the cut, the
// earliest ones are kept.
//
// The groups of a terminal job (its results no longer change) are computed
// once, for up to aggregateCacheLimit groups, and kept in aggregate_cache:
// later answers read them back in time independent of the job's size.
func (s *SQLite) Aggregate(ctx context.Context, jobID, by string, limit int) ([]Group, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	expr, ok := groupExprs[by]
	if !ok {
		return nil, fmt.Errorf("aggregate job %s: unknown key %q", jobID, by)
	}
	if limit <= 0 {
		limit = DefaultGroupLimit
	}
	var state string
	if err := s.r.QueryRowContext(ctx, `SELECT state FROM jobs WHERE id = ?`, jobID).Scan(&state); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("aggregate job %s: %w", jobID, err)
	}
	if !Terminal(state) || limit > aggregateCacheLimit {
		return s.aggregate(ctx, jobID, by, expr, limit)
	}
	key := cacheKey(by)
	var gs []Group
	if ok, err := s.readCache(ctx, jobID, key, &gs); err != nil || ok {
		if err != nil {
			return nil, fmt.Errorf("aggregate job %s by %s: %w", jobID, by, err)
		}
		return gs[:min(len(gs), limit)], nil
	}
	gs, err := s.aggregate(ctx, jobID, by, expr, aggregateCacheLimit)
	if err != nil {
		return nil, err
	}
	if err := s.keepCache(ctx, jobID, key, gs); err != nil {
		return nil, fmt.Errorf("aggregate job %s by %s: %w", jobID, by, err)
	}
	return gs[:min(len(gs), limit)], nil
}

// readCache reads into v what keepCache kept for job jobID under key;
// false when there is none.
func (s *SQLite) readCache(ctx context.Context, jobID, key string, v any) (bool, error) {
	var blob []byte
	err := s.r.QueryRowContext(ctx, `SELECT groups FROM aggregate_cache WHERE job_id = ? AND by_key = ?`, jobID, key).Scan(&blob)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("read the cache: %w", err)
	}
	if err := json.Unmarshal(blob, v); err != nil {
		return false, fmt.Errorf("decode the cache: %w", err)
	}
	return true, nil
}

// keepCache keeps v, as JSON, in aggregate_cache for job jobID under key:
// what a terminal job's results give, which no longer changes. Each store
// keeps its own (the rows are not replicated); a job's delete removes
// them.
func (s *SQLite) keepCache(ctx context.Context, jobID, key string, v any) error {
	blob, err := json.Marshal(v)
	if err == nil {
		_, err = s.w.ExecContext(ctx, `INSERT INTO aggregate_cache (job_id, by_key, groups) VALUES (?, ?, ?)
			ON CONFLICT (job_id, by_key) DO NOTHING`, jobID, key, blob)
	}
	if err != nil {
		return fmt.Errorf("keep the cache: %w", err)
	}
	s.wrote()
	return nil
}

// aggregateCacheLimit is how many groups a terminal job's cached aggregate
// keeps: the API's largest limit.
const aggregateCacheLimit = 1000

// aggregateCacheVersion is the version of the groups kept in
// aggregate_cache, part of its by_key: rows of an older shape (version 1,
// by_key without a version, whose body groups had no outcome) are not
// read again.
const aggregateCacheVersion = 2

// cacheKey is the by_key of aggregate_cache for the key by.
func cacheKey(by string) string { return fmt.Sprintf("%s/v%d", by, aggregateCacheVersion) }

// aggregate computes a job's groups: one pass over its results.
func (s *SQLite) aggregate(ctx context.Context, jobID, by, expr string, limit int) ([]Group, error) {
	// One read transaction: the groups' bodies are read from the same
	// snapshot as the groups.
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("aggregate job %s: begin: %w", jobID, err)
	}
	defer tx.Rollback()

	if by == ByBody {
		return aggregateBodies(ctx, tx, jobID, expr, limit)
	}
	groups, err := scanGroups(ctx, tx, jobID, expr, by == ByStderr)
	if err != nil {
		return nil, fmt.Errorf("aggregate job %s by %s: %w", jobID, by, err)
	}
	byCountThenValue := func(a, b *aggGroup) int {
		return cmp.Or(cmp.Compare(b.count, a.count), cmp.Compare(a.value, b.value))
	}
	if by == ByStderr {
		// The pass kept hashes: cut by count, then read the kept groups'
		// values.
		slices.SortFunc(groups, bySizeThenFirst)
		groups = groups[:min(len(groups), limit)]
		for _, g := range groups {
			if err := readValue(ctx, tx, jobID, expr, g); err != nil {
				return nil, fmt.Errorf("aggregate job %s by %s: %w", jobID, by, err)
			}
		}
		slices.SortStableFunc(groups, byCountThenValue)
	} else {
		slices.SortFunc(groups, byCountThenValue)
		groups = groups[:min(len(groups), limit)]
	}
	out := make([]Group, len(groups))
	for i, g := range groups {
		out[i] = g.group()
	}
	return out, nil
}

// aggregateBodies computes a job's ByBody groups (expr names the body) in
// tx: failed outcomes first, then the largest, ties by first result; each
// with its outcome and its MaxStderrGroups largest parts by stderr.
func aggregateBodies(ctx context.Context, tx *sql.Tx, jobID, expr string, limit int) ([]Group, error) {
	groups, err := scanBodies(ctx, tx, jobID, expr)
	if err != nil {
		return nil, fmt.Errorf("aggregate job %s by %s: %w", jobID, ByBody, err)
	}
	slices.SortFunc(groups, func(a, b *bodyGroup) int {
		return cmp.Or(cmp.Compare(outcomeRank(a.outcome.state), outcomeRank(b.outcome.state)),
			cmp.Compare(b.count, a.count), cmp.Compare(a.first, b.first))
	})
	groups = groups[:min(len(groups), limit)]
	out := make([]Group, len(groups))
	for i, g := range groups {
		if err := readValue(ctx, tx, jobID, expr, &g.aggGroup); err != nil {
			return nil, fmt.Errorf("aggregate job %s by %s: %w", jobID, ByBody, err)
		}
		g.hosts, g.next = mergeHosts(g.parts)
		o := &out[i]
		*o = g.group()
		o.State, o.StatusCode, o.ErrorClass = g.outcome.state, g.outcome.statusCode, g.outcome.errorClass
		if g.outcome.exitCode.Valid {
			code := int(g.outcome.exitCode.Int64)
			o.ExitCode = &code
		}
		slices.SortFunc(g.parts, bySizeThenFirst)
		kept := g.parts[:min(len(g.parts), MaxStderrGroups)]
		for _, p := range g.parts[len(kept):] {
			o.StderrMore += p.count
			o.StderrMoreGroups++
		}
		o.Stderr = make([]Group, len(kept))
		for k, p := range kept {
			if err := readValue(ctx, tx, jobID, `stderr`, p); err != nil {
				return nil, fmt.Errorf("aggregate job %s by %s: %w", jobID, ByBody, err)
			}
			o.Stderr[k] = p.group()
		}
	}
	return out, nil
}

// bySizeThenFirst orders groups largest first, ties by first result.
func bySizeThenFirst(a, b *aggGroup) int {
	return cmp.Or(cmp.Compare(b.count, a.count), cmp.Compare(a.first, b.first))
}

// readValue reads the value expr of g's first result into g.value.
func readValue(ctx context.Context, tx *sql.Tx, jobID, expr string, g *aggGroup) error {
	err := tx.QueryRowContext(ctx, `SELECT `+expr+` FROM results WHERE `+jobKeyIs+` AND idx = ?`, jobID, g.first).Scan(&g.value)
	if err != nil {
		return fmt.Errorf("value of %d: %w", g.first, err)
	}
	return nil
}

// group is the Group of g, without outcome or stderr parts.
func (g *aggGroup) group() Group {
	out := Group{
		Value:      g.value,
		Count:      g.count,
		Hosts:      make([]string, len(g.hosts)),
		Indexes:    make([]int, len(g.hosts)),
		NextCursor: g.next,
		IsError:    g.isError,
	}
	for k, h := range g.hosts {
		out.Hosts[k], out.Indexes[k] = h.host, h.idx
	}
	return out
}

// mergeHosts returns the first MaxGroupHosts hosts of a ByBody group by
// index, merged from its stderr parts (each with its first hosts and the
// index after them), and the index of the group's result after them (0
// when there is none). They are among the parts' hosts (a part with more
// of them would have more than MaxGroupHosts), and the one after them is a
// part's host or next.
func mergeHosts(parts []*aggGroup) ([]groupHost, int) {
	var all []groupHost
	next := 0
	for _, p := range parts {
		all = append(all, p.hosts...)
		if p.next > 0 && (next == 0 || p.next < next) {
			next = p.next
		}
	}
	slices.SortFunc(all, func(a, b groupHost) int { return cmp.Compare(a.idx, b.idx) })
	if len(all) > MaxGroupHosts {
		if n := all[MaxGroupHosts].idx; next == 0 || n < next {
			next = n
		}
		all = all[:MaxGroupHosts]
	}
	return all, next
}

// scanGroups reads every result of a job in index order and counts them by
// expr, by the hash of expr when hashed is set (then the groups' values are
// left empty). Hosts are copied for the first MaxGroupHosts results of a
// group only.
func scanGroups(ctx context.Context, tx *sql.Tx, jobID, expr string, hashed bool) ([]*aggGroup, error) {
	rows, err := tx.QueryContext(ctx, `SELECT idx, host, state IN ('error', 'timeout'), `+expr+`
		FROM results WHERE `+jobKeyIs+` ORDER BY idx`, jobID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var (
		groups []*aggGroup
		byStr  = make(map[string]*aggGroup)
		byHash = make(map[uint64]*aggGroup)
		seed   = maphash.MakeSeed()
		idx    int
		host   sql.RawBytes
		isErr  bool
		key    sql.RawBytes
	)
	for rows.Next() {
		if err := rows.Scan(&idx, &host, &isErr, &key); err != nil {
			return nil, err
		}
		var g *aggGroup
		if hashed {
			h := maphash.Bytes(seed, key)
			if g = byHash[h]; g == nil {
				g = &aggGroup{}
				byHash[h] = g
				groups = append(groups, g)
			}
		} else if g = byStr[string(key)]; g == nil {
			g = &aggGroup{value: string(key)}
			byStr[g.value] = g
			groups = append(groups, g)
		}
		g.add(idx, host, isErr)
	}
	return groups, rows.Err()
}

// scanBodies is scanGroups for ByBody: it reads every result of a job in
// index order and counts them by the hash of their outcome (state, status
// code, exit code, error class) and body (expr), and within each group by
// the hash of their stderr. Hosts are kept in the parts only.
func scanBodies(ctx context.Context, tx *sql.Tx, jobID, expr string) ([]*bodyGroup, error) {
	rows, err := tx.QueryContext(ctx, `SELECT idx, host, state, status_code, exit_code, error_class, `+expr+`, stderr
		FROM results WHERE `+jobKeyIs+` ORDER BY idx`, jobID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	type partKey struct{ group, stderr uint64 }
	var (
		groups []*bodyGroup
		byHash = make(map[uint64]*bodyGroup)
		parts  = make(map[partKey]*aggGroup) // but the groups' first parts
		seed   = maphash.MakeSeed()
		h      maphash.Hash
		num    [8]byte
		idx    int
		host   sql.RawBytes
		state  sql.RawBytes
		status int64
		exit   sql.NullInt64
		class  sql.RawBytes
		body   sql.RawBytes
		stderr sql.RawBytes
	)
	h.SetSeed(seed)
	for rows.Next() {
		if err := rows.Scan(&idx, &host, &state, &status, &exit, &class, &body, &stderr); err != nil {
			return nil, err
		}
		h.Reset()
		h.Write(state)
		h.WriteByte(0)
		h.Write(class)
		h.WriteByte(0)
		binary.LittleEndian.PutUint64(num[:], uint64(status))
		h.Write(num[:])
		if exit.Valid {
			h.WriteByte(1)
			binary.LittleEndian.PutUint64(num[:], uint64(exit.Int64))
			h.Write(num[:])
		} else {
			h.WriteByte(0)
		}
		h.Write(body)
		key, stderrKey := h.Sum64(), maphash.Bytes(seed, stderr)
		g := byHash[key]
		if g == nil {
			g = &bodyGroup{outcome: outcome{state: string(state), statusCode: int(status), exitCode: exit, errorClass: string(class)},
				parts: []*aggGroup{{}}, firstStderr: stderrKey}
			byHash[key] = g
			groups = append(groups, g)
		}
		part := g.parts[0]
		if stderrKey != g.firstStderr {
			pk := partKey{key, stderrKey}
			if part = parts[pk]; part == nil {
				part = &aggGroup{}
				parts[pk] = part
				g.parts = append(g.parts, part)
			}
		}
		isErr := g.outcome.state == job.StateError || g.outcome.state == job.StateTimeout
		if g.count == 0 {
			g.first = idx
		}
		g.count++
		g.isError = g.isError || isErr
		part.add(idx, host, isErr)
	}
	return groups, rows.Err()
}
