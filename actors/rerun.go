package actors

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/salvo-sh/salvo/job"
	"github.com/salvo-sh/salvo/store"
)

// DefaultRerunStates are the result states Rerun takes when given none:
// the targets that failed.
var DefaultRerunStates = []string{job.StateFailed, job.StateError, job.StateTimeout}

// RerunError says why a job cannot be rerun: it is not finished, its
// record lacks the secrets it ran with, or no target is in the states
// asked for (the API's 409).
type RerunError struct{ Msg string }

func (e *RerunError) Error() string { return e.Msg }

// rerunSuffix ends the name of a rerun: "NAME (rerun of ID)".
const rerunSuffix = " (rerun of "

// Rerun submits a new job with the stored spec of the finished job id over
// the targets whose results are in one of states (DefaultRerunStates when
// none), each with its variables, in their order. The new job is named
// "NAME (rerun of ID)" and its record links to id (store.Job.RerunOf). It
// is checked and stored as any submit is (submitFrom): the node's
// credentials, the caller's path authority and the target policy apply as
// they are now.
//
// It returns store.ErrNotFound for an unknown job, a *job.FieldError
// naming states for an unknown state, and a *RerunError when the job is
// not finished, was submitted with secrets its record does not keep (a
// credential the server keeps, named by ssh.credential, is no such
// secret), or has no target in those states.
func (e *Engine) Rerun(ctx context.Context, id string, states []string) (*JobStatus, error) {
	if err := e.Ready(); err != nil {
		return nil, err
	}
	if len(states) == 0 {
		states = DefaultRerunStates
	}
	for _, st := range states {
		if !slices.Contains(job.ResultStates, st) {
			return nil, &job.FieldError{Field: "states", Msg: fmt.Sprintf("unknown result state %q (one of %s)", st, strings.Join(job.ResultStates, ", "))}
		}
	}
	j, err := e.st.GetJob(ctx, id)
	if err != nil {
		return nil, err
	}
	switch {
	case !store.Terminal(j.State):
		return nil, &RerunError{Msg: fmt.Sprintf("job %s is %s: rerun it once it has ended (or cancel it first)", id, j.State)}
	case j.SecretsRedacted:
		return nil, &RerunError{Msg: fmt.Sprintf("job %s was submitted with secrets (a password, a passphrase, a secret header or variable) that the server does not keep, so it cannot be rerun from its record: submit it again with them, or keep SSH secrets in a server credential (ssh.credential)", id)}
	case j.Spec == nil:
		return nil, &RerunError{Msg: fmt.Sprintf("job %s has no stored spec", id)}
	}
	want := make(map[string]bool, len(states))
	for _, st := range states {
		want[st] = true
	}
	// The indexes of the targets to run again, in index order: 8 bytes
	// a target, where the targets themselves are read a chunk at a time.
	var indexes []int
	err = e.st.ScanValues(ctx, id, func(r store.ValueRow) error {
		if want[r.State] {
			indexes = append(indexes, r.Index)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read the results of job %s: %w", id, err)
	}
	if len(indexes) == 0 {
		return nil, &RerunError{Msg: fmt.Sprintf("job %s has no target in state %s: nothing to rerun", id, strings.Join(states, ", "))}
	}
	chunks, err := e.st.ChunkCount(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("count the chunks of job %s: %w", id, err)
	}
	spec := j.Spec.Clone()
	spec.Name = rerunName(j.Name, id)
	spec.Targets, spec.NodeGroup, spec.Exclude = nil, "", nil // the chosen targets are expanded already
	// No Learn: the first job was accepted only if every target defines
	// each variable some target defines, so the chosen ones do too and the
	// plan expands the same names on every host.
	return e.submitFrom(ctx, spec, id, targetSource{n: len(indexes), next: chosenTargets(ctx, e.st, id, chunks, indexes)})
}

// rerunName is the name of a rerun of job id named name: a rerun of a
// rerun is named after the first job's name, not a chain.
func rerunName(name, id string) string {
	if i := strings.Index(name, rerunSuffix); i >= 0 && strings.HasSuffix(name, ")") {
		name = name[:i]
	}
	if name == "" {
		return "rerun of " + id
	}
	return name + rerunSuffix + id + ")"
}

// chosenTargets returns a CreateJobFrom next function that yields the
// targets of job id at the given indexes (ascending), read from its
// chunks one at a time. It fails when an index has no target.
func chosenTargets(ctx context.Context, st store.Store, id string, chunks int, indexes []int) func() ([]job.TargetSpec, error) {
	chunk, i, found := 0, 0, 0
	return func() ([]job.TargetSpec, error) {
		for i < len(indexes) && chunk < chunks {
			ts, err := st.Chunk(ctx, id, chunk)
			if err != nil {
				return nil, fmt.Errorf("read the targets of job %s: %w", id, err)
			}
			chunk++
			var out []job.TargetSpec
			for _, t := range ts {
				for i < len(indexes) && indexes[i] < t.Index {
					i++ // no target at that index: told at the end
				}
				if i < len(indexes) && indexes[i] == t.Index {
					out = append(out, t.Target)
					i++
				}
			}
			if len(out) > 0 {
				found += len(out)
				return out, nil
			}
		}
		if found != len(indexes) {
			return nil, fmt.Errorf("job %s: %d of the %d targets to rerun are not stored", id, len(indexes)-found, len(indexes))
		}
		return nil, nil
	}
}
