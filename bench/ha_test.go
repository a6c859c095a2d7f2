package bench

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// TestRunHA runs the HA scenario small beside the single node: 3 masters
// in a Raft group and 3 workers on 3,000 targets, then the Raft ingest
// load; every row must be there with its Raft figures, and every process
// gone at the end (the goal is reported, not checked: performance goals
// are not enforced by timed tests).
func TestRunHA(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes and sends real requests")
	}
	cfg := smallConfig(t, buildSalvo(t))
	cfg.Sizes = []int{3000}
	cfg.Rounds = 1
	cfg.XargsTargets = 0
	cfg.ClusterWorkers = 0
	cfg.HA.Enabled = true
	cfg.HA.IngestResults = 2000
	cfg.HA.IngestBatch = 250
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	rep, err := Run(ctx, cfg)
	if rep != nil {
		defer assertGone(t, rep.ChildPIDs)
	}
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	// The fleet, the single node, and the HA cluster's masters and workers.
	if want := 2 + cfg.HA.Masters + cfg.HA.Workers; len(rep.ChildPIDs) != want {
		t.Errorf("child pids %v, want %d", rep.ChildPIDs, want)
	}
	var table bytes.Buffer
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", table.String())

	ha := rep.Row(haJobScenario(cfg), 3000)
	if ha == nil {
		t.Fatalf("no HA row in %+v", rep.Rows)
	}
	if ha.Errors != 0 || ha.Rate <= 0 || ha.VsSingle <= 0 || ha.Raft == nil {
		t.Fatalf("HA row %+v: want no errors, a rate, a ratio to the single node and raft figures", ha)
	}
	if rf := ha.Raft; rf.Entries == 0 || rf.ResultsPerEntry <= 0 || rf.CatchUpSeconds < 0 || rf.Leader == "" {
		t.Errorf("HA raft figures %+v: want entries, results per entry, a leader and followers caught up", rf)
	}
	store, raft := rep.Row(ScenarioStoreIngest, 2000), rep.Row(ScenarioRaftIngest+"(3)", 2000)
	if store == nil || raft == nil {
		t.Fatalf("ingest rows %v, %v: want both", store, raft)
	}
	if store.Rate <= 0 || raft.Rate <= 0 || raft.VsStore <= 0 || store.Errors+raft.Errors != 0 {
		t.Errorf("ingest rows %+v, %+v: want rates, a ratio and no errors", store, raft)
	}
	if rf := raft.Raft; rf == nil || rf.Entries < 2000/250 || rf.CatchUpSeconds < 0 {
		t.Errorf("raft ingest figures %+v: want an entry per batch at least, followers caught up", rf)
	}
	if raft.Ratio != 0 || store.Ratio != 0 {
		t.Errorf("ingest rows have ratios to the loop: %v, %v", store.Ratio, raft.Ratio)
	}
	for _, s := range []string{"salvo-ha(3+3) ", "× the single node's targets/s", "goal ≥ 0.6", "# raft ingest:",
		"raft-ingest(3) ", "store-ingest ", "raft on the leader"} {
		if !strings.Contains(table.String(), s) {
			t.Errorf("table lacks %q", s)
		}
	}
	if rep.Config.HA == nil || rep.Config.HA.Masters != 3 {
		t.Errorf("report config HA %+v", rep.Config.HA)
	}
	if rep.Failed() {
		t.Error("report says failed")
	}
}
