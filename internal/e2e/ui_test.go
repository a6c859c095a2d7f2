package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/salvo-sh/salvo/actors"
	"github.com/salvo-sh/salvo/fleet"
	"github.com/salvo-sh/salvo/internal/testutil"
)

// chromiumPath finds a Chromium to drive: $SALVO_CHROMIUM, then the usual
// names on PATH. Without one the test is skipped, unless CI is set.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("SALVO_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	testutil.Missing(t, "no Chromium for the dashboard test (install Debian's chromium, or set SALVO_CHROMIUM)")
	return ""
}

// browser is a headless Chromium tab bounded by a deadline, with the page's
// uncaught exceptions and console errors collected.
type browser struct {
	t    *testing.T
	ctx  context.Context
	mu   sync.Mutex
	errs []string
}

func startBrowser(t *testing.T, path string, deadline time.Duration) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1360, 1000),
	)
	// The deadline bounds the whole browser: when it passes, Chromium is
	// stopped and every pending action fails.
	dctx, dcancel := context.WithTimeout(context.Background(), deadline)
	actx, acancel := chromedp.NewExecAllocator(dctx, opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancel()
		acancel()
		dcancel()
	})
	b := &browser{t: t, ctx: ctx}
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start chromium %s: %v", path, err)
	}
	err := chromedp.Listen(ctx, func(ev any) {
		var msg string
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			msg = "exception: " + ev.ExceptionDetails.Text
			if ev.ExceptionDetails.Exception != nil && ev.ExceptionDetails.Exception.Description != "" {
				msg += " " + ev.ExceptionDetails.Exception.Description
			}
		case *runtime.EventConsoleAPICalled:
			if ev.Type != runtime.ConsoleAPICalledTypeError {
				return
			}
			var parts []string
			for _, a := range ev.Args {
				parts = append(parts, string(a.Value)+a.Description)
			}
			msg = "console.error: " + strings.Join(parts, " ")
		default:
			return
		}
		b.mu.Lock()
		b.errs = append(b.errs, msg)
		b.mu.Unlock()
	})
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	return b
}

// pageErrors returns the page's uncaught exceptions and console errors.
func (b *browser) pageErrors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.errs...)
}

// do runs actions, failing the test with what step did not work.
func (b *browser) do(step string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		b.fail(step, err)
	}
}

// wait polls a JavaScript predicate until it is true.
func (b *browser) wait(step, predicate string, timeout time.Duration) {
	b.t.Helper()
	_, err := chromedp.Run(b.ctx, chromedp.Poll[chromedp.Void](predicate,
		chromedp.WithPollingTimeout(timeout), chromedp.WithPollingInterval(50*time.Millisecond)))
	if err != nil {
		b.fail(step, err)
	}
}

// goTo switches the dashboard to a route (#/jobs, #/job/ID, …) and waits
// until the route's page is mounted. A hash change loads no document, so
// chromedp.Navigate (which waits for a load) is not used for it.
func (b *browser) goTo(hash, page string) {
	b.t.Helper()
	b.do("go to "+hash, chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`location.hash = %q`, hash)))
	b.wait("page of "+hash, fmt.Sprintf(`document.querySelector('#main').dataset.route === %q && document.querySelector('#main').dataset.page === %q`, hash, page), 10*time.Second)
}

// text returns an element's text content.
func (b *browser) text(step, sel string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.TextContent(chromedp.CSS(sel)))
	if err != nil {
		b.fail(step, err)
	}
	return s
}

// eval evaluates an expression into a T.
func eval[T any](b *browser, step, expr string) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.fail(step, err)
	}
	return v
}

func (b *browser) fail(step string, err error) {
	b.t.Helper()
	main, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`(document.querySelector('main')||document.body).innerText.slice(0, 3000)`))
	b.t.Fatalf("%s: %v\npage errors: %v\npage text:\n%s", step, err, b.pageErrors(), main)
}

