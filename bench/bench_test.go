package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// salvoBin builds the salvo binary once per test run; TestMain removes it.
var salvoBin struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if salvoBin.dir != "" {
		os.RemoveAll(salvoBin.dir)
	}
	os.Exit(code)
}

// buildSalvo builds the salvo binary into a temporary directory (once).
func buildSalvo(t *testing.T) string {
	t.Helper()
	salvoBin.once.Do(func() {
		_, file, _, ok := runtime.Caller(0)
		if !ok {
			salvoBin.err = errors.New("runtime.Caller failed")
			return
		}
		root := filepath.Join(filepath.Dir(file), "..")
		if salvoBin.dir, salvoBin.err = os.MkdirTemp("", "salvo-bench-bin-"); salvoBin.err != nil {
			return
		}
		salvoBin.path = filepath.Join(salvoBin.dir, "salvo")
		cmd := exec.Command("go", "build", "-o", salvoBin.path, "./cmd/salvo")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			salvoBin.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if salvoBin.err != nil {
		t.Fatal(salvoBin.err)
	}
	return salvoBin.path
}

// smallConfig is a quick run: 300 targets at concurrency 20.
func smallConfig(t *testing.T, bin string) Config {
	cfg := DefaultConfig()
	cfg.Binary = bin
	cfg.Sizes = []int{300}
	cfg.Concurrency = 20
	cfg.Rounds = 2
	cfg.XargsTargets = 0
	if missingTools("xargs", "curl") == "" {
		cfg.XargsTargets = 50
	}
	cfg.JobTimeout = time.Minute
	cfg.StopTimeout = 10 * time.Second
	cfg.Throttle.Targets = 0
	cfg.ChildLog = testWriter{t}
	cfg.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return cfg
}

// assertGone fails unless no process is left in the group of each pid
// (every child leads its own group, so this covers curl under xargs).
func assertGone(t *testing.T, pids []int) {
	t.Helper()
	for _, pid := range pids {
		if _, err := os.Stat(filepath.Join("/proc", strconv.Itoa(pid))); err == nil {
			t.Errorf("child %d still exists", pid)
		}
		if runtime.GOOS == "linux" {
			if err := syscall.Kill(-pid, 0); !errors.Is(err, syscall.ESRCH) {
				t.Errorf("process group %d still has processes (kill 0: %v)", pid, err)
			}
		}
	}
}

func TestRunSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes and sends real requests")
	}
	cfg := smallConfig(t, buildSalvo(t))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rep, err := Run(ctx, cfg)
	if rep != nil {
		defer assertGone(t, rep.ChildPIDs)
	}
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	// The fleet, a server per round, the cluster's master and workers, and
	// xargs with a server per round of the salvo job on its targets.
	wantPIDs := 1 + cfg.Rounds + 1 + cfg.ClusterWorkers
	if cfg.XargsTargets > 0 {
		wantPIDs += 1 + cfg.Rounds
	}
	if len(rep.ChildPIDs) != wantPIDs {
		t.Errorf("child pids %v, want %d", rep.ChildPIDs, wantPIDs)
	}

	var table bytes.Buffer
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", table.String())
	clusterRows := 0
	for _, row := range rep.Rows {
		if strings.HasPrefix(row.Scenario, ScenarioCluster) {
			clusterRows++
			if row.Errors != 0 || row.Rate <= 0 {
				t.Errorf("cluster row %+v", row)
			}
		}
	}
	if clusterRows != 1 {
		t.Errorf("%d cluster rows, want 1", clusterRows)
	}

	tests := []struct {
		scenario string
		targets  int
	}{
		{ScenarioLoop, 300},
		{ScenarioSalvo, 300},
		{ScenarioXargs, cfg.XargsTargets},
		{ScenarioSalvoXargs, cfg.XargsTargets},
	}
	for _, tt := range tests {
		if tt.targets == 0 {
			continue
		}
		row := rep.Row(tt.scenario, tt.targets)
		if row == nil {
			t.Errorf("no %s row for %d targets", tt.scenario, tt.targets)
			continue
		}
		if row.Rate <= 0 || row.Ratio <= 0 {
			t.Errorf("%s: rate %v, ratio %v, want both > 0", tt.scenario, row.Rate, row.Ratio)
		}
		if row.Errors != 0 {
			t.Errorf("%s: %d errors: %v", tt.scenario, row.Errors, row.Notes)
		}
		if row.Concurrency != 20 {
			t.Errorf("%s: concurrency %d, want 20", tt.scenario, row.Concurrency)
		}
		if !regexpLine(table.String(), tt.scenario) {
			t.Errorf("table has no %s line", tt.scenario)
		}
	}
	for _, s := range []string{ScenarioLoop, ScenarioSalvo} {
		if row := rep.Row(s, 300); row != nil && (row.Rounds != cfg.Rounds || row.RateMin > row.Rate || row.Rate > row.RateMax) {
			t.Errorf("%s: %d rounds, rate %v not in [%v, %v]; want %d rounds", s, row.Rounds, row.Rate, row.RateMin, row.RateMax, cfg.Rounds)
		}
	}
	if row := rep.Row(ScenarioSalvoXargs, cfg.XargsTargets); cfg.XargsTargets > 0 && (row == nil || row.VsXargs <= 0) {
		t.Errorf("salvo-vs-xargs row %+v: want a multiple of xargs", row)
	}
	if row := rep.Row(ScenarioSalvo, 300); row != nil {
		if row.PeakRSS <= 0 || row.HWM < row.PeakRSS || row.FDsAtPeak <= 0 {
			t.Errorf("salvo: peak RSS %d, HWM %d, fds %d: want RSS > 0, HWM >= RSS, fds > 0",
				row.PeakRSS, row.HWM, row.FDsAtPeak)
		}
	}
	if rep.Failed() {
		t.Error("report says failed")
	}

	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatalf("JSON: %v\n%s", err, js.String())
	}
	if len(back.Rows) != len(rep.Rows) {
		t.Errorf("JSON has %d rows, want %d", len(back.Rows), len(rep.Rows))
	}
}

