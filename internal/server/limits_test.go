package server

import (
	"io"
	"log/slog"
	"syscall"
	"testing"
)

func TestFitCapacity(t *testing.T) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Skip(err)
	}
	max := int(lim.Max) - fdReserve
	for _, tc := range []struct{ in, want int }{
		{100, 100},
		{max, max},
		{max + 1, max},
		{10 * max, max},
	} {
		if got := fitCapacity(tc.in, logger); got != tc.want {
			t.Errorf("fitCapacity(%d) = %d, want %d (hard limit %d)", tc.in, got, tc.want, lim.Max)
		}
	}
}
