package store

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/salvo-sh/salvo/job"
	"github.com/salvo-sh/salvo/nodeset"
)

// openTestStore opens a store in a fresh directory and closes it when the
// test ends.
func openTestStore(t testing.TB) (*SQLite, SQLiteConfig) {
	t.Helper()
	cfg := DefaultSQLiteConfig(filepath.Join(t.TempDir(), "data"))
	s, err := OpenSQLite(cfg)
	if err != nil {
		t.Fatalf("OpenSQLite: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s, cfg
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func intp(i int) *int { return &i }

// testJob is a job with a spec and every time set.
func testJob(id string, created time.Time) *Job {
	return &Job{
		ID:   id,
		Name: "job " + id,
		Spec: &job.Spec{
			Name:           "job " + id,
			Protocol:       job.ProtocolHTTP,
			HTTP:           &job.HTTPSpec{Method: "GET", Path: "/status/${ID}", Headers: map[string]string{"Authorization": job.Redacted}},
			Vars:           map[string]string{"ENV": "prod"},
			MaxConcurrency: 500,
			Timeouts:       job.Timeouts{Connect: job.Duration(3 * time.Second), Request: job.Duration(15 * time.Second)},
			Aggregation:    &job.Aggregation{Regex: `version=(\S+)`},
		},
		State:     JobWaiting,
		Reason:    "no worker with room",
		Total:     3,
		Counts:    map[string]int{},
		CreatedAt: created,
	}
}

func TestJobRoundTrip(t *testing.T) {
	s, _ := openTestStore(t)
	ctx := testCtx(t)
	created := time.Date(2026, 11, 22, 10, 0, 0, 123_456_789, time.UTC)
	jr := testJob("j1", created)
	if err := s.CreateJob(ctx, jr, []job.TargetSpec{{Host: "a"}, {Host: "b"}, {Host: "c"}}, 2); err != nil {
		t.Fatalf("CreateJob: %v", err)
	}
	if err := s.CreateJob(ctx, jr, nil, 2); err == nil {
		t.Fatal("CreateJob with a duplicate id succeeded")
	}

	want := *jr
	want.CreatedAt = created.Truncate(time.Millisecond)
	got, err := s.GetJob(ctx, "j1")
	if err != nil {
		t.Fatalf("GetJob: %v", err)
	}
	if !reflect.DeepEqual(got, &want) {
		t.Fatalf("GetJob:\n got %+v\nwant %+v", got, &want)
	}

	want.State = JobGathered
	want.Reason = ""
	want.Counts = map[string]int{job.StateOK: 2, job.StateTimeout: 1}
	want.StartedAt = created.Add(time.Second).Truncate(time.Millisecond)
	want.FinishedAt = created.Add(time.Minute).Truncate(time.Millisecond)
	if err := s.UpdateJob(ctx, &want); err != nil {
		t.Fatalf("UpdateJob: %v", err)
	}
	got, err = s.GetJob(ctx, "j1")
	if err != nil {
		t.Fatalf("GetJob: %v", err)
	}
	if !reflect.DeepEqual(got, &want) {
		t.Fatalf("GetJob after UpdateJob:\n got %+v\nwant %+v", got, &want)
	}

	if _, err := s.GetJob(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetJob(unknown) = %v, want ErrNotFound", err)
	}
	if err := s.UpdateJob(ctx, testJob("nope", created)); !errors.Is(err, ErrNotFound) {
		t.Errorf("UpdateJob(unknown) = %v, want ErrNotFound", err)
	}
}

func TestListJobs(t *testing.T) {
	s, _ := openTestStore(t)
	ctx := testCtx(t)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// j0..j6; j3 and j4 share a creation time, so the id breaks the tie.
	states := []string{JobGathered, JobWaiting, JobProcessing, JobFailed, JobWaiting, JobCancelled, JobFinishedNotGathered}
	created := []int{0, 1, 2, 3, 3, 4, 5}
	for i, st := range states {
		j := testJob("j"+strconv.Itoa(i), base.Add(time.Duration(created[i])*time.Second))
		j.State = st
		if err := s.CreateJob(ctx, j, nil, 0); err != nil {
			t.Fatalf("CreateJob: %v", err)
		}
	}
	tests := []struct {
		name  string
		state string
		limit int
		want  []string
	}{
		{"all one page", "", 0, []string{"j6", "j5", "j4", "j3", "j2", "j1", "j0"}},
		{"all by 2", "", 2, []string{"j6", "j5", "j4", "j3", "j2", "j1", "j0"}},
		{"all by 3", "", 3, []string{"j6", "j5", "j4", "j3", "j2", "j1", "j0"}},
		{"waiting by 1", JobWaiting, 1, []string{"j4", "j1"}},
		{"none", "unknown", 5, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ids []string
			cursor := ""
			for page := 0; ; page++ {
				if page > len(states) {
					t.Fatal("paging does not end")
				}
				jobs, next, err := s.ListJobs(ctx, JobQuery{State: tt.state, Cursor: cursor, Limit: tt.limit})
				if err != nil {
					t.Fatalf("ListJobs: %v", err)
				}
				if tt.limit > 0 && len(jobs) > tt.limit {
					t.Fatalf("page of %d jobs, limit %d", len(jobs), tt.limit)
				}
				for _, j := range jobs {
					ids = append(ids, j.ID)
				}
				if next == "" {
					break
				}
				cursor = next
			}
			if !slices.Equal(ids, tt.want) {
				t.Errorf("ids = %v, want %v", ids, tt.want)
			}
		})
	}
	if _, _, err := s.ListJobs(ctx, JobQuery{Cursor: "!!"}); !errors.Is(err, ErrBadCursor) {
		t.Errorf("ListJobs(bad cursor) = %v, want ErrBadCursor", err)
	}

	unfinished, err := s.Unfinished(ctx)
	if err != nil {
		t.Fatalf("Unfinished: %v", err)
	}
	var ids []string
	for _, j := range unfinished {
		ids = append(ids, j.ID)
	}
	if want := []string{"j1", "j2", "j4", "j6"}; !slices.Equal(ids, want) {
		t.Errorf("Unfinished = %v, want %v", ids, want)
	}
}

func TestChunks(t *testing.T) {
	s, _ := openTestStore(t)
	ctx := testCtx(t)
	tests := []struct {
		targets, chunkSize, wantChunks int
	}{
		{0, 1000, 0},
		{1, 1000, 1},
		{999, 1000, 1},
		{1000, 1000, 1},
		{1001, 1000, 2},
		{2500, 1000, 3},
		{100_000, 1000, 100},
		{5, 0, 1}, // default chunk size
		{7, 3, 3},
	}
	for i, tt := range tests {
		t.Run(fmt.Sprintf("%d/%d", tt.targets, tt.chunkSize), func(t *testing.T) {
			id := "job" + strconv.Itoa(i)
			targets := make([]job.TargetSpec, tt.targets)
			for k := range targets {
				targets[k] = job.TargetSpec{Host: fmt.Sprintf("10.0.%d.%d", k/256, k%256)}
				if k%3 == 0 {
					targets[k].Vars = map[string]string{"ID": strconv.Itoa(k)}
				}
			}
			jr := testJob(id, time.Now())
			jr.Total = 0 // defaults to the number of targets
			if err := s.CreateJob(ctx, jr, targets, tt.chunkSize); err != nil {
				t.Fatalf("CreateJob: %v", err)
			}
			n, err := s.ChunkCount(ctx, id)
			if err != nil {
				t.Fatalf("ChunkCount: %v", err)
			}
			if n != tt.wantChunks {
				t.Fatalf("ChunkCount = %d, want %d", n, tt.wantChunks)
			}
			next := 0
			for c := range n {
				chunk, err := s.Chunk(ctx, id, c)
				if err != nil {
					t.Fatalf("Chunk(%d): %v", c, err)
				}
				for _, it := range chunk {
					if it.Index != next || !reflect.DeepEqual(it.Target, targets[next]) {
						t.Fatalf("chunk %d: got %+v, want index %d %+v", c, it, next, targets[next])
					}
					next++
				}
			}
			if next != tt.targets {
				t.Fatalf("chunks hold %d targets, want %d", next, tt.targets)
			}
			if _, err := s.Chunk(ctx, id, n); !errors.Is(err, ErrNotFound) {
				t.Errorf("Chunk(past the end) = %v, want ErrNotFound", err)
			}
			got, err := s.GetJob(ctx, id)
			if err != nil {
				t.Fatalf("GetJob: %v", err)
			}
			if got.Total != tt.targets {
				t.Errorf("Total = %d, want %d", got.Total, tt.targets)
			}
		})
	}
	if _, err := s.ChunkCount(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("ChunkCount(unknown) = %v, want ErrNotFound", err)
	}
}

// makeResult builds a deterministic result for index i.
func makeResult(i int, state string) job.Result {
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Millisecond)
	r := job.Result{
		Index:      i,
		Host:       fmt.Sprintf("10.0.0.%d", i),
		Target:     fmt.Sprintf("http://10.0.0.%d:80/status", i),
		State:      state,
		LatencyMs:  float64(i) + 0.25,
		Attempts:   1,
		Worker:     "node-a",
		StartedAt:  t0,
		FinishedAt: t0.Add(1234567 * time.Nanosecond),
	}
	switch state {
	case job.StateOK:
		r.StatusCode = 200
		r.Body = fmt.Sprintf("host=%s version=1.%d", r.Host, i%2)
		r.BodyBytes = int64(len(r.Body))
		r.Value = fmt.Sprintf("1.%d", i%2)
	case job.StateFailed:
		r.ExitCode = intp(2)
		r.Stderr = "boom"
		r.Value = "2"
	case job.StateError, job.StateTimeout:
		r.Error = "dial tcp: connection refused"
		r.ErrorClass = job.ClassConnectRefused
		if state == job.StateTimeout {
			r.ErrorClass = job.ClassTimeout
		}
		r.Value = r.ErrorClass
	}
	return r
}

// wantStored is r as the store returns it: times in UTC, to the microsecond.
func wantStored(r job.Result) job.Result {
	r.StartedAt = r.StartedAt.UTC().Truncate(time.Microsecond)
	r.FinishedAt = r.FinishedAt.UTC().Truncate(time.Microsecond)
	return r
}

func TestPutResultsDuplicates(t *testing.T) {
	s, _ := openTestStore(t)
	ctx := testCtx(t)
	var batch1, batch2 []job.Result
	for i := range 10 {
		batch1 = append(batch1, makeResult(i, []string{job.StateOK, job.StateError}[i%2]))
	}
	for i := 5; i < 15; i++ {
		batch2 = append(batch2, makeResult(i, job.StateTimeout))
	}
	batch2 = append(batch2, makeResult(14, job.StateOK)) // duplicate inside the batch
	// Several groups of a statement each: stored results in the middle of
	// a group, and a duplicate of an earlier group of the same call.
	var large, largeOverlap []job.Result
	for i := 100; i < 300; i++ {
		large = append(large, makeResult(i, job.StateOK))
	}
	for i := 250; i < 450; i++ {
		largeOverlap = append(largeOverlap, makeResult(i, job.StateTimeout))
	}
	largeOverlap = append(largeOverlap, makeResult(300, job.StateOK))
	tests := []struct {
		name  string
		batch []job.Result
		want  map[string]int
	}{
		{"first", batch1, map[string]int{job.StateOK: 5, job.StateError: 5}},
		{"same again", batch1, map[string]int{}},
		{"overlap", batch2, map[string]int{job.StateTimeout: 5}},
		{"empty", nil, map[string]int{}},
		{"large", large, map[string]int{job.StateOK: 200}},
		{"large overlap", largeOverlap, map[string]int{job.StateTimeout: 150}},
	}
	for _, tt := range tests {
		got, err := s.PutResults(ctx, "j", tt.batch)
		if err != nil {
			t.Fatalf("%s: PutResults: %v", tt.name, err)
		}
		if !maps.Equal(got, tt.want) {
			t.Errorf("%s: PutResults = %v, want %v", tt.name, got, tt.want)
		}
	}
	counts, err := s.CountResults(ctx, "j")
	if err != nil {
		t.Fatalf("CountResults: %v", err)
	}
	if want := map[string]int{job.StateOK: 205, job.StateError: 5, job.StateTimeout: 155}; !maps.Equal(counts, want) {
		t.Errorf("CountResults = %v, want %v", counts, want)
	}
	// The first write of an index wins.
	got, _, err := s.Results(ctx, "j", ResultQuery{Cursor: 6, Limit: 1})
	if err != nil {
		t.Fatalf("Results: %v", err)
	}
	if len(got) != 1 || !reflect.DeepEqual(got[0], wantStored(batch1[6])) {
		t.Errorf("result 6 = %+v, want %+v", got, wantStored(batch1[6]))
	}

	idx, err := s.StoredIndexes(ctx, "j", 12, 20)
	if err != nil {
		t.Fatalf("StoredIndexes: %v", err)
	}
	if want := map[int]bool{12: true, 13: true, 14: true}; !maps.Equal(idx, want) {
		t.Errorf("StoredIndexes(12, 20) = %v, want %v", idx, want)
	}
	if other, err := s.CountResults(ctx, "other"); err != nil || len(other) != 0 {
		t.Errorf("CountResults(other job) = %v, %v; want empty", other, err)
	}
}

func TestResultRoundTrip(t *testing.T) {
	s, _ := openTestStore(t)
	ctx := testCtx(t)
	in := []job.Result{
		makeResult(0, job.StateOK),
		makeResult(1, job.StateFailed),
		makeResult(2, job.StateTimeout),
		makeResult(3, job.StateSkipped),
		{Index: 4, Host: "h", State: job.StateOK, ExitCode: intp(0), Truncated: true, BodyBytes: 1 << 40,
			Body: "snowman ☃ \x00 nul", StartedAt: time.Date(2026, 1, 2, 3, 4, 5, 6789, time.FixedZone("X", 3600))},
	}
	if _, err := s.PutResults(ctx, "j", in); err != nil {
		t.Fatalf("PutResults: %v", err)
	}
	got, next, err := s.Results(ctx, "j", ResultQuery{})
	if err != nil {
		t.Fatalf("Results: %v", err)
	}
	if next != 0 || len(got) != len(in) {
		t.Fatalf("Results = %d results, next %d; want %d, 0", len(got), next, len(in))
	}
	for i := range in {
		if w := wantStored(in[i]); !reflect.DeepEqual(got[i], w) {
			t.Errorf("result %d:\n got %+v\nwant %+v", i, got[i], w)
		}
	}
}

func TestResultsPaging(t *testing.T) {
	s, _ := openTestStore(t)
	ctx := testCtx(t)
	states := []string{job.StateOK, job.StateOK, job.StateError, job.StateTimeout, job.StateFailed}
	var all []job.Result
	for i := range 50 {
		r := makeResult(i, states[i%len(states)])
		switch i {
		case 7:
			r.Body = "100% done_x"
		case 17:
			r.Body = "100 percent doneXx"
		case 30:
			r.Host = "10.0.0.7" // a second result for host 10.0.0.7
		}
		all = append(all, r)
	}
	// Store in two shuffled batches: order of arrival must not matter.
	if _, err := s.PutResults(ctx, "j", append(slices.Clone(all[25:]), all[:10]...)); err != nil {
		t.Fatalf("PutResults: %v", err)
	}
	if _, err := s.PutResults(ctx, "j", all[10:25]); err != nil {
		t.Fatalf("PutResults: %v", err)
	}
	match := func(f func(r job.Result) bool) []int {
		var idx []int
		for _, r := range all {
			if f(r) {
				idx = append(idx, r.Index)
			}
		}
		return idx
	}
	tests := []struct {
		name  string
		q     ResultQuery
		want  []int
		pages int // expected number of pages
	}{
		{"all", ResultQuery{Limit: 1000}, match(func(job.Result) bool { return true }), 1},
		{"all by 7", ResultQuery{Limit: 7}, match(func(job.Result) bool { return true }), 8},
		{"all by 10", ResultQuery{Limit: 10}, match(func(job.Result) bool { return true }), 5},
		{"from cursor", ResultQuery{Cursor: 45, Limit: 3}, []int{45, 46, 47, 48, 49}, 2},
		{"state", ResultQuery{States: []string{job.StateError}, Limit: 4}, match(func(r job.Result) bool { return r.State == job.StateError }), 3},
		{"host", ResultQuery{Host: "10.0.0.7", Limit: 1}, []int{7, 30}, 2},
		{"host is exact", ResultQuery{Host: "10.0.0.1"}, []int{1}, 1},
		{"q in body", ResultQuery{Q: "version=1.1"}, match(func(r job.Result) bool {
			return r.State == job.StateOK && r.Index%2 == 1 && r.Index != 7 && r.Index != 17
		}), 1},
		{"q percent is literal", ResultQuery{Q: "100%"}, []int{7}, 1},
		{"q underscore is literal", ResultQuery{Q: "done_"}, []int{7}, 1},
		{"q in error", ResultQuery{Q: "refused"}, match(func(r job.Result) bool {
			return r.State == job.StateError || r.State == job.StateTimeout
		}), 1},
		{"q in stderr", ResultQuery{Q: "boom"}, match(func(r job.Result) bool { return r.State == job.StateFailed }), 1},
		{"q in value", ResultQuery{Q: "connect_refused"}, match(func(r job.Result) bool { return r.State == job.StateError }), 1},
		{"q is case-sensitive", ResultQuery{Q: "BOOM"}, nil, 1},
		{"state and q", ResultQuery{States: []string{job.StateTimeout}, Q: "refused", Limit: 2}, match(func(r job.Result) bool { return r.State == job.StateTimeout }), 5},
		{"nothing", ResultQuery{States: []string{job.StateCancelled}}, nil, 1},
		{"states", ResultQuery{States: []string{job.StateError, job.StateTimeout}, Limit: 3},
			match(func(r job.Result) bool { return r.State == job.StateError || r.State == job.StateTimeout }), 7},
		{"states repeated", ResultQuery{States: []string{job.StateError, job.StateError}, Limit: 4},
			match(func(r job.Result) bool { return r.State == job.StateError }), 3},
		{"states from cursor", ResultQuery{States: []string{job.StateFailed, job.StateTimeout}, Cursor: 45, Limit: 1}, []int{48, 49}, 2},
		{"states and host", ResultQuery{States: []string{job.StateOK, job.StateFailed}, Host: "10.0.0.7"}, []int{30}, 1},
		{"states and host by 1", ResultQuery{States: []string{job.StateOK, job.StateError}, Host: "10.0.0.7", Limit: 1}, []int{7, 30}, 2},
		{"states and q", ResultQuery{States: []string{job.StateTimeout, job.StateError}, Q: "refused", Limit: 4},
			match(func(r job.Result) bool { return r.State == job.StateError || r.State == job.StateTimeout }), 5},
		{"states with none stored", ResultQuery{States: []string{job.StateCancelled, job.StateSkipped}}, nil, 1},
		{"every state", ResultQuery{States: job.ResultStates, Limit: 10}, match(func(job.Result) bool { return true }), 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []int
			q := tt.q
			pages := 0
			for {
				pages++
				if pages > 100 {
					t.Fatal("paging does not end")
				}
				rs, next, err := s.Results(ctx, "j", q)
				if err != nil {
					t.Fatalf("Results: %v", err)
				}
				if q.Limit > 0 && len(rs) > q.Limit {
					t.Fatalf("page of %d results, limit %d", len(rs), q.Limit)
				}
				for _, r := range rs {
					if !reflect.DeepEqual(r, wantStored(all[r.Index])) {
						t.Fatalf("result %d:\n got %+v\nwant %+v", r.Index, r, wantStored(all[r.Index]))
					}
					got = append(got, r.Index)
				}
				if next == 0 {
					break
				}
				q.Cursor = next
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("indexes = %v, want %v", got, tt.want)
			}
			if pages != tt.pages {
				t.Errorf("%d pages, want %d", pages, tt.pages)
			}
		})
	}
}

