package job

import (
	"strings"
)

// Template is a string with $NAME and ${NAME} references (NAME =
// [A-Za-z_][A-Za-z0-9_]*). "$$" is a literal "$" and a "$" not followed by a
// name is literal. Expand and AppendEnv refuse a name they cannot resolve;
// ExpandShell and AppendShellEnv, for a command a remote shell runs, keep it
// as written (docs/ssh.md). A Template is immutable and safe for concurrent
// use.
type Template struct {
	src   string
	parts []tmplPart
	vars  []string
	// static is the expansion of a template without variables.
	static string
}

// tmplPart is a literal run (name == "") or a variable reference, with
// its source text ("$NAME" or "${NAME}") in lit.
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
			t.addVar(s[i+2:i+2+n], s[i:i+3+n])
			i += 3 + n
		case isNameStart(c):
			n := nameLen(s[i+1:])
			flush()
			t.addVar(s[i+1:i+1+n], s[i:i+1+n])
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

func (t *Template) addVar(name, src string) {
	t.parts = append(t.parts, tmplPart{lit: src, name: name})
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
	b, err := t.expand(make([]byte, 0, len(t.src)+32), lookup, false)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// ExpandShell is Expand for a command that a remote shell runs: a name
// lookup does not define is kept as written ($NAME or ${NAME}), for the
// shell to expand. It never fails.
func (t *Template) ExpandShell(lookup func(name string) (string, bool)) string {
	if t.Static() {
		return t.static
	}
	b, _ := t.expand(make([]byte, 0, len(t.src)+32), lookup, true)
	return string(b)
}

// AppendExpand appends the expansion to dst and returns the extended
// buffer; use it with a reused buffer on hot paths.
func (t *Template) AppendExpand(dst []byte, lookup func(name string) (string, bool)) ([]byte, error) {
	return t.expand(dst, lookup, false)
}

// AppendEnv is AppendExpand with the plan's variable scope.
func (t *Template) AppendEnv(dst []byte, e *Env) ([]byte, error) {
	return t.expand(dst, e.Lookup, false)
}

// AppendShellEnv is ExpandShell with the plan's variable scope, appending
// to dst.
func (t *Template) AppendShellEnv(dst []byte, e *Env) []byte {
	b, _ := t.expand(dst, e.Lookup, true)
	return b
}

// expand appends the expansion to dst. A name lookup does not define is an
// *UndefinedVarError, or its source text when keep is set. lookup does not
// escape, so a method value such as e.Lookup costs no allocation.
func (t *Template) expand(dst []byte, lookup func(name string) (string, bool), keep bool) ([]byte, error) {
	for _, p := range t.parts {
		if p.name == "" {
			dst = append(dst, p.lit...)
			continue
		}
		v, ok := lookup(p.name)
		switch {
		case ok:
			dst = append(dst, v...)
		case keep:
			dst = append(dst, p.lit...)
		default:
			return dst, &UndefinedVarError{Name: p.name}
		}
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
