package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// CheckDefinitionName returns an error for a definition name that could
// be taken for a path: empty, "." or "..", or holding a slash or a
// control character. Every way a definition is created (the API, the
// config file, REST Commander's files) is held to it. Its errors wrap
// ErrBadName.
func CheckDefinitionName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: a name must not be empty", ErrBadName)
	case name == "." || name == "..":
		return fmt.Errorf("%w: %q is not a name", ErrBadName, name)
	case strings.ContainsAny(name, `/\`):
		return fmt.Errorf("%w: %q must not contain a slash", ErrBadName, name)
	case strings.IndexFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0:
		return fmt.Errorf("%w: %q must not contain control characters", ErrBadName, name)
	}
	return nil
}

// ErrBadName is the error of a definition name CheckDefinitionName
// refuses.
var ErrBadName = errors.New("bad definition name")

// PutDefinition creates or replaces a named definition (body is JSON).
func (s *SQLite) PutDefinition(ctx context.Context, kind, name string, body []byte) error {
	if err := CheckDefinitionName(name); err != nil {
		return fmt.Errorf("put %s: %w", kind, err)
	}
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	if body == nil {
		body = []byte{}
	}
	_, err := s.w.ExecContext(ctx, `INSERT INTO definitions (kind, name, body) VALUES (?, ?, ?)
		ON CONFLICT (kind, name) DO UPDATE SET body = excluded.body`, kind, name, body)
	if err != nil {
		return fmt.Errorf("put %s %q: %w", kind, name, err)
	}
	s.wrote()
	return nil
}

// GetDefinition returns a definition's body or ErrNotFound.
func (s *SQLite) GetDefinition(ctx context.Context, kind, name string) ([]byte, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	var body []byte
	err := s.r.QueryRowContext(ctx, `SELECT body FROM definitions WHERE kind = ? AND name = ?`, kind, name).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%s %q: %w", kind, name, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get %s %q: %w", kind, name, err)
	}
	if body == nil {
		body = []byte{}
	}
	return body, nil
}

// DeleteDefinition removes a definition or returns ErrNotFound.
func (s *SQLite) DeleteDefinition(ctx context.Context, kind, name string) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	res, err := s.w.ExecContext(ctx, `DELETE FROM definitions WHERE kind = ? AND name = ?`, kind, name)
	if err != nil {
		return fmt.Errorf("delete %s %q: %w", kind, name, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("delete %s %q: %w", kind, name, err)
	}
	if n == 0 {
		return fmt.Errorf("%s %q: %w", kind, name, ErrNotFound)
	}
	s.wrote()
	return nil
}

// ListDefinitions returns the names of every definition of a kind, sorted.
func (s *SQLite) ListDefinitions(ctx context.Context, kind string) ([]string, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	rows, err := s.r.QueryContext(ctx, `SELECT name FROM definitions WHERE kind = ? ORDER BY name`, kind)
	if err != nil {
		return nil, fmt.Errorf("list %s definitions: %w", kind, err)
	}
	defer rows.Close()
	names := []string{}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("list %s definitions: %w", kind, err)
		}
		names = append(names, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list %s definitions: %w", kind, err)
	}
	return names, nil
}
