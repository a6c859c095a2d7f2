package conf

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// env returns a lookupEnv over m (no access to the process environment).
func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

// writeFile writes a config file in a fresh temporary directory.
func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "salvo.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadPrecedence(t *testing.T) {
	// Each field has a distinct value in every source; for every subset of
	// sources the highest one present must win.
	fields := []struct {
		key, flag string // YAML key, flag name
		def       string // default, as get formats it
		file      string // YAML value
		fileWant  string // file value as get formats it
		env, cli  string // canonical values, as get formats them
		get       func(*Config) string
	}{
		{"httpAddr", "http-addr", "127.0.0.1:8080", "127.0.0.1:1001", "127.0.0.1:1001", "127.0.0.1:1002", "127.0.0.1:1003",
			func(c *Config) string { return c.HTTPAddr }},
		{"dataDir", "data-dir", "./salvo-data", "/from/file", "/from/file", "/from/env", "/from/flag",
			func(c *Config) string { return c.DataDir }},
		{"capacity", "capacity", "2500", "10", "10", "20", "30",
			func(c *Config) string { return strconv.Itoa(c.Capacity) }},
		{"chunkSize", "chunk-size", "1000", "11", "11", "22", "33",
			func(c *Config) string { return strconv.Itoa(c.ChunkSize) }},
		{"logLevel", "log-level", "info", "warn", "warn", "error", "debug",
			func(c *Config) string { return c.LogLevel }},
		{"logFormat", "log-format", "text", "json", "json", "text", "json",
			func(c *Config) string { return c.LogFormat }},
		{"shutdownTimeout", "shutdown-timeout", "30s", "1m", "1m0s", "2m0s", "3m0s",
			func(c *Config) string { return c.ShutdownTimeout.String() }},
		{"maxRequestBytes", "max-request-bytes", "67108864", "1000", "1000", "2000", "3000",
			func(c *Config) string { return strconv.FormatInt(c.MaxRequestBytes, 10) }},
		{"pprof", "pprof", "false", "true", "true", "false", "true",
			func(c *Config) string { return strconv.FormatBool(c.Pprof) }},
		{"httpGracefulClose", "http-graceful-close", "false", "true", "true", "false", "true",
			func(c *Config) string { return strconv.FormatBool(c.HTTPGracefulClose) }},
		{"bodyMemory", "body-memory", "0", "134217728", "134217728", "268435456", "536870912",
			func(c *Config) string { return strconv.FormatInt(c.BodyMemory, 10) }},
		{"httpMaxHeaderBytes", "http-max-header-bytes", "65536", "8192", "8192", "16384", "32768",
			func(c *Config) string { return strconv.Itoa(c.HTTPMaxHeaderBytes) }},
	}
	for _, f := range fields {
		for mask := 0; mask < 8; mask++ {
			useFile, useEnv, useFlag := mask&1 != 0, mask&2 != 0, mask&4 != 0
			name := f.key + "/"
			want := f.def
			if useFile {
				name += "file+"
				want = f.fileWant
			}
			if useEnv {
				name += "env+"
				want = f.env
			}
			if useFlag {
				name += "flag+"
				want = f.cli
			}
			t.Run(strings.TrimSuffix(name, "+"), func(t *testing.T) {
				var args []string
				vars := map[string]string{}
				if useFile {
					vars["SALVO_CONFIG"] = writeFile(t, f.key+": "+f.file+"\n")
				}
				if useEnv {
					vars[envName(f.flag)] = f.env
				}
				if useFlag {
					args = append(args, "--"+f.flag+"="+f.cli)
				}
				cfg, err := Load(args, env(vars))
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				if got := f.get(cfg); got != want {
					t.Errorf("%s = %q, want %q", f.key, got, want)
				}
			})
		}
	}
}

func TestLoadConfigFileSource(t *testing.T) {
	fromEnv := writeFile(t, "capacity: 7\n")
	fromFlag := writeFile(t, "capacity: 8\n")
	tests := []struct {
		name     string
		args     []string
		vars     map[string]string
		wantCap  int
		wantFile string
	}{
		{"none", nil, nil, DefaultCapacity, ""},
		{"env", nil, map[string]string{"SALVO_CONFIG": fromEnv}, 7, fromEnv},
		{"flag", []string{"--config", fromFlag}, nil, 8, fromFlag},
		{"flag beats env", []string{"-config=" + fromFlag}, map[string]string{"SALVO_CONFIG": fromEnv}, 8, fromFlag},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Load(tt.args, env(tt.vars))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if cfg.Capacity != tt.wantCap || cfg.ConfigFile != tt.wantFile {
				t.Errorf("capacity %d, file %q; want %d, %q", cfg.Capacity, cfg.ConfigFile, tt.wantCap, tt.wantFile)
			}
		})
	}
}

// --tls-server-name from the config file (tlsServerName), the
// environment (SALVO_TLS_SERVER_NAME) and the flag, in that precedence;
// Load refuses it without the CA it names certificates of.
func TestLoadTLSServerName(t *testing.T) {
	file := writeFile(t, "tlsCert: node.pem\ntlsKey: node.key\ntlsCA: ca.pem\ntlsServerName: file.cluster\n")
	for _, tt := range []struct {
		name string
		args []string
		vars map[string]string
		want string
	}{
		{"file", []string{"--config", file}, nil, "file.cluster"},
		{"env", []string{"--config", file}, map[string]string{"SALVO_TLS_SERVER_NAME": "env.cluster"}, "env.cluster"},
		{"flag", []string{"--config", file, "--tls-server-name", "flag.cluster"}, map[string]string{"SALVO_TLS_SERVER_NAME": "env.cluster"}, "flag.cluster"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Load(tt.args, env(tt.vars))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if cfg.TLSServerName != tt.want {
				t.Errorf("TLSServerName %q, want %q", cfg.TLSServerName, tt.want)
			}
		})
	}
	_, err := Load([]string{"--tls-cert", "node.pem", "--tls-key", "node.key", "--tls-server-name", "salvo.cluster"}, env(nil))
	if err == nil || !strings.Contains(err.Error(), "--tls-server-name needs") {
		t.Errorf("--tls-server-name without --tls-ca: %v, want an error", err)
	}
}

