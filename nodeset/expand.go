package nodeset

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// ErrLimit is wrapped by the *Error of a nodeset whose items name more
// hosts than the limit given to Expand.
var ErrLimit = errors.New("more hosts than the limit")

// Error is a bad nodeset: what is wrong and at which byte of the pattern.
type Error struct {
	Pattern string
	Offset  int // byte offset of the fault in Pattern, from 0
	Msg     string
	err     error
}

// Error says what is wrong, where, and quotes the pattern around it.
func (e *Error) Error() string {
	return fmt.Sprintf("nodeset %s: %s at offset %d", excerpt(e.Pattern, e.Offset), e.Msg, e.Offset)
}

// Unwrap returns ErrLimit for a nodeset over the limit, else nil.
func (e *Error) Unwrap() error { return e.err }

// excerpt quotes the pattern, or for a long one the part around off.
func excerpt(p string, off int) string {
	const span = 32
	if len(p) <= 2*span {
		return strconv.Quote(p)
	}
	lo, hi := max(0, off-span), min(len(p), off+span)
	s := strconv.Quote(p[lo:hi])
	if lo > 0 {
		s = "…" + s
	}
	if hi < len(p) {
		s += "…"
	}
	return s
}

// maxDigits bounds a number in brackets, so that it fits an int64.
const maxDigits = 18

// maxCount saturates host counts, well above any limit.
const maxCount = int64(1) << 62

// elem is one element of a bracket: lo-hi/step, or lo alone (hi = lo).
type elem struct {
	lo, hi, step int64
	width        int // zero-padded width; 0: not padded
}

// numRange is a bracket's content, "1-3,7,10-20/2".
type numRange struct {
	elems   []elem
	size    int64 // number of values, duplicates included
	overlap bool  // two elements share values
	fixed   int   // the digit count of every value when it is the same, else 0
}

// part is a literal or a bracket of an item.
type part struct {
	lit string
	r   *numRange
}

// item is one host pattern of a nodeset ("web-[1-3].dc1"), added or
// (exclude, after '!') taken away.
type item struct {
	parts   []part
	exclude bool
	off     int   // offset in the pattern
	size    int64 // hosts it names, duplicates included
	// ambiguous: two brackets with only digits between them, not both of
	// fixed width, so that two combinations may give the same host.
	ambiguous bool
}

// Expand expands a clush-style nodeset into its hosts, in the order they
// are written, each once. The syntax (docs/ssh.md, "Nodesets"):
//
//   - a bracket is a range list: "web-[01-20].dc1" gives web-01 … web-20
//     (the padding of the low end is kept); "[1-3,7,10-20/2]" lists
//     ranges, single numbers and stepped ranges; several brackets give
//     every combination ("10.0.[0-3].[1-254]");
//   - items are separated by ',' (a comma inside brackets is not a
//     separator) and "a!b" removes b's hosts from what comes before it,
//     evaluated left to right as clush does;
//   - everything else is kept on every host, such as a "user@" prefix or
//     a ":port" suffix ("root@web-[1-3]:2222");
//   - a bracket holding ':' is an IPv6 address and stays as it is
//     ("[::1]:22", "[2001:db8::1]");
//   - a pattern holding "://" is one URL: brackets in its host and port
//     are ranges, its path is kept as written and ',' and '!' are not
//     operators in it ("http://web-[1-3]:8080/x?a=1,2").
//
// limit (at least 1) bounds the hosts the items name in all, duplicates
// and exclusions included: a nodeset beyond it is an error wrapping
// ErrLimit, found before any host is made. Errors are *Error, saying what
// is wrong and where.
func Expand(pattern string, limit int) ([]string, error) {
	items, err := parse(pattern)
	if err != nil {
		return nil, err
	}
	total, err := bound(pattern, items, limit)
	if err != nil {
		return nil, err
	}
	if len(items) == 1 && !items[0].exclude && !items[0].ambiguous && !items[0].overlaps() {
		// One item whose combinations all differ: no set needed.
		out := make([]string, 0, total)
		items[0].each(func(h []byte) { out = append(out, string(h)) })
		return out, nil
	}
	// A set in written order: removed hosts leave a hole ("") that a
	// later item may fill again.
	out := make([]string, 0, min(total, 1<<16))
	at := make(map[string]int, min(total, 1<<16))
	for i := range items {
		it := &items[i]
		it.each(func(h []byte) {
			j, seen := at[string(h)]
			switch {
			case it.exclude && seen:
				out[j] = ""
			case it.exclude:
			case !seen:
				s := string(h)
				at[s] = len(out)
				out = append(out, s)
			case out[j] == "":
				out[j] = string(h)
			}
		})
	}
	return slices.DeleteFunc(out, func(h string) bool { return h == "" }), nil
}

