package httpapi

import (
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"

	"github.com/gin-gonic/gin"
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
	s := &Server{cfg: cfg, router: gin.New(), done: make(chan struct{})}
	r := s.router
	r.Use(gin.CustomRecoveryWithWriter(nil, func(c *gin.Context, rec any) {
		s.cfg.Logger.Error("panic in handler", "path", c.Request.URL.Path, "panic", rec)
		c.AbortWithStatusJSON(http.StatusInternalServerError, errBody{Error: "internal error"})
	}))
	r.GET("/livez", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) })
	r.GET("/readyz", func(c *gin.Context) {
		if master() == "" {
			c.JSON(http.StatusServiceUnavailable, gin.H{"status": "no master known yet"})
			return
		}
		c.JSON(http.StatusOK, gin.H{"status": "ready", "master": master()})
	})
	s.metricsRoutes()
	r.Use(errorMiddleware(s.cfg.Logger))
	// Node-local calls are answered here, not by the master.
	for _, m := range []string{http.MethodGet, http.MethodPost} {
		r.Handle(m, "/distributedAgents/createNode", s.rcCreateNode)
		r.Handle(m, "/distributedAgents/shutdownNode", s.rcShutdownNode)
	}
	proxy := &httputil.ReverseProxy{
		// The master's address is read per request: it is learnt, and may
		// change, after the node starts.
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(&url.URL{Scheme: "http", Host: master()})
			pr.Out.Host = pr.In.Host
		},
		Transport: &http.Transport{
			DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			ResponseHeaderTimeout: 35 * time.Minute, // compat calls wait for their job
			IdleConnTimeout:       time.Minute,
		},
		FlushInterval: -1, // stream server-sent events and NDJSON as they come
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			s.cfg.Logger.Warn("forward to master failed", "master", r.URL.Host, "err", err)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadGateway)
			_, _ = w.Write([]byte(`{"error":"the master at ` + r.URL.Host + ` did not answer"}`))
		},
	}
	r.NoRoute(func(c *gin.Context) {
		if master() == "" {
			c.JSON(http.StatusServiceUnavailable, errBody{Error: "this worker node does not know its master yet"})
			return
		}
		proxy.ServeHTTP(c.Writer, c.Request)
	})
	return s
}
