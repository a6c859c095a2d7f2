package replica

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/salvo-sh/salvo/auth"
	"github.com/salvo-sh/salvo/internal/testutil"
	"github.com/salvo-sh/salvo/job"
	"github.com/salvo-sh/salvo/raftgroup"
	"github.com/salvo-sh/salvo/store"
)

// node is one master of a test group: its SQLite store, the replicated
// store over it and its Raft member.
type node struct {
	name, dir, addr string
	local           *store.SQLite
	rs              *Store
	g               *raftgroup.Group
}

// start opens the node's store and starts its member (again, after stop).
func (n *node) start(t *testing.T, trailing uint64) {
	t.Helper()
	local, err := store.OpenSQLite(store.DefaultSQLiteConfig(n.dir))
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig(filepath.Join(n.dir, "fsm"))
	cfg.Logger = testutil.Logger(t)
	rs, err := New(cfg, local)
	if err != nil {
		t.Fatal(err)
	}
	rc := raftgroup.DefaultConfig()
	rc.Name, rc.BindAddr, rc.Dir, rc.FSMPersists, rc.Logger = n.name, n.addr, filepath.Join(n.dir, "raft"), true, testutil.Logger(t)
	rc.HeartbeatTimeout, rc.ElectionTimeout, rc.LeaderLeaseTimeout = 300*time.Millisecond, 300*time.Millisecond, 200*time.Millisecond
	if trailing > 0 {
		rc.TrailingLogs, rc.SnapshotThreshold = trailing, trailing
	}
	g, err := raftgroup.Start(rc, rs.FSM())
	if err != nil {
		t.Fatal(err)
	}
	rs.SetApplier(g)
	n.local, n.rs, n.g = local, rs, g
}

func (n *node) stop(t *testing.T) {
	t.Helper()
	if n.g == nil {
		return
	}
	_ = n.rs.Close()
	if err := n.g.Shutdown(); err != nil {
		t.Error(err)
	}
	if err := n.local.Close(); err != nil {
		t.Error(err)
	}
	n.g = nil
}

// group starts three nodes that bootstrap a group, and waits for a leader.
func group(t *testing.T, trailing uint64) []*node {
	t.Helper()
	var ns []*node
	var peers []raftgroup.Peer
	for i := range 3 {
		n := &node{name: fmt.Sprintf("m%d", i+1), dir: t.TempDir(), addr: fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))}
		n.start(t, trailing)
		t.Cleanup(func() { n.stop(t) })
		ns = append(ns, n)
		peers = append(peers, raftgroup.Peer{Name: n.name, Addr: n.g.Addr()})
	}
	for _, n := range ns {
		if err := n.g.Bootstrap(peers); err != nil {
			t.Fatal(err)
		}
	}
	leaderOf(t, ns)
	return ns
}

// leaderOf waits (bounded) for a running node to lead.
func leaderOf(t *testing.T, ns []*node) *node {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		for _, n := range ns {
			if n.g != nil && n.g.IsLeader() {
				return n
			}
		}
		time.Sleep(10 * time.Millisecond) // an election has no outside signal
	}
	t.Fatal("no leader within 15 s")
	return nil
}

// caughtUp waits (bounded) until a node has applied the leader's index.
func caughtUp(t *testing.T, n *node, index uint64) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for n.rs.AppliedIndex() < index {
		if time.Now().After(deadline) {
			t.Fatalf("%s applied %d, want %d", n.name, n.rs.AppliedIndex(), index)
		}
		time.Sleep(10 * time.Millisecond) // applying has no outside signal
	}
}

func targets(n int) []job.TargetSpec {
	out := make([]job.TargetSpec, n)
	for i := range out {
		out[i] = job.TargetSpec{Host: fmt.Sprintf("h%d.example:80", i)}
	}
	return out
}

func results(lo, hi int) []job.Result {
	var out []job.Result
	for i := lo; i < hi; i++ {
		out = append(out, job.Result{Index: i, Host: fmt.Sprintf("h%d.example", i), State: job.StateOK, StatusCode: 200,
			Body: fmt.Sprintf("body %d", i), StartedAt: time.Unix(1, 0), FinishedAt: time.Unix(2, 0)})
	}
	return out
}

