package e2e

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/salvo-sh/salvo/fleet"
	"github.com/salvo-sh/salvo/internal/testutil"
)

// evilPage serves, on 127.0.0.2 (another origin), a page that tries what a
// malicious site would against the API at api: submit a job (a simple
// cross-site POST and a form), shut the node down (a POST and an image's
// GET), then sets its title to "done".
func evilPage(t *testing.T, api string, spec string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	page := fmt.Sprintf(`<!doctype html><html><body>
<form id="f" method="POST" action="%[1]s/distributedAgents/resetScheduler" target="sink"></form>
<iframe name="sink"></iframe>
<script>
const api = %[1]q;
const tries = [
  fetch(api + '/api/v1/jobs', {method: 'POST', mode: 'no-cors', headers: {'Content-Type': 'text/plain'}, body: %[2]q}).catch(() => {}),
  fetch(api + '/distributedAgents/shutdownNode', {method: 'POST', mode: 'no-cors'}).catch(() => {}),
  new Promise((done) => { const img = new Image(); img.onload = img.onerror = done; img.src = api + '/distributedAgents/shutdownNode'; }),
];
document.getElementById('f').submit();
Promise.all(tries).then(() => setTimeout(() => { document.title = 'done'; }, 300));
</script></body></html>`, api, spec)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte(page))
	}), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}

// With authentication off (a loopback API), a page of another origin in a
// real browser can neither submit a job nor shut the node down, and a
// request whose Host is not the API's (DNS rebinding) is refused.
func TestCrossSiteRequestsRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	chromium := chromiumPath(t)
	bin := testutil.BuildSalvo(t)
	srv := testutil.StartServer(t, bin, "--data-dir", t.TempDir())
	f := testutil.StartFleet(t, func(c *fleet.Config) { c.Hosts = 5 })
	spec := fmt.Sprintf(`{"targets": [%q]}`, fleet.Targets(5, f.Addr().Port)[0])
	evil := evilPage(t, srv.URL(), spec)

	b := startBrowser(t, chromium, 60*time.Second)
	b.do("open the other site's page", chromedp.Navigate(evil+"/"))
	b.wait("its tries are over", `document.title === 'done'`, 20*time.Second)

	var jobs struct{ Items []any }
	if code := testutil.DoJSON(t, "GET", srv.URL()+"/api/v1/jobs", nil, &jobs); code != http.StatusOK || len(jobs.Items) != 0 {
		t.Errorf("jobs after the other site's page: %d %+v, want none", code, jobs.Items)
	}
	if code := testutil.DoJSON(t, "GET", srv.URL()+"/readyz", nil, nil); code != http.StatusOK {
		t.Errorf("/readyz after the other site's page: %d, want 200 (not shut down)", code)
	}
	log := srv.Log()
	if strings.Contains(log, "shutdownNode: stopping") || strings.Contains(log, `"msg":"resetScheduler`) {
		t.Errorf("the other site's page reached a mutating route:\n%s", log)
	}
	if !strings.Contains(log, "cross-site request refused") {
		t.Errorf("no refusal in the audit log:\n%s", log)
	}

	// DNS rebinding: the browser would send the attacker's name as Host.
	req, _ := http.NewRequest(http.MethodGet, srv.URL()+"/api/v1/jobs", nil)
	req.Host = "rebind.example:80"
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("Host rebind.example: %d, want 403", resp.StatusCode)
	}
	// A script (no Origin) still uses REST Commander's GET forms.
	if code := testutil.DoJSON(t, "GET", srv.URL()+"/distributedAgents/queryJobQ", nil, nil); code != http.StatusOK {
		t.Errorf("queryJobQ from a script: %d", code)
	}
}

// With authentication on, the dashboard asks for a token, logs in with an
// HttpOnly session cookie, submits through the form (its writes carry the
// CSRF header), and a write with the cookie alone is refused.
func TestDashboardLogin(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	chromium := chromiumPath(t)
	bin := testutil.BuildSalvo(t)
	srv, _, admin := startAuthServer(t, bin)
	f := testutil.StartFleet(t, func(c *fleet.Config) { c.Hosts = 10 })

	b := startBrowser(t, chromium, 60*time.Second)
	b.do("open the dashboard", chromedp.Navigate(srv.URL()+"/ui/#/jobs"))
	b.wait("the login page", `location.hash === '#/login' && document.querySelector('#login-form') !== null`, 10*time.Second)
	b.do("a wrong token", chromedp.SendKeys(chromedp.ID("login-token"), "salvo_wrong"), chromedp.Click(chromedp.ID("login-btn")))
	b.wait("refused", `document.querySelector('#login-error').textContent.includes('unknown')`, 10*time.Second)
	b.do("the admin token", chromedp.SetValue(chromedp.ID("login-token"), admin), chromedp.Click(chromedp.ID("login-btn")))
	b.wait("logged in", `document.querySelector('#who').textContent.includes('admin (admin)') && location.hash === '#/jobs'`, 10*time.Second)
	if cookie := eval[string](b, "document.cookie", `document.cookie`); strings.Contains(cookie, "salvo_session") {
		t.Errorf("the session cookie is readable by scripts: %q", cookie)
	}

	b.goTo("#/submit", "submit")
	b.do("submit a job",
		chromedp.SetValue(chromedp.ID("f-targets"), strings.Join(fleet.Targets(10, f.Addr().Port), "\n")),
		chromedp.Click(chromedp.ID("submit-btn")))
	b.wait("the job page opens", `location.hash.startsWith('#/job/')`, 10*time.Second)

	// The cookie alone (no CSRF header) cannot write.
	code := awaitEval(b, "a write without the header", `fetch('/api/v1/jobs', {method: 'POST', headers: {'Content-Type': 'application/json'},
		body: JSON.stringify({targets: ['127.0.0.1:1']})}).then(r => r.status)`)
	if code != http.StatusForbidden {
		t.Errorf("a write with the session cookie and no CSRF header: %v, want 403", code)
	}
	b.do("log out", chromedp.Click(chromedp.ID("logout")))
	b.wait("the login page again", `location.hash === '#/login'`, 10*time.Second)
	code = awaitEval(b, "a read after logout", `fetch('/api/v1/jobs').then(r => r.status)`)
	if code != http.StatusUnauthorized {
		t.Errorf("a read after logout: %v, want 401", code)
	}
}

// awaitEval evaluates an expression whose value is a promise of a number.
func awaitEval(b *browser, step, expr string) float64 {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[float64](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		b.fail(step, err)
	}
	return v
}
