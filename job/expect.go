package job

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// MaxExpectRegexBytes bounds expect.bodyRegex.
const MaxExpectRegexBytes = 1000

// ExpectReasonPrefix starts the error of a result that missed the job's
// expectations (errorClass expectation).
const ExpectReasonPrefix = "expect: "

// Expect says what counts as a good answer (docs/design.md §3). A result
// that answered but misses it is failed with errorClass expectation. With
// no Expect any HTTP answer is ok and an SSH exit 0 is ok.
type Expect struct {
	// Status lists the HTTP status codes (100..599) or classes ("2xx")
	// that count as success (HTTP jobs only).
	Status []StatusMatch `json:"status,omitempty"`
	// BodyRegex is an RE2 regexp the body (SSH: stdout, as captured up to
	// maxBodyBytes) must match.
	BodyRegex string `json:"bodyRegex,omitempty"`
	// ExitCodes lists the SSH exit codes that count as success (SSH jobs
	// only; default 0).
	ExitCodes []int `json:"exitCodes,omitempty"`
}

// StatusMatch is one entry of expect.status: a status code ("304") or a
// class ("2xx"). In JSON it is a number or a string.
type StatusMatch string

// UnmarshalJSON reads 304 or "304" or "2xx".
func (m *StatusMatch) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*m = StatusMatch(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("expect.status: must be a status code or a class such as \"2xx\"")
	}
	*m = StatusMatch(n.String())
	return nil
}

// MarshalJSON writes a code as a number and a class as a string.
func (m StatusMatch) MarshalJSON() ([]byte, error) {
	if isIntegerText(string(m)) {
		return []byte(m), nil
	}
	return json.Marshal(string(m))
}

