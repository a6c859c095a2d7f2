package commands

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/salvo-sh/salvo/job"
)

// maxBackoff caps the doubling retry backoff.
const maxBackoff = 10 * time.Second

// Plan is a job spec compiled for execution: parsed templates, compiled
// regex, resolved defaults. Run is safe for concurrent use.
type Plan struct {
	spec     *job.Spec
	exec     *HTTPExecutor
	protocol string

	method   string
	scheme   string
	port     int           // the job's port when static
	portTmpl *job.Template // the job's port when it is a template
	path     *job.Template
	headers  []headerTemplate
	body     *job.Template
	bodyRaw  []byte        // the body when static
	sshCmd   *job.Template // expanded with AppendShellEnv: other names are the shell's
	ssh      *sshPlan
	re       *regexp.Regexp
	expect   *job.ExpectMatcher // nil: no expectations

	connect  time.Duration
	timeout  time.Duration
	maxBody  int
	insecure bool
	retries  int
	backoff  time.Duration
	canRetry bool
	usedVars []string // variables referenced by any template

	bufs sync.Pool // *[]byte scratch for expansions
}

type headerTemplate struct {
	name string
	tmpl *job.Template
}

// Idempotent reports whether an HTTP method may be retried without
// http.retryNonIdempotent.
func Idempotent(method string) bool {
	switch method {
	case "GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE":
		return true
	}
	return false
}

// PlanOption changes how NewPlan builds a plan.
type PlanOption func(*planOptions)

type planOptions struct {
	ssh *SSHExecutor
}

// WithSSH makes SSH jobs run on x, which holds the worker's known_hosts
// state and bastion connections. Without it an SSH plan gets a private
// executor with DefaultSSHConfig (no data dir).
func WithSSH(x *SSHExecutor) PlanOption {
	return func(o *planOptions) { o.ssh = x }
}

// NewPlan compiles a spec that has passed Normalize. h executes HTTP jobs
// and may be nil for SSH jobs; SSH jobs use the executor of WithSSH. The
// plan keeps s; the caller must not change it afterwards.
func NewPlan(s *job.Spec, h *HTTPExecutor, opts ...PlanOption) (*Plan, error) {
	if s == nil {
		return nil, errors.New("new plan: nil spec")
	}
	var po planOptions
	for _, o := range opts {
		o(&po)
	}
	p := &Plan{
		spec:     s,
		exec:     h,
		protocol: s.Protocol,
		connect:  s.Timeouts.Connect.Std(),
		timeout:  s.Timeouts.Request.Std(),
		maxBody:  s.MaxBodyBytes,
		retries:  max(s.Retries.Max, 0),
		backoff:  s.Retries.Backoff.Std(),
	}
	if p.protocol == "" {
		p.protocol = job.ProtocolHTTP
	}
	if p.connect <= 0 {
		p.connect = job.DefaultConnectTimeout
	}
	if p.timeout <= 0 {
		p.timeout = job.DefaultRequestTimeout
	}
	if p.maxBody <= 0 {
		p.maxBody = job.DefaultMaxBodyBytes
	}
	p.bufs.New = func() any { b := make([]byte, 0, 256); return &b }
	if s.Aggregation != nil && s.Aggregation.Regex != "" {
		re, err := regexp.Compile(s.Aggregation.Regex)
		if err != nil {
			return nil, fmt.Errorf("new plan: aggregation.regex: %w", err)
		}
		p.re = re
	}
	if s.Expect != nil {
		m, err := s.Expect.Compile()
		if err != nil {
			return nil, fmt.Errorf("new plan: %w", err)
		}
		p.expect = m
	}
	used := map[string]bool{}
	compile := func(field, src string) (*job.Template, error) {
		t, err := job.Compile(src)
		if err != nil {
			return nil, fmt.Errorf("new plan: %s: %w", field, err)
		}
		for _, v := range t.Vars() {
			if !used[v] {
				used[v] = true
				p.usedVars = append(p.usedVars, v)
			}
		}
		return t, nil
	}
	var err error
	switch p.protocol {
	case job.ProtocolSSH:
		if s.SSH == nil {
			return nil, errors.New("new plan: an ssh job needs ssh settings")
		}
		if p.sshCmd, err = compile("ssh.command", s.SSH.Command); err != nil {
			return nil, err
		}
		x := po.ssh
		if x == nil {
			x = NewSSHExecutor(DefaultSSHConfig())
		}
		if p.ssh, err = newSSHPlan(s.SSH, x, p.connect); err != nil {
			return nil, fmt.Errorf("new plan: %w", err)
		}
		return p, nil
	case job.ProtocolHTTP:
	default:
		return nil, fmt.Errorf("new plan: unknown protocol %q", p.protocol)
	}
	if h == nil {
		return nil, errors.New("new plan: an HTTP job needs an HTTP executor")
	}
	hs := s.HTTP
	if hs == nil {
		hs = &job.HTTPSpec{}
	}
	p.method = hs.Method
	if p.method == "" {
		p.method = job.DefaultMethod
	}
	p.scheme = hs.Scheme
	if p.scheme == "" {
		p.scheme = job.DefaultScheme
	}
	p.insecure = hs.InsecureSkipVerify
	p.canRetry = Idempotent(p.method) || hs.RetryNonIdempotent
	p.port = job.DefaultPortFor(p.scheme)
	if hs.Port != "" {
		t, err := compile("http.port", hs.Port)
		if err != nil {
			return nil, err
		}
		if t.Static() {
			if p.port, err = job.ParsePort(hs.Port); err != nil {
				return nil, fmt.Errorf("new plan: http.port: %w", err)
			}
		} else {
			p.portTmpl = t
		}
	}
	path := hs.Path
	if path == "" {
		path = "/"
	}
	if p.path, err = compile("http.path", path); err != nil {
		return nil, err
	}
	for _, name := range slices.Sorted(maps.Keys(hs.Headers)) {
		t, err := compile("http.headers", hs.Headers[name])
		if err != nil {
			return nil, err
		}
		p.headers = append(p.headers, headerTemplate{name: name, tmpl: t})
	}
	if hs.Body != "" {
		if p.body, err = compile("http.body", hs.Body); err != nil {
			return nil, err
		}
		if p.body.Static() {
			p.bodyRaw = []byte(p.body.Literal())
		}
	}
	return p, nil
}

