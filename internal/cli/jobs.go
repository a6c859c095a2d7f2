package cli

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/salvo-sh/salvo/job"
	"github.com/salvo-sh/salvo/nodeset"
)

// Output formats of the job commands beyond OutputTable, OutputJSON and
// OutputNDJSON.
const OutputCSV = "csv"

// Exit statuses of the job commands (salvo jobs, status, results,
// aggregate, cancel, pause, resume, rerun, delete).
const (
	// ExitJobError: the server refused the request (404 unknown job, 400
	// naming a field), failed, or could not be reached.
	ExitJobError = 1
)

// AccessFlagsFunc registers the connection flags (--server, --token,
// --token-file, --ca, --cert, --key) on a flag set: the one function
// `salvo run` and `salvo token` use, passed in by cmd/salvo so that every
// command shares it.
type AccessFlagsFunc func(fs *flag.FlagSet, a *Access)

// NewClient resolves a (flags, then environment, then the config file)
// and returns a client of its server with its token and TLS settings.
func (a *Access) NewClient() (*Client, error) {
	if err := a.Resolve(); err != nil {
		return nil, err
	}
	conf, err := a.Config()
	if err != nil {
		return nil, err
	}
	return NewClientWithConfig(a.Server, conf), nil
}

// jobCommand is one of the commands that look at jobs.
type jobCommand struct {
	usage string
	// flags registers the command's own flags; run runs it once the flags
	// are parsed and the client is made, args being the positional ones.
	flags func(fs *flag.FlagSet) func(ctx context.Context, c *Client, args []string, stdout, stderr io.Writer) error
	// nargs is the number of positional arguments (the job id: 1).
	nargs int
	// arg names the positional argument in errors ("job id" when empty).
	arg string
}

var jobCommands = map[string]jobCommand{
	"jobs":      {usage: jobsUsage, flags: jobsFlags, nargs: 0},
	"status":    {usage: statusUsage, flags: statusFlags, nargs: 1},
	"results":   {usage: resultsUsage, flags: resultsFlags, nargs: 1},
	"aggregate": {usage: aggregateUsage, flags: aggregateFlags, nargs: 1},
	"cancel":    {usage: cancelUsage, flags: cancelFlags, nargs: 1},
	"rerun":     {usage: rerunUsage, flags: rerunFlags, nargs: 1},
	"delete":    {usage: deleteUsage, flags: deleteFlags, nargs: 1},
	"pause":     {usage: pauseUsage, flags: pauseFlags, nargs: 1},
	"resume":    {usage: resumeUsage, flags: resumeFlags, nargs: 1},
}

const jobsUsage = `usage: salvo jobs [--state STATE] [--name NAME] [--q TEXT] [--limit N] [--output table|json] [connection flags]

List the server's jobs, newest first: id, name, state, protocol, done/total,
creation time and what the job ran (HTTP method and path, or SSH command).
--state keeps the jobs in one state (waiting, processing,
finishedNotGathered, paused, gathered, cancelled, failed); --name those of exactly
that name; --q those whose name, id, SSH command or HTTP path contains TEXT
(ASCII case-insensitive).
`

const statusUsage = `usage: salvo status JOB [--wait DURATION] [--output table|json] [connection flags]

Print a job's status and what it ran (method and path, or command; its
aggregation, node group, tags, the token that submitted it, the job it
reruns). --wait waits up to DURATION (at most 10m) for the job to end and
prints its status then. A Ctrl-C during the wait cancels the job and waits,
showing "cancelling, N in flight", for its end (exit 3); a second Ctrl-C
leaves at once (exit 130).
`

const resultsUsage = `usage: salvo results JOB [--state a,b] [--host H] [--output table|json|ndjson|csv] [--body] [--outdir DIR] [connection flags]

Print every result of a job, in index order, paging through the server's
cursor as it prints. --state keeps the results in any of the given states
(ok, failed, error, timeout, skipped, cancelled); --host those of one host.
csv has a header row: index,host,state,statusCode,exitCode,latencyMs,
errorClass,error,value (and body,stderr with --body). Bodies are left out of
table and csv unless --body; json and ndjson carry whole results. --outdir
writes DIR/HOST.out (the body or stdout) and DIR/HOST.err (stderr, then the
error) per result instead of printing them, as pssh -o/-e.
`

