package commands

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/salvo-sh/salvo/job"
)

// echoHandler answers with a description of the request.
func echoHandler(ctx *fasthttp.RequestCtx) {
	fmt.Fprintf(ctx, "method=%s uri=%s host=%s ua=%s conn=%s xt=%s xi=%s body=%s version=%s",
		ctx.Method(), ctx.RequestURI(), ctx.Host(), ctx.UserAgent(), ctx.Request.Header.Peek("Connection"),
		ctx.Request.Header.Peek("X-Target"), ctx.Request.Header.Peek("X-Index"), ctx.PostBody(),
		ctx.Request.Header.Peek("X-Version"))
}

func TestPlanBuildsRequests(t *testing.T) {
	addr := startFastHTTP(t, echoHandler)
	_, port, _ := net.SplitHostPort(addr)
	h := newTestExecutor(t, DefaultHTTPConfig())

	tests := []struct {
		name    string
		spec    func() *job.Spec
		index   int
		want    []string
		target  string
		value   string
		skipped bool
	}{
		{
			name: "GET with vars and built-ins",
			spec: func() *job.Spec {
				s := testSpec()
				s.Targets = []job.TargetSpec{{Host: "127.0.0.1"}, {Host: "127.0.0.1", Vars: map[string]string{"ID": "7", "ENV": "dev"}}}
				s.Vars = map[string]string{"ID": "0", "ENV": "prod"}
				s.HTTP.Port = port
				s.HTTP.Path = "/status/${ID}/$ENV?p=$PORT&h=$HOST"
				s.HTTP.Headers = map[string]string{"X-Target": "$HOST:$PORT", "X-Index": "$INDEX"}
				return s
			},
			index:  1,
			want:   []string{"method=GET", "uri=/status/7/dev?p=" + port + "&h=127.0.0.1", "host=127.0.0.1:" + port, "ua=salvo", "conn=close", "xt=127.0.0.1:" + port, "xi=1"},
			target: "http://127.0.0.1:" + port + "/status/7/dev?p=" + port + "&h=127.0.0.1",
			value:  "200",
		},
		{
			name: "POST body template, custom host and UA",
			spec: func() *job.Spec {
				s := testSpec(addr)
				s.HTTP.Method = "POST"
				s.HTTP.Path = "/a b"
				s.HTTP.Body = `{"host":"$HOST","i":$INDEX}`
				s.HTTP.Headers = map[string]string{"Host": "vhost.example", "User-Agent": "ua/1", "Connection": "keep-alive"}
				return s
			},
			want:   []string{"method=POST", "uri=/a%20b", "host=vhost.example", "ua=ua/1", "conn=close", `body={"host":"127.0.0.1","i":0}`},
			target: "http://" + addr + "/a%20b",
		},
		{
			name: "URL target overrides scheme, port and path",
			spec: func() *job.Spec {
				s := testSpec("http://" + addr + "/from/url?q=1")
				s.HTTP.Scheme = "https"
				s.HTTP.Port = "9"
				s.HTTP.Path = "/job/path"
				return s
			},
			want:   []string{"uri=/from/url?q=1"},
			target: "http://" + addr + "/from/url?q=1",
		},
		{
			name: "port template",
			spec: func() *job.Spec {
				s := testSpec()
				s.Targets = []job.TargetSpec{{Host: "127.0.0.1", Vars: map[string]string{"P": port}}}
				s.HTTP.Port = "$P"
				return s
			},
			want:   []string{"uri=/", "host=127.0.0.1:" + port},
			target: "http://127.0.0.1:" + port + "/",
		},
		{
			name: "regex value",
			spec: func() *job.Spec {
				s := testSpec(addr)
				s.HTTP.Headers = map[string]string{"X-Version": "1.25.3"}
				s.Aggregation = &job.Aggregation{Regex: `version=(\S+)`}
				return s
			},
			value: "1.25.3",
		},
		{
			name: "regex no match",
			spec: func() *job.Spec {
				s := testSpec(addr)
				s.Aggregation = &job.Aggregation{Regex: `nomatch=(\S+)`}
				return s
			},
			value: job.NA,
		},
		{
			name: "target var NA is skipped",
			spec: func() *job.Spec {
				s := testSpec()
				s.Targets = []job.TargetSpec{{Host: addr, Vars: map[string]string{"UNUSED": "NA"}}}
				return s
			},
			skipped: true,
		},
		{
			name: "used job var NA is skipped",
			spec: func() *job.Spec {
				s := testSpec(addr)
				s.Vars = map[string]string{"ID": "NA"}
				s.HTTP.Path = "/$ID"
				return s
			},
			skipped: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := mustPlan(t, tc.spec(), h)
			r := runTarget(t, p, tc.index)
			if tc.skipped {
				if r.State != job.StateSkipped || r.Attempts != 0 || r.Value != job.StateSkipped || !strings.Contains(r.Error, "NA") {
					t.Fatalf("result %+v, want skipped", r)
				}
				return
			}
			if r.State != job.StateOK {
				t.Fatalf("state %s error %q", r.State, r.Error)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.Body, w) {
					t.Errorf("request is missing %q:\n%s", w, r.Body)
				}
			}
			if tc.target != "" && r.Target != tc.target {
				t.Errorf("target = %q, want %q", r.Target, tc.target)
			}
			if tc.value != "" && r.Value != tc.value {
				t.Errorf("value = %q, want %q", r.Value, tc.value)
			}
			if r.Index != tc.index {
				t.Errorf("index = %d, want %d", r.Index, tc.index)
			}
		})
	}
}

