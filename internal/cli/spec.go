package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/salvo-sh/salvo/job"
)

// usageError is a mistake in the command line or its input files (exit 2).
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// BuildSpec makes the job spec described by opts: read from opts.SpecFile,
// or made from the command line's targets and the request flags. The
// command line's targets are the lines of opts.TargetsFile, then
// opts.Nodesets (-w), then opts.Targets (arguments), all combined; with a
// spec file they replace its targets (and node group). opts.Exclude (-x)
// adds to the spec's exclude. Every target and exclusion may be a nodeset
// (docs/ssh.md, "Nodesets"): they are expanded here, at most
// job.DefaultMaxTargets, so that a mistake is named by where it was
// written. With a spec file the flags that are set (non-zero) override
// the file's fields. Errors are usage errors.
func BuildSpec(opts RunOptions) (*job.Spec, error) {
	cmdTargets := opts.TargetsFile != "" || len(opts.Nodesets) > 0 || len(opts.Targets) > 0
	switch {
	case opts.SpecFile != "" && opts.TargetsFile != "":
		return nil, usagef("exactly one of --spec and --targets-file is required (-w and targets as arguments go with either)")
	case opts.SpecFile == "" && !cmdTargets:
		return nil, usagef("exactly one of --spec and --targets-file is required, or targets with -w or as arguments")
	}
	var spec *job.Spec
	if opts.SpecFile != "" {
		rc, err := openInput(opts.SpecFile, opts.Stdin)
		if err != nil {
			return nil, err
		}
		spec, err = job.DecodeSpec(rc)
		rc.Close()
		if err != nil {
			return nil, usagef("--spec %s: %v", opts.SpecFile, err)
		}
	}
	var from []string // where each command-line target was written
	if cmdTargets {
		var targets []job.TargetSpec
		if opts.TargetsFile != "" {
			rc, err := openInput(opts.TargetsFile, opts.Stdin)
			if err != nil {
				return nil, err
			}
			var lines []int
			targets, lines, err = readTargetLines(rc)
			rc.Close()
			if err != nil {
				return nil, usagef("--targets-file %s: %v", opts.TargetsFile, err)
			}
			if len(targets) == 0 && len(opts.Nodesets)+len(opts.Targets) == 0 {
				return nil, usagef("--targets-file %s: no targets", opts.TargetsFile)
			}
			for _, n := range lines {
				from = append(from, fmt.Sprintf("--targets-file %s line %d", opts.TargetsFile, n))
			}
		}
		for _, w := range opts.Nodesets {
			targets = append(targets, job.TargetSpec{Host: w})
			from = append(from, fmt.Sprintf("-w %q", w))
		}
		for _, a := range opts.Targets {
			targets = append(targets, job.TargetSpec{Host: a})
			from = append(from, fmt.Sprintf("target %q", a))
		}
		if spec == nil {
			protocol := job.ProtocolHTTP
			if opts.SSH.Enabled() {
				protocol = job.ProtocolSSH
			}
			spec = &job.Spec{Protocol: protocol}
		}
		spec.Targets, spec.NodeGroup = targets, ""
	}
	specExclude := len(spec.Exclude)
	spec.Exclude = append(spec.Exclude, opts.Exclude...)
	if err := applyFlags(spec, opts); err != nil {
		return nil, err
	}
	if err := applySSHFlags(spec, opts); err != nil {
		return nil, err
	}
	if err := applyRolloutFlags(spec, opts.Rollout); err != nil {
		return nil, err
	}
	if err := expandSpec(spec, opts, from, specExclude); err != nil {
		return nil, err
	}
	return spec, nil
}

// expandSpec expands spec's nodesets and exclusions and checks the form
// of each target, naming a mistake by where it was written: from[i] for
// command-line target i, the -x for an exclusion past the spec file's
// specExclude.
func expandSpec(spec *job.Spec, opts RunOptions, from []string, specExclude int) error {
	var err error
	if len(spec.Targets) == 0 { // a node group: the server expands it
		_, err = spec.NewTargetExpander(job.DefaultMaxTargets)
	} else {
		protocol := strings.ToLower(strings.TrimSpace(spec.Protocol))
		if protocol == "" {
			protocol = job.ProtocolHTTP
		}
		var check func(int, job.TargetSpec) error
		if protocol == job.ProtocolHTTP || protocol == job.ProtocolSSH {
			check = job.ParseCheck(protocol) // else the server names the protocol
		}
		err = spec.ExpandTargets(job.DefaultMaxTargets, check)
	}
	var fe *job.FieldError
	if !errors.As(err, &fe) {
		return err
	}
	var i int
	switch {
	case fieldIndex(fe.Field, "targets", &i) && i < len(from):
		return usagef("%s: %s", from[i], fe.Msg)
	case fieldIndex(fe.Field, "exclude", &i) && i >= specExclude:
		return usagef("-x %q: %s", spec.Exclude[i], fe.Msg)
	case fe.Field == "exclude" && len(opts.Exclude) > 0:
		return usagef("-x %s", fe.Msg)
	case opts.SpecFile == "":
		return usagef("%v", fe)
	}
	return usagef("--spec %s: %v", opts.SpecFile, fe)
}

// fieldIndex reports whether field is name[i] (or a field of it) and sets
// *i.
func fieldIndex(field, name string, i *int) bool {
	rest, ok := strings.CutPrefix(field, name+"[")
	if !ok {
		return false
	}
	n, _, ok := strings.Cut(rest, "]")
	if !ok {
		return false
	}
	v, err := strconv.Atoi(n)
	*i = v
	return err == nil
}

