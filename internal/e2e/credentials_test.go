package e2e

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/salvo-sh/salvo/internal/testutil"
)

// SSH credentials kept by the server: a job of an operator token may not
// name server files (a key, known_hosts) or the workers' agent on its own;
// naming a credential an admin made, it runs against a real sshd. The
// password of a credential is never answered and never in the store file.
func TestSSHCredentials(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	const passphrase = "PASSPHRASE-cred-5d1e"
	const password = "PASSWORD-cred-0b7a"
	keys := t.TempDir()
	key := testutil.NewSSHKey(t, keys, "id_cred", passphrase)
	d := testutil.StartSSHD(t, func(c *testutil.SSHDConfig) { c.AuthorizedKeys = []ssh.PublicKey{key.Public} })
	passFile := filepath.Join(keys, "passphrase")
	khFile := filepath.Join(keys, "known_hosts")
	if err := os.WriteFile(passFile, []byte(passphrase+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(khFile, []byte(d.KnownHostsLines("127.0.0.1")), 0o600); err != nil {
		t.Fatal(err)
	}

	bin := testutil.BuildSalvo(t)
	srv, dir, admin := startAuthServer(t, bin)
	var tok struct{ Token string }
	if code, body := call(t, "POST", srv.URL()+"/api/v1/tokens", admin, map[string]any{"name": "ops", "role": "operator"}, &tok); code != http.StatusCreated {
		t.Fatalf("operator token: %d %s", code, body)
	}
	operator := tok.Token
	target := fmt.Sprintf("127.0.0.1:%d", d.Port)
	sshJob := func(ssh map[string]any) map[string]any {
		ssh["command"] = "whoami"
		return map[string]any{"protocol": "ssh", "targets": []string{target}, "ssh": ssh,
			"timeouts": map[string]string{"connect": "10s", "request": "10s"}}
	}

	var e struct{ Error, Field string }
	for _, tc := range []struct {
		name  string
		ssh   map[string]any
		field string
	}{
		{"a key file of the server", map[string]any{"user": d.User, "auth": map[string]any{"privateKeyFile": "/etc/shadow"}}, "ssh.auth.privateKeyFile"},
		{"a known_hosts file of the server", map[string]any{"user": d.User, "auth": map[string]any{"password": "x"}, "knownHostsFile": "/etc/passwd"}, "ssh.knownHostsFile"},
		{"the workers' agent", map[string]any{"user": d.User, "auth": map[string]any{"agent": true}}, "ssh.auth.agent"},
		{"an unknown credential", map[string]any{"credential": "nope"}, "ssh.credential"},
	} {
		if code, _ := call(t, "POST", srv.URL()+"/api/v1/jobs", operator, sshJob(tc.ssh), &e); code != http.StatusBadRequest || e.Field != tc.field {
			t.Errorf("%s as operator: %d %+v, want 400 naming %s", tc.name, code, e, tc.field)
		}
	}

	// Credentials: admin only; the password is write-only.
	cred := map[string]any{"user": d.User, "privateKeyFile": key.File, "passphraseFile": passFile, "knownHostsFile": khFile}
	if code, _ := call(t, "PUT", srv.URL()+"/api/v1/credentials/lab", operator, cred, nil); code != http.StatusForbidden {
		t.Errorf("credential PUT as operator: %d, want 403", code)
	}
	if code, body := call(t, "PUT", srv.URL()+"/api/v1/credentials/lab", admin, cred, nil); code != http.StatusOK {
		t.Fatalf("credential PUT: %d %s", code, body)
	}
	if code, body := call(t, "PUT", srv.URL()+"/api/v1/credentials/with-password", admin, map[string]any{"user": "x", "password": password}, nil); code != http.StatusOK || strings.Contains(body, password) {
		t.Fatalf("credential with a password: %d %s", code, body)
	}
	code, body := call(t, "GET", srv.URL()+"/api/v1/credentials", admin, nil, nil)
	if code != http.StatusOK || strings.Contains(body, password) || !strings.Contains(body, `"passwordSet":true`) || !strings.Contains(body, key.File) {
		t.Errorf("credential list: %d %s", code, body)
	}
	if code, body := call(t, "PUT", srv.URL()+"/api/v1/credentials/rel", admin, map[string]any{"privateKeyFile": "id_rsa"}, &e); code != http.StatusBadRequest || e.Field != "privateKeyFile" {
		t.Errorf("a relative key path: %d %s", code, body)
	}

	// The operator's job names the credential and runs.
	var st struct{ ID string }
	if code, body := call(t, "POST", srv.URL()+"/api/v1/jobs", operator, sshJob(map[string]any{"credential": "lab"}), &st); code != http.StatusAccepted {
		t.Fatalf("a job with the credential: %d %s", code, body)
	}
	var done struct {
		State  string
		Counts map[string]int
	}
	deadline := time.Now().Add(time.Minute)
	for done.State != "gathered" && time.Now().Before(deadline) {
		call(t, "GET", srv.URL()+"/api/v1/jobs/"+st.ID+"?wait=30s", operator, nil, &done)
	}
	if done.State != "gathered" || done.Counts["ok"] != 1 {
		t.Fatalf("the credential's job: %+v", done)
	}
	var res struct {
		Items []struct{ Body, Error string }
	}
	call(t, "GET", srv.URL()+"/api/v1/jobs/"+st.ID+"/results?limit=1", operator, nil, &res)
	if len(res.Items) != 1 || res.Items[0].Body != d.User+"\n" {
		t.Errorf("result: %+v", res.Items)
	}
	var files []byte
	for _, name := range []string{"salvo.db", "salvo.db-wal"} {
		if b, err := os.ReadFile(filepath.Join(dir, name)); err == nil {
			files = append(files, b...)
		}
	}
	if bytes.Contains(files, []byte(password)) || bytes.Contains(files, []byte(passphrase)) {
		t.Error("a credential's secret is in the store file")
	}
	if strings.Contains(srv.Log(), password) || strings.Contains(srv.Log(), passphrase) {
		t.Error("a credential's secret is in the server's log")
	}
}
