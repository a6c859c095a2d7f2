package cli

import (
	"bytes"
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/salvo-sh/salvo/conf"
)

// TestParseFlagHelp reads back the flags of a real flag set from its
// PrintDefaults: every name, and whether it takes a value.
func TestParseFlagHelp(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.String("server", "", "server base URL")
	fs.String("targets-file", "", "`file` of targets")
	fs.Bool("ssh", false, "run an SSH command")
	fs.Bool("no-progress", false, "")
	fs.Duration("wait", time.Second, "wait up to `DURATION`")
	fs.Int("max-concurrency", 0, "overload mode: beyond this many\nrequests in flight hosts slow down")
	fs.String("o", "", "short")
	fs.Bool("q", false, "quiet")
	var b bytes.Buffer
	header := "usage: x [flags]\n\n  -not-a-flag is in the header\n\nFlags:\n"
	b.WriteString(header)
	fs.SetOutput(&b)
	fs.PrintDefaults()
	got := map[string]CompletionFlag{}
	for _, f := range ParseFlagHelp(b.String()) {
		got[f.Name] = f
	}
	n := 0
	fs.VisitAll(func(f *flag.Flag) {
		n++
		c, ok := got[f.Name]
		bf, isBool := f.Value.(interface{ IsBoolFlag() bool })
		wantValue := !(isBool && bf.IsBoolFlag())
		if !ok || c.Value != wantValue {
			t.Errorf("flag %s: parsed %+v (found %v), want value %v", f.Name, c, ok, wantValue)
		}
	})
	if len(got) != n {
		t.Errorf("parsed %d flags, the set has %d: %+v\n%s", len(got), n, got, b.String())
	}
	if got["targets-file"].Help != "file of targets" || got["max-concurrency"].Help != "overload mode: beyond this many" {
		t.Errorf("help texts: %+v", got)
	}
}

// TestParseFlagHelpServer reads conf.Usage, the server's own format.
func TestParseFlagHelpServer(t *testing.T) {
	var b bytes.Buffer
	conf.Usage(&b)
	flags := ParseFlagHelp(b.String())
	want := strings.Count(b.String(), "\n  --") // one line per flag
	if len(flags) != want || want < 10 {
		t.Errorf("parsed %d flags, the usage has %d lines of flags", len(flags), want)
	}
	for _, f := range flags {
		if strings.Contains(f.Help, "$SALVO_") {
			t.Errorf("flag %s: help %q keeps the environment column", f.Name, f.Help)
		}
	}
}

func TestCompletionCommands(t *testing.T) {
	usage := "Usage:\n  prog run [flags]      submit a job\n  prog x\n  salvo token create|list|revoke  tokens\n" +
		"  salvo run [flags]   run it\n  salvo nosuch   unknown\n  salvo version          print the version\n  salvo help [COMMAND]   help\n"
	helps := map[string]string{
		"run":     "usage: salvo run\n\nFlags:\n  -outdir DIR\n    \twrite files\n  -ssh\n    \tssh\n",
		"token":   "Flags:\n  -role string\n    \trole\n",
		"version": "usage: salvo version\n",
		"help":    "usage: salvo help\n",
	}
	cmds := CompletionCommands(usage, func(name string) (string, bool) { s, ok := helps[name]; return s, ok })
	var names []string
	for _, c := range cmds {
		names = append(names, c.Name)
	}
	if strings.Join(names, " ") != "token run version help" {
		t.Fatalf("commands %v", names)
	}
	if c := cmds[0]; strings.Join(c.Verbs, " ") != "create list revoke" || c.Help != "tokens" || len(c.Flags) != 1 || !c.Flags[0].Value {
		t.Errorf("token: %+v", c)
	}
	if c := cmds[1]; c.Verbs != nil || c.Help != "run it" || len(c.Flags) != 2 || c.Flags[0].Name != "outdir" || !c.Flags[0].Value || c.Flags[1].Value {
		t.Errorf("run: %+v", c)
	}
	if c := cmds[2]; c.Help != "print the version" || c.Verbs != nil {
		t.Errorf("version: %+v", c)
	}
	if c := cmds[3]; strings.Join(c.Verbs, " ") != "token run version help" {
		t.Errorf("help: %+v", c)
	}
	var b bytes.Buffer
	if err := WriteCompletion(&b, "tcsh", "salvo", cmds); err == nil {
		t.Error("tcsh accepted")
	}
}
