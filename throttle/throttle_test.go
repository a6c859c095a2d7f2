package throttle

import (
	"container/heap"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/salvo-sh/salvo/internal/procstat"
	"github.com/salvo-sh/salvo/job"
)

// fakeClock is a Clock that moves only when told to.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// window is one round of synthetic signals: as many outcomes as the limit.
type window struct {
	share   float64       // share of the outcomes with error class class
	class   string        // reset when empty
	latency time.Duration // latency of the answered outcomes (10ms when 0)
	connect time.Duration // when set, their ConnectMs (an SSH command's set-up)
	sig     Signals
	idle    bool // the limit was not fully used
	times   int  // repeat the window (once when 0)
	want    int  // the limit after the last repetition
}

// runWindow feeds one round of outcomes to th: the last one closes the
// window and the throttle decides.
func runWindow(t *testing.T, th *Controller, clk *fakeClock, w window) {
	t.Helper()
	limit := th.Limit()
	held := 0
	if !w.idle {
		held = limit
		for range held {
			if err := th.Acquire(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
	}
	th.Tick(w.sig) // brings the local signals; the window is not due yet
	start := th.Now()
	lat := w.latency
	if lat == 0 {
		lat = 10 * time.Millisecond
	}
	// The outcomes arrive once the answers could have: the fast share
	// leaves out requests started less than twice the usual answer
	// latency ago.
	wait := lat
	if w.connect > 0 {
		wait = w.connect
	}
	clk.Advance(2*wait + time.Millisecond)
	class := w.class
	if class == "" {
		class = job.ClassReset
	}
	trouble := int(w.share*float64(limit) + 0.5)
	for i := range limit {
		r := job.Result{State: job.StateOK, LatencyMs: float64(lat) / float64(time.Millisecond),
			ConnectMs: float64(w.connect) / float64(time.Millisecond)}
		if i < trouble {
			r = job.Result{State: job.StateForClass(class), ErrorClass: class}
		}
		th.Observe(start, &r)
	}
	for range held {
		th.Release()
	}
	clk.Advance(th.cfg.Cooldown)
}

func TestThrottleAIMD(t *testing.T) {
	const maxConc = 100
	tests := []struct {
		name    string
		initial int
		cfg     func(*Config)
		windows []window
	}{
		{"healthy grows by 5% of the limit", 10, nil, []window{
			{times: 10, want: 20}, // steps of 1 below 40
			{times: 20, want: 40},
			{want: 42},             // then 2
			{times: 60, want: 100}, // and never above max
		}},
		{"idle does not grow", 10, nil, []window{
			{idle: true, times: 5, want: 10},
		}},
		// A share of resets that does not fall when the limit halves,
		// while hosts answer at their usual latency, is the hosts': the
		// probe is undone and the share becomes the usual one.
		{"error burst halves, and is undone when the share stays", 0, nil, []window{
			{share: 0.5, want: 50},
			{share: 0.5, want: 100},
			{share: 0.5, times: 5, want: 100},
		}},
		{"an error burst that falls with the limit stands", 0, nil, []window{
			{share: 0.5, want: 50},
			{want: 52}, // confirmed, then the usual increase
			{times: 3, want: 58},
		}},
		{"refused connections count", 0, nil, []window{
			{share: 0.2, class: job.ClassConnectRefused, want: 50},
		}},
		// Timeouts while the others answer at their usual latency are
		// hosts that hang; with slower answers they are congestion.
		{"timeouts with steady answers do not count", 0, nil, []window{
			{times: 3, want: 100},
			{share: 0.3, class: job.ClassTimeout, times: 5, want: 100},
			{share: 0.3, class: job.ClassConnectTimeout, times: 5, want: 100},
		}},
		{"timeouts with slower answers decrease", 0, nil, []window{
			{times: 3, want: 100},
			{share: 0.3, class: job.ClassConnectTimeout, latency: 40 * time.Millisecond, want: 50},
		}},
		{"other errors do not count", 0, nil, []window{
			{share: 0.5, class: job.ClassTLS, want: 100},
		}},
		{"a few errors do not count", 50, nil, []window{
			{share: 0.05, want: 52},
		}},
		{"latency spike decreases", 0, nil, []window{
			{latency: 10 * time.Millisecond, times: 3, want: 100},
			{latency: 100 * time.Millisecond, want: 75},
		}},
		{"latency is not judged before a baseline", 0, nil, []window{
			{latency: 10 * time.Millisecond, want: 100},
			{latency: 100 * time.Millisecond, want: 100},
		}},
		{"sub-millisecond jitter is not a spike", 0, nil, []window{
			{latency: 200 * time.Microsecond, times: 3, want: 100},
			{latency: 2 * time.Millisecond, want: 100},
		}},
		// Latency that stays high through RebaseAfter decreases is the
		// fleet's, not this job's load: it becomes the baseline.
		{"a lasting latency rise is learned", 0, nil, []window{
			{latency: 10 * time.Millisecond, times: 3, want: 100},
			{latency: 100 * time.Millisecond, times: 4, want: 31},
			{latency: 100 * time.Millisecond, want: 32},
		}},
		// SSH: the command's run time is in LatencyMs; the target's load
		// shows in the time to connect and authenticate.
		{"ssh: a long command is not a latency spike", 0, nil, []window{
			{latency: 10 * time.Millisecond, connect: 10 * time.Millisecond, times: 3, want: 100},
			{latency: time.Second, connect: 10 * time.Millisecond, want: 100},
		}},
		{"ssh: slow set-up decreases", 0, nil, []window{
			{latency: time.Second, connect: 10 * time.Millisecond, times: 3, want: 100},
			{latency: time.Second, connect: 100 * time.Millisecond, want: 75},
		}},
		{"backpressure decreases", 0, nil, []window{
			{sig: Signals{Unacked: 7}, want: 100},
			{sig: Signals{Unacked: 8}, want: 75},
		}},
		{"backpressure signal off", 0, func(c *Config) { c.Backpressure = 0 }, []window{
			{sig: Signals{Unacked: 8}, want: 100},
		}},
		{"fds near the limit halve and stop growth", 40, nil, []window{
			{sig: Signals{OpenFDs: 17000, FDLimit: 20000}, want: 42},
			{sig: Signals{OpenFDs: 18000, FDLimit: 20000}, want: 21},
		}},
		{"bounded below by 1", 0, nil, []window{
			{sig: Signals{OpenFDs: 19000, FDLimit: 20000}, times: 12, want: 1},
			{share: 1, times: 3, want: 1},
		}},
		{"recovery after a burst", 0, nil, []window{
			{share: 0.8, times: 2, want: 25},
			{times: 50, want: 100},
		}},
		// A fixed share of dead hosts is learned as the job's usual share
		// after one probe: the limit halves once and comes back.
		{"steady dead hosts do not pin the limit", 0, nil, []window{
			{share: 0.25, class: job.ClassConnectRefused, want: 50},
			{share: 0.25, class: job.ClassConnectRefused, want: 100},
			{share: 0.25, class: job.ClassConnectRefused, times: 80, want: 100},
		}},
		// Without answers to vouch for the hosts the probe halves on, and
		// is undone after RebaseAfter halvings that did not lower the share.
		{"a probe without answers is undone after RebaseAfter halvings", 0, nil, []window{
			{share: 1, class: job.ClassConnectRefused, times: 4, want: 6},
			{share: 1, class: job.ClassConnectRefused, want: 100},
			{share: 1, class: job.ClassConnectRefused, times: 5, want: 100},
		}},
		{"a rise over the usual share decreases", 0, nil, []window{
			{share: 0.25, class: job.ClassConnectRefused, times: 90, want: 100},
			{share: 0.6, class: job.ClassConnectRefused, want: 50},
		}},
		{"healthy then everything fails", 0, nil, []window{
			{times: 3, want: 100},
			{share: 1, want: 50},
			{share: 1, want: 25},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newFakeClock()
			cfg := DefaultConfig()
			cfg.Clock, cfg.Initial, cfg.Backpressure = clk, tt.initial, 8
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			th := New(cfg, maxConc)
			for i, w := range tt.windows {
				for range max(1, w.times) {
					runWindow(t, th, clk, w)
					if l := th.Limit(); l < 1 || l > maxConc {
						t.Fatalf("window %d: limit %d out of [1, %d]", i, l, maxConc)
					}
				}
				if got := th.Limit(); got != w.want {
					t.Fatalf("after window %d (%+v): limit %d, want %d", i, w, got, w.want)
				}
			}
		})
	}
}

// TestThrottleDecisionTiming checks when windows close: at a round of
// outcomes or after Window, never during the cooldown, and that outcomes
// of requests started before a decrease are ignored.
func TestThrottleDecisionTiming(t *testing.T) {
	clk := newFakeClock()
	cfg := DefaultConfig()
	cfg.Clock = clk
	reset := &job.Result{State: job.StateError, ErrorClass: job.ClassReset}

	// The outcome that completes a round closes the window at once.
	th := New(cfg, 100)
	start := th.Now()
	for i := range 99 {
		if d, changed := th.Observe(start, reset); changed {
			t.Fatalf("decided %+v after %d outcomes, before a round", d, i+1)
		}
	}
	d, changed := th.Observe(start, reset)
	if !changed || d.Reason != ReasonErrors || d.From != 100 || d.To != 50 || d.Share != 1 || d.Samples != 100 {
		t.Fatalf("decision %+v, %v; want errors 100 -> 50 with share 1 over 100", d, changed)
	}
	// Outcomes of requests started before the decrease are ignored, even
	// once the cooldown and a whole window have passed.
	clk.Advance(time.Millisecond)
	for range 200 {
		if d, changed := th.Observe(start, reset); changed {
			t.Fatalf("stale outcome decided %+v", d)
		}
	}
	clk.Advance(cfg.Window)
	if d, changed := th.Tick(Signals{}); changed {
		t.Fatalf("stale outcomes decided %+v", d)
	}

	// Fresh trouble within the cooldown waits for the cooldown to end.
	th = New(cfg, 100)
	for range 100 {
		th.Observe(th.Now(), reset)
	}
	if th.Limit() != 50 {
		t.Fatalf("no first decrease: limit %d", th.Limit())
	}
	clk.Advance(time.Millisecond)
	for range 50 {
		if d, changed := th.Observe(th.Now(), reset); changed {
			t.Fatalf("decided %+v within the cooldown", d)
		}
	}
	clk.Advance(cfg.Cooldown / 2)
	if d, changed := th.Tick(Signals{Unacked: 100}); changed {
		t.Fatalf("decided %+v within the cooldown", d)
	}
	clk.Advance(cfg.Cooldown)
	if d, changed := th.Tick(Signals{}); !changed || d.Reason != ReasonErrors || d.To != 25 {
		t.Fatalf("after the cooldown: %+v, %v; want errors 50 -> 25", d, changed)
	}

	// Without a round, a window closes after Window; with too few outcomes
	// it is not judged and they carry over.
	th = New(cfg, 100)
	for range cfg.MinSamples - 1 {
		th.Observe(th.Now(), reset)
	}
	clk.Advance(cfg.Window - time.Millisecond)
	th.Observe(th.Now(), reset)
	if d, changed := th.Tick(Signals{}); changed {
		t.Fatalf("decided %+v before Window", d)
	}
	clk.Advance(time.Millisecond)
	if d, changed := th.Tick(Signals{}); !changed || d.Samples != cfg.MinSamples {
		t.Fatalf("after Window: %+v, %v; want a decrease over %d outcomes", d, changed, cfg.MinSamples)
	}
	th = New(cfg, 100)
	for range cfg.MinSamples - 1 {
		th.Observe(th.Now(), reset)
	}
	clk.Advance(cfg.Window)
	if d, changed := th.Tick(Signals{}); changed {
		t.Fatalf("judged %d outcomes: %+v", cfg.MinSamples-1, d)
	}
	th.Observe(th.Now(), reset)
	clk.Advance(cfg.Window)
	if d, changed := th.Tick(Signals{}); !changed || d.Samples != cfg.MinSamples {
		t.Fatalf("carried-over window: %+v, %v; want a decrease over %d outcomes", d, changed, cfg.MinSamples)
	}

	// Skipped and cancelled targets are not outcomes.
	th = New(cfg, 100)
	for range 100 {
		th.Observe(th.Now(), &job.Result{State: job.StateCancelled})
		th.Observe(th.Now(), &job.Result{State: job.StateSkipped})
	}
	if th.samples != 0 {
		t.Fatalf("cancelled and skipped counted: %d samples", th.samples)
	}
}

// TestThrottleSemaphore checks that at most Limit holders run at once,
// that a decrease takes effect for new holders, an increase wakes waiters,
// and a cancelled Acquire gives nothing away.
func TestThrottleSemaphore(t *testing.T) {
	clk := newFakeClock()
	cfg := DefaultConfig()
	cfg.Clock, cfg.Initial = clk, 2
	th := New(cfg, 20)
	ctx := context.Background()
	for range 2 {
		if err := th.Acquire(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// A third waits; a cancelled one returns its context's error.
	cctx, cancel := context.WithCancel(ctx)
	cancelled := make(chan error, 1)
	go func() { cancelled <- th.Acquire(cctx) }()
	waitWaiters(t, th, 1)
	got := make(chan struct{})
	go func() {
		if err := th.Acquire(ctx); err == nil {
			close(got)
		}
	}()
	waitWaiters(t, th, 2)
	cancel()
	if err := <-cancelled; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Acquire = %v", err)
	}
	select {
	case <-got:
		t.Fatal("third holder beyond the limit of 2")
	default:
	}
	// A healthy round (2 outcomes) raises the limit to 3. Done releases a
	// hold, which goes to the waiter, and observes the second outcome.
	ok := &job.Result{State: job.StateOK, LatencyMs: 1}
	th.Observe(th.Now(), ok)
	if d, changed := th.Done(th.Now(), ok); !changed || d.Reason != ReasonIncrease || d.To != 3 {
		t.Fatalf("increase: %+v, %v", d, changed)
	}
	select {
	case <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("waiter not woken by the release")
	}
	if err := tryAcquire(th); err != nil {
		t.Fatalf("no third hold at limit 3: %v", err)
	}
	// A round of resets halves the limit to 1: releases admit no one
	// until no one holds it.
	reset := &job.Result{State: job.StateError, ErrorClass: job.ClassReset}
	clk.Advance(time.Millisecond) // requests started after the increase
	for range 3 {
		th.Observe(th.Now(), reset)
	}
	if th.Limit() != 1 {
		t.Fatalf("limit %d after a round of resets, want 1", th.Limit())
	}
	th.Release()
	th.Release()
	if err := tryAcquire(th); err == nil {
		t.Fatal("acquired with 1 holder at limit 1")
	}
	th.Release()
	if err := tryAcquire(th); err != nil {
		t.Fatalf("no hold with 0 holders at limit 1: %v", err)
	}
	th.Release()
	th.mu.Lock()
	defer th.mu.Unlock()
	if th.active != 0 || th.waiters.Len() != 0 {
		t.Fatalf("active %d, waiters %d at the end", th.active, th.waiters.Len())
	}
}

// tryAcquire acquires without waiting (a context that is already done).
func tryAcquire(th *Controller) error {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	th.mu.Lock()
	free := th.active < th.limit && th.waiters.Len() == 0
	th.mu.Unlock()
	if !free {
		return context.Canceled
	}
	return th.Acquire(ctx)
}

// waitWaiters waits until n Acquire calls are queued.
func waitWaiters(t *testing.T, th *Controller, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		th.mu.Lock()
		w := th.waiters.Len()
		th.mu.Unlock()
		if w >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d waiters, want %d", w, n)
		}
		time.Sleep(time.Millisecond) // goroutines reaching Acquire: no signal to wait on
	}
}

func TestLatencyHistQuantile(t *testing.T) {
	tests := []struct {
		name string
		in   []time.Duration
		want time.Duration
	}{
		{"one value", []time.Duration{10 * time.Millisecond}, 10 * time.Millisecond},
		{"median of three", []time.Duration{time.Millisecond, 50 * time.Millisecond, time.Second}, 50 * time.Millisecond},
		{"tiny", []time.Duration{time.Microsecond, 2 * time.Microsecond}, latencyMin},
		{"huge", []time.Duration{time.Hour}, 0}, // checked against the top bucket below
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h latencyHist
			for _, d := range tt.in {
				h.add(d)
			}
			got := h.quantile(0.5, len(tt.in))
			if tt.want == 0 {
				if got < time.Minute {
					t.Fatalf("quantile %v, want the top bucket", got)
				}
				return
			}
			if lo, hi := float64(tt.want)/latencyGrowth, float64(tt.want)*latencyGrowth; float64(got) < lo || float64(got) > hi {
				t.Fatalf("quantile %v, want within ×%.2f of %v", got, latencyGrowth, tt.want)
			}
		})
	}
}

