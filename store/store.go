// Package store persists jobs, their target lists, results and named
// definitions behind one interface. The embedded default is SQLite
// (modernc.org/sqlite, WAL, one batched writer).
package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/salvo-sh/salvo/job"
)

// Sentinel errors.
var (
	// ErrNotFound is returned when a job or definition does not exist.
	ErrNotFound = errors.New("not found")
	// ErrClosed is returned by every call after Close.
	ErrClosed = errors.New("store closed")
	// ErrNotLeader is returned by a replicated store's writes on a master
	// that is not the Raft leader (docs/ha.md).
	ErrNotLeader = errors.New("this master is not the raft leader")
	// ErrNotFinished is returned by DeleteJob for a job that is not in a
	// terminal state.
	ErrNotFinished = errors.New("job not finished")
	// ErrSlotTaken is returned by a job's creation when its schedule's slot
	// already has a job (Job.Schedule, Job.Slot, Job.Manual): a slot runs
	// once, whichever master decides it first through the log
	// (docs/schedules.md).
	ErrSlotTaken = errors.New("the schedule's slot already has a job")
)

// Job states (docs/design.md §4).
const (
	JobWaiting             = "waiting"
	JobProcessing          = "processing"
	JobFinishedNotGathered = "finishedNotGathered"
	// JobPaused: no new lease is granted until the job is resumed (a
	// rollout waiting for approval, or POST /api/v1/jobs/ID/pause); leases
	// in flight finish. It is not terminal.
	JobPaused    = "paused"
	JobGathered  = "gathered"
	JobCancelled = "cancelled"
	JobFailed    = "failed"
)

// JobStates lists every job state.
var JobStates = []string{JobWaiting, JobProcessing, JobFinishedNotGathered, JobPaused, JobGathered, JobCancelled, JobFailed}

// Terminal reports whether a job in this state will not change again.
func Terminal(state string) bool {
	return state == JobGathered || state == JobCancelled || state == JobFailed
}

// Job is a job's stored record.
type Job struct {
	ID   string
	Name string
	Spec *job.Spec // secrets redacted, Targets nil (they live in chunks)
	// SecretsRedacted records that the submitted spec carried secrets
	// (passwords, passphrases, secret headers or vars) that the stored
	// Spec lacks: the job cannot run again from its record alone.
	SecretsRedacted bool
	State           string
	// Reason explains a waiting or failed state.
	Reason string
	Total  int
	Counts map[string]int // result state → count (as of the last UpdateJob)
	// Workers holds each worker's requests and responses, by node name.
	Workers    map[string]WorkerCount
	CreatedAt  time.Time
	StartedAt  time.Time // zero until processing
	FinishedAt time.Time // zero until terminal
	// SubmittedBy names the token that submitted the job; "" without
	// authentication.
	SubmittedBy string
	// RerunOf is the id of the job this one reruns (POST
	// /api/v1/jobs/ID/rerun); "" for none.
	RerunOf string
	// Rollout is the progress of a rollout job as JSON (the status's
	// rollout, actors.RolloutStatus), written with the job's record; nil
	// for a job without a rollout. The store keeps it as it is.
	Rollout []byte
	// Schedule names the schedule whose run the job is ("" for none),
	// Slot the time it runs for (a cron slot, or the time of a manual
	// run), Manual a run asked for outside the slots (POST
	// /api/v1/schedules/NAME/run). A schedule has one job per (Slot,
	// Manual): a second is refused with ErrSlotTaken.
	Schedule string
	Slot     time.Time
	Manual   bool
}

// WorkerCount is one worker's share of a job.
type WorkerCount struct {
	Requests  int64 `json:"requests"`
	Responses int64 `json:"responses"`
}

// ResultQuery selects a page of a job's results.
type ResultQuery struct {
	// States are result states a result may be in (any of them); none
	// selects every state.
	States []string
	Host   string // exact host, or ""
	Q      string // substring of body, stderr, error or value, or ""
	Cursor int    // return results with index > Cursor-1; 0 for the first page
	Limit  int    // at most this many (caller bounds it)
}

// JobQuery selects a page of jobs, newest first.
type JobQuery struct {
	State string
	// Name keeps the jobs of exactly this name ("" any).
	Name string
	// Q keeps the jobs whose name, id, SSH command or HTTP path (without
	// its query) contains Q, ASCII case-insensitively ("" any). No index
	// serves it: the page is filled by reading jobs newest first.
	Q string
	// Schedule keeps the runs of exactly this schedule ("" any).
	Schedule string
	Cursor   string // opaque, from the previous page
	Limit    int
}

