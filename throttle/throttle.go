// Package throttle is the adaptive concurrency controller of one job on one
// worker: an AIMD limit over a semaphore, fed by each result and by periodic
// signals (unacked batches, open file descriptors). It knows nothing about
// actors; its clock is injected so tests drive it without sleeping.
package throttle

import (
	"bufio"
	"bytes"
	"container/list"
	"context"
	"errors"
	"math"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/salvo-sh/salvo/internal/procstat"
	"github.com/salvo-sh/salvo/job"
)

// Throttle decision reasons: the four decrease signals of docs/design.md §8
// and the additive increase.
const (
	// ReasonErrors: the share of refused and reset connections in the
	// window rose above the job's usual share (a probe, see Controller), or
	// timeouts spread while the hosts that answer slowed down.
	ReasonErrors = "errors"
	// ReasonLatency: the window's median latency is well above the job's
	// baseline.
	ReasonLatency = "latency"
	// ReasonBackpressure: too many result batches are not yet acknowledged
	// by the master.
	ReasonBackpressure = "backpressure"
	// ReasonFDs: the process's open file descriptors are near RLIMIT_NOFILE.
	ReasonFDs = "fds"
	// ReasonIncrease: a healthy window that used the whole limit, or an
	// error probe undone (Decision.Undo).
	ReasonIncrease = "increase"
)

