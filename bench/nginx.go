package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Target servers of the throughput scenarios (Config.TargetServer).
const (
	// TargetFleet is `salvo fleet`, simulating every host behind one
	// listener (the default).
	TargetFleet = "fleet"
	// TargetNginx is nginx (Debian's nginx-light), started by the bench as
	// one process on 0.0.0.0:PORT, so that every target 127.x.y.z:PORT
	// reaches it; it answers every request 200 "ok\n" and closes.
	TargetNginx = "nginx"
)

// DefaultNginx is where Debian's nginx packages install nginx (not in a
// non-root user's PATH).
const DefaultNginx = "/usr/sbin/nginx"

// NginxBody is what nginx answers to every request.
const NginxBody = "ok\n"

// nginxRegex is the salvo job's aggregation regex against nginx: the body's
// first word.
const nginxRegex = `^(\S+)`

// nginxPortTries is how many free ports the bench tries when another
// process takes the one it picked before nginx binds it.
const nginxPortTries = 3

// FindNginx returns the nginx executable: the one in PATH, else
// DefaultNginx.
func FindNginx() (string, error) {
	if p, err := exec.LookPath("nginx"); err == nil {
		return p, nil
	}
	if _, err := os.Stat(DefaultNginx); err != nil {
		return "", fmt.Errorf("nginx is not in PATH nor at %s (apt-get install nginx-light): %w", DefaultNginx, err)
	}
	return DefaultNginx, nil
}

// targetServer answers the throughput scenarios' targets.
type targetServer struct {
	// name is what the report shows: "fleet" or nginx's version.
	name string
	port int
	pid  int // 0 when it did not start
	// stop stops the server (bounded) and removes its files.
	stop func() error
}

// startTargetServer starts cfg.TargetServer for hosts targets. On an
// error what started is stopped already (pid tells whether something did).
func startTargetServer(ctx context.Context, cfg Config, hosts int) (targetServer, error) {
	if cfg.TargetServer == TargetNginx {
		return startNginx(ctx, cfg)
	}
	fl, port, err := startFleet(ctx, cfg, hosts)
	ts := targetServer{name: TargetFleet, port: port}
	if fl != nil {
		ts.pid = fl.pid()
		ts.stop = func() error { return fl.stop(cfg.StopTimeout) }
	}
	return ts, err
}

// nginxConfig is nginx's configuration: one process in the foreground, no
// access log, no keep-alive, every path under dir so that it runs as any
// user, and connections for concurrency requests in flight.
func nginxConfig(dir string, port, concurrency int) string {
	conns := max(1024, 2*concurrency+64)
	p := func(name string) string { return strconv.Quote(filepath.Join(dir, name)) }
	return fmt.Sprintf(`# Written by salvo bench; removed when it stops nginx.
worker_processes 1;
daemon off;
master_process off;
pid %s;
lock_file %s;
error_log %s notice;
worker_rlimit_nofile %d;
events {
	worker_connections %d;
}
http {
	access_log off;
	server_tokens off;
	keepalive_timeout 0;
	default_type text/plain;
	client_body_temp_path %s;
	proxy_temp_path %s;
	fastcgi_temp_path %s;
	uwsgi_temp_path %s;
	scgi_temp_path %s;
	server {
		listen 0.0.0.0:%d backlog=4096;
		location / {
			return 200 %s;
		}
	}
}
`, p("nginx.pid"), p("nginx.lock"), p("error.log"), conns+64, conns,
		p("body"), p("proxy"), p("fastcgi"), p("uwsgi"), p("scgi"), port, strconv.Quote(NginxBody))
}

