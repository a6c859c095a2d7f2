package httpapi

import (
	"context"
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/salvo-sh/salvo/auth"
	"github.com/salvo-sh/salvo/job"
	"github.com/salvo-sh/salvo/store"
)

// Credentials keeps the SSH credentials jobs name (internal/server: the
// store, with passwords sealed).
type Credentials interface {
	PutCredential(ctx context.Context, name string, c job.Credential) error
	GetCredential(ctx context.Context, name string) (*job.Credential, error)
	ListCredentials(ctx context.Context) ([]string, error)
	DeleteCredential(ctx context.Context, name string) error
}

// credentialView is a credential as the API shows it: never its password.
type credentialView struct {
	Name           string `json:"name"`
	User           string `json:"user,omitempty"`
	PrivateKeyFile string `json:"privateKeyFile,omitempty"`
	PassphraseFile string `json:"passphraseFile,omitempty"`
	Agent          bool   `json:"agent,omitempty"`
	KnownHostsFile string `json:"knownHostsFile,omitempty"`
	SSHConfigFile  string `json:"sshConfigFile,omitempty"`
	PasswordSet    bool   `json:"passwordSet"`
}

func credentialViewOf(name string, c *job.Credential) credentialView {
	return credentialView{Name: name, User: c.User, PrivateKeyFile: c.PrivateKeyFile, PassphraseFile: c.PassphraseFile,
		Agent: c.Agent, KnownHostsFile: c.KnownHostsFile, SSHConfigFile: c.SSHConfigFile, PasswordSet: c.Password != ""}
}

// credentialRoutes serves /api/v1/credentials (admin).
func (s *Server) credentialRoutes(v1 *gin.RouterGroup) {
	s.route(v1, auth.Admin, http.MethodGet, "/credentials", s.listCredentials)
	s.route(v1, auth.Admin, http.MethodGet, "/credentials/:name", s.getCredential)
	s.route(v1, auth.Admin, http.MethodPut, "/credentials/:name", s.putCredential)
	s.route(v1, auth.Admin, http.MethodDelete, "/credentials/:name", s.deleteCredential)
}

func (s *Server) credentials(c *gin.Context) (Credentials, bool) {
	if s.cfg.Credentials == nil {
		fail(c, &Error{Status: http.StatusNotFound, Msg: "this node keeps no credentials"})
		return nil, false
	}
	return s.cfg.Credentials, true
}

func (s *Server) listCredentials(c *gin.Context) {
	cs, ok := s.credentials(c)
	if !ok {
		return
	}
	names, err := cs.ListCredentials(c.Request.Context())
	if err != nil {
		fail(c, err)
		return
	}
	out := make([]credentialView, 0, len(names))
	for _, n := range names {
		cr, err := cs.GetCredential(c.Request.Context(), n)
		if err != nil {
			fail(c, err)
			return
		}
		out = append(out, credentialViewOf(n, cr))
	}
	c.JSON(http.StatusOK, page[credentialView]{Items: out})
}

func (s *Server) getCredential(c *gin.Context) {
	cs, ok := s.credentials(c)
	if !ok {
		return
	}
	cr, err := cs.GetCredential(c.Request.Context(), c.Param("name"))
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, credentialViewOf(c.Param("name"), cr))
}

// putCredential creates or replaces a credential: {"user",
// "privateKeyFile", "passphraseFile", "agent", "knownHostsFile",
// "sshConfigFile", "password"}, paths on the workers. The password is
// write-only.
func (s *Server) putCredential(c *gin.Context) {
	cs, ok := s.credentials(c)
	if !ok {
		return
	}
	name := c.Param("name")
	if !namePattern.MatchString(name) || store.CheckDefinitionName(name) != nil {
		fail(c, badRequest("name", "credential names are 1 to 128 letters, digits, '.', '_' or '-'"))
		return
	}
	var cr job.Credential
	if !bindStrict(c, &cr) {
		return
	}
	if err := cr.Check(); err != nil {
		fail(c, err)
		return
	}
	if err := cs.PutCredential(c.Request.Context(), name, cr); err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, credentialViewOf(name, &cr))
}

func (s *Server) deleteCredential(c *gin.Context) {
	cs, ok := s.credentials(c)
	if !ok {
		return
	}
	if err := cs.DeleteCredential(c.Request.Context(), c.Param("name")); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			fail(c, &Error{Status: http.StatusNotFound, Msg: "no credential named " + c.Param("name")})
			return
		}
		fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}
