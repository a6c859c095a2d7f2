package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/salvo-sh/salvo/actors"
	"github.com/salvo-sh/salvo/job"
	"github.com/salvo-sh/salvo/raftgroup"
	"github.com/salvo-sh/salvo/replica"
	"github.com/salvo-sh/salvo/store"
)

// The Raft ingest load's scenarios: the same results written by one
// writer to a bare SQLite store, and through the leader of a Raft group.
const (
	ScenarioStoreIngest = "store-ingest"
	ScenarioRaftIngest  = "raft-ingest"
)

// ingestJobID is the job the ingest load stores its results under.
const ingestJobID = "bench-ingest"

// isIngestRow says whether a row is the ingest load's.
func isIngestRow(row Row) bool {
	return row.Scenario == ScenarioStoreIngest || strings.HasPrefix(row.Scenario, ScenarioRaftIngest)
}

// runIngest measures the master's store write path alone, in this
// process: HAConfig.IngestResults results in batches of IngestBatch
// written as the master's store writer writes them (one at a time on a
// single node, actors.RaftWriteParallel at once on an HA master), first
// to a bare SQLite store (a single node's path), then through
// replica.Store on the leader of a HAConfig.Masters-member Raft group on
// loopback TCP (each member its own Raft log and SQLite store, as HA
// masters run them): each batch is one log entry, committed on a
// majority and applied on the leader before the next is written.
func runIngest(ctx context.Context, cfg Config) ([]Row, error) {
	hc := cfg.HA
	bare, err := ingestStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	cfg.Logger.Info("store ingest done", "resultsPerSecond", int(bare.Rate))
	rows := []Row{bare}
	raft, err := ingestRaft(ctx, cfg)
	if err != nil {
		return rows, err
	}
	if bare.Rate > 0 {
		raft.VsStore = raft.Rate / bare.Rate
	}
	cfg.Logger.Info("raft ingest done", "members", hc.Masters, "resultsPerSecond", int(raft.Rate),
		"timesStore", fmt.Sprintf("%.2f", raft.VsStore))
	return append(rows, raft), nil
}

// ingestLogger is the logger of the stores and Raft members the ingest
// load runs: the children's log, or nothing.
func ingestLogger(cfg Config, name string) *slog.Logger {
	if cfg.ChildLog == nil {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(&lineWriter{prefix: "[" + name + "] ", out: cfg.ChildLog}, nil))
}

// openIngestStore opens a SQLite store in the directory name under
// parent and returns it with the directory.
func openIngestStore(cfg Config, parent, name string) (*store.SQLite, string, error) {
	dir := filepath.Join(parent, name)
	sc := store.DefaultSQLiteConfig(dir)
	sc.Logger = ingestLogger(cfg, name)
	local, err := store.OpenSQLite(sc)
	if err != nil {
		return nil, "", fmt.Errorf("bench: ingest store: %w", err)
	}
	return local, dir, nil
}

// createIngestJob stores the ingest job and its targets.
func createIngestJob(ctx context.Context, st store.Store, n int) error {
	targets := make([]job.TargetSpec, n)
	for i := range targets {
		targets[i] = job.TargetSpec{Host: ingestHost(i)}
	}
	j := &store.Job{ID: ingestJobID, Name: ingestJobID, State: "processing", Total: n, CreatedAt: time.Now()}
	if err := st.CreateJob(ctx, j, targets, job.DefaultChunkSize); err != nil {
		return fmt.Errorf("bench: ingest job: %w", err)
	}
	return nil
}

// ingestHost is the i-th target of the ingest job.
func ingestHost(i int) string {
	return fmt.Sprintf("127.%d.%d.%d", 1+i>>16&255, i>>8&255, i&255)
}

// ingestBatch returns a batch of n results like a fleet host's answers
// (a body of bodyBytes holding the version the job aggregates); write
// sets their indexes before each write.
func ingestBatch(n, bodyBytes int) []job.Result {
	now := time.Now()
	rs := make([]job.Result, n)
	for i := range rs {
		host := ingestHost(i)
		body := "host=" + host + " version=1." + strconv.Itoa(i%7) + "\n"
		if pad := bodyBytes - len(body); pad > 0 {
			body += strings.Repeat("x", pad)
		}
		rs[i] = job.Result{Index: i, Host: host, Target: "http://" + host + Path, State: job.StateOK, StatusCode: 200,
			LatencyMs: 1, Body: body, BodyBytes: int64(len(body)), Attempts: 1, Worker: "bench-w1",
			Value: "1." + strconv.Itoa(i%7), StartedAt: now, FinishedAt: now}
	}
	return rs
}

