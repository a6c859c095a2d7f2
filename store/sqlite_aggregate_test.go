package store

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/salvo-sh/salvo/job"
)

// outcomeResults builds results from runs of n results alike: each run's
// results are made by f from a result with the next index and host.
type outcomeResults []job.Result

func (rs *outcomeResults) add(n int, f func(r *job.Result)) {
	for range n {
		i := len(*rs)
		r := job.Result{Index: i, Host: fmt.Sprintf("127.0.0.%d", i+1), State: job.StateOK, Attempts: 1}
		f(&r)
		*rs = append(*rs, r)
	}
}

// sshRun is an SSH result: exit code, stdout, stderr; failed when the
// code is not 0.
func sshRun(code int, stdout, stderr string) func(r *job.Result) {
	return func(r *job.Result) {
		r.ExitCode, r.Body, r.Stderr, r.Value = intp(code), stdout, stderr, fmt.Sprint(code)
		if code != 0 {
			r.State = job.StateFailed
		}
	}
}

// wantGroup is what a test expects of a ByBody group.
type wantGroup struct {
	value, state string
	status       int
	exit         *int
	class        string
	count        int
	isError      bool
	stderr       []wantStderr
}

// wantStderr is a stderr sub-group: its stderr and its results' indexes.
type wantStderr struct {
	stderr  string
	indexes []int
}

// span returns the indexes lo..hi.
func span(lo, hi int) []int {
	var out []int
	for i := lo; i <= hi; i++ {
		out = append(out, i)
	}
	return out
}

// TestAggregateByBodyAndOutcome checks that ByBody groups results by body
// and outcome (state, status or exit code, error class): an ok and a
// failed result with the same output are apart, the failed groups come
// first, each group carries its outcome and its results split by stderr,
// each part with its hosts.
func TestAggregateByBodyAndOutcome(t *testing.T) {
	s, _ := openTestStore(t)
	ctx := testCtx(t)
	var rs outcomeResults
	rs.add(10, sshRun(0, "same\n", ""))   // 0-9
	rs.add(5, sshRun(4, "same\n", "x\n")) // 10-14
	rs.add(3, sshRun(4, "same\n", "y\n")) // 15-17: same group, other stderr
	rs.add(2, sshRun(1, "same\n", "x\n")) // 18-19: another exit code
	rs.add(3, func(r *job.Result) {       // 20-22: no answer
		r.State, r.ErrorClass, r.Value, r.Error = job.StateError, job.ClassConnectRefused, job.ClassConnectRefused, "refused"
	})
	rs.add(1, func(r *job.Result) { // 23: a timeout with part of the output
		r.State, r.ErrorClass, r.Value, r.Body = job.StateTimeout, job.ClassTimeout, job.ClassTimeout, "same\n"
	})
	rs.add(2, func(r *job.Result) { r.State, r.Value = job.StateSkipped, job.StateSkipped }) // 24-25
	rs.add(3, func(r *job.Result) { r.StatusCode, r.Value, r.Body = 200, "200", "busy" })    // 26-28: HTTP
	rs.add(2, func(r *job.Result) { r.StatusCode, r.Value, r.Body = 503, "503", "busy" })    // 29-30: same body, 503
	rs.add(1, func(r *job.Result) {                                                          // 31: a 503 that missed expect
		r.State, r.StatusCode, r.ErrorClass, r.Value, r.Body = job.StateFailed, 503, job.ClassExpectation, "503", "busy"
	})
	rs.add(1, sshRun(0, "same\n", "")) // 32: the ok group again, after the others
	if _, err := s.PutResults(ctx, "j", rs); err != nil {
		t.Fatalf("PutResults: %v", err)
	}
	want := []wantGroup{
		{"same\n", job.StateFailed, 0, intp(4), "", 8, false, []wantStderr{{"x\n", span(10, 14)}, {"y\n", span(15, 17)}}},
		{"same\n", job.StateFailed, 0, intp(1), "", 2, false, []wantStderr{{"x\n", span(18, 19)}}},
		{"busy", job.StateFailed, 503, nil, job.ClassExpectation, 1, false, []wantStderr{{"", []int{31}}}},
		{"[error: connect_refused]", job.StateError, 0, nil, job.ClassConnectRefused, 3, true, []wantStderr{{"", span(20, 22)}}},
		{"same\n", job.StateTimeout, 0, nil, job.ClassTimeout, 1, true, []wantStderr{{"", []int{23}}}},
		{"[skipped]", job.StateSkipped, 0, nil, "", 2, false, []wantStderr{{"", span(24, 25)}}},
		{"same\n", job.StateOK, 0, intp(0), "", 11, false, []wantStderr{{"", append(span(0, 9), 32)}}},
		{"busy", job.StateOK, 200, nil, "", 3, false, []wantStderr{{"", span(26, 28)}}},
		{"busy", job.StateOK, 503, nil, "", 2, false, []wantStderr{{"", span(29, 30)}}},
	}
	groups, err := s.Aggregate(ctx, "j", ByBody, 0)
	if err != nil {
		t.Fatalf("Aggregate: %v", err)
	}
	checkBodyGroups(t, rs, groups, want)

	// A limit keeps the failures: they come first.
	groups, err = s.Aggregate(ctx, "j", ByBody, 2)
	if err != nil {
		t.Fatalf("Aggregate: %v", err)
	}
	checkBodyGroups(t, rs, groups, want[:2])
}