func TestLoadEmptyEnvIgnored(t *testing.T) {
	cfg, err := Load(nil, env(map[string]string{"SALVO_HTTP_ADDR": "", "SALVO_CAPACITY": " "}))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if cfg.HTTPAddr != DefaultHTTPAddr || cfg.Capacity != DefaultCapacity {
		t.Errorf("got %q %d, want defaults", cfg.HTTPAddr, cfg.Capacity)
	}
}

func TestLoadBoolFlagWithoutValue(t *testing.T) {
	cfg, err := Load([]string{"--pprof"}, env(nil))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if !cfg.Pprof {
		t.Error("--pprof did not set Pprof")
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		vars map[string]string
		file string // written to a temp file named by --config when set
		want []string
	}{
		{"bad env int", nil, map[string]string{"SALVO_CAPACITY": "many"}, "", []string{"SALVO_CAPACITY", `"many"`}},
		{"bad env bool", nil, map[string]string{"SALVO_PPROF": "maybe"}, "", []string{"SALVO_PPROF"}},
		{"bad env duration", nil, map[string]string{"SALVO_SHUTDOWN_TIMEOUT": "5"}, "", []string{"SALVO_SHUTDOWN_TIMEOUT"}},
		{"env fails validation", nil, map[string]string{"SALVO_LOG_LEVEL": "loud"}, "", []string{"logLevel", "--log-level", "loud"}},
		{"bad flag int", []string{"--chunk-size=x"}, nil, "", []string{"chunk-size"}},
		{"unknown flag", []string{"--nope"}, nil, "", []string{"nope"}},
		{"positional argument", []string{"extra"}, nil, "", []string{`"extra"`}},
		{"flag fails validation", []string{"--capacity=0"}, nil, "", []string{"capacity", "between 1 and 1000000"}},
		{"missing file", []string{"--config", "/nonexistent/salvo.yaml"}, nil, "", []string{"/nonexistent/salvo.yaml"}},
		{"syntax error", nil, nil, "capacity: 1\nhttpAddr: [\n", []string{"salvo.yaml", "line"}},
		{"unknown key", nil, nil, "capacity: 1\nbogusKey: 2\n", []string{"salvo.yaml", "line 2", "bogusKey"}},
		{"file fails validation", nil, nil, "chunkSize: 0\n", []string{"chunkSize"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if tt.file != "" {
				args = append([]string{"--config", writeFile(t, tt.file)}, args...)
			}
			cfg, err := Load(args, env(tt.vars))
			if err == nil {
				t.Fatalf("Load succeeded: %+v", cfg)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestLoadHelp(t *testing.T) {
	for _, arg := range []string{"-h", "--help", "-help"} {
		t.Run(arg, func(t *testing.T) {
			var out bytes.Buffer
			_, err := load([]string{arg}, env(nil), &out)
			if !errors.Is(err, flag.ErrHelp) {
				t.Fatalf("err = %v, want flag.ErrHelp", err)
			}
			help := out.String()
			for _, f := range DefaultConfig().flags() {
				for _, w := range []string{"--" + f.name + " ", "$" + envName(f.name), f.usage} {
					if !strings.Contains(help, w) {
						t.Errorf("help does not contain %q:\n%s", w, help)
					}
				}
			}
			for _, w := range []string{"SALVO_HTTP_ADDR", "SALVO_DATA_DIR", `(default "127.0.0.1:8080")`, "(default 2500)", "(default 30s)"} {
				if !strings.Contains(help, w) {
					t.Errorf("help does not contain %q:\n%s", w, help)
				}
			}
		})
	}
}

// The advertise addresses come from the file, the environment and flags.
func TestLoadAdvertise(t *testing.T) {
	path := writeFile(t, "roles: [worker]\ninsecureCluster: true\njoin: [10.0.0.1:7946]\nhttpAddr: 0.0.0.0:8080\ngossipAddr: 0.0.0.0:7946\n"+
		"remoteAddr: 0.0.0.0:7947\nadvertiseHTTP: file.example:8080\nadvertiseRemote: file.example:7947\n")
	cfg, err := Load([]string{"--config", path, "--advertise-remote", "flag.example:7947"},
		env(map[string]string{"SALVO_ADVERTISE_GOSSIP": "10.0.0.5:7946"}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.AdvertiseHTTP != "file.example:8080" || cfg.AdvertiseGossip != "10.0.0.5:7946" || cfg.AdvertiseRemote != "flag.example:7947" {
		t.Errorf("advertise http %q, gossip %q, remote %q", cfg.AdvertiseHTTP, cfg.AdvertiseGossip, cfg.AdvertiseRemote)
	}
	if _, err := Load([]string{"--config", path}, env(nil)); err == nil || !strings.Contains(err.Error(), "--advertise-gossip") {
		t.Errorf("a wildcard gossip address without --advertise-gossip: %v", err)
	}
}
