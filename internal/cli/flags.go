package cli

import "flag"

// ParseInterleaved parses args with fs where flags may come after
// arguments, as in "salvo run web-1 web-2 --path /x" or "salvo status JOB
// --wait 1m", and returns the arguments in order; after "--" everything
// is an argument.
func ParseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var out []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return out, nil
		}
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(out, rest...), nil
		}
		out = append(out, rest[0])
		args = rest[1:]
	}
}
