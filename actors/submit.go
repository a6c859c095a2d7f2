package actors

import (
	"context"
	"io"

	"github.com/salvo-sh/salvo/internal/spool"
	"github.com/salvo-sh/salvo/job"
	"github.com/salvo-sh/salvo/store"
)

// maxLearnNames bounds the distinct target variable names SubmitStream
// keeps while it spools the targets.
const maxLearnNames = 1024

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
	// The targets' variable names, for the checker's Learn, while there
	// are few of them; past maxLearnNames the spool is read once more.
	names := map[string]string{}
	tooMany := false
	spec, n, err := job.DecodeSpecStream(r, e.cfg.ChunkSize, func(batch []job.TargetSpec) error {
		for i := range batch {
			for k := range batch[i].Vars {
				if _, ok := names[k]; !ok && !tooMany {
					names[k] = ""
					tooMany = len(names) > maxLearnNames
				}
			}
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
	if err := sp.Rewind(); err != nil {
		return nil, err
	}
	learn := func(checker *job.TargetChecker) error {
		if tooMany {
			return learnSpooled(ctx, sp, checker, e.cfg.ChunkSize)
		}
		checker.Learn(job.TargetSpec{Vars: names}) // as one target defining every name
		return nil
	}
	return e.submitFrom(ctx, spec, n, "", learn, func() ([]job.TargetSpec, error) { return sp.Read(e.cfg.ChunkSize) })
}

// submitFrom resolves and validates spec, whose targets are not in it but
// the n that next yields (a slice at a time, an empty one at the end),
// checks each target as it goes by (the target policy too), stores the
// job as a rerun of job rerunOf ("" for none) and queues it. An invalid
// target leaves nothing stored. learn, when not nil, shows the checker the
// targets' variables before the first Check when the checker needs it
// (job.TargetChecker.NeedsLearn).
func (e *Engine) submitFrom(ctx context.Context, spec *job.Spec, n int, rerunOf string, learn func(*job.TargetChecker) error, next func() ([]job.TargetSpec, error)) (*JobStatus, error) {
	if err := e.resolve(ctx, spec); err != nil {
		return nil, err
	}
	checker, err := spec.NormalizeTemplate(e.cfg.Capacity)
	if err != nil {
		return nil, err
	}
	checker.Policy = e.cfg.Policy
	if learn != nil && checker.NeedsLearn() {
		if err := learn(checker); err != nil {
			return nil, err
		}
	}
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

// learnSpooled shows every spooled target to checker.Learn: one more read
// of the spool, a chunk at a time, after which the spool is rewound.
func learnSpooled(ctx context.Context, sp *spool.Spool, checker *job.TargetChecker, chunk int) error {
	if chunk <= 0 {
		chunk = job.DefaultChunkSize
	}
	if err := sp.Rewind(); err != nil {
		return err
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		batch, err := sp.Read(chunk)
		if err != nil {
			return err
		}
		if len(batch) == 0 {
			return sp.Rewind()
		}
		for _, t := range batch {
			checker.Learn(t)
		}
	}
}
