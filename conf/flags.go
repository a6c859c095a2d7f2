package conf

import (
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// EnvPrefix starts the name of every environment variable read by Load.
const EnvPrefix = "SALVO_"

// flagDef is one setting that has a flag and an environment variable.
// ptr points into a Config: *string, *int, *int64, *bool, *time.Duration,
// *DayDuration or *[]string (comma-separated).
type flagDef struct {
	name  string
	usage string
	ptr   any
}

// flags is the one table of settings with a flag: registration, env
// variables, help text and error labels are all derived from it. Add a
// setting with one line here (and its field and default in config.go).
func (c *Config) flags() []flagDef {
	return []flagDef{
		{"config", "YAML config file", &c.ConfigFile},
		{"http-addr", "host:port of the REST API", &c.HTTPAddr},
		{"data-dir", "directory of the embedded store and node state", &c.DataDir},
		{"capacity", "requests this node keeps in flight at once over all jobs", &c.Capacity},
		{"log-level", "log level: debug, info, warn or error", &c.LogLevel},
		{"log-format", "log format: text or json", &c.LogFormat},
		{"shutdown-timeout", "bound on a graceful shutdown", &c.ShutdownTimeout},
		{"max-request-bytes", "largest API request body in bytes", &c.MaxRequestBytes},
		{"chunk-size", "targets per lease (chunk) handed to a worker", &c.ChunkSize},
		{"max-targets", "most targets a job may have once its nodesets are expanded", &c.MaxTargets},
		{"auth", "API tokens: on, off, or auto (on unless --http-addr is loopback)", &c.Auth},
		{"insecure-no-auth", "allow --auth off on a non-loopback --http-addr", &c.InsecureNoAuth},
		{"allow-targets", "the only targets jobs may reach: CIDRs and host globs, comma-separated (default: any)", &c.AllowTargets},
		{"deny-targets", "targets jobs may not reach: CIDRs and host globs, comma-separated (default: the cloud metadata ranges; none: nothing)", &c.DenyTargets},
		{"ssh-key-dir", "directory where a non-admin job may name SSH key and known_hosts files (default DATA_DIR/ssh)", &c.SSHKeyDir},
		{"api-tls-cert", "certificate to serve the API over TLS", &c.APITLSCert},
		{"api-tls-key", "private key of --api-tls-cert", &c.APITLSKey},
		{"api-tls-client-ca", "CA bundle API clients' certificates must be signed by (mutual TLS)", &c.APITLSClientCA},
		{"rate-limit", "API requests per second per token (per client address without auth); 0: no bound", &c.RateLimit},
		{"api-hosts", "more Host names the API answers with authentication off, comma-separated", &c.APIHosts},
		{"pprof", "serve net/http/pprof on the API address", &c.Pprof},
		{"http-graceful-close", "close HTTP target connections with a FIN, not a reset, once read (targets then keep TIME_WAIT)", &c.HTTPGracefulClose},
		{"body-memory", "memory response bodies may take on the node, in bytes (0: an eighth of the memory, 256 MiB to 4 GiB)", &c.BodyMemory},
		{"http-max-header-bytes", "largest header block of a target's HTTP response, in bytes", &c.HTTPMaxHeaderBytes},
		{"retention", "delete finished jobs and their results this long after they finished, e.g. 30d (0: keep them)", &c.Retention},
		{"rc-conf-dir", "directory of REST Commander .conf files to import at start", &c.RCConfDir},
		{"name", "node name in the cluster (default: the host name)", &c.Name},
		{"roles", "node roles: master,worker, master or worker", &c.Roles},
		{"gossip-addr", "host:port for cluster gossip (memberlist); set it or --join to cluster", &c.GossipAddr},
		{"remote-addr", "host:port for messages between nodes (default: gossip port + 1)", &c.RemoteAddr},
		{"cluster-watch", "how often a master brings back enabled workers that left while their API answers (0: never)", &c.ClusterWatch},
		{"raft-addr", "host:port of a master's Raft transport (default: gossip port + 2); makes the master part of a Raft group", &c.RaftAddr},
		{"bootstrap-expect", "master-capable members that form the Raft group (bootstraps once that many are seen; 1: one master, no Raft)", &c.BootstrapExpect},
		{"raft-snapshot-threshold", "log entries after which a master snapshots its store and compacts its Raft log (0: 8192)", &c.RaftSnapshotThreshold},
		{"raft-trailing-logs", "log entries a compacted Raft log keeps for lagging followers (0: 10240)", &c.RaftTrailingLogs},
		{"advertise-http", "host:port other nodes and clients are told for the API, when it differs from --http-addr (default: --http-addr, or the advertised gossip host when it binds every interface)", &c.AdvertiseHTTP},
		{"advertise-gossip", "host:port (an IP) other members are told for gossip, when it differs from --gossip-addr", &c.AdvertiseGossip},
		{"advertise-remote", "host:port other nodes send messages to, when it differs from --remote-addr (default: the advertised gossip host when it binds every interface)", &c.AdvertiseRemote},
		{"advertise-raft", "host:port other masters dial for Raft, when it differs from --raft-addr (default: the advertised gossip host when it binds every interface)", &c.AdvertiseRaft},
		{"join", "gossip addresses of cluster members to join, comma-separated", &c.Join},
		{"tags", "worker tags, comma-separated (a job with tags runs on workers sharing one)", &c.Tags},
		{"gossip-key-file", "file of base64 gossip encryption keys, one a line (first is primary)", &c.GossipKeyFile},
		{"insecure-cluster", "allow gossip and remote on a non-loopback address without --gossip-key-file and --tls-*", &c.InsecureCluster},
		{"tls-cert", "certificate for TLS between nodes", &c.TLSCert},
		{"tls-key", "private key for TLS between nodes", &c.TLSKey},
		{"tls-ca", "CA bundle that signs the other nodes' certificates", &c.TLSCA},
		{"tls-server-name", "name the other nodes' certificates must carry (a DNS SAN), checked instead of the address dialed; needs --tls-cert and --tls-ca", &c.TLSServerName},
	}
}

// envName is the environment variable of a flag: SALVO_ and the flag name
// upper-cased with '-' replaced by '_'.
func envName(flag string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// label names a Config field in errors: its YAML key, and its flag when
// ptr has one.
func (c *Config) label(key string, ptr any) string {
	for _, f := range c.flags() {
		if f.ptr == ptr {
			return key + " (--" + f.name + ")"
		}
	}
	return key
}

// value adapts a flagDef pointer to flag.Value. A list flag given more
// than once appends; its first occurrence replaces the default.
type value struct {
	ptr any
	set bool
}

// Set parses s into the pointed-to field.
func (v *value) Set(s string) error {
	switch p := v.ptr.(type) {
	case *string:
		*p = s
	case *int:
		n, err := strconv.ParseInt(strings.TrimSpace(s), 0, strconv.IntSize)
		if err != nil {
			return fmt.Errorf("invalid integer %q", s)
		}
		*p = int(n)
	case *int64:
		n, err := strconv.ParseInt(strings.TrimSpace(s), 0, 64)
		if err != nil {
			return fmt.Errorf("invalid integer %q", s)
		}
		*p = n
	case *bool:
		b, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("invalid boolean %q", s)
		}
		*p = b
	case *time.Duration:
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("invalid duration %q (want e.g. 30s, 1m)", s)
		}
		*p = d
	case *DayDuration:
		d, err := ParseDayDuration(s)
		if err != nil {
			return err
		}
		*p = DayDuration(d)
	case *[]string:
		list := splitList(s)
		if v.set {
			*p = append(*p, list...)
		} else {
			*p = list
		}
	default:
		return fmt.Errorf("unsupported flag type %T", v.ptr)
	}
	v.set = true
	return nil
}

