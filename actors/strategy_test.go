package actors

import (
	"slices"
	"strings"
	"testing"
)

func TestStrategies(t *testing.T) {
	ws := func() []WorkerView {
		return []WorkerView{
			{Name: "a", Capacity: 100, Reserved: 90, RunningJobs: 1},
			{Name: "b", Capacity: 100, Reserved: 10, RunningJobs: 3},
			{Name: "c", Capacity: 50, Reserved: 0, RunningJobs: 0},
		}
	}
	names := func(v []WorkerView) string {
		s := ""
		for _, w := range v {
			s += w.Name
		}
		return s
	}
	all := DefaultStrategies()
	for _, tc := range []struct{ strategy, want string }{
		{ResourceAware, "bca"},
		{JobCountAware, "cab"},
		{"", "bca"},
	} {
		s, err := strategyOf(all, tc.strategy)
		if err != nil {
			t.Fatal(err)
		}
		if got := names(s.Order(ws())); got != tc.want {
			t.Errorf("%q: order %s, want %s", tc.strategy, got, tc.want)
		}
	}
	if _, err := strategyOf(all, "random"); err == nil {
		t.Error("unknown strategy accepted")
	}
}

func TestSharesTag(t *testing.T) {
	for _, tc := range []struct {
		job, worker []string
		want        bool
	}{
		{nil, nil, true},
		{nil, []string{"dc1"}, true},
		{[]string{"dc1"}, nil, false},
		{[]string{"dc1"}, []string{"dc2", "dc1"}, true},
		{[]string{"dc1", "gpu"}, []string{"dc2"}, false},
	} {
		if got := sharesTag(tc.job, tc.worker); got != tc.want {
			t.Errorf("sharesTag(%v, %v) = %v, want %v", tc.job, tc.worker, got, tc.want)
		}
	}
}

// A strategy's answer is kept to the workers it was given, each once; an
// empty answer falls back to the given order.
func TestOrderedKeepsTheEligible(t *testing.T) {
	given := []WorkerView{{Name: "a"}, {Name: "b"}, {Name: "c"}}
	tests := []struct {
		name string
		out  []WorkerView
		want string
	}{
		{"as given", given, "a,b,c"},
		{"reversed", []WorkerView{{Name: "c"}, {Name: "b"}, {Name: "a"}}, "c,b,a"},
		{"empty", nil, "a,b,c"},
		{"unknown workers", []WorkerView{{Name: "x"}, {Name: "b"}, {Name: "y"}}, "b"},
		{"only unknown", []WorkerView{{Name: "x"}}, "a,b,c"},
		{"duplicates", []WorkerView{{Name: "b"}, {Name: "b"}, {Name: "a"}}, "b,a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := StrategyFunc(func([]WorkerView) []WorkerView { return tt.out })
			var names []string
			for _, w := range ordered(s, slices.Clone(given)) {
				names = append(names, w.Name)
			}
			if got := strings.Join(names, ","); got != tt.want {
				t.Errorf("ordered = %s, want %s", got, tt.want)
			}
		})
	}
}
