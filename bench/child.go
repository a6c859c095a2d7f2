package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// tailLines is how many of a child's last log lines an error shows.
const tailLines = 20

// child is a salvo child process in its own process group.
type child struct {
	name string
	cmd  *exec.Cmd
	logs *lineWriter
	done chan struct{} // closed when Wait returned
	err  error         // Wait's error, set before done is closed

	stopOnce sync.Once
	stopErr  error
}

// startChild starts `cfg.Binary args...` and waits until match finds its
// ready line in the child's stderr; it returns the matched value. A child
// that exits, does not get ready within cfg.StartTimeout or outlives a
// cancelled ctx is stopped and returned with the error (for its pid).
func startChild(ctx context.Context, cfg Config, name string, args []string, match func(string) (string, bool)) (*child, string, error) {
	ready := make(chan string, 1)
	c, err := spawn(cfg, name, cfg.Binary, args, match, ready)
	if err != nil {
		return nil, "", err
	}
	timer := time.NewTimer(cfg.StartTimeout)
	defer timer.Stop()
	select {
	case v := <-ready:
		return c, v, nil
	case <-c.done:
		err = fmt.Errorf("bench: %s exited before it was ready: %v\n%s", name, c.err, c.logs.tail())
	case <-timer.C:
		err = fmt.Errorf("bench: %s not ready within %s\n%s", name, cfg.StartTimeout, c.logs.tail())
	case <-ctx.Done():
		err = fmt.Errorf("bench: start %s: %w", name, context.Cause(ctx))
	}
	return c, "", errors.Join(err, c.stop(cfg.StopTimeout))
}

// spawn starts `bin args...` in its own process group, its stderr split
// into lines by a lineWriter (which sends match's first value to ready,
// when match is not nil), and a goroutine that waits for it: the child's
// stop ends both.
func spawn(cfg Config, name, bin string, args []string, match func(string) (string, bool), ready chan<- string) (*child, error) {
	lw := &lineWriter{prefix: "[" + name + "] ", out: cfg.ChildLog, match: match, ready: ready}
	cmd := exec.Command(bin, args...)
	cmd.Stderr = lw
	cmd.SysProcAttr = childSysProcAttr()
	cmd.WaitDelay = cfg.StopTimeout // bounds Wait once the process is gone
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("bench: start %s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, logs: lw, done: make(chan struct{})}
	go func() {
		c.err = cmd.Wait()
		close(c.done)
	}()
	return c, nil
}

// pid is the child's process id.
func (c *child) pid() int { return c.cmd.Process.Pid }

// joinErr runs f and joins its error into *err: the deferred clean-up of a
// function with a named error result.
func joinErr(err *error, f func() error) {
	if ferr := f(); ferr != nil {
		*err = errors.Join(*err, ferr)
	}
}

// exited reports whether the child has exited, with Wait's error.
func (c *child) exited() (bool, error) {
	select {
	case <-c.done:
		return true, c.err
	default:
		return false, nil
	}
}

// stop sends SIGTERM to the child's process group, waits up to timeout,
// then sends SIGKILL and waits up to timeout again. It is idempotent and
// returns an error only when the child could not be made to exit.
func (c *child) stop(timeout time.Duration) error {
	c.stopOnce.Do(func() {
		if done, _ := c.exited(); done {
			return
		}
		_ = signalGroup(c.pid(), syscall.SIGTERM)
		timer := time.NewTimer(timeout)
		defer timer.Stop()
		select {
		case <-c.done:
			return
		case <-timer.C:
		}
		_ = signalGroup(c.pid(), syscall.SIGKILL)
		timer.Reset(timeout)
		select {
		case <-c.done:
		case <-timer.C:
			c.stopErr = fmt.Errorf("bench: %s (pid %d) did not exit within %s of SIGKILL", c.name, c.pid(), timeout)
		}
	})
	return c.stopErr
}

// lineWriter splits a child's stderr into lines: it forwards them to out,
// keeps the last tailLines and sends the first value match finds to ready.
type lineWriter struct {
	prefix string
	out    io.Writer
	match  func(string) (string, bool)
	ready  chan<- string

	mu      sync.Mutex
	partial []byte
	last    []string
	panic   string // the first "panic:" or "fatal error:" line
	matched bool
}

// Write implements io.Writer.
func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.partial = append(w.partial, p...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			break
		}
		w.line(string(w.partial[:i]))
		w.partial = w.partial[i+1:]
	}
	if len(w.partial) > 64<<10 { // a runaway line: keep it as one
		w.line(string(w.partial))
		w.partial = w.partial[:0]
	}
	return len(p), nil
}

func (w *lineWriter) line(s string) {
	if w.out != nil {
		fmt.Fprintf(w.out, "%s%s\n", w.prefix, s)
	}
	if len(w.last) == tailLines {
		w.last = append(w.last[:0], w.last[1:]...)
	}
	w.last = append(w.last, s)
	if w.panic == "" && (strings.HasPrefix(s, "panic: ") || strings.HasPrefix(s, "fatal error: ")) {
		w.panic = s
	}
	if !w.matched && w.match != nil {
		if v, ok := w.match(s); ok {
			w.matched = true
			w.ready <- v // buffered, sent once
		}
	}
}

// tail returns the last lines the child logged, after its panic line if
// that has scrolled out.
func (w *lineWriter) tail() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	t := strings.Join(w.last, "\n")
	if w.panic != "" && !strings.Contains(t, w.panic) {
		t = w.panic + "\n...\n" + t
	}
	return t
}

// matchServerListening finds `salvo server`'s JSON "listening" line and
// returns its address.
func matchServerListening(line string) (string, bool) {
	var m struct {
		Msg  string `json:"msg"`
		Addr string `json:"addr"`
	}
	if json.Unmarshal([]byte(line), &m) != nil || m.Msg != "listening" || m.Addr == "" {
		return "", false
	}
	return m.Addr, true
}

// fleetAddr finds the address in `salvo fleet`'s text log line
// `msg="fleet listening" addr=0.0.0.0:PORT ...`.
var fleetAddr = regexp.MustCompile(`msg="fleet listening".* addr=(\S+)`)

// matchFleetListening finds `salvo fleet`'s "fleet listening" line and
// returns its address.
func matchFleetListening(line string) (string, bool) {
	m := fleetAddr.FindStringSubmatch(line)
	if m == nil {
		return "", false
	}
	return m[1], true
}

// portOf returns the port of a host:port address.
func portOf(addr string) (int, error) {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil || port <= 0 || port > 65535 {
		return 0, fmt.Errorf("invalid port in %q", addr)
	}
	return port, nil
}
