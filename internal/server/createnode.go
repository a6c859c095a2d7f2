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

// createNode serves REST Commander's createNode. With a masterURL, this
// node joins the cluster of that master (it must have been started with
// --gossip-addr and no --join). Without one, on a master, it asks each
// peer of cluster.peers in the config file to join this master: one call
// builds the whole cluster.
func (s *Server) createNode(ctx context.Context, port, masterURL string) (string, error) {
	if s.cn == nil {
		return "", &httpapi.Error{Status: http.StatusConflict,
			Msg: "this node runs alone: start it with --gossip-addr (and --roles worker) to build a cluster"}
	}
	if masterURL == "" || s.isSelf(masterURL) {
		if !s.cfg.HasRole(conf.RoleMaster) {
			return "", &job.FieldError{Field: "masterUrl", Msg: "a worker needs the masterUrl of the master to join"}
		}
		return s.invitePeers(ctx)
	}
	if s.cfg.HasRole(conf.RoleMaster) {
		return "", &httpapi.Error{Status: http.StatusConflict, Msg: "this node is a master: only nodes with --roles worker join another master"}
	}
	base, err := apiBase(masterURL)
	if err != nil {
		return "", &job.FieldError{Field: "masterUrl", Msg: err.Error()}
	}
	gossip, err := masterGossip(ctx, base)
	if err != nil {
		return "", &httpapi.Error{Status: http.StatusBadGateway, Msg: err.Error()}
	}
	jctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if _, err := s.cn.cl.Join(jctx, []string{gossip}); err != nil {
		return "", &httpapi.Error{Status: http.StatusBadGateway, Msg: fmt.Sprintf("join %s: %v", gossip, err)}
	}
	s.logger.Info("joined a cluster through createNode", "master", base, "gossip", gossip, "port", port)
	return fmt.Sprintf("%s joined the cluster of %s (gossip %s)", s.cfg.Name, base, gossip), nil
}

// isSelf reports whether u names this node's API.
func (s *Server) isSelf(u string) bool {
	base, err := apiBase(u)
	return err == nil && strings.TrimPrefix(base, "http://") == s.ln.Addr().String()
}

// invitePeers calls createNode on every configured peer with this master's URL.
func (s *Server) invitePeers(ctx context.Context) (string, error) {
	peers := s.cfg.Cluster.Peers
	if len(peers) == 0 {
		return "", &job.FieldError{Field: "masterUrl",
			Msg: "give masterUrl, or list the peers to invite under cluster.peers in the config file"}
	}
	self := "http://" + s.ln.Addr().String()
	var lines []string
	var errs []error
	client := &http.Client{Timeout: 30 * time.Second}
	for _, p := range peers {
		base, err := apiBase(p)
		if err == nil {
			err = callCreateNode(ctx, client, base, self)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p, err))
			lines = append(lines, p+": "+err.Error())
			continue
		}
		lines = append(lines, p+": joined")
	}
	msg := strings.Join(lines, "\n")
	if len(errs) == len(peers) {
		return "", &httpapi.Error{Status: http.StatusBadGateway, Msg: "no peer joined: " + errors.Join(errs...).Error()}
	}
	return msg, nil
}

func callCreateNode(ctx context.Context, client *http.Client, base, master string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost,
		base+"/distributedAgents/createNode?masterUrl="+url.QueryEscape(master), nil)
	if err != nil {
		return err
	}
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

// apiBase turns "host:port" or a URL into "http://host:port".
func apiBase(u string) (string, error) {
	if !strings.Contains(u, "://") {
		u = "http://" + u
	}
	pu, err := url.Parse(u)
	if err != nil || pu.Host == "" {
		return "", fmt.Errorf("invalid URL %q", u)
	}
	return pu.Scheme + "://" + pu.Host, nil
}

// masterGossip asks a node's API for the gossip address of the cluster's master.
func masterGossip(ctx context.Context, base string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/cluster/members", nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
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
