package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/salvo-sh/salvo/internal/cli"
)

const tokenUsage = `usage: salvo token create --name NAME --role viewer|operator|admin [--expires 720h] [--scope GROUP,...]
       salvo token list
       salvo token revoke NAME

Manage the server's API tokens (an admin token is needed: --token,
--token-file, SALVO_TOKEN or tokenFile in ~/.config/salvo/config.yaml).
create prints the new token once: the server keeps only its hash.

Flags:
`

// accessFlags registers --server, --token and --token-file.
func accessFlags(fs *flag.FlagSet, a *cli.Access) {
	fs.StringVar(&a.Server, "server", "", "server base URL (env SALVO_SERVER; default "+cli.DefaultServer+")")
	fs.StringVar(&a.Token, "token", "", "API token (env SALVO_TOKEN; --token-file keeps it out of ps)")
	fs.StringVar(&a.TokenFile, "token-file", "", "`file` holding the API token")
	fs.StringVar(&a.CA, "ca", "", "PEM `file` of the CA that signs the server's certificate (https)")
	fs.StringVar(&a.Cert, "cert", "", "client certificate `file` for a server that asks for one")
	fs.StringVar(&a.Key, "key", "", "private key `file` of --cert")
}

// runToken is `salvo token`.
func runToken(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, tokenUsage)
		fs.PrintDefaults()
	}
	var a cli.Access
	accessFlags(fs, &a)
	name := fs.String("name", "", "token name (create)")
	role := fs.String("role", "", "viewer, operator or admin (create)")
	expires := fs.String("expires", "", "lifetime from now, such as 720h (create; default: never)")
	scope := fs.String("scope", "", "node groups the token may send to, comma-separated (create)")
	if len(args) == 0 {
		fs.Usage()
		return cli.ExitUsage
	}
	verb, rest := args[0], args[1:]
	var revokeName string
	if verb == "revoke" && len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		revokeName, rest = rest[0], rest[1:] // the name before the flags
	}
	if err := fs.Parse(rest); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cli.ExitOK
		}
		return cli.ExitUsage
	}
	if err := a.Resolve(); err != nil {
		fmt.Fprintf(stderr, "salvo token: %v\n", err)
		return cli.ExitUsage
	}
	conf, err := a.Config()
	if err != nil {
		fmt.Fprintf(stderr, "salvo token: %v\n", err)
		return cli.ExitUsage
	}
	client := cli.NewClientWithConfig(a.Server, conf)
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	switch verb {
	case "create":
		if *name == "" || *role == "" || fs.NArg() > 0 {
			fmt.Fprintln(stderr, "salvo token create: --name and --role are needed")
			return cli.ExitUsage
		}
		var groups []string
		if *scope != "" {
			groups = strings.Split(*scope, ",")
		}
		var t *cli.TokenInfo
		if t, err = client.CreateToken(ctx, *name, *role, *expires, groups); err == nil {
			fmt.Fprintln(stdout, t.Token)
			fmt.Fprintf(stderr, "token %s (%s) created: it is shown this once\n", t.Name, t.Role)
		}
	case "list":
		var ts []cli.TokenInfo
		if ts, err = client.ListTokens(ctx); err == nil {
			cli.PrintTokens(stdout, ts)
		}
	case "revoke":
		if revokeName == "" && fs.NArg() == 1 {
			revokeName = fs.Arg(0)
		}
		if revokeName == "" || fs.NArg() > 1 || (fs.NArg() == 1 && revokeName != fs.Arg(0)) {
			fmt.Fprintln(stderr, "salvo token revoke: give one token's name")
			return cli.ExitUsage
		}
		if err = client.RevokeToken(ctx, revokeName); err == nil {
			fmt.Fprintf(stderr, "token %s revoked\n", revokeName)
		}
	default:
		fs.Usage()
		return cli.ExitUsage
	}
	if err != nil {
		fmt.Fprintf(stderr, "salvo token %s: %v\n", verb, err)
		return cli.ExitUsage
	}
	return cli.ExitOK
}