// TestRunThrottleCompare runs only the throttle comparison on a small
// overloaded fleet: the throttled job must see fewer errors, and its
// effective concurrency must drop below maxConcurrency.
func TestRunThrottleCompare(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes and sends real requests")
	}
	cfg := smallConfig(t, buildSalvo(t))
	cfg.Sizes = nil
	cfg.Concurrency = 60
	cfg.Throttle.Only = true
	cfg.Throttle.Targets = 600
	cfg.Throttle.FleetConcurrency = 10
	on, off, rep, table := runOnOffScenario(t, cfg, 600)
	if on.Errors >= off.Errors {
		t.Errorf("errors with the throttle %d, without %d: want fewer with it", on.Errors, off.Errors)
	}
	if off.ErrorClasses["reset"] == 0 {
		t.Errorf("no resets without the throttle: %v", off.ErrorClasses)
	}
	if on.MinConcurrency <= 0 || on.MinConcurrency >= cfg.Concurrency || off.MinConcurrency != cfg.Concurrency {
		t.Errorf("lowest concurrency %d with the throttle, %d without; want below %d, and %d",
			on.MinConcurrency, off.MinConcurrency, cfg.Concurrency, cfg.Concurrency)
	}
	for _, s := range []string{ScenarioThrottleOn + " ", ScenarioThrottleOff + " ", "lowest concurrency", "capacity 10, resets past 20"} {
		if !strings.Contains(table, s) {
			t.Errorf("table lacks %q", s)
		}
	}
	if rep.Failed() {
		t.Error("the overloaded fleet's errors made the report fail")
	}
}

// TestRunCancelled cancels the run while the salvo job runs and checks
// that Run returns the cancellation and leaves no child behind.
func TestRunCancelled(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes and sends real requests")
	}
	cfg := smallConfig(t, buildSalvo(t))
	cfg.Sizes = []int{5000}
	cfg.XargsTargets = 0
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg.Logger = slog.New(cancelOn{msg: "job submitted", cancel: cancel,
		Handler: slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})})

	start := time.Now()
	rep, err := Run(ctx, cfg)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Run error %v, want context.Canceled", err)
	}
	if rep == nil {
		t.Fatal("no report")
	}
	if len(rep.ChildPIDs) != 2 {
		t.Errorf("child pids %v, want fleet and server", rep.ChildPIDs)
	}
	if d := time.Since(start); d > time.Minute {
		t.Errorf("cancelled run took %s", d)
	}
	assertGone(t, rep.ChildPIDs)
}

