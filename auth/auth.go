// Package auth decides who may call salvo's API: tokens with a role, kept
// only as hashes, and the audit record of what they did (docs/security.md).
// It uses the standard library only; the store keeps its records.
package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Role is what a token may do. Each role may do what the roles below it may.
type Role int

// Roles, lowest first. Public routes need no token.
const (
	Public Role = iota
	// Viewer reads: every GET.
	Viewer
	// Operator also submits, cancels and reruns jobs and edits node
	// groups, commands and aggregations.
	Operator
	// Admin may do everything: members, tokens, credentials, the audit
	// log, shutdownNode, createNode, resetScheduler.
	Admin
)

var roleNames = []string{"public", "viewer", "operator", "admin"}

// String is the role's name.
func (r Role) String() string {
	if r < Public || int(r) >= len(roleNames) {
		return fmt.Sprintf("role(%d)", int(r))
	}
	return roleNames[r]
}

// Allows reports whether a holder of r may call a route that needs need.
func (r Role) Allows(need Role) bool { return r >= need }

// ParseRole reads a token role: viewer, operator or admin.
func ParseRole(s string) (Role, error) {
	i := slices.Index(roleNames, strings.ToLower(s))
	if i <= int(Public) {
		return 0, fmt.Errorf("role must be viewer, operator or admin, got %q", s)
	}
	return Role(i), nil
}

// Token is a stored token: its secret is never kept, only its Hash.
type Token struct {
	Name    string
	Role    Role
	Hash    string    // Hash of the secret
	Expires time.Time // zero: never
	// Scope, when set, is the node groups the token may send to: its jobs
	// must name one of them as their nodeGroup.
	Scope   []string
	Created time.Time
}

// Expired reports whether the token has expired at now.
func (t *Token) Expired(now time.Time) bool { return !t.Expires.IsZero() && !now.Before(t.Expires) }

// View is a token as the API shows it and the CLI reads it: never its
// hash, and its secret only in the answer that creates it.
type View struct {
	Name    string     `json:"name"`
	Role    string     `json:"role"`
	Expires *time.Time `json:"expires,omitempty"`
	Scope   []string   `json:"scope,omitempty"`
	Created time.Time  `json:"created"`
	Token   string     `json:"token,omitempty"`
}

// View returns the token's view, without its secret.
func (t *Token) View() View {
	v := View{Name: t.Name, Role: t.Role.String(), Scope: t.Scope, Created: t.Created}
	if !t.Expires.IsZero() {
		e := t.Expires
		v.Expires = &e
	}
	return v
}

// secretPrefix starts every token, so that a leaked one is recognizable
// (secret scanners, logs).
const secretPrefix = "salvo_"

// NewSecret returns a new token secret of 32 random bytes and its hash.
func NewSecret() (secret, hash string, err error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", "", fmt.Errorf("token: %w", err)
	}
	secret = secretPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	return secret, Hash(secret), nil
}

// Hash is what the store keeps of a secret: its SHA-256, in hex. A
// secret has 256 random bits, so a fast hash is enough.
func Hash(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

// namePattern is what a token's name may be.
var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// CheckName returns an error for a name that is not a token name.
func CheckName(name string) error {
	if !namePattern.MatchString(name) {
		return fmt.Errorf("name must be 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit, got %q", name)
	}
	return nil
}

// Errors of Authenticate and the token store.
var (
	ErrNoCredentials = errors.New("no token: send Authorization: Bearer TOKEN, or the token as the HTTP Basic password")
	ErrUnknownToken  = errors.New("unknown or revoked token")
	ErrExpired       = errors.New("token expired")
	ErrExists        = errors.New("a token of that name exists")
	ErrNotFound      = errors.New("no such token")
)

// Entry is one audit record: a mutating call, allowed or refused, or a
// login. It holds no secret.
type Entry struct {
	ID     int64
	Time   time.Time
	Actor  string // the token's name; "" without one
	Role   string // the token's role; "" without one
	Remote string // the client's address
	Method string
	Route  string // the route's pattern, such as /api/v1/jobs/:id/cancel
	Target string // the job id or definition name touched, when there is one
	Status int    // the HTTP status answered
	// Outcome is "allowed" or "refused: why".
	Outcome string
}

// Query selects audit entries, newest first.
type Query struct {
	Since  time.Time // only entries at or after it
	Actor  string    // only this token's
	Limit  int
	Cursor int64 // entries with an ID below it (the previous page's NextCursor)
}
