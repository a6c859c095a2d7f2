package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// DefaultHealthTimeout bounds `salvo health` when --timeout is not given.
const DefaultHealthTimeout = 5 * time.Second

const healthUsage = `usage: salvo health [--server URL] [--timeout 5s]

Check that a node is ready (GET /readyz): exit 0 when it answers ready,
1 otherwise, with the reason on stderr. Made for a container HEALTHCHECK
or a probe; it needs no token. The server defaults to ` + DefaultServer + `.

Flags:
`

// Ready asks the server's /readyz and returns nil when it answers ready,
// else why not: the node's reason (starting, shutting down, no master),
// or the error of the call.
func (c *Client) Ready(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.conf.RequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/readyz", nil)
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	c.authorize(req)
	resp, err := c.http.Do(req)
	if err != nil {
		return err // a *url.Error: names the URL
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
		Reason string `json:"reason"`
	}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	if json.Unmarshal(raw, &body) == nil && body.Status != "" {
		msg := body.Status
		if body.Reason != "" {
			msg += ": " + body.Reason
		}
		return fmt.Errorf("%s answers %d %s", c.base, resp.StatusCode, msg)
	}
	return fmt.Errorf("%s/readyz answers %s %s", c.base, resp.Status, strings.TrimSpace(string(raw)))
}

// HealthCommand returns `salvo health`, accessFlags registering its
// connection flags (--server and the TLS files). It exits 0 when the node
// is ready and 1 otherwise, bad flags included: 2 means something else
// to a container HEALTHCHECK.
func HealthCommand(accessFlags AccessFlagsFunc) func(args []string, stdout, stderr io.Writer) int {
	return func(args []string, stdout, stderr io.Writer) int {
		fs := flag.NewFlagSet("health", flag.ContinueOnError)
		fs.SetOutput(stderr)
		fs.Usage = func() {
			fmt.Fprint(stderr, healthUsage)
			fs.PrintDefaults()
		}
		var access Access
		accessFlags(fs, &access)
		timeout := fs.Duration("timeout", DefaultHealthTimeout, "give up after this long")
		quiet := fs.Bool("quiet", false, "print nothing when the node is ready")
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return ExitOK
			}
			return ExitFailures
		}
		if fs.NArg() > 0 {
			fmt.Fprintf(stderr, "salvo health: unexpected arguments: %s\n", strings.Join(fs.Args(), " "))
			return ExitFailures
		}
		if *timeout <= 0 {
			fmt.Fprintf(stderr, "salvo health: --timeout must be positive, got %s\n", *timeout)
			return ExitFailures
		}
		if err := access.Resolve(); err != nil {
			fmt.Fprintf(stderr, "salvo health: %v\n", err)
			return ExitFailures
		}
		cc, err := access.Config()
		if err != nil {
			fmt.Fprintf(stderr, "salvo health: %v\n", err)
			return ExitFailures
		}
		cc.DialTimeout, cc.ResponseHeaderTimeout, cc.RequestTimeout = *timeout, *timeout, *timeout
		client := NewClientWithConfig(access.Server, cc)
		defer client.Close()
		if err := client.Ready(context.Background()); err != nil {
			fmt.Fprintf(stderr, "salvo health: not ready: %v\n", err)
			return ExitFailures
		}
		if !*quiet {
			fmt.Fprintf(stdout, "%s is ready\n", client.BaseURL())
		}
		return ExitOK
	}
}
