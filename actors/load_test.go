package actors_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/salvo-sh/salvo/actors"
	"github.com/salvo-sh/salvo/fleet"
	salvotest "github.com/salvo-sh/salvo/internal/testutil"
	"github.com/salvo-sh/salvo/store"
)

// The load snapshot per tag and per worker, as Engine.Load, GET
// /api/v1/cluster/load and /metrics give it: a job holding the whole
// capacity of tag a, one waiting behind it, one waiting for a tag no
// worker has, and a disabled idle worker of tag b.
func TestLoadPerTag(t *testing.T) {
	f := salvotest.StartFleet(t, func(c *fleet.Config) {
		c.Hosts = 10
		c.LatencyMin, c.LatencyMax = 3*time.Second, 3*time.Second // holds the capacity while the test reads
	})
	n := salvotest.StartNode(t, func(c *actors.Config) { c.Capacity, c.Tags = 10, []string{"a"} })
	eng, ctx := n.Engine, context.Background()
	wc := actors.DefaultWorkerConfig()
	wc.Name, wc.Tags, wc.Capacity, wc.Logger = "w", []string{"b"}, 20, salvotest.Logger(t)
	if _, err := eng.System().Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor {
		return actors.NewWorker(wc, eng.MasterPID())
	}), "worker-w"); err != nil {
		t.Fatal(err)
	}
	waitMembers(t, eng, 2)
	if _, err := eng.SetEnabled(ctx, "w", false); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, j := range []struct {
		tag  string
		conc int
	}{{"a", 10}, {"a", 5}, {"zzz", 1}} {
		s := spec(fleet.Targets(10, f.Addr().Port), j.conc)
		s.Tags = []string{j.tag}
		st, err := eng.Submit(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, st.ID)
	}
	t.Cleanup(func() {
		for _, id := range ids {
			_, _ = eng.Cancel(ctx, id)
		}
	})
	if st, _ := eng.Status(ctx, ids[0]); st.State != store.JobProcessing {
		t.Fatalf("the first job does not run: %+v", st)
	}

	l, err := eng.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]actors.TagLoad{
		actors.AnyTag: {Tag: "*", Waiting: 2, Workers: 2, Enabled: 1, Capacity: 10, Reserved: 10, Free: 0},
		"a":           {Tag: "a", Waiting: 1, Workers: 1, Enabled: 1, Capacity: 10, Reserved: 10, Free: 0},
		"b":           {Tag: "b", Workers: 1},
		"zzz":         {Tag: "zzz", Waiting: 1},
	}
	if len(l.Tags) != len(want) {
		t.Fatalf("tags %+v, want %d of them", l.Tags, len(want))
	}
	for i, got := range l.Tags {
		if i > 0 && l.Tags[i-1].Tag >= got.Tag {
			t.Errorf("tags out of order: %+v", l.Tags)
		}
		w := want[got.Tag]
		if got.Waiting > 0 && got.OldestWaitingSeconds <= 0 {
			t.Errorf("tag %s: jobs wait, the oldest for %v s", got.Tag, got.OldestWaitingSeconds)
		}
		got.OldestWaitingSeconds, got.InFlight = 0, 0 // their values depend on timing
		if got != w {
			t.Errorf("tag %s: %+v, want %+v", got.Tag, got, w)
		}
	}
	if all, a := l.Tag(actors.AnyTag), l.Tag("a"); all.OldestWaitingSeconds < a.OldestWaitingSeconds {
		t.Errorf("the whole cluster's oldest wait %v is below tag a's %v", all.OldestWaitingSeconds, a.OldestWaitingSeconds)
	}
	local, ok := l.Worker("node-a")
	if !ok || !local.Master || !local.Enabled || local.Reserved != 10 || local.RunningJobs != 1 || local.Idle() || local.IdleSeconds != 0 {
		t.Errorf("the busy local worker: %+v", local)
	}
	w, ok := l.Worker("w")
	if !ok || w.Master || w.Enabled || !w.Idle() || w.IdleSeconds <= 0 || w.Capacity != 20 {
		t.Errorf("the disabled idle worker: %+v", w)
	}

	// The API answers the same figures.
	var got actors.Load
	if code := salvotest.DoJSON(t, "GET", n.URL+"/api/v1/cluster/load", nil, &got); code != http.StatusOK {
		t.Fatalf("GET /api/v1/cluster/load: %d", code)
	}
	if len(got.Tags) != 4 || got.Tag("a").Waiting != 1 || got.Tag("a").Free != 0 || len(got.Workers) != 2 {
		t.Errorf("the API's load: %+v", got)
	}

	// And /metrics, once the collector is registered.
	n.Registry.MustRegister(actors.NewLoadCollector(eng.Load))
	body := scrape(t, n.URL)
	for _, m := range []struct {
		name, labels string
		value        float64
	}{
		{"salvo_queue_jobs", `tag="a"`, 1},
		{"salvo_queue_jobs", `tag="*"`, 2},
		{"salvo_capacity_reserved", `tag="a"`, 10},
		{"salvo_capacity_free", `tag="a"`, 0},
		{"salvo_capacity", `tag="*"`, 10},
		{"salvo_workers", `state="disabled",tag="b"`, 1},
		{"salvo_workers", `state="enabled",tag="a"`, 1},
	} {
		line := m.name + "{" + m.labels + "} "
		if !strings.Contains(body, line) {
			t.Errorf("/metrics lacks %s:\n%s", line, body)
			continue
		}
		if !strings.Contains(body, line+fmt.Sprint(m.value)+"\n") {
			t.Errorf("/metrics: %s is not %v", line, m.value)
		}
	}
	if c := strings.Count(body, "\nsalvo_queue_oldest_seconds{") + strings.Count(body, "\nsalvo_tag_requests_in_flight{"); c != 8 {
		t.Errorf("oldest and in-flight gauges: %d series, want 2 × 4 tags", c)
	}
}

func scrape(t *testing.T, url string) string {
	t.Helper()
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A disabled worker that is gone (stopped by a scaler's hook) can be
// enabled again by name, so that a worker of that name that comes later
// takes jobs; an unknown name is still refused.
func TestEnableTheNameOfAGoneWorker(t *testing.T) {
	n := salvotest.StartNode(t, nil)
	eng, ctx := n.Engine, context.Background()
	wc := actors.DefaultWorkerConfig()
	wc.Name, wc.Logger = "w", salvotest.Logger(t)
	if _, err := eng.System().Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor {
		return actors.NewWorker(wc, eng.MasterPID())
	}), "worker-w"); err != nil {
		t.Fatal(err)
	}
	waitMembers(t, eng, 2)
	if _, err := eng.SetEnabled(ctx, "w", false); err != nil {
		t.Fatal(err)
	}
	eng.WorkerLost("w", "stopped by a test")
	waitMembers(t, eng, 1)
	if _, err := eng.SetEnabled(ctx, "w", true); err != nil {
		t.Errorf("enable the gone worker's name: %v", err)
	}
	if _, err := eng.SetEnabled(ctx, "w", true); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("enable an unknown name that is not disabled: %v, want not found", err)
	}
	if _, err := eng.SetEnabled(ctx, "ghost", false); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("disable an unknown name: %v, want not found", err)
	}
}