func TestPlanHostName(t *testing.T) {
	addr := startFastHTTP(t, echoHandler)
	_, port, _ := net.SplitHostPort(addr)
	p := mustPlan(t, testSpec("LOCALHOST:"+port), newTestExecutor(t, DefaultHTTPConfig()))
	r := runTarget(t, p, 0)
	if r.State != job.StateOK || r.Host != "localhost" || !strings.Contains(r.Body, "host=localhost:"+port) {
		t.Fatalf("state %s host %q error %q body %q", r.State, r.Host, r.Error, r.Body)
	}
}

func TestPlanBadTargetAndSSH(t *testing.T) {
	h := newTestExecutor(t, DefaultHTTPConfig())
	p := mustPlan(t, testSpec("a"), h)
	r := p.Run(context.Background(), job.IndexedTarget{Index: 3, Target: job.TargetSpec{Host: "bad host"}})
	if r.State != job.StateError || r.ErrorClass != job.ClassOther || r.Index != 3 || r.Attempts != 0 {
		t.Fatalf("bad target result %+v", r)
	}
	// A var the spec check did not see (a late target) is an error, not a panic.
	s := testSpec("a")
	s.Targets[0].Vars = map[string]string{"ID": "1"}
	s.HTTP.Path = "/$ID"
	p = mustPlan(t, s, h)
	r = p.Run(context.Background(), job.IndexedTarget{Index: 1, Target: job.TargetSpec{Host: "b"}})
	if r.State != job.StateError || !strings.Contains(r.Error, "$ID") {
		t.Fatalf("undefined var result %+v", r)
	}

	ss := &job.Spec{Protocol: job.ProtocolSSH, Targets: []job.TargetSpec{{Host: "u@h"}}, SSH: &job.SSHSpec{Command: "uptime"}}
	if err := ss.Normalize(0); err != nil {
		t.Fatal(err)
	}
	p, err := NewPlan(ss, nil, WithSSH(NewSSHExecutor(SSHConfig{AgentSocket: filepath.Join(t.TempDir(), "none")})))
	if err != nil {
		t.Fatal(err)
	}
	r = runTarget(t, p, 0)
	// No credentials but an agent socket that does not exist: an auth error
	// before any connection.
	if r.State != job.StateError || r.ErrorClass != job.ClassAuth || r.Host != "h" || r.Target != "u@h:22" {
		t.Fatalf("ssh result %+v", r)
	}
	if p.Spec() != ss {
		t.Errorf("Spec() is not the plan's spec")
	}
	if _, err := NewPlan(testSpec("a"), nil); err == nil {
		t.Errorf("NewPlan of an HTTP spec without executor succeeded")
	}
}

