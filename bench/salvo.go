package bench

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// Job states the harness looks at (docs/design.md §4).
const (
	stateGathered  = "gathered"
	stateCancelled = "cancelled"
	stateFailed    = "failed"
)

// jobSpec is the part of the job spec (docs/design.md §2) the harness sends.
type jobSpec struct {
	Name           string      `json:"name"`
	Targets        []string    `json:"targets"`
	MaxConcurrency int         `json:"maxConcurrency"`
	HTTP           httpSpec    `json:"http"`
	Timeouts       timeouts    `json:"timeouts"`
	Aggregation    aggregation `json:"aggregation"`
	Throttle       *bool       `json:"throttle,omitempty"`
}

type httpSpec struct {
	Path string `json:"path"`
}

type timeouts struct {
	Connect string `json:"connect"`
	Request string `json:"request"`
}

type aggregation struct {
	Regex string `json:"regex"`
}

// jobStatus is the part of GET /api/v1/jobs/{id} the harness reads.
type jobStatus struct {
	ID     string         `json:"id"`
	State  string         `json:"state"`
	Reason string         `json:"reason"`
	Total  int            `json:"total"`
	Done   int            `json:"done"`
	Counts map[string]int `json:"counts"`
	Rate   float64        `json:"rate"`
	// Workers holds each worker's effective concurrency and requests in
	// flight.
	Workers map[string]struct {
		Concurrency int `json:"concurrency"`
		InFlight    int `json:"inFlight"`
	} `json:"workers"`
}

// salvoJob is what differs between the salvo jobs of a run.
type salvoJob struct {
	scenario                       string
	connectTimeout, requestTimeout time.Duration
	// regex is the aggregation regex; empty is VersionRegex.
	regex string
	// throttle, when set, is the spec's "throttle"; the row then also gets
	// the error classes and the lowest effective concurrency seen.
	throttle *bool
	// serverArgs are added to the server's flags.
	serverArgs []string
	// warmUp runs the same job once, untimed, on the server before the
	// timed one: salvo is a service, and a job usually lands on a server
	// that has run others (its heap, threads and store already grown).
	warmUp bool
	// afterStart, when set, runs once the server listens (it starts the
	// cluster's workers); its cleanup runs when the job is over.
	afterStart func(ctx context.Context, base string) (cleanup func() error, pids []int, err error)
	// measureStore records the size of the server's data directory when
	// the job is gathered and once the server has stopped
	// (Row.StoreRunningBytes, Row.StoreBytes).
	measureStore bool
}

// xargsJob is the salvo job on the xargs baseline's targets.
func xargsJob(cfg Config) salvoJob {
	j := throughputJob(cfg)
	j.scenario = ScenarioSalvoXargs
	j.warmUp = true
	return j
}

// throughputJob is the job of the throughput scenario.
func throughputJob(cfg Config) salvoJob {
	j := salvoJob{scenario: ScenarioSalvo, connectTimeout: cfg.ConnectTimeout, requestTimeout: cfg.RequestTimeout}
	if cfg.TargetServer == TargetNginx {
		j.regex = nginxRegex
	}
	return j
}

