package actors_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/salvo-sh/salvo/actors"
	"github.com/salvo-sh/salvo/actors/wire"
	"github.com/salvo-sh/salvo/fleet"
	"github.com/salvo-sh/salvo/internal/testutil"
)

// testMaster stands in for a master: it records every message it receives,
// in order, and answers lease requests and result batches as told.
type testMaster struct {
	// lease answers the n-th LeaseRequest (1-based); nil answers an empty
	// grant with Last. A nil grant with after > 0 is sent after that long,
	// as a real master answers a parked request after LeaseHold.
	lease func(n int, req *actors.LeaseRequest) (g *actors.LeaseGrant, after time.Duration)
	// ack says whether to acknowledge the n-th ResultBatch (1-based); nil
	// acknowledges every batch.
	ack func(n int) bool
	// hold keeps every acknowledgement back until a releaseAcks arrives.
	// Set before the actor starts; then only its Receive touches it.
	hold bool
	held []*actors.ResultBatch

	mu      sync.Mutex
	got     []any
	leases  int
	batches int
}

// mark is a message the test sends a testMaster: what it recorded before a
// mark had been sent to it before the mark.
type mark struct{ id int64 }

var marks atomic.Int64

// releaseAcks makes a testMaster acknowledge the batches it held back, and
// every batch from then on.
type releaseAcks struct{}

// Receive implements actor.Actor.
func (m *testMaster) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *actor.Started, *actor.Stopping, *actor.Stopped:
	case *actors.LeaseRequest:
		m.mu.Lock()
		m.got = append(m.got, msg)
		m.leases++
		n := m.leases
		m.mu.Unlock()
		g, after := &actors.LeaseGrant{JobId: msg.JobId, Last: true}, time.Duration(0)
		if m.lease != nil {
			g, after = m.lease(n, msg)
		}
		if after <= 0 {
			ctx.Respond(g)
			return
		}
		// Answered later without holding the actor: the feeder keeps asking,
		// so a runner that still leased from here would show.
		to, root := ctx.Sender(), ctx.ActorSystem().Root
		time.AfterFunc(after, func() { root.Send(to, g) })
	case *actors.ResultBatch:
		m.mu.Lock()
		m.got = append(m.got, msg)
		m.batches++
		n := m.batches
		m.mu.Unlock()
		switch {
		case m.hold:
			m.held = append(m.held, msg)
		case m.ack == nil || m.ack(n):
			ctx.Send(msg.From, &actors.BatchAck{JobId: msg.JobId, LeaseId: msg.LeaseId, Seq: msg.Seq})
		}
	case *releaseAcks:
		m.hold = false
		for _, rb := range m.held {
			ctx.Send(rb.From, &actors.BatchAck{JobId: rb.JobId, LeaseId: rb.LeaseId, Seq: rb.Seq})
		}
		m.held = nil
	default:
		m.mu.Lock()
		m.got = append(m.got, msg)
		m.mu.Unlock()
	}
}

// snapshot returns what the master received so far.
func (m *testMaster) snapshot() []any {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]any(nil), m.got...)
}

// spawnMaster starts m on system.
func spawnMaster(t *testing.T, system *actor.ActorSystem, m *testMaster) *actor.PID {
	t.Helper()
	return system.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return m }))
}

// waitFor polls cond until it holds or a bounded deadline passes: the
// effects it waits for are asynchronous messages between actors.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// markAt sends m a mark and returns its position in m's record once m has
// recorded it. Everything sent to m before markAt was called is recorded
// before that position (in-process sends enqueue at once, in order).
func markAt(t *testing.T, system *actor.ActorSystem, pid *actor.PID, m *testMaster) int {
	t.Helper()
	id := marks.Add(1)
	system.Root.Send(pid, &mark{id: id})
	at := -1
	waitFor(t, "a mark", func() bool {
		for i, x := range m.snapshot() {
			if mk, ok := x.(*mark); ok && mk.id == id {
				at = i
				return true
			}
		}
		return false
	})
	return at
}

