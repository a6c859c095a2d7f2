package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/salvo-sh/salvo/actors"
	"github.com/salvo-sh/salvo/store"
)

// deleteTimeout bounds a DELETE /api/v1/jobs/ID once begun: it goes on
// when the client leaves, so that a job is not left half deleted (a new
// DELETE would finish it).
const deleteTimeout = 30 * time.Minute

// deleteJob deletes a finished job and everything stored of it
// (store.Store.DeleteJob, in bounded batches; in a Raft group, through the
// log): 204, 404 for an unknown job, 409 for one not finished.
func (s *Server) deleteJob(c *gin.Context) {
	id := c.Param("id")
	ctx := c.Request.Context()
	j, err := s.st.GetJob(ctx, id)
	if err != nil {
		fail(c, notFound(err, "job", id))
		return
	}
	if !store.Terminal(j.State) {
		fail(c, notFinished(id, j.State))
		return
	}
	c.Set(auditTargetKey, id)
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), deleteTimeout)
	defer cancel()
	start := time.Now()
	if err := s.st.DeleteJob(dctx, id); err != nil {
		if errors.Is(err, store.ErrNotFinished) {
			err = notFinished(id, j.State)
		}
		fail(c, notFound(err, "job", id))
		return
	}
	attrs := append(callerAttrs(c), slog.String("job", id), slog.String("name", j.Name), slog.String("state", j.State),
		slog.Int("targets", j.Total), slog.Duration("took", time.Since(start)))
	s.cfg.Logger.LogAttrs(ctx, slog.LevelInfo, "job deleted", attrs...)
	c.Status(http.StatusNoContent)
}

// notFinished is the 409 of a delete of a job that has not ended.
func notFinished(id, state string) error {
	return &Error{Status: http.StatusConflict, Msg: fmt.Sprintf("job %s is %s: only a finished job is deleted (cancel it first: POST /api/v1/jobs/%s/cancel)", id, state, id)}
}

// rerunRequest is the body of POST /api/v1/jobs/ID/rerun.
type rerunRequest struct {
	// States are the result states whose targets run again (default
	// failed, error, timeout).
	States []string `json:"states"`
}

// rerun submits a finished job again over its targets whose results are
// in the states of the body (actors.Engine.Rerun): 202 with the new job's
// status, 400 for an unknown state, 404 for an unknown job, 409 when the
// job is not finished, lacks the secrets it ran with, or has no target in
// those states. It is a submit like POST /jobs: the caller's token, path
// authority and scope, the target policy and the submit's log line apply.
func (s *Server) rerun(c *gin.Context) {
	c.Set(submitKey, true)
	id := c.Param("id")
	var req rerunRequest
	body, err := io.ReadAll(c.Request.Body)
	if err != nil {
		fail(c, err)
		return
	}
	if len(body) > 0 {
		if err := decodeStrict(body, &req); err != nil {
			fail(c, err)
			return
		}
	}
	// A scoped token reruns only the jobs of its node groups: the
	// targets are those of the job's node group.
	if t := callerOf(c); t != nil && len(t.Scope) > 0 {
		j, err := s.st.GetJob(c.Request.Context(), id)
		if err != nil {
			fail(c, notFound(err, "job", id))
			return
		}
		group := ""
		if j.Spec != nil && j.Spec.Origin != nil {
			group = j.Spec.Origin.NodeGroup
		}
		if err := checkScope(c, group, 0); err != nil {
			fail(c, err)
			return
		}
	}
	st, err := s.engine.Rerun(s.submitContext(c), id, req.States)
	var re *actors.RerunError
	if errors.As(err, &re) {
		err = &Error{Status: http.StatusConflict, Msg: re.Msg}
	}
	if err != nil {
		fail(c, notFound(err, "job", id))
		return
	}
	c.Set(auditTargetKey, st.ID)
	s.logSubmit(c, st)
	c.JSON(http.StatusAccepted, st) // as POST /jobs: queued
}
