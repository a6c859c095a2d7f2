package bench

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/salvo-sh/salvo/internal/testutil"
)

// TestRunNginx runs the throughput scenarios against nginx on 500 targets:
// the report must have the loop's and salvo's rows, both without errors,
// and nginx must be gone with its directory.
func TestRunNginx(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes and sends real requests")
	}
	nginx, err := FindNginx()
	if err != nil {
		testutil.Missing(t, err.Error())
	}
	cfg := smallConfig(t, buildSalvo(t))
	cfg.TargetServer = TargetNginx
	cfg.Nginx = nginx
	cfg.Sizes = []int{500}
	cfg.XargsTargets = 0
	cfg.ClusterWorkers = 0
	before := nginxDirs(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rep, err := Run(ctx, cfg)
	if rep != nil {
		defer assertGone(t, rep.ChildPIDs)
	}
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	// nginx and a server per round.
	if want := 1 + cfg.Rounds; len(rep.ChildPIDs) != want {
		t.Errorf("child pids %v, want %d", rep.ChildPIDs, want)
	}
	var table bytes.Buffer
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", table.String())
	for _, s := range []string{ScenarioLoop, ScenarioSalvo} {
		row := rep.Row(s, 500)
		if row == nil {
			t.Errorf("no %s row for 500 targets", s)
			continue
		}
		if row.Rate <= 0 || row.Ratio <= 0 || row.Errors != 0 || row.Rounds != cfg.Rounds {
			t.Errorf("%s: rate %v, ratio %v, %d errors (%v), %d rounds; want rate and ratio > 0, no errors, %d rounds",
				s, row.Rate, row.Ratio, row.Errors, row.Notes, row.Rounds, cfg.Rounds)
		}
		if !regexpLine(table.String(), s) {
			t.Errorf("table has no %s line", s)
		}
	}
	if len(rep.Rows) != 2 {
		t.Errorf("%d rows, want the loop's and salvo's", len(rep.Rows))
	}
	if rep.Config.TargetServer != TargetNginx || !strings.HasPrefix(rep.Config.TargetServerVersion, "nginx") {
		t.Errorf("report config target server %q %q", rep.Config.TargetServer, rep.Config.TargetServerVersion)
	}
	if !strings.Contains(table.String(), "against nginx") {
		t.Errorf("table does not say the targets were nginx's")
	}
	if rep.Failed() {
		t.Error("report says failed")
	}
	if after := nginxDirs(t); len(after) > len(before) {
		t.Errorf("nginx directories left: %v (before the run: %v)", after, before)
	}
}

// TestNginxConfig checks the parts of nginx's configuration the
// scenario relies on.
func TestNginxConfig(t *testing.T) {
	conf := nginxConfig("/tmp/d", 4321, 500)
	for _, s := range []string{"daemon off;", "master_process off;", "worker_processes 1;", "keepalive_timeout 0;",
		"access_log off;", `pid "/tmp/d/nginx.pid";`, `error_log "/tmp/d/error.log"`, `client_body_temp_path "/tmp/d/body";`,
		"listen 0.0.0.0:4321", `return 200 "ok\n";`, "worker_connections 1064;"} {
		if !strings.Contains(conf, s) {
			t.Errorf("config lacks %q:\n%s", s, conf)
		}
	}
}

// nginxDirs lists the bench's nginx directories in the temp dir.
func nginxDirs(t *testing.T) []string {
	t.Helper()
	ents, err := os.ReadDir(os.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "salvo-bench-nginx-") {
			out = append(out, e.Name())
		}
	}
	return out
}
