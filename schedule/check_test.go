package schedule

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/salvo-sh/salvo/job"
	"github.com/salvo-sh/salvo/store"
)

// openStore is a store with a node group "web", a command "uptime", a
// command "secret" stored redacted and an aggregation "ver".
func openStore(t *testing.T) *store.SQLite {
	t.Helper()
	st, err := store.OpenSQLite(store.DefaultSQLiteConfig(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ctx := context.Background()
	for _, d := range []struct{ kind, name, body string }{
		{store.KindNodeGroup, "web", `{"hosts":["web-[1-3]"]}`},
		{store.KindCommand, "uptime", `{"protocol":"ssh","ssh":{"command":"uptime"}}`},
		{store.KindCommand, "secret", `{"http":{"path":"/","headers":{"Authorization":"<redacted>"}}}`},
		{store.KindAggregation, "ver", `{"regex":"v=(\\d+)"}`},
	} {
		if err := st.PutDefinition(ctx, d.kind, d.name, []byte(d.body)); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

// Check takes a valid schedule with its defaults, and refuses a bad one
// naming the field.
func TestCheck(t *testing.T) {
	st := openStore(t)
	tests := []struct {
		name, body string
		field      string // "" valid
		msg        string
	}{
		{"command", `{"cron":"*/15 * * * *","command":"uptime","nodeGroup":"web"}`, "", ""},
		{"spec with targets", `{"cron":"@hourly","spec":{"targets":["10.0.0.1"],"http":{"path":"/health"}}}`, "", ""},
		{"spec on the schedule's group", `{"cron":"@every 30s","spec":{"http":{"path":"/"},"aggregation":{"name":"ver"}},"nodeGroup":"web","catchUp":"skip","timezone":"Europe/Paris","enabled":false}`, "", ""},
		{"spec on its own group", `{"cron":"@daily","spec":{"nodeGroup":"web","http":{"path":"/"}}}`, "", ""},
		{"unknown field", `{"cron":"@daily","comand":"uptime"}`, "comand", "unknown field"},
		{"not JSON", `{"cron":`, "", "invalid JSON"},
		{"wrong type", `{"cron":"@daily","command":"uptime","nodeGroup":"web","enabled":"yes"}`, "enabled", "must be a bool"},
		{"no cron", `{"command":"uptime","nodeGroup":"web"}`, "cron", "needs a cron expression"},
		{"bad cron", `{"cron":"61 * * * *","command":"uptime","nodeGroup":"web"}`, "cron", "above maximum"},
		{"never", `{"cron":"0 0 30 2 *","command":"uptime","nodeGroup":"web"}`, "cron", "never comes"},
		{"bad zone", `{"cron":"@daily","command":"uptime","nodeGroup":"web","timezone":"Mars/Olympus"}`, "timezone", "unknown time zone"},
		{"bad catch-up", `{"cron":"@daily","command":"uptime","nodeGroup":"web","catchUp":"twice"}`, "catchUp", "unknown catch-up"},
		{"neither", `{"cron":"@daily","nodeGroup":"web"}`, "command", "exactly one of command"},
		{"both", `{"cron":"@daily","command":"uptime","spec":{"targets":["a"]}}`, "command", "exactly one of command"},
		{"unknown command", `{"cron":"@daily","command":"nope","nodeGroup":"web"}`, "command", `unknown command "nope"`},
		{"command with secrets", `{"cron":"@daily","command":"secret","nodeGroup":"web"}`, "command", "held secrets"},
		{"command without group", `{"cron":"@daily","command":"uptime"}`, "nodeGroup", "needs the node group"},
		{"unknown group", `{"cron":"@daily","command":"uptime","nodeGroup":"db"}`, "nodeGroup", `unknown node group "db"`},
		{"bad spec field", `{"cron":"@daily","spec":{"targets":["a"],"http":{"methd":"GET"}}}`, "spec.http.methd", ""},
		{"spec password", `{"cron":"@daily","spec":{"targets":["a"],"protocol":"ssh","ssh":{"command":"id","auth":{"password":"hunter2"}}}}`, "spec.ssh.auth.password", "must not hold secrets"},
		{"spec secret header", `{"cron":"@daily","spec":{"targets":["a"],"http":{"headers":{"Authorization":"Bearer x"}}}}`, "spec.http.headers.Authorization", "must not hold secrets"},
		{"two target lists", `{"cron":"@daily","spec":{"targets":["a"]},"nodeGroup":"web"}`, "nodeGroup", "not both"},
		{"no targets", `{"cron":"@daily","spec":{"http":{"path":"/"}}}`, "spec.targets", "give the spec targets"},
		{"unknown spec group", `{"cron":"@daily","spec":{"nodeGroup":"db"}}`, "spec.nodeGroup", `unknown node group "db"`},
		{"unknown aggregation", `{"cron":"@daily","spec":{"targets":["a"],"aggregation":{"name":"nope"}}}`, "spec.aggregation.name", `unknown aggregation "nope"`},
		{"bad target", `{"cron":"@daily","spec":{"targets":["a b"]}}`, "spec.targets[0]", ""},
		{"bad template", `{"cron":"@daily","spec":{"targets":["a"],"http":{"path":"/$MISSING"}}}`, "spec.http.path", "MISSING"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in, err := DecodeInput([]byte(tc.body))
			var d *Definition
			if err == nil {
				d, err = Check(context.Background(), in, st, CheckOptions{})
			}
			if tc.field == "" && tc.msg == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if d.CatchUp == "" || d.Timezone == "" {
					t.Errorf("no defaults: %+v", d)
				}
				return
			}
			var fe *job.FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field || !strings.Contains(fe.Msg, tc.msg) {
				t.Errorf("got %#v (%v), want field %q with %q", fe, err, tc.field, tc.msg)
			}
		})
	}
	// The defaults.
	in, _ := DecodeInput([]byte(`{"cron":"*/15 * * * *","command":"uptime","nodeGroup":"web"}`))
	d, err := Check(context.Background(), in, st, CheckOptions{})
	if err != nil || !d.Enabled || d.CatchUp != CatchUpOnce || d.Timezone != "UTC" {
		t.Errorf("defaults: %+v %v", d, err)
	}
}

// Build makes a run's spec from the command on the node group, or from
// a copy of the spec, named after the schedule.
func TestBuild(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	spec, err := Build(ctx, st, "nightly", &Definition{Command: "uptime", NodeGroup: "web"})
	if err != nil {
		t.Fatal(err)
	}
	if spec.Name != "nightly" || spec.NodeGroup != "web" || spec.SSH == nil || spec.SSH.Command != "uptime" || spec.Origin == nil || spec.Origin.Command != "uptime" {
		b, _ := json.Marshal(spec)
		t.Errorf("from a command: %s", b)
	}
	own := &job.Spec{Name: "mine", Targets: []job.TargetSpec{{Host: "a"}}}
	spec, err = Build(ctx, st, "nightly", &Definition{Spec: own})
	if err != nil || spec.Name != "mine" || len(spec.Targets) != 1 || spec == own {
		t.Errorf("from a spec: %+v %v", spec, err)
	}
	// A command deleted since is a field error: the run is recorded failed.
	if err := st.DeleteDefinition(ctx, store.KindCommand, "uptime"); err != nil {
		t.Fatal(err)
	}
	var fe *job.FieldError
	if _, err := Build(ctx, st, "nightly", &Definition{Command: "uptime", NodeGroup: "web"}); !errors.As(err, &fe) || fe.Field != "command" {
		t.Errorf("a deleted command: %v", err)
	}
}
