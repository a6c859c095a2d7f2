package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/salvo-sh/salvo/job"
)

// scheduledJob is a job of schedule name's slot.
func scheduledJob(id, name string, slot time.Time, manual bool) *Job {
	j := testJob(id, slot)
	j.Schedule, j.Slot, j.Manual = name, slot, manual
	return j
}

// A slot has one job: a second one is refused with ErrSlotTaken, through
// CreateJob and through ApplyCreate (a replica's apply), and nothing of it
// is stored; a manual run and another schedule's slot are other slots; the
// job's link reads back.
func TestScheduleSlotIsUnique(t *testing.T) {
	ctx := context.Background()
	s, _ := openTestStore(t)
	slot := time.Date(2026, 5, 1, 10, 15, 0, 0, time.UTC)
	if err := s.CreateJob(ctx, scheduledJob("a", "nightly", slot, false), makeTargets(3), 2); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetJob(ctx, "a")
	if err != nil || got.Schedule != "nightly" || !got.Slot.Equal(slot) || got.Manual {
		t.Fatalf("GetJob: %+v %v", got, err)
	}
	if err := s.CreateJob(ctx, scheduledJob("b", "nightly", slot, false), makeTargets(3), 2); !errors.Is(err, ErrSlotTaken) {
		t.Fatalf("a second job of the slot: %v, want ErrSlotTaken", err)
	}
	if err := s.ApplyCreate(ctx, "c", scheduledJob("c", "nightly", slot, false), 0, []string{`[]`}); !errors.Is(err, ErrSlotTaken) {
		t.Fatalf("a second job of the slot applied: %v, want ErrSlotTaken", err)
	}
	for _, id := range []string{"b", "c"} {
		if _, err := s.GetJob(ctx, id); !errors.Is(err, ErrNotFound) {
			t.Errorf("job %s stored: %v", id, err)
		}
		if n, err := s.ChunkCount(ctx, id); !errors.Is(err, ErrNotFound) || n != 0 {
			t.Errorf("chunks of job %s: %d %v", id, n, err)
		}
	}
	var chunks int
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM target_chunks WHERE job_id IN ('b', 'c')`).Scan(&chunks); err != nil || chunks != 0 {
		t.Errorf("chunks of the refused jobs: %d %v", chunks, err)
	}
	// The same entry applied again (a replayed log) is no conflict.
	if err := s.ApplyCreate(ctx, "a", scheduledJob("a", "nightly", slot, false), 0, nil); err != nil {
		t.Errorf("the slot's own job applied again: %v", err)
	}
	for _, j := range []*Job{scheduledJob("m", "nightly", slot, true), scheduledJob("o", "other", slot, false), testJob("plain1", slot), testJob("plain2", slot)} {
		if err := s.CreateJob(ctx, j, makeTargets(1), 2); err != nil {
			t.Errorf("job %s: %v", j.ID, err)
		}
	}
	// The unique index is the last guard, below checkSlot.
	_, err = s.w.ExecContext(ctx, `INSERT INTO jobs (id, spec, state, created_at, schedule, slot, manual) VALUES ('d', '{}', 'waiting', 1, 'nightly', ?, 0)`, slot.UnixMilli())
	if err == nil {
		t.Error("the unique index let a second job of the slot in")
	}
}

// A schedule's runs page by slot, the latest first; Slots leaves out the
// manual runs; ListJobs filters by schedule.
func TestScheduleRuns(t *testing.T) {
	ctx := context.Background()
	s, _ := openTestStore(t)
	base := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	var want []string
	for i := range 7 {
		// Created in another order than their slots: a caught-up slot
		// is created late.
		slot := base.Add(time.Duration(i) * time.Hour)
		id := fmt.Sprintf("r%d", i)
		j := scheduledJob(id, "hourly", slot, i == 3)
		j.CreatedAt = base.Add(time.Duration(10-i) * time.Hour)
		if err := s.CreateJob(ctx, j, makeTargets(1), 2); err != nil {
			t.Fatal(err)
		}
		want = append([]string{id}, want...)
	}
	if err := s.CreateJob(ctx, scheduledJob("x", "other", base, false), makeTargets(1), 2); err != nil {
		t.Fatal(err)
	}
	var got []string
	cursor := ""
	for pages := 0; ; pages++ {
		runs, next, err := s.ScheduleRuns(ctx, RunQuery{Schedule: "hourly", Cursor: cursor, Limit: 3})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range runs {
			got = append(got, r.ID)
		}
		if next == "" {
			break
		}
		if pages > 5 {
			t.Fatal("too many pages")
		}
		cursor = next
	}
	if !slices.Equal(got, want) {
		t.Errorf("runs %v, want %v", got, want)
	}
	last, _, err := s.ScheduleRuns(ctx, RunQuery{Schedule: "hourly", Slots: true, Limit: 1})
	if err != nil || len(last) != 1 || last[0].ID != "r6" {
		t.Errorf("latest slot: %v %v", last, err)
	}
	slots, _, err := s.ScheduleRuns(ctx, RunQuery{Schedule: "hourly", Slots: true})
	if err != nil || len(slots) != 6 || slices.ContainsFunc(slots, func(j *Job) bool { return j.Manual }) {
		t.Errorf("slots without manual runs: %d %v", len(slots), err)
	}
	if _, _, err := s.ScheduleRuns(ctx, RunQuery{Schedule: "hourly", Cursor: "nope"}); !errors.Is(err, ErrBadCursor) {
		t.Errorf("a bad cursor: %v", err)
	}
	jobs, _, err := s.ListJobs(ctx, JobQuery{Schedule: "other"})
	if err != nil || len(jobs) != 1 || jobs[0].ID != "x" {
		t.Errorf("ListJobs ?schedule=other: %v %v", jobs, err)
	}
}

// CompareValues reports the hosts of both jobs whose values differ, each
// host once, within its scan bound, listing at most maxChanged.
func TestCompareValues(t *testing.T) {
	ctx := context.Background()
	s, _ := openTestStore(t)
	put := func(id string, values map[int]string, hosts func(i int) string) {
		t.Helper()
		if err := s.CreateJob(ctx, testJob(id, time.Now()), makeTargets(len(values)), 100); err != nil {
			t.Fatal(err)
		}
		var rs []job.Result
		for i, v := range values {
			rs = append(rs, job.Result{Index: i, Host: hosts(i), State: job.StateOK, Value: v})
		}
		if _, err := s.PutResults(ctx, id, rs); err != nil {
			t.Fatal(err)
		}
	}
	host := func(i int) string { return fmt.Sprintf("h%02d", i) }
	prev, cur := map[int]string{}, map[int]string{}
	for i := range 20 {
		prev[i], cur[i] = "v1", "v1"
	}
	for _, i := range []int{2, 5, 11, 17} {
		cur[i] = "v2"
	}
	cur[20] = "v9" // a host the previous job did not have: not a change
	put("prev", prev, host)
	// cur's index 21 is h05 again (a second port of the host): counted once.
	cur[21] = "v3"
	put("cur", cur, func(i int) string {
		if i == 21 {
			return host(5)
		}
		return host(i)
	})

	tests := []struct {
		name           string
		scan, max      int
		count, scanned int
		complete       bool
		listed         []string
	}{
		{"all", 1000, 1000, 4, 22, true, []string{"h02", "h05", "h11", "h17"}},
		{"listing cut", 1000, 2, 4, 22, true, []string{"h02", "h05"}},
		{"scan cut", 10, 1000, 2, 10, false, []string{"h02", "h05"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			vc, err := s.CompareValues(ctx, "cur", "prev", tc.scan, tc.max)
			if err != nil {
				t.Fatal(err)
			}
			var listed []string
			for _, h := range vc.Changed {
				listed = append(listed, h.Host)
				if h.From != "v1" || h.To != "v2" {
					t.Errorf("%s: %s → %s, want v1 → v2", h.Host, h.From, h.To)
				}
			}
			if vc.Count != tc.count || vc.Scanned != tc.scanned || vc.Complete != tc.complete || !slices.Equal(listed, tc.listed) {
				t.Errorf("got count %d scanned %d complete %v listed %v, want %d %d %v %v",
					vc.Count, vc.Scanned, vc.Complete, listed, tc.count, tc.scanned, tc.complete, tc.listed)
			}
		})
	}
	// A job without results compares as nothing changed.
	if err := s.CreateJob(ctx, testJob("empty", time.Now()), nil, 10); err != nil {
		t.Fatal(err)
	}
	if vc, err := s.CompareValues(ctx, "empty", "prev", 10, 10); err != nil || vc.Count != 0 || !vc.Complete {
		t.Errorf("an empty job: %+v %v", vc, err)
	}

	// Once both jobs are terminal the answer is kept: a result changed
	// behind the store's back afterwards is not seen, while the running
	// job's answer above was computed each time.
	for _, id := range []string{"cur", "prev"} {
		j, err := s.GetJob(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		j.State = JobGathered
		if err := s.UpdateJob(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	first, err := s.CompareValues(ctx, "cur", "prev", 1000, 1000)
	if err != nil || first.Count != 4 {
		t.Fatalf("terminal jobs: %+v %v", first, err)
	}
	if _, err := s.w.ExecContext(ctx, `UPDATE results SET value = 'v1' WHERE job_key = (SELECT key FROM job_keys WHERE id = 'cur')`); err != nil {
		t.Fatal(err)
	}
	if again, err := s.CompareValues(ctx, "cur", "prev", 1000, 1000); err != nil || again.Count != 4 || !slices.Equal(again.Changed, first.Changed) {
		t.Errorf("a second comparison of terminal jobs: %+v %v, want the kept %+v", again, err, first)
	}
	if fresh, err := s.CompareValues(ctx, "cur", "prev", 999, 1000); err != nil || fresh.Count != 0 {
		t.Errorf("another bound is computed again: %+v %v, want no change", fresh, err)
	}
}

// A version 6 file gains the schedule columns and their index.
func TestMigrateToScheduleColumns(t *testing.T) {
	ctx := context.Background()
	cfg := DefaultSQLiteConfig(t.TempDir())
	s, err := OpenSQLite(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateJob(ctx, testJob("old", time.Now()), makeTargets(1), 10); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`DROP INDEX jobs_schedule_slot`, `ALTER TABLE jobs DROP COLUMN schedule`,
		`ALTER TABLE jobs DROP COLUMN slot`, `ALTER TABLE jobs DROP COLUMN manual`, `PRAGMA user_version = 6`} {
		if _, err := s.w.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err = OpenSQLite(cfg); err != nil {
		t.Fatalf("open a version 6 file: %v", err)
	}
	defer s.Close()
	if got, err := s.GetJob(ctx, "old"); err != nil || got.Schedule != "" || !got.Slot.IsZero() {
		t.Fatalf("a migrated job: %+v %v", got, err)
	}
	slot := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := s.CreateJob(ctx, scheduledJob("new", "s", slot, false), makeTargets(1), 10); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateJob(ctx, scheduledJob("again", "s", slot, false), makeTargets(1), 10); !errors.Is(err, ErrSlotTaken) {
		t.Errorf("after the migration, a second job of a slot: %v", err)
	}
	var n int
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = 'jobs_schedule_slot'`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("index after the migration: %d %v", n, err)
	}
}

