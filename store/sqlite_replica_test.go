package store

import (
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/salvo-sh/salvo/auth"
	"github.com/salvo-sh/salvo/job"
)

// makeTargets returns n targets, every third with vars.
func makeTargets(n int) []job.TargetSpec {
	ts := make([]job.TargetSpec, n)
	for i := range ts {
		ts[i] = job.TargetSpec{Host: fmt.Sprintf("10.1.%d.%d", i/256, i%256)}
		if i%3 == 0 {
			ts[i].Vars = map[string]string{"ID": strconv.Itoa(i)}
		}
	}
	return ts
}

// batches yields ts a batch of size at a time, like a streamed target list.
func batches(ts []job.TargetSpec, size int) func() ([]job.TargetSpec, error) {
	return func() ([]job.TargetSpec, error) {
		n := min(size, len(ts))
		b := ts[:n]
		ts = ts[n:]
		return b, nil
	}
}

// storedChunks returns the target_chunks texts of a job, by chunk number.
func storedChunks(t *testing.T, s *SQLite, jobID string) []string {
	t.Helper()
	rows, err := s.r.QueryContext(testCtx(t), `SELECT chunk, targets FROM target_chunks WHERE job_id = ? ORDER BY chunk`, jobID)
	if err != nil {
		t.Fatalf("read chunks: %v", err)
	}
	defer rows.Close()
	var texts []string
	for rows.Next() {
		var (
			n    int
			text string
		)
		if err := rows.Scan(&n, &text); err != nil {
			t.Fatalf("read chunks: %v", err)
		}
		if n != len(texts) {
			t.Fatalf("chunk %d stored where %d was expected", n, len(texts))
		}
		texts = append(texts, text)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("read chunks: %v", err)
	}
	return texts
}

func TestChunkTargetsMatchesCreateJob(t *testing.T) {
	s, _ := openTestStore(t)
	ctx := testCtx(t)
	tests := []struct {
		targets, chunkSize, batch, wantChunks int
	}{
		{0, 10, 5, 0},
		{1, 10, 5, 1},
		{10, 10, 3, 1},
		{11, 10, 3, 2},
		{25, 10, 25, 3},
		{7, 3, 1, 3},
		{DefaultChunkSize + 1, 0, 400, 2}, // default chunk size
	}
	for i, tt := range tests {
		t.Run(fmt.Sprintf("%d/%d/%d", tt.targets, tt.chunkSize, tt.batch), func(t *testing.T) {
			targets := makeTargets(tt.targets)
			var got []string
			total, err := ChunkTargets(tt.chunkSize, batches(targets, tt.batch), func(chunk int, text string) error {
				if chunk != len(got) {
					t.Fatalf("emitted chunk %d after %d chunks", chunk, len(got))
				}
				got = append(got, text)
				return nil
			})
			if err != nil {
				t.Fatalf("ChunkTargets: %v", err)
			}
			if total != tt.targets || len(got) != tt.wantChunks {
				t.Fatalf("ChunkTargets = %d targets in %d chunks, want %d in %d", total, len(got), tt.targets, tt.wantChunks)
			}
			id := "j" + strconv.Itoa(i)
			if err := s.CreateJobFrom(ctx, testJob(id, time.Now()), tt.chunkSize, batches(targets, tt.batch)); err != nil {
				t.Fatalf("CreateJobFrom: %v", err)
			}
			if want := storedChunks(t, s, id); !slices.Equal(got, want) {
				t.Errorf("ChunkTargets emitted\n%q\nCreateJobFrom stored\n%q", got, want)
			}
			var decoded []job.IndexedTarget
			for _, text := range got {
				ts, err := job.DecodeIndexedTargets([]byte(text))
				if err != nil {
					t.Fatalf("decode: %v", err)
				}
				decoded = append(decoded, ts...)
			}
			for k, it := range decoded {
				if it.Index != k || !reflect.DeepEqual(it.Target, targets[k]) {
					t.Fatalf("target %d decoded as %+v, want %+v", k, it, targets[k])
				}
			}
		})
	}
}