func TestFDSampler(t *testing.T) {
	dir := t.TempDir()
	limits := filepath.Join(dir, "limits")
	content := "Limit                     Soft Limit           Hard Limit           Units     \n" +
		"Max cpu time              unlimited            unlimited            seconds   \n" +
		"Max open files            20000                20000                files     \n"
	if err := os.WriteFile(limits, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if n, err := readFDLimit(limits); err != nil || n != 20000 {
		t.Fatalf("readFDLimit = %d, %v", n, err)
	}
	if _, err := readFDLimit(filepath.Join(dir, "missing")); err == nil {
		t.Fatal("readFDLimit of a missing file: no error")
	}
	for i := range 5 {
		if err := os.WriteFile(filepath.Join(dir, "f"+string(rune('a'+i))), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := procstat.CountFDs(dir); err != nil || n != 5 { // 6 entries less one
		t.Fatalf("CountFDs = %d, %v; want 5", n, err)
	}

	if _, err := os.Stat("/proc/self/fd"); err != nil {
		t.Skip("no /proc")
	}
	s := FDSampler{interval: time.Second, highWater: 0.9}
	now := time.Now()
	open, limit := s.Sample(now)
	if open <= 0 || limit <= 0 || open > limit {
		t.Fatalf("sample = %d open of %d", open, limit)
	}
	// Within the interval the sample is cached.
	f, err := os.Open(limits)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if o, _ := s.Sample(now.Add(time.Millisecond)); o != open {
		t.Fatalf("sample within the interval = %d, want the cached %d", o, open)
	}
	if o, _ := s.Sample(now.Add(time.Hour)); o < open+1 {
		t.Fatalf("sample after the interval = %d, want at least %d", o, open+1)
	}
}

// simModel is a simulated set of targets: the outcome of a request to
// target i started with n requests in flight at the service (itself
// included), how long the request takes and how long the service stays
// busy with it (a request the client timed out may still load it).
type simModel func(i, n int) (r job.Result, took, busy time.Duration)

// simStats is what a simulated job did.
var simTrace = os.Getenv("THROTTLE_TRACE") != ""

type simStats struct {
	elapsed   time.Duration
	minLimit  int
	meanLimit float64 // time-weighted
	final     int
	classes   map[string]int // error classes, "" for answers
	undos     int
}

func (s simStats) errors() int {
	n := 0
	for c, k := range s.classes {
		if c != "" {
			n += k
		}
	}
	return n
}

type simEvent struct {
	at      time.Time
	kind    int // simDone, simFree or simTick
	started time.Time
	res     job.Result
}

const (
	simFree = iota // the service is done with a request (first: then it answers)
	simDone        // a request's outcome reaches the client
	simTick        // the runner's Tick
)

type simQueue []simEvent

func (q simQueue) Len() int { return len(q) }
func (q simQueue) Less(i, j int) bool {
	if q[i].at.Equal(q[j].at) {
		return q[i].kind < q[j].kind
	}
	return q[i].at.Before(q[j].at)
}
func (q simQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *simQueue) Push(x any)   { *q = append(*q, x.(simEvent)) }
func (q *simQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}

// simulate runs a job of targets at maxConc against model on the fake
// clock, with the throttle (on) or with every slot busy (off), the way the
// runner drives it: a slot acquires, runs the request, and calls Done;
// Tick comes every TickInterval.
func simulate(t *testing.T, maxConc, targets int, model simModel, on bool) simStats {
	t.Helper()
	clk := newFakeClock()
	cfg := DefaultConfig()
	cfg.Clock, cfg.Backpressure = clk, 8
	th := New(cfg, maxConc)
	st := simStats{minLimit: maxConc, classes: map[string]int{}}
	begin := clk.Now()
	q := &simQueue{}
	heap.Push(q, simEvent{at: begin.Add(cfg.TickInterval), kind: simTick})
	next, done, running, busy := 0, 0, 0, 0
	last, limitTime := begin, 0.0
	for steps := 0; done < targets; steps++ {
		if steps > 50_000_000 {
			t.Fatalf("simulation did not end: %d of %d done", done, targets)
		}
		for next < targets {
			if on {
				th.mu.Lock()
				free := th.active < th.limit && th.waiters.Len() == 0
				th.mu.Unlock()
				if !free {
					break
				}
				if err := th.Acquire(context.Background()); err != nil {
					t.Fatal(err)
				}
			} else if running >= maxConc {
				break
			}
			busy++
			r, took, hold := model(next, busy)
			now := clk.Now()
			heap.Push(q, simEvent{at: now.Add(took), kind: simDone, started: now, res: r})
			heap.Push(q, simEvent{at: now.Add(max(took, hold)), kind: simFree})
			next++
			running++
		}
		e := heap.Pop(q).(simEvent)
		if d := e.at.Sub(clk.Now()); d > 0 {
			limit := maxConc
			if on {
				limit = th.Limit()
			}
			limitTime += float64(limit) * e.at.Sub(last).Seconds()
			last = e.at
			clk.Advance(d)
		}
		switch e.kind {
		case simDone:
			running--
			done++
			st.classes[e.res.ErrorClass]++
			if on {
				d, ok := th.Done(e.started, &e.res)
				if ok && d.Undo {
					st.undos++
				}
				if ok && simTrace && d.Reason != ReasonIncrease || d.Undo {
					t.Logf("%s %+v", clk.Now().Sub(begin), d)
				}
			}
		case simFree:
			busy--
		case simTick:
			if on {
				d, ok := th.Tick(Signals{})
				if ok && d.Undo {
					st.undos++
				}
				if ok && simTrace && (d.Reason != ReasonIncrease || d.Undo) {
					t.Logf("%s tick %+v", clk.Now().Sub(begin), d)
				}
			}
			heap.Push(q, simEvent{at: e.at.Add(cfg.TickInterval), kind: simTick})
		}
		if on {
			st.minLimit = min(st.minLimit, th.Limit())
		}
	}
	st.elapsed = clk.Now().Sub(begin)
	st.meanLimit = limitTime / st.elapsed.Seconds()
	st.final = maxConc
	if on {
		st.final = th.Limit()
	}
	return st
}

func ok(lat time.Duration) job.Result {
	return job.Result{State: job.StateOK, LatencyMs: float64(lat) / float64(time.Millisecond)}
}

func failed(class string) job.Result {
	return job.Result{State: job.StateForClass(class), ErrorClass: class}
}

// mixedFleet gives each target one of kinds, shuffled: "ok" answers in
// 20ms, "refused" and "reset" fail in 200µs, "hang" times out after the
// request timeout (2s) and "dead" after the connect timeout (1s). The
// hosts are independent: the load does not change what they do.
func mixedFleet(targets int, kinds ...string) simModel {
	kind := make([]string, targets)
	for i := range kind {
		kind[i] = kinds[i%len(kinds)]
	}
	rng := rand.New(rand.NewPCG(1, 2))
	rng.Shuffle(len(kind), func(i, j int) { kind[i], kind[j] = kind[j], kind[i] })
	return func(i, _ int) (job.Result, time.Duration, time.Duration) {
		switch kind[i] {
		case "refused":
			return failed(job.ClassConnectRefused), 200 * time.Microsecond, 0
		case "reset":
			return failed(job.ClassReset), 200 * time.Microsecond, 0
		case "hang":
			return failed(job.ClassTimeout), 2 * time.Second, 2 * time.Second
		case "dead":
			return failed(job.ClassConnectTimeout), time.Second, 0
		}
		return ok(20 * time.Millisecond), 20 * time.Millisecond, 20 * time.Millisecond
	}
}

// overloaded is `salvo fleet --max-concurrency 100`: one service that
// answers in 20ms up to 100 requests in flight, 2s more per 100 in excess
// (a request timeout of 2s), and resets connections past 200.
func overloaded(i, n int) (job.Result, time.Duration, time.Duration) {
	return overloadedReset(2*time.Millisecond)(i, n)
}

// overloadedReset is overloaded with resets that take reset: with 25ms,
// the first window holds answers (from before the latency rose) as well
// as resets, and nothing vouches for them yet.
func overloadedReset(reset time.Duration) simModel {
	return func(_, n int) (job.Result, time.Duration, time.Duration) {
		return overloadedAt(n, reset)
	}
}

func overloadedAt(n int, reset time.Duration) (job.Result, time.Duration, time.Duration) {
	if n > 200 {
		return failed(job.ClassReset), reset, 0
	}
	lat := 20*time.Millisecond + time.Duration(max(0, n-100))*2*time.Second/100
	if lat > 2*time.Second {
		return failed(job.ClassTimeout), 2 * time.Second, lat
	}
	return ok(lat), lat, lat
}

// synDrops is a service whose listen queue drops SYNs beyond its capacity
// (1,000 for the first 4,000 requests, then 100: another tenant came): a
// share (n-capacity)/n of connections time out after the connect timeout
// (1s), and the others answer more slowly the more are in flight beyond
// it.
func synDrops() simModel {
	rng := rand.New(rand.NewPCG(3, 4))
	started := 0
	return func(_, n int) (job.Result, time.Duration, time.Duration) {
		started++
		capacity := 1000
		if started > 4000 {
			capacity = 100
		}
		if n > capacity && rng.Float64() < float64(n-capacity)/float64(n) {
			return failed(job.ClassConnectTimeout), time.Second, 0
		}
		lat := 20*time.Millisecond + time.Duration(max(0, n-capacity))*time.Millisecond
		return ok(lat), lat, lat
	}
}

// TestThrottleSimulated drives the throttle with simulated fleets on the
// fake clock: per-host failures (refused, reset, hanging, dead hosts) keep
// the limit at maxConcurrency, while a service that slows down and resets
// past its capacity, or drops SYNs, still drives it down.
func TestThrottleSimulated(t *testing.T) {
	const maxConc = 500
	tests := []struct {
		name    string
		targets int
		model   simModel
		check   func(t *testing.T, on, off simStats)
	}{}
	perHost := func(t *testing.T, on, off simStats) {
		if float64(on.elapsed) > 1.25*float64(off.elapsed) {
			t.Errorf("throttled job took %s, unthrottled %s: below 0.8 of its rate", on.elapsed, off.elapsed)
		}
		if on.meanLimit < 0.8*maxConc || on.final != maxConc {
			t.Errorf("limit: mean %.0f, final %d; want near %d", on.meanLimit, on.final, maxConc)
		}
	}
	for _, kinds := range [][]string{
		{"ok", "refused", "hang"},
		{"ok", "reset", "hang"},
		{"ok", "refused", "dead"},
		{"ok", "refused", "reset", "hang", "dead"},
		{"ok", "refused", "refused", "refused", "hang", "hang", "hang"},
	} {
		tests = append(tests, struct {
			name    string
			targets int
			model   simModel
			check   func(t *testing.T, on, off simStats)
		}{"per host: " + strings.Join(kinds, ","), 3000, mixedFleet(3000, kinds...), perHost})
	}
	tests = append(tests, []struct {
		name    string
		targets int
		model   simModel
		check   func(t *testing.T, on, off simStats)
	}{
		{"overload: resets past 200, latency past 100", 20000, overloaded, func(t *testing.T, on, off simStats) {
			if on.errors()*10 > off.errors() {
				t.Errorf("throttled errors %d, unthrottled %d: want at most a tenth", on.errors(), off.errors())
			}
			if on.meanLimit > 250 {
				t.Errorf("mean limit %.0f, want at most 250", on.meanLimit)
			}
		}},
		{"overload: slow resets, answers in the first window", 20000, overloadedReset(25 * time.Millisecond), func(t *testing.T, on, off simStats) {
			if on.errors()*10 > off.errors() {
				t.Errorf("throttled errors %d, unthrottled %d: want at most a tenth", on.errors(), off.errors())
			}
		}},
		{"congestion: connect timeouts spread while latency rises", 20000, synDrops(), func(t *testing.T, on, off simStats) {
			ct := job.ClassConnectTimeout
			if on.classes[ct]*3 > off.classes[ct] {
				t.Errorf("throttled connect timeouts %d, unthrottled %d: want at most a third", on.classes[ct], off.classes[ct])
			}
			if on.meanLimit > 250 || on.minLimit > 150 {
				t.Errorf("limit: mean %.0f, lowest %d; want it driven down", on.meanLimit, on.minLimit)
			}
		}},
	}...)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			on := simulate(t, maxConc, tt.targets, tt.model, true)
			off := simulate(t, maxConc, tt.targets, tt.model, false)
			t.Logf("on: %s, limit mean %.0f lowest %d final %d, %d undos, %v; off: %s, %v",
				on.elapsed, on.meanLimit, on.minLimit, on.final, on.undos, on.classes, off.elapsed, off.classes)
			tt.check(t, on, off)
		})
	}
}
