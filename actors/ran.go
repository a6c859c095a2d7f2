package actors

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/salvo-sh/salvo/job"
	"github.com/salvo-sh/salvo/store"
)

// MaxRanCommand bounds the SSH command Ran quotes, in bytes: a list of
// jobs does not grow with their scripts.
const MaxRanCommand = 1024

// Ran says what a job runs, read from its stored spec (whose secrets are
// redacted): the HTTP method and path, without the path's query (which
// may carry a key), or the SSH command; never a header, a body, a
// variable or a credential's content.
type Ran struct {
	Protocol string `json:"protocol"`
	Method   string `json:"method,omitempty"`
	Path     string `json:"path,omitempty"`
	// Command is the SSH command, cut to MaxRanCommand bytes ("…" ends
	// a cut one).
	Command string `json:"command,omitempty"`
	// Aggregation is the job's aggregation: the named rule it used, if
	// any, and its regex.
	Aggregation *job.Aggregation `json:"aggregation,omitempty"`
	// NodeGroup and CommandName are the named node group and command
	// template the job was built from.
	NodeGroup   string   `json:"nodeGroup,omitempty"`
	CommandName string   `json:"commandName,omitempty"`
	Targets     int      `json:"targets"`
	Tags        []string `json:"tags,omitempty"`
	// SubmittedBy names the token that submitted the job (absent without
	// authentication).
	SubmittedBy string `json:"submittedBy,omitempty"`
}

// RanOf says what a stored job runs; nil when it has no spec.
func RanOf(j *store.Job) *Ran {
	sp := j.Spec
	if sp == nil {
		return nil
	}
	r := &Ran{Protocol: sp.Protocol, Targets: j.Total, Tags: slices.Clone(sp.Tags), SubmittedBy: j.SubmittedBy}
	switch {
	case sp.Protocol == job.ProtocolSSH && sp.SSH != nil:
		r.Command = job.Cut(sp.SSH.Command, MaxRanCommand)
	case sp.HTTP != nil:
		r.Method = sp.HTTP.Method
		r.Path, _, _ = strings.Cut(sp.HTTP.Path, "?")
	}
	if a := sp.Aggregation; a != nil && (a.Name != "" || a.Regex != "") {
		r.Aggregation = &job.Aggregation{Name: a.Name, Regex: a.Regex}
	}
	if o := sp.Origin; o != nil {
		r.NodeGroup, r.CommandName = o.NodeGroup, o.Command
	}
	return r
}

// submitterKey is the context key of WithSubmitter.
type submitterKey struct{}

// WithSubmitter returns ctx carrying the name of the token that submits a
// job: the job's record keeps it (store.Job.SubmittedBy).
func WithSubmitter(ctx context.Context, name string) context.Context {
	return context.WithValue(ctx, submitterKey{}, name)
}

// submitterOf is the name WithSubmitter put in ctx, or "".
func submitterOf(ctx context.Context) string {
	name, _ := ctx.Value(submitterKey{}).(string)
	return name
}

// ScheduleRun links a job to the run of a schedule (docs/schedules.md):
// its record keeps it (store.Job.Schedule, Slot, Manual).
type ScheduleRun struct {
	Schedule string
	Slot     time.Time
	Manual   bool
}

// scheduleRunKey is the context key of WithScheduleRun.
type scheduleRunKey struct{}

// WithScheduleRun returns ctx carrying the schedule run that a job
// submitted with it is: a second job of the same run is refused with an
// error wrapping store.ErrSlotTaken.
func WithScheduleRun(ctx context.Context, run ScheduleRun) context.Context {
	return context.WithValue(ctx, scheduleRunKey{}, run)
}

// scheduleRunOf is the run WithScheduleRun put in ctx.
func scheduleRunOf(ctx context.Context) (ScheduleRun, bool) {
	run, ok := ctx.Value(scheduleRunKey{}).(ScheduleRun)
	return run, ok && run.Schedule != ""
}
