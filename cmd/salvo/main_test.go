package main

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	const general = "salvo: send one command to many hosts"
	goLine := "go:     " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH + "\n"
	tests := []struct {
		name   string
		args   []string
		code   int
		prefix string   // of stdout
		stdout []string // in stdout
		not    []string // not in stdout
		stderr []string // in stderr; none means stderr must be empty
	}{
		{"version", []string{"version"}, 0, "salvo " + version + "\n", []string{"\ncommit: ", "\ndate:   ", goLine}, nil, nil},
		{"--version", []string{"--version"}, 0, "salvo " + version + "\n", []string{goLine}, nil, nil},
		{"version with arguments", []string{"version", "x"}, 2, "", nil, nil, []string{"salvo version: unexpected arguments: x"}},
		{"help", []string{"help"}, 0, general, []string{"salvo help [COMMAND]"}, nil, nil},
		{"--help", []string{"--help"}, 0, general, nil, nil, nil},
		{"help run", []string{"help", "run"}, 0, "usage: salvo run ", []string{"Exit status:", "-targets-file file", "-ssh", "-w nodeset", "-x nodeset", "Nodesets"}, []string{general}, nil},
		{"run bad nodeset", []string{"run", "--server", "http://127.0.0.1:1", "web-1", "-w", "web-[1-"}, 2, "", nil, nil, []string{`salvo run: -w "web-[1-": nodeset "web-[1-": unclosed '[' at offset 4`}},
		{"help run lists expectations", []string{"help", "run"}, 0, "usage: salvo run ", []string{"-expect-status statuses", "-expect-body regex"}, nil, nil},
		{"help server", []string{"help", "server"}, 0, "Usage: salvo server [flags]", []string{"--http-addr", "$SALVO_DATA_DIR"}, []string{general}, nil},
		{"help token", []string{"help", "token"}, 0, "usage: salvo token create ", []string{"-role"}, nil, nil},
		{"help fleet", []string{"help", "fleet"}, 0, "usage: salvo fleet [flags]", []string{"-hosts"}, nil, nil},
		{"help import-rc", []string{"help", "import-rc"}, 0, "usage: salvo import-rc ", []string{"-dry-run"}, nil, nil},
		{"help bench", []string{"help", "bench"}, 0, "usage: salvo bench [flags]", []string{"-targets"}, nil, nil},
		{"help version", []string{"help", "version"}, 0, "usage: salvo version\n", nil, nil, nil},
		{"help help", []string{"help", "help"}, 0, "usage: salvo help [COMMAND]\n", nil, nil, nil},
		{"help nosuch", []string{"help", "nosuch"}, 2, "", nil, nil, []string{`salvo help: unknown command "nosuch"`}},
		{"help two commands", []string{"help", "run", "server"}, 2, "", nil, nil, []string{`want one command, got "run server"`}},
		{"unknown command", []string{"nosuch"}, 2, "", nil, nil, []string{`salvo: unknown command "nosuch"`, general}},
		{"no command", nil, 2, "", nil, nil, []string{general}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tc.args, &stdout, &stderr)
			out, errOut := stdout.String(), stderr.String()
			if code != tc.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, out, errOut)
			}
			if !strings.HasPrefix(out, tc.prefix) {
				t.Errorf("stdout does not start with %q:\n%s", tc.prefix, out)
			}
			if tc.prefix == "" && tc.stdout == nil && out != "" {
				t.Errorf("stdout not empty:\n%s", out)
			}
			for _, s := range tc.stdout {
				if !strings.Contains(out, s) {
					t.Errorf("stdout lacks %q:\n%s", s, out)
				}
			}
			for _, s := range tc.not {
				if strings.Contains(out, s) {
					t.Errorf("stdout has %q:\n%s", s, out)
				}
			}
			if tc.stderr == nil && errOut != "" {
				t.Errorf("stderr not empty:\n%s", errOut)
			}
			for _, s := range tc.stderr {
				if !strings.Contains(errOut, s) {
					t.Errorf("stderr lacks %q:\n%s", s, errOut)
				}
			}
		})
	}
}

