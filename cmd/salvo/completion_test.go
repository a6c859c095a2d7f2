package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// commandFlags lists the commands of the general usage and, for each, the
// flags its help prints: read here without internal/cli's parser.
func commandFlags(t *testing.T) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, line := range strings.Split(usage, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || f[0] != "salvo" || !strings.HasPrefix(line, "  salvo ") {
			continue
		}
		c, ok := lookup(f[1])
		if !ok {
			t.Errorf("usage lists %q, which lookup does not know", f[1])
			continue
		}
		var b bytes.Buffer
		c.help(&b)
		flags := []string{}
		inFlags := !strings.Contains(b.String(), "Flags:")
		for _, l := range strings.Split(b.String(), "\n") {
			if strings.HasSuffix(strings.TrimSpace(l), "Flags:") {
				inFlags = true
				continue
			}
			tl := strings.TrimLeft(l, " ")
			if !inFlags || !strings.HasPrefix(tl, "-") || len(l)-len(tl) > 4 {
				continue
			}
			name := strings.TrimRight(strings.TrimLeft(strings.Fields(tl)[0], "-"), ",")
			if name != "h" && name != "help" {
				flags = append(flags, name)
			}
		}
		out[f[1]] = flags
	}
	return out
}

func TestCompletion(t *testing.T) {
	cmds := commandFlags(t)
	for _, name := range []string{"run", "server", "results", "status", "fleet", "token", "completion", "help"} {
		if _, ok := cmds[name]; !ok {
			t.Fatalf("no command %q in the usage", name)
		}
	}
	for name, want := range map[string][]string{
		"run":     {"outdir", "output", "targets-file", "ssh", "server", "no-progress"},
		"results": {"outdir", "state", "server"},
		"server":  {"http-addr", "data-dir"},
		"status":  {"wait"},
	} {
		for _, f := range want {
			if !strings.Contains(" "+strings.Join(cmds[name], " ")+" ", " "+f+" ") {
				t.Errorf("%s: flag %s not found in its help: %v", name, f, cmds[name])
			}
		}
	}

	for _, shell := range []string{"bash", "zsh", "fish"} {
		t.Run(shell, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run([]string{"completion", shell}, &stdout, &stderr); code != 0 || stderr.Len() > 0 {
				t.Fatalf("exit %d: %s", code, stderr.String())
			}
			script := stdout.String()
			for name, flags := range cmds {
				block := commandBlock(t, shell, script, name)
				for _, f := range flags {
					var ok bool
					switch shell {
					case "fish":
						ok = regexp.MustCompile(`(?m)^complete -c salvo -n '__fish_seen_subcommand_from ` + regexp.QuoteMeta(name) +
							`' -l ` + regexp.QuoteMeta(f) + `( |$)`).MatchString(script)
					case "zsh":
						ok = strings.Contains(block, "'--"+f+"[") || strings.Contains(block, "'--"+f+"=[")
					default:
						ok = regexp.MustCompile(`(^|[' ])--` + regexp.QuoteMeta(f) + `([' ]|$)`).MatchString(block)
					}
					if !ok {
						t.Errorf("%s: flag --%s of %s missing", shell, f, name)
					}
				}
			}
			checkSyntax(t, shell, script)
		})
	}

	var stdout, stderr bytes.Buffer
	if code := run([]string{"completion", "tcsh"}, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), `unknown shell "tcsh"`) {
		t.Errorf("tcsh: exit %d %s", code, stderr.String())
	}
	if code := run([]string{"completion"}, &stdout, &stderr); code != 2 {
		t.Errorf("no shell: exit %d", code)
	}
}

// commandBlock is the part of a bash or zsh script that completes name
// (its case branch); the whole script for fish.
func commandBlock(t *testing.T, shell, script, name string) string {
	t.Helper()
	if shell == "fish" {
		if !strings.Contains(script, "__fish_use_subcommand -f -a '"+name+"'") {
			t.Errorf("fish: command %s missing", name)
		}
		return script
	}
	i := strings.Index(script, "\n        '"+name+"')\n")
	if i < 0 {
		t.Errorf("%s: no case branch for %s", shell, name)
		return ""
	}
	block := script[i:]
	return block[:strings.Index(block, ";;")]
}

// checkSyntax runs the shell's own syntax check, when the shell is here.
func checkSyntax(t *testing.T, shell, script string) {
	t.Helper()
	path, err := exec.LookPath(shell)
	if err != nil {
		t.Skipf("%s not installed: syntax not checked", shell)
	}
	file := filepath.Join(t.TempDir(), "salvo."+shell)
	if err := os.WriteFile(file, []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	flag := "-n"
	if shell == "fish" {
		flag = "--no-execute"
	}
	if out, err := exec.Command(path, flag, file).CombinedOutput(); err != nil {
		t.Errorf("%s %s: %v\n%s", shell, flag, err, out)
	}
	if shell != "bash" {
		return
	}
	// And what it completes: commands, flags, verbs.
	probe := `source ` + file + `
t() { COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]}-1)); COMPREPLY=(); _salvo; echo "${COMPREPLY[*]}"; }
t salvo ru; t salvo run --outd; t salvo token ''; t salvo results JOB --outdir ''; t salvo completion z`
	out, err := exec.Command(path, "-c", probe).CombinedOutput()
	if want := "run\n--outdir\ncreate list revoke\n\nzsh\n"; err != nil || string(out) != want {
		t.Errorf("bash completes %q, %v; want %q", out, err, want)
	}
}
