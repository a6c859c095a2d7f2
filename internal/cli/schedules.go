package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"

	"github.com/salvo-sh/salvo/job"
)

// Schedule is a schedule as the API shows it (GET /api/v1/schedules/NAME).
type Schedule struct {
	Name      string          `json:"name"`
	Cron      string          `json:"cron"`
	Command   string          `json:"command,omitempty"`
	Spec      json.RawMessage `json:"spec,omitempty"`
	NodeGroup string          `json:"nodeGroup,omitempty"`
	Enabled   bool            `json:"enabled"`
	CatchUp   string          `json:"catchUp"`
	Timezone  string          `json:"timezone"`
	UpdatedAt Time            `json:"updatedAt"`
	UpdatedBy string          `json:"updatedBy,omitempty"`
	NextRun   Time            `json:"nextRun"`
	LastRun   *struct {
		Slot   Time   `json:"slot"`
		Manual bool   `json:"manual"`
		Job    string `json:"job"`
		State  string `json:"state"`
	} `json:"lastRun,omitempty"`
}

// SchedulePut is the body of PUT /api/v1/schedules/NAME.
type SchedulePut struct {
	Cron      string          `json:"cron"`
	Command   string          `json:"command,omitempty"`
	Spec      json.RawMessage `json:"spec,omitempty"`
	NodeGroup string          `json:"nodeGroup,omitempty"`
	Enabled   bool            `json:"enabled"`
	CatchUp   string          `json:"catchUp,omitempty"`
	Timezone  string          `json:"timezone,omitempty"`
}

// ScheduleRun is one run in a schedule's history.
type ScheduleRun struct {
	Slot    Time   `json:"slot"`
	Manual  bool   `json:"manual"`
	Job     Status `json:"job"`
	Changes *struct {
		Previous      string   `json:"previous"`
		NewValues     []string `json:"newValues"`
		NewValuesMore int      `json:"newValuesMore"`
		ChangedHosts  struct {
			Count    int    `json:"count"`
			Folded   string `json:"folded"`
			Complete bool   `json:"complete"`
			Scanned  int    `json:"scanned"`
			Sample   []struct {
				Host string `json:"host"`
				From string `json:"from"`
				To   string `json:"to"`
			} `json:"sample"`
		} `json:"changedHosts"`
	} `json:"changes,omitempty"`
}

// ScheduleHistory is one page of a schedule's history.
type ScheduleHistory struct {
	Items      []ScheduleRun `json:"items"`
	NextCursor string        `json:"nextCursor,omitempty"`
}

func (c *Client) scheduleURL(name string, parts ...string) string {
	u := c.base + "/api/v1/schedules/" + url.PathEscape(name)
	for _, p := range parts {
		u += "/" + p
	}
	return u
}

// ListSchedules lists the server's schedules, by name.
func (c *Client) ListSchedules(ctx context.Context) ([]Schedule, error) {
	var page struct {
		Items []Schedule `json:"items"`
	}
	if err := c.do(ctx, http.MethodGet, c.base+"/api/v1/schedules", nil, &page); err != nil {
		return nil, fmt.Errorf("list schedules: %w", err)
	}
	return page.Items, nil
}

