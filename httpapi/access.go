package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"math"
	"mime"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"golang.org/x/time/rate"

	"github.com/salvo-sh/salvo/actors"
	"github.com/salvo-sh/salvo/auth"
	"github.com/salvo-sh/salvo/conf"
	"github.com/salvo-sh/salvo/job"
	"github.com/salvo-sh/salvo/store"
)

// Tokens keeps API tokens (store.SQLite).
type Tokens interface {
	PutToken(ctx context.Context, t auth.Token) error
	ListTokens(ctx context.Context) ([]auth.Token, error)
	TokenByHash(ctx context.Context, hash string) (auth.Token, error)
	DeleteToken(ctx context.Context, name string) error
}

// AuditLog keeps audit entries (store.SQLite).
type AuditLog interface {
	PutAudit(ctx context.Context, e auth.Entry) error
	ListAudit(ctx context.Context, q auth.Query) ([]auth.Entry, int64, error)
}

// Access is who may call the API (docs/security.md).
type Access struct {
	// Tokens, when set, turns authentication on: every route but /livez,
	// /readyz and the dashboard's files needs a token whose role allows
	// it. Nil leaves the API open to whoever reaches it, with the browser
	// guards: Host must be the API's address, localhost or a loopback IP,
	// and cross-site requests may not change anything.
	Tokens Tokens
	// Audit stores an entry per mutating call and login; nil logs them only.
	Audit AuditLog
	// Hosts are further Host header values the API answers with
	// authentication off (the address it is reached by, behind a proxy).
	Hosts []string
	// Verify, when set on a node without Tokens (a worker-only node
	// forwarding to its master), checks a request's credentials
	// elsewhere: it returns the caller's token or an error.
	Verify func(r *http.Request) (*auth.Token, error)
}

// On reports whether requests must carry a token.
func (a *Access) On() bool { return a.Tokens != nil || a.Verify != nil }

// Context keys of the access layer.
const (
	callerKey      = "salvo.caller"      // *auth.Token of the request
	auditTargetKey = "salvo.auditTarget" // the job id or name a handler touched
)

// route registers a handler with the role it needs; every route of the API
// goes through it, so that none lacks a guard (TestEveryRouteHasARole).
// A route that is not a GET changes something: it is audited and, with
// authentication off, refused to other sites.
func (s *Server) route(g *gin.RouterGroup, need auth.Role, method, path string, h ...gin.HandlerFunc) {
	mutates := method != http.MethodGet && method != http.MethodHead && need > auth.Public
	s.register(g, need, mutates, method, path, h...)
}

// routeAny registers a handler for GET and POST (REST Commander's routes);
// one that needs operator or admin changes something under either method.
func (s *Server) routeAny(g *gin.RouterGroup, need auth.Role, path string, h gin.HandlerFunc) {
	for _, m := range []string{http.MethodGet, http.MethodPost} {
		s.register(g, need, need >= auth.Operator, m, path, h)
	}
}

// register records a route's role and whether it changes something, and
// registers it with gin.
func (s *Server) register(g *gin.RouterGroup, need auth.Role, mutates bool, method, path string, h ...gin.HandlerFunc) {
	key := method + " " + joinPath(g.BasePath(), path)
	s.roles[key], s.mutating[key] = need, mutates
	g.Handle(method, path, h...)
}

func joinPath(base, path string) string {
	if base == "/" || base == "" {
		return path
	}
	return strings.TrimSuffix(base, "/") + path
}

// RouteRoles returns the role each registered route needs, keyed by
// "METHOD /path/:param".
func (s *Server) RouteRoles() map[string]auth.Role { return maps.Clone(s.roles) }