// count returns how many of msgs satisfy f.
func count(msgs []any, f func(any) bool) int {
	n := 0
	for _, x := range msgs {
		if f(x) {
			n++
		}
	}
	return n
}

func isRegister(x any) bool { _, ok := x.(*actors.RegisterWorker); return ok }

func isLeaseRequest(job string) func(any) bool {
	return func(x any) bool { r, ok := x.(*actors.LeaseRequest); return ok && r.JobId == job }
}

func isWorkerDone(job string) func(any) bool {
	return func(x any) bool { d, ok := x.(*actors.JobWorkerDone); return ok && d.JobId == job }
}

// logCounter counts the log records whose message holds a text, and passes
// every record on to the test log.
type logCounter struct {
	slog.Handler
	text string
	n    *atomic.Int32
}

func (h logCounter) Handle(ctx context.Context, r slog.Record) error {
	if strings.Contains(r.Message, h.text) {
		h.n.Add(1)
	}
	return h.Handler.Handle(ctx, r)
}

func (h logCounter) WithAttrs(as []slog.Attr) slog.Handler {
	return logCounter{Handler: h.Handler.WithAttrs(as), text: h.text, n: h.n}
}

func (h logCounter) WithGroup(name string) slog.Handler {
	return logCounter{Handler: h.Handler.WithGroup(name), text: h.text, n: h.n}
}

// startLeaderWorker starts a worker-only WorkerHost on its own actor
// system, as a worker-only node runs it, and stops both at the test's end.
func startLeaderWorker(t *testing.T, mod func(*actors.WorkerConfig), master *actor.PID, system *actor.ActorSystem) *actors.WorkerHost {
	t.Helper()
	wc := actors.DefaultWorkerConfig()
	wc.Name, wc.Capacity, wc.Logger = "w1", 100, testutil.Logger(t)
	wc.LoadInterval = 20 * time.Millisecond
	if mod != nil {
		mod(&wc)
	}
	h, err := actors.StartWorker(system, wc, master)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		h.Abandon() // test masters that never acknowledge hold no one up
		if err := h.Drain(ctx, false); err != nil {
			t.Errorf("drain: %v", err)
		}
		h.Stop()
	})
	return h
}

func newTestSystem(t *testing.T) *actor.ActorSystem {
	t.Helper()
	system := actors.NewSystem(testutil.Logger(t))
	t.Cleanup(system.Shutdown) // runs after the worker's cleanup (LIFO)
	return system
}

