package main

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/salvo-sh/salvo/internal/cli"
)

const completionUsage = `usage: salvo completion bash|zsh|fish

Print a completion script of the shell for salvo's commands and their flags
(made from the commands' own flag sets). Install it:

  bash: salvo completion bash > /etc/bash_completion.d/salvo
        (or: source <(salvo completion bash) in ~/.bashrc)
  zsh:  salvo completion zsh > "${fpath[1]}/_salvo"
        (or: source <(salvo completion zsh) after compinit in ~/.zshrc)
  fish: salvo completion fish > ~/.config/fish/completions/salvo.fish
`

// runCompletion is `salvo completion SHELL`: the commands of usage, each
// one's flags read from its help (cli.CompletionCommands).
func runCompletion(args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 {
		fmt.Fprint(stderr, completionUsage)
		return cli.ExitUsage
	}
	cmds := cli.CompletionCommands(usage, func(name string) (string, bool) {
		c, ok := lookup(name)
		if !ok {
			return "", false
		}
		var b bytes.Buffer
		c.help(&b)
		return b.String(), true
	})
	if err := cli.WriteCompletion(stdout, args[0], "salvo", cmds); err != nil {
		fmt.Fprintf(stderr, "salvo completion: %v (want %s)\n", err, strings.Join(cli.CompletionShells, ", "))
		return cli.ExitUsage
	}
	return cli.ExitOK
}
