package conf

import (
	"errors"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/salvo-sh/salvo/job"
	"github.com/salvo-sh/salvo/nodeset"
	"github.com/salvo-sh/salvo/store"
)

// Validate checks every field and returns all problems found, each a
// *job.FieldError naming the field by its YAML key (and flag).
func (c *Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &job.FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
	}

	if strings.TrimSpace(c.Name) == "" {
		bad(c.label("name", &c.Name), "must not be empty")
	}
	if msg := checkAddr(c.HTTPAddr); msg != "" {
		bad(c.label("httpAddr", &c.HTTPAddr), "invalid address %q: %s", c.HTTPAddr, msg)
	}
	if strings.TrimSpace(c.DataDir) == "" {
		bad(c.label("dataDir", &c.DataDir), "must not be empty")
	}
	if len(c.Roles) == 0 {
		bad(c.label("roles", &c.Roles), "give at least one of master and worker")
	}
	for _, r := range c.Roles {
		if r != RoleMaster && r != RoleWorker {
			bad(c.label("roles", &c.Roles), "unknown role %q (want master, worker or both)", r)
		}
	}
	for _, a := range []struct {
		key string
		ptr *string
	}{{"gossipAddr", &c.GossipAddr}, {"remoteAddr", &c.RemoteAddr}, {"raftAddr", &c.RaftAddr}} {
		if *a.ptr != "" {
			if msg := checkAddr(*a.ptr); msg != "" {
				bad(c.label(a.key, a.ptr), "invalid address %q: %s", *a.ptr, msg)
			}
		}
	}
	errs = append(errs, c.checkAdvertise()...)
	for _, j := range c.Join {
		if msg := checkAddr(j); msg != "" {
			bad(c.label("join", &c.Join), "invalid address %q: %s", j, msg)
		}
	}
	if c.clusterExposed() && !c.InsecureCluster && (c.GossipKeyFile == "" || c.TLSCert == "") {
		key, ptr := "gossipAddr", &c.GossipAddr
		switch {
		case c.GossipAddr != "" && IsLoopbackAddr(c.GossipAddr) && c.RemoteAddr != "" && !IsLoopbackAddr(c.RemoteAddr):
			key, ptr = "remoteAddr", &c.RemoteAddr
		case c.GossipAddr != "" && IsLoopbackAddr(c.GossipAddr) && c.HA():
			key, ptr = "raftAddr", &c.RaftAddr
		}
		addr := *ptr
		if key == "raftAddr" {
			addr = c.RaftAddress()
		}
		bad(c.label(key, ptr), "%q is not a loopback address: a cluster on a network needs --gossip-key-file (encrypted gossip) and --tls-cert/--tls-key/--tls-ca (remote and Raft TLS), which carry jobs and their secrets; give --insecure-cluster to go without", addr)
	}
	if (c.APITLSCert == "") != (c.APITLSKey == "") {
		bad(c.label("apiTLSCert", &c.APITLSCert), "give both --api-tls-cert and --api-tls-key, or neither")
	}
	if c.APITLSClientCA != "" && c.APITLSCert == "" {
		bad(c.label("apiTLSClientCA", &c.APITLSClientCA), "mutual TLS needs --api-tls-cert and --api-tls-key")
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		bad(c.label("tlsCert", &c.TLSCert), "give both --tls-cert and --tls-key, or neither")
	}
	if c.TLSCA != "" && c.TLSCert == "" {
		bad(c.label("tlsCA", &c.TLSCA), "--tls-ca needs --tls-cert and --tls-key")
	}
	if c.TLSServerName != "" {
		if c.TLSCert == "" || c.TLSCA == "" {
			bad(c.label("tlsServerName", &c.TLSServerName), "--tls-server-name needs --tls-cert, --tls-key and --tls-ca: it names what the CA's certificates must carry")
		}
		if msg := checkServerName(c.TLSServerName); msg != "" {
			bad(c.label("tlsServerName", &c.TLSServerName), "invalid name %q: %s", c.TLSServerName, msg)
		}
	}
	if c.Capacity < 1 || c.Capacity > MaxCapacity {
		bad(c.label("capacity", &c.Capacity), "must be between 1 and %d, got %d", MaxCapacity, c.Capacity)
	}
	if c.ChunkSize < 1 || c.ChunkSize > MaxChunkSize {
		bad(c.label("chunkSize", &c.ChunkSize), "must be between 1 and %d, got %d", MaxChunkSize, c.ChunkSize)
	}
	if c.MaxTargets < 1 || c.MaxTargets > MaxMaxTargets {
		bad(c.label("maxTargets", &c.MaxTargets), "must be between 1 and %d, got %d", MaxMaxTargets, c.MaxTargets)
	}
	if _, ok := parseLogLevel(c.LogLevel); !ok {
		bad(c.label("logLevel", &c.LogLevel), "must be debug, info, warn or error, got %q", c.LogLevel)
	}
	if f := strings.ToLower(c.LogFormat); f != "text" && f != "json" {
		bad(c.label("logFormat", &c.LogFormat), "must be text or json, got %q", c.LogFormat)
	}
	if c.ShutdownTimeout <= 0 {
		bad(c.label("shutdownTimeout", &c.ShutdownTimeout), "must be positive, got %s", c.ShutdownTimeout)
	}
	switch strings.ToLower(c.Auth) {
	case AuthOn, AuthAuto:
	case AuthOff:
		if !IsLoopbackAddr(c.HTTPAddr) && !c.InsecureNoAuth {
			bad(c.label("auth", &c.Auth), "off on %s, which is not a loopback address: anyone who reaches it could run commands on every host; give --insecure-no-auth as well to mean it", c.HTTPAddr)
		}
	default:
		bad(c.label("auth", &c.Auth), "must be on, off or auto, got %q", c.Auth)
	}
	if _, err := c.Policy(); err != nil {
		field := c.label("denyTargets", &c.DenyTargets)
		if strings.HasPrefix(err.Error(), "allow") {
			field = c.label("allowTargets", &c.AllowTargets)
		}
		bad(field, "%v", err)
	}
	if c.RateLimit < 0 {
		bad(c.label("rateLimit", &c.RateLimit), "must be 0 (no bound) or positive, got %d", c.RateLimit)
	}
	if c.BootstrapExpect < 1 || c.BootstrapExpect > 9 {
		bad(c.label("bootstrapExpect", &c.BootstrapExpect), "must be between 1 and 9 master-capable members, got %d", c.BootstrapExpect)
	} else if c.BootstrapExpect > 1 && !c.HasRole(RoleMaster) {
		bad(c.label("bootstrapExpect", &c.BootstrapExpect), "only a master-capable node (--roles master or master,worker) is part of the Raft group")
	}
	if c.HA() && c.GossipAddr == "" && len(c.Join) == 0 {
		bad(c.label("bootstrapExpect", &c.BootstrapExpect), "a Raft group finds its members through gossip: give --gossip-addr or --join")
	}
	if c.RaftSnapshotThreshold < 0 {
		bad(c.label("raftSnapshotThreshold", &c.RaftSnapshotThreshold), "must be 0 (the default) or positive, got %d", c.RaftSnapshotThreshold)
	}
	if c.RaftTrailingLogs < 0 {
		bad(c.label("raftTrailingLogs", &c.RaftTrailingLogs), "must be 0 (the default) or positive, got %d", c.RaftTrailingLogs)
	}
	if c.Retention < 0 {
		bad(c.label("retention", &c.Retention), "must be 0 (keep every job) or positive, got %s", c.Retention)
	}
	if c.ClusterWatch < 0 {
		bad(c.label("clusterWatch", &c.ClusterWatch), "must be 0 (off) or positive, got %s", c.ClusterWatch)
	}
	if c.HTTPMaxHeaderBytes < 4096 || c.HTTPMaxHeaderBytes > MaxHTTPHeaderBytes {
		bad(c.label("httpMaxHeaderBytes", &c.HTTPMaxHeaderBytes), "must be between 4096 and %d, got %d", MaxHTTPHeaderBytes, c.HTTPMaxHeaderBytes)
	}
	if c.BodyMemory != 0 && c.BodyMemory < MinBodyMemory {
		bad(c.label("bodyMemory", &c.BodyMemory), "must be 0 (automatic) or at least %d, got %d", MinBodyMemory, c.BodyMemory)
	}
	if c.MaxRequestBytes <= 0 {
		bad(c.label("maxRequestBytes", &c.MaxRequestBytes), "must be positive, got %d", c.MaxRequestBytes)
	}

	errs = append(errs, c.checkScaling()...)

	for _, name := range sortedKeys(c.NodeGroups) {
		if err := store.CheckDefinitionName(name); err != nil {
			bad("nodeGroups", "%v", err)
		}
		field := "nodeGroups." + name
		if strings.TrimSpace(name) == "" {
			bad("nodeGroups", "a node group name must not be empty")
		}
		g := c.NodeGroups[name]
		if len(g.Hosts) == 0 {
			bad(field+".hosts", "must list at least one host")
		}
		for i, h := range g.Hosts {
			if strings.TrimSpace(h) == "" {
				bad(fmt.Sprintf("%s.hosts[%d]", field, i), "must not be empty")
			} else if nodeset.IsNodeset(h) {
				// Expanded when a job names the group; a bad one is told now.
				if _, err := nodeset.Expand(h, max(c.MaxTargets, 1)); err != nil {
					bad(fmt.Sprintf("%s.hosts[%d]", field, i), "%v", err)
				}
			}
		}
	}
	for _, name := range sortedKeys(c.Aggregations) {
		if err := store.CheckDefinitionName(name); err != nil {
			bad("aggregations", "%v", err)
		}
		field := "aggregations." + name + ".regex"
		if strings.TrimSpace(name) == "" {
			bad("aggregations", "an aggregation name must not be empty")
		}
		re := c.Aggregations[name].Regex
		if re == "" {
			bad(field, "must not be empty")
		} else if _, err := regexp.Compile(re); err != nil {
			bad(field, "%v", err)
		}
	}
	for _, name := range sortedKeys(c.Commands) {
		if err := store.CheckDefinitionName(name); err != nil {
			bad("commands", "%v", err)
		}
		if strings.TrimSpace(name) == "" {
			bad("commands", "a command name must not be empty")
		}
		spec := c.Commands[name]
		if spec == nil {
			bad("commands."+name, "must not be null")
			continue
		}
		if len(spec.Targets) > 0 || spec.NodeGroup != "" {
			bad("commands."+name, "a command template may not have targets or nodeGroup")
		}
		if spec.Aggregation != nil && spec.Aggregation.Regex != "" {
			if _, err := regexp.Compile(spec.Aggregation.Regex); err != nil {
				bad("commands."+name+".aggregation.regex", "%v", err)
			}
		}
	}
	for _, name := range sortedKeys(c.HeaderSets) {
		if strings.TrimSpace(name) == "" {
			bad("headerSets", "a header set name must not be empty")
		}
		for _, h := range sortedKeys(c.HeaderSets[name]) {
			if strings.TrimSpace(h) == "" {
				bad("headerSets."+name, "a header name must not be empty")
			}
		}
	}
	return errors.Join(errs...)
}

