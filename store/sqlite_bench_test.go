package store

import (
	"fmt"
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
	pad := strings.Repeat("x", 1000)
	now := time.Now()
	rs := make([]job.Result, n)
	for i := range rs {
		idx := first + i
		host := fmt.Sprintf("10.%d.%d.%d", idx>>16&255, idx>>8&255, idx&255)
		rs[i] = job.Result{
			Index: idx, Host: host, Target: "http://" + host + ":80/status", State: job.StateOK,
			StatusCode: 200, LatencyMs: 1.5, Body: fmt.Sprintf("host=%s version=1.%d\n%s", host, idx%7, pad),
			BodyBytes: 1024, Attempts: 1, Worker: "node-a", Value: fmt.Sprintf("1.%d", idx%7),
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
func BenchmarkPutResults(b *testing.B) {
	const batch = 500
	s, _ := openTestStore(b)
	ctx := testCtx(b)
	batches := make([][]job.Result, 20) // 10,000 results per iteration
	var cpu time.Duration
	b.ResetTimer()
	for n := range b.N {
		b.StopTimer()
		for i := range batches {
			batches[i] = benchResults((n*len(batches)+i)*batch, batch)
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
