package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
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

// --- Ctrl-C while a job is followed ---

// ExitInterrupted is the exit status of a command left at once by a
// second Ctrl-C while the job it follows is being cancelled (128 + SIGINT,
// as a shell reports a process killed by it).
const ExitInterrupted = 130

// interruptRouter hands SIGINTs to the follower of a job while one listens
// (the first cancels the job, the second leaves at once); while none does,
// a SIGINT ends the command's context, as a plain Ctrl-C would.
type interruptRouter struct {
	mu     sync.Mutex
	to     chan os.Signal // the follower's; nil when none listens
	cancel context.CancelFunc
	// claimed is closed when a follower first listens (for tests).
	claimed     chan struct{}
	claimedOnce sync.Once
}

type interruptRouterKey struct{}

// withInterrupts returns ctx routing the signals of sigs (nil: none): see
// interruptRouter. stop ends the routing; call it once the command is done.
func withInterrupts(ctx context.Context, sigs <-chan os.Signal) (_ context.Context, stop func()) {
	if sigs == nil {
		return ctx, func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	r := &interruptRouter{cancel: cancel, claimed: make(chan struct{})}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case s := <-sigs:
				r.deliver(s)
			case <-done:
				return
			}
		}
	}()
	return context.WithValue(ctx, interruptRouterKey{}, r), func() {
		close(done)
		wg.Wait()
		cancel()
	}
}

func (r *interruptRouter) deliver(s os.Signal) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.to == nil {
		r.cancel()
		return
	}
	select {
	case r.to <- s:
	default: // the follower has two pending already: it is leaving
	}
}

// claimInterrupts returns the channel of the SIGINTs ctx routes (nil when
// it routes none) until release is called.
func claimInterrupts(ctx context.Context) (_ <-chan os.Signal, release func()) {
	r, _ := ctx.Value(interruptRouterKey{}).(*interruptRouter)
	if r == nil {
		return nil, func() {}
	}
	ch := make(chan os.Signal, 2)
	r.mu.Lock()
	r.to = ch
	r.mu.Unlock()
	r.claimedOnce.Do(func() { close(r.claimed) })
	return ch, func() {
		r.mu.Lock()
		if r.to == ch {
			r.to = nil
		}
		r.mu.Unlock()
	}
}

// followEnd says how following a job ended.
type followEnd int

const (
	// followDone: the wait ended: the job is final (or, for a bounded
	// wait, the wait is over), the status is its last.
	followDone followEnd = iota
	// followLeft: a second Ctrl-C; the job may still be cancelling.
	followLeft
	// followCancelFailed: the cancel the first Ctrl-C asked for failed.
	followCancelFailed
	// followInterrupted: the context ended (SIGTERM).
	followInterrupted
	// followFailed: the wait itself failed.
	followFailed
)

// waitFunc waits for a job, calling fn with every status it receives, and
// returns the last one.
type waitFunc func(ctx context.Context, fn func(Status)) (Status, error)

// follower follows a job on behalf of a command: it shows the progress
// (when prog is set) and handles Ctrl-C. The first asks the server to
// cancel the job (bounded by cancelTimeout) and shows "cancelling, N in
// flight" until the job is final; the second leaves at once.
type follower struct {
	client *Client
	id     string
	// cmd prefixes the messages ("salvo run").
	cmd    string
	stderr io.Writer
	// prog shows the progress; nil shows none, until a Ctrl-C when
	// showCancel is set.
	prog       *progress
	showCancel bool
	// rewatch, set when the wait does not report progress (a long poll),
	// follows the job with Watch once it is being cancelled.
	rewatch bool

	// asked is set once a Ctrl-C asked for the job's cancel.
	asked bool
	// paused is the last note of a rollout paused for approval (said
	// once per batch).
	paused string
}

type waitResult struct {
	st  Status
	err error
}

// waiter is one wait running in its own goroutine.
type waiter struct {
	statuses chan Status
	done     chan waitResult
	stop     context.CancelFunc
}