// GetSchedule reads a schedule.
func (c *Client) GetSchedule(ctx context.Context, name string) (*Schedule, error) {
	var s Schedule
	if err := c.do(ctx, http.MethodGet, c.scheduleURL(name), nil, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// PutSchedule creates or replaces a schedule and returns it as stored.
func (c *Client) PutSchedule(ctx context.Context, name string, put SchedulePut) (*Schedule, error) {
	var s Schedule
	if err := c.do(ctx, http.MethodPut, c.scheduleURL(name), put, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// DeleteSchedule deletes a schedule (its runs stay, as jobs).
func (c *Client) DeleteSchedule(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, c.scheduleURL(name), nil, nil)
}

// RunSchedule runs a schedule now and returns its job's status.
func (c *Client) RunSchedule(ctx context.Context, name string) (Status, error) {
	var st Status
	if err := c.do(ctx, http.MethodPost, c.scheduleURL(name, "run"), nil, &st); err != nil {
		return Status{}, err
	}
	return st, nil
}

// History returns a page of a schedule's runs, the latest slot first.
func (c *Client) History(ctx context.Context, name, cursor string, limit int) (*ScheduleHistory, error) {
	v := url.Values{}
	if cursor != "" {
		v.Set("cursor", cursor)
	}
	if limit > 0 {
		v.Set("limit", fmt.Sprint(limit))
	}
	u := c.scheduleURL(name, "history")
	if len(v) > 0 {
		u += "?" + v.Encode()
	}
	var h ScheduleHistory
	if err := c.do(ctx, http.MethodGet, u, nil, &h); err != nil {
		return nil, err
	}
	return &h, nil
}

const schedulesUsage = `usage: salvo schedules [--output table|json] [connection flags]

List the server's schedules: name, cron expression and zone, whether it is
enabled, its next slot, its latest run (slot, state, job) and what it runs.
`

const scheduleUsage = `usage: salvo schedule put|show|history|run|delete NAME [flags] [connection flags]

  put NAME --cron EXPR (--command CMD --node-group G | --spec FILE [--node-group G])
           [--catch-up once|skip] [--timezone ZONE] [--disabled]
                 create or replace a schedule (docs/schedules.md): EXPR is five
                 cron fields or @hourly, @daily, @every 30s…; CMD a command
                 template, FILE a job spec (JSON)
  show NAME      print a schedule, its next slot and latest run
  history NAME [--limit N]
                 print its runs, the latest first, with the hosts whose value
                 changed since the run before
  run NAME       run it now, outside its slots, and print the job's status
  delete NAME    delete it (its runs stay, as jobs)
`

var scheduleVerbs = map[string]jobCommand{
	"put":     {usage: scheduleUsage, flags: schedulePutFlags, nargs: 1, arg: "schedule name"},
	"show":    {usage: scheduleUsage, flags: scheduleShowFlags, nargs: 1, arg: "schedule name"},
	"history": {usage: scheduleUsage, flags: scheduleHistoryFlags, nargs: 1, arg: "schedule name"},
	"run":     {usage: scheduleUsage, flags: scheduleRunFlags, nargs: 1, arg: "schedule name"},
	"delete":  {usage: scheduleUsage, flags: scheduleDeleteFlags, nargs: 1, arg: "schedule name"},
}

// SchedulesCommand returns `salvo schedules`, accessFlags registering its
// connection flags.
func SchedulesCommand(accessFlags AccessFlagsFunc) func(args []string, stdout, stderr io.Writer) int {
	jc := jobCommand{usage: schedulesUsage, flags: schedulesFlags, nargs: 0}
	return func(args []string, stdout, stderr io.Writer) int {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return runJobCommand(ctx, "schedules", jc, accessFlags, args, stdout, stderr)
	}
}

// ScheduleCommand returns `salvo schedule VERB NAME`, accessFlags
// registering its connection flags. Without a verb, or with -h, it prints
// the usage and every verb's flags.
func ScheduleCommand(accessFlags AccessFlagsFunc) func(args []string, stdout, stderr io.Writer) int {
	return func(args []string, stdout, stderr io.Writer) int {
		if len(args) == 0 || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" {
			printScheduleHelp(stderr, accessFlags)
			if len(args) == 0 {
				return ExitUsage
			}
			return ExitOK
		}
		jc, ok := scheduleVerbs[args[0]]
		if !ok {
			fmt.Fprintf(stderr, "salvo schedule: unknown verb %q (put, show, history, run, delete)\n", args[0])
			return ExitUsage
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return runJobCommand(ctx, "schedule "+args[0], jc, accessFlags, args[1:], stdout, stderr)
	}
}

// printScheduleHelp writes the usage and the flags of every verb.
func printScheduleHelp(w io.Writer, accessFlags AccessFlagsFunc) {
	fmt.Fprint(w, scheduleUsage, jobCommandsFooter)
	verbs := make([]string, 0, len(scheduleVerbs))
	for v := range scheduleVerbs {
		verbs = append(verbs, v)
	}
	sort.Strings(verbs)
	seen := map[string]bool{}
	all := flag.NewFlagSet("schedule", flag.ContinueOnError)
	all.SetOutput(w)
	for _, v := range verbs {
		fs := flag.NewFlagSet(v, flag.ContinueOnError)
		var a Access
		accessFlags(fs, &a)
		scheduleVerbs[v].flags(fs)
		fs.VisitAll(func(f *flag.Flag) {
			if !seen[f.Name] {
				seen[f.Name] = true
				all.Var(f.Value, f.Name, f.Usage)
			}
		})
	}
	all.PrintDefaults()
}

func schedulesFlags(fs *flag.FlagSet) func(context.Context, *Client, []string, io.Writer, io.Writer) error {
	output := fs.String("output", OutputTable, "table or json")
	return func(ctx context.Context, c *Client, _ []string, stdout, _ io.Writer) error {
		if err := checkOutput(*output, OutputTable, OutputJSON); err != nil {
			return err
		}
		list, err := c.ListSchedules(ctx)
		if err != nil {
			return err
		}
		if *output == OutputJSON {
			return printJSON(stdout, list)
		}
		tw := tabwriter.NewWriter(stdout, 0, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tCRON\tZONE\tENABLED\tNEXT\tLAST\tRUNS")
		for _, s := range list {
			next := "-"
			if s.Enabled {
				next = formatTime(s.NextRun)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%s\t%s\t%s\n", s.Name, s.Cron, s.Timezone, s.Enabled, next, lastRun(s), what(s))
		}
		return tw.Flush()
	}
}

// lastRun is a schedule's latest run on one line: "STATE at SLOT".
func lastRun(s Schedule) string {
	r := s.LastRun
	if r == nil {
		return "-"
	}
	out := r.State + " at " + formatTime(r.Slot)
	if r.Manual {
		out += " (manual)"
	}
	return out
}

// what says what a schedule runs: "command CMD on G", "spec on G" or
// "spec on N targets".
func what(s Schedule) string {
	out := "spec"
	if s.Command != "" {
		out = "command " + s.Command
	}
	var spec struct {
		NodeGroup string            `json:"nodeGroup"`
		Targets   []json.RawMessage `json:"targets"`
	}
	_ = json.Unmarshal(s.Spec, &spec) // the server's own document
	switch {
	case s.NodeGroup != "":
		out += " on " + s.NodeGroup
	case spec.NodeGroup != "":
		out += " on " + spec.NodeGroup
	case len(spec.Targets) > 0:
		out += fmt.Sprintf(" on %d targets", len(spec.Targets))
	}
	return out
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// printSchedule writes a schedule as "key value" lines or as JSON.
func printSchedule(w io.Writer, s *Schedule, output string) error {
	if output == OutputJSON {
		return printJSON(w, s)
	}
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s\t%s\n", k, v) }
	row("name", s.Name)
	row("cron", s.Cron+" ("+s.Timezone+")")
	row("runs", what(*s))
	row("enabled", fmt.Sprint(s.Enabled))
	row("catch-up", s.CatchUp)
	if s.Enabled {
		row("next", formatTime(s.NextRun))
	}
	row("last", lastRun(*s))
	if s.LastRun != nil {
		row("last job", s.LastRun.Job)
	}
	by := ""
	if s.UpdatedBy != "" {
		by = " by " + s.UpdatedBy
	}
	row("updated", formatTime(s.UpdatedAt)+by)
	return tw.Flush()
}

func schedulePutFlags(fs *flag.FlagSet) func(context.Context, *Client, []string, io.Writer, io.Writer) error {
	cron := fs.String("cron", "", "the slots: `EXPR`, five cron fields or @hourly, @daily, @every 30s…")
	command := fs.String("command", "", "run the command template `NAME` (with --node-group)")
	specFile := fs.String("spec", "", "run the job spec in `FILE` (JSON)")
	group := fs.String("node-group", "", "the node group `NAME` the jobs target")
	catchUp := fs.String("catch-up", "", "slots missed while no master ran: once (the latest runs once; the default) or skip")
	tz := fs.String("timezone", "", "the `ZONE` the cron fields are read in, such as Europe/Paris (default UTC)")
	disabled := fs.Bool("disabled", false, "store the schedule disabled: no slot runs")
	output := fs.String("output", OutputTable, "table or json")
	return func(ctx context.Context, c *Client, args []string, stdout, _ io.Writer) error {
		if err := checkOutput(*output, OutputTable, OutputJSON); err != nil {
			return err
		}
		if *cron == "" {
			return usagef("--cron is required")
		}
		if (*command == "") == (*specFile == "") {
			return usagef("give exactly one of --command and --spec")
		}
		put := SchedulePut{Cron: *cron, Command: *command, NodeGroup: *group, Enabled: !*disabled, CatchUp: *catchUp, Timezone: *tz}
		if *specFile != "" {
			raw, err := readSpecFile(*specFile)
			if err != nil {
				return err
			}
			put.Spec = raw
		}
		s, err := c.PutSchedule(ctx, args[0], put)
		if err != nil {
			return err
		}
		return printSchedule(stdout, s, *output)
	}
}

// maxScheduleSpec bounds a --spec file (the server takes a schedule of
// at most 1 MiB).
const maxScheduleSpec = 1 << 20

// readSpecFile reads a job spec file as JSON, checked for its form here
// (the server checks the rest).
func readSpecFile(name string) (json.RawMessage, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, usagef("--spec: %v", err)
	}
	defer f.Close()
	raw, err := io.ReadAll(io.LimitReader(f, maxScheduleSpec+1))
	if err != nil {
		return nil, usagef("--spec %s: %v", name, err)
	}
	if len(raw) > maxScheduleSpec {
		return nil, usagef("--spec %s: larger than %d bytes: put the targets in a node group", name, maxScheduleSpec)
	}
	if _, err := job.DecodeSpec(strings.NewReader(string(raw))); err != nil {
		return nil, usagef("--spec %s: %v", name, err)
	}
	return raw, nil
}

func scheduleShowFlags(fs *flag.FlagSet) func(context.Context, *Client, []string, io.Writer, io.Writer) error {
	return callAndPrint(fs, (*Client).GetSchedule, printSchedule)
}

func scheduleHistoryFlags(fs *flag.FlagSet) func(context.Context, *Client, []string, io.Writer, io.Writer) error {
	limit := fs.Int("limit", 20, "show the latest `N` runs (at most 100)")
	output := fs.String("output", OutputTable, "table or json")
	return func(ctx context.Context, c *Client, args []string, stdout, _ io.Writer) error {
		if err := checkOutput(*output, OutputTable, OutputJSON); err != nil {
			return err
		}
		if *limit < 1 || *limit > 100 {
			return usagef("--limit %d: want 1 to 100", *limit)
		}
		h, err := c.History(ctx, args[0], "", *limit)
		if err != nil {
			return err
		}
		if *output == OutputJSON {
			return printJSON(stdout, h.Items)
		}
		tw := tabwriter.NewWriter(stdout, 0, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "SLOT\tJOB\tSTATE\tDONE/TOTAL\tCHANGED\tHOSTS\tNEW VALUES")
		for _, r := range h.Items {
			slot := formatTime(r.Slot)
			if r.Manual {
				slot += " (manual)"
			}
			changed, hosts, values := "-", "-", "-"
			if ch := r.Changes; ch != nil {
				changed = Commas(int64(ch.ChangedHosts.Count))
				if !ch.ChangedHosts.Complete {
					changed += "+"
				}
				if ch.ChangedHosts.Folded != "" {
					hosts = displayValue(ch.ChangedHosts.Folded, 60)
				}
				if len(ch.NewValues) > 0 {
					values = displayValue(strings.Join(ch.NewValues, ", "), 60)
					if ch.NewValuesMore > 0 {
						values += fmt.Sprintf(" (+%d)", ch.NewValuesMore)
					}
				}
			}
			state := r.Job.State
			if r.Job.State == JobFailed && r.Job.Total == 0 {
				state += ": " + displayValue(r.Job.Reason, 60)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s/%s\t%s\t%s\t%s\n", slot, r.Job.ID, state, Commas(int64(r.Job.Done)), Commas(int64(r.Job.Total)),
				changed, hosts, values)
		}
		return tw.Flush()
	}
}

func scheduleRunFlags(fs *flag.FlagSet) func(context.Context, *Client, []string, io.Writer, io.Writer) error {
	output := fs.String("output", OutputTable, "table or json")
	return func(ctx context.Context, c *Client, args []string, stdout, _ io.Writer) error {
		if err := checkOutput(*output, OutputTable, OutputJSON); err != nil {
			return err
		}
		st, err := c.RunSchedule(ctx, args[0])
		if err != nil {
			return err
		}
		return printStatus(stdout, st, *output)
	}
}

func scheduleDeleteFlags(fs *flag.FlagSet) func(context.Context, *Client, []string, io.Writer, io.Writer) error {
	return func(ctx context.Context, c *Client, args []string, stdout, _ io.Writer) error {
		if err := c.DeleteSchedule(ctx, args[0]); err != nil {
			return err
		}
		_, err := fmt.Fprintf(stdout, "schedule %s deleted\n", args[0])
		return err
	}
}
