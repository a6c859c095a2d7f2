package commands

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestGlobMatch(t *testing.T) {
	tests := []struct {
		pat, s string
		want   bool
	}{
		{"*", "", true},
		{"*", "web-1", true},
		{"web-*", "web-1", true},
		{"web-*", "web-", true},
		{"web-*", "db-1", false},
		{"web-?", "web-1", true},
		{"web-?", "web-", false}, // '?' is exactly one character
		{"web-?", "web-12", false},
		{"*.example.com", "a.b.example.com", true},
		{"*.example.com", "example.com", false},
		{"a*b*c", "axxbyyc", true},
		{"a*b*c", "axxbyy", false},
		{"10.0.0.?", "10.0.0.7", true},
		{"h", "h", true},
		{"h", "hh", false},
	}
	for _, tc := range tests {
		if got := globMatch(tc.pat, tc.s); got != tc.want {
			t.Errorf("globMatch(%q, %q) = %v, want %v", tc.pat, tc.s, got, tc.want)
		}
	}
}

func mustParse(t *testing.T, path, src string) *sshClientConfig {
	t.Helper()
	c, err := parseSSHConfig(path, []byte(src))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return c
}

// TestSSHConfigRoute: host patterns (wildcards, negation, several on a
// line), first value wins, Match blocks ignored, every IdentityFile in
// order, tokens, and the job's values over the config's.
func TestSSHConfigRoute(t *testing.T) {
	home, err := os.UserHomeDir()
	if err != nil {
		t.Fatal(err)
	}
	cfg := mustParse(t, "/etc/salvo/ssh/config", `
# a comment
Host web-* !web-special
  HostName 10.0.0.1
  Port 2201
  User webop
  IdentityFile ~/.ssh/web
  IdentityFile keys/web2

Host db-?	cache-*
  HostName %h.internal
  User = dbop
  ProxyJump jump

Match host web-1
  User matched
  Port 9999
  Include /etc/passwd

Host web-special
  HostName 10.0.0.9

Host jump
  HostName 10.0.0.254
  User jumper
  Port 2022

Host pc-*
  ProxyCommand ssh -W %h:%p gw

Host tok-*
  IdentityFile /keys/%r@%n-%p
  ProxyJump gw-%h

Host *
  User fallback
  Port 2200
  HostName never-used-for-web
  IdentityFile /keys/default
`)
	defUser := func() string { return "worker" }
	tests := []struct {
		name      string
		host      string
		user      string
		port      int
		want      hostRoute
		errSubstr string
	}{
		{"wildcard, first value wins", "web-1", "", 0, hostRoute{host: "10.0.0.1", user: "webop", port: 2201,
			keys: []string{filepath.Join(home, ".ssh/web"), "/etc/salvo/ssh/keys/web2", "/keys/default"}}, ""},
		{"the job's user and port win", "web-2", "ops", 22, hostRoute{host: "10.0.0.1", user: "ops", port: 22,
			keys: []string{filepath.Join(home, ".ssh/web"), "/etc/salvo/ssh/keys/web2", "/keys/default"}}, ""},
		{"negated pattern", "web-special", "", 0, hostRoute{host: "10.0.0.9", user: "fallback", port: 2200,
			keys: []string{"/keys/default"}}, ""},
		{"second pattern, %h, ProxyJump", "cache-7", "", 0, hostRoute{host: "cache-7.internal", user: "dbop", port: 2200,
			keys: []string{"/keys/default"}, proxyJump: "jump"}, ""},
		{"? is one character", "db-12", "", 0, hostRoute{host: "never-used-for-web", user: "fallback", port: 2200,
			keys: []string{"/keys/default"}}, ""},
		{"case-insensitive", "WEB-3", "", 0, hostRoute{host: "10.0.0.1", user: "webop", port: 2201,
			keys: []string{filepath.Join(home, ".ssh/web"), "/etc/salvo/ssh/keys/web2", "/keys/default"}}, ""},
		{"tokens", "tok-a", "", 0, hostRoute{host: "never-used-for-web", user: "fallback", port: 2200,
			keys: []string{"/keys/fallback@tok-a-2200", "/keys/default"}, proxyJump: "gw-never-used-for-web"}, ""},
		{"ProxyCommand refused", "pc-1", "", 0, hostRoute{}, "ProxyCommand is not supported"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := cfg.route(tc.host, tc.user, tc.port, defUser)
			if tc.errSubstr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errSubstr) {
					t.Fatalf("error %v, want one with %q", err, tc.errSubstr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.host != tc.want.host || got.user != tc.want.user || got.port != tc.want.port ||
				got.proxyJump != tc.want.proxyJump || !slices.Equal(got.keys, tc.want.keys) {
				t.Fatalf("route(%q) = %+v\nwant %+v", tc.host, got, tc.want)
			}
		})
	}
	// Without a config: the host as written, the fallback user, port 22.
	var none *sshClientConfig
	if got, err := none.route("h", "", 0, defUser); err != nil || got.host != "h" || got.user != "worker" || got.port != 22 || got.keys != nil {
		t.Fatalf("nil config: %+v %v", got, err)
	}
}

