package conf

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// Load builds the configuration of `salvo server` from args (the
// arguments after "server") and the environment read through lookupEnv
// (os.LookupEnv when nil): defaults, then the YAML file named by --config
// or SALVO_CONFIG, then SALVO_* variables (empty ones are ignored), then
// the flags set in args. The result is validated.
//
// With -h or --help, Load writes the help text to standard error and
// returns flag.ErrHelp.
func Load(args []string, lookupEnv func(string) (string, bool)) (*Config, error) {
	return load(args, lookupEnv, os.Stderr)
}

// load is Load with the help text written to usageOut.
func load(args []string, lookupEnv func(string) (string, bool), usageOut io.Writer) (*Config, error) {
	if lookupEnv == nil {
		lookupEnv = os.LookupEnv
	}

	// Parse the flags into a scratch Config to learn which were set.
	fromFlags := DefaultConfig()
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	for _, f := range fromFlags.flags() {
		fs.Var(&value{ptr: f.ptr}, f.name, f.usage)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			Usage(usageOut)
			return nil, flag.ErrHelp
		}
		return nil, fmt.Errorf("salvo server: %w", err)
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("salvo server: unexpected argument %q", fs.Arg(0))
	}
	set := make(map[string]bool)
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	cfg := DefaultConfig()
	path := fromFlags.ConfigFile
	if !set["config"] {
		path, _ = lookupEnv(envName("config"))
		path = strings.TrimSpace(path)
	}
	if path != "" {
		if err := cfg.loadFile(path); err != nil {
			return nil, err
		}
	}
	if err := cfg.applyEnv(lookupEnv); err != nil {
		return nil, err
	}
	src := fromFlags.flags()
	for i, f := range cfg.flags() {
		if set[f.name] {
			copyValue(f.ptr, src[i].ptr)
		}
	}
	cfg.ConfigFile = path
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid configuration: %w", err)
	}
	return cfg, nil
}

// applyEnv sets every field whose SALVO_* variable is set and not empty.
func (c *Config) applyEnv(lookupEnv func(string) (string, bool)) error {
	for _, f := range c.flags() {
		name := envName(f.name)
		s, ok := lookupEnv(name)
		if !ok || strings.TrimSpace(s) == "" {
			continue
		}
		if err := (&value{ptr: f.ptr}).Set(s); err != nil {
			return fmt.Errorf("environment variable %s: %w", name, err)
		}
	}
	return nil
}
