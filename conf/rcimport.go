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
	"unicode"

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
	// Warnings tell what was ignored, each starting with file:line: lines
	// REST Commander ignored, and what it lost reading them its way.
	Warnings []string
}

// ImportRC reads REST Commander's configuration files from dir line by
// line as REST Commander did: blank lines, lines starting with % (comments)
// and stray lines starting with ``` between entries are skipped.
//
//   - httpheader.conf: a header set name, then "```HTTP_HEADER_LIST_START",
//     pairs of lines "Header-Name" and "```value", "```HTTP_HEADER_LIST_END".
//   - aggregation.conf: a rule name, then a line "```REGEX" (group 1 is
//     the value).
//   - nodegroup.conf: "ADHOC NAME NA NA", then the hosts, one a line,
//     between "```ADHOC_NODE_LIST_START" and "```ADHOC_NODE_LIST_END";
//     duplicate hosts are dropped. A line of fewer than 4 fields is ignored.
//   - agentcommand.conf: two-line entries, "NAME METHOD PROTOCOL PORT
//     URL_POSTFIX MAX_CONC EXTRACT_START EXTRACT_END [HEADER_SET]" (see
//     ParseRCCommand) then the body line, "```BODY". A line of fewer than
//     8 fields (counted as REST Commander's split at single spaces) is
//     ignored with the line after it, which REST Commander read as its
//     body. "${VAR}=value" lines between "```VARIABLES_PREDEFINED_LIST_START"
//     and "..._END" after a "VARIABLES_PREDEFINED" line are replaced, at
//     import, in the URL postfix and body of the entries below them.
//     Every other "$NAME" becomes the salvo variable NAME; a header set is
//     copied into the command.
//
// Lines REST Commander ignored are ignored and reported in Warnings; name
// lines of aggregation.conf and httpheader.conf with spaces inside are
// ignored the same way (no command can name them). A missing file is
// skipped; at least one must exist. Every problem is reported as
// "file:line: message", all of them joined in the error.
func ImportRC(dir string) (*RCImport, error) {
	return importRC(dir, false)
}

// ImportRCSkipping is ImportRC for a node's start: an entry REST Commander
// loaded but salvo cannot use (a name, port or header set it refuses, a
// regex Go's RE2 cannot compile, a node group without hosts) is left out
// and reported in Warnings, so that a start never fails on a file REST
// Commander loaded. Only an unreadable directory or file is an error.
func ImportRCSkipping(dir string) (*RCImport, error) {
	return importRC(dir, true)
}

func importRC(dir string, skip bool) (*RCImport, error) {
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
		if skip {
			for _, e := range rf.errs {
				imp.Warnings = append(imp.Warnings, e.Error()+" (left out)")
			}
		} else {
			errs = append(errs, rf.errs...)
		}
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

// entry returns the next line that starts an entry, trimmed: not empty,
// not a comment (%) and not a stray ``` line.
func (f *rcFile) entry() (string, int, bool) {
	l, n, ok := f.rawEntry()
	return strings.TrimSpace(l), n, ok
}

// rawEntry is entry without the trimming.
func (f *rcFile) rawEntry() (string, int, bool) {
	for {
		l, n, ok := f.line()
		if !ok {
			return "", n, false
		}
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "%") || strings.HasPrefix(t, "```") {
			continue
		}
		return l, n, true
	}
}

// rcFieldCount is the number of fields REST Commander saw in line: Java's
// line.split(" "), which splits at every single space (so two spaces make
// an empty field) and drops the trailing empty fields.
func rcFieldCount(line string) int {
	f := strings.Split(line, " ")
	for len(f) > 0 && f[len(f)-1] == "" {
		f = f[:len(f)-1]
	}
	return len(f)
}

func (f *rcFile) errorf(line int, format string, args ...any) {
	f.errs = append(f.errs, fmt.Errorf("%s:%d: %s", f.name, line, fmt.Sprintf(format, args...)))
}

func (f *rcFile) notef(imp *RCImport, line int, format string, args ...any) {
	imp.Notes = append(imp.Notes, fmt.Sprintf("%s:%d: %s", f.name, line, fmt.Sprintf(format, args...)))
}

func (f *rcFile) warnf(imp *RCImport, line int, format string, args ...any) {
	imp.Warnings = append(imp.Warnings, fmt.Sprintf("%s:%d: %s", f.name, line, fmt.Sprintf(format, args...)))
}

