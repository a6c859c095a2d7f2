package cli

import (
	"bytes"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/salvo-sh/salvo/internal/testutil"
)

func TestHealth(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir()) // no user config file
	t.Setenv("SALVO_SERVER", "")
	t.Setenv("SALVO_TOKEN", "")
	node := testutil.StartNode(t, nil)

	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedURL := "http://" + closed.Addr().String()
	closed.Close()

	// silent accepts connections and never answers.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { silent.Close() })
	go func() {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()

	unready := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"status":"unready","reason":"no master known yet"}`))
	}))
	t.Cleanup(unready.Close)

	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
		within time.Duration
	}{
		{"ready", []string{"--server", node.URL}, ExitOK, "is ready", "", 0},
		{"ready quiet", []string{"--server", node.URL, "--quiet"}, ExitOK, "", "", 0},
		{"closed port", []string{"--server", closedURL, "--timeout", "2s"}, ExitFailures, "", "connection refused", 2 * time.Second},
		{"no answer", []string{"--server", "http://" + silent.Addr().String(), "--timeout", "500ms"}, ExitFailures, "", "not ready", 3 * time.Second},
		{"unready", []string{"--server", unready.URL}, ExitFailures, "", "503 unready: no master known yet", 0},
		{"bad timeout", []string{"--server", node.URL, "--timeout", "0s"}, ExitFailures, "", "--timeout must be positive", 0},
		{"unknown flag", []string{"--nope"}, ExitFailures, "", "nope", 0},
		{"argument", []string{"--server", node.URL, "extra"}, ExitFailures, "", "unexpected arguments: extra", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			start := time.Now()
			code := HealthCommand(testAccessFlags)(tt.args, &stdout, &stderr)
			took := time.Since(start)
			if code != tt.code {
				t.Errorf("exit %d, want %d (stdout %q, stderr %q)", code, tt.code, stdout.String(), stderr.String())
			}
			if !strings.Contains(stdout.String(), tt.stdout) || (tt.stdout == "" && stdout.Len() > 0) {
				t.Errorf("stdout %q, want %q", stdout.String(), tt.stdout)
			}
			if !strings.Contains(stderr.String(), tt.stderr) {
				t.Errorf("stderr %q, want %q", stderr.String(), tt.stderr)
			}
			if tt.within > 0 && took > tt.within {
				t.Errorf("took %s, want at most %s", took, tt.within)
			}
		})
	}
}
