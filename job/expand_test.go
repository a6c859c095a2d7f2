package job

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func TestNormalizeExpandsNodesets(t *testing.T) {
	s, err := DecodeSpec(strings.NewReader(`{
		"targets": ["web-[1-3]", {"host": "db-[01-02]:5432", "vars": {"ROLE": "db"}}, "solo", "[::1]:22"],
		"exclude": ["web-2", "db-01:5432,nothere"],
		"http": {"path": "/$ROLE"},
		"vars": {"ROLE": "web"}
	}`))
	if err != nil {
		t.Fatal(err)
	}
	if !s.NeedsExpansion(0) {
		t.Fatal("NeedsExpansion = false")
	}
	if err := s.Normalize(100); err != nil {
		t.Fatal(err)
	}
	want := []TargetSpec{
		{Host: "web-1"}, {Host: "web-3"},
		{Host: "db-02:5432", Vars: map[string]string{"ROLE": "db"}},
		{Host: "solo"}, {Host: "[::1]:22"},
	}
	if !reflect.DeepEqual(s.Targets, want) {
		t.Errorf("targets %v, want %v", s.Targets, want)
	}
	// Expanding again changes nothing: the exclusions are already out.
	again := s.Clone()
	if err := again.ExpandTargets(0, nil); err != nil || !reflect.DeepEqual(again.Targets, want) {
		t.Errorf("second expansion: %v %v", again.Targets, err)
	}
}

func TestNormalizeExpansionErrors(t *testing.T) {
	tests := []struct {
		name    string
		targets []string
		exclude []string
		limit   int
		field   string
		msg     string
	}{
		{"bad nodeset", []string{"a", "web-[5-1]"}, nil, 0, "targets[1]", "reversed range 5-1 (want low-high) at offset 5"},
		{"bad host in a nodeset", []string{"web-[1-2]/x"}, nil, 0, "targets[0]", `invalid target "web-1/x"`},
		{"bad target named as written", []string{"a[1-4]", "a b"}, nil, 0, "targets[1]", "whitespace"},
		{"bad target after exclusions", []string{"a", "b", "c d"}, []string{"a,b"}, 0, "targets[2]", "whitespace"},
		{"ceiling by a nodeset", []string{"a", "h[1-10]"}, nil, 10, "targets[1]", "more than 10 targets"},
		{"ceiling by plain targets", []string{"a", "b", "c"}, nil, 2, "targets[2]", "more than 2 targets"},
		{"ceiling counts excluded targets", []string{"a", "b", "c"}, []string{"a"}, 2, "targets[2]", "more than 2 targets"},
		{"bad exclude", []string{"a"}, []string{"a", "b[1-"}, 0, "exclude[1]", "unclosed '['"},
		{"exclude past the ceiling", []string{"a"}, []string{"b[1-11]"}, 10, "exclude[0]", "more than 10 hosts"},
		{"all excluded", []string{"a", "b[1-2]"}, []string{"a", "b[1-2]"}, 0, "exclude", "excludes every one of the job's 3 targets"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &Spec{Exclude: tc.exclude}
			for _, h := range tc.targets {
				s.Targets = append(s.Targets, TargetSpec{Host: h})
			}
			err := s.NormalizeFor(100, tc.limit, nil)
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field || !strings.Contains(fe.Msg, tc.msg) {
				t.Fatalf("error %v, want field %s with %q", err, tc.field, tc.msg)
			}
		})
	}
}

func TestTargetExpanderIndexes(t *testing.T) {
	s := &Spec{Exclude: []string{"h[2-3]"}}
	x, err := s.NewTargetExpander(100)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	emit := func(j int, t TargetSpec) error {
		got = append(got, fmt.Sprintf("%d=%s", j, t.Host))
		return nil
	}
	for i, h := range []string{"h[1-4]", "h2", "g", "h[5-6]!h6"} {
		if err := x.Expand(i, TargetSpec{Host: h}, emit); err != nil {
			t.Fatal(err)
		}
	}
	if want := "0=h1 1=h4 2=g 3=h5"; strings.Join(got, " ") != want {
		t.Errorf("expanded %q, want %q", got, want)
	}
	if n, err := x.Total(); n != 4 || err != nil {
		t.Errorf("Total = %d, %v", n, err)
	}
	// An emit error about another field is returned as it is.
	boom := &FieldError{Field: "http.port", Msg: "bad"}
	if err := x.Expand(9, TargetSpec{Host: "k"}, func(int, TargetSpec) error { return boom }); err != boom {
		t.Errorf("emit error %v", err)
	}
}

func TestStreamedSpecKeepsExclude(t *testing.T) {
	in := `{"targets": ["web-[1-3]", "db"], "exclude": ["web-2"]}`
	var got []TargetSpec
	spec, n, err := DecodeSpecStream(strings.NewReader(in), 10, func(b []TargetSpec) error {
		got = append(got, b...)
		return nil
	})
	if err != nil || n != 2 || len(spec.Exclude) != 1 {
		t.Fatalf("spec %+v, n %d, %v", spec, n, err)
	}
	// Written as they came: the engine expands after the whole spec is read.
	if got[0].Host != "web-[1-3]" {
		t.Errorf("streamed %v", got)
	}
	spec.Targets = got
	if err := spec.Normalize(10); err != nil {
		t.Fatal(err)
	}
	if len(spec.Targets) != 3 || spec.Targets[1].Host != "web-3" {
		t.Errorf("targets %v", spec.Targets)
	}
}

func BenchmarkNormalizeNodeset(b *testing.B) {
	// 983,040 targets, near the default ceiling.
	b.ReportAllocs()
	for b.Loop() {
		s := &Spec{Targets: []TargetSpec{{Host: "10.[0-14].[0-255].[0-255]:8080"}}, Exclude: []string{"10.0.0.[1-254]:8080"}}
		if err := s.Normalize(100); err != nil {
			b.Fatal(err)
		}
		if len(s.Targets) != 983040-254 {
			b.Fatalf("%d targets", len(s.Targets))
		}
	}
}
