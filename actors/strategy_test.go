package actors

import "testing"

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
