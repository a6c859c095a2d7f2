// Package httpapi serves salvo's REST API with gin: /api/v1, server-sent
// progress events, /metrics, /livez and /readyz. It holds no job state of its
// own: it asks the engine and reads the store.
package httpapi

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/salvo-sh/salvo/actors"
	"github.com/salvo-sh/salvo/auth"
	"github.com/salvo-sh/salvo/job"
	"github.com/salvo-sh/salvo/store"
)

// Engine is what the API needs from the job engine (actors.Engine).
type Engine interface {
	Submit(ctx context.Context, spec *job.Spec) (*actors.JobStatus, error)
	SubmitStream(ctx context.Context, body io.Reader) (*actors.JobStatus, error)
	Status(ctx context.Context, id string) (*actors.JobStatus, error)
	// Wait returns a job's status once it is terminal, or when ctx ends.
	Wait(ctx context.Context, id string) (*actors.JobStatus, error)
	StatusOf(ctx context.Context, j *store.Job) *actors.JobStatus
	Cancel(ctx context.Context, id string) (*actors.JobStatus, error)
	// Pause and Resume stop a job's leasing and let it go on
	// (actors.Engine.Pause, docs/rollouts.md).
	Pause(ctx context.Context, id string) (*actors.JobStatus, error)
	Resume(ctx context.Context, id string) (*actors.JobStatus, error)
	// Rerun submits a finished job again over its targets whose results
	// are in one of states (actors.Engine.Rerun).
	Rerun(ctx context.Context, id string, states []string) (*actors.JobStatus, error)
	Members(ctx context.Context) ([]actors.Member, error)
	SetEnabled(ctx context.Context, worker string, enabled bool) ([]actors.Member, error)
	// Load is the master's load snapshot per tag (docs/scaling.md).
	Load(ctx context.Context) (*actors.Load, error)
	ResetQueue(ctx context.Context) ([]string, error)
	Accepting() bool
	// Ready returns nil when the engine takes jobs, else why not.
	Ready() error
	Capacity() int
}

// Config configures the API server.
type Config struct {
	// MaxRequestBytes bounds request bodies; larger ones get 413.
	MaxRequestBytes int64
	// MaxTargets bounds the hosts of a node group once its nodesets are
	// expanded, as the engine bounds a job's targets (actors.Config).
	MaxTargets int
	// BodyIdleTimeout bounds the wait for each piece of a request body;
	// BodyMinRate (bytes/s) is the least average rate of a body still
	// being read after BodyGrace. A slower body gets 408.
	BodyIdleTimeout time.Duration
	BodyGrace       time.Duration
	BodyMinRate     float64
	// MaxSubmits bounds the job submits read at once (each streams its
	// targets to a spool file); one more gets 503 with Retry-After.
	MaxSubmits int
	// EventInterval is the period of progress events on the SSE stream.
	EventInterval time.Duration
	// Pprof serves net/http/pprof under /debug/pprof/.
	Pprof bool
	// CreateNode, when set, serves REST Commander's createNode: start the
	// node's cluster part again after Shutdown, join the cluster of the
	// master at masterURL, or (empty masterURL, on a master) ask the
	// configured peers to join this one. by says who calls: "" a user,
	// CreateNodeInvite a master inviting its peers, CreateNodeWatch a
	// master's member watch. It returns a message.
	CreateNode func(ctx context.Context, port, masterURL, by string) (string, error)
	// Gatherer serves /metrics; nil serves the default registry.
	Gatherer prometheus.Gatherer
	Logger   *slog.Logger
	// Access is who may call the API: tokens and roles, or the browser
	// guards without them (access.go).
	Access Access
	// RateLimit bounds the requests per second of each token (of each
	// client address without authentication); 0 is no bound. Past it the
	// answer is 429 with Retry-After.
	RateLimit float64
	// Forward carries a worker-only node's requests to its master
	// (nil: a default transport), with ForwardScheme ("http" or "https").
	Forward       http.RoundTripper
	ForwardScheme string
	// Backup, when set, copies the store for GET /api/v1/backup (else the
	// store does, when it can); BackupDir is where the copy is made
	// before it is sent (the data dir; "" the system's temp dir).
	Backup    Snapshotter
	BackupDir string
	// Credentials, when set, keeps the SSH credentials jobs name.
	Credentials Credentials
	// Addr is the API's listening address (host:port): the Host header
	// the browser guards accept besides localhost and loopback IPs.
	Addr string
	// Shutdown, when set, asks the node to stop its cluster part, the API
	// staying up (REST Commander's /distributedAgents/shutdownNode). It
	// must not block.
	Shutdown func()
	// Follower, when set, says whether this master follows a Raft group's
	// leader, and the leader's API address ("" while there is none): a
	// follower serves reads from its store and forwards the rest
	// (follower.go).
	Follower func() (leaderAPI string, follower bool)
	// Raft, when set, serves the operator's calls on the Raft group
	// (raft.go).
	Raft Raft
	// SchedulesChanged, when set, is called after a schedule is put or
	// deleted: the node's scheduler looks at them again (schedules.go).
	SchedulesChanged func()
}