func TestChunkTargetsErrors(t *testing.T) {
	errNext, errEmit := errors.New("bad target"), errors.New("emit failed")
	tests := []struct {
		name      string
		next      func() ([]job.TargetSpec, error)
		emitFails int // the emit call that fails, -1 for none
		want      error
		wantEmits int
	}{
		{"next fails", func() func() ([]job.TargetSpec, error) {
			calls := 0
			return func() ([]job.TargetSpec, error) {
				if calls++; calls == 3 {
					return nil, errNext
				}
				return makeTargets(2), nil
			}
		}(), -1, errNext, 1},
		{"emit fails", batches(makeTargets(9), 9), 1, errEmit, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			emits := 0
			_, err := ChunkTargets(3, tt.next, func(chunk int, text string) error {
				emits++
				if chunk == tt.emitFails {
					return errEmit
				}
				return nil
			})
			if !errors.Is(err, tt.want) || emits != tt.wantEmits {
				t.Errorf("ChunkTargets = %v after %d emits, want %v after %d", err, emits, tt.want, tt.wantEmits)
			}
		})
	}
}

func TestApplyCreate(t *testing.T) {
	ctx := testCtx(t)
	targets := makeTargets(7)
	var chunks []string
	if _, err := ChunkTargets(3, batches(targets, 7), func(_ int, text string) error {
		chunks = append(chunks, text)
		return nil
	}); err != nil {
		t.Fatalf("ChunkTargets: %v", err)
	}
	jr := testJob("j", time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC))
	created2 := time.Date(2026, 3, 4, 5, 7, 0, 0, time.UTC)
	jr.Total = len(targets)

	// The row CreateJobFrom writes, to compare with.
	ref, _ := openTestStore(t)
	if err := ref.CreateJob(ctx, jr, targets, 3); err != nil {
		t.Fatalf("CreateJob: %v", err)
	}
	want, err := ref.GetJob(ctx, "j")
	if err != nil {
		t.Fatalf("GetJob: %v", err)
	}

	type entry struct {
		job   bool // the job's row, else chunks
		first int
		n     int
	}
	e1, e2, e3 := entry{first: 0, n: 2}, entry{first: 2, n: 1}, entry{job: true}
	tests := []struct {
		name    string
		entries []entry
	}{
		{"in order", []entry{e1, e2, e3}},
		{"each twice", []entry{e1, e1, e2, e2, e3, e3}},
		{"replayed after", []entry{e1, e2, e3, e1, e2, e3}},
		{"chunks out of order", []entry{e2, e1, e3}},
	}
	apply := func(t *testing.T, s *SQLite, e entry) {
		t.Helper()
		var err error
		if e.job {
			err = s.ApplyCreate(ctx, "j", jr, 0, nil)
		} else {
			err = s.ApplyCreate(ctx, "j", nil, e.first, chunks[e.first:e.first+e.n])
		}
		if err != nil {
			t.Fatalf("ApplyCreate(%+v): %v", e, err)
		}
	}
	check := func(t *testing.T, s *SQLite, want *Job) {
		t.Helper()
		got, err := s.GetJob(ctx, "j")
		if err != nil {
			t.Fatalf("GetJob: %v", err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("job\n got %+v\nwant %+v", got, want)
		}
		var read []job.IndexedTarget
		for n := range len(chunks) {
			c, err := s.Chunk(ctx, "j", n)
			if err != nil {
				t.Fatalf("Chunk(%d): %v", n, err)
			}
			read = append(read, c...)
		}
		if len(read) != len(targets) {
			t.Fatalf("chunks hold %d targets, want %d", len(read), len(targets))
		}
		for k, it := range read {
			if it.Index != k || !reflect.DeepEqual(it.Target, targets[k]) {
				t.Errorf("target %d = %+v, want %+v", k, it, targets[k])
			}
		}
		if got, want := storedChunks(t, s, "j"), storedChunks(t, ref, "j"); !slices.Equal(got, want) {
			t.Errorf("stored chunks %q, CreateJob's %q", got, want)
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := openTestStore(t)
			created := false
			for _, e := range tt.entries {
				apply(t, s, e)
				created = created || e.job
				if _, err := s.GetJob(ctx, "j"); !created && !errors.Is(err, ErrNotFound) {
					t.Fatalf("after %+v: job visible before its row's entry (%v)", e, err)
				}
			}
			check(t, s, want)

			// The job moves on; replaying every entry changes nothing.
			moved := *want
			moved.State, moved.Reason = JobProcessing, ""
			moved.StartedAt = created2
			if err := s.UpdateJob(ctx, &moved); err != nil {
				t.Fatalf("UpdateJob: %v", err)
			}
			for _, e := range tt.entries {
				apply(t, s, e)
			}
			check(t, s, &moved)
		})
	}
}

