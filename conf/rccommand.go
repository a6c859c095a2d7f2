package conf

import (
	"cmp"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/salvo-sh/salvo/job"
)

// REST Commander names with a special meaning.
const (
	// RCDefaultHeaderSet is the header set of a command line without one.
	RCDefaultHeaderSet = "SUPERMAN_GLOBAL"
	// RCDefaultAggregation is the aggregation rule used when a request
	// asks to aggregate without naming one.
	RCDefaultAggregation = "DEFAULT_METRIC"
	// RCStatusCodeAggregation aggregates by status code: salvo's value
	// when a job has no regex.
	RCStatusCodeAggregation = "SUPERMAN_SPECIAL_STATUS_CODE"
	// RCResponseTimeAggregation aggregated by response time; salvo does not
	// support it.
	RCResponseTimeAggregation = "SUPERMAN_SPECIAL_RESPONSE_TIME"
	// RCFullContentVar ("$AM_FULL_CONTENT") is the request body, empty
	// unless a replacement gives it a value.
	RCFullContentVar = "AM_FULL_CONTENT"
	// RCNullURLVar ("$NULL_URL") is an empty URL postfix.
	RCNullURLVar = "NULL_URL"
	// RCTargetNodeVar, in a node-specific replacement map, sends that
	// node's request to another host.
	RCTargetNodeVar = "APIVARREPLACE_SUPERMANSPECIAL_TARGET_NODE_VAR"
)

// maxRCExtractStart is the largest EXTRACT_START that can become a regex
// (RE2 bounds repetition counts at 1000).
const maxRCExtractStart = 1000

// RCVars says how the "$" references of REST Commander text become salvo
// template variables (REST Commander replaced "$KEY" by plain text
// substitution).
type RCVars struct {
	// Keys maps replacement keys, matched literally after a "$" (the
	// longest key wins), to the salvo variable each one becomes.
	Keys map[string]string
	// Words turns every other "$NAME" (NAME = [A-Za-z_][A-Za-z0-9_]*) into
	// the salvo variable NAME.
	Words bool
}

// RCTemplate converts REST Commander request text (a URL postfix or a
// body) into a salvo template. Keys and, with Words, other "$NAME"s become
// variable references; "$AM_FULL_CONTENT" and "$NULL_URL" become empty
// unless they are keys; every other "$" stays literal ("$$").
func RCTemplate(text string, v RCVars) string {
	if !strings.Contains(text, "$") {
		return text
	}
	keys := slices.SortedFunc(maps.Keys(v.Keys), byLengthDesc)
	var b strings.Builder
	for i := 0; i < len(text); {
		j := strings.IndexByte(text[i:], '$')
		if j < 0 {
			b.WriteString(text[i:])
			break
		}
		b.WriteString(text[i : i+j])
		i += j + 1 // past the '$'
		rest := text[i:]
		if k := matchKey(rest, keys); k != "" {
			b.WriteString("${" + v.Keys[k] + "}")
			i += len(k)
			continue
		}
		if k := matchKey(rest, []string{RCFullContentVar, RCNullURLVar}); k != "" {
			i += len(k)
			continue
		}
		if n := rcNameLen(rest); v.Words && n > 0 {
			b.WriteString("${" + rest[:n] + "}")
			i += n
			continue
		}
		b.WriteString("$$")
	}
	return b.String()
}

// byLengthDesc orders strings longest first, then alphabetically.
func byLengthDesc(a, b string) int {
	return cmp.Or(cmp.Compare(len(b), len(a)), cmp.Compare(a, b))
}

// matchKey returns the first key that s starts with, or "".
func matchKey(s string, keys []string) string {
	for _, k := range keys {
		if k != "" && strings.HasPrefix(s, k) {
			return k
		}
	}
	return ""
}

// rcNameLen returns the length of the variable name at the start of s.
func rcNameLen(s string) int {
	n := 0
	for n < len(s) {
		c := s[n]
		letter := c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
		if !letter && (n == 0 || c < '0' || c > '9') {
			break
		}
		n++
	}
	return n
}

// RCLookup resolves the names a REST Commander command line refers to.
type RCLookup struct {
	// HeaderSet returns a header set's headers (literal values).
	HeaderSet func(name string) (map[string]string, bool)
	// Aggregation returns an aggregation rule's regex.
	Aggregation func(name string) (string, bool)
}

// RCCommand is a REST Commander command: one agentcommand.conf entry or a
// request's newAgentCommandLine and newAgentCommandContentTemplate.
type RCCommand struct {
	// Name is the command's name (empty when the line has none).
	Name string
	// Spec is the command as a salvo job spec without targets.
	Spec *job.Spec
	// HeaderSet is the header set it uses ("" for none).
	HeaderSet string
	// Notes tell how parts of the command were adapted.
	Notes []string
}

