package actors

import (
	"fmt"
	"slices"
	"sort"
)

// WorkerView is what a scheduling strategy sees of a worker.
type WorkerView struct {
	Name        string
	Capacity    int
	Reserved    int
	RunningJobs int
	Tags        []string
}

// Free is the worker's unreserved capacity.
func (w WorkerView) Free() int { return w.Capacity - w.Reserved }

// Strategy orders the eligible workers of a job (every one of them has room
// for it): the job is started on them in that order. Implement it to add a
// strategy and register it in Strategies.
type Strategy interface {
	Order(workers []WorkerView) []WorkerView
}

// StrategyFunc adapts a function to Strategy.
type StrategyFunc func([]WorkerView) []WorkerView

// Order implements Strategy.
func (f StrategyFunc) Order(ws []WorkerView) []WorkerView { return f(ws) }

// Strategy names (MLSQL-Cluster's).
const (
	ResourceAware = "resource-aware"
	JobCountAware = "job-count-aware"
)

// DefaultStrategies are the built-in strategies by name.
func DefaultStrategies() map[string]Strategy {
	return map[string]Strategy{
		// Most free capacity first.
		ResourceAware: StrategyFunc(func(ws []WorkerView) []WorkerView {
			sort.SliceStable(ws, func(i, j int) bool {
				if ws[i].Free() != ws[j].Free() {
					return ws[i].Free() > ws[j].Free()
				}
				return ws[i].Name < ws[j].Name
			})
			return ws
		}),
		// Fewest running jobs first.
		JobCountAware: StrategyFunc(func(ws []WorkerView) []WorkerView {
			sort.SliceStable(ws, func(i, j int) bool {
				if ws[i].RunningJobs != ws[j].RunningJobs {
					return ws[i].RunningJobs < ws[j].RunningJobs
				}
				return ws[i].Name < ws[j].Name
			})
			return ws
		}),
	}
}

// ordered runs s over a copy of eligible and keeps what it returns of
// eligible, each worker once and in its order. A strategy that returns no
// worker gets eligible's order, and workers it was not given are dropped:
// a user's strategy can neither leave a job unstarted nor start it on a
// worker without room for it.
func ordered(s Strategy, eligible []WorkerView) []WorkerView {
	given := make(map[string]bool, len(eligible))
	for _, w := range eligible {
		given[w.Name] = true
	}
	var kept []WorkerView
	for _, w := range s.Order(slices.Clone(eligible)) {
		if given[w.Name] {
			kept = append(kept, w)
			delete(given, w.Name)
		}
	}
	if len(kept) == 0 {
		return eligible
	}
	return kept
}

// sharesTag reports whether a worker may run a job with these tags: a job
// without tags runs anywhere, one with tags on workers sharing at least one.
func sharesTag(jobTags, workerTags []string) bool {
	if len(jobTags) == 0 {
		return true
	}
	for _, t := range jobTags {
		for _, w := range workerTags {
			if t == w {
				return true
			}
		}
	}
	return false
}

// strategyOf returns a job's strategy, or an error naming an unknown one.
func strategyOf(all map[string]Strategy, name string) (Strategy, error) {
	if name == "" {
		name = ResourceAware
	}
	s, ok := all[name]
	if !ok {
		return nil, fmt.Errorf("unknown strategy %q", name)
	}
	return s, nil
}