// bound adds up the hosts the items name, refusing more than limit.
func bound(pattern string, items []item, limit int) (int, error) {
	if limit < 1 {
		return 0, &Error{Pattern: pattern, Msg: fmt.Sprintf("limit %d (want at least 1)", limit), err: ErrLimit}
	}
	total := int64(0)
	for _, it := range items {
		total += it.size
		if total > int64(limit) {
			return 0, &Error{Pattern: pattern, Offset: it.off, Msg: fmt.Sprintf("more than %d hosts", limit), err: ErrLimit}
		}
	}
	return int(total), nil
}

// IsNodeset reports whether s uses nodeset syntax (a range, a ',' list or
// a '!' exclusion, or a malformed bracket that Expand reports); any other
// string, an IPv6 literal included, expands to itself.
func IsNodeset(s string) bool {
	if !strings.ContainsAny(s, "[],!") {
		return false
	}
	lo, hi := 0, len(s)
	if u, zlo, zhi := urlZone(s); u {
		lo, hi = zlo, zhi
	} else if strings.ContainsAny(s, ",!") {
		return true
	}
	for i := lo; i < hi; i++ {
		switch s[i] {
		case ']':
			return true
		case '[':
			j := strings.IndexByte(s[i+1:hi], ']')
			if j < 0 {
				return true
			}
			if body := s[i+1 : i+1+j]; strings.IndexByte(body, ':') < 0 || strings.IndexByte(body, '[') >= 0 {
				return true
			}
			i += 1 + j
		}
	}
	return false
}

// urlZone reports whether s is a URL (holds "://") and the bounds of its
// host and port, where brackets are ranges: up to the first '/', '?' or
// '#' outside brackets.
func urlZone(s string) (isURL bool, lo, hi int) {
	i := strings.Index(s, "://")
	if i < 0 {
		return false, 0, len(s)
	}
	lo = i + 3
	in := false
	for hi = lo; hi < len(s); hi++ {
		switch c := s[hi]; {
		case c == '[':
			in = true
		case c == ']':
			in = false
		case !in && (c == '/' || c == '?' || c == '#'):
			return true, lo, hi
		}
	}
	return true, lo, hi
}

// parse splits a pattern into its items.
func parse(p string) ([]item, error) {
	if strings.TrimSpace(p) == "" {
		return nil, &Error{Pattern: p, Msg: "empty nodeset"}
	}
	if isURL, _, _ := urlZone(p); isURL {
		lo, hi := trimSpace(p, 0, len(p))
		it, err := parseItem(p, lo, hi, false)
		if err != nil {
			return nil, err
		}
		return []item{it}, nil
	}
	var items []item
	start, exclude, in := 0, false, false
	for i := 0; i <= len(p); i++ {
		if i < len(p) {
			switch p[i] {
			case '[':
				in = true
				continue
			case ']':
				in = false
				continue
			case ',', '!':
				if in {
					continue
				}
			default:
				continue
			}
		}
		lo, hi := trimSpace(p, start, i)
		if lo == hi {
			what := "empty item"
			switch {
			case i < len(p):
				what += fmt.Sprintf(" before %q", p[i])
			case start > 0:
				what += fmt.Sprintf(" after %q", p[start-1])
			}
			return nil, &Error{Pattern: p, Offset: lo, Msg: what}
		}
		it, err := parseItem(p, lo, hi, exclude)
		if err != nil {
			return nil, err
		}
		items = append(items, it)
		if i < len(p) {
			exclude = p[i] == '!'
		}
		start = i + 1
	}
	return items, nil
}

// trimSpace trims blanks around p[lo:hi].
func trimSpace(p string, lo, hi int) (int, int) {
	for lo < hi && (p[lo] == ' ' || p[lo] == '\t') {
		lo++
	}
	for hi > lo && (p[hi-1] == ' ' || p[hi-1] == '\t') {
		hi--
	}
	return lo, hi
}

