package bench

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/salvo-sh/salvo/conf"
	"github.com/salvo-sh/salvo/fleet"
)

// The sizing run's scenarios (docs/sizing.md): the throughput job on a
// single node and on a cluster, the memory sweeps over concurrency and
// body size, and the ingest load.
const (
	ScenarioSizingSingle      = "sizing-single"
	ScenarioSizingCluster     = "sizing-cluster"
	ScenarioSizingConcurrency = "sizing-concurrency"
	ScenarioSizingBody        = "sizing-body"
)

// SizingConfig configures the sizing run (`salvo bench --sizing`): the
// measurements docs/sizing.md is generated from.
type SizingConfig struct {
	// Enabled runs the sizing run instead of the other scenarios.
	Enabled bool
	// Targets is the throughput job's target count, run on a single node
	// and on one master with Workers workers, against a fleet with
	// Config.Latency and Config.BodyBytes.
	Targets int
	// Workers is the cluster job's worker processes.
	Workers int
	// Concurrencies are the memory sweep's maxConcurrency values, at
	// Config.BodyBytes bodies.
	Concurrencies []int
	// Bodies are the body sweep's body sizes in bytes, at BodyConcurrency.
	Bodies []int
	// BodyConcurrency is the body sweep's maxConcurrency.
	BodyConcurrency int
	// Latency is every sweep fleet's per-host latency: it keeps
	// maxConcurrency requests in flight, so that memory is measured at
	// that concurrency.
	Latency time.Duration
	// Seconds is about how long each sweep job runs: it sends
	// concurrency × Seconds / Latency targets.
	Seconds float64
}

// ReportSizing is the sizing run's configuration, as a report shows it.
type ReportSizing struct {
	Targets         int     `json:"targets"`
	Workers         int     `json:"workers"`
	Concurrencies   []int   `json:"concurrencies"`
	Bodies          []int   `json:"bodies"`
	BodyConcurrency int     `json:"bodyConcurrency"`
	Latency         string  `json:"latency"`
	Seconds         float64 `json:"seconds"`
}

// Host describes the machine a report was measured on.
type Host struct {
	CPUs          int    `json:"cpus"`
	MemTotalBytes int64  `json:"memTotalBytes,omitempty"`
	Kernel        string `json:"kernel,omitempty"`
	OS            string `json:"os"`
	// Salvo is the first line of the measured binary's `salvo version`.
	Salvo string `json:"salvo,omitempty"`
	// Commit is the binary's commit, from `salvo version`.
	Commit string `json:"commit,omitempty"`
}

// sweepTargets is the target count of a sweep job at concurrency c.
func (sc SizingConfig) sweepTargets(c int) int {
	return max(c, int(float64(c)*sc.Seconds/sc.Latency.Seconds()))
}

// isSweepRow says whether a row is one of the sizing run's sweeps, which
// have no baseline of their own.
func isSweepRow(row Row) bool {
	return row.Scenario == ScenarioSizingConcurrency || row.Scenario == ScenarioSizingBody
}

// validate adds the sizing run's invalid fields to bad.
func (sc SizingConfig) validate(ha HAConfig, bad func(format string, args ...any)) {
	if !sc.Enabled {
		return
	}
	if sc.Targets <= 0 || sc.Targets > fleet.MaxHosts {
		bad("sizing targets %d not in [1, %d]", sc.Targets, fleet.MaxHosts)
	}
	if sc.Workers <= 0 {
		bad("sizing workers must be positive, got %d", sc.Workers)
	}
	if len(sc.Concurrencies) < 2 || len(sc.Bodies) < 2 {
		bad("the sizing sweeps need at least two concurrencies and two body sizes (a line is fitted through them)")
	}
	for _, c := range append(slices.Clone(sc.Concurrencies), sc.BodyConcurrency) {
		if c <= 0 {
			bad("sizing concurrency must be positive, got %d", c)
		}
	}
	for _, b := range sc.Bodies {
		if b < 0 {
			bad("sizing body size must not be negative, got %d", b)
		}
	}
	if sc.Latency <= 0 || sc.Seconds <= 0 {
		bad("sizing latency and seconds must be positive")
	}
	if ha.IngestResults <= 0 || ha.IngestBatch <= 0 {
		bad("the sizing run measures the ingest ceiling: --ha-ingest-results and its batch must be positive")
	}
	if sc.Latency > 0 && sc.Seconds > 0 {
		for _, c := range append(slices.Clone(sc.Concurrencies), sc.BodyConcurrency) {
			if n := sc.sweepTargets(c); n > fleet.MaxHosts {
				bad("a sizing sweep at concurrency %d would send %d targets, over %d", c, n, fleet.MaxHosts)
			}
		}
	}
}

