package job

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Spec limits and defaults beyond the ones in spec.go.
const (
	// MaxRetries bounds retries.max.
	MaxRetries = 10
	// MaxConnectTimeout bounds timeouts.connect.
	MaxConnectTimeout = 5 * time.Minute
	// MaxRequestTimeout bounds timeouts.request.
	MaxRequestTimeout = 24 * time.Hour
	// MaxRetryBackoff bounds retries.backoff.
	MaxRetryBackoff = time.Hour
	// DefaultRetryBackoff is the first retry's wait when retries are on
	// and retries.backoff is not given.
	DefaultRetryBackoff = 200 * time.Millisecond
	// DefaultHostKeyPolicy is the SSH host key policy when none is given.
	DefaultHostKeyPolicy = "strict"
	// DefaultStrategy is the scheduling strategy when none is given.
	DefaultStrategy = "resource-aware"
)

// HostKeyPolicies returns the accepted ssh.hostKeyPolicy values ("insecure"
// is also accepted, as an alias of "off").
func HostKeyPolicies() []string { return []string{HostKeyStrict, HostKeyAcceptNew, HostKeyOff} }

// Strategies returns the accepted strategy values.
func Strategies() []string { return []string{"resource-aware", "job-count-aware"} }

// DecodeSpec reads one JSON job spec strictly: an unknown field or a value
// of the wrong type is a *FieldError naming the field by its JSON path (for
// example "http.methd" or "timeouts.connect"). It does not apply defaults;
// call Normalize next.
func DecodeSpec(r io.Reader) (*Spec, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("decode spec: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var raw any
	if err := dec.Decode(&raw); err != nil {
		return nil, jsonError("", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, &FieldError{Msg: "invalid JSON: unexpected data after the job spec"}
	}
	if _, ok := raw.(map[string]any); !ok {
		return nil, &FieldError{Msg: "the job spec must be a JSON object"}
	}
	if err := checkJSON("", raw, reflect.TypeFor[Spec]()); err != nil {
		return nil, err
	}
	var s Spec
	if err := json.Unmarshal(data, &s); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return nil, &FieldError{Field: te.Field, Msg: "must be " + kindName(te.Type)}
		}
		return nil, &FieldError{Msg: "invalid job spec: " + err.Error()}
	}
	return &s, nil
}

// jsonError is the error of a JSON decoder: a *FieldError (on field, ""
// for the whole spec) for bad JSON, and the reader's own error, wrapped,
// when reading failed (a body over the API's limit, a client gone), so
// that the API answers it as what it is.
func jsonError(field string, err error) error {
	var se *json.SyntaxError
	if !errors.As(err, &se) && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("read job spec: %w", err)
	}
	return &FieldError{Field: field, Msg: "invalid JSON: " + jsonErrorMsg(err)}
}

// jsonErrorMsg describes a JSON syntax error with its offset.
func jsonErrorMsg(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("%s (at byte %d)", se.Error(), se.Offset)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return "unexpected end of input"
	}
	return err.Error()
}

