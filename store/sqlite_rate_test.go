package store

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/salvo-sh/salvo/job"
)

// RateSeries counts answered results per span of their finishing time,
// clamps results outside the spans into the first and last, leaves out
// skipped and cancelled ones, and answers zeros for a job without results.
func TestRateSeries(t *testing.T) {
	s, _ := openTestStore(t)
	ctx := testCtx(t)
	start := time.Date(2026, 12, 4, 18, 40, 0, 0, time.UTC)
	for _, id := range []string{"rated", "empty"} {
		if err := s.CreateJob(ctx, testJob(id, start), nil, 0); err != nil {
			t.Fatalf("CreateJob %s: %v", id, err)
		}
	}
	// finished at start + ms, in these states.
	results := []struct {
		ms    int
		state string
	}{
		{-500, job.StateOK},        // before the first span: in it
		{0, job.StateOK},           // span 0
		{999, job.StateFailed},     // span 0
		{1000, job.StateError},     // span 1
		{1500, job.StateSkipped},   // not sent: left out
		{2500, job.StateTimeout},   // span 2
		{2600, job.StateCancelled}, // not sent: left out
		{3999, job.StateOK},        // span 3
		{9000, job.StateOK},        // after the last span: in it
	}
	rs := make([]job.Result, len(results))
	for i, r := range results {
		at := start.Add(time.Duration(r.ms) * time.Millisecond)
		rs[i] = job.Result{Index: i, Host: "h", State: r.state, StartedAt: at, FinishedAt: at, Body: strings.Repeat("b", 10000)}
	}
	if _, err := s.PutResults(ctx, "rated", rs); err != nil {
		t.Fatalf("PutResults: %v", err)
	}
	for _, tc := range []struct {
		name    string
		id      string
		q       RateQuery
		want    []int
		wantErr bool
	}{
		{"seconds", "rated", RateQuery{From: start, Step: time.Second, Buckets: 4}, []int{3, 1, 1, 2}, false},
		{"one span", "rated", RateQuery{From: start, Step: time.Minute, Buckets: 1}, []int{7}, false},
		{"half seconds", "rated", RateQuery{From: start, Step: 500 * time.Millisecond, Buckets: 8}, []int{2, 1, 1, 0, 0, 1, 0, 2}, false},
		{"every bucket allowed", "rated", RateQuery{From: start, Step: time.Second, Buckets: MaxRateBuckets}, nil, false},
		{"empty job", "empty", RateQuery{From: start, Step: time.Second, Buckets: 3}, []int{0, 0, 0}, false},
		{"unknown job", "nope", RateQuery{From: start, Step: time.Second, Buckets: 2}, []int{0, 0}, false},
		{"too many buckets", "rated", RateQuery{From: start, Step: time.Second, Buckets: MaxRateBuckets + 1}, nil, true},
		{"no bucket", "rated", RateQuery{From: start, Step: time.Second}, nil, true},
		{"no step", "rated", RateQuery{From: start, Buckets: 2}, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.RateSeries(ctx, tc.id, tc.q)
			if (err != nil) != tc.wantErr {
				t.Fatalf("RateSeries: %v, want error %v", err, tc.wantErr)
			}
			if tc.wantErr {
				return
			}
			if tc.want == nil {
				sum := 0
				for _, n := range got {
					sum += n
				}
				if len(got) != tc.q.Buckets || sum != 7 {
					t.Errorf("%d buckets holding %d results, want %d holding 7", len(got), sum, tc.q.Buckets)
				}
				return
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("RateSeries = %v, want %v", got, tc.want)
			}
		})
	}
}

// BenchmarkRateSeries times the series of a job of 100,000 results with
// bodies of about 1 KiB: one GROUP BY over the job that reads no body.
//
//	go test -run='^$' -bench=RateSeries -benchtime=10x ./store/
func BenchmarkRateSeries(b *testing.B) {
	s, _ := openTestStore(b)
	ctx := b.Context()
	const n, batch = 100_000, 10_000
	for i := 0; i < n; i += batch {
		if _, err := s.PutResults(ctx, benchJobID, benchResults(i, batch)); err != nil {
			b.Fatal(err)
		}
	}
	q := RateQuery{From: time.Now().Add(-time.Minute), Step: time.Second, Buckets: MaxRateBuckets}
	for b.Loop() {
		counts, err := s.RateSeries(ctx, benchJobID, q)
		if err != nil || len(counts) != MaxRateBuckets {
			b.Fatalf("RateSeries: %d spans, %v", len(counts), err)
		}
	}
}