// consumed describes line n, read as part of an ignored entry, for a
// warning: "" when it is blank, a comment or a ``` line (skipped anyway),
// else what REST Commander did with it.
func (f *rcFile) consumed(n int, as string) string {
	t := strings.TrimSpace(f.lines[n-1])
	if t == "" || strings.HasPrefix(t, "%") || strings.HasPrefix(t, "```") {
		return ""
	}
	return fmt.Sprintf("; REST Commander read line %d as its %s, so that line is ignored too", n, as)
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
		if strings.ContainsFunc(name, unicode.IsSpace) {
			skipped := f.block("```HTTP_HEADER_LIST_START", "```HTTP_HEADER_LIST_END", func(string, int) {})
			what := ""
			if skipped {
				what = " with its header list"
			}
			f.warnf(imp, n, "ignored%s: %q has spaces, so it is no header set name a command can use", what, name)
			continue
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
		if strings.ContainsFunc(name, unicode.IsSpace) {
			// REST Commander read the next line as its regex.
			what := ""
			if _, ln, ok := f.line(); ok {
				what = f.consumed(ln, "regex")
			}
			f.warnf(imp, n, "ignored: %q has spaces, so it is no aggregation name%s", name, what)
			continue
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
		raw, n, ok := f.rawEntry()
		if !ok {
			return
		}
		l := strings.TrimSpace(raw)
		w := strings.Fields(l)
		if rcFieldCount(raw) < 4 || len(w) < 4 {
			// REST Commander ignored the line. The host list of such a
			// group line is skipped with it: its lines are ignored too.
			what := ""
			if f.block("```ADHOC_NODE_LIST_START", "```ADHOC_NODE_LIST_END", func(string, int) {}) {
				what = " with its host list"
			}
			f.warnf(imp, n, "ignored%s: %d fields, a node group line has 4 (\"ADHOC NAME NA NA\")", what, len(w))
			continue
		}
		if !strings.EqualFold(w[0], "ADHOC") {
			f.notef(imp, n, "node group %s skipped: source type %s is not supported (only ADHOC)", w[1], w[0])
			f.block("```ADHOC_NODE_LIST_START", "```ADHOC_NODE_LIST_END", func(string, int) {})
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

// rcCommandFields is the number of fields of a command line REST
// Commander read; it ignored shorter lines.
const rcCommandFields = 8

// parseRCCommands reads agentcommand.conf as REST Commander's
// updateAgentCommandMetadatasFromConf did: every line that is not blank,
// a comment or a ``` line is a command line, and the line after it, whatever
// it holds, is its body.
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
		l, n, ok := f.rawEntry()
		if !ok {
			return
		}
		if strings.EqualFold(strings.TrimSpace(l), "VARIABLES_PREDEFINED") {
			if !f.rcVariables(imp, n, predefined) {
				return
			}
			// REST Commander took the next line that is neither empty nor
			// a comment as a command line, even a ``` or blank one.
			for {
				if l, n, ok = f.line(); !ok {
					return
				}
				if l != "" && !strings.HasPrefix(strings.TrimSpace(l), "%") {
					break
				}
			}
		}
		body, bn, ok := f.line()
		fields := strings.Fields(l)
		if count := rcFieldCount(l); count < rcCommandFields || len(fields) < rcCommandFields {
			what := ""
			if ok {
				what = f.consumed(bn, "body")
			}
			f.warnf(imp, n, "ignored: %d fields, a command line has %d or %d (NAME METHOD PROTOCOL PORT URL_POSTFIX MAX_CONC EXTRACT_START EXTRACT_END [HEADER_SET])%s",
				len(fields), rcCommandFields, rcCommandFields+1, what)
			continue
		}
		if !ok {
			f.warnf(imp, n, "command %s ignored: the file ends before its body line", fields[0])
			return
		}
		if !strings.HasPrefix(strings.TrimSpace(body), "```") {
			f.warnf(imp, bn, "command %s: this line is its body, as REST Commander read it, but it does not start with ``` (\"```$AM_FULL_CONTENT\" for none)", fields[0])
		}
		// Predefined variables are replaced in the URL postfix and the
		// body only, as REST Commander did.
		for _, k := range slices.SortedFunc(maps.Keys(predefined), byLengthDesc) {
			fields[4] = strings.ReplaceAll(fields[4], k, predefined[k])
			body = strings.ReplaceAll(body, k, predefined[k])
		}
		cmd, err := parseRCCommand(fields, strings.TrimSpace(l), body, RCVars{Words: true}, lk)
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

// rcVariables reads a VARIABLES_PREDEFINED block (line n is its first line)
// into vars, up to "```VARIABLES_PREDEFINED_LIST_END". Each line between the
// tags is "NAME=value", split at the first '=' (REST Commander's (.*)=(.*)
// split at the last one: a warning says when that differs). It reports
// whether the end tag was found: REST Commander read no further without it.
func (f *rcFile) rcVariables(imp *RCImport, n int, vars map[string]string) bool {
	started := false
	for {
		l, ln, ok := f.line()
		if !ok {
			f.warnf(imp, n, "no ```VARIABLES_PREDEFINED_LIST_END after VARIABLES_PREDEFINED: the rest of the file is no commands")
			return false
		}
		t := strings.TrimSpace(l)
		switch {
		case strings.EqualFold(t, "```VARIABLES_PREDEFINED_LIST_START"):
			started = true
		case strings.EqualFold(t, "```VARIABLES_PREDEFINED_LIST_END"):
			if !started {
				f.warnf(imp, n, "VARIABLES_PREDEFINED has no ```VARIABLES_PREDEFINED_LIST_START before its end")
			}
			return true
		case t == "" || strings.HasPrefix(t, "%"):
		case !started:
			f.warnf(imp, ln, "ignored: before ```VARIABLES_PREDEFINED_LIST_START")
		default:
			k, v, ok := strings.Cut(t, "=")
			if !ok || k == "" {
				f.warnf(imp, ln, "ignored: want a predefined variable as ${NAME}=value, got %q", t)
				continue
			}
			if last := strings.LastIndexByte(t, '='); last > len(k) {
				f.warnf(imp, ln, "predefined variable %s: its value has a '='; REST Commander split at the last '=' (name %q) and did not replace %s", k, t[:last], k)
			}
			vars[k] = v
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
