package job

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestTemplate(t *testing.T) {
	vars := map[string]string{"HOST": "10.0.0.1", "ID": "4", "A_1": "x", "EMPTY": "", "D": "$HOST"}
	lookup := func(n string) (string, bool) { v, ok := vars[n]; return v, ok }
	tests := []struct {
		src    string
		want   string
		vars   []string
		static bool
		undef  string
	}{
		{src: "", want: "", static: true},
		{src: "/status", want: "/status", static: true},
		{src: "/status/$ID", want: "/status/4", vars: []string{"ID"}},
		{src: "/status/${ID}x", want: "/status/4x", vars: []string{"ID"}},
		{src: "$HOST:$ID/$ID", want: "10.0.0.1:4/4", vars: []string{"HOST", "ID"}},
		{src: "$A_1$A_1", want: "xx", vars: []string{"A_1"}},
		{src: "$$ID", want: "$ID", static: true},
		{src: "$$$ID", want: "$4", vars: []string{"ID"}},
		{src: "cost: 5$", want: "cost: 5$", static: true},
		{src: "$1 and $ and $-", want: "$1 and $ and $-", static: true},
		{src: "[$EMPTY]", want: "[]", vars: []string{"EMPTY"}},
		{src: "$D", want: "$HOST", vars: []string{"D"}}, // values are not re-expanded
		{src: "${ID", want: "${ID", static: true},
		{src: "${}", want: "${}", static: true},
		{src: "${1x}", want: "${1x}", static: true},
		{src: "echo ${ID:-none} ${ID}", want: "echo ${ID:-none} 4", vars: []string{"ID"}},
		{src: "/x/$NOPE/$ID", undef: "NOPE", vars: []string{"NOPE", "ID"}},
	}
	for _, tc := range tests {
		t.Run(tc.src, func(t *testing.T) {
			tmpl, err := Compile(tc.src)
			if err != nil {
				t.Fatalf("Compile(%q): %v", tc.src, err)
			}
			if got := tmpl.Vars(); !slices.Equal(got, tc.vars) {
				t.Errorf("Vars() = %q, want %q", got, tc.vars)
			}
			if tmpl.Static() != tc.static {
				t.Errorf("Static() = %v, want %v", tmpl.Static(), tc.static)
			}
			got, err := tmpl.Expand(lookup)
			if tc.undef != "" {
				var ue *UndefinedVarError
				if !errors.As(err, &ue) || ue.Name != tc.undef {
					t.Fatalf("Expand error = %v, want undefined %s", err, tc.undef)
				}
				if !strings.Contains(err.Error(), "$"+tc.undef) {
					t.Errorf("error %q does not name $%s", err, tc.undef)
				}
				return
			}
			if err != nil {
				t.Fatalf("Expand: %v", err)
			}
			if got != tc.want {
				t.Errorf("Expand = %q, want %q", got, tc.want)
			}
			b, err := tmpl.AppendExpand([]byte("pre:"), lookup)
			if err != nil || string(b) != "pre:"+tc.want {
				t.Errorf("AppendExpand = %q, %v", b, err)
			}
		})
	}
}

// TestTemplateShell covers the expansion of a command for a remote shell
// (ssh.command): salvo's variables expand, every other reference reaches
// the shell as written, and "$$" stays a literal "$".
func TestTemplateShell(t *testing.T) {
	env := &Env{
		Target: map[string]string{"T": "tv", "BOTH": "target"},
		Job:    map[string]string{"J": "jv", "BOTH": "job", "DOLLAR": "$HOME"},
		Host:   "10.0.0.1", Port: 2222, Index: 7,
	}
	tests := []struct{ src, want string }{
		{"echo $HOME $RANDOM; for f in *; do echo $f; done", "echo $HOME $RANDOM; for f in *; do echo $f; done"},
		{"echo ${HOME} ${RANDOM}x", "echo ${HOME} ${RANDOM}x"},
		{"echo $1 $? $@ $# $* $- $! $0", "echo $1 $? $@ $# $* $- $! $0"},
		{"echo ${HOME:-/root} ${#PATH} $(id -u) `hostname`", "echo ${HOME:-/root} ${#PATH} $(id -u) `hostname`"},
		{"echo $J ${J}x $Jx", "echo jv jvx $Jx"}, // $Jx is the name Jx: the shell's
		{"echo $T ${T}", "echo tv tv"},
		{"echo $BOTH", "echo target"}, // a target var wins over a job var
		{"echo $HOST:$PORT/$INDEX", "echo 10.0.0.1:2222/7"},
		{"echo ${SALVO_HOST}:$SALVO_PORT/${SALVO_INDEX}", "echo 10.0.0.1:2222/7"},
		{"echo $$HOME $${J} $$J", "echo $HOME ${J} $J"},
		{"echo $$$HOME $$$J", "echo $$HOME $jv"},
		{"echo $DOLLAR", "echo $HOME"}, // values are not re-expanded
		{"cost: 5$", "cost: 5$"},
		{"", ""},
	}
	for _, tc := range tests {
		t.Run(tc.src, func(t *testing.T) {
			tmpl := MustCompile(tc.src)
			if got := string(tmpl.AppendShellEnv([]byte("pre:"), env)); got != "pre:"+tc.want {
				t.Errorf("AppendShellEnv = %q, want %q", got, "pre:"+tc.want)
			}
			if got := tmpl.ExpandShell(env.Lookup); got != tc.want {
				t.Errorf("ExpandShell = %q, want %q", got, tc.want)
			}
		})
	}
	// The same templates in the strict mode (HTTP fields): an undefined
	// name is an error naming it.
	if _, err := MustCompile("echo $HOME").AppendEnv(nil, env); err == nil || !strings.Contains(err.Error(), "$HOME") {
		t.Errorf("AppendEnv of $HOME = %v, want undefined variable $HOME", err)
	}
}