func TestAggregate(t *testing.T) {
	s, _ := openTestStore(t)
	ctx := testCtx(t)
	var rs []job.Result
	add := func(n int, f func(r *job.Result)) {
		for range n {
			i := len(rs)
			r := job.Result{Index: i, Host: fmt.Sprintf("web-%02d", i), State: job.StateOK}
			f(&r)
			rs = append(rs, r)
		}
	}
	big := "x" + string(make([]byte, 2000)) // identical large bodies group together
	add(25, func(r *job.Result) { r.StatusCode, r.Value, r.Body = 200, "1.25", big })
	add(3, func(r *job.Result) { r.StatusCode, r.Value, r.Body = 200, "1.24", "version=1.24" })
	add(3, func(r *job.Result) { r.StatusCode, r.Value, r.Body = 503, "NA", "busy" })
	add(4, func(r *job.Result) {
		r.State, r.ErrorClass, r.Value, r.Error = job.StateError, job.ClassConnectRefused, job.ClassConnectRefused, "refused"
	})
	add(2, func(r *job.Result) {
		r.State, r.ErrorClass, r.Value = job.StateTimeout, job.ClassTimeout, job.ClassTimeout
	})
	add(1, func(r *job.Result) {
		r.State, r.ExitCode, r.Value, r.Body = job.StateFailed, intp(1), "1", "busy"
	})
	add(1, func(r *job.Result) { r.State = job.StateSkipped })
	// Interleave a big-group result after the others to check host order.
	add(1, func(r *job.Result) { r.StatusCode, r.Value, r.Body = 200, "1.25", big })
	if _, err := s.PutResults(ctx, "j", rs); err != nil {
		t.Fatalf("PutResults: %v", err)
	}
	if _, err := s.PutResults(ctx, "other", rs[:5]); err != nil {
		t.Fatalf("PutResults: %v", err)
	}

	type group struct {
		value   string
		count   int
		isError bool
	}
	tests := []struct {
		by    string
		limit int
		want  []group
		key   func(r job.Result) string // the group of a result, to check hosts
	}{
		{ByValue, 0, []group{{"1.25", 26, false}, {"connect_refused", 4, true}, {"1.24", 3, false}, {"NA", 3, false}, {"timeout", 2, true}, {"", 1, false}, {"1", 1, false}},
			func(r job.Result) string { return r.Value }},
		{ByValue, 2, []group{{"1.25", 26, false}, {"connect_refused", 4, true}},
			func(r job.Result) string { return r.Value }},
		{ByStatus, 0, []group{{"200", 29, false}, {"error", 4, true}, {"503", 3, false}, {"timeout", 2, true}, {"exit 1", 1, false}, {"skipped", 1, false}},
			func(r job.Result) string {
				switch {
				case r.StatusCode > 0:
					return strconv.Itoa(r.StatusCode)
				case r.ExitCode != nil:
					return "exit " + strconv.Itoa(*r.ExitCode)
				}
				return r.State
			}},
		{ByErrorClass, 0, []group{{"none", 34, false}, {"connect_refused", 4, true}, {"timeout", 2, true}},
			func(r job.Result) string {
				if r.ErrorClass == "" {
					return "none"
				}
				return r.ErrorClass
			}},
		// By body and outcome: the failures first (failed, error, timeout,
		// skipped), then ok; "busy" of a failed exit 1 apart from the 503s.
		{ByBody, 0, []group{{"busy", 1, false}, {"[error: connect_refused]", 4, true}, {"[timeout: timeout]", 2, true},
			{"[skipped]", 1, false}, {big, 26, false}, {"version=1.24", 3, false}, {"busy", 3, false}},
			func(r job.Result) string { return groupKeyOf(r, ByBody) + " " + resultOutcome(r) }},
		{ByStderr, 0, []group{{"", 33, false}, {"[error: connect_refused]", 4, true}, {"[timeout: timeout]", 2, true}, {"[skipped]", 1, false}},
			func(r job.Result) string { return groupKeyOf(r, ByStderr) }},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%d", tt.by, tt.limit), func(t *testing.T) {
			groups, err := s.Aggregate(ctx, "j", tt.by, tt.limit)
			if err != nil {
				t.Fatalf("Aggregate: %v", err)
			}
			var got []group
			for _, g := range groups {
				got = append(got, group{g.Value, g.Count, g.IsError})
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("groups = %+v\nwant %+v", got, tt.want)
			}
			for _, g := range groups {
				var (
					hosts   []string
					indexes []int
				)
				name := g.Value
				if tt.by == ByBody {
					name += " " + groupOutcome(g)
				}
				for _, r := range rs {
					if tt.key(r) == name {
						hosts = append(hosts, r.Host)
						indexes = append(indexes, r.Index)
					}
				}
				if want := hosts[:min(len(hosts), MaxGroupHosts)]; !slices.Equal(g.Hosts, want) {
					t.Errorf("group %.20q hosts = %v, want %v", g.Value, g.Hosts, want)
				}
				if !slices.Equal(g.Indexes, indexes) || g.NextCursor != 0 {
					t.Errorf("group %.20q indexes = %v, next cursor %d; want %v, 0 (every host listed)", g.Value, g.Indexes, g.NextCursor, indexes)
				}
				// Folding is the API's: the store lists every host of a small group.
				if want := nodeset.Fold(hosts); nodeset.Fold(g.Hosts) != want {
					t.Errorf("group %.20q folds to %q, want %q", g.Value, nodeset.Fold(g.Hosts), want)
				}
			}
		})
	}
	if _, err := s.Aggregate(ctx, "j", "nope", 0); err == nil {
		t.Error("Aggregate by an unknown key succeeded")
	}
	if groups, err := s.Aggregate(ctx, "empty", ByValue, 0); err != nil || len(groups) != 0 {
		t.Errorf("Aggregate(empty job) = %v, %v; want no groups", groups, err)
	}
}