// checkBodyGroups checks ByBody groups against want: value, outcome,
// count, hosts and indexes (every result of the group, in index order),
// and stderr sub-groups.
func checkBodyGroups(t *testing.T, rs []job.Result, groups []Group, want []wantGroup) {
	t.Helper()
	if len(groups) != len(want) {
		t.Fatalf("%d groups, want %d: %+v", len(groups), len(want), groups)
	}
	exit := func(p *int) string {
		if p == nil {
			return "none"
		}
		return fmt.Sprint(*p)
	}
	hostsOf := func(idx []int) []string {
		out := make([]string, len(idx))
		for i, x := range idx {
			out[i] = rs[x].Host
		}
		return out
	}
	for i, w := range want {
		g := groups[i]
		name := fmt.Sprintf("group %d (%q %s exit %s)", i, w.value, w.state, exit(w.exit))
		if g.Value != w.value || g.State != w.state || g.StatusCode != w.status || exit(g.ExitCode) != exit(w.exit) ||
			g.ErrorClass != w.class || g.Count != w.count || g.IsError != w.isError {
			t.Errorf("%s: got value %q state %s status %d exit %s class %q count %d isError %v", name,
				g.Value, g.State, g.StatusCode, exit(g.ExitCode), g.ErrorClass, g.Count, g.IsError)
		}
		var all []int
		for _, sw := range w.stderr {
			all = append(all, sw.indexes...)
		}
		slices.Sort(all)
		if !slices.Equal(g.Indexes, all) || !slices.Equal(g.Hosts, hostsOf(all)) || g.NextCursor != 0 {
			t.Errorf("%s: indexes %v hosts %v next %d, want %v (every result)", name, g.Indexes, g.Hosts, g.NextCursor, all)
		}
		if len(g.Stderr) != len(w.stderr) || g.StderrMore != 0 || g.StderrMoreGroups != 0 {
			t.Errorf("%s: %d stderr parts (+%d results in %d more), want %d", name, len(g.Stderr), g.StderrMore, g.StderrMoreGroups, len(w.stderr))
			continue
		}
		for k, sw := range w.stderr {
			sg := g.Stderr[k]
			if sg.Value != sw.stderr || sg.Count != len(sw.indexes) || !slices.Equal(sg.Indexes, sw.indexes) ||
				!slices.Equal(sg.Hosts, hostsOf(sw.indexes)) || sg.NextCursor != 0 || sg.IsError != w.isError {
				t.Errorf("%s: stderr part %d = %+v, want %q of %v", name, k, sg, sw.stderr, sw.indexes)
			}
		}
	}
}

