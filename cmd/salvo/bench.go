package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/salvo-sh/salvo/bench"
)

// runBench implements `salvo bench`: it measures salvo against a bare
// fasthttp loop and xargs/curl on a simulated fleet and prints one table
// (or JSON with --json; the table then goes to stderr).
func runBench(args []string, stdout, stderr io.Writer) int {
	cfg := bench.DefaultConfig()
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: salvo bench [flags]\n\n"+
			"Starts `salvo fleet`, runs a bare fasthttp loop, `xargs -P curl` and one salvo job per\n"+
			"target count (each on a fresh `salvo server`) and prints targets/s, the ratio to the\n"+
			"loop, the server's peak RSS and errors. Then it runs one job with the adaptive throttle\n"+
			"and one with \"throttle\": false against a fleet in overload mode and prints both jobs'\n"+
			"errors and timeouts, then the same over a mixed fleet of healthy, refusing and hanging hosts\n"+
			"(--throttle-compare runs only the first, --mixed-compare only the second). --ha adds the\n"+
			"HA scenario: the largest target count's job on 3 masters in a Raft group, beside the single\n"+
			"node, and the Raft ingest load. Flags:\n")
		fs.PrintDefaults()
	}
	sizes := intList(cfg.Sizes)
	fs.Var(&sizes, "targets", "comma-separated target counts: one loop and one salvo job each")
	fs.StringVar(&cfg.Binary, "salvo", cfg.Binary, "salvo binary to start as fleet and server")
	fs.StringVar(&cfg.TargetServer, "target-server", cfg.TargetServer,
		`what answers the loop's and the salvo jobs' targets: "fleet" (salvo fleet) or "nginx" (started on loopback, 200 "ok\n")`)
	fs.StringVar(&cfg.Nginx, "nginx", "", "nginx executable of --target-server nginx (default: nginx in PATH, else "+bench.DefaultNginx+")")
	fs.IntVar(&cfg.Concurrency, "concurrency", cfg.Concurrency, "requests in flight in every scenario")
	fs.IntVar(&cfg.BodyBytes, "body-bytes", cfg.BodyBytes, "fleet body size in bytes")
	fs.StringVar(&cfg.Latency, "latency", cfg.Latency, `fleet per-host latency "min-max" or one duration`)
	fs.IntVar(&cfg.XargsTargets, "xargs-targets", cfg.XargsTargets, "targets of the xargs/curl baseline and of the salvo job compared with it; 0 skips both")
	fs.IntVar(&cfg.Rounds, "rounds", cfg.Rounds, "loop and salvo rounds per target count up to --rounds-max-targets (the median is shown)")
	fs.IntVar(&cfg.RoundsMaxTargets, "rounds-max-targets", cfg.RoundsMaxTargets, "largest target count run --rounds times; larger ones run once")
	fs.IntVar(&cfg.ClusterWorkers, "cluster-workers", cfg.ClusterWorkers, "worker processes of the cluster scenario (1 master + N workers, largest size); 0 skips it")
	fs.DurationVar(&cfg.JobTimeout, "timeout", cfg.JobTimeout, "bound on each salvo job from submit to gathered")
	fs.DurationVar(&cfg.RequestTimeout, "request-timeout", cfg.RequestTimeout, "bound on each request")
	serverFlags := fs.String("server-flags", "", `extra flags for "salvo server", space-separated`)
	fs.StringVar(&cfg.CPUProfileDir, "cpu-profile", "", "directory to save a CPU profile of each salvo job to (starts servers with --pprof)")
	fs.IntVar(&cfg.CPUProfileSeconds, "cpu-profile-seconds", cfg.CPUProfileSeconds, "length of each CPU profile")
	tc := &cfg.Throttle
	fs.BoolVar(&tc.Only, "throttle-compare", false, "run only the throttle comparison (with --mixed-compare, both comparisons)")
	fs.IntVar(&tc.Targets, "throttle-targets", tc.Targets, "targets of the throttle comparison; 0 skips it")
	fs.IntVar(&tc.FleetConcurrency, "throttle-fleet-concurrency", tc.FleetConcurrency,
		"the overloaded fleet's capacity: slower past it, connections reset past twice it")
	fs.StringVar(&tc.Latency, "throttle-latency", tc.Latency, "the overloaded fleet's per-host latency")
	fs.DurationVar(&tc.OverloadLatency, "throttle-overload-latency", tc.OverloadLatency,
		"latency the overloaded fleet adds per capacity in excess")
	fs.DurationVar(&tc.ConnectTimeout, "throttle-connect-timeout", tc.ConnectTimeout, "connect timeout of the throttle comparison's jobs")
	fs.DurationVar(&tc.RequestTimeout, "throttle-request-timeout", tc.RequestTimeout, "request timeout of the throttle comparison's jobs")
	mc := &cfg.Mixed
	fs.BoolVar(&mc.Only, "mixed-compare", false, "run only the mixed fleet comparison")
	fs.IntVar(&mc.Targets, "mixed-targets", mc.Targets,
		"targets of the mixed fleet comparison (1/3 healthy, 1/3 refusing, 1/3 hanging); 0 skips it")
	fs.DurationVar(&mc.RequestTimeout, "mixed-request-timeout", mc.RequestTimeout,
		"request timeout of the mixed fleet comparison's jobs (the hanging hosts outlast it)")
	hc := &cfg.HA
	fs.BoolVar(&hc.Enabled, "ha", false, "also run the HA scenario on the largest target count: the salvo job on 3 masters in a Raft group\n"+
		"and --ha-workers workers, beside the single node (goal: ≥ 0.6× its targets/s), then the Raft ingest load")
	fs.IntVar(&hc.Workers, "ha-workers", hc.Workers, "worker processes of the HA scenario")
	fs.IntVar(&hc.IngestResults, "ha-ingest-results", hc.IngestResults,
		"results of the Raft ingest load (one writer, a bare store and the leader of a 3-member Raft group, in process); 0 skips it")
	zc := &cfg.Sizing
	fs.BoolVar(&zc.Enabled, "sizing", false, "run only the sizing run (docs/sizing.md): the throughput job on a single node and a cluster,\n"+
		"the memory sweeps over concurrency and body size, the store's growth and the master's ingest ceiling")
	fs.IntVar(&zc.Targets, "sizing-targets", zc.Targets, "targets of the sizing run's throughput job")
	fs.IntVar(&zc.Workers, "sizing-workers", zc.Workers, "workers of the sizing run's cluster job")
	sizingConc, sizingBodies := intList(zc.Concurrencies), intList(zc.Bodies)
	fs.Var(&sizingConc, "sizing-concurrency", "comma-separated concurrencies of the sizing run's memory sweep")
	fs.Var(&sizingBodies, "sizing-bodies", "comma-separated body sizes in bytes of the sizing run's body sweep")
	fs.IntVar(&zc.BodyConcurrency, "sizing-body-concurrency", zc.BodyConcurrency, "concurrency of the sizing run's body sweep")
	fs.DurationVar(&zc.Latency, "sizing-latency", zc.Latency, "fleet latency of the sizing run's sweeps (keeps the requests in flight)")
	fs.Float64Var(&zc.Seconds, "sizing-seconds", zc.Seconds, "about how long each sweep job runs")
	sizingDoc := fs.String("sizing-doc", "", "write docs/sizing.md to stdout from this `FILE`, the JSON of salvo bench --sizing, and exit")
	sc := bench.DefaultSSHConfig()
	sshOnly := fs.Bool("ssh", false, "run only the SSH benchmark: salvo fleet --ssh, a bare x/crypto/ssh loop,\n"+
		"one salvo SSH job and parallel-ssh (Debian's pssh) on a subset, at --concurrency")
	fs.IntVar(&sc.Targets, "ssh-targets", sc.Targets, "targets of the SSH benchmark's loop and salvo job")
	fs.IntVar(&sc.PSSHTargets, "pssh-targets", sc.PSSHTargets, "targets of the parallel-ssh baseline; 0 skips it")
	fs.StringVar(&sc.Command, "ssh-command", sc.Command, "command of the SSH benchmark (the fleet's hostname is checked)")
	asJSON := fs.Bool("json", false, "write the report as JSON to stdout (the table goes to stderr)")
	verbose := fs.Bool("v", false, "show progress and the children's logs on stderr")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "salvo bench: unexpected arguments %q\n", fs.Args())
		return 2
	}
	if *sizingDoc != "" {
		return writeSizingDoc(*sizingDoc, stdout, stderr)
	}
	cfg.Sizes = sizes
	zc.Concurrencies, zc.Bodies = sizingConc, sizingBodies
	cfg.ServerArgs = strings.Fields(*serverFlags)
	level := slog.LevelInfo
	if *verbose {
		cfg.ChildLog = stderr
		level = slog.LevelDebug
	}
	cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	if err := cfg.Validate(); err != nil {
		fmt.Fprintln(stderr, "salvo bench:", err)
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if *sshOnly {
		return runSSHBench(ctx, cfg, sc, *asJSON, stdout, stderr)
	}
	rep, err := bench.Run(ctx, cfg)
	rows := 0
	if rep != nil {
		rows = len(rep.Rows)
	}
	return printReport(rep, rows, err, *asJSON, "some targets failed", stdout, stderr)
}

