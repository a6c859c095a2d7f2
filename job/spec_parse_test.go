package job

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func decodeNormalize(t *testing.T, js string, capacity int) (*Spec, error) {
	t.Helper()
	s, err := DecodeSpec(strings.NewReader(js))
	if err != nil {
		return nil, err
	}
	return s, s.Normalize(capacity)
}

func TestDecodeSpecFieldErrors(t *testing.T) {
	tests := []struct {
		name, js, field, msg string
	}{
		{"unknown top", `{"targets":["a"],"bogus":1}`, "bogus", "unknown field"},
		{"unknown nested", `{"targets":["a"],"http":{"methd":"GET"}}`, "http.methd", "unknown field"},
		{"unknown target field", `{"targets":["a",{"hots":"b"}]}`, "targets[1].hots", "unknown field"},
		{"case matters", `{"Targets":["a"]}`, "Targets", "unknown field"},
		{"bad duration", `{"targets":["a"],"timeouts":{"connect":"3 parsecs"}}`, "timeouts.connect", "invalid duration"},
		{"duration type", `{"targets":["a"],"timeouts":{"request":true}}`, "timeouts.request", "duration"},
		{"int type", `{"targets":["a"],"maxConcurrency":"many"}`, "maxConcurrency", "integer"},
		{"int fraction", `{"targets":["a"],"maxConcurrency":1.5}`, "maxConcurrency", "integer"},
		{"bool type", `{"targets":["a"],"failOver":"yes"}`, "failOver", "true or false"},
		{"header value type", `{"targets":["a"],"http":{"headers":{"X-A":1}}}`, "http.headers.X-A", "string"},
		{"target type", `{"targets":[1]}`, "targets[0]", "string or an object"},
		{"target vars type", `{"targets":[{"host":"a","vars":{"X":2}}]}`, "targets[0].vars.X", "string"},
		{"targets not array", `{"targets":"a"}`, "targets", "array"},
		{"http not object", `{"targets":["a"],"http":[]}`, "http", "object"},
		{"port float", `{"targets":["a"],"http":{"port":80.5}}`, "http.port", "port"},
		{"not object", `["a"]`, "", "object"},
		{"syntax", `{"targets":`, "", "invalid JSON"},
		{"trailing", `{"targets":["a"]} {}`, "", "after the job spec"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeSpec(strings.NewReader(tc.js))
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("DecodeSpec error = %v (%T), want *FieldError", err, err)
			}
			if fe.Field != tc.field || !strings.Contains(fe.Msg, tc.msg) {
				t.Fatalf("got field %q msg %q, want field %q msg containing %q", fe.Field, fe.Msg, tc.field, tc.msg)
			}
		})
	}
}

func TestDecodeSpecFull(t *testing.T) {
	js := `{
	  "name": "nginx-version",
	  "targets": ["10.0.0.1", "web-2.example.com:8080", "https://10.0.0.3:8443/health",
	              {"host": "10.0.0.4", "vars": {"ID": "4"}}],
	  "protocol": "http",
	  "http": {"method": "GET", "scheme": "http", "port": 80, "path": "/status/${ID}",
	           "headers": {"X-Target": "$HOST"}, "body": "", "insecureSkipVerify": false},
	  "vars": {"ENV": "prod", "ID": "0"},
	  "maxConcurrency": 500, "ratePerSecond": 0,
	  "timeouts": {"connect": "3s", "request": 15},
	  "retries": {"max": 1, "backoff": "200ms"},
	  "failOver": true, "tags": ["dc1"], "strategy": "resource-aware",
	  "aggregation": {"regex": "version=(\\S+)"},
	  "maxBodyBytes": 65536
	}`
	s, err := decodeNormalize(t, js, 2500)
	if err != nil {
		t.Fatalf("decode+normalize: %v", err)
	}
	if s.HTTP.Port != "80" || s.Timeouts.Request.Std() != 15*time.Second || s.Targets[3].Vars["ID"] != "4" {
		t.Fatalf("decoded wrongly: %+v %+v", s.HTTP, s.Timeouts)
	}
	// A normalized spec survives a JSON round trip.
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := decodeNormalize(t, string(b), 2500)
	if err != nil {
		t.Fatalf("round trip of %s: %v", b, err)
	}
	b2, _ := json.Marshal(s2)
	if string(b) != string(b2) {
		t.Fatalf("round trip changed the spec:\n%s\n%s", b, b2)
	}
}