// RunQuery selects a page of a schedule's runs, the latest slot first.
type RunQuery struct {
	Schedule string
	// Slots leaves out the manual runs.
	Slots  bool
	Cursor string // opaque, from the previous page
	Limit  int
}

// HostChange is a host whose value differs between two jobs.
type HostChange struct {
	Host string `json:"host"`
	From string `json:"from"`
	To   string `json:"to"`
}

// ValueChanges is what CompareValues finds between a job and an earlier
// one.
type ValueChanges struct {
	// Changed lists the first changed hosts, by index in the job.
	Changed []HostChange
	// Count is how many changed hosts the scan found (Changed may list
	// fewer).
	Count int
	// Scanned is how many of the job's results the scan read; Complete
	// says it read them all.
	Scanned  int
	Complete bool
}

// MaxJobQuery bounds JobQuery.Name and JobQuery.Q, in bytes.
const MaxJobQuery = 256

// DeleteBatch is how many results one step of DeleteJob deletes (and, in
// target chunks, how many targets): each step is a transaction of its own,
// so that the writer is never held long and other writes go on between
// steps, and, in a Raft group, one log entry.
const DeleteBatch = 10_000

// Group is one aggregation bucket. The store lists hosts; folding them for
// display is the API's business.
type Group struct {
	// Value names the group: the key's value (for ByBody the output, for
	// ByStderr the stderr, "[error: connect_refused]" for results without
	// an answer).
	Value string `json:"value"`
	// Count is the number of results of the group (its hosts' total).
	Count int `json:"count"`
	// Hosts are the hosts of the group's first MaxGroupHosts results, by index.
	Hosts []string `json:"hosts"`
	// Indexes are the result indexes of Hosts, in the same order. The
	// first names the group for GroupQuery.Of.
	Indexes []int `json:"indexes,omitempty"`
	// NextCursor is the index of the group's first result after Hosts, the
	// GroupQuery.Cursor of the rest of its hosts; 0 when Hosts lists them all.
	NextCursor int `json:"nextCursor,omitempty"`
	// IsError is true when the group's results have no response.
	IsError bool `json:"isError"`

	// State, StatusCode (HTTP), ExitCode (SSH) and ErrorClass are the
	// outcome every result of a ByBody group shares; unset for other keys.
	State      string `json:"state,omitempty"`
	StatusCode int    `json:"statusCode,omitempty"`
	ExitCode   *int   `json:"exitCode,omitempty"`
	ErrorClass string `json:"errorClass,omitempty"`
	// Stderr splits a ByBody group by stderr: sub-groups whose Value is
	// the stderr, largest first, at most MaxStderrGroups of them, each with
	// its hosts as a group has (GroupQuery.SameStderr pages the rest).
	Stderr []Group `json:"stderr,omitempty"`
	// StderrMore is the number of the group's results in the sub-groups
	// left out of Stderr, StderrMoreGroups the number of those sub-groups
	// (distinct stderr outputs): ByStderr shows them all.
	StderrMore       int `json:"stderrMore,omitempty"`
	StderrMoreGroups int `json:"stderrMoreGroups,omitempty"`
}

// GroupQuery selects a page of the results of one aggregation group.
type GroupQuery struct {
	By string // ByValue, ByStatus, ByErrorClass, ByBody or ByStderr
	// Value is the group's value as Aggregate names it. Of a ByBody group
	// it names the results with that output whatever their outcome: the
	// group itself is named by Of.
	Value string
	// Of, when set, names the group by the index of one of its results
	// (its Group.Indexes[0]) instead of by Value.
	Of *int
	// SameStderr, with ByBody and Of, narrows the group to the results
	// whose stderr is result Of's too: one of its Group.Stderr.
	SameStderr bool
	Cursor     int // results with index ≥ Cursor; 0 for the first page
	Limit      int // at most this many (DefaultResultLimit when ≤ 0)
}

// Aggregation keys.
const (
	ByValue      = "value"
	ByStatus     = "status"
	ByErrorClass = "errorClass"
	// ByBody groups by output and outcome: two results share a group when
	// they have the same body, state, status or exit code and error class.
	ByBody = "body"
	// ByStderr groups by stderr alone.
	ByStderr = "stderr"
)