// specJSON is a job spec as a JobStart carries it.
func specJSON(t *testing.T, targets []string, conc int) []byte {
	t.Helper()
	s := spec(targets, conc)
	if err := s.Normalize(100); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A worker runs JobStarts from its master (or without a master: from the
// current one) and refuses one from any other master: nothing runs, the
// sender gets JobWorkerDone at once, and the refusal is logged once per
// master.
func TestWorkerRefusesJobStartFromAnotherMaster(t *testing.T) {
	system := newTestSystem(t)
	own := &testMaster{}
	ownPID := spawnMaster(t, system, own)
	var refusals atomic.Int32
	h := startLeaderWorker(t, func(wc *actors.WorkerConfig) {
		wc.Logger = slog.New(logCounter{Handler: testutil.Logger(t).Handler(), text: "refusing job starts", n: &refusals})
	}, ownPID, system)
	waitFor(t, "the worker's registration", func() bool { return count(own.snapshot(), isRegister) > 0 })
	sj := specJSON(t, []string{"127.0.0.1:1"}, 2)

	stray1, stray2 := &testMaster{}, &testMaster{}
	stray1PID, stray2PID := spawnMaster(t, system, stray1), spawnMaster(t, system, stray2)
	for _, tc := range []struct {
		name   string
		from   *actor.PID // JobStart.Master
		rec    *testMaster
		runs   bool
		warned int32 // refusals logged after this case
	}{
		{name: "own master", from: ownPID, rec: own, runs: true},
		{name: "no master: the current one", from: nil, rec: own, runs: true},
		{name: "stray master", from: stray1PID, rec: stray1, warned: 1},
		{name: "same stray again: logged once", from: stray1PID, rec: stray1, warned: 1},
		{name: "another stray", from: stray2PID, rec: stray2, warned: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := "job-" + strings.ReplaceAll(tc.name, " ", "-")
			system.Root.Send(h.PID(), &actors.JobStart{JobId: id, Spec: sj, Master: tc.from, MasterSession: "s1"})
			waitFor(t, "JobWorkerDone", func() bool { return count(tc.rec.snapshot(), isWorkerDone(id)) > 0 })
			got := tc.rec.snapshot()
			if n := count(got, isWorkerDone(id)); n != 1 {
				t.Errorf("%d JobWorkerDone, want 1", n)
			}
			// A runner asks for a lease before its JobWorkerDone; a refused
			// start has none.
			if leased := count(got, isLeaseRequest(id)) > 0; leased != tc.runs {
				t.Errorf("lease requested: %v, want %v", leased, tc.runs)
			}
			if n := refusals.Load(); n != tc.warned {
				t.Errorf("%d refusals logged, want %d", n, tc.warned)
			}
			if tc.runs {
				return
			}
			// Nothing runs: a load report the worker sent after the refusal
			// (one recorded after a mark sent now) lists no job.
			at := markAt(t, system, ownPID, own)
			var load *actors.WorkerLoad
			waitFor(t, "a load report after the refusal", func() bool {
				for _, x := range own.snapshot()[at:] {
					if l, ok := x.(*actors.WorkerLoad); ok {
						load = l
						return true
					}
				}
				return false
			})
			if _, ok := load.Jobs[id]; ok || load.RunningJobs != 0 {
				t.Errorf("load after a refused start: %d running, jobs %v", load.RunningJobs, load.Jobs)
			}
			for _, x := range own.snapshot() {
				if d, ok := x.(*actors.JobWorkerDone); ok && d.JobId == id {
					t.Errorf("the worker's own master was told of a job it never started")
				}
			}
		})
	}
}

// The worker follows the leader of the highest Raft term it has seen: a
// stale announcement (a lower term, or term 0 once a term was seen) does
// not move it; a higher term does, and without Raft (term 0 throughout)
// the latest announcement does, as SetMaster always did.
func TestWorkerIgnoresStaleLeader(t *testing.T) {
	for _, tc := range []struct {
		name         string
		termA, termB uint64
		moves        bool
	}{
		{name: "lower term is stale", termA: 5, termB: 3},
		{name: "term 0 after a raft term is stale", termA: 5, termB: 0},
		{name: "higher term moves the worker", termA: 5, termB: 6, moves: true},
		{name: "without raft the latest master wins", termA: 0, termB: 0, moves: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			system := newTestSystem(t)
			a, b := &testMaster{}, &testMaster{}
			aPID, bPID := spawnMaster(t, system, a), spawnMaster(t, system, b)
			h := startLeaderWorker(t, nil, nil, system)
			h.SetLeader(aPID, tc.termA)
			waitFor(t, "registration with A", func() bool { return count(a.snapshot(), isRegister) > 0 })
			if tc.termB == 0 {
				h.SetMaster(bPID)
			} else {
				h.SetLeader(bPID, tc.termB)
			}
			// A probe from B, behind the announcement in the worker's
			// mailbox: run when the worker follows B, refused otherwise.
			sj := specJSON(t, []string{"127.0.0.1:1"}, 1)
			system.Root.Send(h.PID(), &actors.JobStart{JobId: "probe", Spec: sj, Master: bPID, MasterSession: "sb"})
			waitFor(t, "B's JobWorkerDone", func() bool { return count(b.snapshot(), isWorkerDone("probe")) > 0 })
			got := b.snapshot()
			if registered := count(got, isRegister) > 0; registered != tc.moves {
				t.Errorf("registered with B: %v, want %v", registered, tc.moves)
			}
			if ran := count(got, isLeaseRequest("probe")) > 0; ran != tc.moves {
				t.Errorf("B's job ran: %v, want %v", ran, tc.moves)
			}
			// Load reports follow the master: after a mark, the next one
			// goes to the master the worker follows.
			follows, rec := a, aPID
			if tc.moves {
				follows, rec = b, bPID
			}
			at := markAt(t, system, rec, follows)
			waitFor(t, "a load report", func() bool {
				return count(follows.snapshot()[at:], func(x any) bool { _, ok := x.(*actors.WorkerLoad); return ok }) > 0
			})
		})
	}
}

