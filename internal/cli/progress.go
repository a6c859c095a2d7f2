package cli

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// Progress display settings.
const (
	barWidth = 20
	// plainInterval is the least time between two plain progress lines
	// when neither a 10% step nor a state change calls for one.
	plainInterval = 2 * time.Second
)

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// progress draws a job's progress on stderr: one line redrawn with '\r' on
// a terminal, else a plain line per 10% step, per state change, or every
// plainInterval while targets complete.
type progress struct {
	w     io.Writer
	tty   bool
	now   func() time.Time
	start time.Time

	lastLen    int // width of the last terminal line
	printed    bool
	lastPrint  time.Time
	lastDecile int
	lastDone   int
	lastState  string
}

func newProgress(w io.Writer, tty bool, now func() time.Time) *progress {
	return &progress{w: w, tty: tty, now: now, start: now()}
}

// update shows a new status.
func (p *progress) update(st Status) {
	if p.tty {
		p.draw(st)
		return
	}
	now := p.now()
	decile := 0
	if st.Total > 0 {
		decile = st.Done * 10 / st.Total
	}
	due := !p.printed || decile > p.lastDecile || st.State != p.lastState ||
		(st.Done != p.lastDone && now.Sub(p.lastPrint) >= plainInterval)
	if due {
		p.plain(st, now, decile)
	}
}

// finish shows the last status and ends the line.
func (p *progress) finish(st Status) {
	if p.tty {
		p.draw(st)
		fmt.Fprintln(p.w)
		return
	}
	if !p.printed || st.Done != p.lastDone || st.State != p.lastState {
		decile := 0
		if st.Total > 0 {
			decile = st.Done * 10 / st.Total
		}
		p.plain(st, p.now(), decile)
	}
}

func (p *progress) plain(st Status, now time.Time, decile int) {
	fmt.Fprintf(p.w, "progress: %s\n", p.summary(st, now))
	p.printed, p.lastPrint, p.lastDecile, p.lastDone, p.lastState = true, now, decile, st.Done, st.State
}

func (p *progress) draw(st Status) {
	line := progressBar(st.Done, st.Total) + " " + p.summary(st, p.now())
	n := len([]rune(line))
	pad := ""
	if n < p.lastLen {
		pad = strings.Repeat(" ", p.lastLen-n)
	}
	fmt.Fprintf(p.w, "\r%s%s", line, pad)
	p.lastLen = n
	p.printed = true
}

// summary is "45% 4,500/10,000 ok 4,480 err 20 1,234/s 3.6s", followed by
// the state when the job is not processing.
func (p *progress) summary(st Status, now time.Time) string {
	elapsed := now.Sub(p.start)
	rate := st.Rate
	if rate <= 0 && elapsed >= time.Second {
		// The server gave no rate: estimate one once it means something.
		rate = float64(st.Done) / elapsed.Seconds()
	}
	s := fmt.Sprintf("%3d%% %s/%s ok %s err %s %s/s %s",
		percent(st.Done, st.Total), commas(int64(st.Done)), commas(int64(st.Total)),
		commas(int64(st.Counts.OK)), commas(int64(st.Counts.Failures())),
		commas(int64(rate+0.5)), formatElapsed(elapsed))
	if st.State != "" && st.State != JobProcessing {
		s += " " + st.State
		if st.Reason != "" {
			s += ": " + st.Reason
		}
	}
	return s
}

// progressBar is "[=====>     ]".
func progressBar(done, total int) string {
	filled := 0
	if total > 0 {
		filled = done * barWidth / total
	}
	filled = min(max(filled, 0), barWidth)
	var b strings.Builder
	b.WriteByte('[')
	switch {
	case filled == barWidth:
		b.WriteString(strings.Repeat("=", barWidth))
	default:
		b.WriteString(strings.Repeat("=", filled))
		b.WriteByte('>')
		b.WriteString(strings.Repeat(" ", barWidth-filled-1))
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

// commas formats n with thousands separators: 1234567 → "1,234,567".
func commas(n int64) string {
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
