package commands

import (
	"crypto/x509"
	"errors"
	"io/fs"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/salvo-sh/salvo/job"
)

// AuthError is the error of a target whose credentials could not be used
// or were refused (errorClass auth). Its message never holds a secret.
type AuthError struct {
	Msg string
	Err error
}

func (e *AuthError) Error() string {
	if e.Err == nil {
		return e.Msg
	}
	return e.Msg + ": " + e.Err.Error()
}

// Unwrap returns the underlying error.
func (e *AuthError) Unwrap() error { return e.Err }

// agentDialTimeout bounds the connection to the local ssh-agent.
const agentDialTimeout = 2 * time.Second

// sshAuth builds a job's SSH authentication methods. The private key file
// and the IdentityFile keys of ssh.configFile are read and parsed on first
// use (at run time, on the worker), once per job; secrets stay in memory
// only.
type sshAuth struct {
	keyFile        string
	passphrase     string
	passphraseFile string
	password       string
	agent          bool // use the agent: only when the job or its credential asks
	x              *SSHExecutor

	keyOnce   sync.Once
	keySigner ssh.Signer
	keyErr    error

	idMu sync.Mutex
	ids  map[string]*identity // IdentityFile keys by path
}

// identity is an IdentityFile key, loaded once.
type identity struct {
	once   sync.Once
	signer ssh.Signer
	err    error
}

// maxIdentities bounds the IdentityFile keys a job keeps loaded; past it
// (paths with %h, one per target) keys are read for each connection.
const maxIdentities = 1024

func newSSHAuth(a job.SSHAuth, x *SSHExecutor) *sshAuth {
	return &sshAuth{
		keyFile:        expandHome(a.PrivateKeyFile),
		passphrase:     a.Passphrase,
		passphraseFile: a.PassphraseFile,
		password:       a.Password,
		agent:          a.Agent,
		x:              x,
	}
}

// signer returns the parsed private key.
func (a *sshAuth) signer() (ssh.Signer, error) {
	a.keyOnce.Do(func() {
		pass := a.passphrase
		if pass == "" && a.passphraseFile != "" {
			b, err := os.ReadFile(a.passphraseFile)
			if err != nil {
				a.keyErr = &AuthError{Msg: "read the passphrase file", Err: err}
				return
			}
			line, _, _ := strings.Cut(string(b), "\n")
			pass = strings.TrimSuffix(line, "\r")
		}
		a.keySigner, a.keyErr = loadKey(a.keyFile, pass, "ssh.auth.passphrase is empty")
	})
	return a.keySigner, a.keyErr
}

// identity returns the parsed IdentityFile key at path. salvo cannot ask
// for a passphrase: a protected one fails.
func (a *sshAuth) identity(path string) (ssh.Signer, error) {
	const hint = "salvo cannot ask for an IdentityFile's passphrase (name the key in ssh.auth.privateKeyFile with a passphrase, or load it into the agent)"
	a.idMu.Lock()
	id := a.ids[path]
	if id == nil {
		if len(a.ids) >= maxIdentities {
			a.idMu.Unlock()
			return loadKey(path, "", hint)
		}
		if a.ids == nil {
			a.ids = map[string]*identity{}
		}
		id = &identity{}
		a.ids[path] = id
	}
	a.idMu.Unlock()
	id.once.Do(func() { id.signer, id.err = loadKey(path, "", hint) })
	return id.signer, id.err
}

// loadKey reads and parses a private key file, decrypting it with
// passphrase when it is protected; noPassphrase says why a protected key
// had none.
func loadKey(path, passphrase, noPassphrase string) (ssh.Signer, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, &AuthError{Msg: "read private key", Err: err}
	}
	s, err := ssh.ParsePrivateKey(pem)
	var missing *ssh.PassphraseMissingError
	switch {
	case err == nil:
		return s, nil
	case errors.As(err, &missing) && passphrase == "":
		return nil, &AuthError{Msg: "private key " + path + " is passphrase-protected and " + noPassphrase}
	case errors.As(err, &missing):
		s, err = ssh.ParsePrivateKeyWithPassphrase(pem, []byte(passphrase))
		if errors.Is(err, x509.IncorrectPasswordError) {
			return nil, &AuthError{Msg: "private key " + path + ": wrong passphrase"}
		}
		if err != nil {
			return nil, &AuthError{Msg: "private key " + path, Err: err}
		}
		return s, nil
	}
	return nil, &AuthError{Msg: "private key " + path, Err: err}
}

// methods returns the authentication methods to try, in order: public
// keys (the agent's, the key file, then the IdentityFile keys of the
// host's config, of which missing files are skipped as OpenSSH does),
// password, keyboard-interactive. close releases the agent connection;
// call it once the handshake is over.
func (a *sshAuth) methods(identities []string) (methods []ssh.AuthMethod, closeFn func(), err error) {
	closeFn = func() {}
	if !a.agent && a.keyFile == "" && a.password == "" && len(identities) == 0 {
		return nil, closeFn, &AuthError{Msg: "no credentials: give ssh.credential, or ssh.auth.privateKeyFile, ssh.auth.password or ssh.auth.agent, or IdentityFile in ssh.configFile"}
	}
	var signers []ssh.Signer
	if a.agent {
		sock := a.x.agentSocket()
		switch {
		case sock != "":
			conn, err := net.DialTimeout("unix", sock, agentDialTimeout)
			if err != nil {
				return nil, closeFn, &AuthError{Msg: "ssh-agent", Err: err}
			}
			closeFn = func() { conn.Close() }
			ag := agent.NewClient(conn)
			ss, err := ag.Signers()
			if err != nil {
				closeFn()
				return nil, func() {}, &AuthError{Msg: "ssh-agent: list keys", Err: err}
			}
			signers = append(signers, ss...)
		default:
			return nil, closeFn, &AuthError{Msg: "ssh.auth.agent is set but the worker has no SSH_AUTH_SOCK"}
		}
	}
	if a.keyFile != "" {
		s, err := a.signer()
		if err != nil {
			closeFn()
			return nil, func() {}, err
		}
		signers = append(signers, s)
	}
	var missing []string
	for _, f := range identities {
		if f == a.keyFile {
			continue
		}
		s, err := a.identity(f)
		switch {
		case err == nil:
			signers = append(signers, s)
		case errors.Is(err, fs.ErrNotExist):
			missing = append(missing, f)
		default:
			closeFn()
			return nil, func() {}, err
		}
	}
	if len(signers) > 0 {
		// One publickey method: x/crypto tries each method name once.
		methods = append(methods, ssh.PublicKeys(signers...))
	}
	if pw := a.password; pw != "" {
		methods = append(methods,
			ssh.Password(pw),
			ssh.KeyboardInteractive(func(_, _ string, questions []string, _ []bool) ([]string, error) {
				answers := make([]string, len(questions))
				for i := range answers {
					answers[i] = pw
				}
				return answers, nil
			}))
	}
	if len(methods) == 0 && len(missing) > 0 {
		closeFn()
		return nil, func() {}, &AuthError{Msg: "no credentials: the IdentityFile keys of ssh.configFile do not exist: " + strings.Join(missing, ", ")}
	}
	return methods, closeFn, nil
}
