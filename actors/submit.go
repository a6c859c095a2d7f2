package actors

import (
	"context"
	"io"

	"github.com/salvo-sh/salvo/internal/spool"
	"github.com/salvo-sh/salvo/job"
	"github.com/salvo-sh/salvo/store"
)

// SubmitStream reads a JSON job spec from r and submits it like Submit, but
// never holds the target list in memory: targets are spooled to a temporary
// file as they are decoded, then checked and stored a chunk at a time once
// the rest of the spec is known. A million targets cost no more memory
// than a thousand.
func (e *Engine) SubmitStream(ctx context.Context, r io.Reader) (*JobStatus, error) {
	if err := e.Ready(); err != nil {
		return nil, err
	}
	sp, err := spool.New("")
	if err != nil {
		return nil, err
	}
	defer sp.Close()
	spec, n, err := job.DecodeSpecStream(r, e.cfg.ChunkSize, sp.Write)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return e.Submit(ctx, spec) // a node group, or an error about targets
	}
	if spec.NodeGroup != "" {
		return nil, &job.FieldError{Field: "targets", Msg: "give exactly one of targets and nodeGroup"}
	}
	if err := sp.Rewind(); err != nil {
		return nil, err
	}
	return e.submitFrom(ctx, spec, n, "", func() ([]job.TargetSpec, error) { return sp.Read(e.cfg.ChunkSize) })
}

// submitFrom resolves and validates spec, whose targets are not in it but
// the n that next yields (a slice at a time, an empty one at the end),
// checks each target as it goes by (the target policy too), stores the
// job as a rerun of job rerunOf ("" for none) and queues it. An invalid
// target leaves nothing stored.
func (e *Engine) submitFrom(ctx context.Context, spec *job.Spec, n int, rerunOf string, next func() ([]job.TargetSpec, error)) (*JobStatus, error) {
	if err := e.resolve(ctx, spec); err != nil {
		return nil, err
	}
	checker, err := spec.NormalizeTemplate(e.cfg.Capacity)
	if err != nil {
		return nil, err
	}
	checker.Policy = e.cfg.Policy
	index := 0
	checked := func() ([]job.TargetSpec, error) {
		batch, err := next()
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
	return e.create(ctx, spec, n, rerunOf, func(j *store.Job) error {
		return e.st.CreateJobFrom(ctx, j, e.cfg.ChunkSize, checked)
	})
}
