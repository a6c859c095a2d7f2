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

// newTestCA returns a CA and a function that issues loopback certificates
// (127.0.0.1 and localhost) signed by it.
func newTestCA(t *testing.T, dir string) (caFile string, issue func(name string) (cert, key string)) {
	t.Helper()
	caFile, issueSANs := newTestCASANs(t, dir)
	return caFile, func(name string) (string, string) {
		return issueSANs(name, []string{"localhost"}, []net.IP{net.ParseIP("127.0.0.1")})
	}
}

// newTestCASANs returns a CA and a function that issues certificates
// naming exactly the DNS names and IP addresses given, signed by it.
func newTestCASANs(t *testing.T, dir string) (caFile string, issue func(name string, dns []string, ips []net.IP) (cert, key string)) {
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
	issue = func(name string, dns []string, ips []net.IP) (string, string) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		serial++
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			IPAddresses: ips, DNSNames: dns,
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

// TestClusterTLSServerName: with --tls-server-name, certificates that
// name only the cluster (no IP address, no localhost) carry mutual TLS
// between a master and a worker that dial each other at 127.0.0.1, and a
// job runs on the worker; without the flag the same certificates fail the
// handshake both ways, and no target runs.
func TestClusterTLSServerName(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	const (
		clusterName = "salvo.cluster"
		hosts       = 200
		// Go's x509.HostnameError for a certificate without IP SANs
		// dialed at 127.0.0.1.
		refused = "x509: cannot validate certificate for 127.0.0.1"
	)
	f := testutil.StartFleet(t, func(c *fleet.Config) { c.Hosts = hosts })
	bin := testutil.BuildSalvo(t)
	ca, issue := newTestCASANs(t, t.TempDir())
	cluster := func(t *testing.T, prefix string, serverName bool) (master, worker *testutil.Process) {
		t.Helper()
		tlsArgs := func(name string) []string {
			cert, key := issue(name, []string{clusterName}, nil)
			args := []string{"--tls-cert", cert, "--tls-key", key, "--tls-ca", ca}
			if serverName {
				args = append(args, "--tls-server-name", clusterName)
			}
			return args
		}
		master = testutil.StartServer(t, bin, append(append([]string{"--data-dir", t.TempDir()},
			gossipArgs(prefix+"-master", "master", "")...), tlsArgs(prefix+"-master")...)...)
		self, _ := member(members(t, master.URL()), prefix+"-master")
		worker = testutil.StartServer(t, bin, append(gossipArgs(prefix+"-worker", "worker", self.GossipAddr), tlsArgs(prefix+"-worker")...)...)
		return master, worker
	}
	spec := map[string]any{"targets": fleet.Targets(hosts, f.Addr().Port), "maxConcurrency": 50}

	t.Run("with the name", func(t *testing.T) {
		master, worker := cluster(t, "named", true)
		waitWorkers(t, master.URL(), "named-worker")
		id := submit(t, master.URL(), spec)
		st := waitFor(t, master.URL(), id, 30*time.Second, terminal)
		if st.State != store.JobGathered || st.Counts[job.StateOK] != hosts {
			t.Fatalf("job over TLS with a server name: %+v", st)
		}
		for _, r := range streamResults(t, master.URL(), id) {
			if r.Worker != "named-worker" {
				t.Fatalf("result %d from %q", r.Index, r.Worker)
			}
		}
		for who, p := range map[string]*testutil.Process{"master": master, "worker": worker} {
			if strings.Contains(p.Log(), "handshake failed") {
				t.Errorf("%s: a handshake failed with --tls-server-name", who)
			}
		}
	})

	t.Run("without the name", func(t *testing.T) {
		master, worker := cluster(t, "dialed", false)
		// The worker dials the master's remote to register, the master the
		// worker's once the gossip shows it: each checks 127.0.0.1 against
		// a certificate that names only the cluster, and refuses it.
		waitLog(t, worker, 30*time.Second, "EndpointWriter", "handshake failed", refused)
		id := submit(t, master.URL(), spec)
		waitLog(t, master, 30*time.Second, "EndpointWriter", "handshake failed", refused)
		if st := status(t, master.URL(), id); st.Terminal() || st.Counts[job.StateOK] != 0 {
			t.Fatalf("a job ran on a worker the master cannot reach: %+v", st)
		}
	})
}

// TestHATLSServerName: three masters on loopback addresses that their
// certificate does not name form a Raft group over mutual TLS with
// --tls-server-name (the Raft transport dials with the cluster name), a
// worker runs a job for the leader, and every master's store gets its
// results through the log.
func TestHATLSServerName(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	const clusterName, hosts = "salvo.cluster", 100
	f := testutil.StartFleet(t, func(c *fleet.Config) { c.Hosts = hosts })
	bin := testutil.BuildSalvo(t)
	ca, issue := newTestCASANs(t, t.TempDir())
	tlsArgs := func(name string) []string {
		cert, key := issue(name, []string{clusterName}, nil)
		return []string{"--tls-cert", cert, "--tls-key", key, "--tls-ca", ca, "--tls-server-name", clusterName}
	}
	c := startHA(t, bin, 3, 0, tlsArgs("masters")...)
	leader := c.leader(t, 30*time.Second)
	testutil.StartServer(t, bin, append(gossipArgs("w1", "worker", c.join), tlsArgs("w1")...)...)
	waitWorkers(t, leader.url(), "w1")
	id := submit(t, leader.url(), map[string]any{"targets": fleet.Targets(hosts, f.Addr().Port), "maxConcurrency": 50})
	if st := waitFor(t, leader.url(), id, 30*time.Second, terminal); st.State != store.JobGathered || st.Counts[job.StateOK] != hosts {
		t.Fatalf("job on a Raft group with a server name: %+v", st)
	}
	checkStores(t, c.masters, id, hosts)
	for _, m := range c.masters {
		if strings.Contains(m.p.Log(), "x509:") {
			t.Errorf("%s: a certificate was refused with --tls-server-name", m.name)
		}
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
