package job

import (
	"fmt"
	"strconv"
)

// Built-in template variables: the short names, and the same values under
// unambiguous names that no shell or environment sets (docs/ssh.md).
const (
	VarHost  = "HOST"
	VarPort  = "PORT"
	VarIndex = "INDEX"

	VarSalvoHost  = "SALVO_HOST"
	VarSalvoPort  = "SALVO_PORT"
	VarSalvoIndex = "SALVO_INDEX"
)

// IsBuiltinVar reports whether name is a built-in variable, short or long.
func IsBuiltinVar(name string) bool {
	switch name {
	case VarHost, VarPort, VarIndex, VarSalvoHost, VarSalvoPort, VarSalvoIndex:
		return true
	}
	return false
}

// IsReservedVar reports whether name cannot be set in vars: the long
// built-in names, which always mean salvo's value.
func IsReservedVar(name string) bool {
	switch name {
	case VarSalvoHost, VarSalvoPort, VarSalvoIndex:
		return true
	}
	return false
}

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
	Host   string            // HOST, SALVO_HOST
	Port   int               // PORT, SALVO_PORT
	Index  int               // INDEX, SALVO_INDEX
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
	case VarHost, VarSalvoHost:
		return e.Host, true
	case VarPort, VarSalvoPort:
		return strconv.Itoa(e.Port), true
	case VarIndex, VarSalvoIndex:
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

// commonShellVars are variables that a login shell or a service's
// environment commonly sets on the remote side. A short built-in of the
// same name in ssh.command (today HOST, which zsh, tcsh and csh set to the
// machine's name, and PORT, which many service environments set) most
// likely meant the remote value, so the submit answer warns about it
// (Spec.Warnings). INDEX is set by no common shell or convention.
var commonShellVars = map[string]bool{
	"HOST": true, "HOSTNAME": true, "USER": true, "LOGNAME": true, "HOME": true,
	"PATH": true, "PWD": true, "SHELL": true, "TERM": true, "LANG": true, "PORT": true,
}

// builtinMeaning says what a short built-in expands to in ssh.command, and
// its unambiguous name.
var builtinMeaning = map[string][2]string{
	VarHost:  {"the target's host", VarSalvoHost},
	VarPort:  {"the target's SSH port", VarSalvoPort},
	VarIndex: {"the target's index", VarSalvoIndex},
}

// Warnings returns what a normalized spec most likely does not mean, one
// sentence each: in ssh.command, a short built-in that the remote shell's
// environment commonly sets too (commonShellVars) and the job's vars do not
// define. The submit answer carries them; the job runs as written.
func (s *Spec) Warnings() []string {
	if s.Protocol != ProtocolSSH || s.SSH == nil {
		return nil
	}
	t, err := Compile(s.SSH.Command)
	if err != nil {
		return nil
	}
	var w []string
	for _, name := range t.Vars() {
		m, ok := builtinMeaning[name]
		if !ok || !commonShellVars[name] {
			continue
		}
		if _, ok := s.Vars[name]; ok {
			continue
		}
		w = append(w, fmt.Sprintf("ssh.command: $%s is salvo's built-in (%s), not the remote shell's; write ${%s} for salvo's or $$%s for the shell's", name, m[0], m[1], name))
	}
	return w
}