func TestDefinitions(t *testing.T) {
	s, _ := openTestStore(t)
	ctx := testCtx(t)
	steps := []struct {
		op, kind, name, body string
		wantErr              error
		wantBody             string
		wantNames            []string
	}{
		{op: "list", kind: KindNodeGroup, wantNames: []string{}},
		{op: "get", kind: KindNodeGroup, name: "web", wantErr: ErrNotFound},
		{op: "put", kind: KindNodeGroup, name: "web", body: `{"hosts":["a"]}`},
		{op: "put", kind: KindNodeGroup, name: "db", body: `{"hosts":["d"]}`},
		{op: "put", kind: KindCommand, name: "web", body: `{"protocol":"http"}`},
		{op: "get", kind: KindNodeGroup, name: "web", wantBody: `{"hosts":["a"]}`},
		{op: "put", kind: KindNodeGroup, name: "web", body: `{"hosts":["a","b"]}`},
		{op: "get", kind: KindNodeGroup, name: "web", wantBody: `{"hosts":["a","b"]}`},
		{op: "get", kind: KindCommand, name: "web", wantBody: `{"protocol":"http"}`},
		{op: "list", kind: KindNodeGroup, wantNames: []string{"db", "web"}},
		{op: "list", kind: KindCommand, wantNames: []string{"web"}},
		{op: "delete", kind: KindNodeGroup, name: "web"},
		{op: "delete", kind: KindNodeGroup, name: "web", wantErr: ErrNotFound},
		{op: "get", kind: KindNodeGroup, name: "web", wantErr: ErrNotFound},
		{op: "list", kind: KindNodeGroup, wantNames: []string{"db"}},
		{op: "get", kind: KindCommand, name: "web", wantBody: `{"protocol":"http"}`},
	}
	for i, st := range steps {
		var (
			err   error
			body  []byte
			names []string
		)
		switch st.op {
		case "put":
			err = s.PutDefinition(ctx, st.kind, st.name, []byte(st.body))
		case "get":
			body, err = s.GetDefinition(ctx, st.kind, st.name)
		case "delete":
			err = s.DeleteDefinition(ctx, st.kind, st.name)
		case "list":
			names, err = s.ListDefinitions(ctx, st.kind)
		}
		if !errors.Is(err, st.wantErr) {
			t.Fatalf("step %d %s %s/%s: err = %v, want %v", i, st.op, st.kind, st.name, err, st.wantErr)
		}
		if st.op == "get" && err == nil && string(body) != st.wantBody {
			t.Errorf("step %d: body = %s, want %s", i, body, st.wantBody)
		}
		if st.op == "list" && !slices.Equal(names, st.wantNames) {
			t.Errorf("step %d: names = %v, want %v", i, names, st.wantNames)
		}
	}
}

