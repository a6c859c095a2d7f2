package conf

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/salvo-sh/salvo/job"
)

const fullFile = `# a node with named definitions
name: node-a
httpAddr: 0.0.0.0:9090
dataDir: /var/lib/salvo
capacity: 500
logLevel: debug
logFormat: json
shutdownTimeout: 45s
maxRequestBytes: 1048576
chunkSize: 250
pprof: true
nodeGroups:
  web:
    hosts: [10.0.0.1, 10.0.0.2, "web-3.example.com:8080"]
  db:
    hosts:
      - db-1
commands:
  nginx-version:
    protocol: http
    http:
      method: POST
      path: /status/$ID
      port: 8080
      headers:
        X-Target: $HOST
        Content-Type: application/json
      body: '{"q": 1}'
    vars:
      ID: "7"
    maxConcurrency: 300
    timeouts: {connect: 2s, request: 10s}
    retries: {max: 2, backoff: 250ms}
    aggregation:
      regex: 'version=(\S+)'
  uptime:
    aggregation: {name: version}
  bare:
aggregations:
  version:
    regex: 'version=(\S+)'
headerSets:
  json:
    Content-Type: application/json
    Accept: application/json
`

func TestLoadFullFile(t *testing.T) {
	path := writeFile(t, fullFile)
	cfg, err := Load([]string{"--config", path}, env(nil))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}

	want := DefaultConfig()
	want.ConfigFile = path
	want.Name = "node-a"
	want.HTTPAddr = "0.0.0.0:9090"
	want.DataDir = "/var/lib/salvo"
	want.Capacity = 500
	want.LogLevel = "debug"
	want.LogFormat = "json"
	want.ShutdownTimeout = 45 * time.Second
	want.MaxRequestBytes = 1 << 20
	want.ChunkSize = 250
	want.Pprof = true
	want.NodeGroups = map[string]NodeGroup{
		"web": {Hosts: []string{"10.0.0.1", "10.0.0.2", "web-3.example.com:8080"}},
		"db":  {Hosts: []string{"db-1"}},
	}
	want.Aggregations = map[string]Aggregation{"version": {Regex: `version=(\S+)`}}
	want.HeaderSets = map[string]map[string]string{
		"json": {"Content-Type": "application/json", "Accept": "application/json"},
	}
	want.Commands = map[string]*job.Spec{
		"nginx-version": {
			Protocol: "http",
			HTTP: &job.HTTPSpec{
				Method:  "POST",
				Path:    "/status/$ID",
				Port:    "8080",
				Headers: map[string]string{"X-Target": "$HOST", "Content-Type": "application/json"},
				Body:    `{"q": 1}`,
			},
			Vars:           map[string]string{"ID": "7"},
			MaxConcurrency: 300,
			Timeouts: job.Timeouts{
				Connect: job.Duration(2 * time.Second),
				Request: job.Duration(10 * time.Second),
			},
			Retries:     job.Retries{Max: 2, Backoff: job.Duration(250 * time.Millisecond)},
			Aggregation: &job.Aggregation{Regex: `version=(\S+)`},
		},
		"uptime": {Aggregation: &job.Aggregation{Name: "version"}},
		"bare":   {},
	}

	for name, spec := range want.Commands {
		if !reflect.DeepEqual(cfg.Commands[name], spec) {
			t.Errorf("commands[%s] = %+v, want %+v", name, cfg.Commands[name], spec)
		}
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("config =\n%+v\nwant\n%+v", cfg, want)
	}
}

func TestFileErrors(t *testing.T) {
	tests := []struct {
		name string
		file string
		want []string
	}{
		{"unknown top-level key", "capacity: 5\nhttp_addr: x\n", []string{`line 2: unknown key "http_addr"`}},
		{"unknown node group key", "nodeGroups:\n  web:\n    hosts: [a]\n    host: b\n", []string{`line 4: unknown key "host"`}},
		{"unknown aggregation key", "aggregations:\n  v:\n    regexp: x\n", []string{`line 3: unknown key "regexp"`}},
		{"unknown command field", "commands:\n  deploy:\n    http:\n      methd: GET\n", []string{"line 3", "commands.deploy.http.methd", "unknown field"}},
		{"unknown command top field", "commands:\n  deploy:\n    maxConc: 3\n", []string{"commands.deploy.maxConc", "unknown field"}},
		{"command wrong type", "commands:\n  deploy:\n    maxConcurrency: many\n", []string{"commands.deploy.maxConcurrency"}},
		{"command with targets", "commands:\n  deploy:\n    targets: [a]\n", []string{"commands.deploy", "targets"}},
		{"command with nodeGroup", "commands:\n  deploy:\n    nodeGroup: web\n", []string{"commands.deploy", "nodeGroup"}},
		{"command not a mapping", "commands:\n  deploy: [1, 2]\n", []string{"commands.deploy", "mapping"}},
		{"command bad duration", "commands:\n  deploy:\n    timeouts: {connect: soon}\n", []string{"commands.deploy", "soon"}},
		{"wrong type", "capacity: lots\n", []string{"line 1", "lots"}},
		{"duration as number", "shutdownTimeout: 30\n", []string{"line 1", "30"}},
		{"not a mapping", "- a\n- b\n", []string{"line 1", "!!seq"}},
		{"two documents", "capacity: 5\n---\ncapacity: 6\n", []string{"line 2", "more than one"}},
		{"syntax", "nodeGroups:\n  web: {hosts: [a\n", []string{"line"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, tt.file)
			err := DefaultConfig().loadFile(path)
			if err == nil {
				t.Fatal("loadFile succeeded")
			}
			msg := err.Error()
			if !strings.Contains(msg, path) {
				t.Errorf("error %q does not name the file", msg)
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("error %q spans lines", msg)
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
		})
	}
}

func TestFileKeepsUnsetFields(t *testing.T) {
	tests := []struct {
		name string
		file string
	}{
		{"empty", ""},
		{"comment only", "# nothing\n"},
		{"null document", "~\n"},
		{"one key", "pprof: false\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			if err := cfg.loadFile(writeFile(t, tt.file)); err != nil {
				t.Fatalf("loadFile: %v", err)
			}
			if want := DefaultConfig(); !reflect.DeepEqual(cfg, want) {
				t.Errorf("config = %+v, want defaults %+v", cfg, want)
			}
		})
	}
}
