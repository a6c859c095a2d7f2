package e2e

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/salvo-sh/salvo/actors"
	"github.com/salvo-sh/salvo/commands"
	"github.com/salvo-sh/salvo/fleet"
	"github.com/salvo-sh/salvo/internal/testutil"
	"github.com/salvo-sh/salvo/job"
	"github.com/salvo-sh/salvo/store"
)

// lockedBuffer collects log output from several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestSSHJobsThroughTheAPI runs SSH jobs on an in-process node (store,
// engine, API): one against a real sshd with a passphrase-protected key,
// one against the fleet's SSH server with a password. It checks results
// host by host, the clush-style folding, and that neither the password nor
// the passphrase reaches the store files or the logs.
func TestSSHJobsThroughTheAPI(t *testing.T) {
	const (
		passphrase = "PASSPHRASE-e2e-7f3a"
		password   = "PASSWORD-e2e-91c4"
	)
	dir := t.TempDir()
	key := testutil.NewSSHKey(t, dir, "id_locked", passphrase)
	d := testutil.StartSSHD(t, func(c *testutil.SSHDConfig) { c.AuthorizedKeys = []ssh.PublicKey{key.Public} })

	fc := fleet.DefaultSSHConfig()
	fc.Password = password
	fl, err := fleet.NewSSHServer(fc)
	if err != nil {
		t.Fatal(err)
	}
	if err := fl.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fl.Close() })

	logs := &lockedBuffer{}
	dataDir := t.TempDir()
	n := testutil.StartNode(t, func(c *actors.Config) {
		c.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		c.Worker.SSH.DataDir = dataDir
		c.Worker.SSH.AgentSocket = filepath.Join(dataDir, "no-agent")
	})

	// Job 1: real sshd, key with passphrase, known_hosts given, target 5 fails.
	hosts := make([]any, 30)
	for i := range hosts {
		h := fmt.Sprintf("127.0.%d.%d", 10+i/200, 1+i%200)
		code := "0"
		if i == 5 {
			code = "3"
		}
		hosts[i] = map[string]any{"host": h, "vars": map[string]string{"CODE": code}}
	}
	var kh strings.Builder
	for _, h := range hosts {
		kh.WriteString(d.KnownHostsLines(h.(map[string]any)["host"].(string)))
	}
	khFile := filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(khFile, []byte(kh.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	id := submit(t, n.URL, map[string]any{
		"name":     "ssh-e2e",
		"protocol": "ssh",
		"targets":  hosts,
		"ssh": map[string]any{
			"user": d.User, "port": d.Port, "command": "echo $HOST; echo warn-$INDEX >&2; exit $CODE",
			"auth":           map[string]any{"privateKeyFile": key.File, "passphrase": passphrase, "password": password},
			"knownHostsFile": khFile,
		},
		"maxConcurrency": 20,
		"timeouts":       map[string]string{"connect": "10s", "request": "10s"},
	})
	st := waitFor(t, n.URL, id, 90*time.Second, terminal)
	if st.State != store.JobGathered || st.Counts[job.StateOK] != 29 || st.Counts[job.StateFailed] != 1 || st.Protocol != "ssh" {
		t.Fatalf("job 1 status %+v", st)
	}
	res := streamResults(t, n.URL, id)
	if len(res) != len(hosts) {
		t.Fatalf("%d results, want %d", len(res), len(hosts))
	}
	for _, r := range res {
		h := hosts[r.Index].(map[string]any)["host"].(string)
		wantState, wantCode := job.StateOK, 0
		if r.Index == 5 {
			wantState, wantCode = job.StateFailed, 3
		}
		if r.Host != h || r.Body != h+"\n" || r.Stderr != fmt.Sprintf("warn-%d\n", r.Index) ||
			r.State != wantState || r.ExitCode == nil || *r.ExitCode != wantCode || r.Worker != "node-a" {
			t.Fatalf("result %d: %+v", r.Index, r)
		}
	}
	var agg struct {
		Groups []struct {
			Value  string `json:"value"`
			Count  int    `json:"count"`
			Folded string `json:"folded"`
		} `json:"groups"`
	}
	if code := testutil.DoJSON(t, "GET", n.URL+"/api/v1/jobs/"+id+"/aggregate?by=value", nil, &agg); code != http.StatusOK {
		t.Fatalf("aggregate: %d", code)
	}
	if len(agg.Groups) != 2 || agg.Groups[0].Value != "0" || agg.Groups[0].Count != 29 || agg.Groups[1].Value != "3" ||
		agg.Groups[1].Folded != "127.0.10.6" {
		t.Fatalf("aggregate by value (exit code): %+v", agg)
	}

	// Job 2: the fleet's SSH server, password auth, accept-new into the
	// worker's data dir.
	var targets []string
	for i := range 40 {
		targets = append(targets, fleet.HostAddr(i))
	}
	id2 := submit(t, n.URL, map[string]any{
		"protocol": "ssh",
		"targets":  targets,
		"ssh": map[string]any{
			"user": "ops", "port": fl.Addr().Port, "command": "uptime",
			"auth": map[string]any{"password": password}, "hostKeyPolicy": "accept-new",
		},
		"maxConcurrency": 20,
	})
	st2 := waitFor(t, n.URL, id2, 60*time.Second, terminal)
	if st2.State != store.JobGathered || st2.Counts[job.StateOK] != 40 {
		t.Fatalf("job 2 status %+v", st2)
	}
	for _, r := range streamResults(t, n.URL, id2) {
		if !strings.Contains(r.Body, "load average") || r.Target != "ops@"+r.Host+fmt.Sprintf(":%d", fl.Addr().Port) {
			t.Fatalf("job 2 result %+v", r)
		}
	}
	kn, err := os.ReadFile(filepath.Join(dataDir, commands.AcceptNewKnownHostsFile))
	if err != nil || strings.Count(string(kn), "\n") != 40 {
		t.Fatalf("accept-new known_hosts: %d lines, %v", strings.Count(string(kn), "\n"), err)
	}

	// No secret in the store's files (database, WAL) or the logs; the
	// stored spec says "<redacted>".
	var redacted bool
	err = filepath.WalkDir(n.Dir, func(path string, de os.DirEntry, err error) error {
		if err != nil || de.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, secret := range []string{password, passphrase} {
			if bytes.Contains(data, []byte(secret)) {
				t.Errorf("%s holds a secret", path)
			}
		}
		// JSON escapes '<' and '>' in the stored spec.
		redacted = redacted || bytes.Contains(data, []byte(`\u003credacted\u003e`)) ||
			bytes.Contains(data, []byte(job.Redacted))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !redacted {
		t.Errorf("no %q in the store files: the scan did not see the stored spec", job.Redacted)
	}
	if l := logs.String(); strings.Contains(l, password) || strings.Contains(l, passphrase) {
		t.Errorf("a secret is in the logs")
	} else if l == "" {
		t.Errorf("no log output at debug level: the scan saw nothing")
	}
	if strings.Contains(d.Log(), password) {
		t.Errorf("the password reached sshd's log")
	}
}
