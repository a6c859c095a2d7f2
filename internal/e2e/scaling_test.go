package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/salvo-sh/salvo/actors"
	"github.com/salvo-sh/salvo/fleet"
	"github.com/salvo-sh/salvo/internal/testutil"
	"github.com/salvo-sh/salvo/job"
	"github.com/salvo-sh/salvo/scaling"
	"github.com/salvo-sh/salvo/store"
)

// The scaling hooks of TestElasticScaling. Each holds the tag's lock (a
// directory) while it runs and notes any other call it finds under way.
// up starts a real worker of tag T and records its pid under its name;
// down stops the named worker with SIGTERM and waits for its end.
const (
	scaleUpHook = `#!/bin/sh
D=%[1]q
mkdir "$D/lock" 2>/dev/null || echo "up while another call runs" >> "$D/overlap"
n=$(( $(cat "$D/seq") + 1 )); echo "$n" > "$D/seq"
name="w$n"
cat > "$D/up-$name.json"
mkdir -p "$D/data-$name"
%[2]q server --name "$name" --roles worker --tags T --capacity 10 --gossip-addr 127.0.0.1:0 --remote-addr 127.0.0.1:0 \
  --http-addr 127.0.0.1:0 --join "$(cat "$D/join")" --data-dir "$D/data-$name" --log-format json \
  </dev/null >"$D/$name.log" 2>&1 &
echo $! > "$D/pids/$name"
echo "$name" >> "$D/up.log"
rmdir "$D/lock"
`
	scaleDownHook = `#!/bin/sh
D=%[1]q
mkdir "$D/lock" 2>/dev/null || echo "down while another call runs" >> "$D/overlap"
cat > "$D/down-$SALVO_SCALE_WORKER.json"
pid=$(cat "$D/pids/$SALVO_SCALE_WORKER") || { rmdir "$D/lock"; exit 1; }
kill -TERM "$pid"
i=0
while [ -e "/proc/$pid" ] && ! grep -q ') Z ' "/proc/$pid/stat" 2>/dev/null; do
  i=$((i + 1)); if [ "$i" -gt 300 ]; then rmdir "$D/lock"; exit 1; fi
  sleep 0.1
done
echo "$SALVO_SCALE_WORKER" >> "$D/down.log"
rmdir "$D/lock"
`
)

