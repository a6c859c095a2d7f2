package e2e

import (
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/salvo-sh/salvo/auth"
	"github.com/salvo-sh/salvo/fleet"
	"github.com/salvo-sh/salvo/httpapi"
	"github.com/salvo-sh/salvo/internal/testutil"
	"github.com/salvo-sh/salvo/job"
	"github.com/salvo-sh/salvo/store"
)

// TestDashboardRoles runs the dashboard with authentication on (an
// in-process node and an API with tokens): a viewer sees a finished job
// with failures without the Rerun and Cancel buttons and downloads its
// export with the session cookie; an operator reruns the failed targets
// from the page (a POST with the cookie and the dashboard's CSRF header)
// and types a credential's name in the SSH form, where an admin chooses
// it from the server's list.
func TestDashboardRoles(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	chromium := chromiumPath(t)
	f := testutil.StartFleet(t, func(c *fleet.Config) { c.Hosts = 6 })
	n := testutil.StartNode(t, nil)
	st := n.Store.(*store.SQLite)
	cfg := httpapi.DefaultConfig()
	cfg.Logger = testutil.Logger(t)
	cfg.Access = httpapi.Access{Tokens: st, Audit: st}
	cfg.Credentials = &uiCredentials{names: []string{"deploy", "backup"}}
	api := httpapi.New(cfg, n.Engine, st)
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(func() { api.Close(); srv.Close() })
	secrets := map[auth.Role]string{}
	for _, r := range []auth.Role{auth.Viewer, auth.Operator, auth.Admin} {
		secret, hash, err := auth.NewSecret()
		if err != nil {
			t.Fatal(err)
		}
		if err := st.PutToken(context.Background(), auth.Token{Name: "ui-" + r.String(), Role: r, Hash: hash, Created: time.Now()}); err != nil {
			t.Fatal(err)
		}
		secrets[r] = secret
	}

	// A finished job: six hosts answer, two refuse.
	targets := append(fleet.Targets(6, f.Addr().Port), "127.0.0.1:1", "127.0.0.2:1")
	var sub struct{ ID string }
	if code, body := call(t, "POST", srv.URL+"/api/v1/jobs", secrets[auth.Operator], map[string]any{"name": "roles", "targets": targets}, &sub); code != http.StatusAccepted {
		t.Fatalf("submit: %d %s", code, body)
	}
	testutil.WaitJob(t, n.Engine, sub.ID, 30*time.Second)

	b := startBrowser(t, chromium, 60*time.Second)
	login := func(role auth.Role) {
		t.Helper()
		b.do("open the dashboard", chromedp.Navigate(srv.URL+"/ui/#/jobs"))
		b.wait("the login page", `location.hash === '#/login' && document.querySelector('#login-form') !== null`, 10*time.Second)
		b.do("log in as "+role.String(), chromedp.SetValue(chromedp.ID("login-token"), secrets[role]), chromedp.Click(chromedp.ID("login-btn")))
		b.wait("logged in", fmt.Sprintf(`document.querySelector('#who').textContent.includes('(%s)') && location.hash === '#/jobs'`, role), 10*time.Second)
	}

	// --- a viewer: no button that writes; the export downloads with the cookie ---
	login(auth.Viewer)
	b.goTo("#/job/"+sub.ID, "jobs")
	b.wait("the finished job", `document.querySelector('#main').dataset.state === 'gathered' && document.querySelector('svg.chart').dataset.series === 'history'`, 10*time.Second)
	if shown := eval[[]bool](b, "buttons", `[document.querySelector('#rerun-btn').hidden, document.querySelector('#cancel-btn').hidden]`); !slices.Equal(shown, []bool{true, true}) {
		t.Errorf("a viewer's Rerun and Cancel buttons hidden: %v, want both", shown)
	}
	rows, err := csv.NewReader(strings.NewReader(b.fetchText("the CSV export", eval[string](b, "CSV link", `document.querySelector('#export-csv').getAttribute('href')`)))).ReadAll()
	if err != nil || len(rows) != len(targets)+1 || !slices.Equal(rows[0], job.CSVHeader(false)) {
		t.Errorf("a viewer's CSV export: %v, %d rows", err, len(rows))
	}
	b.do("log out", chromedp.Click(chromedp.ID("logout")))
	b.wait("logged out", `location.hash === '#/login'`, 10*time.Second)

	// --- an operator: rerun failed from the page --------------------------------------
	login(auth.Operator)
	b.goTo("#/job/"+sub.ID, "jobs")
	b.wait("the rerun button", `!document.querySelector('#rerun-btn').hidden && !document.querySelector('#cancel-btn').hidden`, 10*time.Second)
	b.do("rerun failed", chromedp.Click(chromedp.ID("rerun-btn")))
	b.wait("the rerun's page", fmt.Sprintf(`location.hash !== '#/job/%s' && document.querySelector('#ran-rerun-of') !== null`, sub.ID), 10*time.Second)
	rerun := strings.TrimPrefix(eval[string](b, "rerun id", `decodeURIComponent(location.hash)`), "#/job/")
	rst := testutil.WaitJob(t, n.Engine, rerun, 30*time.Second)
	if rst.RerunOf != sub.ID || rst.Total != 2 || rst.Ran == nil || rst.Ran.SubmittedBy != "ui-operator" {
		t.Errorf("the rerun: rerunOf %q total %d ran %+v", rst.RerunOf, rst.Total, rst.Ran)
	}
	if got := b.text("submitted by", "#ran-submitted-by"); got != "ui-operator" {
		t.Errorf("submitted by %q", got)
	}
	b.goTo("#/submit", "submit")
	b.do("the SSH form", chromedp.Click(chromedp.ID("proto-ssh")), chromedp.WaitVisible(chromedp.ID("f-ssh-credential")))
	if tag := eval[string](b, "credential field", `document.getElementById('f-ssh-credential').tagName`); tag != "INPUT" {
		t.Errorf("an operator's credential field is a %s, want a text field", tag)
	}

	// --- an admin: the credentials to choose from ------------------------------------------
	b.do("log out", chromedp.Click(chromedp.ID("logout")))
	b.wait("logged out", `location.hash === '#/login'`, 10*time.Second)
	login(auth.Admin)
	b.goTo("#/submit", "submit")
	b.do("the SSH form", chromedp.Click(chromedp.ID("proto-ssh")))
	b.wait("the credentials list", `document.getElementById('f-ssh-credential').tagName === 'SELECT'`, 10*time.Second)
	if opts := eval[[]string](b, "credentials", `[...document.querySelectorAll('#f-ssh-credential option')].map(o => o.value)`); !slices.Equal(opts, []string{"", "backup", "deploy"}) {
		t.Errorf("credential choices %q", opts)
	}
	b.do("choose one", chromedp.SetValue(chromedp.ID("f-ssh-credential"), "deploy"),
		chromedp.SetValue(chromedp.ID("f-ssh-command"), "uptime"),
		chromedp.Evaluate[chromedp.Void](`document.getElementById('job-form').dispatchEvent(new Event('input'))`))
	if preview := b.text("the spec", "#spec-preview"); !strings.Contains(preview, `"credential": "deploy"`) || !strings.Contains(preview, `"protocol": "ssh"`) {
		t.Errorf("the spec the form builds:\n%s", preview)
	}
	if errs := b.pageErrors(); len(errs) > 0 {
		t.Errorf("the pages logged errors:\n%s", strings.Join(errs, "\n"))
	}
}

// uiCredentials lists credentials by name, each with a user only.
type uiCredentials struct{ names []string }

func (c *uiCredentials) PutCredential(context.Context, string, job.Credential) error { return nil }
func (c *uiCredentials) DeleteCredential(context.Context, string) error              { return nil }
func (c *uiCredentials) GetCredential(_ context.Context, name string) (*job.Credential, error) {
	if !slices.Contains(c.names, name) {
		return nil, store.ErrNotFound
	}
	return &job.Credential{User: name}, nil
}
func (c *uiCredentials) ListCredentials(context.Context) ([]string, error) {
	return slices.Sorted(slices.Values(c.names)), nil
}