// TestAggregateByBodyCapsStderrParts checks that a group lists its
// MaxStderrGroups largest stderr parts and counts the others.
func TestAggregateByBodyCapsStderrParts(t *testing.T) {
	s, _ := openTestStore(t)
	ctx := testCtx(t)
	var rs outcomeResults
	rs.add(5, sshRun(2, "out\n", "common\n"))
	const distinct = MaxStderrGroups + 3
	for i := range distinct {
		rs.add(1, sshRun(2, "out\n", fmt.Sprintf("only on %d\n", i)))
	}
	if _, err := s.PutResults(ctx, "j", rs); err != nil {
		t.Fatalf("PutResults: %v", err)
	}
	groups, err := s.Aggregate(ctx, "j", ByBody, 0)
	if err != nil || len(groups) != 1 {
		t.Fatalf("Aggregate: %d groups, %v; want 1", len(groups), err)
	}
	g := groups[0]
	if g.Count != 5+distinct || len(g.Hosts) != g.Count {
		t.Fatalf("count %d, %d hosts; want %d", g.Count, len(g.Hosts), 5+distinct)
	}
	if len(g.Stderr) != MaxStderrGroups || g.Stderr[0].Value != "common\n" || g.Stderr[0].Count != 5 {
		t.Fatalf("%d stderr parts, the first %+v; want %d, the first common of 5", len(g.Stderr), g.Stderr[0], MaxStderrGroups)
	}
	// Ties: the earliest parts are kept.
	for k, sg := range g.Stderr[1:] {
		if want := fmt.Sprintf("only on %d\n", k); sg.Value != want || sg.Count != 1 {
			t.Errorf("stderr part %d = %q of %d, want %q of 1", k+1, sg.Value, sg.Count, want)
		}
	}
	if wantMore := distinct - (MaxStderrGroups - 1); g.StderrMore != wantMore || g.StderrMoreGroups != wantMore {
		t.Errorf("stderrMore %d in %d parts, want %d in %d", g.StderrMore, g.StderrMoreGroups, wantMore, wantMore)
	}
}

// TestAggregateByBodyLargeGroups checks a ByBody group of more than
// MaxGroupHosts results in two stderr parts, one of them larger than
// MaxGroupHosts too: the group lists its first MaxGroupHosts hosts and the
// cursor of the rest, each part its own; GroupResults of the group (Of)
// and of each part (Of, SameStderr) page every other result once.
func TestAggregateByBodyLargeGroups(t *testing.T) {
	s, _ := openTestStore(t)
	ctx := testCtx(t)
	var rs []job.Result
	for i := range 2000 {
		r := job.Result{Index: i, Host: fmt.Sprintf("h%05d", i), State: job.StateOK, Attempts: 1}
		switch {
		case i%4 == 3:
			sshRun(0, "up\n", "")(&r) // 500: the ok group
		case i%4 == 1:
			sshRun(3, "up\n", "warn\n")(&r) // 500
		default:
			sshRun(3, "up\n", "")(&r) // 1,000
		}
		rs = append(rs, r)
	}
	rs = append(rs, job.Result{Index: 2000, Host: "last", State: job.StateFailed, ExitCode: intp(3), Body: "up\n", Value: "3"})
	if _, err := s.PutResults(ctx, "j", rs); err != nil {
		t.Fatalf("PutResults: %v", err)
	}
	groups, err := s.Aggregate(ctx, "j", ByBody, 0)
	if err != nil || len(groups) != 2 {
		t.Fatalf("Aggregate: %d groups, %v; want 2", len(groups), err)
	}
	failed := groups[0]
	members := func(keep func(r job.Result) bool) []job.Result {
		var out []job.Result
		for _, r := range rs {
			if keep(r) {
				out = append(out, r)
			}
		}
		return out
	}
	all := members(func(r job.Result) bool { return r.State == job.StateFailed })
	parts := [][]job.Result{
		members(func(r job.Result) bool { return r.State == job.StateFailed && r.Stderr == "" }), // 1,001
		members(func(r job.Result) bool { return r.State == job.StateFailed && r.Stderr != "" }), // 500
	}
	check := func(name string, g Group, want []job.Result, q GroupQuery) {
		t.Helper()
		if g.Count != len(want) || len(g.Hosts) != min(len(want), MaxGroupHosts) {
			t.Fatalf("%s: count %d, %d hosts; want %d, %d", name, g.Count, len(g.Hosts), len(want), min(len(want), MaxGroupHosts))
		}
		for i, h := range g.Hosts {
			if h != want[i].Host || g.Indexes[i] != want[i].Index {
				t.Fatalf("%s: host %d = %s (%d), want %s (%d)", name, i, h, g.Indexes[i], want[i].Host, want[i].Index)
			}
		}
		wantNext := 0
		if len(want) > MaxGroupHosts {
			wantNext = want[MaxGroupHosts].Index
		}
		if g.NextCursor != wantNext {
			t.Fatalf("%s: next cursor %d, want %d", name, g.NextCursor, wantNext)
		}
		// Paged from the first result: the whole group.
		for _, limit := range []int{7, 1000} {
			q.Limit = limit
			got, _ := pageGroup(t, s, "j", q)
			checkGroupPages(t, got, want)
		}
		// From the cursor: the rest.
		if wantNext > 0 {
			q.Cursor, q.Limit = wantNext, 100
			got, _ := pageGroup(t, s, "j", q)
			checkGroupPages(t, got, want[MaxGroupHosts:])
		}
	}
	check("failed group", failed, all, GroupQuery{By: ByBody, Of: &failed.Indexes[0]})
	if len(failed.Stderr) != 2 {
		t.Fatalf("%d stderr parts, want 2", len(failed.Stderr))
	}
	for k, sg := range failed.Stderr {
		check(fmt.Sprintf("stderr part %q", sg.Value), sg, parts[k], GroupQuery{By: ByBody, Of: &sg.Indexes[0], SameStderr: true})
	}
	ok := groups[1]
	check("ok group", ok, members(func(r job.Result) bool { return r.State == job.StateOK }), GroupQuery{By: ByBody, Of: &ok.Indexes[0]})
}

