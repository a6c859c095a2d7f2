package cli

import (
	"reflect"
	"strings"
	"testing"

	"github.com/salvo-sh/salvo/job"
)

func TestReadTargets(t *testing.T) {
	tests := []struct {
		name, in string
		want     []string
	}{
		{"plain", "a\nb\n", []string{"a", "b"}},
		{"no final newline", "a\nb", []string{"a", "b"}},
		{"comments and blanks", "# fleet\n\na\n   \n  # indented comment\nb\n\n", []string{"a", "b"}},
		{"crlf", "a\r\n# c\r\n\r\nhttps://10.0.0.3:8443/health\r\n", []string{"a", "https://10.0.0.3:8443/health"}},
		{"spaces trimmed", "  web-2:8080 \t\n", []string{"web-2:8080"}},
		{"duplicates kept", "a\na\n", []string{"a", "a"}},
		{"empty", "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReadTargets(strings.NewReader(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			var hosts []string
			for _, g := range got {
				if g.Vars != nil {
					t.Errorf("target %q has vars", g.Host)
				}
				hosts = append(hosts, g.Host)
			}
			if strings.Join(hosts, "|") != strings.Join(tc.want, "|") || len(hosts) != len(tc.want) {
				t.Errorf("got %q, want %q", hosts, tc.want)
			}
		})
	}
}

func TestParseHeaders(t *testing.T) {
	got, err := ParseHeaders([]string{"X-A: 1", "X-B:two: parts", "X-Empty:"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got["X-A"] != "1" || got["X-B"] != "two: parts" || got["X-Empty"] != "" {
		t.Errorf("got %q", got)
	}
	for _, bad := range []string{"nocolon", ": v", "Bad Key: v"} {
		if _, err := ParseHeaders([]string{bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestBuildSpecFromFile(t *testing.T) {
	spec, err := BuildSpec(RunOptions{SpecFile: "-", Stdin: strings.NewReader(
		`{"targets": ["a", {"host": "b", "vars": {"ID": "2"}}], "timeouts": {"connect": "2s"}}`)})
	if err != nil {
		t.Fatal(err)
	}
	if len(spec.Targets) != 2 || spec.Targets[1].Vars["ID"] != "2" || spec.Timeouts.Connect.Std().String() != "2s" {
		t.Errorf("spec %+v", spec)
	}
	for _, bad := range []string{"", `{"targetz": []}`, `{} {}`, `[1]`, `{"timeouts": {"connect": "soon"}}`} {
		if _, err := BuildSpec(RunOptions{SpecFile: "-", Stdin: strings.NewReader(bad)}); err == nil {
			t.Errorf("%q accepted", bad)
		} else if !strings.HasPrefix(err.Error(), "--spec -: ") {
			t.Errorf("%q: error %q does not name the file", bad, err)
		}
	}
}

func TestBuildSpecKeepsFileFieldsNotSet(t *testing.T) {
	opts := RunOptions{SpecFile: "-", Stdin: strings.NewReader(
		`{"name": "n", "targets": ["a"], "http": {"method": "PUT", "path": "/p"}, "retries": {"max": 3}}`),
		Path: "/q"}
	spec, err := BuildSpec(opts)
	if err != nil {
		t.Fatal(err)
	}
	if spec.Name != "n" || spec.HTTP.Method != "PUT" || spec.HTTP.Path != "/q" || spec.Retries.Max != 3 ||
		spec.Protocol != "" || spec.Aggregation != nil {
		t.Errorf("spec %+v http %+v", spec, spec.HTTP)
	}
	// A targets file without request flags leaves HTTP to the server's defaults.
	spec, err = BuildSpec(RunOptions{TargetsFile: "-", Stdin: strings.NewReader("a\n")})
	if err != nil {
		t.Fatal(err)
	}
	if spec.Protocol != job.ProtocolHTTP || spec.HTTP != nil || len(spec.Targets) != 1 {
		t.Errorf("spec %+v", spec)
	}
}

func TestBuildSpecExpectFlags(t *testing.T) {
	tests := []struct {
		name    string
		opts    RunOptions
		want    *job.Expect
		errPart string
	}{
		{"none", RunOptions{TargetsFile: "-", Stdin: strings.NewReader("a\n")}, nil, ""},
		{"status list", RunOptions{TargetsFile: "-", Stdin: strings.NewReader("a\n"), ExpectStatus: "2xx, 304,"},
			&job.Expect{Status: []job.StatusMatch{"2xx", "304"}}, ""},
		{"body", RunOptions{TargetsFile: "-", Stdin: strings.NewReader("a\n"), ExpectBody: "^ok"},
			&job.Expect{BodyRegex: "^ok"}, ""},
		{"over the spec file, keeping the rest", RunOptions{SpecFile: "-", Stdin: strings.NewReader(
			`{"targets":["a"],"expect":{"status":[200],"bodyRegex":"x"}}`), ExpectStatus: "5xx"},
			&job.Expect{Status: []job.StatusMatch{"5xx"}, BodyRegex: "x"}, ""},
		{"bad status", RunOptions{TargetsFile: "-", Stdin: strings.NewReader("a\n"), ExpectStatus: "2xx,700"}, nil,
			"--expect-status: status 700 is out of range"},
		{"only commas", RunOptions{TargetsFile: "-", Stdin: strings.NewReader("a\n"), ExpectStatus: ","}, nil, "--expect-status"},
		{"bad regex", RunOptions{TargetsFile: "-", Stdin: strings.NewReader("a\n"), ExpectBody: "("}, nil, "--expect-body: invalid regex"},
		{"status on ssh", RunOptions{TargetsFile: "-", Stdin: strings.NewReader("a\n"), ExpectStatus: "2xx",
			SSH: SSHOptions{Command: "uptime"}}, nil, "--expect-status applies to HTTP jobs"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spec, err := BuildSpec(tc.opts)
			if tc.errPart != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errPart) {
					t.Fatalf("error %v, want one containing %q", err, tc.errPart)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(spec.Expect, tc.want) {
				t.Fatalf("expect %+v, want %+v", spec.Expect, tc.want)
			}
		})
	}
}