// Spec returns the spec the plan was compiled from.
func (p *Plan) Spec() *job.Spec { return p.spec }

// Run executes the plan against one target and returns its result (the
// Worker field is left to the caller). Retries follow the spec; ctx
// cancellation stops further attempts, while an attempt already started
// runs to its timeout. A target whose ctx is done before the first attempt
// is reported as cancelled.
func (p *Plan) Run(ctx context.Context, it job.IndexedTarget) job.Result {
	res := job.Result{
		Index:     it.Index,
		Host:      it.Target.Host,
		StartedAt: time.Now().UTC(),
	}
	t, err := job.ParseTarget(it.Target.Host, p.protocol)
	if err != nil {
		return finishError(res, job.ClassOther, err)
	}
	res.Host = t.Host
	env := job.Env{Target: it.Target.Vars, Job: p.spec.Vars, Host: t.Host, Index: it.Index}
	if name, ok := job.NAVar(&env, p.usedVars); ok {
		res.State = job.StateSkipped
		res.Value = job.StateSkipped
		res.Error = "variable " + name + " is NA"
		res.FinishedAt = time.Now().UTC()
		return res
	}
	if ctx.Err() != nil {
		res.State = job.StateCancelled
		res.Value = job.StateCancelled
		res.Error = context.Cause(ctx).Error()
		res.FinishedAt = time.Now().UTC()
		return res
	}
	if p.protocol == job.ProtocolSSH {
		return p.runSSH(ctx, t, &env, res)
	}
	return p.runHTTP(ctx, t, &env, res)
}

// finishError completes a result with no response.
func finishError(res job.Result, class string, err error) job.Result {
	res.State = job.StateForClass(class)
	res.ErrorClass = class
	res.Error = err.Error()
	res.Value = class
	res.FinishedAt = time.Now().UTC()
	return res
}

