package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/salvo-sh/salvo/conf"
	"github.com/salvo-sh/salvo/httpapi"
	"github.com/salvo-sh/salvo/job"
)

// createNode serves REST Commander's createNode (docs/rest-commander.md).
// It first starts the node's cluster part again when shutdownNode stopped
// it. With a masterURL naming another node, a worker joins that master's
// cluster (asking the master to start first when its own part is down),
// and a master asks that node to rebuild the cluster around itself and
// asks its own cluster.peers to join it. Without one, or with its own, a
// master asks each peer of cluster.peers to join it: one call builds the
// whole cluster. by marks the calls of a master (httpapi.CreateNodeInvite,
// httpapi.CreateNodeWatch): they never call further, and a watch does not
// take a worker away from another live master.
func (s *Server) createNode(ctx context.Context, port, masterURL, by string) (string, error) {
	invited := by != ""
	if !s.cfg.Clustered() {
		started, err := s.restartPart(ctx, nil, false)
		if err != nil {
			return "", err
		}
		if started {
			return s.cfg.Name + " started again", nil
		}
		msg := "createNode: clustering is not enabled on this node: it runs as a single node (master and worker) and cannot join a cluster"
		if masterURL != "" {
			msg += fmt.Sprintf(" (masterUrl %s)", masterURL)
		}
		return "", &httpapi.Error{Status: http.StatusNotImplemented, Msg: msg}
	}
	if s.cfg.HA() {
		return s.createNodeHA(ctx, masterURL)
	}
	master := s.cfg.HasRole(conf.RoleMaster)
	if masterURL == "" || s.isSelf(masterURL) {
		if !master {
			return "", &job.FieldError{Field: "masterUrl", Msg: "a worker needs the masterUrl of the master to join"}
		}
		started, err := s.restartPart(ctx, s.cfg.Join, false)
		if err != nil {
			return "", err
		}
		if len(s.cfg.Cluster.Peers) == 0 && masterURL == "" && !started {
			return "", &job.FieldError{Field: "masterUrl",
				Msg: "give masterUrl, or list the peers to invite under cluster.peers in the config file"}
		}
		if invited || len(s.cfg.Cluster.Peers) == 0 {
			return s.cfg.Name + " runs as the master", nil
		}
		return s.invitePeers(ctx, s.apiURL(s.apiAddr()), "")
	}
	base, err := s.apiBase(masterURL)
	if err != nil {
		return "", &job.FieldError{Field: "masterUrl", Msg: err.Error()}
	}
	client := s.client(30 * time.Second)
	if master {
		if invited {
			return "", &httpapi.Error{Status: http.StatusConflict, Msg: "this node is a master: it does not join " + base}
		}
		// Rebuild the cluster around another master-capable node: it
		// starts as the master, then this node's peers join it.
		if err := callCreateNode(ctx, client, base, base, "", s.credential(ctx)); err != nil {
			return "", &httpapi.Error{Status: http.StatusBadGateway, Msg: fmt.Sprintf("ask %s to run as the master: %v", base, err)}
		}
		if len(s.cfg.Cluster.Peers) == 0 {
			return base + " runs as the master", nil
		}
		return s.invitePeers(ctx, base, base)
	}
	gossip, err := s.masterGossip(ctx, base, s.credential(ctx))
	if err != nil && !invited {
		// The master's cluster part may be shut down: ask it to start (it
		// invites its peers, this node perhaps among them), then look again.
		if cerr := callCreateNode(ctx, client, base, base, "", s.credential(ctx)); cerr != nil {
			return "", &httpapi.Error{Status: http.StatusBadGateway, Msg: fmt.Sprintf("%v; and asking it to start: %v", err, cerr)}
		}
		gossip, err = s.masterGossip(ctx, base, s.credential(ctx))
	}
	if err != nil {
		return "", &httpapi.Error{Status: http.StatusBadGateway, Msg: err.Error()}
	}
	// A worker in another master's cluster leaves it first: one
	// membership holds one master. A member watch does not move it: the
	// master it left may watch it still.
	known := s.masterAPI()
	moving := known != "" && s.apiURL(known) != base
	if moving && by == httpapi.CreateNodeWatch {
		return "", &httpapi.Error{Status: http.StatusConflict, Msg: fmt.Sprintf("%s serves the master at %s now", s.cfg.Name, known)}
	}
	started, err := s.restartPart(ctx, []string{gossip}, moving)
	if err != nil {
		return "", err
	}
	p := s.current()
	if p == nil {
		return "", errStopped
	}
	if !started {
		jctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		if _, err := p.cn.cl.Join(jctx, []string{gossip}); err != nil {
			return "", &httpapi.Error{Status: http.StatusBadGateway, Msg: fmt.Sprintf("join %s: %v", gossip, err)}
		}
	}
	s.logger.Info("joined a cluster through createNode", "master", base, "gossip", gossip, "port", port, "restarted", started)
	return fmt.Sprintf("%s joined the cluster of %s (gossip %s)", s.cfg.Name, base, gossip), nil
}

