package conf

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/salvo-sh/salvo/job"
)

// The file's scaling section decodes into per-tag policies.
func TestScalingSection(t *testing.T) {
	path := writeFile(t, `gossipAddr: 127.0.0.1:7946
scaling:
  gpu:
    up: {whenWaitingFor: 30s, cooldown: 2m, maxWorkers: 8, exec: "systemctl start salvo-worker@$(date +%s)"}
    down: {whenIdleFor: 10m, minWorkers: 0, webhook: "https://ops.example/scale", timeout: 20s}
  "*":
    down: {whenIdleFor: 1h, exec: "true"}
`)
	cfg, err := Load([]string{"--config", path}, env(nil))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	gpu := cfg.Scaling["gpu"]
	if gpu.Up == nil || gpu.Up.WhenWaitingFor != 30*time.Second || gpu.Up.Cooldown != 2*time.Minute || gpu.Up.MaxWorkers != 8 ||
		gpu.Up.Hook.Exec != "systemctl start salvo-worker@$(date +%s)" {
		t.Errorf("gpu up: %+v", gpu.Up)
	}
	if d := gpu.Down; d == nil || d.WhenIdleFor != 10*time.Minute || d.MinWorkers == nil || *d.MinWorkers != 0 ||
		d.Hook.Webhook != "https://ops.example/scale" || d.Hook.Timeout != 20*time.Second {
		t.Errorf("gpu down: %+v", gpu.Down)
	}
	if all := cfg.Scaling["*"]; all.Up != nil || all.Down == nil || all.Down.MinWorkers != nil {
		t.Errorf("*: %+v", all)
	}

	for _, bad := range []struct{ file, want string }{
		{"scaling:\n  gpu:\n    up: {whenWaitingFor: 30s, exec: x, command: y}\n", `unknown key "command"`},
		{"scaling:\n  gpu:\n    up: {whenWaitingFor: 30, exec: x}\n", "30"},
	} {
		if _, err := Load([]string{"--config", writeFile(t, "gossipAddr: 127.0.0.1:7946\n"+bad.file)}, env(nil)); err == nil ||
			!strings.Contains(err.Error(), bad.want) {
			t.Errorf("%q: err %v, want %q", bad.file, err, bad.want)
		}
	}
}

// Validation names the field of each problem.
func TestValidateScaling(t *testing.T) {
	tests := []struct {
		name string
		file string
		want []string
	}{
		{"exec and webhook", `gpu: {up: {whenWaitingFor: 30s, exec: x, webhook: "http://a/b"}}`, []string{"scaling.gpu.up.exec", "not both"}},
		{"neither", `gpu: {down: {whenIdleFor: 1m}}`, []string{"scaling.gpu.down.exec", "give exec"}},
		{"blank exec", `gpu: {down: {whenIdleFor: 1m, exec: "  "}}`, []string{"scaling.gpu.down.exec", "blank"}},
		{"webhook scheme", `gpu: {up: {whenWaitingFor: 1s, webhook: "ftp://a/b"}}`, []string{"scaling.gpu.up.webhook", `"ftp"`}},
		{"webhook without host", `gpu: {up: {whenWaitingFor: 1s, webhook: "http:///x"}}`, []string{"scaling.gpu.up.webhook", "host"}},
		{"no whenWaitingFor", `gpu: {up: {exec: x}}`, []string{"scaling.gpu.up.whenWaitingFor", "positive"}},
		{"negative whenIdleFor", `gpu: {down: {whenIdleFor: -1m, exec: x}}`, []string{"scaling.gpu.down.whenIdleFor", "positive"}},
		{"negative minWorkers", `gpu: {down: {whenIdleFor: 1m, minWorkers: -1, exec: x}}`, []string{"scaling.gpu.down.minWorkers", "-1"}},
		{"minWorkers above maxWorkers", `gpu: {up: {whenWaitingFor: 1s, maxWorkers: 2, exec: x}, down: {whenIdleFor: 1m, minWorkers: 3, exec: x}}`,
			[]string{"scaling.gpu.down.minWorkers", "above up.maxWorkers 2"}},
		{"negative cooldown", `gpu: {up: {whenWaitingFor: 1s, cooldown: -1s, exec: x}}`, []string{"scaling.gpu.up.cooldown"}},
		{"negative maxWorkers", `gpu: {up: {whenWaitingFor: 1s, maxWorkers: -1, exec: x}}`, []string{"scaling.gpu.up.maxWorkers"}},
		{"timeout too long", `gpu: {up: {whenWaitingFor: 1s, exec: x, timeout: 2h}}`, []string{"scaling.gpu.up.timeout", "1h0m0s"}},
		{"negative drain timeout", `gpu: {down: {whenIdleFor: 1s, exec: x, drainTimeout: -1s}}`, []string{"scaling.gpu.down.drainTimeout"}},
		{"no rule", `gpu: {}`, []string{"scaling.gpu", "give up, down or both"}},
		{"empty tag", `"": {down: {whenIdleFor: 1s, exec: x}}`, []string{"scaling", "tag must not be empty"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.GossipAddr = "127.0.0.1:7946"
			if err := cfg.decodeYAML([]byte("scaling:\n  " + tc.file + "\n")); err != nil {
				t.Fatalf("decode: %v", err)
			}
			err := cfg.Validate()
			if err == nil {
				t.Fatal("Validate succeeded")
			}
			var fe *job.FieldError
			if !errors.As(err, &fe) || !strings.HasPrefix(fe.Field, "scaling") {
				t.Errorf("error %v is not a FieldError naming scaling…", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}

	// A master that runs alone has no worker to add.
	cfg := DefaultConfig()
	if err := cfg.decodeYAML([]byte("scaling: {gpu: {up: {whenWaitingFor: 1s, exec: x}}}\n")); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "scaling: the workers a hook starts join the master through gossip") {
		t.Errorf("a single node with scaling: %v", err)
	}
	cfg.GossipAddr = "127.0.0.1:7946"
	if err := cfg.Validate(); err != nil {
		t.Errorf("a clustered master with scaling: %v", err)
	}
}
