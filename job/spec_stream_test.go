package job

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func TestDecodeSpecStreamMatchesDecodeSpec(t *testing.T) {
	cases := []string{
		`{"targets": ["a", "b:81", {"host": "c", "vars": {"ID": "3"}}], "http": {"path": "/x/$INDEX"}, "maxConcurrency": 5}`,
		`{"http": {"path": "/y"}, "targets": ["a"], "vars": {"K": "v"}}`,
		`{"nodeGroup": "web", "timeouts": {"connect": "1s"}}`,
		`{"targets": null, "nodeGroup": "web"}`,
	}
	for _, in := range cases {
		want, err := DecodeSpec(strings.NewReader(in))
		if err != nil {
			t.Fatalf("DecodeSpec(%s): %v", in, err)
		}
		var got []TargetSpec
		spec, n, err := DecodeSpecStream(strings.NewReader(in), 2, func(b []TargetSpec) error {
			if len(b) > 2 {
				t.Errorf("batch of %d, want at most 2", len(b))
			}
			got = append(got, b...)
			return nil
		})
		if err != nil {
			t.Fatalf("DecodeSpecStream(%s): %v", in, err)
		}
		if n != len(want.Targets) || !reflect.DeepEqual(got, want.Targets) && len(want.Targets) > 0 {
			t.Errorf("%s: targets %v (n=%d), want %v", in, got, n, want.Targets)
		}
		want.Targets = nil
		if !reflect.DeepEqual(spec, want) {
			t.Errorf("%s: spec %+v, want %+v", in, spec, want)
		}
	}
}

func TestDecodeSpecStreamErrors(t *testing.T) {
	cases := []struct {
		in, field string
	}{
		{`[1]`, ""},
		{`{"targets": "a"}`, "targets"},
		{`{"targets": ["a", 3]}`, "targets[1]"},
		{`{"targets": ["a", {"host": "b", "bogus": 1}]}`, "targets[1]"},
		{`{"targets": [{"vars": {}}]}`, "targets[0]"},
		{`{"targets": ["a"], "targets": ["b"]}`, "targets"},
		{`{"targets": ["a"], "bogus": 1}`, "bogus"},
		{`{"targets": ["a"], "timeouts": {"connect": "soon"}}`, "timeouts.connect"},
		{`{"targets": ["a"]} trailing`, ""},
		{`{"targets": ["a"`, "targets"},
	}
	for _, tc := range cases {
		_, _, err := DecodeSpecStream(strings.NewReader(tc.in), 10, func([]TargetSpec) error { return nil })
		var fe *FieldError
		if !errors.As(err, &fe) {
			t.Errorf("%s: error %v, want a FieldError", tc.in, err)
			continue
		}
		if fe.Field != tc.field {
			t.Errorf("%s: field %q, want %q (%v)", tc.in, fe.Field, tc.field, fe)
		}
	}
	sinkErr := errors.New("store full")
	_, _, err := DecodeSpecStream(strings.NewReader(`{"targets": ["a", "b", "c"]}`), 2, func([]TargetSpec) error { return sinkErr })
	if !errors.Is(err, sinkErr) {
		t.Errorf("sink error: %v", err)
	}
}

func TestTargetCheckerMatchesNormalize(t *testing.T) {
	spec := func() *Spec {
		return &Spec{HTTP: &HTTPSpec{Path: "/x/$ID"}, Vars: map[string]string{}}
	}
	targets := []TargetSpec{{Host: "a", Vars: map[string]string{"ID": "1"}}, {Host: "b"}}
	s := spec()
	s.Targets = targets
	errFull := s.Normalize(100)
	c, err := spec().NormalizeTemplate(100)
	if err != nil {
		t.Fatal(err)
	}
	var errStream error
	for i, ts := range targets {
		if errStream = c.Check(i, ts); errStream != nil {
			break
		}
	}
	if fmt.Sprint(errFull) != fmt.Sprint(errStream) || errFull == nil {
		t.Errorf("Normalize: %v; checker: %v", errFull, errStream)
	}
}

func FuzzDecodeSpecStream(f *testing.F) {
	f.Add(`{"targets": ["a", {"host": "b", "vars": {"X": "1"}}], "http": {"path": "/$X"}}`)
	f.Add(`{"targets": [`)
	f.Add(`{"targets": ["web-[1-3]!web-2", "[::1]:22"], "exclude": ["web-3"]}`)
	f.Fuzz(func(t *testing.T, in string) {
		spec, _, err := DecodeSpecStream(strings.NewReader(in), 3, func([]TargetSpec) error { return nil })
		if err == nil && spec == nil {
			t.Fatal("nil spec without error")
		}
	})
}
