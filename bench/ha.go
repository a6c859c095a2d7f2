package bench

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/salvo-sh/salvo/auth"
	"github.com/salvo-sh/salvo/raftgroup"
)

// ScenarioHA is the salvo job on HAConfig.Masters masters forming a Raft
// group (docs/ha.md) and HAConfig.Workers workers, all on this machine.
const ScenarioHA = "salvo-ha"

// HAGoal is the HA job's targets/s over the single node's that the HA
// scenario aims at on a shared 2-core machine (reported, not enforced).
const HAGoal = 0.6

// HAConfig configures the HA scenario: the throughput job on the largest
// target count, run on masters that form a Raft group (every store write
// a log entry, applied on every master) with workers, measured in the run
// that measures the single node; then the dedicated Raft ingest load
// (ingest.go).
type HAConfig struct {
	// Enabled runs the scenario.
	Enabled bool
	// Masters is how many masters form the group (--bootstrap-expect).
	Masters int
	// Workers is how many worker processes join them.
	Workers int
	// IngestResults is how many results the Raft ingest load stores; 0
	// skips it.
	IngestResults int
	// IngestBatch is the results of one write of the ingest load (the
	// workers' batch size).
	IngestBatch int
}

// RaftFigures are what the HA rows show of the Raft log.
type RaftFigures struct {
	// Leader is the member that led, Term its term when the job ended;
	// LeaderChanged says the term moved during the job.
	Leader        string `json:"leader,omitempty"`
	Term          uint64 `json:"term,omitempty"`
	LeaderChanged bool   `json:"leaderChanged,omitempty"`
	// Entries is how many log entries the leader committed over the job
	// (of every kind: target chunks, result batches, job updates), and
	// EntriesPerSecond their rate over the job's time.
	Entries          uint64  `json:"entries"`
	EntriesPerSecond float64 `json:"entriesPerSecond"`
	// ResultsPerEntry is the job's results over Entries.
	ResultsPerEntry float64 `json:"resultsPerEntry"`
	// ResultsPerSecond is the leader's results stored per second: from
	// the first status that showed a result stored to the job's end (the
	// job's own targets/s includes the submit and the target chunks'
	// entries); for the ingest load, results written per second.
	ResultsPerSecond float64 `json:"resultsPerSecond"`
	// FollowerLag is how many entries the slowest follower had still to
	// apply when the job ended (the last write returned), CatchUpSeconds
	// how long it took to apply them; -1 when it did not within the
	// bound.
	FollowerLag    uint64  `json:"followerLag"`
	CatchUpSeconds float64 `json:"catchUpSeconds"`
}

// haNode is one master of the HA scenario.
type haNode struct {
	name string
	s    *benchServer
}

// haCluster is the HA scenario's masters and workers.
type haCluster struct {
	masters []*haNode
	workers []*child
	api     *http.Client
}

// pids lists the processes of the cluster.
func (c *haCluster) pids() []int {
	var out []int
	for _, m := range c.masters {
		out = append(out, m.s.srv.pid())
	}
	for _, w := range c.workers {
		out = append(out, w.pid())
	}
	return out
}

