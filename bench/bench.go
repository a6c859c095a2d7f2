// Package bench is the harness behind `salvo bench`: in one run it starts a
// simulated fleet (`salvo fleet`, or nginx with Config.TargetServer
// TargetNginx) as a child process, measures two baselines over the fleet's
// hosts — a bare fasthttp loop in this process and `xargs -P curl` — and
// then, for each target count, starts a fresh `salvo server`, submits one
// job through the API, waits until it is gathered and reports its rate
// beside the baselines together with the server's peak memory and open
// file descriptors (docs/design.md §12). Last, the throttle comparison runs
// one job with the adaptive throttle and the same job with "throttle":
// false against a fleet in overload mode, and reports the errors and
// timeouts of both (docs/design.md §8); the mixed fleet comparison does the
// same over healthy, refusing and hanging hosts. With Config.HA, the
// largest target count also runs on masters forming a Raft group, beside
// the single node, followed by the Raft ingest load (ha.go, ingest.go).
//
// Every child process is started in its own process group and stopped
// (SIGTERM, then SIGKILL, each wait bounded) before Run returns, also when
// Run fails or its context is cancelled.
package bench

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"slices"
	"time"

	"github.com/salvo-sh/salvo/fleet"
)

// Scenario names, as printed in the report.
const (
	ScenarioLoop  = "fasthttp-loop"
	ScenarioXargs = "xargs-curl"
	ScenarioSalvo = "salvo"
	// ScenarioThrottleOn and ScenarioThrottleOff are the throttle
	// comparison's jobs, with and without the adaptive throttle.
	ScenarioSalvoXargs  = "salvo-vs-xargs"
	ScenarioThrottleOn  = "salvo-throttle"
	ScenarioThrottleOff = "salvo-no-throttle"
)

// Path is the request path sent to every target.
const Path = "/x"

// VersionRegex is the aggregation regex of the salvo job; it matches every
// fleet host's body.
const VersionRegex = `version=(\S+)`

// ErrInvalidConfig is wrapped by every error of Config.Validate.
var ErrInvalidConfig = errors.New("bench: invalid config")

// Config configures a benchmark run. Build one with DefaultConfig.
type Config struct {
	// Binary is the salvo executable started as `salvo fleet` and
	// `salvo server`.
	Binary string
	// Sizes are the target counts: one bare loop and one salvo job each.
	// The fleet simulates max(Sizes) hosts.
	Sizes []int
	// TargetServer is what answers the throughput scenarios' targets:
	// TargetFleet (the default when empty) or TargetNginx. The throttle
	// comparison always runs against a fleet.
	TargetServer string
	// Nginx is the nginx executable of TargetNginx; empty finds it with
	// FindNginx.
	Nginx string
	// Concurrency is the number of requests in flight in every scenario
	// (the loop's workers, xargs -P, the job's maxConcurrency).
	Concurrency int
	// BodyBytes is the size every fleet host pads its body to.
	BodyBytes int
	// Latency is the fleet's per-host latency, "min-max" or one duration.
	Latency string
	// XargsTargets is how many targets (the first ones) the xargs/curl
	// baseline covers; 0 skips it, as does a missing curl or xargs. A salvo
	// job runs on the same targets for the comparison.
	XargsTargets int
	// Rounds is how many times the loop and the salvo job run, one after
	// the other, at each target count up to RoundsMaxTargets (larger ones
	// run once): the table shows the median round, and the ratio is the
	// median of the rounds' ratios, which takes out most of the drift of a
	// shared machine.
	Rounds int
	// RoundsMaxTargets is the largest target count that runs Rounds rounds.
	RoundsMaxTargets int
	// ClusterWorkers is how many worker processes the cluster scenario
	// starts beside its master, on the largest size; 0 skips it.
	ClusterWorkers int
	// JobTimeout bounds each salvo job from submit to gathered.
	JobTimeout time.Duration
	// ConnectTimeout and RequestTimeout bound each request of every
	// scenario; the salvo job's spec carries them too.
	ConnectTimeout, RequestTimeout time.Duration
	// SampleInterval is how often the server's RSS and open file
	// descriptors are read from /proc.
	SampleInterval time.Duration
	// PollInterval is how often the job's status is polled.
	PollInterval time.Duration
	// StartTimeout bounds how long a child takes to start listening.
	StartTimeout time.Duration
	// StopTimeout bounds each wait after SIGTERM and then after SIGKILL.
	StopTimeout time.Duration
	// ServerArgs are extra flags for `salvo server`.
	ServerArgs []string
	// CPUProfileDir, when set, starts the servers with --pprof and saves a
	// CPU profile of each salvo job there (salvo-<targets>.pprof).
	CPUProfileDir string
	// CPUProfileSeconds is the length of each CPU profile.
	CPUProfileSeconds int
	// ChildLog receives the children's log lines; nil discards them (the
	// last lines are kept for error messages either way).
	ChildLog io.Writer
	// Logger receives progress lines; nil discards them.
	Logger *slog.Logger
	// Throttle configures the throttle comparison.
	Throttle ThrottleConfig
	// Mixed configures the mixed fleet comparison.
	Mixed MixedConfig
	// HA configures the HA scenario.
	HA HAConfig
	// Sizing configures the sizing run, which replaces the other
	// scenarios when enabled.
	Sizing SizingConfig

	// fleetPID is the running target server's (fleet's or nginx's) pid,
	// whose CPU time the samplers measure beside the scenario's own; set
	// by the run.
	fleetPID int
}