// isSelf reports whether u names this node's API.
func (s *Server) isSelf(u string) bool {
	base, err := s.apiBase(u)
	return err == nil && base == s.apiURL(s.apiAddr())
}

// invitePeers calls createNode on every configured peer with the master's
// URL, skipping the peer at skip (the master itself).
func (s *Server) invitePeers(ctx context.Context, masterBase, skip string) (string, error) {
	peers := s.cfg.Cluster.Peers
	if len(peers) == 0 {
		return "", &job.FieldError{Field: "masterUrl",
			Msg: "give masterUrl, or list the peers to invite under cluster.peers in the config file"}
	}
	var lines []string
	var errs []error
	client := s.client(30 * time.Second)
	asked := 0
	for _, p := range peers {
		base, err := s.apiBase(p)
		if err == nil && base == skip {
			continue
		}
		asked++
		if err == nil {
			err = callCreateNode(ctx, client, base, masterBase, httpapi.CreateNodeInvite, s.credential(ctx))
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p, err))
			lines = append(lines, p+": "+err.Error())
			continue
		}
		lines = append(lines, p+": joined")
	}
	msg := strings.Join(lines, "\n")
	if asked > 0 && len(errs) == asked {
		return "", &httpapi.Error{Status: http.StatusBadGateway, Msg: "no peer joined: " + errors.Join(errs...).Error()}
	}
	return msg, nil
}

// createNodeHA serves createNode on a master of a Raft group: it starts
// the node's cluster part again after shutdownNode and, with a masterUrl,
// hands the group's leadership to the master it names (REST Commander's
// "assign a new master").
func (s *Server) createNodeHA(ctx context.Context, masterURL string) (string, error) {
	started, err := s.restartPart(ctx, s.cfg.Join, false)
	if err != nil {
		return "", err
	}
	if masterURL == "" {
		if started {
			return s.cfg.Name + " started again: it rejoins its Raft group", nil
		}
		return s.cfg.Name + " runs in its Raft group", nil
	}
	base, err := s.apiBase(masterURL)
	if err != nil {
		return "", &job.FieldError{Field: "masterUrl", Msg: err.Error()}
	}
	u, _ := url.Parse(base)
	return s.transferTo(ctx, u.Host)
}

// callCreateNode calls createNode on the node at base with masterUrl
// master; by marks a master's own call (httpapi.CreateNodeInvite,
// httpapi.CreateNodeWatch).
func callCreateNode(ctx context.Context, client *http.Client, base, master, by, secret string) error {
	u := base + "/distributedAgents/createNode?masterUrl=" + url.QueryEscape(master)
	if by != "" {
		u += "&invited=" + by
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, nil)
	if err != nil {
		return err
	}
	authorize(req, secret)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("createNode answered %d: %s", resp.StatusCode, strings.TrimSpace(string(body)))
	}
	return nil
}

// apiBase turns "host:port" or a URL into "scheme://host:port", the
// node's own scheme when u has none.
func (s *Server) apiBase(u string) (string, error) {
	if !strings.Contains(u, "://") {
		u = s.apiURL(u)
	}
	pu, err := url.Parse(u)
	if err != nil || pu.Host == "" {
		return "", fmt.Errorf("invalid URL %q", u)
	}
	return pu.Scheme + "://" + pu.Host, nil
}

// masterGossip asks a node's API for the gossip address of the cluster's master.
func (s *Server) masterGossip(ctx context.Context, base, secret string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/cluster/members", nil)
	if err != nil {
		return "", err
	}
	authorize(req, secret)
	resp, err := s.client(10 * time.Second).Do(req)
	if err != nil {
		return "", fmt.Errorf("ask %s for its members: %w", base, err)
	}
	defer resp.Body.Close()
	var pg struct {
		Items []struct {
			Roles      []string `json:"roles"`
			GossipAddr string   `json:"gossipAddr"`
			State      string   `json:"state"`
		} `json:"items"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 4<<20)).Decode(&pg); err != nil {
		return "", fmt.Errorf("members of %s: %w", base, err)
	}
	for _, m := range pg.Items {
		if slices.Contains(m.Roles, conf.RoleMaster) && m.GossipAddr != "" && m.State == "alive" {
			return m.GossipAddr, nil
		}
	}
	return "", fmt.Errorf("%s knows no clustered master (was it started with --gossip-addr?)", base)
}
