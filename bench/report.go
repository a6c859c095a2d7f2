package bench

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is the outcome of a benchmark run.
type Report struct {
	Started time.Time    `json:"started"`
	Elapsed float64      `json:"elapsedSeconds"`
	Config  ReportConfig `json:"config"`
	Rows    []Row        `json:"rows"`
	// ChildPIDs are the process ids of every child the run started (the
	// fleet, each server, xargs); all have exited when Run returns.
	ChildPIDs []int `json:"childPids"`
	// Host is the machine the run measured (the sizing run only).
	Host *Host `json:"host,omitempty"`
}

// ReportConfig is the configuration a report was measured with.
type ReportConfig struct {
	Binary string `json:"binary"`
	Sizes  []int  `json:"targets"`
	// TargetServer is what answered the throughput scenarios' targets
	// (TargetFleet or TargetNginx), TargetServerVersion its version once
	// it started ("fleet", "nginx/1.22.1").
	TargetServer        string `json:"targetServer"`
	TargetServerVersion string `json:"targetServerVersion,omitempty"`
	Concurrency         int    `json:"concurrency"`
	BodyBytes           int    `json:"bodyBytes"`
	Latency             string `json:"latency"`
	XargsTargets        int    `json:"xargsTargets"`
	RequestTimeout      string `json:"requestTimeout"`
	// Throttle is the throttle comparison's setting, when it ran.
	Throttle *ReportThrottle `json:"throttle,omitempty"`
	// HA is the HA scenario's setting, when it ran.
	HA *ReportHA `json:"ha,omitempty"`
	// Sizing is the sizing run's setting, when it ran.
	Sizing *ReportSizing `json:"sizing,omitempty"`
}

// ReportHA is the HA scenario's configuration.
type ReportHA struct {
	Masters       int     `json:"masters"`
	Workers       int     `json:"workers"`
	Goal          float64 `json:"goal"`
	IngestResults int     `json:"ingestResults"`
	IngestBatch   int     `json:"ingestBatch"`
}

// ReportThrottle is the throttle comparison's configuration.
type ReportThrottle struct {
	Targets          int    `json:"targets"`
	FleetConcurrency int    `json:"fleetConcurrency"`
	RefuseAbove      int    `json:"refuseAbove"`
	Latency          string `json:"latency"`
	OverloadLatency  string `json:"overloadLatency"`
	ConnectTimeout   string `json:"connectTimeout"`
	RequestTimeout   string `json:"requestTimeout"`
}

