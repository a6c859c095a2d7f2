package fleet

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestOverloadDelay(t *testing.T) {
	tests := []struct {
		name     string
		max      int
		inFlight int64
		want     time.Duration
	}{
		{"mode off", 0, 500, 0},
		{"below the limit", 100, 50, 0},
		{"at the limit", 100, 100, 0},
		{"a quarter over", 100, 125, time.Second},
		{"half over", 100, 150, 2 * time.Second},
		{"twice the limit", 100, 200, 4 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			c.MaxConcurrency = tt.max
			c.OverloadLatency = 4 * time.Second
			if got := c.overloadDelay(tt.inFlight); got != tt.want {
				t.Errorf("overloadDelay(%d) = %v, want %v", tt.inFlight, got, tt.want)
			}
		})
	}
	c := DefaultConfig()
	c.MaxConcurrency = 100
	if got := c.refuseAt(); got != 200 {
		t.Errorf("refuseAt() = %d, want 2 × MaxConcurrency = 200", got)
	}
	c.RefuseConcurrency = 150
	if got := c.refuseAt(); got != 150 {
		t.Errorf("refuseAt() = %d, want RefuseConcurrency 150", got)
	}
}

// rawGet sends one GET on a new connection and reads until the server
// closes it. It returns the raw answer, or the read or write error.
func rawGet(f *Fleet, host int) (string, error) {
	addr := net.JoinHostPort(HostAddr(host), strconv.Itoa(f.Addr().Port))
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(20 * time.Second)); err != nil {
		return "", err
	}
	if _, err := io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); err != nil {
		return "", err
	}
	b, err := io.ReadAll(conn)
	return string(b), err
}

// TestOverloadSlowsThenResets fills the fleet to RefuseConcurrency with
// requests, checks that those beyond RefuseConcurrency are reset at once,
// and that those beyond MaxConcurrency were slowed down by the excess.
func TestOverloadSlowsThenResets(t *testing.T) {
	const (
		maxConc, refuse = 5, 10
		base            = 2 * time.Second
		overload        = time.Second
	)
	f := startFleet(t, func(c *Config) {
		c.Hosts = 100
		c.LatencyMin, c.LatencyMax = base, base
		c.MaxConcurrency, c.RefuseConcurrency = maxConc, refuse
		c.OverloadLatency = overload
	})

	type answer struct {
		took time.Duration
		body string
		err  error
	}
	answers := make(chan answer, refuse)
	var wg sync.WaitGroup
	for i := range refuse {
		wg.Go(func() {
			start := time.Now()
			body, err := rawGet(f, i)
			answers <- answer{time.Since(start), body, err}
		})
	}
	// Wait until the first ten are all in flight (each waits at least base).
	deadline := time.Now().Add(10 * time.Second)
	for f.InFlight() < refuse {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d requests in flight", f.InFlight(), refuse)
		}
		time.Sleep(5 * time.Millisecond) // polling a counter: no signal to wait on
	}
	// Every request beyond RefuseConcurrency is reset without an answer.
	for i := refuse; i < refuse+5; i++ {
		start := time.Now()
		body, err := rawGet(f, i)
		if !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("request %d beyond the refuse limit: body %q, err %v; want ECONNRESET", i, body, err)
		}
		if took := time.Since(start); took > base/2 {
			t.Errorf("reset took %v, want at once", took)
		}
	}
	if got := f.Refused(); got != 5 {
		t.Errorf("Refused() = %d, want 5", got)
	}

	wg.Wait()
	close(answers)
	var took []time.Duration
	for a := range answers {
		if a.err != nil || len(a.body) < 12 || a.body[:12] != "HTTP/1.1 200" {
			t.Errorf("request within the refuse limit: %q, %v", a.body, a.err)
			continue
		}
		took = append(took, a.took)
	}
	// The n-th arrival (1-based) waits base + overload × (n − max) / max.
	slices.Sort(took)
	for k, d := range took {
		n := k + 1
		want := base + time.Duration(float64(overload)*float64(max(0, n-maxConc))/maxConc)
		if d < want {
			t.Errorf("answer %d took %v, want at least %v", n, d, want)
		}
	}
	if got := f.Requests(); got != refuse {
		t.Errorf("Requests() = %d, want %d (resets are not served requests)", got, refuse)
	}
	for i := range refuse + 5 {
		if got := f.HostRequests(i); got != 1 {
			t.Errorf("HostRequests(%d) = %d, want 1", i, got)
		}
	}
	stats := get(t, testClient(), f, HostAddr(0), StatsPath)
	var s struct {
		Requests, InFlight, Refused *int64
	}
	if err := json.Unmarshal([]byte(stats.body), &s); err != nil || s.Refused == nil {
		t.Fatalf("stats %q: %v", stats.body, err)
	}
	if *s.Refused != 5 || *s.InFlight != 0 || *s.Requests != refuse {
		t.Errorf("stats %s, want requests %d, inFlight 0, refused 5", stats.body, refuse)
	}
}

// TestOverloadModeOff checks that without MaxConcurrency many requests at
// once are all answered.
func TestOverloadModeOff(t *testing.T) {
	f := startFleet(t, func(c *Config) {
		c.Hosts = 100
		c.LatencyMin, c.LatencyMax = 100*time.Millisecond, 100*time.Millisecond
	})
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for i := range 50 {
		wg.Go(func() {
			body, err := rawGet(f, i)
			if err == nil && (len(body) < 12 || body[:12] != "HTTP/1.1 200") {
				err = fmt.Errorf("host %d answered %q", i, body)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if f.Refused() != 0 {
		t.Errorf("Refused() = %d with the overload mode off", f.Refused())
	}
}