// TestElasticScaling: a master whose scaling policy for tag T starts real
// `salvo server --roles worker --tags T` processes (up) and stops the
// named one (down). A burst of jobs for T grows the pool from 1 worker to
// 3; every job ends with one result per target; idle again, the pool
// shrinks back to 1, each stopped worker drained first; the hooks never
// ran two at once.
func TestElasticScaling(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	const (
		jobs    = 24
		targets = 30 // one lease; 30 × 300 ms / 10 at once: about 0.9 s a job, one job a worker at a time
	)
	f := testutil.StartFleet(t, func(c *fleet.Config) {
		c.Hosts = targets
		c.LatencyMin, c.LatencyMax = 300*time.Millisecond, 300*time.Millisecond
	})
	bin := testutil.BuildSalvo(t)
	dir := t.TempDir()
	write := func(name, body string, mode os.FileMode) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if err := os.Mkdir(filepath.Join(dir, "pids"), 0o755); err != nil {
		t.Fatal(err)
	}
	write("seq", "1\n", 0o644)
	up := write("up.sh", fmt.Sprintf(scaleUpHook, dir, bin), 0o755)
	down := write("down.sh", fmt.Sprintf(scaleDownHook, dir), 0o755)
	// Stop whatever the hooks started, whatever happens.
	t.Cleanup(func() {
		ents, _ := os.ReadDir(filepath.Join(dir, "pids"))
		for _, e := range ents {
			b, _ := os.ReadFile(filepath.Join(dir, "pids", e.Name()))
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 0 {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		if t.Failed() {
			for _, n := range []string{"w2.log", "w3.log", "overlap"} {
				if b, err := os.ReadFile(filepath.Join(dir, n)); err == nil {
					t.Logf("%s:\n%s", n, b)
				}
			}
		}
	})
	cfg := write("salvo.yaml", fmt.Sprintf(`scaling:
  T:
    up: {whenWaitingFor: 1s, cooldown: 6s, maxWorkers: 3, exec: %q, timeout: 30s}
    down: {whenIdleFor: 2s, minWorkers: 1, drainTimeout: 30s, exec: %q, timeout: 40s}
`, "sh "+up, "sh "+down), 0o644)

	master := testutil.StartServer(t, bin, append([]string{"--data-dir", t.TempDir(), "--config", cfg}, gossipArgs("master", "master", "")...)...)
	self, _ := member(members(t, master.URL()), "master")
	write("join", self.GossipAddr, 0o644)
	w1 := testutil.StartServer(t, bin, append(gossipArgs("w1", "worker", self.GossipAddr), "--tags", "T", "--capacity", "10")...)
	write("pids/w1", strconv.Itoa(w1.Cmd.Process.Pid), 0o644)
	waitWorkers(t, master.URL(), "w1")
	start := time.Now()

	alive := func() []string {
		var names []string
		for _, m := range members(t, master.URL()) {
			if m.State == "alive" && m.Capacity > 0 && len(m.Tags) == 1 && m.Tags[0] == "T" {
				names = append(names, m.Name)
			}
		}
		return names
	}
	ids := make([]string, jobs)
	for i := range ids {
		ids[i] = submit(t, master.URL(), map[string]any{"targets": fleet.Targets(targets, f.Addr().Port), "tags": []string{"T"},
			"maxConcurrency": 10, "http": map[string]any{"path": "/burst"}})
	}

	// The pool grows to 3 while jobs wait (polling the API of other
	// processes: no signal to wait on).
	var l actors.Load
	if code := testutil.DoJSON(t, "GET", master.URL()+"/api/v1/cluster/load", nil, &l); code != http.StatusOK || l.Tag("T").Waiting == 0 {
		t.Errorf("load right after the burst: %d %+v", code, l.Tag("T"))
	}
	deadline := time.Now().Add(60 * time.Second)
	for len(alive()) < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("the pool did not grow to 3: %v alive", alive())
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("pool of 3 after %s", time.Since(start).Round(time.Millisecond))

	// Every job ends with exactly one result per target, right for its host.
	ran := map[string]int{}
	for _, id := range ids {
		st := waitFor(t, master.URL(), id, 90*time.Second, terminal)
		if st.State != store.JobGathered || st.Done != targets || st.Counts[job.StateOK] != targets {
			t.Fatalf("job %s: %+v", id, st)
		}
		rs := streamResults(t, master.URL(), id)
		if len(rs) != targets {
			t.Fatalf("job %s: %d results, want %d", id, len(rs), targets)
		}
		for i, r := range rs {
			if r.Index != i || r.Host != fleet.HostAddr(i) || r.State != job.StateOK {
				t.Fatalf("job %s: result %d: %+v", id, i, r)
			}
		}
		ran[rs[0].Worker]++
	}
	if len(ran) != 3 {
		t.Errorf("the jobs ran on %v, want the 3 workers", ran)
	}
	t.Logf("jobs done after %s, on %v", time.Since(start).Round(time.Millisecond), ran)

	// Idle, the pool shrinks back to 1.
	deadline = time.Now().Add(60 * time.Second)
	for len(alive()) != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("the pool did not shrink to 1: %v alive", alive())
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("pool of 1 after %s", time.Since(start).Round(time.Millisecond))
	// The down hook has returned (the scaler waits for the worker to
	// leave, which the hook waits for too), then the scaler enables the
	// name again: wait for the audit's enable entries.
	var audit struct {
		Items []struct {
			Route, Target, Outcome string
		} `json:"items"`
	}
	deadline = time.Now().Add(30 * time.Second)
	for {
		if code := testutil.DoJSON(t, "GET", master.URL()+"/api/v1/audit?actor="+scaling.Actor, nil, &audit); code != http.StatusOK {
			t.Fatalf("audit: %d", code)
		}
		n := 0
		for _, e := range audit.Items {
			if e.Route == "/scaling/T/enable" {
				n++
			}
		}
		if n == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("audit: %+v, want 2 enables after the stops", audit.Items)
		}
		time.Sleep(100 * time.Millisecond)
	}

	lines := func(name string) []string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		return strings.Fields(string(b))
	}
	if got := lines("up.log"); len(got) != 2 {
		t.Errorf("up hook started %v, want 2 workers", got)
	}
	downed := lines("down.log")
	if len(downed) != 2 {
		t.Fatalf("down hook stopped %v, want 2 workers", downed)
	}
	if o := lines("overlap"); len(o) > 0 {
		t.Errorf("hooks ran at once for T: %v", o)
	}
	for _, name := range downed {
		var doc scaling.Document
		b, err := os.ReadFile(filepath.Join(dir, "down-"+name+".json"))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatalf("down document of %s: %v", name, err)
		}
		if doc.Tag != "T" || doc.Direction != scaling.DirectionDown || doc.Change != -1 || doc.Worker != name ||
			doc.WorkerLoad == nil || doc.WorkerLoad.Enabled || !doc.WorkerLoad.Idle() {
			t.Errorf("down document of %s: drained and holding no job? %s", name, b)
		}
	}
	// The master saw each stopped worker leave holding no job.
	for _, line := range strings.Split(master.Log(), "\n") {
		var m struct {
			Msg, Worker string
			Jobs        int
		}
		if json.Unmarshal([]byte(line), &m) == nil && m.Msg == "worker lost" && m.Jobs != 0 {
			t.Errorf("a worker left with jobs: %s", line)
		}
	}
	var steps []string
	for i := len(audit.Items) - 1; i >= 0; i-- {
		e := audit.Items[i]
		if e.Outcome != "done" {
			t.Errorf("audit: %+v", e)
		}
		steps = append(steps, strings.TrimPrefix(e.Route, "/scaling/T/"))
	}
	if want := "up up drain down enable drain down enable"; strings.Join(steps, " ") != want {
		t.Errorf("audit steps %v, want %s", steps, want)
	}
	if code := testutil.DoJSON(t, "GET", master.URL()+"/api/v1/cluster/load", nil, &l); code != http.StatusOK ||
		l.Tag("T").Waiting != 0 || l.Tag("T").Workers != 1 {
		t.Errorf("load at the end: %d %+v", code, l.Tag("T"))
	}
	t.Logf("took %s", time.Since(start).Round(time.Millisecond))
}
