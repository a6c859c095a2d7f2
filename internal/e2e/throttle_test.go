package e2e

import (
	"testing"
	"time"

	"github.com/salvo-sh/salvo/actors"
	"github.com/salvo-sh/salvo/fleet"
	"github.com/salvo-sh/salvo/internal/testutil"
	"github.com/salvo-sh/salvo/job"
	"github.com/salvo-sh/salvo/store"
)

// throttleRun is what one job against the overloaded fleet gave.
type throttleRun struct {
	status         actors.JobStatus
	minConcurrency int // lowest effective concurrency seen in the job status
}

// trouble is the number of targets that got no answer.
func (r throttleRun) trouble() int {
	return r.status.Counts[job.StateError] + r.status.Counts[job.StateTimeout]
}

// TestThrottleReducesErrorsAgainstOverloadedFleet runs the same job twice
// against a fleet that slows down past 40 requests in flight and resets
// connections past 80: with the adaptive throttle (the default) and with
// "throttle": false. The throttled job must get fewer errors and timeouts,
// and its effective concurrency must drop below maxConcurrency.
func TestThrottleReducesErrorsAgainstOverloadedFleet(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	const (
		hosts   = 2000
		maxConc = 300
		limit   = 40 // the fleet's capacity
	)
	f := testutil.StartFleet(t, func(c *fleet.Config) {
		c.Hosts = hosts
		c.LatencyMin, c.LatencyMax = 20*time.Millisecond, 20*time.Millisecond
		c.MaxConcurrency = limit
		c.OverloadLatency = 2 * time.Second
	})
	n := testutil.StartNode(t, nil)

	run := func(throttle bool) throttleRun {
		t.Helper()
		// Let the previous job's abandoned requests end on the fleet.
		deadline := time.Now().Add(30 * time.Second)
		for f.InFlight() > 0 {
			if time.Now().After(deadline) {
				t.Fatalf("fleet still has %d requests in flight", f.InFlight())
			}
			time.Sleep(20 * time.Millisecond) // polling a counter: no signal to wait on
		}
		id := submit(t, n.URL, map[string]any{
			"targets":        fleet.Targets(hosts, f.Addr().Port),
			"maxConcurrency": maxConc,
			"throttle":       throttle,
			"http":           map[string]any{"path": "/x"},
			"timeouts":       map[string]any{"connect": "1s", "request": "2s"},
		})
		r := throttleRun{minConcurrency: maxConc}
		r.status = waitFor(t, n.URL, id, 2*time.Minute, func(st actors.JobStatus) bool {
			for _, w := range st.Workers {
				if w.Concurrency > 0 {
					r.minConcurrency = min(r.minConcurrency, w.Concurrency)
				}
			}
			return st.Terminal()
		})
		if r.status.State != store.JobGathered || r.status.Done != hosts {
			t.Fatalf("throttle %v: final status %+v", throttle, r.status)
		}
		t.Logf("throttle %-5v: ok %d, error %d, timeout %d, lowest concurrency %d",
			throttle, r.status.Counts[job.StateOK], r.status.Counts[job.StateError],
			r.status.Counts[job.StateTimeout], r.minConcurrency)
		return r
	}

	off := run(false)
	on := run(true)
	if on.trouble() >= off.trouble() {
		t.Errorf("with the throttle %d errors and timeouts, without it %d: want fewer with it", on.trouble(), off.trouble())
	}
	if on.minConcurrency >= maxConc {
		t.Errorf("effective concurrency never dropped below maxConcurrency %d", maxConc)
	}
	if off.minConcurrency != maxConc {
		t.Errorf("without the throttle the concurrency went down to %d, want a fixed %d", off.minConcurrency, maxConc)
	}

	// The decreases were counted, and the finished jobs left no gauge.
	mfs, err := n.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	decreases := 0.0
	for _, mf := range mfs {
		switch mf.GetName() {
		case "salvo_throttle_decreases_total":
			for _, m := range mf.GetMetric() {
				decreases += m.GetCounter().GetValue()
			}
		case "salvo_job_concurrency":
			if len(mf.GetMetric()) > 0 {
				t.Errorf("salvo_job_concurrency still has %d series after the jobs ended", len(mf.GetMetric()))
			}
		}
	}
	if decreases == 0 {
		t.Error("salvo_throttle_decreases_total is 0")
	}
}
