package fleet

import (
	"strconv"
	"time"
)

// Expectation is what a fleet host answers to any path but /echo and
// /__fleet/stats.
type Expectation struct {
	// Status is the HTTP status code: 200, 500 for error hosts, a code from
	// Config.StatusCodes, or 404 for a host outside the fleet.
	Status int
	// Body is the exact response body: "host=<ip> version=<v>\n" for status
	// 200, "host=<ip> status=<code>\n" for other in-fleet hosts (both padded
	// with 'x' to Config.BodyBytes), and "unknown host" for a host outside
	// the fleet.
	Body string
	// Version is the version the body reports, Version(i) for status 200
	// and "" otherwise.
	Version string
	// Latency is how long the host waits before answering, slow hosts'
	// SlowLatency included.
	Latency time.Duration
	// Slow reports whether the host is one of the Config.SlowRate share.
	Slow bool
}

// unknownHostBody is the body of a 404 for a host outside the fleet.
const unknownHostBody = "unknown host"

// Hash streams: each per-host choice draws from its own stream so that, for
// example, changing SlowRate does not change which hosts fail.
const (
	streamStatus  uint64 = 0x5f3759df_00000001
	streamSlow    uint64 = 0x5f3759df_00000002
	streamLatency uint64 = 0x5f3759df_00000003
)

// unitHash maps (i, stream) to a float in [0, 1) with splitmix64, so every
// per-host choice is deterministic and independent of the other hosts.
func unitHash(i int, stream uint64) float64 {
	z := uint64(i)*0x9e3779b97f4a7c15 + stream
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	z ^= z >> 31
	return float64(z>>11) / (1 << 53)
}

// behaviour is one in-fleet host's deterministic behaviour.
type behaviour struct {
	status  int
	latency time.Duration
	slow    bool
}

// behaviourOf returns host i's behaviour under c. Host i draws
// u = unitHash(i, streamStatus): it answers 500 when u < ErrorRate, else the
// first StatusCodes entry whose cumulative share (after ErrorRate) exceeds
// u, else 200. It is slow when unitHash(i, streamSlow) < SlowRate, and its
// base latency is LatencyMin + unitHash(i, streamLatency)*(LatencyMax-LatencyMin).
func (c *Config) behaviourOf(i int) behaviour {
	b := behaviour{status: 200}
	if c.ErrorRate > 0 || len(c.StatusCodes) > 0 {
		u := unitHash(i, streamStatus)
		acc := c.ErrorRate
		if u < acc {
			b.status = 500
		} else {
			for _, s := range c.StatusCodes {
				acc += s.Share
				if u < acc {
					b.status = s.Code
					break
				}
			}
		}
	}
	b.latency = c.LatencyMin
	if span := c.LatencyMax - c.LatencyMin; span > 0 {
		b.latency += time.Duration(unitHash(i, streamLatency) * float64(span))
	}
	if c.SlowRate > 0 && unitHash(i, streamSlow) < c.SlowRate {
		b.slow = true
		b.latency += c.SlowLatency
	}
	return b
}

// appendHead appends host i's body for status, without padding, to dst.
func appendHead(dst []byte, i, status int) []byte {
	dst = append(dst, "host="...)
	dst = appendHostIP(dst, i)
	if status == 200 {
		dst = append(dst, " version="...)
		dst = append(dst, Version(i)...)
	} else {
		dst = append(dst, " status="...)
		dst = strconv.AppendInt(dst, int64(status), 10)
	}
	return append(dst, '\n')
}

// padding returns the 'x' padding that follows a head of n bytes.
func (f *Fleet) padding(n int) []byte {
	if n >= len(f.pad) {
		return nil
	}
	return f.pad[n:]
}

// Expect returns what host i answers under this fleet's configuration;
// hosts outside [0, Hosts) get a 404 "unknown host".
func (f *Fleet) Expect(i int) Expectation {
	if i < 0 || i >= f.cfg.Hosts {
		return Expectation{Status: 404, Body: unknownHostBody}
	}
	b := f.cfg.behaviourOf(i)
	head := appendHead(nil, i, b.status)
	e := Expectation{
		Status:  b.status,
		Body:    string(head) + string(f.padding(len(head))),
		Latency: b.latency,
		Slow:    b.slow,
	}
	if b.status == 200 {
		e.Version = Version(i)
	}
	return e
}
