package fleet

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"
)

// Config configures a Fleet. Build one with DefaultConfig and change the
// fields you need; New validates it.
type Config struct {
	// Listen is the TCP address of the single listener that answers every
	// host. Use 0.0.0.0 (the default) so that every 127.x.y.z reaches it;
	// port 0 picks a free port (see Fleet.Addr). A specific address such
	// as 127.0.0.1 answers only connections to itself, which get a 404
	// unless it is a host address.
	Listen string

	// Hosts is the number of simulated hosts: host i answers on HostAddr(i)
	// for i in [0, Hosts). At most MaxHosts.
	Hosts int

	// BodyBytes pads every host body with 'x' to at least this many bytes;
	// 0 means no padding.
	BodyBytes int

	// LatencyMin and LatencyMax bound each host's latency: host i waits a
	// fixed duration drawn uniformly from [LatencyMin, LatencyMax] with a
	// hash of i, so the same host always waits the same time.
	LatencyMin, LatencyMax time.Duration

	// ErrorRate is the share of hosts, in [0, 1], that answer 500.
	ErrorRate float64

	// SlowRate is the share of hosts, in [0, 1], that wait SlowLatency on
	// top of their latency.
	SlowRate float64

	// SlowLatency is the extra latency of slow hosts.
	SlowLatency time.Duration

	// StatusCodes gives shares of hosts answering other status codes. The
	// shares and ErrorRate are disjoint and must sum to at most 1.
	StatusCodes []StatusShare

	// Concurrency bounds the connections served at once (fasthttp's
	// Server.Concurrency); connections beyond it get a 503.
	Concurrency int

	// MaxConcurrency, when positive, turns on the overload mode: the fleet
	// behaves like one service with that capacity. A host request arriving
	// while n requests are in flight (itself included) waits, on top of its
	// host's latency, OverloadLatency × (n − MaxConcurrency) / MaxConcurrency
	// when n > MaxConcurrency, and has its connection reset without an
	// answer (the client sees ECONNRESET) when n > RefuseConcurrency. 0 (the
	// default) turns the mode off.
	MaxConcurrency int

	// OverloadLatency is the latency added per MaxConcurrency requests in
	// flight beyond MaxConcurrency in the overload mode.
	OverloadLatency time.Duration

	// RefuseConcurrency is the in-flight count beyond which requests are
	// reset in the overload mode; 0 means 2 × MaxConcurrency.
	RefuseConcurrency int

	// ReadTimeout, WriteTimeout and IdleTimeout bound each connection's
	// request read, response write and keep-alive idle time.
	ReadTimeout, WriteTimeout, IdleTimeout time.Duration

	// ShutdownTimeout bounds how long Close waits for in-flight requests
	// before it closes their connections.
	ShutdownTimeout time.Duration

	// Logger receives the fleet's and the HTTP server's log lines; nil
	// discards them.
	Logger *slog.Logger
}

// StatusShare makes a share of the hosts answer Code.
type StatusShare struct {
	// Code is the HTTP status code, 100 to 599.
	Code int
	// Share is the share of hosts answering Code, in [0, 1].
	Share float64
}

// DefaultConfig returns a fleet of 10,000 fast, healthy hosts on 0.0.0.0
// with a random port.
func DefaultConfig() Config {
	return Config{
		Listen:          "0.0.0.0:0",
		Hosts:           10000,
		Concurrency:     256 * 1024,
		OverloadLatency: 2 * time.Second,
		ReadTimeout:     10 * time.Second,
		WriteTimeout:    10 * time.Second,
		IdleTimeout:     5 * time.Second,
		ShutdownTimeout: 2 * time.Second,
	}
}

