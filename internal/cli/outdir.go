package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/salvo-sh/salvo/job"
)

// --outdir writes one HOST.out and one HOST.err per result, as pssh's -o
// and -e do (README.md, docs/ssh.md).

// Modes of --outdir's directory (when it is created) and files.
const (
	outDirMode  fs.FileMode = 0o755
	outFileMode fs.FileMode = 0o644
)

// maxStemBytes bounds a file name's stem, so that the name with its
// suffix stays under the 255 bytes file systems allow.
const maxStemBytes = 200

// outDir writes results into a directory. The names it used are kept to
// tell targets that share a host apart: a set of names, not the results.
type outDir struct {
	dir  string
	used map[string]bool
}

// prepareOutDir creates dir (mode 0755, parents included) unless it
// exists, and refuses a path that is not a directory.
func prepareOutDir(dir string) (*outDir, error) {
	if dir == "" {
		return nil, errors.New("--outdir: empty directory name")
	}
	if err := os.MkdirAll(dir, outDirMode); err != nil {
		if fi, serr := os.Stat(dir); serr == nil && !fi.IsDir() {
			return nil, fmt.Errorf("--outdir %s: not a directory", dir)
		}
		return nil, fmt.Errorf("--outdir: %w", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("--outdir: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("--outdir %s: not a directory", dir)
	}
	return &outDir{dir: dir, used: make(map[string]bool)}, nil
}

// write writes r's HOST.out (the body: an HTTP response's, an SSH
// command's stdout) and HOST.err (an SSH command's stderr, then the
// result's error message, if any, on a line of its own).
func (o *outDir) write(r *job.Result) error {
	stem := o.stem(r)
	errText := r.Stderr
	if r.Error != "" {
		if errText != "" && !strings.HasSuffix(errText, "\n") {
			errText += "\n"
		}
		errText += r.Error + "\n"
	}
	if err := o.writeFile(stem+".out", r.Body); err != nil {
		return err
	}
	return o.writeFile(stem+".err", errText)
}

// outDirError is a failure to write a file of --outdir (not of the
// server).
type outDirError struct{ err error }

func (e *outDirError) Error() string { return "--outdir: " + e.err.Error() }
func (e *outDirError) Unwrap() error { return e.err }

func (o *outDir) writeFile(name, content string) error {
	path := filepath.Join(o.dir, name)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|openNoFollow, outFileMode)
	if err != nil {
		return &outDirError{err}
	}
	if _, err := f.WriteString(content); err != nil {
		f.Close()
		return &outDirError{fmt.Errorf("write %s: %w", path, err)}
	}
	if err := f.Close(); err != nil {
		return &outDirError{fmt.Errorf("write %s: %w", path, err)}
	}
	return nil
}

// stem is the file name, without .out/.err, of r: its host; when an
// earlier result of this directory has that host, [user@]host_port of its
// target; when that is taken too (the same target twice), that followed
// by ~INDEX. Results come in index order, so the names are the same on
// every run of the same job.
func (o *outDir) stem(r *job.Result) string {
	candidates := []string{fileStem(r.Host)}
	if user, port := targetUserPort(r); user != "" || port != "" {
		s := fileStem(r.Host)
		if user != "" {
			s = fileStem(user) + "@" + s
		}
		if port != "" {
			s += "_" + port
		}
		candidates = append(candidates, s)
	}
	for _, c := range candidates {
		if !o.used[c] {
			o.used[c] = true
			return c
		}
	}
	s := candidates[len(candidates)-1] + "~" + strconv.Itoa(r.Index)
	o.used[s] = true
	return s
}

// targetUserPort reads the user and port of a result's target: an HTTP
// result's is a URL (http://host:port/path), an SSH result's
// user@host:port.
func targetUserPort(r *job.Result) (user, port string) {
	t := r.Target
	if strings.Contains(t, "://") {
		u, err := url.Parse(t)
		if err != nil {
			return "", ""
		}
		return u.User.Username(), u.Port()
	}
	pt, err := job.ParseTarget(t, job.ProtocolSSH)
	if err != nil {
		return "", ""
	}
	if pt.HasPort {
		port = strconv.Itoa(pt.Port)
	}
	return pt.User, port
}

// fileStem makes a host (user input) a safe file name stem, one that
// stays inside the directory: letters, digits, '-' and '.' are kept, any
// other byte (the '/' of a path, '_', '~', '@', '%', ':' of IPv6, control
// characters, non-ASCII) is written %XX, and a leading '.' too (no hidden
// file, no ".."). Distinct hosts give distinct stems; a stem longer than
// maxStemBytes is cut and ends with ~h and a hash of the host.
func fileStem(host string) string {
	if host == "" {
		return "%00"
	}
	var b strings.Builder
	for i := 0; i < len(host); i++ {
		c := host[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-',
			c == '.' && i > 0:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	s := b.String()
	if len(s) > maxStemBytes {
		sum := sha256.Sum256([]byte(host))
		s = s[:maxStemBytes-19] + "~h" + hex.EncodeToString(sum[:])[:16]
		// The cut may split a %XX: it stays a valid name, and the hash
		// keeps it distinct.
	}
	return s
}

// writeOutDir writes the results of job id that q selects into o and
// returns how many it wrote.
func writeOutDir(ctx context.Context, c *Client, id string, q ResultQuery, o *outDir) (int, error) {
	return c.EachResult(ctx, id, q, o.write)
}