// Who calls createNode (the invited parameter of salvo's own calls).
const (
	CreateNodeInvite = "invite" // a master inviting the peers of its config
	CreateNodeWatch  = "watch"  // a master's member watch bringing a member back
)

// DefaultConfig returns the API defaults.
func DefaultConfig() Config {
	return Config{
		MaxRequestBytes: 64 << 20,
		MaxTargets:      job.DefaultMaxTargets,
		BodyIdleTimeout: 30 * time.Second,
		BodyGrace:       30 * time.Second,
		BodyMinRate:     4 << 10,
		MaxSubmits:      4,
		EventInterval:   250 * time.Millisecond,
		Logger:          slog.Default(),
	}
}

// Server is the API's HTTP handler.
type Server struct {
	cfg    Config
	engine Engine
	st     store.Store
	router *gin.Engine
	// done ends long-lived streams when the server shuts down.
	done      chan struct{}
	closeOnce sync.Once
	// submits holds a token per submit being read (MaxSubmits).
	submits chan struct{}
	// roles is the role each route needs, by "METHOD /path" (route).
	roles    map[string]auth.Role
	mutating map[string]bool // routes that change something (route)
	limits   *limiters       // Config.RateLimit
}

// New returns a Server for an engine and a store.
func New(cfg Config, engine Engine, st store.Store) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.EventInterval <= 0 {
		cfg.EventInterval = 250 * time.Millisecond
	}
	gin.SetMode(gin.ReleaseMode)
	if cfg.MaxSubmits <= 0 {
		cfg.MaxSubmits = DefaultConfig().MaxSubmits
	}
	s := &Server{cfg: cfg, engine: engine, st: st, router: gin.New(), done: make(chan struct{}),
		submits: make(chan struct{}, cfg.MaxSubmits), roles: map[string]auth.Role{}, mutating: map[string]bool{},
		limits: newLimiters(cfg.RateLimit)}
	s.routes()
	return s
}

// Handler returns the HTTP handler.
func (s *Server) Handler() http.Handler { return s.router }

// Close ends open event streams. It is idempotent.
func (s *Server) Close() {
	s.closeOnce.Do(func() { close(s.done) })
}

func (s *Server) routes() {
	r := s.router
	r.HandleMethodNotAllowed = true
	r.Use(gin.CustomRecoveryWithWriter(nil, func(c *gin.Context, rec any) {
		s.cfg.Logger.Error("panic in handler", "path", c.Request.URL.Path, "panic", rec)
		c.AbortWithStatusJSON(http.StatusInternalServerError, errBody{Error: "internal error"})
	}))
	if s.cfg.Follower != nil {
		leader := func() string { a, _ := s.cfg.Follower(); return a }
		r.Use(s.followerProxy(newProxy(s.cfg, leader, "raft leader")))
	}
	r.Use(s.access, s.limitBody, errorMiddleware(s.cfg.Logger))
	r.NoRoute(func(c *gin.Context) {
		c.JSON(http.StatusNotFound, errBody{Error: "no such endpoint: " + c.Request.URL.Path})
	})
	r.NoMethod(func(c *gin.Context) {
		c.JSON(http.StatusMethodNotAllowed, errBody{Error: "method not allowed: " + c.Request.Method})
	})

	s.healthRoutes(&r.RouterGroup, func() error { return s.engine.Ready() })
	s.metricsRoutes()

	v1 := r.Group("/api/v1")
	s.route(v1, auth.Operator, http.MethodPost, "/jobs", s.submit)
	s.route(v1, auth.Viewer, http.MethodGet, "/jobs", s.listJobs)
	s.route(v1, auth.Viewer, http.MethodGet, "/jobs/:id", s.status)
	s.route(v1, auth.Operator, http.MethodPost, "/jobs/:id/cancel", s.cancel)
	s.route(v1, auth.Operator, http.MethodDelete, "/jobs/:id", s.deleteJob)
	s.route(v1, auth.Operator, http.MethodPost, "/jobs/:id/rerun", s.rerun)
	s.route(v1, auth.Viewer, http.MethodGet, "/jobs/:id/results", s.results)
	s.route(v1, auth.Viewer, http.MethodGet, "/jobs/:id/aggregate", s.aggregate)
	s.route(v1, auth.Viewer, http.MethodGet, "/jobs/:id/events", s.events)
	s.route(v1, auth.Viewer, http.MethodGet, "/jobs/:id/group", s.group)
	s.route(v1, auth.Viewer, http.MethodGet, "/jobs/:id/rate", s.rate)
	s.route(v1, auth.Viewer, http.MethodGet, "/cluster/members", s.members)
	s.route(v1, auth.Viewer, http.MethodGet, "/cluster/load", s.load)
	s.route(v1, auth.Admin, http.MethodPost, "/cluster/members/:name/enable", s.setMemberEnabled(true))
	s.route(v1, auth.Admin, http.MethodPost, "/cluster/members/:name/disable", s.setMemberEnabled(false))
	for _, k := range definitionKinds {
		s.route(v1, auth.Viewer, http.MethodGet, "/"+k.path, s.listDefinitions(k))
		s.route(v1, auth.Viewer, http.MethodGet, "/"+k.path+"/:name", s.getDefinition(k))
		s.route(v1, auth.Operator, http.MethodPut, "/"+k.path+"/:name", s.putDefinition(k))
		s.route(v1, auth.Operator, http.MethodDelete, "/"+k.path+"/:name", s.deleteDefinition(k))
	}
	s.rolloutRoutes(v1)
	s.scheduleRoutes(v1)
	s.raftRoutes(v1)
	s.tokenRoutes(v1)
	s.credentialRoutes(v1)
	s.backupRoutes(v1)
	s.openAPIRoutes(v1)
	s.compatRoutes(r)
	s.uiRoutes(r)
}