// Clock tells the time; tests pass a fake one.
type Clock interface {
	Now() time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// Config configures the adaptive throttle of a job on a worker
// (docs/design.md §8). Build one with DefaultConfig.
type Config struct {
	// Initial is the starting limit; 0 (the default) starts at the job's
	// maxConcurrency, which is the operating point its user asked for.
	Initial int
	// TickInterval is how often the runner calls Tick.
	TickInterval time.Duration
	// Window bounds the length of a decision window. A window closes when
	// it holds one round of outcomes (as many as the current limit) or at
	// the first Tick after Window has passed, whichever comes first, so
	// that fast failures are judged within one round.
	Window time.Duration
	// MinSamples is the number of outcomes (or the limit, when lower) a
	// window needs before its error share and latency are judged; a window
	// with fewer carries them over to the next.
	MinSamples int
	// Cooldown is the least time between a decrease and the next decision.
	// Besides, outcomes of requests started before a change of the limit
	// are ignored (they say nothing about the new limit), so each limit is
	// judged on a window of its own outcomes.
	Cooldown time.Duration
	// IncreaseFraction of the current limit (at least 1) is added to it
	// after each healthy window that used the whole limit: steps of 1 at
	// small limits, as TCP's congestion avoidance, and a quick return to a
	// large maxConcurrency after a spurious decrease.
	IncreaseFraction float64
	// Decrease multiplies the limit on errors and file descriptor pressure.
	Decrease float64
	// SoftDecrease multiplies the limit on high latency and backpressure,
	// the milder signals.
	SoftDecrease float64
	// ErrorShare is how far the share of fast failures (connect_refused and
	// reset outcomes among those that are not timeouts) in a window may
	// rise above the job's usual share (a moving average over its windows
	// without trouble, starting at 0) before the limit drops. The rise must
	// also exceed ErrorZ standard errors of the window's share, so that the
	// noise of small windows is not taken for trouble.
	ErrorShare float64
	// ErrorZ is the number of standard errors (of a binomial share over
	// the window's outcomes) a share must differ by: above the usual share
	// to decrease, below a probe's share to confirm it.
	ErrorZ float64
	// ErrorBaseAlpha is the weight of each window without trouble in the
	// usual shares.
	ErrorBaseAlpha float64
	// SlowLatencyFactor: timeouts and connect timeouts (slow failures)
	// count only in a window whose median latency of answered requests
	// exceeds SlowLatencyFactor × the latency baseline and the baseline by
	// LatencyMinExcess; their share must then rise by ErrorShare above its
	// usual level. A host that hangs while the others answer at their usual
	// latency says nothing about congestion.
	SlowLatencyFactor float64
	// ProbeWait bounds how long an error probe started from a window in
	// which hosts answered at their usual latency waits for outcomes of
	// requests started at its lower limit: when requests that hang hold
	// the slots that long, the probe is undone.
	ProbeWait time.Duration
	// RebaseAfter bounds the target-side signals. An error probe that did
	// not lower the share after this many decreases is undone. A latency
	// signal still high after this many decreases in a row is taken as the
	// job's new baseline, so that a slower part of the fleet lowers the
	// limit by at most SoftDecrease^RebaseAfter (0.32).
	RebaseAfter int
	// LatencyFactor: the limit drops when a window's median latency of
	// answered requests exceeds LatencyFactor × the baseline ...
	LatencyFactor float64
	// LatencyMinExcess ... and the baseline by at least this much, so that
	// jitter of sub-millisecond loopback latencies is not mistaken for
	// trouble.
	LatencyMinExcess time.Duration
	// BaselineWindows is the number of windows averaged into the latency
	// baseline before the latency signal is used.
	BaselineWindows int
	// BaselineAlpha is the weight of a later window whose median is above
	// the baseline (one below it weighs 0.5): the baseline tracks the
	// latency at the lowest load and rises only slowly.
	BaselineAlpha float64
	// Backpressure is the number of unacknowledged result batches at which
	// the limit drops; 0 disables the signal. The runner sets it to the
	// worker's MaxUnacked when it is 0.
	Backpressure int
	// FDHighWater is the share of RLIMIT_NOFILE open file descriptors at
	// which the limit drops (and so does not grow).
	FDHighWater float64
	// FDInterval is how often the runner counts open file descriptors
	// once they are above half the high water (four times less often
	// below).
	FDInterval time.Duration
	// Clock tells the time; nil is the system clock.
	Clock Clock
}

// DefaultConfig returns the throttle settings salvo runs with.
func DefaultConfig() Config {
	return Config{
		TickInterval:      20 * time.Millisecond,
		Window:            250 * time.Millisecond,
		MinSamples:        20,
		Cooldown:          10 * time.Millisecond,
		IncreaseFraction:  0.05,
		Decrease:          0.5,
		SoftDecrease:      0.75,
		ErrorShare:        0.1,
		ErrorZ:            3,
		ErrorBaseAlpha:    0.25,
		SlowLatencyFactor: 1.5,
		ProbeWait:         500 * time.Millisecond,
		RebaseAfter:       4,
		LatencyFactor:     3,
		LatencyMinExcess:  20 * time.Millisecond,
		BaselineWindows:   2,
		BaselineAlpha:     0.1,
		FDHighWater:       0.9,
		FDInterval:        250 * time.Millisecond,
	}
}

// Signals are the local figures a Tick judges besides the outcomes.
type Signals struct {
	// Unacked is the number of result batches sent and not yet
	// acknowledged.
	Unacked int
	// OpenFDs and FDLimit are the process's open file descriptors and
	// RLIMIT_NOFILE; 0 when unknown.
	OpenFDs, FDLimit int
}

// Decision is a change of the limit, with the figures behind it.
type Decision struct {
	Reason   string
	From, To int
	// Undo marks the end of an error probe whose decreases did not lower
	// the share of fast failures: the limit goes back to where the probe
	// started (Reason is ReasonIncrease).
	Undo bool
	// Samples is the number of outcomes in the window. Share is the share
	// of fast failures among those that are not timeouts (for a decrease on
	// slow failures, the share of timeouts among all), and ErrorBase the
	// job's usual level of that share before the window.
	Samples   int
	Share     float64
	ErrorBase float64
	// P50 is the window's median latency of answered requests, Baseline
	// the job's latency baseline (0 while it is being learned).
	P50, Baseline time.Duration
	Unacked       int
	OpenFDs       int
	FDLimit       int
}

// Controller is the adaptive throttle of one job on one worker: a semaphore
// whose limit, the job's effective concurrency, moves between 1 and
// maxConcurrency by additive increase and multiplicative decrease.
// Requests run between Acquire and Done, which records their outcome
// (Release and Observe do the two halves apart); Tick, called every
// TickInterval, brings the local signals. Done, Observe and Tick close
// windows and return the decisions they make. It is safe for concurrent
// use.
//
// Per-host failures do not lower the limit; congestion does. Outcomes fall
// in three kinds: fast failures (connect_refused, reset), slow failures
// (connect_timeout, timeout) and the rest (answers, and failures such as
// DNS or TLS errors, which do not count).
//
// Fast failures are judged by their share among the outcomes that are not
// slow failures, counting only requests started at least twice the usual
// answer latency before the window closes (at most 2 × TickInterval; the
// later ones go to the next window): that share does not depend on how
// long slow failures take, and a burst of restarts does not count its
// refusals before its answers, so it is fair even just after a change of
// the limit. A refusing host refuses at any concurrency, while a service
// that sheds load stops resetting when the load falls, so a rise of the
// share over the usual one (ErrorShare, and ErrorZ standard errors) starts
// a probe: the limit halves, and the first window of requests started at
// the lower limit decides. If the share fell (by ErrorShare/2 and ErrorZ
// standard errors of the difference) the failures were load and the
// decrease stands. If it did not fall while hosts answered at their usual
// latency, or after RebaseAfter halvings, or if hosts answered as usual
// and requests that hang keep the slots held for ProbeWait, the failures
// are the hosts': the limit goes back to where the probe started and the
// share becomes the usual one. A share that did not fall in a window with
// too few answers, or slow ones, halves the limit again (a service that
// sheds load below the halved limit). No increase happens while a probe
// waits.
//
// Slow failures arrive a timeout after their start, so a share measured
// just after a change misses them: they are never compared across a
// change, and lower the limit (as errors, × Decrease) only while the
// answers slow down too (SlowLatencyFactor × the baseline) and their share
// over all outcomes, those of requests started before the change
// included, rises above the usual one, learnt while answers are at their
// usual latency. Connect timeouts spreading while answers slow down are
// congestion; a hanging host among hosts that answer as usual is not.
// While they rise, a lasting latency rise is not taken for the fleet's new
// baseline.
type Controller struct {
	cfg   Config
	max   int
	clock Clock

	mu        sync.Mutex
	limit     int
	active    int
	waiters   list.List // of chan struct{}, first come first served
	saturated bool      // the whole limit was in use during the window

	winStart   time.Time
	samples    int
	slow       int // connect_timeout and timeout outcomes
	allSamples int // outcomes, those started before the last change included
	allSlow    int // of which slow failures
	// recent holds the start times of the window's outcomes that are not
	// slow failures, with whether they were fast failures: the fast share
	// is judged on those started at least a usual answer latency before
	// the window closes (the others go to the next window), so that a
	// burst of restarts does not count its refusals before its answers.
	recent       []recentOutcome
	answered     int
	hist         latencyHist
	lastDecrease time.Time // starts the cooldown
	lastChange   time.Time // outcomes of requests started before it are ignored
	sig          Signals   // the local signals of the last Tick

	errBase   float64 // the job's usual share of fast failures
	slowBase  float64 // the job's usual share of slow failures
	baseline  float64 // the latency baseline, in seconds
	baselineN int
	latStreak int // latency-judged windows in a row with a high median

	// The error probe in progress: probeFrom (0 when none) is the limit
	// before its first decrease, probeShare and probeN the fast failure
	// share and outcome count that started it, probeSteps its decreases
	// and probeIdle the judged windows since its last decrease without
	// enough fast outcomes to judge it. probeAt is the time of its last
	// decrease, and probeVouched tells whether the window behind it had
	// hosts answering at their usual latency.
	probeFrom    int
	probeShare   float64
	probeN       int
	probeSteps   int
	probeIdle    int
	probeAt      time.Time
	probeVouched bool
	probeP50     time.Duration // the median answer latency behind it (0: none)
}

// New returns a throttle for a job with the given maxConcurrency.
func New(cfg Config, maxConcurrency int) *Controller {
	if cfg.Clock == nil {
		cfg.Clock = systemClock{}
	}
	maxConcurrency = max(maxConcurrency, 1)
	t := &Controller{
		cfg:   cfg,
		max:   maxConcurrency,
		clock: cfg.Clock,
		limit: maxConcurrency,
	}
	if cfg.Initial > 0 {
		t.limit = min(cfg.Initial, maxConcurrency)
	}
	t.winStart = t.clock.Now()
	return t
}

// Config returns the controller's configuration.
func (t *Controller) Config() Config { return t.cfg }

// Max returns the throttle's upper bound, the job's maxConcurrency.
func (t *Controller) Max() int { return t.max }

// Limit returns the current limit: the effective concurrency.
func (t *Controller) Limit() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.limit
}