// ThrottleConfig configures the throttle comparison: the same job of
// Config.Concurrency with the adaptive throttle and with "throttle": false,
// each on a fresh server, against a `salvo fleet` in overload mode.
type ThrottleConfig struct {
	// Targets is the job's target count; 0 skips the comparison.
	Targets int
	// Only skips the other scenarios.
	Only bool
	// FleetConcurrency is the fleet's capacity (`salvo fleet
	// --max-concurrency`): past it hosts slow down by OverloadLatency per
	// FleetConcurrency requests in excess, past twice it they reset
	// connections.
	FleetConcurrency int
	// Latency is the fleet's per-host latency, "min-max" or one duration.
	Latency string
	// OverloadLatency is the fleet's --overload-latency.
	OverloadLatency time.Duration
	// ConnectTimeout and RequestTimeout are both jobs' timeouts.
	ConnectTimeout, RequestTimeout time.Duration
}

// DefaultConfig returns the configuration of `salvo bench` without flags;
// Binary is the running executable.
func DefaultConfig() Config {
	bin, _ := os.Executable()
	return Config{
		Binary:            bin,
		Sizes:             []int{10000, 100000},
		TargetServer:      TargetFleet,
		Concurrency:       500,
		BodyBytes:         1024,
		Latency:           "0",
		XargsTargets:      5000,
		Rounds:            3,
		RoundsMaxTargets:  100000,
		ClusterWorkers:    3,
		JobTimeout:        10 * time.Minute,
		ConnectTimeout:    3 * time.Second,
		RequestTimeout:    10 * time.Second,
		SampleInterval:    100 * time.Millisecond,
		PollInterval:      50 * time.Millisecond,
		StartTimeout:      60 * time.Second,
		StopTimeout:       15 * time.Second,
		CPUProfileSeconds: 10,
		Throttle: ThrottleConfig{
			Targets:          20000,
			FleetConcurrency: 100,
			Latency:          "20ms",
			OverloadLatency:  2 * time.Second,
			ConnectTimeout:   time.Second,
			RequestTimeout:   2 * time.Second,
		},
		Mixed: MixedConfig{
			Targets:        3000,
			Latency:        "20ms",
			ConnectTimeout: time.Second,
			RequestTimeout: 2 * time.Second,
		},
		HA: HAConfig{Masters: 3, Workers: 3, IngestResults: 100000, IngestBatch: 500},
		Sizing: SizingConfig{
			Targets:         100000,
			Workers:         2,
			Concurrencies:   []int{250, 1000, 2500},
			Bodies:          []int{1024, 4096, 32768},
			BodyConcurrency: 500,
			Latency:         200 * time.Millisecond,
			Seconds:         4,
		},
	}
}