func TestNormalizeDefaults(t *testing.T) {
	tests := []struct {
		name     string
		js       string
		capacity int
		check    func(*Spec) string
	}{
		{"http defaults", `{"targets":["a"]}`, 2500, func(s *Spec) string {
			switch {
			case s.Protocol != ProtocolHTTP, s.HTTP.Method != "GET", s.HTTP.Scheme != "http", s.HTTP.Port != "80", s.HTTP.Path != "/":
				return "http defaults"
			case s.Timeouts.Connect.Std() != 3*time.Second, s.Timeouts.Request.Std() != 15*time.Second:
				return "timeouts"
			case s.MaxBodyBytes != DefaultMaxBodyBytes, s.MaxConcurrency != DefaultMaxConcurrency:
				return "limits"
			case s.FailOver == nil || !*s.FailOver, s.Throttle == nil || !*s.Throttle:
				return "failOver/throttle"
			case s.Retries.Max != 0, s.Strategy != DefaultStrategy:
				return "retries/strategy"
			}
			return ""
		}},
		{"https port", `{"targets":["a"],"http":{"scheme":"HTTPS","method":"post"}}`, 2500, func(s *Spec) string {
			if s.HTTP.Port != "443" || s.HTTP.Scheme != "https" || s.HTTP.Method != "POST" {
				return "https defaults"
			}
			return ""
		}},
		{"ssh defaults", `{"targets":["u@a"],"protocol":"ssh","ssh":{"command":"uptime"}}`, 2500, func(s *Spec) string {
			if s.SSH.Port != 22 || s.SSH.HostKeyPolicy != "strict" {
				return "ssh defaults"
			}
			return ""
		}},
		{"concurrency capped", `{"targets":["a"]}`, 40, func(s *Spec) string {
			if s.MaxConcurrency != 40 {
				return "maxConcurrency not capped to capacity"
			}
			return ""
		}},
		{"explicit kept", `{"targets":["a"],"failOver":false,"throttle":false,"maxConcurrency":7,"retries":{"max":2}}`, 2500, func(s *Spec) string {
			if *s.FailOver || *s.Throttle || s.MaxConcurrency != 7 || s.Retries.Backoff.Std() != DefaultRetryBackoff {
				return "explicit values"
			}
			return ""
		}},
		{"NA target skips var check", `{"targets":[{"host":"a","vars":{"ID":"1"}},{"host":"b","vars":{"X":"NA"}}],"http":{"path":"/$ID"}}`, 2500, func(s *Spec) string { return "" }},
		{"port template", `{"targets":[{"host":"a","vars":{"P":"8081"}},"b:9000","http://c/"],"http":{"port":"$P"}}`, 2500, func(s *Spec) string { return "" }},
		{"origin", `{"targets":["a"],"origin":{"nodeGroup":"web","command":"ver"}}`, 2500, func(s *Spec) string {
			if s.Origin == nil || s.Origin.NodeGroup != "web" || s.Redacted().Origin == s.Origin {
				return "origin not decoded or not deep-copied"
			}
			return ""
		}},
		{"capacity unknown", `{"targets":["a"],"maxConcurrency":100000}`, 0, func(s *Spec) string { return "" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := decodeNormalize(t, tc.js, tc.capacity)
			if err != nil {
				t.Fatalf("normalize: %v", err)
			}
			if msg := tc.check(s); msg != "" {
				t.Fatalf("%s: %+v", msg, s)
			}
		})
	}
}