// String formats the pointed-to field.
func (v *value) String() string {
	if v == nil || v.ptr == nil {
		return ""
	}
	switch p := v.ptr.(type) {
	case *string:
		return *p
	case *int:
		return strconv.Itoa(*p)
	case *int64:
		return strconv.FormatInt(*p, 10)
	case *bool:
		return strconv.FormatBool(*p)
	case *time.Duration:
		return p.String()
	case *DayDuration:
		return p.String()
	case *[]string:
		return strings.Join(*p, ",")
	}
	return fmt.Sprint(v.ptr)
}

// IsBoolFlag lets a bool flag be given without a value (--pprof).
func (v *value) IsBoolFlag() bool {
	_, ok := v.ptr.(*bool)
	return ok
}

// typeName is the value type shown in the help text.
func (v *value) typeName() string {
	switch v.ptr.(type) {
	case *string:
		return "string"
	case *int, *int64:
		return "int"
	case *bool:
		return "bool"
	case *time.Duration, *DayDuration:
		return "duration"
	case *[]string:
		return "list"
	}
	return "value"
}

// splitList splits a comma-separated list, trimming spaces and dropping
// empty items.
func splitList(s string) []string {
	var out []string
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// copyValue copies *src to *dst; both point to fields of the same type.
func copyValue(dst, src any) {
	reflect.ValueOf(dst).Elem().Set(reflect.ValueOf(src).Elem())
}

// Usage writes the help text of `salvo server`: every flag with its type,
// default and environment variable.
func Usage(w io.Writer) {
	fmt.Fprint(w, "Usage: salvo server [flags]\n\n"+
		"Settings are read from defaults, then the YAML config file, then SALVO_*\n"+
		"environment variables, then flags; later sources win. Named nodeGroups,\n"+
		"commands, aggregations and headerSets are read from the config file only.\n\n"+
		"Flags:\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	def := DefaultConfig()
	for _, f := range def.flags() {
		v := &value{ptr: f.ptr}
		arg := " " + v.typeName()
		if v.IsBoolFlag() {
			arg = ""
		}
		fmt.Fprintf(tw, "  --%s%s\t%s", f.name, arg, f.usage)
		switch s := v.String(); {
		case s == "":
		case v.typeName() == "string":
			fmt.Fprintf(tw, " (default %q)", s)
		default:
			fmt.Fprintf(tw, " (default %s)", s)
		}
		fmt.Fprintf(tw, "\t$%s\n", envName(f.name))
	}
	fmt.Fprintf(tw, "  -h, --help\tshow this help\t\n")
	tw.Flush()
}
