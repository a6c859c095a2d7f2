package schedule

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/salvo-sh/salvo/job"
	"github.com/salvo-sh/salvo/store"
)

// History lists the runs newest first, each compared with the run before
// it that has results: new values, and the changed hosts folded, sampled
// and counted. A refused slot, and a run not ended, have no changes.
func TestHistory(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	base := time.Date(2026, 1, 10, 10, 0, 0, 0, time.UTC)
	run := func(i int, state string, values []string) {
		t.Helper()
		slot := base.Add(time.Duration(i) * time.Minute)
		j := &store.Job{ID: fmt.Sprintf("run%d", i), Name: "q", State: state, Total: len(values), Counts: map[string]int{},
			CreatedAt: slot, Schedule: "q", Slot: slot}
		if len(values) > 0 {
			j.Spec = &job.Spec{Protocol: job.ProtocolHTTP}
		}
		var ts []job.TargetSpec
		var rs []job.Result
		for k, v := range values {
			h := fmt.Sprintf("web-%02d", k+1)
			ts = append(ts, job.TargetSpec{Host: h})
			rs = append(rs, job.Result{Index: k, Host: h, State: job.StateOK, Value: v})
		}
		if err := st.CreateJob(ctx, j, ts, 100); err != nil {
			t.Fatal(err)
		}
		if len(rs) > 0 {
			if _, err := st.PutResults(ctx, j.ID, rs); err != nil {
				t.Fatal(err)
			}
		}
	}
	v := func(n int, set map[int]string) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = "1.0"
			if s, ok := set[i+1]; ok {
				out[i] = s
			}
		}
		return out
	}
	run(0, store.JobGathered, v(10, nil))
	run(1, store.JobGathered, v(10, map[int]string{2: "1.1", 3: "1.1", 4: "1.1", 9: "2.0"}))
	run(2, store.JobFailed, nil) // a refused slot
	run(3, store.JobGathered, v(10, map[int]string{2: "1.1", 3: "1.1", 4: "1.1", 9: "1.0", 5: "1.1"}))
	run(4, store.JobProcessing, v(10, nil))

	entries, next, err := History(ctx, st, "q", "", 3)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range entries {
		ids = append(ids, e.Job.ID)
	}
	if !slices.Equal(ids, []string{"run4", "run3", "run2"}) || next == "" {
		t.Fatalf("page %v next %q", ids, next)
	}
	if entries[0].Changes != nil || entries[2].Changes != nil {
		t.Errorf("a running job and a refused slot have changes: %+v %+v", entries[0].Changes, entries[2].Changes)
	}
	c := entries[1].Changes
	if c == nil || c.Previous != "run1" {
		t.Fatalf("run3's changes %+v, want against run1 (past the refused run2)", c)
	}
	if len(c.NewValues) != 0 {
		t.Errorf("run3's new values %v, want none (1.1 and 1.0 were there)", c.NewValues)
	}
	ch := c.ChangedHosts
	if ch.Count != 2 || ch.Folded != "web-[05,09]" || !ch.Complete || ch.Scanned != 10 ||
		!slices.Equal(ch.Sample, []store.HostChange{{Host: "web-05", From: "1.0", To: "1.1"}, {Host: "web-09", From: "2.0", To: "1.0"}}) {
		t.Errorf("run3's changed hosts %+v", ch)
	}
	// The next page: run1 against run0, run0 against nothing.
	entries, next, err = History(ctx, st, "q", next, 3)
	if err != nil || len(entries) != 2 || next != "" {
		t.Fatalf("second page: %d entries, next %q, %v", len(entries), next, err)
	}
	c = entries[0].Changes
	if c == nil || c.Previous != "run0" || !slices.Equal(c.NewValues, []string{"1.1", "2.0"}) || c.ChangedHosts.Count != 4 ||
		c.ChangedHosts.Folded != "web-[02-04,09]" {
		t.Errorf("run1's changes %+v", c)
	}
	if entries[1].Changes != nil {
		t.Errorf("the first run has changes: %+v", entries[1].Changes)
	}
}
