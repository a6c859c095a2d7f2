package job

import "testing"

func TestCut(t *testing.T) {
	tests := []struct {
		s    string
		n    int
		want string
	}{
		{"uptime", 10, "uptime"},
		{"uptime", 6, "uptime"},
		{"uptime", 2, "up…"},
		{"héllo", 2, "h…"}, // é is two bytes: not cut in half
		{"héllo", 3, "hé…"},
		{"x", 0, "…"},
	}
	for _, tc := range tests {
		if got := Cut(tc.s, tc.n); got != tc.want {
			t.Errorf("Cut(%q, %d) = %q, want %q", tc.s, tc.n, got, tc.want)
		}
	}
}