// startNginx starts nginx on a free port with a configuration in a new
// temporary directory and waits (bounded by cfg.StartTimeout) until it
// answers. The returned stop stops it and removes the directory.
func startNginx(ctx context.Context, cfg Config) (ts targetServer, err error) {
	bin := cfg.Nginx
	if bin == "" {
		if bin, err = FindNginx(); err != nil {
			return ts, fmt.Errorf("bench: target server: %w", err)
		}
	}
	ts.name = nginxVersion(ctx, bin)
	dir, err := os.MkdirTemp("", "salvo-bench-nginx-")
	if err != nil {
		return ts, fmt.Errorf("bench: nginx directory: %w", err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	conf := filepath.Join(dir, "nginx.conf")
	errLog := filepath.Join(dir, "error.log")
	for try := 1; ; try++ {
		port, err := freePort()
		if err != nil {
			return ts, fmt.Errorf("bench: nginx port: %w", err)
		}
		if err := os.WriteFile(conf, []byte(nginxConfig(dir, port, cfg.Concurrency)), 0o644); err != nil {
			return ts, fmt.Errorf("bench: nginx config: %w", err)
		}
		// -e: nginx opens its error log before reading the config, and
		// the compiled-in one is not writable by every user.
		c, err := spawn(cfg, "nginx", bin, []string{"-p", dir, "-c", conf, "-e", errLog}, nil, nil)
		if err != nil {
			return ts, err
		}
		ts.pid = c.pid()
		werr := waitNginx(ctx, cfg, c, port)
		if werr == nil {
			ts.port = port
			ts.stop = func() error {
				err := c.stop(cfg.StopTimeout)
				os.RemoveAll(dir)
				return err
			}
			return ts, nil
		}
		logTail := fileTail(errLog, 2048)
		serr := c.stop(cfg.StopTimeout)
		if serr == nil && try < nginxPortTries && strings.Contains(logTail, "Address already in use") {
			cfg.Logger.Info("nginx port taken, trying another", "port", port)
			continue
		}
		return ts, errors.Join(fmt.Errorf("%w\nnginx error log:\n%s", werr, logTail), serr)
	}
}

// waitNginx polls nginx on port until it answers 200 NginxBody, it exits,
// cfg.StartTimeout passes or ctx ends.
func waitNginx(ctx context.Context, cfg Config, c *child, port int) error {
	client := &http.Client{Timeout: time.Second}
	url := "http://127.0.0.1:" + strconv.Itoa(port) + Path
	deadline := time.NewTimer(cfg.StartTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		if last = getNginx(ctx, client, url); last == nil {
			return nil
		}
		select {
		case <-c.done:
			return fmt.Errorf("bench: nginx exited before it was ready: %v\n%s", c.err, c.logs.tail())
		case <-deadline.C:
			return fmt.Errorf("bench: nginx not answering within %s: %v", cfg.StartTimeout, last)
		case <-ctx.Done():
			return fmt.Errorf("bench: start nginx: %w", context.Cause(ctx))
		case <-tick.C:
		}
	}
}

// getNginx sends one GET and checks nginx's answer.
func getNginx(ctx context.Context, client *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1024))
	if err != nil {
		return fmt.Errorf("read answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK || string(body) != NginxBody {
		return fmt.Errorf("answer %d %q, want 200 %q", resp.StatusCode, body, NginxBody)
	}
	return nil
}

// nginxVersion returns nginx's version ("nginx/1.22.1"), or "nginx" when
// `nginx -v` does not tell within a few seconds.
func nginxVersion(ctx context.Context, bin string) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "-v").CombinedOutput()
	_, v, ok := strings.Cut(strings.TrimSpace(string(out)), "nginx version: ")
	if err != nil || !ok || v == "" {
		return TargetNginx
	}
	return v
}

// freePort returns a TCP port that was free on 0.0.0.0 a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		return 0, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if err := ln.Close(); err != nil {
		return 0, err
	}
	return port, nil
}

// fileTail returns the last (at most) n bytes of a file, or why it cannot.
func fileTail(path string, n int64) string {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	if int64(len(raw)) > n {
		raw = raw[int64(len(raw))-n:]
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			raw = raw[i+1:]
		}
	}
	return strings.TrimSpace(string(raw))
}
