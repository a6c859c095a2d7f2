package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/salvo-sh/salvo/fleet"
	"github.com/salvo-sh/salvo/internal/testutil"
	"github.com/salvo-sh/salvo/job"
	"github.com/salvo-sh/salvo/store"
)

// writePEM writes a DER block as PEM.
func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// newCA returns a CA and a function that issues loopback certificates signed by it.
func newTestCA(t *testing.T, dir string) (caFile string, issue func(name string) (cert, key string)) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "salvo test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	caFile = filepath.Join(dir, "ca.pem")
	writePEM(t, caFile, "CERTIFICATE", caDER)
	serial := int64(2)
	issue = func(name string) (string, string) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		serial++
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
			KeyUsage:    x509.KeyUsageDigitalSignature,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kb, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		cert, keyFile := filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".key")
		writePEM(t, cert, "CERTIFICATE", der)
		writePEM(t, keyFile, "EC PRIVATE KEY", kb)
		return cert, keyFile
	}
	return caFile, issue
}

// TestClusterOverTLS: master and worker talk over proto.actor remote with
// mutual TLS; a worker without a certificate from the CA gets no work.
func TestClusterOverTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	const hosts = 2000
	f := testutil.StartFleet(t, func(c *fleet.Config) { c.Hosts = hosts })
	bin := testutil.BuildSalvo(t)
	dir := t.TempDir()
	ca, issue := newTestCA(t, dir)
	tlsArgs := func(name string) []string {
		cert, key := issue(name)
		return []string{"--tls-cert", cert, "--tls-key", key, "--tls-ca", ca}
	}
	master := testutil.StartServer(t, bin, append(append([]string{"--data-dir", t.TempDir()},
		gossipArgs("tls-master", "master", "")...), tlsArgs("tls-master")...)...)
	self, _ := member(members(t, master.URL()), "tls-master")
	testutil.StartServer(t, bin, append(gossipArgs("tls-worker", "worker", self.GossipAddr), tlsArgs("tls-worker")...)...)
	// A worker without TLS joins the gossip but cannot reach the master's
	// remote: it never registers, so it gets no work.
	testutil.StartServer(t, bin, gossipArgs("plain-worker", "worker", self.GossipAddr)...)
	waitWorkers(t, master.URL(), "tls-worker")

	id := submit(t, master.URL(), map[string]any{"targets": fleet.Targets(hosts, f.Addr().Port), "maxConcurrency": 50})
	st := waitFor(t, master.URL(), id, time.Minute, terminal)
	if st.State != store.JobGathered || st.Counts[job.StateOK] != hosts {
		t.Fatalf("job over TLS: %+v", st)
	}
	for _, r := range streamResults(t, master.URL(), id) {
		if r.Worker != "tls-worker" {
			t.Fatalf("result %d from %q", r.Index, r.Worker)
		}
	}
	if m, ok := member(members(t, master.URL()), "plain-worker"); ok && m.Capacity > 0 && m.Reserved > 0 {
		t.Errorf("the worker without TLS took work: %+v", m)
	}
}

