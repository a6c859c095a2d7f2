package job

import (
	"encoding/json"
	"strings"
	"testing"
)

func sizes(s ...string) []BatchSize {
	out := make([]BatchSize, len(s))
	for i, v := range s {
		out[i] = BatchSize(v)
	}
	return out
}

// A plan's batches are consecutive index ranges covering the targets once,
// the last size repeating; BatchOf agrees with From and To.
func TestRolloutPlan(t *testing.T) {
	for _, tc := range []struct {
		name  string
		sizes []string
		total int
		ends  []int
	}{
		{"the issue's", []string{"1", "5%", "25%", "100%"}, 100, []int{1, 6, 31, 100}},
		{"last repeats", []string{"1", "5"}, 23, []int{1, 6, 11, 16, 21, 23}},
		{"share rounds down, at least 1", []string{"1%", "50%"}, 30, []int{1, 16, 30}},
		{"covered early", []string{"10", "20", "100%"}, 25, []int{10, 25}},
		{"one batch", []string{"100%"}, 7, []int{7}},
		{"larger than the job", []string{"1000"}, 3, []int{3}},
		{"fractional share", []string{"12.5%"}, 16, []int{2, 4, 6, 8, 10, 12, 14, 16}},
		{"no targets", []string{"1"}, 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := (&Rollout{Batches: sizes(tc.sizes...)}).Plan(tc.total)
			if p.Batches() != len(tc.ends) {
				t.Fatalf("%d batches, want %d", p.Batches(), len(tc.ends))
			}
			from := 0
			for k, end := range tc.ends {
				if p.From(k) != from || p.To(k) != end {
					t.Errorf("batch %d: [%d, %d), want [%d, %d)", k, p.From(k), p.To(k), from, end)
				}
				for i := from; i < end; i++ {
					if b := p.BatchOf(i); b != k {
						t.Errorf("BatchOf(%d) = %d, want %d", i, b, k)
					}
				}
				from = end
			}
			if p.To(len(tc.ends)+5) != tc.total || p.To(1<<40) != tc.total {
				t.Errorf("To past the end: %d", p.To(len(tc.ends)+5))
			}
		})
	}
}

// The budget: over either limit stops (strictly more than it), the
// percentage is of the targets that ran, and Left is what is still
// allowed now.
func TestRolloutBudget(t *testing.T) {
	n := func(v int) *int { return &v }
	f := func(v float64) *float64 { return &v }
	for _, tc := range []struct {
		name     string
		r        Rollout
		b        Budget
		exceeded bool
		why      string
		left     int
		hasLeft  bool
	}{
		{"no budget", Rollout{}, Budget{Failures: 50, Ran: 50}, false, "", 0, false},
		{"at the count", Rollout{MaxFailures: n(10)}, Budget{Failures: 10, Ran: 100}, false, "", 0, true},
		{"over the count", Rollout{MaxFailures: n(10)}, Budget{Failures: 11, Ran: 100}, true, "more than maxFailures 10", 0, true},
		{"zero tolerance", Rollout{MaxFailures: n(0)}, Budget{Failures: 1, Ran: 1}, true, "more than maxFailures 0", 0, true},
		{"at the share", Rollout{MaxFailurePercent: f(5)}, Budget{Failures: 5, Ran: 100}, false, "", 0, true},
		{"over the share", Rollout{MaxFailurePercent: f(5)}, Budget{Failures: 6, Ran: 100}, true, "more than maxFailurePercent 5%", 0, true},
		{"share left", Rollout{MaxFailurePercent: f(20)}, Budget{Failures: 1, Ran: 30}, false, "", 5, true},
		{"nothing ran", Rollout{MaxFailurePercent: f(0)}, Budget{}, false, "", 0, true},
		{"both, the lower left", Rollout{MaxFailures: n(3), MaxFailurePercent: f(50)}, Budget{Failures: 1, Ran: 100}, false, "", 2, true},
		{"both over", Rollout{MaxFailures: n(3), MaxFailurePercent: f(2.5)}, Budget{Failures: 4, Ran: 100}, true,
			"more than maxFailures 3 and more than maxFailurePercent 2.5%", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ex, why := tc.r.Exceeded(tc.b)
			if ex != tc.exceeded || why != tc.why {
				t.Errorf("Exceeded = %v %q, want %v %q", ex, why, tc.exceeded, tc.why)
			}
			left, ok := tc.r.Left(tc.b)
			if left != tc.left || ok != tc.hasLeft {
				t.Errorf("Left = %d %v, want %d %v", left, ok, tc.left, tc.hasLeft)
			}
		})
	}
}

// A spec's rollout decodes strictly and normalises with errors naming the
// field; sizes keep their form (a count a number, a share a string).
func TestRolloutSpec(t *testing.T) {
	for _, tc := range []struct {
		name, rollout, field, msg string
	}{
		{"good", `{"batches": [1, "5%", " 25 % ", "100%"], "pause": "30s", "maxFailures": 10, "maxFailurePercent": 5, "approve": false}`, "", ""},
		{"empty list", `{"batches": []}`, "rollout.batches", "at least one"},
		{"zero", `{"batches": ["0"]}`, "rollout.batches[0]", "at least 1"},
		{"negative", `{"batches": [1, -1]}`, "rollout.batches[1]", "at least 1"},
		{"150%", `{"batches": [1, 2, "150%"]}`, "rollout.batches[2]", "above 100%"},
		{"0%", `{"batches": ["0%"]}`, "rollout.batches[0]", "above 0%"},
		{"huge", `{"batches": ["99999999999999999999"]}`, "rollout.batches[0]", "too large"},
		{"a word", `{"batches": ["all"]}`, "rollout.batches[0]", "invalid batch size"},
		{"a bool", `{"batches": [true]}`, "rollout.batches[0]", "a count"},
		{"too many", `{"batches": [` + strings.Repeat("1,", MaxRolloutBatches) + `1]}`, "rollout.batches", "more than 100"},
		{"negative pause", `{"batches": [1], "pause": -1}`, "rollout.pause", "negative"},
		{"pause too long", `{"batches": [1], "pause": "25h"}`, "rollout.pause", "above the limit"},
		{"percent over 100", `{"batches": [1], "maxFailurePercent": 100.5}`, "rollout.maxFailurePercent", "0..100"},
		{"negative count", `{"batches": [1], "maxFailures": -2}`, "rollout.maxFailures", "negative"},
		{"unknown field", `{"batches": [1], "serial": 1}`, "rollout.serial", "unknown field"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := DecodeSpec(strings.NewReader(`{"targets": ["h1"], "rollout": ` + tc.rollout + `}`))
			if err == nil {
				err = s.Normalize(0)
			}
			if tc.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				b, _ := json.Marshal(s.Rollout)
				if want := `{"batches":[1,"5%","25%","100%"],"pause":"30s","maxFailures":10,"maxFailurePercent":5}`; string(b) != want {
					t.Errorf("normalised %s, want %s", b, want)
				}
				if c := s.Clone(); c.Rollout == s.Rollout || *c.Rollout.MaxFailures != 10 || &c.Rollout.Batches[0] == &s.Rollout.Batches[0] {
					t.Error("Clone shares the rollout")
				}
				return
			}
			fe, ok := err.(*FieldError)
			if !ok || fe.Field != tc.field || !strings.Contains(fe.Msg, tc.msg) {
				t.Errorf("error %v, want %s: …%s…", err, tc.field, tc.msg)
			}
		})
	}
}
