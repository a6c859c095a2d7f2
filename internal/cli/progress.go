package cli

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Progress display settings.
const (
	barWidth = 20
	// plainInterval is the least time between two plain progress lines
	// when neither a 10% step nor a state change calls for one.
	plainInterval = 2 * time.Second
)

// defaultColumns is the width assumed for a terminal that does not tell
// its own.
const defaultColumns = 80

// progress draws a job's progress on stderr: on a terminal one line
// redrawn in place ('\r', the line, then erase to its end) that never
// reaches the terminal's last column, so that it never wraps; else a plain
// line per 10% step, per state change, or every plainInterval while
// targets complete (or, while the job is cancelling, while its in-flight
// count changes).
type progress struct {
	w     io.Writer
	tty   bool
	width func() int // the terminal's columns, read at each redraw; 0: unknown
	now   func() time.Time
	start time.Time

	// cancelling is set once the user asked for the job's cancel: the line
	// says "cancelling, N in flight" until the job is final.
	cancelling bool

	last       Status // the last status shown
	printed    bool
	ended      bool // finish ended the terminal line
	lastPrint  time.Time
	lastDecile int
	lastDone   int
	lastState  string
	lastFlight int
	lastCancel bool
	lastLine   string // the terminal line drawn last
	barCols    int    // the width barCells was found for
	barCells   int    // the bar's cells: shrinks as the line grows
}

// newProgress returns a progress display on w: redrawn in place when tty,
// the width function (nil: defaultColumns) giving the columns at each
// redraw; plain lines otherwise.
func newProgress(w io.Writer, tty bool, width func() int, now func() time.Time) *progress {
	return &progress{w: w, tty: tty, width: width, now: now, start: now()}
}

// progressFor returns the progress display of stderr: redrawn to the
// terminal's width (TIOCGWINSZ, read again at every redraw so that a
// resized window is followed) when stderr is a terminal, plain lines when
// it is a pipe or a file.
func progressFor(stderr io.Writer) *progress {
	_, tty := terminalWidth(stderr)
	width := func() int {
		cols, _ := terminalWidth(stderr)
		return cols
	}
	return newProgress(stderr, tty, width, time.Now)
}

// update shows a new status.
func (p *progress) update(st Status) {
	p.last = st
	if p.tty {
		p.draw(st)
		return
	}
	now := p.now()
	flight := inFlight(st)
	cancelling := p.isCancelling(st)
	due := !p.printed || p.decile(st) > p.lastDecile || st.State != p.lastState ||
		cancelling != p.lastCancel ||
		(st.Done != p.lastDone && now.Sub(p.lastPrint) >= plainInterval) ||
		(cancelling && flight != p.lastFlight && now.Sub(p.lastPrint) >= plainInterval)
	if due {
		p.plain(st, now)
	}
}

// finish shows the last status and ends the line.
func (p *progress) finish(st Status) {
	p.last = st
	if p.tty {
		if !p.ended {
			p.draw(st)
			fmt.Fprintln(p.w)
			p.ended = true
		}
		return
	}
	if !p.printed || st.Done != p.lastDone || st.State != p.lastState || p.isCancelling(st) != p.lastCancel {
		p.plain(st, p.now())
	}
}

// note prints a line of its own: on a terminal the progress line is
// erased, the note printed and the progress line drawn again below it.
func (p *progress) note(s string) {
	if p.tty && p.printed && !p.ended {
		fmt.Fprintf(p.w, "\r\x1b[K%s\n", s)
		p.lastLine = ""
		p.draw(p.last)
		return
	}
	fmt.Fprintln(p.w, s)
}

func (p *progress) decile(st Status) int {
	if st.Total <= 0 {
		return 0
	}
	return st.Done * 10 / st.Total
}

func (p *progress) plain(st Status, now time.Time) {
	fmt.Fprintf(p.w, "progress: %s\n", strings.Join(p.segments(st, now).texts(), " "))
	p.printed, p.lastPrint, p.lastDecile, p.lastDone, p.lastState = true, now, p.decile(st), st.Done, st.State
	p.lastFlight, p.lastCancel = inFlight(st), p.isCancelling(st)
}

func (p *progress) draw(st Status) {
	cols := defaultColumns
	if p.width != nil {
		if c := p.width(); c > 0 {
			cols = c
		}
	}
	line := p.fit(st, p.now(), cols-1)
	if p.printed && line == p.lastLine {
		return // the terminal shows it already
	}
	fmt.Fprintf(p.w, "\r%s\x1b[K", line)
	p.printed, p.lastLine = true, line
}

// isCancelling reports whether the job is on its way to cancelled: the
// server says so (state cancelling) or the user asked for it.
func (p *progress) isCancelling(st Status) bool {
	return !Terminal(st.State) && (p.cancelling || st.State == stateCancelling)
}

// stateCancelling is the state a job's status shows between a cancel and
// its end (actors.StateCancelling).
const stateCancelling = "cancelling"