func TestReopenKeepsEverything(t *testing.T) {
	cfg := DefaultSQLiteConfig(filepath.Join(t.TempDir(), "nested", "dir"))
	ctx := testCtx(t)
	s, err := OpenSQLite(cfg)
	if err != nil {
		t.Fatalf("OpenSQLite: %v", err)
	}
	jr := testJob("j", time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC))
	targets := []job.TargetSpec{{Host: "a"}, {Host: "b", Vars: map[string]string{"X": "1"}}, {Host: "c"}}
	if err := s.CreateJob(ctx, jr, targets, 2); err != nil {
		t.Fatalf("CreateJob: %v", err)
	}
	results := []job.Result{makeResult(0, job.StateOK), makeResult(2, job.StateError)}
	if _, err := s.PutResults(ctx, "j", results); err != nil {
		t.Fatalf("PutResults: %v", err)
	}
	if err := s.PutDefinition(ctx, KindAggregation, "v", []byte(`{"regex":"v=(\\S+)"}`)); err != nil {
		t.Fatalf("PutDefinition: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s2, err := OpenSQLite(cfg)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s2.Close()
	got, err := s2.GetJob(ctx, "j")
	if err != nil {
		t.Fatalf("GetJob: %v", err)
	}
	if !reflect.DeepEqual(got, jr) {
		t.Errorf("job after reopen:\n got %+v\nwant %+v", got, jr)
	}
	chunk, err := s2.Chunk(ctx, "j", 0)
	if err != nil {
		t.Fatalf("Chunk: %v", err)
	}
	if want := []job.IndexedTarget{{Index: 0, Target: targets[0]}, {Index: 1, Target: targets[1]}}; !reflect.DeepEqual(chunk, want) {
		t.Errorf("chunk 0 after reopen = %+v, want %+v", chunk, want)
	}
	rs, _, err := s2.Results(ctx, "j", ResultQuery{})
	if err != nil {
		t.Fatalf("Results: %v", err)
	}
	if want := []job.Result{wantStored(results[0]), wantStored(results[1])}; !reflect.DeepEqual(rs, want) {
		t.Errorf("results after reopen:\n got %+v\nwant %+v", rs, want)
	}
	if body, err := s2.GetDefinition(ctx, KindAggregation, "v"); err != nil || string(body) != `{"regex":"v=(\\S+)"}` {
		t.Errorf("definition after reopen = %s, %v", body, err)
	}
	// A re-sent batch after the restart is still ignored.
	if counts, err := s2.PutResults(ctx, "j", results); err != nil || len(counts) != 0 {
		t.Errorf("PutResults after reopen = %v, %v; want nothing new", counts, err)
	}
}

func TestClosed(t *testing.T) {
	s, _ := openTestStore(t)
	ctx := testCtx(t)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	calls := map[string]func() error{
		"CreateJob": func() error { return s.CreateJob(ctx, testJob("j", time.Now()), nil, 0) },
		"UpdateJob": func() error { return s.UpdateJob(ctx, testJob("j", time.Now())) },
		"GetJob":    func() error { _, err := s.GetJob(ctx, "j"); return err },
		"ListJobs":  func() error { _, _, err := s.ListJobs(ctx, JobQuery{}); return err },
		"Unfinished": func() error {
			_, err := s.Unfinished(ctx)
			return err
		},
		"ChunkCount":       func() error { _, err := s.ChunkCount(ctx, "j"); return err },
		"Chunk":            func() error { _, err := s.Chunk(ctx, "j", 0); return err },
		"PutResults":       func() error { _, err := s.PutResults(ctx, "j", nil); return err },
		"StoredIndexes":    func() error { _, err := s.StoredIndexes(ctx, "j", 0, 1); return err },
		"CountResults":     func() error { _, err := s.CountResults(ctx, "j"); return err },
		"Results":          func() error { _, _, err := s.Results(ctx, "j", ResultQuery{}); return err },
		"Aggregate":        func() error { _, err := s.Aggregate(ctx, "j", ByValue, 0); return err },
		"PutDefinition":    func() error { return s.PutDefinition(ctx, KindCommand, "c", nil) },
		"GetDefinition":    func() error { _, err := s.GetDefinition(ctx, KindCommand, "c"); return err },
		"DeleteDefinition": func() error { return s.DeleteDefinition(ctx, KindCommand, "c") },
		"ListDefinitions":  func() error { _, err := s.ListDefinitions(ctx, KindCommand); return err },
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close = %v, want ErrClosed", name, err)
		}
	}
}

