package job

import "unicode/utf8"

// Cut returns s cut to at most n bytes on a rune boundary, with "…" when
// it was longer: for what a status or a log line shows of a command.
func Cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
