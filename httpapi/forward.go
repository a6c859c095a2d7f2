package httpapi

import (
	"errors"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/salvo-sh/salvo/auth"
)

// NewForwarder returns the API of a worker-only node: /livez, /readyz
// (ready once the master is known), /metrics, /debug/pprof and REST
// Commander's createNode and shutdownNode are its own;
// every other request, job submissions and reads alike, goes to the master
// whose API address master returns ("" while unknown: 503).
func NewForwarder(cfg Config, master func() string) *Server {
	if cfg.Logger == nil {
		cfg.Logger = DefaultConfig().Logger
	}
	gin.SetMode(gin.ReleaseMode)
	s := &Server{cfg: cfg, router: gin.New(), done: make(chan struct{}), roles: map[string]auth.Role{}, mutating: map[string]bool{},
		limits: newLimiters(cfg.RateLimit)}
	r := s.router
	r.Use(gin.CustomRecoveryWithWriter(nil, func(c *gin.Context, rec any) {
		s.cfg.Logger.Error("panic in handler", "path", c.Request.URL.Path, "panic", rec)
		c.AbortWithStatusJSON(http.StatusInternalServerError, errBody{Error: "internal error"})
	}))
	r.Use(s.access)
	s.healthRoutes(&r.RouterGroup, func() error {
		if master() == "" {
			return errors.New("no master known yet")
		}
		return nil
	})
	s.metricsRoutes()
	r.Use(errorMiddleware(s.cfg.Logger))
	// Node-local calls are answered here, not by the master.
	s.routeAny(&r.RouterGroup, auth.Admin, "/distributedAgents/createNode", s.rcCreateNode)
	s.routeAny(&r.RouterGroup, auth.Admin, "/distributedAgents/shutdownNode", s.rcShutdownNode)
	proxy := newProxy(cfg, master, "master")
	r.NoRoute(func(c *gin.Context) {
		if !s.cfg.Access.On() {
			// The master authenticates what it is sent; without
			// authentication the browser guards run here, where the
			// browser's Host is.
			mutates := c.Request.Method != http.MethodGet && c.Request.Method != http.MethodHead
			if err := s.browserGuard(c.Request, mutates); err != nil {
				c.JSON(http.StatusForbidden, errBody{Error: err.Error()})
				return
			}
		}
		if master() == "" {
			c.JSON(http.StatusServiceUnavailable, errBody{Error: "this worker node does not know its master yet"})
			return
		}
		proxy.ServeHTTP(c.Writer, c.Request)
	})
	return s
}

// newProxy is a reverse proxy to the node that target names, read per
// request (it is learnt, and may change, after the node starts): a
// worker-only node's master, a follower's leader.
func newProxy(cfg Config, target func() string, what string) *httputil.ReverseProxy {
	scheme, transport := cfg.ForwardScheme, cfg.Forward
	if scheme == "" {
		scheme = "http"
	}
	if transport == nil {
		transport = &http.Transport{
			DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			ResponseHeaderTimeout: 35 * time.Minute, // compat calls wait for their job
			IdleConnTimeout:       time.Minute,
		}
	}
	logger := cfg.Logger
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			host := target()
			pr.SetURL(&url.URL{Scheme: scheme, Host: host})
			pr.Out.Host = host // the browser guards ran here, on the node's own Host
		},
		Transport:     transport,
		FlushInterval: -1, // stream server-sent events and NDJSON as they come
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			logger.Warn("forward failed", "to", what, "addr", r.URL.Host, "err", err)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadGateway)
			_, _ = w.Write([]byte(`{"error":"the ` + what + ` at ` + r.URL.Host + ` did not answer"}`))
		},
	}
}
