package e2e

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/salvo-sh/salvo/actors"
	"github.com/salvo-sh/salvo/fleet"
	"github.com/salvo-sh/salvo/internal/testutil"
	"github.com/salvo-sh/salvo/job"
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

// command is an action that sends one DevTools command.
func command[P any](c cdp.Command[P, cdp.Empty], params P) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, c, params)
		return err
	})
}

// colorScheme emulates prefers-color-scheme (light, dark; "" ends it).
func colorScheme(scheme string) chromedp.Action[chromedp.Void] {
	p := emulation.SetEmulatedMediaParams{}
	if scheme != "" {
		p.Features = []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}
	}
	return command(emulation.SetEmulatedMedia, p)
}

// fetchText fetches a URL from the page (with its cookies) and returns the
// answer's text.
func (b *browser) fetchText(step, url string) string {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](fmt.Sprintf(`fetch(%q).then(r => r.ok ? r.text() : 'HTTP ' + r.status)`, url), chromedp.EvalAwaitPromise))
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
// it reach 100 %, see what it ran, its whole rate history once finished, its
// times with their zone and in UTC, export its results as CSV and NDJSON,
// read a group's hosts and a host's body, the dark colour scheme, the jobs
// list's protocol and what each job ran, cancel a job and see the share
// really done, drain and enable the worker from the cluster page, and see a
// 400 next to the field it names.
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
	b := startBrowser(t, chromium, 120*time.Second)
	// A zone of the browser's own, half an hour off: local times show it.
	const zone = "Asia/Kolkata"
	ist := time.FixedZone("IST", 5*3600+1800)
	b.do("time zone", command(emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: zone}))
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
	// Once finished, the chart is the whole run from GET /rate.
	b.wait("the rate history", `document.querySelector('svg.chart').dataset.series === 'history'`, 10*time.Second)
	if pts := eval[string](b, "history line", `(document.querySelector('svg.chart polyline') || {getAttribute: () => ''}).getAttribute('points')`); len(strings.Fields(pts)) < 2 {
		t.Errorf("the finished job's chart draws %q", pts)
	}

	// --- what the job ran --------------------------------------------------------
	for sel, want := range map[string]string{
		"#job-protocol": "HTTP", "#ran-protocol": "HTTP", "#ran-request": "GET /health", "#ran-aggregation": `version=(\S+)`,
		"#ran-targets": fmtThousands(hosts + refused), "#ran-node-group": "–", "#ran-tags": "–",
	} {
		if got := b.text(sel, sel); got != want {
			t.Errorf("%s: %q, want %q", sel, got, want)
		}
	}

	// --- times: ISO 8601 with the zone's offset, or UTC -------------------------------
	local := regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+05:30$`)
	for _, sel := range []string{"#job-created", "#job-started", "#job-finished"} {
		if got := b.text(sel, sel); !local.MatchString(got) {
			t.Errorf("%s shows %q, want local time with +05:30", sel, got)
		}
	}
	if got, want := b.text("created", "#job-created"), st.CreatedAt.In(ist).Format("2006-01-02 15:04:05 -07:00"); got != want {
		t.Errorf("created %q, want %q", got, want)
	}
	b.do("UTC on", chromedp.Click(chromedp.ID("utc-toggle")))
	wantUTC := st.CreatedAt.UTC().Format("2006-01-02 15:04:05") + "Z"
	b.wait("times in UTC", fmt.Sprintf(`document.querySelector('#job-created').textContent === %q`, wantUTC), 5*time.Second)
	if !eval[bool](b, "every time in UTC", `[...document.querySelectorAll('time.ts')].every(e => /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$/.test(e.textContent))`) {
		t.Error("some time is not in UTC after the toggle")
	}
	if v := eval[string](b, "stored toggle", `localStorage.getItem('salvo.utc')`); v != "1" {
		t.Errorf("the toggle is not remembered: %q", v)
	}

	// --- export: NDJSON and CSV of the filtered results ------------------------------------
	base := "/api/v1/jobs/" + id + "/results"
	href := func(sel string) string {
		return eval[string](b, sel, fmt.Sprintf(`document.querySelector(%q).getAttribute('href')`, sel))
	}
	if got := href("#export-csv"); got != base+"?format=csv" {
		t.Errorf("CSV link %q", got)
	}
	b.do("filter by error", chromedp.Evaluate[chromedp.Void](`(() => { const s = document.querySelector('#res-state'); s.value = 'error'; s.dispatchEvent(new Event('change', {bubbles: true})); })()`))
	b.wait("the table filtered by error", `(() => { const rs = [...document.querySelectorAll('#results tr[data-index]')];
		return rs.length === 25 && rs.every(tr => tr.cells[2].textContent === 'error'); })()`, 10*time.Second)
	if got := href("#export-csv"); got != base+"?format=csv&state=error" {
		t.Errorf("CSV link with the filter %q", got)
	}
	if got := href("#export-ndjson"); got != base+"?format=ndjson&state=error" {
		t.Errorf("NDJSON link with the filter %q", got)
	}
	csvRows, err := csv.NewReader(strings.NewReader(b.fetchText("CSV export", href("#export-csv")))).ReadAll()
	if err != nil || len(csvRows) != refused+1 || !slices.Equal(csvRows[0], job.CSVHeader(false)) {
		t.Errorf("CSV export: %v, %d rows, header %q", err, len(csvRows), csvRows[:min(1, len(csvRows))])
	}
	for _, r := range csvRows[min(1, len(csvRows)):] {
		if r[2] != "error" || r[6] != "connect_refused" {
			t.Errorf("CSV row %q, want an error connect_refused", r)
		}
	}
	lines := 0
	for sc := bufio.NewScanner(strings.NewReader(b.fetchText("NDJSON export", href("#export-ndjson")))); sc.Scan(); lines++ {
		var r job.Result
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil || r.State != "error" {
			t.Errorf("NDJSON line %q: %v", sc.Text(), err)
		}
	}
	if lines != refused {
		t.Errorf("NDJSON export has %d lines, want %d", lines, refused)
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
	b.do("UTC off", chromedp.Click(chromedp.ID("utc-toggle")))
	b.wait("local times again", `document.querySelector('#job-created').textContent.endsWith('+05:30')`, 5*time.Second)
	b.screenshot(t, "job.png")

	// --- dark mode: the colour scheme's variables ----------------------------------------
	bg := `getComputedStyle(document.body).backgroundColor + ' ' + getComputedStyle(document.querySelector('.panel')).backgroundColor`
	light := eval[string](b, "light colours", bg)
	b.do("dark scheme", colorScheme("dark"))
	if dark := eval[string](b, "dark colours", bg); dark != "rgb(15, 17, 21) rgb(23, 26, 33)" || light != "rgb(245, 246, 248) rgb(255, 255, 255)" {
		t.Errorf("body and panel backgrounds: light %q, dark %q", light, dark)
	}
	b.screenshot(t, "job-dark.png")
	b.do("light scheme", colorScheme(""))

	// --- jobs page -------------------------------------------------------------------
	b.goTo("#/jobs", "jobs")
	listed := fmt.Sprintf(`#jobs tr[data-job=%q]`, id)
	b.wait("the job is listed gathered", `document.querySelector('`+listed+`[data-state="gathered"]') !== null`, 10*time.Second)
	if got := b.text("protocol column", listed+" td.proto"); got != "HTTP" {
		t.Errorf("protocol column %q", got)
	}
	if got := b.text("ran line", listed+" .ran-line"); got != "GET /health" {
		t.Errorf("ran line %q", got)
	}
	if got := b.text("created column", listed+" td.created time"); got != st.CreatedAt.In(ist).Format("2006-01-02 15:04:05 -07:00") {
		t.Errorf("created column %q", got)
	}
	b.screenshot(t, "jobs.png")
	// A finished job opened later draws its whole run too.
	b.goTo("#/job/"+id, "jobs")
	b.wait("the rate history of a finished job", `document.querySelector('svg.chart').dataset.series === 'history' && document.querySelectorAll('svg.chart polyline').length === 1`, 10*time.Second)

	// --- cancel a running job from its page ---------------------------------------------
	slow := submit(t, n.URL, map[string]any{"targets": fleet.Targets(hosts, port), "maxConcurrency": 2})
	b.goTo("#/job/"+slow, "jobs")
	b.wait("the cancel button is enabled", `document.querySelector('#cancel-btn') && !document.querySelector('#cancel-btn').disabled && !document.querySelector('#cancel-btn').hidden`, 10*time.Second)
	b.do("cancel", chromedp.Click(chromedp.ID("cancel-btn")))
	b.wait("the job shows cancelled", `document.querySelector('#main').dataset.state === 'cancelled'`, 20*time.Second)
	cst := status(t, n.URL, slow)
	if cst.State != "cancelled" || cst.Done != cst.Total || cst.Counts["cancelled"] == 0 {
		t.Fatalf("after the cancel button the job is %s, done %d of %d, counts %v", cst.State, cst.Done, cst.Total, cst.Counts)
	}
	// The share really done, not 100 %; the rest cancelled, in a colour of its own.
	ran := cst.Done - cst.Counts["cancelled"]
	shown, _ := strconv.ParseFloat(strings.TrimSuffix(b.text("share done", "#progress-pct"), "%"), 64)
	if want := 100 * float64(ran) / float64(cst.Total); shown >= 100 || shown > want+0.1 || shown < want-1 {
		t.Errorf("a cancelled job shows %v%% done, want %.1f%% (%d of %d ran)", shown, want, ran, cst.Total)
	}
	if got := b.text("progress text", "#progress-text"); !strings.Contains(got, fmtThousands(cst.Counts["cancelled"])+" cancelled") {
		t.Errorf("progress text %q does not count the cancelled targets", got)
	}
	if segs := eval[[]string](b, "bar", `[...document.querySelectorAll('#progress-bar .seg')].map(s => s.className + ' ' + getComputedStyle(s).backgroundImage.slice(0, 25))`); !slices.ContainsFunc(segs, func(s string) bool {
		return strings.HasPrefix(s, "seg seg-cancelled repeating-linear-gradient")
	}) {
		t.Errorf("no hatched cancelled segment in the bar: %q", segs)
	}
	b.goTo("#/jobs?state=cancelled", "jobs")
	b.wait("the cancelled job listed", fmt.Sprintf(`document.querySelector('#jobs tr[data-job=%q]') !== null`, slow), 10*time.Second)
	if got := b.text("cancelled job's progress", fmt.Sprintf(`#jobs tr[data-job=%q] .progress-line`, slow)); !strings.Contains(got, fmtThousands(cst.Counts["cancelled"])+" cancelled") || strings.HasPrefix(got, "100%") {
		t.Errorf("the cancelled job's progress in the list: %q", got)
	}
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