// runSalvo starts a fresh `salvo server` on a temporary data directory,
// submits one job of targets, polls it until it is gathered and reports
// submit→gathered targets/s with the server's peak RSS and open fds. The
// server is stopped before it returns. It returns the server's pid (0 when
// it did not start); an error means the run cannot go on.
func runSalvo(ctx context.Context, cfg Config, targets []string, jr salvoJob) (row Row, pid int, err error) {
	row = Row{Scenario: jr.scenario, Targets: len(targets), Concurrency: cfg.Concurrency, Throttle: jr.throttle}
	var extra []string
	if cfg.CPUProfileDir != "" {
		extra = append(extra, "--pprof")
	}
	s, pid, err := startServer(ctx, cfg, append(extra, jr.serverArgs...)...)
	if err != nil {
		return row, pid, err
	}
	defer joinErr(&err, func() error {
		if !jr.measureStore || row.Rate == 0 {
			return s.stop(cfg)
		}
		// Measured only once the server stopped cleanly: a killed one
		// leaves its WAL, which is not the store at rest.
		return s.stopAndSee(cfg, func(dir string) {
			n, err := dirBytes(dir)
			if err != nil {
				row.Notes = append(row.Notes, fmt.Sprintf("store size: %v", err))
				return
			}
			row.StoreBytes = n
		})
	})
	if jr.afterStart != nil {
		cleanup, pids, serr := jr.afterStart(ctx, s.base)
		row.ChildPIDs = pids
		if serr != nil {
			return row, pid, serr
		}
		defer joinErr(&err, cleanup) // the result's err, not a shadow
	}

	body, err := specBody(cfg, targets, jr)
	if err != nil {
		return row, pid, err
	}

	if jr.warmUp {
		w, err := s.runJob(ctx, cfg, body, nil, nil)
		if err != nil {
			return row, pid, fmt.Errorf("bench: warm-up job: %w", err)
		}
		if w.pollErr != nil {
			return row, pid, fmt.Errorf("bench: warm-up job: %w", w.pollErr)
		}
		row.Notes = append(row.Notes, fmt.Sprintf("timed on a server that had run the same job once (%.0f targets/s)",
			float64(len(targets))/w.elapsed.Seconds()))
	}

	var prof *profiler
	onSubmit := func(id string) {
		cfg.Logger.Debug("job submitted", "id", id, "targets", len(targets))
		if cfg.CPUProfileDir != "" {
			prof = startProfile(ctx, s.base, filepath.Join(cfg.CPUProfileDir, fmt.Sprintf("salvo-%d.pprof", len(targets))),
				cfg.CPUProfileSeconds)
		}
	}
	if jr.throttle != nil {
		row.MinConcurrency = cfg.Concurrency
	}
	observe := func(st *jobStatus) {
		inFlight := 0
		for _, w := range st.Workers {
			inFlight += w.InFlight
			if jr.throttle != nil && w.Concurrency > 0 {
				row.MinConcurrency = min(row.MinConcurrency, w.Concurrency)
			}
		}
		row.MaxInFlight = max(row.MaxInFlight, inFlight)
	}
	workers0 := cpuOf(row.ChildPIDs)
	tj, err := s.runJob(ctx, cfg, body, onSubmit, observe)
	if err != nil {
		return row, pid, err
	}
	if len(row.ChildPIDs) > 0 {
		row.WorkerCPUSeconds = (cpuOf(row.ChildPIDs) - workers0).Seconds()
	}
	if prof != nil {
		if err := prof.wait(); err != nil {
			row.Notes = append(row.Notes, err.Error())
		} else {
			row.Notes = append(row.Notes, "CPU profile: "+prof.path)
		}
	}
	if ok, err := tj.record(ctx, &row, len(targets)); !ok {
		return row, pid, err
	}
	if jr.measureStore {
		n, err := dirBytes(s.dir)
		if err != nil {
			row.Notes = append(row.Notes, fmt.Sprintf("store size: %v", err))
		}
		row.StoreRunningBytes = n
	}
	if jr.throttle != nil {
		classes, err := errorClasses(ctx, s.api, s.base, tj.id)
		if err != nil {
			row.Notes = append(row.Notes, err.Error())
		}
		row.ErrorClasses = classes
	}
	return row, pid, nil
}

// specBody encodes the job spec of jr over targets.
func specBody(cfg Config, targets []string, jr salvoJob) ([]byte, error) {
	spec := jobSpec{
		Name:           fmt.Sprintf("bench-%d", len(targets)),
		Targets:        targets,
		MaxConcurrency: cfg.Concurrency,
		HTTP:           httpSpec{Path: Path},
		Timeouts:       timeouts{Connect: jr.connectTimeout.String(), Request: jr.requestTimeout.String()},
		Aggregation:    aggregation{Regex: cmp.Or(jr.regex, VersionRegex)},
		Throttle:       jr.throttle,
	}
	body, err := json.Marshal(spec)
	if err != nil {
		return nil, fmt.Errorf("bench: encode spec: %w", err)
	}
	return body, nil
}

// record fills row with the job's time, usage and outcome over sent
// targets: errors, timeouts and notes on what did not end well. ok is
// false when the job was not followed to its end; err is then the
// cancellation that stops the run, or nil (the row notes why).
func (tj *timedJob) record(ctx context.Context, row *Row, sent int) (ok bool, err error) {
	tj.fill(row)
	row.Errors = sent
	if tj.pollErr != nil {
		if ctx.Err() != nil {
			return false, tj.pollErr
		}
		row.Notes = append(row.Notes, tj.pollErr.Error())
		return false, nil
	}
	st := tj.st
	row.Errors = sent - st.Counts["ok"]
	row.Timeouts = st.Counts["timeout"]
	if st.State != stateGathered {
		row.Notes = append(row.Notes, fmt.Sprintf("job ended %s %s", st.State, st.Reason))
	}
	if st.Total != sent || st.Done != st.Total {
		row.Notes = append(row.Notes, fmt.Sprintf("done %d, total %d, sent %d", st.Done, st.Total, sent))
	}
	for state, n := range st.Counts {
		if state != "ok" && n > 0 {
			row.Notes = append(row.Notes, fmt.Sprintf("%d %s", n, state))
		}
	}
	return true, nil
}