// Now returns the throttle clock's time; callers take a request's start
// time from it for Done and Observe.
func (t *Controller) Now() time.Time { return t.clock.Now() }

// Acquire waits until fewer than Limit requests hold the throttle, then
// holds it; it returns ctx's error when ctx ends first. Waiters are served
// in arrival order.
func (t *Controller) Acquire(ctx context.Context) error {
	t.mu.Lock()
	if t.active < t.limit && t.waiters.Len() == 0 {
		t.active++
		if t.active >= t.limit {
			t.saturated = true
		}
		t.mu.Unlock()
		return nil
	}
	t.saturated = true
	ch := make(chan struct{})
	e := t.waiters.PushBack(ch)
	t.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	select {
	case <-ch: // granted meanwhile: hand it on
		t.active--
		t.grantLocked()
	default:
		t.waiters.Remove(e)
	}
	return ctx.Err()
}

// Release ends a hold taken by Acquire.
func (t *Controller) Release() {
	t.mu.Lock()
	t.active--
	t.grantLocked()
	t.mu.Unlock()
}

// grantLocked wakes waiters while the limit allows.
func (t *Controller) grantLocked() {
	for t.active < t.limit && t.waiters.Len() > 0 {
		ch := t.waiters.Remove(t.waiters.Front()).(chan struct{})
		t.active++
		close(ch)
	}
}