// stop stops the workers, then the masters, each group at once (every
// stop bounded), and removes the masters' data directories.
func (c *haCluster) stop(cfg Config) error {
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	run := func(f func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	for _, w := range c.workers {
		run(func() error { return w.stop(cfg.StopTimeout) })
	}
	wg.Wait()
	for _, m := range c.masters {
		run(func() error { return m.s.stop(cfg) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// writeSecretKey writes a fresh key in the format auth.LoadSealer reads
// (32 random bytes, base64) into each dir: HA masters share the key that
// seals the credentials they replicate.
func writeSecretKey(dirs []string) error {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return fmt.Errorf("bench: secret key: %w", err)
	}
	for _, d := range dirs {
		if err := auth.WriteSecretFile(filepath.Join(d, "secret.key"), base64.StdEncoding.EncodeToString(key)); err != nil {
			return fmt.Errorf("bench: secret key in %s: %w", d, err)
		}
	}
	return nil
}

// startHACluster starts the masters (each on its own data directory with
// the shared secret key, joining the others' gossip addresses, chosen
// free beforehand) and the workers, and waits (bounded by
// cfg.StartTimeout) until a master leads with its master running and has
// every worker registered; it returns the cluster and its leader. On an
// error the cluster, whatever of it started, is returned stopped (for its
// pids).
func startHACluster(ctx context.Context, cfg Config, extra []string) (c *haCluster, leader *haNode, err error) {
	c = &haCluster{api: &http.Client{Timeout: 10 * time.Second}}
	defer func() {
		if err != nil {
			err = errors.Join(err, c.stop(cfg))
		}
	}()
	n := cfg.HA.Masters
	names := make([]string, n)
	dirs := make([]string, n)
	gossip := make([]string, n)
	raft := make([]string, n)
	for i := range n {
		names[i] = fmt.Sprintf("bench-m%d", i+1)
		gp, err := freePort()
		if err != nil {
			return c, nil, fmt.Errorf("bench: free port: %w", err)
		}
		rp, err := freePort()
		if err != nil {
			return c, nil, fmt.Errorf("bench: free port: %w", err)
		}
		gossip[i], raft[i] = "127.0.0.1:"+strconv.Itoa(gp), "127.0.0.1:"+strconv.Itoa(rp)
		if dirs[i], err = os.MkdirTemp("", "salvo-bench-ha-"); err != nil {
			for _, d := range dirs[:i] {
				os.RemoveAll(d)
			}
			return c, nil, fmt.Errorf("bench: data dir: %w", err)
		}
	}
	// The directories are the masters' from here: a master's stop
	// removes its own; those of masters that did not start go here.
	started := 0
	defer func() {
		for _, d := range dirs[started:] {
			os.RemoveAll(d)
		}
	}()
	if err := writeSecretKey(dirs); err != nil {
		return c, nil, err
	}
	join := strings.Join(gossip, ",")
	for i := range n {
		args := append([]string{"server", "--http-addr", "127.0.0.1:0", "--data-dir", dirs[i], "--log-format", "json"}, cfg.ServerArgs...)
		args = append(args, extra...)
		args = append(args, "--name", names[i], "--roles", "master", "--gossip-addr", gossip[i],
			"--remote-addr", "127.0.0.1:0", "--raft-addr", raft[i], "--bootstrap-expect", strconv.Itoa(n), "--join", join)
		srv, addr, err := startChild(ctx, cfg, names[i], args, matchServerListening)
		if srv != nil {
			started++
			c.masters = append(c.masters, &haNode{name: names[i], s: &benchServer{srv: srv, dir: dirs[i], base: "http://" + addr,
				api: &http.Client{Timeout: 60 * time.Second}}})
		}
		if err != nil {
			return c, nil, err
		}
	}
	workers := make([]string, cfg.HA.Workers)
	for i := range workers {
		workers[i] = fmt.Sprintf("bench-w%d", i+1)
		args := []string{"server", "--http-addr", "127.0.0.1:0", "--log-format", "json", "--name", workers[i],
			"--roles", "worker", "--gossip-addr", "127.0.0.1:0", "--remote-addr", "127.0.0.1:0", "--join", join}
		w, _, err := startChild(ctx, cfg, workers[i], args, matchServerListening)
		if w != nil {
			c.workers = append(c.workers, w)
		}
		if err != nil {
			return c, nil, err
		}
	}
	leader, err = c.waitReady(ctx, cfg, workers)
	return c, leader, err
}

// waitReady waits until a master leads the group with its master running
// (it answers the members list) and lists every worker alive with a
// capacity, at most cfg.StartTimeout.
func (c *haCluster) waitReady(ctx context.Context, cfg Config, workers []string) (*haNode, error) {
	deadline := time.Now().Add(cfg.StartTimeout)
	for {
		why := "no master leads"
		if l := c.leader(ctx); l != nil {
			ms, err := clusterMembers(ctx, l.s.base)
			ready := 0
			for _, m := range ms {
				if slices.Contains(workers, m.Name) && m.State == "alive" && m.Capacity > 0 {
					ready++
				}
			}
			if err == nil && ready == len(workers) {
				return l, nil
			}
			why = fmt.Sprintf("%s leads; %d of %d workers registered (%v)", l.name, ready, len(workers), err)
		}
		for _, ch := range c.children() {
			if done, werr := ch.exited(); done {
				return nil, fmt.Errorf("bench: %s exited while the HA cluster started: %v\n%s", ch.name, werr, ch.logs.tail())
			}
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("bench: the HA cluster is not ready within %s: %s", cfg.StartTimeout, why)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("bench: HA cluster: %w", context.Cause(ctx))
		case <-time.After(100 * time.Millisecond): // polling the APIs: an election has no outside signal
		}
	}
}

// children lists the cluster's processes.
func (c *haCluster) children() []*child {
	var out []*child
	for _, m := range c.masters {
		out = append(out, m.s.srv)
	}
	return append(out, c.workers...)
}

// leader returns the master that says it leads, or nil.
func (c *haCluster) leader(ctx context.Context) *haNode {
	for _, m := range c.masters {
		if st, err := raftLocal(ctx, c.api, m.s.base); err == nil && st.State == "Leader" {
			return m
		}
	}
	return nil
}

// raftLocal reads a master's own view of its Raft group.
func raftLocal(ctx context.Context, api *http.Client, base string) (raftgroup.Status, error) {
	var st raftgroup.Status
	err := doJSON(ctx, api, http.MethodGet, base+"/api/v1/cluster/raft?scope=local", nil, http.StatusOK, &st)
	return st, err
}

// haJobScenario is the HA job's scenario name, with its process counts.
func haJobScenario(cfg Config) string {
	return fmt.Sprintf("%s(%d+%d)", ScenarioHA, cfg.HA.Masters, cfg.HA.Workers)
}

// runHAScenario runs the HA job on targets and then the Raft ingest load,
// and adds their rows and processes to rep; single is the single node's
// row on the same targets.
func runHAScenario(ctx context.Context, cfg Config, rep *Report, targets []string, single Row) error {
	note, err := waitConntrack(ctx, cfg.Logger, len(targets))
	if err != nil {
		return err
	}
	cfg.Logger.Info("salvo HA job", "targets", len(targets), "masters", cfg.HA.Masters, "workers", cfg.HA.Workers)
	row, pids, err := runHA(ctx, cfg, targets, &single)
	rep.ChildPIDs = append(rep.ChildPIDs, pids...)
	if row.Scenario != "" {
		if note != "" {
			row.Notes = append(row.Notes, note)
		}
		rep.Rows = append(rep.Rows, row)
	}
	if err != nil {
		return err
	}
	cfg.Logger.Info("salvo HA job done", "targetsPerSecond", int(row.Rate), "errors", row.Errors,
		"timesSingle", fmt.Sprintf("%.2f", row.VsSingle))
	if cfg.HA.IngestResults == 0 {
		return nil
	}
	rows, err := runIngest(ctx, cfg)
	rep.Rows = append(rep.Rows, rows...)
	return err
}

// runHA runs the throughput job on the targets on an HA cluster, submitted
// to and polled on the leader, and returns its row with the Raft figures
// and the ratio to single, the single node's row on the same targets
// (nil: none). It returns the processes it started; an error means the
// run cannot go on (the row is then empty unless the job ran).
func runHA(ctx context.Context, cfg Config, targets []string, single *Row) (row Row, pids []int, err error) {
	var extra []string
	if cfg.CPUProfileDir != "" {
		extra = append(extra, "--pprof")
	}
	c, leader, err := startHACluster(ctx, cfg, extra)
	pids = c.pids()
	if err != nil {
		return Row{}, pids, err
	}
	defer joinErr(&err, func() error { return c.stop(cfg) })
	cfg.Logger.Info("HA cluster ready", "leader", leader.name, "masters", len(c.masters), "workers", len(c.workers))

	body, err := specBody(cfg, targets, throughputJob(cfg))
	if err != nil {
		return Row{}, pids, err
	}
	before, err := raftLocal(ctx, c.api, leader.s.base)
	if err != nil {
		return Row{}, pids, fmt.Errorf("bench: raft status of the leader: %w", err)
	}
	cpu0 := c.cpu()
	var prof *profiler
	onSubmit := func(id string) {
		cfg.Logger.Debug("HA job submitted", "id", id, "targets", len(targets), "leader", leader.name)
		if cfg.CPUProfileDir != "" {
			prof = startProfile(ctx, leader.s.base, filepath.Join(cfg.CPUProfileDir, fmt.Sprintf("salvo-ha-%d.pprof", len(targets))),
				cfg.CPUProfileSeconds)
		}
	}
	// The first status that shows results stored starts the ingest's span.
	var firstStored time.Time
	doneAtFirst := 0
	observe := func(st *jobStatus) {
		if firstStored.IsZero() && st.Done > 0 {
			firstStored, doneAtFirst = time.Now(), st.Done
		}
	}
	tj, err := leader.s.runJob(ctx, cfg, body, onSubmit, observe)
	if err != nil {
		return Row{}, pids, err
	}
	end := time.Now()
	cpu1 := c.cpu()
	row = Row{Scenario: haJobScenario(cfg), Targets: len(targets), Concurrency: cfg.Concurrency}
	if prof != nil {
		if err := prof.wait(); err != nil {
			row.Notes = append(row.Notes, err.Error())
		} else {
			row.Notes = append(row.Notes, "CPU profile of the leader: "+prof.path)
		}
	}
	if ok, err := tj.record(ctx, &row, len(targets)); !ok {
		return row, pids, err
	}
	after, err := raftLocal(ctx, c.api, leader.s.base)
	if err != nil {
		row.Notes = append(row.Notes, fmt.Sprintf("raft status of the leader after the job: %v", err))
	} else {
		rf := &RaftFigures{Leader: leader.name, Term: after.Term, LeaderChanged: after.Term != before.Term || after.State != "Leader"}
		rf.Entries = after.CommitIndex - before.CommitIndex
		rf.EntriesPerSecond = float64(rf.Entries) / row.Seconds
		if rf.Entries > 0 {
			rf.ResultsPerEntry = float64(tj.st.Done) / float64(rf.Entries)
		}
		if span := end.Sub(firstStored); !firstStored.IsZero() && span > 0 {
			rf.ResultsPerSecond = float64(tj.st.Done-doneAtFirst) / span.Seconds()
		}
		rf.FollowerLag, rf.CatchUpSeconds = c.catchUp(ctx, cfg, leader, after.CommitIndex)
		row.Raft = rf
		if rf.LeaderChanged {
			row.Notes = append(row.Notes, fmt.Sprintf("the raft leadership moved during the job (term %d to %d, %s now %s)",
				before.Term, after.Term, leader.name, after.State))
		}
	}
	row.Notes = append(row.Notes, c.cpuNote(leader, cpu0, cpu1, row.Seconds))
	if single != nil && single.Rate > 0 {
		row.VsSingle = row.Rate / single.Rate
	}
	return row, pids, nil
}

// catchUp waits (bounded by cfg.StartTimeout) until every follower has
// applied the log up to index; it returns how many entries the slowest
// one had left at first, and the time it took (-1: not within the bound).
func (c *haCluster) catchUp(ctx context.Context, cfg Config, leader *haNode, index uint64) (lag uint64, seconds float64) {
	start := time.Now()
	for first := true; ; first = false {
		behind, unknown := uint64(0), false
		for _, m := range c.masters {
			if m == leader {
				continue
			}
			st, err := raftLocal(ctx, c.api, m.s.base)
			switch {
			case err != nil:
				unknown = true // try again
			case st.AppliedIndex < index:
				behind = max(behind, index-st.AppliedIndex)
			}
		}
		if first {
			lag = behind
		}
		if behind == 0 && !unknown {
			return lag, time.Since(start).Seconds()
		}
		if time.Since(start) > cfg.StartTimeout || ctx.Err() != nil {
			return lag, -1
		}
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond): // polling the followers' APIs
		}
	}
}

// cpu reads the CPU time each process of the cluster has used (0 when
// /proc does not tell).
func (c *haCluster) cpu() map[int]time.Duration {
	out := map[int]time.Duration{}
	for _, pid := range c.pids() {
		if d, err := readCPU(pid); err == nil {
			out[pid] = d
		}
	}
	return out
}

// cpuNote says where the cluster's CPU time went over the job.
func (c *haCluster) cpuNote(leader *haNode, cpu0, cpu1 map[int]time.Duration, seconds float64) string {
	used := func(pid int) float64 { return (cpu1[pid] - cpu0[pid]).Seconds() }
	var followers, workers []string
	total := 0.0
	for _, m := range c.masters {
		u := used(m.s.srv.pid())
		total += u
		if m != leader {
			followers = append(followers, fmt.Sprintf("%.1f", u))
		}
	}
	for _, w := range c.workers {
		u := used(w.pid())
		total += u
		workers = append(workers, fmt.Sprintf("%.1f", u))
	}
	return fmt.Sprintf("CPU seconds over the job's %.1f s: leader %.1f, followers %s, workers %s (cluster %.1f; fleet in the cpu column)",
		seconds, used(leader.s.srv.pid()), strings.Join(followers, "+"), strings.Join(workers, "+"), total)
}