// Validate reports every invalid field of c, wrapping ErrInvalidConfig.
func (c Config) Validate() error {
	var errs []error
	if c.Listen == "" {
		errs = append(errs, errors.New("listen address is empty"))
	}
	if c.Hosts < 0 || c.Hosts > MaxHosts {
		errs = append(errs, fmt.Errorf("hosts %d out of range [0, %d]", c.Hosts, MaxHosts))
	}
	if c.BodyBytes < 0 {
		errs = append(errs, fmt.Errorf("body bytes %d is negative", c.BodyBytes))
	}
	if c.LatencyMin < 0 || c.LatencyMax < c.LatencyMin {
		errs = append(errs, fmt.Errorf("latency range %s-%s is invalid", c.LatencyMin, c.LatencyMax))
	}
	if c.SlowLatency < 0 {
		errs = append(errs, fmt.Errorf("slow latency %s is negative", c.SlowLatency))
	}
	if !isShare(c.ErrorRate) {
		errs = append(errs, fmt.Errorf("error rate %v out of range [0, 1]", c.ErrorRate))
	}
	if !isShare(c.SlowRate) {
		errs = append(errs, fmt.Errorf("slow rate %v out of range [0, 1]", c.SlowRate))
	}
	total := c.ErrorRate
	for _, s := range c.StatusCodes {
		if s.Code < 100 || s.Code > 599 {
			errs = append(errs, fmt.Errorf("status code %d out of range [100, 599]", s.Code))
		}
		if !isShare(s.Share) {
			errs = append(errs, fmt.Errorf("share %v of status %d out of range [0, 1]", s.Share, s.Code))
		}
		total += s.Share
	}
	if total > 1+1e-9 {
		errs = append(errs, fmt.Errorf("error rate and status code shares sum to %v, more than 1", total))
	}
	if c.Concurrency <= 0 {
		errs = append(errs, fmt.Errorf("concurrency %d must be positive", c.Concurrency))
	}
	if c.MaxConcurrency < 0 {
		errs = append(errs, fmt.Errorf("max concurrency %d is negative", c.MaxConcurrency))
	}
	if c.OverloadLatency < 0 {
		errs = append(errs, fmt.Errorf("overload latency %s is negative", c.OverloadLatency))
	}
	if c.RefuseConcurrency < 0 || (c.RefuseConcurrency > 0 && c.RefuseConcurrency < c.MaxConcurrency) {
		errs = append(errs, fmt.Errorf("refuse concurrency %d must be 0 or at least max concurrency %d",
			c.RefuseConcurrency, c.MaxConcurrency))
	}
	if c.ReadTimeout < 0 || c.WriteTimeout < 0 || c.IdleTimeout < 0 || c.ShutdownTimeout < 0 {
		errs = append(errs, errors.New("timeouts must not be negative"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, errors.Join(errs...))
	}
	return nil
}

// refuseAt returns the in-flight count beyond which the overload mode
// resets requests.
func (c *Config) refuseAt() int64 {
	if c.RefuseConcurrency > 0 {
		return int64(c.RefuseConcurrency)
	}
	return 2 * int64(c.MaxConcurrency)
}

// overloadDelay returns the latency the overload mode adds to a request
// arriving with inFlight requests in flight (itself included).
func (c *Config) overloadDelay(inFlight int64) time.Duration {
	excess := inFlight - int64(c.MaxConcurrency)
	if c.MaxConcurrency <= 0 || excess <= 0 {
		return 0
	}
	return time.Duration(float64(c.OverloadLatency) * float64(excess) / float64(c.MaxConcurrency))
}

func isShare(f float64) bool { return f >= 0 && f <= 1 }

// ParseStatusCodes parses a status code spec such as "503:0.01,404:0.02"
// (code:share, comma separated). An empty string gives no shares.
func ParseStatusCodes(spec string) ([]StatusShare, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return nil, nil
	}
	var out []StatusShare
	for part := range strings.SplitSeq(spec, ",") {
		codeStr, shareStr, ok := strings.Cut(strings.TrimSpace(part), ":")
		if !ok {
			return nil, fmt.Errorf("status code spec %q: want code:share", part)
		}
		code, err := strconv.Atoi(strings.TrimSpace(codeStr))
		if err != nil || code < 100 || code > 599 {
			return nil, fmt.Errorf("status code spec %q: bad code %q", part, codeStr)
		}
		share, err := strconv.ParseFloat(strings.TrimSpace(shareStr), 64)
		if err != nil || !isShare(share) {
			return nil, fmt.Errorf("status code spec %q: bad share %q", part, shareStr)
		}
		out = append(out, StatusShare{Code: code, Share: share})
	}
	return out, nil
}

// ParseLatency parses a latency range "min-max" (for example "5ms-20ms")
// or a single duration, which gives min == max.
func ParseLatency(spec string) (minLat, maxLat time.Duration, err error) {
	spec = strings.TrimSpace(spec)
	lo, hi, isRange := strings.Cut(spec, "-")
	minLat, err = time.ParseDuration(strings.TrimSpace(lo))
	if err != nil {
		return 0, 0, fmt.Errorf("latency %q: %w", spec, err)
	}
	maxLat = minLat
	if isRange {
		maxLat, err = time.ParseDuration(strings.TrimSpace(hi))
		if err != nil {
			return 0, 0, fmt.Errorf("latency %q: %w", spec, err)
		}
	}
	if minLat < 0 || maxLat < minLat {
		return 0, 0, fmt.Errorf("latency %q: want 0 <= min <= max", spec)
	}
	return minLat, maxLat, nil
}
