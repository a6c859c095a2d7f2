package conf

import (
	"os"
	"path/filepath"
	"testing"
)

func TestMemTotalAndBodyMemory(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, text string
		want       int64
		ok         bool
	}{
		{"meminfo", "MemTotal:       24576000 kB\nMemFree: 1 kB\n", 24576000 << 10, true},
		{"no unit", "MemTotal: 12\n", 0, false},
		{"missing", "MemFree: 1 kB\n", 0, false},
		{"garbage", "MemTotal: x kB\n", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, tc.name)
			if err := os.WriteFile(p, []byte(tc.text), 0o644); err != nil {
				t.Fatal(err)
			}
			got, ok := memTotal(p)
			if got != tc.want || ok != tc.ok {
				t.Fatalf("memTotal = %d %v, want %d %v", got, ok, tc.want, tc.ok)
			}
		})
	}
	c := DefaultConfig()
	if got := c.BodyMemoryBytes(); got < autoBodyMemoryMin || got > autoBodyMemoryMax {
		t.Errorf("automatic body memory %d out of [%d, %d]", got, autoBodyMemoryMin, autoBodyMemoryMax)
	}
	c.BodyMemory = 100 << 20
	if got := c.BodyMemoryBytes(); got != 100<<20 {
		t.Errorf("body memory %d, want the configured %d", got, 100<<20)
	}
}
