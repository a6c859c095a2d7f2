package cli

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"
)

// UserConfig is the CLI's own config file,
// $XDG_CONFIG_HOME/salvo/config.yaml (~/.config/salvo/config.yaml), so
// that a token is not typed per run.
type UserConfig struct {
	// Server is the server's base URL.
	Server string `yaml:"server"`
	// TokenFile holds the API token (its first line).
	TokenFile string `yaml:"tokenFile"`
	// CA is a PEM bundle the server's certificate must be signed by.
	CA string `yaml:"ca"`
	// Cert and Key are a client certificate for a server that asks for
	// one (mutual TLS).
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

// UserConfigPath is where the CLI's config file is read from.
func UserConfigPath() string {
	dir := os.Getenv("XDG_CONFIG_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return ""
		}
		dir = filepath.Join(home, ".config")
	}
	return filepath.Join(dir, "salvo", "config.yaml")
}

// LoadUserConfig reads the CLI's config file; a missing file is an empty
// config.
func LoadUserConfig() (UserConfig, error) {
	var uc UserConfig
	path := UserConfigPath()
	if path == "" {
		return uc, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return uc, nil
	}
	if err != nil {
		return uc, err
	}
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(&uc); err != nil {
		return uc, fmt.Errorf("%s: %w", path, err)
	}
	return uc, nil
}

// Access is how the CLI reaches the API: the server and the token, from
// flags, then the environment (SALVO_SERVER, SALVO_TOKEN), then the
// config file.
type Access struct {
	Server    string
	Token     string
	TokenFile string
	CA        string
	Cert, Key string
}

// Resolve fills what the flags left empty from the environment and the
// config file, and reads the token file.
func (a *Access) Resolve() error {
	uc, err := LoadUserConfig()
	if err != nil {
		return err
	}
	if a.Server == "" {
		a.Server = os.Getenv("SALVO_SERVER")
	}
	if a.Server == "" {
		a.Server = uc.Server
	}
	if a.Server == "" {
		a.Server = DefaultServer
	}
	if a.CA == "" {
		a.CA = uc.CA
	}
	if a.Cert == "" && a.Key == "" {
		a.Cert, a.Key = uc.Cert, uc.Key
	}
	if a.Token == "" && a.TokenFile == "" {
		a.Token = os.Getenv("SALVO_TOKEN")
	}
	if a.Token == "" && a.TokenFile == "" {
		a.TokenFile = uc.TokenFile
	}
	if a.Token == "" && a.TokenFile != "" {
		b, err := os.ReadFile(a.TokenFile)
		if err != nil {
			return fmt.Errorf("token file: %w", err)
		}
		line, _, _ := strings.Cut(string(b), "\n")
		a.Token = strings.TrimSpace(line)
	}
	return nil
}

// Config returns a client configuration with the token and the TLS
// settings of a.
func (a *Access) Config() (ClientConfig, error) {
	conf := DefaultClientConfig()
	conf.Token = a.Token
	if a.CA == "" && a.Cert == "" {
		return conf, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if a.CA != "" {
		pem, err := os.ReadFile(a.CA)
		if err != nil {
			return conf, fmt.Errorf("--ca: %w", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return conf, fmt.Errorf("--ca %s: no certificate found", a.CA)
		}
	}
	if a.Cert != "" || a.Key != "" {
		cert, err := tls.LoadX509KeyPair(a.Cert, a.Key)
		if err != nil {
			return conf, fmt.Errorf("--cert/--key: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	conf.TLS = tc
	return conf, nil
}
