package conf

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/salvo-sh/salvo/job"
)

// REST Commander's configuration files, as ImportRC reads them from a
// directory.
const (
	RCHTTPHeaderFile   = "httpheader.conf"
	RCAggregationFile  = "aggregation.conf"
	RCNodeGroupFile    = "nodegroup.conf"
	RCAgentCommandFile = "agentcommand.conf"
)

// Definition kinds, as Definitions.Origins keys them ("kind/name").
const (
	DefNodeGroup   = "nodegroup"
	DefCommand     = "command"
	DefAggregation = "aggregation"
	DefHeaderSet   = "headerset"
)

// Definitions are named definitions: node groups, command templates,
// aggregation rules and header sets.
type Definitions struct {
	NodeGroups   map[string]NodeGroup
	Commands     map[string]*job.Spec
	Aggregations map[string]Aggregation
	HeaderSets   map[string]map[string]string
	// Origins tells where each definition was read, keyed "kind/name"
	// (DefNodeGroup, ...), as "file:line".
	Origins map[string]string
}

// Definitions returns the named definitions of the config file.
func (c *Config) Definitions() Definitions {
	d := newDefinitions()
	origin := c.ConfigFile
	if origin == "" {
		origin = "the config file"
	}
	for name, g := range c.NodeGroups {
		d.NodeGroups[name] = g
		d.Origins[DefNodeGroup+"/"+name] = origin
	}
	for name, s := range c.Commands {
		d.Commands[name] = s
		d.Origins[DefCommand+"/"+name] = origin
	}
	for name, a := range c.Aggregations {
		d.Aggregations[name] = a
		d.Origins[DefAggregation+"/"+name] = origin
	}
	for name, h := range c.HeaderSets {
		d.HeaderSets[name] = h
		d.Origins[DefHeaderSet+"/"+name] = origin
	}
	return d
}

func newDefinitions() Definitions {
	return Definitions{
		NodeGroups:   map[string]NodeGroup{},
		Commands:     map[string]*job.Spec{},
		Aggregations: map[string]Aggregation{},
		HeaderSets:   map[string]map[string]string{},
		Origins:      map[string]string{},
	}
}

// Len is the number of definitions.
func (d *Definitions) Len() int {
	return len(d.NodeGroups) + len(d.Commands) + len(d.Aggregations) + len(d.HeaderSets)
}

// RCImport is what ImportRC read.
type RCImport struct {
	Definitions
	// Notes tell what was skipped or adapted, each starting with file:line.
	Notes []string
}

// ImportRC reads REST Commander's configuration files from dir, each in
// REST Commander's own format (lines starting with % are comments):
//
//   - httpheader.conf: a header set name, then "```HTTP_HEADER_LIST_START",
//     pairs of lines "Header-Name" and "```value", "```HTTP_HEADER_LIST_END".
//   - aggregation.conf: a rule name, then a line "```REGEX" (group 1 is
//     the value).
//   - nodegroup.conf: "ADHOC NAME NA NA", then the hosts, one a line,
//     between "```ADHOC_NODE_LIST_START" and "```ADHOC_NODE_LIST_END";
//     duplicate hosts are dropped.
//   - agentcommand.conf: two-line entries, "NAME METHOD PROTOCOL PORT
//     URL_POSTFIX MAX_CONC EXTRACT_START EXTRACT_END [HEADER_SET]" (see
//     ParseRCCommand) then "```BODY"; "${VAR}=value" lines between
//     "```VARIABLES_PREDEFINED_LIST_START" and "..._END" after a
//     "VARIABLES_PREDEFINED" line are replaced in the entries below them.
//     Every other "$NAME" becomes the salvo variable NAME; a header set
//     is copied into the command.
//
// A missing file is skipped; at least one must exist. Every problem is
// reported as "file:line: message", all of them joined in the error.
func ImportRC(dir string) (*RCImport, error) {
	imp := &RCImport{Definitions: newDefinitions()}
	var errs []error
	found := 0
	// Header sets and aggregations first: commands refer to them.
	for _, f := range []struct {
		name  string
		parse func(*rcFile, *RCImport)
	}{
		{RCHTTPHeaderFile, parseRCHeaders},
		{RCAggregationFile, parseRCAggregations},
		{RCNodeGroupFile, parseRCNodeGroups},
		{RCAgentCommandFile, parseRCCommands},
	} {
		path := filepath.Join(dir, f.name)
		file, err := os.Open(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("read REST Commander file: %w", err))
			continue
		}
		found++
		rf, err := readRCFile(path, file)
		file.Close()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		f.parse(rf, imp)
		errs = append(errs, rf.errs...)
	}
	if found == 0 && len(errs) == 0 {
		errs = append(errs, fmt.Errorf("%s: none of %s, %s, %s, %s found", dir,
			RCAgentCommandFile, RCNodeGroupFile, RCAggregationFile, RCHTTPHeaderFile))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return imp, nil
}

