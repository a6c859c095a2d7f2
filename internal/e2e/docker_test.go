package e2e

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/salvo-sh/salvo/actors"
	"github.com/salvo-sh/salvo/fleet"
	"github.com/salvo-sh/salvo/job"
	"github.com/salvo-sh/salvo/store"
)

// The Docker test of deploy/compose/ha.yml (docs/operations.md,
// "Containers"): the image built FROM scratch, 3 masters and 3 workers
// up under a project of their own, a job while the leader's container is
// killed and a worker's is cut off the network and put back, one correct
// result per target, and `down -v` leaving nothing. The short run (2,000
// targets) is part of the suite; SALVO_E2E_DOCKER_LONG=1 (make e2e-docker)
// runs 20,000.
//
// Without the docker command the test is skipped, also under CI: the
// machine then has no engine at all, and .ci/run installs Compose only next
// to an engine it finds. With docker installed, a daemon that does not
// answer or a missing Compose fails it under CI (CI set), where both must
// work, and skips it elsewhere.

// dockerEnv is the docker CLI and the Compose command found.
type dockerEnv struct {
	compose []string // "docker compose" or "docker-compose"
}

// requireDocker finds a daemon that answers and a Compose, or ends the test.
func requireDocker(t *testing.T) dockerEnv {
	t.Helper()
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("no Docker: the docker command is not installed")
	}
	miss := func(msg string) {
		t.Helper()
		if os.Getenv("CI") != "" {
			t.Fatal(msg + "; under CI the Docker daemon and Compose must work")
		}
		t.Skip(msg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "docker", "info", "--format", "{{.ServerVersion}}").CombinedOutput(); err != nil {
		miss(fmt.Sprintf("no Docker daemon: docker info: %v: %s", err, bytes.TrimSpace(out)))
	}
	if exec.CommandContext(ctx, "docker", "compose", "version").Run() == nil {
		return dockerEnv{compose: []string{"docker", "compose"}}
	}
	if p, err := exec.LookPath("docker-compose"); err == nil && exec.CommandContext(ctx, p, "version").Run() == nil {
		return dockerEnv{compose: []string{p}}
	}
	miss("no Docker Compose: neither `docker compose` nor docker-compose works")
	return dockerEnv{}
}

// dockerRun runs a command and returns its trimmed standard output.
func dockerRun(ctx context.Context, dir string, env []string, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir, cmd.Env = dir, append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s %s: %w\n%s%s", name, strings.Join(args, " "), err, stdout.Bytes(), stderr.Bytes())
	}
	return strings.TrimSpace(stdout.String()), nil
}

// composeProject is one `compose -p NAME` of the test.
type composeProject struct {
	t       *testing.T
	d       dockerEnv
	dir     string // the repository root
	name    string
	files   []string
	env     []string
	network string // the project's network's name
}

func (p *composeProject) run(ctx context.Context, args ...string) (string, error) {
	all := append([]string{}, p.d.compose[1:]...)
	all = append(all, "-p", p.name)
	for _, f := range p.files {
		all = append(all, "-f", f)
	}
	return dockerRun(ctx, p.dir, p.env, p.d.compose[0], append(all, args...)...)
}

// container returns a service's container id.
func (p *composeProject) container(ctx context.Context, service string) string {
	p.t.Helper()
	id, err := p.run(ctx, "ps", "-q", service)
	if err != nil || id == "" {
		p.t.Fatalf("container of %s: %q %v", service, id, err)
	}
	return strings.Fields(id)[0]
}

// left lists what of the project is still on the engine.
func (p *composeProject) left(ctx context.Context) (string, error) {
	label := "label=com.docker.compose.project=" + p.name
	var out []string
	for _, args := range [][]string{
		{"ps", "-a", "-q", "--filter", label},
		{"network", "ls", "-q", "--filter", label},
		{"volume", "ls", "-q", "--filter", label},
	} {
		s, err := dockerRun(ctx, "", nil, "docker", args...)
		if err != nil {
			return "", err
		}
		if s != "" {
			out = append(out, args[0]+": "+strings.Join(strings.Fields(s), " "))
		}
	}
	return strings.Join(out, "; "), nil
}

// dockerAPI calls a node's API with the admin token.
type dockerAPI struct {
	token  string
	client *http.Client
}

func (a dockerAPI) do(ctx context.Context, method, url string, body any, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return resp.StatusCode, err
	}
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(raw, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: decode %.200q: %w", method, url, raw, err)
		}
	}
	return resp.StatusCode, nil
}

