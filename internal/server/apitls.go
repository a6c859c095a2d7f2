package server

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/salvo-sh/salvo/conf"
)

// apiTLS is the API's server TLS configuration (--api-tls-cert,
// --api-tls-key, --api-tls-client-ca), nil without TLS.
func apiTLS(cfg *conf.Config) (*tls.Config, error) {
	if cfg.APITLSCert == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(cfg.APITLSCert, cfg.APITLSKey)
	if err != nil {
		return nil, fmt.Errorf("load --api-tls-cert/--api-tls-key: %w", err)
	}
	tc := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if cfg.APITLSClientCA != "" {
		pool, err := loadPool(cfg.APITLSClientCA)
		if err != nil {
			return nil, fmt.Errorf("--api-tls-client-ca: %w", err)
		}
		tc.ClientCAs, tc.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return tc, nil
}

// loadPool reads a PEM bundle of CA certificates.
func loadPool(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no certificate found", path)
	}
	return pool, nil
}

// apiClientTLS is the TLS of the node's own calls to other nodes' APIs:
// it trusts the cluster's CA (--tls-ca; the system's roots without one)
// and shows the node's cluster certificate (--tls-cert) to an API that
// asks for one.
func apiClientTLS(cfg *conf.Config) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.TLSCA != "" {
		pool, err := loadPool(cfg.TLSCA)
		if err != nil {
			return nil, fmt.Errorf("--tls-ca: %w", err)
		}
		tc.RootCAs = pool
	}
	if cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("load --tls-cert/--tls-key: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// apiURL is the base URL of a node's API at addr ("host:port"): the
// cluster's nodes serve their APIs alike, so with this node's scheme.
func (s *Server) apiURL(addr string) string { return s.cfg.APIScheme() + "://" + addr }

// client returns an HTTP client for the node's calls to other nodes,
// bounded by timeout.
func (s *Server) client(timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: s.transport}
}
