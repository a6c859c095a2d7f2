package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"mime"
	"net/url"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"
)

// maxMultipartMemory bounds the part of a multipart form kept in memory.
const maxMultipartMemory = 32 << 20

// rcParams are the parameters of a REST Commander compatible request,
// merged from the query string, then a form body (URL-encoded or
// multipart), then a JSON object body: a later source wins. Form keys may
// use brackets: "targetNodes[]=a&targetNodes[]=b", "replacementVarMap[K]=v",
// "replacementVarMapNodeSpecific[host][K]=v". Values are strings, []any,
// map[string]any or, from JSON, json.Number, bool and nil.
type rcParams map[string]any

// readRCParams reads and merges a request's parameters.
func readRCParams(c *gin.Context) (rcParams, error) {
	p := rcParams{}
	req := c.Request
	p.addValues(req.URL.Query())
	ct, _, _ := mime.ParseMediaType(req.Header.Get("Content-Type"))
	if ct == "multipart/form-data" {
		if err := req.ParseMultipartForm(maxMultipartMemory); err != nil {
			return nil, badRequest("", "invalid multipart form: "+err.Error())
		}
		p.addValues(req.MultipartForm.Value)
		return p, nil
	}
	if req.Body == nil {
		return p, nil
	}
	raw, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, fmt.Errorf("read request body: %w", err)
	}
	body := bytes.TrimSpace(raw)
	switch {
	case len(body) == 0:
	case ct == "application/json" || strings.HasSuffix(ct, "+json") || looksLikeJSONObject(body):
		v, err := rcDecodeJSON(body)
		if err != nil {
			return nil, badRequest("", "invalid JSON body: "+err.Error())
		}
		m, ok := v.(map[string]any)
		if !ok && v != nil { // null is no parameter
			return nil, badRequest("", "invalid JSON body: want an object")
		}
		for k, v := range m {
			p[k] = v
		}
	default:
		vals, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, badRequest("", "invalid form body: "+err.Error())
		}
		p.addValues(vals)
	}
	return p, nil
}

// looksLikeJSONObject reports whether a body of no JSON content type is
// a JSON object: it starts with '{', maybe after comments or the prefix
// )]}' that REST Commander's parser skipped.
func looksLikeJSONObject(body []byte) bool {
	p := &lenientParser{s: bytes.TrimPrefix(body, []byte("\uFEFF"))}
	if p.skip() != nil {
		return false
	}
	rest := bytes.TrimPrefix(p.s[p.i:], []byte(")]}'"))
	if len(rest) < len(p.s[p.i:]) {
		p = &lenientParser{s: rest}
		if p.skip() != nil {
			return false
		}
		rest = p.s[p.i:]
	}
	return len(rest) > 0 && rest[0] == '{'
}

// addValues merges query or form values, reading bracketed keys.
func (p rcParams) addValues(vals map[string][]string) {
	for key, vs := range vals {
		if len(vs) == 0 {
			continue
		}
		base, path := splitBracketKey(key)
		if len(path) == 0 {
			if len(vs) == 1 {
				p[base] = vs[0]
			} else {
				p[base] = toAnyList(vs)
			}
			continue
		}
		if len(path) == 1 && path[0] == "" {
			list, _ := p[base].([]any)
			p[base] = append(list, toAnyList(vs)...)
			continue
		}
		m, ok := p[base].(map[string]any)
		if !ok {
			m = map[string]any{}
			p[base] = m
		}
		for _, seg := range path[:len(path)-1] {
			next, ok := m[seg].(map[string]any)
			if !ok {
				next = map[string]any{}
				m[seg] = next
			}
			m = next
		}
		m[path[len(path)-1]] = vs[len(vs)-1]
	}
}

// splitBracketKey splits "a[b][c]" into "a" and ["b", "c"].
func splitBracketKey(key string) (string, []string) {
	i := strings.IndexByte(key, '[')
	if i <= 0 || !strings.HasSuffix(key, "]") {
		return key, nil
	}
	base, rest := key[:i], key[i:]
	var path []string
	for len(rest) > 0 {
		if rest[0] != '[' {
			return key, nil
		}
		j := strings.IndexByte(rest, ']')
		if j < 0 {
			return key, nil
		}
		path = append(path, rest[1:j])
		rest = rest[j+1:]
	}
	return base, path
}

func toAnyList(vs []string) []any {
	out := make([]any, len(vs))
	for i, v := range vs {
		out[i] = v
	}
	return out
}

// scalar returns a scalar JSON or form value as a string.
func scalar(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case json.Number:
		return x.String(), true
	case bool:
		return strconv.FormatBool(x), true
	case nil:
		return "", true
	}
	return "", false
}

