package job

import (
	"fmt"
	"strconv"
)

// Built-in template variables.
const (
	VarHost  = "HOST"
	VarPort  = "PORT"
	VarIndex = "INDEX"
)

// NA is the variable value that marks a target to skip, and the value of
// a response the aggregation regex does not match.
const NA = "NA"

// SSH host key policies (ssh.hostKeyPolicy).
const (
	// HostKeyStrict checks host keys against known_hosts files; an unknown
	// key fails the target with errorClass host_key_unknown, a changed one
	// with host_key_changed.
	HostKeyStrict = "strict"
	// HostKeyAcceptNew trusts a host's key on first use, remembers it in a
	// known_hosts file and refuses a changed key.
	HostKeyAcceptNew = "accept-new"
	// HostKeyOff checks nothing: anyone on the path can impersonate the
	// targets. Unsafe; for throwaway test fleets only.
	HostKeyOff = "off"
	// HostKeyInsecure is an alias of HostKeyOff.
	HostKeyInsecure = "insecure"
)

// Env resolves template variables for one target: target vars, then
// job vars, then the built-ins.
type Env struct {
	Target map[string]string // the target's own vars
	Job    map[string]string // the job's vars
	Host   string            // HOST
	Port   int               // PORT
	Index  int               // INDEX
}

// Lookup returns the value of a variable: a target var, else a job var,
// else a built-in.
func (e *Env) Lookup(name string) (string, bool) {
	if v, ok := e.Target[name]; ok {
		return v, true
	}
	if v, ok := e.Job[name]; ok {
		return v, true
	}
	switch name {
	case VarHost:
		return e.Host, true
	case VarPort:
		return strconv.Itoa(e.Port), true
	case VarIndex:
		return strconv.Itoa(e.Index), true
	}
	return "", false
}

// UserValue resolves a variable from target and job vars only.
func (e *Env) UserValue(name string) (string, bool) {
	if v, ok := e.Target[name]; ok {
		return v, true
	}
	v, ok := e.Job[name]
	return v, ok
}

// NAVar returns the name of a variable that marks the target to skip: a
// target var set to NA, or a referenced variable whose value is NA.
func NAVar(e *Env, used []string) (string, bool) {
	first := ""
	for k, v := range e.Target {
		if v == NA && (first == "" || k < first) {
			first = k
		}
	}
	if first != "" {
		return first, true
	}
	for _, name := range used {
		if v, ok := e.UserValue(name); ok && v == NA {
			return name, true
		}
	}
	return "", false
}

// DefaultPortFor returns the default port of an HTTP scheme.
func DefaultPortFor(scheme string) int {
	if scheme == "https" {
		return DefaultHTTPSPort
	}
	return DefaultHTTPPort
}

// ResolvePort returns the scheme and port to dial for t: a URL target's
// own, else the target's explicit port, else the job's port (its template
// expanded with PORT = the scheme's default port).
func ResolvePort(t Target, scheme string, port int, portTmpl *Template, env *Env, buf []byte) (string, int, []byte, error) {
	if t.IsURL {
		return t.Scheme, t.Port, buf, nil
	}
	if t.HasPort {
		return scheme, t.Port, buf, nil
	}
	if portTmpl == nil {
		return scheme, port, buf, nil
	}
	env.Port = DefaultPortFor(scheme)
	var err error
	buf, err = portTmpl.AppendEnv(buf[:0], env)
	if err != nil {
		return scheme, 0, buf, err
	}
	n, err := ParsePort(buf)
	if err != nil {
		return scheme, 0, buf, fmt.Errorf("http.port %q expands to %q: %w", portTmpl.String(), buf, err)
	}
	return scheme, n, buf, nil
}