func TestApplyCreateRefuses(t *testing.T) {
	s, _ := openTestStore(t)
	ctx := testCtx(t)
	noTime := testJob("j", time.Time{})
	tests := []struct {
		name  string
		id    string
		jr    *Job
		first int
	}{
		{"empty id", "", nil, 0},
		{"other job's row", "j", testJob("k", time.Now()), 0},
		{"zero creation time", "j", noTime, 0},
		{"negative chunk", "j", nil, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := s.ApplyCreate(ctx, tt.id, tt.jr, tt.first, []string{"[]"}); err == nil {
				t.Fatal("ApplyCreate succeeded")
			}
			var n int
			if err := s.r.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM jobs) + (SELECT count(*) FROM target_chunks)`).Scan(&n); err != nil || n != 0 {
				t.Errorf("%d rows stored (%v), want none", n, err)
			}
		})
	}
}

func TestAppliedIndex(t *testing.T) {
	s, cfg := openTestStore(t)
	ctx := testCtx(t)
	if got, err := s.AppliedIndex(ctx); err != nil || got != 0 {
		t.Fatalf("AppliedIndex of a new store = %d, %v; want 0", got, err)
	}
	for _, index := range []uint64{1, 42, 7, math.MaxInt64} {
		if err := s.SetAppliedIndex(ctx, index); err != nil {
			t.Fatalf("SetAppliedIndex(%d): %v", index, err)
		}
		if got, err := s.AppliedIndex(ctx); err != nil || got != index {
			t.Fatalf("AppliedIndex = %d, %v; want %d", got, err, index)
		}
	}
	if err := s.SetAppliedIndex(ctx, math.MaxInt64+1); err == nil {
		t.Error("SetAppliedIndex(MaxInt64+1) succeeded")
	}
	if err := s.SetAppliedIndex(ctx, 1234); err != nil {
		t.Fatalf("SetAppliedIndex: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	s2, err := OpenSQLite(cfg)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s2.Close()
	if got, err := s2.AppliedIndex(ctx); err != nil || got != 1234 {
		t.Errorf("AppliedIndex after reopen = %d, %v; want 1234", got, err)
	}
}

// A version 4 file (before raft_state) opens, gains the table and the
// version.
func TestAppliedIndexOfAVersion4File(t *testing.T) {
	s, cfg := openTestStore(t)
	ctx := testCtx(t)
	if _, err := s.w.ExecContext(ctx, `DROP TABLE raft_state; PRAGMA user_version = 4`); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := OpenSQLite(cfg)
	if err != nil {
		t.Fatalf("open a version 4 file: %v", err)
	}
	defer s2.Close()
	var v int
	if err := s2.r.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil || v != schemaVersion {
		t.Fatalf("schema version %d (%v), want %d", v, err, schemaVersion)
	}
	if got, err := s2.AppliedIndex(ctx); err != nil || got != 0 {
		t.Errorf("AppliedIndex = %d, %v; want 0", got, err)
	}
	if err := s2.SetAppliedIndex(ctx, 9); err != nil {
		t.Errorf("SetAppliedIndex: %v", err)
	}
}

// fill stores jobs (their chunks and results with bodies), an aggregate
// kept for a terminal job, definitions, tokens, audit entries and an
// applied index, all named after tag. Results go to the jobs in the order
// given, which sets their keys.
func fill(t *testing.T, s *SQLite, tag string, jobIDs []string, audits int, index uint64) {
	t.Helper()
	ctx := testCtx(t)
	for i, id := range jobIDs {
		jr := testJob(id, time.Date(2026, 1, 1, 0, 0, i, 0, time.UTC))
		jr.Name = tag + " " + id
		jr.Total = 0
		if err := s.CreateJob(ctx, jr, makeTargets(5+i), 2); err != nil {
			t.Fatalf("CreateJob: %v", err)
		}
		rs := make([]job.Result, 0, 5+i)
		for k := range 5 + i {
			r := makeResult(k, []string{job.StateOK, job.StateFailed, job.StateError}[k%3])
			r.Body = fmt.Sprintf("%s body of %s #%d: %s", tag, id, k, strings.Repeat("x", k*100))
			rs = append(rs, r)
		}
		if _, err := s.PutResults(ctx, id, rs); err != nil {
			t.Fatalf("PutResults: %v", err)
		}
		jr.State = JobGathered
		jr.Total = 5 + i
		jr.Counts = map[string]int{job.StateOK: 1}
		jr.Workers = map[string]WorkerCount{"node-" + tag: {Requests: int64(i), Responses: 1}}
		if err := s.UpdateJob(ctx, jr); err != nil {
			t.Fatalf("UpdateJob: %v", err)
		}
		if _, err := s.Aggregate(ctx, id, ByValue, 10); err != nil { // kept in aggregate_cache
			t.Fatalf("Aggregate: %v", err)
		}
	}
	if err := s.PutDefinition(ctx, KindCommand, tag, []byte(`{"tag":"`+tag+`"}`)); err != nil {
		t.Fatalf("PutDefinition: %v", err)
	}
	if err := s.PutDefinition(ctx, KindNodeGroup, "shared", []byte(`{"from":"`+tag+`"}`)); err != nil {
		t.Fatalf("PutDefinition: %v", err)
	}
	tok := auth.Token{Name: tag, Role: auth.Operator, Hash: "hash-" + tag, Scope: []string{"g-" + tag},
		Created: time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)}
	if err := s.PutToken(ctx, tok); err != nil {
		t.Fatalf("PutToken: %v", err)
	}
	for i := range audits {
		e := auth.Entry{Time: time.Date(2026, 2, 2, 0, 0, i, 0, time.UTC), Actor: tag, Method: "POST",
			Route: "/api/v1/jobs", Status: 201, Outcome: "allowed"}
		if err := s.PutAudit(ctx, e); err != nil {
			t.Fatalf("PutAudit: %v", err)
		}
	}
	if err := s.SetAppliedIndex(ctx, index); err != nil {
		t.Fatalf("SetAppliedIndex: %v", err)
	}
}

// content is everything a store holds, as its readers return it.
type content struct {
	Jobs        []*Job
	Chunks      map[string][][]job.IndexedTarget
	Results     map[string][]job.Result
	Aggregates  map[string][]Group
	Definitions map[string]map[string]string
	Tokens      []auth.Token
	Audit       []auth.Entry
	Applied     uint64
}

func readContent(t *testing.T, s *SQLite) content {
	t.Helper()
	ctx := testCtx(t)
	c := content{
		Chunks:      map[string][][]job.IndexedTarget{},
		Results:     map[string][]job.Result{},
		Aggregates:  map[string][]Group{},
		Definitions: map[string]map[string]string{},
	}
	var err error
	if c.Jobs, _, err = s.ListJobs(ctx, JobQuery{}); err != nil {
		t.Fatalf("ListJobs: %v", err)
	}
	for _, j := range c.Jobs {
		n, err := s.ChunkCount(ctx, j.ID)
		if err != nil {
			t.Fatalf("ChunkCount: %v", err)
		}
		for k := range n {
			chunk, err := s.Chunk(ctx, j.ID, k)
			if err != nil {
				t.Fatalf("Chunk: %v", err)
			}
			c.Chunks[j.ID] = append(c.Chunks[j.ID], chunk)
		}
		if c.Results[j.ID], _, err = s.Results(ctx, j.ID, ResultQuery{}); err != nil {
			t.Fatalf("Results: %v", err)
		}
		if c.Aggregates[j.ID], err = s.Aggregate(ctx, j.ID, ByValue, 10); err != nil {
			t.Fatalf("Aggregate: %v", err)
		}
	}
	for _, kind := range []string{KindCommand, KindNodeGroup} {
		names, err := s.ListDefinitions(ctx, kind)
		if err != nil {
			t.Fatalf("ListDefinitions: %v", err)
		}
		c.Definitions[kind] = map[string]string{}
		for _, name := range names {
			body, err := s.GetDefinition(ctx, kind, name)
			if err != nil {
				t.Fatalf("GetDefinition: %v", err)
			}
			c.Definitions[kind][name] = string(body)
		}
	}
	if c.Tokens, err = s.ListTokens(ctx); err != nil {
		t.Fatalf("ListTokens: %v", err)
	}
	if c.Audit, _, err = s.ListAudit(ctx, auth.Query{}); err != nil {
		t.Fatalf("ListAudit: %v", err)
	}
	if c.Applied, err = s.AppliedIndex(ctx); err != nil {
		t.Fatalf("AppliedIndex: %v", err)
	}
	return c
}

// tableRows returns every row of every table (SQLite's own included), each
// column by name, in a stable order: two stores with the same rows give
// the same answer whatever their columns' order.
func tableRows(t *testing.T, s *SQLite) map[string][]string {
	t.Helper()
	ctx := testCtx(t)
	names := func(query string, args ...any) []string {
		t.Helper()
		rows, err := s.r.QueryContext(ctx, query, args...)
		if err != nil {
			t.Fatalf("%s: %v", query, err)
		}
		out, err := scanNames(rows, query)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	out := map[string][]string{}
	for _, table := range names(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\_stat%' ESCAPE '\'`) {
		cols := names(`SELECT name FROM pragma_table_info(?) ORDER BY name`, table)
		for i := range cols {
			cols[i] = quoteIdent(cols[i])
		}
		out[table] = names(`SELECT quote(` + strings.Join(cols, `) || ',' || quote(`) + `) FROM ` + quoteIdent(table) +
			` ORDER BY ` + strings.Join(cols, ", "))
	}
	return out
}

