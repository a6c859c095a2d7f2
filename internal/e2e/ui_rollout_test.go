package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/salvo-sh/salvo/fleet"
	"github.com/salvo-sh/salvo/internal/testutil"
	"github.com/salvo-sh/salvo/job"
	"github.com/salvo-sh/salvo/store"
)

// TestDashboardRollout opens a rollout that waits for approval after each
// batch (docs/rollouts.md): the job page shows the batch in progress, a
// row per batch with its range and counts, and the budget; its Resume
// button starts the next batch, and the job ends with every batch done.
func TestDashboardRollout(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	chromium := chromiumPath(t)
	const hosts = 12
	f := testutil.StartFleet(t, func(c *fleet.Config) { c.Hosts = hosts })
	n := testutil.StartNode(t, nil)
	ctx := context.Background()
	maxFailures := 3
	spec := &job.Spec{Name: "ui-rollout", Targets: make([]job.TargetSpec, 0, hosts),
		Rollout: &job.Rollout{Batches: []job.BatchSize{"2", "100%"}, MaxFailures: &maxFailures, Approve: true}}
	for _, h := range fleet.Targets(hosts, f.Addr().Port) {
		spec.Targets = append(spec.Targets, job.TargetSpec{Host: h})
	}
	st, err := n.Engine.Submit(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	waitJobState(t, n, st.ID, store.JobPaused)

	b := startBrowser(t, chromium, 60*time.Second)
	b.do("open the job", chromedp.Navigate(n.URL+"/ui/#/job/"+st.ID))
	b.wait("the rollout panel", `!document.querySelector('#rollout').hidden && !document.querySelector('#resume-btn').hidden`, 10*time.Second)
	if got := b.text("summary", "#rollout-summary"); !strings.HasPrefix(got, "Batch 1 of 2") {
		t.Errorf("summary %q, want Batch 1 of 2", got)
	}
	if got := b.text("budget", "#rollout-budget"); !strings.Contains(got, "0 failures in 2 targets that ran") || !strings.Contains(got, "at most 3") {
		t.Errorf("budget %q", got)
	}
	if rows := eval[[]string](b, "batch rows", `[...document.querySelectorAll('#rollout-batches tr[data-batch]')].map(r => r.textContent)`); len(rows) != 1 || !strings.Contains(rows[0], "0–1") {
		t.Errorf("batch rows %q, want one for targets 0–1", rows)
	}
	b.do("resume", chromedp.Click(chromedp.ID("resume-btn")))
	fin := testutil.WaitJob(t, n.Engine, st.ID, 30*time.Second)
	if fin.State != store.JobGathered || fin.Counts[job.StateOK] != hosts {
		t.Fatalf("after Resume: %s, counts %v", fin.State, fin.Counts)
	}
	b.wait("every batch done", `document.querySelectorAll('#rollout-batches tr[data-batch]').length === 2 &&
		[...document.querySelectorAll('#rollout-batches tr[data-batch]')].every(r => r.textContent.includes('done')) &&
		document.querySelector('#resume-btn').hidden && document.querySelector('#pause-btn').hidden`, 10*time.Second)
	if got := b.text("summary", "#rollout-summary"); !strings.HasPrefix(got, "Batch 2 of 2") {
		t.Errorf("summary at the end %q, want Batch 2 of 2", got)
	}
	if errs := b.pageErrors(); len(errs) > 0 {
		t.Errorf("page errors: %q", errs)
	}
}

// waitJobState waits, within 30 s, for job id to be in state.
func waitJobState(t *testing.T, n *testutil.Node, id, state string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := n.Engine.Status(context.Background(), id)
		if err == nil && st.State == state {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s: not %s within 30s (%v, %v)", id, state, st, err)
		}
		time.Sleep(20 * time.Millisecond) // the engine has no state-change signal for tests
	}
}
