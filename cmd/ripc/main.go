// Command ripc administers a rip data directory: configuration
// generations, jobs, users, backups and mail. It works on the databases
// and the age key directly, also while the server runs.
//
//	ripc [-data DIR] COMMAND [ARGS]
//
// Exit codes: 0 success, 1 failure, 2 usage error.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/ripkit/rip"
)

// errUsage marks a command-line mistake (exit code 2).
var errUsage = errors.New("usage")

// command is one leaf subcommand.
type command struct {
	name    string // "config set"
	args    string // "KEY VALUE"
	summary string
	run     func(env *env, fs *flag.FlagSet, args []string) error
	flags   func(fs *flag.FlagSet)
}

// env is what every command gets.
type env struct {
	ctx    context.Context
	data   string
	stdout io.Writer
	stderr io.Writer
	admin  *rip.Admin
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes one ripc invocation and returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	top := flag.NewFlagSet("ripc", flag.ContinueOnError)
	top.SetOutput(stderr)
	data := top.String("data", "data", "rip data directory (app.db, logs.db, age.key)")
	top.Usage = func() { usage(stderr) }
	if err := top.Parse(args); err != nil {
		return 2
	}
	rest := top.Args()
	if len(rest) == 0 || rest[0] == "help" || rest[0] == "-h" {
		if len(rest) > 1 {
			if c := find(rest[1:]); c != nil {
				commandHelp(stdout, c)
				return 0
			}
		}
		usage(stdout)
		return 0
	}
	c := find(rest)
	if c == nil {
		fmt.Fprintf(stderr, "ripc: unknown command %q\n\n", strings.Join(rest, " "))
		usage(stderr)
		return 2
	}
	words := len(strings.Fields(c.name))
	fs := flag.NewFlagSet("ripc "+c.name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	if c.flags != nil {
		c.flags(fs)
	}
	fs.Usage = func() { commandHelp(stderr, c) }
	if err := fs.Parse(interspersed(fs, rest[words:])); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	e := &env{ctx: context.Background(), data: *data, stdout: stdout, stderr: stderr}
	err := c.run(e, fs, fs.Args())
	if e.admin != nil {
		e.admin.Close()
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "ripc %s: %v\n", c.name, err)
		commandHelp(stderr, c)
		return 2
	default:
		fmt.Fprintf(stderr, "ripc %s: %v\n", c.name, err)
		return 1
	}
}

// interspersed moves flags that follow positional arguments to the front,
// so `ripc config list --json` and `ripc config list -json` both work.
func interspersed(fs *flag.FlagSet, args []string) []string {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if strings.HasPrefix(a, "-") && len(a) > 1 {
			flags = append(flags, a)
			name := strings.TrimLeft(strings.SplitN(a, "=", 2)[0], "-")
			if f := fs.Lookup(name); f != nil && !strings.Contains(a, "=") && !isBool(f) && i+1 < len(args) {
				flags = append(flags, args[i+1])
				i++
			}
			continue
		}
		pos = append(pos, a)
	}
	// The "--" keeps a positional argument that looks like a flag ("-3")
	// positional.
	return append(append(flags, "--"), pos...)
}

func isBool(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// find returns the longest command whose name prefixes args.
func find(args []string) *command {
	var best *command
	for i := range commands {
		c := &commands[i]
		words := strings.Fields(c.name)
		if len(words) <= len(args) && strings.Join(args[:len(words)], " ") == c.name {
			if best == nil || len(words) > len(strings.Fields(best.name)) {
				best = c
			}
		}
	}
	return best
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: ripc [-data DIR] COMMAND [ARGS]\n\nCommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-34s %s\n", strings.TrimSpace(c.name+" "+c.args), c.summary)
	}
	fmt.Fprintln(w, "\nRun 'ripc help COMMAND' for details. Exit codes: 0 ok, 1 failure, 2 usage error.")
}

func commandHelp(w io.Writer, c *command) {
	fmt.Fprintf(w, "usage: ripc [-data DIR] %s %s\n\n%s\n", c.name, c.args, c.summary)
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	if c.flags != nil {
		c.flags(fs)
		fs.SetOutput(w)
		fmt.Fprintln(w, "\nFlags:")
		fs.PrintDefaults()
	}
}

// open opens the data directory for a command.
func (e *env) open(create bool) error {
	ad, err := rip.OpenAdmin(rip.Options{DB: filepath.Join(e.data, "app.db"), Create: create})
	if err != nil {
		return err
	}
	e.admin = ad
	return nil
}

// wantArgs checks the positional argument count.
func wantArgs(args []string, n int) error {
	if len(args) != n {
		return fmt.Errorf("%w: want %d argument(s), got %d", errUsage, n, len(args))
	}
	return nil
}
