package job

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/salvo-sh/salvo/nodeset"
)

// TargetExpander turns a job's target list as written into the list the
// job runs, a target at a time: a target whose host is a nodeset
// ("web-[1-3]", "a,b", "web-[1-10]!web-5") becomes one target per host,
// each with the written target's vars; then every target whose host, as
// written once expanded, is a host of the spec's exclude list is left
// out. The targets that stay are numbered densely from 0. A job has at
// most a ceiling of targets, counted once expanded and before the exclude
// list: a target past it is refused, naming it (docs/ssh.md, "Nodesets").
type TargetExpander struct {
	limit   int
	exclude *nodeset.Set
	counted int // targets toward the ceiling
	n       int // targets kept
}

// NewTargetExpander returns the expander of s's targets with ceiling
// limit (DefaultMaxTargets when limit <= 0). A bad exclude entry is a
// *FieldError naming exclude[i]; the exclude list may name at most limit
// hosts.
func (s *Spec) NewTargetExpander(limit int) (*TargetExpander, error) {
	if limit <= 0 {
		limit = DefaultMaxTargets
	}
	x := &TargetExpander{limit: limit}
	if len(s.Exclude) > 0 {
		x.exclude = nodeset.NewSet(limit)
		for i, p := range s.Exclude {
			if err := x.exclude.Add(p); err != nil {
				return nil, fieldErrorf("exclude["+strconv.Itoa(i)+"]", "%v", err)
			}
		}
	}
	return x, nil
}

// Expand hands emit the targets that target i of the written list gives,
// each with its index in the expanded list. A bad nodeset or one past the
// ceiling is a *FieldError naming targets[i]; an error of emit is
// returned as it is, but for a *FieldError naming the target by its
// expanded index, which is renamed to targets[i], the field as written.
func (x *TargetExpander) Expand(i int, ts TargetSpec, emit func(index int, t TargetSpec) error) error {
	if !nodeset.IsNodeset(ts.Host) {
		if x.counted >= x.limit {
			return x.ceilingError(i)
		}
		x.counted++
		if x.exclude.Has(ts.Host) {
			return nil
		}
		return x.emit(i, ts, emit)
	}
	room := x.limit - x.counted
	if room < 1 {
		return x.ceilingError(i)
	}
	hosts, err := nodeset.Expand(ts.Host, room)
	if errors.Is(err, nodeset.ErrLimit) {
		return x.ceilingError(i)
	}
	if err != nil {
		return fieldErrorf(targetField(i), "%v", err)
	}
	x.counted += len(hosts)
	for _, h := range hosts {
		if x.exclude.Has(h) {
			continue
		}
		// The vars map is shared: nothing writes a target's vars.
		if err := x.emit(i, TargetSpec{Host: h, Vars: ts.Vars}, emit); err != nil {
			return err
		}
	}
	return nil
}

func (x *TargetExpander) emit(i int, t TargetSpec, emit func(int, TargetSpec) error) error {
	j := x.n
	x.n++
	err := emit(j, t)
	var fe *FieldError
	if i != j && errors.As(err, &fe) {
		if rest, ok := strings.CutPrefix(fe.Field, targetField(j)); ok && (rest == "" || rest[0] == '.') {
			return &FieldError{Field: targetField(i) + rest, Msg: fe.Msg}
		}
	}
	return err
}

func (x *TargetExpander) ceilingError(i int) error { return TooManyTargets(i, x.limit) }

// TooManyTargets is the error of target i, written or expanded past the
// ceiling of limit targets.
func TooManyTargets(i, limit int) *FieldError {
	return fieldErrorf(targetField(i), "the job would have more than %d targets (the ceiling: salvo server --max-targets)", limit)
}

// Total returns the number of targets kept; none is a *FieldError: every
// target excluded.
func (x *TargetExpander) Total() (int, error) {
	if x.n == 0 && x.counted > 0 {
		return 0, fieldErrorf("exclude", "excludes every one of the job's %d targets", x.counted)
	}
	return x.n, nil
}

// NeedsExpansion reports whether s's targets as written are not those it
// runs: one is a nodeset, or the spec excludes some, or they are more
// than limit (DefaultMaxTargets when limit <= 0).
func (s *Spec) NeedsExpansion(limit int) bool {
	if limit <= 0 {
		limit = DefaultMaxTargets
	}
	if len(s.Exclude) > 0 || len(s.Targets) > limit {
		return true
	}
	for _, t := range s.Targets {
		if nodeset.IsNodeset(t.Host) {
			return true
		}
	}
	return false
}

// ExpandTargets replaces s's targets by the expanded list
// (TargetExpander) with ceiling limit (DefaultMaxTargets when limit <=
// 0), handing each expanded target and its index to check unless it is
// nil. Errors are *FieldError, or check's.
func (s *Spec) ExpandTargets(limit int, check func(int, TargetSpec) error) error {
	if !s.NeedsExpansion(limit) {
		if check != nil {
			for i, t := range s.Targets {
				if err := check(i, t); err != nil {
					return err
				}
			}
		}
		return nil
	}
	x, err := s.NewTargetExpander(limit)
	if err != nil {
		return err
	}
	out := make([]TargetSpec, 0, min(len(s.Targets), x.limit))
	for i, ts := range s.Targets {
		if err := x.Expand(i, ts, func(j int, t TargetSpec) error {
			if check != nil {
				if err := check(j, t); err != nil {
					return err
				}
			}
			out = append(out, t)
			return nil
		}); err != nil {
			return err
		}
	}
	if _, err := x.Total(); err != nil {
		return err
	}
	s.Targets = out
	return nil
}

// ParseCheck returns a check for ExpandTargets that parses each target
// for protocol (ParseTarget), naming targets[i] in its error: the form
// alone, without the spec's templates and policy (TargetChecker).
func ParseCheck(protocol string) func(int, TargetSpec) error {
	return func(i int, t TargetSpec) error {
		if _, err := ParseTarget(t.Host, protocol); err != nil {
			return fieldErrorf(targetField(i), "%v", err)
		}
		return nil
	}
}

func targetField(i int) string { return fmt.Sprintf("targets[%d]", i) }