func TestNormalizeErrors(t *testing.T) {
	tests := []struct {
		name, js, field string
		msg             []string
	}{
		{"protocol", `{"targets":["a"],"protocol":"ftp"}`, "protocol", []string{"ftp"}},
		{"ssh no command", `{"targets":["a"],"protocol":"ssh"}`, "ssh.command", nil},
		{"ssh bad port", `{"targets":["a"],"protocol":"ssh","ssh":{"command":"x","port":70000}}`, "ssh.port", nil},
		{"ssh policy", `{"targets":["a"],"protocol":"ssh","ssh":{"command":"x","hostKeyPolicy":"yolo"}}`, "ssh.hostKeyPolicy", nil},
		{"method", `{"targets":["a"],"http":{"method":"GE T"}}`, "http.method", nil},
		{"method connect", `{"targets":["a"],"http":{"method":"CONNECT"}}`, "http.method", nil},
		{"scheme", `{"targets":["a"],"http":{"scheme":"gopher"}}`, "http.scheme", nil},
		{"no targets", `{}`, "targets", []string{"no targets"}},
		{"empty targets", `{"targets":[]}`, "targets", nil},
		{"both", `{"targets":["a"],"nodeGroup":"web"}`, "targets", []string{"exactly one"}},
		{"node group unresolved", `{"nodeGroup":"web"}`, "nodeGroup", []string{"not resolved"}},
		{"concurrency negative", `{"targets":["a"],"maxConcurrency":-1}`, "maxConcurrency", nil},
		{"concurrency above capacity", `{"targets":["a"],"maxConcurrency":3000}`, "maxConcurrency", []string{"2500"}},
		{"rate", `{"targets":["a"],"ratePerSecond":-1}`, "ratePerSecond", nil},
		{"retries", `{"targets":["a"],"retries":{"max":-1}}`, "retries.max", nil},
		{"retries too many", `{"targets":["a"],"retries":{"max":11}}`, "retries.max", nil},
		{"backoff", `{"targets":["a"],"retries":{"backoff":"-1s"}}`, "retries.backoff", nil},
		{"connect timeout", `{"targets":["a"],"timeouts":{"connect":"-1s"}}`, "timeouts.connect", nil},
		{"request timeout", `{"targets":["a"],"timeouts":{"request":-2}}`, "timeouts.request", nil},
		{"max body", `{"targets":["a"],"maxBodyBytes":99999999}`, "maxBodyBytes", nil},
		{"max body negative", `{"targets":["a"],"maxBodyBytes":-1}`, "maxBodyBytes", nil},
		{"max body huge", `{"targets":["a"],"maxBodyBytes":1000000000000}`, "maxBodyBytes", []string{"out of range", "16777216"}},
		{"concurrency huge", `{"targets":["a"],"maxConcurrency":2147483648}`, "maxConcurrency", []string{"out of range", "capacity"}},
		{"concurrency not an integer", `{"targets":["a"],"maxConcurrency":1.5}`, "maxConcurrency", []string{"must be an integer"}},
		{"request timeout seconds", `{"targets":["a"],"timeouts":{"request":5000000000}}`, "timeouts.request", []string{"limit 24h0m0s"}},
		{"request timeout hours", `{"targets":["a"],"timeouts":{"request":"1000h"}}`, "timeouts.request", []string{"limit"}},
		{"request timeout overflow", `{"targets":["a"],"timeouts":{"request":1e300}}`, "timeouts.request", []string{"too large"}},
		{"connect timeout", `{"targets":["a"],"timeouts":{"connect":"6m"}}`, "timeouts.connect", []string{"limit 5m0s"}},
		{"backoff huge", `{"targets":["a"],"retries":{"max":1,"backoff":"2h"}}`, "retries.backoff", []string{"limit"}},
		{"strategy", `{"targets":["a"],"strategy":"random"}`, "strategy", nil},
		{"bad target", `{"targets":["a","b c"]}`, "targets[1]", []string{`"b c"`}},
		{"bad target port", `{"targets":["a:99999"]}`, "targets[0]", []string{"a:99999"}},
		{"regex", `{"targets":["a"],"aggregation":{"regex":"("}}`, "aggregation.regex", nil},
		{"regex no group", `{"targets":["a"],"aggregation":{"regex":"abc"}}`, "aggregation.regex", []string{"group"}},
		{"aggregation unresolved", `{"targets":["a"],"aggregation":{"name":"ver"}}`, "aggregation.name", nil},
		{"header name", `{"targets":["a"],"http":{"headers":{"Bad Header":"x"}}}`, "http.headers", []string{"Bad Header"}},
		{"header value", `{"targets":["a"],"http":{"headers":{"X-A":"a\r\nB: c"}}}`, "http.headers", nil},
		{"body with GET", `{"targets":["a"],"http":{"body":"x"}}`, "http.body", nil},
		{"port static", `{"targets":["a"],"http":{"port":0}}`, "http.port", nil},
		{"port string", `{"targets":["a"],"http":{"port":"eighty"}}`, "http.port", nil},
		{"port template value", `{"targets":[{"host":"a","vars":{"P":"81"}},{"host":"b","vars":{"P":"x"}}],"http":{"port":"$P"}}`, "http.port", []string{"target 1", `"b"`}},
		{"undefined in path", `{"targets":[{"host":"a","vars":{"ID":"1"}},{"host":"b"}],"http":{"path":"/s/${ID}"}}`, "http.path", []string{"$ID", "target 1", `"b"`, "write $$ for a literal $"}},
		{"shell name undefined in http", `{"targets":["a"],"http":{"path":"/$HOME"}}`, "http.path", []string{"$HOME", "define it in vars or the target's vars", "write $$ for a literal $"}},
		{"undefined in header", `{"targets":["a"],"http":{"headers":{"X-T":"$TOKEN"}}}`, "http.headers", []string{"$TOKEN", "target 0", `"a"`}},
		{"undefined in body", `{"targets":["a"],"http":{"method":"POST","body":"{\"env\":\"$ENV\"}"}}`, "http.body", []string{"$ENV"}},
		{"undefined in port", `{"targets":["a"],"http":{"port":"$P"}}`, "http.port", []string{"$P"}},
		{"ssh var of some targets only", `{"targets":["a",{"host":"b","vars":{"MSG":"hi"}}],"protocol":"ssh","ssh":{"command":"echo $MSG"}}`, "ssh.command", []string{"$MSG", "target 0", `"a"`, "other targets", "$$MSG"}},
		{"ssh var of some targets only, braced", `{"targets":[{"host":"a","vars":{"D":"/x"}},"b"],"protocol":"ssh","ssh":{"command":"ls ${D}"}}`, "ssh.command", []string{"$D", "target 1", `"b"`}},
		{"reserved job var", `{"targets":["a"],"vars":{"SALVO_HOST":"x"}}`, "vars", []string{"SALVO_HOST", "built-in"}},
		{"reserved target var", `{"targets":[{"host":"a","vars":{"SALVO_INDEX":"1"}}]}`, "targets[0].vars", []string{"SALVO_INDEX", "built-in"}},
		{"bad var name", `{"targets":["a"],"vars":{"1X":"a"}}`, "vars", nil},
		{"bad target var name", `{"targets":[{"host":"a","vars":{"a-b":"1"}}]}`, "targets[0].vars", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeNormalize(t, tc.js, 2500)
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error = %v (%T), want *FieldError on %q", err, err, tc.field)
			}
			if fe.Field != tc.field {
				t.Fatalf("field = %q (%s), want %q", fe.Field, fe.Msg, tc.field)
			}
			for _, m := range tc.msg {
				if !strings.Contains(fe.Msg, m) {
					t.Errorf("message %q does not contain %q", fe.Msg, m)
				}
			}
		})
	}
}

