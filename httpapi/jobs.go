package httpapi

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/salvo-sh/salvo/actors"
	"github.com/salvo-sh/salvo/job"
	"github.com/salvo-sh/salvo/nodeset"
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

// submit reads a job spec and submits it. At most MaxSubmits are read at
// once: each streams its targets to a spool file, and a client past the
// bound gets 503 with Retry-After rather than a share of the disk and CPU.
func (s *Server) submit(c *gin.Context) {
	c.Set(submitKey, true)
	select {
	case s.submits <- struct{}{}:
		defer func() { <-s.submits }()
	default:
		c.Header("Retry-After", "1")
		fail(c, &Error{Status: http.StatusServiceUnavailable, Msg: fmt.Sprintf("%d job submits are being read: try again", cap(s.submits))})
		return
	}
	body := io.Reader(c.Request.Body)
	if t := callerOf(c); t != nil && len(t.Scope) > 0 {
		// A scoped token sends to its node groups only: read the spec
		// (bounded by MaxRequestBytes) to see where.
		b, err := io.ReadAll(c.Request.Body)
		if err != nil {
			fail(c, err)
			return
		}
		var probe struct {
			NodeGroup string            `json:"nodeGroup"`
			Targets   []json.RawMessage `json:"targets"`
		}
		_ = json.Unmarshal(b, &probe) // a bad spec is the engine's to report
		if err := checkScope(c, probe.NodeGroup, len(probe.Targets)); err != nil {
			fail(c, err)
			return
		}
		body = bytes.NewReader(b)
	}
	st, err := s.engine.SubmitStream(s.submitContext(c), body)
	if err != nil {
		fail(c, err)
		return
	}
	c.Set(auditTargetKey, st.ID)
	s.logSubmit(c, st)
	c.JSON(http.StatusAccepted, st)
}

// submitKey marks a request that submits a job: errorMiddleware logs its
// refusal (logRefusedSubmit).
const submitKey = "salvo.submit"

// maxLoggedCommand bounds the SSH command a log line quotes.
const maxLoggedCommand = 256

// logSubmit writes the log line of an accepted submit: who sent it, what
// the job runs and on how many targets. What it runs comes from the stored
// spec, whose secrets are redacted (the status's Ran), and the line names
// neither headers, bodies, variables, credentials nor a path's query. A
// later error of the request (a REST Commander route waiting for the job)
// is no refusal.
func (s *Server) logSubmit(c *gin.Context, st *actors.JobStatus) {
	c.Set(submitKey, false)
	attrs := append(callerAttrs(c), slog.String("job", st.ID), slog.String("name", st.Name),
		slog.String("protocol", st.Protocol), slog.Int("targets", st.Total))
	if st.RerunOf != "" {
		attrs = append(attrs, slog.String("rerunOf", st.RerunOf))
	}
	ran := st.Ran
	if ran == nil {
		// The job is accepted: its line is whole even if the client has gone.
		if j, err := s.st.GetJob(context.WithoutCancel(c.Request.Context()), st.ID); err == nil {
			ran = actors.RanOf(j)
		}
	}
	if ran != nil {
		attrs = append(attrs, ranAttrs(ran)...)
	}
	s.cfg.Logger.LogAttrs(c.Request.Context(), slog.LevelInfo, "job submitted", attrs...)
}

// ranAttrs say what a job runs (actors.RanOf): the HTTP method and path
// (without its query), or the SSH command, cut to maxLoggedCommand bytes;
// and the named node group and command it came from.
func ranAttrs(r *actors.Ran) []slog.Attr {
	var attrs []slog.Attr
	switch {
	case r.Command != "":
		attrs = append(attrs, slog.String("command", job.Cut(r.Command, maxLoggedCommand)))
	case r.Method != "" || r.Path != "":
		attrs = append(attrs, slog.String("method", r.Method), slog.String("path", r.Path))
	}
	if r.NodeGroup != "" {
		attrs = append(attrs, slog.String("nodeGroup", r.NodeGroup))
	}
	if r.CommandName != "" {
		attrs = append(attrs, slog.String("commandName", r.CommandName))
	}
	return attrs
}

