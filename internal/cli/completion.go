package cli

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
)

// CompletionShells are the shells WriteCompletion writes scripts for.
var CompletionShells = []string{"bash", "zsh", "fish"}

// CompletionCommand is a subcommand as a shell completes it.
type CompletionCommand struct {
	Name string
	// Help is its one-line description.
	Help string
	// Verbs are the words its first argument may be (token: create, list,
	// revoke); nil when it takes anything.
	Verbs []string
	Flags []CompletionFlag
}

// CompletionFlag is a flag of a subcommand.
type CompletionFlag struct {
	// Name is the flag's name without dashes.
	Name string
	// Value reports that the flag takes a value (completed as a file).
	Value bool
	// Help is the first line of its usage.
	Help string
}

// usageCommand matches a command line of the general usage:
// "  salvo NAME [ARGS] <2+ spaces> description".
var usageCommand = regexp.MustCompile(`^\s+salvo\s+([a-z][a-z0-9-]*)(.*)$`)

// CompletionCommands reads the subcommands from usage, the general usage
// text (a line "  salvo NAME[ a|b|c] ...  description" per command), and
// each one's flags from the text help(NAME) returns: what `salvo help
// NAME` prints, made by the command's own flag set (flag.PrintDefaults, or
// conf.Usage for the server), so that the completion lists never drift
// from the flags. Names help does not know are left out; the help
// command's verbs are the command names.
func CompletionCommands(usage string, help func(name string) (string, bool)) []CompletionCommand {
	var cmds []CompletionCommand
	seen := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(usage))
	for sc.Scan() {
		m := usageCommand.FindStringSubmatch(sc.Text())
		if m == nil || seen[m[1]] {
			continue
		}
		text, ok := help(m[1])
		if !ok {
			continue
		}
		seen[m[1]] = true
		c := CompletionCommand{Name: m[1], Flags: ParseFlagHelp(text)}
		rest := m[2]
		if i := strings.Index(rest, "  "); i >= 0 {
			c.Help = strings.TrimSpace(rest[i:])
			rest = rest[:i]
		}
		if f := strings.Fields(rest); len(f) > 0 && strings.Contains(f[0], "|") && !strings.ContainsAny(f[0], "[]") {
			c.Verbs = strings.Split(f[0], "|")
		}
		cmds = append(cmds, c)
	}
	for i := range cmds {
		if cmds[i].Name == "help" {
			for _, c := range cmds {
				cmds[i].Verbs = append(cmds[i].Verbs, c.Name)
			}
		}
	}
	return cmds
}

// flagLine matches a flag's line of flag.PrintDefaults ("  -name type")
// or of conf.Usage ("  --name type  usage").
var flagLine = regexp.MustCompile(`^ {1,4}--?([A-Za-z0-9][A-Za-z0-9_.-]*)(.*)$`)

