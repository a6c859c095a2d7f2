package bench

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/salvo-sh/salvo/fleet"
)

// runThrottle runs the throttle comparison: against one fleet in overload
// mode, the same job with the adaptive throttle and with "throttle": false,
// each on a fresh server, and adds both rows to rep.
func runThrottle(ctx context.Context, cfg Config, rep *Report) (err error) {
	tc := cfg.Throttle
	fl, port, err := startOverloadedFleet(ctx, cfg)
	if fl != nil {
		rep.ChildPIDs = append(rep.ChildPIDs, fl.pid())
	}
	if err != nil {
		return err
	}
	defer joinErr(&err, func() error { return fl.stop(cfg.StopTimeout) })
	cfg.Logger.Info("overloaded fleet started", "hosts", tc.Targets, "port", port, "pid", fl.pid(),
		"capacity", tc.FleetConcurrency)

	targets := fleet.Targets(tc.Targets, port)
	rows, err := runOnOff(ctx, cfg, rep, targets, "overloaded", tc.ConnectTimeout, tc.RequestTimeout, func() error {
		// The previous job's abandoned requests must not overload the
		// fleet for this one.
		return waitFleetIdle(ctx, port, cfg.JobTimeout)
	})
	if err != nil {
		return err
	}
	if rows[0].Errors >= rows[1].Errors {
		rows[0].Notes = append(rows[0].Notes, fmt.Sprintf("the throttle did not reduce errors: %d with it, %d without",
			rows[0].Errors, rows[1].Errors))
	}
	rep.Rows = append(rep.Rows, rows[:]...)
	return nil
}

// runOnOff runs the same salvo job over targets with the adaptive throttle
// and with "throttle": false, each on a fresh server, and returns both
// rows (on first). before, when set, runs before each job.
func runOnOff(ctx context.Context, cfg Config, rep *Report, targets []string, fleetName string,
	connect, request time.Duration, before func() error) ([2]Row, error) {
	var rows [2]Row
	for i, on := range []bool{true, false} {
		if before != nil {
			if err := before(); err != nil {
				return rows, err
			}
		}
		j := salvoJob{scenario: ScenarioThrottleOn, throttle: &on, connectTimeout: connect, requestTimeout: request}
		if !on {
			j.scenario = ScenarioThrottleOff
		}
		cfg.Logger.Info("salvo job against the "+fleetName+" fleet", "throttle", on, "targets", len(targets),
			"maxConcurrency", cfg.Concurrency)
		row, pid, err := runSalvo(ctx, cfg, targets, j)
		if pid > 0 {
			rep.ChildPIDs = append(rep.ChildPIDs, pid)
		}
		if err != nil {
			return rows, err
		}
		rows[i] = row
		cfg.Logger.Info("salvo job done", "throttle", on, "targetsPerSecond", int(row.Rate), "errors", row.Errors,
			"timeouts", row.Timeouts, "lowestConcurrency", row.MinConcurrency)
	}
	return rows, nil
}

// startOverloadedFleet starts `salvo fleet` in overload mode on a free port.
func startOverloadedFleet(ctx context.Context, cfg Config) (*child, int, error) {
	tc := cfg.Throttle
	args := []string{"fleet", "--listen", "0.0.0.0:0", "--hosts", strconv.Itoa(tc.Targets),
		"--body-bytes", strconv.Itoa(cfg.BodyBytes), "--latency", tc.Latency,
		"--max-concurrency", strconv.Itoa(tc.FleetConcurrency),
		"--overload-latency", tc.OverloadLatency.String(), "--log-level", "info"}
	return startFleetWith(ctx, cfg, args)
}

// waitFleetIdle polls the fleet's stats until no request is in flight, for
// at most timeout.
func waitFleetIdle(ctx context.Context, port int, timeout time.Duration) error {
	api := &http.Client{Timeout: 10 * time.Second}
	url := "http://127.0.0.1:" + strconv.Itoa(port) + fleet.StatsPath
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var st struct {
		InFlight int64 `json:"inFlight"`
	}
	for {
		err := doJSON(ctx, api, http.MethodGet, url, nil, http.StatusOK, &st)
		if err == nil && st.InFlight == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("bench: wait for the fleet: %w", context.Cause(ctx))
		case <-deadline.C:
			return fmt.Errorf("bench: fleet still busy after %s (in flight %d, last error %v)", timeout, st.InFlight, err)
		case <-tick.C:
		}
	}
}
