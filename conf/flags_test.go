package conf

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestFlagTable(t *testing.T) {
	c := DefaultConfig()
	names, envs := map[string]bool{}, map[string]bool{}
	for _, f := range c.flags() {
		if names[f.name] || envs[envName(f.name)] {
			t.Errorf("flag %q defined twice", f.name)
		}
		names[f.name], envs[envName(f.name)] = true, true
		if f.usage == "" {
			t.Errorf("flag %q has no usage", f.name)
		}
		if tn := (&value{ptr: f.ptr}).typeName(); tn == "value" {
			t.Errorf("flag %q has unsupported type %T", f.name, f.ptr)
		}
	}
	for flag, want := range map[string]string{
		"http-addr": "SALVO_HTTP_ADDR", "data-dir": "SALVO_DATA_DIR", "config": "SALVO_CONFIG", "pprof": "SALVO_PPROF",
	} {
		if got := envName(flag); got != want {
			t.Errorf("envName(%q) = %q, want %q", flag, got, want)
		}
	}
}

func TestValueSet(t *testing.T) {
	var (
		s  string
		i  int
		i6 int64
		b  bool
		d  time.Duration
		l  []string
	)
	tests := []struct {
		name    string
		ptr     any
		inputs  []string // Set in order on one value
		want    any
		wantErr bool
	}{
		{"string", &s, []string{"abc"}, "abc", false},
		{"int", &i, []string{" 42 "}, 42, false},
		{"int hex", &i, []string{"0x10"}, 16, false},
		{"int bad", &i, []string{"4x"}, 0, true},
		{"int64", &i6, []string{"9000000000"}, int64(9000000000), false},
		{"bool", &b, []string{"true"}, true, false},
		{"bool bad", &b, []string{"yes please"}, false, true},
		{"duration", &d, []string{"1m30s"}, 90 * time.Second, false},
		{"duration without unit", &d, []string{"5"}, time.Duration(0), true},
		{"list", &l, []string{"a, b,,c"}, []string{"a", "b", "c"}, false},
		{"list repeated appends", &l, []string{"a,b", "c"}, []string{"a", "b", "c"}, false},
		{"unsupported", new(float64), []string{"1"}, 0.0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Reset the target to its zero value.
			reflect.ValueOf(tt.ptr).Elem().SetZero()
			v := &value{ptr: tt.ptr}
			var err error
			for _, in := range tt.inputs {
				if err = v.Set(in); err != nil {
					break
				}
			}
			if (err != nil) != tt.wantErr {
				t.Fatalf("Set error = %v, wantErr %v", err, tt.wantErr)
			}
			if got := reflect.ValueOf(tt.ptr).Elem().Interface(); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("value = %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestLogger(t *testing.T) {
	tests := []struct {
		level, format string
		wantDebug     bool
		wantJSON      bool
	}{
		{"info", "text", false, false},
		{"debug", "json", true, true},
		{"error", "json", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.level+"/"+tt.format, func(t *testing.T) {
			c := DefaultConfig()
			c.LogLevel, c.LogFormat = tt.level, tt.format
			var buf bytes.Buffer
			log := c.Logger(&buf)
			log.Debug("dbg")
			log.Error("boom", "k", "v")
			out := buf.String()
			if got := strings.Contains(out, "dbg"); got != tt.wantDebug {
				t.Errorf("debug logged = %v, want %v:\n%s", got, tt.wantDebug, out)
			}
			if !strings.Contains(out, "boom") {
				t.Errorf("error not logged:\n%s", out)
			}
			last := strings.Split(strings.TrimSpace(out), "\n")
			line := last[len(last)-1]
			var m map[string]any
			isJSON := json.Unmarshal([]byte(line), &m) == nil
			if isJSON != tt.wantJSON {
				t.Errorf("JSON = %v, want %v: %s", isJSON, tt.wantJSON, line)
			}
			if !tt.wantJSON && !strings.Contains(line, "level=ERROR") {
				t.Errorf("text line %q has no level=ERROR", line)
			}
		})
	}
}