// ParseRC reads one REST Commander file of the kind its base name says
// (agentcommand.conf, ...) into imp. Commands look their header sets and
// aggregations up in imp.
func ParseRC(name string, r io.Reader, imp *RCImport) error {
	rf, err := readRCFile(name, r)
	if err != nil {
		return err
	}
	switch filepath.Base(name) {
	case RCHTTPHeaderFile:
		parseRCHeaders(rf, imp)
	case RCAggregationFile:
		parseRCAggregations(rf, imp)
	case RCNodeGroupFile:
		parseRCNodeGroups(rf, imp)
	case RCAgentCommandFile:
		parseRCCommands(rf, imp)
	default:
		return fmt.Errorf("%s: not a REST Commander file (want %s, %s, %s or %s)", name,
			RCAgentCommandFile, RCNodeGroupFile, RCAggregationFile, RCHTTPHeaderFile)
	}
	return errors.Join(rf.errs...)
}

// rcFile is a file's lines with a cursor, and the problems found in it.
type rcFile struct {
	name  string
	lines []string
	next  int // index of the next line to read
	errs  []error
}

func readRCFile(name string, r io.Reader) (*rcFile, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	f := &rcFile{name: name}
	for sc.Scan() {
		f.lines = append(f.lines, strings.TrimSuffix(sc.Text(), "\r"))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return f, nil
}

// line returns the next line and its number (1-based).
func (f *rcFile) line() (string, int, bool) {
	if f.next >= len(f.lines) {
		return "", len(f.lines), false
	}
	f.next++
	return f.lines[f.next-1], f.next, true
}

// entry returns the next line that starts an entry: not empty, not a
// comment (%) and not a stray ``` line.
func (f *rcFile) entry() (string, int, bool) {
	for {
		l, n, ok := f.line()
		if !ok {
			return "", n, false
		}
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "%") || strings.HasPrefix(t, "```") {
			continue
		}
		return t, n, true
	}
}

func (f *rcFile) errorf(line int, format string, args ...any) {
	f.errs = append(f.errs, fmt.Errorf("%s:%d: %s", f.name, line, fmt.Sprintf(format, args...)))
}

func (f *rcFile) notef(imp *RCImport, line int, format string, args ...any) {
	imp.Notes = append(imp.Notes, fmt.Sprintf("%s:%d: %s", f.name, line, fmt.Sprintf(format, args...)))
}

// define records where a definition was read and notes a redefinition.
func (f *rcFile) define(imp *RCImport, kind, name string, line int) bool {
	if !validRCName(name) {
		f.errorf(line, "invalid %s name %q: use 1 to 128 letters, digits, '_', '.' or '-'", kind, name)
		return false
	}
	key := kind + "/" + name
	if prev, ok := imp.Origins[key]; ok {
		f.notef(imp, line, "%s %s redefined (first at %s): this definition wins", kind, name, prev)
	}
	imp.Origins[key] = fmt.Sprintf("%s:%d", f.name, line)
	return true
}

