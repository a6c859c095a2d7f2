package procstat

import (
	"os"
	"testing"
	"time"
)

// A sampler reads this process: resident memory and descriptors it holds,
// and CPU it burns.
func TestSampler(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	f, err := os.Open("/proc/self/stat") // one more descriptor to count
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := Start(20 * time.Millisecond)
	defer s.Stop()
	deadline := time.Now().Add(5 * time.Second)
	x := 0
	for {
		for i := range 1_000_000 { // CPU for the sampler to see
			x += i % 7
		}
		u := s.Latest()
		if u.RSSBytes > 1<<20 && u.OpenFDs >= 1 && u.CPUPercent > 0 {
			if u.CPUPercent > 100*float64(64) {
				t.Errorf("CPU %v%%", u.CPUPercent)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("usage after 5 s: %+v (x %d)", u, x)
		}
	}
}

func TestCountFDs(t *testing.T) {
	if _, err := CountFDs("/nonexistent"); err == nil {
		t.Error("no error for a missing directory")
	}
	n, err := CountFDs("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc")
	}
	if n < 3 {
		t.Errorf("%d open descriptors, want stdin, stdout, stderr at least", n)
	}
}