// Validate reports every invalid field, wrapping ErrInvalidConfig.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...))
	}
	if c.Binary == "" {
		bad("no salvo binary")
	}
	if len(c.Sizes) == 0 && !c.Throttle.Only && !c.Mixed.Only {
		bad("no target counts")
	}
	for _, n := range c.Sizes {
		if n <= 0 || n > fleet.MaxHosts {
			bad("target count %d not in [1, %d]", n, fleet.MaxHosts)
		}
	}
	if c.TargetServer != "" && c.TargetServer != TargetFleet && c.TargetServer != TargetNginx {
		bad("target server %q is neither %q nor %q", c.TargetServer, TargetFleet, TargetNginx)
	}
	if c.Concurrency <= 0 {
		bad("concurrency must be positive, got %d", c.Concurrency)
	}
	if c.BodyBytes < 0 {
		bad("body bytes must not be negative, got %d", c.BodyBytes)
	}
	if c.ClusterWorkers < 0 {
		bad("cluster workers must not be negative, got %d", c.ClusterWorkers)
	}
	if c.Rounds <= 0 {
		bad("rounds must be positive, got %d", c.Rounds)
	}
	if c.XargsTargets < 0 {
		bad("xargs targets must not be negative, got %d", c.XargsTargets)
	}
	if tc := c.Throttle; tc.Targets != 0 || tc.Only {
		if tc.Targets <= 0 || tc.Targets > fleet.MaxHosts {
			bad("throttle comparison targets %d not in [1, %d]", tc.Targets, fleet.MaxHosts)
		}
		if tc.FleetConcurrency <= 0 {
			bad("throttle comparison fleet concurrency must be positive, got %d", tc.FleetConcurrency)
		}
		if tc.Latency == "" {
			bad("throttle comparison fleet latency is empty")
		}
		if tc.OverloadLatency < 0 || tc.ConnectTimeout <= 0 || tc.RequestTimeout <= 0 {
			bad("throttle comparison latencies and timeouts must be positive")
		}
	}
	if mc := c.Mixed; mc.Targets != 0 || mc.Only {
		if mc.Targets < 3 || mc.Targets > fleet.MaxHosts/3 {
			bad("mixed fleet targets %d not in [3, %d]", mc.Targets, fleet.MaxHosts/3)
		}
		if _, _, err := fleet.ParseLatency(mc.Latency); err != nil {
			bad("mixed fleet latency: %v", err)
		}
		if mc.ConnectTimeout <= 0 || mc.RequestTimeout <= 0 {
			bad("mixed fleet timeouts must be positive")
		}
	}
	if hc := c.HA; hc.Enabled {
		if hc.Masters < 3 || hc.Masters > 9 {
			bad("HA masters %d not in [3, 9]", hc.Masters)
		}
		if hc.Workers <= 0 {
			bad("HA workers must be positive, got %d", hc.Workers)
		}
		if hc.IngestResults < 0 || hc.IngestResults > 0 && hc.IngestBatch <= 0 {
			bad("HA ingest results %d must not be negative, and its batch %d must be positive", hc.IngestResults, hc.IngestBatch)
		}
		if c.Throttle.Only || c.Mixed.Only {
			bad("the HA scenario runs with the throughput scenarios: not with --throttle-compare or --mixed-compare")
		}
	}
	c.Sizing.validate(c.HA, bad)
	if c.Sizing.Enabled && (c.Throttle.Only || c.Mixed.Only || c.HA.Enabled) {
		bad("the sizing run runs alone: not with --throttle-compare, --mixed-compare or --ha")
	}
	if c.CPUProfileDir != "" && c.CPUProfileSeconds <= 0 {
		bad("CPU profile seconds must be positive, got %d", c.CPUProfileSeconds)
	}
	for name, d := range map[string]time.Duration{
		"job timeout": c.JobTimeout, "connect timeout": c.ConnectTimeout,
		"request timeout": c.RequestTimeout, "sample interval": c.SampleInterval,
		"poll interval": c.PollInterval, "start timeout": c.StartTimeout, "stop timeout": c.StopTimeout,
	} {
		if d <= 0 {
			bad("%s must be positive, got %s", name, d)
		}
	}
	return errors.Join(errs...)
}