// access is the guard in front of every route: it finds the route's role,
// authenticates the caller when authentication is on (401, then 403 naming
// the role needed), applies the browser guards when it is off, and writes
// the audit entry of mutating calls.
func (s *Server) access(c *gin.Context) {
	key := c.Request.Method + " " + c.FullPath()
	need, ok := s.roles[key]
	if !ok {
		c.Next() // no route: 404 or 405
		return
	}
	mutates := s.mutating[key]
	start := time.Now()
	caller, status, refusal := s.admit(c, need, mutates)
	if refusal == nil && need > auth.Public && !s.limits.allow(limitKey(c, caller)) {
		c.Header("Retry-After", s.limits.retryAfter())
		status, refusal = http.StatusTooManyRequests, &errBody{Error: "rate limit: at most " + s.limits.String() + " requests/s per token (--rate-limit)"}
	}
	if caller != nil {
		c.Set(callerKey, caller)
	}
	if refusal != nil {
		if c.Request.ContentLength != 0 {
			// The body is not read: close rather than wait for it.
			c.Header("Connection", "close")
		}
		c.AbortWithStatusJSON(status, refusal)
	} else {
		c.Next()
	}
	if mutates {
		s.audit(c, caller, start, refusal)
	}
}

// limitKey is whose budget a request spends: its token's, or without
// authentication its client address's.
func limitKey(c *gin.Context, caller *auth.Token) string {
	if caller != nil {
		return "token:" + caller.Name
	}
	return "ip:" + c.ClientIP()
}

// maxLimiters bounds the rate limiters kept: past it they start afresh.
const maxLimiters = 10000

// limiters is the per-token rate limit (Config.RateLimit); a nil one
// allows everything.
type limiters struct {
	rate  rate.Limit
	burst int
	mu    sync.Mutex
	m     map[string]*rate.Limiter
}

func newLimiters(perSecond float64) *limiters {
	if perSecond <= 0 {
		return nil
	}
	return &limiters{rate: rate.Limit(perSecond), burst: max(1, int(math.Ceil(2*perSecond))), m: map[string]*rate.Limiter{}}
}

func (l *limiters) allow(key string) bool {
	if l == nil {
		return true
	}
	l.mu.Lock()
	lim := l.m[key]
	if lim == nil {
		if len(l.m) >= maxLimiters {
			clear(l.m)
		}
		lim = rate.NewLimiter(l.rate, l.burst)
		l.m[key] = lim
	}
	l.mu.Unlock()
	return lim.Allow()
}

// retryAfter is the Retry-After of a refusal: the seconds one request's
// budget takes to come back.
func (l *limiters) retryAfter() string {
	return strconv.Itoa(max(1, int(math.Ceil(1/float64(l.rate)))))
}

func (l *limiters) String() string { return strconv.FormatFloat(float64(l.rate), 'g', -1, 64) }

// admit decides on one request: the caller's token (nil with
// authentication off), or the status and body of the refusal.
func (s *Server) admit(c *gin.Context, need auth.Role, mutates bool) (*auth.Token, int, *errBody) {
	a := &s.cfg.Access
	if !a.On() {
		if err := s.browserGuard(c.Request, mutates); err != nil {
			return nil, http.StatusForbidden, &errBody{Error: err.Error()}
		}
		return nil, 0, nil
	}
	if need == auth.Public {
		return nil, 0, nil
	}
	t, err := s.authenticate(c.Request)
	if err != nil {
		c.Header("WWW-Authenticate", `Bearer realm="salvo", Basic realm="salvo"`)
		return nil, http.StatusUnauthorized, &errBody{Error: err.Error()}
	}
	if mutates && c.Request.Header.Get("Authorization") == "" && c.Request.Header.Get(csrfHeader) != "1" {
		// The session cookie goes with every request to this site, a
		// forged one included: a write needs the dashboard's header too.
		return t, http.StatusForbidden, &errBody{Error: "a write with the session cookie needs the " + csrfHeader + ": 1 header (the dashboard sends it)"}
	}
	if !t.Role.Allows(need) {
		return t, http.StatusForbidden, &errBody{Error: "this call needs the " + need.String() + " role; token " + t.Name + " is " + t.Role.String(), Field: "role"}
	}
	return t, 0, nil
}

