package cli

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/salvo-sh/salvo/job"
)

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

func submitHosts(t *testing.T, ctx context.Context, c *Client, hosts ...string) string {
	t.Helper()
	spec := &job.Spec{Protocol: "http"}
	for _, h := range hosts {
		spec.Targets = append(spec.Targets, job.TargetSpec{Host: h})
	}
	id, _, err := c.Submit(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestWatchEventStreamParsing(t *testing.T) {
	stream := strings.Join([]string{
		": keep-alive",
		"",
		"event: progress",
		`data: {"id": "j1", "state": "processing",`,
		`data:  "total": 2, "done": 1}`,
		"",
		"event: ping",
		`data: {"id": "j1", "state": "gathered"}`,
		"",
		"event: progress",
		"data: not json",
		"",
		"id: 7",
		"event: end",
		`data: {"id": "j1", "state": "gathered", "total": 2, "done": 2, "counts": {"ok": 2}, "finishedAt": ""}`,
		"",
		"",
	}, "\n")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/jobs/j1/events" || r.Header.Get("Accept") != "text/event-stream" {
			http.Error(w, "unexpected "+r.URL.Path, http.StatusTeapot)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
		fmt.Fprint(w, stream)
	}))
	defer srv.Close()
	c := NewClientWithConfig(srv.URL, *fastClient())
	var seen []string
	st, err := c.Watch(testContext(t), "j1", func(s Status) { seen = append(seen, fmt.Sprintf("%s %d/%d", s.State, s.Done, s.Total)) })
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(seen, ", "); got != "processing 1/2, gathered 2/2" {
		t.Errorf("statuses seen: %s", got)
	}
	if st.Counts.OK != 2 || !st.FinishedAt.IsZero() {
		t.Errorf("final status %+v", st)
	}
}

func TestWatchEndsOnTerminalProgress(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "event: progress\ndata: {\"id\":\"j\",\"state\":\"cancelled\"}\n\n")
		w.(http.Flusher).Flush()
		select { // keep the stream open: Watch must not wait for end
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	st, err := NewClientWithConfig(srv.URL, *fastClient()).Watch(testContext(t), "j", nil)
	if err != nil || st.State != JobCancelled {
		t.Fatalf("state %q err %v", st.State, err)
	}
}

func TestWatchFallsBackToPolling(t *testing.T) {
	tests := []struct {
		name      string
		configure func(*fakeServer)
		conf      func(*ClientConfig)
	}{
		{"events endpoint fails", func(s *fakeServer) { s.noEvents = true }, nil},
		{"stream closes early", func(s *fakeServer) { s.breakEvents = true; s.steps = 5 }, nil},
		{"stream stays silent", func(s *fakeServer) { s.silentSSE = true },
			func(c *ClientConfig) { c.StreamIdleTimeout = 100 * time.Millisecond }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFakeServer(t, tc.configure)
			conf := *fastClient()
			if tc.conf != nil {
				tc.conf(&conf)
			}
			c := NewClientWithConfig(srv.URL(), conf)
			ctx := testContext(t)
			id := submitHosts(t, ctx, c, "10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4")
			var states []string
			last := -1
			st, err := c.Watch(ctx, id, func(s Status) {
				if s.Done < last {
					t.Errorf("done went back from %d to %d", last, s.Done)
				}
				last = s.Done
				states = append(states, s.State)
			})
			if err != nil {
				t.Fatal(err)
			}
			if st.State != JobGathered || st.Done != 4 || st.Counts.OK != 4 {
				t.Errorf("final status %+v", st)
			}
			if len(states) < 2 || states[len(states)-1] != JobGathered {
				t.Errorf("states seen %v", states)
			}
		})
	}
}

func TestWatchUnknownJob(t *testing.T) {
	srv := newFakeServer(t, nil)
	_, err := NewClientWithConfig(srv.URL(), *fastClient()).Watch(testContext(t), "nope", nil)
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusNotFound || ae.Message != "job not found" {
		t.Fatalf("err %v, want a 404 APIError", err)
	}
}

