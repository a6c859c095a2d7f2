package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Output display settings.
const (
	hostsWidth = 60 // the HOSTS column
	valueWidth = 40 // the VALUE column
	bodyHosts  = 120
)

// jobHeader is the summary line of a finished job.
func jobHeader(st Status, elapsed time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "job %s  state %s  total %s  ok %s", st.ID, st.State,
		commas(int64(st.Total)), commas(int64(st.Counts.OK)))
	for _, c := range []struct {
		name string
		n    int
	}{
		{"failed", st.Counts.Failed}, {"error", st.Counts.Error}, {"timeout", st.Counts.Timeout},
		{"skipped", st.Counts.Skipped}, {"cancelled", st.Counts.Cancelled},
	} {
		if c.n > 0 {
			fmt.Fprintf(&b, "  %s %s", c.name, commas(int64(c.n)))
		}
	}
	rate := st.Rate
	if rate <= 0 && elapsed > 0 {
		rate = float64(st.Done) / elapsed.Seconds()
	}
	el := formatElapsed(elapsed)
	if elapsed < time.Second {
		el = elapsed.Round(time.Millisecond).String()
	}
	fmt.Fprintf(&b, "  elapsed %s  rate %s/s", el, commas(int64(rate+0.5)))
	return b.String()
}

// jobElapsed is the job's run time by the server's clock when it says,
// else local is used.
func jobElapsed(st Status, local time.Duration) time.Duration {
	if !st.StartedAt.IsZero() && !st.FinishedAt.IsZero() && !st.FinishedAt.Before(st.StartedAt.Time) {
		return st.FinishedAt.Sub(st.StartedAt.Time)
	}
	return local
}

// writeTable prints the header and the aggregation as a table (or, for
// ByBody, as clush -b style blocks).
func writeTable(w io.Writer, st Status, elapsed time.Duration, agg *Aggregate) error {
	fmt.Fprintln(w, jobHeader(st, elapsed))
	if st.Reason != "" {
		fmt.Fprintf(w, "reason: %s\n", st.Reason)
	}
	if agg == nil || len(agg.Groups) == 0 {
		return nil
	}
	total := st.Total
	if total <= 0 {
		for _, g := range agg.Groups {
			total += g.Count
		}
	}
	fmt.Fprintln(w)
	if agg.By == ByBody {
		return writeBodies(w, agg)
	}
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "VALUE\tCOUNT\t%\tHOSTS")
	for _, g := range agg.Groups {
		v := displayValue(g.Value, valueWidth)
		if g.IsError {
			v += " [error]"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", v, commas(int64(g.Count)), share(g.Count, total), hostsCell(g, hostsWidth))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	return nil
}

// writeBodies prints each group's hosts and then its whole output, as
// clush -b does.
func writeBodies(w io.Writer, agg *Aggregate) error {
	for _, g := range agg.Groups {
		head := fmt.Sprintf("%s (%s)", hostsCell(g, bodyHosts), commas(int64(g.Count)))
		if g.IsError {
			head += " [error]"
		}
		rule := strings.Repeat("-", min(max(len([]rune(head)), 15), 80))
		body := g.Value
		if body != "" && !strings.HasSuffix(body, "\n") {
			body += "\n"
		}
		if _, err := fmt.Fprintf(w, "%s\n%s\n%s\n%s", rule, head, rule, body); err != nil {
			return fmt.Errorf("write output: %w", err)
		}
	}
	return nil
}

// writeJSON prints the final status and the aggregation as one document.
func writeJSON(w io.Writer, st Status, agg *Aggregate) error {
	var status any = st
	if raw := st.Raw(); raw != nil {
		status = raw // keep the fields the server sent beyond Status's
	}
	doc := struct {
		Status    any        `json:"status"`
		Aggregate *Aggregate `json:"aggregate,omitempty"`
	}{status, agg}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("write json: %w", err)
	}
	return nil
}

// share is count/total as "12.3%".
func share(count, total int) string {
	if total <= 0 {
		return "-"
	}
	return strconv.FormatFloat(float64(count)*100/float64(total), 'f', 1, 64) + "%"
}

