package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// runXargs is baseline B: `xargs -P Concurrency -n 1 curl ...` with one
// curl process per target, each sending one GET with "Connection: close"
// and printing the status code. A target fails when curl prints anything
// but 200. It returns the row and xargs's pid (0 when it did not start).
func runXargs(ctx context.Context, cfg Config, targets []string) (Row, int, error) {
	var in strings.Builder
	for _, t := range targets {
		in.WriteString("http://" + t + Path + "\n")
	}
	secs := func(d time.Duration) string { return fmt.Sprintf("%.3f", math.Max(d.Seconds(), 0.001)) }
	cmd := exec.Command("xargs", "-P", fmt.Sprint(cfg.Concurrency), "-n", "1",
		"curl", "--silent", "--output", "/dev/null", "--write-out", `%{http_code}\n`,
		"--header", "Connection: close", "--connect-timeout", secs(cfg.ConnectTimeout),
		"--max-time", secs(cfg.RequestTimeout))
	cmd.Stdin = strings.NewReader(in.String())
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	cmd.SysProcAttr = childSysProcAttr()
	cmd.WaitDelay = cfg.StopTimeout

	start := time.Now()
	if err := cmd.Start(); err != nil {
		return Row{}, 0, fmt.Errorf("bench: start xargs: %w", err)
	}
	pid := cmd.Process.Pid
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	var werr error
	select {
	case werr = <-waited:
	case <-ctx.Done():
		_ = signalGroup(pid, syscall.SIGKILL) // xargs and its curls
		select {
		case <-waited:
		case <-time.After(2 * cfg.StopTimeout): // Wait itself is bounded by WaitDelay
		}
		return Row{}, pid, fmt.Errorf("bench: xargs: %w", context.Cause(ctx))
	}
	elapsed := time.Since(start)

	ok, done := 0, 0
	var notes noteSet
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		done++
		if code := strings.TrimSpace(sc.Text()); code == "200" {
			ok++
		} else {
			notes.add("curl status " + code)
		}
	}
	row := Row{
		Scenario:    ScenarioXargs,
		Targets:     len(targets),
		Concurrency: cfg.Concurrency,
		Seconds:     elapsed.Seconds(),
		Rate:        float64(done) / elapsed.Seconds(),
		Errors:      len(targets) - ok,
		Notes:       notes.list(),
	}
	// xargs exits 123 when some curl failed; those are counted above.
	var ee *exec.ExitError
	if werr != nil && !(errors.As(werr, &ee) && ee.ExitCode() == 123) {
		row.Notes = append(row.Notes, fmt.Sprintf("xargs: %v %s", werr, strings.TrimSpace(stderr.String())))
	}
	if done < len(targets) {
		row.Notes = append(row.Notes, fmt.Sprintf("curl reported %d of %d targets", done, len(targets)))
	}
	return row, pid, nil
}
