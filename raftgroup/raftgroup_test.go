package raftgroup

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/salvo-sh/salvo/internal/testutil"
)

// memFSM keeps the applied entries in order.
type memFSM struct {
	mu       sync.Mutex
	entries  []string
	restores int
}

func (f *memFSM) Apply(_ uint64, data []byte) any {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.entries = append(f.entries, string(data))
	return len(f.entries)
}

func (f *memFSM) Snapshot() (io.ReadCloser, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, err := json.Marshal(f.entries)
	return io.NopCloser(bytes.NewReader(b)), err
}

func (f *memFSM) Restore(r io.Reader) error {
	var es []string
	if err := json.NewDecoder(r).Decode(&es); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.entries, f.restores = es, f.restores+1
	return nil
}

func (f *memFSM) len() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.entries)
}

// member is one test member: its config (to start it again) and FSM.
type member struct {
	cfg Config
	fsm *memFSM
	g   *Group
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func (m *member) start(t *testing.T) {
	t.Helper()
	m.fsm = &memFSM{}
	g, err := Start(m.cfg, m.fsm)
	if err != nil {
		t.Fatal(err)
	}
	m.g = g
}

// startGroup starts n members on loopback and bootstraps them.
func startGroup(t *testing.T, n int, mod func(*Config)) []*member {
	t.Helper()
	ms := make([]*member, n)
	var peers []Peer
	for i := range ms {
		cfg := DefaultConfig()
		cfg.Name, cfg.BindAddr, cfg.Dir = fmt.Sprintf("m%d", i), freeAddr(t), t.TempDir()
		cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout = 300*time.Millisecond, 300*time.Millisecond, 200*time.Millisecond
		cfg.Logger = testutil.Logger(t)
		if mod != nil {
			mod(&cfg)
		}
		ms[i] = &member{cfg: cfg}
		ms[i].start(t)
		peers = append(peers, Peer{Name: cfg.Name, Addr: ms[i].g.Addr()})
	}
	for _, m := range ms {
		if err := m.g.Bootstrap(peers); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, m := range ms {
			if m.g != nil {
				_ = m.g.Shutdown()
			}
		}
	})
	return ms
}

// leader waits until one running member leads and returns it.
func leader(t *testing.T, ms []*member, within time.Duration) *member {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		for _, m := range ms {
			if m.g != nil && m.g.IsLeader() {
				return m
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no leader within %s", within)
		}
		time.Sleep(20 * time.Millisecond) // Raft's election has no outside signal
	}
}

// applied waits until every running member has applied n entries.
func applied(t *testing.T, ms []*member, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		done := true
		for _, m := range ms {
			done = done && (m.g == nil || m.fsm.len() >= n)
		}
		if done {
			return
		}
		if time.Now().After(deadline) {
			for _, m := range ms {
				if m.g != nil {
					t.Logf("%s applied %d", m.cfg.Name, m.fsm.len())
				}
			}
			t.Fatalf("not every member applied %d entries", n)
		}
		time.Sleep(20 * time.Millisecond) // replication has no outside signal
	}
}

func applyN(t *testing.T, m *member, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		if _, err := m.g.Apply(context.Background(), []byte(fmt.Sprint(i))); err != nil {
			t.Fatalf("apply %d: %v", i, err)
		}
	}
}

// Three members elect a leader; what the leader applies reaches every
// member in order; a follower refuses to apply and names the leader; when
// the leader dies the others elect one within seconds and go on; the dead
// one, started again, catches up.
func TestGroupReplicatesAndFailsOver(t *testing.T) {
	ms := startGroup(t, 3, nil)
	l := leader(t, ms, 10*time.Second)
	applyN(t, l, 0, 100)
	applied(t, ms, 100)
	for _, m := range ms {
		if m != l {
			_, err := m.g.Apply(context.Background(), []byte("x"))
			var nl *NotLeaderError
			if !errors.As(err, &nl) || !errors.Is(err, ErrNotLeader) || nl.Leader.Name != l.cfg.Name {
				t.Errorf("apply on follower %s: %v, want NotLeaderError naming %s", m.cfg.Name, err, l.cfg.Name)
			}
			break
		}
	}
	st, err := l.g.Status()
	if err != nil || st.State != "Leader" || len(st.Voters) != 3 || st.AppliedIndex == 0 || st.Term == 0 {
		t.Errorf("leader status %+v, %v", st, err)
	}

	start := time.Now()
	if err := l.g.Shutdown(); err != nil {
		t.Fatal(err)
	}
	l.g = nil
	l2 := leader(t, ms, 10*time.Second)
	t.Logf("new leader %s after %s", l2.cfg.Name, time.Since(start))
	applyN(t, l2, 100, 50)
	applied(t, ms, 150)
	for _, m := range ms {
		if m.g == nil {
			continue
		}
		m.fsm.mu.Lock()
		for i, e := range m.fsm.entries {
			if e != fmt.Sprint(i) {
				t.Fatalf("%s entry %d = %q", m.cfg.Name, i, e)
			}
		}
		m.fsm.mu.Unlock()
	}

	l.start(t) // the old leader, from its stored log
	applied(t, ms, 150)
}

// A member down while the log is compacted catches up from a snapshot.
func TestGroupCatchesUpFromSnapshot(t *testing.T) {
	ms := startGroup(t, 3, func(c *Config) { c.SnapshotThreshold, c.TrailingLogs = 20, 5 })
	l := leader(t, ms, 10*time.Second)
	applyN(t, l, 0, 10)
	applied(t, ms, 10)
	var down *member
	for _, m := range ms {
		if m != l {
			down = m
			break
		}
	}
	if err := down.g.Shutdown(); err != nil {
		t.Fatal(err)
	}
	down.g = nil
	applyN(t, l, 10, 200)
	if err := l.g.Snapshot(); err != nil {
		t.Fatal(err)
	}
	down.start(t)
	applied(t, ms, 210)
	if down.fsm.restores == 0 {
		t.Error("the member caught up without a snapshot: the log was not compacted")
	}
}