// parse returns the code (class 0) or the class digit (code 0).
func (m StatusMatch) parse() (code, class int, err error) {
	s := strings.ToLower(strings.TrimSpace(string(m)))
	if len(s) == 3 && s[1:] == "xx" && s[0] >= '1' && s[0] <= '5' {
		return 0, int(s[0] - '0'), nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || !isIntegerText(s) {
		return 0, 0, fmt.Errorf("invalid status %q (want a code 100..599 or a class 1xx..5xx)", string(m))
	}
	if n < 100 || n > 599 {
		return 0, 0, fmt.Errorf("status %d is out of range 100..599", n)
	}
	return n, 0, nil
}

// Clone returns a deep copy.
func (e *Expect) Clone() *Expect {
	if e == nil {
		return nil
	}
	c := *e
	c.Status = slices.Clone(e.Status)
	c.ExitCodes = slices.Clone(e.ExitCodes)
	return &c
}

// empty reports whether e sets nothing.
func (e *Expect) empty() bool {
	return len(e.Status) == 0 && e.BodyRegex == "" && len(e.ExitCodes) == 0
}

// normalizeExpect validates expect: field errors name the entry
// ("expect.status[1]"). An expect that sets nothing is dropped, so that a
// job without expectations pays one nil check per result.
func (s *Spec) normalizeExpect() error {
	e := s.Expect
	if e == nil {
		return nil
	}
	if e.empty() {
		s.Expect = nil
		return nil
	}
	if len(e.Status) > 0 && s.Protocol != ProtocolHTTP {
		return fieldErrorf("expect.status", "applies to http jobs only (for ssh use expect.exitCodes)")
	}
	if len(e.ExitCodes) > 0 && s.Protocol != ProtocolSSH {
		return fieldErrorf("expect.exitCodes", "applies to ssh jobs only (for http use expect.status)")
	}
	if _, err := e.Compile(); err != nil {
		return err
	}
	for i, st := range e.Status { // canonical: "5xx", "304"
		if code, class, _ := st.parse(); class > 0 {
			e.Status[i] = StatusMatch(strconv.Itoa(class) + "xx")
		} else {
			e.Status[i] = StatusMatch(strconv.Itoa(code))
		}
	}
	return nil
}

// ExpectMatcher is a compiled Expect; its methods are safe for concurrent
// use. A nil *ExpectMatcher expects nothing.
type ExpectMatcher struct {
	codes   []int
	classes [6]bool // index: the status's first digit
	status  string  // the status list as given, for the reason
	exit    []int
	exitStr string
	re      *regexp.Regexp
}

// Compile checks and compiles e (nil for a nil or empty e). Errors are
// *FieldError naming the entry.
func (e *Expect) Compile() (*ExpectMatcher, error) {
	if e == nil || e.empty() {
		return nil, nil
	}
	m := &ExpectMatcher{}
	names := make([]string, len(e.Status))
	for i, st := range e.Status {
		code, class, err := st.parse()
		if err != nil {
			return nil, fieldErrorf(fmt.Sprintf("expect.status[%d]", i), "%v", err)
		}
		if class > 0 {
			m.classes[class] = true
			names[i] = strconv.Itoa(class) + "xx"
		} else {
			m.codes = append(m.codes, code)
			names[i] = strconv.Itoa(code)
		}
	}
	m.status = strings.Join(names, ", ")
	exits := make([]string, len(e.ExitCodes))
	for i, c := range e.ExitCodes {
		if c < 0 || c > 255 {
			return nil, fieldErrorf(fmt.Sprintf("expect.exitCodes[%d]", i), "exit code %d is out of range 0..255", c)
		}
		exits[i] = strconv.Itoa(c)
	}
	m.exit = slices.Clone(e.ExitCodes)
	m.exitStr = strings.Join(exits, ", ")
	if e.BodyRegex != "" {
		if len(e.BodyRegex) > MaxExpectRegexBytes {
			return nil, fieldErrorf("expect.bodyRegex", "%d bytes is above the limit %d", len(e.BodyRegex), MaxExpectRegexBytes)
		}
		re, err := regexp.Compile(e.BodyRegex)
		if err != nil {
			return nil, fieldErrorf("expect.bodyRegex", "invalid regex: %v", err)
		}
		m.re = re
	}
	return m, nil
}

// CheckHTTP returns why an HTTP answer misses the expectations, or "".
func (m *ExpectMatcher) CheckHTTP(status int, body []byte) string {
	if m == nil {
		return ""
	}
	if m.status != "" && !m.statusOK(status) {
		return ExpectReasonPrefix + "status " + strconv.Itoa(status) + " is not one of " + m.status
	}
	return m.checkBody(body)
}

func (m *ExpectMatcher) statusOK(status int) bool {
	if c := status / 100; c >= 1 && c <= 5 && m.classes[c] {
		return true
	}
	return slices.Contains(m.codes, status)
}

// ExitOK reports whether an SSH exit code counts as success: one of
// expect.exitCodes, or 0 when they are not given.
func (m *ExpectMatcher) ExitOK(code int) bool {
	if m == nil || len(m.exit) == 0 {
		return code == 0
	}
	return slices.Contains(m.exit, code)
}

// ExitReason returns the error of an SSH exit code that is not ExitOK
// under explicit expect.exitCodes ("" without them: a non-zero exit is
// failed as it always was, with no error class).
func (m *ExpectMatcher) ExitReason(code int) string {
	if m == nil || len(m.exit) == 0 || m.ExitOK(code) {
		return ""
	}
	return ExpectReasonPrefix + "exit code " + strconv.Itoa(code) + " is not one of " + m.exitStr
}

// CheckBody returns why a body (SSH: stdout) misses expect.bodyRegex, or "".
func (m *ExpectMatcher) CheckBody(body []byte) string {
	if m == nil {
		return ""
	}
	return m.checkBody(body)
}

func (m *ExpectMatcher) checkBody(body []byte) string {
	if m.re == nil || m.re.Match(body) {
		return ""
	}
	return ExpectReasonPrefix + "body does not match /" + m.re.String() + "/"
}
