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
// aggregate, cancel).
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
}

var jobCommands = map[string]jobCommand{
	"jobs":      {usage: jobsUsage, flags: jobsFlags, nargs: 0},
	"status":    {usage: statusUsage, flags: statusFlags, nargs: 1},
	"results":   {usage: resultsUsage, flags: resultsFlags, nargs: 1},
	"aggregate": {usage: aggregateUsage, flags: aggregateFlags, nargs: 1},
	"cancel":    {usage: cancelUsage, flags: cancelFlags, nargs: 1},
}

const jobsUsage = `usage: salvo jobs [--state STATE] [--limit N] [--output table|json] [connection flags]

List the server's jobs, newest first: id, name, state, protocol, done/total
and creation time. --state keeps the jobs in one state (waiting, processing,
finishedNotGathered, gathered, cancelled, failed).
`

const statusUsage = `usage: salvo status JOB [--wait DURATION] [--output table|json] [connection flags]

Print a job's status. --wait waits up to DURATION (at most 10m) for the job
to end and prints its status then.
`

const resultsUsage = `usage: salvo results JOB [--state a,b] [--host H] [--output table|json|ndjson|csv] [--body] [connection flags]

Print every result of a job, in index order, paging through the server's
cursor as it prints. --state keeps the results in any of the given states
(ok, failed, error, timeout, skipped, cancelled); --host those of one host.
csv has a header row: index,host,state,statusCode,exitCode,latencyMs,
errorClass,error,value (and body,stderr with --body). Bodies are left out of
table and csv unless --body; json and ndjson carry whole results.
`

const aggregateUsage = `usage: salvo aggregate JOB [--by value|status|errorClass|body] [--max-hosts N] [--output table|json] [connection flags]

Print a job's results grouped by a key, largest group first, each with its
count and its hosts folded as a nodeset (pasteable as targets). The host
list is whole unless --max-hosts N cuts it to its first N hosts.
`

const cancelUsage = `usage: salvo cancel JOB [--output table|json] [connection flags]

Cancel a job and print its status.
`

const jobCommandsFooter = `
Exit status: 0 done; 1 the server refused (unknown job, a bad parameter) or
could not be reached; 2 usage error.

Flags:
`