// fastFailure reports whether an error class is a fast failure: refused
// or reset connections, which an overloaded service and a broken host both
// cause.
func fastFailure(class string) bool {
	return class == job.ClassConnectRefused || class == job.ClassReset
}

// slowFailure reports whether an error class is a slow failure: a connect
// or request timeout, known only once the timeout has passed.
func slowFailure(class string) bool {
	return class == job.ClassConnectTimeout || class == job.ClassTimeout
}

// Done ends a hold taken by Acquire for a request started at started
// (from Now) and records its outcome, as Release and Observe in one step.
func (t *Controller) Done(started time.Time, r *job.Result) (Decision, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.active--
	t.grantLocked()
	return t.observeLocked(started, r)
}

// Observe records the outcome of a request started at started (from Now).
// Skipped and cancelled targets, and requests started before the last
// change of the limit (or at the same instant), are not counted: only
// requests that ran under a limit say how good it is. The outcome that
// completes a round (as many outcomes as the limit) closes the window at
// once, so that fast failures are judged within one round; the decision,
// if any, is returned.
func (t *Controller) Observe(started time.Time, r *job.Result) (Decision, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.observeLocked(started, r)
}

func (t *Controller) observeLocked(started time.Time, r *job.Result) (Decision, bool) {
	if r.State == job.StateSkipped || r.State == job.StateCancelled {
		return Decision{}, false
	}
	// Slow failures arrive a timeout after their start: those of requests
	// started before the last change still say whether timeouts spread.
	t.allSamples++
	if slowFailure(r.ErrorClass) {
		t.allSlow++
	}
	if !t.lastChange.IsZero() && !started.After(t.lastChange) {
		return Decision{}, false
	}
	t.samples++
	if slowFailure(r.ErrorClass) {
		t.slow++
	} else {
		t.recent = append(t.recent, recentOutcome{started: started, fast: fastFailure(r.ErrorClass)})
	}
	if r.State == job.StateOK {
		t.answered++
		lat := r.LatencyMs
		if r.ConnectMs > 0 {
			lat = r.ConnectMs // SSH: the command's own run time is not the target's load
		}
		t.hist.add(time.Duration(lat * float64(time.Millisecond)))
	}
	if !t.roundLocked() {
		return Decision{}, false
	}
	now := t.clock.Now()
	if t.coolingLocked(now) {
		return Decision{}, false
	}
	return t.decideLocked(now)
}