// MaxGroupHosts is how many hosts a Group lists in Hosts: an aggregation's
// answer does not grow with the job. GroupResults pages the rest.
const MaxGroupHosts = 1000

// MaxStderrGroups is how many stderr sub-groups a ByBody Group lists.
const MaxStderrGroups = 20

// MaxGroupScan is how many indexes a GroupResults page reads at most: a
// group's results are found by reading the job in index order (no index
// on the group keys, which would slow every insert), so a page of a sparse
// group stops there, short, with a cursor to go on from.
const MaxGroupScan = 100_000

// Definition kinds.
const (
	KindNodeGroup   = "nodegroup"
	KindCommand     = "command"
	KindAggregation = "aggregation"
	KindHeaderSet   = "headerset"
	// KindCredential is an SSH credential; its password is sealed
	// (auth.Sealer) before it is stored.
	KindCredential = "credential"
	// KindSchedule is a schedule (schedule.Definition), KindScheduleState
	// the last slot its scheduler decided (docs/schedules.md).
	KindSchedule      = "schedule"
	KindScheduleState = "schedulestate"
)

// Store is the persistence layer. Every method is safe for concurrent use.
type Store interface {
	// CreateJob stores a new job and its targets, cut into chunks of
	// chunkSize targets (chunk n holds indexes [n*chunkSize, (n+1)*chunkSize)).
	CreateJob(ctx context.Context, j *Job, targets []job.TargetSpec, chunkSize int) error
	// CreateJobFrom is CreateJob for a target list that need not fit in
	// memory: next yields the targets in order, a slice at a time, and nil
	// at the end. job.Total, when 0, is set to the number of targets. An error from
	// next (for example an invalid target) leaves nothing stored.
	CreateJobFrom(ctx context.Context, j *Job, chunkSize int, next func() ([]job.TargetSpec, error)) error
	// UpdateJob writes the job's state, reason, counts and times.
	UpdateJob(ctx context.Context, j *Job) error
	// GetJob returns a job by id, or ErrNotFound.
	GetJob(ctx context.Context, id string) (*Job, error)
	// ListJobs returns jobs newest first and the cursor of the next page ("" at the end).
	ListJobs(ctx context.Context, q JobQuery) ([]*Job, string, error)
	// Unfinished returns every job not in a terminal state, oldest first.
	Unfinished(ctx context.Context) ([]*Job, error)
	// DeleteJob deletes a terminal job with its target chunks, results
	// and cached aggregates, DeleteBatch rows at a time (results first,
	// the job's row last: a delete cut short leaves a smaller job that a
	// new DeleteJob finishes). It returns ErrNotFound for an unknown job
	// and ErrNotFinished for one not terminal.
	DeleteJob(ctx context.Context, id string) error
	// ExpiredJobs returns at most limit terminal jobs finished before
	// before (created before it, for one without a finished time), the
	// oldest first.
	ExpiredJobs(ctx context.Context, before time.Time, limit int) ([]*Job, error)
	// ChunkCount is the number of target chunks of a job.
	ChunkCount(ctx context.Context, jobID string) (int, error)
	// Chunk returns chunk n of a job's targets with their indexes.
	Chunk(ctx context.Context, jobID string, n int) ([]job.IndexedTarget, error)

	// PutResults stores results of a job. A result whose (job, index) is
	// already stored is ignored. It returns how many of each state were
	// newly stored.
	PutResults(ctx context.Context, jobID string, results []job.Result) (map[string]int, error)
	// StoredIndexes returns the set of indexes in [lo, hi) that have a result.
	StoredIndexes(ctx context.Context, jobID string, lo, hi int) (map[int]bool, error)
	// CountResults returns the stored results of a job per state.
	CountResults(ctx context.Context, jobID string) (map[string]int, error)
	// Results returns a page of results ordered by index, and the cursor of
	// the next page (0 at the end).
	Results(ctx context.Context, jobID string, q ResultQuery) ([]job.Result, int, error)
	// Aggregate groups a job's results by a key (ByValue, ByStatus,
	// ByErrorClass, ByBody, ByStderr), largest group first (ByBody: failed
	// outcomes first), at most limit groups, each with its first
	// MaxGroupHosts hosts.
	Aggregate(ctx context.Context, jobID, by string, limit int) ([]Group, error)
	// GroupResults returns a page of the results of one aggregation group
	// in index order, without bodies, and the cursor of the next page (0 at
	// the end). A page reads at most MaxGroupScan indexes: it may hold fewer
	// than q.Limit results, even none, and still have a next page.
	GroupResults(ctx context.Context, jobID string, q GroupQuery) ([]ValueRow, int, error)

	// ResultSummary counts a job's answered results per worker and returns
	// the time of the last answer (REST Commander's queryJobInfo).
	ResultSummary(ctx context.Context, jobID string) (ResultSummary, error)
	// RateSeries counts a job's answered results by the time they finished,
	// in q.Buckets consecutive spans of q.Step from q.From (the dashboard's
	// rate chart of a finished job). A result before the first span counts
	// in it, one after the last in the last.
	RateSeries(ctx context.Context, jobID string, q RateQuery) ([]int, error)
	// ScanValues calls fn for every result of a job in index order with its
	// index, host, state, error class and value, without reading bodies. It
	// stops at fn's first error and returns it.
	ScanValues(ctx context.Context, jobID string, fn func(ValueRow) error) error

	// ScheduleRuns returns a page of a schedule's runs (the jobs linked
	// to it), the latest slot first, and the cursor of the next page (""
	// at the end).
	ScheduleRuns(ctx context.Context, q RunQuery) ([]*Job, string, error)
	// CompareValues compares the values of job jobID's results with those
	// of job prevID, host by host: it reads the first maxScan results of
	// jobID in index order (each host once, at its first index), looks
	// the host's first result up in prevID, and reports the hosts found
	// in both whose values differ, listing at most maxChanged of them.
	CompareValues(ctx context.Context, jobID, prevID string, maxScan, maxChanged int) (ValueChanges, error)

	// PutDefinition creates or replaces a named definition (body is JSON).
	PutDefinition(ctx context.Context, kind, name string, body []byte) error
	// GetDefinition returns a definition's body or ErrNotFound.
	GetDefinition(ctx context.Context, kind, name string) ([]byte, error)
	// DeleteDefinition removes a definition or returns ErrNotFound.
	DeleteDefinition(ctx context.Context, kind, name string) error
	// ListDefinitions returns the names of every definition of a kind, sorted.
	ListDefinitions(ctx context.Context, kind string) ([]string, error)

	// Close flushes and closes the store. It is idempotent.
	Close() error
}