// inFlight is the number of a job's requests in flight: the sum of the
// workers' in-flight figures (from their load reports, every 500 ms), or,
// when the status has no worker figures, the requests sent without a
// result yet.
func inFlight(st Status) int {
	if len(st.Workers) > 0 {
		n := 0
		for _, w := range st.Workers {
			n += w.InFlight
		}
		return n
	}
	answered := st.Done - st.Counts.Skipped - st.Counts.Cancelled
	return max(st.Sent-answered, 0)
}

// segment is one part of the progress line; the lowest keep goes first
// when the line is too wide.
type segment struct {
	text string
	keep int
}

type segments []segment

func (ss segments) texts() []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.text
	}
	return out
}

// segments is "45%" "4,500/10,000" "ok 4,480" "err 20" "1,234/s" "3.6s",
// followed by the state when the job is not processing ("cancelling, 3 in
// flight" while it is being cancelled).
func (p *progress) segments(st Status, now time.Time) segments {
	elapsed := now.Sub(p.start)
	rate := st.Rate
	if rate <= 0 && elapsed >= time.Second {
		// The server gave no rate: estimate one once it means something.
		rate = float64(st.Done) / elapsed.Seconds()
	}
	ss := segments{
		{fmt.Sprintf("%3d%%", percent(st.Done, st.Total)), 6},
		{Commas(int64(st.Done)) + "/" + Commas(int64(st.Total)), 5},
		{"ok " + Commas(int64(st.Counts.OK)), 3},
		{"err " + Commas(int64(st.Counts.Failures())), 4},
		{Commas(int64(rate+0.5)) + "/s", 1},
		{formatElapsed(elapsed), 2},
	}
	if s := rolloutSegment(st); s != "" {
		ss = append(ss, segment{s, 5})
	}
	switch {
	case p.isCancelling(st):
		ss = append(ss, segment{fmt.Sprintf("cancelling, %s in flight", Commas(int64(inFlight(st)))), 7})
	case st.State != "" && st.State != JobProcessing:
		s := st.State
		if st.Reason != "" && st.Reason != st.State {
			s += ": " + st.Reason
		}
		ss = append(ss, segment{printable(s), 7})
	}
	return ss
}

// fit is the terminal line of st in at most cols columns: the bar and
// every segment when they fit, else the bar goes, then the segments least
// worth keeping, and a last segment too wide is cut with "…".
func (p *progress) fit(st Status, now time.Time, cols int) string {
	ss := p.segments(st, now)
	width := func(ss segments) int {
		n := len(ss) - 1
		for _, s := range ss {
			n += utf8.RuneCountInString(s.text)
		}
		return n
	}
	for len(ss) > 1 && width(ss) > cols {
		drop := 0
		for i, s := range ss {
			if s.keep < ss[drop].keep {
				drop = i
			}
		}
		ss = append(ss[:drop], ss[drop+1:]...)
	}
	line := strings.Join(ss.texts(), " ")
	if n := utf8.RuneCountInString(line); n > cols {
		if cols <= 0 {
			return ""
		}
		return strings.TrimRight(string([]rune(line)[:cols-1]), " ") + "…"
	}
	// The bar takes what room is left, up to barWidth, at least 5 cells;
	// it does not grow back as the counts change, only when the terminal
	// does.
	if cols != p.barCols {
		p.barCols, p.barCells = cols, barWidth
	}
	if inner := min(cols-utf8.RuneCountInString(line)-3, p.barCells); inner >= 5 {
		p.barCells = inner
		line = bar(st.Done, st.Total, inner) + " " + line
	}
	return line
}

// printable replaces control characters (of a server's reason) with
// spaces: they must not move the cursor or break the line.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
}

// progressBar is "[=====>     ]", barWidth cells inside the brackets.
func progressBar(done, total int) string { return bar(done, total, barWidth) }

// bar is a progress bar of width cells inside its brackets.
func bar(done, total, width int) string {
	filled := 0
	if total > 0 {
		filled = done * width / total
	}
	filled = min(max(filled, 0), width)
	var b strings.Builder
	b.WriteByte('[')
	switch {
	case filled == width:
		b.WriteString(strings.Repeat("=", width))
	default:
		b.WriteString(strings.Repeat("=", filled))
		b.WriteByte('>')
		b.WriteString(strings.Repeat(" ", width-filled-1))
	}
	b.WriteByte(']')
	return b.String()
}

// percent is done/total in whole percent, 100 only when done == total.
func percent(done, total int) int {
	if total <= 0 {
		return 0
	}
	if done >= total {
		return 100
	}
	return min(done*100/total, 99)
}

// Commas formats n with thousands separators: 1234567 → "1,234,567".
func Commas(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// formatElapsed is "3.6s" under a minute, else "1m23s".
func formatElapsed(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	if d < time.Minute {
		return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + "s"
	}
	return d.Round(time.Second).String()
}
