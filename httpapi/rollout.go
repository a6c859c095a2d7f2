package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/salvo-sh/salvo/actors"
	"github.com/salvo-sh/salvo/auth"
)

// rolloutRoutes serves POST /api/v1/jobs/ID/pause and /resume
// (docs/rollouts.md): an operator stops a job's leasing and lets it go on,
// and approves a rollout's next batch. On a follower of a Raft group they
// go to the leader like every write (follower.go).
func (s *Server) rolloutRoutes(v1 *gin.RouterGroup) {
	s.route(v1, auth.Operator, http.MethodPost, "/jobs/:id/pause", s.pauseOrResume("pause", func(e Engine) pauseFunc { return e.Pause }))
	s.route(v1, auth.Operator, http.MethodPost, "/jobs/:id/resume", s.pauseOrResume("resume", func(e Engine) pauseFunc { return e.Resume }))
}

// pauseFunc is Engine.Pause or Engine.Resume.
type pauseFunc func(ctx context.Context, id string) (*actors.JobStatus, error)

// pauseOrResume answers 200 with the job's status, 404 for an unknown job
// and 409 for one in a state the call does not apply to (finished, being
// cancelled, already paused, not paused).
func (s *Server) pauseOrResume(what string, of func(Engine) pauseFunc) gin.HandlerFunc {
	return func(c *gin.Context) {
		id := c.Param("id")
		c.Set(auditTargetKey, id)
		st, err := of(s.engine)(c.Request.Context(), id)
		var se *actors.JobStateError
		switch {
		case errors.As(err, &se):
			fail(c, &Error{Status: http.StatusConflict, Msg: se.Error()})
			return
		case errors.Is(err, actors.ErrJobFinished) && st != nil:
			fail(c, &Error{Status: http.StatusConflict, Msg: "job " + id + " is " + st.State + ": it has finished, nothing to " + what})
			return
		case err != nil:
			fail(c, notFound(err, "job", id))
			return
		}
		attrs := append(callerAttrs(c), slog.String("job", id), slog.String("state", st.State))
		s.cfg.Logger.LogAttrs(c.Request.Context(), slog.LevelInfo, "job "+what, attrs...)
		c.JSON(http.StatusOK, st)
	}
}
