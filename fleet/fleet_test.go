package fleet

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// startFleet starts a fleet on 0.0.0.0:0 and closes it when the test ends.
func startFleet(t *testing.T, modify func(*Config)) *Fleet {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Hosts = 2000
	if modify != nil {
		modify(&cfg)
	}
	f, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := f.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := f.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return f
}

// testClient is an HTTP client with a timeout and no keep-alive.
func testClient() *http.Client {
	return &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{DisableKeepAlives: true},
	}
}

type answer struct {
	status int
	body   string
}

// get fetches path from ip on the fleet's port.
func get(t *testing.T, c *http.Client, f *Fleet, ip, path string) answer {
	t.Helper()
	a, err := tryGet(c, f, ip, path)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func tryGet(c *http.Client, f *Fleet, ip, path string) (answer, error) {
	url := "http://" + net.JoinHostPort(ip, strconv.Itoa(f.Addr().Port)) + path
	resp, err := c.Get(url)
	if err != nil {
		return answer{}, fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return answer{}, fmt.Errorf("GET %s: read body: %w", url, err)
	}
	return answer{resp.StatusCode, string(body)}, nil
}

func TestHostsAnswerByDestinationAddress(t *testing.T) {
	f := startFleet(t, func(c *Config) { c.Hosts = 70000 })
	c := testClient()
	tests := []struct {
		ip   string
		body string
	}{
		{"127.1.0.0", "host=127.1.0.0 version=v1\n"},
		{"127.1.0.7", "host=127.1.0.7 version=v2\n"},
		{"127.1.0.255", "host=127.1.0.255 version=v2\n"}, // host 255
		{"127.1.3.232", "host=127.1.3.232 version=v1\n"},
		{"127.1.3.233", "host=127.1.3.233 version=v1\n"},
		{"127.1.3.241", "host=127.1.3.241 version=v3\n"},
		{"127.2.0.0", "host=127.2.0.0 version=v2\n"}, // host 65536
	}
	for _, tt := range tests {
		for _, path := range []string{"/", "/status/4", "/any/path?q=1"} {
			got := get(t, c, f, tt.ip, path)
			if got.status != 200 || got.body != tt.body {
				t.Errorf("GET %s%s = %d %q, want 200 %q", tt.ip, path, got.status, got.body, tt.body)
			}
			i, _ := HostIndex(tt.ip)
			if want := f.Expect(i); want.Status != got.status || want.Body != got.body {
				t.Errorf("Expect(%d) = %+v, got %+v", i, want, got)
			}
		}
	}
	// The Host header does not matter: the destination address does.
	req, err := http.NewRequest(http.MethodGet, "http://127.1.0.7:"+strconv.Itoa(f.Addr().Port)+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = "127.1.0.9"
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "host=127.1.0.7 version=v2\n" {
		t.Errorf("Host header changed the answer: %q", body)
	}
}

func TestUnknownHost(t *testing.T) {
	f := startFleet(t, func(c *Config) { c.Hosts = 1000 })
	c := testClient()
	for _, ip := range []string{HostAddr(1000), HostAddr(5000), "127.0.0.1", "127.0.5.5"} {
		got := get(t, c, f, ip, "/")
		if got.status != 404 || got.body != unknownHostBody {
			t.Errorf("GET %s = %d %q, want 404 %q", ip, got.status, got.body, unknownHostBody)
		}
	}
	if e := f.Expect(1000); e.Status != 404 || e.Body != unknownHostBody {
		t.Errorf("Expect(1000) = %+v", e)
	}
	if e := f.Expect(-1); e.Status != 404 {
		t.Errorf("Expect(-1) = %+v", e)
	}
	if got := get(t, c, f, HostAddr(999), "/"); got.status != 200 {
		t.Errorf("last host answered %d", got.status)
	}
}

func TestStatsCount(t *testing.T) {
	f := startFleet(t, nil)
	c := testClient()
	readStats := func() (requests uint64, inFlight int64) {
		t.Helper()
		got := get(t, c, f, "127.0.0.1", StatsPath)
		var s struct {
			Requests *uint64 `json:"requests"`
			InFlight *int64  `json:"inFlight"`
		}
		if err := json.Unmarshal([]byte(got.body), &s); err != nil || s.Requests == nil || s.InFlight == nil {
			t.Fatalf("stats body %q: %v", got.body, err)
		}
		return *s.Requests, *s.InFlight
	}
	if r, n := readStats(); r != 0 || n != 0 {
		t.Fatalf("fresh stats = %d, %d", r, n)
	}
	const n = 25
	for i := range n {
		get(t, c, f, HostAddr(i), "/")
	}
	get(t, c, f, "127.0.0.1", "/") // unknown hosts count too
	if r, inFlight := readStats(); r != n+1 || inFlight != 0 {
		t.Fatalf("stats = %d, %d, want %d, 0", r, inFlight, n+1)
	}
	if got := f.Requests(); got != n+1 {
		t.Fatalf("Requests() = %d, want %d (stats are not counted)", got, n+1)
	}
}

func TestErrorHostsMatchExpect(t *testing.T) {
	const hosts = 400
	f := startFleet(t, func(c *Config) {
		c.Hosts = hosts
		c.ErrorRate = 0.3
		c.StatusCodes = []StatusShare{{503, 0.1}}
	})
	c := testClient()
	var (
		mu     sync.Mutex
		counts = map[int]int{}
		wg     sync.WaitGroup
		sem    = make(chan struct{}, 32)
	)
	for i := range hosts {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			got, err := tryGet(c, f, HostAddr(i), "/")
			if err != nil {
				t.Error(err)
				return
			}
			want := f.Expect(i)
			if got.status != want.Status || got.body != want.Body {
				t.Errorf("host %d = %d %q, want %d %q", i, got.status, got.body, want.Status, want.Body)
			}
			mu.Lock()
			counts[got.status]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if counts[500] < 80 || counts[500] > 160 || counts[503] < 15 || counts[503] > 70 {
		t.Errorf("status counts %v, want about 120 × 500 and 40 × 503", counts)
	}
	for i := range hosts {
		e := f.Expect(i)
		switch {
		case e.Status == 500 && (e.Version != "" || e.Body != "host="+HostAddr(i)+" status=500\n"):
			t.Fatalf("error host %d expectation %+v", i, e)
		case e.Status == 200 && e.Version != Version(i):
			t.Fatalf("ok host %d expectation %+v", i, e)
		}
	}
}

func TestPadding(t *testing.T) {
	tests := []struct {
		bodyBytes int
		wantLen   int
	}{
		{0, len("host=127.1.0.3 version=v1\n")},
		{10, len("host=127.1.0.3 version=v1\n")}, // never truncated
		{1000, 1000},
		{64 << 10, 64 << 10},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.bodyBytes), func(t *testing.T) {
			f := startFleet(t, func(c *Config) { c.BodyBytes = tt.bodyBytes })
			got := get(t, testClient(), f, "127.1.0.3", "/")
			head := "host=127.1.0.3 version=v1\n"
			if len(got.body) != tt.wantLen || !strings.HasPrefix(got.body, head) ||
				strings.Trim(got.body[len(head):], "x") != "" {
				t.Fatalf("body of %d bytes %.60q..., want %d bytes", len(got.body), got.body, tt.wantLen)
			}
			if e := f.Expect(3); e.Body != got.body {
				t.Fatalf("Expect(3).Body differs from the answer")
			}
		})
	}
}

func TestLatency(t *testing.T) {
	const lo, hi, slow = 50 * time.Millisecond, 80 * time.Millisecond, 200 * time.Millisecond
	f := startFleet(t, func(c *Config) {
		c.Hosts = 100
		c.LatencyMin, c.LatencyMax = lo, hi
		c.SlowRate = 0.5
		c.SlowLatency = slow
	})
	fastHost, slowHost := -1, -1
	for i := range 100 {
		e := f.Expect(i)
		if e.Slow && slowHost < 0 {
			slowHost = i
		}
		if !e.Slow && fastHost < 0 {
			fastHost = i
		}
	}
	if fastHost < 0 || slowHost < 0 {
		t.Fatalf("no fast or no slow host among 100 (fast %d, slow %d)", fastHost, slowHost)
	}
	c := testClient()
	for _, tt := range []struct {
		host int
		min  time.Duration
	}{{fastHost, lo}, {slowHost, lo + slow}} {
		want := f.Expect(tt.host)
		if want.Latency < tt.min || want.Latency > tt.min+(hi-lo) {
			t.Errorf("Expect(%d).Latency = %v, want in [%v, %v]", tt.host, want.Latency, tt.min, tt.min+hi-lo)
		}
		start := time.Now()
		get(t, c, f, HostAddr(tt.host), "/")
		if took := time.Since(start); took < want.Latency {
			t.Errorf("host %d answered in %v, before its latency %v", tt.host, took, want.Latency)
		}
	}
}

func TestCloseWithRequestsInFlight(t *testing.T) {
	f := startFleet(t, func(c *Config) {
		c.LatencyMin, c.LatencyMax = time.Minute, time.Minute
		c.ShutdownTimeout = 10 * time.Second
	})
	c := testClient()
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			got, err := tryGet(c, f, HostAddr(i), "/")
			if err == nil && got.status != 200 {
				err = fmt.Errorf("host %d answered %d", i, got.status)
			}
			errs <- err
		})
	}
	deadline := time.Now().Add(10 * time.Second)
	for f.InFlight() < n {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d requests in flight", f.InFlight(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	start := time.Now()
	if err := f.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("Close took %v with requests in flight", took)
	}
	if got := f.InFlight(); got != 0 {
		t.Fatalf("InFlight() = %d after Close", got)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("in-flight request: %v", err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := f.Start(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Start after Close = %v, want ErrClosed", err)
	}
	if _, err := tryGet(c, f, HostAddr(0), "/"); err == nil {
		t.Fatalf("fleet still answers after Close")
	}
}

func TestCloseForcesStuckConnections(t *testing.T) {
	f := startFleet(t, func(c *Config) { c.ShutdownTimeout = 100 * time.Millisecond })
	// A connection that never sends a request stays open until its read
	// timeout, which Close must not wait for.
	conn, err := net.DialTimeout("tcp", net.JoinHostPort(HostAddr(1), strconv.Itoa(f.Addr().Port)), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n")); err != nil { // unfinished headers
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for f.conns.count() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("server never saw the connection")
		}
		time.Sleep(5 * time.Millisecond)
	}
	start := time.Now()
	if err := f.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("Close took %v", took)
	}
	if err := conn.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(conn); err != nil {
		t.Fatalf("connection was not closed by the server: %v", err)
	}
}