// authenticate returns the token a request carries: Authorization Bearer,
// HTTP Basic with the token as password (any user), or the dashboard's
// session cookie.
func (s *Server) authenticate(r *http.Request) (*auth.Token, error) {
	a := &s.cfg.Access
	if a.Tokens == nil {
		return a.Verify(r)
	}
	return s.tokenFor(r.Context(), Credential(r))
}

// tokenFor returns the stored token of a secret, refusing an unknown,
// revoked or expired one.
func (s *Server) tokenFor(ctx context.Context, secret string) (*auth.Token, error) {
	if secret == "" {
		return nil, auth.ErrNoCredentials
	}
	t, err := s.cfg.Access.Tokens.TokenByHash(ctx, auth.Hash(secret))
	if err != nil {
		if errors.Is(err, auth.ErrUnknownToken) {
			return nil, err
		}
		s.cfg.Logger.Error("read token", "err", err)
		return nil, errors.New("tokens cannot be read now: try again")
	}
	if t.Expired(time.Now()) {
		return nil, auth.ErrExpired
	}
	return &t, nil
}

// callerOf is the request's token, nil with authentication off.
func callerOf(c *gin.Context) *auth.Token {
	if v, ok := c.Get(callerKey); ok {
		return v.(*auth.Token)
	}
	return nil
}

// submitContext is the context of a submit: whether its caller may name
// server paths in the job (job.CheckPaths): an admin token, or a node
// without authentication; and the token's name, which the job's record
// keeps (actors.WithSubmitter).
func (s *Server) submitContext(c *gin.Context) context.Context {
	t := callerOf(c)
	ctx := job.WithPathAuthority(c.Request.Context(), t == nil || t.Role.Allows(auth.Admin))
	if t != nil {
		ctx = actors.WithSubmitter(ctx, t.Name)
	}
	return ctx
}

// checkScope refuses a job of a scoped token that does not name one of
// its node groups, or that lists targets of its own.
func checkScope(c *gin.Context, nodeGroup string, targets int) error {
	t := callerOf(c)
	if t == nil || len(t.Scope) == 0 {
		return nil
	}
	if targets > 0 || !slices.Contains(t.Scope, nodeGroup) {
		return &Error{Status: http.StatusForbidden, Field: "nodeGroup",
			Msg: "token " + t.Name + " may send only to the node groups " + strings.Join(t.Scope, ", ") + ", by nodeGroup"}
	}
	return nil
}

// sessionCookie is the dashboard's session cookie: it holds the token
// the login page was given (HttpOnly, SameSite=Strict).
const sessionCookie = "salvo_session"

// csrfHeader marks the dashboard's own calls (ui/js/api.js): another
// site's page cannot send it without a CORS consent the API never gives.
const csrfHeader = "X-Salvo-CSRF"

// Credential is the token secret a request carries, or "".
func Credential(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		if tok, ok := strings.CutPrefix(h, "Bearer "); ok {
			return strings.TrimSpace(tok)
		}
		if _, pass, ok := r.BasicAuth(); ok {
			return pass
		}
		return ""
	}
	if ck, err := r.Cookie(sessionCookie); err == nil {
		return ck.Value
	}
	return ""
}

type credentialKey struct{}

// CredentialFrom is the credential of the API call a hook serves (the
// createNode hook passes it on to the nodes it calls), or "".
func CredentialFrom(ctx context.Context) string {
	v, _ := ctx.Value(credentialKey{}).(string)
	return v
}

