package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/salvo-sh/salvo/actors"
	"github.com/salvo-sh/salvo/internal/testutil"
	"github.com/salvo-sh/salvo/nodeset"
	"github.com/salvo-sh/salvo/store"
)

// TestDashboardSSHJobs drives the dashboard in headless Chromium on SSH
// jobs against a real sshd: the output tab labels each group with its
// outcome (exit code and state, or why there was no answer), colours it by
// state and lists its stderr parts; the status tab and the results say
// "Exit code" and show exit 0; the job page says what the job ran; "Rerun
// failed" makes a job of exactly the failed targets; the submit form makes
// an SSH job from a nodeset and shows the server's 400 next to its field.
func TestDashboardSSHJobs(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	chromium := chromiumPath(t)
	d := testutil.StartSSHD(t, nil)
	dataDir := t.TempDir()
	n := testutil.StartNode(t, func(c *actors.Config) {
		c.Tags = []string{"ssh"} // the job's tags are worker tags
		c.Worker.SSH.DataDir = dataDir
		c.Worker.SSH.AgentSocket = filepath.Join(dataDir, "no-agent")
	})

	// Twelve targets: eight answer "ok" and exit 0, three print a stderr
	// line and exit 4 (two "disk-full", one "no-route": one output group
	// of two stderr parts), one refuses the connection.
	type tgt struct{ host, code, err string }
	targets := []tgt{
		{"127.0.20.1", "0", ""}, {"127.0.20.2", "0", ""}, {"127.0.20.3", "0", ""}, {"127.0.20.4", "0", ""},
		{"127.0.20.5", "4", "disk-full"}, {"127.0.20.6", "0", ""}, {"127.0.20.7", "0", ""},
		{"127.0.20.8", "4", "disk-full"}, {"127.0.20.9", "0", ""}, {"127.0.20.10", "0", ""},
		{"127.0.20.11", "4", "no-route"}, {"127.0.0.1:1", "0", ""},
	}
	var kh strings.Builder
	spec := make([]any, len(targets))
	for i, tg := range targets {
		kh.WriteString(d.KnownHostsLines(tg.host))
		vars := map[string]string{"CODE": tg.code}
		if tg.err != "" {
			vars["ERR"] = tg.err
		}
		spec[i] = map[string]any{"host": tg.host, "vars": vars}
	}
	kh.WriteString(d.KnownHostsLines("127.0.21.1", "127.0.21.2", "127.0.21.3")) // the form's job
	khFile := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(khFile, []byte(kh.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	const command = `test $CODE = 0 && echo ok; test -n "$ERR" && echo $ERR >&2; exit $CODE`
	sshSpec := map[string]any{
		"user": d.User, "port": d.Port, "command": command,
		"auth": map[string]any{"privateKeyFile": d.UserKey.File}, "knownHostsFile": khFile,
	}
	var sub struct{ ID, Error, Field string }
	if code := testutil.DoJSON(t, "POST", n.URL+"/api/v1/jobs", map[string]any{
		"name": "ssh-ui", "protocol": "ssh", "targets": spec, "ssh": sshSpec, "tags": []string{"ssh", "lab"},
		"vars": map[string]string{"ERR": ""}, "maxConcurrency": 12, "timeouts": map[string]string{"connect": "10s", "request": "20s"},
	}, &sub); code != http.StatusAccepted {
		t.Fatalf("submit: %d %s (field %s)", code, sub.Error, sub.Field)
	}
	id := sub.ID
	st := waitFor(t, n.URL, id, 90*time.Second, terminal)
	if st.State != store.JobGathered || st.Counts["ok"] != 8 || st.Counts["failed"] != 3 || st.Counts["error"] != 1 {
		t.Fatalf("ssh job: %s %v", st.State, st.Counts)
	}

	b := startBrowser(t, chromium, 120*time.Second)
	b.do("open the job", chromedp.Navigate(n.URL+"/ui/#/job/"+id))
	b.wait("the job page", `document.querySelector('#main').dataset.state === 'gathered' && document.querySelector('#agg tr') !== null`, 15*time.Second)

	// --- what the job ran ------------------------------------------------------
	for sel, want := range map[string]string{
		"#job-protocol": "SSH", "#ran-protocol": "SSH", "#ran-command": command, "#ran-targets": "12",
		"#ran-aggregation": "–", "#ran-node-group": "–",
	} {
		if got := b.text(sel, sel); got != want {
			t.Errorf("%s: %q, want %q", sel, got, want)
		}
	}

	if tags := eval[[]string](b, "tags", `[...document.querySelectorAll('#ran-tags .chip')].map(c => c.textContent).sort()`); !slices.Equal(tags, []string{"lab", "ssh"}) {
		t.Errorf("tags shown %v", tags)
	}

	// --- the status tab is "Exit code" and shows exit 0 -------------------------------
	if got := b.text("status tab", `.tabs button[data-by="status"]`); got != "Exit code" {
		t.Errorf("status tab labelled %q, want Exit code", got)
	}
	b.do("open the exit code tab", chromedp.Click(chromedp.CSS(`.tabs button[data-by="status"]`)))
	b.wait("groups by exit code", `document.querySelector('#agg').dataset.by === 'status' && document.querySelector('#agg tr[data-value="exit 0"]') !== null`, 10*time.Second)
	if got := b.text("value heading", "#agg-value-head"); got != "Exit code" {
		t.Errorf("the value column is %q, want Exit code", got)
	}
	if vals := eval[[]string](b, "exit code groups", `[...document.querySelectorAll('#agg tr[data-value]')].map(tr => tr.dataset.value + '=' + tr.cells[1].textContent)`); !slices.Equal(vals, []string{"exit 0=8", "exit 4=3", "error=1"}) {
		t.Errorf("groups by exit code: %v", vals)
	}
	// Groups of other tabs do not know their state: not green (ok) for exit 4.
	if c := eval[string](b, "exit 4 colour", `getComputedStyle(document.querySelector('#agg tr[data-value="exit 4"] .seg')).backgroundColor`); c == "rgb(22, 163, 74)" {
		t.Errorf("the exit 4 group is green (%s)", c)
	}
	if got := b.text("results heading", "#res-code-head"); got != "Exit code" {
		t.Errorf("results column %q, want Exit code", got)
	}
	codes := eval[[]string](b, "results codes", `[...document.querySelectorAll('#results tr[data-index]')].map(tr => tr.cells[1].textContent + '=' + tr.cells[3].textContent)`)
	if len(codes) != len(targets) || codes[0] != "127.0.20.1=0" || codes[4] != "127.0.20.5=4" || codes[11] != "127.0.0.1=" {
		t.Errorf("results host=exit code: %v", codes)
	}

	// --- the output tab: outcomes, colours, outputs and stderr parts --------------------
	b.do("open the output tab", chromedp.Click(chromedp.CSS(`.tabs button[data-by="body"]`)))
	b.wait("groups by output", `document.querySelector('#agg').dataset.by === 'body' && document.querySelector('#agg tr.agg-group') !== null`, 10*time.Second)
	type row struct {
		Label, Output, Count, Folded, State, Colour string
	}
	groups := eval[[]row](b, "output groups", `[...document.querySelectorAll('#agg tr.agg-group')].map(tr => ({
		Label: tr.cells[0].textContent, Output: tr.cells[1].textContent, Count: tr.cells[2].textContent,
		Folded: tr.cells[5].textContent, State: tr.dataset.state,
		Colour: getComputedStyle(tr.querySelector('.seg')).backgroundColor}))`)
	red, green := "rgb(220, 38, 38)", "rgb(22, 163, 74)" // --err, --ok
	want := []row{
		{"exit 4 · failed", "(empty)", "3", nodeset.Fold([]string{"127.0.20.5", "127.0.20.8", "127.0.20.11"}), "failed", red},
		{"error (connect_refused)", "(no answer)", "1", "127.0.0.1", "error", red},
		{"exit 0", "ok\n", "8", nodeset.Fold([]string{"127.0.20.1", "127.0.20.2", "127.0.20.3", "127.0.20.4", "127.0.20.6", "127.0.20.7", "127.0.20.9", "127.0.20.10"}), "ok", green},
	}
	if !slices.Equal(groups, want) {
		t.Errorf("output groups:\n%+v\nwant\n%+v", groups, want)
	}
	if badge := eval[string](b, "failed badge colour", `getComputedStyle(document.querySelector('#agg tr.agg-group .badge.outcome')).backgroundColor`); badge != "rgb(254, 226, 226)" {
		t.Errorf("the failed outcome's badge is %s, want the failed state's rgb(254, 226, 226)", badge)
	}
	parts := eval[[][]string](b, "stderr parts", `[...document.querySelectorAll('#agg tr.stderr-part')].map(tr => [tr.dataset.group, tr.cells[0].textContent, tr.cells[1].textContent, tr.cells[2].textContent, tr.cells[5].textContent])`)
	wantParts := [][]string{
		{"0", "↳ stderr", "disk-full\n", "2", nodeset.Fold([]string{"127.0.20.5", "127.0.20.8"})},
		{"0", "↳ stderr", "no-route\n", "1", "127.0.20.11"},
	}
	if !slices.EqualFunc(parts, wantParts, slices.Equal) {
		t.Errorf("stderr parts %q, want %q", parts, wantParts)
	}
	// A group's hosts, and a stderr part's, come from /group by index.
	b.do("open the failed group", chromedp.Click(chromedp.CSS(`#agg tr.agg-group[data-group="0"]`)))
	b.wait("its hosts", `document.querySelectorAll('#group-hosts tr').length === 3`, 10*time.Second)
	if hosts := eval[[]string](b, "group hosts", `[...document.querySelectorAll('#group-hosts tr')].map(tr => tr.cells[1].textContent + ' ' + tr.cells[2].textContent)`); !slices.Equal(hosts, []string{"127.0.20.5 failed", "127.0.20.8 failed", "127.0.20.11 failed"}) {
		t.Errorf("failed group lists %v", hosts)
	}
	b.do("open a stderr part", chromedp.Click(chromedp.CSS(`#agg tr.stderr-part[data-part="0"]`)))
	b.wait("its hosts", `document.querySelector('#group-title').textContent.includes('disk-full') && document.querySelectorAll('#group-hosts tr').length === 2`, 10*time.Second)
	if hosts := eval[[]string](b, "part hosts", `[...document.querySelectorAll('#group-hosts tr')].map(tr => tr.cells[1].textContent)`); !slices.Equal(hosts, []string{"127.0.20.5", "127.0.20.8"}) {
		t.Errorf("stderr part disk-full lists %v", hosts)
	}

	b.screenshot(t, "ssh-output.png")

	// --- the stderr tab ----------------------------------------------------------------------
	b.do("open the stderr tab", chromedp.Click(chromedp.CSS(`.tabs button[data-by="stderr"]`)))
	b.wait("groups by stderr", `document.querySelector('#agg').dataset.by === 'stderr' && document.querySelector('#agg tr[data-group]') !== null`, 10*time.Second)
	if vals := eval[[]string](b, "stderr groups", `[...document.querySelectorAll('#agg tr[data-group]')].map(tr => tr.cells[0].textContent + '=' + tr.cells[1].textContent)`); !slices.Equal(vals, []string{"(empty)=8", "disk-full\n=2", "[error: connect_refused]=1", "no-route\n=1"}) {
		t.Errorf("groups by stderr: %q", vals)
	}
	b.screenshot(t, "ssh-stderr.png")

	// --- the jobs list: protocol and command ---------------------------------------------------
	b.goTo("#/jobs", "jobs")
	sel := fmt.Sprintf(`#jobs tr[data-job=%q]`, id)
	b.wait("the job listed", `document.querySelector('`+sel+`') !== null`, 10*time.Second)
	if got := b.text("protocol column", sel+" td.proto"); got != "SSH" {
		t.Errorf("protocol column %q", got)
	}
	if got := b.text("ran line", sel+" .ran-line"); got != "$ "+command {
		t.Errorf("ran line %q, want %q", got, "$ "+command)
	}

	// --- rerun failed: a job of exactly the failed targets ------------------------------------
	b.goTo("#/job/"+id, "jobs")
	b.wait("the rerun button", `!document.querySelector('#rerun-btn').hidden && document.querySelector('#rerun-btn').textContent === 'Rerun failed (4)'`, 10*time.Second)
	b.do("rerun failed", chromedp.Click(chromedp.ID("rerun-btn")))
	b.wait("the new job's page", fmt.Sprintf(`location.hash.startsWith('#/job/') && location.hash !== '#/job/%s' && document.querySelector('#ran-rerun-of') !== null`, id), 15*time.Second)
	rerun := strings.TrimPrefix(eval[string](b, "rerun id", `decodeURIComponent(location.hash)`), "#/job/")
	if got := b.text("reruns", "#ran-rerun-of"); got != id {
		t.Errorf("the new job reruns %q, want %s", got, id)
	}
	rst := waitFor(t, n.URL, rerun, 60*time.Second, terminal)
	if rst.RerunOf != id || rst.Total != 4 || rst.Protocol != "ssh" {
		t.Errorf("rerun job: rerunOf %q total %d protocol %s", rst.RerunOf, rst.Total, rst.Protocol)
	}
	var rerunHosts []string
	for _, r := range streamResults(t, n.URL, rerun) {
		rerunHosts = append(rerunHosts, r.Host+" "+r.State)
	}
	slices.Sort(rerunHosts)
	if want := []string{"127.0.0.1 error", "127.0.20.11 failed", "127.0.20.5 failed", "127.0.20.8 failed"}; !slices.Equal(rerunHosts, want) {
		t.Errorf("the rerun ran %v, want the failed targets %v", rerunHosts, want)
	}

	// --- the submit form: an SSH job over a nodeset ----------------------------------------------
	b.goTo("#/submit", "submit")
	b.do("fill an SSH job",
		chromedp.WaitVisible(chromedp.ID("f-targets")),
		chromedp.Click(chromedp.ID("proto-ssh")),
		chromedp.WaitVisible(chromedp.ID("f-ssh-command")),
		chromedp.SetValue(chromedp.ID("f-targets"), "127.0.21.[1-3]"),
		chromedp.SendKeys(chromedp.ID("f-name"), "ssh-form"),
		chromedp.SetValue(chromedp.ID("f-ssh-user"), d.User),
		chromedp.SetValue(chromedp.ID("f-ssh-port"), "70000"),
		chromedp.SetValue(chromedp.ID("f-ssh-auth-privateKeyFile"), d.UserKey.File),
		chromedp.SetValue(chromedp.ID("f-ssh-knownHostsFile"), khFile),
		chromedp.Click(chromedp.ID("submit-btn")),
	)
	// No command: the server's 400 names ssh.command, shown under it.
	fieldError := func(input string) string {
		return fmt.Sprintf(`document.getElementById(%q).closest('.field').querySelector('.field-error')`, input)
	}
	b.wait("error under the command", fieldError("f-ssh-command")+`.textContent.includes('ssh.command')`, 10*time.Second)
	b.do("add the command", chromedp.SetValue(chromedp.ID("f-ssh-command"), "echo form-$INDEX"), chromedp.Click(chromedp.ID("submit-btn")))
	b.wait("error under the port", fieldError("f-ssh-port")+`.textContent.includes('70000')`, 10*time.Second)
	if hash := eval[string](b, "hash", `location.hash`); hash != "#/submit" {
		t.Errorf("a refused spec left the form for %s", hash)
	}
	b.do("fix the port", chromedp.SetValue(chromedp.ID("f-ssh-port"), fmt.Sprint(d.Port)), chromedp.Click(chromedp.ID("submit-btn")))
	b.wait("the form's job page", `location.hash.startsWith('#/job/') && document.querySelector('#main').dataset.state === 'gathered'`, 60*time.Second)
	form := strings.TrimPrefix(eval[string](b, "form job id", `decodeURIComponent(location.hash)`), "#/job/")
	fst := status(t, n.URL, form)
	if fst.Name != "ssh-form" || fst.Protocol != "ssh" || fst.Total != 3 || fst.Counts["ok"] != 3 || fst.Ran == nil || fst.Ran.Command != "echo form-$INDEX" {
		t.Errorf("the form's job: %+v ran %+v", fst, fst.Ran)
	}
	if !eval[bool](b, "no rerun", `document.querySelector('#rerun-btn').hidden`) {
		t.Error("Rerun failed is offered for a job without failures")
	}
	b.wait("the exit 0 group", `document.querySelector('#agg tr[data-value="0"]') !== null`, 10*time.Second) // by value: the exit code

	if errs := b.pageErrors(); len(errs) > 0 {
		t.Errorf("the pages logged errors:\n%s", strings.Join(errs, "\n"))
	}
}
