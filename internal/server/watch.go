package server

import (
	"context"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/salvo-sh/salvo/actors"
	"github.com/salvo-sh/salvo/conf"
	"github.com/salvo-sh/salvo/httpapi"
)

// watcher is a clustered master's watch of its enabled members (REST
// Commander's enableClusterMember): every interval it looks at the worker
// members it has seen listed, and for one that has left or died, is not
// disabled and whose API answers /livez again, it calls that node's
// createNode with the master's API, so that it joins again. A disabled
// member is not watched (disableClusterMember).
type watcher struct {
	engine   *actors.Engine
	self     string // the master's API base URL
	secret   string // the master's node token ("" without authentication)
	interval time.Duration
	logger   *slog.Logger
	client   *http.Client
	apiURL   func(addr string) string // a member's API base URL
	seen     map[string]*watched

	cancel context.CancelFunc
	done   chan struct{}
}

// watched is what the watcher knows of one worker member.
type watched struct {
	api     string
	enabled bool
	said    bool // its departure is logged
	// refusalSaid: a createNode it refused is logged.
	refusalSaid bool
}

// startWatcher starts a watcher; stop ends it.
func startWatcher(e *actors.Engine, self, secret string, client *http.Client, apiURL func(string) string,
	interval time.Duration, logger *slog.Logger) *watcher {
	ctx, cancel := context.WithCancel(context.Background())
	w := &watcher{engine: e, self: self, secret: secret, interval: interval, logger: logger.With("component", "watch"),
		client: client, apiURL: apiURL, seen: map[string]*watched{}, cancel: cancel, done: make(chan struct{})}
	go w.run(ctx)
	return w
}

func (w *watcher) stop() {
	w.cancel()
	<-w.done
}

func (w *watcher) run(ctx context.Context) {
	defer close(w.done)
	t := time.NewTicker(w.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			w.check(ctx)
		}
	}
}

// check looks at the members once.
func (w *watcher) check(ctx context.Context) {
	qctx, cancel := context.WithTimeout(ctx, w.interval)
	defer cancel()
	ms, err := w.engine.Members(qctx)
	if err != nil {
		w.logger.Debug("cluster watch: no members", "err", err)
		return
	}
	alive := map[string]bool{}
	for _, m := range ms {
		if !slices.Contains(m.Roles, conf.RoleWorker) || m.APIAddr == "" || m.Name == w.engine.Name() {
			continue
		}
		ws := w.seen[m.Name]
		if ws == nil {
			ws = &watched{}
			w.seen[m.Name] = ws
		}
		ws.api, ws.enabled = m.APIAddr, m.Enabled
		if m.State == "alive" {
			alive[m.Name] = true
			ws.said, ws.refusalSaid = false, false
		}
	}
	for name, ws := range w.seen {
		if alive[name] {
			continue
		}
		if !ws.enabled {
			if !ws.said {
				w.logger.Info("cluster watch: a disabled member is gone; it is not brought back", "member", name)
				ws.said = true
			}
			continue
		}
		if !ws.said {
			w.logger.Info("cluster watch: an enabled member is gone; it is brought back once its API answers", "member", name, "api", ws.api)
			ws.said = true
		}
		w.bringBack(ctx, name, w.apiURL(ws.api), ws)
	}
}

// bringBack calls createNode on a gone member whose API answers. A refusal
// (the member serves another master now) is said once per departure.
func (w *watcher) bringBack(ctx context.Context, name, base string, ws *watched) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/livez", nil)
	if err != nil {
		return
	}
	resp, err := w.client.Do(req)
	if err != nil {
		w.logger.Debug("cluster watch: the member's API does not answer", "member", name, "err", err)
		return
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return
	}
	if err := callCreateNode(ctx, w.client, base, w.self, httpapi.CreateNodeWatch, w.secret); err != nil {
		if !ws.refusalSaid {
			w.logger.Warn("cluster watch: createNode on a gone member failed", "member", name, "err", err)
			ws.refusalSaid = true
		}
		return
	}
	w.logger.Info("cluster watch: a gone member was asked to join again (createNode)", "member", name)
}
