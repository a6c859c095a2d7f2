// Command gencerts makes the cluster material of the compose files in
// deploy/compose (docs/operations.md, "Containers"): a CA, a certificate and
// key per node (m1..m3, w1..w3) naming the node's service name, its fixed
// address on the compose network and the cluster name salvo.cluster (for
// --tls-server-name, docs/security.md), the gossip key and the masters'
// shared secret.key (docs/ha.md). `make certs` runs it; the output is never
// committed (.gitignore).
//
//	go run ./scripts/gencerts [--dir deploy/certs] [--net 172.30.18] [--uid 10001] [--force]
//
// Material already complete for the same --net is kept (a new CA or
// secret.key would strand running nodes and stored credentials): --force
// makes it all again. The directory is 0700; its files are 0600 and, when
// run as root, owned by --uid, the image's user, so that the containers can
// read them through their bind mounts. Run as another user, the files are
// 0644 (still inside the 0700 directory): the containers' user cannot be
// made their owner.
//
// It uses the standard library only.
package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Node is one node of the compose files: its service name and the last
// byte of its address on the compose network.
type Node struct {
	Name string
	Host byte
}

// ClusterName is the DNS name every node certificate carries besides its
// own: the value of --tls-server-name that lets a node check the others'
// certificates against one name instead of the address it dials.
const ClusterName = "salvo.cluster"

// Nodes are the nodes of deploy/compose/cluster.yml and ha.yml; their
// addresses there are NET.Host.
var Nodes = []Node{{"m1", 11}, {"m2", 12}, {"m3", 13}, {"w1", 21}, {"w2", 22}, {"w3", 23}}

// Config says what to generate where.
type Config struct {
	// Dir receives the files.
	Dir string
	// Net is the first three bytes of the compose network's /24
	// (SALVO_NET in the compose files), e.g. "172.30.18".
	Net string
	// UID and GID own the files when the program runs as root; -1 leaves
	// the owner alone.
	UID, GID int
	// Force makes everything again over complete material.
	Force bool
	// Out receives what was done.
	Out io.Writer
}

// DefaultConfig returns the configuration of `make certs`.
func DefaultConfig() Config {
	return Config{Dir: "deploy/certs", Net: "172.30.18", UID: 10001, GID: 10001, Out: os.Stdout}
}

// Files lists the names Generate writes, CA key included.
func Files() []string {
	out := []string{"ca.pem", "ca.key", "gossip.key", "secret.key"}
	for _, n := range Nodes {
		out = append(out, n.Name+".pem", n.Name+".key")
	}
	return out
}

// IP returns a node's address on the network net ("172.30.18").
func (n Node) IP(netPrefix string) net.IP {
	return net.ParseIP(netPrefix + "." + strconv.Itoa(int(n.Host)))
}

func main() {
	cfg := DefaultConfig()
	flag.StringVar(&cfg.Dir, "dir", cfg.Dir, "directory to write into")
	flag.StringVar(&cfg.Net, "net", cfg.Net, "first three bytes of the compose network's /24 (SALVO_NET)")
	flag.IntVar(&cfg.UID, "uid", cfg.UID, "owner of the files when run as root (the image's user); -1: leave it")
	flag.BoolVar(&cfg.Force, "force", false, "make new material over complete material")
	flag.Parse()
	cfg.GID = cfg.UID
	if err := Generate(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "gencerts:", err)
		os.Exit(1)
	}
}

// Generate writes the CA, the node certificates, the gossip key and the
// secret key into cfg.Dir, unless they are there already for cfg.Net.
func Generate(cfg Config) error {
	if err := checkNet(cfg.Net); err != nil {
		return err
	}
	if cfg.Out == nil {
		cfg.Out = io.Discard
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return fmt.Errorf("make %s: %w", cfg.Dir, err)
	}
	if err := os.Chmod(cfg.Dir, 0o700); err != nil {
		return fmt.Errorf("chmod %s: %w", cfg.Dir, err)
	}
	if !cfg.Force {
		done, err := complete(cfg)
		if err != nil || done {
			if done {
				fmt.Fprintf(cfg.Out, "%s: complete for network %s.0/24, kept (--force makes new material)\n", cfg.Dir, cfg.Net)
				if !namesCluster(cfg.Dir) {
					fmt.Fprintf(cfg.Out, "%s: its certificates predate the cluster name %s: --force makes ones that name it (for --tls-server-name)\n",
						cfg.Dir, ClusterName)
				}
			}
			return err
		}
	}
	files, err := material(cfg.Net)
	if err != nil {
		return err
	}
	asRoot := os.Geteuid() == 0 && cfg.UID >= 0
	mode := fs.FileMode(0o600)
	if !asRoot {
		mode = 0o644
	}
	for _, name := range Files() {
		if err := writeFile(filepath.Join(cfg.Dir, name), files[name], mode, asRoot, cfg.UID, cfg.GID); err != nil {
			return err
		}
	}
	fmt.Fprintf(cfg.Out, "%s: a CA, certificates for %s on %s.0/24, gossip.key and secret.key written\n",
		cfg.Dir, nodeNames(), cfg.Net)
	fmt.Fprintf(cfg.Out, "%s: every node certificate also names %s: --tls-server-name %s checks that name instead of the address dialed\n",
		cfg.Dir, ClusterName, ClusterName)
	if !asRoot {
		fmt.Fprintf(cfg.Out, "%s: the files are 0644 so that the containers' user (uid %d) can read them; the directory is 0700\n", cfg.Dir, cfg.UID)
	}
	return nil
}