// writeIngest writes the results in batches with put, parallel at once,
// and returns the row with the time, this process's CPU time, and
// as errors the results that st (where put writes) does not hold ok.
func writeIngest(ctx context.Context, cfg Config, scenario string, parallel int, put func([]job.Result) error, st func() store.Store) (Row, error) {
	hc := cfg.HA
	row := Row{Scenario: scenario, Targets: hc.IngestResults, Concurrency: max(1, parallel)}
	batch := ingestBatch(hc.IngestBatch, cfg.BodyBytes)
	cpu0, cpuErr := readCPU(os.Getpid())
	start := time.Now()
	// As the master's writer does: parallel batches in flight at once.
	slots := make(chan struct{}, max(1, parallel))
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for first := 0; first < hc.IngestResults; first += len(batch) {
		rs := slices.Clone(batch[:min(len(batch), hc.IngestResults-first)])
		for i := range rs {
			rs[i].Index = first + i
		}
		slots <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-slots; wg.Done() }()
			if err := put(rs); err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = fmt.Errorf("bench: %s: write results %d-%d: %w", scenario, first, first+len(rs)-1, err)
				}
				mu.Unlock()
			}
		}()
		mu.Lock()
		failed := firstErr != nil
		mu.Unlock()
		if failed {
			break
		}
	}
	wg.Wait()
	if firstErr != nil {
		return row, firstErr
	}
	elapsed := time.Since(start)
	row.Seconds = elapsed.Seconds()
	row.Rate = float64(hc.IngestResults) / row.Seconds
	if cpu1, err := readCPU(os.Getpid()); err == nil && cpuErr == nil {
		row.CPUSeconds = (cpu1 - cpu0).Seconds()
	}
	counts, err := st().CountResults(ctx, ingestJobID)
	if err != nil {
		return row, fmt.Errorf("bench: %s: count the results: %w", scenario, err)
	}
	row.Errors = hc.IngestResults - counts[job.StateOK]
	return row, nil
}

// ingestStore runs the ingest load on a bare SQLite store.
func ingestStore(ctx context.Context, cfg Config) (row Row, err error) {
	parent, err := os.MkdirTemp("", "salvo-bench-ingest-")
	if err != nil {
		return row, fmt.Errorf("bench: ingest dir: %w", err)
	}
	defer os.RemoveAll(parent)
	st, _, err := openIngestStore(cfg, parent, "store")
	if err != nil {
		return row, err
	}
	defer joinErr(&err, st.Close)
	if err := createIngestJob(ctx, st, cfg.HA.IngestResults); err != nil {
		return row, err
	}
	cfg.Logger.Info("store ingest", "results", cfg.HA.IngestResults, "batch", cfg.HA.IngestBatch)
	put := func(rs []job.Result) error {
		_, err := st.PutResults(ctx, ingestJobID, rs)
		return err
	}
	return writeIngest(ctx, cfg, ScenarioStoreIngest, 1, put, func() store.Store { return st })
}

// ingestMaxElections bounds the leader changes the Raft ingest load goes
// through: a batch whose leader is lost is written again to the next one,
// as the master's writer does after a failover.
const ingestMaxElections = 5

// ingestMember is one member of the ingest load's Raft group.
type ingestMember struct {
	local *store.SQLite
	rs    *replica.Store
	g     *raftgroup.Group
}

// close stops the member as a master does: the Raft member, then the
// replicated store, then the local store it applied to.
func (m *ingestMember) close() error {
	var errs []error
	if m.g != nil {
		errs = append(errs, m.g.Shutdown())
	}
	if m.rs != nil {
		errs = append(errs, m.rs.Close())
	}
	return errors.Join(append(errs, m.local.Close())...)
}

