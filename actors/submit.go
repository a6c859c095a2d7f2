package actors

import (
	"context"
	"io"

	"github.com/salvo-sh/salvo/internal/spool"
	"github.com/salvo-sh/salvo/job"
	"github.com/salvo-sh/salvo/nodeset"
	"github.com/salvo-sh/salvo/store"
)

// SubmitStream reads a JSON job spec from r and submits it like Submit, but
// never holds the target list in memory: targets are spooled to a temporary
// file as they are decoded, then checked and stored a chunk at a time once
// the rest of the spec is known. A million targets cost no more memory
// than a thousand. A list with nodesets or an exclude list is expanded
// into a second spool first (job.TargetExpander), one nodeset in memory at
// a time.
func (e *Engine) SubmitStream(ctx context.Context, r io.Reader) (*JobStatus, error) {
	if err := e.Ready(); err != nil {
		return nil, err
	}
	sp, err := spool.New("")
	if err != nil {
		return nil, err
	}
	defer sp.Close()
	read, expand := 0, false
	spec, n, err := job.DecodeSpecStream(r, e.cfg.ChunkSize, func(batch []job.TargetSpec) error {
		if read+len(batch) > e.cfg.MaxTargets {
			// Refused while reading: the rest is not spooled.
			return job.TooManyTargets(e.cfg.MaxTargets, e.cfg.MaxTargets)
		}
		read += len(batch)
		for i := 0; i < len(batch) && !expand; i++ {
			expand = nodeset.IsNodeset(batch[i].Host)
		}
		return sp.Write(batch)
	})
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return e.Submit(ctx, spec) // a node group, or an error about targets
	}
	if spec.NodeGroup != "" {
		return nil, &job.FieldError{Field: "targets", Msg: "give exactly one of targets and nodeGroup"}
	}
	if err := e.resolve(ctx, spec); err != nil {
		return nil, err
	}
	checker, err := spec.NormalizeTemplate(e.cfg.Capacity)
	if err != nil {
		return nil, err
	}
	checker.Policy = e.cfg.Policy
	if err := sp.Rewind(); err != nil {
		return nil, err
	}
	src, check := sp, checker.Check
	if expand || len(spec.Exclude) > 0 {
		out, err := spool.New("")
		if err != nil {
			return nil, err
		}
		defer out.Close()
		if n, err = e.expandSpool(spec, sp, out, checker.Check); err != nil {
			return nil, err
		}
		if err := out.Rewind(); err != nil {
			return nil, err
		}
		src, check = out, nil // checked while expanded, under their written index
	}
	index := 0
	next := func() ([]job.TargetSpec, error) {
		batch, err := src.Read(e.cfg.ChunkSize)
		if err != nil {
			return nil, err
		}
		for _, t := range batch {
			if check != nil {
				if err := check(index, t); err != nil {
					return nil, err
				}
			}
			index++
		}
		return batch, nil
	}
	return e.create(ctx, spec, n, func(j *store.Job) error {
		return e.st.CreateJobFrom(ctx, j, e.cfg.ChunkSize, next)
	})
}

// expandSpool expands the targets of in (as written) into out, checking
// each expanded target with check, and returns how many there are.
func (e *Engine) expandSpool(spec *job.Spec, in, out *spool.Spool, check func(int, job.TargetSpec) error) (int, error) {
	x, err := spec.NewTargetExpander(e.cfg.MaxTargets)
	if err != nil {
		return 0, err
	}
	buf := make([]job.TargetSpec, 0, e.cfg.ChunkSize)
	emit := func(j int, t job.TargetSpec) error {
		if err := check(j, t); err != nil {
			return err
		}
		if buf = append(buf, t); len(buf) == cap(buf) {
			err := out.Write(buf)
			buf = buf[:0]
			return err
		}
		return nil
	}
	for i := 0; ; {
		batch, err := in.Read(e.cfg.ChunkSize)
		if err != nil {
			return 0, err
		}
		if len(batch) == 0 {
			break
		}
		for _, t := range batch {
			if err := x.Expand(i, t, emit); err != nil {
				return 0, err
			}
			i++
		}
	}
	if err := out.Write(buf); err != nil {
		return 0, err
	}
	return x.Total()
}
