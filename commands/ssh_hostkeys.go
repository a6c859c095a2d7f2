package commands

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/salvo-sh/salvo/job"
)

// HostKeyError is the error of a target whose host key was not accepted.
type HostKeyError struct {
	// Host is the address checked ("host:port").
	Host string
	// Class is job.ClassHostKeyUnknown, job.ClassHostKeyChanged or, for
	// any other refusal, job.ClassHostKey ("" reads as the latter).
	Class string
	// Msg says why the key was refused.
	Msg string
	// Err is the knownhosts error, if any.
	Err error
}

func (e *HostKeyError) Error() string { return "host key of " + e.Host + " refused: " + e.Msg }

// Unwrap returns the underlying knownhosts error.
func (e *HostKeyError) Unwrap() error { return e.Err }

// ErrorClass returns the error class of the refusal.
func (e *HostKeyError) ErrorClass() string {
	if e.Class == "" {
		return job.ClassHostKey
	}
	return e.Class
}

// fileStamp identifies a version of a file on disk.
type fileStamp struct {
	size  int64
	mtime time.Time
}

// knownHostsDB is a set of known_hosts files read once and re-read when
// one of them changes on disk, plus the keys this process appended to the
// first file since (the accept-new policy): appends do not re-read the
// files, so trusting thousands of new hosts stays linear.
type knownHostsDB struct {
	files []string // absolute; the first is the one accept-new appends to
	probe ssh.PublicKey

	mu     sync.Mutex
	cb     ssh.HostKeyCallback // nil when no file exists
	stamps []fileStamp
	loaded bool
	added  map[string][]ssh.PublicKey // knownhosts.Normalize(host) → keys appended
}

// refreshLocked (re)reads the files when they changed since the last read.
func (db *knownHostsDB) refreshLocked() error {
	stamps := make([]fileStamp, len(db.files))
	var present []string
	for i, f := range db.files {
		st, err := os.Stat(f)
		switch {
		case err == nil:
			stamps[i] = fileStamp{st.Size(), st.ModTime()}
			present = append(present, f)
		case errors.Is(err, fs.ErrNotExist):
		default:
			return fmt.Errorf("known_hosts %s: %w", f, err)
		}
	}
	if db.loaded && equalStamps(stamps, db.stamps) {
		return nil
	}
	db.cb, db.added, db.loaded = nil, nil, false
	if len(present) > 0 {
		cb, err := knownhosts.New(present...)
		if err != nil {
			return fmt.Errorf("known_hosts: %w", err)
		}
		db.cb = cb
	}
	db.stamps, db.loaded = stamps, true
	return nil
}

// equal reports whether two stamps are of the same version of a file.
func (s fileStamp) equal(o fileStamp) bool { return s.size == o.size && s.mtime.Equal(o.mtime) }

func equalStamps(a, b []fileStamp) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].equal(b[i]) {
			return false
		}
	}
	return true
}

// check checks key for hostname ("host:port"); it returns nil, a
// *knownhosts.KeyError (unknown: no Want; changed: Want lists the known
// keys) or another error (revoked key, unreadable file). The files are
// matched outside the lock: the parsed callback never changes.
func (db *knownHostsDB) check(hostname string, remote net.Addr, key ssh.PublicKey) error {
	db.mu.Lock()
	if err := db.refreshLocked(); err != nil {
		db.mu.Unlock()
		return err
	}
	keys, added := db.added[knownhosts.Normalize(hostname)]
	cb := db.cb
	db.mu.Unlock()
	if added {
		return matchAdded(keys, key, db.files[0])
	}
	if cb == nil {
		return &knownhosts.KeyError{}
	}
	return cb(hostname, remote, key)
}

// matchAdded checks key against the keys appended for a host.
func matchAdded(keys []ssh.PublicKey, key ssh.PublicKey, file string) error {
	want := make([]knownhosts.KnownKey, len(keys))
	for i, k := range keys {
		if bytes.Equal(k.Marshal(), key.Marshal()) {
			return nil
		}
		want[i] = knownhosts.KnownKey{Key: k, Filename: file}
	}
	return &knownhosts.KeyError{Want: want}
}

// knownKeys lists the keys the files hold for hostname.
func (db *knownHostsDB) knownKeys(hostname string, remote net.Addr) []ssh.PublicKey {
	var ke *knownhosts.KeyError
	if err := db.check(hostname, remote, db.probe); !errors.As(err, &ke) {
		return nil
	}
	keys := make([]ssh.PublicKey, len(ke.Want))
	for i, k := range ke.Want {
		keys[i] = k.Key
	}
	return keys
}

// verify is the strict policy's check.
func (db *knownHostsDB) verify(hostname string, remote net.Addr, key ssh.PublicKey) error {
	return hostKeyError(hostname, key, db.check(hostname, remote, key), db.files, false)
}