// results reads every stored result of a job as NDJSON.
func (a dockerAPI) results(ctx context.Context, url, id string) ([]job.Result, error) {
	req, _ := http.NewRequestWithContext(ctx, "GET", url+"/api/v1/jobs/"+id+"/results", nil)
	req.Header.Set("Accept", "application/x-ndjson")
	req.Header.Set("Authorization", "Bearer "+a.token)
	resp, err := (&http.Client{Timeout: 2 * time.Minute}).Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("results: %d", resp.StatusCode)
	}
	var out []job.Result
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 4<<20)
	for sc.Scan() {
		var r job.Result
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("result line: %w", err)
		}
		out = append(out, r)
	}
	return out, sc.Err()
}

// poll calls f every interval until it reports true, an error, or ctx or
// the bound ends. Polling the API or the engine: they send no signal.
func poll(ctx context.Context, within, interval time.Duration, f func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	var last error
	for {
		ok, err := f()
		if ok {
			return nil
		}
		if err != nil {
			last = err
		}
		select {
		case <-ctx.Done():
			return errors.Join(fmt.Errorf("not within %s", within), last)
		case <-time.After(interval):
		}
	}
}

// copyOut reads one file out of a container (docker cp to a tar stream: a
// scratch image has no cat).
func copyOut(ctx context.Context, container, path string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "docker", "cp", container+":"+path, "-")
	out, err := cmd.Output()
	if err != nil {
		return nil, err
	}
	tr := tar.NewReader(bytes.NewReader(out))
	if _, err := tr.Next(); err != nil {
		return nil, fmt.Errorf("docker cp %s: %w", path, err)
	}
	return io.ReadAll(io.LimitReader(tr, 1<<20))
}