// moveSecretsColumn gives s's jobs table the column order of a migrated
// version 2 file: secrets last.
func moveSecretsColumn(t *testing.T, s *SQLite) {
	t.Helper()
	ctx := testCtx(t)
	_, err := s.w.ExecContext(ctx, `ALTER TABLE jobs RENAME COLUMN secrets TO old_secrets;
		ALTER TABLE jobs ADD COLUMN secrets INTEGER NOT NULL DEFAULT 0;
		UPDATE jobs SET secrets = old_secrets;
		ALTER TABLE jobs DROP COLUMN old_secrets`)
	if err != nil {
		t.Fatalf("move secrets column: %v", err)
	}
}

func TestSnapshotRestore(t *testing.T) {
	tests := []struct {
		name              string
		migrateA, migrate bool // move jobs.secrets last in the source, the destination
	}{
		{"same layout", false, false},
		{"migrated source", true, false},
		{"migrated destination", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testCtx(t)
			a, _ := openTestStore(t)
			b, _ := openTestStore(t)
			if tt.migrateA {
				moveSecretsColumn(t, a)
			}
			if tt.migrate {
				moveSecretsColumn(t, b)
			}
			// In a, y's results come first: y gets key 1, x key 2. In b, x
			// has key 1, cached by PutResults.
			fill(t, a, "a", []string{"y", "x", "z"}, 3, 100)
			fill(t, b, "b", []string{"x", "onlyB"}, 5, 200)
			if err := b.PutToken(ctx, auth.Token{Name: "onlyB", Role: auth.Viewer, Hash: "hb2"}); err != nil {
				t.Fatal(err)
			}
			wantContent, wantRows := readContent(t, a), tableRows(t, a)

			path := filepath.Join(t.TempDir(), "snap.db")
			if err := a.SnapshotTo(ctx, path); err != nil {
				t.Fatalf("SnapshotTo: %v", err)
			}
			if err := b.RestoreFrom(ctx, path); err != nil {
				t.Fatalf("RestoreFrom: %v", err)
			}
			got := readContent(t, b)
			if !reflect.DeepEqual(got, wantContent) {
				t.Errorf("restored content\n got %+v\nwant %+v", got, wantContent)
			}
			if rows := tableRows(t, b); !reflect.DeepEqual(rows, wantRows) {
				for table := range wantRows {
					if !slices.Equal(rows[table], wantRows[table]) {
						t.Errorf("table %s:\n got %q\nwant %q", table, rows[table], wantRows[table])
					}
				}
			}
			if _, err := b.GetJob(ctx, "onlyB"); !errors.Is(err, ErrNotFound) {
				t.Errorf("GetJob(onlyB) after restore = %v, want ErrNotFound", err)
			}
			if _, err := b.TokenByHash(ctx, "hb2"); !errors.Is(err, auth.ErrUnknownToken) {
				t.Errorf("TokenByHash(onlyB's) after restore = %v, want ErrUnknownToken", err)
			}

			// Writes after the restore: results go under the restored keys
			// (the cache was cleared) and audit ids go on as in a.
			r := makeResult(50, job.StateOK)
			r.Body = "after the restore"
			for _, s := range []*SQLite{a, b} {
				if counts, err := s.PutResults(ctx, "x", []job.Result{r}); err != nil || counts[job.StateOK] != 1 {
					t.Fatalf("PutResults after restore = %v, %v", counts, err)
				}
				if err := s.PutAudit(ctx, auth.Entry{Actor: "later", Outcome: "allowed"}); err != nil {
					t.Fatalf("PutAudit: %v", err)
				}
			}
			xs, _, err := b.Results(ctx, "x", ResultQuery{Cursor: 50})
			if err != nil || len(xs) != 1 || xs[0].Body != r.Body {
				t.Errorf("x's result stored after the restore: %+v, %v", xs, err)
			}
			if ys, _, err := b.Results(ctx, "y", ResultQuery{Cursor: 50}); err != nil || len(ys) != 0 {
				t.Errorf("y holds x's result stored after the restore (stale key cache): %+v, %v", ys, err)
			}
			if got, want := readContent(t, b), readContent(t, a); !reflect.DeepEqual(got, want) {
				t.Errorf("after the same writes\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestRestoreWithConcurrentReaders(t *testing.T) {
	ctx := testCtx(t)
	a, _ := openTestStore(t)
	b, _ := openTestStore(t)
	aJobs, bJobs := []string{"a1", "a2", "a3", "a4"}, []string{"b1", "b2"}
	fill(t, a, "a", aJobs, 1, 1)
	fill(t, b, "b", bJobs, 1, 2)
	dir := t.TempDir()
	snaps := []string{filepath.Join(dir, "a.db"), filepath.Join(dir, "b.db")}
	if err := a.SnapshotTo(ctx, snaps[0]); err != nil {
		t.Fatal(err)
	}
	if err := b.SnapshotTo(ctx, snaps[1]); err != nil {
		t.Fatal(err)
	}
	wantIDs := func(ids []string) string {
		ids = slices.Clone(ids)
		slices.Reverse(ids) // newest first
		return strings.Join(ids, ",")
	}
	valid := map[string]bool{wantIDs(aJobs): true, wantIDs(bJobs): true}
	// Each job of fill has 5+i results; a reader sees all of a job's or
	// none (the job is not in that content).
	wantResults := map[string]int{"a1": 5, "a2": 6, "a3": 7, "a4": 8}

	done := make(chan struct{})
	errc := make(chan error, 4)
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(done)
		for i := range 8 {
			if err := b.RestoreFrom(ctx, snaps[i%2]); err != nil {
				errc <- fmt.Errorf("restore %d: %w", i, err)
				return
			}
		}
	})
	for r := range 3 {
		wg.Go(func() {
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
					var jobs []*Job
					if jobs, _, err = b.ListJobs(ctx, JobQuery{}); err == nil {
						ids := make([]string, len(jobs))
						for i, j := range jobs {
							ids[i] = j.ID
						}
						if !valid[strings.Join(ids, ",")] {
							err = fmt.Errorf("jobs %v are neither content", ids)
						}
					}
				case 1:
					// One query over job_keys and results: both old or both new.
					id := aJobs[reads%len(aJobs)]
					var rs []job.Result
					if rs, _, err = b.Results(ctx, id, ResultQuery{}); err == nil {
						if len(rs) != 0 && len(rs) != wantResults[id] {
							err = fmt.Errorf("job %s has %d results, want 0 or %d", id, len(rs), wantResults[id])
						}
						for _, r := range rs {
							if !strings.HasPrefix(r.Body, "a body of "+id+" ") {
								err = fmt.Errorf("job %s has a result of another: %.30q", id, r.Body)
							}
						}
					}
				case 2:
					_, err = b.AppliedIndex(ctx)
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
	if got, err := b.AppliedIndex(ctx); err != nil || got != 2 {
		t.Errorf("AppliedIndex after the last restore (b's) = %d, %v; want 2", got, err)
	}
}

func TestSnapshotToExistingPath(t *testing.T) {
	s, _ := openTestStore(t)
	ctx := testCtx(t)
	tests := []struct {
		name    string
		path    string // under a new directory
		prepare func(path string) error
		want    error
	}{
		{"file", "snap.db", func(p string) error { return os.WriteFile(p, []byte("keep me"), 0o600) }, fs.ErrExist},
		{"empty file", "snap.db", func(p string) error { return os.WriteFile(p, nil, 0o600) }, fs.ErrExist},
		{"directory", "snap.db", func(p string) error { return os.Mkdir(p, 0o755) }, fs.ErrExist},
		{"missing directory", "nope/snap.db", func(string) error { return nil }, fs.ErrNotExist},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), tt.path)
			if err := tt.prepare(path); err != nil {
				t.Fatal(err)
			}
			before, _ := os.ReadFile(path)
			if err := s.SnapshotTo(ctx, path); !errors.Is(err, tt.want) {
				t.Fatalf("SnapshotTo = %v, want %v", err, tt.want)
			}
			if after, _ := os.ReadFile(path); string(after) != string(before) {
				t.Errorf("SnapshotTo changed the file at path: %q", after)
			}
		})
	}
}

// editSnapshot opens a snapshot file on its own and runs sql on it.
func editSnapshot(t *testing.T, path, query string) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(query); err != nil {
		t.Fatalf("edit snapshot: %v", err)
	}
}

