package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/salvo-sh/salvo/actors"
	"github.com/salvo-sh/salvo/auth"
	"github.com/salvo-sh/salvo/httpapi"
	"github.com/salvo-sh/salvo/internal/testutil"
	"github.com/salvo-sh/salvo/job"
	"github.com/salvo-sh/salvo/store"
)

// TestSSHConfigFileAuthority: an operator's job may not name a server
// file as ssh.configFile (400 naming the field) but may name one under
// --ssh-key-dir, and a credential's sshConfigFile (an admin's) works; the
// jobs run against a real sshd on names only the config resolves.
func TestSSHConfigFileAuthority(t *testing.T) {
	d := testutil.StartSSHD(t, nil)
	keyDir := t.TempDir()
	config := fmt.Sprintf("Host web-*\n  HostName 127.0.0.1\n  Port %d\n  User %s\n  IdentityFile %s\n", d.Port, d.User, d.UserKey.File)
	cfgFile := filepath.Join(keyDir, "fleet.conf")
	khFile := filepath.Join(keyDir, "known_hosts")
	for f, content := range map[string]string{cfgFile: config, khFile: d.KnownHostsLines("127.0.0.1")} {
		if err := os.WriteFile(f, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	creds := &memCredentials{m: map[string]job.Credential{}}
	workDir := t.TempDir()
	n := testutil.StartNode(t, func(c *actors.Config) {
		c.KeyDir = keyDir
		c.Credentials = creds.GetCredential
		c.Worker.SSH.DataDir = workDir
		c.Worker.SSH.AgentSocket = filepath.Join(workDir, "no-agent")
		c.Worker.SSH.KnownHostsFiles = []string{filepath.Join(workDir, "none")}
	})
	st := n.Store.(*store.SQLite)
	cfg := httpapi.DefaultConfig()
	cfg.Logger = testutil.Logger(t)
	cfg.Access = httpapi.Access{Tokens: st, Audit: st}
	cfg.Credentials = creds
	api := httpapi.New(cfg, n.Engine, st)
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(func() { api.Close(); srv.Close() })
	tokens := map[auth.Role]string{}
	for _, r := range []auth.Role{auth.Operator, auth.Admin} {
		secret, hash, err := auth.NewSecret()
		if err != nil {
			t.Fatal(err)
		}
		if err := st.PutToken(context.Background(), auth.Token{Name: "t-" + r.String(), Role: r, Hash: hash, Created: time.Now()}); err != nil {
			t.Fatal(err)
		}
		tokens[r] = secret
	}
	operator, admin := tokens[auth.Operator], tokens[auth.Admin]
	sshJob := func(ssh map[string]any) map[string]any {
		ssh["command"] = "echo $HOST"
		return map[string]any{"protocol": "ssh", "targets": []string{"web-1", "web-2"}, "ssh": ssh,
			"timeouts": map[string]string{"connect": "10s", "request": "10s"}}
	}
	var e struct{ Error, Field string }
	for _, tc := range []struct {
		name, token string
		ssh         map[string]any
		field       string
	}{
		{"a server file", operator, map[string]any{"configFile": "/etc/passwd", "knownHostsFile": khFile}, "ssh.configFile"},
		{"out of the key dir by ..", operator, map[string]any{"configFile": keyDir + "/../fleet.conf", "knownHostsFile": khFile}, "ssh.configFile"},
		{"a relative path", admin, map[string]any{"configFile": "fleet.conf", "knownHostsFile": khFile}, "ssh.configFile"},
	} {
		if code := call(t, "POST", srv.URL+"/api/v1/jobs", tc.token, sshJob(tc.ssh), &e); code != http.StatusBadRequest || e.Field != tc.field {
			t.Errorf("%s: %d %+v, want 400 naming %s", tc.name, code, e, tc.field)
		}
	}

	// run submits a job as operator and checks that both targets ran on
	// the sshd under their names as written.
	run := func(name string, ssh map[string]any) string {
		t.Helper()
		var sub struct{ ID string }
		if code := call(t, "POST", srv.URL+"/api/v1/jobs", operator, sshJob(ssh), &sub); code != http.StatusAccepted {
			t.Fatalf("%s: submit %d", name, code)
		}
		testutil.WaitJob(t, n.Engine, sub.ID, time.Minute)
		var res struct{ Items []job.Result }
		call(t, "GET", srv.URL+"/api/v1/jobs/"+sub.ID+"/results?limit=10", operator, nil, &res)
		if len(res.Items) != 2 {
			t.Fatalf("%s: results %+v", name, res.Items)
		}
		for _, r := range res.Items {
			if want := []string{"web-1", "web-2"}[r.Index]; r.State != job.StateOK || r.Host != want || r.Body != want+"\n" {
				t.Errorf("%s: result %+v, want ok on %s", name, r, want)
			}
		}
		return sub.ID
	}
	run("a config under the key dir", map[string]any{"configFile": cfgFile, "knownHostsFile": khFile})

	// A credential with the config: its path is the admin's choice.
	adminCfg := filepath.Join(t.TempDir(), "ssh_config") // outside the key dir
	if err := os.WriteFile(adminCfg, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	cred := map[string]any{"sshConfigFile": adminCfg, "knownHostsFile": khFile}
	var view map[string]any
	if code := call(t, "PUT", srv.URL+"/api/v1/credentials/fleet", admin, cred, &view); code != http.StatusOK || view["sshConfigFile"] != adminCfg {
		t.Fatalf("credential PUT: %d %v", code, view)
	}
	if code := call(t, "GET", srv.URL+"/api/v1/credentials/fleet", admin, nil, &view); code != http.StatusOK || view["sshConfigFile"] != adminCfg {
		t.Fatalf("credential GET: %d %v", code, view)
	}
	if code := call(t, "PUT", srv.URL+"/api/v1/credentials/rel", admin, map[string]any{"sshConfigFile": "ssh_config"}, &e); code != http.StatusBadRequest || e.Field != "sshConfigFile" {
		t.Errorf("a relative sshConfigFile: %d %+v", code, e)
	}
	id := run("a credential's config", map[string]any{"credential": "fleet"})
	// The store keeps the credential's name, not the file it gave: a
	// resume reads the credential again.
	jr, err := st.GetJob(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if jr.Spec.SSH.Credential != "fleet" || jr.Spec.SSH.ConfigFile != "" {
		t.Errorf("stored spec %+v: want the credential's name and no configFile", jr.Spec.SSH)
	}
	// A job with a credential takes the config file from it, as the
	// known_hosts file.
	if err := creds.PutCredential(context.Background(), "plain", job.Credential{Password: "x"}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"fleet", "plain"} {
		if code := call(t, "POST", srv.URL+"/api/v1/jobs", operator, sshJob(map[string]any{"credential": c, "configFile": cfgFile}), &e); code != http.StatusBadRequest || e.Field != "ssh.configFile" {
			t.Errorf("credential %s and the job's config: %d %+v, want 400 naming ssh.configFile", c, code, e)
		}
	}
}