// A master switch mid-job: the part the worker runs for master A stops
// when the worker learns that B leads with a higher term; the results A
// never acknowledged, and those still in flight, reach B, and so does the
// part's JobWorkerDone (or, when B starts the job itself, the new part
// starts once the old one has finished); A gets no lease request after
// the switch.
func TestWorkerHandsItsPartToTheNewLeader(t *testing.T) {
	const hosts, conc, batchSize, maxUnacked, ackedByA = 60, 4, 5, 3, 2
	for _, tc := range []struct {
		name     string
		newStart bool // B sends the job's JobStart (a new session) after the switch
	}{
		{name: "old part finishes for the new leader"},
		{name: "new leader's start waits for the old part", newStart: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := testutil.StartFleet(t, func(c *fleet.Config) {
				c.Hosts = hosts
				c.LatencyMin, c.LatencyMax = 5*time.Millisecond, 5*time.Millisecond
			})
			targets := fleet.Targets(hosts, f.Addr().Port)
			system := newTestSystem(t)
			const id = "job-1"
			a := &testMaster{
				// The whole job as one lease, then empty grants after a
				// while: the feeder keeps asking A for as long as it leases
				// from A.
				lease: func(n int, req *actors.LeaseRequest) (*actors.LeaseGrant, time.Duration) {
					if n > 1 {
						return &actors.LeaseGrant{JobId: req.JobId, LeaseId: 1}, 10 * time.Millisecond
					}
					ts := make([]*wire.Target, len(targets))
					for i, h := range targets {
						ts[i] = &wire.Target{Index: int64(i), Host: h}
					}
					return &actors.LeaseGrant{JobId: req.JobId, LeaseId: 1, Targets: ts}, 0
				},
				// A acknowledges its first batches, then dies (acknowledges
				// nothing more).
				ack: func(n int) bool { return n <= ackedByA },
			}
			// B acknowledges everything; its leases say Last. When it starts
			// the job, it holds its acknowledgements back until its JobStart
			// is in the worker's mailbox: the old part cannot finish first.
			b := &testMaster{hold: tc.newStart}
			aPID, bPID := spawnMaster(t, system, a), spawnMaster(t, system, b)
			h := startLeaderWorker(t, func(wc *actors.WorkerConfig) {
				wc.BatchSize, wc.MaxUnacked, wc.BatchInterval = batchSize, maxUnacked, 20*time.Millisecond
				wc.ResendAfter = 0 // only the switch sends a batch again
				wc.AckTimeout, wc.LeaseTimeout = time.Minute, 10*time.Second
			}, nil, system)
			h.SetLeader(aPID, 1)
			waitFor(t, "registration with A", func() bool { return count(a.snapshot(), isRegister) > 0 })
			system.Root.Send(h.PID(), &actors.JobStart{JobId: id, Spec: specJSON(t, targets, conc), Master: aPID, MasterSession: "sa"})

			// A holds MaxUnacked unacknowledged batches: the batcher waits
			// for room, the slots back up.
			batchesOf := func(msgs []any) []*actors.ResultBatch {
				var bs []*actors.ResultBatch
				for _, x := range msgs {
					if rb, ok := x.(*actors.ResultBatch); ok && rb.JobId == id {
						bs = append(bs, rb)
					}
				}
				return bs
			}
			waitFor(t, "A's unacknowledged batches", func() bool { return len(batchesOf(a.snapshot())) >= ackedByA+maxUnacked })
			// And results beyond them on the worker, pending or in flight.
			waitFor(t, "results A never got", func() bool { return f.Requests() > (ackedByA+maxUnacked)*batchSize })

			h.SetLeader(bPID, 2)
			// The worker hands its runners over before it registers with B.
			waitFor(t, "registration with B", func() bool { return count(b.snapshot(), isRegister) > 0 })
			at := markAt(t, system, aPID, a)
			if tc.newStart {
				system.Root.Send(h.PID(), &actors.JobStart{JobId: id, Spec: specJSON(t, targets, conc), Master: bPID, MasterSession: "sb"})
				system.Root.Send(bPID, &releaseAcks{})
			}
			waitFor(t, "B's JobWorkerDone", func() bool { return count(b.snapshot(), isWorkerDone(id)) > 0 })

			gotA, gotB := a.snapshot(), b.snapshot()
			if n := count(gotA[at:], isLeaseRequest(id)); n != 0 {
				t.Errorf("A got %d lease requests after the switch", n)
			}
			if n := count(gotA, isWorkerDone(id)); n != 0 {
				t.Errorf("A got %d JobWorkerDone: it is deposed", n)
			}
			acked, unackedA, atB := map[int64]bool{}, map[int64]bool{}, map[int64]bool{}
			for i, rb := range batchesOf(gotA) {
				for _, r := range rb.Results {
					if i < ackedByA {
						acked[r.Index] = true
					} else {
						unackedA[r.Index] = true
					}
				}
			}
			for _, rb := range batchesOf(gotB) {
				for _, r := range rb.Results {
					atB[r.Index] = true
				}
			}
			for i := range unackedA {
				if !atB[i] {
					t.Errorf("result %d, unacknowledged by A, never reached B", i)
				}
			}
			for i := range atB {
				if acked[i] {
					t.Errorf("result %d, acknowledged by A, was sent to B too", i)
				}
			}
			// Every request the worker ran has its result acknowledged by A
			// or delivered to B; the stopped part started no more.
			ran := int(f.Requests())
			if n := len(acked) + len(atB); n != ran {
				t.Errorf("%d results acknowledged by A or delivered to B, %d requests ran: %v", n, ran, sortedKeys(atB))
			}
			if ran >= hosts {
				t.Errorf("all %d targets ran: the part went on after the switch", ran)
			}
			if len(atB) <= len(unackedA) {
				t.Errorf("B got %d results, A held %d unacknowledged: the results in flight were lost", len(atB), len(unackedA))
			}

			leases := count(gotB, isLeaseRequest(id))
			if n := count(gotB, isWorkerDone(id)); n != 1 {
				t.Errorf("B got %d JobWorkerDone, want 1", n)
			}
			if !tc.newStart {
				if leases != 0 {
					t.Errorf("B got %d lease requests from the part started for A", leases)
				}
				return
			}
			// The new part leased from B only after the old one had
			// finished: every result came before its first lease request.
			first := -1
			for i, x := range gotB {
				if isLeaseRequest(id)(x) {
					first = i
					break
				}
			}
			if first < 0 {
				t.Fatal("the new leader's part never leased")
			}
			if late := len(batchesOf(gotB[first:])); late != 0 {
				t.Errorf("%d batches of the old part reached B after the new part started", late)
			}
		})
	}
}

func sortedKeys(m map[int64]bool) []int64 {
	out := make([]int64, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
