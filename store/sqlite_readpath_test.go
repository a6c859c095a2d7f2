package store

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/salvo-sh/salvo/job"
)

// groupKeyOf is the group of r under key by, as groupExprs names it.
func groupKeyOf(r job.Result, by string) string {
	switch by {
	case ByValue:
		return r.Value
	case ByStatus:
		switch {
		case r.StatusCode > 0:
			return strconv.Itoa(r.StatusCode)
		case r.ExitCode != nil:
			return "exit " + strconv.Itoa(*r.ExitCode)
		}
		return r.State
	case ByErrorClass:
		if r.ErrorClass == "" {
			return "none"
		}
		return r.ErrorClass
	case ByBody:
		return orWhyOf(r, r.Body)
	case ByStderr:
		return orWhyOf(r, r.Stderr)
	}
	panic("unknown key " + by)
}

// orWhyOf is s, or "[state: error class]" when it is empty and r got no
// answer, as orWhy names a missing body or stderr.
func orWhyOf(r job.Result, s string) string {
	switch {
	case s != "" || !slices.Contains([]string{job.StateError, job.StateTimeout, job.StateSkipped, job.StateCancelled}, r.State):
		return s
	case r.ErrorClass != "":
		return "[" + r.State + ": " + r.ErrorClass + "]"
	}
	return "[" + r.State + "]"
}

// resultOutcome names what a ByBody group's results share besides their
// body: state, status code, exit code, error class.
func resultOutcome(r job.Result) string {
	exit := "-"
	if r.ExitCode != nil {
		exit = strconv.Itoa(*r.ExitCode)
	}
	return fmt.Sprintf("%s/%d/%s/%s", r.State, r.StatusCode, exit, r.ErrorClass)
}

// groupOutcome is resultOutcome of a ByBody group's results.
func groupOutcome(g Group) string {
	exit := "-"
	if g.ExitCode != nil {
		exit = strconv.Itoa(*g.ExitCode)
	}
	return fmt.Sprintf("%s/%d/%s/%s", g.State, g.StatusCode, exit, g.ErrorClass)
}

// bigGroupResults returns 3,500 results whose groups by every key hold
// more than MaxGroupHosts results: a third are refused connections, the
// rest alternate between 200 "v0" (value 1.0) and 503 "v1" (value 1.1).
func bigGroupResults() []job.Result {
	rs := make([]job.Result, 3500)
	for i := range rs {
		r := job.Result{Index: i, Host: fmt.Sprintf("h%05d", i), State: job.StateOK, Worker: "node-a"}
		switch {
		case i%3 == 0:
			r.State, r.ErrorClass, r.Value, r.Error = job.StateError, job.ClassConnectRefused, job.ClassConnectRefused, "refused"
		case i%2 == 0:
			r.StatusCode, r.Value, r.Body = 200, "1.0", "v0"
		default:
			r.StatusCode, r.Value, r.Body = 503, "1.1", "v1"
		}
		rs[i] = r
	}
	return rs
}

// TestAggregateCapsGroupHosts checks that a group of more than
// MaxGroupHosts results lists its first MaxGroupHosts hosts, counts every
// one, and that GroupResults from its cursor pages every other host
// exactly once, in index order, whatever the page size.
func TestAggregateCapsGroupHosts(t *testing.T) {
	s, _ := openTestStore(t)
	ctx := testCtx(t)
	rs := bigGroupResults()
	// Stored in reverse order, in batches: the rows' order on disk is not
	// the index order.
	rev := slices.Clone(rs)
	slices.Reverse(rev)
	for b := range slices.Chunk(rev, 700) {
		if _, err := s.PutResults(ctx, "j", b); err != nil {
			t.Fatalf("PutResults: %v", err)
		}
	}
	if _, err := s.PutResults(ctx, "other", rs[:1500]); err != nil {
		t.Fatalf("PutResults: %v", err)
	}
	for _, by := range []string{ByValue, ByStatus, ByErrorClass, ByBody, ByStderr} {
		groups, err := s.Aggregate(ctx, "j", by, 0)
		if err != nil {
			t.Fatalf("Aggregate by %s: %v", by, err)
		}
		total := 0
		for _, g := range groups {
			total += g.Count
			var want []job.Result
			for _, r := range rs {
				if groupKeyOf(r, by) == g.Value {
					want = append(want, r)
				}
			}
			name := by + "=" + g.Value
			if g.Count != len(want) || len(want) <= MaxGroupHosts {
				t.Fatalf("%s: count %d, want %d (more than %d)", name, g.Count, len(want), MaxGroupHosts)
			}
			if len(g.Hosts) != MaxGroupHosts || len(g.Indexes) != MaxGroupHosts {
				t.Fatalf("%s: %d hosts, %d indexes; want %d", name, len(g.Hosts), len(g.Indexes), MaxGroupHosts)
			}
			for i, h := range g.Hosts {
				if h != want[i].Host || g.Indexes[i] != want[i].Index {
					t.Fatalf("%s: host %d = %s (index %d), want %s (%d)", name, i, h, g.Indexes[i], want[i].Host, want[i].Index)
				}
			}
			if g.NextCursor != want[MaxGroupHosts].Index {
				t.Fatalf("%s: next cursor %d, want %d", name, g.NextCursor, want[MaxGroupHosts].Index)
			}
			for _, limit := range []int{1, 100, 167, 1000} {
				t.Run(fmt.Sprintf("%s/limit=%d", name, limit), func(t *testing.T) {
					rest := want[MaxGroupHosts:]
					got, pages := pageGroup(t, s, "j", GroupQuery{By: by, Value: g.Value, Cursor: g.NextCursor, Limit: limit})
					checkGroupPages(t, got, rest)
					if wantPages := (len(rest) + limit - 1) / limit; pages != wantPages {
						t.Errorf("%d pages, want %d", pages, wantPages)
					}
				})
			}
		}
		if total != len(rs) {
			t.Errorf("by %s: groups count %d results, want %d", by, total, len(rs))
		}
	}
}

