package deploy_test

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// unit is a systemd unit file: its keys per section, each with its values
// in order (a key may repeat).
type unit map[string]map[string][]string

// get is the last value of key in section, as systemd reads it.
func (u unit) get(section, key string) (string, bool) {
	v := u[section][key]
	if len(v) == 0 {
		return "", false
	}
	return v[len(v)-1], true
}

// parseUnit reads a unit file: sections, key=value lines, comments, and
// lines continued with a trailing backslash.
func parseUnit(t *testing.T, path string) unit {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("open unit: %v", err)
	}
	defer f.Close()
	u := unit{}
	section, pending := "", ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if pending == "" && (line == "" || line[0] == '#' || line[0] == ';') {
			continue
		}
		if strings.HasSuffix(line, `\`) {
			pending += strings.TrimSuffix(line, `\`) + " "
			continue
		}
		line, pending = pending+line, ""
		if strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]") {
			section = line[1 : len(line)-1]
			if u[section] == nil {
				u[section] = map[string][]string{}
			}
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || section == "" {
			t.Fatalf("%s:%d: not a key=value line in a section: %q", path, n, line)
		}
		k = strings.TrimSpace(k)
		u[section][k] = append(u[section][k], strings.TrimSpace(v))
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("read unit: %v", err)
	}
	return u
}

// TestSystemdUnits checks what docs/operations.md promises of the units:
// a dedicated user, enough descriptors, a state directory, a drain that
// fits in the stop timeout, the hardening. deploy/systemd/verify.sh runs
// systemd-analyze verify on them where it is installed (make lint).
func TestSystemdUnits(t *testing.T) {
	common := map[string]string{
		"Service.LimitNOFILE":             "1048576",
		"Service.ProtectSystem":           "strict",
		"Service.ProtectHome":             "read-only",
		"Service.PrivateTmp":              "yes",
		"Service.NoNewPrivileges":         "yes",
		"Service.ProtectKernelTunables":   "yes",
		"Service.ProtectControlGroups":    "yes",
		"Service.LockPersonality":         "yes",
		"Service.MemoryDenyWriteExecute":  "yes",
		"Service.SystemCallFilter":        "@system-service",
		"Service.CapabilityBoundingSet":   "",
		"Service.AmbientCapabilities":     "",
		"Service.RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX AF_NETLINK",
		"Service.Restart":                 "on-failure",
		"Service.KillSignal":              "SIGTERM",
		"Service.TimeoutStopSec":          "90s", // above --shutdown-timeout's 30s
		"Service.User":                    "salvo",
		"Install.WantedBy":                "multi-user.target",
	}
	for _, tc := range []struct {
		file      string
		want      map[string]string
		execStart string // ExecStart contains it
	}{
		{"salvo.service", map[string]string{
			"Service.StateDirectory":  "salvo",
			"Service.Environment":     "SALVO_DATA_DIR=%S/salvo",
			"Service.EnvironmentFile": "-/etc/salvo/salvo.env",
		}, "/usr/local/bin/salvo server"},
		{"salvo-worker@.service", map[string]string{
			"Service.StateDirectory":  "salvo/worker-%i",
			"Service.EnvironmentFile": "/etc/salvo/worker.env",
		}, `exec /usr/local/bin/salvo server --roles worker --name "%H-%i"`},
	} {
		t.Run(tc.file, func(t *testing.T) {
			u := parseUnit(t, filepath.Join("systemd", tc.file))
			check := func(key, want string) {
				section, k, _ := strings.Cut(key, ".")
				got, ok := u.get(section, k)
				if !ok {
					t.Errorf("%s: no %s= in [%s]", tc.file, k, section)
				} else if got != want {
					t.Errorf("%s: %s=%s, want %s=%s", tc.file, k, got, k, want)
				}
			}
			for k, v := range common {
				check(k, v)
			}
			for k, v := range tc.want {
				check(k, v)
			}
			if _, dyn := u.get("Service", "DynamicUser"); dyn {
				t.Errorf("%s: DynamicUser= beside User=salvo (the units use the static user of salvo.sysusers)", tc.file)
			}
			if got, _ := u.get("Service", "ExecStart"); !strings.Contains(got, tc.execStart) {
				t.Errorf("%s: ExecStart=%s, want it to run %q", tc.file, got, tc.execStart)
			}
		})
	}
	// The user the units run as is the one salvo.sysusers makes.
	b, err := os.ReadFile(filepath.Join("systemd", "salvo.sysusers"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "\nu salvo ") {
		t.Errorf("salvo.sysusers makes no user salvo:\n%s", b)
	}
}