// callerAttrs name who calls: the token's name when authentication is on,
// and the client's address.
func callerAttrs(c *gin.Context) []slog.Attr {
	attrs := make([]slog.Attr, 0, 8)
	if t := callerOf(c); t != nil {
		attrs = append(attrs, slog.String("caller", t.Name))
	}
	return append(attrs, slog.String("remote", c.ClientIP()))
}

// logRefusedSubmit writes the log line of a submit the handler refused
// (4xx, 503, 507) with the reason. Refusals of the access guard (401, a
// role's 403, 429) are the audit line's (outcome "refused: ..."); a 500
// is errorMiddleware's "request failed"; a client gone (499) is no refusal.
func logRefusedSubmit(logger *slog.Logger, c *gin.Context, ae *Error) {
	if ae.Status < 400 || ae.Status == 499 || ae.Status == http.StatusInternalServerError {
		return
	}
	attrs := append(callerAttrs(c), slog.String("route", c.FullPath()), slog.Int("status", ae.Status),
		slog.String("reason", ae.Msg))
	if ae.Field != "" {
		attrs = append(attrs, slog.String("field", ae.Field))
	}
	logger.LogAttrs(c.Request.Context(), slog.LevelInfo, "submit refused", attrs...)
}

// maxWait bounds the wait parameter of GET /api/v1/jobs/{id}.
const maxWait = 10 * time.Minute

// status answers a job's status; with ?wait=D (a Go duration such as 30s,
// or seconds) it answers as soon as the job is terminal, or after D with
// the status then.
func (s *Server) status(c *gin.Context) {
	ctx := c.Request.Context()
	wait, err := parseWait(c.Query("wait"))
	if err != nil {
		fail(c, err)
		return
	}
	var st *actors.JobStatus
	if wait > 0 {
		wctx, cancel := s.waitContext(ctx, wait)
		defer cancel()
		st, err = s.engine.Wait(wctx, c.Param("id"))
	} else {
		st, err = s.engine.Status(ctx, c.Param("id"))
	}
	if err != nil {
		fail(c, notFound(err, "job", c.Param("id")))
		return
	}
	c.JSON(http.StatusOK, st)
}

// cancel answers the master's decision: 200 with the job's status once
// the master has cancelled it, with a warning per worker that could not be
// told (its in-flight leases end with their timeouts).
func (s *Server) cancel(c *gin.Context) {
	st, err := s.engine.Cancel(c.Request.Context(), c.Param("id"))
	var wce *actors.WorkerCancelError
	if err != nil && st != nil && errors.As(err, &wce) {
		st.Warnings = append(st.Warnings, cancelWarnings(err)...)
		err = nil
	}
	if err != nil {
		fail(c, notFound(err, "job", c.Param("id")))
		return
	}
	attrs := append(callerAttrs(c), slog.String("job", st.ID), slog.String("name", st.Name),
		slog.String("state", st.State), slog.Int("done", st.Done), slog.Int("total", st.Total))
	if len(st.Warnings) > 0 {
		attrs = append(attrs, slog.Any("warnings", st.Warnings))
	}
	s.cfg.Logger.LogAttrs(c.Request.Context(), slog.LevelInfo, "job cancel", attrs...)
	c.JSON(http.StatusOK, st)
}

// cancelWarnings lists the workers a cancel could not reach.
func cancelWarnings(err error) []string {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []string
		for _, e := range j.Unwrap() {
			out = append(out, cancelWarnings(e)...)
		}
		return out
	}
	return []string{err.Error()}
}

// parseWait reads the wait parameter: empty (no wait), a Go duration or a
// number of seconds, at most maxWait.
func parseWait(v string) (time.Duration, error) {
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		n, nerr := strconv.Atoi(v)
		if nerr != nil || n > int(maxWait/time.Second) {
			return 0, &job.FieldError{Field: "wait", Msg: fmt.Sprintf("must be a duration such as 30s or a whole number of seconds, at most %s; got %q", maxWait, v)}
		}
		d = time.Duration(n) * time.Second
	}
	if d < 0 || d > maxWait {
		return 0, &job.FieldError{Field: "wait", Msg: fmt.Sprintf("must be between 0 and %s, got %s", maxWait, v)}
	}
	return d, nil
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

