package server

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/salvo-sh/salvo/conf"
	"github.com/salvo-sh/salvo/fleet"
	"github.com/salvo-sh/salvo/internal/testutil"
	"github.com/salvo-sh/salvo/store"
)

// historyPage is GET /api/v1/schedules/NAME/history's answer.
type historyPage struct {
	Items []struct {
		Slot time.Time
		Job  struct {
			ID, State, Schedule string
			Total               int
		}
		Changes *struct {
			Previous     string
			NewValues    []string
			ChangedHosts struct {
				Count    int
				Folded   string
				Sample   []store.HostChange
				Complete bool
			}
		}
	}
}

// A real node runs an "@every 1s" schedule against the fleet: each slot
// once, as an ordinary job linked to it and submitted by
// "schedule:NAME"; when two hosts of its node group start refusing, the
// history shows the run where their values changed, and no change after.
func TestScheduleRunsOnANode(t *testing.T) {
	f := testutil.StartFleet(t, func(c *fleet.Config) { c.Hosts = 6 })
	cfg := conf.DefaultConfig()
	cfg.Name, cfg.HTTPAddr, cfg.DataDir, cfg.ShutdownTimeout = "sched-1", "127.0.0.1:0", t.TempDir(), 20*time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv, err := Start(ctx, cfg, testutil.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = srv.Shutdown()
		}
	})
	api := "http://" + srv.Addr().String() + "/api/v1"
	hosts := fleet.Targets(6, f.Addr().Port)
	put := func(path string, body any) {
		t.Helper()
		if code := testutil.DoJSON(t, http.MethodPut, api+path, body, nil); code != http.StatusOK {
			t.Fatalf("PUT %s: %d", path, code)
		}
	}
	put("/nodegroups/fleet", map[string]any{"hosts": hosts})
	put("/schedules/every", map[string]any{"cron": "@every 1s", "nodeGroup": "fleet",
		"spec": map[string]any{"http": map[string]any{"path": "/"}, "aggregation": map[string]any{"regex": `version=(\S+)`},
			"timeouts": map[string]any{"connect": "1s"}}})

	// runsEnded waits (bounded) until n runs of the schedule have ended.
	runsEnded := func(n int) historyPage {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			var h historyPage
			if code := testutil.DoJSON(t, http.MethodGet, api+"/schedules/every/history?limit=100", nil, &h); code != http.StatusOK {
				t.Fatalf("history: %d", code)
			}
			ended := 0
			for _, it := range h.Items {
				if store.Terminal(it.Job.State) {
					ended++
				}
			}
			if ended >= n {
				return h
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d runs ended after 20 s, want %d: %+v", ended, n, h.Items)
			}
			time.Sleep(100 * time.Millisecond) // the scheduler's runs have no outside signal
		}
	}
	before := len(runsEnded(2).Items)
	// Hosts 1 and 4 now point at a closed port: their value becomes the
	// error class.
	changed := slices.Clone(hosts)
	for _, i := range []int{1, 4} {
		changed[i] = fleet.HostAddr(i) + ":1"
	}
	put("/nodegroups/fleet", map[string]any{"hosts": changed})
	runsEnded(before + 3)
	put("/schedules/every", map[string]any{"cron": "@every 1s", "nodeGroup": "fleet", "enabled": false,
		"spec": map[string]any{"http": map[string]any{"path": "/"}}})
	if err := srv.Shutdown(); err != nil { // the scheduler stops with the part
		t.Fatalf("shutdown: %v", err)
	}
	stopped = true

	local, err := store.OpenSQLite(store.DefaultSQLiteConfig(cfg.DataDir))
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	runs, _, err := local.ScheduleRuns(context.Background(), store.RunQuery{Schedule: "every"})
	if err != nil {
		t.Fatal(err)
	}
	var slotsSeen []time.Time
	for _, j := range runs {
		if j.SubmittedBy != "schedule:every" || j.Manual || j.Total != 6 || j.Slot.Nanosecond() != 0 {
			t.Errorf("run %s: %+v", j.ID, j)
		}
		if slices.ContainsFunc(slotsSeen, j.Slot.Equal) {
			t.Errorf("slot %s has two jobs", j.Slot)
		}
		slotsSeen = append(slotsSeen, j.Slot)
	}

	// The history, oldest first: one run shows the change, none after it.
	srv2, err := Start(context.Background(), cfg, testutil.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer srv2.Shutdown()
	var h historyPage
	api = "http://" + srv2.Addr().String() + "/api/v1"
	if code := testutil.DoJSON(t, http.MethodGet, api+"/schedules/every/history?limit=100", nil, &h); code != http.StatusOK {
		t.Fatalf("history: %d", code)
	}
	slices.Reverse(h.Items)
	seen := false
	for _, it := range h.Items {
		c := it.Changes
		if c == nil || c.ChangedHosts.Count == 0 {
			continue
		}
		if seen {
			t.Errorf("run %s changed too: %+v", it.Job.ID, c)
			continue
		}
		seen = true
		want := []store.HostChange{{Host: fleet.HostAddr(1), From: fleet.Version(1), To: "connect_refused"},
			{Host: fleet.HostAddr(4), From: fleet.Version(4), To: "connect_refused"}}
		if c.ChangedHosts.Count != 2 || c.ChangedHosts.Folded != "127.1.0.[1,4]" || !c.ChangedHosts.Complete ||
			!slices.Equal(c.ChangedHosts.Sample, want) || fmt.Sprint(c.NewValues) != "[connect_refused]" {
			t.Errorf("the run where two hosts changed: %+v", c)
		}
	}
	if !seen {
		t.Errorf("no run shows the change: %+v", h.Items)
	}
}