// openInput opens a file, or stdin for "-".
func openInput(name string, stdin io.Reader) (io.ReadCloser, error) {
	if name == "-" {
		if stdin == nil {
			return nil, usagef("no standard input to read")
		}
		return io.NopCloser(stdin), nil
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, usagef("%v", err)
	}
	return f, nil
}

// ReadTargets reads one target per line, as written (a line may be a
// nodeset, which BuildSpec expands). Surrounding white space (including a
// CRLF's CR) is trimmed; blank lines and lines starting with '#' are
// skipped.
func ReadTargets(r io.Reader) ([]job.TargetSpec, error) {
	out, _, err := readTargetLines(r)
	return out, err
}

// readTargetLines is ReadTargets that also returns each target's line
// number.
func readTargetLines(r io.Reader) ([]job.TargetSpec, []int, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	var out []job.TargetSpec
	var lines []int
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		out = append(out, job.TargetSpec{Host: line})
		lines = append(lines, n)
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("read targets: %w", err)
	}
	return out, lines, nil
}

// ParseHeaders turns "Key: Value" strings into a map.
func ParseHeaders(hs []string) (map[string]string, error) {
	if len(hs) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(hs))
	for _, h := range hs {
		k, v, ok := strings.Cut(h, ":")
		k = strings.TrimSpace(k)
		if !ok || k == "" || strings.ContainsAny(k, " \t") {
			return nil, usagef("--header %q: want Key:Value", h)
		}
		out[k] = strings.TrimSpace(v)
	}
	return out, nil
}

// applyFlags writes the request flags that are set into spec.
func applyFlags(spec *job.Spec, o RunOptions) error {
	if o.Name != "" {
		spec.Name = o.Name
	}
	if o.Concurrency < 0 || o.Retries < 0 || o.ConnectTimeout < 0 || o.Timeout < 0 {
		return usagef("--concurrency, --retries and timeouts must not be negative")
	}
	if o.Concurrency > 0 {
		spec.MaxConcurrency = o.Concurrency
	}
	if o.ConnectTimeout > 0 {
		spec.Timeouts.Connect = job.Duration(o.ConnectTimeout)
	}
	if o.Timeout > 0 {
		spec.Timeouts.Request = job.Duration(o.Timeout)
	}
	if o.Retries > 0 {
		spec.Retries.Max = o.Retries
	}
	if o.Regex != "" {
		spec.Aggregation = &job.Aggregation{Regex: o.Regex}
	}
	if err := applyExpectFlags(spec, o); err != nil {
		return err
	}
	headers, err := ParseHeaders(o.Headers)
	if err != nil {
		return err
	}
	httpSet := o.Path != "" || o.Method != "" || o.Body != "" || len(headers) > 0 ||
		o.Scheme != "" || (o.Port != "" && spec.Protocol != job.ProtocolSSH) || o.Insecure
	if !httpSet {
		return nil
	}
	if spec.Protocol != "" && spec.Protocol != job.ProtocolHTTP {
		return usagef("--path, --method, --body, --header, --scheme, --port and --insecure apply to HTTP jobs, not %s", spec.Protocol)
	}
	if spec.HTTP == nil {
		spec.HTTP = &job.HTTPSpec{}
	}
	h := spec.HTTP
	if o.Path != "" {
		h.Path = o.Path
	}
	if o.Method != "" {
		h.Method = strings.ToUpper(o.Method)
	}
	if o.Body != "" {
		h.Body = o.Body
	}
	if o.Scheme != "" {
		h.Scheme = o.Scheme
	}
	if o.Port != "" {
		h.Port = o.Port
	}
	if o.Insecure {
		h.InsecureSkipVerify = true
	}
	if len(headers) > 0 {
		if h.Headers == nil {
			h.Headers = make(map[string]string, len(headers))
		}
		for k, v := range headers {
			h.Headers[k] = v
		}
	}
	return nil
}

// applyExpectFlags writes --expect-status and --expect-body into
// spec.expect (over the spec file's status and bodyRegex, keeping its
// exitCodes) and checks them as the server will.
func applyExpectFlags(spec *job.Spec, o RunOptions) error {
	if o.ExpectStatus == "" && o.ExpectBody == "" {
		return nil
	}
	e := spec.Expect.Clone()
	if e == nil {
		e = &job.Expect{}
	}
	if o.ExpectStatus != "" {
		if spec.Protocol == job.ProtocolSSH {
			return usagef("--expect-status applies to HTTP jobs, not ssh (use the spec's expect.exitCodes)")
		}
		e.Status = nil
		for _, f := range strings.Split(o.ExpectStatus, ",") {
			if f = strings.TrimSpace(f); f != "" {
				e.Status = append(e.Status, job.StatusMatch(f))
			}
		}
		if len(e.Status) == 0 {
			return usagef("--expect-status %q: want codes or classes such as 2xx,304", o.ExpectStatus)
		}
	}
	if o.ExpectBody != "" {
		e.BodyRegex = o.ExpectBody
	}
	if _, err := e.Compile(); err != nil {
		var fe *job.FieldError
		switch {
		case errors.As(err, &fe) && strings.HasPrefix(fe.Field, "expect.status"):
			return usagef("--expect-status: %s", fe.Msg)
		case errors.As(err, &fe) && fe.Field == "expect.bodyRegex":
			return usagef("--expect-body: %s", fe.Msg)
		}
		return usagef("%v", err)
	}
	spec.Expect = e
	return nil
}
