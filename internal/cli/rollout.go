package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/salvo-sh/salvo/job"
)

// JobPaused is the state of a paused job (a rollout waiting for approval,
// or POST /api/v1/jobs/ID/pause): not terminal.
const JobPaused = "paused"

// Rollout states of RolloutStatus.State (actors.RolloutStatus).
const (
	RolloutApproval = "approval"
	RolloutWaiting  = "waiting"
)

// RolloutStatus is a rollout job's progress (the status's rollout).
type RolloutStatus struct {
	Batch    int           `json:"batch"`
	Batches  int           `json:"batches"`
	State    string        `json:"state"`
	NextAt   Time          `json:"nextAt,omitzero"`
	PerBatch []BatchStatus `json:"perBatch"`
	Omitted  int           `json:"omitted,omitempty"`
	Budget   struct {
		MaxFailures       *int     `json:"maxFailures,omitempty"`
		MaxFailurePercent *float64 `json:"maxFailurePercent,omitempty"`
		Failures          int      `json:"failures"`
		Ran               int      `json:"ran"`
		Left              *int     `json:"left,omitempty"`
		Exceeded          bool     `json:"exceeded"`
	} `json:"budget"`
}

// BatchStatus is one batch of a rollout: targets [From, To).
type BatchStatus struct {
	Index    int    `json:"index"`
	From     int    `json:"from"`
	To       int    `json:"to"`
	Counts   Counts `json:"counts"`
	Failures int    `json:"failures"`
	Complete bool   `json:"complete"`
}

// RolloutOptions are the rollout flags of `salvo run` (docs/rollouts.md);
// the zero value sets nothing.
type RolloutOptions struct {
	// Batches is --batches: comma-separated sizes, counts or shares
	// ("1,5%,100%").
	Batches string
	// MaxFail is --max-fail: a count ("10": maxFailures) or a share
	// ("5%": maxFailurePercent).
	MaxFail string
	// Pause is --pause: the wait between batches.
	Pause time.Duration
	// Approve is --approve: the job is paused after each batch until
	// `salvo resume JOB`.
	Approve bool
}

func (o RolloutOptions) set() bool {
	return o.Batches != "" || o.MaxFail != "" || o.Pause != 0 || o.Approve
}

// applyRolloutFlags writes the rollout flags that are set into spec's
// rollout (the spec file's, or a new one, which needs --batches) and
// checks them as the server will.
func applyRolloutFlags(spec *job.Spec, o RolloutOptions) error {
	if !o.set() {
		return nil
	}
	r := spec.Rollout.Clone()
	if r == nil {
		if o.Batches == "" {
			return usagef("--max-fail, --pause and --approve need --batches (or a rollout in the spec)")
		}
		r = &job.Rollout{}
	}
	if o.Batches != "" {
		r.Batches = nil
		for _, b := range strings.Split(o.Batches, ",") {
			if b = strings.TrimSpace(b); b != "" {
				r.Batches = append(r.Batches, job.BatchSize(b))
			}
		}
		if len(r.Batches) == 0 {
			return usagef("--batches %q: want sizes such as 1,5%%,100%%", o.Batches)
		}
	}
	if o.MaxFail != "" {
		v := strings.TrimSpace(o.MaxFail)
		if p, ok := strings.CutSuffix(v, "%"); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
			if err != nil {
				return usagef("--max-fail %q: want a count such as 10 or a share such as 5%%", o.MaxFail)
			}
			r.MaxFailurePercent = &f
		} else {
			n, err := strconv.Atoi(v)
			if err != nil {
				return usagef("--max-fail %q: want a count such as 10 or a share such as 5%%", o.MaxFail)
			}
			r.MaxFailures = &n
		}
	}
	if o.Pause < 0 {
		return usagef("--pause %s: want a positive duration", o.Pause)
	}
	if o.Pause > 0 {
		r.Pause = job.Duration(o.Pause)
	}
	if o.Approve {
		r.Approve = true
	}
	// The server's own checks, named by the flags.
	check := job.Spec{Targets: []job.TargetSpec{{Host: "h"}}, Rollout: r}
	if err := check.Normalize(0); err != nil {
		msg := err.Error()
		var fe *job.FieldError
		if errors.As(err, &fe) {
			switch {
			case strings.HasPrefix(fe.Field, "rollout.batches"):
				msg = "--batches: " + fe.Msg
			case strings.HasPrefix(fe.Field, "rollout.maxFailure"):
				msg = "--max-fail: " + fe.Msg
			case fe.Field == "rollout.pause":
				msg = "--pause: " + fe.Msg
			}
		}
		return usagef("%s", msg)
	}
	spec.Rollout = r
	return nil
}

// rolloutOf reads a status's rollout (nil for a job without one).
func rolloutOf(st Status) *RolloutStatus { return st.Rollout }

