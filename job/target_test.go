package job

import (
	"strings"
	"testing"
)

func TestParseTarget(t *testing.T) {
	tests := []struct {
		in, proto string
		want      Target
		err       string // substring of the error; "" means success
	}{
		{in: "10.0.0.1", proto: "http", want: Target{Host: "10.0.0.1"}},
		{in: "  Web-2.Example.COM:8080 ", proto: "http", want: Target{Host: "web-2.example.com", Port: 8080, HasPort: true}},
		{in: "[::1]", proto: "http", want: Target{Host: "::1"}},
		{in: "[2001:DB8::1]:8443", proto: "http", want: Target{Host: "2001:db8::1", Port: 8443, HasPort: true}},
		{in: "fe80::1", proto: "http", want: Target{Host: "fe80::1"}},
		{in: "https://10.0.0.3:8443/health?x=1#frag", proto: "http",
			want: Target{Scheme: "https", Host: "10.0.0.3", Port: 8443, Path: "/health?x=1", HasPort: true, IsURL: true}},
		{in: "HTTP://Host", proto: "http", want: Target{Scheme: "http", Host: "host", Port: 80, IsURL: true}},
		{in: "https://host?q", proto: "http", want: Target{Scheme: "https", Host: "host", Port: 443, Path: "/?q", IsURL: true}},
		{in: "http://[::1]:81/", proto: "http", want: Target{Scheme: "http", Host: "::1", Port: 81, Path: "/", HasPort: true, IsURL: true}},
		{in: "deploy@db-1:2222", proto: "ssh", want: Target{User: "deploy", Host: "db-1", Port: 2222, HasPort: true}},
		{in: "db-1", proto: "ssh", want: Target{Host: "db-1"}},
		{in: "root@[::1]:22", proto: "ssh", want: Target{User: "root", Host: "::1", Port: 22, HasPort: true}},

		{in: "", proto: "http", err: "empty target"},
		{in: "   ", proto: "http", err: "empty target"},
		{in: "a b", proto: "http", err: "whitespace"},
		{in: "host:0", proto: "http", err: "bad port"},
		{in: "host:65536", proto: "http", err: "bad port"},
		{in: "host:http", proto: "http", err: "bad port"},
		{in: "host:", proto: "http", err: "empty port"},
		{in: "host/path", proto: "http", err: "URL"},
		{in: "ftp://host", proto: "http", err: "scheme"},
		{in: "http://", proto: "http", err: "no host"},
		{in: "http://user:pw@host/", proto: "http", err: "credentials"},
		{in: "http://::1/", proto: "http", err: "brackets"},
		{in: "[::1", proto: "http", err: "']'"},
		{in: "[10.0.0.1]:80", proto: "http", err: "not an IPv6"},
		{in: "[::1]x", proto: "http", err: "unexpected"},
		{in: "user@host", proto: "http", err: "only for ssh"},
		{in: "@host", proto: "ssh", err: "empty user"},
		{in: "https://host/x", proto: "ssh", err: "http protocol"},
		{in: "ho$t", proto: "http", err: "invalid character"},
		{in: strings.Repeat("a", 254), proto: "http", err: "longer"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseTarget(tc.in, tc.proto)
			if tc.err != "" {
				if err == nil {
					t.Fatalf("ParseTarget(%q) = %+v, want error with %q", tc.in, got, tc.err)
				}
				if !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %q does not contain %q", err, tc.err)
				}
				if tc.in != "" && strings.TrimSpace(tc.in) != "" && !strings.Contains(err.Error(), strings.TrimSpace(tc.in)) {
					t.Errorf("error %q does not quote the target", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseTarget(%q): %v", tc.in, err)
			}
			if got != tc.want {
				t.Fatalf("ParseTarget(%q) = %+v, want %+v", tc.in, got, tc.want)
			}
		})
	}
}

func FuzzParseTarget(f *testing.F) {
	for _, s := range []string{"10.0.0.1", "h:80", "[::1]:22", "https://h:8443/p?q", "u@h:2", "fe80::1%eth0", "[fe80::1%25eth0]"} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, s string, ssh bool) {
		proto := ProtocolHTTP
		if ssh {
			proto = ProtocolSSH
		}
		tg, err := ParseTarget(s, proto)
		if err != nil {
			return
		}
		if tg.Host == "" {
			t.Fatalf("ParseTarget(%q) gave an empty host", s)
		}
		if tg.Host != strings.ToLower(tg.Host) {
			t.Fatalf("host %q is not lower case", tg.Host)
		}
		if strings.ContainsAny(tg.Host, " \t\r\n/[]@") {
			t.Fatalf("host %q from %q has a forbidden character", tg.Host, s)
		}
		if (tg.HasPort || tg.IsURL) && (tg.Port < 1 || tg.Port > 65535) {
			t.Fatalf("port %d out of range from %q", tg.Port, s)
		}
		if !tg.HasPort && !tg.IsURL && tg.Port != 0 {
			t.Fatalf("port %d without HasPort from %q", tg.Port, s)
		}
		if tg.IsURL && ssh {
			t.Fatalf("URL target accepted for ssh: %q", s)
		}
		if tg.User != "" && !ssh {
			t.Fatalf("user accepted for http: %q", s)
		}
		// Re-formatting the parsed target parses to the same target.
		var b []byte
		if tg.IsURL {
			b = append(b, tg.Scheme+"://"...)
		}
		if tg.User != "" {
			b = append(b, tg.User+"@"...)
		}
		if tg.HasPort || tg.IsURL {
			b = AppendHostPort(b, tg.Host, tg.Port)
		} else if strings.Contains(tg.Host, ":") {
			b = append(b, "["+tg.Host+"]"...)
		} else {
			b = append(b, tg.Host...)
		}
		b = append(b, tg.Path...)
		again, err := ParseTarget(string(b), proto)
		if err != nil {
			t.Fatalf("re-parse of %q (from %q): %v", b, s, err)
		}
		if tg.IsURL && !tg.HasPort {
			again.HasPort = false
		}
		if again != tg {
			t.Fatalf("re-parse of %q = %+v, want %+v", b, again, tg)
		}
	})
}
