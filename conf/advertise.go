package conf

import (
	"net"
	"strconv"
)

// DefaultGossipAddr is where memberlist binds without --gossip-addr.
const DefaultGossipAddr = "0.0.0.0:7946"

// IsWildcardHost reports whether a bind host means every interface: empty,
// 0.0.0.0 or :: (an IPv6 address may be bracketed).
func IsWildcardHost(host string) bool {
	if host == "" {
		return true
	}
	ip := net.ParseIP(trimBrackets(host))
	return ip != nil && ip.IsUnspecified()
}

func trimBrackets(host string) string {
	if len(host) > 1 && host[0] == '[' && host[len(host)-1] == ']' {
		return host[1 : len(host)-1]
	}
	return host
}

// isWildcardAddr reports whether a host:port binds every interface.
func isWildcardAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	return err == nil && IsWildcardHost(host)
}

// GossipBind is the address memberlist binds: GossipAddr, or
// DefaultGossipAddr.
func (c *Config) GossipBind() string {
	if c.GossipAddr != "" {
		return c.GossipAddr
	}
	return DefaultGossipAddr
}

// RemoteAddress is proto.actor remote's bind address: RemoteAddr, or the
// gossip port + 1 on the gossip host (127.0.0.1:7947 without
// --gossip-addr).
func (c *Config) RemoteAddress() string {
	if c.RemoteAddr != "" {
		return c.RemoteAddr
	}
	return c.gossipPortPlus(1)
}

// gossipPortPlus is the gossip address with its port moved by n (port 0
// stays 0: the kernel picks).
func (c *Config) gossipPortPlus(n int) string {
	host, port, err := net.SplitHostPort(c.GossipAddr)
	if err != nil || c.GossipAddr == "" {
		host, port = "127.0.0.1", "7946"
	}
	p, _ := strconv.Atoi(port)
	if p == 0 {
		return net.JoinHostPort(host, "0")
	}
	return net.JoinHostPort(host, strconv.Itoa(p+n))
}

// advertiseHost is the host other nodes reach this one by when a bind
// address is a wildcard and its own --advertise-* is not given: the host
// of --advertise-gossip, else that of --gossip-addr unless it is a
// wildcard too; "" when neither says.
func (c *Config) advertiseHost() string {
	for _, a := range []string{c.AdvertiseGossip, c.GossipAddr} {
		if host, _, err := net.SplitHostPort(a); err == nil && !IsWildcardHost(host) {
			return host
		}
	}
	return ""
}

// advertised is what a service bound at bind (its actual address when the
// port was 0) is advertised as: explicit when given; bind itself when
// its host is not a wildcard; else the advertise host with bind's port,
// or fallback's host when none is known ("" keeps bind). Validate refuses
// the last case in a cluster.
func (c *Config) advertised(bind, explicit, fallback string) string {
	if explicit != "" {
		return explicit
	}
	host, port, err := net.SplitHostPort(bind)
	if err != nil || !IsWildcardHost(host) {
		return bind
	}
	if h := c.advertiseHost(); h != "" {
		return net.JoinHostPort(h, port)
	}
	if fallback != "" {
		return net.JoinHostPort(fallback, port)
	}
	return bind
}

// HTTPAdvertise is the API address published to the other nodes (a
// member's apiAddr, REST Commander's cluster list): --advertise-http, or
// bound (the listener's address) when its host is not a wildcard, or the
// advertised gossip host with bound's port.
func (c *Config) HTTPAdvertise(bound string) string {
	return c.advertised(bound, c.AdvertiseHTTP, "")
}

// GossipAdvertise is the gossip address the other members are told:
// --advertise-gossip, or the gossip host when a wildcard binds the gossip
// port; "" lets memberlist use its bind address.
func (c *Config) GossipAdvertise() string {
	if c.AdvertiseGossip != "" {
		return c.AdvertiseGossip
	}
	if bind := c.GossipBind(); isWildcardAddr(bind) {
		if a := c.advertised(bind, "", ""); a != bind {
			return a
		}
	}
	return ""
}

// RemoteAdvertise is the remote address the other nodes send actor
// messages to (a member's remoteAddr): --advertise-remote, or the
// remote bind address, or the advertised gossip host with its port
// (127.0.0.1 when none is known).
func (c *Config) RemoteAdvertise() string {
	return c.advertised(c.RemoteAddress(), c.AdvertiseRemote, "127.0.0.1")
}

// RaftAdvertise is the Raft address the other masters dial (a member's
// raftAddr): --advertise-raft, or the Raft bind address, or the
// advertised gossip host with its port (127.0.0.1 when none is known).
func (c *Config) RaftAdvertise() string {
	return c.advertised(c.RaftAddress(), c.AdvertiseRaft, "127.0.0.1")
}