// browserGuard keeps web pages from using an API without authentication:
// a Host that is not this API's address (DNS rebinding) is refused, and
// so is a cross-site request to a route that changes anything, or an
// /api/v1 write whose content type a form can send.
func (s *Server) browserGuard(r *http.Request, mutates bool) error {
	if !s.hostAllowed(r.Host) {
		return errors.New("host " + r.Host + " is not this API's address: with authentication off the API answers only its own address, localhost and loopback IPs (--api-hosts adds names)")
	}
	if !mutates {
		return nil
	}
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return errors.New("cross-site request refused (Sec-Fetch-Site: " + site + ")")
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || u.Host != r.Host {
			return errors.New("cross-site request refused (Origin: " + o + ")")
		}
	}
	if strings.HasPrefix(r.URL.Path, "/api/v1/") && r.Method != http.MethodGet && r.Method != http.MethodHead {
		if ct := r.Header.Get("Content-Type"); ct != "" {
			mt, _, _ := mime.ParseMediaType(ct)
			switch mt {
			case "application/x-www-form-urlencoded", "multipart/form-data", "text/plain":
				return errors.New("content type " + mt + " refused on /api/v1 writes (a web form can send it): send Content-Type: application/json")
			}
		}
	}
	return nil
}

// hostAllowed reports whether a Host header names this API: its listening
// address, localhost, a loopback IP, or one of Access.Hosts.
func (s *Server) hostAllowed(host string) bool {
	if host == "" {
		return true // HTTP/1.0: no Host, no rebinding
	}
	name := host
	if h, _, err := net.SplitHostPort(host); err == nil {
		name = h
	}
	name = strings.Trim(name, "[]")
	if conf.IsLoopbackHost(name) || strings.HasSuffix(strings.ToLower(name), ".localhost") {
		return true
	}
	for _, h := range s.cfg.Access.Hosts {
		if strings.EqualFold(h, host) || strings.EqualFold(h, name) {
			return true
		}
	}
	return s.cfg.Addr != "" && strings.EqualFold(host, s.cfg.Addr)
}

// audit logs and stores the entry of one call.
func (s *Server) audit(c *gin.Context, caller *auth.Token, start time.Time, refusal *errBody) {
	e := entryOf(c, start)
	e.Status, e.Target = c.Writer.Status(), c.GetString(auditTargetKey)
	if e.Target == "" {
		e.Target = c.Param("id")
	}
	if e.Target == "" {
		e.Target = c.Param("name")
	}
	if caller != nil {
		e.Actor, e.Role = caller.Name, caller.Role.String()
	}
	switch {
	case refusal != nil:
		e.Outcome = "refused: " + refusal.Error
	case e.Status >= 400:
		e.Outcome = "failed"
	default:
		e.Outcome = "allowed"
	}
	s.writeAudit(c.Request.Context(), e)
}

// entryOf starts the audit entry of a request: its time, client address,
// method and route.
func entryOf(c *gin.Context, at time.Time) auth.Entry {
	return auth.Entry{Time: at.UTC(), Remote: c.ClientIP(), Method: c.Request.Method, Route: c.FullPath()}
}

// writeAudit logs an entry and stores it; a store that cannot take it is
// logged, and the call it records stands.
func (s *Server) writeAudit(ctx context.Context, e auth.Entry) {
	s.cfg.Logger.Info("audit", slog.String("actor", e.Actor), slog.String("role", e.Role), slog.String("remote", e.Remote),
		slog.String("method", e.Method), slog.String("route", e.Route), slog.String("target", e.Target),
		slog.Int("status", e.Status), slog.String("outcome", e.Outcome))
	if s.cfg.Access.Audit == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	switch err := s.cfg.Access.Audit.PutAudit(ctx, e); {
	case errors.Is(err, store.ErrNotLeader):
		// A follower's own calls (createNode, shutdownNode, a snapshot):
		// the group stores no entry without a leader's log; the line above
		// is in this node's log.
		s.cfg.Logger.Info("audit entry kept in this node's log only: not the raft leader", "route", e.Route)
	case err != nil:
		s.cfg.Logger.Error("cannot store an audit entry", "route", e.Route, "err", err)
	}
}
