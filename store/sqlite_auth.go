package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/salvo-sh/salvo/auth"
)

// authSchema holds API tokens (their hashes, never the secrets) and the
// audit log (docs/security.md).
const authSchema = `
CREATE TABLE IF NOT EXISTS tokens (
	name    TEXT PRIMARY KEY,
	role    TEXT NOT NULL,
	hash    TEXT NOT NULL UNIQUE,
	expires INTEGER NOT NULL DEFAULT 0,
	scope   TEXT NOT NULL DEFAULT '[]',
	created INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS audit (
	id      INTEGER PRIMARY KEY AUTOINCREMENT,
	time    INTEGER NOT NULL,
	actor   TEXT NOT NULL,
	role    TEXT NOT NULL,
	remote  TEXT NOT NULL,
	method  TEXT NOT NULL,
	route   TEXT NOT NULL,
	target  TEXT NOT NULL,
	status  INTEGER NOT NULL,
	outcome TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_actor ON audit (actor, id);
`

// PutToken stores a new token, or returns auth.ErrExists when one of
// that name is stored.
func (s *SQLite) PutToken(ctx context.Context, t auth.Token) error {
	if err := auth.CheckName(t.Name); err != nil {
		return err
	}
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	scope, err := json.Marshal(orEmpty(t.Scope))
	if err != nil {
		return fmt.Errorf("put token %q: %w", t.Name, err)
	}
	_, err = s.w.ExecContext(ctx, `INSERT INTO tokens (name, role, hash, expires, scope, created) VALUES (?, ?, ?, ?, ?, ?)`,
		t.Name, t.Role.String(), t.Hash, unixMilli(t.Expires), string(scope), unixMilli(t.Created))
	if err != nil {
		if isKeyConflict(err) {
			return auth.ErrExists
		}
		return fmt.Errorf("put token %q: %w", t.Name, err)
	}
	s.wrote()
	return nil
}

// ListTokens returns every token, by name.
func (s *SQLite) ListTokens(ctx context.Context) ([]auth.Token, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	rows, err := s.r.QueryContext(ctx, `SELECT name, role, hash, expires, scope, created FROM tokens ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	defer rows.Close()
	out := []auth.Token{}
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("list tokens: %w", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	return out, nil
}

// TokenByHash returns the token of a secret's hash, or auth.ErrUnknownToken.
func (s *SQLite) TokenByHash(ctx context.Context, hash string) (auth.Token, error) {
	if err := s.enter(); err != nil {
		return auth.Token{}, err
	}
	defer s.leave()
	row := s.r.QueryRowContext(ctx, `SELECT name, role, hash, expires, scope, created FROM tokens WHERE hash = ?`, hash)
	t, err := scanToken(row)
	if errors.Is(err, sql.ErrNoRows) {
		return auth.Token{}, auth.ErrUnknownToken
	}
	if err != nil {
		return auth.Token{}, fmt.Errorf("read token: %w", err)
	}
	return t, nil
}

// DeleteToken revokes a token, or returns auth.ErrNotFound.
func (s *SQLite) DeleteToken(ctx context.Context, name string) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	res, err := s.w.ExecContext(ctx, `DELETE FROM tokens WHERE name = ?`, name)
	if err != nil {
		return fmt.Errorf("revoke token %q: %w", name, err)
	}
	s.wrote()
	if n, _ := res.RowsAffected(); n == 0 {
		return auth.ErrNotFound
	}
	return nil
}

func scanToken(sc scanner) (auth.Token, error) {
	var t auth.Token
	var role, scope string
	var expires, created int64
	if err := sc.Scan(&t.Name, &role, &t.Hash, &expires, &scope, &created); err != nil {
		return t, err
	}
	r, err := auth.ParseRole(role)
	if err != nil {
		return t, err
	}
	t.Role, t.Expires, t.Created = r, fromUnixMilli(expires), fromUnixMilli(created)
	if err := json.Unmarshal([]byte(scope), &t.Scope); err != nil {
		return t, fmt.Errorf("token %q scope: %w", t.Name, err)
	}
	if len(t.Scope) == 0 {
		t.Scope = nil
	}
	return t, nil
}

// PutAudit appends an audit entry.
func (s *SQLite) PutAudit(ctx context.Context, e auth.Entry) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	_, err := s.w.ExecContext(ctx, `INSERT INTO audit (time, actor, role, remote, method, route, target, status, outcome)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		unixMilli(e.Time), e.Actor, e.Role, e.Remote, e.Method, e.Route, e.Target, e.Status, e.Outcome)
	if err != nil {
		return fmt.Errorf("put audit entry: %w", err)
	}
	s.wrote()
	return nil
}

// MaxAuditPage bounds an audit page.
const MaxAuditPage = 1000

// ListAudit returns audit entries newest first, and the cursor of the next
// page (0 at the end).
func (s *SQLite) ListAudit(ctx context.Context, q auth.Query) ([]auth.Entry, int64, error) {
	if err := s.enter(); err != nil {
		return nil, 0, err
	}
	defer s.leave()
	limit := q.Limit
	if limit <= 0 || limit > MaxAuditPage {
		limit = MaxAuditPage
	}
	query := `SELECT id, time, actor, role, remote, method, route, target, status, outcome FROM audit WHERE time >= ?`
	args := []any{unixMilli(q.Since)}
	if q.Actor != "" {
		query += ` AND actor = ?`
		args = append(args, q.Actor)
	}
	if q.Cursor > 0 {
		query += ` AND id < ?`
		args = append(args, q.Cursor)
	}
	query += ` ORDER BY id DESC LIMIT ?`
	args = append(args, limit+1)
	rows, err := s.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, 0, fmt.Errorf("list audit: %w", err)
	}
	defer rows.Close()
	out := []auth.Entry{}
	for rows.Next() {
		var e auth.Entry
		var t int64
		if err := rows.Scan(&e.ID, &t, &e.Actor, &e.Role, &e.Remote, &e.Method, &e.Route, &e.Target, &e.Status, &e.Outcome); err != nil {
			return nil, 0, fmt.Errorf("list audit: %w", err)
		}
		e.Time = fromUnixMilli(t)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("list audit: %w", err)
	}
	var next int64
	if len(out) > limit {
		out = out[:limit]
		next = out[limit-1].ID
	}
	return out, next, nil
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
