package httpapi

import (
	"context"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/salvo-sh/salvo/auth"
)

// Raft is the operator's view of a master's Raft group (docs/ha.md).
type Raft interface {
	// Status reports the group: leader, term and every member's indexes.
	// local reports this member alone; authorization is the caller's
	// Authorization header, carried to the other members.
	Status(ctx context.Context, local bool, authorization string) (any, error)
	// Transfer hands the leadership to the member named to (on the leader).
	Transfer(ctx context.Context, to string) (any, error)
	// Remove removes the member named name from the group (on the leader).
	Remove(ctx context.Context, name string) (any, error)
	// Snapshot snapshots this member's store and compacts its log.
	Snapshot(ctx context.Context) (any, error)
}

// errNoRaft answers the Raft calls of a master outside a Raft group.
var errNoRaft = &Error{Status: http.StatusConflict,
	Msg: "this master is not part of a Raft group: start the masters with --bootstrap-expect N (docs/ha.md)"}

func (s *Server) raftRoutes(v1 *gin.RouterGroup) {
	// call answers with what f returns, 409 on a master outside a group.
	call := func(f func(c *gin.Context) (any, error)) gin.HandlerFunc {
		return func(c *gin.Context) {
			if s.cfg.Raft == nil {
				fail(c, errNoRaft)
				return
			}
			out, err := f(c)
			if err != nil {
				fail(c, err)
				return
			}
			c.JSON(http.StatusOK, out)
		}
	}
	s.route(v1, auth.Viewer, http.MethodGet, "/cluster/raft", call(func(c *gin.Context) (any, error) {
		return s.cfg.Raft.Status(c.Request.Context(), c.Query("scope") == "local", c.GetHeader("Authorization"))
	}))
	s.route(v1, auth.Admin, http.MethodPost, "/cluster/raft/transfer", call(func(c *gin.Context) (any, error) {
		to := c.Query("to")
		if to == "" {
			return nil, &Error{Status: http.StatusBadRequest, Field: "to", Msg: "to: name the master to hand the leadership to"}
		}
		c.Set(auditTargetKey, to)
		return s.cfg.Raft.Transfer(c.Request.Context(), to)
	}))
	s.route(v1, auth.Admin, http.MethodPost, "/cluster/raft/snapshot", call(func(c *gin.Context) (any, error) {
		return s.cfg.Raft.Snapshot(c.Request.Context())
	}))
	s.route(v1, auth.Admin, http.MethodDelete, "/cluster/raft/servers/:name", call(func(c *gin.Context) (any, error) {
		c.Set(auditTargetKey, c.Param("name"))
		return s.cfg.Raft.Remove(c.Request.Context(), c.Param("name"))
	}))
}