func TestMatchers(t *testing.T) {
	tests := []struct {
		name  string
		match func(string) (string, bool)
		line  string
		want  string
		ok    bool
	}{
		{"server", matchServerListening, `{"time":"x","level":"INFO","msg":"listening","addr":"127.0.0.1:4321","name":"n"}`, "127.0.0.1:4321", true},
		{"server other msg", matchServerListening, `{"msg":"started","addr":"127.0.0.1:1"}`, "", false},
		{"server text", matchServerListening, `msg=listening addr=127.0.0.1:1`, "", false},
		{"fleet", matchFleetListening, `time=2026-01-01T00:00:00Z level=INFO msg="fleet listening" addr=0.0.0.0:38211 hosts=300`, "0.0.0.0:38211", true},
		{"fleet other", matchFleetListening, `level=INFO msg="fleet closed" requests=3`, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := tt.match(tt.line)
			if got != tt.want || ok != tt.ok {
				t.Errorf("got %q, %v; want %q, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Config)
		ok   bool
	}{
		{"default", func(*Config) {}, true},
		{"nginx", func(c *Config) { c.TargetServer = TargetNginx }, true},
		{"unknown target server", func(c *Config) { c.TargetServer = "apache" }, false},
		{"no sizes", func(c *Config) { c.Sizes = nil }, false},
		{"zero size", func(c *Config) { c.Sizes = []int{0} }, false},
		{"zero concurrency", func(c *Config) { c.Concurrency = 0 }, false},
		{"negative xargs", func(c *Config) { c.XargsTargets = -1 }, false},
		{"zero timeout", func(c *Config) { c.JobTimeout = 0 }, false},
		{"no binary", func(c *Config) { c.Binary = "" }, false},
		{"throttle only", func(c *Config) { c.Sizes, c.Throttle.Only = nil, true }, true},
		{"throttle only without targets", func(c *Config) { c.Throttle.Only, c.Throttle.Targets = true, 0 }, false},
		{"throttle skipped", func(c *Config) { c.Throttle = ThrottleConfig{} }, true},
		{"throttle fleet concurrency 0", func(c *Config) { c.Throttle.FleetConcurrency = 0 }, false},
		{"throttle zero timeout", func(c *Config) { c.Throttle.RequestTimeout = 0 }, false},
		{"ha", func(c *Config) { c.HA.Enabled = true }, true},
		{"ha without ingest", func(c *Config) { c.HA.Enabled, c.HA.IngestResults, c.HA.IngestBatch = true, 0, 0 }, true},
		{"ha with 2 masters", func(c *Config) { c.HA.Enabled, c.HA.Masters = true, 2 }, false},
		{"ha without workers", func(c *Config) { c.HA.Enabled, c.HA.Workers = true, 0 }, false},
		{"ha ingest batch 0", func(c *Config) { c.HA.Enabled, c.HA.IngestBatch = true, 0 }, false},
		{"ha with throttle only", func(c *Config) { c.HA.Enabled, c.Sizes, c.Throttle.Only = true, nil, true }, false},
		{"sizing", func(c *Config) { c.Sizing.Enabled = true }, true},
		{"sizing with ha", func(c *Config) { c.Sizing.Enabled, c.HA.Enabled = true, true }, false},
		{"sizing with one concurrency", func(c *Config) { c.Sizing.Enabled, c.Sizing.Concurrencies = true, []int{500} }, false},
		{"sizing without workers", func(c *Config) { c.Sizing.Enabled, c.Sizing.Workers = true, 0 }, false},
		{"sizing zero latency", func(c *Config) { c.Sizing.Enabled, c.Sizing.Latency = true, 0 }, false},
		{"sizing sweep too large", func(c *Config) { c.Sizing.Enabled, c.Sizing.Latency = true, time.Microsecond }, false},
		{"sizing off ignores its fields", func(c *Config) { c.Sizing.Workers = 0 }, true},
		{"sizing without ingest", func(c *Config) { c.Sizing.Enabled, c.HA.IngestResults = true, 0 }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			c.Binary = "salvo"
			tt.mod(&c)
			err := c.Validate()
			if (err == nil) != tt.ok {
				t.Errorf("Validate() = %v, want ok=%v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("error %v does not wrap ErrInvalidConfig", err)
			}
		})
	}
}

func TestRatiosAndTable(t *testing.T) {
	rep := &Report{Rows: []Row{
		{Scenario: ScenarioLoop, Targets: 100, Concurrency: 5, Rate: 1000},
		{Scenario: ScenarioSalvo, Targets: 100, Concurrency: 5, Rate: 500, PeakRSS: 3 << 20, FDsAtPeak: 12, MaxFDs: 30},
		{Scenario: ScenarioLoop, Targets: 1000, Concurrency: 5, Rate: 2000},
		{Scenario: ScenarioSalvo, Targets: 1000, Concurrency: 5, Rate: 1000, Errors: 2, Notes: []string{"2 timeout"}},
		{Scenario: ScenarioXargs, Targets: 800, Concurrency: 5, Rate: 100},
		{Scenario: ScenarioThrottleOn, Targets: 900, Concurrency: 5, Rate: 50, Errors: 7, Timeouts: 3,
			ErrorClasses: map[string]int{"reset": 4, "timeout": 3}, MinConcurrency: 2},
		{Scenario: ScenarioThrottleOff, Targets: 900, Concurrency: 5, Rate: 80, Errors: 700, Timeouts: 40,
			ErrorClasses: map[string]int{"reset": 660, "timeout": 40}, MinConcurrency: 5},
	}}
	rep.fillRatios()
	want := []float64{1, 0.5, 1, 0.5, 0.05, 0, 0}
	for i, w := range want {
		if got := rep.Rows[i].Ratio; got != w {
			t.Errorf("row %d ratio %v, want %v", i, got, w)
		}
	}
	if !rep.Failed() {
		t.Error("Failed() = false with errors")
	}
	throttleOnly := &Report{Rows: rep.Rows[5:]}
	if throttleOnly.Failed() {
		t.Error("Failed() = true for the throttle comparison's expected errors")
	}
	var b bytes.Buffer
	if err := rep.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"3.0 MiB", "0.50", "12/30", "# salvo 1000: 2 timeout", "targets/s",
		"# throttle comparison", "lowest concurrency"} {
		if !strings.Contains(b.String(), s) {
			t.Errorf("table lacks %q:\n%s", s, b.String())
		}
	}
}

// regexpLine reports whether some line of s starts (after spaces) with word.
func regexpLine(s, word string) bool {
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), word+" ") {
			return true
		}
	}
	return false
}

