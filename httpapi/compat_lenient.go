package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// rcMaxDepth bounds the nesting of a lenient JSON value.
const rcMaxDepth = 1000

// rcDecodeJSON decodes a JSON value as REST Commander's parser (Gson 1.7,
// lenient) read its request bodies, and also takes the trailing commas of
// REST Commander's distributed README. Beyond standard JSON it accepts:
//
//   - comments: // and # to the end of the line, /* ... */;
//   - the prefix )]}' and a leading byte order mark;
//   - names unquoted or in single quotes, and = or => for :;
//   - strings in single quotes, and unquoted words (true, false and
//     null in any case; a word that is a JSON number is a number; any
//     other word is a string);
//   - ; for , in objects and arrays;
//   - a trailing , (or ;) in objects and arrays;
//   - an empty array element ([a,,b], [,a]) as null, as Gson read it;
//   - raw control characters in strings, and unknown escapes (\q is q).
//
// Values are map[string]any, []any, string, json.Number, bool and nil. A
// later duplicate name wins. Standard JSON is decoded by encoding/json.
func rcDecodeJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err == nil && len(bytes.TrimSpace(data[dec.InputOffset():])) == 0 {
		return v, nil
	}
	p := &lenientParser{s: data}
	p.s = bytes.TrimPrefix(p.s, []byte("\uFEFF"))
	if err := p.skip(); err != nil {
		return nil, err
	}
	if bytes.HasPrefix(p.s[p.i:], []byte(")]}'")) {
		p.i += 4
		if err := p.skip(); err != nil {
			return nil, err
		}
	}
	v, err := p.value()
	if err != nil {
		return nil, err
	}
	if err := p.skip(); err != nil {
		return nil, err
	}
	if p.i < len(p.s) {
		return nil, p.errorf("unexpected %q after the value", p.s[p.i])
	}
	return v, nil
}

// lenientParser reads rcDecodeJSON's syntax.
type lenientParser struct {
	s     []byte
	i     int
	depth int
}

// errorf reports a syntax error at the current position.
func (p *lenientParser) errorf(format string, args ...any) error {
	line := 1 + bytes.Count(p.s[:p.i], []byte("\n"))
	col := 1 + utf8.RuneCount(p.s[bytes.LastIndexByte(p.s[:p.i], '\n')+1:p.i])
	return fmt.Errorf("line %d, column %d: %s", line, col, fmt.Sprintf(format, args...))
}

// skip passes white space and comments.
func (p *lenientParser) skip() error {
	for p.i < len(p.s) {
		switch c := p.s[p.i]; {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f':
			p.i++
		case c == '#' || bytes.HasPrefix(p.s[p.i:], []byte("//")):
			if j := bytes.IndexByte(p.s[p.i:], '\n'); j >= 0 {
				p.i += j + 1
			} else {
				p.i = len(p.s)
			}
		case bytes.HasPrefix(p.s[p.i:], []byte("/*")):
			j := bytes.Index(p.s[p.i+2:], []byte("*/"))
			if j < 0 {
				return p.errorf("unterminated comment")
			}
			p.i += j + 4
		default:
			return nil
		}
	}
	return nil
}

// value reads one value; white space before it has been skipped.
func (p *lenientParser) value() (any, error) {
	if p.i >= len(p.s) {
		return nil, p.errorf("unexpected end of input, want a value")
	}
	switch c := p.s[p.i]; c {
	case '{', '[':
		if p.depth++; p.depth > rcMaxDepth {
			return nil, p.errorf("nested more than %d deep", rcMaxDepth)
		}
		defer func() { p.depth-- }()
		if c == '{' {
			return p.object()
		}
		return p.array()
	case '"', '\'':
		return p.quoted()
	}
	w := p.word()
	if w == "" {
		return nil, p.errorf("unexpected %q, want a value", p.s[p.i])
	}
	switch strings.ToLower(w) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	case "null":
		return nil, nil
	}
	if json.Valid([]byte(w)) { // only a number can be a valid word here
		return json.Number(w), nil
	}
	return w, nil
}

// word reads an unquoted name or value: the bytes up to a delimiter, as
// Gson's lenient literals.
func (p *lenientParser) word() string {
	start := p.i
	for p.i < len(p.s) && !strings.ContainsRune("/\\;#={}[]:, \t\f\r\n", rune(p.s[p.i])) {
		p.i++
	}
	return strings.ToValidUTF8(string(p.s[start:p.i]), "\uFFFD")
}