// ingestRaft runs the ingest load through the leader of a Raft group of
// replicated stores in this process.
func ingestRaft(ctx context.Context, cfg Config) (row Row, err error) {
	hc := cfg.HA
	scenario := fmt.Sprintf("%s(%d)", ScenarioRaftIngest, hc.Masters)
	parent, err := os.MkdirTemp("", "salvo-bench-ingest-")
	if err != nil {
		return row, fmt.Errorf("bench: ingest dir: %w", err)
	}
	defer os.RemoveAll(parent)
	var members []*ingestMember
	defer func() {
		for _, m := range members {
			joinErr(&err, m.close)
		}
	}()
	var peers []raftgroup.Peer
	for i := range hc.Masters {
		name := fmt.Sprintf("ingest-m%d", i+1)
		local, dir, err := openIngestStore(cfg, parent, name)
		if err != nil {
			return row, err
		}
		m := &ingestMember{local: local}
		members = append(members, m)
		rcfg := replica.DefaultConfig(filepath.Join(dir, "raft", "fsm"))
		rcfg.Logger = ingestLogger(cfg, name)
		if m.rs, err = replica.New(rcfg, local); err != nil {
			return row, fmt.Errorf("bench: ingest replica: %w", err)
		}
		port, err := freePort()
		if err != nil {
			return row, fmt.Errorf("bench: free port: %w", err)
		}
		gc := raftgroup.DefaultConfig()
		gc.Name, gc.BindAddr, gc.Dir, gc.FSMPersists = name, "127.0.0.1:"+strconv.Itoa(port), filepath.Join(dir, "raft"), true
		gc.Logger = rcfg.Logger
		if m.g, err = raftgroup.Start(gc, m.rs.FSM()); err != nil {
			return row, fmt.Errorf("bench: ingest raft member: %w", err)
		}
		m.rs.SetApplier(m.g)
		peers = append(peers, raftgroup.Peer{Name: name, Addr: m.g.Addr()})
	}
	for _, m := range members {
		if err := m.g.Bootstrap(peers); err != nil {
			return row, fmt.Errorf("bench: ingest raft bootstrap: %w", err)
		}
	}
	leader, err := ingestLeader(ctx, cfg, members)
	if err != nil {
		return row, err
	}
	if err := createIngestJob(ctx, leader.rs, hc.IngestResults); err != nil {
		return row, err
	}
	cfg.Logger.Info("raft ingest", "results", hc.IngestResults, "batch", hc.IngestBatch, "members", hc.Masters)
	st0, err := leader.g.Status()
	if err != nil {
		return row, fmt.Errorf("bench: ingest raft status: %w", err)
	}
	elections := 0
	var lmu sync.Mutex // the puts run in parallel
	put := func(rs []job.Result) error {
		for {
			lmu.Lock()
			l := leader
			lmu.Unlock()
			_, err := l.rs.PutResults(ctx, ingestJobID, rs)
			if !errors.Is(err, store.ErrNotLeader) {
				return err
			}
			lmu.Lock()
			if leader == l {
				if elections == ingestMaxElections {
					lmu.Unlock()
					return err
				}
				elections++
				cfg.Logger.Info("raft ingest: the leader lost its leadership; writing to the next one", "err", err)
				next, lerr := ingestLeader(ctx, cfg, members)
				if lerr != nil {
					lmu.Unlock()
					return lerr
				}
				leader = next
			}
			lmu.Unlock()
		}
	}
	row, err = writeIngest(ctx, cfg, scenario, actors.RaftWriteParallel, put, func() store.Store { return leader.rs })
	if err != nil {
		return row, err
	}
	st1, err := leader.g.Status()
	if err != nil {
		return row, fmt.Errorf("bench: ingest raft status: %w", err)
	}
	rf := &RaftFigures{Leader: st1.Leader, Term: st1.Term, LeaderChanged: st1.Term != st0.Term,
		Entries: st1.CommitIndex - st0.CommitIndex, ResultsPerSecond: row.Rate}
	if rf.LeaderChanged {
		row.Notes = append(row.Notes, fmt.Sprintf("the leader changed %d times during the load (term %d to %d): "+
			"a batch whose leader was lost was written again to the next one", elections, st0.Term, st1.Term))
	}
	rf.EntriesPerSecond = float64(rf.Entries) / row.Seconds
	if rf.Entries > 0 {
		rf.ResultsPerEntry = float64(hc.IngestResults) / float64(rf.Entries)
	}
	rf.FollowerLag, rf.CatchUpSeconds = ingestCatchUp(ctx, cfg, members, leader, st1.CommitIndex)
	row.Raft = rf
	return row, nil
}

// ingestLeader waits (bounded by cfg.StartTimeout) until a member leads
// and has applied the log.
func ingestLeader(ctx context.Context, cfg Config, members []*ingestMember) (*ingestMember, error) {
	deadline := time.Now().Add(cfg.StartTimeout)
	for {
		for _, m := range members {
			if m.g.IsLeader() {
				bctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				err := m.g.Barrier(bctx)
				cancel()
				if err == nil {
					return m, nil
				}
			}
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("bench: the ingest raft group has no leader within %s", cfg.StartTimeout)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("bench: ingest raft group: %w", context.Cause(ctx))
		case <-time.After(50 * time.Millisecond): // an election has no signal the others see
		}
	}
}

// ingestCatchUp waits (bounded by cfg.StartTimeout) until every follower
// has applied the log up to index: the slowest one's entries left at
// first, and the time it took (-1: not within the bound).
func ingestCatchUp(ctx context.Context, cfg Config, members []*ingestMember, leader *ingestMember, index uint64) (lag uint64, seconds float64) {
	start := time.Now()
	for first := true; ; first = false {
		behind := uint64(0)
		for _, m := range members {
			if a := m.rs.AppliedIndex(); m != leader && a < index {
				behind = max(behind, index-a)
			}
		}
		if first {
			lag = behind
		}
		if behind == 0 {
			return lag, time.Since(start).Seconds()
		}
		if time.Since(start) > cfg.StartTimeout || ctx.Err() != nil {
			return lag, -1
		}
		select {
		case <-ctx.Done():
		case <-time.After(5 * time.Millisecond): // the applied index has no signal
		}
	}
}
