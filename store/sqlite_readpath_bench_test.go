package store

import (
	"fmt"
	"runtime"
	"runtime/metrics"
	"testing"
	"time"

	"github.com/salvo-sh/salvo/job"
)

// readPathResults returns benchResults(first, n) with every tenth result a
// refused connection (no body, value connect_refused): the job has eight
// groups by value, seven of 1.0 ... 1.6 and one of errors.
func readPathResults(first, n int) []job.Result {
	rs := benchResults(first, n)
	for i := range rs {
		if r := &rs[i]; r.Index%10 == 0 {
			r.State, r.StatusCode, r.Body, r.BodyBytes = job.StateError, 0, "", 0
			r.ErrorClass, r.Error, r.Value = job.ClassConnectRefused, "dial tcp: connection refused", job.ClassConnectRefused
		}
	}
	return rs
}

// heapPeak runs f and returns the most heap (live and not yet swept
// objects) it saw above the heap before f, sampled every 100 µs.
func heapPeak(f func()) uint64 {
	runtime.GC()
	read := func() uint64 {
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		metrics.Read(s)
		return s[0].Value.Uint64()
	}
	base := read()
	stop, stopped := make(chan struct{}), make(chan uint64)
	go func() {
		t := time.NewTicker(100 * time.Microsecond)
		defer t.Stop()
		var peak uint64
		for {
			select {
			case <-stop:
				stopped <- max(peak, read())
				return
			case <-t.C:
				peak = max(peak, read())
			}
		}
	}()
	f()
	close(stop)
	if peak := <-stopped; peak > base {
		return peak - base
	}
	return 0
}

// BenchmarkReadPath times the API's read paths over one stored job of
// 10,000 and one of 1,000,000 results (~1 KiB bodies; the 1M job takes
// about 20 s to build and 1.3 GB of disk, and is skipped with -short):
//
//   - resultsPage: 100 results with state=error from the middle of the
//     job (a cursor), through the state's index;
//   - resultsPage/states: the same with state=error,timeout,failed (a
//     merge of the three states' indexes);
//   - groupPage: 100 results of the group value=1.3 from the middle;
//   - groupPage/state: 100 results of the group status=error (an index);
//   - groupPage/absent: a page of a group with no result, the worst case:
//     it reads MaxGroupScan indexes (or the whole job when smaller);
//   - aggregate/value, aggregate/body, aggregate/stderr: the eight groups
//     by value, the groups by body (one per result but the errors': the
//     bodies differ), the two by stderr, each with its first MaxGroupHosts
//     hosts;
//   - aggregate/value/finished: the same once the job is terminal, its
//     groups kept after the first answer.
//
// Each reports the hosts or rows it answers; the aggregates also the peak
// heap of one answer (heap-MiB): their time grows with the job (they read
// every result), their memory and answer do not.
//
//	go test -run='^$' -bench=ReadPath -benchtime=20x ./store/
func BenchmarkReadPath(b *testing.B) {
	for _, n := range []int{10_000, 1_000_000} {
		b.Run(fmt.Sprintf("results=%d", n), func(b *testing.B) {
			if n > 10_000 && testing.Short() {
				b.Skip("-short: no job of 1,000,000 results")
			}
			s, _ := openTestStore(b)
			ctx := b.Context()
			const batch = 10_000
			for i := 0; i < n; i += batch {
				if _, err := s.PutResults(ctx, benchJobID, readPathResults(i, min(batch, n-i))); err != nil {
					b.Fatal(err)
				}
			}
			mid := n / 2
			page := func(name string, f func() (int, error)) {
				b.Run(name, func(b *testing.B) {
					rows := 0
					for b.Loop() {
						var err error
						if rows, err = f(); err != nil {
							b.Fatal(err)
						}
					}
					b.ReportMetric(float64(rows), "rows/op")
				})
			}
			page("resultsPage", func() (int, error) {
				rs, next, err := s.Results(ctx, benchJobID, ResultQuery{States: []string{job.StateError}, Cursor: mid + 1, Limit: 100})
				if err == nil && (len(rs) != 100 || next == 0) {
					err = fmt.Errorf("page of %d, next %d", len(rs), next)
				}
				return len(rs), err
			})
			page("resultsPage/states", func() (int, error) {
				q := ResultQuery{States: []string{job.StateError, job.StateTimeout, job.StateFailed}, Cursor: mid + 1, Limit: 100}
				rs, next, err := s.Results(ctx, benchJobID, q)
				if err == nil && (len(rs) != 100 || next == 0) {
					err = fmt.Errorf("page of %d, next %d", len(rs), next)
				}
				return len(rs), err
			})
			group := func(name string, q GroupQuery, want int) {
				q.Cursor, q.Limit = mid+1, 100
				page(name, func() (int, error) {
					rows, _, err := s.GroupResults(ctx, benchJobID, q)
					if err == nil && len(rows) != want {
						err = fmt.Errorf("page of %d, want %d", len(rows), want)
					}
					return len(rows), err
				})
			}
			group("groupPage", GroupQuery{By: ByValue, Value: "1.3"}, 100)
			group("groupPage/state", GroupQuery{By: ByStatus, Value: job.StateError}, 100)
			group("groupPage/absent", GroupQuery{By: ByValue, Value: "nope"}, 0)
			for _, by := range []string{ByValue, ByBody, ByStderr} {
				b.Run("aggregate/"+by, func(b *testing.B) {
					aggregate := func() (hosts int) {
						groups, err := s.Aggregate(ctx, benchJobID, by, 100)
						if err != nil || len(groups) == 0 {
							b.Fatalf("Aggregate: %d groups, %v", len(groups), err)
						}
						for _, g := range groups {
							hosts += len(g.Hosts)
						}
						return hosts
					}
					var hosts int
					peak := heapPeak(func() { hosts = aggregate() })
					for b.Loop() {
						aggregate()
					}
					b.ReportMetric(float64(hosts), "hosts/op")
					b.ReportMetric(float64(peak)/(1<<20), "heap-MiB")
				})
			}
			// A terminal job: the first answer reads every result and keeps
			// the groups, every later one reads them back.
			b.Run("aggregate/value/finished", func(b *testing.B) {
				jr := &Job{ID: benchJobID, State: JobGathered, Spec: &job.Spec{}, Counts: map[string]int{}, CreatedAt: time.Now()}
				if err := s.CreateJob(ctx, jr, []job.TargetSpec{{Host: "h"}}, 10); err != nil {
					b.Fatal(err)
				}
				if _, err := s.Aggregate(ctx, benchJobID, ByValue, 100); err != nil {
					b.Fatal(err)
				}
				for b.Loop() {
					if groups, err := s.Aggregate(ctx, benchJobID, ByValue, 100); err != nil || len(groups) == 0 {
						b.Fatalf("Aggregate: %d groups, %v", len(groups), err)
					}
				}
			})
		})
	}
}
