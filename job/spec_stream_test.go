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

// TestTargetCheckerLearn: a name of ssh.command that a later target's
// vars define is salvo's, and refused for an earlier target without it,
// once Learn has seen every target; without Learn it would pass through.
func TestTargetCheckerLearn(t *testing.T) {
	targets := []TargetSpec{{Host: "a"}, {Host: "b", Vars: map[string]string{"MSG": "x"}}}
	c, err := (&Spec{Protocol: ProtocolSSH, SSH: &SSHSpec{Command: "echo $MSG $HOME"}}).NormalizeTemplate(100)
	if err != nil {
		t.Fatal(err)
	}
	if !c.NeedsLearn() {
		t.Fatal("NeedsLearn = false for a command with names nobody defines")
	}
	for _, ts := range targets {
		c.Learn(ts)
	}
	err = c.Check(0, targets[0])
	if fe := (*FieldError)(nil); !errors.As(err, &fe) || fe.Field != "ssh.command" || !strings.Contains(fe.Msg, "$MSG") {
		t.Fatalf("Check(0) = %v, want ssh.command naming $MSG", err)
	}
	if err := c.Check(1, targets[1]); err != nil {
		t.Errorf("Check(1) = %v", err)
	}
	// Everything defined by the job or built-ins: nothing to learn.
	c, err = (&Spec{Protocol: ProtocolSSH, Vars: map[string]string{"MSG": "m"}, SSH: &SSHSpec{Command: "echo $MSG $HOST ${SALVO_INDEX} $$HOME"}}).NormalizeTemplate(100)
	if err != nil {
		t.Fatal(err)
	}
	if c.NeedsLearn() {
		t.Error("NeedsLearn = true with every name defined")
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
