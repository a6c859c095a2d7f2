package bench

import (
	"strings"
	"testing"
	"time"
)

// TestRunMixedCompare runs only the mixed fleet comparison, small: both
// rows must be reported with their error classes and notes (the rate
// ratio is reported, not checked: performance goals are not enforced by
// timed tests).
func TestRunMixedCompare(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes and sends real requests")
	}
	cfg := smallConfig(t, buildSalvo(t))
	cfg.Sizes = nil
	cfg.Concurrency = 60
	cfg.Mixed.Only = true
	cfg.Mixed.Targets = 300
	cfg.Mixed.RequestTimeout = time.Second
	on, off, rep, table := runOnOffScenario(t, cfg, 300)
	for _, row := range []*Row{on, off} {
		if row.Rate <= 0 || row.Targets-row.Errors != 100 {
			t.Errorf("%s: %.0f targets/s, %d ok; want a rate and the 100 healthy hosts ok", row.Scenario, row.Rate, row.Targets-row.Errors)
		}
		if row.ErrorClasses["connect_refused"] != 100 || row.ErrorClasses["timeout"] != 100 {
			t.Errorf("%s: error classes %v, want 100 connect_refused and 100 timeout", row.Scenario, row.ErrorClasses)
		}
		if len(row.Notes) == 0 || !strings.HasPrefix(row.Notes[0], "mixed fleet: 100 healthy") {
			t.Errorf("%s: notes %q, want the fleet's make-up first", row.Scenario, row.Notes)
		}
	}
	if !strings.Contains(table, "× the unthrottled job's targets/s") {
		t.Errorf("table lacks the rate ratio:\n%s", table)
	}
	if rep.Failed() {
		t.Error("the mixed fleet's errors made the report fail")
	}
}