// checkAddr returns why addr is not a host:port with a numeric port, or "".
func checkAddr(addr string) string {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		var ae *net.AddrError
		if errors.As(err, &ae) {
			return ae.Err
		}
		return err.Error()
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n > 65535 {
		return "port must be a number from 0 to 65535"
	}
	return ""
}

// sortedKeys returns the keys of m in order, for deterministic errors.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// checkAdvertise checks the --advertise-* addresses, and that a cluster
// node whose bind address is a wildcard knows what to advertise for it.
func (c *Config) checkAdvertise() []error {
	var errs []error
	type service struct {
		key, flag string
		adv       *string
		bindKey   string
		bind      string // "" when the node does not run it
		ipOnly    bool
	}
	services := []service{
		{"advertiseHTTP", "http-addr", &c.AdvertiseHTTP, "httpAddr", c.HTTPAddr, false},
	}
	if c.Clustered() {
		services = append(services,
			service{"advertiseGossip", "gossip-addr", &c.AdvertiseGossip, "gossipAddr", c.GossipBind(), true},
			service{"advertiseRemote", "remote-addr", &c.AdvertiseRemote, "remoteAddr", c.RemoteAddress(), false})
	}
	if c.HA() {
		services = append(services, service{"advertiseRaft", "raft-addr", &c.AdvertiseRaft, "raftAddr", c.RaftAddress(), false})
	}
	for _, sv := range services {
		field := c.label(sv.key, sv.adv)
		if a := *sv.adv; a != "" {
			if msg := checkAdvertiseAddr(a, sv.ipOnly); msg != "" {
				errs = append(errs, &job.FieldError{Field: field, Msg: fmt.Sprintf("invalid address %q: %s", a, msg)})
			}
			continue
		}
		if !c.Clustered() || !isWildcardAddr(sv.bind) || c.advertiseHost() != "" {
			continue
		}
		errs = append(errs, &job.FieldError{Field: field, Msg: fmt.Sprintf(
			"%s (--%s) %q binds every interface, so the other nodes cannot be told where to reach it: give --%s host:port (or --advertise-gossip, whose host the others take)",
			sv.bindKey, sv.flag, sv.bind, flagOf(sv.key))})
	}
	return errs
}

