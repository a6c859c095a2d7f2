package bench

import (
	"cmp"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/salvo-sh/salvo/actors"
	"github.com/salvo-sh/salvo/internal/cli"
	"github.com/salvo-sh/salvo/job"
)

// SizingGoal is the load docs/sizing.md plans a cluster for: 1,000,000
// targets in 10 s.
const (
	SizingGoalTargets = 1_000_000
	SizingGoalSeconds = 10
)

// sizingWorkerCapacity is a worker's default capacity (--capacity), the
// most requests it keeps in flight.
const sizingWorkerCapacity = job.DefaultCapacity

//go:embed sizing.md.tmpl
var sizingTemplate string

// Sizing is what docs/sizing.md states, derived from a sizing run's
// report by NewSizing.
type Sizing struct {
	Report *Report
	Date   string
	Host   Host

	// Loop is the baseline, a bare fasthttp loop over the same targets;
	// Single and Cluster are the throughput job's rows.
	Loop, Single, Cluster Row
	// SingleCPU, MasterCPU and WorkerCPU are CPU µs per target of the
	// single node, the cluster's master and its workers (all together);
	// FleetCPU is the fleet's on the single node's job.
	SingleCPU, MasterCPU, WorkerCPU, FleetCPU, LoopCPU float64
	// SinglePerCore, MasterPerCore, WorkerPerCore and LoopPerCore are
	// targets per CPU-second.
	SinglePerCore, MasterPerCore, WorkerPerCore, LoopPerCore float64

	// Concurrency and Body are the sweeps' rows, in order.
	Concurrency, Body []Row
	// MemBase is the fitted peak RSS at no concurrency (bytes), and
	// MemPerRequest the fitted peak RSS per request in flight (bytes).
	MemBase, MemPerRequest float64
	// MemPerBodyKiB is the fitted peak RSS per KiB of body per 1,000
	// requests in flight (bytes).
	MemPerBodyKiB float64

	// StorePerResult is the store's growth per result at the report's
	// body size (from the single node's job, bytes).
	StorePerResult float64
	// StoreWAL is how much larger the single node's data directory was
	// while its job ran (the WAL) than at rest (bytes).
	StoreWAL float64

	// StoreIngest and RaftIngest are the ingest rows (Raft's may be
	// missing: zero Rate).
	StoreIngest, RaftIngest Row

	// Plan is the cluster that sends SizingGoalTargets in SizingGoalSeconds.
	Plan SizingPlan
}

// SizingPlan is the cluster for the goal, from the measured figures.
type SizingPlan struct {
	Rate        float64 // targets/s the goal needs
	WorkerCores float64 // worker CPU cores at that rate
	MasterCores float64 // the master's CPU cores at that rate
	// InFlight are the requests in flight at Rate for targets that answer
	// in each of Latencies, with the workers they need at the default
	// capacity and each one's memory at it.
	Latencies []SizingLatency
	// WorkerMemory is a worker's peak RSS at the default capacity (bytes),
	// and WorkerBodyMemory the --body-memory that lets it keep that many
	// requests in flight at the default maxBodyBytes
	// (actors.BodyMemoryFor).
	WorkerMemory, WorkerBodyMemory float64
	// StoreGrowth is the store's growth for the goal's results (bytes).
	StoreGrowth float64
	// Ceilings are the master's limits, lowest first; Bottleneck is the
	// first one (the single node's or the HA group's, as HA says).
	Ceilings   []SizingCeiling
	Bottleneck SizingCeiling
	HA         SizingCeiling // the lowest ceiling with Raft
}

// SizingLatency is one row of the plan's in-flight table.
type SizingLatency struct {
	Latency  time.Duration
	InFlight float64
	Workers  int
}

// SizingCeiling is one limit of the master.
type SizingCeiling struct {
	Name string
	Rate float64 // targets (results) per second
	// Seconds is how long the goal takes at this ceiling.
	Seconds float64
	HAOnly  bool
}

// ReadReport decodes a report written by Report.WriteJSON.
func ReadReport(r io.Reader) (*Report, error) {
	var rep Report
	dec := json.NewDecoder(io.LimitReader(r, 64<<20))
	if err := dec.Decode(&rep); err != nil {
		return nil, fmt.Errorf("bench: read report: %w", err)
	}
	return &rep, nil
}

