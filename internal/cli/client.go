// Package cli is the client side of salvo: an HTTP client for the
// /api/v1 job API (Client) and the `salvo run` command built on it (Run):
// submit a job, follow its progress, print a summary or the raw results.
package cli

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/salvo-sh/salvo/job"
)

// Job states as reported by the server (docs/design.md §4).
const (
	JobWaiting             = "waiting"
	JobProcessing          = "processing"
	JobFinishedNotGathered = "finishedNotGathered"
	JobGathered            = "gathered"
	JobCancelled           = "cancelled"
	JobFailed              = "failed"
)

// Terminal reports whether a job in this state will not change again.
func Terminal(state string) bool {
	return state == JobGathered || state == JobCancelled || state == JobFailed
}

// Aggregation keys accepted by Aggregate.
const (
	ByValue      = "value"
	ByStatus     = "status"
	ByErrorClass = "errorClass"
	// ByBody groups by output and outcome (state, exit or status code).
	ByBody = "body"
	// ByStderr groups by stderr alone.
	ByStderr = "stderr"
)

// aggregationKeys lists the keys of Aggregate, for usage errors.
var aggregationKeys = []string{ByValue, ByStatus, ByErrorClass, ByBody, ByStderr}

// checkBy returns a usage error for an unknown aggregation key.
func checkBy(by string) error {
	if !slices.Contains(aggregationKeys, by) {
		return usagef("--by %q: want %s", by, strings.Join(aggregationKeys, ", "))
	}
	return nil
}

// Time is a timestamp of the API: RFC 3339 in JSON. An absent, null or
// empty value reads as the zero time, and the zero time is left out when
// written (with the omitzero option).
type Time struct{ time.Time }

// UnmarshalJSON reads an RFC 3339 string, "" or null.
func (t *Time) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || string(b) == "null" || string(b) == `""` {
		t.Time = time.Time{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("invalid time %s", b)
	}
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return fmt.Errorf("invalid time %q: %w", s, err)
	}
	t.Time = v
	return nil
}

// MarshalJSON writes the time as RFC 3339, or null when zero.
func (t Time) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte("null"), nil
	}
	return json.Marshal(t.UTC().Format(time.RFC3339Nano))
}

// Counts is the number of a job's results in each result state.
type Counts struct {
	OK        int `json:"ok"`
	Failed    int `json:"failed"`
	Error     int `json:"error"`
	Timeout   int `json:"timeout"`
	Skipped   int `json:"skipped"`
	Cancelled int `json:"cancelled"`
}

// Failures is the number of targets that failed: states failed, error and
// timeout. Skipped and cancelled targets are not failures.
func (c Counts) Failures() int { return c.Failed + c.Error + c.Timeout }

// WorkerStatus is one worker's share of a job.
type WorkerStatus struct {
	Requests    int64 `json:"requests"`
	Responses   int64 `json:"responses"`
	Concurrency int   `json:"concurrency"`
	// InFlight is the worker's requests in flight, from its last load
	// report (0 once it is done with the job).
	InFlight int `json:"inFlight"`
}

// Status is a job's state and progress (GET /api/v1/jobs/{id}).
type Status struct {
	ID         string                  `json:"id"`
	Name       string                  `json:"name,omitempty"`
	State      string                  `json:"state"`
	Protocol   string                  `json:"protocol,omitempty"`
	Total      int                     `json:"total"`
	Sent       int                     `json:"sent"`
	Done       int                     `json:"done"`
	Counts     Counts                  `json:"counts"`
	Workers    map[string]WorkerStatus `json:"workers,omitempty"`
	CreatedAt  Time                    `json:"createdAt,omitzero"`
	StartedAt  Time                    `json:"startedAt,omitzero"`
	FinishedAt Time                    `json:"finishedAt,omitzero"`
	// Rate is in targets per second.
	Rate float64 `json:"rate"`
	// Reason explains a waiting or failed state.
	Reason string `json:"reason,omitempty"`
	// Rollout is the progress of a job with a rollout (rollout.go).
	Rollout *RolloutStatus `json:"rollout,omitempty"`

	raw json.RawMessage // the server's document, with fields not listed here
}

// UnmarshalJSON decodes a status and keeps the document for Raw.
func (s *Status) UnmarshalJSON(b []byte) error {
	type plain Status
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*s = Status(p)
	s.raw = append(json.RawMessage(nil), b...)
	return nil
}

// Raw returns the JSON document the status was decoded from (with any
// fields the server added beyond Status's), or nil.
func (s Status) Raw() json.RawMessage { return s.raw }