// rolloutSegment is the progress line's "batch 2/4" (with the state of a
// rollout between batches), "" for a job without a rollout.
func rolloutSegment(st Status) string {
	ro := rolloutOf(st)
	if ro == nil || ro.Batches <= 1 {
		return ""
	}
	s := fmt.Sprintf("batch %d/%d", ro.Batch, ro.Batches)
	if ro.State == RolloutWaiting && !ro.NextAt.IsZero() {
		s += ", next in " + time.Until(ro.NextAt.Time).Round(time.Second).String()
	}
	return s
}

// rolloutRows are the status table's rollout lines.
func rolloutRows(row func(k, v string), st Status) {
	ro := rolloutOf(st)
	if ro == nil {
		return
	}
	row("rollout", fmt.Sprintf("batch %d/%d (%s)", ro.Batch, ro.Batches, ro.State))
	b := ro.Budget
	budget := fmt.Sprintf("%d failures in %d targets that ran", b.Failures, b.Ran)
	var limits []string
	if b.MaxFailures != nil {
		limits = append(limits, fmt.Sprintf("maxFailures %d", *b.MaxFailures))
	}
	if b.MaxFailurePercent != nil {
		limits = append(limits, "maxFailurePercent "+strconv.FormatFloat(*b.MaxFailurePercent, 'f', -1, 64)+"%")
	}
	if len(limits) > 0 {
		budget += "; " + strings.Join(limits, ", ")
	}
	if b.Left != nil {
		budget += fmt.Sprintf("; %d more allowed", *b.Left)
	}
	if b.Exceeded {
		budget += "; exceeded"
	}
	row("budget", budget)
	if ro.Omitted > 0 {
		row("batches", fmt.Sprintf("(%d earlier batches not shown)", ro.Omitted))
	}
	for _, pb := range ro.PerBatch {
		c := pb.Counts
		state := "running"
		if pb.Complete {
			state = "done"
		}
		row(fmt.Sprintf("batch %d", pb.Index), fmt.Sprintf("targets %d-%d %s: ok %d  failed %d  error %d  timeout %d  skipped %d",
			pb.From, pb.To-1, state, c.OK, c.Failed, c.Error, c.Timeout, c.Skipped))
	}
}

// pausedNote is what `salvo run` says of a job paused for approval, once
// per batch: how to go on.
func pausedNote(cmd string, st Status) string {
	ro := rolloutOf(st)
	if st.State != JobPaused || ro == nil || ro.State != RolloutApproval {
		return ""
	}
	return fmt.Sprintf("%s: job %s is paused after batch %d/%d: go on with salvo resume %s (or stop with salvo cancel %s)",
		cmd, st.ID, ro.Batch, ro.Batches, st.ID, st.ID)
}

// Pause pauses a job (POST /api/v1/jobs/ID/pause) and returns its status.
func (c *Client) Pause(ctx context.Context, id string) (Status, error) {
	var st Status
	if err := c.do(ctx, http.MethodPost, c.jobURL(id, "pause"), nil, &st); err != nil {
		return Status{}, fmt.Errorf("pause job: %w", err)
	}
	return st, nil
}

// Resume resumes a paused job (POST /api/v1/jobs/ID/resume) and returns its
// status.
func (c *Client) Resume(ctx context.Context, id string) (Status, error) {
	var st Status
	if err := c.do(ctx, http.MethodPost, c.jobURL(id, "resume"), nil, &st); err != nil {
		return Status{}, fmt.Errorf("resume job: %w", err)
	}
	return st, nil
}

const pauseUsage = `usage: salvo pause JOB [--output table|json] [connection flags]

Pause a job and print its status: no new lease of it starts, the requests
in flight finish; it stays paused, also across a restart of the master,
until salvo resume JOB (docs/rollouts.md).
`

const resumeUsage = `usage: salvo resume JOB [--output table|json] [connection flags]

Resume a paused job and print its status: a rollout paused after a batch
(--approve) starts its next batch.
`

// pauseFlags and resumeFlags are salvo pause and salvo resume.
func pauseFlags(fs *flag.FlagSet) func(context.Context, *Client, []string, io.Writer, io.Writer) error {
	return callAndPrint(fs, (*Client).Pause, printStatus)
}

func resumeFlags(fs *flag.FlagSet) func(context.Context, *Client, []string, io.Writer, io.Writer) error {
	return callAndPrint(fs, (*Client).Resume, printStatus)
}

// callAndPrint is a command that calls one endpoint with its argument (a
// job id, a schedule's name) and prints, as a table or JSON (--output),
// what it answers: cancel, pause, resume, schedule show.
func callAndPrint[T any](fs *flag.FlagSet, call func(*Client, context.Context, string) (T, error),
	print func(io.Writer, T, string) error) func(context.Context, *Client, []string, io.Writer, io.Writer) error {
	output := fs.String("output", OutputTable, "table or json")
	return func(ctx context.Context, c *Client, args []string, stdout, _ io.Writer) error {
		if err := checkOutput(*output, OutputTable, OutputJSON); err != nil {
			return err
		}
		v, err := call(c, ctx, args[0])
		if err != nil {
			return err
		}
		return print(stdout, v, *output)
	}
}