// block reads the lines between a start and an end tag (compared without
// case, as REST Commander does) after an entry's first line, calling fn
// for each line inside. It reports whether both tags were found.
func (f *rcFile) block(start, end string, fn func(line string, n int)) bool {
	started := false
	for {
		l, n, ok := f.line()
		if !ok {
			return false
		}
		t := strings.TrimSpace(l)
		switch {
		case strings.EqualFold(t, start):
			started = true
		case strings.EqualFold(t, end):
			return started
		case started:
			fn(l, n)
		case t != "" && !strings.HasPrefix(t, "%"):
			f.next-- // the next entry: the block is missing
			return false
		}
	}
}

func parseRCHeaders(f *rcFile, imp *RCImport) {
	for {
		name, n, ok := f.entry()
		if !ok {
			return
		}
		headers := map[string]string{}
		var key string
		keyLine := 0
		closed := f.block("```HTTP_HEADER_LIST_START", "```HTTP_HEADER_LIST_END", func(l string, ln int) {
			t := strings.TrimSpace(l)
			switch {
			case key == "" && t == "":
			case key == "":
				if strings.HasPrefix(t, "```") {
					f.errorf(ln, "header set %s: a value line without its header name line", name)
					return
				}
				key, keyLine = t, ln
			default:
				if !strings.HasPrefix(t, "```") {
					f.errorf(ln, "header set %s: want the value of %s as a line \"```value\"", name, key)
				}
				headers[key] = strings.ReplaceAll(t, "```", "")
				key = ""
			}
		})
		if key != "" {
			f.errorf(keyLine, "header set %s: header %s has no value line", name, key)
		}
		if !closed {
			f.errorf(n, "header set %s: want its headers between ```HTTP_HEADER_LIST_START and ```HTTP_HEADER_LIST_END", name)
			continue
		}
		if f.define(imp, DefHeaderSet, name, n) {
			imp.HeaderSets[name] = headers
		}
	}
}

func parseRCAggregations(f *rcFile, imp *RCImport) {
	for {
		name, n, ok := f.entry()
		if !ok {
			return
		}
		l, ln, ok := f.line()
		t := strings.TrimSpace(l)
		if !ok || !strings.HasPrefix(t, "```") {
			f.errorf(n, "aggregation %s: want the regex on the next line as \"```REGEX\"", name)
			if ok {
				f.next--
			}
			continue
		}
		re := strings.ReplaceAll(t, "```", "")
		switch name {
		case RCStatusCodeAggregation:
			f.notef(imp, n, "aggregation %s skipped: salvo aggregates by status code when a command has no regex", name)
			continue
		case RCResponseTimeAggregation:
			f.notef(imp, n, "aggregation %s skipped: not supported", name)
			continue
		}
		c, err := regexp.Compile(re)
		if err != nil {
			f.errorf(ln, "aggregation %s: invalid regex for Go's regexp (RE2 syntax): %v", name, err)
			continue
		}
		if c.NumSubexp() < 1 {
			f.errorf(ln, "aggregation %s: the regex needs a capture group: group 1 is the value", name)
			continue
		}
		if f.define(imp, DefAggregation, name, n) {
			imp.Aggregations[name] = Aggregation{Regex: re}
		}
	}
}

func parseRCNodeGroups(f *rcFile, imp *RCImport) {
	for {
		l, n, ok := f.entry()
		if !ok {
			return
		}
		w := strings.Fields(l)
		if len(w) < 4 || !strings.EqualFold(w[0], "ADHOC") {
			if len(w) >= 4 {
				f.notef(imp, n, "node group %s skipped: source type %s is not supported (only ADHOC)", w[1], w[0])
				f.block("```ADHOC_NODE_LIST_START", "```ADHOC_NODE_LIST_END", func(string, int) {})
				continue
			}
			f.errorf(n, "want \"ADHOC NAME NA NA\", got %q", l)
			continue
		}
		name := w[1]
		var hosts []string
		seen := map[string]bool{}
		dups := 0
		closed := f.block("```ADHOC_NODE_LIST_START", "```ADHOC_NODE_LIST_END", func(l string, ln int) {
			h := strings.TrimSpace(l)
			switch {
			case h == "":
			case seen[h]:
				dups++
			default:
				if _, err := job.ParseTarget(h, job.ProtocolHTTP); err != nil {
					f.errorf(ln, "node group %s: %v", name, err)
					return
				}
				seen[h] = true
				hosts = append(hosts, h)
			}
		})
		switch {
		case !closed:
			f.errorf(n, "node group %s: want its hosts between ```ADHOC_NODE_LIST_START and ```ADHOC_NODE_LIST_END", name)
			continue
		case len(hosts) == 0:
			f.errorf(n, "node group %s has no hosts", name)
			continue
		}
		if dups > 0 {
			f.notef(imp, n, "node group %s: %d duplicate hosts dropped", name, dups)
		}
		if f.define(imp, DefNodeGroup, name, n) {
			imp.NodeGroups[name] = NodeGroup{Hosts: hosts}
		}
	}
}

