package httpapi

import (
	"errors"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/salvo-sh/salvo/auth"
)

// MaxTokenLifetime bounds a token's expires.
const MaxTokenLifetime = 10 * 365 * 24 * time.Hour

// tokenRoutes serves /api/v1/tokens, /api/v1/audit and /api/v1/whoami,
// and the dashboard's login and logout.
func (s *Server) tokenRoutes(v1 *gin.RouterGroup) {
	s.route(v1, auth.Viewer, http.MethodGet, "/whoami", s.whoami)
	s.route(v1, auth.Admin, http.MethodGet, "/tokens", s.listTokens)
	s.route(v1, auth.Admin, http.MethodPost, "/tokens", s.createToken)
	s.route(v1, auth.Admin, http.MethodDelete, "/tokens/:name", s.revokeToken)
	s.route(v1, auth.Admin, http.MethodGet, "/audit", s.listAudit)
	s.route(v1, auth.Public, http.MethodPost, "/login", s.login)
	s.route(v1, auth.Public, http.MethodPost, "/logout", s.logout)
}

// tokens is the token store, or a 404 on a node without authentication.
func (s *Server) tokens(c *gin.Context) (Tokens, bool) {
	if s.cfg.Access.Tokens == nil {
		fail(c, &Error{Status: http.StatusNotFound, Msg: "authentication is off on this node (--auth): there are no tokens"})
		return nil, false
	}
	return s.cfg.Access.Tokens, true
}

// whoami answers the caller's token name and role ("" and admin with
// authentication off).
func (s *Server) whoami(c *gin.Context) {
	v, ok := c.Get(callerKey)
	if !ok {
		c.JSON(http.StatusOK, gin.H{"name": "", "role": auth.Admin.String(), "auth": false})
		return
	}
	t := v.(*auth.Token)
	c.JSON(http.StatusOK, gin.H{"name": t.Name, "role": t.Role.String(), "scope": t.Scope, "auth": true})
}

func (s *Server) listTokens(c *gin.Context) {
	st, ok := s.tokens(c)
	if !ok {
		return
	}
	ts, err := st.ListTokens(c.Request.Context())
	if err != nil {
		fail(c, err)
		return
	}
	out := make([]auth.View, 0, len(ts))
	for _, t := range ts {
		out = append(out, t.View())
	}
	c.JSON(http.StatusOK, page[auth.View]{Items: out})
}

// createToken makes a token: {"name", "role", "expires": "720h" (from
// now; none when empty), "scope": [node groups]}. The answer holds the
// secret, once.
func (s *Server) createToken(c *gin.Context) {
	st, ok := s.tokens(c)
	if !ok {
		return
	}
	var req struct {
		Name    string   `json:"name"`
		Role    string   `json:"role"`
		Expires string   `json:"expires"`
		Scope   []string `json:"scope"`
	}
	if !bindStrict(c, &req) {
		return
	}
	t, err := NewToken(req.Name, req.Role, req.Expires, req.Scope, time.Now())
	if err != nil {
		fail(c, err)
		return
	}
	secret, hash, err := auth.NewSecret()
	if err != nil {
		fail(c, err)
		return
	}
	t.Hash = hash
	c.Set(auditTargetKey, t.Name)
	if err := st.PutToken(c.Request.Context(), *t); err != nil {
		if errors.Is(err, auth.ErrExists) {
			fail(c, &Error{Status: http.StatusConflict, Msg: "a token named " + t.Name + " exists: revoke it first", Field: "name"})
			return
		}
		fail(c, err)
		return
	}
	v := t.View()
	v.Token = secret
	c.JSON(http.StatusCreated, v)
}

// NewToken checks a token request and returns the token without its hash.
func NewToken(name, role, expires string, scope []string, now time.Time) (*auth.Token, error) {
	if err := auth.CheckName(name); err != nil {
		return nil, badRequest("name", err.Error())
	}
	r, err := auth.ParseRole(role)
	if err != nil {
		return nil, badRequest("role", err.Error())
	}
	t := &auth.Token{Name: name, Role: r, Created: now.UTC()}
	if expires != "" {
		d, err := time.ParseDuration(expires)
		if err != nil || d <= 0 || d > MaxTokenLifetime {
			return nil, badRequest("expires", "must be a duration from now such as 720h, at most "+MaxTokenLifetime.String()+", got "+strconv.Quote(expires))
		}
		t.Expires = now.Add(d).UTC()
	}
	for _, g := range scope {
		if !namePattern.MatchString(g) {
			return nil, badRequest("scope", "node group names, got "+strconv.Quote(g))
		}
	}
	if len(scope) > 0 {
		t.Scope = scope
	}
	return t, nil
}

