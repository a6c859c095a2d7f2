package job

import (
	"encoding/json"
	"reflect"
	"testing"
)

// TestTargetJSONMatchesEncodingJSON checks that the fast paths read and
// write what encoding/json reads and writes.
func TestTargetJSONMatchesEncodingJSON(t *testing.T) {
	targets := []TargetSpec{
		{Host: "127.1.0.1:8081"},
		{Host: "web-01.example.com"},
		{Host: "https://h/x?a=1"},
		{Host: "[::1]:22"},
		{Host: ""},
		{Host: `quote"inside`},
		{Host: `back\\slash`},
		{Host: "tab\there"},
		{Host: "<html>&"},
		{Host: "héllo"},
		{Host: "h", Vars: map[string]string{"env": "prod"}},
	}
	for _, tt := range targets {
		t.Run(tt.Host, func(t *testing.T) {
			got, err := tt.AppendJSON(nil)
			if err != nil {
				t.Fatal(err)
			}
			var back TargetSpec
			if err := json.Unmarshal(got, &back); err != nil {
				t.Fatalf("encoding/json cannot read %s: %v", got, err)
			}
			if !reflect.DeepEqual(back, tt) {
				t.Errorf("round trip through encoding/json: %+v, want %+v", back, tt)
			}
			// Read the encoding/json form with the fast path.
			std, err := json.Marshal(tt.Host)
			if err != nil {
				t.Fatal(err)
			}
			var fast TargetSpec
			if err := fast.UnmarshalJSON(std); err != nil {
				t.Fatal(err)
			}
			if fast.Host != tt.Host {
				t.Errorf("UnmarshalJSON(%s) = %q, want %q", std, fast.Host, tt.Host)
			}
		})
	}
}

func TestIndexedTargetsRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		ts   []IndexedTarget
	}{
		{"empty", []IndexedTarget{}},
		{"plain", []IndexedTarget{{Index: 0, Target: TargetSpec{Host: "a:1"}}, {Index: 17, Target: TargetSpec{Host: "b"}}}},
		{"escaped", []IndexedTarget{{Index: 3, Target: TargetSpec{Host: `a"b`}}}},
		{"vars", []IndexedTarget{{Index: 9, Target: TargetSpec{Host: "h", Vars: map[string]string{"k": "v"}}}}},
		{"large index", []IndexedTarget{{Index: 2_000_000_000, Target: TargetSpec{Host: "h"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := AppendIndexedTargets(nil, tt.ts)
			if err != nil {
				t.Fatal(err)
			}
			std, err := json.Marshal(tt.ts)
			if err != nil {
				t.Fatal(err)
			}
			var fromStd []IndexedTarget
			if err := json.Unmarshal(b, &fromStd); err != nil {
				t.Fatalf("encoding/json cannot read %s: %v", b, err)
			}
			for _, in := range [][]byte{b, std} {
				got, err := DecodeIndexedTargets(in)
				if err != nil {
					t.Fatalf("decode %s: %v", in, err)
				}
				if !reflect.DeepEqual(got, tt.ts) {
					t.Errorf("decode %s = %+v, want %+v", in, got, tt.ts)
				}
			}
		})
	}
}

func TestDecodeIndexedTargetsRejects(t *testing.T) {
	for _, in := range []string{``, `[`, `[{"i":1,"t":"a"}`, `[{"i":-1,"t":"a"}]x`, `{"i":1}`, `[{"i":1,"t":"a"},]`} {
		if ts, err := DecodeIndexedTargets([]byte(in)); err == nil {
			t.Errorf("DecodeIndexedTargets(%q) = %+v, want an error", in, ts)
		}
	}
}

// FuzzDecodeIndexedTargets checks that the fast decoder never disagrees
// with encoding/json.
func FuzzDecodeIndexedTargets(f *testing.F) {
	f.Add([]byte(`[{"i":0,"t":"127.1.0.1:80"},{"i":1,"t":"b"}]`))
	f.Add([]byte(`[{"i":01,"t":"a"}]`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		fast, ok := decodeIndexedPlain(b)
		if !ok {
			return
		}
		var std []IndexedTarget
		if err := json.Unmarshal(b, &std); err != nil {
			t.Fatalf("fast path read %q, encoding/json says %v", b, err)
		}
		if !reflect.DeepEqual(fast, std) {
			t.Fatalf("fast %+v, encoding/json %+v for %q", fast, std, b)
		}
	})
}
