// Package procstat reads what a node uses of its machine from /proc: the
// process's CPU share and resident memory, its open file descriptors, and
// the machine's load average (Submarine's resource usage). Where /proc is
// missing the figures are zero.
package procstat

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"time"
)

// Usage is one reading.
type Usage struct {
	// CPUPercent is the process's CPU time over the last interval, in
	// percent of one core (200 is two cores busy).
	CPUPercent float64
	// RSSBytes is the process's resident memory.
	RSSBytes int64
	// OpenFDs is the process's open file descriptors.
	OpenFDs int
	// Load1 is the machine's one-minute load average.
	Load1 float64
}

// Sampler reads Usage every interval in a goroutine of its own; Latest
// answers the last reading without touching /proc, so that an actor may
// call it in Receive.
type Sampler struct {
	latest atomic.Pointer[Usage]
	cancel context.CancelFunc
	done   chan struct{}
}

// Start starts a sampler; Stop ends it.
func Start(interval time.Duration) *Sampler {
	ctx, cancel := context.WithCancel(context.Background())
	s := &Sampler{cancel: cancel, done: make(chan struct{})}
	s.latest.Store(&Usage{})
	go s.run(ctx, interval)
	return s
}

// Stop stops the sampler and waits for its goroutine.
func (s *Sampler) Stop() {
	s.cancel()
	<-s.done
}

// Latest is the last reading (zeros before the first).
func (s *Sampler) Latest() Usage { return *s.latest.Load() }

func (s *Sampler) run(ctx context.Context, interval time.Duration) {
	defer close(s.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	lastCPU, lastAt := cpuSeconds(), time.Now()
	for {
		u := Usage{RSSBytes: rss(), Load1: load1()}
		u.OpenFDs, _ = CountFDs("/proc/self/fd")
		now, cpu := time.Now(), cpuSeconds()
		// CPU time moves in clock ticks (10 ms): over the few microseconds
		// before the first tick one tick would read as thousands of percent.
		if d := now.Sub(lastAt); d >= interval/2 && cpu >= lastCPU {
			u.CPUPercent = min(100*(cpu-lastCPU)/d.Seconds(), 100*float64(runtime.NumCPU()))
		}
		if now.Sub(lastAt) >= interval/2 {
			lastCPU, lastAt = cpu, now
		}
		s.latest.Store(&u)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// clockTicks is USER_HZ, the unit of /proc/self/stat's CPU times (100 on
// every Linux architecture Go supports).
const clockTicks = 100

// cpuSeconds is the process's user and system CPU time.
func cpuSeconds() float64 {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses and may hold
	// spaces: state is field 3, utime 14 and stime 15.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(string(f[11]), 64)
	st, _ := strconv.ParseFloat(string(f[12]), 64)
	return (ut + st) / clockTicks
}

// rss is the process's resident memory, from /proc/self/statm.
func rss() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := bytes.Fields(b)
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseInt(string(f[1]), 10, 64)
	return pages * int64(os.Getpagesize())
}

// load1 is the one-minute load average, from /proc/loadavg.
func load1() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := bytes.Fields(b)
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(string(f[0]), 64)
	return v
}

// CountFDs counts the entries of a /proc/<pid>/fd directory, less the
// descriptor reading it.
func CountFDs(dir string) (int, error) {
	f, err := os.Open(dir)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	n := 0
	for {
		names, err := f.Readdirnames(1024)
		n += len(names)
		if errors.Is(err, io.EOF) || (err == nil && len(names) == 0) {
			break
		}
		if err != nil {
			return 0, err
		}
	}
	return max(0, n-1), nil
}