// Every kind of write goes through the log and reaches every master's
// store; a follower's write is refused with store.ErrNotLeader.
func TestWritesReachEveryStore(t *testing.T) {
	ns := group(t, 0)
	ctx := context.Background()
	leader := leaderOf(t, ns)
	rs := leader.rs
	// A target list larger than one entry: several create entries.
	rs.cfg.MaxEntryBytes = 4096
	j := &store.Job{ID: "j1", Spec: &job.Spec{Protocol: "http"}, State: store.JobWaiting, Counts: map[string]int{}}
	if err := rs.CreateJob(ctx, j, targets(2000), 100); err != nil {
		t.Fatal(err)
	}
	counts, err := rs.PutResults(ctx, "j1", results(0, 1500))
	if err != nil || counts[job.StateOK] != 1500 {
		t.Fatalf("put results: %v %v", counts, err)
	}
	if counts, err := rs.PutResults(ctx, "j1", results(1000, 2000)); err != nil || counts[job.StateOK] != 500 {
		t.Fatalf("put results again: %v %v (want 500 new: duplicates ignored)", counts, err)
	}
	j.State = store.JobGathered
	if err := rs.UpdateJob(ctx, j); err != nil {
		t.Fatal(err)
	}
	if err := rs.PutDefinition(ctx, store.KindCommand, "c1", []byte(`{"path":"/x"}`)); err != nil {
		t.Fatal(err)
	}
	if err := rs.PutDefinition(ctx, store.KindCommand, "c2", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if err := rs.DeleteDefinition(ctx, store.KindCommand, "c2"); err != nil {
		t.Fatal(err)
	}
	if err := rs.DeleteDefinition(ctx, store.KindCommand, "nosuch"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("delete a missing definition: %v", err)
	}
	tok := auth.Token{Name: "ops", Role: auth.Operator, Hash: "h1", Created: time.Unix(3, 0)}
	if err := rs.PutToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	again := tok
	again.Hash = "h2"
	if err := rs.PutToken(ctx, again); !errors.Is(err, auth.ErrExists) {
		t.Fatalf("a token twice: %v, want auth.ErrExists", err)
	}
	if err := rs.PutAudit(ctx, auth.Entry{Time: time.Unix(4, 0), Actor: "ops", Method: "POST", Route: "/x", Status: 200, Outcome: "allowed"}); err != nil {
		t.Fatal(err)
	}
	st, _ := leader.g.Status()
	for _, n := range ns {
		caughtUp(t, n, st.AppliedIndex)
		got, err := n.local.GetJob(ctx, "j1")
		if err != nil || got.State != store.JobGathered || got.Total != 2000 {
			t.Fatalf("%s: job %+v %v", n.name, got, err)
		}
		if c, _ := n.local.ChunkCount(ctx, "j1"); c != 20 {
			t.Fatalf("%s: %d chunks, want 20", n.name, c)
		}
		if cs, _ := n.local.CountResults(ctx, "j1"); cs[job.StateOK] != 2000 {
			t.Fatalf("%s: results %v", n.name, cs)
		}
		if names, _ := n.local.ListDefinitions(ctx, store.KindCommand); len(names) != 1 || names[0] != "c1" {
			t.Fatalf("%s: definitions %v", n.name, names)
		}
		if _, err := n.local.TokenByHash(ctx, "h1"); err != nil {
			t.Fatalf("%s: token: %v", n.name, err)
		}
		if es, _, _ := n.local.ListAudit(ctx, auth.Query{Limit: 10}); len(es) != 1 {
			t.Fatalf("%s: %d audit entries", n.name, len(es))
		}
	}
	for _, n := range ns {
		if n == leader {
			continue
		}
		if err := n.rs.UpdateJob(ctx, j); !errors.Is(err, store.ErrNotLeader) {
			t.Fatalf("%s (a follower): a write answered %v, want store.ErrNotLeader", n.name, err)
		}
	}
}

// A master that restarts applies only the entries it had not applied
// (its store persists); one that was away while the leader compacted its
// log catches up from a snapshot of the leader's store.
func TestRestartAndSnapshotCatchUp(t *testing.T) {
	ns := group(t, 4)
	ctx := context.Background()
	leader := leaderOf(t, ns)
	j := &store.Job{ID: "j1", Spec: &job.Spec{Protocol: "http"}, State: store.JobProcessing, Counts: map[string]int{}}
	if err := leader.rs.CreateJob(ctx, j, targets(100), 10); err != nil {
		t.Fatal(err)
	}
	var away *node
	for _, n := range ns {
		if n != leader {
			away = n
			break
		}
	}
	away.stop(t)
	for i := range 20 {
		if _, err := leader.rs.PutResults(ctx, "j1", results(i*5, i*5+5)); err != nil {
			t.Fatal(err)
		}
	}
	if err := leader.g.Snapshot(); err != nil {
		t.Fatal(err)
	}
	// More entries after the snapshot, which the returning node replays.
	j.State = store.JobGathered
	if err := leader.rs.UpdateJob(ctx, j); err != nil {
		t.Fatal(err)
	}
	away.start(t, 4)
	st, _ := leader.g.Status()
	caughtUp(t, away, st.AppliedIndex)
	got, err := away.local.GetJob(ctx, "j1")
	if err != nil || got.State != store.JobGathered {
		t.Fatalf("after catching up: %+v %v", got, err)
	}
	if cs, _ := away.local.CountResults(ctx, "j1"); cs[job.StateOK] != 100 {
		t.Fatalf("after catching up: results %v", cs)
	}
	if n := away.rs.restores.Load(); n != 1 {
		t.Fatalf("%d snapshots restored, want 1: the log it missed was compacted", n)
	}
	// A restart without a missed compaction replays nothing twice: the
	// audit log (not idempotent) keeps one entry.
	if err := leader.rs.PutAudit(ctx, auth.Entry{Time: time.Unix(4, 0), Actor: "a", Method: "POST", Route: "/x", Status: 200, Outcome: "allowed"}); err != nil {
		t.Fatal(err)
	}
	st, _ = leader.g.Status()
	caughtUp(t, away, st.AppliedIndex)
	away.stop(t)
	away.start(t, 4)
	if err := leader.rs.PutDefinition(ctx, store.KindCommand, "after", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	st, _ = leader.g.Status()
	caughtUp(t, away, st.AppliedIndex)
	if es, _, _ := away.local.ListAudit(ctx, auth.Query{Limit: 10}); len(es) != 1 {
		t.Fatalf("after a restart: %d audit entries, want 1", len(es))
	}
}

// A delete goes through the log, one entry per bounded step, and every
// master's store applies it; an unfinished job is refused without an
// entry, and a follower refuses it as it refuses every write.
func TestDeleteJobReachesEveryStore(t *testing.T) {
	ns := group(t, 0)
	ctx := context.Background()
	leader := leaderOf(t, ns)
	rs := leader.rs
	rs.cfg.DeleteBatch = 100 // several entries of a small job
	done := &store.Job{ID: "done", Spec: &job.Spec{Protocol: "http"}, State: store.JobWaiting, Counts: map[string]int{},
		SubmittedBy: "ops", RerunOf: "first"}
	if err := rs.CreateJob(ctx, done, targets(250), 100); err != nil {
		t.Fatal(err)
	}
	if _, err := rs.PutResults(ctx, "done", results(0, 250)); err != nil {
		t.Fatal(err)
	}
	done.State = store.JobGathered
	if err := rs.UpdateJob(ctx, done); err != nil {
		t.Fatal(err)
	}
	running := &store.Job{ID: "running", Spec: &job.Spec{Protocol: "http"}, State: store.JobProcessing, Counts: map[string]int{}}
	if err := rs.CreateJob(ctx, running, targets(10), 100); err != nil {
		t.Fatal(err)
	}
	before, _ := leader.g.Status()
	if err := rs.DeleteJob(ctx, "running"); !errors.Is(err, store.ErrNotFinished) {
		t.Fatalf("delete a running job: %v, want store.ErrNotFinished", err)
	}
	if err := rs.DeleteJob(ctx, "nosuch"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("delete an unknown job: %v, want store.ErrNotFound", err)
	}
	if st, _ := leader.g.Status(); st.AppliedIndex != before.AppliedIndex {
		t.Fatalf("refused deletes appended entries: applied %d, was %d", st.AppliedIndex, before.AppliedIndex)
	}
	for _, n := range ns {
		caughtUp(t, n, before.AppliedIndex)
		if j, err := n.local.GetJob(ctx, "done"); err != nil || j.SubmittedBy != "ops" || j.RerunOf != "first" {
			t.Errorf("%s: the job's record: %+v %v, want its submitter and the job it reruns", n.name, j, err)
		}
		if n != leader {
			if err := n.rs.DeleteJob(ctx, "done"); !errors.Is(err, store.ErrNotLeader) {
				t.Fatalf("%s (a follower): delete answered %v, want store.ErrNotLeader", n.name, err)
			}
		}
	}
	if err := rs.DeleteJob(ctx, "done"); err != nil {
		t.Fatal(err)
	}
	st, _ := leader.g.Status()
	// 250 results in steps of 100, then 3 chunks one a step (the last
	// step finding none and deleting the job's row): six entries.
	if got := st.AppliedIndex - before.AppliedIndex; got != 6 {
		t.Errorf("the delete took %d log entries, want 6", got)
	}
	for _, n := range ns {
		caughtUp(t, n, st.AppliedIndex)
		if _, err := n.local.GetJob(ctx, "done"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s: the deleted job: %v", n.name, err)
		}
		if cs, err := n.local.CountResults(ctx, "done"); err != nil || len(cs) != 0 {
			t.Errorf("%s: results of the deleted job: %v %v", n.name, cs, err)
		}
		if _, err := n.local.ChunkCount(ctx, "done"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s: chunks of the deleted job: %v", n.name, err)
		}
		if c, err := n.local.ChunkCount(ctx, "running"); err != nil || c != 1 {
			t.Errorf("%s: the running job: %d chunks, %v", n.name, c, err)
		}
	}
}
