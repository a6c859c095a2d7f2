// Package conf holds the configuration of a salvo node: its defaults, the
// YAML config file, the SALVO_* environment variables and the command-line
// flags of `salvo server`, and the named node groups, command templates,
// aggregation rules and header sets a node loads from its file.
//
// Precedence, lowest first: DefaultConfig, the YAML file (--config or
// SALVO_CONFIG), environment variables, flags set on the command line.
// The package never talks to the network.
package conf

import (
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/salvo-sh/salvo/job"
)

// Defaults of DefaultConfig.
const (
	DefaultHTTPAddr        = "127.0.0.1:8080"
	DefaultDataDir         = "./salvo-data"
	DefaultCapacity        = job.DefaultCapacity
	DefaultLogLevel        = "info"
	DefaultLogFormat       = "text"
	DefaultShutdownTimeout = 30 * time.Second
	// DefaultClusterWatch is how often a clustered master checks its
	// enabled members (enableClusterMember) and recreates those gone.
	DefaultClusterWatch    = 10 * time.Second
	DefaultMaxRequestBytes = 64 << 20
	DefaultChunkSize       = job.DefaultChunkSize
	DefaultMaxTargets      = job.DefaultMaxTargets
	// DefaultHTTPMaxHeaderBytes is the default bound on a target
	// response's header block (the executor's DefaultMaxHeaderBytes).
	DefaultHTTPMaxHeaderBytes = 64 << 10
	// DefaultName is the node name when the host name cannot be read.
	DefaultName = "salvo"
)

// Limits checked by Validate.
const (
	MaxCapacity  = 1_000_000
	MaxChunkSize = 100_000
	// MaxMaxTargets bounds --max-targets.
	MaxMaxTargets = 100_000_000
	// MinBodyMemory is the least --body-memory: the worker holds a
	// quarter of it, where one SSH request at the largest maxBodyBytes
	// (stdout and stderr) must fit.
	MinBodyMemory = 8 * job.MaxBodyBytesLimit
	// MaxHTTPHeaderBytes bounds --http-max-header-bytes.
	MaxHTTPHeaderBytes = 16 << 20
)