// object reads an object at '{'.
func (p *lenientParser) object() (any, error) {
	p.i++
	m := map[string]any{}
	for {
		if err := p.skip(); err != nil {
			return nil, err
		}
		if p.i >= len(p.s) {
			return nil, p.errorf("unterminated object")
		}
		if p.s[p.i] == '}' { // empty, or after a trailing separator
			p.i++
			return m, nil
		}
		var name string
		if c := p.s[p.i]; c == '"' || c == '\'' {
			s, err := p.quoted()
			if err != nil {
				return nil, err
			}
			name = s
		} else if name = p.word(); name == "" {
			return nil, p.errorf("unexpected %q, want a name", p.s[p.i])
		}
		if err := p.skip(); err != nil {
			return nil, err
		}
		switch {
		case bytes.HasPrefix(p.s[p.i:], []byte("=>")):
			p.i += 2
		case p.i < len(p.s) && (p.s[p.i] == ':' || p.s[p.i] == '='):
			p.i++
		default:
			return nil, p.errorf("want : after the name %q", name)
		}
		if err := p.skip(); err != nil {
			return nil, err
		}
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		m[name] = v
		if err := p.skip(); err != nil {
			return nil, err
		}
		switch {
		case p.i >= len(p.s):
			return nil, p.errorf("unterminated object")
		case p.s[p.i] == ',' || p.s[p.i] == ';':
			p.i++
		case p.s[p.i] != '}':
			return nil, p.errorf("unexpected %q, want , or } after the value of %q", p.s[p.i], name)
		}
	}
}

// array reads an array at '['.
func (p *lenientParser) array() (any, error) {
	p.i++
	out := []any{}
	wantValue := true
	for {
		if err := p.skip(); err != nil {
			return nil, err
		}
		if p.i >= len(p.s) {
			return nil, p.errorf("unterminated array")
		}
		switch p.s[p.i] {
		case ']': // empty, after a value, or after a trailing separator
			p.i++
			return out, nil
		case ',', ';':
			p.i++
			if wantValue {
				out = append(out, nil) // an empty element is null, as Gson read it
			}
			wantValue = true
		default:
			if !wantValue {
				return nil, p.errorf("unexpected %q, want , or ]", p.s[p.i])
			}
			v, err := p.value()
			if err != nil {
				return nil, err
			}
			out = append(out, v)
			wantValue = false
		}
	}
}

// quoted reads a string at its opening quote, " or '.
func (p *lenientParser) quoted() (string, error) {
	q := p.s[p.i]
	p.i++
	var b strings.Builder
	for {
		j := bytes.IndexAny(p.s[p.i:], string([]byte{q, '\\'}))
		if j < 0 {
			p.i = len(p.s)
			return "", p.errorf("unterminated string")
		}
		b.Write(p.s[p.i : p.i+j])
		p.i += j
		if p.s[p.i] == q {
			p.i++
			return strings.ToValidUTF8(b.String(), "\uFFFD"), nil
		}
		p.i++ // the backslash
		if p.i >= len(p.s) {
			return "", p.errorf("unterminated string")
		}
		c := p.s[p.i]
		p.i++
		switch c {
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'u':
			r, ok := p.hex4()
			if !ok {
				return "", p.errorf(`invalid \u escape`)
			}
			if utf16.IsSurrogate(r) {
				// A pair makes one character; a lone half is U+FFFD.
				save := p.i
				if bytes.HasPrefix(p.s[p.i:], []byte(`\u`)) {
					p.i += 2
					if lo, ok := p.hex4(); ok {
						if d := utf16.DecodeRune(r, lo); d != utf8.RuneError {
							b.WriteRune(d)
							continue
						}
					}
				}
				p.i, r = save, utf8.RuneError
			}
			b.WriteRune(r)
		default: // \" \' \\ \/, and an unknown escape stands for its character
			b.WriteByte(c)
		}
	}
}

// hex4 reads the four hex digits of a \u escape.
func (p *lenientParser) hex4() (rune, bool) {
	if p.i+4 > len(p.s) {
		return 0, false
	}
	n, err := strconv.ParseUint(string(p.s[p.i:p.i+4]), 16, 16)
	if err != nil {
		return 0, false
	}
	p.i += 4
	return rune(n), true
}
