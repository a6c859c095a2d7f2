package fleet

import (
	"errors"
	"math"
	"reflect"
	"testing"
	"time"
)

func TestHostAddrIndex(t *testing.T) {
	tests := []struct {
		i    int
		addr string
	}{
		{0, "127.1.0.0"},
		{7, "127.1.0.7"},
		{255, "127.1.0.255"},
		{256, "127.1.1.0"},
		{1000, "127.1.3.232"},
		{65535, "127.1.255.255"},
		{65536, "127.2.0.0"},
		{MaxHosts - 1, "127.255.255.254"},
	}
	for _, tt := range tests {
		if got := HostAddr(tt.i); got != tt.addr {
			t.Errorf("HostAddr(%d) = %q, want %q", tt.i, got, tt.addr)
		}
		for _, in := range []string{tt.addr, tt.addr + ":8081"} {
			if got, ok := HostIndex(in); !ok || got != tt.i {
				t.Errorf("HostIndex(%q) = %d, %v, want %d, true", in, got, ok, tt.i)
			}
		}
	}
	for _, bad := range []string{"", "127.0.255.255", "127.255.255.255", "10.1.0.0", "::1", "[::1]:80", "x", "127.1.0.0.1"} {
		if i, ok := HostIndex(bad); ok {
			t.Errorf("HostIndex(%q) = %d, true, want false", bad, i)
		}
	}
	if i, ok := HostIndex("::ffff:127.1.0.9"); !ok || i != 9 {
		t.Errorf("HostIndex(IPv4-mapped) = %d, %v, want 9, true", i, ok)
	}
}

func TestHostAddrPanicsOutOfRange(t *testing.T) {
	for _, i := range []int{-1, MaxHosts} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("HostAddr(%d) did not panic", i)
				}
			}()
			HostAddr(i)
		}()
	}
}

func TestTargets(t *testing.T) {
	got := Targets(3, 8081)
	want := []string{"127.1.0.0:8081", "127.1.0.1:8081", "127.1.0.2:8081"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Targets = %v, want %v", got, want)
	}
	if got := Targets(0, 1); len(got) != 0 {
		t.Fatalf("Targets(0) = %v", got)
	}
	all := Targets(70000, 9)
	if Target(65536, 9) != "127.2.0.0:9" || Target(0, 80) != "127.1.0.0:80" {
		t.Fatalf("Target = %q", Target(65536, 9))
	}
	if all[65536] != "127.2.0.0:9" || all[69999] != HostAddr(69999)+":9" {
		t.Fatalf("Targets(70000) ends with %q, %q", all[65536], all[69999])
	}
}

func TestVersionAndDistribution(t *testing.T) {
	versions := map[int]string{0: "v1", 4: "v1", 5: "v2", 7: "v2", 8: "v3", 9: "v3", 10: "v1", 1237: "v2", 1009: "v3"}
	for i, want := range versions {
		if got := Version(i); got != want {
			t.Errorf("Version(%d) = %q, want %q", i, got, want)
		}
	}
	for _, n := range []int{0, 1, 5, 6, 8, 9, 10, 11, 17, 19, 100, 1003, 10000} {
		want := map[string]int{}
		for i := range n {
			want[Version(i)]++
		}
		if got := Distribution(n); !reflect.DeepEqual(got, want) {
			t.Errorf("Distribution(%d) = %v, want %v", n, got, want)
		}
	}
}

