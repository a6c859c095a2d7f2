package job

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func TestPolicy(t *testing.T) {
	tests := []struct {
		name        string
		allow, deny []string
		host        string // checked at submit
		addr        string // and, when set, at dial
		submitErr   string
		dialErr     bool
	}{
		{"default metadata address", nil, DefaultDenyTargets, "169.254.169.254", "", "169.254.0.0/16", false},
		{"link-local is denied too", nil, DefaultDenyTargets, "169.254.1.2", "", "169.254.0.0/16", false},
		{"AWS IPv6 metadata", nil, DefaultDenyTargets, "fd00:ec2::254", "", "fd00:ec2::254/128", false},
		{"ordinary address", nil, DefaultDenyTargets, "10.1.2.3", "10.1.2.3", "", false},
		{"a name resolving to metadata", nil, DefaultDenyTargets, "meta.example", "169.254.169.254", "", true},
		{"denied glob", nil, []string{"*.prod.example"}, "db1.prod.example", "", "*.prod.example", false},
		{"glob does not match", nil, []string{"*.prod.example"}, "db1.dev.example", "10.0.0.1", "", false},
		{"allow CIDR admits its addresses", []string{"10.0.0.0/8"}, nil, "10.9.9.9", "10.9.9.9", "", false},
		{"allow CIDR refuses others", []string{"10.0.0.0/8"}, nil, "192.168.1.1", "", "not in an allowed range", false},
		{"a name passes, its address is checked", []string{"10.0.0.0/8"}, nil, "web.example", "192.168.1.1", "", true},
		{"allow glob admits the name", []string{"*.example"}, nil, "web.example", "192.168.1.1", "", false},
		{"allow glob only refuses other names", []string{"*.example"}, nil, "web.other", "", "not allowed", false},
		{"deny wins over allow", []string{"10.0.0.0/8"}, []string{"10.0.0.5"}, "10.0.0.5", "", "10.0.0.5/32", false},
		{"IPv4-mapped IPv6 at dial", nil, []string{"127.0.0.9/32"}, "x.example", "::ffff:127.0.0.9", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := NewPolicy(tt.allow, tt.deny)
			if err != nil {
				t.Fatal(err)
			}
			err = p.CheckHost(tt.host)
			switch {
			case tt.submitErr == "" && err != nil:
				t.Fatalf("CheckHost(%s): %v", tt.host, err)
			case tt.submitErr != "" && (err == nil || !strings.Contains(err.Error(), tt.submitErr)):
				t.Fatalf("CheckHost(%s) = %v, want an error naming %q", tt.host, err, tt.submitErr)
			}
			if tt.addr == "" {
				return
			}
			err = p.CheckAddr(tt.host, netip.MustParseAddr(tt.addr))
			if (err != nil) != tt.dialErr || (err != nil && !errors.Is(err, ErrPolicy)) {
				t.Errorf("CheckAddr(%s, %s) = %v, want error %v wrapping ErrPolicy", tt.host, tt.addr, err, tt.dialErr)
			}
		})
	}
	if _, err := NewPolicy(nil, []string{"10.0.0.0/33"}); err == nil {
		t.Error("a bad CIDR was accepted")
	}
	if _, err := NewPolicy([]string{"a b"}, nil); err == nil {
		t.Error("a bad rule was accepted")
	}
	var none *Policy
	if none.CheckHost("169.254.169.254") != nil {
		t.Error("a nil policy refused a target")
	}
}
