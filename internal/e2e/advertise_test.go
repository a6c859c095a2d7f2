package e2e

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/salvo-sh/salvo/fleet"
	"github.com/salvo-sh/salvo/internal/testutil"
	"github.com/salvo-sh/salvo/job"
	"github.com/salvo-sh/salvo/store"
)

// advertiseHost is the loopback alias the worker of TestAdvertiseAddresses
// advertises; no other test uses it.
const advertiseHost = "127.0.0.7"

// TestAdvertiseAddresses: a worker that binds 0.0.0.0 for its API, gossip
// and remote and advertises a loopback alias (--advertise-*) shows the
// advertised addresses in the master's member list and in REST
// Commander's cluster list, and runs a job (the master reaches its remote
// through the advertised address). A worker that binds every interface
// without saying what to advertise refuses to start, naming the flag.
func TestAdvertiseAddresses(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	const hosts = 200
	f := testutil.StartFleet(t, func(c *fleet.Config) { c.Hosts = hosts })
	bin := testutil.BuildSalvo(t)

	out := startServerExpectFailure(t, bin, "--name", "w0", "--roles", "worker", "--insecure-cluster",
		"--http-addr", "0.0.0.0:0", "--gossip-addr", "0.0.0.0:0", "--remote-addr", "0.0.0.0:0", "--join", "127.0.0.1:1")
	for _, want := range []string{"--advertise-http", "--advertise-gossip", "--advertise-remote", "binds every interface"} {
		if !strings.Contains(out, want) {
			t.Errorf("a wildcard worker without --advertise-* says:\n%s\nwant %q", out, want)
		}
	}

	master, join := startMaster(t, bin)
	ports := map[string]int{}
	for _, k := range []string{"http", "gossip", "remote"} {
		ports[k] = testutil.FreePort(t)
	}
	bind := func(k string) string { return fmt.Sprintf("0.0.0.0:%d", ports[k]) }
	adv := func(k string) string { return fmt.Sprintf("%s:%d", advertiseHost, ports[k]) }
	worker := testutil.StartServer(t, bin, "--name", "w1", "--roles", "worker", "--insecure-cluster", "--join", join,
		"--http-addr", bind("http"), "--gossip-addr", bind("gossip"), "--remote-addr", bind("remote"),
		"--advertise-http", adv("http"), "--advertise-gossip", adv("gossip"), "--advertise-remote", adv("remote"))
	waitWorkers(t, master.URL(), "w1")

	m, _ := member(members(t, master.URL()), "w1")
	if m.APIAddr != adv("http") || m.GossipAddr != adv("gossip") || m.RemoteAddr != adv("remote") {
		t.Errorf("the master sees w1 at api %s, gossip %s, remote %s; want %s, %s, %s",
			m.APIAddr, m.GossipAddr, m.RemoteAddr, adv("http"), adv("gossip"), adv("remote"))
	}

	// The worker's API answers on its advertised address, and forwards to
	// the master; the master-only master leases every target to w1.
	wURL := "http://" + adv("http")
	if code := testutil.DoJSON(t, "GET", wURL+"/readyz", nil, nil); code != http.StatusOK {
		t.Fatalf("w1 /readyz on %s: %d\n%s", wURL, code, worker.Log())
	}
	id := submit(t, wURL, map[string]any{"targets": fleet.Targets(hosts, f.Addr().Port), "maxConcurrency": 20})
	st := waitFor(t, master.URL(), id, time.Minute, terminal)
	if st.State != store.JobGathered || st.Done != hosts || st.Counts[job.StateOK] != hosts {
		t.Fatalf("job on the advertised worker: %+v", st)
	}
	for _, r := range streamResults(t, master.URL(), id) {
		if r.Worker != "w1" {
			t.Fatalf("result of %s from %q, want w1", r.Host, r.Worker)
		}
	}

	var cl struct {
		MasterURL []string `json:"masterUrl"`
		URL       []string `json:"url"`
	}
	if code := testutil.DoJSON(t, "GET", master.URL()+"/distributedAgents/getClusterList", nil, &cl); code != http.StatusOK {
		t.Fatalf("getClusterList: %d", code)
	}
	if !slices.Contains(cl.URL, adv("gossip")) || slices.Contains(cl.URL, bind("gossip")) || !slices.Contains(cl.MasterURL, join) {
		t.Errorf("getClusterList %+v: want w1 as %s and the master as %s", cl, adv("gossip"), join)
	}
	for _, u := range append(cl.URL, cl.MasterURL...) {
		if strings.HasPrefix(u, "0.0.0.0") || strings.HasPrefix(u, "[::]") {
			t.Errorf("getClusterList names a bind address %s: %+v", u, cl)
		}
	}
}
