package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/salvo-sh/salvo/actors"
	"github.com/salvo-sh/salvo/auth"
	"github.com/salvo-sh/salvo/httpapi"
	"github.com/salvo-sh/salvo/internal/testutil"
	"github.com/salvo-sh/salvo/store"
)

// logBuffer collects JSON log lines written from any goroutine.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// lines returns the decoded lines whose msg is msg.
func (b *logBuffer) lines(t *testing.T, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		if m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// authedAPI serves node n's API with authentication on, logging to logger,
// and returns its URL and the secrets of an operator token "ops" and a
// viewer token "watcher".
func authedAPI(t *testing.T, n *testutil.Node, logger *slog.Logger) (url, operator, viewer string) {
	t.Helper()
	st := n.Store.(*store.SQLite)
	cfg := httpapi.DefaultConfig()
	cfg.Logger = logger
	cfg.Access = httpapi.Access{Tokens: st, Audit: st}
	api := httpapi.New(cfg, n.Engine, st)
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(func() { api.Close(); srv.Close() })
	put := func(name string, role auth.Role) string {
		secret, hash, err := auth.NewSecret()
		if err != nil {
			t.Fatal(err)
		}
		if err := st.PutToken(context.Background(), auth.Token{Name: name, Role: role, Hash: hash, Created: time.Now()}); err != nil {
			t.Fatal(err)
		}
		return secret
	}
	return srv.URL, put("ops", auth.Operator), put("watcher", auth.Viewer)
}

// call sends a JSON request with a bearer token and decodes the answer.
func call(t *testing.T, method, url, token string, body any, out any) int {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("%s %s: decode: %v", method, url, err)
		}
	}
	return resp.StatusCode
}

