package server

import (
	"log/slog"
	"syscall"
)

// fdReserve is how many file descriptors a node keeps for itself (store,
// API clients, logs) beyond one per concurrent request.
const fdReserve = 256

// fitCapacity raises the soft RLIMIT_NOFILE to the hard limit and returns
// the largest capacity the descriptors allow: a request holds one
// descriptor, so capacity + fdReserve must fit. A capacity above that is
// lowered, with a warning that says why.
func fitCapacity(capacity int, logger *slog.Logger) int {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		logger.Warn("cannot read the file descriptor limit; capacity not checked", "err", err)
		return capacity
	}
	if lim.Cur < lim.Max {
		raised := lim
		raised.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised); err == nil {
			lim = raised
		} else {
			logger.Warn("cannot raise the file descriptor limit", "soft", lim.Cur, "hard", lim.Max, "err", err)
		}
	}
	limit := int(min(lim.Cur, 1<<30))
	fit := limit - fdReserve
	if fit < 1 {
		fit = 1
	}
	if capacity > fit {
		logger.Warn("capacity lowered to fit the file descriptor limit",
			"capacity", capacity, "fitted", fit, "nofile", limit, "reserve", fdReserve)
		return fit
	}
	return capacity
}
