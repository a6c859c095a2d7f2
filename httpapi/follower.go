package httpapi

import (
	"net/http"
	"net/http/httputil"

	"github.com/gin-gonic/gin"
)

// followerLocal are the routes a follower of the Raft group serves
// itself (docs/ha.md): reads from its own store that need no running
// master, and the calls on the node itself. Its reads may be a little
// behind the leader's; ?consistent=true forwards them to the leader.
// Every other route is forwarded.
var followerLocal = map[string]bool{
	"GET /livez": true, "GET /readyz": true, "GET /metrics": true, "GET /debug/pprof/*name": true,
	"GET /": true, "GET /ui/*filepath": true,
	"GET /api/v1/jobs": true, "GET /api/v1/jobs/:id": true, "GET /api/v1/jobs/:id/results": true,
	"GET /api/v1/jobs/:id/aggregate": true, "GET /api/v1/jobs/:id/group": true, "GET /api/v1/jobs/:id/rate": true,
	"GET /api/v1/whoami": true, "GET /api/v1/tokens": true, "GET /api/v1/audit": true, "GET /api/v1/openapi.json": true,
	"GET /api/v1/credentials": true, "GET /api/v1/credentials/:name": true,
	"GET /api/v1/cluster/raft": true, "POST /api/v1/cluster/raft/snapshot": true, // this member's
	"GET /api/v1/schedules": true, "GET /api/v1/schedules/:name": true, "GET /api/v1/schedules/:name/history": true,
	// REST Commander's createNode and shutdownNode act on this node.
	"GET /distributedAgents/createNode": true, "POST /distributedAgents/createNode": true,
	"GET /distributedAgents/shutdownNode": true, "POST /distributedAgents/shutdownNode": true,
}

func init() {
	for _, k := range definitionKinds {
		followerLocal["GET /api/v1/"+k.path] = true
		followerLocal["GET /api/v1/"+k.path+"/:name"] = true
	}
}

// ReplicaHeader tells a client that a follower answered from its own
// store, which may be a little behind the leader's.
const ReplicaHeader = "X-Salvo-Replica"

// followerProxy forwards to the leader what a follower does not serve.
func (s *Server) followerProxy(proxy *httputil.ReverseProxy) gin.HandlerFunc {
	return func(c *gin.Context) {
		leader, follower := s.cfg.Follower()
		if !follower {
			c.Next()
			return
		}
		key := c.Request.Method + " " + c.FullPath()
		// A wait for a job's end needs the master that runs it.
		local := followerLocal[key] && c.Query("consistent") != "true" && c.Query("wait") == ""
		if c.FullPath() == "" || local {
			c.Header(ReplicaHeader, "follower")
			c.Next()
			return
		}
		if !s.cfg.Access.On() {
			// The leader authenticates what it is sent; without
			// authentication the browser guards run here, where the
			// browser's Host is.
			mutates := c.Request.Method != http.MethodGet && c.Request.Method != http.MethodHead
			if err := s.browserGuard(c.Request, mutates); err != nil {
				c.AbortWithStatusJSON(http.StatusForbidden, errBody{Error: err.Error()})
				return
			}
		}
		if leader == "" {
			c.AbortWithStatusJSON(http.StatusServiceUnavailable, errBody{Error: "this master follows the raft group, which has no leader now: try again in a few seconds"})
			return
		}
		proxy.ServeHTTP(c.Writer, c.Request)
		c.Abort()
	}
}