// pageGroup follows GroupResults' cursors from q to the end and returns
// every row and the number of pages.
func pageGroup(t *testing.T, s *SQLite, jobID string, q GroupQuery) ([]ValueRow, int) {
	t.Helper()
	var all []ValueRow
	for pages := 1; pages <= 10_000; pages++ {
		rows, next, err := s.GroupResults(testCtx(t), jobID, q)
		if err != nil {
			t.Fatalf("GroupResults(%+v): %v", q, err)
		}
		if q.Limit > 0 && len(rows) > q.Limit {
			t.Fatalf("page of %d rows, limit %d", len(rows), q.Limit)
		}
		all = append(all, rows...)
		if next == 0 {
			return all, pages
		}
		if next <= q.Cursor {
			t.Fatalf("cursor %d after %d: paging does not advance", next, q.Cursor)
		}
		q.Cursor = next
	}
	t.Fatal("paging does not end")
	return nil, 0
}

// checkGroupPages checks that got is want's results, once each, in order.
func checkGroupPages(t *testing.T, got []ValueRow, want []job.Result) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d rows, want %d", len(got), len(want))
	}
	for i, r := range got {
		w := want[i]
		if r != (ValueRow{Index: w.Index, Host: w.Host, State: w.State, ErrorClass: w.ErrorClass, Value: w.Value}) {
			t.Fatalf("row %d = %+v, want result %d (%s %s %s %q)", i, r, w.Index, w.Host, w.State, w.ErrorClass, w.Value)
		}
	}
}

