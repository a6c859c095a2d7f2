package job

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Rollout limits (docs/rollouts.md).
const (
	// MaxRolloutBatches bounds the entries of rollout.batches (the last
	// one repeats, so a long list is never needed).
	MaxRolloutBatches = 100
	// MaxRolloutPause bounds rollout.pause.
	MaxRolloutPause = 24 * time.Hour
)

// RolloutStopped is the error of a target a rollout stopped before it was
// sent: its result is skipped.
const RolloutStopped = "rollout stopped"

// Rollout runs a job's targets in consecutive batches, in target index
// order, and stops when too many fail (docs/rollouts.md). After each batch
// the failures of the whole job so far are checked against the budget:
// MaxFailures, MaxFailurePercent, either or both.
type Rollout struct {
	// Batches are the batch sizes in order: a count of targets (5) or a
	// share of the job's targets ("5%"). The last size repeats until
	// every target is done.
	Batches []BatchSize `json:"batches"`
	// Pause is the wait between the end of a batch and the start of the
	// next (0: none).
	Pause Duration `json:"pause,omitempty"`
	// MaxFailures, when set, stops the job after a batch once more than
	// this many of its targets failed.
	MaxFailures *int `json:"maxFailures,omitempty"`
	// MaxFailurePercent, when set, stops the job after a batch once its
	// failures are more than this percentage (0..100) of the targets
	// that ran so far.
	MaxFailurePercent *float64 `json:"maxFailurePercent,omitempty"`
	// Approve makes the job wait, paused, after each batch until it is
	// resumed (POST /api/v1/jobs/ID/resume).
	Approve bool `json:"approve,omitempty"`
}

// BatchSize is one entry of rollout.batches: a count ("10") or a share of
// the job's targets ("5%"). In JSON it is a number or a string.
type BatchSize string

