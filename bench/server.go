package bench

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sync"
	"time"
)

// benchServer is a `salvo server` child on a temporary data directory.
type benchServer struct {
	srv  *child
	dir  string
	base string // the API's base URL
	api  *http.Client
}

// startServer starts `salvo server` with extra flags on a fresh data
// directory. It returns the server's pid (0 when it did not start); on an
// error what started is already stopped.
func startServer(ctx context.Context, cfg Config, extra ...string) (*benchServer, int, error) {
	dir, err := os.MkdirTemp("", "salvo-bench-")
	if err != nil {
		return nil, 0, fmt.Errorf("bench: data dir: %w", err)
	}
	args := append([]string{"server", "--http-addr", "127.0.0.1:0", "--data-dir", dir, "--log-format", "json"}, cfg.ServerArgs...)
	args = append(args, extra...)
	srv, addr, err := startChild(ctx, cfg, "server", args, matchServerListening)
	pid := 0
	if srv != nil {
		pid = srv.pid()
	}
	if err != nil {
		os.RemoveAll(dir)
		return nil, pid, err
	}
	return &benchServer{srv: srv, dir: dir, base: "http://" + addr, api: &http.Client{Timeout: 60 * time.Second}}, pid, nil
}

// stop stops the server (bounded) and removes its data directory.
func (s *benchServer) stop(cfg Config) error { return s.stopAndSee(cfg, nil) }

// stopAndSee is stop; atRest, when not nil, sees the data directory in
// between, once the server has stopped cleanly (its WAL checkpointed into
// the database).
func (s *benchServer) stopAndSee(cfg Config, atRest func(dir string)) error {
	err := s.srv.stop(cfg.StopTimeout)
	if err == nil && atRest != nil {
		atRest(s.dir)
	}
	os.RemoveAll(s.dir)
	return err
}

// timedJob is a job submitted and polled to its end by runJob.
type timedJob struct {
	id      string
	st      *jobStatus
	elapsed time.Duration
	usage   usage
	// pollErr says why the job was not followed to its end.
	pollErr error
}

// runJob submits a job spec, calls onSubmit with its id, and polls the job
// until it is terminal while sampling the server's memory and descriptors;
// submit → end is the job's time. An error means the job could not be
// submitted.
func (s *benchServer) runJob(ctx context.Context, cfg Config, body []byte, onSubmit func(id string),
	observe func(*jobStatus)) (timedJob, error) {
	var tj timedJob
	smp := startSampler(s.srv.pid(), cfg.fleetPID, cfg.SampleInterval)
	stopSampler := sync.OnceValue(smp.finish)
	defer stopSampler()

	start := time.Now()
	var sub struct {
		ID string `json:"id"`
	}
	if err := doJSON(ctx, s.api, http.MethodPost, s.base+"/api/v1/jobs", body, http.StatusAccepted, &sub); err != nil {
		return tj, fmt.Errorf("bench: submit job: %w\n%s", err, s.srv.logs.tail())
	}
	if sub.ID == "" {
		return tj, errors.New("bench: submit job: no id in the answer")
	}
	tj.id = sub.ID
	if onSubmit != nil {
		onSubmit(sub.ID)
	}
	tj.st, tj.pollErr = pollJob(ctx, cfg, s.api, s.base, sub.ID, s.srv, observe)
	tj.elapsed = time.Since(start)
	tj.usage = stopSampler()
	return tj, nil
}

// fill copies the job's time and the server's memory figures into row.
func (tj *timedJob) fill(row *Row) {
	row.Seconds = tj.elapsed.Seconds()
	u := tj.usage
	row.PeakRSS, row.HWM, row.FDsAtPeak, row.MaxFDs = u.PeakRSS, u.HWM, u.FDsAtPeak, u.MaxFDs
	row.CPUSeconds, row.FleetCPUSeconds = u.CPU.Seconds(), u.FleetCPU.Seconds()
	if tj.st != nil && tj.pollErr == nil {
		row.Rate = float64(tj.st.Total) / tj.elapsed.Seconds()
		row.ServerRate = tj.st.Rate
	}
}