// checkJSON checks a generic JSON value v against Go type t: known fields
// only and compatible kinds. null is accepted anywhere (it leaves the Go
// value as it is).
func checkJSON(path string, v any, t reflect.Type) error {
	if v == nil {
		return nil
	}
	switch t {
	case reflect.TypeFor[Duration]():
		switch x := v.(type) {
		case string:
			if _, err := time.ParseDuration(x); err != nil {
				return &FieldError{Field: path, Msg: fmt.Sprintf("invalid duration %q (want for example \"3s\" or \"250ms\")", x)}
			}
			return nil
		case json.Number:
			f, err := x.Float64()
			if err != nil {
				return &FieldError{Field: path, Msg: "invalid duration " + x.String()}
			}
			if math.Abs(f) >= math.MaxInt64/float64(time.Second) {
				return &FieldError{Field: path, Msg: "duration " + x.String() + " is too large"}
			}
			return nil
		}
		return &FieldError{Field: path, Msg: "must be a duration string such as \"3s\" or a number of seconds"}
	case reflect.TypeFor[StatusMatch]():
		switch v.(type) {
		case string, json.Number:
			return nil
		}
		return &FieldError{Field: path, Msg: "must be a status code or a class such as \"2xx\""}
	case reflect.TypeFor[BatchSize]():
		switch v.(type) {
		case string, json.Number:
			return nil
		}
		return &FieldError{Field: path, Msg: "must be a count such as 10 or a share such as \"5%\""}
	case reflect.TypeFor[TargetSpec]():
		switch x := v.(type) {
		case string:
			return nil
		case map[string]any:
			for k, fv := range x {
				switch k {
				case "host":
					if err := checkJSON(path+".host", fv, reflect.TypeFor[string]()); err != nil {
						return err
					}
				case "vars":
					if err := checkJSON(path+".vars", fv, reflect.TypeFor[map[string]string]()); err != nil {
						return err
					}
				default:
					return &FieldError{Field: joinPath(path, k), Msg: "unknown field"}
				}
			}
			return nil
		}
		return &FieldError{Field: path, Msg: "must be a string or an object {\"host\", \"vars\"}"}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return checkJSON(path, v, t.Elem())
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			return &FieldError{Field: path, Msg: "must be an object"}
		}
		for _, k := range slices.Sorted(maps.Keys(obj)) {
			f, ok := jsonField(t, k)
			if !ok {
				return &FieldError{Field: joinPath(path, k), Msg: "unknown field"}
			}
			if t == reflect.TypeFor[HTTPSpec]() && k == "port" {
				if n, isNum := obj[k].(json.Number); isNum {
					if _, err := n.Int64(); err != nil {
						return &FieldError{Field: joinPath(path, k), Msg: "must be a port number or a template"}
					}
					continue
				}
			}
			if err := checkJSON(joinPath(path, k), obj[k], f.Type); err != nil {
				return err
			}
		}
		return nil
	case reflect.Map:
		obj, ok := v.(map[string]any)
		if !ok {
			return &FieldError{Field: path, Msg: "must be an object"}
		}
		for _, k := range slices.Sorted(maps.Keys(obj)) {
			if err := checkJSON(joinPath(path, k), obj[k], t.Elem()); err != nil {
				return err
			}
		}
		return nil
	case reflect.Slice:
		arr, ok := v.([]any)
		if !ok {
			return &FieldError{Field: path, Msg: "must be an array"}
		}
		elem := t.Elem()
		for i, e := range arr {
			if _, isStr := e.(string); isStr && (elem.Kind() == reflect.String || elem == reflect.TypeFor[TargetSpec]()) {
				continue // the common case, checked without building a path
			}
			if err := checkJSON(path+"["+strconv.Itoa(i)+"]", e, elem); err != nil {
				return err
			}
		}
		return nil
	case reflect.String:
		if _, ok := v.(string); !ok {
			return &FieldError{Field: path, Msg: "must be a string"}
		}
		return nil
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			return &FieldError{Field: path, Msg: "must be true or false"}
		}
		return nil
	case reflect.Int, reflect.Int64, reflect.Int32:
		n, ok := v.(json.Number)
		if !ok {
			return &FieldError{Field: path, Msg: "must be an integer"}
		}
		if _, err := n.Int64(); err != nil && !isIntegerText(n.String()) {
			return &FieldError{Field: path, Msg: "must be an integer"}
		}
		if i, err := n.Int64(); err != nil || i > 1<<31-1 || i < -(1<<31) {
			return &FieldError{Field: path, Msg: fmt.Sprintf("%s is out of range: %s", n.String(), intRange(path))}
		}
		return nil
	case reflect.Float64:
		n, ok := v.(json.Number)
		if !ok {
			return &FieldError{Field: path, Msg: "must be a number"}
		}
		if _, err := n.Float64(); err != nil {
			return &FieldError{Field: path, Msg: "must be a number"}
		}
		return nil
	}
	return &FieldError{Field: path, Msg: "unsupported field type " + t.String()}
}