// Config is the configuration of one salvo node. Scalar fields can be set
// in the YAML file, by environment variable and by flag (see flags.go);
// the named definitions come from the file only.
type Config struct {
	// ConfigFile is the YAML file the configuration was read from (--config,
	// SALVO_CONFIG); empty when none was read.
	ConfigFile string `yaml:"-"`

	// Name is this node's name in the cluster (default: the host name).
	Name string `yaml:"name"`
	// HTTPAddr is the host:port the REST API listens on.
	HTTPAddr string `yaml:"httpAddr"`
	// DataDir holds the embedded store and other node state.
	DataDir string `yaml:"dataDir"`
	// Capacity is the number of requests this node, as a worker, keeps in
	// flight at once over all jobs.
	Capacity int `yaml:"capacity"`
	// LogLevel is one of debug, info, warn, error.
	LogLevel string `yaml:"logLevel"`
	// LogFormat is text or json.
	LogFormat string `yaml:"logFormat"`
	// ShutdownTimeout bounds a graceful shutdown (YAML: a duration such as "30s").
	ShutdownTimeout time.Duration `yaml:"shutdownTimeout"`
	// ClusterWatch is how often a clustered master checks that every
	// enabled worker member is alive and, for one that has left or died
	// while its API still answers, calls that node's createNode (REST
	// Commander's enableClusterMember). 0 turns the watch off.
	ClusterWatch time.Duration `yaml:"clusterWatch"`
	// MaxRequestBytes caps the body of an API request (a job spec with its
	// target list).
	MaxRequestBytes int64 `yaml:"maxRequestBytes"`
	// ChunkSize is the number of targets in one lease (chunk) handed to a worker.
	ChunkSize int `yaml:"chunkSize"`
	// MaxTargets is the most targets a job (and hosts a node group) may
	// have once its nodesets are expanded; beyond it the API answers 400.
	MaxTargets int `yaml:"maxTargets"`
	// Pprof serves net/http/pprof on the API address.
	Pprof bool `yaml:"pprof"`
	// Auth says whether API calls need a token: on, off or auto (on
	// whenever HTTPAddr is not a loopback address). docs/security.md.
	Auth string `yaml:"auth"`
	// InsecureNoAuth lets --auth off stand on a non-loopback address.
	InsecureNoAuth bool `yaml:"insecureNoAuth"`
	// AllowTargets, when set, are the only targets jobs may reach: CIDRs
	// and host globs (job.Policy). DenyTargets are refused; by default
	// the cloud metadata ranges (job.DefaultDenyTargets); "none" denies
	// nothing.
	AllowTargets []string `yaml:"allowTargets"`
	DenyTargets  []string `yaml:"denyTargets"`
	// APITLSCert and APITLSKey serve the API over TLS; APITLSClientCA
	// also requires clients to show a certificate it signed (mutual
	// TLS). A cluster's nodes serve their APIs alike: all over TLS, or
	// none, with certificates the cluster's --tls-ca signs.
	APITLSCert     string `yaml:"apiTLSCert"`
	APITLSKey      string `yaml:"apiTLSKey"`
	APITLSClientCA string `yaml:"apiTLSClientCA"`
	// RateLimit bounds the API requests per second of each token (each
	// client address without authentication); 0: no bound.
	RateLimit int `yaml:"rateLimit"`
	// InsecureCluster lets a node gossip on an address that is not
	// loopback without a gossip key and remote TLS.
	InsecureCluster bool `yaml:"insecureCluster"`
	// SSHKeyDir is where a job spec may name SSH key and known_hosts
	// files on its own when its token is not an admin's (default
	// DATA_DIR/ssh).
	SSHKeyDir string `yaml:"sshKeyDir"`
	// APIHosts are further Host header values the API answers with
	// authentication off (names it is reached by behind a proxy).
	APIHosts []string `yaml:"apiHosts"`
	// HTTPGracefulClose ends HTTP target connections with a FIN handshake
	// instead of a reset once the response is read (see
	// commands.HTTPConfig.GracefulClose).
	HTTPGracefulClose bool `yaml:"httpGracefulClose"`
	// HTTPMaxHeaderBytes bounds a target response's header block; a larger
	// one fails the target with errorClass too_large.
	HTTPMaxHeaderBytes int `yaml:"httpMaxHeaderBytes"`
	// BodyMemory bounds the response bytes (bodies and SSH output) a
	// worker holds at once over all its jobs; requests wait for room.
	// 0 means an eighth of the machine's memory, between 64 MiB and 4 GiB.
	BodyMemory int64 `yaml:"bodyMemory"`
	// Retention is how long after it finished a job and its results are
	// kept: the master that writes (the Raft leader in a group) deletes
	// older ones in the background. 0 (the default) keeps every job.
	Retention DayDuration `yaml:"retention"`
	// RCConfDir is a directory of REST Commander configuration files
	// (agentcommand.conf, nodegroup.conf, aggregation.conf,
	// httpheader.conf) whose definitions are imported at start (see
	// ImportRC); empty for none.
	RCConfDir string `yaml:"rcConfDir"`

	// Roles are this node's roles: master, worker or both.
	Roles []string `yaml:"roles"`
	// GossipAddr is the host:port memberlist binds for gossip; setting it
	// (or Join) makes the node a cluster member.
	GossipAddr string `yaml:"gossipAddr"`
	// RemoteAddr is the host:port proto.actor remote listens on for
	// messages between nodes (default: the gossip port + 1).
	RemoteAddr string `yaml:"remoteAddr"`
	// AdvertiseHTTP, AdvertiseGossip, AdvertiseRemote and AdvertiseRaft
	// are the host:port the other nodes and clients are told for the API,
	// gossip, remote and Raft, when it differs from what the node binds
	// (a wildcard bind, NAT, a container). Without one, a wildcard bind
	// advertises the host of AdvertiseGossip (or GossipAddr) with its own
	// port; a cluster node refuses to start when no host is known
	// (advertise.go, docs/operations.md).
	AdvertiseHTTP   string `yaml:"advertiseHTTP"`
	AdvertiseGossip string `yaml:"advertiseGossip"`
	AdvertiseRemote string `yaml:"advertiseRemote"`
	AdvertiseRaft   string `yaml:"advertiseRaft"`
	// Join lists gossip addresses of members to join at start.
	Join []string `yaml:"join"`
	// RaftAddr is the host:port of a master-capable node's Raft transport
	// (default: the gossip port + 2). Setting it, or BootstrapExpect above
	// 1, makes the master part of a Raft group (docs/ha.md).
	RaftAddr string `yaml:"raftAddr"`
	// BootstrapExpect is how many master-capable members form the Raft
	// group: it bootstraps once that many are seen through gossip. 1 (the
	// default) is one master without Raft, unless RaftAddr is set.
	BootstrapExpect int `yaml:"bootstrapExpect"`
	// RaftSnapshotThreshold is how many log entries since the last
	// snapshot make a master snapshot its store and compact its log;
	// RaftTrailingLogs how many entries the compacted log keeps for a
	// follower that lags (0: the defaults, docs/ha.md).
	RaftSnapshotThreshold int `yaml:"raftSnapshotThreshold"`
	RaftTrailingLogs      int `yaml:"raftTrailingLogs"`
	// Tags restrict which jobs this worker takes (a job's tags).
	Tags []string `yaml:"tags"`
	// GossipKeyFile holds base64 gossip keys, one a line, the first the
	// primary; gossip is encrypted when set.
	GossipKeyFile string `yaml:"gossipKeyFile"`
	// TLSCert, TLSKey and TLSCA secure proto.actor remote and the Raft
	// transport with mutual TLS.
	TLSCert string `yaml:"tlsCert"`
	TLSKey  string `yaml:"tlsKey"`
	TLSCA   string `yaml:"tlsCA"`
	// TLSServerName, when set, is the name a node's client side of remote
	// and Raft checks the peer's certificate against, instead of the host
	// it dials: one cluster name every node's certificate carries as a DNS
	// SAN (docs/security.md, "A cluster TLS server name").
	TLSServerName string `yaml:"tlsServerName"`
	// Cluster holds cluster settings read from the file only.
	Cluster ClusterConfig `yaml:"cluster"`
	// Scaling holds, per worker tag, when the master asks the operator's
	// tooling for a worker more and when it drains and stops one
	// (docs/scaling.md); read from the file only.
	Scaling map[string]ScalingPolicy `yaml:"scaling"`

	// NodeGroups are named host lists (a job's nodeGroup).
	NodeGroups map[string]NodeGroup `yaml:"nodeGroups"`
	// Commands are named command templates: job specs without targets or
	// nodeGroup. The file's `commands:` key is decoded as JSON job specs
	// (job.DecodeSpec, same field names; see file.go), hence no yaml
	// tag here.
	Commands map[string]*job.Spec `yaml:"-"`
	// Aggregations are named aggregation rules.
	Aggregations map[string]Aggregation `yaml:"aggregations"`
	// HeaderSets are named sets of HTTP headers.
	HeaderSets map[string]map[string]string `yaml:"headerSets"`
}

