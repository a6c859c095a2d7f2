package actors

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/salvo-sh/salvo/actors/wire"
	"github.com/salvo-sh/salvo/job"
	"github.com/salvo-sh/salvo/store"
)

// slowStore is a real store whose result writes take a while, as a
// replicated one's commit round does; it records how many run at once and
// whether a job record was written while results were.
type slowStore struct {
	store.Store
	now, peak  atomic.Int32
	overlapped atomic.Bool
}

func (s *slowStore) PutResults(ctx context.Context, id string, rs []job.Result) (map[string]int, error) {
	n := s.now.Add(1)
	defer s.now.Add(-1)
	for p := s.peak.Load(); n > p && !s.peak.CompareAndSwap(p, n); p = s.peak.Load() {
	}
	time.Sleep(20 * time.Millisecond) // the store's own latency, not a synchronisation
	return s.Store.PutResults(ctx, id, rs)
}

func (s *slowStore) UpdateJob(ctx context.Context, j *store.Job) error {
	if s.now.Load() > 0 {
		s.overlapped.Store(true)
	}
	return s.Store.UpdateJob(ctx, j)
}

// The writer stores result batches in parallel when told to, and a job's
// record still waits for every result queued before it.
func TestWriterParallel(t *testing.T) {
	for _, tc := range []struct {
		parallel int
		wantPeak int32
	}{{1, 1}, {4, 4}} {
		local, err := store.OpenSQLite(store.DefaultSQLiteConfig(t.TempDir()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = local.Close() })
		ctx := context.Background()
		j := &store.Job{ID: "j", Spec: &job.Spec{Protocol: "http"}, State: store.JobProcessing, Counts: map[string]int{}, CreatedAt: time.Now()}
		var targets []job.TargetSpec
		for range 8 {
			targets = append(targets, job.TargetSpec{Host: "h:80"})
		}
		if err := local.CreateJob(ctx, j, targets, 0); err != nil {
			t.Fatal(err)
		}
		st := &slowStore{Store: local}
		system := actor.NewActorSystem()
		var mu sync.Mutex
		stored := 0
		done := make(chan struct{})
		probe := system.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
			if _, ok := c.Message().(*batchStored); ok {
				mu.Lock()
				stored++
				if stored == 8 {
					close(done)
				}
				mu.Unlock()
			}
		}))
		w := newWriter(st, system.Root, probe, slog.New(slog.DiscardHandler), 64, tc.parallel)
		for i := range 8 {
			w.submit(writeResults{batch: &ResultBatch{JobId: "j", Worker: "w", Seq: int64(i),
				Results: []*wire.Result{{Index: int64(i), Host: "h", State: job.StateOK}}}})
		}
		w.submit(writeJob{job: *j})
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Fatalf("parallel %d: the batches were not stored", tc.parallel)
		}
		w.close()
		if p := st.peak.Load(); p != tc.wantPeak {
			t.Errorf("parallel %d: %d result writes at once, want %d", tc.parallel, p, tc.wantPeak)
		}
		if st.overlapped.Load() {
			t.Errorf("parallel %d: the job record was written while results queued before it were", tc.parallel)
		}
		if cs, _ := local.CountResults(ctx, "j"); cs[job.StateOK] != 8 {
			t.Errorf("parallel %d: stored %v", tc.parallel, cs)
		}
		system.Shutdown()
	}
}
