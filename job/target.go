package job

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Target is a parsed entry of a job's target list.
type Target struct {
	// Scheme is "http" or "https" for a URL target, else empty.
	Scheme string
	// User is the SSH user of a "user@host" target.
	User string
	// Host is the lower-case host name or address, without port or brackets.
	Host string
	// Port is the explicit port (HasPort), or for a URL target without one
	// the scheme's default port.
	Port int
	// Path is the path and query of a URL target ("" when the URL has none,
	// in which case the job's path applies).
	Path string
	// HasPort reports whether the target gave a port.
	HasPort bool
	// IsURL reports whether the target was a full http(s):// URL.
	IsURL bool
}

// maxHostLen bounds a host name (RFC 1035 allows 253 characters).
const maxHostLen = 253

// ParseTarget parses one target for protocol ("http" or "ssh"). Forms:
// host, host:port, [v6], [v6]:port, a bare IPv6 address, a full
// http(s)://host[:port][/path?query] URL (http only) and [user@]host[:port]
// (ssh only). Surrounding whitespace is ignored.
func ParseTarget(s, protocol string) (Target, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Target{}, errors.New("empty target")
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == 0x7f {
			return Target{}, fmt.Errorf("invalid target %q: contains whitespace or control characters", s)
		}
	}
	if i := strings.Index(s, "://"); i >= 0 {
		if protocol == ProtocolSSH {
			return Target{}, fmt.Errorf("invalid target %q: URL targets are for the http protocol; use [user@]host[:port]", s)
		}
		t, err := parseURLTarget(s[:i], s[i+3:])
		if err != nil {
			return Target{}, fmt.Errorf("invalid target %q: %w", s, err)
		}
		return t, nil
	}
	var t Target
	rest := s
	if at := strings.LastIndexByte(rest, '@'); at >= 0 {
		if protocol != ProtocolSSH {
			return Target{}, fmt.Errorf("invalid target %q: user@host is only for ssh targets", s)
		}
		t.User = rest[:at]
		rest = rest[at+1:]
		if err := checkUser(t.User); err != nil {
			return Target{}, fmt.Errorf("invalid target %q: %w", s, err)
		}
	}
	host, port, hasPort, err := splitTargetHostPort(rest, true)
	if err != nil {
		return Target{}, fmt.Errorf("invalid target %q: %w", s, err)
	}
	t.Host, t.Port, t.HasPort = host, port, hasPort
	return t, nil
}

// parseURLTarget parses the part of a URL target after "scheme://".
func parseURLTarget(scheme, rest string) (Target, error) {
	scheme = strings.ToLower(scheme)
	if scheme != "http" && scheme != "https" {
		return Target{}, fmt.Errorf("unsupported URL scheme %q (want http or https)", scheme)
	}
	if i := strings.IndexByte(rest, '#'); i >= 0 {
		rest = rest[:i]
	}
	authority, path := rest, ""
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		authority, path = rest[:i], rest[i:]
	}
	if strings.IndexByte(authority, '@') >= 0 {
		return Target{}, errors.New("credentials in a target URL are not supported (targets are stored in clear); use http.headers")
	}
	if authority == "" {
		return Target{}, errors.New("URL has no host")
	}
	host, port, hasPort, err := splitTargetHostPort(authority, false)
	if err != nil {
		return Target{}, err
	}
	if !hasPort {
		port = DefaultHTTPPort
		if scheme == "https" {
			port = DefaultHTTPSPort
		}
	}
	if path != "" && path[0] == '?' {
		path = "/" + path
	}
	return Target{Scheme: scheme, Host: host, Port: port, Path: path, HasPort: hasPort, IsURL: true}, nil
}

// splitTargetHostPort splits host[:port], [v6][:port] and, when bareV6, a
// bare IPv6 address.
func splitTargetHostPort(s string, bareV6 bool) (host string, port int, hasPort bool, err error) {
	if s == "" {
		return "", 0, false, errors.New("missing host")
	}
	if s[0] == '[' {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return "", 0, false, errors.New("missing ']' after IPv6 address")
		}
		host = s[1:end]
		if !isIPv6(host) {
			return "", 0, false, fmt.Errorf("%q is not an IPv6 address", host)
		}
		switch after := s[end+1:]; {
		case after == "":
		case after[0] == ':':
			if port, err = ParsePort(after[1:]); err != nil {
				return "", 0, false, err
			}
			hasPort = true
		default:
			return "", 0, false, fmt.Errorf("unexpected %q after IPv6 address", after)
		}
		return strings.ToLower(host), port, hasPort, nil
	}
	switch strings.Count(s, ":") {
	case 0:
		host = s
	case 1:
		i := strings.IndexByte(s, ':')
		host = s[:i]
		if port, err = ParsePort(s[i+1:]); err != nil {
			return "", 0, false, err
		}
		hasPort = true
	default:
		if !bareV6 || !isIPv6(s) {
			return "", 0, false, errors.New("too many colons (write an IPv6 address in brackets: [v6]:port)")
		}
		return strings.ToLower(s), 0, false, nil
	}
	if err := checkHost(host); err != nil {
		return "", 0, false, err
	}
	return strings.ToLower(host), port, hasPort, nil
}

// isIPv6 reports whether s is an IPv6 address, with an optional zone made
// of letters, digits, '-', '_' and '.'.
func isIPv6(s string) bool {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is6() {
		return false
	}
	z := a.Zone()
	for i := 0; i < len(z); i++ {
		if c := z[i]; !isNameByte(c) && c != '-' && c != '.' {
			return false
		}
	}
	return true
}

// ParsePort parses a decimal port in 1..65535.
func ParsePort[T string | []byte](s T) (int, error) {
	if len(s) == 0 {
		return 0, errors.New("empty port")
	}
	if len(s) > 5 {
		return 0, fmt.Errorf("bad port %q (want 1..65535)", s)
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("bad port %q (want 1..65535)", s)
		}
		n = n*10 + int(c-'0')
	}
	if n < 1 || n > 65535 {
		return 0, fmt.Errorf("bad port %q (want 1..65535)", s)
	}
	return n, nil
}

// checkHost accepts host names (letters, digits, '-', '_', '.') and IPv4
// addresses.
func checkHost(h string) error {
	if h == "" {
		return errors.New("missing host")
	}
	if len(h) > maxHostLen {
		return fmt.Errorf("host longer than %d characters", maxHostLen)
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if isNameByte(c) || c == '-' || c == '.' {
			continue
		}
		if c == '/' {
			return errors.New("a path needs a full http:// or https:// URL")
		}
		return fmt.Errorf("invalid character %q in host", c)
	}
	return nil
}

// checkUser accepts a non-empty SSH user name without ':' or '/'.
func checkUser(u string) error {
	if u == "" {
		return errors.New("empty user before '@'")
	}
	if strings.ContainsAny(u, ":/@") {
		return fmt.Errorf("invalid user %q", u)
	}
	return nil
}

// AppendHostPort appends host:port, bracketing IPv6 addresses.
func AppendHostPort(dst []byte, host string, port int) []byte {
	if strings.IndexByte(host, ':') >= 0 {
		dst = append(dst, '[')
		dst = append(dst, host...)
		dst = append(dst, ']')
	} else {
		dst = append(dst, host...)
	}
	dst = append(dst, ':')
	return strconv.AppendInt(dst, int64(port), 10)
}
