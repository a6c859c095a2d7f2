package bench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/salvo-sh/salvo/fleet"
)

// SSH benchmark scenario names, as printed in the report.
const (
	ScenarioSSHLoop  = "ssh-loop"
	ScenarioSalvoSSH = "salvo-ssh"
	ScenarioPSSH     = "parallel-ssh"
)

// sshUser is the login of every SSH scenario (the fleet accepts any).
const sshUser = "bench"

// SSHConfig configures the SSH benchmark (`salvo bench --ssh`): one
// command on every target of `salvo fleet --ssh`, by a bare x/crypto/ssh
// loop in this process, by one salvo job and by Debian's parallel-ssh on
// a subset, each at the same concurrency.
type SSHConfig struct {
	// Targets is the target count of the loop and the salvo job.
	Targets int
	// PSSHTargets is how many targets (the first ones) parallel-ssh gets;
	// 0 skips it, as does a missing parallel-ssh.
	PSSHTargets int
	// Command is the command run on every target; the fleet's `hostname`
	// prints the target's address, which every scenario checks.
	Command string
}

// DefaultSSHConfig returns the SSH benchmark of `salvo bench --ssh`.
func DefaultSSHConfig() SSHConfig {
	return SSHConfig{Targets: 5000, PSSHTargets: 500, Command: "hostname"}
}

// SSHReport is the outcome of the SSH benchmark.
type SSHReport struct {
	Started     time.Time `json:"started"`
	Elapsed     float64   `json:"elapsedSeconds"`
	Command     string    `json:"command"`
	Concurrency int       `json:"concurrency"`
	Rows        []Row     `json:"rows"`
	// ChildPIDs are the processes the run started; all have exited when
	// RunSSH returns.
	ChildPIDs []int `json:"childPids"`
}

// Failed reports whether any row has errors.
func (r *SSHReport) Failed() bool {
	for _, row := range r.Rows {
		if row.Errors > 0 {
			return true
		}
	}
	return false
}

// SSHHeader explains the SSH table's columns.
const SSHHeader = `# salvo bench --ssh: one SSH connection and one command per target against ` + "`salvo fleet --ssh`" + ` on 127.0.0.0/8
# (ed25519 keys, host keys not checked, the command run in process by the fleet).
# targets/s: targets finished per second (salvo: job submit -> "gathered", through the API).
# ratio: targets/s / the bare x/crypto/ssh loop's (same concurrency; parallel-ssh on a subset).
# peak RSS: the salvo server's (ssh-loop: the bench process's). errors: targets without the expected output.`