// Tick records the local signals and closes the current window once
// Window has passed since it opened, then judges it (see decideLocked).
func (t *Controller) Tick(s Signals) (Decision, bool) {
	now := t.clock.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sig = s
	if t.coolingLocked(now) {
		return Decision{}, false
	}
	if !t.roundLocked() && now.Sub(t.winStart) < t.cfg.Window {
		return Decision{}, false
	}
	return t.decideLocked(now)
}

// coolingLocked reports whether now is within Cooldown of the last decrease.
func (t *Controller) coolingLocked(now time.Time) bool {
	return !t.lastDecrease.IsZero() && now.Sub(t.lastDecrease) < t.cfg.Cooldown
}

// needLocked is the number of outcomes a window needs to be judged.
func (t *Controller) needLocked() int { return max(1, min(t.cfg.MinSamples, t.limit)) }

// roundLocked reports whether the window holds a round of outcomes: as
// many as the limit.
func (t *Controller) roundLocked() bool {
	return t.samples >= t.limit && t.samples >= t.needLocked()
}

// decideLocked judges the current window with the last local signals and
// starts the next one. Decreases, by priority: file descriptors near the
// limit, backpressure, errors (fast failures by the probe of the
// Controller's doc, slow failures with slow answers), latency. An increase
// needs a judged window without trouble in which the whole limit was in
// use, and no probe waiting for its judgement.
func (t *Controller) decideLocked(now time.Time) (Decision, bool) {
	s := t.sig
	need := t.needLocked()
	judged := t.samples >= need
	// The fast share: of the outcomes that are not slow failures, those of
	// requests started at least lag ago; the rest carry over.
	var lag time.Duration
	if t.baselineN >= t.cfg.BaselineWindows {
		lag = min(2*t.cfg.TickInterval, seconds(2*t.baseline))
	}
	cutoff := now.Add(-lag)
	fast, fastN, carry := 0, 0, 0
	for _, o := range t.recent {
		if o.started.After(cutoff) {
			carry++
			continue
		}
		fastN++
		if o.fast {
			fast++
		}
	}
	errJudged := fastN >= need
	d := Decision{
		From: t.limit, Samples: t.samples, ErrorBase: t.errBase,
		Unacked: s.Unacked, OpenFDs: s.OpenFDs, FDLimit: s.FDLimit,
	}
	if t.baselineN >= t.cfg.BaselineWindows {
		d.Baseline = seconds(t.baseline)
	}
	var fastShare, slowShare float64
	if fastN > 0 {
		fastShare = float64(fast) / float64(fastN)
	}
	if t.allSamples > 0 {
		slowShare = float64(t.allSlow) / float64(t.allSamples)
	}
	d.Share = fastShare
	latencyJudged := judged && t.answered >= need
	if latencyJudged {
		d.P50 = t.hist.quantile(0.5, t.answered)
	}

	// Latency: the hosts that answer, against the baseline.
	above := func(factor float64) bool {
		return latencyJudged && d.Baseline > 0 &&
			float64(d.P50) > factor*float64(d.Baseline) && d.P50-d.Baseline >= t.cfg.LatencyMinExcess
	}
	slowAnswers := above(t.cfg.SlowLatencyFactor)
	latHigh := above(t.cfg.LatencyFactor)
	// Slow failures count only while the answers slow down too; then the
	// latency is not the fleet's new level but congestion.
	slowRising := judged && slowShare >= t.slowBase+t.margin(t.slowBase, t.allSamples)
	if latHigh && t.latStreak >= t.cfg.RebaseAfter && !slowRising {
		t.baseline, t.latStreak, latHigh, slowAnswers = d.P50.Seconds(), 0, false, false
	}
	slowHigh := slowAnswers && slowRising

	// Fast failures: a rise over the usual share, judged by the probe.
	fastHigh := errJudged && fastShare >= t.errBase+t.margin(t.errBase, fastN)
	probeStep, undo := false, false
	if t.probeFrom > 0 {
		switch {
		case errJudged && t.dropped(fastShare, fastN):
			t.probeFrom = 0 // load: the decrease stands
		case errJudged && (t.usualAnswers(d, slowAnswers) || t.probeSteps >= t.cfg.RebaseAfter):
			undo = true // the hosts': the share did not fall with the limit
		case errJudged && fastHigh:
			probeStep = true // not lower, and no healthy answers: lower still
		case errJudged:
			t.probeFrom = 0
		case t.probeVouched && now.Sub(t.probeAt) >= t.cfg.ProbeWait:
			// Hosts answered as usual, and the slots stay held by slow
			// requests: a decrease the job cannot measure does not help it.
			undo = true
		case judged:
			// Fresh outcomes, but too few that are not timeouts to judge
			// the probe: after RebaseAfter such windows nothing says the
			// decrease helped.
			t.probeIdle++
			undo = t.probeIdle >= t.cfg.RebaseAfter
		}
		if undo {
			t.errBase, fastHigh = max(t.probeShare, fastShare), false
		}
	}

	factor, byProbe := 0.0, false
	switch {
	case s.FDLimit > 0 && float64(s.OpenFDs) >= t.cfg.FDHighWater*float64(s.FDLimit):
		d.Reason, factor = ReasonFDs, t.cfg.Decrease
	case t.cfg.Backpressure > 0 && s.Unacked >= t.cfg.Backpressure:
		d.Reason, factor = ReasonBackpressure, t.cfg.SoftDecrease
	case undo:
		d.Reason, d.Undo = ReasonIncrease, true
	case fastHigh && (t.probeFrom == 0 || probeStep):
		d.Reason, factor, byProbe = ReasonErrors, t.cfg.Decrease, true
	case slowHigh:
		d.Reason, factor = ReasonErrors, t.cfg.Decrease
		d.Share, d.ErrorBase = slowShare, t.slowBase
	case latHigh:
		d.Reason, factor = ReasonLatency, t.cfg.SoftDecrease
	}

	// Learn from the window: the usual shares and the latency baseline
	// from windows where they were not high.
	if errJudged && !fastHigh && !undo {
		t.errBase += t.cfg.ErrorBaseAlpha * (fastShare - t.errBase)
	}
	if latencyJudged && !slowAnswers {
		// The usual share of slow failures: hosts that hang while the
		// others answer at their usual latency.
		t.slowBase += t.cfg.ErrorBaseAlpha * (slowShare - t.slowBase)
	}
	if latencyJudged {
		if latHigh || slowHigh {
			t.latStreak++
		} else {
			t.latStreak = 0
			t.learnBaseline(d.P50.Seconds())
		}
	}

	changed := false
	switch {
	case d.Undo:
		d.To = max(t.limit, t.probeFrom)
		t.probeFrom = 0
		if d.To > t.limit {
			t.limit, changed = d.To, true
			t.lastChange = now
			t.grantLocked()
		}
	case d.Reason != "":
		d.To = max(1, int(float64(t.limit)*factor))
		if d.To < t.limit {
			if byProbe {
				if t.probeFrom == 0 {
					t.probeFrom, t.probeShare, t.probeN, t.probeSteps = t.limit, fastShare, fastN, 0
				}
				t.probeSteps++
				t.probeIdle = 0
				t.probeAt, t.probeVouched, t.probeP50 = now, latencyJudged && !slowAnswers, d.P50
			} else {
				t.probeFrom = 0 // another signal: the probe is over
			}
			t.limit, changed = d.To, true
			t.lastDecrease, t.lastChange = now, now
		} else if byProbe && t.probeFrom > 0 {
			t.probeSteps++ // at 1 already
		}
	case judged && (errJudged || carry == 0) && t.saturated && t.limit < t.max && t.probeFrom == 0:
		step := max(1, int(float64(t.limit)*t.cfg.IncreaseFraction))
		d.Reason, d.To = ReasonIncrease, min(t.max, t.limit+step)
		t.limit, changed = d.To, true
		t.lastChange = now
		t.grantLocked()
	}
	// A window that was judged, or ended in a change, starts afresh; one
	// with too few outcomes carries them over.
	if changed {
		t.recent = t.recent[:0] // started before the change
	}
	if judged && !changed {
		kept := t.recent[:0]
		for _, o := range t.recent {
			if o.started.After(cutoff) {
				kept = append(kept, o)
			}
		}
		t.recent = kept
	}
	if judged || changed {
		t.samples, t.slow, t.answered, t.allSamples, t.allSlow = 0, 0, 0, 0, 0
		t.hist.reset()
	}
	t.winStart = now
	t.saturated = t.active >= t.limit || t.waiters.Len() > 0
	return d, changed
}