// Run runs the whole benchmark and returns its report. On an error that
// stops the run (a child that does not start, a cancelled context) it
// returns the rows measured so far with the error. Failed requests are not
// such errors: they are counted in each row's Errors.
func Run(ctx context.Context, cfg Config) (rep *Report, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.CPUProfileDir != "" {
		if err := os.MkdirAll(cfg.CPUProfileDir, 0o755); err != nil {
			return nil, fmt.Errorf("bench: profile dir: %w", err)
		}
	}
	rep = &Report{Started: time.Now(), Config: reportConfig(cfg)}
	defer func() {
		rep.fillRatios()
		rep.Elapsed = time.Since(rep.Started).Round(time.Millisecond).Seconds()
	}()
	if cfg.Sizing.Enabled {
		return rep, runSizing(ctx, cfg, rep)
	}
	only := cfg.Throttle.Only || cfg.Mixed.Only
	if !only {
		if err := runThroughput(ctx, cfg, rep); err != nil {
			return rep, err
		}
	}
	if cfg.Throttle.Targets > 0 && (!only || cfg.Throttle.Only) {
		if err := runThrottle(ctx, cfg, rep); err != nil {
			return rep, err
		}
	}
	// A full run has the mixed fleet comparison follow the throttle
	// comparison (Throttle.Targets 0 skips both).
	if cfg.Mixed.Targets > 0 && (cfg.Mixed.Only || !only && cfg.Throttle.Targets > 0) {
		if err := runMixed(ctx, cfg, rep); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// runThroughput runs the loop, salvo and xargs scenarios against one
// target server (the fleet or nginx) and adds their rows to rep.
func runThroughput(ctx context.Context, cfg Config, rep *Report) (err error) {
	hosts := slices.Max(cfg.Sizes)

	ts, err := startTargetServer(ctx, cfg, hosts)
	if ts.pid > 0 {
		rep.ChildPIDs = append(rep.ChildPIDs, ts.pid)
	}
	if err != nil {
		return err
	}
	defer joinErr(&err, ts.stop)
	rep.Config.TargetServerVersion = ts.name
	cfg.Logger.Info("target server started", "server", ts.name, "hosts", hosts, "port", ts.port, "pid", ts.pid)
	cfg.fleetPID = ts.pid

	targets := fleet.Targets(hosts, ts.port)
	// salvo runs one salvo job on the first n targets and records the
	// processes it started.
	salvo := func(n int, j salvoJob) (Row, error) { return runSalvoIn(ctx, cfg, rep, targets[:n], j) }
	for _, n := range cfg.Sizes {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("bench: %w", context.Cause(ctx))
		}
		rounds := cfg.Rounds
		if n > cfg.RoundsMaxTargets {
			rounds = 1
		}
		var loops, salvos []Row
		for round := range rounds {
			note, err := waitConntrack(ctx, cfg.Logger, n)
			if err != nil {
				return err
			}
			debug.FreeOSMemory() // so the loop's RSS is not the previous run's garbage
			cfg.Logger.Info("bare fasthttp loop", "targets", n, "concurrency", cfg.Concurrency, "round", round+1)
			loop := runLoop(ctx, cfg, targets[:n])
			if note != "" {
				loop.Notes = append(loop.Notes, note)
			}
			loops = append(loops, loop)
			cfg.Logger.Info("bare fasthttp loop done", "targetsPerSecond", int(loop.Rate), "errors", loop.Errors)

			cfg.Logger.Info("salvo job", "targets", n, "concurrency", cfg.Concurrency, "round", round+1)
			row, err := salvo(n, throughputJob(cfg))
			if err != nil {
				return err
			}
			salvos = append(salvos, row)
			cfg.Logger.Info("salvo job done", "targetsPerSecond", int(row.Rate), "errors", row.Errors,
				"peakRSS", formatBytes(row.PeakRSS), "ratio", fmt.Sprintf("%.2f", row.Rate/loop.Rate))
		}
		loop, row := medianRows(loops, salvos)
		rep.Rows = append(rep.Rows, loop, row)
		if cfg.ClusterWorkers > 0 && n == slices.Max(cfg.Sizes) {
			cfg.Logger.Info("salvo cluster job", "targets", n, "workers", cfg.ClusterWorkers)
			row, err := salvo(n, clusterJob(cfg))
			if err != nil {
				return err
			}
			rep.Rows = append(rep.Rows, row)
			cfg.Logger.Info("salvo cluster job done", "targetsPerSecond", int(row.Rate), "errors", row.Errors)
		}
		if cfg.HA.Enabled && n == slices.Max(cfg.Sizes) {
			if err := runHAScenario(ctx, cfg, rep, targets[:n], row); err != nil {
				return err
			}
		}
	}

	if n := min(cfg.XargsTargets, hosts); n > 0 {
		if missing := missingTools("xargs", "curl"); missing != "" {
			cfg.Logger.Info("xargs baseline skipped", "missing", missing)
		} else {
			if _, err := waitConntrack(ctx, cfg.Logger, n); err != nil {
				return err
			}
			cfg.Logger.Info("xargs curl baseline", "targets", n, "concurrency", cfg.Concurrency)
			xrow, pid, err := runXargs(ctx, cfg, targets[:n])
			if pid > 0 {
				rep.ChildPIDs = append(rep.ChildPIDs, pid)
			}
			if err != nil {
				return err
			}
			cfg.Logger.Info("xargs curl baseline done", "targetsPerSecond", int(xrow.Rate), "errors", xrow.Errors)
			var salvos []Row
			for round := range cfg.Rounds {
				cfg.Logger.Info("salvo job on the xargs targets", "targets", n, "round", round+1)
				row, err := salvo(n, xargsJob(cfg))
				if err != nil {
					return err
				}
				salvos = append(salvos, row)
			}
			row := salvos[medianIndex(salvos)]
			row.Rounds = len(salvos)
			row.RateMin, row.RateMax = rateRange(salvos)
			if xrow.Rate > 0 {
				row.VsXargs = row.Rate / xrow.Rate
			}
			rep.Rows = append(rep.Rows, xrow, row)
			cfg.Logger.Info("salvo job on the xargs targets done", "targetsPerSecond", int(row.Rate),
				"timesXargs", fmt.Sprintf("%.1f", row.VsXargs))
		}
	}
	return nil
}

// runSalvoIn runs one salvo job over targets once the connection tracking
// table has room for them, and records the processes it started in rep.
func runSalvoIn(ctx context.Context, cfg Config, rep *Report, targets []string, j salvoJob) (Row, error) {
	note, err := waitConntrack(ctx, cfg.Logger, len(targets))
	if err != nil {
		return Row{}, err
	}
	row, pid, err := runSalvo(ctx, cfg, targets, j)
	if pid > 0 {
		rep.ChildPIDs = append(rep.ChildPIDs, pid)
	}
	rep.ChildPIDs = append(rep.ChildPIDs, row.ChildPIDs...)
	if note != "" {
		row.Notes = append(row.Notes, note)
	}
	return row, err
}

// medianRows returns the median loop round and the median salvo round of
// interleaved rounds (loops[i] ran just before salvos[i]). The salvo row's
// Ratio is the median of the rounds' ratios; both rows carry the rounds'
// rate range, the largest peak RSS and VmHWM and the most errors of any
// round.
func medianRows(loops, salvos []Row) (loop, salvo Row) {
	loop, salvo = loops[medianIndex(loops)], salvos[medianIndex(salvos)]
	ratios := make([]float64, 0, len(salvos))
	for i := range salvos {
		if i < len(loops) && loops[i].Rate > 0 {
			ratios = append(ratios, salvos[i].Rate/loops[i].Rate)
		}
	}
	if len(ratios) > 0 {
		slices.Sort(ratios)
		salvo.Ratio = ratios[(len(ratios)-1)/2]
	}
	for _, p := range []struct {
		row    *Row
		rounds []Row
	}{{&loop, loops}, {&salvo, salvos}} {
		p.row.Rounds = len(p.rounds)
		p.row.RateMin, p.row.RateMax = rateRange(p.rounds)
		for _, r := range p.rounds {
			p.row.PeakRSS = max(p.row.PeakRSS, r.PeakRSS)
			p.row.HWM = max(p.row.HWM, r.HWM)
			p.row.Errors = max(p.row.Errors, r.Errors)
		}
	}
	return loop, salvo
}

// medianIndex returns the index of the round with the median rate (the
// lower one of an even count).
func medianIndex(rows []Row) int {
	idx := make([]int, len(rows))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(rows[a].Rate, rows[b].Rate) })
	return idx[(len(idx)-1)/2]
}