// WriteTable writes the header, one line per row and the rows' notes.
func (r *SSHReport) WriteTable(w io.Writer) error {
	var b strings.Builder
	b.WriteString(SSHHeader + "\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario    \ttargets\tconcurrency\tseconds\ttargets/s\tratio\tpeak RSS\terrors\t")
	for _, row := range r.Rows {
		ratio, rss := "-", "-"
		if row.Ratio > 0 {
			ratio = strconv.FormatFloat(row.Ratio, 'f', 2, 64)
		}
		if row.PeakRSS > 0 {
			rss = formatBytes(row.PeakRSS)
		}
		fmt.Fprintf(tw, "%-12s\t%d\t%d\t%.2f\t%.0f\t%s\t%s\t%d\t\n",
			row.Scenario, row.Targets, row.Concurrency, row.Seconds, row.Rate, ratio, rss, row.Errors)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, row := range r.Rows {
		for _, n := range row.Notes {
			fmt.Fprintf(&b, "# %s %d: %s\n", row.Scenario, row.Targets, n)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteJSON writes the report as indented JSON.
func (r *SSHReport) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// RunSSH runs the SSH benchmark with cfg's binary, concurrency, timeouts
// and logging. On an error that stops the run it returns the rows measured
// so far with the error; failed targets are counted in each row's Errors.
func RunSSH(ctx context.Context, cfg Config, sc SSHConfig) (rep *SSHReport, err error) {
	if sc.Targets <= 0 || sc.Targets > fleet.MaxHosts || sc.PSSHTargets < 0 || sc.Command == "" {
		return nil, fmt.Errorf("%w: ssh targets %d, parallel-ssh targets %d, command %q", ErrInvalidConfig,
			sc.Targets, sc.PSSHTargets, sc.Command)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	rep = &SSHReport{Started: time.Now(), Command: sc.Command, Concurrency: cfg.Concurrency}
	defer func() {
		rep.fillRatios()
		rep.Elapsed = time.Since(rep.Started).Round(time.Millisecond).Seconds()
	}()

	dir, err := os.MkdirTemp("", "salvo-bench-ssh-")
	if err != nil {
		return rep, fmt.Errorf("bench: ssh dir: %w", err)
	}
	defer os.RemoveAll(dir)
	keys, err := writeSSHKeys(dir)
	if err != nil {
		return rep, err
	}

	fl, port, err := startSSHFleet(ctx, cfg, keys)
	if fl != nil {
		rep.ChildPIDs = append(rep.ChildPIDs, fl.pid())
	}
	if err != nil {
		return rep, err
	}
	defer joinErr(&err, func() error { return fl.stop(cfg.StopTimeout) })
	cfg.Logger.Info("ssh fleet started", "port", port, "pid", fl.pid())
	targets := fleet.Targets(sc.Targets, port)

	cfg.Logger.Info("bare x/crypto/ssh loop", "targets", len(targets), "concurrency", cfg.Concurrency)
	loop := runSSHLoop(ctx, cfg, sc, keys.signer, targets)
	rep.Rows = append(rep.Rows, loop)
	cfg.Logger.Info("bare ssh loop done", "targetsPerSecond", int(loop.Rate), "errors", loop.Errors)
	if err := ctx.Err(); err != nil {
		return rep, fmt.Errorf("bench: %w", context.Cause(ctx))
	}

	cfg.Logger.Info("salvo ssh job", "targets", len(targets), "concurrency", cfg.Concurrency)
	row, pid, err := runSalvoSSH(ctx, cfg, sc, keys.private, targets)
	if pid > 0 {
		rep.ChildPIDs = append(rep.ChildPIDs, pid)
	}
	if err != nil {
		return rep, err
	}
	rep.Rows = append(rep.Rows, row)
	cfg.Logger.Info("salvo ssh job done", "targetsPerSecond", int(row.Rate), "errors", row.Errors,
		"peakRSS", formatBytes(row.PeakRSS))

	if n := min(sc.PSSHTargets, len(targets)); n > 0 {
		if missing := missingTools("parallel-ssh", "ssh"); missing != "" {
			cfg.Logger.Info("parallel-ssh baseline skipped (apt-get install pssh)", "missing", missing)
		} else {
			cfg.Logger.Info("parallel-ssh baseline", "targets", n, "concurrency", cfg.Concurrency)
			row, pid, err := runPSSH(ctx, cfg, sc, keys.private, dir, targets[:n])
			if pid > 0 {
				rep.ChildPIDs = append(rep.ChildPIDs, pid)
			}
			if err != nil {
				return rep, err
			}
			rep.Rows = append(rep.Rows, row)
			cfg.Logger.Info("parallel-ssh baseline done", "targetsPerSecond", int(row.Rate), "errors", row.Errors)
		}
	}
	return rep, nil
}

// fillRatios sets each row's Ratio against the bare loop.
func (r *SSHReport) fillRatios() {
	var ref float64
	for _, row := range r.Rows {
		if row.Scenario == ScenarioSSHLoop {
			ref = row.Rate
		}
	}
	if ref <= 0 {
		return
	}
	for i := range r.Rows {
		r.Rows[i].Ratio = r.Rows[i].Rate / ref
	}
}

// sshKeys are the benchmark's generated keys on disk.
type sshKeys struct {
	private, authorized, hostKey string
	signer                       ssh.Signer
}

// writeSSHKeys generates the user key (authorized by the fleet) and the
// fleet's host key in dir.
func writeSSHKeys(dir string) (sshKeys, error) {
	k := sshKeys{
		private:    filepath.Join(dir, "id_ed25519"),
		authorized: filepath.Join(dir, "authorized_keys"),
		hostKey:    filepath.Join(dir, "ssh_host_ed25519_key"),
	}
	write := func(path string) (ssh.Signer, error) {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		block, err := ssh.MarshalPrivateKey(priv, "salvo bench")
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
			return nil, err
		}
		return ssh.NewSignerFromKey(priv)
	}
	var err error
	if k.signer, err = write(k.private); err != nil {
		return k, fmt.Errorf("bench: user key: %w", err)
	}
	if _, err = write(k.hostKey); err != nil {
		return k, fmt.Errorf("bench: host key: %w", err)
	}
	if err := os.WriteFile(k.authorized, ssh.MarshalAuthorizedKey(k.signer.PublicKey()), 0o600); err != nil {
		return k, fmt.Errorf("bench: authorized keys: %w", err)
	}
	return k, nil
}

// fleetSSHAddr finds the address in the fleet's `msg="fleet ssh listening"
// addr=0.0.0.0:PORT` log line.
var fleetSSHAddr = regexp.MustCompile(`msg="fleet ssh listening".* addr=(\S+)`)

func matchFleetSSHListening(line string) (string, bool) {
	m := fleetSSHAddr.FindStringSubmatch(line)
	if m == nil {
		return "", false
	}
	return m[1], true
}

// startSSHFleet starts `salvo fleet --ssh` on free ports and returns it
// with its SSH port.
func startSSHFleet(ctx context.Context, cfg Config, keys sshKeys) (*child, int, error) {
	args := []string{"fleet", "--listen", "0.0.0.0:0", "--hosts", "1", "--log-level", "info",
		"--ssh", "--ssh-listen", "0.0.0.0:0", "--ssh-authorized-keys", keys.authorized, "--ssh-host-key", keys.hostKey}
	c, addr, err := startChild(ctx, cfg, "fleet", args, matchFleetSSHListening)
	if err != nil {
		return c, 0, err
	}
	port, err := portOf(addr)
	if err != nil {
		return c, 0, errors.Join(fmt.Errorf("bench: ssh fleet address %q: %w", addr, err), c.stop(cfg.StopTimeout))
	}
	return c, port, nil
}

// wantOutput is what a target prints for the command: its address for
// `hostname`, unchecked ("") otherwise.
func wantOutput(command, target string) string {
	if command != "hostname" {
		return ""
	}
	host, _, _ := net.SplitHostPort(target)
	return host + "\n"
}

// runSSHLoop is the baseline: Concurrency goroutines in this process, each
// target one x/crypto/ssh connection (dial, handshake, one session running
// the command, close), host keys not checked.
func runSSHLoop(ctx context.Context, cfg Config, sc SSHConfig, signer ssh.Signer, targets []string) Row {
	cc := &ssh.ClientConfig{
		User:            sshUser,
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: ssh.InsecureIgnoreHostKey(),
		Timeout:         cfg.ConnectTimeout,
	}
	var (
		next   atomic.Int64
		failed atomic.Int64
		notes  noteSet
		wg     sync.WaitGroup
	)
	one := func(target string) error {
		c, err := ssh.Dial("tcp", target, cc)
		if err != nil {
			return err
		}
		defer c.Close()
		s, err := c.NewSession()
		if err != nil {
			return err
		}
		defer s.Close()
		timer := time.AfterFunc(cfg.RequestTimeout, func() { c.Close() })
		defer timer.Stop()
		out, err := s.Output(sc.Command)
		if err != nil {
			return err
		}
		if want := wantOutput(sc.Command, target); want != "" && string(out) != want {
			return fmt.Errorf("output %q, want %q", out, want)
		}
		return nil
	}
	smp := startSampler(os.Getpid(), cfg.fleetPID, cfg.SampleInterval)
	start := time.Now()
	for range min(cfg.Concurrency, len(targets)) {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= len(targets) {
					return
				}
				if err := one(targets[i]); err != nil {
					failed.Add(1)
					notes.add(err.Error())
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	u := smp.finish()
	sent := min(int(next.Load()), len(targets))
	return loopRow(ScenarioSSHLoop, cfg, len(targets), sent, int(failed.Load()), elapsed, u, notes.list())
}

// sshJobSpec is the SSH job the harness sends.
type sshJobSpec struct {
	Name           string   `json:"name"`
	Protocol       string   `json:"protocol"`
	Targets        []string `json:"targets"`
	MaxConcurrency int      `json:"maxConcurrency"`
	SSH            struct {
		User          string `json:"user"`
		Command       string `json:"command"`
		HostKeyPolicy string `json:"hostKeyPolicy"`
		Auth          struct {
			PrivateKeyFile string `json:"privateKeyFile"`
		} `json:"auth"`
	} `json:"ssh"`
	Timeouts timeouts `json:"timeouts"`
}

// runSalvoSSH starts a fresh `salvo server`, submits one SSH job over
// targets, polls it until it is gathered and checks every result's output.
func runSalvoSSH(ctx context.Context, cfg Config, sc SSHConfig, keyFile string, targets []string) (row Row, pid int, err error) {
	row = Row{Scenario: ScenarioSalvoSSH, Targets: len(targets), Concurrency: cfg.Concurrency, Errors: len(targets)}
	s, pid, err := startServer(ctx, cfg)
	if err != nil {
		return row, pid, err
	}
	defer joinErr(&err, func() error { return s.stop(cfg) })

	spec := sshJobSpec{Name: fmt.Sprintf("bench-ssh-%d", len(targets)), Protocol: "ssh", Targets: targets,
		MaxConcurrency: cfg.Concurrency,
		Timeouts:       timeouts{Connect: cfg.ConnectTimeout.String(), Request: cfg.RequestTimeout.String()}}
	spec.SSH.User, spec.SSH.Command, spec.SSH.HostKeyPolicy = sshUser, sc.Command, "off"
	spec.SSH.Auth.PrivateKeyFile = keyFile
	body, err := json.Marshal(spec)
	if err != nil {
		return row, pid, fmt.Errorf("bench: encode spec: %w", err)
	}
	tj, err := s.runJob(ctx, cfg, body, nil, nil)
	if err != nil {
		return row, pid, err
	}
	tj.fill(&row)
	if tj.pollErr != nil {
		if ctx.Err() != nil {
			return row, pid, tj.pollErr
		}
		row.Notes = append(row.Notes, tj.pollErr.Error())
		return row, pid, nil
	}
	st := tj.st
	if st.State != stateGathered {
		row.Notes = append(row.Notes, fmt.Sprintf("job ended %s %s", st.State, st.Reason))
	}
	bad, err := checkSSHResults(ctx, s.api, s.base, tj.id, sc.Command, targets)
	if err != nil {
		row.Notes = append(row.Notes, err.Error())
		return row, pid, nil
	}
	row.Errors = bad
	for state, n := range st.Counts {
		if state != "ok" && n > 0 {
			row.Notes = append(row.Notes, fmt.Sprintf("%d %s", n, state))
		}
	}
	return row, pid, nil
}

// checkSSHResults streams a job's results and counts the targets that are
// not ok with the expected output.
func checkSSHResults(ctx context.Context, api *http.Client, base, id, command string, targets []string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/jobs/"+id+"/results", nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Accept", "application/x-ndjson")
	resp, err := api.Do(req)
	if err != nil {
		return 0, fmt.Errorf("bench: results: %w", err)
	}
	defer resp.Body.Close()
	good := 0
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		var r struct {
			Index int    `json:"index"`
			State string `json:"state"`
			Body  string `json:"body"`
		}
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return 0, fmt.Errorf("bench: result line: %w", err)
		}
		if r.Index < 0 || r.Index >= len(targets) {
			continue
		}
		if want := wantOutput(command, targets[r.Index]); r.State == "ok" && (want == "" || r.Body == want) {
			good++
		}
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("bench: results: %w", err)
	}
	return len(targets) - good, nil
}

// psshLine is parallel-ssh's status line, e.g.
// "[3] 12:00:00 [SUCCESS] bench@127.1.0.2:2222".
var psshLine = regexp.MustCompile(`^\[\d+\] \S+ \[(SUCCESS|FAILURE)\] (\S+)`)

// runPSSH is the parallel-ssh baseline: Debian's pssh (`parallel-ssh`,
// one OpenSSH `ssh` process per target) with -p Concurrency, printing each
// target's output inline (-i) so it can be checked.
func runPSSH(ctx context.Context, cfg Config, sc SSHConfig, keyFile, dir string, targets []string) (Row, int, error) {
	row := Row{Scenario: ScenarioPSSH, Targets: len(targets), Concurrency: cfg.Concurrency, Errors: len(targets)}
	hosts := filepath.Join(dir, "pssh-hosts")
	var hb strings.Builder
	for _, t := range targets {
		hb.WriteString(t + " " + sshUser + "\n")
	}
	if err := os.WriteFile(hosts, []byte(hb.String()), 0o600); err != nil {
		return row, 0, fmt.Errorf("bench: pssh hosts: %w", err)
	}
	timeout := int((cfg.ConnectTimeout + cfg.RequestTimeout).Seconds() + 0.5)
	opts := fmt.Sprintf("-i %s -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null "+
		"-o LogLevel=ERROR -o ConnectTimeout=%d", keyFile, max(int(cfg.ConnectTimeout.Seconds()+0.5), 1))
	cmd := exec.CommandContext(ctx, "parallel-ssh", "-h", hosts, "-p", strconv.Itoa(cfg.Concurrency),
		"-t", strconv.Itoa(timeout), "-i", "-x", opts, sc.Command)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	elapsed := time.Since(start)
	pid := 0
	if cmd.Process != nil {
		pid = cmd.Process.Pid
	}
	if ctx.Err() != nil {
		return row, pid, fmt.Errorf("bench: parallel-ssh: %w", context.Cause(ctx))
	}
	row.Seconds = elapsed.Seconds()
	row.Rate = float64(len(targets)) / elapsed.Seconds()
	// With -i each status line is followed by the target's output.
	good := 0
	lines := strings.Split(out.String(), "\n")
	for i, l := range lines {
		m := psshLine.FindStringSubmatch(l)
		if m == nil || m[1] != "SUCCESS" {
			continue
		}
		target := m[2][strings.LastIndexByte(m[2], '@')+1:] // "user@host:port"
		want := strings.TrimSuffix(wantOutput(sc.Command, target), "\n")
		if want == "" || (i+1 < len(lines) && lines[i+1] == want) {
			good++
		}
	}
	row.Errors = len(targets) - good
	if err != nil && row.Errors == 0 {
		row.Notes = append(row.Notes, "parallel-ssh: "+err.Error())
	}
	if row.Errors > 0 {
		row.Notes = append(row.Notes, fmt.Sprintf("%d targets without the expected output; parallel-ssh exit: %v", row.Errors, err))
	}
	return row, pid, nil
}
