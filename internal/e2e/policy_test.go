package e2e

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/salvo-sh/salvo/fleet"
	"github.com/salvo-sh/salvo/internal/testutil"
	"github.com/salvo-sh/salvo/job"
)

// The target policy: metadata addresses are refused by default at
// submit; a denied CIDR or glob is refused at submit with a 400 naming the
// target and the rule; a name that resolves into a denied range is refused
// at dial (error, errorClass policy); a token's scope limits it to its
// node groups.
func TestTargetPolicy(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	bin := testutil.BuildSalvo(t)
	var e struct{ Error, Field string }

	plain := testutil.StartServer(t, bin, "--data-dir", t.TempDir())
	for _, target := range []string{"169.254.169.254", "http://169.254.169.254/latest/meta-data/", "[fd00:ec2::254]:80"} {
		code, _ := call(t, "POST", plain.URL()+"/api/v1/jobs", "", map[string]any{"targets": []string{"10.0.0.1", target}}, &e)
		if code != http.StatusBadRequest || e.Field != "targets[1]" || !strings.Contains(e.Error, "denied") {
			t.Errorf("metadata target %s by default: %d %+v, want 400 naming targets[1] and the rule", target, code, e)
		}
	}

	f := testutil.StartFleet(t, func(c *fleet.Config) { c.Hosts = 4 })
	port := strconv.Itoa(f.Addr().Port)
	srv, _, admin := startAuthServer(t, bin, "--deny-targets", "169.254.0.0/16,127.0.0.1/32,*.blocked.test")
	for target, rule := range map[string]string{"127.0.0.1:" + port: "127.0.0.1/32", "db.blocked.test": "*.blocked.test"} {
		code, _ := call(t, "POST", srv.URL()+"/api/v1/jobs", admin, map[string]any{"targets": []string{target}}, &e)
		if code != http.StatusBadRequest || e.Field != "targets[0]" || !strings.Contains(e.Error, rule) {
			t.Errorf("denied target %s: %d %+v, want 400 naming the rule %s", target, code, e, rule)
		}
	}
	// localhost passes at submit (a name) and resolves into 127.0.0.1.
	targets := append(fleet.Targets(2, f.Addr().Port), "localhost:"+port)
	var st struct{ ID string }
	if code, body := call(t, "POST", srv.URL()+"/api/v1/jobs", admin, map[string]any{"targets": targets}, &st); code != http.StatusAccepted {
		t.Fatalf("submit: %d %s", code, body)
	}
	var done struct {
		State  string
		Counts map[string]int
	}
	deadline := time.Now().Add(time.Minute)
	for {
		call(t, "GET", srv.URL()+"/api/v1/jobs/"+st.ID+"?wait=30s", admin, nil, &done)
		if done.State == "gathered" || time.Now().After(deadline) {
			break
		}
	}
	if done.Counts["ok"] != 2 || done.Counts["error"] != 1 {
		t.Fatalf("job with a name resolving into a denied range: %+v", done)
	}
	var res struct {
		Items []job.Result
	}
	call(t, "GET", srv.URL()+"/api/v1/jobs/"+st.ID+"/results?state=error&limit=10", admin, nil, &res)
	if len(res.Items) != 1 || res.Items[0].ErrorClass != job.ClassPolicy || !strings.Contains(res.Items[0].Error, "127.0.0.1/32") {
		t.Errorf("the denied result: %+v, want error class policy naming the rule", res.Items)
	}

	// A token scoped to a node group sends to it only.
	if code, body := call(t, "PUT", srv.URL()+"/api/v1/nodegroups/web", admin, map[string]any{"hosts": fleet.Targets(2, f.Addr().Port)}, nil); code != http.StatusOK && code != http.StatusCreated {
		t.Fatalf("node group: %d %s", code, body)
	}
	var tok struct{ Token string }
	if code, body := call(t, "POST", srv.URL()+"/api/v1/tokens", admin, map[string]any{"name": "web-ops", "role": "operator", "scope": []string{"web"}}, &tok); code != http.StatusCreated {
		t.Fatalf("scoped token: %d %s", code, body)
	}
	if code, body := call(t, "POST", srv.URL()+"/api/v1/jobs", tok.Token, map[string]any{"nodeGroup": "web"}, nil); code != http.StatusAccepted {
		t.Errorf("scoped token to its node group: %d %s", code, body)
	}
	for _, spec := range []map[string]any{{"targets": fleet.Targets(1, f.Addr().Port)}, {"nodeGroup": "other"}} {
		if code, _ := call(t, "POST", srv.URL()+"/api/v1/jobs", tok.Token, spec, &e); code != http.StatusForbidden || !strings.Contains(e.Error, "web") {
			t.Errorf("scoped token sending %v: %d %+v, want 403 naming its scope", spec, code, e)
		}
	}
}