// testWriter writes to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// cancelOn is a slog handler that calls cancel when it sees msg.
type cancelOn struct {
	slog.Handler
	msg    string
	cancel context.CancelFunc
}

func (h cancelOn) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == h.msg {
		h.cancel()
	}
	return h.Handler.Handle(ctx, r)
}

func TestLineWriter(t *testing.T) {
	ready := make(chan string, 1)
	var out bytes.Buffer
	w := &lineWriter{prefix: "[x] ", out: &out, match: matchServerListening, ready: ready}
	chunks := []string{"panic: boom\n", `{"msg":"listen`, `ing","addr":"127.0.0.1:9"}` + "\n"}
	for i := range tailLines + 5 {
		chunks = append(chunks, "line "+strconv.Itoa(i)+"\n")
	}
	for _, c := range chunks {
		if _, err := w.Write([]byte(c)); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case addr := <-ready:
		if addr != "127.0.0.1:9" {
			t.Errorf("matched %q", addr)
		}
	default:
		t.Error("ready line split over two writes not matched")
	}
	tail := w.tail()
	if !strings.HasPrefix(tail, "panic: boom\n") || !strings.HasSuffix(tail, "line 24") {
		t.Errorf("tail does not keep the panic and the last line:\n%s", tail)
	}
	if n := strings.Count(out.String(), "[x] "); n != len(chunks)-1 {
		t.Errorf("forwarded %d lines, want %d", n, len(chunks)-1)
	}
}

