package actors

import (
	"context"
	"io"

	"github.com/salvo-sh/salvo/internal/spool"
	"github.com/salvo-sh/salvo/job"
	"github.com/salvo-sh/salvo/nodeset"
	"github.com/salvo-sh/salvo/store"
)

// maxLearnNames bounds the distinct target variable names SubmitStream
// keeps while it spools the targets.
const maxLearnNames = 1024

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
	// The targets' variable names, for the checker's Learn, while there
	// are few of them; past maxLearnNames the spool is read once more.
	names := map[string]string{}
	tooMany := false
	read, expand := 0, false
	spec, n, err := job.DecodeSpecStream(r, e.cfg.ChunkSize, func(batch []job.TargetSpec) error {
		if read+len(batch) > e.cfg.MaxTargets {
			// Refused while reading: the rest is not spooled.
			return job.TooManyTargets(e.cfg.MaxTargets, e.cfg.MaxTargets)
		}
		read += len(batch)
		for i := range batch {
			expand = expand || nodeset.IsNodeset(batch[i].Host)
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
	src := targetSource{n: n, next: func() ([]job.TargetSpec, error) { return sp.Read(e.cfg.ChunkSize) }}
	src.learn = func(checker *job.TargetChecker) error {
		if tooMany {
			return learnSpooled(ctx, sp, checker, e.cfg.ChunkSize)
		}
		checker.Learn(job.TargetSpec{Vars: names}) // as one target defining every name
		return nil
	}
	if expand || len(spec.Exclude) > 0 {
		var out *spool.Spool
		defer func() {
			if out != nil {
				out.Close()
			}
		}()
		src.expand = func(check func(int, job.TargetSpec) error) (targetSource, error) {
			o, err := spool.New("")
			if err != nil {
				return targetSource{}, err
			}
			out = o
			n, err := e.expandSpool(spec, sp, out, check)
			if err != nil {
				return targetSource{}, err
			}
			if err := out.Rewind(); err != nil {
				return targetSource{}, err
			}
			return targetSource{n: n, next: func() ([]job.TargetSpec, error) { return out.Read(e.cfg.ChunkSize) }}, nil
		}
	}
	return e.submitFrom(ctx, spec, "", src)
}

// targetSource is what submitFrom stores: the n targets next yields, a
// slice at a time (an empty one at the end).
type targetSource struct {
	n    int
	next func() ([]job.TargetSpec, error)
	// learn, when set, shows the checker the targets' variables before
	// the first Check when it needs them (job.TargetChecker.NeedsLearn).
	learn func(*job.TargetChecker) error
	// expand, when set, expands the targets (nodesets, exclude), checking
	// each expanded one with check under its index, and returns them.
	expand func(check func(int, job.TargetSpec) error) (targetSource, error)
}

// submitFrom resolves and validates spec, whose targets are not in it but
// those of src, checks each target as it goes by (the target policy too),
// stores the job as a rerun of job rerunOf ("" for none) and queues it.
// An invalid target leaves nothing stored.
func (e *Engine) submitFrom(ctx context.Context, spec *job.Spec, rerunOf string, src targetSource) (*JobStatus, error) {
	if err := e.resolve(ctx, spec); err != nil {
		return nil, err
	}
	checker, err := spec.NormalizeTemplate(e.cfg.Capacity)
	if err != nil {
		return nil, err
	}
	checker.Policy = e.cfg.Policy
	if src.learn != nil && checker.NeedsLearn() {
		if err := src.learn(checker); err != nil {
			return nil, err
		}
	}
	check := checker.Check
	if src.expand != nil {
		if src, err = src.expand(checker.Check); err != nil {
			return nil, err
		}
		check = nil // checked while expanded
	}
	index := 0
	checked := func() ([]job.TargetSpec, error) {
		batch, err := src.next()
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
	return e.create(ctx, spec, src.n, rerunOf, func(j *store.Job) error {
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