func TestPlanConcurrentRuns(t *testing.T) {
	addr := startFastHTTP(t, func(ctx *fasthttp.RequestCtx) {
		fmt.Fprintf(ctx, "path=%s", ctx.Path())
	})
	const n = 200
	s := testSpec()
	for i := 0; i < n; i++ {
		s.Targets = append(s.Targets, job.TargetSpec{Host: addr, Vars: map[string]string{"I": strconv.Itoa(i)}})
	}
	s.HTTP.Path = "/$I/$INDEX"
	s.Aggregation = &job.Aggregation{Regex: `path=/(\d+)/`}
	p := mustPlan(t, s, newTestExecutor(t, DefaultHTTPConfig()))
	var wg sync.WaitGroup
	results := make([]job.Result, n)
	sem := make(chan struct{}, 32)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			results[i] = p.Run(ctx, job.IndexedTarget{Index: i, Target: s.Targets[i]})
		}()
	}
	wg.Wait()
	for i, r := range results {
		if r.State != job.StateOK || r.Value != strconv.Itoa(i) || r.Body != fmt.Sprintf("path=/%d/%d", i, i) {
			t.Fatalf("result %d: state %s value %q body %q error %q", i, r.State, r.Value, r.Body, r.Error)
		}
	}
}

func BenchmarkPlanRun(b *testing.B) {
	body := []byte("host=127.0.0.1 version=1.25.3")
	addr := startFastHTTP(b, func(ctx *fasthttp.RequestCtx) { ctx.SetBody(body) })
	s := testSpec(addr)
	s.HTTP.Path = "/status/$INDEX"
	s.HTTP.Headers = map[string]string{"X-Target": "$HOST"}
	s.Aggregation = &job.Aggregation{Regex: `version=(\S+)`}
	p := mustPlan(b, s, newTestExecutor(b, DefaultHTTPConfig()))
	ctx := context.Background()
	it := job.IndexedTarget{Index: 0, Target: s.Targets[0]}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if r := p.Run(ctx, it); r.State != job.StateOK {
				b.Errorf("state %s error %q", r.State, r.Error)
				return
			}
		}
	})
}

// BenchmarkBaselineFastHTTPClient is the bare fasthttp.Client loop the
// executor is measured against (same server, Connection: close).
func BenchmarkBaselineFastHTTPClient(b *testing.B) {
	body := []byte("host=127.0.0.1 version=1.25.3")
	addr := startFastHTTP(b, func(ctx *fasthttp.RequestCtx) { ctx.SetBody(body) })
	c := &fasthttp.Client{}
	url := "http://" + addr + "/status/0"
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		for pb.Next() {
			req.SetRequestURI(url)
			req.Header.SetConnectionClose()
			if err := c.DoTimeout(req, resp, 2*time.Second); err != nil || resp.StatusCode() != 200 {
				b.Errorf("err %v status %d", err, resp.StatusCode())
				return
			}
		}
	})
}

func TestPlanIPv6Loopback(t *testing.T) {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	srv := &fasthttp.Server{Handler: echoHandler}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.ShutdownWithContext(ctx)
		ln.Close()
		<-errc
	})
	port := ln.Addr().(*net.TCPAddr).Port
	p := mustPlan(t, testSpec(fmt.Sprintf("[::1]:%d", port)), newTestExecutor(t, DefaultHTTPConfig()))
	r := runTarget(t, p, 0)
	if r.State != job.StateOK || r.Host != "::1" || r.Target != fmt.Sprintf("http://[::1]:%d/", port) ||
		!strings.Contains(r.Body, fmt.Sprintf("host=[::1]:%d", port)) {
		t.Fatalf("state %s host %q target %q error %q body %q", r.State, r.Host, r.Target, r.Error, r.Body)
	}
}