// JobCommand returns the `salvo NAME` command for NAME in jobs, status,
// results, aggregate and cancel (nil for any other name), accessFlags
// registering its connection flags. SIGINT or SIGTERM stops it.
func JobCommand(name string, accessFlags AccessFlagsFunc) func(args []string, stdout, stderr io.Writer) int {
	jc, ok := jobCommands[name]
	if !ok {
		return nil
	}
	return func(args []string, stdout, stderr io.Writer) int {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
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
			fmt.Fprintf(stderr, "salvo %s: want one job id, got %d arguments\n", name, len(pos))
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

// ListJobs returns one page of the server's jobs, newest first: state ""
// is any state, limit 0 the server's page size.
func (c *Client) ListJobs(ctx context.Context, state, cursor string, limit int) (*JobsPage, error) {
	v := url.Values{}
	if state != "" {
		v.Set("state", state)
	}
	if cursor != "" {
		v.Set("cursor", cursor)
	}
	if limit > 0 {
		v.Set("limit", strconv.Itoa(limit))
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
			fmt.Fprintln(tw, "ID\tNAME\tSTATE\tPROTOCOL\tDONE/TOTAL\tCREATED")
		}
		shown, cursor := 0, ""
		for {
			pageSize := 0
			if *limit > 0 {
				pageSize = min(*limit-shown, 1000)
			}
			page, err := c.ListJobs(ctx, *state, cursor, pageSize)
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
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s/%s\t%s\n", st.ID, orDash(st.Name), st.State,
						orDash(st.Protocol), commas(int64(st.Done)), commas(int64(st.Total)), formatTime(st.CreatedAt))
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
	wait := fs.Duration("wait", 0, "wait up to `DURATION` (at most 10m) for the job to end")
	output := fs.String("output", OutputTable, "table or json")
	return func(ctx context.Context, c *Client, args []string, stdout, _ io.Writer) error {
		if err := checkOutput(*output, OutputTable, OutputJSON); err != nil {
			return err
		}
		if *wait < 0 {
			return usagef("--wait %s: want a positive duration", *wait)
		}
		var st Status
		var err error
		if *wait > 0 {
			st, err = c.WaitStatus(ctx, args[0], *wait)
		} else {
			st, err = c.Status(ctx, args[0])
		}
		if err != nil {
			return err
		}
		return printStatus(stdout, st, *output)
	}
}

func cancelFlags(fs *flag.FlagSet) func(context.Context, *Client, []string, io.Writer, io.Writer) error {
	output := fs.String("output", OutputTable, "table or json")
	return func(ctx context.Context, c *Client, args []string, stdout, _ io.Writer) error {
		if err := checkOutput(*output, OutputTable, OutputJSON); err != nil {
			return err
		}
		st, err := c.Cancel(ctx, args[0])
		if err != nil {
			return err
		}
		return printStatus(stdout, st, *output)
	}
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
	row("done", fmt.Sprintf("%s/%s (%s)", commas(int64(st.Done)), commas(int64(st.Total)), share(st.Done, st.Total)))
	cs := st.Counts
	row("counts", fmt.Sprintf("ok %d  failed %d  error %d  timeout %d  skipped %d  cancelled %d",
		cs.OK, cs.Failed, cs.Error, cs.Timeout, cs.Skipped, cs.Cancelled))
	row("created", formatTime(st.CreatedAt))
	row("started", formatTime(st.StartedAt))
	row("finished", formatTime(st.FinishedAt))
	if !st.StartedAt.IsZero() && !st.FinishedAt.IsZero() {
		row("elapsed", jobElapsed(st, 0).Round(time.Millisecond).String())
	}
	row("rate", commas(int64(st.Rate+0.5))+"/s")
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

// --- salvo results ---

// resultsPageSize is the page the results command asks for: what it holds
// in memory at once.
const resultsPageSize = 1000

// csvHeader is the header row of `salvo results --output csv`.
var csvHeader = []string{"index", "host", "state", "statusCode", "exitCode", "latencyMs", "errorClass", "error", "value"}

func resultsFlags(fs *flag.FlagSet) func(context.Context, *Client, []string, io.Writer, io.Writer) error {
	state := fs.String("state", "", "only results in these `states`, comma-separated (ok, failed, error, timeout, skipped, cancelled)")
	host := fs.String("host", "", "only the results of this `host`")
	output := fs.String("output", OutputTable, "table, json (one array), ndjson (one result a line) or csv")
	body := fs.Bool("body", false, "add the body and stderr to table and csv")
	return func(ctx context.Context, c *Client, args []string, stdout, _ io.Writer) error {
		if err := checkOutput(*output, OutputTable, OutputJSON, OutputNDJSON, OutputCSV); err != nil {
			return err
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
			h := csvHeader
			if rw.body {
				h = append(h[:len(h):len(h)], "body", "stderr")
			}
			if err := rw.csv.Write(h); err != nil {
				return err
			}
		}
		row := []string{strconv.Itoa(r.Index), r.Host, r.State, intOrEmpty(r.StatusCode), exitCode(r.ExitCode, ""),
			strconv.FormatFloat(r.LatencyMs, 'f', -1, 64), r.ErrorClass, r.Error, r.Value}
		if rw.body {
			row = append(row, r.Body, r.Stderr)
		}
		return rw.csv.Write(row)
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
			h := csvHeader
			if rw.body {
				h = append(h[:len(h):len(h)], "body", "stderr")
			}
			if err := rw.csv.Write(h); err != nil {
				return err
			}
		}
	}
	return rw.flush()
}

func intOrEmpty(n int) string {
	if n == 0 {
		return ""
	}
	return strconv.Itoa(n)
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

// GroupHosts returns a page of the hosts of the group whose value is value
// in the aggregation by by.
func (c *Client) GroupHosts(ctx context.Context, id, by, value, cursor string, limit int) (*GroupHostsPage, error) {
	v := url.Values{"by": {by}, "value": {value}}
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
	by := fs.String("by", ByValue, "value, status, errorClass or body")
	maxHosts := fs.Int("max-hosts", 0, "show at most `N` hosts of a group (0: every host)")
	output := fs.String("output", OutputTable, "table or json")
	return func(ctx context.Context, c *Client, args []string, stdout, _ io.Writer) error {
		if err := checkOutput(*output, OutputTable, OutputJSON); err != nil {
			return err
		}
		switch *by {
		case ByValue, ByStatus, ByErrorClass, ByBody:
		default:
			return usagef("--by %q: want value, status, errorClass or body", *by)
		}
		if *maxHosts < 0 {
			return usagef("--max-hosts %d: want 0 or more", *maxHosts)
		}
		id := args[0]
		agg, err := c.Aggregate(ctx, id, *by)
		if err != nil {
			return err
		}
		more := make([]int, len(agg.Groups))
		for i, g := range agg.Groups {
			folded, n, err := completeHosts(ctx, c, id, agg.By, g, *maxHosts)
			if err != nil {
				return err
			}
			agg.Groups[i].Folded, agg.Groups[i].HostsCursor, more[i] = folded, "", n
		}
		if *output == OutputJSON {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(agg)
		}
		return writeGroups(stdout, agg, more)
	}
}

// completeHosts returns the group's hosts folded: every host (the
// aggregation folds the first 1,000; the rest are paged from /group and
// appended as further items of the nodeset), or, max > 0, the first max
// hosts with the number of hosts left out.
func completeHosts(ctx context.Context, c *Client, id, by string, g Group, max int) (string, int, error) {
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
			page, err := c.GroupHosts(ctx, id, by, g.Value, cursor, max-len(hosts))
			if err != nil {
				return "", 0, err
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
		return nodeset.Fold(hosts), total - len(hosts), nil
	}
	parts := []string{g.Folded}
	for cursor := g.HostsCursor; cursor != ""; {
		page, err := c.GroupHosts(ctx, id, by, g.Value, cursor, 0)
		if err != nil {
			return "", 0, err
		}
		if page.Folded != "" {
			parts = append(parts, page.Folded)
		}
		if page.NextCursor == cursor {
			break
		}
		cursor = page.NextCursor
	}
	return strings.Join(parts, ","), 0, nil
}

// writeGroups prints the groups as a table (VALUE, COUNT, %, HOSTS) with
// whole host lists, or, by body, as clush -b style blocks.
// more[i] counts the hosts --max-hosts left out of group i.
func writeGroups(w io.Writer, agg *Aggregate, more []int) error {
	total := 0
	for _, g := range agg.Groups {
		total += g.Count
	}
	hosts := func(i int) string {
		if more[i] > 0 {
			return fmt.Sprintf("%s (+%s more)", agg.Groups[i].Folded, commas(int64(more[i])))
		}
		return agg.Groups[i].Folded
	}
	if agg.By == ByBody {
		for i, g := range agg.Groups {
			head := fmt.Sprintf("%s (%s)", hosts(i), commas(int64(g.Count)))
			if g.IsError {
				head += " [error]"
			}
			rule := strings.Repeat("-", min(max(len([]rune(head)), 15), 80))
			body := g.Value
			if body != "" && !strings.HasSuffix(body, "\n") {
				body += "\n"
			}
			if _, err := fmt.Fprintf(w, "%s\n%s\n%s\n%s", rule, head, rule, body); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "VALUE\tCOUNT\t%\tHOSTS")
	for i, g := range agg.Groups {
		v := displayValue(g.Value, valueWidth)
		if g.IsError {
			v += " [error]"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", v, commas(int64(g.Count)), share(g.Count, total), hosts(i))
	}
	return tw.Flush()
}

// displayError is a result's error on one line, "-" for none.
func displayError(s string) string {
	if s == "" {
		return "-"
	}
	return displayValue(s, 60)
}