// TestConcurrentWritesAndReads runs batches of writes beside readers: no
// call may fail (no SQLITE_BUSY) and readers see counts only grow.
func TestConcurrentWritesAndReads(t *testing.T) {
	s, _ := openTestStore(t)
	ctx := testCtx(t)
	const batches, batchSize, readers = 20, 200, 3
	done := make(chan struct{})
	errc := make(chan error, readers+1)
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(done)
		for b := range batches {
			batch := make([]job.Result, batchSize)
			for i := range batch {
				batch[i] = makeResult(b*batchSize+i, job.StateOK)
			}
			// Every batch also re-sends the previous one's last result.
			if b > 0 {
				batch = append(batch, makeResult(b*batchSize-1, job.StateOK))
			}
			counts, err := s.PutResults(ctx, "j", batch)
			if err != nil {
				errc <- fmt.Errorf("PutResults: %w", err)
				return
			}
			if counts[job.StateOK] != batchSize {
				errc <- fmt.Errorf("batch %d stored %v, want %d ok", b, counts, batchSize)
				return
			}
		}
	})
	for r := range readers {
		wg.Go(func() {
			last := 0
			for reads := 0; ; reads++ {
				select {
				case <-done:
					if reads > 0 {
						return
					}
				default:
				}
				var err error
				switch r {
				case 0:
					var counts map[string]int
					counts, err = s.CountResults(ctx, "j")
					if err == nil && counts[job.StateOK] < last {
						err = fmt.Errorf("count went from %d to %d", last, counts[job.StateOK])
					}
					last = counts[job.StateOK]
				case 1:
					_, _, err = s.Results(ctx, "j", ResultQuery{Cursor: reads * 10 % (batches * batchSize), Limit: 200, Q: "version"})
				case 2:
					_, err = s.Aggregate(ctx, "j", ByValue, 10)
				}
				if err != nil {
					errc <- fmt.Errorf("reader %d: %w", r, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	counts, err := s.CountResults(ctx, "j")
	if err != nil {
		t.Fatalf("CountResults: %v", err)
	}
	if counts[job.StateOK] != batches*batchSize {
		t.Errorf("stored %v, want %d ok", counts, batches*batchSize)
	}
}

// TestReadsDuringWrite holds the writer in an open transaction and checks
// that reads neither wait for it nor see its uncommitted rows.
func TestReadsDuringWrite(t *testing.T) {
	s, _ := openTestStore(t)
	ctx := testCtx(t)
	if _, err := s.PutResults(ctx, "j", []job.Result{makeResult(0, job.StateOK)}); err != nil {
		t.Fatalf("PutResults: %v", err)
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		t.Fatalf("begin: %v", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `UPDATE results SET value = 'uncommitted'`); err != nil {
		t.Fatalf("update: %v", err)
	}
	readCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	rs, _, err := s.Results(readCtx, "j", ResultQuery{})
	if err != nil {
		t.Fatalf("Results during a write: %v", err)
	}
	if len(rs) != 1 || rs[0].Value != "1.0" {
		t.Errorf("Results during a write = %+v, want the committed result", rs)
	}
	if groups, err := s.Aggregate(readCtx, "j", ByValue, 0); err != nil || len(groups) != 1 || groups[0].Value != "1.0" {
		t.Errorf("Aggregate during a write = %+v, %v", groups, err)
	}
}

func TestPutResultsCancelled(t *testing.T) {
	s, _ := openTestStore(t)
	ctx, cancel := context.WithCancel(testCtx(t))
	cancel()
	if _, err := s.PutResults(ctx, "j", []job.Result{makeResult(0, job.StateOK)}); !errors.Is(err, context.Canceled) {
		t.Fatalf("PutResults(cancelled) = %v, want context.Canceled", err)
	}
	counts, err := s.CountResults(testCtx(t), "j")
	if err != nil || len(counts) != 0 {
		t.Errorf("CountResults = %v, %v; want nothing stored", counts, err)
	}
}

// Large bodies go one insert statement at a time: the driver copies every
// bound value, so a group must not carry more than maxGroupBytes of them.
func TestGroupFor(t *testing.T) {
	sized := func(sizes ...int) []*job.Result {
		rs := make([]*job.Result, len(sizes))
		for i, n := range sizes {
			rs[i] = &job.Result{Index: i, Body: strings.Repeat("x", n)}
		}
		return rs
	}
	many := make([]int, 100)
	tests := []struct {
		name string
		rs   []*job.Result
		want int
	}{
		{"small results fill a group", sized(many...), resultGroup},
		{"a few small ones", sized(1, 2, 3), 2},
		{"one large body", sized(maxGroupBytes+1, 1, 1, 1), 1},
		{"two that fit", sized(maxGroupBytes/2, maxGroupBytes/2, 1, 1), 2},
		{"a large one further on", sized(1, 1, 1, maxGroupBytes), 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, slot := groupFor(tt.rs)
			if n != tt.want || 1<<slot != n {
				t.Errorf("groupFor = %d (slot %d), want %d", n, slot, tt.want)
			}
		})
	}
}