// NewSizing derives docs/sizing.md's figures from a sizing run's report.
func NewSizing(rep *Report) (*Sizing, error) {
	if rep.Config.Sizing == nil || rep.Host == nil {
		return nil, errNoSizing
	}
	s := &Sizing{Report: rep, Date: rep.Started.UTC().Format("2006-01-02"), Host: *rep.Host}
	var missing []string
	find := func(pred func(Row) bool, name string) Row {
		i := slices.IndexFunc(rep.Rows, pred)
		if i < 0 {
			missing = append(missing, name)
			return Row{}
		}
		return rep.Rows[i]
	}
	scenario := func(name string) func(Row) bool {
		return func(r Row) bool { return r.Scenario == name }
	}
	s.Loop = find(scenario(ScenarioLoop), ScenarioLoop)
	s.Single = find(scenario(ScenarioSizingSingle), ScenarioSizingSingle)
	s.Cluster = find(func(r Row) bool { return strings.HasPrefix(r.Scenario, ScenarioSizingCluster) }, ScenarioSizingCluster)
	s.StoreIngest = find(scenario(ScenarioStoreIngest), ScenarioStoreIngest)
	if i := slices.IndexFunc(rep.Rows, func(r Row) bool { return strings.HasPrefix(r.Scenario, ScenarioRaftIngest) }); i >= 0 {
		s.RaftIngest = rep.Rows[i]
	}
	for _, r := range rep.Rows {
		switch r.Scenario {
		case ScenarioSizingConcurrency:
			s.Concurrency = append(s.Concurrency, r)
		case ScenarioSizingBody:
			s.Body = append(s.Body, r)
		}
	}
	if len(s.Concurrency) < 2 {
		missing = append(missing, "two "+ScenarioSizingConcurrency+" rows")
	}
	if len(s.Body) < 2 {
		missing = append(missing, "two "+ScenarioSizingBody+" rows")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("bench: the sizing report lacks %s", strings.Join(missing, ", "))
	}
	if rep.Config.HA == nil {
		return nil, fmt.Errorf("bench: the sizing report has no ingest configuration")
	}
	var bad []string
	check := func(r Row, ok bool, what string) {
		if r.Errors > 0 || r.Rate <= 0 || r.Targets <= 0 || !ok {
			bad = append(bad, fmt.Sprintf("%s %d (%d errors%s)", r.Scenario, r.Targets, r.Errors, what))
		}
	}
	check(s.Loop, s.Loop.CPUSeconds > 0, ", its CPU")
	check(s.Single, s.Single.CPUSeconds > 0 && s.Single.StoreBytes > 0, ", its CPU and store")
	check(s.Cluster, s.Cluster.CPUSeconds > 0 && s.Cluster.WorkerCPUSeconds > 0, ", the master's and the workers' CPU")
	check(s.StoreIngest, true, "")
	if s.RaftIngest.Scenario != "" {
		check(s.RaftIngest, true, "")
	}
	for _, r := range s.Concurrency {
		check(r, r.PeakRSS > 0, ", its peak RSS")
	}
	for _, r := range s.Body {
		check(r, r.PeakRSS > 0 && r.StoreBytes > 0 && r.BodyBytes > 0, ", its peak RSS, store and body size")
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("bench: the sizing report has failed rows: %s", strings.Join(bad, ", "))
	}

	perTarget := func(sec float64, r Row) float64 { return sec * 1e6 / float64(r.Targets) }
	s.SingleCPU, s.FleetCPU = perTarget(s.Single.CPUSeconds, s.Single), perTarget(s.Single.FleetCPUSeconds, s.Single)
	s.MasterCPU, s.WorkerCPU = perTarget(s.Cluster.CPUSeconds, s.Cluster), perTarget(s.Cluster.WorkerCPUSeconds, s.Cluster)
	s.LoopCPU = perTarget(s.Loop.CPUSeconds, s.Loop)
	s.SinglePerCore, s.MasterPerCore, s.WorkerPerCore = perCore(s.SingleCPU), perCore(s.MasterCPU), perCore(s.WorkerCPU)
	s.LoopPerCore = perCore(s.LoopCPU)

	xs, ys := make([]float64, len(s.Concurrency)), make([]float64, len(s.Concurrency))
	for i, r := range s.Concurrency {
		xs[i], ys[i] = float64(inFlight(r)), float64(r.PeakRSS)
	}
	s.MemBase, s.MemPerRequest = fitLine(xs, ys)
	xs, ys = make([]float64, len(s.Body)), make([]float64, len(s.Body))
	for i, r := range s.Body {
		xs[i], ys[i] = float64(r.BodyBytes)/1024, float64(r.PeakRSS)
	}
	_, perKiB := fitLine(xs, ys)
	s.MemPerBodyKiB = perKiB * 1000 / float64(rep.Config.Sizing.BodyConcurrency)
	s.StorePerResult = float64(s.Single.StoreBytes) / float64(s.Single.Targets)
	s.StoreWAL = max(0, float64(s.Single.StoreRunningBytes-s.Single.StoreBytes))

	s.Plan = s.plan()
	return s, nil
}