// checkNet accepts three decimal bytes, "172.30.18".
func checkNet(s string) error {
	parts := strings.Split(s, ".")
	if len(parts) != 3 || net.ParseIP(s+".1").To4() == nil {
		return fmt.Errorf("--net %q: want the first three bytes of a /24, e.g. 172.30.18", s)
	}
	return nil
}

func nodeNames() string {
	var names []string
	for _, n := range Nodes {
		names = append(names, n.Name)
	}
	return strings.Join(names, ", ")
}

// complete reports whether every file is there and the node certificates
// name the addresses of netPrefix; present material for another network is
// an error (it would be replaced without --force otherwise).
func complete(cfg Config) (bool, error) {
	missing := 0
	for _, name := range Files() {
		fi, err := os.Stat(filepath.Join(cfg.Dir, name))
		if err != nil || !fi.Mode().IsRegular() {
			missing++
		}
	}
	if missing == len(Files()) {
		return false, nil
	}
	if missing > 0 {
		return false, fmt.Errorf("%s holds part of the material only: give --force to make it all again", cfg.Dir)
	}
	for _, n := range Nodes {
		cert, err := readCert(filepath.Join(cfg.Dir, n.Name+".pem"))
		if err != nil {
			return false, err
		}
		if !slices.ContainsFunc(cert.IPAddresses, func(ip net.IP) bool { return ip.Equal(n.IP(cfg.Net)) }) {
			return false, fmt.Errorf("%s/%s.pem names %v, not %s (another --net): give --force to make new material",
				cfg.Dir, n.Name, cert.IPAddresses, n.IP(cfg.Net))
		}
	}
	return true, nil
}

// namesCluster reports whether every node certificate in dir names
// ClusterName (material made before it was added does not).
func namesCluster(dir string) bool {
	for _, n := range Nodes {
		cert, err := readCert(filepath.Join(dir, n.Name+".pem"))
		if err != nil || !slices.Contains(cert.DNSNames, ClusterName) {
			return false
		}
	}
	return true
}

func readCert(path string) (*x509.Certificate, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(raw)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("%s: no PEM certificate", path)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cert, nil
}

// material makes the content of every file of Files.
func material(netPrefix string) (map[string][]byte, error) {
	out := map[string][]byte{}
	caKey, caPEM, caKeyPEM, err := newKey()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	ca := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "salvo compose CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, ca, ca, caPEM, caKey)
	if err != nil {
		return nil, fmt.Errorf("make the CA: %w", err)
	}
	if ca, err = x509.ParseCertificate(der); err != nil {
		return nil, err
	}
	out["ca.pem"], out["ca.key"] = pemBlock("CERTIFICATE", der), caKeyPEM
	for _, n := range Nodes {
		_, pub, keyPEM, err := newKey()
		if err != nil {
			return nil, err
		}
		tmpl := &x509.Certificate{
			SerialNumber: serial(),
			Subject:      pkix.Name{CommonName: n.Name},
			NotBefore:    now.Add(-time.Hour),
			NotAfter:     now.AddDate(2, 0, 0),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			// Mutual TLS: every node is both a server and a client.
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
			DNSNames:    []string{n.Name, ClusterName},
			IPAddresses: []net.IP{n.IP(netPrefix)},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, pub, caKey)
		if err != nil {
			return nil, fmt.Errorf("certificate of %s: %w", n.Name, err)
		}
		out[n.Name+".pem"], out[n.Name+".key"] = pemBlock("CERTIFICATE", der), keyPEM
	}
	// The gossip key (cluster.LoadKeyring) and the secret key
	// (auth.LoadSealer): 32 random bytes in base64 and a newline each.
	for _, name := range []string{"gossip.key", "secret.key"} {
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
		out[name] = []byte(base64.StdEncoding.EncodeToString(b) + "\n")
	}
	return out, nil
}

// newKey makes a P-256 key and returns it, its public half and its PEM.
func newKey() (*ecdsa.PrivateKey, any, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("make a key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, nil, err
	}
	return key, &key.PublicKey, pemBlock("PRIVATE KEY", der), nil
}

func pemBlock(typ string, der []byte) []byte {
	var b bytes.Buffer
	_ = pem.Encode(&b, &pem.Block{Type: typ, Bytes: der})
	return b.Bytes()
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	if err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return n
}

// writeFile replaces path with data (through a temporary file and a
// rename). An empty directory in its place, which docker leaves when a
// compose file's bind mount names a file that is missing, is removed first.
func writeFile(path string, data []byte, mode fs.FileMode, chown bool, uid, gid int) error {
	if fi, err := os.Lstat(path); err == nil && fi.IsDir() {
		if err := os.Remove(path); err != nil {
			return fmt.Errorf("%s is a directory (docker makes one for a missing bind mount): remove it: %w", path, err)
		}
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if chown {
		if err := tmp.Chown(uid, gid); err != nil {
			tmp.Close()
			return fmt.Errorf("chown %s: %w", path, err)
		}
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