func TestParseStatCPU(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want time.Duration
		ok   bool
	}{
		{"plain", "1234 (salvo) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 130 0 0 20 0 8 0 100 0 0", 3800 * time.Millisecond, true},
		{"spaces and parens in name", "99 (a) b (c) R 1 99 99 0 -1 0 0 0 0 0 7 3 0 0 20 0 1 0 5 0 0", 100 * time.Millisecond, true},
		{"truncated", "99 (x) R 1 2 3", 0, false},
		{"no name", "garbage", 0, false},
		{"not a number", "1 (x) S 1 1 1 0 -1 0 0 0 0 0 u 1 0", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStatCPU([]byte(tt.raw))
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v, want ok=%v", err, tt.ok)
			}
			if got != tt.want {
				t.Errorf("cpu = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestReadCPUSelf(t *testing.T) {
	before, err := readCPU(os.Getpid())
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		// Burn CPU until the kernel's tick-based counter moves (bounded).
		x := 0
		for i := range 10_000_000 {
			x += i
		}
		_ = x
		after, err := readCPU(os.Getpid())
		if err != nil {
			t.Fatal(err)
		}
		if after > before {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("cpu time did not grow in 5s: %v", after)
		}
	}
}

func TestMedianRows(t *testing.T) {
	loops := []Row{{Rate: 100, PeakRSS: 5}, {Rate: 200, PeakRSS: 9}, {Rate: 150, Errors: 2}}
	salvos := []Row{{Rate: 90}, {Rate: 150, HWM: 7}, {Rate: 140}}
	loop, salvo := medianRows(loops, salvos)
	// Ratios 0.90, 0.75 and 0.93: the median is 0.90, not 140/150.
	if loop.Rate != 150 || salvo.Rate != 140 {
		t.Errorf("median rates %v and %v, want 150 and 140", loop.Rate, salvo.Rate)
	}
	if salvo.Ratio != 0.9 {
		t.Errorf("ratio %v, want the median of the rounds' ratios 0.9", salvo.Ratio)
	}
	if loop.RateMin != 100 || loop.RateMax != 200 || salvo.RateMin != 90 || salvo.RateMax != 150 {
		t.Errorf("ranges %v-%v and %v-%v", loop.RateMin, loop.RateMax, salvo.RateMin, salvo.RateMax)
	}
	if loop.PeakRSS != 9 || loop.Errors != 2 || salvo.HWM != 7 || loop.Rounds != 3 || salvo.Rounds != 3 {
		t.Errorf("loop %+v, salvo %+v: want the largest RSS, HWM and errors of any round", loop, salvo)
	}
}

// runOnOffScenario runs a throttle-on/throttle-off comparison of cfg over
// targets targets and returns its two rows and the report, after the
// checks they share: three children (the fleet and two servers), both
// gone at the end, and a row of each throttle setting.
func runOnOffScenario(t *testing.T, cfg Config, targets int) (on, off *Row, rep *Report, table string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rep, err := Run(ctx, cfg)
	if rep != nil {
		pids := rep.ChildPIDs
		t.Cleanup(func() { assertGone(t, pids) })
	}
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if len(rep.ChildPIDs) != 3 {
		t.Errorf("child pids %v, want the fleet and two servers", rep.ChildPIDs)
	}
	var tb bytes.Buffer
	if err := rep.WriteTable(&tb); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", tb.String())
	on, off = rep.Row(ScenarioThrottleOn, targets), rep.Row(ScenarioThrottleOff, targets)
	if on == nil || off == nil || len(rep.Rows) != 2 {
		t.Fatalf("rows %+v, want one with and one without the throttle", rep.Rows)
	}
	if on.Throttle == nil || !*on.Throttle || off.Throttle == nil || *off.Throttle {
		t.Errorf("throttle settings %v, %v", on.Throttle, off.Throttle)
	}
	return on, off, rep, tb.String()
}