// TestGroupResultsOf checks naming a group by one of its results for
// every key, and the refusals: an unknown result, SameStderr without a
// ByBody group of a result.
func TestGroupResultsOf(t *testing.T) {
	s, _ := openTestStore(t)
	ctx := testCtx(t)
	var rs outcomeResults
	rs.add(3, sshRun(0, "a\n", ""))
	rs.add(3, sshRun(1, "a\n", "e\n"))
	rs.add(2, sshRun(0, "b\n", "e\n"))
	rs.add(2, func(r *job.Result) { r.State, r.ErrorClass, r.Value = job.StateError, job.ClassAuth, job.ClassAuth })
	if _, err := s.PutResults(ctx, "j", rs); err != nil {
		t.Fatalf("PutResults: %v", err)
	}
	for _, by := range []string{ByValue, ByStatus, ByErrorClass, ByBody, ByStderr} {
		for _, of := range []int{0, 4, 7, 9} {
			t.Run(fmt.Sprintf("%s/%d", by, of), func(t *testing.T) {
				var want []job.Result
				for _, r := range rs {
					same := groupKeyOf(r, by) == groupKeyOf(rs[of], by)
					if by == ByBody {
						same = same && resultOutcome(r) == resultOutcome(rs[of])
					}
					if same {
						want = append(want, r)
					}
				}
				got, _ := pageGroup(t, s, "j", GroupQuery{By: by, Of: &of, Limit: 2})
				checkGroupPages(t, got, want)
			})
		}
	}
	// The stderr part of result 3's group: 3-5 ("a", exit 1, "e").
	three := 3
	got, _ := pageGroup(t, s, "j", GroupQuery{By: ByBody, Of: &three, SameStderr: true})
	checkGroupPages(t, got, rs[3:6])

	missing := 99
	if _, _, err := s.GroupResults(ctx, "j", GroupQuery{By: ByBody, Of: &missing}); !errors.Is(err, ErrNotFound) {
		t.Errorf("group of result 99: %v, want ErrNotFound", err)
	}
	if _, _, err := s.GroupResults(ctx, "j", GroupQuery{By: ByValue, Of: &missing}); !errors.Is(err, ErrNotFound) {
		t.Errorf("value group of result 99: %v, want ErrNotFound", err)
	}
	for _, q := range []GroupQuery{{By: ByBody, Value: "a\n", SameStderr: true}, {By: ByStderr, Of: &three, SameStderr: true}} {
		if _, _, err := s.GroupResults(ctx, "j", q); err == nil || !strings.Contains(err.Error(), "SameStderr") {
			t.Errorf("GroupResults(%+v): %v, want a refusal", q, err)
		}
	}
}