func TestParseStatusCodes(t *testing.T) {
	tests := []struct {
		spec    string
		want    []StatusShare
		wantErr bool
	}{
		{"", nil, false},
		{"503:0.01", []StatusShare{{503, 0.01}}, false},
		{"503:0.01, 404:0.02", []StatusShare{{503, 0.01}, {404, 0.02}}, false},
		{"503", nil, true},
		{"abc:0.1", nil, true},
		{"700:0.1", nil, true},
		{"503:1.5", nil, true},
		{"503:-0.1", nil, true},
	}
	for _, tt := range tests {
		got, err := ParseStatusCodes(tt.spec)
		if (err != nil) != tt.wantErr || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseStatusCodes(%q) = %v, %v; want %v, err %v", tt.spec, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestParseLatency(t *testing.T) {
	tests := []struct {
		spec     string
		min, max time.Duration
		wantErr  bool
	}{
		{"0ms-0ms", 0, 0, false},
		{"5ms", 5 * time.Millisecond, 5 * time.Millisecond, false},
		{"5ms-20ms", 5 * time.Millisecond, 20 * time.Millisecond, false},
		{" 1s - 2s ", time.Second, 2 * time.Second, false},
		{"20ms-5ms", 0, 0, true},
		{"-5ms", 0, 0, true},
		{"fast", 0, 0, true},
		{"5ms-", 0, 0, true},
	}
	for _, tt := range tests {
		lo, hi, err := ParseLatency(tt.spec)
		if (err != nil) != tt.wantErr || lo != tt.min || hi != tt.max {
			t.Errorf("ParseLatency(%q) = %v, %v, %v; want %v, %v, err %v", tt.spec, lo, hi, err, tt.min, tt.max, tt.wantErr)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Config)
		ok     bool
	}{
		{"default", func(*Config) {}, true},
		{"no listen", func(c *Config) { c.Listen = "" }, false},
		{"negative hosts", func(c *Config) { c.Hosts = -1 }, false},
		{"too many hosts", func(c *Config) { c.Hosts = MaxHosts + 1 }, false},
		{"max hosts", func(c *Config) { c.Hosts = MaxHosts }, true},
		{"negative body", func(c *Config) { c.BodyBytes = -1 }, false},
		{"inverted latency", func(c *Config) { c.LatencyMin, c.LatencyMax = 2, 1 }, false},
		{"error rate above 1", func(c *Config) { c.ErrorRate = 1.1 }, false},
		{"slow rate NaN", func(c *Config) { c.SlowRate = math.NaN() }, false},
		{"shares above 1", func(c *Config) {
			c.ErrorRate = 0.6
			c.StatusCodes = []StatusShare{{503, 0.5}}
		}, false},
		{"shares exactly 1", func(c *Config) {
			c.ErrorRate = 0.5
			c.StatusCodes = []StatusShare{{503, 0.5}}
		}, true},
		{"bad code", func(c *Config) { c.StatusCodes = []StatusShare{{99, 0.1}} }, false},
		{"zero concurrency", func(c *Config) { c.Concurrency = 0 }, false},
		{"negative timeout", func(c *Config) { c.ReadTimeout = -1 }, false},
		{"overload mode", func(c *Config) { c.MaxConcurrency, c.RefuseConcurrency = 100, 150 }, true},
		{"negative max concurrency", func(c *Config) { c.MaxConcurrency = -1 }, false},
		{"negative overload latency", func(c *Config) { c.OverloadLatency = -1 }, false},
		{"refuse below max", func(c *Config) { c.MaxConcurrency, c.RefuseConcurrency = 100, 50 }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tt.modify(&cfg)
			_, err := New(cfg)
			if tt.ok && err != nil {
				t.Fatalf("New: %v", err)
			}
			if !tt.ok && !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("New = %v, want ErrInvalidConfig", err)
			}
		})
	}
}

func TestBehaviourShares(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Hosts = 100000
	cfg.ErrorRate = 0.1
	cfg.StatusCodes = []StatusShare{{503, 0.05}, {404, 0.2}}
	cfg.SlowRate = 0.3
	cfg.LatencyMin, cfg.LatencyMax = 10*time.Millisecond, 20*time.Millisecond
	counts := map[int]int{}
	slow := 0
	for i := range cfg.Hosts {
		b := cfg.behaviourOf(i)
		counts[b.status]++
		if b.slow {
			slow++
		}
		if b.latency < cfg.LatencyMin || b.latency > cfg.LatencyMax {
			t.Fatalf("host %d latency %v outside [%v, %v]", i, b.latency, cfg.LatencyMin, cfg.LatencyMax)
		}
	}
	near := func(got int, share float64) bool {
		want := share * float64(cfg.Hosts)
		return math.Abs(float64(got)-want) < 0.01*float64(cfg.Hosts)
	}
	for code, share := range map[int]float64{500: 0.1, 503: 0.05, 404: 0.2, 200: 0.65} {
		if !near(counts[code], share) {
			t.Errorf("status %d: %d hosts, want about %v", code, counts[code], share*float64(cfg.Hosts))
		}
	}
	if !near(slow, 0.3) {
		t.Errorf("slow hosts: %d, want about %v", slow, 0.3*float64(cfg.Hosts))
	}

	// Which hosts fail does not depend on the slow rate.
	other := cfg
	other.SlowRate = 0.9
	for i := range 1000 {
		if a, b := cfg.behaviourOf(i).status, other.behaviourOf(i).status; a != b {
			t.Fatalf("host %d status changed with slow rate: %d != %d", i, a, b)
		}
	}
}