func TestDockerComposeHA(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	d := requireDocker(t)
	hosts, budget, concurrency, latency := 2000, 4*time.Minute, 10, "100ms-300ms"
	if os.Getenv("SALVO_E2E_DOCKER_LONG") != "" {
		hosts, budget, concurrency, latency = 20000, 15*time.Minute, 50, "100ms-300ms"
	}
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	tmp := t.TempDir()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 18))
	name := fmt.Sprintf("salvotest-%08x", rng.Uint32())

	// The image, built as `make image` builds it, under the test's own tag.
	// Its bound is apart from the rest: a static build with a cold Go
	// cache takes minutes on a loaded 2-core machine.
	start := time.Now()
	buildCtx, cancelBuild := context.WithTimeout(context.Background(), 10*time.Minute)
	_, err := dockerRun(buildCtx, root, nil, "make", "-s", "image", "STATIC_BIN="+filepath.Join(tmp, "salvo-static"), "IMAGE="+name, "VERSION=e2e")
	cancelBuild()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := dockerRun(ctx, "", nil, "docker", "rmi", name+":e2e", name+":latest"); err != nil {
			t.Logf("remove the test's image: %v", err)
		}
	})
	t.Logf("image %s:e2e built in %s", name, time.Since(start).Round(time.Second))
	start = time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), budget)
	defer cancel()

	// Certificates for a network of the test's own (another run or a
	// user's compose may hold the default one).
	netPrefix := fmt.Sprintf("172.29.%d", rng.IntN(256))
	certs := filepath.Join(tmp, "certs")
	if _, err := dockerRun(ctx, root, nil, "go", "run", "./scripts/gencerts", "--dir", certs, "--net", netPrefix); err != nil {
		t.Fatal(err)
	}
	p := &composeProject{t: t, d: d, dir: root, name: name, files: []string{"deploy/compose/ha.yml"},
		env: []string{"SALVO_IMAGE=" + name + ":e2e", "SALVO_NET=" + netPrefix, "SALVO_CERTS=" + certs,
			"SALVO_PORT=", "SALVO_PORT_M2=", "SALVO_PORT_M3=", // empty: free ports docker picks
			"SALVO_FLEET_LATENCY=" + latency}}
	// Until `salvo health` is in the binary the image's health check
	// cannot pass: the test then turns it off.
	if _, err := dockerRun(ctx, "", nil, "docker", "run", "--rm", name+":e2e", "help", "health"); err != nil {
		override := filepath.Join(tmp, "no-health.yml")
		var b strings.Builder
		b.WriteString("services:\n")
		for _, s := range []string{"m1", "m2", "m3", "w1", "w2", "w3"} {
			fmt.Fprintf(&b, "  %s:\n    healthcheck:\n      disable: true\n", s)
		}
		if err := os.WriteFile(override, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		p.files = append(p.files, override)
		t.Log("this salvo has no health subcommand: the containers' health checks are off")
	}
	downed := false
	t.Cleanup(func() {
		if downed {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if t.Failed() {
			for _, s := range []string{"m1", "m2", "m3", "w1", "w2", "w3"} {
				if out, err := p.run(ctx, "logs", "--tail", "20", s); err == nil {
					t.Logf("%s:\n%s", s, out)
				}
			}
		}
		if _, err := p.run(ctx, "down", "-v", "--timeout", "5"); err != nil {
			t.Logf("compose down: %v", err)
		}
	})
	if _, err := p.run(ctx, "up", "-d"); err != nil {
		t.Fatal(err)
	}
	netID, err := dockerRun(ctx, "", nil, "docker", "network", "ls", "-q", "--filter", "label=com.docker.compose.project="+name)
	if err != nil || len(strings.Fields(netID)) != 1 {
		t.Fatalf("the project's network: %q %v", netID, err)
	}
	p.network = netID

	// The masters' published API ports and the admin token, which the
	// first leader wrote into its own data dir.
	masters := []string{"m1", "m2", "m3"}
	ctr, url := map[string]string{}, map[string]string{}
	for _, m := range masters {
		ctr[m] = p.container(ctx, m)
		hp, err := dockerRun(ctx, "", nil, "docker", "port", ctr[m], "8080/tcp")
		if err != nil {
			t.Fatal(err)
		}
		hp = strings.Fields(hp)[0]
		if !strings.HasPrefix(hp, "127.0.0.1:") {
			t.Fatalf("%s publishes its API on %s, not on 127.0.0.1", m, hp)
		}
		url[m] = "http://" + hp
	}
	api := dockerAPI{client: &http.Client{Timeout: 30 * time.Second}}
	if err := poll(ctx, 90*time.Second, 500*time.Millisecond, func() (bool, error) {
		for _, m := range masters {
			if tok, err := copyOut(ctx, ctr[m], "/data/admin.token"); err == nil && len(bytes.TrimSpace(tok)) > 0 {
				api.token = string(bytes.TrimSpace(tok))
				return true, nil
			}
		}
		return false, nil
	}); err != nil {
		t.Fatalf("no master wrote admin.token: %v", err)
	}
	leader := func(alive []string) (string, error) {
		for _, m := range alive {
			var st struct {
				Leader string `json:"leader"`
			}
			if code, err := api.do(ctx, "GET", url[m]+"/api/v1/cluster/raft", nil, &st); err == nil && code == http.StatusOK && st.Leader != "" {
				return st.Leader, nil
			}
		}
		return "", nil
	}
	workersAlive := func(at string, names ...string) (bool, error) {
		var pg struct {
			Items []actors.Member `json:"items"`
		}
		if code, err := api.do(ctx, "GET", url[at]+"/api/v1/cluster/members", nil, &pg); err != nil || code != http.StatusOK {
			return false, fmt.Errorf("members: %d %v", code, err)
		}
		for _, n := range names {
			m, ok := member(pg.Items, n)
			if !ok || m.State != "alive" || m.Capacity == 0 {
				return false, nil
			}
		}
		return true, nil
	}
	var lead string
	if err := poll(ctx, 60*time.Second, 250*time.Millisecond, func() (bool, error) {
		l, err := leader(masters)
		if l == "" {
			return false, err
		}
		lead = l
		return workersAlive(l, "w1", "w2", "w3")
	}); err != nil {
		t.Fatalf("no leader with 3 workers: %v", err)
	}
	t.Logf("cluster up in %s, leader %s", time.Since(start).Round(time.Second), lead)

	// The job, submitted through a follower (forwarded to the leader).
	via := masters[0]
	if via == lead {
		via = masters[1]
	}
	var st actors.JobStatus
	if code, err := api.do(ctx, "POST", url[via]+"/api/v1/jobs", map[string]any{
		"targets": fleet.Targets(hosts, 8081), "maxConcurrency": concurrency, "http": map[string]any{"path": "/docker"},
	}, &st); err != nil || code != http.StatusAccepted {
		t.Fatalf("submit: %d %v", code, err)
	}
	id := st.ID
	statusAt := func(alive []string) (actors.JobStatus, error) {
		var last error
		for _, m := range alive {
			var st actors.JobStatus
			code, err := api.do(ctx, "GET", url[m]+"/api/v1/jobs/"+id, nil, &st)
			if err == nil && code == http.StatusOK {
				return st, nil
			}
			last = fmt.Errorf("%s: %d %v", m, code, err)
		}
		return actors.JobStatus{}, last
	}
	waitDone := func(alive []string, within time.Duration, done int) actors.JobStatus {
		t.Helper()
		var st actors.JobStatus
		if err := poll(ctx, within, 200*time.Millisecond, func() (bool, error) {
			s, err := statusAt(alive)
			st = s
			return err == nil && (s.Done >= done || s.Terminal()), err
		}); err != nil {
			t.Fatalf("job %s: %d done not reached: %v; last %+v", id, done, err, st)
		}
		return st
	}

	// The leader's container killed mid-job.
	st = waitDone(masters, time.Minute, hosts/5)
	if st.Terminal() {
		t.Fatalf("the job ended before the kill: %+v", st)
	}
	if _, err := dockerRun(ctx, "", nil, "docker", "kill", ctr[lead]); err != nil {
		t.Fatal(err)
	}
	var alive []string
	for _, m := range masters {
		if m != lead {
			alive = append(alive, m)
		}
	}
	killedAt := time.Now()
	var newLead string
	if err := poll(ctx, 30*time.Second, 200*time.Millisecond, func() (bool, error) {
		l, err := leader(alive)
		newLead = l
		return l != "" && l != lead, err
	}); err != nil {
		t.Fatalf("no new leader after %s's container was killed: %v", lead, err)
	}
	t.Logf("killed %s at %d done; %s leads after %s", lead, st.Done, newLead, time.Since(killedAt).Round(100*time.Millisecond))

	// A worker cut off the network (its fleet-wN container holds its
	// network) until the leader sees it gone, then put back at its address.
	st = waitDone(alive, 2*time.Minute, hosts/2)
	victim := []string{"w1", "w2", "w3"}[rng.IntN(3)]
	holder := p.container(ctx, "fleet-"+victim)
	ip, err := dockerRun(ctx, "", nil, "docker", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", holder)
	if err != nil || ip == "" {
		t.Fatalf("address of %s: %q %v", victim, ip, err)
	}
	if _, err := dockerRun(ctx, "", nil, "docker", "network", "disconnect", p.network, holder); err != nil {
		t.Fatal(err)
	}
	cut := time.Now()
	if err := poll(ctx, 60*time.Second, 250*time.Millisecond, func() (bool, error) {
		ok, err := workersAlive(newLead, victim)
		return err == nil && !ok, err
	}); err != nil {
		t.Fatalf("the leader still sees %s alive off the network: %v", victim, err)
	}
	t.Logf("%s off the network at %d done; seen gone after %s", victim, st.Done, time.Since(cut).Round(100*time.Millisecond))
	if _, err := dockerRun(ctx, "", nil, "docker", "network", "connect", "--ip", ip, "--alias", victim, p.network, holder); err != nil {
		t.Fatal(err)
	}

	st = waitDone(alive, budget, hosts+1) // the end
	if st.State != store.JobGathered || st.Done != hosts || st.Counts[job.StateOK] != hosts {
		t.Fatalf("final status %+v", st)
	}
	results, err := api.results(ctx, url[newLead], id)
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != hosts {
		t.Fatalf("%d results, want %d", len(results), hosts)
	}
	for i, r := range results {
		want := fmt.Sprintf("host=%s version=%s", fleet.HostAddr(i), fleet.Version(i))
		if r.Index != i || r.Host != fleet.HostAddr(i) || r.State != job.StateOK || r.StatusCode != http.StatusOK || strings.TrimSpace(r.Body) != want {
			t.Fatalf("result %d wrong: %+v, want body %q", i, r, want)
		}
	}
	if err := poll(ctx, 90*time.Second, 500*time.Millisecond, func() (bool, error) {
		return workersAlive(newLead, "w1", "w2", "w3")
	}); err != nil {
		t.Fatalf("%s not back after its network came back: %v", victim, err)
	}
	t.Logf("%d targets, one correct result each; %s back; %s in all", hosts, victim, time.Since(start).Round(time.Second))

	// down -v leaves no container, network or volume of the project.
	downed = true
	if _, err := p.run(ctx, "down", "-v", "--timeout", "5"); err != nil {
		t.Fatal(err)
	}
	if left, err := p.left(ctx); err != nil || left != "" {
		t.Fatalf("after down -v the engine still holds the project's %s (%v)", left, err)
	}
}