const aggregateUsage = `usage: salvo aggregate JOB [--by value|status|errorClass|body|stderr] [--max-hosts N] [--output table|json] [connection flags]

Print a job's results grouped by a key, largest group first, each with its
count and its hosts folded as a nodeset (pasteable as targets). --by body
groups by output and outcome (state, exit or HTTP status code), failed
groups first, each with its stderr; --by stderr by stderr alone. The host
list is whole unless --max-hosts N cuts it to its first N hosts.
`

const cancelUsage = `usage: salvo cancel JOB [--output table|json] [connection flags]

Cancel a job and print its status.
`

const rerunUsage = `usage: salvo rerun JOB [--state failed,error,timeout] [--wait DURATION] [--output table|json] [connection flags]

Submit a finished job again, with the same spec, over only its targets
whose results are in one of the states (default failed,error,timeout), each
with its variables, and print the new job's id. The new job is named
"NAME (rerun of JOB)" and its status links to JOB (rerunOf). With --wait it
waits up to DURATION (at most 10m) for the new job to end and prints its
status then, as salvo status --wait does. A job submitted with secrets the
server does not keep (a password, a secret header or variable) cannot be
rerun; one whose SSH secrets are in a server credential can.
`

const deleteUsage = `usage: salvo delete JOB [connection flags]

Delete a finished job with its targets and results (a running job: cancel
it first).
`

const jobCommandsFooter = `
Exit status: 0 done; 1 the server refused (unknown job, a bad parameter) or
could not be reached; 2 usage error.

Flags:
`

// JobCommand returns the `salvo NAME` command for NAME in jobs, status,
// results, aggregate, cancel, pause, resume, rerun and delete (nil for any
// other name),
// accessFlags registering its connection flags. SIGINT or SIGTERM stops
// it, but for `status --wait` and `rerun --wait`, where a Ctrl-C cancels
// the job (see follower).
func JobCommand(name string, accessFlags AccessFlagsFunc) func(args []string, stdout, stderr io.Writer) int {
	jc, ok := jobCommands[name]
	if !ok {
		return nil
	}
	return func(args []string, stdout, stderr io.Writer) int {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
		defer stop()
		ints := make(chan os.Signal, 2)
		signal.Notify(ints, os.Interrupt)
		defer signal.Stop(ints)
		ctx, stopInterrupts := withInterrupts(ctx, ints)
		defer stopInterrupts()
		return runJobCommand(ctx, name, jc, accessFlags, args, stdout, stderr)
	}
}

func runJobCommand(ctx context.Context, name string, jc jobCommand, accessFlags AccessFlagsFunc, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, jc.usage, jobCommandsFooter)
		fs.PrintDefaults()
	}
	var access Access
	accessFlags(fs, &access)
	run := jc.flags(fs)
	// The job id may come before the flags (salvo status JOB --wait 1m).
	pos, err := ParseInterleaved(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitOK
		}
		return ExitUsage
	}
	if len(pos) != jc.nargs {
		if jc.nargs == 0 {
			fmt.Fprintf(stderr, "salvo %s: unexpected arguments: %s\n", name, strings.Join(pos, " "))
		} else {
			arg := jc.arg
			if arg == "" {
				arg = "job id"
			}
			fmt.Fprintf(stderr, "salvo %s: want one %s, got %d arguments\n", name, arg, len(pos))
			fs.Usage()
		}
		return ExitUsage
	}
	if run == nil {
		return ExitUsage
	}
	client, err := access.NewClient()
	if err != nil {
		fmt.Fprintf(stderr, "salvo %s: %v\n", name, err)
		return ExitUsage
	}
	defer client.Close()
	if err := run(ctx, client, pos, stdout, stderr); err != nil {
		var ue *usageError
		var ee *exitError
		if errors.As(err, &ee) {
			return ee.code
		}
		if errors.As(err, &ue) {
			fmt.Fprintf(stderr, "salvo %s: %v\n", name, err)
			return ExitUsage
		}
		fmt.Fprintf(stderr, "salvo %s: %s\n", name, plainError(err))
		return ExitJobError
	}
	return ExitOK
}

// plainError is the server's own words for an API error ("job \"x\" not
// found", "state: unknown result state …"), the error itself otherwise.
func plainError(err error) string {
	var ae *APIError
	if !errors.As(err, &ae) {
		return err.Error()
	}
	msg := ae.Message
	if ae.Field != "" && !strings.HasPrefix(msg, ae.Field) {
		msg = ae.Field + ": " + msg
	}
	if ae.Status >= 500 {
		return fmt.Sprintf("server error %d: %s", ae.Status, msg)
	}
	return msg
}