// Row is one scenario at one target count.
type Row struct {
	Scenario    string  `json:"scenario"`
	Targets     int     `json:"targets"`
	Concurrency int     `json:"concurrency"`
	Seconds     float64 `json:"seconds"`
	// Rate is targets finished per second; for salvo, from submit to
	// gathered as seen by polling the API.
	Rate float64 `json:"targetsPerSecond"`
	// ServerRate is the job's own "rate" field (salvo only).
	ServerRate float64 `json:"serverRate,omitempty"`
	// Ratio is Rate over the bare loop's Rate at the same target count
	// (the nearest one for xargs); 0 when there is none. With rounds, it
	// is the median of the rounds' ratios.
	Ratio float64 `json:"ratio"`
	// Rounds is how many rounds ran; the row is the median one, and
	// RateMin and RateMax are the rounds' lowest and highest rates.
	Rounds  int     `json:"rounds,omitempty"`
	RateMin float64 `json:"rateMin,omitempty"`
	RateMax float64 `json:"rateMax,omitempty"`
	// VsXargs is Rate over the xargs baseline's on the same targets
	// (salvo-vs-xargs only).
	VsXargs float64 `json:"timesXargs,omitempty"`
	// VsSingle is Rate over the single node's on the same targets in the
	// same run (the HA job only; HAGoal is its goal).
	VsSingle float64 `json:"timesSingle,omitempty"`
	// VsStore is Rate over the bare store's (the Raft ingest only).
	VsStore float64 `json:"timesStore,omitempty"`
	// Raft holds the Raft log's figures (the HA job and the Raft ingest).
	Raft *RaftFigures `json:"raft,omitempty"`
	// PeakRSS is the largest VmRSS sampled: the server's for salvo, the
	// bench process's for the loop, 0 (not measured) for xargs.
	PeakRSS int64 `json:"peakRssBytes"`
	// HWM is the server's VmHWM at the end of the job (salvo only).
	HWM int64 `json:"hwmBytes,omitempty"`
	// FDsAtPeak and MaxFDs are the server's open file descriptors at the
	// peak RSS sample and the most sampled (salvo only).
	FDsAtPeak int `json:"fdsAtPeak,omitempty"`
	MaxFDs    int `json:"maxFds,omitempty"`
	// CPUSeconds is the CPU time of the measured process over the run (the
	// server for salvo, the bench process for the loops; cluster workers
	// not included), FleetCPUSeconds the fleet's over the same span, and
	// WorkerCPUSeconds the cluster workers' over the job.
	CPUSeconds       float64 `json:"cpuSeconds,omitempty"`
	FleetCPUSeconds  float64 `json:"fleetCpuSeconds,omitempty"`
	WorkerCPUSeconds float64 `json:"workerCpuSeconds,omitempty"`
	// BodyBytes is the fleet's body size when it differs from the
	// report's (the sizing run's body sweep).
	BodyBytes int `json:"bodyBytes,omitempty"`
	// StoreBytes is the size of the server's data directory once it
	// stopped after the job (its WAL checkpointed into the database), and
	// StoreRunningBytes its size when the job was gathered, the WAL
	// included (the sizing run).
	StoreBytes        int64 `json:"storeBytes,omitempty"`
	StoreRunningBytes int64 `json:"storeRunningBytes,omitempty"`
	// Errors is the number of targets without a 200 answer (salvo: not in
	// state ok, or not done).
	Errors int `json:"errors"`
	// Timeouts is the number of targets in state timeout (salvo only).
	Timeouts int `json:"timeouts,omitempty"`
	// Throttle is the job's "throttle" setting (throttle comparison only).
	Throttle *bool `json:"throttle,omitempty"`
	// ErrorClasses counts the targets without an answer by error class,
	// and MinConcurrency is the lowest effective concurrency the job's
	// status showed (throttle comparison only).
	ErrorClasses   map[string]int `json:"errorClasses,omitempty"`
	MinConcurrency int            `json:"minConcurrency,omitempty"`
	// MaxInFlight is the most requests in flight the job's status showed
	// over its workers (salvo only; sampled at each poll).
	MaxInFlight int `json:"maxInFlight,omitempty"`
	// Notes say what went wrong, or where a CPU profile went.
	Notes []string `json:"notes,omitempty"`
	// ChildPIDs are extra processes the scenario started (cluster workers).
	ChildPIDs []int `json:"-"`
}

// Failed reports whether any row has errors, the throttle comparison's
// (whose fleet is overloaded on purpose) left out.
func (r *Report) Failed() bool {
	for _, row := range r.Rows {
		if row.Errors > 0 && !isThrottleRow(row) {
			return true
		}
	}
	return false
}

func isThrottleRow(row Row) bool {
	return row.Scenario == ScenarioThrottleOn || row.Scenario == ScenarioThrottleOff
}

// Row returns the row of a scenario at a target count, or nil.
func (r *Report) Row(scenario string, targets int) *Row {
	for i := range r.Rows {
		if r.Rows[i].Scenario == scenario && r.Rows[i].Targets == targets {
			return &r.Rows[i]
		}
	}
	return nil
}

// fillRatios sets each row's Ratio against the bare loop at the nearest
// target count.
func (r *Report) fillRatios() {
	for i := range r.Rows {
		row := &r.Rows[i]
		var ref *Row
		for j := range r.Rows {
			c := &r.Rows[j]
			if c.Scenario != ScenarioLoop || c.Rate <= 0 {
				continue
			}
			if ref == nil || absInt(c.Targets-row.Targets) < absInt(ref.Targets-row.Targets) {
				ref = c
			}
		}
		if ref != nil && !isThrottleRow(*row) && !isIngestRow(*row) && !isSweepRow(*row) && row.Ratio == 0 {
			row.Ratio = row.Rate / ref.Rate
		}
	}
}