// NodeGroup is a named list of hosts.
type NodeGroup struct {
	Hosts []string `yaml:"hosts" json:"hosts"`
}

// Aggregation is a named aggregation rule: group 1 of Regex, searched in
// each response body, is the response's value.
type Aggregation struct {
	Regex string `yaml:"regex" json:"regex"`
}

// DefaultConfig returns the configuration of a single-machine node.
func DefaultConfig() *Config {
	name, err := os.Hostname()
	if err != nil || name == "" {
		name = DefaultName
	}
	return &Config{
		Name:               name,
		HTTPAddr:           DefaultHTTPAddr,
		DataDir:            DefaultDataDir,
		Capacity:           DefaultCapacity,
		LogLevel:           DefaultLogLevel,
		LogFormat:          DefaultLogFormat,
		ShutdownTimeout:    DefaultShutdownTimeout,
		ClusterWatch:       DefaultClusterWatch,
		Auth:               AuthAuto,
		DenyTargets:        slices.Clone(job.DefaultDenyTargets),
		MaxRequestBytes:    DefaultMaxRequestBytes,
		ChunkSize:          DefaultChunkSize,
		MaxTargets:         DefaultMaxTargets,
		HTTPMaxHeaderBytes: DefaultHTTPMaxHeaderBytes,
		Roles:              []string{RoleMaster, RoleWorker},
		BootstrapExpect:    1,
	}
}

