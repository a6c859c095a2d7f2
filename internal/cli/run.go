package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// DefaultServer is the server `salvo run` talks to when neither --server
// nor SALVO_SERVER says otherwise.
const DefaultServer = "http://127.0.0.1:8080"

// Output formats of `salvo run`.
const (
	OutputTable  = "table"
	OutputJSON   = "json"
	OutputNDJSON = "ndjson"
)

// Exit statuses of `salvo run`.
const (
	// ExitOK: the job was gathered and every target is ok (any HTTP
	// status counts as ok unless the job's expect says otherwise),
	// skipped or cancelled; or --detach submitted it.
	ExitOK = 0
	// ExitFailures: the job was gathered and at least one target is
	// failed, error or timeout.
	ExitFailures = 1
	// ExitUsage: a usage error, an unreadable spec or targets file, an
	// --outdir that cannot be made or written, or the server refused the
	// job (4xx); its message and field are printed.
	ExitUsage = 2
	// ExitCancelled: the job ended cancelled or failed (a Ctrl-C cancels
	// it and waits for its end), or the wait was interrupted by SIGTERM, in
	// which case the job is cancelled on the server first.
	ExitCancelled = 3
	// ExitUnreachable: the server could not be reached or answered with an
	// error (5xx, or a 4xx after the job was accepted), the cancel asked by
	// a Ctrl-C included.
	ExitUnreachable = 4
)

// cancelTimeout bounds the cancel request sent when the wait is interrupted.
const cancelTimeout = 5 * time.Second

// RunOptions is the command line of `salvo run`. For the request flags a
// zero value means "not set": with SpecFile the set ones override the
// spec's fields, with TargetsFile they build the HTTP request (unset ones
// take the server's defaults).
type RunOptions struct {
	// Server is the server's base URL (DefaultServer when empty).
	Server string
	// SpecFile is a JSON job spec ("-" = Stdin).
	SpecFile string
	// TargetsFile lists one target per line ("-" = Stdin); '#' comments
	// and blank lines are skipped.
	TargetsFile string
	// Nodesets are the targets of -w and Targets those given as
	// arguments; Exclude are hosts to leave out (-x). Each entry, like
	// each line of TargetsFile, may be a nodeset (BuildSpec).
	Nodesets []string
	Targets  []string
	Exclude  []string
	// Stdin is read for "-".
	Stdin io.Reader

	Name           string
	Path           string
	Method         string
	Body           string
	Headers        []string // "Key: Value"
	Scheme         string
	Port           string
	Concurrency    int // maxConcurrency
	ConnectTimeout time.Duration
	Timeout        time.Duration // per request
	Retries        int
	Regex          string // aggregation regex
	Insecure       bool   // skip TLS verification of targets
	// ExpectStatus sets expect.status: comma-separated codes and classes
	// ("2xx,304"); ExpectBody sets expect.bodyRegex (--expect-status,
	// --expect-body). A target that misses them ends failed (exit 1).
	ExpectStatus string
	ExpectBody   string

	// SSH makes an SSH job from TargetsFile (--ssh); the SSH fields below
	// set ssh.* (with a spec file they override it).
	SSH SSHOptions
	// Rollout sets the spec's rollout (--batches, --max-fail, --pause,
	// --approve; with a spec file they override its rollout).
	Rollout RolloutOptions

	// By is the aggregation key of the summary (ByValue when empty).
	By string
	// MaxHosts, when positive, cuts each group's host list in the summary
	// to its first MaxHosts hosts (--max-hosts); 0 prints every host.
	MaxHosts int
	// Output is OutputTable (default), OutputJSON, OutputNDJSON or
	// OutputCSV (every result, the columns of salvo results --output csv).
	Output string
	// OutDir, when set, is a directory that gets a HOST.out and a
	// HOST.err per target once the job is final (pssh -o/-e; see
	// outdir.go).
	OutDir string
	// NoProgress turns the progress display off.
	NoProgress bool
	// Detach prints the job id and returns without waiting.
	Detach bool

	// Client tunes the API client (DefaultClientConfig when nil).
	Client *ClientConfig

	// Interrupts, when set, receives the process's SIGINTs. While the job
	// runs the first cancels it and Run waits, showing "cancelling, N in
	// flight", for its end and prints the summary of the cancelled job; a
	// second leaves at once (ExitInterrupted). Before and after, a SIGINT
	// ends the command as ctx ending would.
	Interrupts <-chan os.Signal
}