// TestCommandHelpFlag: "salvo CMD --help" (and -h) prints what "salvo help
// CMD" prints, on stdout, and exits 0.
func TestCommandHelpFlag(t *testing.T) {
	for _, name := range []string{"server", "run", "token", "fleet", "import-rc", "bench", "version", "help", "jobs", "status", "results", "aggregate", "cancel", "pause", "resume", "rerun", "delete", "completion", "health", "backup", "restore"} {
		for _, flag := range []string{"-h", "--help"} {
			t.Run(name+" "+flag, func(t *testing.T) {
				var want, got, stderr bytes.Buffer
				if code := run([]string{"help", name}, &want, &stderr); code != 0 {
					t.Fatalf("help %s: exit %d: %s", name, code, stderr.String())
				}
				if code := run([]string{name, flag}, &got, &stderr); code != 0 || stderr.Len() > 0 {
					t.Fatalf("%s %s: exit %d: %s", name, flag, code, stderr.String())
				}
				if got.String() != want.String() {
					t.Fatalf("%s %s printed\n%s\nwant\n%s", name, flag, got.String(), want.String())
				}
			})
		}
	}
}

func TestVersionInfo(t *testing.T) {
	goLine := "go:     go1.99.1 " + runtime.GOOS + "/" + runtime.GOARCH + "\n"
	vcs := func(kv ...string) *debug.BuildInfo {
		bi := &debug.BuildInfo{GoVersion: "go1.99.1", Main: debug.Module{Version: "(devel)"}}
		for i := 0; i < len(kv); i += 2 {
			bi.Settings = append(bi.Settings, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return bi
	}
	stamped := vcs("vcs.revision", "feedface", "vcs.time", "2026-01-02T03:04:05Z", "vcs.modified", "true")
	tests := []struct {
		name                  string
		version, commit, date string
		bi                    *debug.BuildInfo
		want                  string
	}{
		{"ldflags win over the VCS stamp", "v1.2.3", "abc123", "2026-02-03T04:05:06Z", stamped,
			"salvo v1.2.3\ncommit: abc123\ndate:   2026-02-03T04:05:06Z\n" + goLine},
		{"VCS stamp of a plain go build", "dev", "", "", stamped,
			"salvo dev\ncommit: feedface (modified)\ndate:   2026-01-02T03:04:05Z (commit time)\n" + goLine},
		{"clean tree", "dev", "", "", vcs("vcs.revision", "feedface", "vcs.modified", "false"),
			"salvo dev\ncommit: feedface\ndate:   unknown\n" + goLine},
		{"module version (go install)", "dev", "", "", &debug.BuildInfo{GoVersion: "go1.99.1", Main: debug.Module{Version: "v0.9.0"}},
			"salvo v0.9.0\ncommit: unknown\ndate:   unknown\n" + goLine},
		{"nothing known", "dev", "", "", vcs(), "salvo dev\ncommit: unknown\ndate:   unknown\n" + goLine},
		{"no build info", "dev", "", "", nil,
			"salvo dev\ncommit: unknown\ndate:   unknown\ngo:     " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH + "\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := versionInfo(tc.version, tc.commit, tc.date, tc.bi); got != tc.want {
				t.Fatalf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

// TestRunExpectFlags checks that salvo run takes --expect-status and
// --expect-body: a bad one is a usage error before anything is sent.
func TestRunExpectFlags(t *testing.T) {
	targets := filepath.Join(t.TempDir(), "targets")
	if err := os.WriteFile(targets, []byte("h1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--expect-status", "2xx,700"}, "--expect-status: status 700 is out of range"},
		{[]string{"--expect-body", "("}, "--expect-body"},
	}
	for _, tc := range tests {
		var stdout, stderr bytes.Buffer
		args := append([]string{"run", "--server", "http://127.0.0.1:1", "--targets-file", targets}, tc.args...)
		if code := run(args, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("salvo %v: exit %d, stderr %q; want 2 and %q", args, code, stderr.String(), tc.want)
		}
	}
}
