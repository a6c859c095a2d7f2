package bench

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"
)

// Linux's connection tracking table, when netfilter's conntrack is loaded
// (a NAT rule, Docker): it tracks loopback connections too, and keeps each
// closed one for nf_conntrack_tcp_timeout_time_wait (120 s by default). A
// full table drops new connections' SYNs, which shows as connect timeouts
// and as rates a second's SYN retry slows down: rounds of 50,000 targets
// fill the default 262,144 entries in a few rounds.
const (
	conntrackCount = "/proc/sys/net/netfilter/nf_conntrack_count"
	conntrackMax   = "/proc/sys/net/netfilter/nf_conntrack_max"
	// conntrackWaitMax bounds one wait for room: the time-wait timeout
	// and some.
	conntrackWaitMax = 150 * time.Second
)

// waitConntrack waits until the connection tracking table has room for
// need more connections and a twentieth of the table to spare, polling
// every second for at most conntrackWaitMax; without conntrack it returns
// at once. It returns a note when it gave up waiting, and an error only
// when ctx ended.
func waitConntrack(ctx context.Context, logger *slog.Logger, need int) (note string, err error) {
	count, limit, ok := readConntrack()
	if !ok || count+need+limit/20 <= limit {
		return "", nil
	}
	start := time.Now()
	logger.Info("waiting for the connection tracking table to drain", "entries", count, "max", limit, "need", need)
	deadline := time.NewTimer(conntrackWaitMax)
	defer deadline.Stop()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("bench: wait for conntrack: %w", context.Cause(ctx))
		case <-deadline.C:
			return fmt.Sprintf("started with the connection tracking table at %d of %d entries (needs %d): connections may have been dropped",
				count, limit, need), nil
		case <-tick.C:
		}
		if count, limit, ok = readConntrack(); !ok || count+need+limit/20 <= limit {
			logger.Info("connection tracking table drained", "entries", count, "waited", time.Since(start).Round(time.Second))
			return "", nil
		}
	}
}

// readConntrack returns the connection tracking table's entries and size;
// ok is false when the kernel does not track connections.
func readConntrack() (count, limit int, ok bool) {
	read := func(path string) (int, bool) {
		raw, err := os.ReadFile(path)
		if err != nil {
			return 0, false
		}
		n, err := strconv.Atoi(strings.TrimSpace(string(raw)))
		return n, err == nil && n >= 0
	}
	count, ok1 := read(conntrackCount)
	limit, ok2 := read(conntrackMax)
	return count, limit, ok1 && ok2 && limit > 0
}
