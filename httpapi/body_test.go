package httpapi_test

import (
	"bufio"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/salvo-sh/salvo/httpapi"
	"github.com/salvo-sh/salvo/internal/testutil"
)

// startAPI serves the API of node n with a config of the test's own.
func startAPI(t *testing.T, n *testutil.Node, mod func(*httpapi.Config)) string {
	t.Helper()
	cfg := httpapi.DefaultConfig()
	cfg.Logger = testutil.Logger(t)
	mod(&cfg)
	api := httpapi.New(cfg, n.Engine, n.Store)
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(func() { api.Close(); srv.Close() })
	return srv.URL
}

// stallingSubmit opens a connection that sends a submit's headers and the
// first bytes of its body, then nothing.
func stallingSubmit(t *testing.T, url string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	req := "POST /api/v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"targets\": [\"a\""
	if _, err := c.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	return c, bufio.NewReader(c)
}

// A client that stops sending its body is cut with 408, and the bound on
// submits read at once answers one more with 503 and Retry-After.
func TestSlowBodiesAndSubmitBound(t *testing.T) {
	n := testutil.StartNode(t, nil)
	t.Run("stalled body", func(t *testing.T) {
		url := startAPI(t, n, func(c *httpapi.Config) { c.BodyIdleTimeout = 200 * time.Millisecond })
		c, rd := stallingSubmit(t, url)
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second)) // bound the test, far above the idle timeout
		resp, err := http.ReadResponse(rd, nil)
		if err != nil {
			t.Fatalf("no answer to a stalled body: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestTimeout {
			t.Fatalf("stalled body: %d, want 408", resp.StatusCode)
		}
	})
	t.Run("trickling body", func(t *testing.T) {
		url := startAPI(t, n, func(c *httpapi.Config) {
			c.BodyIdleTimeout, c.BodyGrace, c.BodyMinRate = 10*time.Second, 300*time.Millisecond, 1<<20
		})
		c, rd := stallingSubmit(t, url)
		done := make(chan struct{})
		defer close(done)
		go func() { // one byte at a time, far below 1 MiB/s
			tick := time.NewTicker(50 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-done:
					return
				case <-tick.C:
					if _, err := c.Write([]byte(" ")); err != nil {
						return
					}
				}
			}
		}()
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(rd, nil)
		if err != nil {
			t.Fatalf("no answer to a trickling body: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestTimeout {
			t.Fatalf("trickling body: %d, want 408", resp.StatusCode)
		}
	})
	t.Run("submit bound", func(t *testing.T) {
		url := startAPI(t, n, func(c *httpapi.Config) { c.MaxSubmits, c.BodyIdleTimeout = 1, 10*time.Second })
		c, rd := stallingSubmit(t, url) // holds the only submit slot while its body stalls
		for i := 0; ; i++ {
			req, _ := http.NewRequest("POST", url+"/api/v1/jobs", strings.NewReader(`{"targets":["127.0.0.1"]}`))
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode == http.StatusServiceUnavailable {
				if resp.Header.Get("Retry-After") == "" {
					t.Error("503 without Retry-After")
				}
				return
			}
			if i == 100 {
				t.Fatalf("submit while another is read: %d, want 503", resp.StatusCode)
			}
			// The stalled submit may have reached the handler while this
			// one held the slot: it was then answered 503 itself. Stall
			// another.
			_ = c.SetReadDeadline(time.Now().Add(time.Millisecond))
			if resp, err := http.ReadResponse(rd, nil); err == nil {
				resp.Body.Close()
				c, rd = stallingSubmit(t, url)
			}
			time.Sleep(10 * time.Millisecond) // the stalled submit reaches the handler asynchronously
		}
	})
}
