package commands

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	sshconfig "github.com/kevinburke/ssh_config"
)

// MaxSSHConfigBytes bounds an ssh.configFile: a larger one fails the job's
// targets.
const MaxSSHConfigBytes = 1 << 20

// maxSSHConfigLine bounds one line of an ssh.configFile (the parser's cost
// grows with the square of a line's length).
const maxSSHConfigLine = 4096

// maxSSHConfigs bounds the parsed config files an executor keeps.
const maxSSHConfigs = 64

// sshClientConfig is a parsed OpenSSH client config file (ssh_config(5)):
// its Host blocks in file order, Match blocks left out. The syntax is read
// by github.com/kevinburke/ssh_config; host matching and the keywords
// salvo reads are here (docs/ssh.md, "OpenSSH client config").
type sshClientConfig struct {
	path   string // absolute
	blocks []configBlock
}

// configBlock is a Host block: its patterns and the settings salvo reads,
// lowercased once so that a lookup per target allocates nothing.
type configBlock struct {
	patterns []hostPattern
	settings []configSetting
}

type hostPattern struct {
	glob    string // lowercased
	negated bool
}

type configSetting struct {
	keyword string // lowercased
	value   string
	port    int // for port
}

// readKeywords are the keywords lookup uses; the others are dropped.
var readKeywords = []string{"hostname", "user", "port", "identityfile", "proxyjump", "proxycommand"}

// sshConfigEntry is a parsed config file and the version of it on disk.
type sshConfigEntry struct {
	stamp fileStamp
	cfg   *sshClientConfig
	err   error
}

// sshConfig returns the parsed config file at path (absolute), read again
// when its size or modification time changed since. It reads the disk:
// call it from a target's goroutine, never from an actor.
func (x *SSHExecutor) sshConfig(path string) (*sshClientConfig, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, errors.New("not a regular file")
	}
	stamp := fileStamp{st.Size(), st.ModTime()}
	x.cfgMu.Lock()
	defer x.cfgMu.Unlock()
	if e := x.configs[path]; e != nil && e.stamp.equal(stamp) {
		return e.cfg, e.err
	}
	b, err := readAtMost(path, MaxSSHConfigBytes)
	if err != nil {
		return nil, err
	}
	cfg, err := parseSSHConfig(path, b)
	if len(x.configs) >= maxSSHConfigs {
		for k := range x.configs {
			delete(x.configs, k)
			break
		}
	}
	x.configs[path] = &sshConfigEntry{stamp: stamp, cfg: cfg, err: err}
	return cfg, err
}

// readAtMost reads a file of at most limit bytes.
func readAtMost(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("larger than %d bytes", limit)
	}
	return b, nil
}

// parseSSHConfig parses a config file's contents. Match blocks are left
// out, Include is refused (the worker reads one file, under the path rule
// of job.CheckPaths and the size bound), and Port values are checked.
func parseSSHConfig(path string, b []byte) (cfg *sshClientConfig, err error) {
	src, err := blankMatchBlocks(b)
	if err != nil {
		return nil, err
	}
	defer func() {
		// The parser reports errors by panicking; it recovers its own,
		// this catches the rest so that a bad file never stops a worker.
		if r := recover(); r != nil {
			cfg, err = nil, fmt.Errorf("parse: %v", r)
		}
	}()
	c, err := sshconfig.DecodeBytes(src)
	if err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	cfg = &sshClientConfig{path: path, blocks: make([]configBlock, 0, len(c.Hosts))}
	for _, h := range c.Hosts {
		var b configBlock
		for _, p := range h.Patterns {
			// The parser splits a Host line at spaces only; tabs too here.
			for _, glob := range strings.Fields(strings.ToLower(p.String())) {
				neg := strings.HasPrefix(glob, "!")
				if neg {
					glob = glob[1:]
				}
				b.patterns = append(b.patterns, hostPattern{glob: glob, negated: neg})
			}
		}
		for _, n := range h.Nodes {
			kv, ok := n.(*sshconfig.KV)
			if !ok {
				continue
			}
			st := configSetting{keyword: strings.ToLower(kv.Key), value: kv.Value}
			if !slices.Contains(readKeywords, st.keyword) {
				continue
			}
			if st.keyword == "port" {
				if st.port, err = parseConfigPort(kv.Value); err != nil {
					return nil, fmt.Errorf("line %d: Port %q: %w", kv.Pos().Line, kv.Value, err)
				}
			}
			b.settings = append(b.settings, st)
		}
		cfg.blocks = append(cfg.blocks, b)
	}
	return cfg, nil
}

