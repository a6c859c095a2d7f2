package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// fakeClock is advanced by the test.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func TestProgressTerminalLine(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	var buf bytes.Buffer
	p := newProgress(&buf, true, clock.now)
	clock.t = clock.t.Add(3600 * time.Millisecond)
	p.update(Status{State: JobProcessing, Total: 10000, Done: 4500, Rate: 1234, Counts: Counts{OK: 4480, Error: 15, Timeout: 5}})
	want := "\r[=========>          ]  45% 4,500/10,000 ok 4,480 err 20 1,234/s 3.6s"
	if buf.String() != want {
		t.Fatalf("got  %q\nwant %q", buf.String(), want)
	}
	buf.Reset()
	clock.t = clock.t.Add(time.Second)
	p.finish(Status{State: JobGathered, Total: 10000, Done: 10000, Rate: 2000, Counts: Counts{OK: 10000}})
	got := buf.String()
	if !strings.HasPrefix(got, "\r[====================] 100% 10,000/10,000 ok 10,000 err 0 2,000/s 4.6s gathered") ||
		!strings.HasSuffix(got, "\n") {
		t.Fatalf("final line %q", got)
	}
}

func TestProgressTerminalPadsShorterLine(t *testing.T) {
	clock := &fakeClock{t: time.Unix(0, 0)}
	var buf bytes.Buffer
	p := newProgress(&buf, true, clock.now)
	p.update(Status{State: JobWaiting, Total: 10, Reason: "no worker has free capacity"})
	first := len(buf.String())
	buf.Reset()
	p.update(Status{State: JobProcessing, Total: 10, Done: 1, Rate: 1})
	if len(buf.String()) != first {
		t.Errorf("redrawn line is %d bytes, want %d (padded): %q", len(buf.String()), first, buf.String())
	}
}

func TestProgressPlainLines(t *testing.T) {
	tests := []struct {
		name  string
		total int
		step  int           // done grows by step per update
		every time.Duration // clock advance per update
		n     int           // updates
		want  int           // lines printed (including finish)
	}{
		// A 10% step each update: a line each time.
		{"ten percent steps", 100, 10, 10 * time.Millisecond, 10, 10},
		// 1% per update, 100 ms apart: a line per 10% (every 10 updates)
		// and the first.
		{"slow and small", 100, 1, 100 * time.Millisecond, 100, 11},
		// 0.1% per update, 500 ms apart: no 10% step within 100 updates;
		// a line every 2 s (4 updates) after the first.
		{"two second interval", 1000, 1, 500 * time.Millisecond, 40, 11},
		// No change at all: only the first line and nothing else.
		{"stalled", 100, 0, time.Second, 20, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clock := &fakeClock{t: time.Unix(0, 0)}
			var buf bytes.Buffer
			p := newProgress(&buf, false, clock.now)
			var st Status
			for i := 1; i <= tc.n; i++ {
				clock.t = clock.t.Add(tc.every)
				st = Status{State: JobProcessing, Total: tc.total, Done: i * tc.step}
				p.update(st)
			}
			p.finish(st)
			out := buf.String()
			if strings.Contains(out, "\r") {
				t.Errorf("carriage return in plain output")
			}
			lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
			if len(lines) != tc.want {
				t.Errorf("%d lines, want %d:\n%s", len(lines), tc.want, out)
			}
			for _, l := range lines {
				if !strings.HasPrefix(l, "progress: ") {
					t.Errorf("line %q", l)
				}
			}
		})
	}
}

func TestProgressPlainStateChange(t *testing.T) {
	clock := &fakeClock{t: time.Unix(0, 0)}
	var buf bytes.Buffer
	p := newProgress(&buf, false, clock.now)
	p.update(Status{State: JobWaiting, Total: 100, Reason: "queued behind job-1"})
	p.update(Status{State: JobWaiting, Total: 100, Reason: "queued behind job-1"})
	p.update(Status{State: JobProcessing, Total: 100, Done: 1})
	p.finish(Status{State: JobCancelled, Total: 100, Done: 100, Counts: Counts{Cancelled: 99, OK: 1}})
	want := "progress:   0% 0/100 ok 0 err 0 0/s 0.0s waiting: queued behind job-1\n" +
		"progress:   1% 1/100 ok 0 err 0 0/s 0.0s\n" +
		"progress: 100% 100/100 ok 1 err 0 0/s 0.0s cancelled\n"
	if buf.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", buf.String(), want)
	}
}

func TestFormatters(t *testing.T) {
	for _, tc := range []struct {
		n    int64
		want string
	}{{0, "0"}, {999, "999"}, {1000, "1,000"}, {123456, "123,456"}, {1234567, "1,234,567"}, {-1234, "-1,234"}} {
		if got := commas(tc.n); got != tc.want {
			t.Errorf("commas(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
	for _, tc := range []struct {
		done, total int
		want        string
	}{{0, 10, "[>                   ]"}, {5, 10, "[==========>         ]"}, {10, 10, "[====================]"}, {0, 0, "[>                   ]"}} {
		if got := progressBar(tc.done, tc.total); got != tc.want {
			t.Errorf("progressBar(%d, %d) = %q, want %q", tc.done, tc.total, got, tc.want)
		}
	}
	for _, tc := range []struct {
		done, total, want int
	}{{0, 0, 0}, {9999, 10000, 99}, {10000, 10000, 100}, {1, 3, 33}} {
		if got := percent(tc.done, tc.total); got != tc.want {
			t.Errorf("percent(%d, %d) = %d, want %d", tc.done, tc.total, got, tc.want)
		}
	}
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{{3600 * time.Millisecond, "3.6s"}, {83 * time.Second, "1m23s"}, {-time.Second, "0.0s"}} {
		if got := formatElapsed(tc.d); got != tc.want {
			t.Errorf("formatElapsed(%s) = %q, want %q", tc.d, got, tc.want)
		}
	}
}
