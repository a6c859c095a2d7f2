// Package job is salvo's job model: the job spec and its parts, targets and
// their parsing, templates and variable scopes, results, states and error
// classes, field errors, and spec decoding and normalisation. It uses the
// standard library only, so the store, the config and the CLI depend on it
// without pulling in the executors (docs/design.md, "Packages").
package job

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"time"
)

// Protocols a job may use.
const (
	ProtocolHTTP = "http"
	ProtocolSSH  = "ssh"
)

// Result states (docs/design.md §3).
const (
	StateOK        = "ok"
	StateFailed    = "failed"
	StateError     = "error"
	StateTimeout   = "timeout"
	StateSkipped   = "skipped"
	StateCancelled = "cancelled"
)

// ResultStates lists every result state, in display order.
var ResultStates = []string{StateOK, StateFailed, StateError, StateTimeout, StateSkipped, StateCancelled}

// Error classes of a result with no response (docs/design.md §3), and
// ClassExpectation of a failed one.
const (
	ClassDNS            = "dns"
	ClassConnectRefused = "connect_refused"
	ClassConnectTimeout = "connect_timeout"
	ClassReset          = "reset"
	ClassTLS            = "tls"
	ClassTimeout        = "timeout"
	ClassAuth           = "auth"
	ClassHostKeyUnknown = "host_key_unknown" // no key on file for the host
	ClassHostKeyChanged = "host_key_changed" // not the key on file: possible man-in-the-middle
	ClassHostKey        = "host_key"         // other refusals: a revoked key, an unusable known_hosts file
	ClassProtocol       = "protocol"
	ClassTooLarge       = "too_large"
	ClassWorkerLost     = "worker_lost"
	ClassPolicy         = "policy"      // the target policy refused the resolved address
	ClassExpectation    = "expectation" // an answer that missed the job's expect: the result is failed
	ClassOther          = "other"
)

// StateForClass returns the result state of an attempt that failed with
// class: timeout for the timeout classes, error otherwise.
func StateForClass(class string) string {
	if class == ClassTimeout || class == ClassConnectTimeout {
		return StateTimeout
	}
	return StateError
}

// Redacted replaces every secret in a stored job spec.
const Redacted = "<redacted>"

// Spec defaults (docs/design.md §2).
const (
	DefaultMethod         = "GET"
	DefaultScheme         = "http"
	DefaultHTTPPort       = 80
	DefaultHTTPSPort      = 443
	DefaultSSHPort        = 22
	DefaultConnectTimeout = 3 * time.Second
	DefaultRequestTimeout = 15 * time.Second
	DefaultMaxBodyBytes   = 65536
	DefaultMaxConcurrency = 100
	// MaxBodyBytesLimit bounds maxBodyBytes so that a batch of results fits in memory.
	MaxBodyBytesLimit = 16 << 20
)

// Duration is a time.Duration that reads and writes JSON as a Go duration
// string ("3s", "250ms"); a bare number is read as seconds.
type Duration time.Duration

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON reads "3s" or 3 (seconds).
func (d *Duration) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("invalid duration %q", s)
		}
		*d = Duration(v)
		return nil
	}
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("invalid duration %s", b)
	}
	ns := f * float64(time.Second)
	if ns >= math.MaxInt64 || ns <= math.MinInt64 || math.IsNaN(ns) {
		return fmt.Errorf("duration %s is too large", b)
	}
	*d = Duration(ns)
	return nil
}

// Std returns the value as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// Spec is a job: one request template and the targets to send it to
// (docs/design.md §2). Decode it with DecodeSpec and check it with Normalize.
type Spec struct {
	Name      string            `json:"name,omitempty"`
	Targets   []TargetSpec      `json:"targets,omitempty"`
	NodeGroup string            `json:"nodeGroup,omitempty"`
	Protocol  string            `json:"protocol,omitempty"`
	HTTP      *HTTPSpec         `json:"http,omitempty"`
	SSH       *SSHSpec          `json:"ssh,omitempty"`
	Vars      map[string]string `json:"vars,omitempty"`
	// Exclude lists nodesets of targets to leave out (clush -x): a target
	// whose host, as written once expanded, is one of their hosts is not
	// part of the job (expand.go).
	Exclude []string `json:"exclude,omitempty"`
	// MaxConcurrency is the number of requests in flight at once for this
	// job on each worker it runs on.
	MaxConcurrency int `json:"maxConcurrency,omitempty"`
	// MaxWorkers bounds how many workers the job is spread over; 0 means
	// every eligible worker (as REST Commander spread evenly).
	MaxWorkers    int          `json:"maxWorkers,omitempty"`
	RatePerSecond float64      `json:"ratePerSecond,omitempty"`
	Timeouts      Timeouts     `json:"timeouts"`
	Retries       Retries      `json:"retries"`
	FailOver      *bool        `json:"failOver,omitempty"`
	Tags          []string     `json:"tags,omitempty"`
	Strategy      string       `json:"strategy,omitempty"`
	Aggregation   *Aggregation `json:"aggregation,omitempty"`
	// Expect says what a good answer is (expect.go); nil: any HTTP answer
	// and an SSH exit 0 are ok.
	Expect       *Expect `json:"expect,omitempty"`
	MaxBodyBytes int     `json:"maxBodyBytes,omitempty"`
	// Throttle turns the adaptive throttle on or off (default on).
	Throttle *bool `json:"throttle,omitempty"`
	// Rollout, when set, runs the targets in batches with a failure
	// budget (rollout.go, docs/rollouts.md).
	Rollout *Rollout `json:"rollout,omitempty"`
	// Origin records the named definitions a job was built from; it is
	// informational (set by the server, shown by REST Commander's API).
	Origin *Origin `json:"origin,omitempty"`
}

