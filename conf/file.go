package conf

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/salvo-sh/salvo/job"
)

// fileDoc is the shape of the YAML config file: the fields of Config plus
// `commands`, kept as YAML nodes and decoded as JSON job specs because
// job.Spec has JSON tags only.
type fileDoc struct {
	Config   `yaml:",inline"`
	Commands map[string]yaml.Node `yaml:"commands"`
}

// loadFile reads the YAML file at path over c. Keys the file does not
// name keep their value in c.
func (c *Config) loadFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read config file: %w", err)
	}
	if err := c.decodeYAML(data); err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	return nil
}

// decodeYAML decodes one YAML document over c. Unknown keys are errors.
func (c *Config) decodeYAML(data []byte) error {
	doc := fileDoc{Config: *c}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // an empty file
		}
		return yamlError(err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			return yamlError(err)
		}
		return fmt.Errorf("line %d: more than one YAML document", extra.Line)
	}
	if len(doc.Commands) > 0 {
		cmds := make(map[string]*job.Spec, len(doc.Commands)+len(c.Commands))
		for name, spec := range c.Commands {
			cmds[name] = spec
		}
		names := make([]string, 0, len(doc.Commands))
		for name := range doc.Commands {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names {
			node := doc.Commands[name]
			spec, err := decodeCommand(name, &node)
			if err != nil {
				return fmt.Errorf("line %d: %w", node.Line, err)
			}
			cmds[name] = spec
		}
		doc.Config.Commands = cmds
	}
	*c = doc.Config
	return nil
}

// decodeCommand decodes a command template: the YAML node becomes a
// generic value, then JSON, then a job.Spec through
// job.DecodeSpec (strict: unknown fields and wrong types refused).
// Errors name the field as commands.<name>.<path>.
func decodeCommand(name string, n *yaml.Node) (*job.Spec, error) {
	field := "commands." + name
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return new(job.Spec), nil
	}
	if n.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s: must be a mapping (a job spec without targets or nodeGroup)", field)
	}
	var generic any
	if err := n.Decode(&generic); err != nil {
		return nil, fmt.Errorf("%s: %w", field, err)
	}
	b, err := json.Marshal(generic)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", field, err)
	}
	spec, err := job.DecodeSpec(bytes.NewReader(b))
	if err != nil {
		var fe *job.FieldError
		if errors.As(err, &fe) && fe.Field != "" {
			return nil, fmt.Errorf("%s.%s: %s", field, fe.Field, fe.Msg)
		}
		return nil, fmt.Errorf("%s: %w", field, err)
	}
	if len(spec.Targets) > 0 || spec.NodeGroup != "" {
		return nil, fmt.Errorf("%s: a command template may not have targets or nodeGroup", field)
	}
	return spec, nil
}

// yamlError flattens yaml's multi-line type errors into one line and
// words them for a user.
func yamlError(err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return err
	}
	msgs := make([]string, len(te.Errors))
	for i, m := range te.Errors {
		msgs[i] = strings.ReplaceAll(wordUnknownKey(m), "conf.fileDoc", "the config (a mapping)")
	}
	return errors.New(strings.Join(msgs, "; "))
}

// wordUnknownKey rewrites "line N: field K not found in type T" as
// `line N: unknown key "K"`.
func wordUnknownKey(m string) string {
	prefix, rest, ok := strings.Cut(m, ": field ")
	if !ok {
		return m
	}
	key, _, ok := strings.Cut(rest, " not found in type ")
	if !ok {
		return m
	}
	return prefix + `: unknown key "` + key + `"`
}