// TestGroupResultsFilters checks that a page of a group holds the group's
// results only, from the cursor on, for every key.
func TestGroupResultsFilters(t *testing.T) {
	s, _ := openTestStore(t)
	ctx := testCtx(t)
	states := []string{job.StateOK, job.StateOK, job.StateError, job.StateTimeout, job.StateFailed, job.StateSkipped}
	var rs []job.Result
	for i := range 60 {
		r := makeResult(i, states[i%len(states)])
		if i%7 == 0 && r.State == job.StateOK {
			r.StatusCode = 503
		}
		rs = append(rs, r)
	}
	if _, err := s.PutResults(ctx, "j", rs); err != nil {
		t.Fatalf("PutResults: %v", err)
	}
	// Another job's results never show.
	other := slices.Clone(rs)
	for i := range other {
		other[i].Host = "other-" + other[i].Host
	}
	if _, err := s.PutResults(ctx, "other", other); err != nil {
		t.Fatalf("PutResults: %v", err)
	}
	tests := []struct {
		name string
		q    GroupQuery
	}{
		{"value", GroupQuery{By: ByValue, Value: "1.1", Limit: 3}},
		{"value from cursor", GroupQuery{By: ByValue, Value: "1.1", Cursor: 20, Limit: 3}},
		{"empty value", GroupQuery{By: ByValue, Value: "", Limit: 4}},
		{"value of errors", GroupQuery{By: ByValue, Value: job.ClassConnectRefused, Cursor: 9, Limit: 2}},
		{"status code", GroupQuery{By: ByStatus, Value: "200", Cursor: 10, Limit: 4}},
		{"status 503", GroupQuery{By: ByStatus, Value: "503"}},
		{"status state", GroupQuery{By: ByStatus, Value: job.StateError, Cursor: 7, Limit: 2}},
		{"status skipped", GroupQuery{By: ByStatus, Value: job.StateSkipped, Limit: 100}},
		{"status exit code", GroupQuery{By: ByStatus, Value: "exit 2", Cursor: 5, Limit: 3}},
		{"status ok has none", GroupQuery{By: ByStatus, Value: job.StateOK, Limit: 3}},
		{"error class none", GroupQuery{By: ByErrorClass, Value: "none", Cursor: 13, Limit: 5}},
		{"error class", GroupQuery{By: ByErrorClass, Value: job.ClassTimeout, Limit: 1}},
		{"body", GroupQuery{By: ByBody, Value: "host=10.0.0.7 version=1.1", Limit: 10}},
		{"body of errors", GroupQuery{By: ByBody, Value: "[timeout: timeout]", Cursor: 30, Limit: 2}},
		{"body of skipped", GroupQuery{By: ByBody, Value: "[skipped]", Limit: 2}},
		{"body of failed", GroupQuery{By: ByBody, Value: "", Limit: 2}},
		{"no such group", GroupQuery{By: ByValue, Value: "nope", Limit: 10}},
		{"cursor past the end", GroupQuery{By: ByValue, Value: "1.1", Cursor: 1000, Limit: 10}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var want []job.Result
			for _, r := range rs {
				if r.Index >= tt.q.Cursor && groupKeyOf(r, tt.q.By) == tt.q.Value {
					want = append(want, r)
				}
			}
			limit := tt.q.Limit
			if limit == 0 {
				limit = DefaultResultLimit
			}
			got, pages := pageGroup(t, s, "j", tt.q)
			checkGroupPages(t, got, want)
			if wantPages := max(1, (len(want)+limit-1)/limit); pages != wantPages {
				t.Errorf("%d pages, want %d", pages, wantPages)
			}
		})
	}
	if _, _, err := s.GroupResults(ctx, "j", GroupQuery{By: "nope"}); err == nil {
		t.Error("GroupResults by an unknown key succeeded")
	}
	if rows, next, err := s.GroupResults(ctx, "empty", GroupQuery{By: ByValue, Value: "1.1"}); err != nil || len(rows) != 0 || next != 0 {
		t.Errorf("GroupResults(empty job) = %v, %d, %v; want nothing", rows, next, err)
	}
}

// TestGroupResultsScanWindow checks that a page reads at most MaxGroupScan
// indexes: a sparse group's pages stop there with a cursor, and following
// the cursors still finds every result of the group once.
func TestGroupResultsScanWindow(t *testing.T) {
	s, _ := openTestStore(t)
	ctx := testCtx(t)
	const w = MaxGroupScan
	mk := func(i int, value string) job.Result {
		r := makeResult(i, job.StateOK)
		r.Value = value
		return r
	}
	rs := []job.Result{mk(0, "a"), mk(1, "b"), mk(2, "b"), mk(w+5, "b"), mk(2*w+10, "a"),
		makeResult(2*w+11, job.StateError), makeResult(3*w+7, job.StateError)}
	if _, err := s.PutResults(ctx, "j", rs); err != nil {
		t.Fatalf("PutResults: %v", err)
	}
	tests := []struct {
		name  string
		q     GroupQuery
		pages [][]int // the indexes of each page
	}{
		{"sparse group", GroupQuery{By: ByValue, Value: "a", Limit: 10},
			[][]int{{0}, {}, {2*w + 10}, {}}},
		{"full pages, then windows", GroupQuery{By: ByValue, Value: "b", Limit: 1},
			[][]int{{1}, {2}, {w + 5}, {}, {}}},
		{"from a cursor", GroupQuery{By: ByValue, Value: "b", Cursor: 3, Limit: 10},
			[][]int{{}, {w + 5}, {}, {}}},
		{"a state's index has no window", GroupQuery{By: ByStatus, Value: job.StateError, Limit: 10},
			[][]int{{2*w + 11, 3*w + 7}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := tt.q
			var pages [][]int
			for len(pages) <= len(tt.pages) {
				rows, next, err := s.GroupResults(ctx, "j", q)
				if err != nil {
					t.Fatalf("GroupResults: %v", err)
				}
				idx := []int{}
				for _, r := range rows {
					idx = append(idx, r.Index)
				}
				pages = append(pages, idx)
				if next == 0 {
					break
				}
				q.Cursor = next
			}
			if fmt.Sprint(pages) != fmt.Sprint(tt.pages) {
				t.Errorf("pages %v, want %v", pages, tt.pages)
			}
		})
	}
}

