package bench

import (
	"bytes"
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRunSizingSmall runs the sizing run small against real processes:
// every row it needs is there with the store's size and the workers' CPU,
// the report makes a document, and every process is gone at the end.
func TestRunSizingSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes and sends real requests")
	}
	cfg := smallConfig(t, buildSalvo(t))
	cfg.Sizing = SizingConfig{Enabled: true, Targets: 600, Workers: 1, Concurrencies: []int{20, 80},
		Bodies: []int{512, 4096}, BodyConcurrency: 40, Latency: 20 * time.Millisecond, Seconds: 0.5}
	cfg.HA.IngestResults, cfg.HA.IngestBatch = 1000, 250
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rep, err := Run(ctx, cfg)
	if rep != nil {
		defer assertGone(t, rep.ChildPIDs)
	}
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	// Four fleets (throughput, concurrency sweep, one per body), a server
	// per job (a single node's each round) and the cluster's worker.
	if want := 4 + cfg.Rounds + 5 + 1; len(rep.ChildPIDs) != want {
		t.Errorf("child pids %v, want %d", rep.ChildPIDs, want)
	}
	var table bytes.Buffer
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", table.String())
	single, cluster := rep.Row(ScenarioSizingSingle, 600), rep.Row(ScenarioSizingCluster, 600)
	if single == nil || cluster == nil {
		t.Fatalf("rows %+v: want the single node's and the cluster's", rep.Rows)
	}
	if single.StoreBytes <= 0 || single.StoreRunningBytes <= 0 || single.CPUSeconds <= 0 {
		t.Errorf("single row %+v: want the store's sizes and the server's CPU", single)
	}
	if loop := rep.Row(ScenarioLoop, 600); loop == nil || loop.Rate <= 0 || loop.Errors != 0 {
		t.Errorf("baseline %+v: want the bare loop over the same targets", loop)
	}
	if single.Ratio <= 0 || single.Rounds != cfg.Rounds {
		t.Errorf("single row's ratio to the loop %v over %d rounds: want one over %d", single.Ratio, single.Rounds, cfg.Rounds)
	}
	if cluster.WorkerCPUSeconds <= 0 {
		t.Errorf("cluster row %+v: want the workers' CPU", cluster)
	}
	// 40 in flight for 0.5 s at 20 ms: 1,000 targets per body size.
	for _, b := range []int{512, 4096} {
		i := -1
		for j, r := range rep.Rows {
			if r.Scenario == ScenarioSizingBody && r.BodyBytes == b {
				i = j
			}
		}
		if i < 0 {
			t.Fatalf("no body row for %d bytes in %+v", b, rep.Rows)
		}
		if r := rep.Rows[i]; r.Targets != 1000 || r.Errors != 0 || r.StoreBytes < int64(b)*int64(r.Targets) {
			t.Errorf("body row %+v: want 1,000 targets without errors and a store at least as large as the bodies", r)
		}
	}
	for _, r := range rep.Rows {
		if r.Scenario == ScenarioSizingConcurrency && (r.MaxInFlight <= 0 || r.MaxInFlight > r.Concurrency) {
			t.Errorf("concurrency row %+v: want the most in flight seen, at most its maxConcurrency", r)
		}
	}
	if rep.Host == nil || rep.Host.CPUs <= 0 || rep.Host.Salvo == "" {
		t.Errorf("host %+v: want cores and the binary's version", rep.Host)
	}

	// The report survives JSON and makes the document.
	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	back, err := ReadReport(&js)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSizing(back)
	if err != nil {
		t.Fatalf("NewSizing: %v", err)
	}
	var md bytes.Buffer
	if err := s.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"## CPU per target", "## A cluster for 1,000,000 targets in 10 s", "The bottleneck is"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("document lacks %q:\n%s", want, md.String())
		}
	}
}