var (
	rcMethodPattern = regexp.MustCompile(`^[A-Za-z]+$`)
	rcNamePattern   = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,128}$`)
)

// validRCName reports whether name can name a stored definition.
func validRCName(name string) bool { return rcNamePattern.MatchString(name) }

// isRCProtocol reports whether s is a protocol of a command line.
func isRCProtocol(s string) bool {
	s = strings.ToLower(s)
	return s == "http" || s == "https"
}

// ParseRCCommand parses a REST Commander command line, "NAME METHOD
// PROTOCOL PORT URL_POSTFIX MAX_CONC EXTRACT_START EXTRACT_END
// [HEADER_SET]" (NAME may be left out), and its body template into a
// salvo job spec without targets:
//
//   - PORT may be a number or a "$VAR"; URL_POSTFIX and the body are
//     converted with RCTemplate ("$NULL_URL" is an empty path,
//     "$AM_FULL_CONTENT" an empty body).
//   - MAX_CONC ≤ 0 means the default concurrency.
//   - EXTRACT_END > 0 keeps the first EXTRACT_END bytes of each body
//     (maxBodyBytes); EXTRACT_START > 0 skips that many characters: the
//     aggregation regex `\A(?s:.){N}((?s:.)*)` makes the rest the value.
//     An EXTRACT_START that is not a number names an aggregation rule.
//   - HEADER_SET defaults to SUPERMAN_GLOBAL, which may be missing.
func ParseRCCommand(line, body string, v RCVars, lk RCLookup) (*RCCommand, error) {
	return parseRCCommand(strings.Fields(line), line, body, v, lk)
}

// parseRCCommand is ParseRCCommand on the line's fields f.
func parseRCCommand(f []string, line, body string, v RCVars, lk RCLookup) (*RCCommand, error) {
	switch {
	case len(f) >= 7 && isRCProtocol(f[1]):
		f = append([]string{""}, f...) // no NAME
	case len(f) >= 8 && isRCProtocol(f[2]):
	default:
		return nil, fmt.Errorf("want NAME METHOD PROTOCOL PORT URL_POSTFIX MAX_CONC EXTRACT_START EXTRACT_END [HEADER_SET] (PROTOCOL http or https), got %q", line)
	}
	cmd := &RCCommand{Name: f[0]}
	if cmd.Name != "" && !validRCName(cmd.Name) {
		return nil, fmt.Errorf("invalid command name %q: use 1 to 128 letters, digits, '_', '.' or '-'", cmd.Name)
	}
	method := strings.ToUpper(f[1])
	if !rcMethodPattern.MatchString(method) {
		return nil, fmt.Errorf("invalid METHOD %q", f[1])
	}
	h := &job.HTTPSpec{Method: method, Scheme: strings.ToLower(f[2])}
	switch port := f[3]; {
	case strings.Contains(port, "$"):
		h.Port = RCTemplate(port, v)
	default:
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("invalid PORT %q (want 1 to 65535 or a $VAR)", port)
		}
		h.Port = port
	}
	h.Path = RCTemplate(f[4], v)
	if h.Path != "" && !strings.HasPrefix(h.Path, "/") {
		h.Path = "/" + h.Path
	}
	h.Body = RCTemplate(strings.TrimSpace(strings.ReplaceAll(body, "```", "")), v)
	if h.Body != "" && (method == "GET" || method == "HEAD") {
		cmd.Notes = append(cmd.Notes, fmt.Sprintf("the body of a %s request is not sent", method))
		h.Body = ""
	}
	spec := &job.Spec{Name: cmd.Name, Protocol: job.ProtocolHTTP, HTTP: h}
	conc, err := strconv.Atoi(f[5])
	if err != nil {
		return nil, fmt.Errorf("invalid MAX_CONC %q (want a number)", f[5])
	}
	spec.MaxConcurrency = max(conc, 0)
	if err := rcExtract(spec, f[6], f[7], lk, cmd); err != nil {
		return nil, err
	}
	cmd.HeaderSet = RCDefaultHeaderSet
	if len(f) > 8 {
		cmd.HeaderSet = f[8]
	}
	if len(f) > 9 {
		cmd.Notes = append(cmd.Notes, fmt.Sprintf("ignored extra fields %q", strings.Join(f[9:], " ")))
	}
	headers, ok := map[string]string(nil), false
	if lk.HeaderSet != nil {
		headers, ok = lk.HeaderSet(cmd.HeaderSet)
	}
	switch {
	case ok:
		h.Headers = make(map[string]string, len(headers))
		for k, val := range headers {
			h.Headers[k] = job.EscapeTemplate(val)
		}
	case len(f) > 8:
		return nil, fmt.Errorf("unknown header set %q", cmd.HeaderSet)
	default:
		cmd.HeaderSet = ""
	}
	cmd.Spec = spec
	return cmd, nil
}

// rcExtract applies EXTRACT_START and EXTRACT_END to spec.
func rcExtract(spec *job.Spec, startField, endField string, lk RCLookup, cmd *RCCommand) error {
	end, err := strconv.Atoi(endField)
	if err != nil {
		return fmt.Errorf("invalid EXTRACT_END %q (want a number)", endField)
	}
	if end > 0 {
		spec.MaxBodyBytes = min(end, job.MaxBodyBytesLimit)
	}
	start, err := strconv.Atoi(startField)
	if err != nil {
		// An aggregation rule's name.
		switch startField {
		case RCStatusCodeAggregation:
			return nil // the status code is the value when there is no regex
		case RCResponseTimeAggregation:
			return fmt.Errorf("aggregation %s is not supported", startField)
		}
		re, ok := "", false
		if lk.Aggregation != nil {
			re, ok = lk.Aggregation(startField)
		}
		if !ok {
			return fmt.Errorf("EXTRACT_START %q is neither a number nor a known aggregation", startField)
		}
		spec.Aggregation = &job.Aggregation{Name: startField, Regex: re}
		return nil
	}
	switch {
	case start <= 0:
	case end > 0 && end <= start:
		return fmt.Errorf("EXTRACT_END %d must be above EXTRACT_START %d", end, start)
	case start > maxRCExtractStart:
		cmd.Notes = append(cmd.Notes, fmt.Sprintf("EXTRACT_START %d is above %d: the whole body is kept", start, maxRCExtractStart))
	default:
		spec.Aggregation = &job.Aggregation{Regex: fmt.Sprintf(`\A(?s:.){%d}((?s:.)*)`, start)}
	}
	return nil
}