// parseItem parses the item p[lo:hi].
func parseItem(p string, lo, hi int, exclude bool) (item, error) {
	it := item{exclude: exclude, off: lo, size: 1}
	zlo, zhi := lo, hi
	if isURL, ulo, uhi := urlZone(p[lo:hi]); isURL {
		zlo, zhi = lo+ulo, lo+uhi
	}
	litStart := lo
	var prev *numRange // the last bracket, while only digits follow it
	for i := zlo; i < zhi; i++ {
		switch p[i] {
		case ']':
			return item{}, &Error{Pattern: p, Offset: i, Msg: "']' without '['"}
		case '[':
			j := strings.IndexByte(p[i+1:zhi], ']')
			if j < 0 {
				return item{}, &Error{Pattern: p, Offset: i, Msg: "unclosed '['"}
			}
			j += i + 1
			if k := strings.IndexByte(p[i+1:j], '['); k >= 0 {
				return item{}, &Error{Pattern: p, Offset: i + 1 + k, Msg: "'[' inside brackets"}
			}
			if strings.IndexByte(p[i+1:j], ':') >= 0 {
				i = j // an IPv6 address, kept as it is
				prev = nil
				continue
			}
			r, err := parseRange(p, i+1, j)
			if err != nil {
				return item{}, err
			}
			if litStart < i {
				lit := p[litStart:i]
				if prev != nil && !allDigits(lit) {
					prev = nil
				}
				it.parts = append(it.parts, part{lit: lit})
			}
			if prev != nil && (prev.fixed == 0 || r.fixed == 0) {
				it.ambiguous = true
			}
			it.parts = append(it.parts, part{r: r})
			it.size = mulSat(it.size, r.size)
			prev = r
			litStart = j + 1
			i = j
		}
	}
	if litStart < hi {
		it.parts = append(it.parts, part{lit: p[litStart:hi]})
	}
	return it, nil
}

// parseRange parses the bracket content p[lo:hi].
func parseRange(p string, lo, hi int) (*numRange, error) {
	if lo == hi {
		return nil, &Error{Pattern: p, Offset: lo - 1, Msg: "empty brackets"}
	}
	r := &numRange{}
	fixed := -1
	for s := lo; s <= hi; {
		e := s + strings.IndexByte(p[s:hi], ',')
		if e < s {
			e = hi
		}
		el, err := parseElem(p, s, e)
		if err != nil {
			return nil, err
		}
		r.elems = append(r.elems, el)
		r.size = min(r.size+el.size(), maxCount)
		for _, n := range [2]int{fmtLen(el.lo, el.width), fmtLen(el.hi, el.width)} {
			switch fixed {
			case -1:
				fixed = n
			case n:
			default:
				fixed = 0
			}
		}
		s = e + 1
	}
	r.fixed = max(fixed, 0)
	if len(r.elems) > 1 {
		byLo := slices.Clone(r.elems)
		slices.SortFunc(byLo, func(a, b elem) int { return cmp.Compare(a.lo, b.lo) })
		top := byLo[0].hi
		for _, e := range byLo[1:] {
			if e.lo <= top {
				r.overlap = true
				break
			}
			top = max(top, e.hi)
		}
	}
	return r, nil
}

// parseElem parses one element of a bracket, p[lo:hi]: "7", "1-3" or
// "10-20/2".
func parseElem(p string, lo, hi int) (elem, error) {
	s := p[lo:hi]
	bad := func(format string, args ...any) (elem, error) {
		return elem{}, &Error{Pattern: p, Offset: lo, Msg: fmt.Sprintf(format, args...)}
	}
	if s == "" {
		return bad("empty element in brackets")
	}
	spec, step, hasStep := strings.Cut(s, "/")
	a, b, isRange := strings.Cut(spec, "-")
	first, err := parseNum(a)
	if err != nil {
		return bad("%v", err)
	}
	el := elem{lo: first, hi: first, step: 1, width: padWidth(a)}
	if !isRange {
		if hasStep {
			return bad("a step needs a range (as 1-9/2)")
		}
		return el, nil
	}
	if el.hi, err = parseNum(b); err != nil {
		return bad("%v", err)
	}
	if el.hi < el.lo {
		return bad("reversed range %s (want low-high)", spec)
	}
	if w := el.width; (w > 0 && (len(b) < w || len(b) > w && b[0] == '0')) || (w == 0 && padWidth(b) > 0) {
		return bad("padding mismatch in %s (pad both ends alike, as 01-10)", spec)
	}
	if hasStep {
		n, err := parseNum(step)
		if err != nil || n < 1 {
			return bad("bad step %q (want a number from 1)", step)
		}
		el.step = n
	}
	return el, nil
}

