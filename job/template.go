package job

import (
	"strings"
)

// Template is a string with $NAME and ${NAME} references (NAME =
// [A-Za-z_][A-Za-z0-9_]*). "$$" is a literal "$" and a "$" not followed by a
// name is literal. A Template is immutable and safe for concurrent use.
type Template struct {
	src   string
	parts []tmplPart
	vars  []string
	// static is the expansion of a template without variables.
	static string
}

// tmplPart is a literal run (name == "") or a variable reference.
type tmplPart struct {
	lit  string
	name string
}

// Compile parses s. Every string is a valid template (a "${" without a
// name and "}" is literal, as in "${VAR:-default}" for a remote shell); the
// error is reserved for future syntax.
func Compile(s string) (*Template, error) {
	t := &Template{src: s}
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			t.parts = append(t.parts, tmplPart{lit: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); {
		j := strings.IndexByte(s[i:], '$')
		if j < 0 {
			lit.WriteString(s[i:])
			break
		}
		lit.WriteString(s[i : i+j])
		i += j
		// s[i] == '$'
		if i+1 >= len(s) {
			lit.WriteByte('$')
			i++
			continue
		}
		switch c := s[i+1]; {
		case c == '$':
			lit.WriteByte('$')
			i += 2
		case c == '{' && bracedName(s[i+2:]) > 0:
			n := bracedName(s[i+2:])
			flush()
			t.addVar(s[i+2 : i+2+n])
			i += 3 + n
		case isNameStart(c):
			n := nameLen(s[i+1:])
			flush()
			t.addVar(s[i+1 : i+1+n])
			i += 1 + n
		default:
			lit.WriteByte('$')
			i++
		}
	}
	flush()
	if len(t.vars) == 0 && len(t.parts) == 1 {
		t.static = t.parts[0].lit
	}
	return t, nil
}

// MustCompile is Compile for templates known to be valid; it panics on error.
func MustCompile(s string) *Template {
	t, err := Compile(s)
	if err != nil {
		panic(err)
	}
	return t
}

func (t *Template) addVar(name string) {
	t.parts = append(t.parts, tmplPart{name: name})
	for _, v := range t.vars {
		if v == name {
			return
		}
	}
	t.vars = append(t.vars, name)
}

// String returns the source text of the template.
func (t *Template) String() string { return t.src }

// Vars returns the distinct variable names in order of first use. The
// caller must not modify the slice.
func (t *Template) Vars() []string { return t.vars }

// Static reports whether the template has no variables.
func (t *Template) Static() bool { return len(t.vars) == 0 }

// Literal returns the expansion of a template without variables, and ""
// for any other.
func (t *Template) Literal() string { return t.static }

// Expand replaces every variable with lookup's value. It fails, naming the
// variable, on the first name lookup does not define.
func (t *Template) Expand(lookup func(name string) (string, bool)) (string, error) {
	if t.Static() {
		return t.static, nil
	}
	b, err := t.AppendExpand(make([]byte, 0, len(t.src)+32), lookup)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// AppendExpand appends the expansion to dst and returns the extended
// buffer; use it with a reused buffer on hot paths.
func (t *Template) AppendExpand(dst []byte, lookup func(name string) (string, bool)) ([]byte, error) {
	for _, p := range t.parts {
		if p.name == "" {
			dst = append(dst, p.lit...)
			continue
		}
		v, ok := lookup(p.name)
		if !ok {
			return dst, &UndefinedVarError{Name: p.name}
		}
		dst = append(dst, v...)
	}
	return dst, nil
}

// AppendEnv is AppendExpand with the plan's variable scope; it avoids a
// closure allocation per target.
func (t *Template) AppendEnv(dst []byte, e *Env) ([]byte, error) {
	for _, p := range t.parts {
		if p.name == "" {
			dst = append(dst, p.lit...)
			continue
		}
		v, ok := e.Lookup(p.name)
		if !ok {
			return dst, &UndefinedVarError{Name: p.name}
		}
		dst = append(dst, v...)
	}
	return dst, nil
}

// UndefinedVarError is returned by Expand for a variable with no value.
type UndefinedVarError struct {
	Name string
}

func (e *UndefinedVarError) Error() string {
	return "undefined variable $" + e.Name
}

// EscapeTemplate returns a template source whose expansion is s: every "$"
// doubled.
func EscapeTemplate(s string) string {
	return strings.ReplaceAll(s, "$", "$$")
}

// ValidVarName reports whether s is a valid variable name.
func ValidVarName(s string) bool {
	return s != "" && nameLen(s) == len(s)
}

func isNameStart(c byte) bool {
	return c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
}

func isNameByte(c byte) bool {
	return isNameStart(c) || (c >= '0' && c <= '9')
}

// bracedName returns the length of the name in "NAME}" at the start of s,
// or 0.
func bracedName(s string) int {
	n := nameLen(s)
	if n == 0 || n >= len(s) || s[n] != '}' {
		return 0
	}
	return n
}

// nameLen returns the length of the variable name at the start of s.
func nameLen(s string) int {
	if s == "" || !isNameStart(s[0]) {
		return 0
	}
	n := 1
	for n < len(s) && isNameByte(s[n]) {
		n++
	}
	return n
}
