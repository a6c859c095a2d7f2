package nodeset

import (
	"strings"
	"testing"
)

func TestFold(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{"", ""},
		{"db", "db"},
		{"10.0.0.1,10.0.0.2,10.0.0.3,web-01,web-02,web-03,db", "10.0.0.[1-3],db,web-[01-03]"},
		{"web-03,web-01,web-02,web-01", "web-[01-03]"},
		{"n1,n2,n3,n5,n7,n8,n9", "n[1-3,5,7-9]"},
		{"n9,n10,n11", "n[9-11]"},
		{"web-01,web-10,web-02", "web-[01-02,10]"},
		{"web-7,web-007", "web-007,web-7"},
		{"web-5", "web-5"},
		{"web-05", "web-05"},
		{"r1.dc2.example.com,r2.dc2.example.com", "r[1-2].dc2.example.com"},
		{"a1b,a2b,a1c", "a1c,a[1-2]b"},
		{"h0,h1", "h[0-1]"},
		{"x12345678901234567890,x12345678901234567891", "x12345678901234567890,x12345678901234567891"},
		{"10.0.0.1,10.0.1.1", "10.0.[0-1].1"},
		{"10.0.0.1,10.0.0.2,10.0.1.1", "10.0.0.[1-2],10.0.1.1"},
	}
	for _, tc := range tests {
		var hosts []string
		if tc.in != "" {
			hosts = strings.Split(tc.in, ",")
		}
		if got := Fold(hosts); got != tc.want {
			t.Errorf("Fold(%s) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