// Group is one aggregation bucket, or one stderr part of a ByBody group.
type Group struct {
	Value string `json:"value"`
	Count int    `json:"count"`
	// Hosts lists the group's first hosts (at most 20).
	Hosts []string `json:"hosts"`
	// Folded is the group's hosts, folded ("10.0.0.[1-5]"): every host, or
	// the first 1,000 when HostsCursor is set.
	Folded string `json:"folded"`
	// HostsTotal is the number of the group's hosts.
	HostsTotal int `json:"hostsTotal,omitempty"`
	// HostsCursor, set when Folded lacks some hosts, pages the rest
	// (GET /api/v1/jobs/ID/group?by=&index=&cursor=).
	HostsCursor string `json:"hostsCursor,omitempty"`
	// HostsOmitted counts the hosts that --max-hosts left out of Folded.
	HostsOmitted int `json:"hostsOmitted,omitempty"`
	// IsError is true when the group's results have no response.
	IsError bool `json:"isError"`
	// Index is the index of the group's first result, which names the
	// group for GroupHosts; nil from servers that do not send it.
	Index *int `json:"index,omitempty"`

	// State, StatusCode (HTTP), ExitCode (SSH) and ErrorClass are the
	// outcome of a ByBody group's results.
	State      string `json:"state,omitempty"`
	StatusCode int    `json:"statusCode,omitempty"`
	ExitCode   *int   `json:"exitCode,omitempty"`
	ErrorClass string `json:"errorClass,omitempty"`
	// Stderr splits a ByBody group by stderr (Value: the stderr), largest
	// part first; StderrMore counts the results of the StderrMoreGroups
	// parts the server left out (ByStderr lists them).
	Stderr           []Group `json:"stderr,omitempty"`
	StderrMore       int     `json:"stderrMore,omitempty"`
	StderrMoreGroups int     `json:"stderrMoreGroups,omitempty"`
}

// Aggregate is a job's results grouped by one key, largest group first
// (ByBody: failed outcomes first).
type Aggregate struct {
	By     string  `json:"by"`
	Groups []Group `json:"groups"`
}

// ResultQuery selects a page of results. Zero fields are left out.
type ResultQuery struct {
	State  string // a result state, or several separated by commas (any of them)
	Host   string
	Q      string
	Cursor string
	Limit  int
}

func (q ResultQuery) values() url.Values {
	v := url.Values{}
	set := func(k, s string) {
		if s != "" {
			v.Set(k, s)
		}
	}
	set("state", q.State)
	set("host", q.Host)
	set("q", q.Q)
	set("cursor", q.Cursor)
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	return v
}

// ResultsPage is one page of results; NextCursor is empty on the last page.
type ResultsPage struct {
	Items      []job.Result `json:"items"`
	NextCursor string       `json:"nextCursor,omitempty"`
}

// APIError is an error answer of the server (4xx or 5xx).
type APIError struct {
	// Status is the HTTP status code.
	Status int
	// Message is the server's "error" text.
	Message string
	// Field names the offending spec field, when the server says.
	Field string
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "server answered %d", e.Status)
	if e.Field != "" {
		fmt.Fprintf(&b, ": field %s", e.Field)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	return b.String()
}

// ClientConfig tunes a Client.
type ClientConfig struct {
	// DialTimeout bounds connecting to the server.
	DialTimeout time.Duration
	// ResponseHeaderTimeout bounds the wait for the headers of any answer.
	ResponseHeaderTimeout time.Duration
	// RequestTimeout bounds a whole request that is not a stream.
	RequestTimeout time.Duration
	// StreamIdleTimeout ends a stream (events, NDJSON results) that sends
	// nothing for this long.
	StreamIdleTimeout time.Duration
	// PollInterval is the interval of status polls when the event stream
	// is not available.
	PollInterval time.Duration
	// MaxPollErrors is how many status polls in a row may fail (no answer
	// or a 5xx) before Watch gives up.
	MaxPollErrors int
	// Logger receives debug messages (the fallback to polling); nil
	// discards them.
	Logger *slog.Logger
	// Token is the API token sent with every request ("" none).
	Token string
	// TLS, when set, is the TLS configuration of https servers (a CA, a
	// client certificate).
	TLS *tls.Config
}

// DefaultClientConfig returns the configuration NewClient uses.
func DefaultClientConfig() ClientConfig {
	return ClientConfig{
		DialTimeout:           5 * time.Second,
		ResponseHeaderTimeout: 60 * time.Second,
		RequestTimeout:        120 * time.Second,
		StreamIdleTimeout:     15 * time.Second,
		PollInterval:          500 * time.Millisecond,
		MaxPollErrors:         10,
	}
}

// Client talks to a salvo server's /api/v1. It is safe for concurrent use.
type Client struct {
	base string
	http *http.Client
	conf ClientConfig
	log  *slog.Logger
}

// NewClient returns a client of the server at base ("http://127.0.0.1:8080";
// a bare "host:port" means http) with DefaultClientConfig.
func NewClient(base string) *Client {
	return NewClientWithConfig(base, DefaultClientConfig())
}

