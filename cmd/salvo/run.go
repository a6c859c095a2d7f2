package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/salvo-sh/salvo/internal/cli"
)

// listFlags collects the values of a repeated flag (--header, -w, -x).
type listFlags []string

func (h *listFlags) String() string { return strings.Join(*h, ", ") }

func (h *listFlags) Set(v string) error {
	*h = append(*h, v)
	return nil
}

const runUsage = `usage: salvo run (--spec FILE | TARGETS) [-x NODESET]... [request flags] [flags]
       salvo run --ssh TARGETS --user U --identity KEY --command CMD [flags]
TARGETS: any of --targets-file FILE, -w NODESET (repeatable) and TARGET
arguments, all combined.

Submit a job to a salvo server, show its progress on stderr and print the
outcome on stdout. FILE may be "-" for standard input. Every target, line
of FILE, -w and -x may be a clush nodeset: web-[01-20].dc1,
10.0.[0-3].[1-254], root@web-[1-3]:2222, web-[1-10]!web-5, or a folded list
from a summary pasted back (docs/ssh.md, "Nodesets"). -x leaves the hosts
it names out, compared as written. With --spec, -w and TARGET arguments
replace the spec's targets and -x adds to its exclude. SSH jobs fold
identical outputs of the same outcome (--by body, as clush -b: failed
groups first, each with its exit code and stderr) unless --by says
otherwise. Every group's hosts are printed whole unless --max-hosts N.
SSH secrets come from --password-file/--passphrase-file or SALVO_SSH_PASSWORD/
SALVO_SSH_PASSPHRASE, never from the command line. Key files are paths on
the server's workers.

--batches 1,5%,100% runs the targets in batches, in order, with a failure
budget (--max-fail 10 or 5%): over it no new batch starts, the targets not
sent are stored skipped and the job fails; --pause waits between batches,
--approve pauses after each until salvo resume JOB (docs/rollouts.md).

Ctrl-C cancels the job and waits, showing "cancelling, N in flight", for
its end, then prints its summary; a second Ctrl-C leaves at once.

Exit status:
  0    every target ok (any HTTP status), skipped or cancelled; or --detach
  1    at least one target failed, error or timeout
  2    usage error, --outdir unusable, or the server refused the job
  3    the job was cancelled (Ctrl-C) or failed, or interrupted (SIGTERM)
  4    the server is unreachable or failing (the cancel of a Ctrl-C included)
  130  a second Ctrl-C left without waiting for the cancelled job's end

Flags:
`