// listJobs answers a page of jobs, newest first: ?state= (one job state),
// ?name= (exactly this name), ?q= (a substring of the name, the id, the SSH
// command or the HTTP path, ASCII case-insensitive), ?schedule= (the runs
// of a schedule), ?cursor=, ?limit=.
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
	q := store.JobQuery{State: state, Name: c.Query("name"), Q: c.Query("q"), Schedule: c.Query("schedule"), Cursor: c.Query("cursor"), Limit: limit}
	for field, v := range map[string]string{"name": q.Name, "q": q.Q, "schedule": q.Schedule} {
		if len(v) > store.MaxJobQuery {
			fail(c, badRequest(field, fmt.Sprintf("%s takes at most %d bytes", field, store.MaxJobQuery)))
			return
		}
	}
	jobs, next, err := s.st.ListJobs(c.Request.Context(), q)
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

// results answers a page of a job's results (or, asked for NDJSON or CSV,
// every result from the cursor on): ?state= (repeated or comma-separated,
// any of them), ?host=, ?q=, ?cursor=, ?limit=, ?format=.
func (s *Server) results(c *gin.Context) {
	q := store.ResultQuery{Q: c.Query("q")}
	format, err := formatParam(c)
	if err != nil {
		fail(c, err)
		return
	}
	if q.States, err = statesParam(c); err != nil {
		fail(c, err)
		return
	}
	if q.Host, err = hostParam(c); err != nil {
		fail(c, err)
		return
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
	id := c.Param("id")
	if format != formatJSON {
		s.streamResults(c, id, q, format, c.Query("limit") != "")
		return
	}
	items, next, err := s.st.Results(c.Request.Context(), id, q)
	if err != nil {
		fail(c, err)
		return
	}
	out := page[job.Result]{Items: items}
	if items == nil {
		out.Items = []job.Result{}
	}
	if next > 0 {
		out.NextCursor = strconv.Itoa(next)
	}
	c.JSON(http.StatusOK, out)
}

// statesParam reads the state parameter of /results: result states,
// repeated (state=a&state=b) or comma-separated (state=a,b), any of which
// a result may be in; none selects every state.
func statesParam(c *gin.Context) ([]string, error) {
	var states []string
	for _, v := range c.QueryArray("state") {
		for st := range strings.SplitSeq(v, ",") {
			st = strings.TrimSpace(st)
			if st == "" {
				continue
			}
			if !slices.Contains(job.ResultStates, st) {
				return nil, badRequest("state", fmt.Sprintf("unknown result state %q (one of %s; repeat state or separate states by commas for several)",
					st, strings.Join(job.ResultStates, ", ")))
			}
			if !slices.Contains(states, st) {
				states = append(states, st)
			}
		}
	}
	return states, nil
}

// hostParam reads the host parameter of /results. Results are stored by
// host, without port (job.Result.Host), so a value written as a target
// (host:port, [v6]:port, user@host, an http:// URL) is read as its host:
// it matches that host's results whatever their port. A value that is no
// target is a 400 naming host.
func hostParam(c *gin.Context) (string, error) {
	v := strings.TrimSpace(c.Query("host"))
	if v == "" {
		return "", nil
	}
	protocol := job.ProtocolHTTP
	if strings.Contains(v, "@") {
		protocol = job.ProtocolSSH
	}
	t, err := job.ParseTarget(v, protocol)
	if err != nil {
		if inner := errors.Unwrap(err); inner != nil {
			err = inner
		}
		return "", badRequest("host", fmt.Sprintf("host %q is not a host name or address with an optional port (web-1, 10.0.0.7:8080, [::1]:22): %v", v, err))
	}
	return t.Host, nil
}

// Formats of /results.
const (
	formatJSON   = "json"   // one page: {"items", "nextCursor"}
	formatNDJSON = "ndjson" // one result a line
	formatCSV    = "csv"    // job.CSVHeader, then job.CSVRecord a result
)

// formatParam reads how /results answers: ?format=json|ndjson|csv, or
// without it the Accept header (application/x-ndjson, text/csv), JSON
// otherwise. The query form serves a download link, which sets no header.
func formatParam(c *gin.Context) (string, error) {
	switch f := c.Query("format"); f {
	case formatJSON, formatNDJSON, formatCSV:
		return f, nil
	case "":
	default:
		return "", badRequest("format", fmt.Sprintf("unknown format %q (one of json, ndjson, csv)", f))
	}
	switch accept := c.GetHeader("Accept"); {
	case strings.Contains(accept, "application/x-ndjson"):
		return formatNDJSON, nil
	case strings.Contains(accept, "text/csv"):
		return formatCSV, nil
	}
	return formatJSON, nil
}

// streamResults writes results as NDJSON or CSV: every matching result
// from the cursor on, a page of the store at a time, or one page when the
// caller set a limit (the next cursor is then in the X-Next-Cursor
// header). A CSV, or an answer asked for by ?format=, is an attachment
// named after the job (JOBID.csv, JOBID.ndjson).
func (s *Server) streamResults(c *gin.Context, id string, q store.ResultQuery, format string, onePage bool) {
	ctx := c.Request.Context()
	items, next, err := s.st.Results(ctx, id, q)
	if err != nil {
		fail(c, err)
		return
	}
	if onePage && next > 0 {
		c.Header("X-Next-Cursor", strconv.Itoa(next))
	}
	if format == formatCSV || c.Query("format") != "" {
		c.Header("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": id + "." + format}))
	}
	var (
		encode func(*job.Result) error
		flush  = func() error { return nil }
	)
	switch format {
	case formatCSV:
		c.Header("Content-Type", "text/csv; charset=utf-8")
		c.Status(http.StatusOK)
		cw := csv.NewWriter(c.Writer)
		encode = func(r *job.Result) error { return cw.Write(job.CSVRecord(r, false)) }
		flush = func() error { cw.Flush(); return cw.Error() }
		defer func() { _ = flush() }()
		if err := cw.Write(job.CSVHeader(false)); err != nil {
			return
		}
	default:
		c.Header("Content-Type", "application/x-ndjson")
		c.Status(http.StatusOK)
		enc := json.NewEncoder(c.Writer)
		encode = func(r *job.Result) error { return enc.Encode(r) }
	}
	for {
		for i := range items {
			if err := encode(&items[i]); err != nil {
				return // client went away
			}
		}
		if onePage || next == 0 || ctx.Err() != nil {
			return
		}
		if err := flush(); err != nil {
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

var aggregateKeys = []string{store.ByValue, store.ByStatus, store.ByErrorClass, store.ByBody, store.ByStderr}

// sampleHosts is how many hosts an aggregation group lists in hosts.
const sampleHosts = 20

// maxGroups bounds the limit parameter of /aggregate.
const maxGroups = 1000

// aggGroup is one group of an /aggregate answer, or one stderr part of a
// by=body group.
type aggGroup struct {
	Value string `json:"value"`
	Count int    `json:"count"`
	// Hosts are the group's first sampleHosts hosts, by index.
	Hosts []string `json:"hosts"`
	// Folded is the group's first store.MaxGroupHosts hosts, folded.
	Folded string `json:"folded"`
	// HostsTotal is the number of the group's hosts (its count).
	HostsTotal int `json:"hostsTotal"`
	// HostsCursor, set when Folded lacks some of the group's hosts, is the
	// cursor of the rest for GET /group?by=&index=&cursor=.
	HostsCursor string `json:"hostsCursor,omitempty"`
	IsError     bool   `json:"isError"`
	// Index is the index of the group's first result: GET /group?by=&index=
	// pages the group's hosts (with stderr=same, a stderr part's).
	Index int `json:"index"`

	// State, StatusCode, ExitCode and ErrorClass are the outcome of the
	// results of a by=body group.
	State      string `json:"state,omitempty"`
	StatusCode int    `json:"statusCode,omitempty"`
	ExitCode   *int   `json:"exitCode,omitempty"`
	ErrorClass string `json:"errorClass,omitempty"`
	// Stderr splits a by=body group by stderr, largest part first (value:
	// the stderr); StderrMore counts the results of the StderrMoreGroups
	// parts left out (by=stderr lists them).
	Stderr           []aggGroup `json:"stderr,omitempty"`
	StderrMore       int        `json:"stderrMore,omitempty"`
	StderrMoreGroups int        `json:"stderrMoreGroups,omitempty"`
}

// newAggGroup folds a stored group's hosts for an answer.
func newAggGroup(g store.Group) aggGroup {
	out := aggGroup{
		Value:            g.Value,
		Count:            g.Count,
		Hosts:            g.Hosts[:min(len(g.Hosts), sampleHosts)],
		Folded:           nodeset.Fold(g.Hosts),
		HostsTotal:       g.Count,
		IsError:          g.IsError,
		State:            g.State,
		StatusCode:       g.StatusCode,
		ExitCode:         g.ExitCode,
		ErrorClass:       g.ErrorClass,
		StderrMore:       g.StderrMore,
		StderrMoreGroups: g.StderrMoreGroups,
	}
	if out.Hosts == nil {
		out.Hosts = []string{}
	}
	if len(g.Indexes) > 0 {
		out.Index = g.Indexes[0]
	}
	if g.NextCursor > 0 {
		out.HostsCursor = strconv.Itoa(g.NextCursor)
	}
	for _, part := range g.Stderr {
		out.Stderr = append(out.Stderr, newAggGroup(part))
	}
	return out
}

// byParam reads the aggregation key of the by query parameter (value by
// default).
func byParam(c *gin.Context) (string, error) {
	by := c.DefaultQuery("by", store.ByValue)
	if !slices.Contains(aggregateKeys, by) {
		return "", badRequest("by", fmt.Sprintf("unknown aggregation key %q (one of %s)", by, strings.Join(aggregateKeys, ", ")))
	}
	return by, nil
}

// indexCursor reads a cursor that is a result index (the results and group
// pages' nextCursor, an aggregation group's hostsCursor): 0 when absent.
func indexCursor(c *gin.Context) (int, error) {
	v := c.Query("cursor")
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, badRequest("cursor", "cursor must be a value returned as nextCursor")
	}
	return n, nil
}

// aggregate answers a job's largest groups by a key (by=body: failed
// outcomes first, each group with its outcome and stderr parts), each with
// its first store.MaxGroupHosts hosts folded and the cursor of the rest:
// the answer does not grow with the job.
func (s *Server) aggregate(c *gin.Context) {
	by, err := byParam(c)
	if err != nil {
		fail(c, err)
		return
	}
	limit := 100
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxGroups {
			fail(c, badRequest("limit", fmt.Sprintf("limit must be a number from 1 to %d", maxGroups)))
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
	out := make([]aggGroup, len(groups))
	for i, g := range groups {
		out[i] = newAggGroup(g)
	}
	c.JSON(http.StatusOK, gin.H{"by": by, "groups": out})
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
		// The next event: progress after EventInterval, or the end as
		// soon as it is stored.
		if st, err = s.nextEvent(ctx, id); err != nil {
			if ctx.Err() == nil && !errors.Is(err, errServerClosing) {
				s.cfg.Logger.Warn("event stream ended early", "job", id, "err", err)
			}
			return
		}
	}
}

// nextEvent waits up to EventInterval for job id to end and returns its
// status; an error when the client or the server goes away first.
func (s *Server) nextEvent(ctx context.Context, id string) (*actors.JobStatus, error) {
	wctx, cancel := s.waitContext(ctx, s.cfg.EventInterval)
	defer cancel()
	st, err := s.engine.Wait(wctx, id)
	if err != nil || st.Terminal() {
		return st, err
	}
	select {
	case <-s.done:
		return nil, errServerClosing
	default:
		return st, ctx.Err()
	}
}

// errServerClosing ends waits and streams when the server closes.
var errServerClosing = errors.New("server closing")

// waitContext returns ctx bounded by d and ended early when the server
// closes; call cancel when done.
func (s *Server) waitContext(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	wctx, cancel := context.WithTimeout(ctx, d)
	go func() { // ends with wctx
		select {
		case <-s.done:
			cancel()
		case <-wctx.Done():
		}
	}()
	return wctx, cancel
}

func writeEvent(w io.Writer, name string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "event: %s\ndata: %s\n\n", name, b)
	return err
}
