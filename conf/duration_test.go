package conf

import (
	"strings"
	"testing"
	"time"
)

func TestParseDayDuration(t *testing.T) {
	day := 24 * time.Hour
	for _, tt := range []struct {
		in   string
		want time.Duration
		bad  bool
	}{
		{"30d", 30 * day, false},
		{"1d12h", day + 12*time.Hour, false},
		{" 0d ", 0, false},
		{"0", 0, false},
		{"720h", 720 * time.Hour, false},
		{"90m", 90 * time.Minute, false},
		{"-1d", -day, false}, // Validate refuses it
		{"d", 0, true},
		{"30", 0, true},
		{"3.5d", 0, true},
		{"1d-2h", 0, true},
		{"200000d", 0, true},
		{"", 0, true},
	} {
		got, err := ParseDayDuration(tt.in)
		if (err != nil) != tt.bad || got != tt.want {
			t.Errorf("ParseDayDuration(%q) = %s, %v; want %s, error %v", tt.in, got, err, tt.want, tt.bad)
		}
	}
	for d, want := range map[DayDuration]string{DayDuration(30 * day): "30d", DayDuration(36 * time.Hour): "36h0m0s", 0: "0s"} {
		if got := d.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int64(d), got, want)
		}
	}
}

// --retention, SALVO_RETENTION and the file's retention read days;
// Validate refuses a negative one.
func TestRetentionSources(t *testing.T) {
	env := func(m map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
	}
	c, err := Load([]string{"--retention", "30d"}, env(nil))
	if err != nil || time.Duration(c.Retention) != 30*24*time.Hour {
		t.Fatalf("flag: %v %v", c, err)
	}
	if c, err = Load(nil, env(map[string]string{"SALVO_RETENTION": "12h"})); err != nil || time.Duration(c.Retention) != 12*time.Hour {
		t.Fatalf("env: %v", err)
	}
	if c, err = Load(nil, env(nil)); err != nil || c.Retention != 0 {
		t.Fatalf("default: %v %v", c.Retention, err)
	}
	f := DefaultConfig()
	if err := f.decodeYAML([]byte("retention: 7d\n")); err != nil || time.Duration(f.Retention) != 7*24*time.Hour {
		t.Fatalf("file: %v %v", f.Retention, err)
	}
	if err := f.decodeYAML([]byte("retention: soon\n")); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("a bad file value: %v", err)
	}
	if _, err := Load([]string{"--retention", "-1d"}, env(nil)); err == nil || !strings.Contains(err.Error(), "retention (--retention)") {
		t.Errorf("a negative retention: %v", err)
	}
	if _, err := Load([]string{"--retention", "a week"}, env(nil)); err == nil {
		t.Error("--retention 'a week' was taken")
	}
}
