package bench

import (
	"context"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// maxNotes bounds the distinct error messages a row keeps.
const maxNotes = 3

// runLoop is baseline A: Concurrency goroutines in this process send one
// GET with "Connection: close" to each target through one fasthttp.Client
// with its own unlimited dialer, and the row reports targets/s. A target
// fails when it gives no response or a status other than 200.
func runLoop(ctx context.Context, cfg Config, targets []string) Row {
	urls := make([]string, len(targets))
	for i, t := range targets {
		urls[i] = "http://" + t + Path
	}
	dialer := &fasthttp.TCPDialer{Concurrency: 0} // no dial limit (docs/design.md §12)
	client := &fasthttp.Client{
		Dial: func(addr string) (net.Conn, error) {
			return dialer.DialTimeout(addr, cfg.ConnectTimeout)
		},
		ReadTimeout:              cfg.RequestTimeout,
		WriteTimeout:             cfg.RequestTimeout,
		MaxIdleConnDuration:      time.Second,
		NoDefaultUserAgentHeader: true,
		DisablePathNormalizing:   true,
	}
	defer client.CloseIdleConnections()

	var (
		next   atomic.Int64
		failed atomic.Int64
		notes  noteSet
		wg     sync.WaitGroup
	)
	workers := min(cfg.Concurrency, len(urls))
	smp := startSampler(os.Getpid(), cfg.fleetPID, cfg.SampleInterval)
	start := time.Now()
	for range workers {
		wg.Go(func() {
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= len(urls) {
					return
				}
				req.Reset()
				req.SetRequestURI(urls[i])
				req.Header.SetConnectionClose()
				err := client.DoTimeout(req, resp, cfg.RequestTimeout)
				switch {
				case err != nil:
					failed.Add(1)
					notes.add(err.Error())
				case resp.StatusCode() != fasthttp.StatusOK:
					failed.Add(1)
					notes.add(fmt.Sprintf("status %d", resp.StatusCode()))
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	u := smp.finish()

	sent := min(int(next.Load()), len(urls))
	row := loopRow(ScenarioLoop, cfg, len(urls), sent, int(failed.Load()), elapsed, u, notes.list())
	if sent < len(urls) {
		row.Notes = append(row.Notes, fmt.Sprintf("stopped after %d of %d targets: %v", sent, len(urls), context.Cause(ctx)))
	}
	return row
}

// loopRow is the row of a loop in this process that sent sent of targets
// in elapsed, failed of them; targets never sent count as errors.
func loopRow(scenario string, cfg Config, targets, sent, failed int, elapsed time.Duration, u usage, notes []string) Row {
	return Row{
		Scenario:        scenario,
		Targets:         targets,
		Concurrency:     cfg.Concurrency,
		Seconds:         elapsed.Seconds(),
		Rate:            float64(sent) / elapsed.Seconds(),
		PeakRSS:         u.PeakRSS,
		CPUSeconds:      u.CPU.Seconds(),
		FleetCPUSeconds: u.FleetCPU.Seconds(),
		Errors:          failed + targets - sent,
		Notes:           notes,
	}
}

// noteSet keeps the first few distinct error messages; safe for
// concurrent use.
type noteSet struct {
	mu    sync.Mutex
	notes []string
}

func (n *noteSet) add(s string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.notes) >= maxNotes {
		return
	}
	for _, v := range n.notes {
		if v == s {
			return
		}
	}
	n.notes = append(n.notes, s)
}

func (n *noteSet) list() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.notes...)
}
