package job

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
)

// Credential is SSH credentials kept by the server and named by jobs
// (ssh.credential): paths are on the workers, Password is a secret that
// is written and never read back (docs/security.md).
type Credential struct {
	User           string `json:"user,omitempty"`
	PrivateKeyFile string `json:"privateKeyFile,omitempty"`
	PassphraseFile string `json:"passphraseFile,omitempty"`
	Agent          bool   `json:"agent,omitempty"`
	KnownHostsFile string `json:"knownHostsFile,omitempty"`
	// SSHConfigFile is an OpenSSH client config file on the workers
	// (SSHSpec.ConfigFile).
	SSHConfigFile string `json:"sshConfigFile,omitempty"`
	Password      string `json:"password,omitempty"`
}

// Check validates a credential: absolute paths, and some way to log in.
func (c *Credential) Check() error {
	for _, f := range []struct{ field, path string }{
		{"privateKeyFile", c.PrivateKeyFile}, {"passphraseFile", c.PassphraseFile}, {"knownHostsFile", c.KnownHostsFile},
		{"sshConfigFile", c.SSHConfigFile},
	} {
		if f.path != "" && !filepath.IsAbs(f.path) {
			return fieldErrorf(f.field, "must be an absolute path on the workers, got %q", f.path)
		}
	}
	if c.PassphraseFile != "" && c.PrivateKeyFile == "" {
		return fieldErrorf("passphraseFile", "needs privateKeyFile")
	}
	if c.PrivateKeyFile == "" && c.Password == "" && !c.Agent && c.SSHConfigFile == "" {
		return fieldErrorf("privateKeyFile", "give privateKeyFile, password, agent or sshConfigFile (its IdentityFile keys)")
	}
	return nil
}

// Apply fills an SSH spec from the credential. The spec may not set auth,
// knownHostsFile or configFile itself; its user wins over the
// credential's.
func (c *Credential) Apply(s *SSHSpec) error {
	if s.Auth != (SSHAuth{}) {
		return fieldErrorf("ssh.auth", "give either ssh.credential or ssh.auth, not both")
	}
	if s.KnownHostsFile != "" {
		return fieldErrorf("ssh.knownHostsFile", "a job with ssh.credential takes its known_hosts file from the credential")
	}
	if s.ConfigFile != "" {
		return fieldErrorf("ssh.configFile", "a job with ssh.credential takes its ssh config file from the credential (sshConfigFile)")
	}
	if s.User == "" {
		s.User = c.User
	}
	s.Auth = SSHAuth{PrivateKeyFile: c.PrivateKeyFile, PassphraseFile: c.PassphraseFile, Password: c.Password, Agent: c.Agent}
	s.KnownHostsFile, s.ConfigFile = c.KnownHostsFile, c.SSHConfigFile
	return nil
}

// checkConfigFile checks ssh.configFile: a path on the workers, absolute
// or under the worker user's home ("~/").
func checkConfigFile(f string) error {
	if f == "" || filepath.IsAbs(f) || strings.HasPrefix(f, "~/") {
		return nil
	}
	return fieldErrorf("ssh.configFile", "must be an absolute path on the workers or start with ~/, got %q", f)
}

type pathAuthorityKey struct{}

// WithPathAuthority marks a submit by a caller who may name server paths
// in a job (an admin token, or a node without authentication) or not.
// A context without the mark is trusted code's: it may.
func WithPathAuthority(ctx context.Context, may bool) context.Context {
	return context.WithValue(ctx, pathAuthorityKey{}, may)
}

// CheckPaths refuses the server paths an SSH spec names on its own
// (privateKeyFile, passphraseFile, knownHostsFile, configFile) unless the
// caller may name paths or they lie under keyDir, and the agent unless
// the caller may: a job spec never chooses server files on its own
// authority. The files an accepted config file names (IdentityFile) are
// trusted as its author's: the server's operator put it in keyDir.
func CheckPaths(ctx context.Context, s *SSHSpec, keyDir string) error {
	if may, ok := ctx.Value(pathAuthorityKey{}).(bool); !ok || may {
		return nil
	}
	for _, f := range []struct{ field, path string }{
		{"ssh.auth.privateKeyFile", s.Auth.PrivateKeyFile}, {"ssh.auth.passphraseFile", s.Auth.PassphraseFile},
		{"ssh.knownHostsFile", s.KnownHostsFile}, {"ssh.configFile", s.ConfigFile},
	} {
		if f.path == "" {
			continue
		}
		if !under(f.path, keyDir) {
			return fieldErrorf(f.field, "%q is not under the server's key directory %s: name a credential (ssh.credential), or use an admin token", f.path, keyDir)
		}
	}
	if s.Auth.Agent {
		return fieldErrorf("ssh.auth.agent", "the workers' ssh-agent is used only by a credential that says so, or with an admin token")
	}
	return nil
}

// under reports whether path lies inside dir, lexically.
func under(path, dir string) bool {
	if dir == "" || !filepath.IsAbs(path) {
		return false
	}
	rel, err := filepath.Rel(filepath.Clean(dir), filepath.Clean(path))
	return err == nil && rel != "." && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// String names a credential's non-secret parts, for logs.
func (c *Credential) String() string {
	return fmt.Sprintf("user=%q key=%q agent=%v knownHosts=%q sshConfig=%q password=%v", c.User, c.PrivateKeyFile, c.Agent, c.KnownHostsFile, c.SSHConfigFile, c.Password != "")
}
