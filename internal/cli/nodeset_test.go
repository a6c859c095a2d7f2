package cli

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/salvo-sh/salvo/fleet"
	"github.com/salvo-sh/salvo/internal/testutil"
	"github.com/salvo-sh/salvo/job"
)

func TestBuildSpecNodesets(t *testing.T) {
	file := writeTargets(t, "# web", "web-[1-3]", "", "db-1")
	badFile := writeTargets(t, "a", "# b", "web-[5-1]")
	specFile := func(s string) RunOptions { return RunOptions{SpecFile: "-", Stdin: strings.NewReader(s)} }
	tests := []struct {
		name    string
		opts    RunOptions
		want    string // targets, space-separated
		exclude []string
		errPart string
	}{
		{"-w", RunOptions{Nodesets: []string{"web-[01-03]", "db-[1-2]!db-2"}}, "web-01 web-02 web-03 db-1", nil, ""},
		{"-w and -x", RunOptions{Nodesets: []string{"h[1-3]"}, Exclude: []string{"h2"}}, "h1 h3", []string{"h2"}, ""},
		{"all combined", RunOptions{TargetsFile: file, Nodesets: []string{"w[1-2]"}, Targets: []string{"a", "b[1-2]"}, Exclude: []string{"web-2,b1"}},
			"web-1 web-3 db-1 w1 w2 a b2", []string{"web-2,b1"}, ""},
		{"ssh arguments only", RunOptions{Targets: []string{"root@h[1-2]:2222"}, SSH: SSHOptions{Command: "uptime"}}, "root@h1:2222 root@h2:2222", nil, ""},
		{"user@ on http", RunOptions{Targets: []string{"root@h[1-2]"}}, "", nil, `target "root@h[1-2]": invalid target "root@h1": user@host is only for ssh targets`},
		{"a folded summary pasted back", RunOptions{Nodesets: []string{"10.0.0.[1-3,5],db,web-[01-02]"}},
			"10.0.0.1 10.0.0.2 10.0.0.3 10.0.0.5 db web-01 web-02", nil, ""},
		{"-w replaces the spec's targets", func() RunOptions {
			o := specFile(`{"nodeGroup": "g", "exclude": ["h1"]}`)
			o.Nodesets, o.Exclude = []string{"h[1-3]"}, []string{"h3"}
			return o
		}(), "h2", []string{"h1", "h3"}, ""},
		{"-x with a node group", func() RunOptions {
			o := specFile(`{"nodeGroup": "g"}`)
			o.Exclude = []string{"h3"}
			return o
		}(), "", []string{"h3"}, ""},
		{"the spec's nodesets", specFile(`{"targets": ["h[1-2]", "g"]}`), "h1 h2 g", nil, ""},
		{"bad -w", RunOptions{Nodesets: []string{"ok", "web-[1-"}}, "", nil, `-w "web-[1-": nodeset "web-[1-": unclosed '[' at offset 4`},
		{"bad argument", RunOptions{Targets: []string{"web-[1-2]x/"}}, "", nil, `target "web-[1-2]x/": invalid target "web-1x/"`},
		{"bad file line", RunOptions{TargetsFile: badFile}, "", nil, "line 3: nodeset \"web-[5-1]\": reversed range 5-1"},
		{"bad -x", RunOptions{Nodesets: []string{"a"}, Exclude: []string{"b", "c[2-1]"}}, "", nil, `-x "c[2-1]": nodeset "c[2-1]": reversed range`},
		{"bad spec exclude", specFile(`{"targets": ["a"], "exclude": ["[1-"]}`), "", nil, "--spec -: exclude[0]: nodeset"},
		{"bad spec target", specFile(`{"targets": ["a", "b[1-"]}`), "", nil, "--spec -: targets[1]: nodeset"},
		{"everything excluded", RunOptions{Nodesets: []string{"h[1-2]"}, Exclude: []string{"h[1-2]"}}, "", nil, "-x excludes every one of the job's 2 targets"},
		{"too many", RunOptions{Nodesets: []string{"10.[0-255].[0-255].[0-255]"}}, "", nil, "more than 1000000 targets"},
		{"spec and targets file", RunOptions{SpecFile: "x.json", TargetsFile: file}, "", nil, "exactly one of --spec and --targets-file"},
		{"no targets", RunOptions{}, "", nil, "or targets with -w or as arguments"},
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
			var hosts []string
			for _, ts := range spec.Targets {
				hosts = append(hosts, ts.Host)
			}
			if strings.Join(hosts, " ") != tc.want || !slices.Equal(spec.Exclude, tc.exclude) {
				t.Errorf("targets %q exclude %q, want %q and %q", hosts, spec.Exclude, tc.want, tc.exclude)
			}
			if (spec.NodeGroup != "") != (tc.want == "") {
				t.Errorf("node group %q", spec.NodeGroup)
			}
		})
	}
}

func TestParseInterleaved(t *testing.T) {
	tests := []struct {
		args []string
		want string
		path string
	}{
		{[]string{"a", "--path", "/x", "b"}, "a b", "/x"},
		{[]string{"--path", "/y"}, "", "/y"},
		{[]string{"a", "--", "--path", "/z"}, "a --path /z", ""},
		{nil, "", ""},
	}
	for _, tc := range tests {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		path := fs.String("path", "", "")
		got, err := ParseInterleaved(fs, tc.args)
		if err != nil || strings.Join(got, " ") != tc.want || *path != tc.path {
			t.Errorf("ParseInterleaved(%q) = %q, path %q, %v; want %q, %q", tc.args, got, *path, err, tc.want, tc.path)
		}
	}
}

// TestRunNodesetsOnANode runs salvo run -w 'HOSTS[0-2]:PORT' -x 'HOST1:PORT'
// against a real node and a fleet on loopback: exactly hosts 0 and 2 are
// sent to.
func TestRunNodesetsOnANode(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	f := testutil.StartFleet(t, func(c *fleet.Config) { c.Hosts = 3 })
	node := testutil.StartNode(t, nil)
	port := f.Addr().Port
	out := runWith(t, nil, RunOptions{
		Server:     node.URL,
		Nodesets:   []string{fmt.Sprintf("127.1.0.[0-2]:%d", port)},
		Exclude:    []string{fmt.Sprintf("127.1.0.1:%d", port)},
		Output:     OutputNDJSON,
		NoProgress: true,
		Client:     fastClient(),
	})
	if out.code != ExitOK {
		t.Fatalf("exit %d: %s", out.code, out.stderr)
	}
	if !strings.Contains(out.stderr, "(2 targets)") {
		t.Errorf("stderr %q: want 2 targets submitted", out.stderr)
	}
	var hosts []string
	sc := bufio.NewScanner(strings.NewReader(out.stdout))
	for sc.Scan() {
		var r job.Result
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		if r.State != job.StateOK {
			t.Errorf("result %+v", r)
		}
		hosts = append(hosts, r.Host)
	}
	slices.Sort(hosts)
	if want := []string{"127.1.0.0", "127.1.0.2"}; !slices.Equal(hosts, want) {
		t.Errorf("results for %q, want %q", hosts, want)
	}
}