// ResultSummary is what ResultSummary reports of a job's stored results.
type ResultSummary struct {
	// ByWorker counts the answered results (neither skipped nor cancelled)
	// per worker name.
	ByWorker map[string]int
	// LastAnswer is the latest finishedAt of an answered result; zero when
	// there is none.
	LastAnswer time.Time
}

// RateQuery asks RateSeries for Buckets spans of Step from From.
type RateQuery struct {
	From    time.Time
	Step    time.Duration
	Buckets int // 1 to MaxRateBuckets
}

// MaxRateBuckets bounds RateQuery.Buckets: a series does not grow with
// the job.
const MaxRateBuckets = 120

// ValueRow is one result as ScanValues reports it.
type ValueRow struct {
	Index      int
	Host       string
	State      string
	ErrorClass string
	Value      string
}

// DefinitionReader reads named definitions (a Store has it).
type DefinitionReader interface {
	GetDefinition(ctx context.Context, kind, name string) ([]byte, error)
}

// ResolveAggregation gives a, when it names an aggregation rule and has no
// regex, the rule's regex: a *job.FieldError naming aggregation.name for an
// unknown rule. A nil a, or one with a regex, is left alone.
func ResolveAggregation(ctx context.Context, defs DefinitionReader, a *job.Aggregation) error {
	if a == nil || a.Name == "" || a.Regex != "" {
		return nil
	}
	body, err := defs.GetDefinition(ctx, KindAggregation, a.Name)
	if errors.Is(err, ErrNotFound) {
		return &job.FieldError{Field: "aggregation.name", Msg: fmt.Sprintf("unknown aggregation %q", a.Name)}
	}
	if err != nil {
		return fmt.Errorf("read aggregation %q: %w", a.Name, err)
	}
	var ag job.Aggregation
	if err := json.Unmarshal(body, &ag); err != nil {
		return fmt.Errorf("aggregation %q: %w", a.Name, err)
	}
	a.Regex = ag.Regex
	return nil
}
