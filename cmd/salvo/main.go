// Command salvo is a distributed fan-out command engine: one HTTP request (or
// SSH command) sent to many hosts, every response gathered, stored and
// aggregated. Subcommands: server, run, jobs, status, results, aggregate,
// cancel, pause, resume, rerun, delete, schedules, schedule, token, health,
// backup, restore, fleet,
// import-rc, bench, completion, version, help.
package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/salvo-sh/salvo/conf"
	"github.com/salvo-sh/salvo/internal/cli"
)

// Set at build time with -ldflags "-X main.version=... -X main.commit=...
// -X main.date=..." (make build does). Without them commit and date come
// from the VCS stamp of the build (debug.ReadBuildInfo).
var (
	version = "dev"
	commit  = ""
	date    = ""
)

const usage = `salvo: send one command to many hosts and gather every answer.

Usage:
  salvo server [flags]   start a node (master and worker, embedded store)
  salvo run [flags]      submit a job to a server and show its progress and summary
  salvo jobs [flags]     list the server's jobs, newest first (--name, --q to search)
  salvo status JOB       print a job's status and what it ran (--wait for its end)
  salvo results JOB      print a job's results (table, json, ndjson or csv)
  salvo aggregate JOB    print a job's results grouped by value, status, errorClass or body
  salvo cancel JOB       cancel a job
  salvo pause JOB        pause a job (no new request starts) until salvo resume
  salvo resume JOB       resume a paused job; a rollout waiting for approval starts its next batch
  salvo rerun JOB        run a finished job again on its failed targets (--state, --wait)
  salvo delete JOB       delete a finished job with its targets and results
  salvo schedules       list the server's schedules: cron, next slot, latest run
  salvo schedule put|show|history|run|delete NAME  manage a schedule and read its runs
  salvo token create|list|revoke  manage the server's API tokens
  salvo health [flags]   exit 0 when a node is ready (/readyz), 1 otherwise: for a container HEALTHCHECK
  salvo backup FILE      copy a server's store into FILE, online (admin)
  salvo restore FILE --data-dir DIR  install a backup as a stopped node's store
  salvo fleet [flags]    simulate a fleet of HTTP (and SSH) hosts on 127.0.0.0/8 for tests and demos
  salvo import-rc [flags] DIR  import REST Commander's .conf files into a data dir
  salvo bench [flags]    measure salvo against a bare fasthttp loop and xargs/curl
  salvo completion bash|zsh|fish  print a shell completion script
  salvo version          print the version, commit, Go version and build date
  salvo help [COMMAND]   print this help, or a command's usage and flags

Run "salvo help COMMAND" or "salvo COMMAND -h" for a command's usage and flags.
`

const versionUsage = `usage: salvo version

Print salvo's version, the commit it was built from, the Go version and the
build date (the commit's time when the build did not record one).
`

const helpUsage = `usage: salvo help [COMMAND]

Print the general usage, or COMMAND's usage and flags.
`

// command is a subcommand: run runs it, help writes its usage to w.
type command struct {
	run  func(args []string, stdout, stderr io.Writer) int
	help func(w io.Writer) int
}

