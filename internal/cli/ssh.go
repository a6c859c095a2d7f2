package cli

import (
	"strconv"
	"strings"

	"github.com/salvo-sh/salvo/job"
)

// SSHOptions are the SSH flags of `salvo run`. Zero values mean "not set".
// Secrets (Password, Passphrase) come from files or the environment, never
// from flag values, which other users can read in the process list.
type SSHOptions struct {
	// On asks for an SSH job (--ssh); a Command alone implies it.
	On bool
	// Command is the command template run on every target (salvo's
	// ${SALVO_HOST} and vars; other $NAMEs are the remote shell's).
	Command string
	// User is the login when a target has no user@.
	User string
	// Identity is the private key file, read by the worker at run time.
	Identity string
	// Passphrase decrypts Identity.
	Passphrase string
	// Password authenticates (password, keyboard-interactive) and feeds sudo.
	Password string
	// Agent uses the worker's ssh-agent (SSH_AUTH_SOCK).
	Agent bool
	// Credential names a credential kept by the server (ssh.credential).
	Credential string
	// KnownHosts is the known_hosts file of the strict and accept-new policies.
	KnownHosts string
	// HostKeyPolicy is strict, accept-new or off.
	HostKeyPolicy string
	// Sudo runs the command under sudo.
	Sudo bool
	// ProxyJump is a bastion, [user@]host[:port].
	ProxyJump string
	// ConfigFile is an OpenSSH client config on the workers
	// (ssh.configFile; docs/ssh.md, "OpenSSH client config").
	ConfigFile string
}

// Enabled reports whether the options ask for an SSH job.
func (o SSHOptions) Enabled() bool { return o.On || o.Command != "" }

// set reports whether any SSH setting was given.
func (o SSHOptions) set() bool {
	return o.Enabled() || o.User != "" || o.Identity != "" || o.Passphrase != "" || o.Password != "" ||
		o.Agent || o.Credential != "" || o.KnownHosts != "" || o.HostKeyPolicy != "" || o.Sudo || o.ProxyJump != "" || o.ConfigFile != ""
}

// applySSHFlags writes the SSH flags that are set into spec.
func applySSHFlags(spec *job.Spec, o RunOptions) error {
	so := o.SSH
	if !so.set() {
		return nil
	}
	if spec.Protocol == "" && so.Enabled() {
		spec.Protocol = job.ProtocolSSH
	}
	if spec.Protocol != job.ProtocolSSH {
		return usagef("--ssh, --command, --user, --identity, --agent, --known-hosts, --host-key-policy, --sudo, --proxy-jump, --ssh-config and SSH secrets apply to SSH jobs, not %s", protocolName(spec.Protocol))
	}
	if spec.SSH == nil {
		spec.SSH = &job.SSHSpec{}
	}
	s := spec.SSH
	if so.Command != "" {
		s.Command = so.Command
	}
	if strings.TrimSpace(s.Command) == "" {
		return usagef("an SSH job needs --command")
	}
	if o.Port != "" {
		p, err := strconv.Atoi(o.Port)
		if err != nil || p < 1 || p > 65535 {
			return usagef("--port %q: want a port number for SSH jobs", o.Port)
		}
		s.Port = p
	}
	if so.User != "" {
		s.User = so.User
	}
	if so.Identity != "" {
		s.Auth.PrivateKeyFile = so.Identity
	}
	if so.Passphrase != "" {
		s.Auth.Passphrase = so.Passphrase
	}
	if so.Password != "" {
		s.Auth.Password = so.Password
	}
	if so.Credential != "" {
		s.Credential = so.Credential
	}
	if so.Agent {
		s.Auth.Agent = true
	}
	if so.KnownHosts != "" {
		s.KnownHostsFile = so.KnownHosts
	}
	if so.HostKeyPolicy != "" {
		s.HostKeyPolicy = so.HostKeyPolicy
	}
	if so.Sudo {
		s.Sudo = true
	}
	if so.ProxyJump != "" {
		s.ProxyJump = so.ProxyJump
	}
	if so.ConfigFile != "" {
		s.ConfigFile = so.ConfigFile
	}
	return nil
}

func protocolName(p string) string {
	if p == "" {
		return job.ProtocolHTTP
	}
	return p
}
