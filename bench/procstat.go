package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"time"
)

// memStatus is a process's memory figures from /proc/PID/status.
type memStatus struct {
	RSS int64 // VmRSS in bytes
	HWM int64 // VmHWM (peak RSS) in bytes
}

// readMemStatus reads VmRSS and VmHWM of pid.
func readMemStatus(pid int) (memStatus, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return memStatus{}, fmt.Errorf("read status of %d: %w", pid, err)
	}
	var m memStatus
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		line := sc.Bytes()
		switch {
		case bytes.HasPrefix(line, []byte("VmRSS:")):
			m.RSS = parseKB(line[len("VmRSS:"):])
		case bytes.HasPrefix(line, []byte("VmHWM:")):
			m.HWM = parseKB(line[len("VmHWM:"):])
		}
	}
	return m, nil
}

// parseKB parses "   12345 kB" into bytes; it returns 0 when it cannot.
func parseKB(b []byte) int64 {
	f := bytes.Fields(b)
	if len(f) == 0 {
		return 0
	}
	n, err := strconv.ParseInt(string(f[0]), 10, 64)
	if err != nil {
		return 0
	}
	return n << 10
}

// countFDs returns the number of open file descriptors of pid.
func countFDs(pid int) (int, error) {
	d, err := os.Open(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return 0, err
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return 0, fmt.Errorf("list fds of %d: %w", pid, err)
	}
	return len(names), nil
}

// clockTicks is the unit of utime and stime in /proc/PID/stat (USER_HZ,
// 100 on every Linux platform Go supports).
const clockTicks = 100

// readCPU returns the CPU time (user + system) pid has used so far.
func readCPU(pid int) (time.Duration, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("read stat of %d: %w", pid, err)
	}
	return parseStatCPU(raw)
}

// parseStatCPU reads utime and stime, fields 14 and 15 of /proc/PID/stat;
// the command name in field 2 may hold spaces, so fields are counted from
// its closing parenthesis.
func parseStatCPU(raw []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(raw, ')')
	if i < 0 {
		return 0, fmt.Errorf("stat: no command name in %q", raw)
	}
	f := bytes.Fields(raw[i+1:]) // f[0] is field 3 (state)
	if len(f) < 13 {
		return 0, fmt.Errorf("stat: %d fields after the command name, want at least 13", len(f))
	}
	var ticks int64
	for _, b := range f[11:13] {
		n, err := strconv.ParseInt(string(b), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("stat: cpu field %q: %w", b, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// usage is what a sampler saw of a process.
type usage struct {
	PeakRSS   int64 // largest VmRSS sampled
	HWM       int64 // VmHWM at the last sample
	FDsAtPeak int   // open fds at the sample of PeakRSS
	MaxFDs    int   // most open fds sampled
	Samples   int
	// CPU is the CPU time the process used between start and finish, and
	// FleetCPU the fleet's (0 when no fleet pid was given or /proc is
	// missing).
	CPU, FleetCPU time.Duration
}

// sampler reads a process's RSS and fd count every interval until stopped,
// and the CPU time it and the fleet use meanwhile.
type sampler struct {
	pid, fleetPID  int
	cpu0, fleet0   time.Duration
	cpuOK, fleetOK bool // cpu0 and fleet0 were read
	stop           chan struct{}
	done           chan struct{}
	u              usage // owned by run until done is closed
}

// startSampler starts sampling pid every interval; it takes one sample
// at once. fleetPID, when not 0, is the fleet whose CPU time is measured
// over the same span.
func startSampler(pid, fleetPID int, interval time.Duration) *sampler {
	s := &sampler{pid: pid, fleetPID: fleetPID, stop: make(chan struct{}), done: make(chan struct{})}
	var err error
	s.cpu0, err = readCPU(pid)
	s.cpuOK = err == nil
	if fleetPID != 0 {
		s.fleet0, err = readCPU(fleetPID)
		s.fleetOK = err == nil
	}
	go s.run(interval)
	return s
}

func (s *sampler) run(interval time.Duration) {
	defer close(s.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		s.sample()
		select {
		case <-s.stop:
			s.sample() // the last one, for VmHWM at the end
			return
		case <-t.C:
		}
	}
}

func (s *sampler) sample() {
	m, err := readMemStatus(s.pid)
	if err != nil {
		return // the process is gone or /proc is missing
	}
	fds, _ := countFDs(s.pid)
	s.u.Samples++
	s.u.HWM = max(s.u.HWM, m.HWM)
	s.u.MaxFDs = max(s.u.MaxFDs, fds)
	if m.RSS > s.u.PeakRSS {
		s.u.PeakRSS, s.u.FDsAtPeak = m.RSS, fds
	}
}

// finish takes a last sample, stops the sampler and returns what it saw.
// Call it once, while the process still runs.
func (s *sampler) finish() usage {
	close(s.stop)
	<-s.done
	if c, err := readCPU(s.pid); err == nil && s.cpuOK {
		s.u.CPU = c - s.cpu0
	}
	if c, err := readCPU(s.fleetPID); err == nil && s.fleetOK {
		s.u.FleetCPU = c - s.fleet0
	}
	return s.u
}
