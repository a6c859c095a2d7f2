package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/salvo-sh/salvo/conf"
	"github.com/salvo-sh/salvo/internal/server"
	"github.com/salvo-sh/salvo/store"
)

const importRCUsage = `usage: salvo import-rc [--data-dir DIR] [--replace] [--dry-run] CONF_DIR

Import REST Commander's configuration files from CONF_DIR (agentcommand.conf,
nodegroup.conf, aggregation.conf, httpheader.conf; missing ones are skipped)
as salvo's named commands, node groups, aggregations and header sets, written
into the store in --data-dir. Run it while the server is stopped, or start
the server with --rc-conf-dir CONF_DIR instead.

A stored definition of the same name that differs is kept unless --replace
is given. Problems are reported as file:line and nothing is written.

Exit status: 0 imported, 1 the files or the store have errors, 2 usage.

Flags:
`

// runImportRC is `salvo import-rc`: conf.ImportRC reads the files,
// server.PutDefinitions writes them.
func runImportRC(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("import-rc", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, importRCUsage)
		fs.PrintDefaults()
	}
	dataDir := fs.String("data-dir", conf.DefaultDataDir, "the server's data directory (its embedded store)")
	replace := fs.Bool("replace", false, "replace stored definitions that differ")
	dryRun := fs.Bool("dry-run", false, "read and check the files, write nothing")
	var dirs []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return 0
			}
			return 2
		}
		if fs.NArg() == 0 {
			break
		}
		dirs = append(dirs, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(dirs) != 1 {
		fmt.Fprintln(stderr, "salvo import-rc: want exactly one CONF_DIR")
		fs.Usage()
		return 2
	}
	imp, err := conf.ImportRC(dirs[0])
	if err != nil {
		fmt.Fprintf(stderr, "salvo import-rc: %v\n", err)
		return 1
	}
	for _, n := range imp.Notes {
		fmt.Fprintln(stdout, "note:", n)
	}
	for _, w := range imp.Warnings {
		fmt.Fprintln(stderr, "warning:", w)
	}
	if *dryRun {
		fmt.Fprintf(stdout, "%s: %d header sets, %d aggregations, %d node groups, %d commands (dry run: nothing written)\n",
			dirs[0], len(imp.HeaderSets), len(imp.Aggregations), len(imp.NodeGroups), len(imp.Commands))
		return 0
	}
	st, err := store.OpenSQLite(store.DefaultSQLiteConfig(*dataDir))
	if err != nil {
		fmt.Fprintf(stderr, "salvo import-rc: open store in %s: %v\n", *dataDir, err)
		return 1
	}
	results, err := server.PutDefinitions(context.Background(), st, imp.Definitions, *replace)
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tNAME\tACTION\tFROM")
	count := map[string]int{}
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Kind, r.Name, r.Action, r.Origin)
		count[r.Action]++
	}
	tw.Flush()
	fmt.Fprintf(stdout, "%d created, %d replaced, %d unchanged, %d kept", count[server.ActionCreated],
		count[server.ActionReplaced], count[server.ActionUnchanged], count[server.ActionKept])
	if count[server.ActionKept] > 0 {
		fmt.Fprint(stdout, " (they differ from the stored ones: --replace overwrites them)")
	}
	fmt.Fprintf(stdout, " in %s\n", *dataDir)
	if err != nil {
		fmt.Fprintf(stderr, "salvo import-rc: %v\n", err)
		return 1
	}
	return 0
}
