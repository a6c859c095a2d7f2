package main

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func testConfig(t *testing.T) Config {
	cfg := DefaultConfig()
	cfg.Dir, cfg.Net, cfg.UID, cfg.GID, cfg.Out = filepath.Join(t.TempDir(), "certs"), "10.9.8", os.Getuid(), os.Getgid(), nil
	return cfg
}

func TestGenerateMakesVerifiableMaterial(t *testing.T) {
	cfg := testConfig(t)
	if err := Generate(cfg); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(cfg.Dir)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("dir %v %v, want mode 0700", fi, err)
	}
	ca, err := readCert(filepath.Join(cfg.Dir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	for _, n := range Nodes {
		pair, err := tls.LoadX509KeyPair(filepath.Join(cfg.Dir, n.Name+".pem"), filepath.Join(cfg.Dir, n.Name+".key"))
		if err != nil {
			t.Fatalf("%s: %v", n.Name, err)
		}
		cert, _ := x509.ParseCertificate(pair.Certificate[0])
		for _, host := range []string{n.Name, n.IP(cfg.Net).String(), ClusterName} {
			for _, use := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
				if _, err := cert.Verify(x509.VerifyOptions{DNSName: host, Roots: pool, KeyUsages: []x509.ExtKeyUsage{use}}); err != nil {
					t.Errorf("%s as %s for %v: %v", n.Name, host, use, err)
				}
			}
		}
		if _, err := cert.Verify(x509.VerifyOptions{DNSName: "10.9.8.99", Roots: pool}); err == nil {
			t.Errorf("%s verifies for an address it does not name", n.Name)
		}
	}
	for _, name := range []string{"gossip.key", "secret.key"} {
		raw, err := os.ReadFile(filepath.Join(cfg.Dir, name))
		if err != nil {
			t.Fatal(err)
		}
		key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(raw)))
		if err != nil || len(key) != 32 {
			t.Errorf("%s: %d bytes, %v; want 32 in base64", name, len(key), err)
		}
	}
}

func TestGenerateKeepsCompleteMaterial(t *testing.T) {
	cfg := testConfig(t)
	if err := Generate(cfg); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(filepath.Join(cfg.Dir, "secret.key"))
	if err := Generate(cfg); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.ReadFile(filepath.Join(cfg.Dir, "secret.key")); !bytes.Equal(before, after) {
		t.Fatal("a second run replaced complete material")
	}

	other := cfg
	other.Net = "10.9.7"
	if err := Generate(other); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("material for another network: %v, want an error naming --force", err)
	}
	other.Force = true
	if err := Generate(other); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.ReadFile(filepath.Join(cfg.Dir, "secret.key")); bytes.Equal(before, after) {
		t.Fatal("--force kept the old secret.key")
	}
	if err := Generate(Config{Dir: cfg.Dir, Net: "10.9"}); err == nil {
		t.Fatal("a bad --net was accepted")
	}
}

func TestGenerateReplacesDockersEmptyDirectories(t *testing.T) {
	cfg := testConfig(t)
	// docker makes a directory where a bind mount names a missing file.
	if err := os.MkdirAll(filepath.Join(cfg.Dir, "m1.pem"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := Generate(cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := readCert(filepath.Join(cfg.Dir, "m1.pem")); err != nil {
		t.Fatal(err)
	}
	partial := testConfig(t)
	if err := Generate(partial); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(partial.Dir, "w2.key"))
	if err := Generate(partial); err == nil || !strings.Contains(err.Error(), "part of the material") {
		t.Fatalf("partial material: %v, want an error", err)
	}
}

// Material kept from before the cluster name says so, and --force makes
// certificates that carry it.
func TestGenerateNotesMaterialWithoutTheClusterName(t *testing.T) {
	cfg := testConfig(t)
	var out bytes.Buffer
	cfg.Out = &out
	if err := Generate(cfg); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "--tls-server-name "+ClusterName) {
		t.Errorf("output does not tell the cluster name:\n%s", out.String())
	}
	out.Reset()
	if err := Generate(cfg); err != nil || strings.Contains(out.String(), "predate") {
		t.Fatalf("second run: %v\n%s", err, out.String())
	}

	// A certificate of the material from before: no cluster name.
	pair, err := tls.LoadX509KeyPair(filepath.Join(cfg.Dir, "w1.pem"), filepath.Join(cfg.Dir, "w1.key"))
	if err != nil {
		t.Fatal(err)
	}
	caPair, err := tls.LoadX509KeyPair(filepath.Join(cfg.Dir, "ca.pem"), filepath.Join(cfg.Dir, "ca.key"))
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caPair.Certificate[0])
	old, _ := x509.ParseCertificate(pair.Certificate[0])
	old.DNSNames = []string{"w1"}
	der, err := x509.CreateCertificate(rand.Reader, old, ca, old.PublicKey, caPair.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cfg.Dir, "w1.pem"), pemBlock("CERTIFICATE", der), 0o600); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := Generate(cfg); err != nil || !strings.Contains(out.String(), "predate the cluster name") {
		t.Fatalf("material without the cluster name: %v\n%s", err, out.String())
	}
	cfg.Force = true
	if err := Generate(cfg); err != nil {
		t.Fatal(err)
	}
	if !namesCluster(cfg.Dir) {
		t.Fatal("--force made certificates without the cluster name")
	}
}