// A submit, a refused submit, a cancel and the job's end each write one
// log line saying who, what and how many, and none of them carries a
// secret of the spec or the caller's token. The cancelled targets are
// counted in salvo_targets_done_total by protocol.
func TestSubmitCancelAndEndAreLoggedWithoutSecrets(t *testing.T) {
	var logs logBuffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	n := testutil.StartNode(t, func(c *actors.Config) { c.Logger = logger })
	url, operator, viewer := authedAPI(t, n, logger)
	secrets := []string{"hdr-s3cret", "var-s3cret", "query-s3cret", "pw-s3cret", "body-s3cret", operator, viewer}

	// Tagged for no worker: the jobs wait until they are cancelled, and
	// every target is stored cancelled.
	specs := []struct {
		protocol string
		spec     map[string]any
		what     map[string]any // the attributes that say what the job runs
	}{
		{"http", map[string]any{
			"name": "web-check", "targets": []string{"10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080"}, "tags": []string{"nowhere"},
			"vars": map[string]string{"API_TOKEN": "var-s3cret"},
			"http": map[string]any{"method": "POST", "path": "/v/$API_TOKEN?key=query-s3cret", "body": "body-s3cret",
				"headers": map[string]string{"Authorization": "Bearer hdr-s3cret"}},
		}, map[string]any{"method": "POST", "path": "/v/$API_TOKEN"}},
		{"ssh", map[string]any{
			"name": "uptime", "protocol": "ssh", "targets": []string{"10.0.0.1", "10.0.0.2"}, "tags": []string{"nowhere"},
			"ssh": map[string]any{"user": "ops", "command": "uptime", "auth": map[string]any{"password": "pw-s3cret"}},
		}, map[string]any{"command": "uptime"}},
	}
	for _, tc := range specs {
		t.Run(tc.protocol, func(t *testing.T) {
			var st actors.JobStatus
			if code := call(t, "POST", url+"/api/v1/jobs", operator, tc.spec, &st); code != http.StatusAccepted {
				t.Fatalf("submit: %d", code)
			}
			total := len(tc.spec["targets"].([]string))
			if code := call(t, "POST", url+"/api/v1/jobs/"+st.ID+"/cancel", operator, nil, nil); code != http.StatusOK {
				t.Fatalf("cancel: %d", code)
			}
			if end := testutil.WaitJob(t, n.Engine, st.ID, 30*time.Second); end.State != store.JobCancelled {
				t.Fatalf("job ended %s, want cancelled", end.State)
			}

			want := map[string]map[string]any{
				"job submitted": {"caller": "ops", "name": tc.spec["name"], "protocol": tc.protocol, "targets": float64(total)},
				"job cancel":    {"caller": "ops", "name": tc.spec["name"], "total": float64(total)},
				"job state":     {"state": store.JobCancelled, "name": tc.spec["name"], "protocol": tc.protocol, "total": float64(total)},
			}
			for k, v := range tc.what {
				want["job submitted"][k] = v
			}
			for msg, attrs := range want {
				var lines []map[string]any
				for _, l := range logs.lines(t, msg) {
					if l["job"] == st.ID && (msg != "job state" || l["state"] == store.JobCancelled) {
						lines = append(lines, l)
					}
				}
				if len(lines) != 1 {
					t.Fatalf("%d %q lines of job %s, want 1:\n%s", len(lines), msg, st.ID, logs.String())
				}
				for k, v := range attrs {
					if lines[0][k] != v {
						t.Errorf("%q line: %s = %v, want %v (%v)", msg, k, lines[0][k], v, lines[0])
					}
				}
				if msg == "job state" {
					counts, _ := lines[0]["counts"].(map[string]any)
					if counts["cancelled"] != float64(total) || counts["ok"] != float64(0) {
						t.Errorf("end line counts %v, want %d cancelled and 0 ok", counts, total)
					}
				}
			}

			// The cancelled targets are counted under their protocol.
			metric := fmt.Sprintf(`salvo_targets_done_total{protocol=%q,state="cancelled"} %d`, tc.protocol, total)
			if m := metrics(t, n.URL); !strings.Contains(m, metric) {
				t.Errorf("metrics lack %s:\n%s", metric, grep(m, "salvo_targets_done_total"))
			}
		})
	}

	t.Run("refusals", func(t *testing.T) {
		before := len(logs.lines(t, "submit refused"))
		var e apiError
		if code := call(t, "POST", url+"/api/v1/jobs", operator, map[string]any{"targets": []string{}}, &e); code != http.StatusBadRequest {
			t.Fatalf("empty targets: %d %+v", code, e)
		}
		refused := logs.lines(t, "submit refused")
		if len(refused) != before+1 {
			t.Fatalf("%d submit refused lines, want %d:\n%s", len(refused), before+1, logs.String())
		}
		got := refused[len(refused)-1]
		for k, v := range map[string]any{"caller": "ops", "status": float64(400), "field": "targets", "reason": e.Error, "route": "/api/v1/jobs"} {
			if got[k] != v {
				t.Errorf("submit refused line: %s = %v, want %v (%v)", k, got[k], v, got)
			}
		}
		// The access guard's refusal is the audit line's, not logged twice.
		if code := call(t, "POST", url+"/api/v1/jobs", viewer, specs[0].spec, &e); code != http.StatusForbidden {
			t.Fatalf("viewer submit: %d", code)
		}
		if n := len(logs.lines(t, "submit refused")); n != before+1 {
			t.Errorf("a guard refusal wrote a submit refused line too")
		}
		audits := 0
		for _, l := range logs.lines(t, "audit") {
			if l["actor"] == "watcher" && l["status"] == float64(403) && strings.HasPrefix(fmt.Sprint(l["outcome"]), "refused: this call needs the operator role") {
				audits++
			}
		}
		if audits != 1 {
			t.Errorf("%d audit lines of the viewer's refused submit, want 1", audits)
		}
	})

	out := logs.String()
	for _, s := range secrets {
		if strings.Contains(out, s) {
			t.Errorf("the log holds the secret %q:\n%s", s, grep(out, s))
		}
	}
}

func metrics(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
