// Package flagenv fills flags from environment variables, so every flag of
// a Hookline binary has a HOOKLINE_* equivalent: --brokers reads
// HOOKLINE_BROKERS, --admin-addr reads HOOKLINE_ADMIN_ADDR. A flag given on
// the command line wins over the environment.
package flagenv

import (
	"flag"
	"fmt"
	"io"
	"strings"
)

// Prefix is prepended to every variable name.
const Prefix = "HOOKLINE_"

// Name returns the environment variable for a flag name.
func Name(flagName string) string {
	return Prefix + strings.ToUpper(strings.NewReplacer("-", "_", ".", "_").Replace(flagName))
}

// Apply sets every flag of fs that was not given on the command line from
// its environment variable, read with getenv. Call it after fs.Parse.
func Apply(fs *flag.FlagSet, getenv func(string) string) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if err != nil || given[f.Name] {
			return
		}
		v := getenv(Name(f.Name))
		if v == "" {
			return
		}
		if e := fs.Set(f.Name, v); e != nil {
			err = fmt.Errorf("%s: %w", Name(f.Name), e)
		}
	})
	return err
}

// Parse parses args into fs and then applies the environment. It also
// appends the environment variable names to the usage text of each flag.
func Parse(fs *flag.FlagSet, args []string, getenv func(string) string) error {
	fs.VisitAll(func(f *flag.Flag) {
		f.Usage += " (env " + Name(f.Name) + ")"
	})
	if err := fs.Parse(args); err != nil {
		return err
	}
	return Apply(fs, getenv)
}

// StringList is a flag.Value holding a comma-separated list.
type StringList []string

func (l *StringList) String() string { return strings.Join(*l, ",") }

// Type names the value for pflag (cobra) usage text.
func (l *StringList) Type() string { return "strings" }

// Set replaces the list with the comma-separated values of s.
func (l *StringList) Set(s string) error {
	*l = (*l)[:0]
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}

// ParseCommand parses the flags of the binary name, which register adds to
// a fresh flag set. --help prints "Usage: name [flags]", summary and the
// flags (each with its HOOKLINE_* variable) to stdout and returns
// flag.ErrHelp; other parse errors are printed to stderr and returned.
// Positional arguments are refused.
func ParseCommand(name, summary string, register func(*flag.FlagSet), args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fs.SetOutput(stdout)
		defer fs.SetOutput(stderr)
		fmt.Fprintf(stdout, "Usage: %s [flags]\n\n%s\n\nFlags:\n", name, summary)
		fs.PrintDefaults()
	}
	register(fs)
	if err := Parse(fs, args, getenv); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	return nil
}