// healthRoutes serves /livez and /readyz, which need no token.
func (s *Server) healthRoutes(g *gin.RouterGroup, ready func() error) {
	s.route(g, auth.Public, http.MethodGet, "/livez", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) })
	s.route(g, auth.Public, http.MethodGet, "/readyz", func(c *gin.Context) {
		switch err := ready(); {
		case errors.Is(err, actors.ErrNotAccepting):
			c.JSON(http.StatusServiceUnavailable, gin.H{"status": "shutting down", "reason": err.Error()})
		case err != nil:
			c.JSON(http.StatusServiceUnavailable, gin.H{"status": "unready", "reason": err.Error()})
		default:
			c.JSON(http.StatusOK, gin.H{"status": "ready"})
		}
	})
}

// metricsRoutes serves /metrics and, when enabled, /debug/pprof.
func (s *Server) metricsRoutes() {
	r := s.router
	g := s.cfg.Gatherer
	if g == nil {
		g = prometheus.DefaultGatherer
	}
	s.route(&r.RouterGroup, auth.Viewer, http.MethodGet, "/metrics", gin.WrapH(promhttp.HandlerFor(g, promhttp.HandlerOpts{})))
	if s.cfg.Pprof {
		s.route(&r.RouterGroup, auth.Admin, http.MethodGet, "/debug/pprof/*name", servePprof)
	}
}

// limitBody caps request bodies at MaxRequestBytes.
func (s *Server) limitBody(c *gin.Context) {
	if c.Request.Body != nil && s.cfg.MaxRequestBytes > 0 {
		if c.Request.ContentLength > s.cfg.MaxRequestBytes {
			c.AbortWithStatusJSON(http.StatusRequestEntityTooLarge, errBody{Error: "request body too large"})
			return
		}
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, s.cfg.MaxRequestBytes)
	}
	if c.Request.Body != nil && c.Request.Body != http.NoBody && s.cfg.BodyIdleTimeout > 0 {
		c.Request.Body = newSlowBody(c.Writer, c.Request.Body, s.cfg.BodyIdleTimeout, s.cfg.BodyGrace, s.cfg.BodyMinRate)
	}
	c.Next()
}

// servePprof serves net/http/pprof under /debug/pprof/.
func servePprof(c *gin.Context) {
	switch strings.TrimPrefix(c.Param("name"), "/") {
	case "cmdline":
		pprof.Cmdline(c.Writer, c.Request)
	case "profile":
		pprof.Profile(c.Writer, c.Request)
	case "symbol":
		pprof.Symbol(c.Writer, c.Request)
	case "trace":
		pprof.Trace(c.Writer, c.Request)
	default:
		pprof.Index(c.Writer, c.Request)
	}
}

func (s *Server) members(c *gin.Context) {
	ms, err := s.engine.Members(c.Request.Context())
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, page[actors.Member]{Items: ms})
}