func parseRCCommands(f *rcFile, imp *RCImport) {
	predefined := map[string]string{}
	lk := RCLookup{
		HeaderSet: func(name string) (map[string]string, bool) { h, ok := imp.HeaderSets[name]; return h, ok },
		Aggregation: func(name string) (string, bool) {
			a, ok := imp.Aggregations[name]
			return a.Regex, ok
		},
	}
	for {
		l, n, ok := f.entry()
		if !ok {
			return
		}
		if strings.EqualFold(l, "VARIABLES_PREDEFINED") {
			closed := f.block("```VARIABLES_PREDEFINED_LIST_START", "```VARIABLES_PREDEFINED_LIST_END", func(l string, ln int) {
				t := strings.TrimSpace(l)
				if t == "" || strings.HasPrefix(t, "%") {
					return
				}
				k, v, ok := strings.Cut(t, "=")
				if !ok || k == "" {
					f.errorf(ln, "want a predefined variable as ${NAME}=value, got %q", t)
					return
				}
				predefined[k] = v
			})
			if !closed {
				f.errorf(n, "want the predefined variables between ```VARIABLES_PREDEFINED_LIST_START and ```VARIABLES_PREDEFINED_LIST_END")
			}
			continue
		}
		body, _, ok := f.line()
		if !ok || !strings.HasPrefix(strings.TrimSpace(body), "```") {
			f.errorf(n, "want the request body on the line after the command, as \"```BODY\" (\"```$AM_FULL_CONTENT\" for none)")
			if ok {
				f.next--
			}
			continue
		}
		for _, k := range slices.SortedFunc(maps.Keys(predefined), byLengthDesc) {
			l = strings.ReplaceAll(l, k, predefined[k])
			body = strings.ReplaceAll(body, k, predefined[k])
		}
		cmd, err := ParseRCCommand(l, body, RCVars{Words: true}, lk)
		if err != nil {
			f.errorf(n, "%v", err)
			continue
		}
		if cmd.Name == "" {
			f.errorf(n, "a command needs a NAME as its first field")
			continue
		}
		for _, note := range cmd.Notes {
			f.notef(imp, n, "command %s: %s", cmd.Name, note)
		}
		if f.define(imp, DefCommand, cmd.Name, n) {
			imp.Commands[cmd.Name] = cmd.Spec
		}
	}
}

// Merge adds o's definitions to d. A name defined in both is an error
// naming both origins.
func (d *Definitions) Merge(o Definitions) error {
	var errs []error
	clash := func(kind, name string) bool {
		key := kind + "/" + name
		if prev, ok := d.Origins[key]; ok {
			errs = append(errs, fmt.Errorf("%s %q is defined in both %s and %s", kind, name, prev, o.Origins[key]))
			return true
		}
		d.Origins[key] = o.Origins[key]
		return false
	}
	for name, v := range o.NodeGroups {
		if !clash(DefNodeGroup, name) {
			d.NodeGroups[name] = v
		}
	}
	for name, v := range o.Commands {
		if !clash(DefCommand, name) {
			d.Commands[name] = v
		}
	}
	for name, v := range o.Aggregations {
		if !clash(DefAggregation, name) {
			d.Aggregations[name] = v
		}
	}
	for name, v := range o.HeaderSets {
		if !clash(DefHeaderSet, name) {
			d.HeaderSets[name] = v
		}
	}
	slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
	return errors.Join(errs...)
}
