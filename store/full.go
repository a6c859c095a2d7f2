package store

import (
	"context"
	"errors"
	"fmt"
	"syscall"

	"modernc.org/sqlite"
)

// ErrFull is the error of a write refused because the store's disk is
// full. Writes wrapping it (or ENOSPC, or SQLite's SQLITE_FULL) can succeed
// once space returns: callers pause and try again, they do not fail jobs.
var ErrFull = errors.New("the store's disk is full")

// sqliteFull is SQLite's primary result code SQLITE_FULL.
const sqliteFull = 13

// IsFull reports whether err says that the store's disk is full.
func IsFull(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrFull) || errors.Is(err, syscall.ENOSPC) {
		return true
	}
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqliteFull
}

// maxPageCount is SQLite's largest max_page_count: no bound.
const maxPageCount = 4294967294

// SetMaxBytes bounds the size of the store's file: a write that would grow
// it beyond n bytes fails as on a full disk (SQLITE_FULL, IsFull). n ≤ 0
// removes the bound. A bound below the file's current size holds it at
// that size.
func (s *SQLite) SetMaxBytes(ctx context.Context, n int64) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	pages := int64(maxPageCount)
	if n > 0 {
		pages = max(1, n/pageSize)
	}
	if _, err := s.w.ExecContext(ctx, fmt.Sprintf("PRAGMA max_page_count = %d", pages)); err != nil {
		return fmt.Errorf("set the store's size bound: %w", err)
	}
	return nil
}