func TestParseSSHConfigErrors(t *testing.T) {
	tests := []struct {
		name, src, msg string
	}{
		{"Include", "Host a\n  HostName b\nInclude other.conf\n", "line 3: Include is not supported"},
		{"bad Port", "Host a\n\n Port 70000\n", "line 3: Port \"70000\""},
		{"Port not a number", "Port x\n", "line 1: Port \"x\""},
		{"overlong line", "Host a\n  HostName " + strings.Repeat("x", maxSSHConfigLine) + "\n", "line 2 is longer than"},
		{"bad token", "Host a\n HostName %z\n", ""}, // parses; the token fails the host's route
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseSSHConfig("/c", []byte(tc.src))
			if tc.msg == "" {
				if err != nil {
					t.Fatal(err)
				}
				if _, err := c.route("a", "", 0, func() string { return "u" }); err == nil || !strings.Contains(err.Error(), "token %z is not supported") {
					t.Fatalf("route: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("error %v, want one with %q", err, tc.msg)
			}
		})
	}
	// Match blocks (any criterion) and an Include inside one are ignored.
	c := mustParse(t, "/c", "Match user x exec \"rm -rf /\"\n Include /nope\n User m\nHost *\n User h\n")
	if hc := c.lookup("a"); hc.user != "h" {
		t.Fatalf("user %q, want h (Match block ignored)", hc.user)
	}
}

// TestSSHConfigFileCache: one parse per version of the file on disk; a
// file too large, a missing one or a FIFO give an error, never a hang.
func TestSSHConfigFileCache(t *testing.T) {
	x := NewSSHExecutor(DefaultSSHConfig())
	dir := t.TempDir()
	f := filepath.Join(dir, "config")
	if err := os.WriteFile(f, []byte("Host a\n User one\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c1, err := x.sshConfig(f)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := x.sshConfig(f)
	if err != nil || c2 != c1 {
		t.Fatalf("second read: %p %v, want the cached %p", c2, err, c1)
	}
	if err := os.WriteFile(f, []byte("Host a\n User two\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Minute)
	if err := os.Chtimes(f, later, later); err != nil {
		t.Fatal(err)
	}
	c3, err := x.sshConfig(f)
	if err != nil || c3 == c1 || c3.lookup("a").user != "two" {
		t.Fatalf("after a change: %+v %v", c3, err)
	}

	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, []byte(strings.Repeat("# comment\n", MaxSSHConfigBytes/10+1)), 0o600); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ path, msg string }{
		{big, "larger than 1048576 bytes"},
		{filepath.Join(dir, "nope"), "no such file"},
		{fifo, "not a regular file"},
		{dir, "not a regular file"},
	} {
		if _, err := x.sshConfig(tc.path); err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: %v, want %q", tc.path, err, tc.msg)
		}
	}
}

// FuzzParseSSHConfig: no input makes the parser panic or hang.
func FuzzParseSSHConfig(f *testing.F) {
	for _, s := range []string{
		"Host a b !c\n HostName x\n Port 22\n",
		"Match host a\nHost=b\n\tUser=\"u v\"\n",
		"Host\n", "=\n", "\"\n", "Port", "#\r\n\r", "Host *\nIdentityFile %d/%h\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := parseSSHConfig("/c", b)
		if err == nil {
			_, _ = c.route("host", "", 0, func() string { return "u" })
		}
	})
}

// BenchmarkParseSSHConfigWorst parses a file at the size bound made of the
// longest lines allowed (the parser's cost grows with a line's length).
func BenchmarkParseSSHConfigWorst(b *testing.B) {
	line := "  HostName " + strings.Repeat("x", maxSSHConfigLine-len("  HostName \n")) + "\n"
	src := []byte("Host a\n" + strings.Repeat(line, (MaxSSHConfigBytes-10)/len(line)))
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		if _, err := parseSSHConfig("/c", src); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseSSHConfigTypical parses a 1,000-host config.
func BenchmarkParseSSHConfigTypical(b *testing.B) {
	var sb strings.Builder
	for i := range 1000 {
		fmt.Fprintf(&sb, "Host web-%d\n  HostName 10.0.%d.%d\n  User ops\n  Port 22\n  IdentityFile ~/.ssh/id_ed25519\n\n", i, i/250, i%250)
	}
	src := []byte(sb.String())
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		if _, err := parseSSHConfig("/c", src); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSSHConfigRoute resolves the last host of a 1,000-host config,
// the cost per target of a job with that config.
func BenchmarkSSHConfigRoute(b *testing.B) {
	var sb strings.Builder
	for i := range 1000 {
		fmt.Fprintf(&sb, "Host web-%d\n  HostName 10.0.%d.%d\n  User ops\n\n", i, i/250, i%250)
	}
	sb.WriteString("Host *\n  Port 2222\n  IdentityFile /keys/id\n")
	c, err := parseSSHConfig("/c", []byte(sb.String()))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if r, err := c.route("web-999", "", 0, func() string { return "u" }); err != nil || r.host != "10.0.3.249" {
			b.Fatal(r, err)
		}
	}
}
