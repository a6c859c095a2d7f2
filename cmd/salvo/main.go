// Command salvo is a distributed fan-out command engine: one HTTP request (or
// SSH command) sent to many hosts, every response gathered, stored and
// aggregated. Subcommands: server, run, token, fleet, import-rc, bench, version.
package main

import (
	"fmt"
	"io"
	"os"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `salvo: send one command to many hosts and gather every answer.

Usage:
  salvo server [flags]   start a node (master and worker, embedded store)
  salvo run [flags]      submit a job to a server and show its progress and summary
  salvo token create|list|revoke  manage the server's API tokens
  salvo fleet [flags]    simulate a fleet of HTTP (and SSH) hosts on 127.0.0.0/8 for tests and demos
  salvo import-rc [flags] DIR  import REST Commander's .conf files into a data dir
  salvo bench [flags]    measure salvo against a bare fasthttp loop and xargs/curl
  salvo version          print the version

Run "salvo <command> -h" for a command's flags.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "server":
		return runServer(args[1:], stderr)
	case "run":
		return runRun(args[1:], stdout, stderr)
	case "token":
		return runToken(args[1:], stdout, stderr)
	case "fleet":
		if err := runFleet(args[1:], stdout, stderr); err != nil {
			fmt.Fprintln(stderr, "salvo fleet:", err)
			return 1
		}
		return 0
	case "import-rc":
		return runImportRC(args[1:], stdout, stderr)
	case "bench":
		return runBench(args[1:], stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, "salvo", version)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "salvo: unknown command %q\n\n%s", args[0], usage)
	return 2
}
