package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/salvo-sh/salvo/conf"
)

// writeNamedCert writes a CA and a node certificate naming only dns (no IP
// address) into dir, and returns the CA's file, the certificate's and its key's.
func writeNamedCert(t *testing.T, dir string, dns ...string) (ca, cert, key string) {
	t.Helper()
	write := func(name, typ string, der []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	nodeKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "node"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: dns,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &nodeKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(nodeKey)
	if err != nil {
		t.Fatal(err)
	}
	return write("ca.pem", "CERTIFICATE", caDER), write("node.pem", "CERTIFICATE", der), write("node.key", "EC PRIVATE KEY", kb)
}

// handshake runs one TLS handshake over loopback between a server with
// server and a client with client, and returns each side's error (the
// client's is its check of the server's certificate).
func handshake(t *testing.T, server, client *tls.Config) (serverErr, clientErr error) {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", server)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		done <- c.(*tls.Conn).Handshake()
	}()
	d := &net.Dialer{Timeout: 10 * time.Second}
	c, clientErr := tls.DialWithDialer(d, "tcp", ln.Addr().String(), client)
	if clientErr == nil {
		// Under TLS 1.3 a refused client certificate shows on the server's side.
		defer c.Close()
	}
	select {
	case serverErr = <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("the server's handshake did not end")
	}
	return serverErr, clientErr
}

// remoteTLS with --tls-server-name: the client side checks the name, not
// the loopback address it dials, so certificates naming only the cluster
// pass; the server side still requires a client certificate the CA signs.
func TestRemoteTLSServerName(t *testing.T) {
	const name = "salvo.cluster"
	ca, cert, key := writeNamedCert(t, t.TempDir(), name)
	cfg := &conf.Config{TLSCert: cert, TLSKey: key, TLSCA: ca, TLSServerName: name}
	server, client, err := remoteTLS(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if client.ServerName != name || server.ServerName != "" || server.ClientAuth != tls.RequireAndVerifyClientCert {
		t.Fatalf("client ServerName %q, server ServerName %q, ClientAuth %v", client.ServerName, server.ServerName, server.ClientAuth)
	}
	if serr, cerr := handshake(t, server, client); serr != nil || cerr != nil {
		t.Fatalf("handshake with the server name: server %v, client %v", serr, cerr)
	}

	// Without the name the client checks 127.0.0.1, which the certificate does not name.
	_, plain, err := remoteTLS(&conf.Config{TLSCert: cert, TLSKey: key, TLSCA: ca})
	if err != nil {
		t.Fatal(err)
	}
	var hostErr x509.HostnameError
	if _, cerr := handshake(t, server, plain); !errors.As(cerr, &hostErr) {
		t.Errorf("handshake without the server name: %v, want an x509.HostnameError", cerr)
	}

	// Still mutual: a client with the name but no certificate is refused.
	anon := client.Clone()
	anon.Certificates = nil
	if serr, _ := handshake(t, server, anon); serr == nil || !strings.Contains(serr.Error(), "certificate") {
		t.Errorf("a client without a certificate: server %v, want a refusal", serr)
	}
}