// The API over TLS, with the CLI (--ca) and curl; with a client CA, a
// client without a certificate is refused and one with a certificate the
// CA signed is served.
func TestAPIOverTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	dir := t.TempDir()
	caFile, issue := newTestCA(t, dir)
	serverCert, serverKey := issue("api")
	clientCert, clientKey := issue("client")
	bin := testutil.BuildSalvo(t)
	srv := testutil.StartServer(t, bin, "--data-dir", t.TempDir(), "--api-tls-cert", serverCert, "--api-tls-key", serverKey)
	base := "https://" + srv.Addr
	curl := func(args ...string) (string, error) {
		out, err := exec.Command("curl", append([]string{"-sS", "--max-time", "20", "-o", "/dev/null", "-w", "%{http_code}"}, args...)...).CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	if out, err := curl("--cacert", caFile, base+"/api/v1/jobs"); err != nil || out != "200" {
		t.Errorf("curl over TLS: %s %v", out, err)
	}
	if _, err := curl(base + "/api/v1/jobs"); err == nil {
		t.Error("curl trusted the server without the CA")
	}
	if out, err := curl("http://" + srv.Addr + "/api/v1/jobs"); err == nil && out == "200" {
		t.Error("plain HTTP served on a TLS API")
	}
	hosts := 5
	f := testutil.StartFleet(t, func(c *fleet.Config) { c.Hosts = hosts })
	targets := filepath.Join(t.TempDir(), "targets")
	if err := os.WriteFile(targets, []byte(strings.Join(fleet.Targets(hosts, f.Addr().Port), "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	salvoCmd(t, bin, "run", "--server", base, "--ca", caFile, "--targets-file", targets, "--no-progress")

	mtls := testutil.StartServer(t, bin, "--data-dir", t.TempDir(), "--api-tls-cert", serverCert, "--api-tls-key", serverKey,
		"--api-tls-client-ca", caFile)
	mbase := "https://" + mtls.Addr
	if out, err := curl("--cacert", caFile, mbase+"/api/v1/jobs"); err == nil && out == "200" {
		t.Error("mutual TLS served a client without a certificate")
	}
	if out, err := curl("--cacert", caFile, "--cert", clientCert, "--key", clientKey, mbase+"/api/v1/jobs"); err != nil || out != "200" {
		t.Errorf("mutual TLS with a client certificate: %s %v", out, err)
	}
	salvoCmd(t, bin, "run", "--server", mbase, "--ca", caFile, "--cert", clientCert, "--key", clientKey, "--targets-file", targets, "--no-progress")
}

// A cluster whose APIs are served over mutual TLS: the worker-only node
// forwards to the master's API over TLS with the cluster's certificate.
func TestClusterAPIOverTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	dir := t.TempDir()
	ca, issue := newTestCA(t, dir)
	nodeArgs := func(name string) []string {
		cert, key := issue(name)
		return []string{"--tls-cert", cert, "--tls-key", key, "--tls-ca", ca,
			"--api-tls-cert", cert, "--api-tls-key", key, "--api-tls-client-ca", ca}
	}
	clientCert, clientKey := issue("operator")
	curl := func(url string) (int, string) {
		out, err := exec.Command("curl", "-sS", "--max-time", "20", "--cacert", ca, "--cert", clientCert, "--key", clientKey,
			"-w", "\n%{http_code}", url).Output()
		if err != nil {
			t.Fatalf("curl %s: %v", url, err)
		}
		i := strings.LastIndex(string(out), "\n") // the status follows the body's last line
		n, _ := strconv.Atoi(strings.TrimSpace(string(out[i+1:])))
		return n, string(out[:max(i, 0)])
	}
	bin := testutil.BuildSalvo(t)
	master := testutil.StartServer(t, bin, append(append([]string{"--data-dir", t.TempDir()},
		gossipArgs("mtls-master", "master", "")...), nodeArgs("mtls-master")...)...)
	var gossip string
	if code, body := curl("https://" + master.Addr + "/api/v1/cluster/members"); code == http.StatusOK {
		var pg struct {
			Items []struct{ Name, GossipAddr string }
		}
		_ = json.Unmarshal([]byte(body), &pg)
		for _, m := range pg.Items {
			if m.Name == "mtls-master" {
				gossip = m.GossipAddr
			}
		}
	}
	if gossip == "" {
		t.Fatal("no gossip address from the master's API over TLS")
	}
	worker := testutil.StartServer(t, bin, append(gossipArgs("mtls-worker", "worker", gossip), nodeArgs("mtls-worker")...)...)
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, body := curl("https://" + worker.Addr + "/api/v1/cluster/members")
		if code == http.StatusOK && strings.Contains(body, `"mtls-worker"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("members through the worker over TLS: %d %s", code, body)
		}
		time.Sleep(50 * time.Millisecond) // the worker learns its master by gossip
	}
}
