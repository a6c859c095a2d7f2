package fleet

import (
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// BenchmarkDistinctHosts measures one-shot requests (a new connection
// each, Connection: close) to distinct hosts, as the engine sends them, and
// reports targets/s. Client and fleet share the machine's cores.
//
//	go test -run '^$' -bench DistinctHosts -benchtime 100000x ./fleet/
func BenchmarkDistinctHosts(b *testing.B) {
	for _, workers := range []int{64, 256} {
		b.Run("workers="+strconv.Itoa(workers), func(b *testing.B) {
			benchmarkDistinctHosts(b, workers)
		})
	}
}

func benchmarkDistinctHosts(b *testing.B, workers int) {
	cfg := DefaultConfig()
	cfg.Hosts = 100000
	f, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	if err := f.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		if err := f.Close(); err != nil {
			b.Errorf("Close: %v", err)
		}
	}()
	urls := Targets(cfg.Hosts, f.Addr().Port)
	for i, t := range urls {
		urls[i] = "http://" + t + "/"
	}
	dialer := &fasthttp.TCPDialer{Concurrency: 0} // no dial limit
	client := &fasthttp.Client{
		Dial:                     dialer.Dial,
		ReadTimeout:              10 * time.Second,
		WriteTimeout:             10 * time.Second,
		MaxIdleConnDuration:      time.Second,
		NoDefaultUserAgentHeader: true,
	}
	defer client.CloseIdleConnections()

	var next, failed atomic.Int64
	b.SetParallelism(max(1, workers/runtime.GOMAXPROCS(0)))
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		for pb.Next() {
			i := int(next.Add(1)-1) % len(urls)
			req.Reset()
			req.SetRequestURI(urls[i])
			req.Header.SetConnectionClose()
			if err := client.DoTimeout(req, resp, 10*time.Second); err != nil || resp.StatusCode() != 200 {
				failed.Add(1)
			}
		}
	})
	elapsed := time.Since(start)
	b.StopTimer()
	if n := failed.Load(); n > 0 {
		b.Errorf("%d of %d requests failed", n, b.N)
	}
	if got := f.Requests(); got < uint64(b.N) {
		b.Errorf("fleet served %d requests, want %d", got, b.N)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "targets/s")
}
