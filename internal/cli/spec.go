package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
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
// or made from opts.TargetsFile and the request flags. With a spec file
// the flags that are set (non-zero) override the file's fields. Errors are
// usage errors.
func BuildSpec(opts RunOptions) (*job.Spec, error) {
	if (opts.SpecFile == "") == (opts.TargetsFile == "") {
		return nil, usagef("exactly one of --spec and --targets-file is required")
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
	} else {
		rc, err := openInput(opts.TargetsFile, opts.Stdin)
		if err != nil {
			return nil, err
		}
		targets, err := ReadTargets(rc)
		rc.Close()
		if err != nil {
			return nil, usagef("--targets-file %s: %v", opts.TargetsFile, err)
		}
		if len(targets) == 0 {
			return nil, usagef("--targets-file %s: no targets", opts.TargetsFile)
		}
		protocol := job.ProtocolHTTP
		if opts.SSH.Enabled() {
			protocol = job.ProtocolSSH
		}
		spec = &job.Spec{Protocol: protocol, Targets: targets}
	}
	if err := applyFlags(spec, opts); err != nil {
		return nil, err
	}
	if err := applySSHFlags(spec, opts); err != nil {
		return nil, err
	}
	return spec, nil
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

// ReadTargets reads one target per line. Surrounding white space
// (including a CRLF's CR) is trimmed; blank lines and lines starting with
// '#' are skipped.
func ReadTargets(r io.Reader) ([]job.TargetSpec, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	var out []job.TargetSpec
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		out = append(out, job.TargetSpec{Host: line})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read targets: %w", err)
	}
	return out, nil
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