// TestReadPathPlans checks that every page query reads an index from its
// cursor on, in index order: no scan of the table, no sort.
func TestReadPathPlans(t *testing.T) {
	s, _ := openTestStore(t)
	ctx := testCtx(t)
	if _, err := s.PutResults(ctx, "j", benchResults(0, 100)); err != nil {
		t.Fatalf("PutResults: %v", err)
	}
	const pk = "sqlite_autoindex_results_1"
	group := func(by, value string) (string, []any) {
		q, args, _ := groupResultsQuery("j", GroupQuery{By: by, Value: value, Cursor: 50}, groupExprs[by], 10, nil)
		return q, args
	}
	// The ByBody group of result 7, an ok one.
	of := func(sameStderr bool) (string, []any) {
		seven := 7
		q := GroupQuery{By: ByBody, Of: &seven, SameStderr: sameStderr, Cursor: 50}
		query, args, _ := groupResultsQuery("j", q, groupExprs[ByBody], 10, &outcome{state: job.StateOK, statusCode: 200})
		return query, args
	}
	tests := []struct {
		name  string
		query func() (string, []any)
		index string // the index the query must search, with its constraints
	}{
		{"results", func() (string, []any) { return resultsQuery("j", ResultQuery{Cursor: 50}, 10) }, pk + " (job_key=? AND idx>?)"},
		{"results by state", func() (string, []any) {
			return resultsQuery("j", ResultQuery{States: []string{job.StateOK}, Cursor: 50}, 10)
		}, "results_state (job_key=? AND state=? AND idx>?)"},
		{"results by host", func() (string, []any) { return resultsQuery("j", ResultQuery{Host: "10.0.0.1", Cursor: 50}, 10) },
			"results_host (job_key=? AND host=? AND idx>?)"},
		{"results by host and state", func() (string, []any) {
			return resultsQuery("j", ResultQuery{Host: "10.0.0.1", States: []string{job.StateOK}, Cursor: 50}, 10)
		}, "results_host (job_key=? AND host=? AND idx>?)"},
		{"results by states", func() (string, []any) {
			return resultsQuery("j", ResultQuery{States: []string{job.StateOK, job.StateError, job.StateTimeout}, Cursor: 50}, 10)
		}, "results_state (job_key=? AND state=? AND idx>?)"},
		{"results by states and text", func() (string, []any) {
			return resultsQuery("j", ResultQuery{States: []string{job.StateOK, job.StateError}, Q: "x", Cursor: 50}, 10)
		}, "results_state (job_key=? AND state=? AND idx>?)"},
		{"results by host and states", func() (string, []any) {
			return resultsQuery("j", ResultQuery{Host: "10.0.0.1", States: []string{job.StateOK, job.StateError}, Cursor: 50}, 10)
		}, "results_host (job_key=? AND host=? AND idx>?)"},
		{"results by text", func() (string, []any) { return resultsQuery("j", ResultQuery{Q: "x", Cursor: 50}, 10) }, pk + " (job_key=? AND idx>?)"},
		{"group by value", func() (string, []any) { return group(ByValue, "1.1") }, pk + " (job_key=? AND idx>? AND idx<?)"},
		{"group by status code", func() (string, []any) { return group(ByStatus, "200") }, pk + " (job_key=? AND idx>? AND idx<?)"},
		{"group by status state", func() (string, []any) { return group(ByStatus, job.StateTimeout) }, "results_state (job_key=? AND state=? AND idx>?)"},
		{"group by error class", func() (string, []any) { return group(ByErrorClass, "none") }, pk + " (job_key=? AND idx>? AND idx<?)"},
		{"group by body", func() (string, []any) { return group(ByBody, "x") }, pk + " (job_key=? AND idx>? AND idx<?)"},
		{"group by stderr", func() (string, []any) { return group(ByStderr, "x") }, pk + " (job_key=? AND idx>? AND idx<?)"},
		{"group of a result by body", func() (string, []any) { return of(false) }, pk + " (job_key=? AND idx>? AND idx<?)"},
		{"stderr part of a body group", func() (string, []any) { return of(true) }, pk + " (job_key=? AND idx>? AND idx<?)"},
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
					t.Fatalf("explain: %v", err)
				}
				plan = append(plan, detail)
			}
			if err := rows.Err(); err != nil {
				t.Fatalf("explain: %v", err)
			}
			want := "SEARCH results USING INDEX " + tt.index
			if !slices.Contains(plan, want) {
				t.Errorf("plan %q lacks %q", plan, want)
			}
			for _, p := range plan {
				if strings.Contains(p, "TEMP B-TREE") || strings.HasPrefix(p, "SCAN results") {
					t.Errorf("plan %q sorts or scans the table", plan)
				}
			}
		})
	}
}
