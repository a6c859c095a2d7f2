package commands

import (
	"slices"
	"strconv"
	"strings"
)

// maxFoldDigits bounds the numeric run that FoldHosts folds (larger runs
// are kept as they are).
const maxFoldDigits = 18

// FoldHosts folds host names the way clush does: hosts that differ only in
// their last run of digits become one range, zero padding kept:
// "10.0.0.1,10.0.0.2,10.0.0.3,web-01,web-02,web-03,db" gives
// "10.0.0.[1-3],db,web-[01-03]". Duplicates count once; the result is
// sorted and deterministic.
func FoldHosts(hosts []string) string {
	type key struct {
		prefix, suffix string
	}
	type num struct {
		val   int64
		width int // digit count
		pad   bool
	}
	groups := map[key][]num{}
	var plain []string
	seen := make(map[string]struct{}, len(hosts))
	for _, h := range hosts {
		if _, dup := seen[h]; dup {
			continue
		}
		seen[h] = struct{}{}
		end := len(h)
		for end > 0 && !isDigit(h[end-1]) {
			end--
		}
		start := end
		for start > 0 && isDigit(h[start-1]) {
			start--
		}
		if start == end || end-start > maxFoldDigits {
			plain = append(plain, h)
			continue
		}
		digits := h[start:end]
		v, _ := strconv.ParseInt(digits, 10, 64)
		k := key{h[:start], h[end:]}
		groups[k] = append(groups[k], num{val: v, width: len(digits), pad: len(digits) > 1 && digits[0] == '0'})
	}
	out := plain
	for k, nums := range groups {
		if len(nums) == 1 {
			n := nums[0]
			out = append(out, k.prefix+formatNum(n.val, n.width, n.pad)+k.suffix)
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
		classes := map[int][]int64{} // width (0 = unpadded) -> values
		for _, n := range nums {
			w := 0
			if padded[n.width] {
				w = n.width
			}
			classes[w] = append(classes[w], n.val)
		}
		for w, vals := range classes {
			slices.Sort(vals)
			if len(vals) == 1 {
				out = append(out, k.prefix+formatNum(vals[0], w, w > 0)+k.suffix)
				continue
			}
			var b strings.Builder
			b.WriteString(k.prefix)
			b.WriteByte('[')
			for i := 0; i < len(vals); {
				j := i
				for j+1 < len(vals) && vals[j+1] == vals[j]+1 {
					j++
				}
				if i > 0 {
					b.WriteByte(',')
				}
				b.WriteString(formatNum(vals[i], w, w > 0))
				if j > i {
					b.WriteByte('-')
					b.WriteString(formatNum(vals[j], w, w > 0))
				}
				i = j + 1
			}
			b.WriteByte(']')
			b.WriteString(k.suffix)
			out = append(out, b.String())
		}
	}
	slices.Sort(out)
	return strings.Join(out, ",")
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