func (p *Plan) runHTTP(ctx context.Context, t job.Target, env *job.Env, res job.Result) job.Result {
	bp := p.bufs.Get().(*[]byte)
	defer p.bufs.Put(bp)
	buf := *bp
	defer func() { *bp = buf[:0] }()

	scheme, port, buf, err := job.ResolvePort(t, p.scheme, p.port, p.portTmpl, env, buf)
	if err != nil {
		return finishError(res, job.ClassOther, err)
	}
	env.Port = port

	x := p.exec.AcquireExchange()
	defer p.exec.ReleaseExchange(x)
	x.Scheme, x.Host, x.Port = scheme, t.Host, port
	x.ConnectTimeout, x.Timeout = p.connect, p.timeout
	x.InsecureSkipVerify, x.MaxBodyBytes = p.insecure, p.maxBody

	req := &x.Request
	req.Header.SetMethod(p.method)
	if t.IsURL && t.Path != "" {
		buf = appendRequestURI(buf[:0], t.Path)
	} else {
		exp, err := p.path.AppendEnv(buf[:0], env)
		if err != nil {
			buf = exp
			return finishError(res, job.ClassOther, fmt.Errorf("http.path: %w", err))
		}
		// Encode after the expansion in the same buffer, then move down.
		n := len(exp)
		exp = appendRequestURI(exp, exp[:n])
		buf = append(exp[:0], exp[n:]...)
	}
	req.Header.SetRequestURIBytes(buf)
	res.Target = targetURL(scheme, t.Host, port, buf)

	for _, h := range p.headers {
		if h.tmpl.Static() {
			req.Header.Set(h.name, h.tmpl.Literal())
			continue
		}
		v, err := h.tmpl.AppendEnv(buf[:0], env)
		buf = v
		if err != nil {
			return finishError(res, job.ClassOther, fmt.Errorf("http.headers %s: %w", h.name, err))
		}
		req.Header.SetBytesV(h.name, v)
	}
	switch {
	case p.bodyRaw != nil:
		req.SetBodyRaw(p.bodyRaw)
	case p.body != nil:
		v, err := p.body.AppendEnv(buf[:0], env)
		buf = v
		if err != nil {
			return finishError(res, job.ClassOther, fmt.Errorf("http.body: %w", err))
		}
		req.SetBody(v)
	}

	var class string
	backoff := p.backoff
	for {
		res.Attempts++
		err = p.exec.Do(x)
		if err == nil {
			break
		}
		class = Classify(err)
		if res.Attempts > p.retries || !p.canRetry || !Retryable(class) || !sleepCtx(ctx, backoff) {
			break
		}
		backoff = min(backoff*2, maxBackoff)
	}

	res.LatencyMs = float64(x.Latency) / float64(time.Millisecond)
	res.StatusCode = x.StatusCode
	res.BodyBytes = x.BodyBytes
	res.Truncated = x.Truncated
	if len(x.Body) > 0 {
		res.Body = x.TakeBody()
	}
	res.FinishedAt = time.Now().UTC()
	if err != nil {
		res.State = job.StateForClass(class)
		res.ErrorClass = class
		res.Error = err.Error()
		res.Value = class
		return res
	}
	res.State = job.StateOK
	res.Value = p.value(x.Body, x.StatusCode)
	if p.expect != nil {
		if why := p.expect.CheckHTTP(x.StatusCode, x.Body); why != "" {
			failExpectation(&res, why)
		}
	}
	return res
}

// failExpectation marks an answered result that missed the job's expect.
func failExpectation(res *job.Result, why string) {
	res.State = job.StateFailed
	res.ErrorClass = job.ClassExpectation
	res.Error = why
}

// value extracts the result value: regex group 1 (NA when it does not
// match), else the status code (HTTP) or exit code (SSH).
func (p *Plan) value(body []byte, status int) string {
	if p.re == nil {
		return strconv.Itoa(status)
	}
	m := p.re.FindSubmatchIndex(body)
	if len(m) < 4 || m[2] < 0 {
		return job.NA
	}
	return string(body[m[2]:m[3]])
}

// sleepCtx waits d or until ctx is done; it reports whether to go on.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-tm.C:
		return true
	}
}

// targetURL formats the dialled URL.
func targetURL(scheme, host string, port int, requestURI []byte) string {
	var b strings.Builder
	b.Grow(len(scheme) + len("://[]:65535") + len(host) + len(requestURI))
	b.WriteString(scheme)
	b.WriteString("://")
	var hp [64]byte
	b.Write(job.AppendHostPort(hp[:0], host, port))
	b.Write(requestURI)
	return b.String()
}

// appendRequestURI appends path as a request URI: a leading '/' added when
// missing, and bytes not allowed in a request line (controls, space,
// non-ASCII, '#') percent-encoded. Everything else is sent as given.
func appendRequestURI[T string | []byte](dst []byte, path T) []byte {
	if len(path) == 0 || (path[0] != '/' && path[0] != '*') {
		dst = append(dst, '/')
	}
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(path); i++ {
		c := path[i]
		if c <= ' ' || c >= 0x7f || c == '#' {
			dst = append(dst, '%', hex[c>>4], hex[c&15])
			continue
		}
		dst = append(dst, c)
	}
	return dst
}
