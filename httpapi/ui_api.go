package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/salvo-sh/salvo/actors"
	"github.com/salvo-sh/salvo/nodeset"
	"github.com/salvo-sh/salvo/store"
)

// groupRow is one result of an aggregation group, without its body.
type groupRow struct {
	Index      int    `json:"index"`
	Host       string `json:"host"`
	State      string `json:"state"`
	Value      string `json:"value"`
	ErrorClass string `json:"errorClass,omitempty"`
}

// groupPage is the answer of /group: a page of a group's results and their
// hosts folded.
type groupPage struct {
	Items      []groupRow `json:"items"`
	Folded     string     `json:"folded"`
	NextCursor string     `json:"nextCursor,omitempty"`
}

// group lists a page of the results of one aggregation group, in index
// order and without bodies: GET /api/v1/jobs/ID/group?by=value|status|
// errorClass|body|stderr&value=V&cursor=&limit=, V being the group's
// value as /aggregate names it ("none" for results without an error
// class, "exit 1", "[error: connect_refused]"), or &index=N instead of
// value, N being the group's index in /aggregate (the group of result N);
// the first cursor of a large group is its hostsCursor. A by=body group is
// named by index (by value, the results with that body whatever their
// outcome), a stderr part of it by its own index and stderr=same. The page
// is one query of the store, bounded by limit and store.MaxGroupScan: a
// page of a sparse group may be short, even empty, while nextCursor is
// set.
func (s *Server) group(c *gin.Context) {
	by, err := byParam(c)
	if err != nil {
		fail(c, err)
		return
	}
	q := store.GroupQuery{By: by}
	var ok bool
	if v, given := c.GetQuery("index"); given {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			fail(c, badRequest("index", "index must be a group's index as /aggregate gives it"))
			return
		}
		q.Of = &n
	} else if q.Value, ok = c.GetQuery("value"); !ok {
		fail(c, badRequest("value", "value or index is required: the group's value or index as /aggregate gives them"))
		return
	}
	switch v := c.Query("stderr"); {
	case v == "":
	case v != "same":
		fail(c, badRequest("stderr", `stderr must be "same" (the stderr part of the group of result index)`))
		return
	case by != store.ByBody || q.Of == nil:
		fail(c, badRequest("stderr", "stderr=same needs by=body and index"))
		return
	default:
		q.SameStderr = true
	}
	if by == store.ByErrorClass && q.Of == nil && q.Value == "" {
		q.Value = "none" // no error class, as earlier versions took it
	}
	if q.Cursor, err = indexCursor(c); err != nil {
		fail(c, err)
		return
	}
	if q.Limit, err = limitParam(c); err != nil {
		fail(c, err)
		return
	}
	if !s.requireJob(c) {
		return
	}
	rows, next, err := s.st.GroupResults(c.Request.Context(), c.Param("id"), q)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) && q.Of != nil {
			err = &Error{Status: http.StatusNotFound, Msg: fmt.Sprintf("job %s has no result %d", c.Param("id"), *q.Of), Field: "index"}
		}
		fail(c, err)
		return
	}
	out := groupPage{Items: make([]groupRow, len(rows))}
	hosts := make([]string, len(rows))
	for i, r := range rows {
		out.Items[i] = groupRow{Index: r.Index, Host: r.Host, State: r.State, Value: r.Value, ErrorClass: r.ErrorClass}
		hosts[i] = r.Host
	}
	out.Folded = nodeset.Fold(hosts)
	if next > 0 {
		out.NextCursor = strconv.Itoa(next)
	}
	c.JSON(http.StatusOK, out)
}

// setMemberEnabled enables or disables (drains) a worker by name:
// POST /api/v1/cluster/members/NAME/enable|disable. It answers the members
// list as GET /api/v1/cluster/members does.
func (s *Server) setMemberEnabled(enabled bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		name := c.Param("name")
		ms, err := s.engine.SetEnabled(c.Request.Context(), name, enabled)
		if err != nil {
			fail(c, notFound(err, "member", name))
			return
		}
		c.JSON(http.StatusOK, page[actors.Member]{Items: ms})
	}
}

// minRateStep is the shortest span of a rate series: the event stream's
// interval, under which a span holds too few answers to make a rate.
const minRateStep = 250 * time.Millisecond

// rateSeries is the answer of /rate: a job's answers over its run time.
type rateSeries struct {
	// From and To bound the series: the job's start, and its end (now for a
	// running job, whose last span is partial). Absent before the start.
	From *time.Time `json:"from,omitempty"`
	To   *time.Time `json:"to,omitempty"`
	// BucketMs is the width of each span in milliseconds.
	BucketMs int64 `json:"bucketMs"`
	// Counts are the results answered (neither skipped nor cancelled) in
	// each span, the first from From on.
	Counts []int `json:"counts"`
}

// rateSpans divides the run [from, to) into at most buckets spans of
// minRateStep or more, in whole milliseconds.
func rateSpans(from, to time.Time, buckets int) (time.Duration, int) {
	run := max(to.Sub(from), 0)
	unit := time.Duration(buckets) * time.Millisecond
	step := max((run+unit-1)/unit*time.Millisecond, minRateStep) // run/buckets, rounded up to a millisecond
	n := int((run + step - 1) / step)
	return step, min(max(n, 1), buckets)
}

// rate answers a job's rate over time: GET /api/v1/jobs/ID/rate?buckets=N
// (1 to store.MaxRateBuckets, the default): its answered results counted
// per span of its run time, from its start to its end (or now), in at most
// N spans of 250 ms or more. It is one pass of the store over the job's
// results that reads no bodies; the answer does not grow with the job.
func (s *Server) rate(c *gin.Context) {
	buckets := store.MaxRateBuckets
	if v := c.Query("buckets"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > store.MaxRateBuckets {
			fail(c, badRequest("buckets", fmt.Sprintf("buckets must be a number from 1 to %d", store.MaxRateBuckets)))
			return
		}
		buckets = n
	}
	ctx := c.Request.Context()
	j, err := s.st.GetJob(ctx, c.Param("id"))
	if err != nil {
		fail(c, notFound(err, "job", c.Param("id")))
		return
	}
	out := rateSeries{Counts: []int{}}
	if j.StartedAt.IsZero() {
		c.JSON(http.StatusOK, out)
		return
	}
	from, to := j.StartedAt.UTC(), j.FinishedAt.UTC()
	if j.FinishedAt.IsZero() {
		to = time.Now().UTC()
	}
	step, n := rateSpans(from, to, buckets)
	if out.Counts, err = s.st.RateSeries(ctx, j.ID, store.RateQuery{From: from, Step: step, Buckets: n}); err != nil {
		fail(c, err)
		return
	}
	out.From, out.To, out.BucketMs = &from, &to, step.Milliseconds()
	c.JSON(http.StatusOK, out)
}