// rateRange returns the lowest and highest rate of rows.
func rateRange(rows []Row) (lo, hi float64) {
	for i, r := range rows {
		if i == 0 || r.Rate < lo {
			lo = r.Rate
		}
		hi = max(hi, r.Rate)
	}
	return lo, hi
}

// startFleet starts `salvo fleet` on a free port and returns it with the
// port. On an error the child, if it started, is returned stopped.
func startFleet(ctx context.Context, cfg Config, hosts int) (*child, int, error) {
	args := []string{"fleet", "--listen", "0.0.0.0:0", "--hosts", fmt.Sprint(hosts),
		"--body-bytes", fmt.Sprint(cfg.BodyBytes), "--latency", cfg.Latency, "--log-level", "info"}
	return startFleetWith(ctx, cfg, args)
}

// startFleetWith runs `salvo` with the fleet arguments args and returns it
// with the port it listens on. On an error the child, if it started, is
// returned stopped.
func startFleetWith(ctx context.Context, cfg Config, args []string) (*child, int, error) {
	c, addr, err := startChild(ctx, cfg, "fleet", args, matchFleetListening)
	if err != nil {
		return c, 0, err
	}
	port, err := portOf(addr)
	if err != nil {
		return c, 0, errors.Join(fmt.Errorf("bench: fleet address: %w", err), c.stop(cfg.StopTimeout))
	}
	return c, port, nil
}