// usualAnswers reports whether the window's hosts answered at their usual
// latency: judged against the baseline, or while it is being learnt
// against the window that started the probe step; with neither, nothing
// vouches for them.
func (t *Controller) usualAnswers(d Decision, slowAnswers bool) bool {
	switch {
	case d.P50 == 0:
		return false
	case d.Baseline > 0:
		return !slowAnswers
	case t.probeP50 > 0:
		return float64(d.P50) <= t.cfg.SlowLatencyFactor*float64(t.probeP50) || d.P50-t.probeP50 < t.cfg.LatencyMinExcess
	}
	return false
}

// recentOutcome is an outcome that is not a slow failure, for the fast
// share.
type recentOutcome struct {
	started time.Time
	fast    bool
}

// margin is how far a share over n outcomes must rise above a usual share
// base to count: ErrorShare, or ErrorZ standard errors when more.
func (t *Controller) margin(base float64, n int) float64 {
	if n <= 0 {
		return t.cfg.ErrorShare
	}
	return max(t.cfg.ErrorShare, t.cfg.ErrorZ*math.Sqrt(base*(1-base)/float64(n)))
}

// dropped reports whether a fast failure share over n outcomes is
// significantly below the share that started the probe: by ErrorShare/2
// and ErrorZ standard errors of the difference of the two shares.
func (t *Controller) dropped(share float64, n int) bool {
	p := (t.probeShare*float64(t.probeN) + share*float64(n)) / float64(t.probeN+n)
	se := math.Sqrt(p * (1 - p) * (1/float64(max(1, t.probeN)) + 1/float64(max(1, n))))
	return t.probeShare-share >= max(t.cfg.ErrorShare/2, t.cfg.ErrorZ*se)
}

