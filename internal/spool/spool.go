// Package spool keeps a submitted target list in a temporary file while the
// rest of its job spec is read, so that submitting a million targets costs
// no more memory than a thousand.
package spool

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/salvo-sh/salvo/job"
)

// Spool holds a target list in a temporary file, as JSON lines (JSON
// strings escape newlines, so a target is always one line).
type Spool struct {
	f    *os.File
	w    *bufio.Writer
	r    *bufio.Reader
	line []byte // scratch for write
	buf  []job.TargetSpec
}

// New creates a spool file in dir (the system's temporary directory when
// dir is empty). The caller must Close it.
func New(dir string) (*Spool, error) {
	f, err := os.CreateTemp(dir, "salvo-targets-*.ndjson")
	if err != nil {
		return nil, fmt.Errorf("spool targets: %w", err)
	}
	return &Spool{f: f, w: bufio.NewWriterSize(f, 64<<10)}, nil
}

// Write appends a batch of targets.
func (s *Spool) Write(batch []job.TargetSpec) error {
	for i := range batch {
		var err error
		if s.line, err = batch[i].AppendJSON(s.line[:0]); err != nil {
			return fmt.Errorf("spool targets: %w", err)
		}
		s.line = append(s.line, '\n')
		if _, err := s.w.Write(s.line); err != nil {
			return fmt.Errorf("spool targets: %w", err)
		}
	}
	return nil
}

// Rewind flushes what was written and makes Read start from the first
// target.
func (s *Spool) Rewind() error {
	if err := s.w.Flush(); err != nil {
		return fmt.Errorf("spool targets: %w", err)
	}
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("spool targets: %w", err)
	}
	s.r = bufio.NewReaderSize(s.f, 64<<10)
	return nil
}

// Read returns the next n targets at most; an empty slice at the end. The
// slice is reused by the next call.
func (s *Spool) Read(n int) ([]job.TargetSpec, error) {
	s.buf = s.buf[:0]
	for len(s.buf) < n {
		line, err := s.r.ReadBytes('\n')
		if errors.Is(err, io.EOF) && len(line) == 0 {
			break
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("read spooled targets: %w", err)
		}
		var t job.TargetSpec
		if err := t.UnmarshalJSON(line); err != nil {
			return nil, fmt.Errorf("read spooled targets: %w", err)
		}
		s.buf = append(s.buf, t)
	}
	return s.buf, nil
}

// Close closes and removes the spool file.
func (s *Spool) Close() {
	_ = s.f.Close()
	_ = os.Remove(s.f.Name())
}