// Leadership moves to the member named.
func TestTransferLeadership(t *testing.T) {
	ms := startGroup(t, 3, nil)
	l := leader(t, ms, 10*time.Second)
	var to *member
	for _, m := range ms {
		if m != l {
			to = m
			break
		}
	}
	if err := l.g.TransferLeadership(Peer{Name: to.cfg.Name, Addr: to.g.Addr()}); err != nil {
		t.Fatal(err)
	}
	if got := leader(t, []*member{to}, 10*time.Second); got != to {
		t.Fatalf("leader %s", got.cfg.Name)
	}
}

// An Apply whose context is over fails at once (raft.Apply with no time
// left would wait without a bound).
func TestApplyWithExpiredContext(t *testing.T) {
	ms := startGroup(t, 1, nil)
	l := leader(t, ms, 10*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), time.Nanosecond)
	defer cancel()
	<-ctx.Done()
	if _, err := l.g.Apply(ctx, []byte("late")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("apply with an expired context: %v", err)
	}
}

// testCA makes a CA and issues certificates signed by it: for 127.0.0.1,
// or, given names, for those DNS names only.
func testCA(t *testing.T) (pool *x509.CertPool, issue func(dns ...string) tls.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(ca)
	serial := int64(1)
	return pool, func(dns ...string) tls.Certificate {
		serial++
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		leaf := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "member"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: dns,
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
		if len(dns) == 0 {
			leaf.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
		}
		d, err := x509.CreateCertificate(rand.Reader, leaf, ca, &k.PublicKey, key)
		if err != nil {
			t.Fatal(err)
		}
		return tls.Certificate{Certificate: [][]byte{d}, PrivateKey: k}
	}
}

// Members with mutual TLS replicate; a member whose certificate another
// CA signed is refused by the others and never learns an entry.
func TestMutualTLS(t *testing.T) {
	pool, issue := testCA(t)
	tlsFor := func(cert tls.Certificate, pool *x509.CertPool) (*tls.Config, *tls.Config) {
		server := &tls.Config{Certificates: []tls.Certificate{cert}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12}
		client := &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, MinVersion: tls.VersionTLS12}
		return server, client
	}
	ms := startGroup(t, 3, func(c *Config) { c.ServerTLS, c.ClientTLS = tlsFor(issue(), pool) })
	l := leader(t, ms, 10*time.Second)
	if _, err := l.g.Apply(context.Background(), []byte("over TLS")); err != nil {
		t.Fatal(err)
	}
	applied(t, ms, 1)

	// An intruder with a certificate of its own CA, added as a voter.
	otherPool, otherIssue := testCA(t)
	cfg := DefaultConfig()
	cfg.Name, cfg.BindAddr, cfg.Dir, cfg.Logger = "intruder", freeAddr(t), t.TempDir(), testutil.Logger(t)
	cfg.ServerTLS, cfg.ClientTLS = tlsFor(otherIssue(), otherPool)
	in := &member{cfg: cfg}
	in.start(t)
	t.Cleanup(func() { _ = in.g.Shutdown() })
	go func() { _ = l.g.AddVoter(Peer{Name: "intruder", Addr: in.g.Addr()}) }() // never committed with the intruder
	if _, err := l.g.Apply(context.Background(), []byte("secret")); err != nil {
		t.Fatal(err)
	}
	applied(t, ms, 2)
	if n := in.fsm.len(); n != 0 {
		t.Fatalf("the intruder applied %d entries", n)
	}
}

// With a ServerName in the client configuration (--tls-server-name),
// members whose certificates name only the cluster, not the loopback
// address they are dialed at, replicate; a dial without it, or with a
// name the certificate does not carry, fails the handshake.
func TestMutualTLSServerName(t *testing.T) {
	const name = "salvo.cluster"
	pool, issue := testCA(t)
	tlsFor := func(cert tls.Certificate, serverName string) (*tls.Config, *tls.Config) {
		server := &tls.Config{Certificates: []tls.Certificate{cert}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12}
		client := &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, MinVersion: tls.VersionTLS12, ServerName: serverName}
		return server, client
	}
	ms := startGroup(t, 3, func(c *Config) { c.ServerTLS, c.ClientTLS = tlsFor(issue(name), name) })
	l := leader(t, ms, 10*time.Second)
	if _, err := l.g.Apply(context.Background(), []byte("named")); err != nil {
		t.Fatal(err)
	}
	applied(t, ms, 1)

	for _, tc := range []struct {
		serverName string
		want       string
	}{
		{"", "doesn't contain any IP SANs"},
		{"other.cluster", "not other.cluster"},
	} {
		server, client := tlsFor(issue(name), tc.serverName)
		layer, err := listen("127.0.0.1:0", &net.TCPAddr{IP: net.ParseIP("127.0.0.1")}, server, client)
		if err != nil {
			t.Fatal(err)
		}
		conn, err := layer.Dial(raft.ServerAddress(l.g.Addr()), 5*time.Second)
		_ = layer.Close()
		var hostErr x509.HostnameError
		if err == nil {
			conn.Close()
			t.Errorf("ServerName %q: dialed a member whose certificate names only %s", tc.serverName, name)
		} else if !errors.As(err, &hostErr) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ServerName %q: %v, want an x509.HostnameError with %q", tc.serverName, err, tc.want)
		}
	}
}
