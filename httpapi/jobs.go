package httpapi

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/salvo-sh/salvo/actors"
	"github.com/salvo-sh/salvo/commands"
	"github.com/salvo-sh/salvo/store"
)

// Page limits of every list.
const (
	defaultLimit = 1000
	maxLimit     = 10000
)

// page is the shape of every list: {"items": [...], "nextCursor": "..."}.
type page[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"nextCursor,omitempty"`
}

func (s *Server) submit(c *gin.Context) {
	st, err := s.engine.SubmitStream(c.Request.Context(), c.Request.Body)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusAccepted, st)
}

func (s *Server) status(c *gin.Context) {
	st, err := s.engine.Status(c.Request.Context(), c.Param("id"))
	if err != nil {
		fail(c, notFound(err, "job", c.Param("id")))
		return
	}
	c.JSON(http.StatusOK, st)
}

func (s *Server) cancel(c *gin.Context) {
	st, err := s.engine.Cancel(c.Request.Context(), c.Param("id"))
	if err != nil {
		fail(c, notFound(err, "job", c.Param("id")))
		return
	}
	c.JSON(http.StatusOK, st)
}

// notFound names the missing object in a 404.
func notFound(err error, kind, name string) error {
	if ae := toAPIError(err); ae.Status == http.StatusNotFound {
		return &Error{Status: http.StatusNotFound, Msg: fmt.Sprintf("%s %q not found", kind, name)}
	}
	return err
}

// limitParam reads the limit query parameter.
func limitParam(c *gin.Context) (int, error) {
	v := c.Query("limit")
	if v == "" {
		return defaultLimit, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxLimit {
		return 0, badRequest("limit", fmt.Sprintf("limit must be a number from 1 to %d", maxLimit))
	}
	return n, nil
}

func (s *Server) listJobs(c *gin.Context) {
	state := c.Query("state")
	if state != "" && !slices.Contains(store.JobStates, state) {
		fail(c, badRequest("state", fmt.Sprintf("unknown job state %q (one of %s)", state, strings.Join(store.JobStates, ", "))))
		return
	}
	limit, err := limitParam(c)
	if err != nil {
		fail(c, err)
		return
	}
	jobs, next, err := s.st.ListJobs(c.Request.Context(), store.JobQuery{State: state, Cursor: c.Query("cursor"), Limit: limit})
	if err != nil {
		fail(c, err)
		return
	}
	out := page[*actors.JobStatus]{Items: make([]*actors.JobStatus, 0, len(jobs)), NextCursor: next}
	for _, j := range jobs {
		out.Items = append(out.Items, s.engine.StatusOf(c.Request.Context(), j))
	}
	c.JSON(http.StatusOK, out)
}

// requireJob answers 404 unless the job exists.
func (s *Server) requireJob(c *gin.Context) bool {
	if _, err := s.st.GetJob(c.Request.Context(), c.Param("id")); err != nil {
		fail(c, notFound(err, "job", c.Param("id")))
		return false
	}
	return true
}

func (s *Server) results(c *gin.Context) {
	q := store.ResultQuery{State: c.Query("state"), Host: c.Query("host"), Q: c.Query("q")}
	if q.State != "" && !slices.Contains(commands.ResultStates, q.State) {
		fail(c, badRequest("state", fmt.Sprintf("unknown result state %q (one of %s)", q.State, strings.Join(commands.ResultStates, ", "))))
		return
	}
	if v := c.Query("cursor"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			fail(c, badRequest("cursor", "cursor must be a value returned as nextCursor"))
			return
		}
		q.Cursor = n
	}
	limit, err := limitParam(c)
	if err != nil {
		fail(c, err)
		return
	}
	q.Limit = limit
	if !s.requireJob(c) {
		return
	}
	id := c.Param("id")
	if strings.Contains(c.GetHeader("Accept"), "application/x-ndjson") {
		s.streamResults(c, id, q, c.Query("limit") != "")
		return
	}
	items, next, err := s.st.Results(c.Request.Context(), id, q)
	if err != nil {
		fail(c, err)
		return
	}
	out := page[commands.Result]{Items: items}
	if items == nil {
		out.Items = []commands.Result{}
	}
	if next > 0 {
		out.NextCursor = strconv.Itoa(next)
	}
	c.JSON(http.StatusOK, out)
}

// streamResults writes results as NDJSON: every matching result from the
// cursor on, or one page when the caller set a limit (the next cursor is then
// in the X-Next-Cursor header).
func (s *Server) streamResults(c *gin.Context, id string, q store.ResultQuery, onePage bool) {
	ctx := c.Request.Context()
	items, next, err := s.st.Results(ctx, id, q)
	if err != nil {
		fail(c, err)
		return
	}
	if onePage && next > 0 {
		c.Header("X-Next-Cursor", strconv.Itoa(next))
	}
	c.Header("Content-Type", "application/x-ndjson")
	c.Status(http.StatusOK)
	enc := json.NewEncoder(c.Writer)
	for {
		for i := range items {
			if err := enc.Encode(&items[i]); err != nil {
				return // client went away
			}
		}
		if onePage || next == 0 || ctx.Err() != nil {
			return
		}
		c.Writer.Flush()
		q.Cursor = next
		if items, next, err = s.st.Results(ctx, id, q); err != nil {
			s.cfg.Logger.Warn("results stream ended early", "job", id, "err", err)
			return
		}
	}
}

var aggregateKeys = []string{store.ByValue, store.ByStatus, store.ByErrorClass, store.ByBody}

func (s *Server) aggregate(c *gin.Context) {
	by := c.DefaultQuery("by", store.ByValue)
	if !slices.Contains(aggregateKeys, by) {
		fail(c, badRequest("by", fmt.Sprintf("unknown aggregation key %q (one of %s)", by, strings.Join(aggregateKeys, ", "))))
		return
	}
	limit := 100
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			fail(c, badRequest("limit", "limit must be a number from 1 to 1000"))
			return
		}
		limit = n
	}
	if !s.requireJob(c) {
		return
	}
	groups, err := s.st.Aggregate(c.Request.Context(), c.Param("id"), by, limit)
	if err != nil {
		fail(c, err)
		return
	}
	if groups == nil {
		groups = []store.Group{}
	}
	c.JSON(http.StatusOK, gin.H{"by": by, "groups": groups})
}

// events streams progress snapshots as server-sent events until the job is
// terminal ("event: end"), the client leaves or the server shuts down.
func (s *Server) events(c *gin.Context) {
	ctx := c.Request.Context()
	id := c.Param("id")
	st, err := s.engine.Status(ctx, id)
	if err != nil {
		fail(c, notFound(err, "job", id))
		return
	}
	c.Header("Content-Type", "text/event-stream")
	c.Header("Cache-Control", "no-cache")
	c.Header("X-Accel-Buffering", "no")
	c.Status(http.StatusOK)
	t := time.NewTicker(s.cfg.EventInterval)
	defer t.Stop()
	for {
		name := "progress"
		if st.Terminal() {
			name = "end"
		}
		if err := writeEvent(c.Writer, name, st); err != nil {
			return
		}
		c.Writer.Flush()
		if name == "end" {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-s.done:
			return
		case <-t.C:
		}
		if st, err = s.engine.Status(ctx, id); err != nil {
			s.cfg.Logger.Warn("event stream ended early", "job", id, "err", err)
			return
		}
	}
}

func writeEvent(w io.Writer, name string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "event: %s\ndata: %s\n\n", name, b)
	return err
}