func parseConfigPort(s string) (int, error) {
	p, err := strconv.Atoi(s)
	if err != nil || p < 1 || p > 65535 {
		return 0, errors.New("want a port number 1..65535")
	}
	return p, nil
}

// blankMatchBlocks returns the file with its Match blocks (up to the next
// Host line) replaced by empty lines, so that line numbers hold; it
// refuses Include and overlong lines.
func blankMatchBlocks(b []byte) ([]byte, error) {
	out := make([]byte, 0, len(b))
	inMatch := false
	for n := 1; len(b) > 0; n++ {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i+1], b[i+1:]
		} else {
			b = nil
		}
		if len(line) > maxSSHConfigLine {
			return nil, fmt.Errorf("line %d is longer than %d bytes", n, maxSSHConfigLine)
		}
		switch configKeyword(line) {
		case "host":
			inMatch = false
		case "match":
			inMatch = true
		case "include":
			if !inMatch {
				return nil, fmt.Errorf("line %d: Include is not supported: put the settings in the file itself", n)
			}
		}
		if inMatch {
			if line[len(line)-1] == '\n' {
				out = append(out, '\n')
			}
			continue
		}
		out = append(out, line...)
	}
	return out, nil
}

// configKeyword returns the lowercased keyword of a config line, "" for
// an empty line; a comment's keyword starts with '#'.
func configKeyword(line []byte) string {
	line = bytes.TrimLeft(line, " \t")
	end := bytes.IndexAny(line, " \t=\r\n")
	if end < 0 {
		end = len(line)
	}
	return strings.ToLower(string(line[:end]))
}

// hostConfig is what the config says for one host: the first value of
// each keyword (OpenSSH's rule), and every IdentityFile in order.
type hostConfig struct {
	hostName, user, proxyJump, proxyCommand string
	port                                    int
	identityFiles                           []string
}

// lookup collects the settings of the Host blocks that match host.
func (c *sshClientConfig) lookup(host string) hostConfig {
	var hc hostConfig
	host = strings.ToLower(host)
	for i := range c.blocks {
		b := &c.blocks[i]
		if !b.matches(host) {
			continue
		}
		for _, st := range b.settings {
			switch st.keyword {
			case "hostname":
				setFirst(&hc.hostName, st.value)
			case "user":
				setFirst(&hc.user, st.value)
			case "port":
				if hc.port == 0 {
					hc.port = st.port
				}
			case "identityfile":
				hc.identityFiles = append(hc.identityFiles, st.value)
			case "proxyjump":
				setFirst(&hc.proxyJump, st.value)
			case "proxycommand":
				setFirst(&hc.proxyCommand, st.value)
			}
		}
	}
	return hc
}

func setFirst(dst *string, v string) {
	if *dst == "" {
		*dst = v
	}
}

// matches reports whether host (lowercased) matches the block's Host
// line: one of its patterns matches and none of its negated ones does.
func (b *configBlock) matches(host string) bool {
	found := false
	for _, p := range b.patterns {
		if globMatch(p.glob, host) {
			if p.negated {
				return false
			}
			found = true
		}
	}
	return found
}

// globMatch matches s against an ssh_config pattern: '*' is any run of
// characters, '?' exactly one, anything else itself.
func globMatch(pat, s string) bool {
	pi, si := 0, 0
	star, mark := -1, 0
	for si < len(s) {
		switch {
		case pi < len(pat) && (pat[pi] == '?' || pat[pi] == s[si]):
			pi++
			si++
		case pi < len(pat) && pat[pi] == '*':
			star, mark = pi, si
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			si = mark
		default:
			return false
		}
	}
	for pi < len(pat) && pat[pi] == '*' {
		pi++
	}
	return pi == len(pat)
}