// Run submits the job opts describes, follows it and prints the outcome.
// Progress goes to stderr (a bar redrawn to the terminal's width, plain
// lines otherwise), the summary table, JSON document, NDJSON or CSV
// results to stdout. A Ctrl-C (opts.Interrupts) cancels the job and waits
// for its end, a second leaves at once; when ctx ends while the job runs,
// Run cancels the job on the server (bounded by 5 s) and returns. It
// returns the exit status:
//
//	0    every target ok (any HTTP status), skipped or cancelled; or --detach
//	1    at least one target failed, error or timeout
//	2    usage error, --outdir unusable, or the server refused the job (its error and field are printed)
//	3    the job was cancelled (a Ctrl-C included) or failed, or the wait was interrupted (SIGTERM)
//	4    the server is unreachable or failing (a Ctrl-C's cancel included)
//	130  a second Ctrl-C left without waiting for the cancelled job's end
func Run(ctx context.Context, opts RunOptions, stdout, stderr io.Writer) int {
	ctx, stopInterrupts := withInterrupts(ctx, opts.Interrupts)
	defer stopInterrupts()
	fail := func(code int, format string, args ...any) int {
		fmt.Fprintf(stderr, "salvo run: "+format+"\n", args...)
		return code
	}
	if opts.By == "" {
		opts.By = ByValue
	}
	if opts.Output == "" {
		opts.Output = OutputTable
	}
	if err := checkBy(opts.By); err != nil {
		return fail(ExitUsage, "%v", err)
	}
	if opts.MaxHosts < 0 {
		return fail(ExitUsage, "--max-hosts %d: want 0 or more", opts.MaxHosts)
	}
	switch opts.Output {
	case OutputTable, OutputJSON, OutputNDJSON, OutputCSV:
	default:
		return fail(ExitUsage, "--output %q: want table, json, ndjson or csv", opts.Output)
	}
	spec, err := BuildSpec(opts)
	if err != nil {
		return fail(ExitUsage, "%v", err)
	}
	var outdir *outDir
	if opts.OutDir != "" && !opts.Detach {
		if outdir, err = prepareOutDir(opts.OutDir); err != nil {
			return fail(ExitUsage, "%v", err)
		}
	}

	server := opts.Server
	if server == "" {
		server = DefaultServer
	}
	conf := DefaultClientConfig()
	if opts.Client != nil {
		conf = *opts.Client
	}
	client := NewClientWithConfig(server, conf)
	defer client.Close()

	start := time.Now()
	id, warnings, err := client.Submit(ctx, spec)
	if err != nil {
		var ae *APIError
		switch {
		case errors.As(err, &ae) && ae.Status < 500:
			if ae.Field != "" && !strings.HasPrefix(ae.Message, ae.Field+":") {
				return fail(ExitUsage, "job refused: %s (field %s)", ae.Message, ae.Field)
			}
			return fail(ExitUsage, "job refused: %s", ae.Message)
		case ctx.Err() != nil:
			return fail(ExitCancelled, "interrupted before the job was accepted")
		case errors.As(err, &ae):
			return fail(ExitUnreachable, "server %s failed: %v", client.BaseURL(), err)
		default:
			return fail(ExitUnreachable, "server %s unreachable: %v", client.BaseURL(), err)
		}
	}
	for _, w := range warnings {
		fmt.Fprintf(stderr, "salvo run: warning: %s\n", w)
	}
	if opts.Detach {
		fmt.Fprintln(stdout, id)
		return ExitOK
	}
	switch n := len(spec.Targets); n {
	case 0: // a node group: the server knows the count
		fmt.Fprintf(stderr, "job %s submitted\n", id)
	case 1:
		fmt.Fprintf(stderr, "job %s submitted (1 target)\n", id)
	default:
		fmt.Fprintf(stderr, "job %s submitted (%s targets)\n", id, Commas(int64(n)))
	}

	f := &follower{client: client, id: id, cmd: "salvo run", stderr: stderr}
	if !opts.NoProgress {
		f.prog = progressFor(stderr)
	}
	st, end, err := f.follow(ctx, func(ctx context.Context, fn func(Status)) (Status, error) {
		return client.Watch(ctx, id, fn)
	})
	switch end {
	case followLeft:
		return ExitInterrupted
	case followCancelFailed:
		return ExitUnreachable
	case followInterrupted:
		return interrupted(ctx, client, id, stderr)
	case followFailed:
		return fail(ExitUnreachable, "following job %s: %v", id, err)
	}
	elapsed := jobElapsed(st, time.Since(start))

	if err := writeOutput(ctx, client, opts, st, elapsed, stdout, stderr); err != nil {
		if ctx.Err() != nil {
			return fail(ExitCancelled, "interrupted")
		}
		return fail(ExitUnreachable, "job %s: %v", id, err)
	}
	if outdir != nil {
		n, err := writeOutDir(ctx, client, id, ResultQuery{}, outdir)
		var oe *outDirError
		switch {
		case err == nil:
		case ctx.Err() != nil:
			return fail(ExitCancelled, "interrupted")
		case errors.As(err, &oe):
			return fail(ExitUsage, "%v", err)
		default:
			return fail(ExitUnreachable, "job %s: %v", id, err)
		}
		fmt.Fprintf(stderr, "salvo run: %s results written to %s (HOST.out, HOST.err)\n", Commas(int64(n)), opts.OutDir)
		if n < st.Done {
			fmt.Fprintf(stderr, "salvo run: warning: %s results written, the job has %s\n",
				Commas(int64(n)), Commas(int64(st.Done)))
		}
	}
	return exitFor(st)
}

