package store

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"slices"
)

// groupExprs maps an aggregation key to the SQL expression whose value
// names a result's group:
//
//   - ByValue: the result's value.
//   - ByStatus: the HTTP status code ("200", "503") when there is one, else
//     "exit N" when there is an exit code (SSH), else the state ("error",
//     "timeout", "skipped", "cancelled").
//   - ByErrorClass: the error class, "none" for results without one.
//   - ByBody: the body; identical bodies form a group. A target that got no
//     answer (error, timeout, skipped, cancelled) and so has no body is
//     grouped by why: "[error: connect_refused]", "[timeout: timeout]",
//     "[skipped]", rather than all in one empty group.
var groupExprs = map[string]string{
	ByValue: `value`,
	ByStatus: `CASE WHEN status_code > 0 THEN CAST(status_code AS TEXT)
		WHEN exit_code IS NOT NULL THEN 'exit ' || exit_code ELSE state END`,
	ByErrorClass: `CASE WHEN error_class = '' THEN 'none' ELSE error_class END`,
	ByBody: `CASE WHEN body = '' AND state IN ('error', 'timeout', 'skipped', 'cancelled')
		THEN '[' || state || CASE WHEN error_class = '' THEN '' ELSE ': ' || error_class END || ']'
		ELSE body END`,
}

// aggGroup is a group being counted.
type aggGroup struct {
	value   string
	count   int
	isError bool
	hosts   []groupHost // of the group's first MaxGroupHosts results, at least one
	next    int         // index of the result after them, 0 until there is one
}

// groupHost is one result of an aggGroup.
type groupHost struct {
	idx  int
	host string
}

// Aggregate groups a job's results by a key (ByValue, ByStatus,
// ByErrorClass or ByBody) in one pass over the results in index order, and
// returns the largest groups first, ties by value, at most limit groups
// (DefaultGroupLimit when ≤ 0). Each group lists the hosts and indexes of
// its first MaxGroupHosts results and the cursor of the rest for
// GroupResults; IsError is set when some result of the group is an error
// or a timeout.
//
// The pass reads every result of the job: its time grows with the job; its
// memory grows with the number of groups, not of results (a group keeps at
// most MaxGroupHosts hosts). ByBody groups bodies by a 64-bit hash seeded per
// call and keeps no body in memory but the groups' first ones; when groups
// tie in count at the cut, the earliest ones are kept.
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
	var blob []byte
	err := s.r.QueryRowContext(ctx, `SELECT groups FROM aggregate_cache WHERE job_id = ? AND by_key = ?`, jobID, by).Scan(&blob)
	switch {
	case err == nil:
		var gs []Group
		if err := json.Unmarshal(blob, &gs); err != nil {
			return nil, fmt.Errorf("aggregate job %s by %s: cached groups: %w", jobID, by, err)
		}
		return gs[:min(len(gs), limit)], nil
	case !errors.Is(err, sql.ErrNoRows):
		return nil, fmt.Errorf("aggregate job %s by %s: cached groups: %w", jobID, by, err)
	}
	gs, err := s.aggregate(ctx, jobID, by, expr, aggregateCacheLimit)
	if err != nil {
		return nil, err
	}
	if blob, err = json.Marshal(gs); err == nil {
		_, err = s.w.ExecContext(ctx, `INSERT INTO aggregate_cache (job_id, by_key, groups) VALUES (?, ?, ?)
			ON CONFLICT (job_id, by_key) DO NOTHING`, jobID, by, blob)
	}
	if err != nil {
		return nil, fmt.Errorf("aggregate job %s by %s: keep the groups: %w", jobID, by, err)
	}
	s.wrote()
	return gs[:min(len(gs), limit)], nil
}

// aggregateCacheLimit is how many groups a terminal job's cached aggregate
// keeps: the API's largest limit.
const aggregateCacheLimit = 1000

// aggregate computes a job's groups: one pass over its results.
func (s *SQLite) aggregate(ctx context.Context, jobID, by, expr string, limit int) ([]Group, error) {
	// One read transaction: the groups' bodies are read from the same
	// snapshot as the groups.
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("aggregate job %s: begin: %w", jobID, err)
	}
	defer tx.Rollback()

	groups, err := scanGroups(ctx, tx, jobID, expr, by == ByBody)
	if err != nil {
		return nil, fmt.Errorf("aggregate job %s by %s: %w", jobID, by, err)
	}
	if by == ByBody {
		slices.SortFunc(groups, func(a, b *aggGroup) int {
			return cmp.Or(cmp.Compare(b.count, a.count), cmp.Compare(a.hosts[0].idx, b.hosts[0].idx))
		})
		groups = groups[:min(len(groups), limit)]
		for _, g := range groups {
			first := g.hosts[0].idx
			err := tx.QueryRowContext(ctx, `SELECT `+expr+` FROM results WHERE `+jobKeyIs+` AND idx = ?`, jobID, first).Scan(&g.value)
			if err != nil {
				return nil, fmt.Errorf("aggregate job %s by %s: body of %d: %w", jobID, by, first, err)
			}
		}
	}
	slices.SortStableFunc(groups, func(a, b *aggGroup) int {
		return cmp.Or(cmp.Compare(b.count, a.count), cmp.Compare(a.value, b.value))
	})
	groups = groups[:min(len(groups), limit)]

	out := make([]Group, len(groups))
	for i, g := range groups {
		out[i] = Group{
			Value:      g.value,
			Count:      g.count,
			Hosts:      make([]string, len(g.hosts)),
			Indexes:    make([]int, len(g.hosts)),
			NextCursor: g.next,
			IsError:    g.isError,
		}
		for k, h := range g.hosts {
			out[i].Hosts[k], out[i].Indexes[k] = h.host, h.idx
		}
	}
	return out, nil
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
		g.count++
		g.isError = g.isError || isErr
		switch {
		case len(g.hosts) < MaxGroupHosts:
			g.hosts = append(g.hosts, groupHost{idx: idx, host: string(host)})
		case g.next == 0:
			g.next = idx
		}
	}
	return groups, rows.Err()
}