// displayValue shows a value on one line: control characters escaped,
// "" for empty, cut to width runes with "…".
func displayValue(v string, width int) string {
	if v == "" {
		return `""`
	}
	q := strconv.Quote(v)
	q = q[1 : len(q)-1] // escapes without the quotes
	if q != v {
		// Keep printable non-ASCII; only escape what would break the line.
		r := strings.NewReplacer("\n", `\n`, "\r", `\r`, "\t", `\t`)
		v = r.Replace(v)
		v = strings.Map(func(c rune) rune {
			if c < 0x20 || c == 0x7f {
				return '?'
			}
			return c
		}, v)
	}
	return truncate(v, width)
}

// truncate cuts s to width runes, the last being "…".
func truncate(s string, width int) string {
	r := []rune(s)
	if len(r) <= width {
		return s
	}
	return string(r[:width-1]) + "…"
}

// hostsCell is the group's folded hosts cut to about width characters,
// with "(+N more)" counting the hosts not shown.
func hostsCell(g Group, width int) string {
	folded, total := g.Folded, g.Count
	if folded == "" {
		// No folded form: the listed hosts, the rest counted as more.
		folded = strings.Join(g.Hosts, ",")
	} else if n := countFolded(folded); n >= 0 && g.HostsCursor == "" {
		// Every host is folded (a partial fold leaves the rest to Count).
		total = n
	}
	if folded == "" {
		if g.Count == 0 {
			return ""
		}
		return fmt.Sprintf("(%s hosts)", commas(int64(g.Count)))
	}
	shown, visible := cutFolded(folded, width)
	if visible < 0 {
		return shown + fmt.Sprintf(" (%s hosts)", commas(int64(total)))
	}
	if hidden := total - visible; hidden > 0 {
		shown += fmt.Sprintf(" (+%s more)", commas(int64(hidden)))
	}
	return shown
}

// cutFolded cuts a folded host list ("a[1-3],b[01-10]") to about width
// characters, between items or between the ranges of a one-bracket item,
// and counts the hosts shown (-1 when it cannot tell).
func cutFolded(folded string, width int) (string, int) {
	if len([]rune(folded)) <= width {
		return folded, countFolded(folded)
	}
	items := splitTop(folded)
	var kept []string
	used := 0
	for _, it := range items {
		n := len([]rune(it))
		if len(kept) > 0 {
			n++ // the comma
		}
		if used+n > width {
			break
		}
		kept = append(kept, it)
		used += n
	}
	if len(kept) > 0 {
		shown := strings.Join(kept, ",")
		return shown + ",…", countFolded(shown)
	}
	// The first item alone is too long: keep the first ranges of its
	// bracket when it has one.
	first := items[0]
	open, end := strings.IndexByte(first, '['), strings.IndexByte(first, ']')
	if open >= 0 && end > open && strings.Count(first, "[") == 1 {
		pre, post := first[:open+1], first[end:]
		ranges := strings.Split(first[open+1:end], ",")
		var rs []string
		used := len([]rune(pre)) + len([]rune(post)) + 2 // ",…"
		for _, r := range ranges {
			if used+len(r)+1 > width {
				break
			}
			rs = append(rs, r)
			used += len(r) + 1
		}
		if len(rs) > 0 && len(rs) < len(ranges) {
			kept := pre + strings.Join(rs, ",") + post
			shown := pre + strings.Join(rs, ",") + ",…" + post
			if len(items) > 1 {
				shown += ",…"
			}
			return shown, countFolded(kept)
		}
	}
	return truncate(first, width), -1
}

// splitTop splits a folded list at the commas outside brackets.
func splitTop(s string) []string {
	var out []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '[':
			depth++
		case ']':
			if depth > 0 {
				depth--
			}
		case ',':
			if depth == 0 {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}

// countFolded counts the hosts of a folded list, or -1 when it cannot be
// parsed.
func countFolded(s string) int {
	if s == "" {
		return 0
	}
	total := 0
	for _, item := range splitTop(s) {
		n := 1
		rest := item
		for {
			open := strings.IndexByte(rest, '[')
			if open < 0 {
				break
			}
			end := strings.IndexByte(rest[open:], ']')
			if end < 0 {
				return -1
			}
			end += open
			sum := 0
			for _, r := range strings.Split(rest[open+1:end], ",") {
				lo, hi, isRange := strings.Cut(r, "-")
				a, err := strconv.Atoi(lo)
				if err != nil {
					return -1
				}
				if !isRange {
					sum++
					continue
				}
				b, err := strconv.Atoi(hi)
				if err != nil || b < a {
					return -1
				}
				sum += b - a + 1
			}
			n *= sum
			rest = rest[end+1:]
		}
		total += n
	}
	return total
}