// TestDashboardInBrowser drives the dashboard in headless Chromium against an
// in-process node and a simulated fleet: submit a job through the form, watch
// it reach 100 %, read a group's hosts and a host's body, cancel a job, drain
// and enable the worker from the cluster page, and see a 400 next to the
// field it names.
func TestDashboardInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	chromium := chromiumPath(t)
	const hosts = 3000
	f := testutil.StartFleet(t, func(c *fleet.Config) {
		c.Hosts = hosts
		c.LatencyMin, c.LatencyMax = 20*time.Millisecond, 60*time.Millisecond
		c.ErrorRate = 0.03
		c.StatusCodes = []fleet.StatusShare{{Code: 404, Share: 0.02}}
	})
	n := testutil.StartNode(t, func(c *actors.Config) { c.Capacity = 500 })
	port := f.Addr().Port
	b := startBrowser(t, chromium, 90*time.Second)
	start := time.Now()

	// --- submit a job through the form and watch it reach 100 % ----------------
	// The fleet's hosts, then a few loopback addresses where nothing listens
	// (connection refused: state error).
	const refused = 30
	targets := fleet.Targets(hosts, port)
	for i := range refused {
		targets = append(targets, fmt.Sprintf("127.2.0.%d:1", i))
	}
	b.do("open the submit page",
		chromedp.Navigate(n.URL+"/ui/#/submit"),
		chromedp.WaitVisible(chromedp.ID("f-targets")),
		chromedp.SetValue(chromedp.ID("f-targets"), strings.Join(targets, "\n")),
		chromedp.SendKeys(chromedp.ID("f-name"), "ui-version"),
		chromedp.SendKeys(chromedp.ID("f-http-path"), "/health"),
		chromedp.SendKeys(chromedp.ID("f-maxConcurrency"), "50"),
		chromedp.SendKeys(chromedp.ID("f-timeouts-connect"), "2s"),
		chromedp.SendKeys(chromedp.ID("f-aggregation-regex"), `version=(\S+)`),
		chromedp.Click(chromedp.ID("submit-btn")),
	)
	b.wait("the job page opens", `location.hash.startsWith('#/job/') && document.querySelector('#job-state .badge') !== null`, 10*time.Second)
	id := strings.TrimPrefix(eval[string](b, "read the job id", `decodeURIComponent(location.hash)`), "#/job/")
	b.wait("progress reaches 100%", `document.querySelector('#progress-pct').textContent === '100%' && document.querySelector('#main').dataset.state === 'gathered'`, 45*time.Second)

	st := status(t, n.URL, id)
	if st.Name != "ui-version" || st.Total != hosts+refused || st.State != "gathered" {
		t.Fatalf("job from the form: name %q total %d state %s", st.Name, st.Total, st.State)
	}
	events, _ := strconv.Atoi(eval[string](b, "events", `document.querySelector('#main').dataset.events || '0'`))
	if events < 3 {
		t.Errorf("the page saw %d progress events, want several over a job of ~2 s", events)
	}
	for k, want := range map[string]int{"ok": st.Counts["ok"], "error": st.Counts["error"], "done": st.Done} {
		if got := b.text("count "+k, "#count-"+k); got != fmtThousands(want) {
			t.Errorf("page shows %s %q, API says %d", k, got, want)
		}
	}
	if st.Counts["ok"] != hosts || st.Counts["error"] != refused {
		t.Errorf("ok %d error %d, want %d and %d (hosts answering 500 are ok)", st.Counts["ok"], st.Counts["error"], hosts, refused)
	}
	if n := eval[int](b, "chart", `document.querySelectorAll('svg.chart polyline').length`); n != 1 {
		t.Errorf("no rate line drawn (%d polylines)", n)
	}
	if w := b.text("workers", "#workers"); !strings.Contains(w, "node-a") {
		t.Errorf("workers table %q does not name node-a", w)
	}

	// --- aggregation: click a value, list its hosts ------------------------------
	b.wait("aggregation by value", `document.querySelector('#agg tr[data-value="v1"]') !== null`, 10*time.Second)
	b.do("open the v1 group", chromedp.Click(chromedp.CSS(`#agg tr[data-value="v1"]`)))
	b.wait("the group's hosts", `document.querySelectorAll('#group-hosts tr').length > 0`, 10*time.Second)
	rows := eval[[][]string](b, "group rows", `[...document.querySelectorAll('#group-hosts tr')].map(tr => [...tr.cells].map(td => td.textContent))`)
	if len(rows) != 25 {
		t.Errorf("group page has %d rows, want 25", len(rows))
	}
	for _, r := range rows {
		i, err := strconv.Atoi(r[0])
		if err != nil || len(r) != 4 || r[1] != fleet.HostAddr(i) || r[3] != "v1" || f.Expect(i).Version != "v1" {
			t.Errorf("group v1 lists %v", r)
		}
	}
	if folded := b.text("folded", "#group-folded"); !strings.Contains(folded, "127.1.") {
		t.Errorf("folded host list %q", folded)
	}

	// --- host search: a host's full record ----------------------------------------
	const probe = 7
	b.do("search a host",
		chromedp.SendKeys(chromedp.ID("host-input"), fleet.HostAddr(probe)),
		chromedp.Click(chromedp.CSS(`#host-form button[type=submit]`)),
	)
	b.wait("the host's record", `document.querySelector('#host-record .rec-body') !== null`, 10*time.Second)
	exp := f.Expect(probe)
	if body := b.text("record body", "#host-record .rec-body"); body != exp.Body {
		t.Errorf("body on the page %q, want %q", body, exp.Body)
	}
	if code := b.text("record status", "#host-record .rec-status"); code != strconv.Itoa(exp.Status) {
		t.Errorf("status on the page %q, want %d", code, exp.Status)
	}
	b.screenshot(t, "job.png")

	// --- jobs page -------------------------------------------------------------------
	b.goTo("#/jobs", "jobs")
	b.wait("the job is listed gathered", fmt.Sprintf(`document.querySelector('#jobs tr[data-job=%q][data-state="gathered"]') !== null`, id), 10*time.Second)
	b.screenshot(t, "jobs.png")

	// --- cancel a running job from its page ---------------------------------------------
	slow := submit(t, n.URL, map[string]any{"targets": fleet.Targets(hosts, port), "maxConcurrency": 2})
	b.goTo("#/job/"+slow, "jobs")
	b.wait("the cancel button is enabled", `document.querySelector('#cancel-btn') && !document.querySelector('#cancel-btn').disabled`, 10*time.Second)
	b.do("cancel", chromedp.Click(chromedp.ID("cancel-btn")))
	b.wait("the job shows cancelled", `document.querySelector('#main').dataset.state === 'cancelled'`, 20*time.Second)
	if st := status(t, n.URL, slow); st.State != "cancelled" {
		t.Errorf("after the cancel button the job is %s", st.State)
	}
	b.goTo("#/jobs?state=cancelled", "jobs")
	b.wait("the cancelled job listed", fmt.Sprintf(`document.querySelector('#jobs tr[data-job=%q]') !== null`, slow), 10*time.Second)
	if listed := eval[[]string](b, "filtered jobs", `[...document.querySelectorAll('#jobs tr[data-job]')].map(tr => tr.dataset.job + ' ' + tr.dataset.state)`); len(listed) != 1 || listed[0] != slow+" cancelled" {
		t.Errorf("jobs filtered by cancelled: %v, want only %s", listed, slow)
	}
	if v := eval[string](b, "filter", `document.querySelector('#state-filter').value`); v != "cancelled" {
		t.Errorf("state filter shows %q", v)
	}

	// --- drain and enable the worker from the cluster page --------------------------------
	b.goTo("#/cluster", "cluster")
	b.wait("node-a listed", `document.querySelector('tr[data-member="node-a"] button[data-action="drain"]') !== null`, 10*time.Second)
	b.do("drain node-a", chromedp.Click(chromedp.CSS(`tr[data-member="node-a"] button[data-action="drain"]`)))
	b.wait("node-a shown disabled", `document.querySelector('tr[data-member="node-a"][data-enabled="false"] button[data-action="enable"]') !== null`, 10*time.Second)
	if m, ok := member(members(t, n.URL), "node-a"); !ok || m.Enabled {
		t.Fatalf("after Drain the API says node-a enabled=%v (found %v)", m.Enabled, ok)
	}
	b.screenshot(t, "cluster.png")
	b.do("enable node-a", chromedp.Click(chromedp.CSS(`tr[data-member="node-a"] button[data-action="enable"]`)))
	b.wait("node-a shown enabled", `document.querySelector('tr[data-member="node-a"][data-enabled="true"]') !== null`, 10*time.Second)
	if m, ok := member(members(t, n.URL), "node-a"); !ok || !m.Enabled {
		t.Errorf("after Enable the API says node-a enabled=%v (found %v)", m.Enabled, ok)
	}

	// --- a 400 is shown next to the field it names ------------------------------------------
	for _, tc := range []struct {
		field, input, value string
		spec                map[string]any
	}{
		{"timeouts.connect", "f-timeouts-connect", "3 parsecs", map[string]any{"timeouts": map[string]string{"connect": "3 parsecs"}}},
		{"aggregation.regex", "f-aggregation-regex", "(", map[string]any{"aggregation": map[string]string{"regex": "("}}},
		{"maxConcurrency", "f-maxConcurrency", "100000", map[string]any{"maxConcurrency": 100000}},
	} {
		tc.spec["targets"] = []string{fleet.Target(1, port)}
		tc.spec["http"] = map[string]string{"method": "GET"}
		var apiErr struct{ Error, Field string }
		if code := testutil.DoJSON(t, "POST", n.URL+"/api/v1/jobs", tc.spec, &apiErr); code != http.StatusBadRequest || apiErr.Field != tc.field {
			t.Fatalf("API: %d field %q, want 400 %s", code, apiErr.Field, tc.field)
		}
		b.goTo("#/jobs", "jobs") // leave and come back: a fresh form
		b.goTo("#/submit", "submit")
		b.do("bad "+tc.field,
			chromedp.WaitVisible(chromedp.ID(tc.input)),
			chromedp.SetValue(chromedp.ID("f-targets"), fleet.Target(1, port)),
			chromedp.SendKeys(chromedp.ID(tc.input), tc.value),
			chromedp.Click(chromedp.ID("submit-btn")),
		)
		next := fmt.Sprintf(`document.getElementById(%q).closest('.field').querySelector('.field-error')`, tc.input)
		b.wait("error next to "+tc.field, next+`.textContent !== ''`, 10*time.Second)
		if got := eval[string](b, "error text", next+`.textContent`); got != apiErr.Error {
			t.Errorf("%s: next to the field %q, want the API's %q", tc.field, got, apiErr.Error)
		}
		if got := eval[string](b, "error field", next+`.dataset.errorFor`); got != tc.field {
			t.Errorf("error shown for %q, want %q", got, tc.field)
		}
		if hash := eval[string](b, "hash", `location.hash`); hash != "#/submit" {
			t.Errorf("%s: page moved to %s", tc.field, hash)
		}
		b.screenshot(t, "submit-"+tc.field+".png")
	}

	if errs := b.pageErrors(); len(errs) > 0 {
		t.Errorf("the pages logged errors:\n%s", strings.Join(errs, "\n"))
	}
	t.Logf("browser steps took %s", time.Since(start).Round(time.Millisecond))
}

// screenshot saves the page in the test's artifact directory and, for the
// job page when SALVO_UI_SCREENSHOT names a file, the visible part there as
// well (docs/dashboard.png).
func (b *browser) screenshot(t *testing.T, name string) {
	t.Helper()
	full, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.fail("screenshot", err)
	}
	p := filepath.Join(t.ArtifactDir(), name)
	if err := os.WriteFile(p, full, 0o644); err != nil {
		t.Fatalf("save screenshot: %v", err)
	}
	t.Logf("screenshot: %s", p)
	if dst := os.Getenv("SALVO_UI_SCREENSHOT"); dst != "" && name == "job.png" {
		b.do("scroll to the top", chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`))
		top, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
		if err != nil {
			b.fail("screenshot", err)
		}
		if err := os.WriteFile(dst, top, 0o644); err != nil {
			t.Fatalf("save screenshot: %v", err)
		}
		t.Logf("screenshot of the job page: %s", dst)
	}
}

// fmtThousands formats n as the page does (en-US grouping).
func fmtThousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
