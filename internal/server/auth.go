package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/salvo-sh/salvo/auth"
	"github.com/salvo-sh/salvo/httpapi"
)

// AdminTokenFile is the file in the data dir where the first start with
// authentication on writes the admin token it creates (mode 0600).
const AdminTokenFile = "admin.token"

// bootstrapTokens prepares a master's tokens when authentication is on:
// with no token yet it creates the admin token and writes it to
// DATA_DIR/admin.token, and it makes this start's node token, which the
// node's own calls to other nodes carry (createNode invitations, the
// member watch).
func (s *Server) bootstrapTokens(ctx context.Context, st httpapi.Tokens) error {
	ts, err := st.ListTokens(ctx)
	if err != nil {
		return err
	}
	node := nodeTokenName(s.cfg.Name)
	users := 0
	for _, t := range ts {
		if t.Name != node {
			users++
		}
	}
	if users == 0 {
		secret, hash, err := auth.NewSecret()
		if err != nil {
			return err
		}
		path := filepath.Join(s.cfg.DataDir, AdminTokenFile)
		if err := auth.WriteSecretFile(path, secret); err != nil {
			return fmt.Errorf("write the admin token: %w", err)
		}
		if err := st.PutToken(ctx, auth.Token{Name: "admin", Role: auth.Admin, Hash: hash, Created: time.Now().UTC()}); err != nil {
			return fmt.Errorf("create the admin token: %w", err)
		}
		s.logger.Warn("authentication is on and there was no token: an admin token was created; read it from the file, then keep it elsewhere",
			"file", path, "name", "admin")
	}
	if err := st.DeleteToken(ctx, node); err != nil && !errors.Is(err, auth.ErrNotFound) {
		return err
	}
	secret, hash, err := auth.NewSecret()
	if err != nil {
		return err
	}
	if err := st.PutToken(ctx, auth.Token{Name: node, Role: auth.Admin, Hash: hash, Created: time.Now().UTC()}); err != nil {
		return fmt.Errorf("create the node token: %w", err)
	}
	s.nodeToken = secret
	return nil
}

// nodeTokenName is the name of a node's own token: "node-" and the node's
// name, with what a token name may not hold replaced by '-'.
func nodeTokenName(name string) string {
	b := []byte("node-" + name)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			b[i] = '-'
		}
	}
	if len(b) > 64 {
		b = b[:64]
	}
	return string(b)
}

// credential is what the node's own calls to other nodes carry: its node
// token on a master, else the credential of the call that caused them.
func (s *Server) credential(ctx context.Context) string {
	if s.nodeToken != "" {
		return s.nodeToken
	}
	return httpapi.CredentialFrom(ctx)
}

// authorize sets a request's Authorization from a credential ("" none).
func authorize(req *http.Request, secret string) {
	if secret != "" {
		req.Header.Set("Authorization", "Bearer "+secret)
	}
}

// verifyAtMaster checks a request's credential with the master, for a
// worker-only node (it keeps no tokens): GET /api/v1/whoami with it.
func (s *Server) verifyAtMaster(r *http.Request) (*auth.Token, error) {
	secret := httpapi.Credential(r)
	if secret == "" {
		return nil, auth.ErrNoCredentials
	}
	base := ""
	if master := s.lastMasterAPI(); master != "" {
		base = s.apiURL(master)
	} else if mu := r.URL.Query().Get("masterUrl"); mu != "" && strings.Contains(strings.ToLower(r.URL.Path), "createnode") {
		// A worker that has never had a master is invited by one: the
		// token is checked with the master it is asked to join, whose
		// cluster it can join only with the gossip key.
		b, err := s.apiBase(mu)
		if err != nil {
			return nil, err
		}
		base = b
	}
	if base == "" {
		return nil, errors.New("the master is not known yet: the token cannot be checked")
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/whoami", nil)
	if err != nil {
		return nil, err
	}
	authorize(req, secret)
	resp, err := s.client(5 * time.Second).Do(req)
	if err != nil {
		return nil, fmt.Errorf("the token cannot be checked with the master: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			return nil, errors.New(e.Error)
		}
		return nil, fmt.Errorf("the master answered %d checking the token", resp.StatusCode)
	}
	var who struct {
		Name  string   `json:"name"`
		Role  string   `json:"role"`
		Scope []string `json:"scope"`
	}
	if err := json.Unmarshal(body, &who); err != nil {
		return nil, fmt.Errorf("the master's whoami: %w", err)
	}
	role, err := auth.ParseRole(who.Role)
	if err != nil {
		return nil, fmt.Errorf("the master's whoami: %w", err)
	}
	return &auth.Token{Name: who.Name, Role: role, Scope: who.Scope}, nil
}

// lastMasterAPI is the master's API address, or the last one known while
// the cluster part is stopped.
func (s *Server) lastMasterAPI() string {
	if m := s.masterAPI(); m != "" {
		s.mu.Lock()
		s.lastMaster = m
		s.mu.Unlock()
		return m
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.TrimSpace(s.lastMaster)
}