// str returns a string parameter, "" when absent.
func (p rcParams) str(name string) (string, error) {
	v := p[name]
	if l, ok := v.([]any); ok && len(l) == 1 {
		v = l[0]
	}
	s, ok := scalar(v)
	if !ok {
		return "", badRequest(name, name+" must be a string")
	}
	return strings.TrimSpace(s), nil
}

// has reports whether a parameter is present and not null or empty.
func (p rcParams) has(name string) bool {
	s, err := p.str(name)
	return err != nil || s != ""
}

// flag returns a boolean parameter, def when absent.
func (p rcParams) flag(name string, def bool) (bool, error) {
	s, err := p.str(name)
	if err != nil || s == "" {
		return def, err
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return false, badRequest(name, fmt.Sprintf("%s must be true or false, got %q", name, s))
	}
	return b, nil
}

// integer returns an integer parameter and whether it was given. A number
// with an integral value (500.0, 5e2) is taken, as Gson did.
func (p rcParams) integer(name string) (int, bool, error) {
	s, err := p.str(name)
	if err != nil || s == "" {
		return 0, false, err
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		f, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
			return 0, false, badRequest(name, fmt.Sprintf("%s must be an integer, got %q", name, s))
		}
		n = int(f)
	}
	return n, true, nil
}

// list returns a list parameter: a JSON array, repeated form values, a
// JSON array in a string, or a string of items separated by commas,
// semicolons or white space.
func (p rcParams) list(name string) ([]string, error) {
	v, ok := p[name]
	if !ok || v == nil {
		return nil, nil
	}
	if s, isStr := v.(string); isStr {
		s = strings.TrimSpace(s)
		if !strings.HasPrefix(s, "[") {
			return strings.FieldsFunc(s, func(r rune) bool {
				return r == ',' || r == ';' || r == ' ' || r == '\t' || r == '\n' || r == '\r'
			}), nil
		}
		var err error
		if v, err = rcDecodeJSON([]byte(s)); err != nil {
			return nil, badRequest(name, name+" must be a list: "+err.Error())
		}
	}
	l, ok := v.([]any)
	if !ok {
		return nil, badRequest(name, name+" must be a list of strings")
	}
	out := make([]string, 0, len(l))
	for i, item := range l {
		s, ok := scalar(item)
		if !ok {
			return nil, badRequest(fmt.Sprintf("%s[%d]", name, i), name+" must be a list of strings")
		}
		out = append(out, s)
	}
	return out, nil
}

// object returns a map parameter: a JSON object, bracketed form values or
// a JSON object in a string.
func (p rcParams) object(name string) (map[string]any, error) {
	v, ok := p[name]
	if !ok || v == nil {
		return nil, nil
	}
	if s, isStr := v.(string); isStr {
		if strings.TrimSpace(s) == "" {
			return nil, nil
		}
		var err error
		if v, err = rcDecodeJSON([]byte(s)); err != nil {
			return nil, badRequest(name, name+" must be an object: "+err.Error())
		}
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, badRequest(name, name+" must be an object")
	}
	return m, nil
}

// strMap returns a map of strings. A null value becomes "NA": REST
// Commander does not send a request whose replacement is null, and salvo
// skips a target whose variable is NA.
func (p rcParams) strMap(name string) (map[string]string, error) {
	m, err := p.object(name)
	if err != nil || m == nil {
		return nil, err
	}
	return toStrMap(name, m)
}

func toStrMap(field string, m map[string]any) (map[string]string, error) {
	out := make(map[string]string, len(m))
	for k, v := range m {
		if v == nil {
			out[k] = "NA"
			continue
		}
		s, ok := scalar(v)
		if !ok {
			return nil, badRequest(field+"."+k, "a replacement value must be a string")
		}
		out[k] = s
	}
	return out, nil
}

// nodeMap returns a map of hosts to maps of strings. Each host's map may be
// wrapped as {"map": {...}}, as REST Commander's clients send it.
func (p rcParams) nodeMap(name string) (map[string]map[string]string, error) {
	m, err := p.object(name)
	if err != nil || m == nil {
		return nil, err
	}
	out := make(map[string]map[string]string, len(m))
	for host, v := range m {
		hm, ok := v.(map[string]any)
		if !ok {
			return nil, badRequest(name+"."+host, "must be an object of replacements")
		}
		if inner, ok := hm["map"].(map[string]any); ok && len(hm) == 1 {
			hm = inner
		}
		vars, err := toStrMap(name+"."+host, hm)
		if err != nil {
			return nil, err
		}
		out[strings.TrimSpace(host)] = vars
	}
	return out, nil
}
