package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/salvo-sh/salvo/job"
)

// jobRows counts the rows of every table that belong to job id (key its
// job key): a table with no known job column fails the test unless it is
// one that holds no job rows, so that a new table is not forgotten by
// DeleteJob.
func jobRows(t *testing.T, s *SQLite, id string, key int64) map[string]int {
	t.Helper()
	ctx := testCtx(t)
	jobless := []string{"definitions", "tokens", "audit", "raft_state"}
	rows, err := s.r.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\'`)
	if err != nil {
		t.Fatal(err)
	}
	tables, err := scanNames(rows, "tables")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, table := range tables {
		cols, err := s.r.QueryContext(ctx, `SELECT name FROM pragma_table_info(?)`, table)
		if err != nil {
			t.Fatal(err)
		}
		names, err := scanNames(cols, "columns")
		if err != nil {
			t.Fatal(err)
		}
		var where string
		var arg any
		switch {
		case slices.Contains(names, "job_id"):
			where, arg = "job_id = ?", id
		case slices.Contains(names, "job_key"):
			where, arg = "job_key = ?", key
		case table == "jobs" || table == "job_keys":
			where, arg = "id = ?", id
		case slices.Contains(jobless, table):
			continue
		default:
			t.Errorf("table %s: no known job column: teach DeleteJob and this test about it", table)
			continue
		}
		var n int
		if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM `+quoteIdent(table)+` WHERE `+where, arg).Scan(&n); err != nil {
			t.Fatal(err)
		}
		out[table] = n
	}
	return out
}

// storeJob stores a job of n targets (chunks of chunk), its results in
// the given states by index, and ends it in state.
func storeJob(t *testing.T, s *SQLite, id string, n, chunk int, state string, resultState func(i int) string) {
	t.Helper()
	ctx := testCtx(t)
	jr := testJob(id, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	jr.Total = n
	if err := s.CreateJob(ctx, jr, makeTargets(n), chunk); err != nil {
		t.Fatal(err)
	}
	const batch = 5000
	for lo := 0; lo < n; lo += batch {
		var rs []job.Result
		for i := lo; i < min(n, lo+batch); i++ {
			rs = append(rs, makeResult(i, resultState(i)))
		}
		if _, err := s.PutResults(ctx, id, rs); err != nil {
			t.Fatal(err)
		}
	}
	jr.State = state
	if Terminal(state) {
		jr.FinishedAt = time.Date(2026, 1, 1, 1, 0, 0, 0, time.UTC)
	}
	if err := s.UpdateJob(ctx, jr); err != nil {
		t.Fatal(err)
	}
}

// A delete goes in bounded steps, results first and the job's row last,
// and leaves no row of the job in any table; other jobs keep theirs; an
// unfinished job is refused and an unknown one is not found.
func TestDeleteJobInBatches(t *testing.T) {
	s, _ := openTestStore(t)
	ctx := testCtx(t)
	ok := func(int) string { return job.StateOK }
	storeJob(t, s, "big", 25_000, 1000, JobGathered, ok)
	storeJob(t, s, "keep", 30, 10, JobGathered, ok)
	storeJob(t, s, "running", 10, 10, JobProcessing, ok)
	for _, id := range []string{"big", "keep"} {
		if _, err := s.Aggregate(ctx, id, ByValue, 10); err != nil { // fills aggregate_cache
			t.Fatal(err)
		}
	}
	var key int64
	if err := s.r.QueryRowContext(ctx, `SELECT key FROM job_keys WHERE id = 'big'`).Scan(&key); err != nil {
		t.Fatal(err)
	}
	before := jobRows(t, s, "big", key)
	for table, want := range map[string]int{"jobs": 1, "job_keys": 1, "results": 25_000, "target_chunks": 25, "aggregate_cache": 1} {
		if before[table] != want {
			t.Fatalf("before the delete: %d rows of big in %s, want %d (%v)", before[table], table, want, before)
		}
	}
	keepBefore := readContent(t, s)

	// 25,000 results in steps of 10,000, then 25 chunks in steps of 10,
	// the last step also the job's row: 5 steps.
	steps := 0
	for more := true; more; steps++ {
		var err error
		if more, err = s.DeleteJobStep(ctx, "big", DeleteBatch); err != nil {
			t.Fatalf("step %d: %v", steps+1, err)
		}
		if _, err := s.GetJob(ctx, "big"); more && err != nil {
			t.Fatalf("after step %d the job's row is gone (%v), with rows left: the row goes last", steps+1, err)
		}
	}
	if steps != 5 {
		t.Errorf("%d steps, want 5", steps)
	}
	for table, n := range jobRows(t, s, "big", key) {
		if n != 0 {
			t.Errorf("after the delete: %d rows of big left in %s", n, table)
		}
	}
	after := readContent(t, s)
	if len(after.Jobs) != 2 || len(after.Results["keep"]) != 30 || len(after.Chunks["keep"]) != 3 ||
		fmt.Sprint(after.Aggregates["keep"]) != fmt.Sprint(keepBefore.Aggregates["keep"]) {
		t.Errorf("the other jobs changed: %d jobs, keep has %d results, %d chunks", len(after.Jobs), len(after.Results["keep"]), len(after.Chunks["keep"]))
	}
	if err := s.DeleteJob(ctx, "running"); !errors.Is(err, ErrNotFinished) {
		t.Errorf("delete a running job: %v, want ErrNotFinished", err)
	}
	if n := jobRows(t, s, "running", 0); n["jobs"] != 1 || n["target_chunks"] != 1 {
		t.Errorf("a refused delete deleted rows: %v", n)
	}
	if err := s.DeleteJob(ctx, "big"); !errors.Is(err, ErrNotFound) {
		t.Errorf("delete a deleted job: %v, want ErrNotFound", err)
	}
	if err := s.DeleteJob(ctx, "keep"); err != nil {
		t.Fatalf("DeleteJob(keep): %v", err)
	}
	if jobs, _, _ := s.ListJobs(ctx, JobQuery{}); len(jobs) != 1 || jobs[0].ID != "running" {
		t.Errorf("left %d jobs, want running only", len(jobs))
	}
}

// A delete cut short (its context ends between two steps) leaves a
// smaller job, which a new delete finishes.
func TestDeleteJobResumes(t *testing.T) {
	s, _ := openTestStore(t)
	storeJob(t, s, "j", 12_000, 1000, JobCancelled, func(int) string { return job.StateCancelled })
	ctx := testCtx(t)
	if more, err := s.DeleteJobStep(ctx, "j", DeleteBatch); err != nil || !more {
		t.Fatalf("first step: %v %v", more, err)
	}
	j, err := s.GetJob(ctx, "j")
	if err != nil {
		t.Fatalf("the job is gone after one step: %v", err)
	}
	if c, _ := s.CountResults(ctx, "j"); c[job.StateCancelled] != 2000 {
		t.Fatalf("after one step: %v, want 2,000 results left", c)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.DeleteJob(cancelled, j.ID); err == nil {
		t.Fatal("a delete with a cancelled context succeeded")
	}
	if err := s.DeleteJob(ctx, j.ID); err != nil {
		t.Fatal(err)
	}
	if n := jobRows(t, s, "j", 1); n["jobs"]+n["results"]+n["target_chunks"]+n["job_keys"] != 0 {
		t.Errorf("rows left: %v", n)
	}
}

// ExpiredJobs returns the terminal jobs finished before the cutoff (a
// terminal job without a finished time by its creation), oldest first,
// never an unfinished one.
func TestExpiredJobs(t *testing.T) {
	s, _ := openTestStore(t)
	ctx := testCtx(t)
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	for _, j := range []struct {
		id                string
		state             string
		created, finished time.Duration // before now; finished 0: none
	}{
		{"old-gathered", JobGathered, 41 * day, 40 * day},
		{"old-cancelled", JobCancelled, 32 * day, 31 * day},
		{"old-failed-unfinished", JobFailed, 35 * day, 0},
		{"new-gathered", JobGathered, 40 * day, 29 * day},
		{"old-processing", JobProcessing, 50 * day, 0},
		{"old-waiting", JobWaiting, 60 * day, 0},
		{"recent-failed", JobFailed, 1 * day, 0},
	} {
		jr := testJob(j.id, now.Add(-j.created))
		jr.State = j.state
		if j.finished > 0 {
			jr.FinishedAt = now.Add(-j.finished)
		}
		if err := s.CreateJob(ctx, jr, makeTargets(2), 10); err != nil {
			t.Fatal(err)
		}
	}
	ids := func(jobs []*Job) []string {
		var out []string
		for _, j := range jobs {
			out = append(out, j.ID)
		}
		return out
	}
	jobs, err := s.ExpiredJobs(ctx, now.Add(-30*day), 10)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ids(jobs), []string{"old-gathered", "old-failed-unfinished", "old-cancelled"}; !slices.Equal(got, want) {
		t.Errorf("expired %v, want %v", got, want)
	}
	if jobs, _ := s.ExpiredJobs(ctx, now.Add(-30*day), 1); !slices.Equal(ids(jobs), []string{"old-gathered"}) {
		t.Errorf("limit 1: %v", ids(jobs))
	}
	if jobs, _ := s.ExpiredJobs(ctx, now.Add(-100*day), 10); len(jobs) != 0 {
		t.Errorf("nothing finished 100 days ago, got %v", ids(jobs))
	}
}

// ListJobs filters by exact name and by a substring of the name, id, SSH
// command or HTTP path (not its query), with the state filter and the
// cursor still working.
func TestListJobsFilters(t *testing.T) {
	s, _ := openTestStore(t)
	ctx := testCtx(t)
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	mk := func(id, name, state string, http *job.HTTPSpec, ssh *job.SSHSpec, i int) {
		t.Helper()
		jr := testJob(id, t0.Add(time.Duration(i)*time.Minute))
		jr.Name, jr.State = name, state
		jr.Spec.HTTP, jr.Spec.SSH = http, ssh
		if ssh != nil {
			jr.Spec.Protocol = job.ProtocolSSH
		}
		if err := s.CreateJob(ctx, jr, makeTargets(1), 10); err != nil {
			t.Fatal(err)
		}
	}
	mk("j1", "check", JobGathered, &job.HTTPSpec{Method: "GET", Path: "/health"}, nil, 1)
	mk("j2", "deploy web", JobGathered, &job.HTTPSpec{Method: "POST", Path: "/deploy?key=SeCrEt"}, nil, 2)
	mk("j3", "Deploy db", JobFailed, nil, &job.SSHSpec{Command: "systemctl restart postgres"}, 3)
	mk("j4", "check", JobProcessing, &job.HTTPSpec{Method: "GET", Path: "/health"}, nil, 4)
	mk("j5", "100% done_x", JobGathered, &job.HTTPSpec{Method: "GET", Path: "/"}, nil, 5)
	mk("abc-xyz", "other", JobGathered, &job.HTTPSpec{Method: "GET", Path: "/"}, nil, 6)

	tests := []struct {
		name string
		q    JobQuery
		want []string
	}{
		{"name exact", JobQuery{Name: "check"}, []string{"j4", "j1"}},
		{"name is not a prefix", JobQuery{Name: "deploy"}, nil},
		{"name and state", JobQuery{Name: "check", State: JobGathered}, []string{"j1"}},
		{"q in names, any case", JobQuery{Q: "DEPLOY"}, []string{"j3", "j2"}},
		{"q in a command", JobQuery{Q: "restart"}, []string{"j3"}},
		{"q in a path", JobQuery{Q: "/heal"}, []string{"j4", "j1"}},
		{"q not in a path's query", JobQuery{Q: "secret"}, nil},
		{"q in an id", JobQuery{Q: "c-x"}, []string{"abc-xyz"}},
		{"q percent is literal", JobQuery{Q: "%"}, []string{"j5"}},
		{"q underscore is literal", JobQuery{Q: "e_"}, []string{"j5"}},
		{"q and state", JobQuery{Q: "deploy", State: JobFailed}, []string{"j3"}},
		{"q and name", JobQuery{Q: "health", Name: "check", State: JobProcessing}, []string{"j4"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// One job a page: the cursor carries the filters' place.
			var got []string
			q := tt.q
			q.Limit = 1
			for range 10 {
				jobs, next, err := s.ListJobs(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				for _, j := range jobs {
					got = append(got, j.ID)
				}
				if next == "" {
					break
				}
				q.Cursor = next
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
	if _, _, err := s.ListJobs(ctx, JobQuery{Q: string(make([]byte, MaxJobQuery+1))}); err == nil {
		t.Error("a q over MaxJobQuery bytes was taken")
	}
}

// SubmittedBy and RerunOf are stored with the job, and a version 5 file
// gets their columns when it is opened.
func TestJobSubmitterAndRerunOf(t *testing.T) {
	ctx := testCtx(t)
	cfg := DefaultSQLiteConfig(t.TempDir())
	s, err := OpenSQLite(cfg)
	if err != nil {
		t.Fatal(err)
	}
	jr := testJob("r1", time.Now())
	jr.SubmittedBy, jr.RerunOf = "ops", "j0"
	if err := s.CreateJob(ctx, jr, makeTargets(1), 10); err != nil {
		t.Fatal(err)
	}
	jr.State = JobGathered
	if err := s.UpdateJob(ctx, jr); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetJob(ctx, "r1"); err != nil || got.SubmittedBy != "ops" || got.RerunOf != "j0" {
		t.Fatalf("GetJob: %+v %v", got, err)
	}
	// Make the file a version 5 one: no such columns, no such indexes.
	for _, q := range []string{`DROP INDEX jobs_name_created`, `DROP INDEX jobs_finished`,
		`ALTER TABLE jobs DROP COLUMN submitted_by`, `ALTER TABLE jobs DROP COLUMN rerun_of`, `PRAGMA user_version = 5`} {
		if _, err := s.w.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err = OpenSQLite(cfg); err != nil {
		t.Fatalf("open a version 5 file: %v", err)
	}
	defer s.Close()
	got, err := s.GetJob(ctx, "r1")
	if err != nil || got.SubmittedBy != "" || got.RerunOf != "" || got.State != JobGathered {
		t.Fatalf("a migrated job: %+v %v", got, err)
	}
	jr.ID = "r2"
	if err := s.CreateJob(ctx, jr, makeTargets(1), 10); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetJob(ctx, "r2"); err != nil || got.SubmittedBy != "ops" || got.RerunOf != "j0" {
		t.Fatalf("a job stored after the migration: %+v %v", got, err)
	}
	var n int
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name IN ('jobs_name_created', 'jobs_finished')`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("indexes after the migration: %d %v", n, err)
	}
}