// errorClasses counts a job's results by error class, those with none left out.
func errorClasses(ctx context.Context, api *http.Client, base, id string) (map[string]int, error) {
	var agg struct {
		Groups []struct {
			Value string `json:"value"`
			Count int    `json:"count"`
		} `json:"groups"`
	}
	if err := doJSON(ctx, api, http.MethodGet, base+"/api/v1/jobs/"+id+"/aggregate?by=errorClass", nil,
		http.StatusOK, &agg); err != nil {
		return nil, fmt.Errorf("bench: error classes: %w", err)
	}
	out := map[string]int{}
	for _, g := range agg.Groups {
		if g.Value != "none" && g.Value != "" {
			out[g.Value] = g.Count
		}
	}
	return out, nil
}

// pollJob polls the job every cfg.PollInterval until it is terminal, the
// server exits, cfg.JobTimeout passes or ctx is done. observe, when not
// nil, sees every status read.
func pollJob(ctx context.Context, cfg Config, api *http.Client, base, id string, srv *child,
	observe func(*jobStatus)) (*jobStatus, error) {
	deadline := time.NewTimer(cfg.JobTimeout)
	defer deadline.Stop()
	// The server holds each poll until the job ends or PollInterval
	// passes, so the job's end is seen at once.
	url := fmt.Sprintf("%s/api/v1/jobs/%s?wait=%s", base, id, cfg.PollInterval)
	var st jobStatus
	for {
		err := doJSON(ctx, api, http.MethodGet, url, nil, http.StatusOK, &st)
		if err == nil && observe != nil {
			observe(&st)
		}
		switch {
		case err != nil && ctx.Err() != nil:
			return nil, fmt.Errorf("bench: poll job: %w", context.Cause(ctx))
		case err != nil:
			if done, werr := srv.exited(); done {
				return nil, fmt.Errorf("bench: server exited during the job: %v\n%s", werr, srv.logs.tail())
			}
			// A transient failure: try again after PollInterval, until
			// the deadline.
		case st.State == stateGathered || st.State == stateCancelled || st.State == stateFailed:
			return &st, nil
		}
		pause := time.Duration(0) // the server has waited already
		if err != nil {
			pause = cfg.PollInterval
		}
		retry := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("bench: poll job: %w", context.Cause(ctx))
		case <-deadline.C:
			return nil, fmt.Errorf("bench: job %s not gathered within %s: state %q, done %d of %d",
				id, cfg.JobTimeout, st.State, st.Done, st.Total)
		case <-srv.done:
			return nil, fmt.Errorf("bench: server exited during the job: %v\n%s", srv.err, srv.logs.tail())
		case <-retry.C:
		}
		retry.Stop()
	}
}

// doJSON sends body (when not nil) as JSON, checks the status code and
// decodes the answer into out.
func doJSON(ctx context.Context, c *http.Client, method, url string, body []byte, want int, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("%s %s: read: %w", method, url, err)
	}
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: status %d: %s", method, url, resp.StatusCode, bytes.TrimSpace(raw))
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("%s %s: decode: %w", method, url, err)
	}
	return nil
}

// profiler fetches one CPU profile from a server's /debug/pprof.
type profiler struct {
	path string
	done chan struct{}
	err  error // set before done is closed
}

// startProfile starts fetching a CPU profile of seconds into path.
func startProfile(ctx context.Context, base, path string, seconds int) *profiler {
	p := &profiler{path: path, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		p.err = fetchProfile(ctx, base, path, seconds)
	}()
	return p
}

// wait waits for the profile; the fetch is bounded by its HTTP timeout
// and the run's context.
func (p *profiler) wait() error {
	<-p.done
	return p.err
}

func fetchProfile(ctx context.Context, base, path string, seconds int) error {
	c := &http.Client{Timeout: time.Duration(seconds)*time.Second + 30*time.Second}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet,
		fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", base, seconds), nil)
	if err != nil {
		return fmt.Errorf("CPU profile: %w", err)
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("CPU profile: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("CPU profile: status %d", resp.StatusCode)
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("CPU profile: %w", err)
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return fmt.Errorf("CPU profile: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("CPU profile: %w", err)
	}
	return nil
}