func TestTemplateExpandAllocs(t *testing.T) {
	tmpl := MustCompile("/status/${ID}/$HOST?x=1")
	env := &Env{Target: map[string]string{"ID": "4"}, Host: "10.0.0.1"}
	buf := make([]byte, 0, 128)
	allocs := testing.AllocsPerRun(100, func() {
		var err error
		buf, err = tmpl.AppendEnv(buf[:0], env)
		if err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("AppendEnv allocates %.1f times per call, want 0", allocs)
	}
	if string(buf) != "/status/4/10.0.0.1?x=1" {
		t.Errorf("got %q", buf)
	}
	shell := MustCompile("echo ${ID} $HOME $HOST")
	allocs = testing.AllocsPerRun(100, func() {
		buf = shell.AppendShellEnv(buf[:0], env)
	})
	if allocs != 0 {
		t.Errorf("AppendShellEnv allocates %.1f times per call, want 0", allocs)
	}
	if string(buf) != "echo 4 $HOME 10.0.0.1" {
		t.Errorf("got %q", buf)
	}
}

func FuzzTemplate(f *testing.F) {
	for _, s := range []string{"", "/a/$B/${C}", "$$", "$", "${", "${A}${B}$C$$D", "$1$_x", "\x00$é${Z}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tmpl, err := Compile(s)
		if err != nil {
			t.Fatalf("Compile(%q): %v", s, err)
		}
		if tmpl.String() != s {
			t.Fatalf("String() = %q, want %q", tmpl.String(), s)
		}
		names := tmpl.Vars()
		if tmpl.Static() != (len(names) == 0) {
			t.Fatalf("Static() = %v with vars %q", tmpl.Static(), names)
		}
		for _, n := range names {
			if !ValidVarName(n) {
				t.Fatalf("invalid var name %q from %q", n, s)
			}
		}
		// All variables defined: Expand succeeds; each reference becomes one
		// marker and nothing else introduces one.
		const marker = "\x01"
		out, err := tmpl.Expand(func(string) (string, bool) { return marker, true })
		if err != nil {
			t.Fatalf("Expand with all vars defined: %v", err)
		}
		if strings.Contains(s, marker) {
			return
		}
		if n := strings.Count(out, marker); (n == 0) != (len(names) == 0) {
			t.Fatalf("expansion %q of %q has %d markers for vars %q", out, s, n, names)
		}
		// Escaping the output gives a static template expanding to it.
		esc, err := Compile(EscapeTemplate(out))
		if err != nil {
			t.Fatalf("Compile(EscapeTemplate(%q)): %v", out, err)
		}
		if !esc.Static() {
			t.Fatalf("escaped template %q has vars %q", EscapeTemplate(out), esc.Vars())
		}
		again, err := esc.Expand(func(string) (string, bool) { return "", false })
		if err != nil || again != out {
			t.Fatalf("re-parse: got %q, %v; want %q", again, err, out)
		}
		// Expanded for a shell with nothing defined, every reference is
		// kept as written: only "$$" turns into "$".
		if sh := tmpl.ExpandShell(func(string) (string, bool) { return "", false }); sh != strings.ReplaceAll(s, "$$", "$") {
			t.Fatalf("ExpandShell(%q) with nothing defined = %q", s, sh)
		}
		// A static template's expansion only turns "$$" into "$".
		if tmpl.Static() && strings.ReplaceAll(s, "$$", "$") != out {
			t.Fatalf("static %q expanded to %q", s, out)
		}
	})
}