// NewClientWithConfig returns a client of the server at base.
func NewClientWithConfig(base string, conf ClientConfig) *Client {
	base = strings.TrimSpace(base)
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	base = strings.TrimRight(base, "/")
	log := conf.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: conf.DialTimeout, KeepAlive: 30 * time.Second}).DialContext,
		ResponseHeaderTimeout: conf.ResponseHeaderTimeout,
		TLSHandshakeTimeout:   conf.DialTimeout,
		TLSClientConfig:       conf.TLS,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConnsPerHost:   4,
	}
	// No http.Client.Timeout: it would cut event and result streams.
	// Requests are bounded by RequestTimeout or StreamIdleTimeout instead.
	return &Client{base: base, http: &http.Client{Transport: tr}, conf: conf, log: log}
}

// authorize adds the client's token to a request.
func (c *Client) authorize(req *http.Request) {
	if c.conf.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.conf.Token)
	}
}

// BaseURL returns the server's base URL.
func (c *Client) BaseURL() string { return c.base }

// Close releases idle connections.
func (c *Client) Close() { c.http.CloseIdleConnections() }

func (c *Client) jobURL(id string, parts ...string) string {
	u := c.base + "/api/v1/jobs/" + url.PathEscape(id)
	for _, p := range parts {
		u += "/" + p
	}
	return u
}

// do sends a request bounded by RequestTimeout and decodes a 2xx JSON
// answer into out (unless out is nil).
func (c *Client) do(ctx context.Context, method, u string, body any, out any) error {
	ctx, cancel := context.WithTimeout(ctx, c.conf.RequestTimeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	c.authorize(req)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err // a *url.Error: names the method and URL
	}
	defer resp.Body.Close()
	if err := checkResponse(resp); err != nil {
		return err
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, u, err)
	}
	return nil
}

// checkResponse turns a non-2xx answer into an *APIError.
func checkResponse(resp *http.Response) error {
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	e := &APIError{Status: resp.StatusCode}
	var body struct {
		Error string `json:"error"`
		Field string `json:"field"`
	}
	if json.Unmarshal(b, &body) == nil && body.Error != "" {
		e.Message, e.Field = body.Error, body.Field
	} else if s := strings.TrimSpace(string(b)); s != "" {
		if len(s) > 512 {
			s = s[:512] + "…"
		}
		e.Message = s
	} else {
		e.Message = http.StatusText(resp.StatusCode)
	}
	return e
}

// Submit sends a job spec and returns the new job's id and the warnings
// of the server's answer (what the spec most likely does not mean, as
// "ssh.command: $HOST is salvo's built-in ..."). A spec the server refuses
// gives an *APIError.
func (c *Client) Submit(ctx context.Context, spec *job.Spec) (id string, warnings []string, err error) {
	var out struct {
		ID       string   `json:"id"`
		State    string   `json:"state"`
		Warnings []string `json:"warnings"`
	}
	if err := c.do(ctx, http.MethodPost, c.base+"/api/v1/jobs", spec, &out); err != nil {
		return "", nil, fmt.Errorf("submit job: %w", err)
	}
	if out.ID == "" {
		return "", nil, errors.New("submit job: the server answered without a job id")
	}
	return out.ID, out.Warnings, nil
}

// Status returns a job's status.
func (c *Client) Status(ctx context.Context, id string) (Status, error) {
	var st Status
	if err := c.do(ctx, http.MethodGet, c.jobURL(id), nil, &st); err != nil {
		return Status{}, fmt.Errorf("job status: %w", err)
	}
	return st, nil
}

// Cancel cancels a job and returns its status.
func (c *Client) Cancel(ctx context.Context, id string) (Status, error) {
	var st Status
	if err := c.do(ctx, http.MethodPost, c.jobURL(id, "cancel"), nil, &st); err != nil {
		return Status{}, fmt.Errorf("cancel job: %w", err)
	}
	return st, nil
}

// Aggregate returns a job's results grouped by key by (ByValue, ByStatus,
// ByErrorClass, ByBody or ByStderr).
func (c *Client) Aggregate(ctx context.Context, id, by string) (*Aggregate, error) {
	u := c.jobURL(id, "aggregate") + "?" + url.Values{"by": {by}}.Encode()
	var agg Aggregate
	if err := c.do(ctx, http.MethodGet, u, nil, &agg); err != nil {
		return nil, fmt.Errorf("aggregate job: %w", err)
	}
	return &agg, nil
}

// Results returns one page of a job's results.
func (c *Client) Results(ctx context.Context, id string, q ResultQuery) (*ResultsPage, error) {
	u := c.jobURL(id, "results")
	if v := q.values(); len(v) > 0 {
		u += "?" + v.Encode()
	}
	var page ResultsPage
	if err := c.do(ctx, http.MethodGet, u, nil, &page); err != nil {
		return nil, fmt.Errorf("job results: %w", err)
	}
	return &page, nil
}