func checkOutput(output string, allowed ...string) error {
	for _, a := range allowed {
		if output == a {
			return nil
		}
	}
	return usagef("--output %q: want %s", output, strings.Join(allowed, ", "))
}

// --- salvo jobs ---

// JobsPage is one page of GET /api/v1/jobs.
type JobsPage struct {
	Items      []Status `json:"items"`
	NextCursor string   `json:"nextCursor,omitempty"`
}

// JobsQuery selects a page of the server's jobs. Zero fields are left out.
type JobsQuery struct {
	State  string // one job state
	Name   string // exactly this name
	Q      string // a substring of the name, id, SSH command or HTTP path
	Cursor string
	Limit  int // 0: the server's page size
}

// ListJobs returns one page of the server's jobs, newest first: state ""
// is any state, limit 0 the server's page size.
func (c *Client) ListJobs(ctx context.Context, state, cursor string, limit int) (*JobsPage, error) {
	return c.QueryJobs(ctx, JobsQuery{State: state, Cursor: cursor, Limit: limit})
}

// QueryJobs returns one page of the server's jobs that q selects, newest
// first.
func (c *Client) QueryJobs(ctx context.Context, q JobsQuery) (*JobsPage, error) {
	v := url.Values{}
	for k, s := range map[string]string{"state": q.State, "name": q.Name, "q": q.Q, "cursor": q.Cursor} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	u := c.base + "/api/v1/jobs"
	if len(v) > 0 {
		u += "?" + v.Encode()
	}
	var page JobsPage
	if err := c.do(ctx, http.MethodGet, u, nil, &page); err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	return &page, nil
}