// missingTools returns the first of names not found in PATH, or "".
func missingTools(names ...string) string {
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			return n
		}
	}
	return ""
}

// reportConfig is the part of cfg a report shows.
func reportConfig(cfg Config) ReportConfig {
	var tc *ReportThrottle
	if t := cfg.Throttle; t.Targets > 0 && !cfg.Mixed.Only {
		tc = &ReportThrottle{
			Targets: t.Targets, FleetConcurrency: t.FleetConcurrency, RefuseAbove: 2 * t.FleetConcurrency,
			Latency: t.Latency, OverloadLatency: t.OverloadLatency.String(),
			ConnectTimeout: t.ConnectTimeout.String(), RequestTimeout: t.RequestTimeout.String(),
		}
	}
	var hc *ReportHA
	if h := cfg.HA; h.Enabled || cfg.Sizing.Enabled {
		hc = &ReportHA{Masters: h.Masters, Workers: h.Workers, Goal: HAGoal, IngestResults: h.IngestResults, IngestBatch: h.IngestBatch}
	}
	return ReportConfig{
		Sizing:         reportSizing(cfg.Sizing),
		HA:             hc,
		Throttle:       tc,
		Binary:         filepath.Clean(cfg.Binary),
		Sizes:          slices.Clone(cfg.Sizes),
		TargetServer:   cmp.Or(cfg.TargetServer, TargetFleet),
		Concurrency:    cfg.Concurrency,
		BodyBytes:      cfg.BodyBytes,
		Latency:        cfg.Latency,
		XargsTargets:   cfg.XargsTargets,
		RequestTimeout: cfg.RequestTimeout.String(),
	}
}
