package actors

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/salvo-sh/salvo/commands"
	"github.com/salvo-sh/salvo/store"
)

// SubmitStream reads a JSON job spec from r and submits it like Submit, but
// never holds the target list in memory: targets are spooled to a temporary
// file as they are decoded, then checked and stored a chunk at a time once
// the rest of the spec is known. A million targets cost no more memory
// than a thousand.
func (e *Engine) SubmitStream(ctx context.Context, r io.Reader) (*JobStatus, error) {
	if !e.Accepting() {
		return nil, ErrNotAccepting
	}
	sp, err := newSpool()
	if err != nil {
		return nil, err
	}
	defer sp.close()
	spec, n, err := commands.DecodeSpecStream(r, e.cfg.ChunkSize, sp.write)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return e.Submit(ctx, spec) // a node group, or an error about targets
	}
	if spec.NodeGroup != "" {
		return nil, &commands.FieldError{Field: "targets", Msg: "give exactly one of targets and nodeGroup"}
	}
	if err := e.resolve(ctx, spec); err != nil {
		return nil, err
	}
	checker, err := spec.NormalizeTemplate(e.cfg.Capacity)
	if err != nil {
		return nil, err
	}
	if err := sp.rewind(); err != nil {
		return nil, err
	}
	index := 0
	next := func() ([]commands.TargetSpec, error) {
		batch, err := sp.read(e.cfg.ChunkSize)
		if err != nil {
			return nil, err
		}
		for _, t := range batch {
			if err := checker.Check(index, t); err != nil {
				return nil, err
			}
			index++
		}
		return batch, nil
	}
	return e.create(ctx, spec, n, func(job *store.Job) error {
		return e.st.CreateJobFrom(ctx, job, e.cfg.ChunkSize, next)
	})
}

// spool holds a target list in a temporary file, as JSON lines (JSON
// strings escape newlines, so a target is always one line).
type spool struct {
	f    *os.File
	w    *bufio.Writer
	r    *bufio.Reader
	line []byte // scratch for write
	buf  []commands.TargetSpec
}

func newSpool() (*spool, error) {
	f, err := os.CreateTemp("", "salvo-targets-*.ndjson")
	if err != nil {
		return nil, fmt.Errorf("spool targets: %w", err)
	}
	return &spool{f: f, w: bufio.NewWriterSize(f, 64<<10)}, nil
}

func (s *spool) write(batch []commands.TargetSpec) error {
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

func (s *spool) rewind() error {
	if err := s.w.Flush(); err != nil {
		return fmt.Errorf("spool targets: %w", err)
	}
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("spool targets: %w", err)
	}
	s.r = bufio.NewReaderSize(s.f, 64<<10)
	return nil
}

// read returns the next n targets at most; an empty slice at the end. The
// slice is reused by the next call.
func (s *spool) read(n int) ([]commands.TargetSpec, error) {
	s.buf = s.buf[:0]
	for len(s.buf) < n {
		line, err := s.r.ReadBytes('\n')
		if errors.Is(err, io.EOF) && len(line) == 0 {
			break
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("read spooled targets: %w", err)
		}
		var t commands.TargetSpec
		if err := t.UnmarshalJSON(line); err != nil {
			return nil, fmt.Errorf("read spooled targets: %w", err)
		}
		s.buf = append(s.buf, t)
	}
	return s.buf, nil
}

func (s *spool) close() {
	_ = s.f.Close()
	_ = os.Remove(s.f.Name())
}