// UnmarshalJSON reads 10, "10" or "5%".
func (b *BatchSize) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	if len(data) > 0 && data[0] == '"' {
		var s string
		if err := json.Unmarshal(data, &s); err != nil {
			return err
		}
		*b = BatchSize(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(data, &n); err != nil {
		return fmt.Errorf("rollout.batches: must be a count such as 10 or a share such as \"5%%\"")
	}
	*b = BatchSize(n.String())
	return nil
}

// MarshalJSON writes a count as a number and a share as a string.
func (b BatchSize) MarshalJSON() ([]byte, error) {
	if isIntegerText(string(b)) {
		return []byte(b), nil
	}
	return json.Marshal(string(b))
}

// parse returns the count (share 0) or the share in percent (count 0).
func (b BatchSize) parse() (count int, share float64, err error) {
	s := strings.TrimSpace(string(b))
	if p, ok := strings.CutSuffix(s, "%"); ok {
		f, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		switch {
		case err != nil || math.IsNaN(f) || math.IsInf(f, 0):
			return 0, 0, fmt.Errorf("invalid share %q (want a percentage such as \"5%%\")", string(b))
		case f <= 0:
			return 0, 0, fmt.Errorf("share %q must be above 0%%", string(b))
		case f > 100:
			return 0, 0, fmt.Errorf("share %q is above 100%%", string(b))
		}
		return 0, f, nil
	}
	n, err := strconv.Atoi(s)
	switch {
	case err != nil && isIntegerText(s):
		return 0, 0, fmt.Errorf("count %s is too large", s)
	case err != nil:
		return 0, 0, fmt.Errorf("invalid batch size %q (want a count such as 10 or a share such as \"5%%\")", string(b))
	case n < 1:
		return 0, 0, fmt.Errorf("count %d must be at least 1", n)
	}
	return n, 0, nil
}

// Size is the number of targets of a batch of this size in a job of total
// targets: the count, or the share of total rounded down (at least 1).
func (b BatchSize) Size(total int) int {
	n, share, err := b.parse()
	if err != nil {
		return 1
	}
	if share > 0 {
		n = int(math.Floor(share*float64(total)/100 + 1e-9))
	}
	return max(n, 1)
}

// normalizeRollout checks rollout and writes its sizes canonically. A
// rollout with nothing in it is refused: it would mean one batch.
func (s *Spec) normalizeRollout() error {
	r := s.Rollout
	if r == nil {
		return nil
	}
	switch {
	case len(r.Batches) == 0:
		return fieldErrorf("rollout.batches", "give at least one batch size, such as [1, \"5%%\", \"100%%\"]")
	case len(r.Batches) > MaxRolloutBatches:
		return fieldErrorf("rollout.batches", "%d sizes is more than %d (the last size repeats)", len(r.Batches), MaxRolloutBatches)
	}
	for i, b := range r.Batches {
		if _, _, err := b.parse(); err != nil {
			return fieldErrorf(fmt.Sprintf("rollout.batches[%d]", i), "%v", err)
		}
		r.Batches[i] = BatchSize(strings.ReplaceAll(strings.TrimSpace(string(b)), " ", ""))
	}
	switch {
	case r.Pause < 0:
		return fieldErrorf("rollout.pause", "must not be negative")
	case r.Pause.Std() > MaxRolloutPause:
		return fieldErrorf("rollout.pause", "%s is above the limit %s", r.Pause.Std(), MaxRolloutPause)
	}
	if r.MaxFailures != nil && *r.MaxFailures < 0 {
		return fieldErrorf("rollout.maxFailures", "must not be negative")
	}
	if p := r.MaxFailurePercent; p != nil && (*p < 0 || *p > 100 || math.IsNaN(*p)) {
		return fieldErrorf("rollout.maxFailurePercent", "%v is out of range 0..100", *p)
	}
	return nil
}

// Clone returns a deep copy of the rollout.
func (r *Rollout) Clone() *Rollout {
	if r == nil {
		return nil
	}
	c := *r
	c.Batches = append([]BatchSize(nil), r.Batches...)
	if r.MaxFailures != nil {
		v := *r.MaxFailures
		c.MaxFailures = &v
	}
	if r.MaxFailurePercent != nil {
		v := *r.MaxFailurePercent
		c.MaxFailurePercent = &v
	}
	return &c
}

// RolloutPlan is a rollout's batches over a job's targets: batch k holds
// the target indexes [From(k), To(k)). The sizes are resolved once, the
// last one repeating, so that a plan costs its list, not the job.
type RolloutPlan struct {
	ends  []int // ends[k]: the end of batch k for k < len(sizes), at most total
	last  int   // the last size, repeating
	total int
	n     int // batches
}

// Plan resolves the rollout's batches over total targets.
func (r *Rollout) Plan(total int) RolloutPlan {
	p := RolloutPlan{total: max(total, 0), last: 1}
	end := 0
	for _, b := range r.Batches {
		p.last = b.Size(total)
		if end < p.total {
			end = min(end+p.last, p.total)
			p.ends = append(p.ends, end)
		}
	}
	p.n = len(p.ends)
	if end < p.total {
		p.n += (p.total - end + p.last - 1) / p.last
	}
	if p.total == 0 {
		p.n = 0
	}
	return p
}

// Batches is the number of batches.
func (p RolloutPlan) Batches() int { return p.n }

// Total is the number of targets the plan covers.
func (p RolloutPlan) Total() int { return p.total }

// To is the end (exclusive) of batch k.
func (p RolloutPlan) To(k int) int {
	switch {
	case k < 0:
		return 0
	case k < len(p.ends):
		return p.ends[k]
	}
	base := 0
	if len(p.ends) > 0 {
		base = p.ends[len(p.ends)-1]
	}
	extra := k - len(p.ends) + 1
	if extra > (p.total-base)/p.last+1 {
		return p.total // no overflow for a k far beyond the end
	}
	return min(base+extra*p.last, p.total)
}

// From is the first index of batch k.
func (p RolloutPlan) From(k int) int { return p.To(k - 1) }

// BatchOf is the batch of target index i (0 ≤ i < total).
func (p RolloutPlan) BatchOf(i int) int {
	for k, end := range p.ends {
		if i < end {
			return k
		}
	}
	base := 0
	if len(p.ends) > 0 {
		base = p.ends[len(p.ends)-1]
	}
	return len(p.ends) + (i-base)/p.last
}

// Budget is a rollout's failure budget checked after each batch: the
// failures of the whole job so far against MaxFailures, and against
// MaxFailurePercent of the targets that ran so far (docs/rollouts.md).
type Budget struct {
	// Failures are the targets failed, error or timeout, but for those of
	// a lost worker (error class worker_lost): they do not count.
	Failures int
	// Ran are the targets that ran: ok and Failures (skipped, cancelled
	// and a lost worker's targets did not run).
	Ran int
}

// Exceeded reports whether the budget is spent, and why ("" when not).
func (r *Rollout) Exceeded(b Budget) (bool, string) {
	var why []string
	if r.MaxFailures != nil && b.Failures > *r.MaxFailures {
		why = append(why, fmt.Sprintf("more than maxFailures %d", *r.MaxFailures))
	}
	if p := r.MaxFailurePercent; p != nil && b.Ran > 0 && float64(b.Failures)*100 > *p*float64(b.Ran) {
		why = append(why, fmt.Sprintf("more than maxFailurePercent %s%%", strconv.FormatFloat(*p, 'f', -1, 64)))
	}
	return len(why) > 0, strings.Join(why, " and ")
}

// Left is how many more failures the budget takes now (the lower of the
// two limits; for the percentage, of the targets that ran so far), never
// below 0; ok is false when the rollout has no budget.
func (r *Rollout) Left(b Budget) (left int, ok bool) {
	left = math.MaxInt
	if r.MaxFailures != nil {
		left, ok = *r.MaxFailures-b.Failures, true
	}
	if p := r.MaxFailurePercent; p != nil {
		allowed := int(math.Floor(*p*float64(b.Ran)/100 + 1e-9))
		left, ok = min(left, allowed-b.Failures), true
	}
	if !ok {
		return 0, false
	}
	return max(left, 0), true
}