// flagOf is the flag of an advertise key: advertiseHTTP → advertise-http.
func flagOf(key string) string {
	return "advertise-" + strings.ToLower(strings.TrimPrefix(key, "advertise"))
}

// checkAdvertiseAddr returns why addr cannot be advertised, or "": it
// must be a host:port whose host others can dial (an IP when ipOnly) and
// whose port is not 0.
func checkAdvertiseAddr(addr string, ipOnly bool) string {
	if msg := checkAddr(addr); msg != "" {
		return msg
	}
	host, port, _ := net.SplitHostPort(addr)
	switch {
	case IsWildcardHost(host):
		return "an advertised address needs a host the others can dial, not every interface (" + strconv.Quote(host) + ")"
	case port == "0":
		return "an advertised address needs the port the others dial, not 0"
	case ipOnly && net.ParseIP(host) == nil:
		return "the gossip address must be an IP address, not a name"
	}
	return ""
}

// checkServerName accepts what a certificate's DNS SAN can name for a
// TLS client's ServerName: a host name (or an IP address), without a
// port, a scheme or a wildcard.
func checkServerName(name string) string {
	if net.ParseIP(name) != nil {
		return ""
	}
	switch {
	case strings.ContainsAny(name, ":/"):
		return "want a name such as salvo.cluster, without a port or a scheme"
	case strings.Contains(name, "*"):
		return "a wildcard is for certificates: give one name it covers"
	case strings.TrimSpace(name) != name || strings.ContainsAny(name, " \t"):
		return "contains white space"
	}
	return ""
}
