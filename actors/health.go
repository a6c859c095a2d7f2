package actors

import (
	"fmt"
	"sync"
	"time"

	"github.com/salvo-sh/salvo/store"
)

// StoreHealth is what the master's writer knows of the store: whether its
// writes are paused because the disk is full. The writer sets it; the
// engine reads it for readiness and to refuse submits. Safe for concurrent
// use.
type StoreHealth struct {
	mu    sync.Mutex
	full  bool
	since time.Time
	cause string
}

// setFull records that writes fail for lack of space; it reports whether
// that is new.
func (h *StoreHealth) setFull(err error) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.full {
		return false
	}
	h.full, h.since, h.cause = true, time.Now().UTC(), err.Error()
	return true
}

// clear records that writes succeed; it reports whether they did not
// before.
func (h *StoreHealth) clear() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	was := h.full
	h.full, h.since, h.cause = false, time.Time{}, ""
	return was
}

// Err returns nil while the store takes writes, and an error wrapping
// store.ErrFull, with since when and the store's own words, while they are
// paused for lack of space.
func (h *StoreHealth) Err() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.full {
		return nil
	}
	return fmt.Errorf("%w since %s (%s): writes are paused and resume by themselves when space returns",
		store.ErrFull, h.since.Format(time.RFC3339), h.cause)
}