// writeOutput prints a finished job in the chosen format.
func writeOutput(ctx context.Context, c *Client, opts RunOptions, st Status, elapsed time.Duration, stdout, stderr io.Writer) error {
	switch opts.Output {
	case OutputCSV:
		rw := newResultWriter(stdout, OutputCSV, false)
		if _, err := c.EachResult(ctx, st.ID, ResultQuery{}, rw.write); err != nil {
			return err
		}
		return rw.end()
	case OutputNDJSON:
		n, err := c.StreamResults(ctx, st.ID, stdout)
		if err != nil {
			return err
		}
		if n < st.Done {
			fmt.Fprintf(stderr, "salvo run: warning: %s results streamed, the job has %s\n",
				Commas(int64(n)), Commas(int64(st.Done)))
		}
		return nil
	case OutputJSON:
		agg, err := summarize(ctx, c, st.ID, opts.By, opts.MaxHosts)
		if err != nil {
			return err
		}
		return writeJSON(stdout, st, agg)
	default:
		agg, err := summarize(ctx, c, st.ID, opts.By, opts.MaxHosts)
		if err != nil {
			if st.State != JobGathered && ctx.Err() == nil {
				// A failed or cancelled job may have nothing to aggregate.
				fmt.Fprintf(stderr, "salvo run: no aggregation: %v\n", err)
				agg = nil
			} else {
				return err
			}
		}
		return writeTable(stdout, st, elapsed, agg)
	}
}

// interrupted cancels the job after the wait was interrupted.
func interrupted(ctx context.Context, c *Client, id string, stderr io.Writer) int {
	fmt.Fprintf(stderr, "salvo run: interrupted, cancelling job %s\n", id)
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cancelTimeout)
	defer cancel()
	st, err := c.Cancel(cctx, id)
	if err != nil {
		fmt.Fprintf(stderr, "salvo run: cancel job %s: %v\n", id, err)
		return ExitCancelled
	}
	fmt.Fprintf(stderr, "job %s %s\n", id, st.State)
	return ExitCancelled
}

// exitFor maps a terminal status to the exit status.
func exitFor(st Status) int {
	switch {
	case st.State == JobCancelled || st.State == JobFailed:
		return ExitCancelled
	case st.Counts.Failures() > 0:
		return ExitFailures
	default:
		return ExitOK
	}
}