// HA reports whether the node is a master of a Raft group (docs/ha.md).
func (c *Config) HA() bool {
	return c.HasRole(RoleMaster) && (c.BootstrapExpect > 1 || c.RaftAddr != "")
}

// RaftAddress is the Raft transport's address: RaftAddr, or the gossip
// port + 2 on the gossip host.
func (c *Config) RaftAddress() string {
	if c.RaftAddr != "" {
		return c.RaftAddr
	}
	return c.gossipPortPlus(2)
}

// Values of --auth.
const (
	AuthOn   = "on"
	AuthOff  = "off"
	AuthAuto = "auto"
)

// AuthEnabled reports whether API calls need a token: --auth on, or auto on an
// address that is not loopback (a name, or 0.0.0.0, counts as not).
func (c *Config) AuthEnabled() bool {
	switch strings.ToLower(c.Auth) {
	case AuthOn:
		return true
	case AuthOff:
		return false
	}
	return !IsLoopbackAddr(c.HTTPAddr)
}

// APIScheme is "https" when the API is served over TLS, else "http".
func (c *Config) APIScheme() string {
	if c.APITLSCert != "" {
		return "https"
	}
	return "http"
}

// SSHKeyDirPath is SSHKeyDir, or DATA_DIR/ssh when it is empty.
func (c *Config) SSHKeyDirPath() string {
	if c.SSHKeyDir != "" {
		return c.SSHKeyDir
	}
	dir, err := filepath.Abs(filepath.Join(c.DataDir, "ssh"))
	if err != nil {
		return filepath.Join(c.DataDir, "ssh")
	}
	return dir
}

// Policy is the target policy of --allow-targets and --deny-targets.
func (c *Config) Policy() (*job.Policy, error) {
	deny := c.DenyTargets
	if len(deny) == 1 && strings.EqualFold(deny[0], "none") {
		deny = nil
	}
	return job.NewPolicy(c.AllowTargets, deny)
}

// clusterExposed reports whether the node's gossip or remote address is
// not loopback (no --gossip-addr binds every interface).
func (c *Config) clusterExposed() bool {
	if !c.Clustered() {
		return false
	}
	if c.GossipAddr == "" || !IsLoopbackAddr(c.GossipAddr) {
		return true
	}
	if c.RemoteAddr != "" && !IsLoopbackAddr(c.RemoteAddr) {
		return true
	}
	return c.HA() && !IsLoopbackAddr(c.RaftAddress())
}

// IsLoopbackAddr reports whether a host:port listens on loopback only.
func IsLoopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	return IsLoopbackHost(host)
}

// IsLoopbackHost reports whether a host (no port; an IPv6 address may be
// bracketed) is localhost or a loopback IP.
func IsLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// Node roles.
const (
	RoleMaster = "master"
	RoleWorker = "worker"
)

// ClusterConfig is the file-only cluster section.
type ClusterConfig struct {
	// Peers are API addresses (host:port or URLs) of nodes that a
	// createNode call on this master asks to join it.
	Peers []string `yaml:"peers"`
}

// Clustered reports whether the node runs memberlist and remote.
func (c *Config) Clustered() bool {
	return c.GossipAddr != "" || len(c.Join) > 0 || !c.HasRole(RoleMaster) || !c.HasRole(RoleWorker)
}

// HasRole reports whether the node has a role.
func (c *Config) HasRole(role string) bool {
	for _, r := range c.Roles {
		if r == role {
			return true
		}
	}
	return false
}

// Logger returns a logger writing to w at LogLevel in LogFormat. An
// unknown level means info and an unknown format text (Validate rejects
// both).
func (c *Config) Logger(w io.Writer) *slog.Logger {
	level, _ := parseLogLevel(c.LogLevel)
	opts := &slog.HandlerOptions{Level: level}
	if strings.EqualFold(c.LogFormat, "json") {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// parseLogLevel maps a LogLevel name to its slog level.
func parseLogLevel(s string) (slog.Level, bool) {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug, true
	case "info":
		return slog.LevelInfo, true
	case "warn":
		return slog.LevelWarn, true
	case "error":
		return slog.LevelError, true
	}
	return slog.LevelInfo, false
}
