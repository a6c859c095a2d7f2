package nodeset

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
)

// maxFoldDigits bounds the numeric run that FoldHosts folds (larger runs
// are kept as they are).
const maxFoldDigits = 18

// Fold folds host names the way clush does: hosts that differ only in
// one run of digits become one range, zero padding kept:
// "10.0.0.1,10.0.0.2,10.0.0.3,web-01,web-02,web-03,db" gives
// "10.0.0.[1-3],db,web-[01-03]". The last run of digits is tried first,
// then earlier ones for the hosts left alone. Duplicates count once; the
// result is sorted and deterministic. Expand gives the hosts back: for
// host names and addresses (with a user@ or a :port; not URLs, not
// holding ',', '!' or brackets other than an IPv6 address's)
// Expand(Fold(hosts)) is the set of hosts.
func Fold(hosts []string) string {
	seen := make(map[string]struct{}, len(hosts))
	rest := make([]string, 0, len(hosts))
	for _, h := range hosts {
		if _, dup := seen[h]; !dup {
			seen[h] = struct{}{}
			rest = append(rest, h)
		}
	}
	var out []string
	for run := 0; len(rest) > 0; run++ {
		var left []string
		out, left = foldRun(out, rest, run)
		if len(left) == len(rest) && !anyRun(rest, run+1) {
			out = append(out, left...)
			break
		}
		rest = left
	}
	slices.Sort(out)
	return strings.Join(out, ",")
}

// anyRun reports whether some host has a run of digits at position run
// (counted from the end).
func anyRun(hosts []string, run int) bool {
	for _, h := range hosts {
		if start, _ := digitRun(h, run); start >= 0 {
			return true
		}
	}
	return false
}

// digitRun returns the bounds of the run-th run of digits from the end of
// h, or -1, -1. Only the digits Expand would read as plain text count:
// not those inside brackets (an IPv6 address) nor, in a URL, those outside
// its host and port.
func digitRun(h string, run int) (int, int) {
	_, lo, end := urlZone(h)
	for r := 0; ; r++ {
		for end > lo && !isDigit(h[end-1]) {
			if h[end-1] == ']' {
				if k := strings.LastIndexByte(h[lo:end-1], '['); k >= 0 {
					end = lo + k
					continue
				}
			}
			end--
		}
		if end == lo {
			return -1, -1
		}
		start := end
		for start > lo && isDigit(h[start-1]) {
			start--
		}
		if r == run {
			return start, end
		}
		end = start
	}
}

// foldRun folds the hosts that share everything but their run-th run of
// digits from the end; it appends the folded groups to out and returns the
// hosts it could not fold.
func foldRun(out, hosts []string, run int) ([]string, []string) {
	type key struct {
		prefix, suffix string
	}
	type num struct {
		host  string
		val   int64
		width int // digit count
		pad   bool
	}
	groups := map[key][]num{}
	var keys []key
	var left []string
	for _, h := range hosts {
		start, end := digitRun(h, run)
		if start < 0 || end-start > maxFoldDigits {
			left = append(left, h)
			continue
		}
		digits := h[start:end]
		v, _ := strconv.ParseInt(digits, 10, 64)
		k := key{h[:start], h[end:]}
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], num{host: h, val: v, width: len(digits), pad: len(digits) > 1 && digits[0] == '0'})
	}
	for _, k := range keys {
		nums := groups[k]
		if len(nums) == 1 {
			left = append(left, nums[0].host)
			continue
		}
		// Split into padding classes: padded numbers by width, unpadded
		// numbers join the padded class of their width if there is one.
		padded := map[int]bool{}
		for _, n := range nums {
			if n.pad {
				padded[n.width] = true
			}
		}
		classes := map[int][]num{} // width (0 = unpadded) -> numbers
		for _, n := range nums {
			w := 0
			if padded[n.width] {
				w = n.width
			}
			classes[w] = append(classes[w], n)
		}
		for w, ns := range classes {
			if len(ns) == 1 {
				left = append(left, ns[0].host)
				continue
			}
			slices.SortFunc(ns, func(a, b num) int { return cmp.Compare(a.val, b.val) })
			var b strings.Builder
			b.WriteString(k.prefix)
			b.WriteByte('[')
			for i := 0; i < len(ns); {
				j := i
				for j+1 < len(ns) && ns[j+1].val == ns[j].val+1 {
					j++
				}
				if i > 0 {
					b.WriteByte(',')
				}
				b.WriteString(formatNum(ns[i].val, w, w > 0))
				if j > i {
					b.WriteByte('-')
					b.WriteString(formatNum(ns[j].val, w, w > 0))
				}
				i = j + 1
			}
			b.WriteByte(']')
			b.WriteString(k.suffix)
			out = append(out, b.String())
		}
	}
	return out, left
}

// formatNum formats v, zero-padded to width when pad is set.
func formatNum(v int64, width int, pad bool) string {
	s := strconv.FormatInt(v, 10)
	if pad && len(s) < width {
		s = strings.Repeat("0", width-len(s)) + s
	}
	return s
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