// hostRoute is how a host is reached once the config has been applied.
type hostRoute struct {
	host      string // the name or address dialled (HostName)
	user      string
	port      int
	keys      []string // IdentityFile paths, tokens expanded, absolute
	proxyJump string   // the config's ProxyJump, "" for none
}

// route resolves host (a target's or a jump host's name as written)
// through the config. user and port, when given, win over the config's;
// fallbackUser gives the login when neither names one, the port
// defaults to 22. A nil config changes nothing.
func (c *sshClientConfig) route(host, user string, port int, fallbackUser func() string) (hostRoute, error) {
	r := hostRoute{host: host, user: user, port: port}
	var hc hostConfig
	if c != nil {
		hc = c.lookup(host)
	}
	if r.user == "" {
		r.user = hc.user
	}
	if r.user == "" {
		r.user = fallbackUser()
	}
	if r.port == 0 {
		r.port = hc.port
	}
	if r.port == 0 {
		r.port = 22
	}
	if c == nil {
		return r, nil
	}
	if pc := hc.proxyCommand; pc != "" && !strings.EqualFold(pc, "none") {
		return r, fmt.Errorf("host %s: ProxyCommand is not supported (salvo runs no local command): use ProxyJump", host)
	}
	tv := tokenValues{host: host, original: host, port: strconv.Itoa(r.port), user: r.user}
	if hc.hostName != "" {
		h, err := tv.expand("HostName", hc.hostName, "h")
		if err != nil {
			return r, fmt.Errorf("host %s: %w", host, err)
		}
		r.host, tv.host = h, h
	}
	if pj := hc.proxyJump; pj != "" && !strings.EqualFold(pj, "none") {
		j, err := tv.expand("ProxyJump", pj, "hnpr")
		if err != nil {
			return r, fmt.Errorf("host %s: %w", host, err)
		}
		r.proxyJump = j
	}
	for _, f := range hc.identityFiles {
		p, err := tv.expand("IdentityFile", f, "dhnpru")
		if err != nil {
			return r, fmt.Errorf("host %s: %w", host, err)
		}
		p = expandHome(p)
		if !filepath.IsAbs(p) {
			p = filepath.Join(filepath.Dir(c.path), p)
		}
		if !slices.Contains(r.keys, p) {
			r.keys = append(r.keys, p)
		}
	}
	return r, nil
}

// tokenValues are the values of ssh_config(5)'s %-tokens for one host.
type tokenValues struct {
	host     string // %h: the remote host name (HostName once applied)
	original string // %n: the host as written
	port     string // %p
	user     string // %r: the remote login
}

// expand replaces the tokens of s; allowed lists the letters keyword
// accepts besides %%. %u is the worker's user, %d its home directory.
func (v *tokenValues) expand(keyword, s, allowed string) (string, error) {
	if strings.IndexByte(s, '%') < 0 {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		i++
		if i == len(s) {
			return "", fmt.Errorf("%s %q ends with a lone %%", keyword, s)
		}
		t := s[i]
		if t != '%' && strings.IndexByte(allowed, t) < 0 {
			return "", fmt.Errorf("%s %q: token %%%c is not supported here (salvo expands %%%% and %%%s)", keyword, s, t, strings.Join(strings.Split(allowed, ""), ", %"))
		}
		switch t {
		case '%':
			b.WriteByte('%')
		case 'h':
			b.WriteString(v.host)
		case 'n':
			b.WriteString(v.original)
		case 'p':
			b.WriteString(v.port)
		case 'r':
			b.WriteString(v.user)
		case 'u':
			u, err := user.Current()
			if err != nil {
				return "", fmt.Errorf("%s %q: %%u: %w", keyword, s, err)
			}
			b.WriteString(u.Username)
		case 'd':
			home, err := os.UserHomeDir()
			if err != nil {
				return "", fmt.Errorf("%s %q: %%d: %w", keyword, s, err)
			}
			b.WriteString(home)
		}
	}
	return b.String(), nil
}
