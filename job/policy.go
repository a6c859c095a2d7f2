package job

import (
	"errors"
	"fmt"
	"net/netip"
	"path"
	"strings"
)

// DefaultDenyTargets are denied unless a deny list replaces them: the
// cloud metadata services (169.254.169.254 and the rest of link-local
// 169.254.0.0/16, AWS's fd00:ec2::254), whose credentials a job must not
// reach.
var DefaultDenyTargets = []string{"169.254.0.0/16", "fd00:ec2::254/128"}

// ErrPolicy is the cause of a result refused by the target policy at dial
// (errorClass policy).
var ErrPolicy = errors.New("target policy")

// Policy says which targets jobs may reach: a target matching a deny rule
// is refused; with allow rules, a target must match one. Rules are CIDRs
// (or single addresses), matched against IP targets and, at dial, against
// every name's resolved address, and host globs (path.Match: *.prod.example),
// matched against names. docs/security.md.
type Policy struct {
	allowNets  []netip.Prefix
	allowGlobs []string
	denyNets   []netip.Prefix
	denyGlobs  []string
}

// NewPolicy parses allow and deny rules.
func NewPolicy(allow, deny []string) (*Policy, error) {
	p := &Policy{}
	var err error
	if p.allowNets, p.allowGlobs, err = parseRules(allow); err != nil {
		return nil, fmt.Errorf("allow: %w", err)
	}
	if p.denyNets, p.denyGlobs, err = parseRules(deny); err != nil {
		return nil, fmt.Errorf("deny: %w", err)
	}
	return p, nil
}

func parseRules(rules []string) (nets []netip.Prefix, globs []string, err error) {
	for _, r := range rules {
		r = strings.TrimSpace(strings.ToLower(r))
		if r == "" {
			continue
		}
		if pfx, err := netip.ParsePrefix(r); err == nil {
			nets = append(nets, pfx.Masked())
			continue
		}
		if a, err := netip.ParseAddr(strings.Trim(r, "[]")); err == nil {
			nets = append(nets, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		if strings.ContainsAny(r, "/ ") {
			return nil, nil, fmt.Errorf("%q is neither a CIDR nor a host glob", r)
		}
		if _, err := path.Match(r, ""); err != nil {
			return nil, nil, fmt.Errorf("host glob %q: %w", r, err)
		}
		globs = append(globs, r)
	}
	return nets, globs, nil
}

// CheckHost checks a target's host (a name, or an IP without brackets) at
// submit. A name passes the CIDR rules here; its addresses are checked at
// dial (CheckAddr).
func (p *Policy) CheckHost(host string) error {
	if p == nil {
		return nil
	}
	host = strings.ToLower(strings.Trim(host, "[]"))
	if a, err := netip.ParseAddr(host); err == nil {
		return p.CheckAddr(host, a)
	}
	for _, g := range p.denyGlobs {
		if ok, _ := path.Match(g, host); ok {
			return fmt.Errorf("%s is denied by the target policy (rule %s)", host, g)
		}
	}
	if len(p.allowGlobs) == 0 || len(p.allowNets) > 0 || p.allowedName(host) {
		return nil // no name rule to pass, or an allow CIDR may let its address through at dial
	}
	return fmt.Errorf("%s is not allowed by the target policy (allowed: %s)", host, strings.Join(p.allowGlobs, ", "))
}

func (p *Policy) allowedName(host string) bool {
	for _, g := range p.allowGlobs {
		if ok, _ := path.Match(g, host); ok {
			return true
		}
	}
	return false
}

// CheckAddr checks the address a target's host (a name or the address
// itself) connects to.
func (p *Policy) CheckAddr(host string, a netip.Addr) error {
	if p == nil {
		return nil
	}
	a = a.Unmap()
	for _, n := range p.denyNets {
		if n.Contains(a) {
			return fmt.Errorf("%w: %s (%s) is denied (rule %s)", ErrPolicy, host, a, n)
		}
	}
	if len(p.allowNets)+len(p.allowGlobs) == 0 {
		return nil
	}
	for _, n := range p.allowNets {
		if n.Contains(a) {
			return nil
		}
	}
	if host != a.String() && p.allowedName(strings.ToLower(host)) {
		return nil
	}
	return fmt.Errorf("%w: %s (%s) is not in an allowed range", ErrPolicy, host, a)
}