// The schedule queries search their indexes: a history page and a
// schedule's latest slot cost their size, a comparison one lookup per
// result in results_host.
func TestSchedulePlans(t *testing.T) {
	ctx := context.Background()
	s, _ := openTestStore(t)
	cursor := jobCursor{createdMs: 1, id: "x"}.encode()
	runs := func(q RunQuery) (string, []any) {
		query, args, _, err := scheduleRunsQuery(q)
		if err != nil {
			t.Fatal(err)
		}
		return query, args
	}
	tests := []struct {
		name  string
		query func() (string, []any)
		want  []string // in the plan, in order
	}{
		{"history", func() (string, []any) { return runs(RunQuery{Schedule: "s", Limit: 10}) }, []string{"jobs_schedule_slot (schedule=?)"}},
		{"history page", func() (string, []any) { return runs(RunQuery{Schedule: "s", Cursor: cursor, Limit: 10}) }, []string{"jobs_schedule_slot (schedule=? AND slot<?)"}},
		{"latest slot", func() (string, []any) { return runs(RunQuery{Schedule: "s", Slots: true, Limit: 1}) }, []string{"jobs_schedule_slot (schedule=?)"}},
		{"compare", func() (string, []any) { return compareQuery, []any{1, 2, 10} }, []string{
			"sqlite_autoindex_results_1 (job_key=?)", "results_host (job_key=? AND host=?)", "results_host (job_key=? AND host=?)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			query, args := tt.query()
			rows, err := s.r.QueryContext(ctx, "EXPLAIN QUERY PLAN "+query, args...)
			if err != nil {
				t.Fatalf("explain: %v", err)
			}
			defer rows.Close()
			var plan []string
			for rows.Next() {
				var id, parent, unused int
				var detail string
				if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
					t.Fatal(err)
				}
				plan = append(plan, detail)
			}
			i := 0
			for _, line := range plan {
				if i < len(tt.want) && strings.Contains(line, tt.want[i]) {
					i++
				}
				if strings.HasPrefix(line, "SCAN jobs") || strings.HasPrefix(line, "SCAN results") {
					t.Errorf("a full scan: %q", line)
				}
			}
			if i < len(tt.want) {
				t.Errorf("plan %q lacks %q", plan, tt.want[i])
			}
		})
	}
}

// BenchmarkCompareValues compares two runs of 100,000 results (one in
// seven hosts changed): the cost of one history entry at the scan bound.
func BenchmarkCompareValues(b *testing.B) {
	s, _ := openTestStore(b)
	ctx := context.Background()
	const n = 100_000
	for _, id := range []string{"prev", "cur"} {
		if err := s.CreateJob(ctx, testJob(id, time.Now()), nil, 1000); err != nil {
			b.Fatal(err)
		}
		for lo := 0; lo < n; lo += 5000 {
			rs := benchResultsPad(lo, 5000, 10)
			if id == "cur" {
				for i := range rs {
					if rs[i].Index%7 == 0 {
						rs[i].Value = "changed"
					}
				}
			}
			if _, err := s.PutResults(ctx, id, rs); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ResetTimer()
	for b.Loop() {
		vc, err := s.CompareValues(ctx, "cur", "prev", n, 1000)
		if err != nil || vc.Count != (n+6)/7 || !vc.Complete {
			b.Fatalf("%+v %v", vc.Count, err)
		}
	}
}
