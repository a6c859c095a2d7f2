package bench

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

func TestRunSSHSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes and opens real SSH connections")
	}
	cfg := smallConfig(t, buildSalvo(t))
	sc := DefaultSSHConfig()
	sc.Targets, sc.PSSHTargets = 200, 0
	if missingTools("parallel-ssh", "ssh") == "" {
		sc.PSSHTargets = 20
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rep, err := RunSSH(ctx, cfg, sc)
	if rep != nil {
		defer assertGone(t, rep.ChildPIDs)
	}
	if err != nil {
		t.Fatalf("RunSSH: %v", err)
	}
	var table bytes.Buffer
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", table.String())
	want := map[string]int{ScenarioSSHLoop: 200, ScenarioSalvoSSH: 200}
	if sc.PSSHTargets > 0 {
		want[ScenarioPSSH] = sc.PSSHTargets
	}
	if len(rep.Rows) != len(want) {
		t.Fatalf("rows %+v, want %v", rep.Rows, want)
	}
	for _, row := range rep.Rows {
		if want[row.Scenario] != row.Targets || row.Errors != 0 || row.Rate <= 0 || row.Ratio <= 0 {
			t.Errorf("row %+v", row)
		}
	}
	if !strings.Contains(table.String(), ScenarioSalvoSSH) || rep.Failed() {
		t.Errorf("table:\n%s", table.String())
	}
	if _, err := RunSSH(ctx, cfg, SSHConfig{Targets: 0, Command: "x"}); err == nil {
		t.Errorf("RunSSH accepted 0 targets")
	}
}
