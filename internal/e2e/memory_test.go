package e2e

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/salvo-sh/salvo/internal/testutil"
	"github.com/salvo-sh/salvo/store"
)

// endlessServer answers every request with a body that never ends, until
// the client closes the connection. It stops when the test ends.
func endlessServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { close(done); ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				rd := bufio.NewReader(c)
				for { // the request head
					line, err := rd.ReadString('\n')
					if err != nil || line == "\r\n" {
						break
					}
				}
				chunk := []byte(strings.Repeat("x", 64<<10))
				if _, err := c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n")); err != nil {
					return
				}
				for {
					select {
					case <-done:
						return
					default:
					}
					_ = c.SetWriteDeadline(time.Now().Add(10 * time.Second))
					if _, err := c.Write(chunk); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// peakRSS reads a process's VmHWM from /proc, in bytes.
func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(rest)
			kb, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM")
	return 0
}

// Endless response bodies at the largest maxBodyBytes do not take the
// node's memory past its body budget: requests wait for room instead.
func TestBodyMemoryBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	const budget = 256 << 20 // holds 4 requests of 16 MiB
	addr := endlessServer(t)
	bin := testutil.BuildSalvoNoRace(t) // the race detector's shadow memory would count in the RSS
	srv := testutil.StartServer(t, bin, "--data-dir", t.TempDir(), "--body-memory", strconv.Itoa(budget))
	targets := make([]string, 50)
	for i := range targets {
		targets[i] = addr
	}
	base := peakRSS(t, srv.Cmd.Process.Pid) // the idle node: binary, runtime, store
	id := submit(t, srv.URL(), map[string]any{"targets": targets, "maxConcurrency": 50, "maxBodyBytes": 16 << 20,
		"timeouts": map[string]any{"request": "30s"}})
	st := waitFor(t, srv.URL(), id, 2*time.Minute, terminal)
	if st.State != store.JobGathered || st.Counts["ok"] != len(targets) {
		t.Fatalf("endless-body job: %+v", st)
	}
	peak := peakRSS(t, srv.Cmd.Process.Pid)
	t.Logf("peak RSS %d MiB, %d MiB above the idle node's, with a body budget of %d MiB (50 bodies of 16 MiB: %d MiB)",
		peak>>20, (peak-base)>>20, budget>>20, 50*16)
	// The budget bounds all that bodies cost the node: a quarter is what
	// the worker holds (4 bodies of 16 MiB here), the rest their garbage
	// and the store's copies. Without the budget this job adds about
	// 0.9 GiB here (a build without the race detector, as this one).
	if grown := peak - base; grown > budget {
		t.Errorf("the job took %d MiB of memory, above the budget of %d MiB", grown>>20, budget>>20)
	}
}