// writeSizingDoc writes docs/sizing.md from a sizing run's JSON report.
func writeSizingDoc(path string, stdout, stderr io.Writer) int {
	f, err := os.Open(path)
	if err != nil {
		fmt.Fprintln(stderr, "salvo bench:", err)
		return 1
	}
	defer f.Close()
	rep, err := bench.ReadReport(f)
	if err == nil {
		var s *bench.Sizing
		if s, err = bench.NewSizing(rep); err == nil {
			err = s.WriteMarkdown(stdout)
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "salvo bench: %s: %v\n", path, err)
		return 1
	}
	return 0
}

// runSSHBench runs `salvo bench --ssh` and prints its table (or JSON).
func runSSHBench(ctx context.Context, cfg bench.Config, sc bench.SSHConfig, asJSON bool, stdout, stderr io.Writer) int {
	rep, err := bench.RunSSH(ctx, cfg, sc)
	rows := 0
	if rep != nil {
		rows = len(rep.Rows)
	}
	return printReport(rep, rows, err, asJSON, "some SSH targets failed", stdout, stderr)
}

// report is what bench.Report and bench.SSHReport have in common.
type report interface {
	WriteJSON(io.Writer) error
	WriteTable(io.Writer) error
	Failed() bool
}

// printReport prints a run's rows (the table on stdout, or JSON on stdout
// and the table on stderr) and returns the exit status: 1 when the run
// failed or some targets did. rep is only read when rows > 0 or err is nil
// (then the run returned a report).
func printReport(rep report, rows int, err error, asJSON bool, failed string, stdout, stderr io.Writer) int {
	if rows > 0 {
		table := stdout
		if asJSON {
			table = stderr
			if werr := rep.WriteJSON(stdout); werr != nil {
				err = errors.Join(err, werr)
			}
		}
		if werr := rep.WriteTable(table); werr != nil {
			err = errors.Join(err, werr)
		}
	}
	if err != nil {
		fmt.Fprintln(stderr, "salvo", err) // err starts with "bench: "
		return 1
	}
	if rep.Failed() {
		fmt.Fprintln(stderr, "salvo bench:", failed)
		return 1
	}
	return 0
}

// intList is a flag of comma-separated positive integers.
type intList []int

// String implements flag.Value.
func (l *intList) String() string {
	s := make([]string, len(*l))
	for i, n := range *l {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ",")
}

// Set implements flag.Value.
func (l *intList) Set(v string) error {
	var out []int
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return fmt.Errorf("invalid count %q: want positive integers", f)
		}
		out = append(out, n)
	}
	*l = out
	return nil
}
