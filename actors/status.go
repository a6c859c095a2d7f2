package actors

import (
	"encoding/json"
	"time"

	"github.com/salvo-sh/salvo/job"
	"github.com/salvo-sh/salvo/store"
)

// StateCancelling is the state a job's status shows between a cancel and
// its end: no new request starts, requests in flight finish, and the
// targets without a result are then stored cancelled. It is never stored.
const StateCancelling = "cancelling"

// JobStatus is a job's status and progress (docs/design.md §4).
type JobStatus struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	State    string `json:"state"`
	Reason   string `json:"reason,omitempty"`
	Protocol string `json:"protocol"`
	// Ran says what the job runs (RanOf).
	Ran *Ran `json:"ran,omitempty"`
	// RerunOf is the id of the job this one reruns (Engine.Rerun).
	RerunOf string         `json:"rerunOf,omitempty"`
	Total   int            `json:"total"`
	Sent    int64          `json:"sent"`
	Done    int            `json:"done"`
	Counts  map[string]int `json:"counts"`
	// Workers holds per-worker figures, keyed by worker node name.
	Workers        map[string]WorkerStatus `json:"workers"`
	MaxConcurrency int                     `json:"maxConcurrency"`
	CreatedAt      time.Time               `json:"createdAt"`
	StartedAt      *time.Time              `json:"startedAt,omitempty"`
	FinishedAt     *time.Time              `json:"finishedAt,omitempty"`
	// Rate is targets stored per second since the job started.
	Rate float64 `json:"rate"`
	// Rollout is the progress of a job with a rollout (rollout.go).
	Rollout *RolloutStatus `json:"rollout,omitempty"`
	// Warnings say what went wrong on the way to an answer that still
	// stands: a cancel decided by the master that some worker could not
	// be told of; in a submit's answer, what the spec most likely does
	// not mean (job.Spec.Warnings).
	Warnings []string `json:"warnings,omitempty"`

	// Schedule names the schedule whose run the job is, Slot the time it
	// runs for, Manual a run asked for outside the slots (ScheduleRun).
	Schedule string     `json:"schedule,omitempty"`
	Slot     *time.Time `json:"slot,omitempty"`
	Manual   bool       `json:"manual,omitempty"`
}

// WorkerStatus is one worker's share of a job.
type WorkerStatus struct {
	Requests    int64 `json:"requests"`
	Responses   int64 `json:"responses"`
	Concurrency int   `json:"concurrency"`
	InFlight    int   `json:"inFlight"`
}

// Terminal reports whether the job will not change again.
func (s *JobStatus) Terminal() bool { return store.Terminal(s.State) }

// StatusFromJob builds the status of a job that is not running from its stored record.
func StatusFromJob(j *store.Job) *JobStatus {
	s := &JobStatus{
		ID:        j.ID,
		Name:      j.Name,
		State:     j.State,
		Reason:    j.Reason,
		Total:     j.Total,
		Counts:    fullCounts(j.Counts),
		Workers:   map[string]WorkerStatus{},
		CreatedAt: j.CreatedAt,
		Ran:       RanOf(j),
		RerunOf:   j.RerunOf,
		Schedule:  j.Schedule,
		Manual:    j.Manual,
	}
	if j.Schedule != "" {
		t := j.Slot
		s.Slot = &t
	}
	for name, wc := range j.Workers {
		s.Workers[name] = WorkerStatus{Requests: wc.Requests, Responses: wc.Responses}
	}
	if len(j.Rollout) > 0 {
		var rs RolloutStatus
		if err := json.Unmarshal(j.Rollout, &rs); err == nil {
			s.Rollout = &rs
		}
	}
	if j.Spec != nil {
		s.Protocol = j.Spec.Protocol
		s.MaxConcurrency = j.Spec.MaxConcurrency
	}
	for _, n := range s.Counts {
		s.Done += n
	}
	s.Sent = int64(s.Done - s.Counts[job.StateSkipped] - s.Counts[job.StateCancelled])
	if !j.StartedAt.IsZero() {
		t := j.StartedAt
		s.StartedAt = &t
	}
	if !j.FinishedAt.IsZero() {
		t := j.FinishedAt
		s.FinishedAt = &t
	}
	s.Rate = jobRate(s.Done, j.StartedAt, j.FinishedAt)
	return s
}

// fullCounts returns counts with every result state present.
func fullCounts(c map[string]int) map[string]int {
	out := make(map[string]int, len(job.ResultStates))
	for _, st := range job.ResultStates {
		out[st] = c[st]
	}
	return out
}

func jobRate(done int, started, finished time.Time) float64 {
	if started.IsZero() || done == 0 {
		return 0
	}
	end := finished
	if end.IsZero() {
		end = time.Now()
	}
	d := end.Sub(started).Seconds()
	if d <= 0 {
		return 0
	}
	return float64(done) / d
}