// TestNormalizeSSHShellVars: in ssh.command, the names nobody defines are
// the remote shell's and pass the check.
func TestNormalizeSSHShellVars(t *testing.T) {
	for _, js := range []string{
		`{"targets":["a","b"],"protocol":"ssh","ssh":{"command":"echo $HOME ${RANDOM} $1 $?; for f in *; do echo $f; done"}}`,
		`{"targets":["a",{"host":"b","vars":{"MSG":"x"}}],"vars":{"MSG":"default"},"protocol":"ssh","ssh":{"command":"echo $MSG $HOME"}}`,
		`{"targets":[{"host":"a","vars":{"MSG":"1"}},{"host":"b","vars":{"MSG":"2"}}],"protocol":"ssh","ssh":{"command":"echo $MSG $HOME"}}`,
		`{"targets":["a"],"protocol":"ssh","ssh":{"command":"echo $HOST ${SALVO_HOST} $SALVO_PORT ${SALVO_INDEX} $$MSG"}}`,
		// A skipped target (a var set to NA) defines MSG, and so makes it
		// salvo's, but is not checked itself.
		`{"targets":[{"host":"a","vars":{"MSG":"1"}},{"host":"b","vars":{"MSG":"NA"}}],"protocol":"ssh","ssh":{"command":"echo $MSG"}}`,
	} {
		if _, err := decodeNormalize(t, js, 2500); err != nil {
			t.Errorf("normalize %s: %v", js, err)
		}
	}
}

func TestSpecWarnings(t *testing.T) {
	tests := []struct {
		name, js string
		want     []string // substrings, one warning each
	}{
		{"host", `{"targets":["a"],"protocol":"ssh","ssh":{"command":"echo $HOST ${HOST} $HOME"}}`,
			[]string{"ssh.command: $HOST is salvo's built-in (the target's host), not the remote shell's; write ${SALVO_HOST} for salvo's or $$HOST for the shell's"}},
		{"host and port", `{"targets":["a"],"protocol":"ssh","ssh":{"command":"echo $PORT $HOST"}}`,
			[]string{"$PORT is salvo's built-in (the target's SSH port)", "$HOST"}},
		{"index is no shell variable", `{"targets":["a"],"protocol":"ssh","ssh":{"command":"echo $INDEX"}}`, nil},
		{"long names", `{"targets":["a"],"protocol":"ssh","ssh":{"command":"echo ${SALVO_HOST} $SALVO_PORT $$HOST"}}`, nil},
		{"a job var of that name", `{"targets":["a"],"vars":{"HOST":"x"},"protocol":"ssh","ssh":{"command":"echo $HOST"}}`, nil},
		{"http", `{"targets":["a"],"http":{"headers":{"X-Host":"$HOST"}}}`, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := decodeNormalize(t, tc.js, 2500)
			if err != nil {
				t.Fatal(err)
			}
			got := s.Warnings()
			if len(got) != len(tc.want) {
				t.Fatalf("warnings %q, want %d", got, len(tc.want))
			}
			for i, w := range tc.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("warning %q does not contain %q", got[i], w)
				}
			}
		})
	}
}