func (s *Server) revokeToken(c *gin.Context) {
	st, ok := s.tokens(c)
	if !ok {
		return
	}
	if err := st.DeleteToken(c.Request.Context(), c.Param("name")); err != nil {
		if errors.Is(err, auth.ErrNotFound) {
			fail(c, &Error{Status: http.StatusNotFound, Msg: "no token named " + c.Param("name")})
			return
		}
		fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// auditView is an audit entry as the API shows it.
type auditView struct {
	ID      int64     `json:"id"`
	Time    time.Time `json:"time"`
	Actor   string    `json:"actor"`
	Role    string    `json:"role,omitempty"`
	Remote  string    `json:"remote"`
	Method  string    `json:"method"`
	Route   string    `json:"route"`
	Target  string    `json:"target,omitempty"`
	Status  int       `json:"status"`
	Outcome string    `json:"outcome"`
}

// listAudit serves GET /api/v1/audit?since=RFC3339&actor=&limit=&cursor=.
func (s *Server) listAudit(c *gin.Context) {
	if s.cfg.Access.Audit == nil {
		fail(c, &Error{Status: http.StatusNotFound, Msg: "this node keeps no audit log"})
		return
	}
	var q auth.Query
	if v := c.Query("since"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			fail(c, badRequest("since", "must be an RFC 3339 time such as 2026-12-04T10:00:00Z"))
			return
		}
		q.Since = t
	}
	q.Actor = c.Query("actor")
	var err error
	if q.Limit, err = limitParam(c); err != nil {
		fail(c, err)
		return
	}
	if v := c.Query("cursor"); v != "" {
		if q.Cursor, err = strconv.ParseInt(v, 10, 64); err != nil || q.Cursor <= 0 {
			fail(c, badRequest("cursor", "cursor must be a value returned as nextCursor"))
			return
		}
	}
	es, next, err := s.cfg.Access.Audit.ListAudit(c.Request.Context(), q)
	if err != nil {
		fail(c, err)
		return
	}
	out := make([]auditView, 0, len(es))
	for _, e := range es {
		out = append(out, auditView(e))
	}
	p := page[auditView]{Items: out}
	if next > 0 {
		p.NextCursor = strconv.FormatInt(next, 10)
	}
	c.JSON(http.StatusOK, p)
}

// login takes a token from the dashboard's login form ({"token"}) and
// sets the session cookie: HttpOnly, SameSite=Strict, Secure under TLS.
// Every login, good or not, is audited.
func (s *Server) login(c *gin.Context) {
	if mt, _, _ := mime.ParseMediaType(c.GetHeader("Content-Type")); mt != "application/json" {
		// A form of another site cannot send JSON: no login forged there.
		fail(c, &Error{Status: http.StatusUnsupportedMediaType, Msg: "login takes application/json: {\"token\": \"...\"}"})
		return
	}
	var req struct {
		Token string `json:"token"`
	}
	if !bindStrict(c, &req) {
		return
	}
	e := entryOf(c, time.Now())
	if s.cfg.Access.Tokens == nil {
		e.Status, e.Outcome = http.StatusOK, "allowed"
		s.writeAudit(c.Request.Context(), e)
		c.JSON(http.StatusOK, gin.H{"name": "", "role": auth.Admin.String(), "auth": false})
		return
	}
	t, err := s.tokenFor(c.Request.Context(), req.Token)
	if err != nil {
		e.Status, e.Outcome = http.StatusUnauthorized, "refused: "+err.Error()
		s.writeAudit(c.Request.Context(), e)
		fail(c, &Error{Status: http.StatusUnauthorized, Msg: err.Error(), Field: "token"})
		return
	}
	e.Actor, e.Role, e.Status, e.Outcome = t.Name, t.Role.String(), http.StatusOK, "allowed"
	s.writeAudit(c.Request.Context(), e)
	ck := &http.Cookie{Name: sessionCookie, Value: req.Token, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: c.Request.TLS != nil}
	if !t.Expires.IsZero() {
		ck.Expires = t.Expires
	}
	http.SetCookie(c.Writer, ck)
	c.JSON(http.StatusOK, gin.H{"name": t.Name, "role": t.Role.String(), "auth": true})
}

// logout clears the session cookie.
func (s *Server) logout(c *gin.Context) {
	http.SetCookie(c.Writer, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: c.Request.TLS != nil})
	c.Status(http.StatusNoContent)
}