// trust is the accept-new policy's check: an unknown host's key is
// appended to the first file and accepted; a changed key is refused.
func (db *knownHostsDB) trust(hostname string, remote net.Addr, key ssh.PublicKey) error {
	err := db.check(hostname, remote, key)
	var ke *knownhosts.KeyError
	if !errors.As(err, &ke) || len(ke.Want) > 0 {
		return hostKeyError(hostname, key, err, db.files, true)
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	// Another connection may have remembered the host meanwhile.
	if keys, ok := db.added[knownhosts.Normalize(hostname)]; ok {
		return hostKeyError(hostname, key, matchAdded(keys, key, db.files[0]), db.files, true)
	}
	if err := db.appendLocked(hostname, key); err != nil {
		return &HostKeyError{Host: hostname, Class: job.ClassHostKey, Msg: "cannot remember the new key: " + err.Error(), Err: err}
	}
	return nil
}

// appendLocked writes a known_hosts line for hostname and remembers it.
func (db *knownHostsDB) appendLocked(hostname string, key ssh.PublicKey) error {
	f := db.files[0]
	if err := os.MkdirAll(filepath.Dir(f), 0o700); err != nil {
		return err
	}
	fh, err := os.OpenFile(f, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	norm := knownhosts.Normalize(hostname)
	_, werr := fh.WriteString(knownhosts.Line([]string{norm}, key) + "\n")
	st, serr := fh.Stat()
	if cerr := fh.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return werr
	}
	if db.added == nil {
		db.added = map[string][]ssh.PublicKey{}
	}
	db.added[norm] = append(db.added[norm], key)
	if serr == nil && len(db.stamps) > 0 {
		// Our own write: no need to re-read the files for it.
		db.stamps[0] = fileStamp{st.Size(), st.ModTime()}
	}
	return nil
}

// hostKeyError describes the refusal of key, the key hostname presented;
// nil when err is nil.
func hostKeyError(hostname string, key ssh.PublicKey, err error, files []string, acceptNew bool) error {
	if err == nil {
		return nil
	}
	var ke *knownhosts.KeyError
	var re *knownhosts.RevokedError
	switch {
	case errors.As(err, &re):
		return &HostKeyError{Host: hostname, Class: job.ClassHostKey, Err: err,
			Msg: "the key " + keyString(key) + " is revoked in " + fileLine(re.Revoked.Filename, re.Revoked.Line)}
	case errors.As(err, &ke) && len(ke.Want) == 0:
		return &HostKeyError{Host: hostname, Class: job.ClassHostKeyUnknown, Err: err,
			Msg: "unknown host: no key for it in " + strings.Join(files, ", ") + "; it presented " + keyString(key) +
				" (add it with ssh-keyscan, or use hostKeyPolicy accept-new)"}
	case errors.As(err, &ke):
		return &HostKeyError{Host: hostname, Class: job.ClassHostKeyChanged, Err: err,
			Msg: changedKeyMsg(hostname, key, ke.Want, acceptNew)}
	}
	return &HostKeyError{Host: hostname, Class: job.ClassHostKey, Msg: err.Error(), Err: err}
}

// changedKeyMsg says that key is not the one known_hosts holds for
// hostname, where that one is, and what to do.
func changedKeyMsg(hostname string, key ssh.PublicKey, want []knownhosts.KnownKey, acceptNew bool) string {
	var b strings.Builder
	b.WriteString("the host's key changed: it presented " + keyString(key) + ", which differs from the ")
	if len(want) == 1 {
		b.WriteString("one")
	} else {
		b.WriteString("ones")
	}
	b.WriteString(" known for it in ")
	var files []string
	for i, k := range want {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(fileLine(k.Filename, k.Line) + " (" + keyString(k.Key) + ")")
		if !slices.Contains(files, k.Filename) {
			files = append(files, k.Filename)
		}
	}
	b.WriteString("; this may be a man-in-the-middle attack")
	if acceptNew {
		b.WriteString(" (accept-new never replaces a known key)")
	}
	b.WriteString(". If the key was replaced on purpose, check the new one and remove the old entry:")
	for i, f := range files {
		if i > 0 {
			b.WriteString(";")
		}
		fmt.Fprintf(&b, " ssh-keygen -R '%s' -f %s", knownhosts.Normalize(hostname), f)
	}
	return b.String()
}

// keyString names a key by its type and SHA256 fingerprint.
func keyString(k ssh.PublicKey) string {
	if k == nil {
		return "no key"
	}
	return k.Type() + " " + ssh.FingerprintSHA256(k)
}

// fileLine is "file:line", or "file" when the line is not known.
func fileLine(file string, line int) string {
	if line > 0 {
		return fmt.Sprintf("%s:%d", file, line)
	}
	return file
}

// hostKeyAlgorithms returns the host key algorithms to ask for so that the
// server presents a key of a known type; nil when no key is known.
func hostKeyAlgorithms(keys []ssh.PublicKey) []string {
	var algos []string
	seen := map[string]bool{}
	add := func(a ...string) {
		for _, s := range a {
			if !seen[s] {
				seen[s] = true
				algos = append(algos, s)
			}
		}
	}
	for _, k := range keys {
		switch t := k.Type(); t {
		case ssh.KeyAlgoRSA:
			add(ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA)
		default:
			add(t)
		}
	}
	return algos
}