func absInt(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// Header explains the table's columns.
const Header = `# salvo bench: one GET per target, "Connection: close", against a simulated fleet on 127.0.0.0/8.
# targets/s: targets finished per second (salvo: job submit -> "gathered", through the API).
# ratio: targets/s / the bare fasthttp loop's at the same (nearest) target count.
# peak RSS: largest VmRSS sampled every 100ms (salvo: the server process; fasthttp-loop: the bench process).
# fds peak/max: the server's open file descriptors at its peak RSS / the most sampled.
# cpu µs/target: CPU time per target of the measured process (salvo: the server) + the fleet's.
# rounds: loop and salvo ran this many times one after the other; each row is the median round,
#   ratio the median of the rounds' ratios, range the rounds' lowest-highest targets/s.
# salvo-vs-xargs: a salvo job on the xargs baseline's targets, timed on a server that has run the same
#   job once before (salvo is a service; the first job of a fresh server also grows its heap and store);
#   "× xargs" is its targets/s over xargs's.
# errors: targets without a 200 (salvo: not "ok"); with rounds, the most of any round.`

// ThrottleHeader explains the throttle comparison's table.
const ThrottleHeader = `# throttle comparison: the same salvo job with the adaptive throttle and with "throttle": false,
# each on a fresh server, against a fleet that slows down past its capacity and resets
# connections past twice it.
# errors: targets not "ok"; timeouts: targets "timeout"; resets/refused/connect timeouts: by error class.
# lowest concurrency: the lowest effective concurrency the job status showed.`

// WriteTable writes the header, one line per row and the rows' notes; the
// throttle comparison's rows go in a table of their own.
func (r *Report) WriteTable(w io.Writer) error {
	var b strings.Builder
	var main, throttle, ingest []Row
	for _, row := range r.Rows {
		switch {
		case isThrottleRow(row):
			throttle = append(throttle, row)
		case isIngestRow(row):
			ingest = append(ingest, row)
		default:
			main = append(main, row)
		}
	}
	if len(main) > 0 {
		if err := writeMainTable(&b, r.Config, main); err != nil {
			return err
		}
	}
	if len(ingest) > 0 {
		if len(main) > 0 {
			b.WriteString("\n")
		}
		if err := writeIngestTable(&b, r.Config.HA, r.Config.BodyBytes, ingest); err != nil {
			return err
		}
	}
	if len(throttle) > 0 {
		if len(main)+len(ingest) > 0 {
			b.WriteString("\n")
		}
		if err := writeThrottleTable(&b, r.Config.Throttle, throttle); err != nil {
			return err
		}
	}
	for _, row := range r.Rows {
		for _, n := range row.Notes {
			fmt.Fprintf(&b, "# %s %d: %s\n", row.Scenario, row.Targets, n)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// HAHeader explains the HA job's row, when there is one.
const HAHeader = `# salvo-ha(M+W): the same job on M masters forming a Raft group (every store write a log entry,
#   committed on a majority and applied to every master's store) and W workers, submitted to and polled
#   on the leader; its peak RSS, fds and cpu are the leader's. Its notes give its targets/s over salvo's
#   (the single node, same targets, same run) and the leader's Raft log over the job.`

// NginxHeader replaces the first line of Header when the targets were
// nginx's.
const NginxHeader = `# salvo bench: one GET per target, "Connection: close", against nginx (%s, one process,
#   keepalive_timeout 0, 200 "ok\n") on 0.0.0.0:PORT: each target is a distinct 127.x.y.z:PORT.
#   --body-bytes and --latency do not apply; cpu µs/target's second figure is nginx's.`

func writeMainTable(b *strings.Builder, cfg ReportConfig, rows []Row) error {
	header := Header
	if cfg.TargetServer == TargetNginx {
		_, rest, _ := strings.Cut(Header, "\n")
		header = fmt.Sprintf(NginxHeader, cmp.Or(cfg.TargetServerVersion, TargetNginx)) + "\n" + rest
	}
	b.WriteString(header + "\n")
	if slices.ContainsFunc(rows, func(r Row) bool { return strings.HasPrefix(r.Scenario, ScenarioHA) }) {
		b.WriteString(HAHeader + "\n")
	}
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario     \ttargets\tconcurrency\ttargets/s\tratio\trounds\trange\tpeak RSS\tfds peak/max\tcpu µs/target\terrors\t")
	var notes []string
	for _, row := range rows {
		ratio, rss, fds, cpu, rounds, span := "-", "-", "-", "-", "1", "-"
		if row.Rounds > 1 {
			rounds = strconv.Itoa(row.Rounds)
			span = fmt.Sprintf("%.0f-%.0f", row.RateMin, row.RateMax)
		}
		if row.VsXargs > 0 {
			notes = append(notes, fmt.Sprintf("# %s %d: %.1f× xargs-curl on the same targets", row.Scenario, row.Targets, row.VsXargs))
		}
		if row.VsSingle > 0 {
			note := fmt.Sprintf("# %s %d: %.2f× the single node's targets/s on the same targets in this run (goal ≥ %.1f)",
				row.Scenario, row.Targets, row.VsSingle, HAGoal)
			if row.VsSingle < HAGoal {
				note += ": below the goal"
			}
			notes = append(notes, note)
		}
		if rf := row.Raft; rf != nil {
			notes = append(notes, fmt.Sprintf("# %s %d: raft on the leader (%s, term %d): %d entries committed over the job (%.0f/s, %.0f results each), "+
				"%.0f results stored/s from the first stored to gathered; the slowest follower was %d entries behind at gathered, %s",
				row.Scenario, row.Targets, rf.Leader, rf.Term, rf.Entries, rf.EntriesPerSecond, rf.ResultsPerEntry,
				rf.ResultsPerSecond, rf.FollowerLag, catchUp(rf.CatchUpSeconds)))
		}
		if note := sizingNote(row); note != "" {
			notes = append(notes, fmt.Sprintf("# %s %d: %s", row.Scenario, row.Targets, note))
		}
		if row.Ratio > 0 {
			ratio = strconv.FormatFloat(row.Ratio, 'f', 2, 64)
		}
		if row.PeakRSS > 0 {
			rss = formatBytes(row.PeakRSS)
		}
		if row.MaxFDs > 0 {
			fds = strconv.Itoa(row.FDsAtPeak) + "/" + strconv.Itoa(row.MaxFDs)
		}
		if row.CPUSeconds > 0 && row.Targets > 0 {
			per := 1e6 / float64(row.Targets)
			cpu = fmt.Sprintf("%.0f+%.0f", row.CPUSeconds*per, row.FleetCPUSeconds*per)
		}
		fmt.Fprintf(tw, "%-13s\t%d\t%d\t%.0f\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t\n",
			row.Scenario, row.Targets, row.Concurrency, row.Rate, ratio, rounds, span, rss, fds, cpu, row.Errors)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, n := range notes {
		b.WriteString(n + "\n")
	}
	return nil
}

// sizingNote says what a row of the sizing run measured beside the
// table's columns: its body size, the store's size and the workers' CPU.
func sizingNote(row Row) string {
	var parts []string
	if row.BodyBytes > 0 {
		parts = append(parts, fmt.Sprintf("bodies of %d bytes", row.BodyBytes))
	}
	if row.StoreBytes > 0 && row.Targets > 0 {
		parts = append(parts, fmt.Sprintf("store %s at rest after the job (%.0f bytes per result), %s with its WAL while running",
			formatBytes(row.StoreBytes), float64(row.StoreBytes)/float64(row.Targets), formatBytes(row.StoreRunningBytes)))
	}
	if row.WorkerCPUSeconds > 0 && row.Targets > 0 {
		parts = append(parts, fmt.Sprintf("workers' cpu %.0f µs/target", row.WorkerCPUSeconds*1e6/float64(row.Targets)))
	}
	return strings.Join(parts, ", ")
}

// catchUp describes a follower's catch-up time (-1: not within the bound).
func catchUp(seconds float64) string {
	if seconds < 0 {
		return "not caught up within the bound"
	}
	return fmt.Sprintf("caught up in %.2f s", seconds)
}

// IngestHeader explains the Raft ingest table.
const IngestHeader = `# raft ingest: the master's store write path alone, in the bench process: %d results (bodies of %d bytes)
#   in batches of %d written as the master's store writer does: one at a time on a single node, 8 at once on an HA master.
#   store-ingest: a bare SQLite store (a single node's path). raft-ingest(N): replica.Store on the leader of an
#   N-member Raft group on loopback TCP, each member its own Raft log and SQLite store as HA masters run them:
#   a log entry per batch, committed on a majority and applied on the leader (8 in flight share a commit round).
# × store: results/s over store-ingest's. cpu µs/result: the bench process's (every member's).
# follower lag / catch-up: entries the slowest follower had still to apply after the last write, and the time it took.`

func writeIngestTable(b *strings.Builder, cfg *ReportHA, bodyBytes int, rows []Row) error {
	batch := 0
	if cfg != nil {
		batch = cfg.IngestBatch
	}
	fmt.Fprintf(b, IngestHeader+"\n", rows[0].Targets, bodyBytes, batch)
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario       \tresults\tseconds\tresults/s\t× store\tentries/s\tcpu µs/result\tfollower lag\tcatch-up\terrors\t")
	for _, row := range rows {
		vs, entries, cpu, lag, up := "-", "-", "-", "-", "-"
		if row.VsStore > 0 {
			vs = strconv.FormatFloat(row.VsStore, 'f', 2, 64)
		}
		if row.CPUSeconds > 0 && row.Targets > 0 {
			cpu = fmt.Sprintf("%.1f", row.CPUSeconds*1e6/float64(row.Targets))
		}
		if rf := row.Raft; rf != nil {
			entries = fmt.Sprintf("%.0f", rf.EntriesPerSecond)
			lag = strconv.FormatUint(rf.FollowerLag, 10)
			up = "timeout"
			if rf.CatchUpSeconds >= 0 {
				up = fmt.Sprintf("%.2f s", rf.CatchUpSeconds)
			}
		}
		fmt.Fprintf(tw, "%-15s\t%d\t%.2f\t%.0f\t%s\t%s\t%s\t%s\t%s\t%d\t\n",
			row.Scenario, row.Targets, row.Seconds, row.Rate, vs, entries, cpu, lag, up, row.Errors)
	}
	return tw.Flush()
}

func writeThrottleTable(b *strings.Builder, cfg *ReportThrottle, rows []Row) error {
	b.WriteString(ThrottleHeader + "\n")
	if cfg != nil {
		fmt.Fprintf(b, "# fleet: capacity %d, resets past %d, latency %s + %s per %d in excess; job timeouts: connect %s, request %s.\n",
			cfg.FleetConcurrency, cfg.RefuseAbove, cfg.Latency, cfg.OverloadLatency, cfg.FleetConcurrency,
			cfg.ConnectTimeout, cfg.RequestTimeout)
	}
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario         \ttargets\tmaxConcurrency\ttargets/s\tok\terrors\ttimeouts\tresets\trefused\tconnect timeouts\tlowest concurrency\t")
	for _, row := range rows {
		fmt.Fprintf(tw, "%-17s\t%d\t%d\t%.0f\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t\n",
			row.Scenario, row.Targets, row.Concurrency, row.Rate, row.Targets-row.Errors, row.Errors, row.Timeouts,
			row.ErrorClasses["reset"], row.ErrorClasses["connect_refused"], row.ErrorClasses["connect_timeout"],
			row.MinConcurrency)
	}
	return tw.Flush()
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// formatBytes formats n bytes as MiB with one decimal.
func formatBytes(n int64) string {
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}