// follow waits for the job with wait until it ends, a Ctrl-C says
// otherwise, or ctx ends. The progress line, if any, is ended on return.
func (f *follower) follow(ctx context.Context, wait waitFunc) (last Status, end followEnd, err error) {
	ints, release := claimInterrupts(ctx)
	defer release()

	var wg sync.WaitGroup
	defer wg.Wait()
	start := func(wait waitFunc) *waiter {
		wctx, stop := context.WithCancel(ctx)
		w := &waiter{statuses: make(chan Status), done: make(chan waitResult, 1), stop: stop}
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, err := wait(wctx, func(st Status) {
				select {
				case w.statuses <- st:
				case <-wctx.Done():
				}
			})
			w.done <- waitResult{st, err}
		}()
		return w
	}
	w := start(wait)
	defer func() { w.stop() }()

	// The cancel request runs beside the wait, in a context of its own so
	// that a SIGTERM does not cut it; leaving stops it.
	cctx, stopCancel := context.WithCancel(context.WithoutCancel(ctx))
	defer stopCancel()
	var cancelled chan waitResult // the cancel's answer, once asked

	defer func() { f.finish(last) }()
	for {
		select {
		case st := <-w.statuses:
			last = st
			f.show(st)
		case r := <-w.done:
			if r.st.ID != "" {
				last = r.st // shown by the deferred finish
			}
			switch {
			case r.err == nil:
				return last, followDone, nil
			case ctx.Err() != nil:
				return last, followInterrupted, ctx.Err()
			default:
				return last, followFailed, r.err
			}
		case <-ints:
			if f.asked {
				f.finish(last)
				f.note("%s: leaving now; job %s may still be cancelling (salvo status %s)", f.cmd, f.id, f.id)
				return last, followLeft, nil
			}
			f.asked = true
			if f.prog == nil && f.showCancel {
				f.prog = progressFor(f.stderr)
			}
			if f.prog != nil {
				f.prog.cancelling = true
			}
			f.note("%s: cancelling job %s (Ctrl-C again to leave at once)", f.cmd, f.id)
			if last.ID != "" {
				f.show(last)
			}
			answer := make(chan waitResult, 1)
			cancelled = answer
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(cctx, cancelTimeout)
				defer cancel()
				st, err := f.client.Cancel(ctx, f.id)
				answer <- waitResult{st, err}
			}()
		case r := <-cancelled:
			cancelled = nil
			if r.err != nil {
				f.finish(last)
				f.note("%s: cannot cancel job %s: %v", f.cmd, f.id, r.err)
				f.note("%s: the job may still be running; cancel it with salvo cancel %s once the server answers", f.cmd, f.id)
				return last, followCancelFailed, r.err
			}
			if r.st.ID != "" {
				last = r.st
				if Terminal(last.State) {
					f.show(last)
					return last, followDone, nil
				}
			}
			f.note("%s: cancel of job %s accepted, waiting for its requests in flight", f.cmd, f.id)
			if last.ID != "" {
				f.show(last)
			}
			if f.rewatch {
				w.stop()
				w = start(func(ctx context.Context, fn func(Status)) (Status, error) {
					return f.client.Watch(ctx, f.id, fn)
				})
			}
		case <-ctx.Done():
			return last, followInterrupted, ctx.Err()
		}
	}
}

// finish ends the progress line with the last status.
func (f *follower) finish(last Status) {
	if f.prog != nil && last.ID != "" {
		f.prog.finish(last)
	}
}

func (f *follower) show(st Status) {
	if f.prog != nil {
		f.prog.update(st)
	}
	if n := pausedNote(f.cmd, st); n != "" && n != f.paused {
		f.paused = n
		f.note("%s", n)
	}
}

// note prints a message on stderr, below the progress line if there is one.
func (f *follower) note(format string, args ...any) {
	s := fmt.Sprintf(format, args...)
	if f.prog != nil {
		f.prog.note(s)
		return
	}
	fmt.Fprintln(f.stderr, s)
}