// sizingReport is a sizing run's report with figures chosen so that every
// derived one is known.
func sizingReport(storeIngest, raftIngest float64) *Report {
	rep := &Report{
		Started: time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC),
		Config: ReportConfig{BodyBytes: 1024, HA: &ReportHA{Masters: 3, IngestBatch: 500},
			Sizing: &ReportSizing{Targets: 100000, Workers: 2, Concurrencies: []int{500, 1500}, Bodies: []int{1024, 5120},
				BodyConcurrency: 500, Latency: "200ms", Seconds: 4}},
		Host: &Host{CPUs: 2, MemTotalBytes: 24 << 30, Kernel: "6.1", OS: "linux/amd64", Salvo: "salvo v1", Commit: strings.Repeat("a", 40)},
	}
	rep.Rows = []Row{
		// The loop: 25 µs of CPU per target.
		{Scenario: ScenarioLoop, Targets: 100000, Concurrency: 500, Rate: 30000, CPUSeconds: 2.5},
		// 50 µs of CPU per target on the single node, 40 on the workers, 10 on the master.
		{Scenario: ScenarioSizingSingle, Targets: 100000, Concurrency: 500, Rate: 20000, CPUSeconds: 5, FleetCPUSeconds: 3,
			StoreBytes: 130_000_000, StoreRunningBytes: 140_000_000, PeakRSS: 100 << 20},
		{Scenario: ScenarioSizingCluster + "(1+2)", Targets: 100000, Concurrency: 500, Rate: 25000, CPUSeconds: 1, WorkerCPUSeconds: 4},
		// 60 MiB + 40 KiB per request in flight.
		{Scenario: ScenarioSizingConcurrency, Targets: 10000, Concurrency: 500, Rate: 2500, PeakRSS: 60<<20 + 500*40<<10},
		// The fit takes the most in flight seen, not maxConcurrency.
		{Scenario: ScenarioSizingConcurrency, Targets: 40000, Concurrency: 2000, MaxInFlight: 1500, Rate: 7500, PeakRSS: 60<<20 + 1500*40<<10},
		// 4 KiB more body adds 20 MiB at 500 in flight: 10 MiB per KiB per 1,000.
		{Scenario: ScenarioSizingBody, Targets: 10000, Concurrency: 500, BodyBytes: 1024, Rate: 2500, PeakRSS: 100 << 20, StoreBytes: 13_000_000},
		{Scenario: ScenarioSizingBody, Targets: 10000, Concurrency: 500, BodyBytes: 5120, Rate: 2500, PeakRSS: 120 << 20, StoreBytes: 60_000_000},
		{Scenario: ScenarioStoreIngest, Targets: 100000, Rate: storeIngest, CPUSeconds: 0.8},
	}
	if raftIngest > 0 {
		rep.Rows = append(rep.Rows, Row{Scenario: ScenarioRaftIngest + "(3)", Targets: 100000, Rate: raftIngest,
			CPUSeconds: 3, VsStore: raftIngest / storeIngest})
	}
	return rep
}