// Origin names the node group and command template a job came from.
type Origin struct {
	NodeGroup string `json:"nodeGroup,omitempty"`
	Command   string `json:"command,omitempty"`
}

// HTTPSpec is the HTTP request template.
type HTTPSpec struct {
	Method             string            `json:"method,omitempty"`
	Scheme             string            `json:"scheme,omitempty"`
	Port               string            `json:"port,omitempty"` // a number or a template such as "$PORT"
	Path               string            `json:"path,omitempty"`
	Headers            map[string]string `json:"headers,omitempty"`
	Body               string            `json:"body,omitempty"`
	InsecureSkipVerify bool              `json:"insecureSkipVerify,omitempty"`
	// RetryNonIdempotent allows retries of POST, PATCH and other
	// non-idempotent methods.
	RetryNonIdempotent bool `json:"retryNonIdempotent,omitempty"`
}

// SSHSpec is the SSH command template (executed by a later issue).
type SSHSpec struct {
	User           string  `json:"user,omitempty"`
	Port           int     `json:"port,omitempty"`
	Command        string  `json:"command,omitempty"`
	Auth           SSHAuth `json:"auth"`
	HostKeyPolicy  string  `json:"hostKeyPolicy,omitempty"`
	KnownHostsFile string  `json:"knownHostsFile,omitempty"`
	Sudo           bool    `json:"sudo,omitempty"`
	ProxyJump      string  `json:"proxyJump,omitempty"`
	// ConfigFile is an OpenSSH client config file on the workers: the
	// targets' HostName, User, Port, IdentityFile and ProxyJump, below
	// the job's own settings (docs/ssh.md, "OpenSSH client config").
	ConfigFile string `json:"configFile,omitempty"`
	// Credential names a credential kept by the server (PUT
	// /api/v1/credentials/NAME): it gives the user when the job has
	// none, the auth, the known_hosts file and the ssh config file. A job
	// with a credential sets none of auth, knownHostsFile and configFile
	// itself.
	Credential string `json:"credential,omitempty"`
}

// SSHAuth holds SSH credentials. Password and Passphrase are secrets.
type SSHAuth struct {
	PrivateKeyFile string `json:"privateKeyFile,omitempty"`
	// PassphraseFile is a file on the worker holding the key's passphrase
	// (its first line); a credential's way of giving one.
	PassphraseFile string `json:"passphraseFile,omitempty"`
	Passphrase     string `json:"passphrase,omitempty"`
	Password       string `json:"password,omitempty"`
	Agent          bool   `json:"agent,omitempty"`
}

// Timeouts bounds each request.
type Timeouts struct {
	Connect Duration `json:"connect,omitempty"`
	Request Duration `json:"request,omitempty"`
}

// Retries says how often a connect error or timeout is retried.
type Retries struct {
	Max     int      `json:"max,omitempty"`
	Backoff Duration `json:"backoff,omitempty"`
}

// Aggregation extracts a value from each response body: group 1 of Regex.
type Aggregation struct {
	Regex string `json:"regex,omitempty"`
	// Name refers to a named aggregation rule (resolved before Normalize).
	Name string `json:"name,omitempty"`
}

// TargetSpec is one entry of a job's target list: a host, host:port, URL or
// [user@]host[:port], with optional per-target variables; a host may be a
// nodeset ("web-[1-3]"), which expands to one target per host, each with
// the vars (expand.go). In JSON it is a string or {"host": "...", "vars":
// {...}}.
type TargetSpec struct {
	Host string            `json:"host"`
	Vars map[string]string `json:"vars,omitempty"`
}

// UnmarshalJSON accepts a string or an object.
func (t *TargetSpec) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if h, ok := unquotePlain(b); ok {
		t.Host, t.Vars = h, nil
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		t.Vars = nil
		return json.Unmarshal(b, &t.Host)
	}
	type plain TargetSpec
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*t = TargetSpec(p)
	return nil
}

// MarshalJSON writes a target without vars as a plain string.
func (t TargetSpec) MarshalJSON() ([]byte, error) {
	return t.AppendJSON(nil)
}

// IndexedTarget is a target with its position in the job's target list.
type IndexedTarget struct {
	Index  int        `json:"i"`
	Target TargetSpec `json:"t"`
}

// FieldError is a spec error that names the offending field, for the
// API's {"error", "field"} body.
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Msg
	}
	return e.Field + ": " + e.Msg
}

// Result is the outcome of one target (docs/design.md §3).
type Result struct {
	Index      int       `json:"index"`
	Host       string    `json:"host"`
	Target     string    `json:"target"`
	State      string    `json:"state"`
	StatusCode int       `json:"statusCode,omitempty"`
	ExitCode   *int      `json:"exitCode"`
	LatencyMs  float64   `json:"latencyMs"`
	Body       string    `json:"body"`
	Stderr     string    `json:"stderr"`
	BodyBytes  int64     `json:"bodyBytes"`
	Truncated  bool      `json:"truncated"`
	Error      string    `json:"error"`
	ErrorClass string    `json:"errorClass"`
	Attempts   int       `json:"attempts"`
	Worker     string    `json:"worker"`
	Value      string    `json:"value"`
	StartedAt  time.Time `json:"startedAt"`
	FinishedAt time.Time `json:"finishedAt"`

	// ConnectMs is, for an SSH command that started, the time to connect,
	// authenticate and open the session; 0 otherwise. It is the adaptive
	// throttle's latency signal for SSH, whose LatencyMs includes the
	// command's own run time. It is neither stored nor sent between nodes.
	ConnectMs float64 `json:"-"`
}
