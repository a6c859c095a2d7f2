package store

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/salvo-sh/salvo/commands"
)

// aggregateKeys maps an aggregation key to the SQL expression results are
// grouped by and the expression giving the group's Value.
//
//   - ByValue: the result's value.
//   - ByStatus: the HTTP status code ("200", "503") when there is one, else
//     "exit N" when there is an exit code (SSH), else the state ("error",
//     "timeout", "skipped", "cancelled").
//   - ByErrorClass: the error class, "none" for results without one.
//   - ByBody: identical bodies, compared by a stored SHA-256 prefix; the
//     Value is the body.
var aggregateKeys = map[string]struct{ key, value string }{
	ByValue: {key: `value`, value: `value`},
	ByStatus: {
		key: `CASE WHEN status_code > 0 THEN CAST(status_code AS TEXT)
			WHEN exit_code IS NOT NULL THEN 'exit ' || exit_code ELSE state END`,
	},
	ByErrorClass: {key: `CASE WHEN error_class = '' THEN 'none' ELSE error_class END`},
	ByBody:       {key: `body_hash`, value: `body`},
}

// Aggregate groups a job's results by a key (ByValue, ByStatus,
// ByErrorClass or ByBody), largest group first then by value, at most limit
// groups (DefaultGroupLimit when ≤ 0). Each group lists its first
// MaxGroupHosts hosts by index and every host folded with
// commands.FoldHosts. IsError is set when some result of the group is an
// error or a timeout. Both passes read one snapshot of the results.
func (s *SQLite) Aggregate(ctx context.Context, jobID, by string, limit int) ([]Group, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	k, ok := aggregateKeys[by]
	if !ok {
		return nil, fmt.Errorf("aggregate job %s: unknown key %q", jobID, by)
	}
	if k.value == "" {
		k.value = k.key
	}
	if limit <= 0 {
		limit = DefaultGroupLimit
	}

	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("aggregate job %s: begin: %w", jobID, err)
	}
	defer tx.Rollback()

	// Pass 1: the largest groups.
	rows, err := tx.QueryContext(ctx, `SELECT `+k.key+` AS k, count(*) AS n, max(state IN ('error', 'timeout')), `+k.value+` AS v
		FROM results WHERE job_id = ? GROUP BY k ORDER BY n DESC, v LIMIT ?`, jobID, limit)
	if err != nil {
		return nil, fmt.Errorf("aggregate job %s by %s: %w", jobID, by, err)
	}
	var groups []Group
	byKey := make(map[string]int)
	for rows.Next() {
		var (
			key   string
			g     Group
			isErr int
		)
		if err := rows.Scan(&key, &g.Count, &isErr, &g.Value); err != nil {
			rows.Close()
			return nil, fmt.Errorf("aggregate job %s by %s: %w", jobID, by, err)
		}
		g.IsError = isErr != 0
		byKey[key] = len(groups)
		groups = append(groups, g)
	}
	if err := rows.Err(); err != nil {
		rows.Close()
		return nil, fmt.Errorf("aggregate job %s by %s: %w", jobID, by, err)
	}
	rows.Close()
	if len(groups) == 0 {
		return []Group{}, nil
	}

	// Pass 2: the hosts of those groups, in index order.
	hosts := make([][]string, len(groups))
	rows, err = tx.QueryContext(ctx, `SELECT `+k.key+`, host FROM results WHERE job_id = ? ORDER BY idx`, jobID)
	if err != nil {
		return nil, fmt.Errorf("aggregate job %s by %s: hosts: %w", jobID, by, err)
	}
	defer rows.Close()
	for rows.Next() {
		var key, host string
		if err := rows.Scan(&key, &host); err != nil {
			return nil, fmt.Errorf("aggregate job %s by %s: hosts: %w", jobID, by, err)
		}
		if i, ok := byKey[key]; ok {
			hosts[i] = append(hosts[i], host)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("aggregate job %s by %s: hosts: %w", jobID, by, err)
	}
	for i := range groups {
		h := hosts[i]
		groups[i].Hosts = append([]string(nil), h[:min(len(h), MaxGroupHosts)]...)
		groups[i].Folded = commands.FoldHosts(h)
	}
	return groups, nil
}