// runRun is `salvo run`: flags in, cli.Run called. SIGINT goes to cli.Run
// (Ctrl-C cancels the job and waits for its end, a second leaves); SIGTERM
// cancels the job on the server and exits.
func runRun(args []string, stdout, stderr io.Writer) int {
	var opts cli.RunOptions
	var headers, nodesets, exclude listFlags
	var access cli.Access

	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, runUsage)
		fs.PrintDefaults()
	}
	accessFlags(fs, &access)
	fs.StringVar(&opts.SpecFile, "spec", "", "JSON job spec `file` (- = stdin)")
	fs.StringVar(&opts.TargetsFile, "targets-file", "", "`file` of targets, one per line, # comments (- = stdin)")
	fs.Var(&nodesets, "w", "target `nodeset`, such as web-[01-20] (repeatable, as clush -w)")
	fs.Var(&exclude, "x", "leave out the hosts of this `nodeset` (repeatable, as clush -x)")
	fs.StringVar(&opts.Name, "name", "", "job name")
	fs.StringVar(&opts.Path, "path", "", "request path, may use $HOST, $PORT, $INDEX")
	fs.StringVar(&opts.Method, "method", "", "HTTP method (default GET)")
	fs.StringVar(&opts.Body, "body", "", "request body")
	fs.Var(&headers, "header", "request header `Key:Value` (repeatable)")
	fs.StringVar(&opts.Scheme, "scheme", "", "http or https (default http)")
	fs.StringVar(&opts.Port, "port", "", "target port (default 80, 22 for SSH)")
	fs.IntVar(&opts.Concurrency, "concurrency", 0, "requests in flight per worker (maxConcurrency)")
	fs.DurationVar(&opts.ConnectTimeout, "connect-timeout", 0, "connect timeout (default 3s)")
	fs.DurationVar(&opts.Timeout, "timeout", 0, "request timeout (default 15s)")
	fs.IntVar(&opts.Retries, "retries", 0, "retries of a connect error or timeout")
	fs.StringVar(&opts.Regex, "regex", "", "aggregation regex: group 1 of the body is the value")
	fs.BoolVar(&opts.Insecure, "insecure", false, "skip TLS verification of targets")
	fs.StringVar(&opts.ExpectStatus, "expect-status", "", "good answers' HTTP `statuses`, comma-separated codes and classes (2xx,304); others end failed")
	fs.StringVar(&opts.ExpectBody, "expect-body", "", "good answers' body matches this `regex`; others end failed")
	fs.StringVar(&opts.By, "by", cli.ByValue, "summary aggregation: value, status, errorClass, body (output and outcome) or stderr")
	fs.IntVar(&opts.MaxHosts, "max-hosts", 0, "show at most `N` hosts of a summary group (0: every host)")
	fs.StringVar(&opts.Output, "output", cli.OutputTable, "table, json (status + aggregate), ndjson or csv (every result)")
	fs.StringVar(&opts.OutDir, "outdir", "", "write `DIR`/HOST.out and DIR/HOST.err per target once the job ends (pssh -o/-e)")
	fs.BoolVar(&opts.NoProgress, "no-progress", false, "do not show progress")
	fs.BoolVar(&opts.Detach, "detach", false, "print the job id and exit without waiting")
	ro := &opts.Rollout
	fs.StringVar(&ro.Batches, "batches", "", "run the targets in batches of these `sizes`, counts or shares (1,5%,100%); the last repeats (docs/rollouts.md)")
	fs.StringVar(&ro.MaxFail, "max-fail", "", "stop the rollout after a batch once more than `N` targets (10) or N% of those that ran (5%) failed")
	fs.DurationVar(&ro.Pause, "pause", 0, "wait this long between two batches")
	fs.BoolVar(&ro.Approve, "approve", false, "pause after each batch until salvo resume JOB")
	so := &opts.SSH
	fs.BoolVar(&so.On, "ssh", false, "run an SSH command (--command) instead of an HTTP request")
	fs.StringVar(&so.Command, "command", "", "SSH command; salvo expands ${SALVO_HOST}, ${SALVO_PORT}, ${SALVO_INDEX} ($HOST, $PORT, $INDEX) and vars, other $NAMEs reach the remote shell (implies --ssh)")
	fs.StringVar(&so.User, "user", "", "SSH login for targets without user@ (default: the server's user)")
	fs.StringVar(&so.Identity, "identity", "", "SSH private key `file` on the server's workers")
	fs.StringVar(&so.Credential, "credential", "", "SSH credential kept by the server (PUT /api/v1/credentials/NAME)")
	fs.BoolVar(&so.Agent, "agent", false, "use the ssh-agent of the server's workers (SSH_AUTH_SOCK; an admin's jobs only)")
	fs.StringVar(&so.KnownHosts, "known-hosts", "", "known_hosts `file` on the workers (strict: default ~/.ssh/known_hosts)")
	fs.StringVar(&so.HostKeyPolicy, "host-key-policy", "", "strict (default), accept-new or off (unsafe)")
	fs.BoolVar(&so.Sudo, "sudo", false, "run the command under sudo (the password, if any, is fed on stdin)")
	fs.StringVar(&so.ProxyJump, "proxy-jump", "", "connect through this bastion, [user@]host[:port]")
	fs.StringVar(&so.ConfigFile, "ssh-config", "", "OpenSSH client config `file` on the workers: Host, HostName, User, Port, IdentityFile, ProxyJump (ssh.configFile)")
	passwordFile := fs.String("password-file", "", "read the SSH password from this `file` (or set SALVO_SSH_PASSWORD)")
	passphraseFile := fs.String("passphrase-file", "", "read the key's passphrase from this `file` (or set SALVO_SSH_PASSPHRASE)")

	targets, err := cli.ParseInterleaved(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cli.ExitOK
		}
		return cli.ExitUsage
	}
	opts.Targets, opts.Nodesets, opts.Exclude = targets, nodesets, exclude
	if err := access.Resolve(); err != nil {
		fmt.Fprintf(stderr, "salvo run: %v\n", err)
		return cli.ExitUsage
	}
	opts.Server = access.Server
	conf, err := access.Config()
	if err != nil {
		fmt.Fprintf(stderr, "salvo run: %v\n", err)
		return cli.ExitUsage
	}
	opts.Client = &conf
	opts.Headers = headers
	opts.Stdin = os.Stdin
	if so.Password, err = secret(*passwordFile, "SALVO_SSH_PASSWORD"); err != nil {
		fmt.Fprintf(stderr, "salvo run: --password-file: %v\n", err)
		return cli.ExitUsage
	}
	if so.Passphrase, err = secret(*passphraseFile, "SALVO_SSH_PASSPHRASE"); err != nil {
		fmt.Fprintf(stderr, "salvo run: --passphrase-file: %v\n", err)
		return cli.ExitUsage
	}
	byGiven := false
	fs.Visit(func(f *flag.Flag) { byGiven = byGiven || f.Name == "by" })
	if so.Enabled() && !byGiven {
		opts.By = cli.ByBody // clush -b: identical outputs grouped
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	ints := make(chan os.Signal, 2)
	signal.Notify(ints, os.Interrupt)
	defer signal.Stop(ints)
	opts.Interrupts = ints
	return cli.Run(ctx, opts, stdout, stderr)
}

// secret reads a secret from file (its first line) or, when file is empty,
// from the environment variable env.
func secret(file, env string) (string, error) {
	if file == "" {
		return os.Getenv(env), nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return strings.TrimSuffix(line, "\r"), nil
}
