package job

import (
	"encoding/json"
	"strconv"
)

// Fast paths for the JSON of target lists. A job of 100,000 targets has
// its list decoded on submit, spooled, stored in chunks and read back per
// lease: encoding/json's reflection costs more than everything else of a
// submit. Almost every target is a plain "host:port" string, which these
// functions read and write directly; anything else (escapes, non-ASCII,
// vars) goes through encoding/json with the same result.

// plainJSONString reports whether s needs no escaping in JSON and reads
// back the same from encoding/json: printable ASCII without '"', '\' and
// the characters encoding/json escapes for HTML.
func plainJSONString(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}

// unquotePlain returns the string of a JSON string literal b that holds
// only plain characters (see plainJSONString); ok is false for anything
// else, which the caller decodes with encoding/json.
func unquotePlain(b []byte) (s string, ok bool) {
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return "", false
	}
	inner := b[1 : len(b)-1]
	for _, c := range inner {
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			return "", false
		}
	}
	return string(inner), true
}

// AppendJSON appends the JSON of t: a string when t has no vars, else an
// object with host and vars. It is what MarshalJSON returns.
func (t TargetSpec) AppendJSON(dst []byte) ([]byte, error) {
	if len(t.Vars) == 0 && plainJSONString(t.Host) {
		dst = append(dst, '"')
		dst = append(dst, t.Host...)
		return append(dst, '"'), nil
	}
	var b []byte
	var err error
	if len(t.Vars) == 0 {
		b, err = json.Marshal(t.Host)
	} else {
		type plain TargetSpec
		b, err = json.Marshal(plain(t))
	}
	if err != nil {
		return dst, err
	}
	return append(dst, b...), nil
}

// AppendIndexedTargets appends ts as the JSON array of IndexedTarget
// objects that json.Marshal writes.
func AppendIndexedTargets(dst []byte, ts []IndexedTarget) ([]byte, error) {
	dst = append(dst, '[')
	var err error
	for i, t := range ts {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"i":`...)
		dst = strconv.AppendInt(dst, int64(t.Index), 10)
		dst = append(dst, `,"t":`...)
		if dst, err = t.Target.AppendJSON(dst); err != nil {
			return dst, err
		}
		dst = append(dst, '}')
	}
	return append(dst, ']'), nil
}

// DecodeIndexedTargets reads the JSON array AppendIndexedTargets writes,
// falling back to encoding/json for any other layout of the same data.
func DecodeIndexedTargets(b []byte) ([]IndexedTarget, error) {
	if ts, ok := decodeIndexedPlain(b); ok {
		return ts, nil
	}
	var ts []IndexedTarget
	if err := json.Unmarshal(b, &ts); err != nil {
		return nil, err
	}
	return ts, nil
}

// decodeIndexedPlain reads exactly `[{"i":N,"t":"plain"},...]` without
// spaces; ok is false at the first byte that does not fit.
func decodeIndexedPlain(b []byte) (ts []IndexedTarget, ok bool) {
	const open, mid = `{"i":`, `,"t":"`
	if len(b) < 2 || b[0] != '[' {
		return nil, false
	}
	p := 1
	if b[p] == ']' {
		return []IndexedTarget{}, p+1 == len(b)
	}
	for {
		if len(b)-p < len(open) || string(b[p:p+len(open)]) != open {
			return nil, false
		}
		p += len(open)
		start := p
		for p < len(b) && b[p] >= '0' && b[p] <= '9' {
			p++
		}
		if p == start || p-start > 10 || (b[start] == '0' && p-start > 1) {
			return nil, false
		}
		idx, err := strconv.Atoi(string(b[start:p]))
		if err != nil {
			return nil, false
		}
		if len(b)-p < len(mid) || string(b[p:p+len(mid)]) != mid {
			return nil, false
		}
		p += len(mid)
		start = p
		for p < len(b) && b[p] != '"' {
			c := b[p]
			if c < 0x20 || c >= 0x7f || c == '\\' {
				return nil, false
			}
			p++
		}
		if len(b)-p < 2 || b[p+1] != '}' {
			return nil, false
		}
		ts = append(ts, IndexedTarget{Index: idx, Target: TargetSpec{Host: string(b[start:p])}})
		p += 2
		switch {
		case p < len(b) && b[p] == ',':
			p++
		case p+1 == len(b) && b[p] == ']':
			return ts, true
		default:
			return nil, false
		}
	}
}