// learnBaseline moves the latency baseline toward the median of a window
// whose latency was not high: the first BaselineWindows are averaged;
// later a lower median pulls the baseline down by half the difference and
// a higher one up by BaselineAlpha of it, so that it follows the latency
// at the lowest load seen.
func (t *Controller) learnBaseline(p50 float64) {
	t.baselineN++
	var alpha float64
	switch {
	case t.baselineN <= t.cfg.BaselineWindows:
		alpha = 1 / float64(t.baselineN)
	case p50 < t.baseline:
		alpha = 0.5
	default:
		alpha = t.cfg.BaselineAlpha
	}
	t.baseline += alpha * (p50 - t.baseline)
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// latencyHist is a histogram of latencies in buckets growing by
// latencyGrowth from latencyMin: enough for a median within ±12%.
type latencyHist [latencyBuckets]uint32

const (
	latencyBuckets  = 96
	latencyMin      = 100 * time.Microsecond
	latencyGrowth   = 1.25
	lnLatencyGrowth = 0.22314355131420976 // math.Log(latencyGrowth)
)

func (h *latencyHist) add(d time.Duration) {
	b := 0
	if d > latencyMin {
		b = min(latencyBuckets-1, 1+int(math.Log(float64(d)/float64(latencyMin))/lnLatencyGrowth))
	}
	h[b]++
}

// quantile returns the q-quantile of n recorded latencies, as the
// geometric middle of its bucket.
func (h *latencyHist) quantile(q float64, n int) time.Duration {
	rank := uint32(math.Ceil(q * float64(n)))
	var seen uint32
	for b, c := range h {
		seen += c
		if seen >= rank && c > 0 {
			if b == 0 {
				return latencyMin
			}
			return time.Duration(float64(latencyMin) * math.Pow(latencyGrowth, float64(b)-0.5))
		}
	}
	return 0
}

func (h *latencyHist) reset() { *h = latencyHist{} }

// FDSampler counts the process's open file descriptors (/proc/self/fd) and
// reads RLIMIT_NOFILE (/proc/self/limits), at most every interval while
// the count is near the limit and every 4 intervals otherwise. Where /proc
// is missing it reports zeros. It is not safe for concurrent use.
type FDSampler struct {
	interval  time.Duration
	highWater float64
	next      time.Time
	open      int
	limit     int
	off       bool
}

// NewFDSampler returns a sampler that reads at most every interval while the
// open count is above highWater (a share of the limit).
func NewFDSampler(interval time.Duration, highWater float64) *FDSampler {
	return &FDSampler{interval: interval, highWater: highWater}
}

// Sample returns the open descriptor count and the limit, read again when
// the sampling interval has passed.
func (s *FDSampler) Sample(now time.Time) (open, limit int) {
	if s.off || now.Before(s.next) {
		return s.open, s.limit
	}
	if s.limit == 0 {
		l, err := readFDLimit("/proc/self/limits")
		if err != nil || l <= 0 {
			s.off = true
			return 0, 0
		}
		s.limit = l
	}
	n, err := procstat.CountFDs("/proc/self/fd")
	if err != nil {
		s.off = true
		s.open, s.limit = 0, 0
		return 0, 0
	}
	s.open = n
	every := 4 * s.interval
	if float64(n) >= s.highWater*float64(s.limit)/2 {
		every = s.interval
	}
	s.next = now.Add(every)
	return s.open, s.limit
}

// readFDLimit reads the soft "Max open files" limit from a
// /proc/<pid>/limits file; "unlimited" is reported as math.MaxInt32.
func readFDLimit(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		rest, ok := bytes.CutPrefix(sc.Bytes(), []byte("Max open files"))
		if !ok {
			continue
		}
		fields := bytes.Fields(rest)
		if len(fields) == 0 {
			break
		}
		if string(fields[0]) == "unlimited" {
			return math.MaxInt32, nil
		}
		return strconv.Atoi(string(fields[0]))
	}
	return 0, errors.New("no Max open files line in " + path)
}
