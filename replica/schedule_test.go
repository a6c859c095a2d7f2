package replica

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/salvo-sh/salvo/internal/testutil"
	"github.com/salvo-sh/salvo/job"
	"github.com/salvo-sh/salvo/schedule"
	"github.com/salvo-sh/salvo/store"
)

// storeSubmit stores a run's job through rs as the engine does
// (Engine.create: the job's row and chunks in the log's entries, the
// run linked), and records what each submit answered.
func storeSubmit(rs *Store, answers *[]error) schedule.SubmitFunc {
	return func(ctx context.Context, spec *job.Spec, run schedule.Run) (string, error) {
		j := &store.Job{ID: job.NewID(), Name: spec.Name, Spec: spec, State: store.JobWaiting, Counts: map[string]int{},
			CreatedAt: time.Now(), Schedule: run.Schedule, Slot: run.Slot, Manual: run.Manual}
		err := rs.CreateJob(ctx, j, targets(3), 2)
		*answers = append(*answers, err)
		return j.ID, err
	}
}

// A slot runs once across leaders: the first leader's scheduler stores
// the slot's job through the log and dies; the new leader's scheduler
// sees it and submits nothing, one that submits it anyway (its reads a
// step behind) is refused by the log's apply on every master, and the
// slots missed while no leader ran are run once, the latest (catchUp
// once). Every master holds the same jobs, one per slot.
func TestScheduleSlotOnceAcrossLeaders(t *testing.T) {
	ns := group(t, 0)
	ctx := context.Background()
	t0 := time.Date(2026, 1, 10, 10, 0, 0, 0, time.UTC)
	first := leaderOf(t, ns)
	for _, d := range []struct{ kind, name, body string }{
		{store.KindCommand, "uptime", `{"protocol":"ssh","ssh":{"command":"uptime"}}`},
		{store.KindNodeGroup, "web", `{"hosts":["web-1"]}`},
	} {
		if err := first.rs.PutDefinition(ctx, d.kind, d.name, []byte(d.body)); err != nil {
			t.Fatal(err)
		}
	}
	def, _ := json.Marshal(schedule.Definition{Cron: "* * * * *", Command: "uptime", NodeGroup: "web", Enabled: true,
		CatchUp: schedule.CatchUpOnce, Timezone: "UTC", UpdatedAt: t0})
	if err := first.rs.PutDefinition(ctx, store.KindSchedule, "m", def); err != nil {
		t.Fatal(err)
	}
	newScheduler := func(rs store.Store, answers *[]error, own *Store) *schedule.Scheduler {
		cfg := schedule.DefaultConfig()
		cfg.Store, cfg.Submit, cfg.Logger = rs, storeSubmit(own, answers), testutil.Logger(t)
		return schedule.New(cfg)
	}
	var a []error
	newScheduler(first.rs, &a, first.rs).Tick(ctx, t0.Add(time.Minute+100*time.Millisecond))
	if len(a) != 1 || a[0] != nil {
		t.Fatalf("the first leader's submits: %v", a)
	}
	first.stop(t) // killed after the slot's entry committed

	second := leaderOf(t, ns)
	if err := second.g.Barrier(ctx); err != nil { // as haPart.lead does
		t.Fatal(err)
	}
	var b []error
	newScheduler(second.rs, &b, second.rs).Tick(ctx, t0.Add(time.Minute+2*time.Second))
	if len(b) != 0 {
		t.Errorf("the new leader submitted the decided slot: %v", b)
	}
	// A scheduler whose store shows no run yet: the log refuses its job.
	var c []error
	newScheduler(blindStore{second.rs}, &c, second.rs).Tick(ctx, t0.Add(time.Minute+3*time.Second))
	if len(c) != 1 || !errors.Is(c[0], store.ErrSlotTaken) {
		t.Errorf("the blind scheduler's submits: %v, want one refused with ErrSlotTaken", c)
	}
	// No leader ran from 10:02 to 10:04: the latest missed slot runs once.
	var d []error
	newScheduler(second.rs, &d, second.rs).Tick(ctx, t0.Add(4*time.Minute+500*time.Millisecond))
	if len(d) != 1 || d[0] != nil {
		t.Errorf("the catch-up's submits: %v, want one", d)
	}

	applied := second.rs.AppliedIndex()
	want := []time.Time{t0.Add(4 * time.Minute), t0.Add(time.Minute)}
	for _, n := range ns {
		if n.g == nil {
			continue
		}
		caughtUp(t, n, applied)
		runs, _, err := n.local.ScheduleRuns(ctx, store.RunQuery{Schedule: "m"})
		if err != nil {
			t.Fatal(err)
		}
		var got []time.Time
		for _, r := range runs {
			got = append(got, r.Slot)
			if total, _ := n.local.ChunkCount(ctx, r.ID); total != 2 {
				t.Errorf("%s: job %s has %d chunks, want 2", n.name, r.ID, total)
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: slots %v, want %v (one job each)", n.name, got, want)
		}
	}
}

// blindStore is a replica whose reads are behind: it shows no run of any
// schedule and no state.
type blindStore struct{ *Store }

func (blindStore) ScheduleRuns(context.Context, store.RunQuery) ([]*store.Job, string, error) {
	return nil, "", nil
}

func (b blindStore) GetDefinition(ctx context.Context, kind, name string) ([]byte, error) {
	if kind == store.KindScheduleState {
		return nil, store.ErrNotFound
	}
	return b.Store.GetDefinition(ctx, kind, name)
}
