package store

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/salvo-sh/salvo/job"
)

// benchJobID is shaped like a generated job id.
const benchJobID = "0b5e7d3c-6a41-4f0e-9d3b-8c2f1e4a7b90"

// benchResults returns n results from index first on, with ~1 KiB bodies.
func benchResults(first, n int) []job.Result {
	return benchResultsPad(first, n, 1000)
}

// benchResultsPad returns n results from index first on, with bodies of
// about 24 + pad bytes.
func benchResultsPad(first, n, pad int) []job.Result {
	padding := strings.Repeat("x", pad)
	now := time.Now()
	rs := make([]job.Result, n)
	for i := range rs {
		idx := first + i
		host := fmt.Sprintf("10.%d.%d.%d", idx>>16&255, idx>>8&255, idx&255)
		rs[i] = job.Result{
			Index: idx, Host: host, Target: "http://" + host + ":80/status", State: job.StateOK,
			StatusCode: 200, LatencyMs: 1.5, Body: fmt.Sprintf("host=%s version=1.%d\n%s", host, idx%7, padding),
			BodyBytes: int64(24 + pad), Attempts: 1, Worker: "node-a", Value: fmt.Sprintf("1.%d", idx%7),
			StartedAt: now, FinishedAt: now,
		}
	}
	return rs
}

// cpuTime is the CPU time (user and system) the process has used so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkPutResults stores batches of 500 results with ~1 KiB bodies and
// reports results/s (wall clock) and the process's CPU time per result, a
// measure that other load on the machine disturbs less.
func BenchmarkPutResults(b *testing.B) { benchmarkPutResults(b, 1000) }

// BenchmarkPutResultsSmall is BenchmarkPutResults with bodies of about 30
// bytes, where the cost per row outweighs the cost per byte (nginx's
// "ok\n" in `salvo bench --target-server nginx`).
func BenchmarkPutResultsSmall(b *testing.B) { benchmarkPutResults(b, 6) }

func benchmarkPutResults(b *testing.B, pad int) {
	const batch = 500
	s, _ := openTestStore(b)
	ctx := testCtx(b)
	batches := make([][]job.Result, 20) // 10,000 results per iteration
	var cpu time.Duration
	b.ResetTimer()
	for n := range b.N {
		b.StopTimer()
		for i := range batches {
			batches[i] = benchResultsPad((n*len(batches)+i)*batch, batch, pad)
		}
		c0 := cpuTime(b)
		b.StartTimer()
		for _, rs := range batches {
			counts, err := s.PutResults(ctx, benchJobID, rs)
			if err != nil {
				b.Fatal(err)
			}
			if counts[job.StateOK] != batch {
				b.Fatalf("stored %v", counts)
			}
		}
		b.StopTimer()
		cpu += cpuTime(b) - c0
		b.StartTimer()
	}
	b.StopTimer()
	total := float64(b.N * len(batches) * batch)
	b.ReportMetric(total/b.Elapsed().Seconds(), "results/s")
	b.ReportMetric(float64(cpu.Microseconds())/total, "cpu-µs/result")
}

// BenchmarkAggregate groups 100,000 results by each key.
func BenchmarkAggregate(b *testing.B) {
	s, _ := openTestStore(b)
	ctx := testCtx(b)
	for i := 0; i < 100_000; i += 1000 {
		if _, err := s.PutResults(ctx, benchJobID, benchResults(i, 1000)); err != nil {
			b.Fatal(err)
		}
	}
	for _, by := range []string{ByValue, ByStatus, ByErrorClass, ByBody} {
		b.Run(by, func(b *testing.B) {
			for b.Loop() {
				groups, err := s.Aggregate(ctx, benchJobID, by, 100)
				if err != nil {
					b.Fatal(err)
				}
				if len(groups) == 0 {
					b.Fatal("no groups")
				}
			}
		})
	}
}

