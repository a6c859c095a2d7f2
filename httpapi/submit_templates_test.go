package httpapi_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/salvo-sh/salvo/actors"
	"github.com/salvo-sh/salvo/internal/testutil"
)

// TestSubmitSSHTemplates: the submit answer warns about a short built-in
// that shadows a shell variable; a name nobody defines is the remote
// shell's; a name a later target defines is salvo's for every target, also
// when the targets stream by in chunks before the command is known; HTTP
// keeps the 400 with the hint about $$.
func TestSubmitSSHTemplates(t *testing.T) {
	n := testutil.StartNode(t, func(c *actors.Config) { c.ChunkSize = 2 })
	type answer struct {
		ID       string   `json:"id"`
		Warnings []string `json:"warnings"`
		Error    string   `json:"error"`
		Field    string   `json:"field"`
	}
	type submitCase struct {
		name     string
		body     string
		code     int
		field    string
		msg      []string // substrings of the error
		warnings []string
	}
	// Port 1 refuses: the accepted jobs end at once.
	tests := []submitCase{
		{"short HOST warns", `{"targets": ["127.0.0.1:1"], "protocol": "ssh", "ssh": {"command": "echo $HOST ${PORT} $HOME"}}`,
			http.StatusAccepted, "", nil, []string{
				"ssh.command: $HOST is salvo's built-in (the target's host), not the remote shell's; write ${SALVO_HOST} for salvo's or $$HOST for the shell's",
				"ssh.command: $PORT is salvo's built-in (the target's SSH port), not the remote shell's; write ${SALVO_PORT} for salvo's or $$PORT for the shell's",
			}},
		{"long names and shell names", `{"targets": ["127.0.0.1:1"], "protocol": "ssh", "ssh": {"command": "echo ${SALVO_HOST} $SALVO_INDEX $$HOST $HOME $RANDOM; for f in *; do echo $f; done"}}`,
			http.StatusAccepted, "", nil, nil},
		{"a later target's var is salvo's", `{"targets": ["127.0.0.1:1", "127.0.0.2:1", "127.0.0.3:1", "127.0.0.4:1", {"host": "127.0.0.5:1", "vars": {"MSG": "x"}}],
			"protocol": "ssh", "ssh": {"command": "echo $MSG $HOME"}}`,
			http.StatusBadRequest, "ssh.command", []string{"$MSG", "target 0", "127.0.0.1:1", "$$MSG"}, nil},
		{"defined by every target", `{"targets": [{"host": "127.0.0.1:1", "vars": {"MSG": "a"}}, {"host": "127.0.0.2:1", "vars": {"MSG": "b"}}, {"host": "127.0.0.3:1", "vars": {"MSG": "c"}}],
			"protocol": "ssh", "ssh": {"command": "echo $MSG $HOME"}}`,
			http.StatusAccepted, "", nil, nil},
		{"http undefined", `{"targets": ["127.0.0.1:1"], "http": {"path": "/$FOO"}}`,
			http.StatusBadRequest, "http.path", []string{"undefined variable $FOO", "define it in vars or the target's vars; write $$ for a literal $"}, nil},
		{"reserved var", `{"targets": ["127.0.0.1:1"], "vars": {"SALVO_HOST": "x"}, "protocol": "ssh", "ssh": {"command": "echo"}}`,
			http.StatusBadRequest, "vars", []string{"SALVO_HOST"}, nil},
	}
	// More distinct target var names than the submit keeps: the spool is
	// read once more to learn them.
	var many strings.Builder
	many.WriteString(`{"targets": ["127.0.0.1:1"`)
	for i := range 1100 {
		fmt.Fprintf(&many, `, {"host": "127.0.0.1:1", "vars": {"V%d": "x"}}`, i)
	}
	many.WriteString(`, {"host": "127.0.0.9:1", "vars": {"MSG": "x"}}], "protocol": "ssh", "ssh": {"command": "echo $MSG $HOME"}}`)
	tests = append(tests, submitCase{"a later target's var among many names", many.String(), http.StatusBadRequest, "ssh.command", []string{"$MSG", "target 0"}, nil})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var a answer
			code := testutil.DoJSON(t, "POST", n.URL+"/api/v1/jobs", tc.body, &a)
			if code != tc.code {
				t.Fatalf("status %d, want %d (%+v)", code, tc.code, a)
			}
			if a.Field != tc.field {
				t.Errorf("field %q, want %q (error %q)", a.Field, tc.field, a.Error)
			}
			for _, m := range tc.msg {
				if !strings.Contains(a.Error, m) {
					t.Errorf("error %q does not contain %q", a.Error, m)
				}
			}
			if strings.Join(a.Warnings, "\n") != strings.Join(tc.warnings, "\n") {
				t.Errorf("warnings %q, want %q", a.Warnings, tc.warnings)
			}
		})
	}
}