// isIntegerText reports whether s is a JSON integer (digits with an
// optional minus sign), however large.
func isIntegerText(s string) bool {
	s = strings.TrimPrefix(s, "-")
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// intRange says which values an integer field takes, for the error of a
// value beyond any int32.
func intRange(path string) string {
	switch path {
	case "maxConcurrency":
		return "from 1 to the worker capacity (default " + strconv.Itoa(DefaultCapacity) + ")"
	case "maxBodyBytes":
		return "from 0 to " + strconv.Itoa(MaxBodyBytesLimit)
	case "retries.max":
		return "from 0 to " + strconv.Itoa(MaxRetries)
	case "http.port", "ssh.port":
		return "from 1 to 65535"
	}
	return "at most 2147483647"
}

// jsonField finds the struct field of t with JSON name name (exact case).
func jsonField(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if tag == "-" {
			continue
		}
		if tag == "" {
			tag = f.Name
		}
		if tag == name {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func joinPath(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

func kindName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int64, reflect.Int32:
		return "an integer"
	case reflect.Float64:
		return "a number"
	case reflect.Slice:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return "a " + t.String()
}

// UnmarshalJSON reads an HTTPSpec, accepting "port" as a number or a
// string (a template such as "$PORT").
func (h *HTTPSpec) UnmarshalJSON(b []byte) error {
	type plain HTTPSpec
	aux := struct {
		*plain
		Port json.RawMessage `json:"port,omitempty"`
	}{plain: (*plain)(h)}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	p := bytes.TrimSpace(aux.Port)
	switch {
	case len(p) == 0 || string(p) == "null":
	case p[0] == '"':
		return json.Unmarshal(p, &h.Port)
	default:
		n, err := strconv.Atoi(string(p))
		if err != nil {
			return fmt.Errorf("http.port: invalid port %s", p)
		}
		h.Port = strconv.Itoa(n)
	}
	return nil
}

// Normalize applies the defaults of docs/design.md §2, expands the
// targets (nodesets and exclude, ExpandTargets, at most DefaultMaxTargets)
// and validates the spec; capacity is the worker capacity that bounds
// maxConcurrency (0: no bound). Errors are *FieldError naming the
// offending field. A spec with a nodeGroup must have it resolved to
// targets first (ResolveNodeGroup).
func (s *Spec) Normalize(capacity int) error { return s.NormalizeFor(capacity, 0, nil) }

// NormalizeFor is Normalize with a ceiling on the expanded targets
// (DefaultMaxTargets when maxTargets <= 0) and a target policy (nil:
// none).
func (s *Spec) NormalizeFor(capacity, maxTargets int, p *Policy) error {
	switch {
	case len(s.Targets) > 0 && s.NodeGroup != "":
		return fieldErrorf("targets", "give exactly one of targets and nodeGroup")
	case s.NodeGroup != "":
		return fieldErrorf("nodeGroup", "node group %q was not resolved to targets", s.NodeGroup)
	case len(s.Targets) == 0:
		return fieldErrorf("targets", "no targets: give targets or nodeGroup")
	}
	c, err := s.NormalizeTemplate(capacity)
	if err != nil {
		return err
	}
	c.Policy = p
	if c.NeedsLearn() {
		// Expansion gives each host its target's vars: learning from the
		// targets as written is learning from the expanded ones.
		for _, ts := range s.Targets {
			c.Learn(ts)
		}
	}
	return s.ExpandTargets(maxTargets, c.Check)
}

// NormalizeTemplate applies the defaults and validates everything but the
// targets, which the returned checker then validates one at a time: a
// target list too large to hold in memory is checked as it streams by.
func (s *Spec) NormalizeTemplate(capacity int) (*TargetChecker, error) {
	s.Protocol = strings.ToLower(strings.TrimSpace(s.Protocol))
	if s.Protocol == "" {
		s.Protocol = ProtocolHTTP
	}
	if s.Protocol != ProtocolHTTP && s.Protocol != ProtocolSSH {
		return nil, fieldErrorf("protocol", "unknown protocol %q (want %q or %q)", s.Protocol, ProtocolHTTP, ProtocolSSH)
	}
	var tmpls []fieldTemplate
	var err error
	switch s.Protocol {
	case ProtocolHTTP:
		tmpls, err = s.normalizeHTTP()
	case ProtocolSSH:
		tmpls, err = s.normalizeSSH()
	}
	if err != nil {
		return nil, err
	}
	if err := s.normalizeLimits(capacity); err != nil {
		return nil, err
	}
	if err := s.normalizeAggregation(); err != nil {
		return nil, err
	}
	if err := s.normalizeExpect(); err != nil {
		return nil, err
	}
	if err := s.normalizeRollout(); err != nil {
		return nil, err
	}
	for _, name := range sortedKeys(s.Vars) {
		if msg := checkVarName(name); msg != "" {
			return nil, fieldErrorf("vars", "%s", msg)
		}
	}
	c := &TargetChecker{s: s, tmpls: tmpls}
	for _, ft := range tmpls {
		c.used = append(c.used, ft.tmpl.Vars()...)
		if !ft.shell {
			continue
		}
		for _, name := range ft.tmpl.Vars() {
			if _, ok := s.Vars[name]; !ok && !IsBuiltinVar(name) && !slices.Contains(c.cands, name) {
				c.cands = append(c.cands, name)
			}
		}
	}
	c.salvo = make([]bool, len(c.cands))
	return c, nil
}

// ResolveNodeGroup replaces the spec's nodeGroup with its hosts as the
// target list, as callers must do before Normalize. A host may be a
// nodeset: Normalize expands it.
func (s *Spec) ResolveNodeGroup(hosts []string) {
	s.Targets = make([]TargetSpec, len(hosts))
	for i, h := range hosts {
		s.Targets[i] = TargetSpec{Host: h}
	}
	s.NodeGroup = ""
}

// fieldTemplate is a compiled template with the field it came from.
type fieldTemplate struct {
	field string
	tmpl  *Template
	// shell marks a command for a remote shell (ssh.command): a name no
	// target and no vars define is the shell's, passed through as written.
	shell bool
}

// checkVarName returns why name cannot be a variable of vars or a
// target's vars, or "".
func checkVarName(name string) string {
	if !ValidVarName(name) {
		return fmt.Sprintf("invalid variable name %q (want [A-Za-z_][A-Za-z0-9_]*)", name)
	}
	if IsReservedVar(name) {
		return fmt.Sprintf("%s is a built-in variable and cannot be set", name)
	}
	return ""
}

func fieldErrorf(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

func compileField(field, src string) (*Template, error) {
	t, err := Compile(src)
	if err != nil {
		return nil, &FieldError{Field: field, Msg: err.Error()}
	}
	return t, nil
}

func (s *Spec) normalizeHTTP() ([]fieldTemplate, error) {
	if s.HTTP == nil {
		s.HTTP = &HTTPSpec{}
	}
	h := s.HTTP
	h.Method = strings.ToUpper(strings.TrimSpace(h.Method))
	if h.Method == "" {
		h.Method = DefaultMethod
	}
	if !validToken(h.Method) || h.Method == "CONNECT" {
		return nil, fieldErrorf("http.method", "invalid method %q", h.Method)
	}
	h.Scheme = strings.ToLower(strings.TrimSpace(h.Scheme))
	if h.Scheme == "" {
		h.Scheme = DefaultScheme
	}
	if h.Scheme != "http" && h.Scheme != "https" {
		return nil, fieldErrorf("http.scheme", "unknown scheme %q (want http or https)", h.Scheme)
	}
	var tmpls []fieldTemplate
	h.Port = strings.TrimSpace(h.Port)
	if h.Port == "" {
		h.Port = strconv.Itoa(DefaultPortFor(h.Scheme))
	}
	pt, err := compileField("http.port", h.Port)
	if err != nil {
		return nil, err
	}
	if pt.Static() {
		if _, err := ParsePort(h.Port); err != nil {
			return nil, fieldErrorf("http.port", "%v", err)
		}
	} else {
		tmpls = append(tmpls, fieldTemplate{field: "http.port", tmpl: pt})
	}
	if h.Path == "" {
		h.Path = "/"
	}
	t, err := compileField("http.path", h.Path)
	if err != nil {
		return nil, err
	}
	tmpls = append(tmpls, fieldTemplate{field: "http.path", tmpl: t})
	for _, name := range sortedKeys(h.Headers) {
		if !validToken(name) {
			return nil, fieldErrorf("http.headers", "invalid header name %q", name)
		}
		v := h.Headers[name]
		if strings.ContainsAny(v, "\r\n\x00") {
			return nil, fieldErrorf("http.headers", "header %s: value contains CR, LF or NUL", name)
		}
		t, err := compileField("http.headers", v)
		if err != nil {
			return nil, err
		}
		tmpls = append(tmpls, fieldTemplate{field: "http.headers", tmpl: t})
	}
	if h.Body != "" {
		if h.Method == "GET" || h.Method == "HEAD" {
			return nil, fieldErrorf("http.body", "a %s request cannot carry a body", h.Method)
		}
		t, err := compileField("http.body", h.Body)
		if err != nil {
			return nil, err
		}
		tmpls = append(tmpls, fieldTemplate{field: "http.body", tmpl: t})
	}
	return tmpls, nil
}

func (s *Spec) normalizeSSH() ([]fieldTemplate, error) {
	if s.SSH == nil || strings.TrimSpace(s.SSH.Command) == "" {
		return nil, fieldErrorf("ssh.command", "an ssh job needs ssh.command")
	}
	ss := s.SSH
	if ss.Port == 0 && ss.ConfigFile == "" { // with a config file, 0 lets its Port apply
		ss.Port = DefaultSSHPort
	}
	if ss.Port < 0 || ss.Port > 65535 {
		return nil, fieldErrorf("ssh.port", "bad port %d (want 1..65535)", ss.Port)
	}
	ss.HostKeyPolicy = strings.ToLower(strings.TrimSpace(ss.HostKeyPolicy))
	switch ss.HostKeyPolicy {
	case "":
		ss.HostKeyPolicy = DefaultHostKeyPolicy
	case HostKeyInsecure:
		ss.HostKeyPolicy = HostKeyOff
	}
	if p := HostKeyPolicies(); !slices.Contains(p, ss.HostKeyPolicy) {
		return nil, fieldErrorf("ssh.hostKeyPolicy", "unknown host key policy %q (want one of %s)", ss.HostKeyPolicy, strings.Join(p, ", "))
	}
	if ss.User != "" {
		if err := checkUser(ss.User); err != nil {
			return nil, fieldErrorf("ssh.user", "%v", err)
		}
	}
	if err := checkConfigFile(ss.ConfigFile); err != nil {
		return nil, err
	}
	if ss.ProxyJump != "" {
		if _, err := ParseTarget(ss.ProxyJump, ProtocolSSH); err != nil {
			return nil, fieldErrorf("ssh.proxyJump", "%v (want [user@]host[:port])", err)
		}
	}
	t, err := compileField("ssh.command", ss.Command)
	if err != nil {
		return nil, err
	}
	return []fieldTemplate{{field: "ssh.command", tmpl: t, shell: true}}, nil
}

func (s *Spec) normalizeLimits(capacity int) error {
	switch {
	case s.MaxConcurrency < 0:
		return fieldErrorf("maxConcurrency", "must not be negative")
	case s.MaxConcurrency == 0:
		s.MaxConcurrency = DefaultMaxConcurrency
		if capacity > 0 && s.MaxConcurrency > capacity {
			s.MaxConcurrency = capacity
		}
	case capacity > 0 && s.MaxConcurrency > capacity:
		return fieldErrorf("maxConcurrency", "%d is above the worker capacity %d", s.MaxConcurrency, capacity)
	}
	if s.RatePerSecond < 0 {
		return fieldErrorf("ratePerSecond", "must not be negative")
	}
	if s.MaxWorkers < 0 {
		return fieldErrorf("maxWorkers", "must not be negative (0 spreads the job over every eligible worker)")
	}
	if s.Timeouts.Connect < 0 {
		return fieldErrorf("timeouts.connect", "must not be negative")
	}
	if s.Timeouts.Connect == 0 {
		s.Timeouts.Connect = Duration(DefaultConnectTimeout)
	}
	if s.Timeouts.Connect.Std() > MaxConnectTimeout {
		return fieldErrorf("timeouts.connect", "%s is above the limit %s", s.Timeouts.Connect.Std(), MaxConnectTimeout)
	}
	if s.Timeouts.Request < 0 {
		return fieldErrorf("timeouts.request", "must not be negative")
	}
	if s.Timeouts.Request == 0 {
		s.Timeouts.Request = Duration(DefaultRequestTimeout)
	}
	if s.Timeouts.Request.Std() > MaxRequestTimeout {
		return fieldErrorf("timeouts.request", "%s is above the limit %s", s.Timeouts.Request.Std(), MaxRequestTimeout)
	}
	if s.Retries.Max < 0 || s.Retries.Max > MaxRetries {
		return fieldErrorf("retries.max", "%d is out of range 0..%d", s.Retries.Max, MaxRetries)
	}
	if s.Retries.Backoff < 0 {
		return fieldErrorf("retries.backoff", "must not be negative")
	}
	if s.Retries.Backoff.Std() > MaxRetryBackoff {
		return fieldErrorf("retries.backoff", "%s is above the limit %s", s.Retries.Backoff.Std(), MaxRetryBackoff)
	}
	if s.Retries.Max > 0 && s.Retries.Backoff == 0 {
		s.Retries.Backoff = Duration(DefaultRetryBackoff)
	}
	switch {
	case s.MaxBodyBytes < 0:
		return fieldErrorf("maxBodyBytes", "must not be negative")
	case s.MaxBodyBytes == 0:
		s.MaxBodyBytes = DefaultMaxBodyBytes
	case s.MaxBodyBytes > MaxBodyBytesLimit:
		return fieldErrorf("maxBodyBytes", "%d is above the limit %d", s.MaxBodyBytes, MaxBodyBytesLimit)
	}
	if s.FailOver == nil {
		t := true
		s.FailOver = &t
	}
	if s.Throttle == nil {
		t := true
		s.Throttle = &t
	}
	if s.Strategy == "" {
		s.Strategy = DefaultStrategy
	}
	if st := Strategies(); !slices.Contains(st, s.Strategy) {
		return fieldErrorf("strategy", "unknown strategy %q (want one of %s)", s.Strategy, strings.Join(st, ", "))
	}
	return nil
}

func (s *Spec) normalizeAggregation() error {
	a := s.Aggregation
	if a == nil {
		return nil
	}
	if a.Regex == "" {
		if a.Name != "" {
			return fieldErrorf("aggregation.name", "aggregation %q was not resolved to a regex", a.Name)
		}
		s.Aggregation = nil
		return nil
	}
	re, err := regexp.Compile(a.Regex)
	if err != nil {
		return fieldErrorf("aggregation.regex", "invalid regex: %v", err)
	}
	if re.NumSubexp() < 1 {
		return fieldErrorf("aggregation.regex", "needs a capture group: group 1 is the value")
	}
	return nil
}

// TargetChecker validates the targets of a normalized spec one at a time
// (NormalizeTemplate): the target's form, its variable names, every
// variable its templates use, and the port they expand to. Targets marked
// to skip (a var set to NA) are not checked beyond their form.
//
// In ssh.command a name that neither the job's vars nor a built-in define
// is salvo's when any target's vars define it, and must then be defined
// for every target; otherwise it is the remote shell's and passes through.
// When NeedsLearn reports true, Learn must see every target before the
// first Check.
type TargetChecker struct {
	// Policy, when set, refuses targets outside the target policy.
	Policy *Policy
	s      *Spec
	tmpls  []fieldTemplate
	used   []string
	buf    []byte
	// cands are the names of shell templates that neither the job's vars
	// nor a built-in define; salvo[i] is set once a target defines
	// cands[i].
	cands []string
	salvo []bool
}

// NeedsLearn reports whether Check depends on the targets' vars as a whole
// (Learn): an ssh.command uses a name that neither the job's vars nor a
// built-in define.
func (c *TargetChecker) NeedsLearn() bool { return len(c.cands) > 0 }

// Learn notes which of the shell templates' undecided names ts's vars
// define. Its cost is one map look-up per such name.
func (c *TargetChecker) Learn(ts TargetSpec) {
	if len(ts.Vars) == 0 {
		return
	}
	for i, name := range c.cands {
		if _, ok := ts.Vars[name]; ok {
			c.salvo[i] = true
		}
	}
}

// isSalvoVar reports whether a shell template's name that the job's vars
// and the built-ins do not define is defined by some target (Learn).
func (c *TargetChecker) isSalvoVar(name string) bool {
	i := slices.Index(c.cands, name)
	return i >= 0 && c.salvo[i]
}

// Check validates target i. Errors are *FieldError naming the field:
// targets[i] for a bad target, the template's field (e.g. http.path) for a
// variable the target does not define, naming the variable and the target.
func (c *TargetChecker) Check(i int, ts TargetSpec) error {
	s := c.s
	t, err := ParseTarget(ts.Host, s.Protocol)
	if err != nil {
		return fieldErrorf(fmt.Sprintf("targets[%d]", i), "%v", err)
	}
	if err := c.Policy.CheckHost(t.Host); err != nil {
		return fieldErrorf(fmt.Sprintf("targets[%d]", i), "%v", err)
	}
	for name := range ts.Vars {
		if msg := checkVarName(name); msg != "" {
			return fieldErrorf(fmt.Sprintf("targets[%d].vars", i), "%s", msg)
		}
	}
	env := Env{Target: ts.Vars, Job: s.Vars}
	if _, skip := NAVar(&env, c.used); skip {
		return nil // a skipped target is never sent
	}
	for _, ft := range c.tmpls {
		if !templateApplies(ft.field, t) {
			continue
		}
		for _, name := range ft.tmpl.Vars() {
			if IsBuiltinVar(name) {
				continue
			}
			if _, ok := s.Vars[name]; ok {
				continue
			}
			if _, ok := ts.Vars[name]; ok {
				continue
			}
			switch {
			case !ft.shell:
				return fieldErrorf(ft.field, "undefined variable $%s: target %d (%q) does not define it and the job's vars do not either (define it in vars or the target's vars; write $$ for a literal $)", name, i, ts.Host)
			case c.isSalvoVar(name):
				return fieldErrorf(ft.field, "undefined variable $%s: target %d (%q) does not define it while other targets' vars do, which makes it salvo's variable for every target (define it in vars for a default, or write $$%s for the remote shell's)", name, i, ts.Host, name)
			}
		}
	}
	if s.Protocol != ProtocolHTTP {
		return nil
	}
	for _, ft := range c.tmpls {
		if ft.field != "http.port" || !templateApplies(ft.field, t) {
			continue
		}
		env := Env{Target: ts.Vars, Job: s.Vars, Host: t.Host, Index: i}
		if _, _, c.buf, err = ResolvePort(t, s.HTTP.Scheme, 0, ft.tmpl, &env, c.buf); err != nil {
			return fieldErrorf("http.port", "target %d (%q): %v", i, ts.Host, err)
		}
	}
	return nil
}

// templateApplies reports whether the template of field is used for
// target t: a URL target brings its own port (and its path when it has
// one), a target with a port its own port.
func templateApplies(field string, t Target) bool {
	switch field {
	case "http.port":
		return !t.IsURL && !t.HasPort
	case "http.path":
		return !t.IsURL || t.Path == ""
	}
	return true
}

// validToken reports whether s is an RFC 9110 token (method, header name).
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isNameByte(c) || strings.IndexByte("!#$%&'*+-.^`|~", c) >= 0 {
			continue
		}
		return false
	}
	return true
}

// sortedKeys returns m's keys in order.
func sortedKeys(m map[string]string) []string {
	return slices.Sorted(maps.Keys(m))
}

// IsSecretName reports whether a header or job variable with this name
// holds a secret that must not be stored.
func IsSecretName(name string) bool {
	n := strings.ToLower(name)
	switch n {
	case "authorization", "proxy-authorization", "cookie", "x-api-key":
		return true
	}
	for _, w := range [...]string{"token", "secret", "password", "passwd", "key"} {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// Clone returns a deep copy of the spec.
func (s *Spec) Clone() *Spec {
	if s == nil {
		return nil
	}
	c := *s
	if s.Targets != nil {
		c.Targets = make([]TargetSpec, len(s.Targets))
		for i, t := range s.Targets {
			c.Targets[i] = TargetSpec{Host: t.Host, Vars: maps.Clone(t.Vars)}
		}
	}
	if s.HTTP != nil {
		h := *s.HTTP
		h.Headers = maps.Clone(s.HTTP.Headers)
		c.HTTP = &h
	}
	if s.SSH != nil {
		ss := *s.SSH
		c.SSH = &ss
	}
	c.Vars = maps.Clone(s.Vars)
	c.Exclude = slices.Clone(s.Exclude)
	c.Tags = slices.Clone(s.Tags)
	if s.FailOver != nil {
		v := *s.FailOver
		c.FailOver = &v
	}
	if s.Throttle != nil {
		v := *s.Throttle
		c.Throttle = &v
	}
	if s.Aggregation != nil {
		a := *s.Aggregation
		c.Aggregation = &a
	}
	c.Expect = s.Expect.Clone()
	c.Rollout = s.Rollout.Clone()
	if s.Origin != nil {
		o := *s.Origin
		c.Origin = &o
	}
	return &c
}

// Redacted returns a deep copy with every secret replaced by Redacted: the
// SSH password and key passphrase, secret headers (Authorization,
// Proxy-Authorization, Cookie, X-Api-Key and any name containing token,
// secret, password, passwd or key) and job variables with such
// names. Targets and their vars are kept; empty values stay empty.
func (s *Spec) Redacted() *Spec {
	c, _ := s.RedactSecrets()
	return c
}

// RedactSecrets is Redacted that also reports whether any secret was
// replaced.
func (s *Spec) RedactSecrets() (*Spec, bool) {
	c := s.Clone()
	if c == nil {
		return nil, false
	}
	n := 0
	redact := func(v *string) {
		if *v != "" {
			*v = Redacted
			n++
		}
	}
	if c.SSH != nil {
		redact(&c.SSH.Auth.Password)
		redact(&c.SSH.Auth.Passphrase)
	}
	if c.HTTP != nil {
		for k, v := range c.HTTP.Headers {
			if v != "" && IsSecretName(k) {
				c.HTTP.Headers[k] = Redacted
				n++
			}
		}
	}
	for k, v := range c.Vars {
		if v != "" && IsSecretName(k) {
			c.Vars[k] = Redacted
			n++
		}
	}
	return c, n > 0
}