// TestAggregateCacheOfBodyGroups checks that a terminal job's ByBody
// groups are kept with their outcome and stderr parts, and that a row kept
// by an older version (by_key without a version, groups without outcome)
// is not read.
func TestAggregateCacheOfBodyGroups(t *testing.T) {
	s, _ := openTestStore(t)
	ctx := testCtx(t)
	j := &Job{ID: "done", Spec: &job.Spec{}, State: JobProcessing, Total: 3, CreatedAt: time.Now()}
	if err := s.CreateJob(ctx, j, []job.TargetSpec{{Host: "a"}, {Host: "b"}, {Host: "c"}}, 10); err != nil {
		t.Fatal(err)
	}
	var rs outcomeResults
	rs.add(2, sshRun(4, "", "x\n"))
	rs.add(1, sshRun(0, "", ""))
	if _, err := s.PutResults(ctx, "done", rs); err != nil {
		t.Fatal(err)
	}
	// What an older version kept: one group mixing both outcomes.
	if _, err := s.w.ExecContext(ctx, `INSERT INTO aggregate_cache (job_id, by_key, groups) VALUES ('done', 'body', ?)`,
		`[{"value":"","count":3,"hosts":["127.0.0.1","127.0.0.2","127.0.0.3"],"isError":false}]`); err != nil {
		t.Fatal(err)
	}
	j.State = JobGathered
	if err := s.UpdateJob(ctx, j); err != nil {
		t.Fatal(err)
	}
	want := []wantGroup{
		{"", job.StateFailed, 0, intp(4), "", 2, false, []wantStderr{{"x\n", []int{0, 1}}}},
		{"", job.StateOK, 0, intp(0), "", 1, false, []wantStderr{{"", []int{2}}}},
	}
	first, err := s.Aggregate(ctx, "done", ByBody, 10)
	if err != nil {
		t.Fatal(err)
	}
	checkBodyGroups(t, rs, first, want)
	var kept int
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM aggregate_cache WHERE job_id = 'done' AND by_key = ?`, cacheKey(ByBody)).Scan(&kept); err != nil || kept != 1 {
		t.Fatalf("kept rows of %s: %d, %v; want 1", cacheKey(ByBody), kept, err)
	}
	// Read back from the cache: a result stored after the end (which the
	// master never does) does not show.
	if _, err := s.PutResults(ctx, "done", []job.Result{{Index: 3, Host: "late", State: job.StateOK, ExitCode: intp(0)}}); err != nil {
		t.Fatal(err)
	}
	again, err := s.Aggregate(ctx, "done", ByBody, 10)
	if err != nil {
		t.Fatal(err)
	}
	checkBodyGroups(t, rs, again, want)
}

// TestScanBodiesKeepsFewHosts checks the memory bound of the ByBody pass
// on a job of 5,000 results in two groups of two stderr parts each (of
// 2,000 and 500): a part keeps at most MaxGroupHosts hosts and a group
// none of its own (they are merged from its parts after the pass), and no
// output is kept.
func TestScanBodiesKeepsFewHosts(t *testing.T) {
	s, _ := openTestStore(t)
	ctx := testCtx(t)
	var rs outcomeResults
	for i := range 5000 {
		stderr := "common\n"
		if (i/2)%5 == 0 {
			stderr = "rare\n"
		}
		rs.add(1, sshRun(i%2, "same\n", stderr))
	}
	if _, err := s.PutResults(ctx, "j", rs); err != nil {
		t.Fatalf("PutResults: %v", err)
	}
	tx, err := s.r.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	groups, err := scanBodies(ctx, tx, "j", groupExprs[ByBody])
	if err != nil || len(groups) != 2 {
		t.Fatalf("scanBodies: %d groups, %v; want 2", len(groups), err)
	}
	for _, g := range groups {
		if g.count != 2500 || len(g.hosts) != 0 || g.value != "" || len(g.parts) != 2 || g.parts[0].count != 500 {
			t.Fatalf("group of %d: %d hosts, value %q, %d parts; want 2,500, none, none, 2 (500, then 2,000)", g.count, len(g.hosts), g.value, len(g.parts))
		}
		for _, p := range g.parts {
			if len(p.hosts) != min(p.count, MaxGroupHosts) || p.value != "" || (p.count > MaxGroupHosts) != (p.next > 0) {
				t.Errorf("part of %d: %d hosts, value %q, next %d", p.count, len(p.hosts), p.value, p.next)
			}
		}
	}
}