// plan sizes the cluster for the goal.
func (s *Sizing) plan() SizingPlan {
	p := SizingPlan{Rate: SizingGoalTargets / SizingGoalSeconds}
	p.WorkerCores = p.Rate * s.WorkerCPU / 1e6
	p.MasterCores = p.Rate * s.MasterCPU / 1e6
	for _, l := range []time.Duration{10 * time.Millisecond, 100 * time.Millisecond, time.Second} {
		n := p.Rate * l.Seconds()
		p.Latencies = append(p.Latencies, SizingLatency{Latency: l, InFlight: n,
			Workers: max(1, int(math.Ceil(n/sizingWorkerCapacity)))})
	}
	p.WorkerMemory = s.MemBase + sizingWorkerCapacity*s.MemPerRequest
	p.WorkerBodyMemory = float64(actors.BodyMemoryFor(sizingWorkerCapacity, job.DefaultMaxBodyBytes))
	p.StoreGrowth = SizingGoalTargets * s.StorePerResult
	p.Ceilings = []SizingCeiling{
		{Name: "the master's store writer (one SQLite writer)", Rate: s.StoreIngest.Rate},
	}
	if s.RaftIngest.Rate > 0 {
		p.Ceilings = append(p.Ceilings, SizingCeiling{Name: "the Raft log, every batch committed on a majority", Rate: s.RaftIngest.Rate, HAOnly: true})
	}
	for i := range p.Ceilings {
		p.Ceilings[i].Seconds = SizingGoalTargets / p.Ceilings[i].Rate
	}
	slices.SortFunc(p.Ceilings, func(a, b SizingCeiling) int { return cmp.Compare(a.Rate, b.Rate) })
	for _, c := range p.Ceilings {
		if !c.HAOnly && p.Bottleneck.Name == "" {
			p.Bottleneck = c
		}
		if p.HA.Name == "" {
			p.HA = c
		}
	}
	return p
}

// inFlight is the most requests a sweep row's job had in flight: the most
// its status showed, or its maxConcurrency when the status showed none.
func inFlight(r Row) int {
	return cmp.Or(r.MaxInFlight, r.Concurrency)
}

func perCore(us float64) float64 {
	if us <= 0 {
		return 0
	}
	return 1e6 / us
}

// fitLine fits y = a + b·x by least squares.
func fitLine(xs, ys []float64) (a, b float64) {
	n := float64(len(xs))
	var sx, sy, sxx, sxy float64
	for i := range xs {
		sx += xs[i]
		sy += ys[i]
		sxx += xs[i] * xs[i]
		sxy += xs[i] * ys[i]
	}
	d := n*sxx - sx*sx
	if n == 0 || d == 0 {
		return sy / max(n, 1), 0
	}
	b = (n*sxy - sx*sy) / d
	return (sy - b*sx) / n, b
}

// WriteMarkdown writes docs/sizing.md.
func (s *Sizing) WriteMarkdown(w io.Writer) error {
	t, err := template.New("sizing").Funcs(template.FuncMap{
		"int":      func(f float64) string { return cli.Commas(int64(math.Round(f))) },
		"n":        func(i int) string { return cli.Commas(int64(i)) },
		"f0":       func(f float64) string { return strconv.FormatFloat(f, 'f', 0, 64) },
		"f1":       func(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) },
		"f2":       func(f float64) string { return strconv.FormatFloat(f, 'f', 2, 64) },
		"mib":      func(f float64) string { return strconv.FormatFloat(f/(1<<20), 'f', 1, 64) },
		"kib":      func(f float64) string { return strconv.FormatFloat(f/1024, 'f', 1, 64) },
		"gib":      func(f float64) string { return strconv.FormatFloat(f/(1<<30), 'f', 1, 64) },
		"rss":      func(n int64) string { return strconv.FormatFloat(float64(n)/(1<<20), 'f', 0, 64) },
		"gib64":    func(n int64) string { return strconv.FormatFloat(float64(n)/(1<<30), 'f', 0, 64) },
		"float":    func(n int64) float64 { return float64(n) },
		"float64":  func(n int) float64 { return float64(n) },
		"mul":      func(a, b float64) float64 { return a * b },
		"capacity": func() int { return sizingWorkerCapacity },
		"inFlight": inFlight,
		"short": func(c string) string { // "<40 hex> (modified)" → "<12 hex> (modified)"
			hash, rest, _ := strings.Cut(c, " ")
			if len(hash) > 12 {
				hash = hash[:12]
			}
			return strings.TrimSpace(hash + " " + rest)
		},
		"ceil":      func(f float64) int { return int(math.Ceil(f)) },
		"div":       func(a, b float64) float64 { return a / b },
		"us":        func(sec float64, n int) string { return strconv.FormatFloat(sec*1e6/float64(n), 'f', 0, 64) },
		"perResult": func(r Row) float64 { return float64(r.StoreBytes) / float64(r.Targets) },
	}).Parse(sizingTemplate)
	if err != nil {
		return fmt.Errorf("bench: sizing template: %w", err)
	}
	return t.Execute(w, s)
}
