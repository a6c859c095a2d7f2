package cluster

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/salvo-sh/salvo/job"
)

// Config configures a node's membership. Start it from DefaultConfig.
type Config struct {
	// Name is the node's unique name in the cluster (--name). Meta.Name is
	// set to it when empty and must match it otherwise.
	Name string

	// BindAddr is the gossip "host:port" (--gossip-addr), TCP and UDP on
	// the same port. Host must be an IP address; port 0 lets memberlist
	// pick a free port (see LocalMember().Addr).
	BindAddr string

	// AdvertiseAddr is the "host[:port]" other nodes use to reach this one,
	// when it differs from BindAddr (NAT, 0.0.0.0 binds). Optional.
	AdvertiseAddr string

	// Join lists gossip addresses ("host:port") of existing members to join
	// at Start (--join). Empty starts a new cluster.
	Join []string

	// JoinTimeout bounds the retries of Join: every address is retried with
	// backoff until one answers or this much time has passed.
	JoinTimeout time.Duration

	// KeyFile is the gossip key file (--gossip-key-file, see LoadKeyring).
	// When set, gossip is encrypted and unencrypted gossip is refused.
	KeyFile string

	// Meta is what this node tells the others (see NodeMeta).
	Meta NodeMeta

	// Failure detection and gossip tuning; zero means memberlist's
	// DefaultLANConfig value. Tests lower them for fast detection.
	ProbeInterval    time.Duration
	ProbeTimeout     time.Duration
	SuspicionMult    int
	GossipInterval   time.Duration
	PushPullInterval time.Duration

	// TCPTimeout bounds memberlist's TCP exchanges (joins, push/pull,
	// leave notices); zero means memberlist's default (10 s).
	TCPTimeout time.Duration

	// BroadcastTimeout bounds how long UpdateMeta waits for the new
	// metadata to be gossiped.
	BroadcastTimeout time.Duration

	// DeadMemberRetention is how long Members keeps reporting a member
	// that is dead or left, unless it comes back.
	DeadMemberRetention time.Duration

	// Logger receives this package's and memberlist's logs. Nil means
	// slog.Default().
	Logger *slog.Logger
}

// DefaultConfig returns a single-node configuration: host name as node
// name, gossip on 0.0.0.0:7946, both roles, memberlist's LAN timings.
func DefaultConfig() Config {
	host, _ := os.Hostname()
	if host == "" {
		host = "salvo"
	}
	lan := memberlist.DefaultLANConfig()
	return Config{
		Name:                host,
		BindAddr:            net.JoinHostPort("0.0.0.0", strconv.Itoa(lan.BindPort)),
		JoinTimeout:         10 * time.Second,
		Meta:                NodeMeta{Name: host, Roles: []string{RoleMaster, RoleWorker}, Capacity: job.DefaultCapacity, Version: 1},
		ProbeInterval:       lan.ProbeInterval,
		ProbeTimeout:        lan.ProbeTimeout,
		SuspicionMult:       lan.SuspicionMult,
		GossipInterval:      lan.GossipInterval,
		PushPullInterval:    lan.PushPullInterval,
		TCPTimeout:          lan.TCPTimeout,
		BroadcastTimeout:    5 * time.Second,
		DeadMemberRetention: 24 * time.Hour,
	}
}

// validate checks c and fills the defaults of zero fields.
func (c *Config) validate() error {
	if c.Name == "" {
		return errors.New("cluster config: name is required")
	}
	if c.Meta.Name == "" {
		c.Meta.Name = c.Name
	}
	if c.Meta.Name != c.Name {
		return fmt.Errorf("cluster config: meta name %q differs from node name %q", c.Meta.Name, c.Name)
	}
	if _, err := c.Meta.Encode(); err != nil {
		return fmt.Errorf("cluster config: %w", err)
	}
	for name, d := range map[string]time.Duration{
		"join timeout": c.JoinTimeout, "probe interval": c.ProbeInterval,
		"probe timeout": c.ProbeTimeout, "gossip interval": c.GossipInterval,
		"push/pull interval": c.PushPullInterval, "TCP timeout": c.TCPTimeout,
		"broadcast timeout": c.BroadcastTimeout, "dead member retention": c.DeadMemberRetention,
	} {
		if d < 0 {
			return fmt.Errorf("cluster config: %s is negative: %s", name, d)
		}
	}
	if c.SuspicionMult < 0 {
		return fmt.Errorf("cluster config: suspicion multiplier is negative: %d", c.SuspicionMult)
	}
	def := DefaultConfig()
	if c.JoinTimeout == 0 {
		c.JoinTimeout = def.JoinTimeout
	}
	if c.BroadcastTimeout == 0 {
		c.BroadcastTimeout = def.BroadcastTimeout
	}
	if c.DeadMemberRetention == 0 {
		c.DeadMemberRetention = def.DeadMemberRetention
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// memberlistConfig translates c into memberlist's configuration. The
// delegates are set by the caller.
func (c *Config) memberlistConfig() (*memberlist.Config, error) {
	mc := memberlist.DefaultLANConfig()
	mc.Name = c.Name

	host, port, err := splitHostPort(c.BindAddr, -1)
	if err != nil {
		return nil, fmt.Errorf("cluster config: gossip address %q: %w", c.BindAddr, err)
	}
	mc.BindAddr, mc.BindPort = host, port
	mc.AdvertisePort = port
	if c.AdvertiseAddr != "" {
		host, port, err := splitHostPort(c.AdvertiseAddr, mc.BindPort)
		if err != nil {
			return nil, fmt.Errorf("cluster config: advertise address %q: %w", c.AdvertiseAddr, err)
		}
		mc.AdvertiseAddr, mc.AdvertisePort = host, port
	}

	if c.ProbeInterval > 0 {
		mc.ProbeInterval = c.ProbeInterval
	}
	if c.ProbeTimeout > 0 {
		mc.ProbeTimeout = c.ProbeTimeout
	}
	if c.SuspicionMult > 0 {
		mc.SuspicionMult = c.SuspicionMult
	}
	if c.GossipInterval > 0 {
		mc.GossipInterval = c.GossipInterval
	}
	if c.PushPullInterval > 0 {
		mc.PushPullInterval = c.PushPullInterval
	}
	if c.TCPTimeout > 0 {
		mc.TCPTimeout = c.TCPTimeout
	}

	if c.KeyFile != "" {
		kr, err := LoadKeyring(c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("cluster config: %w", err)
		}
		mc.Keyring = kr
		mc.GossipVerifyIncoming = true
		mc.GossipVerifyOutgoing = true
	}

	mc.LogOutput = nil
	mc.Logger = newStdLogger(c.Logger.With(slog.String("node", c.Name)))
	return mc, nil
}

// splitHostPort parses "ip:port". With defPort >= 0 the port may be
// omitted.
func splitHostPort(s string, defPort int) (string, int, error) {
	host, ps, err := net.SplitHostPort(s)
	if err != nil {
		if defPort < 0 {
			return "", 0, err
		}
		host, ps = s, strconv.Itoa(defPort)
	}
	if net.ParseIP(host) == nil {
		return "", 0, fmt.Errorf("host %q is not an IP address", host)
	}
	port, err := strconv.Atoi(ps)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("bad port %q", ps)
	}
	return host, port, nil
}
