package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/salvo-sh/salvo/job"
)

// valueWidth is the width of the VALUE column.
const valueWidth = 40

// jobHeader is the summary line of a finished job.
func jobHeader(st Status, elapsed time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "job %s  state %s  total %s  ok %s", st.ID, st.State,
		Commas(int64(st.Total)), Commas(int64(st.Counts.OK)))
	for _, c := range []struct {
		name string
		n    int
	}{
		{"failed", st.Counts.Failed}, {"error", st.Counts.Error}, {"timeout", st.Counts.Timeout},
		{"skipped", st.Counts.Skipped}, {"cancelled", st.Counts.Cancelled},
	} {
		if c.n > 0 {
			fmt.Fprintf(&b, "  %s %s", c.name, Commas(int64(c.n)))
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
	fmt.Fprintf(&b, "  elapsed %s  rate %s/s", el, Commas(int64(rate+0.5)))
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

// writeTable prints the header and the aggregation (writeGroups).
func writeTable(w io.Writer, st Status, elapsed time.Duration, agg *Aggregate) error {
	fmt.Fprintln(w, jobHeader(st, elapsed))
	if st.Reason != "" {
		fmt.Fprintf(w, "reason: %s\n", st.Reason)
	}
	if agg == nil || len(agg.Groups) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	return writeGroups(w, agg, st.Total)
}

// writeGroups prints the groups: by body and by stderr as clush -b style
// blocks (writeOutcomes, writeStderrs), else as a table (VALUE, COUNT, %,
// HOSTS), shares of total (of the groups' counts when total ≤ 0). Host
// lists are printed whole, as their Folded nodeset, with "(+N more)" when
// --max-hosts left N out.
func writeGroups(w io.Writer, agg *Aggregate, total int) error {
	switch agg.By {
	case ByBody:
		return writeOutcomes(w, agg.Groups)
	case ByStderr:
		return writeStderrs(w, agg.Groups)
	}
	if total <= 0 {
		for _, g := range agg.Groups {
			total += g.Count
		}
	}
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "VALUE\tCOUNT\t%\tHOSTS")
	for _, g := range agg.Groups {
		v := displayValue(g.Value, valueWidth)
		if g.IsError {
			v += " [error]"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", v, Commas(int64(g.Count)), share(g.Count, total), hostList(g))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	return nil
}

// writeOutcomes prints ByBody groups as clush does: a header with the
// group's hosts, count and outcome ("127.0.0.[1-50] (50): exit 4,
// failed") between rules, then its output ("stdout:", "body:" for HTTP)
// and its stderr, per part when the hosts' stderr differ ("stderr of
// 127.0.0.[1-30] (30):"). A group without an answer shows its header only.
func writeOutcomes(w io.Writer, groups []Group) error {
	var b strings.Builder
	for _, g := range groups {
		head := fmt.Sprintf("%s (%s)", hostList(g), Commas(int64(g.Count)))
		if label := outcomeLabel(g); label != "" {
			head += ": " + label
		} else if g.IsError {
			head += " [error]"
		}
		writeRuled(&b, head)
		if !noAnswer(g) {
			name := "stdout"
			if g.StatusCode > 0 {
				name = "body"
			}
			writeSection(&b, name, g.Value)
		}
		switch parts := g.Stderr; {
		case len(parts) == 1 && g.StderrMore == 0:
			if parts[0].Value != "" {
				writeSection(&b, "stderr", parts[0].Value)
			}
		default:
			for _, p := range parts {
				writeSection(&b, fmt.Sprintf("stderr of %s (%s)", hostList(p), Commas(int64(p.Count))), p.Value)
			}
		}
		if g.StderrMore > 0 {
			fmt.Fprintf(&b, "stderr of %s: %s, not shown (--by stderr lists them)\n",
				countOf(g.StderrMore, "more host", "more hosts"), countOf(g.StderrMoreGroups, "other output", "other outputs"))
		}
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}

// writeStderrs prints ByStderr groups: hosts and count between rules,
// then the stderr.
func writeStderrs(w io.Writer, groups []Group) error {
	var b strings.Builder
	for _, g := range groups {
		head := fmt.Sprintf("%s (%s)", hostList(g), Commas(int64(g.Count)))
		if g.IsError {
			head += " [error]"
		}
		writeRuled(&b, head)
		writeSection(&b, "stderr", g.Value)
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}

// writeRuled writes head between two rules of dashes.
func writeRuled(b *strings.Builder, head string) {
	rule := strings.Repeat("-", min(max(len([]rune(head)), 15), 80))
	fmt.Fprintf(b, "%s\n%s\n%s\n", rule, head, rule)
}

// writeSection writes "name:" and text on the lines after, or
// "name: (empty)".
func writeSection(b *strings.Builder, name, text string) {
	if text == "" {
		fmt.Fprintf(b, "%s: (empty)\n", name)
		return
	}
	fmt.Fprintf(b, "%s:\n%s", name, text)
	if !strings.HasSuffix(text, "\n") {
		b.WriteByte('\n')
	}
}

// outcomeLabel names a ByBody group's outcome: "exit 0", "HTTP 200",
// "exit 4, failed", "HTTP 503, failed (expectation)", "error
// (connect_refused)", "timeout", "skipped"; "" when the server sent none.
func outcomeLabel(g Group) string {
	var parts []string
	switch {
	case g.ExitCode != nil:
		parts = append(parts, "exit "+strconv.Itoa(*g.ExitCode))
	case g.StatusCode > 0:
		parts = append(parts, "HTTP "+strconv.Itoa(g.StatusCode))
	}
	if g.State != "" && g.State != job.StateOK {
		st := g.State
		if g.ErrorClass != "" && g.ErrorClass != g.State {
			st += " (" + g.ErrorClass + ")"
		}
		parts = append(parts, st)
	}
	return strings.Join(parts, ", ")
}

// noAnswer reports whether a ByBody group is of results without an
// answer, which the server names by why ("[error: connect_refused]")
// rather than by an output.
func noAnswer(g Group) bool {
	switch g.State {
	case job.StateError, job.StateTimeout, job.StateSkipped, job.StateCancelled:
	default:
		return false
	}
	why := "[" + g.State
	if g.ErrorClass != "" {
		why += ": " + g.ErrorClass
	}
	return g.Value == why+"]"
}

// hostList is a group's hosts as a nodeset, "(+N more)" counting those
// --max-hosts left out; the listed hosts when there is no nodeset.
func hostList(g Group) string {
	folded, omitted := g.Folded, g.HostsOmitted
	if folded == "" && len(g.Hosts) > 0 {
		folded, omitted = strings.Join(g.Hosts, ","), g.Count-len(g.Hosts)
	}
	if omitted > 0 {
		return fmt.Sprintf("%s (+%s more)", folded, Commas(int64(omitted)))
	}
	return folded
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

// countOf is n and the noun, one or many: "1 host", "1,200 hosts".
func countOf(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return Commas(int64(n)) + " " + many
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
