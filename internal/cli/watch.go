package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// SSE event names sent by GET /api/v1/jobs/{id}/events.
const (
	eventProgress = "progress"
	eventEnd      = "end"
	eventMessage  = "message" // the SSE default when no event line is sent
)

// maxEventBytes bounds one line of the event stream.
const maxEventBytes = 16 << 20

// Watch follows a job until it reaches a terminal state and returns its
// last status. fn (which may be nil) is called with every status received,
// in order, from the caller's goroutine. Watch reads the server-sent event
// stream; when that is not available or breaks off before the job ends,
// it polls Status every PollInterval instead. It returns ctx's error when
// ctx ends first, with the last status seen.
func (c *Client) Watch(ctx context.Context, id string, fn func(Status)) (Status, error) {
	if fn == nil {
		fn = func(Status) {}
	}
	last, done, err := c.watchEvents(ctx, id, fn)
	if done {
		return last, nil
	}
	if ctx.Err() != nil {
		return last, ctx.Err()
	}
	c.log.Debug("event stream unavailable, polling job status", "job", id, "err", err)
	st, err := c.poll(ctx, id, fn)
	if err != nil && st.ID == "" {
		st = last
	}
	return st, err
}

// watchEvents reads the event stream. done reports that the job ended
// (an end event or a terminal status); otherwise err says why the stream
// stopped.
func (c *Client) watchEvents(ctx context.Context, id string, fn func(Status)) (last Status, done bool, err error) {
	resp, stop, err := c.openStream(ctx, c.jobURL(id, "events"), "text/event-stream")
	if err != nil {
		return last, false, err
	}
	defer stop()
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		return last, false, fmt.Errorf("events: unexpected content type %q", ct)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), maxEventBytes)
	var event string
	var data strings.Builder
	for sc.Scan() {
		line := sc.Text()
		if line == "" { // dispatch
			name := event
			if name == "" {
				name = eventMessage
			}
			payload := data.String()
			event = ""
			data.Reset()
			if payload == "" || (name != eventProgress && name != eventEnd && name != eventMessage) {
				continue
			}
			var st Status
			if err := json.Unmarshal([]byte(payload), &st); err != nil {
				c.log.Debug("skipping malformed event", "job", id, "event", name, "err", err)
				continue
			}
			last = st
			fn(st)
			if name == eventEnd || Terminal(st.State) {
				return last, true, nil
			}
			continue
		}
		if strings.HasPrefix(line, ":") { // comment / keep-alive
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "event":
			event = value
		case "data":
			if data.Len() > 0 {
				data.WriteByte('\n')
			}
			data.WriteString(value)
		}
	}
	if err := sc.Err(); err != nil {
		return last, false, fmt.Errorf("events: %w", err)
	}
	return last, false, errors.New("events: stream closed before the job ended")
}

// poll asks for the job's status every PollInterval until it is terminal.
// Failed polls (no answer or a 5xx) are retried up to MaxPollErrors times
// in a row; any other error answer ends the wait.
func (c *Client) poll(ctx context.Context, id string, fn func(Status)) (Status, error) {
	var last Status
	fails := 0
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return last, ctx.Err()
		case <-t.C:
		}
		st, err := c.Status(ctx, id)
		switch {
		case err == nil:
			fails = 0
			last = st
			fn(st)
			if Terminal(st.State) {
				return st, nil
			}
		case ctx.Err() != nil:
			return last, ctx.Err()
		default:
			var ae *APIError
			if errors.As(err, &ae) && ae.Status < 500 {
				return last, err
			}
			fails++
			if fails >= c.conf.MaxPollErrors {
				return last, fmt.Errorf("%d status polls failed in a row: %w", fails, err)
			}
		}
		t.Reset(c.conf.PollInterval)
	}
}