func TestEcho(t *testing.T) {
	f := startFleet(t, func(c *Config) { c.ErrorRate = 1 }) // echo ignores failures
	url := "http://127.1.0.4:" + strconv.Itoa(f.Addr().Port) + EchoPath + "?a=1&b=2"
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(`{"cmd":"uptime"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Salvo-Job", "j1")
	req.Header.Add("X-Multi", "a")
	req.Header.Add("X-Multi", "b")
	req.Header.Set("Accept", "text/plain")
	resp, err := testClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got EchoReply
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatalf("decode echo: %v", err)
	}
	want := EchoReply{
		Host:    "127.1.0.4",
		Method:  "POST",
		Path:    EchoPath,
		Query:   "a=1&b=2",
		Headers: map[string]string{"X-Salvo-Job": "j1", "X-Multi": "a, b"},
		Body:    `{"cmd":"uptime"}`,
	}
	if resp.StatusCode != 200 || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("echo = %d %+v, want 200 %+v", resp.StatusCode, got, want)
	}
}

func TestLifecycle(t *testing.T) {
	f, err := New(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if f.Addr() != nil {
		t.Fatalf("Addr before Start = %v", f.Addr())
	}
	if err := f.Start(); err != nil {
		t.Fatal(err)
	}
	if f.Addr() == nil || f.Addr().Port == 0 {
		t.Fatalf("Addr after Start = %v", f.Addr())
	}
	if err := f.Start(); !errors.Is(err, ErrAlreadyStarted) {
		t.Fatalf("second Start = %v, want ErrAlreadyStarted", err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	// Close before Start, and a listen error.
	unstarted, err := New(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if err := unstarted.Close(); err != nil {
		t.Fatalf("Close before Start: %v", err)
	}
	cfg := DefaultConfig()
	cfg.Listen = "256.0.0.1:0"
	bad, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := bad.Start(); err == nil {
		t.Fatal("Start on a bad address succeeded")
	}
}
