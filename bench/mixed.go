package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"syscall"
	"time"

	"github.com/salvo-sh/salvo/fleet"
)

// MixedConfig configures the mixed fleet comparison: the same job of
// Config.Concurrency with the adaptive throttle and with "throttle": false,
// each on a fresh server, over targets of which a third answer, a third
// refuse connections and a third hang past the request timeout, shuffled.
// Per-host failures must not lower the job's concurrency: the goal is a
// throttled rate of at least 0.8 of the unthrottled one (reported, not
// enforced).
type MixedConfig struct {
	// Targets is the job's target count; 0 skips the comparison. A full
	// run has it follow the throttle comparison (and skips it when that
	// is skipped).
	Targets int
	// Only runs it alone (with the throttle comparison when its Only is
	// set too).
	Only bool
	// Latency is the healthy hosts' latency, "min-max" or one duration.
	Latency string
	// ConnectTimeout and RequestTimeout are both jobs' timeouts; the
	// hanging hosts answer HangFactor × RequestTimeout late.
	ConnectTimeout, RequestTimeout time.Duration
}

// mixedHangFactor is how many request timeouts the hanging hosts wait
// before they answer (to a client long gone).
const mixedHangFactor = 30

// mixedGoal is the throttled job's rate over the unthrottled one's that
// the mixed fleet comparison aims at.
const mixedGoal = 0.8

// runMixed runs the mixed fleet comparison and adds its two rows to rep.
func runMixed(ctx context.Context, cfg Config, rep *Report) (err error) {
	mc := cfg.Mixed
	healthy, hanging := mc.Targets/3, mc.Targets/3
	refusing := mc.Targets - healthy - hanging
	fc, err := mixedFleetConfig(cfg, healthy+hanging)
	if err != nil {
		return err
	}
	fl, port, err := startMixedFleet(ctx, cfg, fc)
	if fl != nil {
		rep.ChildPIDs = append(rep.ChildPIDs, fl.pid())
	}
	if err != nil {
		return err
	}
	defer joinErr(&err, func() error { return fl.stop(cfg.StopTimeout) })
	closed, err := closedPort()
	if err != nil {
		return err
	}
	targets, err := mixedTargets(fc, port, closed, healthy, hanging, refusing)
	if err != nil {
		return err
	}
	cfg.Logger.Info("mixed fleet started", "healthy", healthy, "hanging", hanging, "refusing", refusing,
		"port", port, "refusingPort", closed, "pid", fl.pid())

	rows, err := runOnOff(ctx, cfg, rep, targets, "mixed", mc.ConnectTimeout, mc.RequestTimeout, nil)
	if err != nil {
		return err
	}
	for i := range rows {
		rows[i].Notes = append([]string{fmt.Sprintf("mixed fleet: %d healthy (%s), %d refusing, %d hanging past the request timeout %s, shuffled",
			healthy, mc.Latency, refusing, hanging, mc.RequestTimeout)}, rows[i].Notes...)
	}
	if rows[1].Rate > 0 {
		ratio := rows[0].Rate / rows[1].Rate
		note := fmt.Sprintf("mixed fleet: %.2f × the unthrottled job's targets/s (goal ≥ %.1f)", ratio, mixedGoal)
		if ratio < mixedGoal {
			note += ": below the goal"
		}
		rows[0].Notes = append(rows[0].Notes, note)
	}
	rep.Rows = append(rep.Rows, rows[:]...)
	return nil
}

// mixedFleetConfig is the fleet of the mixed comparison: hosts of which
// about half are slow (the hanging ones), with enough hosts that each
// half holds n/2 of them.
func mixedFleetConfig(cfg Config, n int) (fleet.Config, error) {
	mc := cfg.Mixed
	lo, hi, err := fleet.ParseLatency(mc.Latency)
	if err != nil {
		return fleet.Config{}, fmt.Errorf("bench: mixed fleet: %w", err)
	}
	fc := fleet.DefaultConfig()
	fc.Hosts = n + n/5 + 64
	fc.BodyBytes = cfg.BodyBytes
	fc.LatencyMin, fc.LatencyMax = lo, hi
	fc.SlowRate, fc.SlowLatency = 0.5, mixedHangFactor*mc.RequestTimeout
	return fc, nil
}

// startMixedFleet starts `salvo fleet` with fc's hosts, latency and slow
// hosts on a free port.
func startMixedFleet(ctx context.Context, cfg Config, fc fleet.Config) (*child, int, error) {
	args := []string{"fleet", "--listen", "0.0.0.0:0", "--hosts", strconv.Itoa(fc.Hosts),
		"--body-bytes", strconv.Itoa(fc.BodyBytes), "--latency", cfg.Mixed.Latency,
		"--slow-rate", strconv.FormatFloat(fc.SlowRate, 'g', -1, 64), "--slow-latency", fc.SlowLatency.String(),
		"--log-level", "info"}
	return startFleetWith(ctx, cfg, args)
}

// mixedTargets returns the comparison's targets, shuffled with a fixed
// seed: healthy and hanging fleet hosts (the fleet's slow hosts, as fc
// chooses them) on port, and refusing ones, addresses past the fleet's
// hosts on the closed port.
func mixedTargets(fc fleet.Config, port, closed, healthy, hanging, refusing int) ([]string, error) {
	f, err := fleet.New(fc) // not started: it only tells which hosts are slow
	if err != nil {
		return nil, fmt.Errorf("bench: mixed fleet: %w", err)
	}
	targets := make([]string, 0, healthy+hanging+refusing)
	h, s := 0, 0
	for i := 0; i < fc.Hosts && (h < healthy || s < hanging); i++ {
		switch slow := f.Expect(i).Slow; {
		case slow && s < hanging:
			s++
		case !slow && h < healthy:
			h++
		default:
			continue
		}
		targets = append(targets, fleet.Target(i, port))
	}
	if h < healthy || s < hanging {
		return nil, fmt.Errorf("bench: mixed fleet: %d healthy and %d slow hosts of %d, want %d and %d",
			h, s, fc.Hosts, healthy, hanging)
	}
	for i := range refusing {
		targets = append(targets, fleet.Target(fc.Hosts+i, closed))
	}
	rng := rand.New(rand.NewPCG(12, 1))
	rng.Shuffle(len(targets), func(i, j int) { targets[i], targets[j] = targets[j], targets[i] })
	return targets, nil
}

// closedPort returns a loopback port that refuses connections: 9
// (discard), or else a port just freed.
func closedPort() (int, error) {
	if refuses(9) {
		return 9, nil
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("bench: closed port: %w", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		return 0, fmt.Errorf("bench: closed port: %w", err)
	}
	if !refuses(port) {
		return 0, fmt.Errorf("bench: no closed loopback port: %d accepts connections", port)
	}
	return port, nil
}

// refuses reports whether a connection to 127.0.0.1:port is refused.
func refuses(port int) bool {
	c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), time.Second)
	if err == nil {
		c.Close()
		return false
	}
	return errors.Is(err, syscall.ECONNREFUSED)
}
