package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/salvo-sh/salvo/auth"
	"github.com/salvo-sh/salvo/fleet"
	"github.com/salvo-sh/salvo/internal/testutil"
)

// call sends a request with a bearer token ("" none) and decodes a JSON
// answer into out; it returns the status and the raw body.
func call(t *testing.T, method, url, token string, body any, out any) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := (&http.Client{Timeout: time.Minute}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && len(raw) > 0 {
		_ = json.Unmarshal(raw, out)
	}
	return resp.StatusCode, string(raw)
}

// startAuthServer starts a node with --auth on and returns it, its data
// dir and the admin token its first start wrote.
func startAuthServer(t *testing.T, bin string, args ...string) (*testutil.Process, string, string) {
	t.Helper()
	dir := t.TempDir()
	srv := testutil.StartServer(t, bin, append([]string{"--data-dir", dir, "--auth", "on"}, args...)...)
	raw, err := os.ReadFile(filepath.Join(dir, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	return srv, dir, strings.TrimSpace(string(raw))
}

// salvoCmd runs the salvo binary and returns its stdout; it fails the test
// when the command does.
func salvoCmd(t *testing.T, bin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("salvo %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}

// TestTokensAndRoles runs a node with --auth on: the first start writes
// the admin token to a 0600 file and logs only its path; the CLI makes
// tokens with it; roles, HTTP Basic with curl, expiry and revocation hold
// on the next request; the store keeps hashes, never tokens; the audit log
// records allowed and refused calls without a secret.
func TestTokensAndRoles(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	bin := testutil.BuildSalvo(t)
	dir := t.TempDir()
	srv := testutil.StartServer(t, bin, "--data-dir", dir, "--auth", "on")
	tokenFile := filepath.Join(dir, "admin.token")
	fi, err := os.Stat(tokenFile)
	if err != nil {
		t.Fatalf("admin token file: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("admin token file mode %v, want 0600", fi.Mode().Perm())
	}
	b, _ := os.ReadFile(tokenFile)
	admin := strings.TrimSpace(string(b))
	if !strings.HasPrefix(admin, "salvo_") {
		t.Fatalf("admin token %q", admin)
	}
	if log := srv.Log(); strings.Contains(log, admin) || !strings.Contains(log, tokenFile) {
		t.Errorf("the log must name the token's file and never the token:\n%s", log)
	}

	// No token: 401 JSON; /livez needs none.
	var e struct{ Error, Field string }
	if code, _ := call(t, "GET", srv.URL()+"/api/v1/jobs", "", nil, &e); code != http.StatusUnauthorized || e.Error == "" {
		t.Errorf("no token: %d %+v, want 401 with an error", code, e)
	}
	if code, _ := call(t, "GET", srv.URL()+"/livez", "", nil, nil); code != http.StatusOK {
		t.Errorf("/livez without a token: %d", code)
	}

	// Tokens made with the CLI and the admin token's file.
	cli := []string{"--server", srv.URL(), "--token-file", tokenFile}
	operator := strings.TrimSpace(salvoCmd(t, bin, append([]string{"token", "create", "--name", "ops", "--role", "operator"}, cli...)...))
	viewer := strings.TrimSpace(salvoCmd(t, bin, append([]string{"token", "create", "--name", "watcher", "--role", "viewer"}, cli...)...))
	shortLived := strings.TrimSpace(salvoCmd(t, bin, append([]string{"token", "create", "--name", "brief", "--role", "viewer", "--expires", "1s"}, cli...)...))
	if list := salvoCmd(t, bin, append([]string{"token", "list"}, cli...)...); !strings.Contains(list, "ops") || !strings.Contains(list, "operator") ||
		strings.Contains(list, operator) {
		t.Errorf("token list:\n%s", list)
	}

	const hosts = 20
	f := testutil.StartFleet(t, func(c *fleet.Config) { c.Hosts = hosts })
	spec := map[string]any{"targets": fleet.Targets(hosts, f.Addr().Port)}
	if code, _ := call(t, "POST", srv.URL()+"/api/v1/jobs", viewer, spec, &e); code != http.StatusForbidden || !strings.Contains(e.Error, "operator") {
		t.Errorf("viewer submit: %d %+v, want 403 naming operator", code, e)
	}
	var st struct{ ID string }
	if code, raw := call(t, "POST", srv.URL()+"/api/v1/jobs", operator, spec, &st); code != http.StatusAccepted {
		t.Fatalf("operator submit: %d %s", code, raw)
	}
	if code, _ := call(t, "POST", srv.URL()+"/distributedAgents/shutdownNode", operator, nil, &e); code != http.StatusForbidden || !strings.Contains(e.Error, "admin") {
		t.Errorf("operator shutdownNode: %d %+v, want 403 naming admin", code, e)
	}

	// REST Commander's scripts: the token as the HTTP Basic password.
	curl := func(args ...string) string {
		out, err := exec.Command("curl", append([]string{"-s", "-w", "\n%{http_code}", "--max-time", "30"}, args...)...).Output()
		if err != nil {
			t.Fatalf("curl %v: %v", args, err)
		}
		return string(out)
	}
	host := strings.TrimPrefix(srv.URL(), "http://")
	if out := curl("http://rc:" + viewer + "@" + host + "/distributedAgents/queryJobQ"); !strings.HasSuffix(out, "\n200") {
		t.Errorf("queryJobQ with Basic auth: %s", out)
	}
	if out := curl("http://rc:wrong@" + host + "/distributedAgents/queryJobQ"); !strings.HasSuffix(out, "\n401") {
		t.Errorf("queryJobQ with a wrong token: %s", out)
	}
	adhoc := `{"targetHosts":["127.0.0.1"],"agentCommandType":"GET_VALIDATE"}`
	if out := curl("-X", "POST", "-H", "Content-Type: application/json", "-d", adhoc,
		"http://rc:"+viewer+"@"+host+"/commands/genUpdateSendCommandWithReplaceVarMapAdhocJson"); !strings.HasSuffix(out, "\n403") {
		t.Errorf("an ad hoc send as viewer: %s", out)
	}

	// Expiry and revocation take effect on the next request.
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, _ := call(t, "GET", srv.URL()+"/api/v1/jobs", shortLived, nil, &e)
		if code == http.StatusUnauthorized {
			if !strings.Contains(e.Error, "expired") {
				t.Errorf("expired token: %+v", e)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a 1s token still works after 10s: %d", code)
		}
		time.Sleep(100 * time.Millisecond) // the token's expiry is a time: nothing signals it
	}
	salvoCmd(t, bin, append([]string{"token", "revoke", "watcher"}, cli...)...)
	if code, _ := call(t, "GET", srv.URL()+"/api/v1/jobs", viewer, nil, nil); code != http.StatusUnauthorized {
		t.Errorf("revoked token: %d, want 401", code)
	}

	// salvo run with the token's file.
	tf := filepath.Join(t.TempDir(), "ops.token")
	if err := os.WriteFile(tf, []byte(operator+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	targets := filepath.Join(t.TempDir(), "targets")
	if err := os.WriteFile(targets, []byte(strings.Join(fleet.Targets(hosts, f.Addr().Port), "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	salvoCmd(t, bin, "run", "--server", srv.URL(), "--token-file", tf, "--targets-file", targets, "--no-progress")

	// The store file holds hashes, never the tokens.
	var raw []byte
	for _, name := range []string{"salvo.db", "salvo.db-wal"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err == nil {
			raw = append(raw, b...)
		}
	}
	for name, secret := range map[string]string{"admin": admin, "ops": operator, "watcher": viewer} {
		if bytes.Contains(raw, []byte(secret)) {
			t.Errorf("the store file holds the %s token", name)
		}
	}
	if !bytes.Contains(raw, []byte(auth.Hash(operator))) {
		t.Error("the store file does not hold the operator token's hash")
	}

	// The audit log: allowed and refused calls, no secret.
	var audit struct {
		Items []struct {
			Actor, Route, Outcome, Target string
			Status                        int
		}
	}
	code, body := call(t, "GET", srv.URL()+"/api/v1/audit?limit=100", admin, nil, &audit)
	if code != http.StatusOK {
		t.Fatalf("audit: %d %s", code, body)
	}
	var allowedSubmit, refusedSubmit, refusedShutdown bool
	for _, a := range audit.Items {
		allowedSubmit = allowedSubmit || a.Actor == "ops" && a.Route == "/api/v1/jobs" && a.Outcome == "allowed" && a.Target == st.ID
		refusedSubmit = refusedSubmit || a.Actor == "watcher" && a.Route == "/api/v1/jobs" && strings.HasPrefix(a.Outcome, "refused")
		refusedShutdown = refusedShutdown || a.Actor == "ops" && a.Route == "/distributedAgents/shutdownNode" && a.Status == http.StatusForbidden
	}
	if !allowedSubmit || !refusedSubmit || !refusedShutdown {
		t.Errorf("audit lacks entries (allowed submit %v, refused submit %v, refused shutdown %v):\n%s", allowedSubmit, refusedSubmit, refusedShutdown, body)
	}
	for _, secret := range []string{admin, operator, viewer} {
		if strings.Contains(body, secret) || strings.Contains(srv.Log(), secret) {
			t.Error("a token is in the audit log or the server's log")
		}
	}
	if code, _ := call(t, "GET", srv.URL()+"/api/v1/audit", operator, nil, nil); code != http.StatusForbidden {
		t.Errorf("audit as operator: %d, want 403", code)
	}
}

// --auth off on an address that is not loopback needs --insecure-no-auth.
func TestAuthOffRefusedOffLoopback(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	bin := testutil.BuildSalvo(t)
	out := startServerExpectFailure(t, bin, "--data-dir", t.TempDir(), "--http-addr", "0.0.0.0:0", "--auth", "off")
	if !strings.Contains(out, "insecure-no-auth") {
		t.Errorf("refusal does not name --insecure-no-auth:\n%s", out)
	}
}

// A cluster with authentication on: a worker-only node forwards with the
// caller's token (the master decides), checks the calls it answers itself
// with the master, and the master's own calls (createNode invitations,
// the member watch) carry its node token.
func TestClusterWithAuth(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	bin := testutil.BuildSalvo(t)
	w := testutil.StartServer(t, bin, append([]string{"--auth", "on"}, gossipArgs("aw-1", "worker", "")...)...)
	cfgFile := filepath.Join(t.TempDir(), "master.yaml")
	if err := os.WriteFile(cfgFile, []byte("cluster:\n  peers: [\""+w.Addr+"\"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	master, _, admin := startAuthServer(t, bin, append([]string{"--config", cfgFile, "--cluster-watch", "200ms"},
		gossipArgs("aw-boss", "master", "")...)...)
	if code, body := call(t, "POST", master.URL()+"/distributedAgents/createNode", admin, nil, nil); code != http.StatusOK {
		t.Fatalf("createNode with the admin token: %d %s", code, body)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var pg struct {
			Items []struct{ Name, State string }
		}
		call(t, "GET", master.URL()+"/api/v1/cluster/members", admin, nil, &pg)
		alive := false
		for _, m := range pg.Items {
			alive = alive || m.Name == "aw-1" && m.State == "alive"
		}
		if alive {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the worker did not join: %+v", pg.Items)
		}
		time.Sleep(50 * time.Millisecond) // polling the API: gossip has no outside signal
	}
	var tok struct{ Token string }
	call(t, "POST", master.URL()+"/api/v1/tokens", admin, map[string]any{"name": "peek", "role": "viewer"}, &tok)

	// Through the worker: the master decides.
	deadline = time.Now().Add(30 * time.Second)
	for {
		code, _ := call(t, "GET", w.URL()+"/api/v1/jobs", tok.Token, nil, nil)
		if code == http.StatusOK {
			break
		}
		if code != http.StatusServiceUnavailable || time.Now().After(deadline) {
			t.Fatalf("a viewer through the worker: %d", code)
		}
		time.Sleep(20 * time.Millisecond) // the worker learns its master by gossip
	}
	if code, _ := call(t, "GET", w.URL()+"/api/v1/jobs", "", nil, nil); code != http.StatusUnauthorized {
		t.Errorf("no token through the worker: %d, want 401", code)
	}
	// The worker's own calls: checked with the master.
	if code, _ := call(t, "POST", w.URL()+"/distributedAgents/shutdownNode", tok.Token, nil, nil); code != http.StatusForbidden {
		t.Errorf("shutdownNode on the worker as viewer: %d, want 403", code)
	}
	if code, body := call(t, "POST", w.URL()+"/distributedAgents/shutdownNode", admin, nil, nil); code != http.StatusOK {
		t.Fatalf("shutdownNode on the worker as admin: %d %s", code, body)
	}
	// The master's watch brings it back with its node token.
	waitLog(t, master, 30*time.Second, "asked to join again", "aw-1")
	waitLog(t, w, 30*time.Second, "createNode: the node's cluster part is started")
}