// lookup returns the subcommand called name.
func lookup(name string) (command, bool) {
	// withHelp prints a command's usage by running it with args (-h), its
	// stderr being w: the usage comes from the command's own flag set.
	withHelp := func(run func([]string, io.Writer, io.Writer) int, args ...string) command {
		return command{run: run, help: func(w io.Writer) int { return run(args, w, w) }}
	}
	text := func(s string) func(io.Writer) int {
		return func(w io.Writer) int { fmt.Fprint(w, s); return 0 }
	}
	switch name {
	case "server":
		return command{
			run:  func(args []string, _, stderr io.Writer) int { return runServer(args, stderr) },
			help: func(w io.Writer) int { conf.Usage(w); return 0 },
		}, true
	case "run":
		return withHelp(runRun, "-h"), true
	case "jobs", "status", "results", "aggregate", "cancel", "pause", "resume", "rerun", "delete":
		return withHelp(cli.JobCommand(name, accessFlags), "-h"), true
	case "schedules":
		return withHelp(cli.SchedulesCommand(accessFlags), "-h"), true
	case "schedule":
		return withHelp(cli.ScheduleCommand(accessFlags), "-h"), true
	case "token":
		return withHelp(runToken, "list", "-h"), true
	case "health":
		return withHelp(cli.HealthCommand(accessFlags), "-h"), true
	case "backup":
		return withHelp(cli.BackupCommand(accessFlags), "-h"), true
	case "restore":
		return withHelp(cli.RestoreCommand, "-h"), true
	case "fleet":
		return withHelp(func(args []string, stdout, stderr io.Writer) int {
			if err := runFleet(args, stdout, stderr); err != nil {
				fmt.Fprintln(stderr, "salvo fleet:", err)
				return 1
			}
			return 0
		}, "-h"), true
	case "import-rc":
		return withHelp(runImportRC, "-h"), true
	case "bench":
		return withHelp(runBench, "-h"), true
	case "completion":
		return command{run: runCompletion, help: text(completionUsage)}, true
	case "version":
		return command{run: runVersion, help: text(versionUsage)}, true
	case "help":
		return command{run: runHelp, help: text(helpUsage)}, true
	}
	return command{}, false
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	name, rest := args[0], args[1:]
	switch name {
	case "--version", "-v":
		name = "version"
	case "-h", "-help", "--help":
		name = "help"
	}
	c, ok := lookup(name)
	if !ok {
		fmt.Fprintf(stderr, "salvo: unknown command %q\n\n%s", name, usage)
		return 2
	}
	if len(rest) > 0 && isHelpFlag(rest[0]) {
		return c.help(stdout)
	}
	return c.run(rest, stdout, stderr)
}

func isHelpFlag(s string) bool { return s == "-h" || s == "-help" || s == "--help" }

// runHelp is `salvo help [COMMAND]`.
func runHelp(args []string, stdout, stderr io.Writer) int {
	switch len(args) {
	case 0:
		fmt.Fprint(stdout, usage)
		return 0
	case 1:
		c, ok := lookup(args[0])
		if !ok {
			fmt.Fprintf(stderr, "salvo help: unknown command %q\n\n%s", args[0], usage)
			return 2
		}
		return c.help(stdout)
	}
	fmt.Fprintf(stderr, "salvo help: want one command, got %q\n", strings.Join(args, " "))
	return 2
}

// runVersion is `salvo version`.
func runVersion(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		fmt.Fprintf(stderr, "salvo version: unexpected arguments: %s\n", strings.Join(args, " "))
		return 2
	}
	bi, _ := debug.ReadBuildInfo()
	fmt.Fprint(stdout, versionInfo(version, commit, date, bi))
	return 0
}

// versionInfo formats what `salvo version` prints. The values set by
// -ldflags win; bi (nil when unknown) supplies the rest: the module
// version, vcs.revision and vcs.modified, and vcs.time (the commit's time,
// said so) for the date.
func versionInfo(version, commit, date string, bi *debug.BuildInfo) string {
	goVersion := runtime.Version()
	if bi != nil {
		vcs := map[string]string{}
		for _, s := range bi.Settings {
			vcs[s.Key] = s.Value
		}
		if version == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			version = bi.Main.Version
		}
		if commit == "" && vcs["vcs.revision"] != "" {
			commit = vcs["vcs.revision"]
			if vcs["vcs.modified"] == "true" {
				commit += " (modified)"
			}
		}
		if date == "" && vcs["vcs.time"] != "" {
			date = vcs["vcs.time"] + " (commit time)"
		}
		if bi.GoVersion != "" {
			goVersion = bi.GoVersion
		}
	}
	orUnknown := func(s string) string {
		if s == "" {
			return "unknown"
		}
		return s
	}
	return fmt.Sprintf("salvo %s\ncommit: %s\ndate:   %s\ngo:     %s %s/%s\n",
		version, orUnknown(commit), orUnknown(date), goVersion, runtime.GOOS, runtime.GOARCH)
}
