package cli

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"
)

// fakeClock is advanced by the test.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func TestProgressTerminalLine(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	var buf bytes.Buffer
	p := newProgress(&buf, true, nil, clock.now)
	clock.t = clock.t.Add(3600 * time.Millisecond)
	p.update(Status{State: JobProcessing, Total: 10000, Done: 4500, Rate: 1234, Counts: Counts{OK: 4480, Error: 15, Timeout: 5}})
	want := "\r[=========>          ]  45% 4,500/10,000 ok 4,480 err 20 1,234/s 3.6s\x1b[K"
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

// TestProgressTerminalFitsWidth redraws the line in terminals of several
// widths: every line is shorter than the width (the terminal never wraps
// it), erases the rest of the old one, and keeps what matters most.
func TestProgressTerminalFitsWidth(t *testing.T) {
	sts := []Status{
		{State: JobWaiting, Total: 10000, Reason: "no worker has free capacity\x1b[2J\nsecond line"},
		{State: JobProcessing, Total: 10000, Done: 4500, Rate: 1234, Counts: Counts{OK: 4480, Error: 20}},
		{State: stateCancelling, Total: 10000, Done: 9000, Counts: Counts{OK: 8000, Error: 1000},
			Workers: map[string]WorkerStatus{"a": {InFlight: 1200}, "b": {InFlight: 34}}},
		{State: JobCancelled, Total: 10000, Done: 10000, Counts: Counts{OK: 8000, Error: 1000, Cancelled: 1000}},
	}
	tests := []struct {
		cols int
		want []string // in the cancelling line
		bar  bool     // the 45% line has a bar
	}{
		{120, []string{"cancelling, 1,234 in flight", "9,000/10,000", "ok 8,000", "err 1,000"}, true},
		{80, []string{"cancelling, 1,234 in flight", "9,000/10,000", "err 1,000"}, true},
		{60, []string{"cancelling, 1,234 in flight", "9,000/10,000"}, true},
		{50, []string{"cancelling, 1,234 in flight", "9,000/10,000"}, false},
		{40, []string{"cancelling, 1,234 in flight"}, false},
		{20, []string{"cancelling, 1,234…"}, false},
		{1, nil, false},
	}
	for _, tc := range tests {
		t.Run(strconv.Itoa(tc.cols), func(t *testing.T) {
			clock := &fakeClock{t: time.Unix(0, 0)}
			var buf bytes.Buffer
			p := newProgress(&buf, true, func() int { return tc.cols }, clock.now)
			var lines []string
			for _, st := range sts {
				buf.Reset()
				clock.t = clock.t.Add(time.Second)
				p.update(st)
				out := buf.String()
				if out == "" && len(lines) > 0 { // the same line: not drawn again
					lines = append(lines, lines[len(lines)-1])
					continue
				}
				if !strings.HasPrefix(out, "\r") || !strings.HasSuffix(out, "\x1b[K") || strings.Count(out, "\r") != 1 {
					t.Fatalf("redraw %q: want \\r LINE \\x1b[K", out)
				}
				line := strings.TrimSuffix(strings.TrimPrefix(out, "\r"), "\x1b[K")
				if n := utf8.RuneCountInString(line); n > tc.cols-1 {
					t.Errorf("line of %d columns in a terminal of %d: %q", n, tc.cols, line)
				}
				if strings.ContainsFunc(line, unicode.IsControl) {
					t.Errorf("control character in %q", line)
				}
				lines = append(lines, line)
			}
			for _, w := range tc.want {
				if !strings.Contains(lines[2], w) {
					t.Errorf("cancelling line %q lacks %q", lines[2], w)
				}
			}
			if got := strings.HasPrefix(lines[1], "["); got != tc.bar {
				t.Errorf("bar shown %v, want %v: %q", got, tc.bar, lines[1])
			}
		})
	}
}

// TestProgressNote prints a note on a line of its own and draws the
// progress line again below it.
func TestProgressNote(t *testing.T) {
	clock := &fakeClock{t: time.Unix(0, 0)}
	var buf bytes.Buffer
	p := newProgress(&buf, true, func() int { return 40 }, clock.now)
	st := Status{State: JobProcessing, Total: 10, Done: 1}
	p.update(st)
	buf.Reset()
	p.cancelling = true
	p.note("salvo run: cancelling job j")
	got := buf.String()
	if !strings.HasPrefix(got, "\r\x1b[Ksalvo run: cancelling job j\n\r") || !strings.Contains(got, "cancelling, 0 in flight") {
		t.Errorf("note: %q", got)
	}
}

func TestInFlight(t *testing.T) {
	for _, tc := range []struct {
		st   Status
		want int
	}{
		{Status{Workers: map[string]WorkerStatus{"a": {InFlight: 3}, "b": {InFlight: 4}}, Sent: 100, Done: 10}, 7},
		// No worker figures: sent without a result.
		{Status{Sent: 100, Done: 60, Counts: Counts{OK: 50, Skipped: 5, Cancelled: 5}}, 50},
		{Status{Sent: 10, Done: 20}, 0},
	} {
		if got := inFlight(tc.st); got != tc.want {
			t.Errorf("inFlight(%+v) = %d, want %d", tc.st, got, tc.want)
		}
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
			p := newProgress(&buf, false, nil, clock.now)
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
	p := newProgress(&buf, false, nil, clock.now)
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
		if got := Commas(tc.n); got != tc.want {
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
