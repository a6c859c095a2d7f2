package conf

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/salvo-sh/salvo/job"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Config)
		want   []string // substrings of the error; none means valid
	}{
		{"defaults", func(*Config) {}, nil},
		{"limits", func(c *Config) { c.Capacity, c.ChunkSize = MaxCapacity, MaxChunkSize }, nil},
		{"port zero", func(c *Config) { c.HTTPAddr = ":0" }, nil},
		{"upper-case level and format", func(c *Config) { c.LogLevel, c.LogFormat = "WARN", "JSON" }, nil},
		{"empty name", func(c *Config) { c.Name = " " }, []string{"name", "empty"}},
		{"addr without port", func(c *Config) { c.HTTPAddr = "127.0.0.1" }, []string{"httpAddr (--http-addr)", "missing port"}},
		{"addr bad port", func(c *Config) { c.HTTPAddr = "127.0.0.1:http" }, []string{"httpAddr", "port"}},
		{"addr port too big", func(c *Config) { c.HTTPAddr = "127.0.0.1:65536" }, []string{"httpAddr", "port"}},
		{"empty data dir", func(c *Config) { c.DataDir = "" }, []string{"dataDir (--data-dir)"}},
		{"capacity zero", func(c *Config) { c.Capacity = 0 }, []string{"capacity (--capacity)", "got 0"}},
		{"capacity too big", func(c *Config) { c.Capacity = MaxCapacity + 1 }, []string{"capacity", "1000001"}},
		{"chunk size zero", func(c *Config) { c.ChunkSize = 0 }, []string{"chunkSize (--chunk-size)"}},
		{"chunk size too big", func(c *Config) { c.ChunkSize = MaxChunkSize + 1 }, []string{"chunkSize", "100001"}},
		{"max targets zero", func(c *Config) { c.MaxTargets = 0 }, []string{"maxTargets (--max-targets)"}},
		{"max targets too big", func(c *Config) { c.MaxTargets = MaxMaxTargets + 1 }, []string{"maxTargets", "100000001"}},
		{"log level", func(c *Config) { c.LogLevel = "trace" }, []string{"logLevel (--log-level)", "trace"}},
		{"cluster off loopback without key and TLS", func(c *Config) { c.GossipAddr = "10.0.0.1:7946" }, []string{"gossipAddr (--gossip-addr)", "--insecure-cluster"}},
		{"join without a gossip address binds everything", func(c *Config) { c.Join = []string{"127.0.0.1:7946"} }, []string{"gossipAddr", "--gossip-key-file"}},
		{"raft off loopback without TLS", func(c *Config) { c.GossipAddr, c.RaftAddr = "127.0.0.1:7946", "0.0.0.0:7948" },
			[]string{"raftAddr (--raft-addr)", `"0.0.0.0:7948" is not a loopback address`}},
		{"tls server name without TLS", func(c *Config) { c.TLSServerName = "salvo.cluster" },
			[]string{"tlsServerName (--tls-server-name)", "needs --tls-cert, --tls-key and --tls-ca"}},
		{"tls server name without a CA", func(c *Config) { c.TLSCert, c.TLSKey, c.TLSServerName = "c", "k", "salvo.cluster" },
			[]string{"tlsServerName (--tls-server-name)", "--tls-ca"}},
		{"tls server name with a port", func(c *Config) { c.TLSCert, c.TLSKey, c.TLSCA, c.TLSServerName = "c", "k", "ca", "salvo.cluster:7947" },
			[]string{"tlsServerName", "without a port"}},
		{"tls server name a wildcard", func(c *Config) { c.TLSCert, c.TLSKey, c.TLSCA, c.TLSServerName = "c", "k", "ca", "*.salvo" },
			[]string{"tlsServerName", "wildcard"}},
		{"bootstrap-expect out of range", func(c *Config) { c.GossipAddr, c.BootstrapExpect = "127.0.0.1:7946", 0 }, []string{"bootstrapExpect", "between 1 and 9"}},
		{"raft without gossip", func(c *Config) { c.BootstrapExpect = 3 }, []string{"bootstrapExpect", "--gossip-addr or --join"}},
		{"bootstrap-expect on a worker", func(c *Config) { c.GossipAddr, c.BootstrapExpect, c.Roles = "127.0.0.1:7946", 3, []string{RoleWorker} },
			[]string{"bootstrapExpect", "master-capable"}},
		{"auth off off loopback", func(c *Config) { c.Auth, c.HTTPAddr = AuthOff, "0.0.0.0:8080" }, []string{"auth (--auth)", "--insecure-no-auth"}},
		{"auth value", func(c *Config) { c.Auth = "maybe" }, []string{"auth (--auth)", "maybe"}},
		{"deny rule", func(c *Config) { c.DenyTargets = []string{"10.0.0.0/99"} }, []string{"denyTargets (--deny-targets)"}},
		{"log format", func(c *Config) { c.LogFormat = "xml" }, []string{"logFormat (--log-format)", "xml"}},
		{"shutdown timeout zero", func(c *Config) { c.ShutdownTimeout = 0 }, []string{"shutdownTimeout (--shutdown-timeout)"}},
		{"shutdown timeout negative", func(c *Config) { c.ShutdownTimeout = -time.Second }, []string{"shutdownTimeout", "-1s"}},
		{"max request bytes", func(c *Config) { c.MaxRequestBytes = 0 }, []string{"maxRequestBytes (--max-request-bytes)"}},
		{"node group without hosts", func(c *Config) { c.NodeGroups = map[string]NodeGroup{"web": {}} }, []string{"nodeGroups.web.hosts"}},
		{"node group empty host", func(c *Config) {
			c.NodeGroups = map[string]NodeGroup{"web": {Hosts: []string{"a", ""}}}
		}, []string{"nodeGroups.web.hosts[1]"}},
		{"node group bad nodeset", func(c *Config) {
			c.NodeGroups = map[string]NodeGroup{"web": {Hosts: []string{"web-[1-3]", "db-[5-1]"}}}
		}, []string{"nodeGroups.web.hosts[1]", "reversed range 5-1"}},
		{"node group empty name", func(c *Config) { c.NodeGroups = map[string]NodeGroup{"": {Hosts: []string{"a"}}} }, []string{"nodeGroups", "name"}},
		{"aggregation bad regex", func(c *Config) {
			c.Aggregations = map[string]Aggregation{"v": {Regex: "version=(\\S+"}}
		}, []string{"aggregations.v.regex", "missing closing )"}},
		{"aggregation empty regex", func(c *Config) { c.Aggregations = map[string]Aggregation{"v": {}} }, []string{"aggregations.v.regex", "empty"}},
		{"aggregation empty name", func(c *Config) { c.Aggregations = map[string]Aggregation{"": {Regex: "x"}} }, []string{"aggregations", "name"}},
		{"command bad regex", func(c *Config) {
			c.Commands = map[string]*job.Spec{"cmd": {Aggregation: &job.Aggregation{Regex: "("}}}
		}, []string{"commands.cmd.aggregation.regex"}},
		{"command with targets", func(c *Config) {
			c.Commands = map[string]*job.Spec{"cmd": {Targets: []job.TargetSpec{{Host: "a"}}}}
		}, []string{"commands.cmd", "targets"}},
		{"command nil", func(c *Config) { c.Commands = map[string]*job.Spec{"cmd": nil} }, []string{"commands.cmd", "null"}},
		{"command empty name", func(c *Config) { c.Commands = map[string]*job.Spec{"": {}} }, []string{"commands", "name"}},
		{"header set empty header", func(c *Config) {
			c.HeaderSets = map[string]map[string]string{"json": {"": "x"}}
		}, []string{"headerSets.json", "header name"}},
		{"header set empty name", func(c *Config) { c.HeaderSets = map[string]map[string]string{"": {"A": "b"}} }, []string{"headerSets", "name"}},
		{"node group dot-dot", func(c *Config) { c.NodeGroups = map[string]NodeGroup{"..": {Hosts: []string{"a"}}} }, []string{"nodeGroups", `".."`}},
		{"aggregation slash", func(c *Config) { c.Aggregations = map[string]Aggregation{"a/b": {Regex: "(x)"}} }, []string{"aggregations", "slash"}},
		{"command dot", func(c *Config) { c.Commands = map[string]*job.Spec{".": {}} }, []string{"commands", `"."`}},
		{"body memory too small", func(c *Config) { c.BodyMemory = 1 << 20 }, []string{"bodyMemory (--body-memory)", "134217728"}},
		{"max header bytes", func(c *Config) { c.HTTPMaxHeaderBytes = 100 }, []string{"httpMaxHeaderBytes (--http-max-header-bytes)", "4096"}},
		{"several at once", func(c *Config) { c.Capacity, c.LogFormat = -1, "yaml" }, []string{"capacity", "logFormat"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tt.modify(cfg)
			err := cfg.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Validate succeeded")
			}
			var fe *job.FieldError
			if !errors.As(err, &fe) || fe.Field == "" {
				t.Errorf("error %v is not a FieldError with a field", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// What the security checks let through.
func TestValidateSecurityAllows(t *testing.T) {
	for name, mod := range map[string]func(*Config){
		"loopback cluster":           func(c *Config) { c.GossipAddr, c.RemoteAddr = "127.0.0.1:0", "127.0.0.1:0" },
		"a network cluster with TLS": func(c *Config) { c.GossipAddr, c.GossipKeyFile, c.TLSCert, c.TLSKey = "10.0.0.1:7946", "k", "c", "k" },
		"a cluster TLS server name": func(c *Config) {
			c.GossipAddr, c.GossipKeyFile, c.TLSCert, c.TLSKey, c.TLSCA, c.TLSServerName = "10.0.0.1:7946", "k", "c", "k", "ca", "salvo.cluster"
		},
		"--insecure-cluster":           func(c *Config) { c.GossipAddr, c.InsecureCluster = "10.0.0.1:7946", true },
		"auth off on loopback":         func(c *Config) { c.Auth = AuthOff },
		"--insecure-no-auth":           func(c *Config) { c.Auth, c.HTTPAddr, c.InsecureNoAuth = AuthOff, "0.0.0.0:8080", true },
		"no deny rule at all (none)":   func(c *Config) { c.DenyTargets = []string{"none"} },
		"allow rules, globs and CIDRs": func(c *Config) { c.AllowTargets = []string{"10.0.0.0/8", "*.prod.example"} },
	} {
		c := DefaultConfig()
		mod(c)
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if c := DefaultConfig(); c.AuthEnabled() {
		t.Error("auth is on by default on loopback")
	}
	if c := DefaultConfig(); func() bool { c.HTTPAddr = "0.0.0.0:8080"; return !c.AuthEnabled() }() {
		t.Error("auth auto is off on 0.0.0.0")
	}
}

func TestValidateAdvertise(t *testing.T) {
	// wild is a worker that binds every interface, as in a container.
	wild := func(c *Config) {
		c.Roles, c.InsecureCluster = []string{RoleWorker}, true
		c.HTTPAddr, c.GossipAddr, c.RemoteAddr = "0.0.0.0:8080", "0.0.0.0:7946", "0.0.0.0:7947"
	}
	tests := []struct {
		name   string
		modify func(*Config)
		want   []string // substrings of the error; none means valid
		not    []string // substrings the error must not have
	}{
		{"single node on every interface", func(c *Config) { c.HTTPAddr, c.Auth = "0.0.0.0:8080", AuthOn }, nil, nil},
		{"all advertised", func(c *Config) {
			wild(c)
			c.AdvertiseHTTP, c.AdvertiseGossip, c.AdvertiseRemote = "node-1.example:8080", "10.0.0.5:7946", "node-1.example:7947"
		}, nil, nil},
		{"the gossip host serves the others", func(c *Config) { wild(c); c.AdvertiseGossip = "10.0.0.5:7946" }, nil, nil},
		{"a gossip host serves a wildcard http and remote", func(c *Config) {
			wild(c)
			c.GossipAddr = "10.0.0.5:7946"
		}, nil, nil},
		{"wildcard http in a cluster", func(c *Config) {
			wild(c)
			c.GossipAddr, c.AdvertiseGossip = "0.0.0.0:7946", ""
			c.AdvertiseRemote = "10.0.0.5:7947"
		}, []string{"advertiseHTTP (--advertise-http)", `httpAddr (--http-addr) "0.0.0.0:8080" binds every interface`,
			"advertiseGossip (--advertise-gossip)"}, []string{"advertiseRemote"}},
		{"IPv6 wildcard remote", func(c *Config) {
			wild(c)
			c.RemoteAddr, c.AdvertiseHTTP = "[::]:7947", "10.0.0.5:8080"
		}, []string{"advertiseRemote (--advertise-remote)", `"[::]:7947"`}, []string{"advertiseHTTP"}},
		{"join without a gossip address", func(c *Config) {
			c.Join, c.InsecureCluster = []string{"10.0.0.1:7946"}, true
		}, []string{"advertiseGossip (--advertise-gossip)", `"0.0.0.0:7946" binds every interface`}, nil},
		{"raft on every interface", func(c *Config) {
			c.GossipAddr, c.RaftAddr, c.BootstrapExpect, c.InsecureCluster = "0.0.0.0:7946", "0.0.0.0:7948", 3, true
			c.AdvertiseHTTP, c.AdvertiseRemote = "10.0.0.5:8080", "10.0.0.5:7947"
		}, []string{"advertiseRaft (--advertise-raft)", "advertiseGossip"}, []string{"advertiseHTTP", "advertiseRemote"}},
		{"raft advertised", func(c *Config) {
			c.GossipAddr, c.RaftAddr, c.BootstrapExpect, c.InsecureCluster = "0.0.0.0:7946", "0.0.0.0:7948", 3, true
			c.AdvertiseGossip, c.AdvertiseRaft = "10.0.0.5:7946", "master-1.example:7948"
		}, nil, nil},
		{"advertise a wildcard", func(c *Config) { c.AdvertiseHTTP = "0.0.0.0:8080" },
			[]string{"advertiseHTTP (--advertise-http)", "not every interface"}, nil},
		{"advertise an IPv6 wildcard", func(c *Config) { wild(c); c.AdvertiseGossip = "[::]:7946" },
			[]string{"advertiseGossip (--advertise-gossip)", "not every interface"}, nil},
		{"advertise no host", func(c *Config) { wild(c); c.AdvertiseRemote = ":7947" },
			[]string{"advertiseRemote (--advertise-remote)", "not every interface"}, nil},
		{"advertise port 0", func(c *Config) { c.AdvertiseHTTP = "10.0.0.5:0" }, []string{"advertiseHTTP", "not 0"}, nil},
		{"advertise without port", func(c *Config) { c.AdvertiseHTTP = "10.0.0.5" }, []string{"advertiseHTTP", "missing port"}, nil},
		{"advertise gossip by name", func(c *Config) { wild(c); c.AdvertiseGossip = "node-1.example:7946" },
			[]string{"advertiseGossip", "must be an IP address"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tt.modify(cfg)
			err := cfg.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Validate succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			for _, w := range tt.not {
				if strings.Contains(err.Error(), w) {
					t.Errorf("error %q contains %q", err, w)
				}
			}
		})
	}
}

func TestAdvertised(t *testing.T) {
	tests := []struct {
		name                       string
		modify                     func(*Config)
		http, gossip, remote, raft string
	}{
		{"loopback binds advertise themselves", func(c *Config) { c.GossipAddr = "127.0.0.2:7946" },
			"127.0.0.1:8080", "", "127.0.0.2:7947", "127.0.0.2:7948"},
		{"explicit", func(c *Config) {
			c.HTTPAddr, c.GossipAddr, c.RemoteAddr, c.RaftAddr = "0.0.0.0:8080", "0.0.0.0:7000", "0.0.0.0:7001", "0.0.0.0:7002"
			c.AdvertiseHTTP, c.AdvertiseGossip, c.AdvertiseRemote, c.AdvertiseRaft = "a:1", "10.0.0.1:2", "c:3", "d:4"
		}, "a:1", "10.0.0.1:2", "c:3", "d:4"},
		{"the gossip advertise host with each bind port", func(c *Config) {
			c.HTTPAddr, c.GossipAddr, c.AdvertiseGossip = "0.0.0.0:8080", "0.0.0.0:7000", "10.0.0.1:9000"
		}, "10.0.0.1:8080", "10.0.0.1:9000", "10.0.0.1:7001", "10.0.0.1:7002"},
		{"the gossip bind host", func(c *Config) { c.HTTPAddr, c.GossipAddr, c.RemoteAddr = ":8080", "10.0.0.1:7000", "[::]:7001" },
			"10.0.0.1:8080", "", "10.0.0.1:7001", "10.0.0.1:7002"},
		{"nothing known", func(c *Config) { c.HTTPAddr, c.GossipAddr = "0.0.0.0:8080", "0.0.0.0:7000" },
			"0.0.0.0:8080", "", "127.0.0.1:7001", "127.0.0.1:7002"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.modify(c)
			if got := c.HTTPAdvertise(c.HTTPAddr); got != tt.http {
				t.Errorf("HTTPAdvertise = %q, want %q", got, tt.http)
			}
			if got := c.GossipAdvertise(); got != tt.gossip {
				t.Errorf("GossipAdvertise = %q, want %q", got, tt.gossip)
			}
			if got := c.RemoteAdvertise(); got != tt.remote {
				t.Errorf("RemoteAdvertise = %q, want %q", got, tt.remote)
			}
			if got := c.RaftAdvertise(); got != tt.raft {
				t.Errorf("RaftAdvertise = %q, want %q", got, tt.raft)
			}
		})
	}
}