func TestNormalizeDefinedVars(t *testing.T) {
	// Every reference is defined by a built-in, a job var or each target.
	js := `{"targets":[{"host":"a","vars":{"ID":"1"}},{"host":"b:81","vars":{"ID":"2","ENV":"x"}}],
	  "vars":{"ENV":"prod"},
	  "http":{"method":"PUT","path":"/$HOST/$PORT/$INDEX/${ID}","headers":{"X-Env":"$ENV"},"body":"$ID"}}`
	if _, err := decodeNormalize(t, js, 2500); err != nil {
		t.Fatalf("normalize: %v", err)
	}
}

func TestRedacted(t *testing.T) {
	s := &Spec{
		Targets: []TargetSpec{{Host: "a", Vars: map[string]string{"TOKEN": "t1"}}},
		HTTP: &HTTPSpec{Headers: map[string]string{
			"Authorization": "Bearer x", "proxy-authorization": "p", "Cookie": "c", "X-Api-Key": "k",
			"X-Auth-Token": "t", "X-Client-Secret": "s", "X-Password": "p", "X-Signing-KEY": "k",
			"Accept": "text/plain", "X-Empty-Token": "",
		}},
		SSH:  &SSHSpec{Command: "uptime", Auth: SSHAuth{Password: "pw", Passphrase: "pp", PrivateKeyFile: "/k"}},
		Vars: map[string]string{"API_TOKEN": "v", "ENV": "prod"},
	}
	r := s.Redacted()
	secret := []string{"Authorization", "proxy-authorization", "Cookie", "X-Api-Key", "X-Auth-Token", "X-Client-Secret", "X-Password", "X-Signing-KEY"}
	for _, h := range secret {
		if r.HTTP.Headers[h] != Redacted {
			t.Errorf("header %s = %q, want redacted", h, r.HTTP.Headers[h])
		}
	}
	if r.HTTP.Headers["Accept"] != "text/plain" || r.HTTP.Headers["X-Empty-Token"] != "" {
		t.Errorf("non-secret or empty header changed: %q", r.HTTP.Headers)
	}
	if r.SSH.Auth.Password != Redacted || r.SSH.Auth.Passphrase != Redacted || r.SSH.Auth.PrivateKeyFile != "/k" {
		t.Errorf("ssh auth = %+v", r.SSH.Auth)
	}
	if r.Vars["API_TOKEN"] != Redacted || r.Vars["ENV"] != "prod" {
		t.Errorf("vars = %q", r.Vars)
	}
	if r.Targets[0].Vars["TOKEN"] != "t1" {
		t.Errorf("target vars must be kept: %q", r.Targets[0].Vars)
	}
	// The original is untouched (deep copy).
	if s.HTTP.Headers["Authorization"] != "Bearer x" || s.SSH.Auth.Password != "pw" || s.Vars["API_TOKEN"] != "v" {
		t.Errorf("Redacted changed the original")
	}
	r.Targets[0].Vars["TOKEN"] = "changed"
	if s.Targets[0].Vars["TOKEN"] != "t1" {
		t.Errorf("target vars are shared with the copy")
	}
	if (*Spec)(nil).Redacted() != nil {
		t.Errorf("nil.Redacted() != nil")
	}
}

func TestResolveNodeGroup(t *testing.T) {
	s := &Spec{NodeGroup: "web"}
	s.ResolveNodeGroup([]string{"a", "b"})
	if err := s.Normalize(100); err != nil {
		t.Fatalf("normalize after resolve: %v", err)
	}
	if len(s.Targets) != 2 || s.NodeGroup != "" {
		t.Fatalf("targets %v nodeGroup %q", s.Targets, s.NodeGroup)
	}
}

func BenchmarkDecodeNormalize100k(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(`{"targets":[`)
	for i := 0; i < 100000; i++ {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"host":"10.%d.%d.%d","vars":{"ID":"%d"}}`, i>>16, (i>>8)&255, i&255, i)
	}
	sb.WriteString(`],"http":{"path":"/status/${ID}","headers":{"X-Target":"$HOST"}}}`)
	js := sb.String()
	b.ReportAllocs()
	for b.Loop() {
		s, err := DecodeSpec(strings.NewReader(js))
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Normalize(2500); err != nil {
			b.Fatal(err)
		}
	}
}
