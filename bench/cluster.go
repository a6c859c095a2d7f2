package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// ScenarioCluster is the salvo job on one master and Config.ClusterWorkers
// worker processes, all on this machine.
const ScenarioCluster = "salvo-cluster"

// clusterJob runs the throughput job on a master-only node with workers
// joining it: the same job as the single node, so the rows compare.
func clusterJob(cfg Config) salvoJob {
	j := throughputJob(cfg)
	j.scenario = fmt.Sprintf("%s(1+%d)", ScenarioCluster, cfg.ClusterWorkers)
	j.serverArgs = []string{"--name", "bench-master", "--roles", "master",
		"--gossip-addr", "127.0.0.1:0", "--remote-addr", "127.0.0.1:0"}
	j.afterStart = func(ctx context.Context, base string) (func() error, []int, error) {
		return startClusterWorkers(ctx, cfg, base)
	}
	return j
}

// member is the part of /api/v1/cluster/members the harness reads.
type member struct {
	Name       string `json:"name"`
	GossipAddr string `json:"gossipAddr"`
	State      string `json:"state"`
	Capacity   int    `json:"capacity"`
}

func clusterMembers(ctx context.Context, base string) ([]member, error) {
	var pg struct {
		Items []member `json:"items"`
	}
	api := &http.Client{Timeout: 10 * time.Second}
	if err := doJSON(ctx, api, http.MethodGet, base+"/api/v1/cluster/members", nil, http.StatusOK, &pg); err != nil {
		return nil, err
	}
	return pg.Items, nil
}

// startClusterWorkers starts the workers, joins them to the master at base
// and waits (bounded) until the master has registered all of them.
func startClusterWorkers(ctx context.Context, cfg Config, base string) (func() error, []int, error) {
	ms, err := clusterMembers(ctx, base)
	if err != nil {
		return nil, nil, fmt.Errorf("bench: cluster members: %w", err)
	}
	join := ""
	for _, m := range ms {
		if m.Name == "bench-master" {
			join = m.GossipAddr
		}
	}
	if join == "" {
		return nil, nil, fmt.Errorf("bench: the master has no gossip address")
	}
	var workers []*child
	var pids []int
	cleanup := func() error {
		var errs []error
		for _, w := range workers {
			errs = append(errs, w.stop(cfg.StopTimeout))
		}
		return errors.Join(errs...)
	}
	names := make([]string, cfg.ClusterWorkers)
	for i := range names {
		names[i] = fmt.Sprintf("bench-worker-%d", i+1)
		args := []string{"server", "--http-addr", "127.0.0.1:0", "--log-format", "json", "--name", names[i],
			"--roles", "worker", "--gossip-addr", "127.0.0.1:0", "--remote-addr", "127.0.0.1:0", "--join", join}
		w, _, err := startChild(ctx, cfg, names[i], args, matchServerListening)
		if w != nil {
			workers = append(workers, w)
			pids = append(pids, w.pid())
		}
		if err != nil {
			return cleanup, pids, errors.Join(err, cleanup())
		}
	}
	deadline := time.Now().Add(cfg.StartTimeout)
	for {
		ms, err := clusterMembers(ctx, base)
		ready := 0
		if err == nil {
			for _, m := range ms {
				if strings.HasPrefix(m.Name, "bench-worker-") && m.State == "alive" && m.Capacity > 0 {
					ready++
				}
			}
		}
		if ready == len(names) {
			return cleanup, pids, nil
		}
		if time.Now().After(deadline) {
			b, _ := json.Marshal(ms)
			return cleanup, pids, errors.Join(fmt.Errorf("bench: %d of %d workers registered: %s", ready, len(names), b), cleanup())
		}
		select {
		case <-ctx.Done():
			return cleanup, pids, errors.Join(context.Cause(ctx), cleanup())
		case <-time.After(100 * time.Millisecond): // polling the master: no signal to wait on
		}
	}
}