func TestRestoreFromRefuses(t *testing.T) {
	ctx := testCtx(t)
	a, _ := openTestStore(t)
	b, _ := openTestStore(t)
	fill(t, a, "a", []string{"a1"}, 1, 1)
	fill(t, b, "b", []string{"b1"}, 1, 2)
	dir := t.TempDir()
	good := filepath.Join(dir, "good.db")
	if err := a.SnapshotTo(ctx, good); err != nil {
		t.Fatal(err)
	}
	want := readContent(t, b)
	tests := []struct {
		name    string
		prepare func(path string)
		wantErr string
	}{
		{"missing", func(string) {}, "no such file"},
		{"not a database", func(p string) {
			if err := os.WriteFile(p, []byte(strings.Repeat("not sqlite ", 100)), 0o600); err != nil {
				t.Fatal(err)
			}
		}, "not a database"},
		{"older schema", func(p string) {
			copyFile(t, good, p)
			editSnapshot(t, p, fmt.Sprintf(`PRAGMA user_version = %d`, schemaVersion-1))
		}, fmt.Sprintf("schema version %d, want %d", schemaVersion-1, schemaVersion)},
		{"newer schema", func(p string) {
			copyFile(t, good, p)
			editSnapshot(t, p, fmt.Sprintf(`PRAGMA user_version = %d`, schemaVersion+1))
		}, fmt.Sprintf("schema version %d, want %d", schemaVersion+1, schemaVersion)},
		{"missing table", func(p string) {
			copyFile(t, good, p)
			editSnapshot(t, p, `DROP TABLE raft_state`)
		}, "snapshot tables"},
		{"missing column", func(p string) {
			copyFile(t, good, p)
			editSnapshot(t, p, `ALTER TABLE jobs DROP COLUMN workers`)
		}, "snapshot columns"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, strconv.Itoa(i)+".db")
			tt.prepare(path)
			err := b.RestoreFrom(ctx, path)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("RestoreFrom = %v, want an error with %q", err, tt.wantErr)
			}
			if got := readContent(t, b); !reflect.DeepEqual(got, want) {
				t.Errorf("a refused restore changed the store:\n got %+v\nwant %+v", got, want)
			}
			if _, err := os.Stat(path); tt.name == "missing" && !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("RestoreFrom created the missing file: %v", err)
			}
		})
	}
	// The snapshot was detached each time: a good one still restores.
	if err := b.RestoreFrom(ctx, good); err != nil {
		t.Fatalf("RestoreFrom(good) after refusals: %v", err)
	}
	if got, want := readContent(t, b), readContent(t, a); !reflect.DeepEqual(got, want) {
		t.Errorf("restored\n got %+v\nwant %+v", got, want)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// SnapshotTo is ordered with the writes: a copy taken between two writes
// holds the first and not the second, and closing the store later does
// not touch it.
func TestSnapshotBetweenWrites(t *testing.T) {
	s, _ := openTestStore(t)
	ctx := testCtx(t)
	path := filepath.Join(t.TempDir(), "snap.db")
	if err := s.SetAppliedIndex(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := s.SnapshotTo(ctx, path); err != nil {
		t.Fatalf("SnapshotTo: %v", err)
	}
	if err := s.SetAppliedIndex(ctx, 2); err != nil {
		t.Fatal(err)
	}
	snap, err := OpenSQLite(DefaultSQLiteConfig(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	if err := snap.RestoreFrom(ctx, path); err != nil {
		t.Fatalf("RestoreFrom: %v", err)
	}
	if got, err := snap.AppliedIndex(ctx); err != nil || got != 1 {
		t.Errorf("snapshot's applied index = %d, %v; want 1", got, err)
	}
	if _, err := os.Stat(path + "-wal"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the snapshot has a WAL file (%v): it is not a single file", err)
	}
}
