package schedule

import (
	"context"
	"fmt"

	"github.com/salvo-sh/salvo/nodeset"
	"github.com/salvo-sh/salvo/store"
)

// The bounds of a run's changes: what one history answer may cost.
const (
	// MaxChangeScan is how many results of a run the comparison with the
	// previous run reads (in index order); past it the changes are
	// partial (ChangedHosts.Complete false).
	MaxChangeScan = 100_000
	// MaxChangedHosts is how many changed hosts are folded into
	// ChangedHosts.Folded; Count counts them all.
	MaxChangedHosts = 1000
	// ChangeSample is how many changed hosts are listed with their values.
	ChangeSample = 20
	// MaxValueGroups is how many value groups of each run are compared
	// for NewValues; MaxNewValues how many new values are listed.
	MaxValueGroups = 1000
	MaxNewValues   = 100
	// lookBack is how many older runs History reads past its page to find
	// each run's previous one (failed runs without results are passed over).
	lookBack = 10
)

// Changes is how a run's aggregation differs from the previous run's.
type Changes struct {
	// Previous is the job of the run compared against.
	Previous string `json:"previous"`
	// NewValues are the values of the run that the previous run did not
	// have (among each run's first MaxValueGroups groups by value), at most
	// MaxNewValues, most frequent first; NewValuesMore counts those left out.
	NewValues     []string `json:"newValues"`
	NewValuesMore int      `json:"newValuesMore,omitempty"`
	ChangedHosts  Changed  `json:"changedHosts"`
}

// Changed are the hosts whose value changed since the previous run.
type Changed struct {
	// Count is the number of hosts of both runs whose values differ,
	// among the run's first Scanned results.
	Count int `json:"count"`
	// Folded is the first MaxChangedHosts of them as a nodeset.
	Folded string `json:"folded"`
	// Sample lists the first ChangeSample with their values.
	Sample   []store.HostChange `json:"sample"`
	Scanned  int                `json:"scanned"`
	Complete bool               `json:"complete"`
}

// Entry is one run in a schedule's history.
type Entry struct {
	Job *store.Job
	// Changes is nil for a run not terminal, without results (a refused
	// slot), or without an earlier run to compare with.
	Changes *Changes
}

// History returns a page of schedule name's runs, the latest slot first,
// each with its changes against the run before it, and the cursor of the
// next page.
func History(ctx context.Context, st store.Store, name, cursor string, limit int) ([]Entry, string, error) {
	runs, next, err := st.ScheduleRuns(ctx, store.RunQuery{Schedule: name, Cursor: cursor, Limit: limit})
	if err != nil {
		return nil, "", err
	}
	all := runs
	if next != "" {
		older, _, err := st.ScheduleRuns(ctx, store.RunQuery{Schedule: name, Cursor: next, Limit: lookBack})
		if err != nil {
			return nil, "", err
		}
		all = append(append([]*store.Job(nil), runs...), older...)
	}
	out := make([]Entry, len(runs))
	for i, j := range runs {
		out[i].Job = j
		if !comparable(j) {
			continue
		}
		for _, p := range all[i+1:] {
			if comparable(p) {
				if out[i].Changes, err = Compare(ctx, st, j, p); err != nil {
					return nil, "", err
				}
				break
			}
		}
	}
	return out, next, nil
}

// comparable reports whether a run has results to compare: it ended, and
// it is not a refused slot.
func comparable(j *store.Job) bool {
	return store.Terminal(j.State) && j.Total > 0 && j.Spec != nil
}

// Compare computes how run cur differs from the earlier run prev: the
// values it has that prev had not, and the hosts whose value changed
// (store.Store.CompareValues, bounded by MaxChangeScan).
func Compare(ctx context.Context, st store.Store, cur, prev *store.Job) (*Changes, error) {
	c := &Changes{Previous: prev.ID, NewValues: []string{}}
	groups, err := st.Aggregate(ctx, cur.ID, store.ByValue, MaxValueGroups)
	if err != nil {
		return nil, fmt.Errorf("values of job %s: %w", cur.ID, err)
	}
	before, err := st.Aggregate(ctx, prev.ID, store.ByValue, MaxValueGroups)
	if err != nil {
		return nil, fmt.Errorf("values of job %s: %w", prev.ID, err)
	}
	had := make(map[string]bool, len(before))
	for _, g := range before {
		had[g.Value] = true
	}
	for _, g := range groups {
		if had[g.Value] {
			continue
		}
		if len(c.NewValues) < MaxNewValues {
			c.NewValues = append(c.NewValues, g.Value)
		} else {
			c.NewValuesMore++
		}
	}
	vc, err := st.CompareValues(ctx, cur.ID, prev.ID, MaxChangeScan, MaxChangedHosts)
	if err != nil {
		return nil, err
	}
	hosts := make([]string, len(vc.Changed))
	for i, h := range vc.Changed {
		hosts[i] = h.Host
	}
	c.ChangedHosts = Changed{Count: vc.Count, Folded: nodeset.Fold(hosts), Sample: vc.Changed[:min(len(vc.Changed), ChangeSample)],
		Scanned: vc.Scanned, Complete: vc.Complete}
	if c.ChangedHosts.Sample == nil {
		c.ChangedHosts.Sample = []store.HostChange{}
	}
	return c, nil
}