func jobsFlags(fs *flag.FlagSet) func(context.Context, *Client, []string, io.Writer, io.Writer) error {
	state := fs.String("state", "", "only jobs in this `state`")
	name := fs.String("name", "", "only jobs of exactly this `name`")
	q := fs.String("q", "", "only jobs whose name, id, SSH command or HTTP path contains `TEXT`")
	limit := fs.Int("limit", 50, "show at most `N` jobs (0: every job)")
	output := fs.String("output", OutputTable, "table or json")
	return func(ctx context.Context, c *Client, _ []string, stdout, _ io.Writer) error {
		if err := checkOutput(*output, OutputTable, OutputJSON); err != nil {
			return err
		}
		if *limit < 0 {
			return usagef("--limit %d: want 0 or more", *limit)
		}
		var tw *tabwriter.Writer
		var enc *json.Encoder
		if *output == OutputJSON {
			enc = json.NewEncoder(stdout)
			fmt.Fprint(stdout, "[")
		} else {
			tw = tabwriter.NewWriter(stdout, 0, 8, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tSTATE\tPROTOCOL\tDONE/TOTAL\tCREATED\tRAN")
		}
		shown, cursor := 0, ""
		for {
			pageSize := 0
			if *limit > 0 {
				pageSize = min(*limit-shown, 1000)
			}
			page, err := c.QueryJobs(ctx, JobsQuery{State: *state, Name: *name, Q: *q, Cursor: cursor, Limit: pageSize})
			if err != nil {
				return err
			}
			for _, st := range page.Items {
				if enc != nil {
					if shown > 0 {
						fmt.Fprint(stdout, ",")
					}
					if err := enc.Encode(statusDoc(st)); err != nil {
						return err
					}
				} else {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s/%s\t%s\t%s\n", st.ID, orDash(st.Name), st.State,
						orDash(st.Protocol), Commas(int64(st.Done)), Commas(int64(st.Total)), formatTime(st.CreatedAt),
						orDash(ranOf(st).what(ranWidth)))
				}
				shown++
			}
			cursor = page.NextCursor
			if cursor == "" || (*limit > 0 && shown >= *limit) || len(page.Items) == 0 {
				break
			}
		}
		if enc != nil {
			_, err := fmt.Fprintln(stdout, "]")
			return err
		}
		return tw.Flush()
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func formatTime(t Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format(time.RFC3339)
}

// statusDoc is the server's document of a status when known.
func statusDoc(st Status) any {
	if raw := st.Raw(); raw != nil {
		return raw
	}
	return st
}

// --- salvo status and cancel ---

// WaitStatus returns a job's status once it is terminal, or after wait
// with its status then (GET /api/v1/jobs/ID?wait=).
func (c *Client) WaitStatus(ctx context.Context, id string, wait time.Duration) (Status, error) {
	u := c.jobURL(id) + "?" + url.Values{"wait": {wait.String()}}.Encode()
	// The request lasts the wait: bound it by the wait and the usual timeout.
	cc := *c
	cc.conf.RequestTimeout += wait
	var st Status
	if err := cc.do(ctx, http.MethodGet, u, nil, &st); err != nil {
		return Status{}, fmt.Errorf("job status: %w", err)
	}
	return st, nil
}

func statusFlags(fs *flag.FlagSet) func(context.Context, *Client, []string, io.Writer, io.Writer) error {
	wait := fs.Duration("wait", 0, "wait up to `DURATION` (at most 10m) for the job to end; Ctrl-C cancels the job")
	output := fs.String("output", OutputTable, "table or json")
	return func(ctx context.Context, c *Client, args []string, stdout, stderr io.Writer) error {
		if err := checkOutput(*output, OutputTable, OutputJSON); err != nil {
			return err
		}
		if *wait < 0 {
			return usagef("--wait %s: want a positive duration", *wait)
		}
		if *wait == 0 {
			st, err := c.Status(ctx, args[0])
			if err != nil {
				return err
			}
			return printStatus(stdout, st, *output)
		}
		return waitAndPrint(ctx, c, args[0], "salvo status", *wait, *output, stdout, stderr)
	}
}

// waitAndPrint waits up to wait for job id to end on behalf of the job
// command cmd (waitJob: a Ctrl-C cancels it) and prints its status; a job
// cancelled by that Ctrl-C gives an exitError of ExitCancelled.
func waitAndPrint(ctx context.Context, c *Client, id, cmd string, wait time.Duration, output string, stdout, stderr io.Writer) error {
	st, asked, err := waitJob(ctx, c, id, cmd, stderr, func(ctx context.Context, fn func(Status)) (Status, error) {
		st, err := c.WaitStatus(ctx, id, wait)
		if err == nil {
			fn(st)
		}
		return st, err
	})
	if err != nil {
		return err
	}
	if err := printStatus(stdout, st, output); err != nil {
		return err
	}
	if asked && st.State == JobCancelled {
		return &exitError{ExitCancelled}
	}
	return nil
}

// waitJob follows job id with wait on behalf of the job command cmd: a
// Ctrl-C cancels the job and waits, showing "cancelling, N in flight" on
// stderr, for its end (asked reports it); a second leaves at once
// (an exitError of ExitInterrupted), and a cancel that fails gives an
// exitError of ExitJobError, its message printed.
func waitJob(ctx context.Context, c *Client, id, cmd string, stderr io.Writer, wait waitFunc) (st Status, asked bool, err error) {
	f := &follower{client: c, id: id, cmd: cmd, stderr: stderr, showCancel: true, rewatch: true}
	st, end, err := f.follow(ctx, wait)
	switch end {
	case followDone:
		return st, f.asked, nil
	case followLeft:
		return st, true, &exitError{ExitInterrupted}
	case followCancelFailed:
		return st, true, &exitError{ExitJobError}
	}
	return st, f.asked, err
}

// exitError makes a job command exit with code, its messages printed.
type exitError struct{ code int }

func (e *exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func cancelFlags(fs *flag.FlagSet) func(context.Context, *Client, []string, io.Writer, io.Writer) error {
	return callAndPrint(fs, (*Client).Cancel, printStatus)
}

// printStatus writes a status as "key value" lines or as the server's
// JSON document.
func printStatus(w io.Writer, st Status, output string) error {
	if output == OutputJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(statusDoc(st))
	}
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s\t%s\n", k, v) }
	row("id", st.ID)
	row("name", orDash(st.Name))
	row("state", st.State)
	if st.Reason != "" {
		row("reason", st.Reason)
	}
	row("protocol", orDash(st.Protocol))
	ranRows(row, ranOf(st))
	row("done", fmt.Sprintf("%s/%s (%s)", Commas(int64(st.Done)), Commas(int64(st.Total)), share(st.Done, st.Total)))
	cs := st.Counts
	row("counts", fmt.Sprintf("ok %d  failed %d  error %d  timeout %d  skipped %d  cancelled %d",
		cs.OK, cs.Failed, cs.Error, cs.Timeout, cs.Skipped, cs.Cancelled))
	rolloutRows(row, st)
	row("created", formatTime(st.CreatedAt))
	row("started", formatTime(st.StartedAt))
	row("finished", formatTime(st.FinishedAt))
	if !st.StartedAt.IsZero() && !st.FinishedAt.IsZero() {
		row("elapsed", jobElapsed(st, 0).Round(time.Millisecond).String())
	}
	row("rate", Commas(int64(st.Rate+0.5))+"/s")
	var warnings struct {
		Warnings []string `json:"warnings"`
	}
	if raw := st.Raw(); raw != nil && json.Unmarshal(raw, &warnings) == nil {
		for _, w := range warnings.Warnings {
			row("warning", w)
		}
	}
	return tw.Flush()
}

// --- what a job ran ---

// Ran is what a job ran, as its status says ("ran", "rerunOf").
type Ran struct {
	Protocol    string `json:"protocol"`
	Method      string `json:"method,omitempty"`
	Path        string `json:"path,omitempty"`
	Command     string `json:"command,omitempty"`
	Aggregation *struct {
		Name  string `json:"name,omitempty"`
		Regex string `json:"regex,omitempty"`
	} `json:"aggregation,omitempty"`
	NodeGroup   string   `json:"nodeGroup,omitempty"`
	CommandName string   `json:"commandName,omitempty"`
	Targets     int      `json:"targets"`
	Tags        []string `json:"tags,omitempty"`
	SubmittedBy string   `json:"submittedBy,omitempty"`
	// RerunOf is the job this one reruns (the status's rerunOf).
	RerunOf string `json:"-"`
}

// ranWidth is the width of the RAN column of salvo jobs.
const ranWidth = 48

// ranOf reads what a job ran from its status's document: the zero Ran
// when the server did not say.
func ranOf(st Status) Ran {
	var doc struct {
		Ran     *Ran   `json:"ran"`
		RerunOf string `json:"rerunOf"`
	}
	var r Ran
	if raw := st.Raw(); raw != nil && json.Unmarshal(raw, &doc) == nil && doc.Ran != nil {
		r = *doc.Ran
	}
	r.RerunOf = doc.RerunOf
	return r
}

// what is the request or command on one line, cut to width runes: "GET
// /health" or the SSH command; "" when unknown.
func (r Ran) what(width int) string {
	switch {
	case r.Command != "":
		return displayValue(r.Command, width)
	case r.Method != "" || r.Path != "":
		return displayValue(strings.TrimSpace(r.Method+" "+r.Path), width)
	}
	return ""
}

// ranRows adds what a job ran to a status's "key value" rows.
func ranRows(row func(k, v string), r Ran) {
	if w := r.what(200); w != "" {
		row("ran", w)
	}
	if a := r.Aggregation; a != nil {
		if a.Name != "" {
			row("rule", a.Name+": "+displayValue(a.Regex, 120))
		} else {
			row("regex", displayValue(a.Regex, 120))
		}
	}
	var from []string
	if r.NodeGroup != "" {
		from = append(from, "node group "+r.NodeGroup)
	}
	if r.CommandName != "" {
		from = append(from, "command "+r.CommandName)
	}
	if len(from) > 0 {
		row("from", strings.Join(from, ", "))
	}
	if len(r.Tags) > 0 {
		row("tags", strings.Join(r.Tags, ","))
	}
	if r.SubmittedBy != "" {
		row("token", r.SubmittedBy)
	}
	if r.RerunOf != "" {
		row("rerun of", r.RerunOf)
	}
}

// --- salvo rerun and delete ---

// Rerun submits a finished job again over its targets whose results are
// in one of states (none: failed, error and timeout) and returns the new
// job's status (POST /api/v1/jobs/ID/rerun).
func (c *Client) Rerun(ctx context.Context, id string, states []string) (Status, error) {
	body := map[string][]string{}
	if len(states) > 0 {
		body["states"] = states
	}
	var st Status
	if err := c.do(ctx, http.MethodPost, c.jobURL(id, "rerun"), body, &st); err != nil {
		return Status{}, fmt.Errorf("rerun job: %w", err)
	}
	if st.ID == "" {
		return Status{}, errors.New("rerun job: the server answered without a job id")
	}
	return st, nil
}

// DeleteJob deletes a finished job with its targets and results (DELETE
// /api/v1/jobs/ID).
func (c *Client) DeleteJob(ctx context.Context, id string) error {
	if err := c.do(ctx, http.MethodDelete, c.jobURL(id), nil, nil); err != nil {
		return fmt.Errorf("delete job: %w", err)
	}
	return nil
}

func rerunFlags(fs *flag.FlagSet) func(context.Context, *Client, []string, io.Writer, io.Writer) error {
	state := fs.String("state", "failed,error,timeout", "rerun the targets whose results are in these `states`, comma-separated")
	wait := fs.Duration("wait", 0, "wait up to `DURATION` (at most 10m) for the new job to end and print its status; Ctrl-C cancels it")
	output := fs.String("output", OutputTable, "table or json (the status printed with --wait)")
	return func(ctx context.Context, c *Client, args []string, stdout, stderr io.Writer) error {
		if err := checkOutput(*output, OutputTable, OutputJSON); err != nil {
			return err
		}
		if *wait < 0 {
			return usagef("--wait %s: want a positive duration", *wait)
		}
		var states []string
		for s := range strings.SplitSeq(*state, ",") {
			if s = strings.TrimSpace(s); s != "" {
				states = append(states, s)
			}
		}
		st, err := c.Rerun(ctx, args[0], states)
		if err != nil {
			return err
		}
		if *wait == 0 {
			if *output == OutputJSON {
				return printStatus(stdout, st, *output)
			}
			_, err := fmt.Fprintln(stdout, st.ID)
			return err
		}
		return waitAndPrint(ctx, c, st.ID, "salvo rerun", *wait, *output, stdout, stderr)
	}
}

func deleteFlags(fs *flag.FlagSet) func(context.Context, *Client, []string, io.Writer, io.Writer) error {
	return func(ctx context.Context, c *Client, args []string, stdout, _ io.Writer) error {
		if err := c.DeleteJob(ctx, args[0]); err != nil {
			return err
		}
		_, err := fmt.Fprintf(stdout, "deleted %s\n", args[0])
		return err
	}
}

// --- salvo results ---

// resultsPageSize is the page the results command asks for: what it holds
// in memory at once.
const resultsPageSize = 1000

// csvHeader is the header row of `salvo results --output csv` without
// --body: job.CSVHeader, as the server's results?format=csv.
var csvHeader = job.CSVHeader(false)

func resultsFlags(fs *flag.FlagSet) func(context.Context, *Client, []string, io.Writer, io.Writer) error {
	state := fs.String("state", "", "only results in these `states`, comma-separated (ok, failed, error, timeout, skipped, cancelled)")
	host := fs.String("host", "", "only the results of this `host`")
	output := fs.String("output", OutputTable, "table, json (one array), ndjson (one result a line) or csv")
	body := fs.Bool("body", false, "add the body and stderr to table and csv")
	outdir := fs.String("outdir", "", "write `DIR`/HOST.out and DIR/HOST.err per result instead of printing them (pssh -o/-e)")
	return func(ctx context.Context, c *Client, args []string, stdout, stderr io.Writer) error {
		if err := checkOutput(*output, OutputTable, OutputJSON, OutputNDJSON, OutputCSV); err != nil {
			return err
		}
		if *outdir != "" {
			o, err := prepareOutDir(*outdir)
			if err != nil {
				return usagef("%v", err)
			}
			n, err := writeOutDir(ctx, c, args[0], ResultQuery{State: *state, Host: *host}, o)
			var oe *outDirError
			if errors.As(err, &oe) {
				return usagef("%v", err)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(stderr, "salvo results: %s results written to %s (HOST.out, HOST.err)\n", Commas(int64(n)), *outdir)
			return nil
		}
		rw := newResultWriter(stdout, *output, *body)
		q := ResultQuery{State: *state, Host: *host, Limit: resultsPageSize}
		for {
			page, err := c.Results(ctx, args[0], q)
			if err != nil {
				return err
			}
			for i := range page.Items {
				if err := rw.write(&page.Items[i]); err != nil {
					return err
				}
			}
			if err := rw.flush(); err != nil {
				return err
			}
			if page.NextCursor == "" || page.NextCursor == q.Cursor {
				break
			}
			q.Cursor = page.NextCursor
		}
		return rw.end()
	}
}

// resultWriter writes results one by one in a format.
type resultWriter struct {
	w      io.Writer
	output string
	body   bool
	n      int
	enc    *json.Encoder
	csv    *csv.Writer
	tw     *tabwriter.Writer
}

func newResultWriter(w io.Writer, output string, body bool) *resultWriter {
	rw := &resultWriter{w: w, output: output, body: body}
	switch output {
	case OutputJSON, OutputNDJSON:
		rw.enc = json.NewEncoder(w)
	case OutputCSV:
		rw.csv = csv.NewWriter(w)
	default:
		rw.tw = tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	}
	return rw
}

func (rw *resultWriter) write(r *job.Result) error {
	defer func() { rw.n++ }()
	switch rw.output {
	case OutputNDJSON:
		return rw.enc.Encode(r)
	case OutputJSON:
		sep := ","
		if rw.n == 0 {
			sep = "["
		}
		if _, err := io.WriteString(rw.w, sep); err != nil {
			return err
		}
		return rw.enc.Encode(r)
	case OutputCSV:
		if rw.n == 0 {
			if err := rw.csv.Write(job.CSVHeader(rw.body)); err != nil {
				return err
			}
		}
		return rw.csv.Write(job.CSVRecord(r, rw.body))
	default:
		if rw.n == 0 {
			h := "INDEX\tHOST\tSTATE\tSTATUS\tEXIT\tLATENCY\tERROR CLASS\tERROR\tVALUE"
			if rw.body {
				h += "\tBODY\tSTDERR"
			}
			fmt.Fprintln(rw.tw, h)
		}
		status := "-"
		if r.StatusCode != 0 {
			status = strconv.Itoa(r.StatusCode)
		}
		line := fmt.Sprintf("%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s", r.Index, r.Host, r.State, status, exitCode(r.ExitCode, "-"),
			strconv.FormatFloat(r.LatencyMs, 'f', 1, 64)+"ms", orDash(r.ErrorClass), displayError(r.Error), displayValue(r.Value, valueWidth))
		if rw.body {
			line += "\t" + displayValue(r.Body, 80) + "\t" + displayValue(r.Stderr, 80)
		}
		_, err := fmt.Fprintln(rw.tw, line)
		return err
	}
}

// flush writes out what a page left buffered (the table's column widths
// are a page's).
func (rw *resultWriter) flush() error {
	switch {
	case rw.csv != nil:
		rw.csv.Flush()
		return rw.csv.Error()
	case rw.tw != nil:
		return rw.tw.Flush()
	}
	return nil
}

// end finishes the output: closes the JSON array, writes the csv header
// of an empty answer.
func (rw *resultWriter) end() error {
	switch rw.output {
	case OutputJSON:
		s := "]\n"
		if rw.n == 0 {
			s = "[]\n"
		}
		_, err := io.WriteString(rw.w, s)
		return err
	case OutputCSV:
		if rw.n == 0 {
			if err := rw.csv.Write(job.CSVHeader(rw.body)); err != nil {
				return err
			}
		}
	}
	return rw.flush()
}

func exitCode(c *int, none string) string {
	if c == nil {
		return none
	}
	return strconv.Itoa(*c)
}

// --- salvo aggregate ---

// GroupHostsPage is one page of GET /api/v1/jobs/ID/group: the hosts of
// part of an aggregation group, folded.
type GroupHostsPage struct {
	Items []struct {
		Host string `json:"host"`
	} `json:"items"`
	Folded     string `json:"folded"`
	NextCursor string `json:"nextCursor,omitempty"`
}

// GroupRef names an aggregation group for GroupHosts: by Index, the index
// of one of its results (the group's Index), when set, and then with
// SameStderr a stderr part of a ByBody group; else by Value.
type GroupRef struct {
	By         string
	Value      string
	Index      *int
	SameStderr bool
}

// GroupHosts returns a page of the hosts of the group ref names.
func (c *Client) GroupHosts(ctx context.Context, id string, ref GroupRef, cursor string, limit int) (*GroupHostsPage, error) {
	v := url.Values{"by": {ref.By}}
	if ref.Index != nil {
		v.Set("index", strconv.Itoa(*ref.Index))
		if ref.SameStderr {
			v.Set("stderr", "same")
		}
	} else {
		v.Set("value", ref.Value)
	}
	if cursor != "" {
		v.Set("cursor", cursor)
	}
	if limit > 0 {
		v.Set("limit", strconv.Itoa(limit))
	}
	var page GroupHostsPage
	if err := c.do(ctx, http.MethodGet, c.jobURL(id, "group")+"?"+v.Encode(), nil, &page); err != nil {
		return nil, fmt.Errorf("group hosts: %w", err)
	}
	return &page, nil
}

func aggregateFlags(fs *flag.FlagSet) func(context.Context, *Client, []string, io.Writer, io.Writer) error {
	by := fs.String("by", ByValue, "value, status, errorClass, body (output and outcome) or stderr")
	maxHosts := fs.Int("max-hosts", 0, "show at most `N` hosts of a group (0: every host)")
	output := fs.String("output", OutputTable, "table or json")
	return func(ctx context.Context, c *Client, args []string, stdout, _ io.Writer) error {
		if err := checkOutput(*output, OutputTable, OutputJSON); err != nil {
			return err
		}
		if err := checkBy(*by); err != nil {
			return err
		}
		if *maxHosts < 0 {
			return usagef("--max-hosts %d: want 0 or more", *maxHosts)
		}
		agg, err := summarize(ctx, c, args[0], *by, *maxHosts)
		if err != nil {
			return err
		}
		if *output == OutputJSON {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(agg)
		}
		return writeGroups(stdout, agg, 0)
	}
}

// summarize returns a job's aggregation by by with every group's host list
// whole (Folded; the aggregation folds the first 1,000 hosts of a group,
// the rest are paged from /group), or, maxHosts > 0, cut to the first
// maxHosts hosts with HostsOmitted counting the others; the same for the
// stderr parts of ByBody groups. `salvo run` and `salvo aggregate` print
// it.
func summarize(ctx context.Context, c *Client, id, by string, maxHosts int) (*Aggregate, error) {
	agg, err := c.Aggregate(ctx, id, by)
	if err != nil {
		return nil, err
	}
	for i := range agg.Groups {
		g := &agg.Groups[i]
		if err := completeHosts(ctx, c, id, GroupRef{By: agg.By, Value: g.Value, Index: g.Index}, g, maxHosts); err != nil {
			return nil, err
		}
		for k := range g.Stderr {
			p := &g.Stderr[k]
			switch {
			case len(g.Stderr) == 1 && p.Count == g.Count:
				// The one part is the whole group.
				p.Folded, p.HostsCursor, p.HostsOmitted = g.Folded, "", g.HostsOmitted
			case p.Index != nil:
				if err := completeHosts(ctx, c, id, GroupRef{By: agg.By, Index: p.Index, SameStderr: true}, p, maxHosts); err != nil {
					return nil, err
				}
			}
		}
	}
	return agg, nil
}

// completeHosts sets g.Folded to the group's hosts folded: every host (the
// aggregation folds the first 1,000; the rest are paged from /group and
// appended as further items of the nodeset), or, max > 0, the first max
// hosts, g.HostsOmitted counting the others. g.HostsCursor is cleared.
func completeHosts(ctx context.Context, c *Client, id string, ref GroupRef, g *Group, max int) error {
	total := g.HostsTotal
	if total == 0 {
		total = g.Count
	}
	if max > 0 && total > max {
		var hosts []string
		if max <= len(g.Hosts) {
			hosts = g.Hosts[:max]
		}
		for cursor := ""; len(hosts) < max; {
			page, err := c.GroupHosts(ctx, id, ref, cursor, max-len(hosts))
			if err != nil {
				return err
			}
			for _, it := range page.Items {
				hosts = append(hosts, it.Host)
			}
			if page.NextCursor == "" || page.NextCursor == cursor {
				break
			}
			cursor = page.NextCursor
		}
		hosts = hosts[:min(len(hosts), max)]
		g.Folded, g.HostsCursor, g.HostsOmitted = nodeset.Fold(hosts), "", total-len(hosts)
		return nil
	}
	parts := []string{g.Folded}
	for cursor := g.HostsCursor; cursor != ""; {
		page, err := c.GroupHosts(ctx, id, ref, cursor, 0)
		if err != nil {
			return err
		}
		if page.Folded != "" {
			parts = append(parts, page.Folded)
		}
		if page.NextCursor == cursor {
			break
		}
		cursor = page.NextCursor
	}
	g.Folded, g.HostsCursor, g.HostsOmitted = strings.Join(parts, ","), "", 0
	return nil
}

// displayError is a result's error on one line, "-" for none.
func displayError(s string) string {
	if s == "" {
		return "-"
	}
	return displayValue(s, 60)
}