func TestWatchGivesUpOnFailingServer(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		http.Error(w, "boom", http.StatusBadGateway)
	}))
	defer srv.Close()
	conf := *fastClient()
	conf.MaxPollErrors = 3
	_, err := NewClientWithConfig(srv.URL, conf).Watch(testContext(t), "j", nil)
	if err == nil || !strings.Contains(err.Error(), "3 status polls failed") {
		t.Fatalf("err %v", err)
	}
	if n := calls.Load(); n != 4 { // one events request, three polls
		t.Errorf("%d requests, want 4", n)
	}
}

func TestWatchStopsWithContext(t *testing.T) {
	srv := newFakeServer(t, func(s *fakeServer) { s.hold = true })
	c := NewClientWithConfig(srv.URL(), *fastClient())
	ctx := testContext(t)
	id := submitHosts(t, ctx, c, "10.0.0.1")
	wctx, cancel := context.WithCancel(ctx)
	n := 0
	st, err := c.Watch(wctx, id, func(Status) {
		if n++; n == 3 {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
	if st.ID != id || st.State != JobProcessing {
		t.Errorf("last status %+v", st)
	}
}

func TestAPIError(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		want   APIError
		text   string
	}{
		{"json with field", 400, `{"error": "undefined variable ID", "field": "http.path"}`,
			APIError{400, "undefined variable ID", "http.path"}, "server answered 400: field http.path: undefined variable ID"},
		{"json without field", 409, `{"error": "job is finished"}`, APIError{409, "job is finished", ""}, "server answered 409: job is finished"},
		{"plain text", 502, "bad gateway\n", APIError{502, "bad gateway", ""}, "server answered 502: bad gateway"},
		{"empty", 503, "", APIError{503, "Service Unavailable", ""}, "server answered 503: Service Unavailable"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tc.status)
				fmt.Fprint(w, tc.body)
			}))
			defer srv.Close()
			_, err := NewClient(srv.URL).Status(testContext(t), "j")
			var ae *APIError
			if !errors.As(err, &ae) {
				t.Fatalf("err %v is not an APIError", err)
			}
			if *ae != tc.want {
				t.Errorf("got %+v, want %+v", *ae, tc.want)
			}
			if ae.Error() != tc.text {
				t.Errorf("text %q, want %q", ae.Error(), tc.text)
			}
		})
	}
}

func TestResultsPagesAndCancel(t *testing.T) {
	srv := newFakeServer(t, nil)
	c := NewClient(srv.URL() + "/")
	ctx := testContext(t)
	id := submitHosts(t, ctx, c, "10.0.0.1", "bad-1", "10.0.0.3", "10.0.0.4", "10.0.0.5")

	var hosts []string
	q := ResultQuery{State: job.StateOK, Limit: 2}
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("too many pages")
		}
		page, err := c.Results(ctx, id, q)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page.Items {
			hosts = append(hosts, r.Host)
		}
		if page.NextCursor == "" {
			break
		}
		q.Cursor = page.NextCursor
	}
	if got := strings.Join(hosts, " "); got != "10.0.0.1 10.0.0.3 10.0.0.4 10.0.0.5" {
		t.Errorf("ok hosts over pages: %s", got)
	}
	page, err := c.Results(ctx, id, ResultQuery{Host: "bad-1"})
	if err != nil || len(page.Items) != 1 || page.Items[0].ErrorClass != job.ClassConnectRefused {
		t.Errorf("host query: %+v %v", page, err)
	}

	st, err := c.Cancel(ctx, id)
	if err != nil || st.State != JobCancelled {
		t.Fatalf("cancel: %+v %v", st, err)
	}
	if _, err := c.Cancel(ctx, "nope"); err == nil {
		t.Error("cancel of an unknown job succeeded")
	}
}