// ParseFlagHelp returns the flags a command's usage text lists after its
// "Flags:" line (the whole text when there is none), as printed by
// flag.PrintDefaults ("  -name type" then "    \tusage") or conf.Usage
// ("  --name type  usage", a bool flag without type). -h and --help are
// left out. The flags are sorted by name.
func ParseFlagHelp(text string) []CompletionFlag {
	lines := strings.Split(text, "\n")
	for i, l := range lines {
		if strings.HasSuffix(strings.TrimSpace(l), "Flags:") {
			lines = lines[i+1:]
			break
		}
	}
	var out []CompletionFlag
	seen := map[string]bool{}
	for i, l := range lines {
		m := flagLine.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		name, rest := m[1], m[2]
		if name == "h" || name == "help" || seen[name] || strings.HasPrefix(rest, ",") {
			continue
		}
		seen[name] = true
		f := CompletionFlag{Name: name}
		// A value's name follows after one space; a bool flag has none
		// (its usage comes after a tab, two spaces or the line's end).
		if len(rest) > 1 && rest[0] == ' ' && rest[1] != ' ' && rest[1] != '\t' {
			f.Value = true
			rest = strings.TrimLeft(rest[1:], "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")
		}
		f.Help = strings.TrimSpace(rest)
		if f.Help == "" && i+1 < len(lines) && strings.HasPrefix(lines[i+1], "    \t") {
			f.Help = strings.TrimSpace(lines[i+1])
		}
		if j := strings.Index(f.Help, "\t"); j >= 0 { // conf.Usage's $SALVO_... column
			f.Help = strings.TrimSpace(f.Help[:j])
		}
		if j := strings.Index(f.Help, "  $SALVO_"); j >= 0 {
			f.Help = strings.TrimSpace(f.Help[:j])
		}
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// WriteCompletion writes the completion script of shell (bash, zsh or
// fish) for the program prog and its commands cmds.
func WriteCompletion(w io.Writer, shell, prog string, cmds []CompletionCommand) error {
	var s string
	switch shell {
	case "bash":
		s = bashCompletion(prog, cmds)
	case "zsh":
		s = zshCompletion(prog, cmds)
	case "fish":
		s = fishCompletion(prog, cmds)
	default:
		return usagef("unknown shell %q: want %s", shell, strings.Join(CompletionShells, ", "))
	}
	_, err := io.WriteString(w, s)
	return err
}

var notIdent = regexp.MustCompile(`[^A-Za-z0-9_]`)

// ident makes prog a shell function name.
func ident(prog string) string { return notIdent.ReplaceAllString(prog, "_") }

// shortHelp is a description on one line, at most 70 characters.
func shortHelp(s string) string {
	s = strings.Join(strings.Fields(printable(s)), " ")
	if r := []rune(s); len(r) > 70 {
		s = string(r[:69]) + "…"
	}
	return s
}

// sq quotes s for a POSIX shell (bash, zsh) in single quotes.
func sq(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func bashCompletion(prog string, cmds []CompletionCommand) string {
	fn := "_" + ident(prog)
	var b strings.Builder
	fmt.Fprintf(&b, "# bash completion for %s: source it, or install it as\n", prog)
	fmt.Fprintf(&b, "# /etc/bash_completion.d/%s (%s completion bash)\n", prog, prog)
	fmt.Fprintf(&b, "%s() {\n", fn)
	b.WriteString(`    local cur prev cmd i
    cur=${COMP_WORDS[COMP_CWORD]}
    prev=${COMP_WORDS[COMP_CWORD-1]}
    cmd=
    for ((i = 1; i < COMP_CWORD; i++)); do
        case ${COMP_WORDS[i]} in
            -*) ;;
            *) cmd=${COMP_WORDS[i]}; break ;;
        esac
    done
    local flags= values= verbs=
    case $cmd in
`)
	names := make([]string, len(cmds))
	for i, c := range cmds {
		names[i] = c.Name
	}
	fmt.Fprintf(&b, "        '') COMPREPLY=($(compgen -W %s -- \"$cur\")); return ;;\n", sq(strings.Join(names, " ")))
	for _, c := range cmds {
		var flags, values []string
		for _, f := range c.Flags {
			flags = append(flags, "--"+f.Name)
			if f.Value {
				values = append(values, f.Name)
			}
		}
		fmt.Fprintf(&b, "        %s)\n            flags=%s\n            values=%s\n            verbs=%s\n            ;;\n",
			sq(c.Name), sq(strings.Join(flags, " ")), sq(" "+strings.Join(values, " ")+" "), sq(strings.Join(c.Verbs, " ")))
	}
	b.WriteString(`    esac
    local p=${prev#-}
    p=${p#-}
    if [[ $prev == -* && $values == *" $p "* ]]; then
        COMPREPLY=()   # a flag's value: file names (-o default)
        return
    fi
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$flags" -- "$cur"))
        return
    fi
    if [[ -n $verbs && $i -eq $((COMP_CWORD - 1)) ]]; then
        COMPREPLY=($(compgen -W "$verbs" -- "$cur"))
        return
    fi
    COMPREPLY=()
}
`)
	fmt.Fprintf(&b, "complete -o default -F %s %s\n", fn, prog)
	return b.String()
}

// zshDesc makes s fit in an _arguments [description] or a _describe
// "name:description" entry.
func zshDesc(s string) string {
	return strings.NewReplacer("[", "(", "]", ")", ":", " ", `\`, "/").Replace(shortHelp(s))
}

func zshCompletion(prog string, cmds []CompletionCommand) string {
	fn := "_" + ident(prog)
	var b strings.Builder
	fmt.Fprintf(&b, "#compdef %s\n", prog)
	fmt.Fprintf(&b, "# zsh completion for %s: put it in a directory of $fpath as _%s, or\n", prog, ident(prog))
	fmt.Fprintf(&b, "# source it after compinit (%s completion zsh)\n", prog)
	fmt.Fprintf(&b, "%s() {\n    local -a commands\n    commands=(\n", fn)
	for _, c := range cmds {
		fmt.Fprintf(&b, "        %s\n", sq(c.Name+":"+zshDesc(c.Help)))
	}
	b.WriteString(`    )
    if (( CURRENT == 2 )); then
        _describe -t commands 'command' commands
        return
    fi
    local cmd=${words[2]}
    shift words
    (( CURRENT-- ))
    case $cmd in
`)
	for _, c := range cmds {
		fmt.Fprintf(&b, "        %s)\n            _arguments -S", sq(c.Name))
		for _, f := range c.Flags {
			spec := "--" + f.Name
			if f.Value {
				spec += "=[" + zshDesc(f.Help) + "]:" + f.Name + ":_files"
			} else {
				spec += "[" + zshDesc(f.Help) + "]"
			}
			fmt.Fprintf(&b, " \\\n                %s", sq(spec))
		}
		if len(c.Verbs) > 0 {
			fmt.Fprintf(&b, " \\\n                %s", sq("1:"+c.Name+":("+strings.Join(c.Verbs, " ")+")"))
		}
		fmt.Fprintf(&b, " \\\n                %s\n            ;;\n", sq("*:file:_files"))
	}
	b.WriteString("    esac\n}\n")
	fmt.Fprintf(&b, "if [ \"$funcstack[1]\" = %s ]; then\n    %s \"$@\"\nelse\n    compdef %s %s\nfi\n", sq(fn), fn, fn, prog)
	return b.String()
}

// fq quotes s for fish in single quotes.
func fq(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, "'", `\'`).Replace(s) + "'"
}

func fishCompletion(prog string, cmds []CompletionCommand) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# fish completion for %s: save it as ~/.config/fish/completions/%s.fish\n", prog, prog)
	fmt.Fprintf(&b, "# (%s completion fish)\n", prog)
	for _, c := range cmds {
		fmt.Fprintf(&b, "complete -c %s -n __fish_use_subcommand -f -a %s -d %s\n", prog, fq(c.Name), fq(shortHelp(c.Help)))
	}
	for _, c := range cmds {
		cond := fq("__fish_seen_subcommand_from " + c.Name)
		if len(c.Verbs) > 0 {
			fmt.Fprintf(&b, "complete -c %s -n %s -f -a %s\n", prog, cond, fq(strings.Join(c.Verbs, " ")))
		}
		for _, f := range c.Flags {
			req := ""
			if f.Value {
				req = " -r"
			}
			fmt.Fprintf(&b, "complete -c %s -n %s -l %s%s -d %s\n", prog, cond, f.Name, req, fq(shortHelp(f.Help)))
		}
	}
	return b.String()
}