// StreamResults copies every result of a job to w as NDJSON (one JSON
// record per line) and returns how many records it copied. The stream
// ends with an error when the server sends nothing for StreamIdleTimeout.
func (c *Client) StreamResults(ctx context.Context, id string, w io.Writer) (int, error) {
	resp, stop, err := c.openStream(ctx, c.jobURL(id, "results"), "application/x-ndjson")
	if err != nil {
		return 0, fmt.Errorf("stream results: %w", err)
	}
	defer stop()
	defer resp.Body.Close()
	lw := &lineCountWriter{w: w}
	if _, err := io.Copy(lw, resp.Body); err != nil {
		return lw.lines, fmt.Errorf("stream results: %w", err)
	}
	if lw.partial {
		// A last record without its newline: end the line for the reader.
		if _, err := io.WriteString(w, "\n"); err != nil {
			return lw.lines, fmt.Errorf("stream results: %w", err)
		}
		lw.lines++
	}
	return lw.lines, nil
}

// maxResultLine bounds one NDJSON record read by EachResult: a result's
// body and stderr (each at most job.MaxBodyBytesLimit) JSON-escaped.
const maxResultLine = 256 << 20

// EachResult calls fn with every result of a job that q selects (its
// Cursor and Limit are not used), in index order, reading the server's
// NDJSON stream one record at a time: whatever the job's size, memory
// holds one result. It returns how many results fn was given; an error of
// fn ends the stream and is returned.
func (c *Client) EachResult(ctx context.Context, id string, q ResultQuery, fn func(*job.Result) error) (int, error) {
	q.Cursor, q.Limit = "", 0
	u := c.jobURL(id, "results")
	if v := q.values(); len(v) > 0 {
		u += "?" + v.Encode()
	}
	resp, stop, err := c.openStream(ctx, u, "application/x-ndjson")
	if err != nil {
		return 0, fmt.Errorf("stream results: %w", err)
	}
	defer stop()
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), maxResultLine)
	n := 0
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var r job.Result
		if err := json.Unmarshal(line, &r); err != nil {
			return n, fmt.Errorf("stream results: record %d: %w", n+1, err)
		}
		if err := fn(&r); err != nil {
			return n, err
		}
		n++
	}
	if err := sc.Err(); err != nil {
		return n, fmt.Errorf("stream results: %w", err)
	}
	return n, nil
}

// openStream starts a GET whose body is read as it comes. The request is
// cancelled when ctx ends or when the body stays silent for
// StreamIdleTimeout; the caller must call stop once done with the body.
func (c *Client) openStream(ctx context.Context, u, accept string) (*http.Response, func(), error) {
	ctx, cancel := context.WithCancelCause(ctx)
	idle := time.AfterFunc(c.conf.StreamIdleTimeout, func() {
		cancel(fmt.Errorf("stream idle for %s", c.conf.StreamIdleTimeout))
	})
	stop := func() {
		idle.Stop()
		cancel(context.Canceled)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		stop()
		return nil, nil, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Accept", accept)
	c.authorize(req)
	resp, err := c.http.Do(req)
	if err != nil {
		stop()
		if cause := context.Cause(ctx); cause != nil && ctx.Err() != nil && cause != context.Canceled {
			err = fmt.Errorf("%w (%w)", err, cause)
		}
		return nil, nil, err
	}
	if err := checkResponse(resp); err != nil {
		resp.Body.Close()
		stop()
		return nil, nil, err
	}
	resp.Body = &idleBody{rc: resp.Body, timer: idle, d: c.conf.StreamIdleTimeout, ctx: ctx}
	return resp, stop, nil
}

// idleBody re-arms the idle timer on every read that returns data.
type idleBody struct {
	rc    io.ReadCloser
	timer *time.Timer
	d     time.Duration
	ctx   context.Context
}

func (b *idleBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if n > 0 {
		b.timer.Reset(b.d)
	}
	if err != nil && err != io.EOF && b.ctx.Err() != nil {
		if cause := context.Cause(b.ctx); cause != nil && cause != context.Canceled {
			err = fmt.Errorf("%w (%w)", err, cause)
		}
	}
	return n, err
}

func (b *idleBody) Close() error { return b.rc.Close() }

// lineCountWriter counts complete lines written through it.
type lineCountWriter struct {
	w       io.Writer
	lines   int
	partial bool
}

func (l *lineCountWriter) Write(p []byte) (int, error) {
	n, err := l.w.Write(p)
	l.lines += bytes.Count(p[:n], []byte{'\n'})
	if n > 0 {
		l.partial = p[n-1] != '\n'
	}
	return n, err
}