func reportSizing(sc SizingConfig) *ReportSizing {
	if !sc.Enabled {
		return nil
	}
	return &ReportSizing{
		Targets: sc.Targets, Workers: sc.Workers,
		Concurrencies: slices.Clone(sc.Concurrencies), Bodies: slices.Clone(sc.Bodies),
		BodyConcurrency: sc.BodyConcurrency, Latency: sc.Latency.String(), Seconds: sc.Seconds,
	}
}

// runSizing measures what docs/sizing.md states: a bare fasthttp loop and
// the throughput job at SizingConfig.Targets on a single node, taking
// turns for Config.Rounds rounds, and the job on a cluster (the CPU time of
// the master and of the workers apart), the server's peak RSS over the
// concurrency and body sweeps, the store's size after each job, and the
// master's ingest ceiling on a bare store and through Raft.
func runSizing(ctx context.Context, cfg Config, rep *Report) error {
	sc := cfg.Sizing
	rep.Host = readHost(ctx, cfg.Binary)

	// The throughput job, single node then cluster, on one fleet.
	err := withFleet(ctx, cfg, sc.Targets, rep, func(c Config, targets []string) error {
		// The baseline, a bare fasthttp loop on the same fleet, tells how
		// fast this machine makes connections: it and the single node take
		// turns for Config.Rounds rounds, and the median rounds are kept
		// (as in the throughput scenario), which takes out most of a
		// shared machine's drift.
		j := throughputJob(c)
		j.scenario, j.measureStore = ScenarioSizingSingle, true
		var loops, singles []Row
		for round := range cfg.Rounds {
			if _, err := waitConntrack(ctx, cfg.Logger, sc.Targets); err != nil {
				return err
			}
			debug.FreeOSMemory()
			cfg.Logger.Info("sizing: bare fasthttp loop", "targets", sc.Targets, "round", round+1)
			loops = append(loops, runLoop(ctx, c, targets))
			cfg.Logger.Info("sizing: single node", "targets", sc.Targets, "round", round+1)
			row, err := runSalvoIn(ctx, c, rep, targets, j)
			if err != nil {
				return err
			}
			singles = append(singles, row)
		}
		loop, single := medianRows(loops, singles)
		rep.Rows = append(rep.Rows, loop, single)
		cw := c
		cw.ClusterWorkers = sc.Workers
		j = clusterJob(cw)
		j.scenario = ScenarioSizingCluster
		cfg.Logger.Info("sizing: cluster", "targets", sc.Targets, "workers", sc.Workers)
		return sizingJob(ctx, cw, rep, targets, j, nil)
	})
	if err != nil {
		return err
	}

	// Memory over concurrency: fleet latency keeps the requests in flight.
	sweep := cfg
	sweep.Latency = sc.Latency.String()
	most := sc.sweepTargets(slices.Max(sc.Concurrencies))
	err = withFleet(ctx, sweep, most, rep, func(c Config, targets []string) error {
		for _, n := range sc.Concurrencies {
			cc := c
			cc.Concurrency = n
			j := throughputJob(cc)
			j.scenario = ScenarioSizingConcurrency
			cfg.Logger.Info("sizing: concurrency sweep", "concurrency", n, "targets", sc.sweepTargets(n))
			if err := sizingJob(ctx, cc, rep, targets[:sc.sweepTargets(n)], j, nil); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}

	// Memory and store over body size, one fleet per size.
	for _, b := range sc.Bodies {
		bc := sweep
		bc.BodyBytes, bc.Concurrency = b, sc.BodyConcurrency
		n := sc.sweepTargets(sc.BodyConcurrency)
		err := withFleet(ctx, bc, n, rep, func(c Config, targets []string) error {
			j := throughputJob(c)
			j.scenario, j.measureStore = ScenarioSizingBody, true
			cfg.Logger.Info("sizing: body sweep", "bodyBytes", b, "concurrency", sc.BodyConcurrency, "targets", n)
			return sizingJob(ctx, c, rep, targets, j, func(r *Row) { r.BodyBytes = b })
		})
		if err != nil {
			return err
		}
	}

	// The master's ingest ceiling, bare store and Raft.
	cfg.Logger.Info("sizing: ingest", "results", cfg.HA.IngestResults)
	rows, err := runIngest(ctx, cfg)
	rep.Rows = append(rep.Rows, rows...)
	return err
}

// withFleet starts a fleet of hosts with cfg's latency and body size, runs
// f over its targets and stops it.
func withFleet(ctx context.Context, cfg Config, hosts int, rep *Report, f func(Config, []string) error) (err error) {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("bench: %w", context.Cause(ctx))
	}
	fl, port, err := startFleet(ctx, cfg, hosts)
	if fl != nil {
		rep.ChildPIDs = append(rep.ChildPIDs, fl.pid())
	}
	if err != nil {
		return err
	}
	defer joinErr(&err, func() error { return fl.stop(cfg.StopTimeout) })
	cfg.fleetPID = fl.pid()
	return f(cfg, fleet.Targets(hosts, port))
}

// sizingJob runs one salvo job of the sizing run and adds its row; edit,
// when not nil, completes the row.
func sizingJob(ctx context.Context, cfg Config, rep *Report, targets []string, j salvoJob, edit func(*Row)) error {
	row, err := runSalvoIn(ctx, cfg, rep, targets, j)
	if edit != nil {
		edit(&row)
	}
	if err != nil {
		return err
	}
	rep.Rows = append(rep.Rows, row)
	cfg.Logger.Info("sizing job done", "scenario", row.Scenario, "targetsPerSecond", int(row.Rate),
		"peakRSS", formatBytes(row.PeakRSS), "errors", row.Errors)
	return nil
}

// dirBytes is the size of the regular files under dir.
func dirBytes(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			info, err := d.Info()
			if err != nil {
				return err
			}
			n += info.Size()
		}
		return nil
	})
	return n, err
}

// cpuOf sums the CPU time of pids; a pid that cannot be read adds nothing.
func cpuOf(pids []int) time.Duration {
	var d time.Duration
	for _, p := range pids {
		if c, err := readCPU(p); err == nil {
			d += c
		}
	}
	return d
}

// readHost describes this machine and the binary measured on it.
func readHost(ctx context.Context, binary string) *Host {
	h := &Host{CPUs: runtime.NumCPU(), OS: runtime.GOOS + "/" + runtime.GOARCH}
	if raw, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		h.Kernel = strings.TrimSpace(string(raw))
	}
	if total, ok := conf.MemTotal(); ok {
		h.MemTotalBytes = total
	}
	vctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(vctx, binary, "version").Output()
	if err != nil {
		return h
	}
	for i, line := range strings.Split(string(out), "\n") {
		if i == 0 {
			h.Salvo = strings.TrimSpace(line)
		}
		if rest, ok := strings.CutPrefix(line, "commit:"); ok {
			h.Commit = strings.TrimSpace(rest)
		}
	}
	return h
}

// errNoSizing is returned by NewSizing for a report without a sizing run.
var errNoSizing = errors.New("bench: the report has no sizing run (salvo bench --sizing --json)")