// parseNum parses a bracket's number: 1 to maxDigits digits.
func parseNum(s string) (int64, error) {
	if s == "" {
		return 0, errors.New("missing number")
	}
	if len(s) > maxDigits {
		return 0, fmt.Errorf("number %.24q longer than %d digits", s, maxDigits)
	}
	if !allDigits(s) {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	return strconv.ParseInt(s, 10, 64)
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

// padWidth is the zero-padded width a number is written with, 0 when it
// is not padded ("007" → 3, "7" and "0" → 0).
func padWidth(s string) int {
	if len(s) > 1 && s[0] == '0' {
		return len(s)
	}
	return 0
}

// fmtLen is the digit count of v written with width.
func fmtLen(v int64, width int) int {
	n := 1
	for v >= 10 {
		v /= 10
		n++
	}
	return max(n, width)
}

func (e elem) size() int64 { return (e.hi-e.lo)/e.step + 1 }

func mulSat(a, b int64) int64 {
	if a == 0 || b == 0 {
		return 0
	}
	if a > maxCount/b {
		return maxCount
	}
	return a * b
}

// overlaps reports whether some bracket of the item has overlapping
// elements.
func (it *item) overlaps() bool {
	for _, p := range it.parts {
		if p.r != nil && p.r.overlap {
			return true
		}
	}
	return false
}

// each calls fn with every host of the item, in order (the last bracket
// turns fastest). fn must not keep the slice.
func (it *item) each(fn func([]byte)) {
	type cursor struct {
		r *numRange
		e int   // element
		v int64 // value
	}
	var cs []cursor // one per bracket, in order
	for _, p := range it.parts {
		if p.r != nil {
			cs = append(cs, cursor{r: p.r, v: p.r.elems[0].lo})
		}
	}
	var buf []byte
	for {
		buf = buf[:0]
		c := 0
		for _, p := range it.parts {
			if p.r == nil {
				buf = append(buf, p.lit...)
				continue
			}
			buf = appendNum(buf, cs[c].v, p.r.elems[cs[c].e].width)
			c++
		}
		fn(buf)
		k := len(cs) - 1
		for ; k >= 0; k-- {
			cu := &cs[k]
			el := cu.r.elems[cu.e]
			if cu.v <= el.hi-el.step {
				cu.v += el.step
				break
			}
			if cu.e+1 < len(cu.r.elems) {
				cu.e++
				cu.v = cu.r.elems[cu.e].lo
				break
			}
			cu.e, cu.v = 0, cu.r.elems[0].lo
		}
		if k < 0 {
			return
		}
	}
}

// appendNum appends v, zero-padded to width.
func appendNum(b []byte, v int64, width int) []byte {
	for n := fmtLen(v, 0); n < width; n++ {
		b = append(b, '0')
	}
	return strconv.AppendInt(b, v, 10)
}

// Set is a set of hosts given as nodesets, such as the hosts to leave out
// of a job (clush -x). The zero value is not usable: call NewSet.
type Set struct {
	hosts map[string]struct{}
	limit int
}

// NewSet returns an empty set that takes at most limit hosts.
func NewSet(limit int) *Set {
	return &Set{hosts: map[string]struct{}{}, limit: limit}
}

// Add expands pattern (Expand) into the set; its items may name at most
// as many hosts as the set has room for.
func (s *Set) Add(pattern string) error {
	room := s.limit - len(s.hosts)
	hosts, err := Expand(pattern, max(room, 1))
	if err == nil && len(hosts) > room {
		err = &Error{Pattern: pattern, err: ErrLimit}
	}
	if e := (*Error)(nil); errors.As(err, &e) && errors.Is(err, ErrLimit) {
		e.Msg = fmt.Sprintf("more than %d hosts in all", s.limit)
	}
	if err != nil {
		return err
	}
	for _, h := range hosts {
		s.hosts[h] = struct{}{}
	}
	return nil
}

// Has reports whether host is in the set, as written. A nil Set is
// empty.
func (s *Set) Has(host string) bool {
	if s == nil {
		return false
	}
	_, ok := s.hosts[host]
	return ok
}

// Len is the number of hosts in the set.
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	return len(s.hosts)
}

// Exclude returns the hosts that none of patterns names (each host
// compared as written), in their order; patterns may name at most limit
// hosts in all.
func Exclude(hosts, patterns []string, limit int) ([]string, error) {
	s := NewSet(limit)
	for _, p := range patterns {
		if err := s.Add(p); err != nil {
			return nil, err
		}
	}
	out := make([]string, 0, len(hosts))
	for _, h := range hosts {
		if !s.Has(h) {
			out = append(out, h)
		}
	}
	return out, nil
}