func TestNewSizing(t *testing.T) {
	near := func(t *testing.T, name string, got, want float64) {
		t.Helper()
		if math.Abs(got-want) > 1e-6*math.Max(1, math.Abs(want)) {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	tests := []struct {
		name                   string
		store, raft            float64
		bottleneck, ha         string
		holds, haHolds, noRaft bool
	}{
		{"store above the goal, raft below", 150000, 40000, "store writer", "Raft log", true, false, false},
		{"store below the goal", 80000, 30000, "store writer", "Raft log", false, false, false},
		{"raft above the store", 150000, 200000, "store writer", "store writer", true, true, false},
		{"no raft row", 120000, 0, "store writer", "store writer", true, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewSizing(sizingReport(tt.store, tt.raft))
			if err != nil {
				t.Fatal(err)
			}
			near(t, "single cpu", s.SingleCPU, 50)
			near(t, "single per core", s.SinglePerCore, 20000)
			near(t, "worker cpu", s.WorkerCPU, 40)
			near(t, "master cpu", s.MasterCPU, 10)
			near(t, "fleet cpu", s.FleetCPU, 30)
			near(t, "loop per core", s.LoopPerCore, 40000)
			near(t, "mem base", s.MemBase, 60<<20)
			near(t, "mem per request", s.MemPerRequest, 40<<10)
			near(t, "mem per body KiB per 1,000", s.MemPerBodyKiB, 10<<20)
			near(t, "store per result", s.StorePerResult, 1300)
			near(t, "store WAL", s.StoreWAL, 10_000_000)
			p := s.Plan
			near(t, "rate", p.Rate, 100000)
			near(t, "worker cores", p.WorkerCores, 4)
			near(t, "master cores", p.MasterCores, 1)
			near(t, "worker memory", p.WorkerMemory, 60<<20+2500*40<<10)
			near(t, "store growth", p.StoreGrowth, 1.3e9)
			if got := []int{p.Latencies[0].Workers, p.Latencies[1].Workers, p.Latencies[2].Workers}; got[0] != 1 || got[1] != 4 || got[2] != 40 {
				t.Errorf("workers at 10 ms, 100 ms, 1 s = %v, want [1 4 40]", got)
			}
			if !strings.Contains(p.Bottleneck.Name, tt.bottleneck) || !strings.Contains(p.HA.Name, tt.ha) {
				t.Errorf("bottleneck %q, HA %q: want %q and %q", p.Bottleneck.Name, p.HA.Name, tt.bottleneck, tt.ha)
			}
			if holds := p.Bottleneck.Rate >= p.Rate; holds != tt.holds {
				t.Errorf("the goal holds = %v, want %v", holds, tt.holds)
			}
			if holds := p.HA.Rate >= p.Rate; holds != tt.haHolds {
				t.Errorf("the goal holds with HA = %v, want %v", holds, tt.haHolds)
			}
			near(t, "bottleneck seconds", p.Bottleneck.Seconds, 1e6/tt.store)

			var md bytes.Buffer
			if err := s.WriteMarkdown(&md); err != nil {
				t.Fatal(err)
			}
			doc := md.String()
			for _, want := range []string{"2026-12-06", "commit\n`aaaaaaaaaaaa`", "| 500 | 500 | 10,000 | 2,500 | 80 MiB |", "| 2,000 | 1,500 | 40,000 |", "**4.0 cores** of workers", "| 40,000 | 1.00 |", "| 20,000 | 0.50 |"} {
				if !strings.Contains(doc, want) {
					t.Errorf("document lacks %q", want)
				}
			}
			if strings.Contains(doc, "Raft group (HA)") == tt.noRaft {
				t.Errorf("document's Raft row: want it only with a Raft ingest row")
			}
			if strings.Contains(doc, "<no value>") || strings.Contains(doc, "NaN") || strings.Contains(doc, "Inf") {
				t.Errorf("document has an empty or infinite figure:\n%s", doc)
			}
		})
	}
}

func TestNewSizingRefuses(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Report)
		want string
	}{
		{"not a sizing run", func(r *Report) { r.Config.Sizing = nil }, "no sizing run"},
		{"no baseline", func(r *Report) { r.Rows = r.Rows[1:] }, ScenarioLoop},
		{"no cluster row", func(r *Report) { r.Rows = r.Rows[:2:2] }, ScenarioSizingCluster},
		{"one body row", func(r *Report) { r.Rows = append(r.Rows[:6:6], r.Rows[7:]...) }, "two " + ScenarioSizingBody},
		{"a failed row", func(r *Report) { r.Rows[1].Errors = 3 }, "failed rows"},
		{"no workers' CPU", func(r *Report) { r.Rows[2].WorkerCPUSeconds = 0 }, "workers' CPU"},
		{"no store size", func(r *Report) { r.Rows[1].StoreBytes = 0 }, "store"},
		{"a failed raft row", func(r *Report) { r.Rows[len(r.Rows)-1].Errors = 1 }, ScenarioRaftIngest},
		{"no ingest config", func(r *Report) { r.Config.HA = nil }, "ingest"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := sizingReport(150000, 40000)
			tt.mod(rep)
			if _, err := NewSizing(rep); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("NewSizing = %v, want an error naming %q", err, tt.want)
			}
		})
	}
}

// TestSizingDocInSync checks that docs/sizing.md is what docs/sizing.json
// and the template make (make sizing-doc regenerates it).
func TestSizingDocInSync(t *testing.T) {
	f, err := os.Open(filepath.Join("..", "docs", "sizing.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rep, err := ReadReport(f)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSizing(rep)
	if err != nil {
		t.Fatal(err)
	}
	var md bytes.Buffer
	if err := s.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	have, err := os.ReadFile(filepath.Join("..", "docs", "sizing.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(have, md.Bytes()) {
		t.Errorf("docs/sizing.md is not what docs/sizing.json makes: run make sizing-doc")
	}
}

func TestFitLine(t *testing.T) {
	tests := []struct {
		xs, ys []float64
		a, b   float64
	}{
		{[]float64{1, 2, 3}, []float64{3, 5, 7}, 1, 2},
		{[]float64{0, 10}, []float64{4, 4}, 4, 0},
		{[]float64{5, 5}, []float64{1, 3}, 2, 0}, // one x: the mean
		{nil, nil, 0, 0},
	}
	for _, tt := range tests {
		if a, b := fitLine(tt.xs, tt.ys); math.Abs(a-tt.a) > 1e-9 || math.Abs(b-tt.b) > 1e-9 {
			t.Errorf("fitLine(%v, %v) = %v, %v, want %v, %v", tt.xs, tt.ys, a, b, tt.a, tt.b)
		}
	}
}