// TestPutResultsPlainAndRich stores a batch that mixes results the plain
// statements store (state ok, no error, stderr or exit code, not
// truncated) with every kind of other one, across several groups, and
// reads every field back. The insert path's tests live here, beside its
// benchmark.
func TestPutResultsPlainAndRich(t *testing.T) {
	s, _ := openTestStore(t)
	ctx := testCtx(t)
	var in []job.Result
	for i := range 150 {
		r := makeResult(i, job.StateOK)
		switch i % 10 {
		case 1:
			r.ExitCode = intp(0)
		case 2:
			r.Truncated = true
		case 3:
			r.ErrorClass = "odd" // an ok result with a class: still stored as is
		case 4:
			r.Error = "warning"
		case 5:
			r.Stderr = "noise"
		case 6:
			r = makeResult(i, job.StateTimeout)
		case 7:
			r.Attempts, r.StatusCode, r.Worker = 3, 204, "node-b" // plain, other values
		}
		if !isPlain(&r) && i%10 == 0 {
			t.Fatalf("result %d should be plain", i)
		}
		in = append(in, r)
	}
	want := map[string]int{}
	for _, r := range in {
		want[r.State]++
	}
	got, err := s.PutResults(ctx, "j", in)
	if err != nil {
		t.Fatalf("PutResults: %v", err)
	}
	if !maps.Equal(got, want) {
		t.Errorf("PutResults = %v, want %v", got, want)
	}
	stored, _, err := s.Results(ctx, "j", ResultQuery{Limit: 1000})
	if err != nil {
		t.Fatalf("Results: %v", err)
	}
	if len(stored) != len(in) {
		t.Fatalf("%d results stored, want %d", len(stored), len(in))
	}
	for i := range in {
		if w := wantStored(in[i]); !reflect.DeepEqual(stored[i], w) {
			t.Errorf("result %d:\n got %+v\nwant %+v", i, stored[i], w)
		}
	}
	// The same batch again, reversed: nothing new.
	slices.Reverse(in)
	if got, err := s.PutResults(ctx, "j", in); err != nil || len(got) != 0 {
		t.Errorf("PutResults again = %v, %v; want nothing new", got, err)
	}
}

// TestPutResultsFirstWinsAcrossKinds checks that when an index is in one
// batch as a plain and as a rich result, the first one is stored, in
// either order.
func TestPutResultsFirstWinsAcrossKinds(t *testing.T) {
	s, _ := openTestStore(t)
	ctx := testCtx(t)
	batch := []job.Result{
		makeResult(1, job.StateTimeout), makeResult(1, job.StateOK),
		makeResult(2, job.StateOK), makeResult(2, job.StateError),
		makeResult(3, job.StateOK),
	}
	got, err := s.PutResults(ctx, "j", batch)
	if err != nil {
		t.Fatalf("PutResults: %v", err)
	}
	if want := map[string]int{job.StateTimeout: 1, job.StateOK: 2}; !maps.Equal(got, want) {
		t.Errorf("PutResults = %v, want %v", got, want)
	}
	stored, _, err := s.Results(ctx, "j", ResultQuery{})
	if err != nil {
		t.Fatalf("Results: %v", err)
	}
	wantRows := []job.Result{wantStored(batch[0]), wantStored(batch[2]), wantStored(batch[4])}
	if !reflect.DeepEqual(stored, wantRows) {
		t.Errorf("stored %+v\nwant %+v", stored, wantRows)
	}
}

// TestInsertSQLArguments checks that each insert statement takes the
// arguments insert appends: the key once, then per row 12 (plain) or 18.
func TestInsertSQLArguments(t *testing.T) {
	for _, tt := range []struct {
		row  string
		args int
	}{{plainRow, 12}, {richRow, 18}} {
		q := insertSQL(tt.row, 4)
		if got := strings.Count(q, "?") - strings.Count(q, "?1"); got != 4*tt.args {
			t.Errorf("%d anonymous parameters in %q, want %d", got, q, 4*tt.args)
		}
		if got := strings.Count(tt.row, ",") + 1; got != strings.Count(insertColumns, ",")+1 {
			t.Errorf("row %s has %d values, want one per column", tt.row, got)
		}
	}
}
