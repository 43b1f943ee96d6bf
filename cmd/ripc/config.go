package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/ripkit/rip"
)

// maxConfigFileBytes caps `config save FILE` (the store refuses more).
const maxConfigFileBytes = 1 << 20

var commands = []command{
	{name: "config init", summary: "create the data directory, the age key and configuration generation 1 with fresh secrets (no-op when they exist)", run: configInit},
	{name: "config dump", summary: "print the effective configuration as TOML (secrets masked)", run: configDump, flags: scopeGenReveal},
	{name: "config get", args: "KEY", summary: "print one key of the effective configuration (e.g. server.addr)", run: configGet, flags: revealFlag},
	{name: "config set", args: "KEY VALUE", summary: "set one key (VALUE is a TOML literal or a bare string), validate, store a new generation", run: configSet, flags: descFlag},
	{name: "config save", args: "FILE", summary: "validate a TOML file and store it as a new generation (- reads stdin)", run: configSave, flags: scopeDesc},
	{name: "config list", summary: "list stored generations, newest first", run: configList, flags: listFlags},
	{name: "config diff", args: "GEN [GEN]", summary: "show the difference between two generations (default: GEN and the newest)", run: configDiff, flags: scopeReveal},
	{name: "config rollback", args: "GEN", summary: "store a copy of generation GEN as the newest generation", run: configRollback, flags: scopeFlag},
	{name: "config scopes", summary: "list the scopes that hold configuration", run: configScopes},
	{name: "config keys", summary: "list every key of rip's configuration", run: configKeys},
	{name: "job list", summary: "list jobs, newest first", run: jobList, flags: jobListFlags},
	{name: "job add", args: "TYPE [PAYLOAD_JSON]", summary: "enqueue a job (a running server picks it up at its next poll)", run: jobAdd, flags: jobAddFlags},
	{name: "job rm", args: "ID", summary: "delete a job, whatever its status", run: jobRemove},
	{name: "job retry", args: "ID", summary: "put a failed job back in the queue with its attempts reset", run: jobRetry},
	{name: "user list", summary: "list accounts, newest first (never hashes or keys)", run: userList, flags: userListFlags},
	{name: "user revoke", args: "EMAIL", summary: "end every session, pending code and reset grant of an account", run: userRevoke},
	{name: "backup now", summary: "back up app.db (and logs.db with backup.include_logs) into backup.dir now, with progress", run: backupNow, flags: jsonFlag},
	{name: "backup list", summary: "list the archives in backup.dir, newest first", run: backupList, flags: jsonFlag},
	{name: "backup verify", args: "FILE", summary: "check an archive as a restore would (gzip CRC, integrity_check, schema version); changes nothing", run: backupVerify},
	{name: "backup restore", args: "FILE", summary: "replace app.db or logs.db with a checked archive, keeping the current one aside (server stopped)", run: backupRestore},
	{name: "backup litestream", summary: "print a starter litestream.yml for this data directory", run: backupLitestream, flags: litestreamFlags},
	{name: "mail test", args: "ADDRESS", summary: "send a test mail with the [smtp] settings and print the SMTP dialogue (secrets redacted)", run: mailTest, flags: mailTestFlags},
}

func scopeFlag(fs *flag.FlagSet) { fs.String("scope", rip.ScopeApplication, "configuration scope") }
func descFlag(fs *flag.FlagSet)  { fs.String("desc", "", "description of the new generation") }
func revealFlag(fs *flag.FlagSet) {
	fs.Bool("reveal", false, "print secrets instead of REDACTED")
}
func scopeDesc(fs *flag.FlagSet)   { scopeFlag(fs); descFlag(fs) }
func scopeReveal(fs *flag.FlagSet) { scopeFlag(fs); revealFlag(fs) }
func scopeGenReveal(fs *flag.FlagSet) {
	scopeReveal(fs)
	fs.Int("gen", 0, "generation (0 = newest)")
}
func listFlags(fs *flag.FlagSet) {
	fs.String("scope", "", "only this scope (default: every scope)")
	fs.Bool("json", false, "print JSON")
}

func str(fs *flag.FlagSet, name string) string { return fs.Lookup(name).Value.String() }
func boolean(fs *flag.FlagSet, name string) bool {
	return fs.Lookup(name).Value.(flag.Getter).Get().(bool)
}

func configInit(e *env, fs *flag.FlagSet, args []string) error {
	if err := wantArgs(args, 0); err != nil {
		return err
	}
	if err := e.open(true); err != nil {
		return err
	}
	created, err := e.admin.InitConfig(e.ctx)
	if err != nil {
		return err
	}
	if created {
		fmt.Fprintf(e.stdout, "created configuration generation 1 in %s\n", e.data)
	} else {
		fmt.Fprintf(e.stdout, "configuration already present in %s; nothing changed\n", e.data)
	}
	return nil
}

func configDump(e *env, fs *flag.FlagSet, args []string) error {
	if err := wantArgs(args, 0); err != nil {
		return err
	}
	gen, _ := strconv.Atoi(str(fs, "gen"))
	if err := e.open(false); err != nil {
		return err
	}
	text, _, err := e.admin.MaskedConfigText(e.ctx, str(fs, "scope"), gen, boolean(fs, "reveal"))
	if err != nil {
		return err
	}
	_, err = e.stdout.Write(text)
	return err
}

func configGet(e *env, fs *flag.FlagSet, args []string) error {
	if err := wantArgs(args, 1); err != nil {
		return err
	}
	if err := e.open(false); err != nil {
		return err
	}
	v, err := e.admin.ConfigKey(e.ctx, args[0], boolean(fs, "reveal"))
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, v)
	return nil
}

func configSet(e *env, fs *flag.FlagSet, args []string) error {
	if err := wantArgs(args, 2); err != nil {
		return err
	}
	if err := e.open(false); err != nil {
		return err
	}
	gen, err := e.admin.SetConfigKey(e.ctx, args[0], args[1], str(fs, "desc"))
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "stored generation %d; send SIGHUP to the server (or restart it) to apply\n", gen)
	return nil
}

func configSave(e *env, fs *flag.FlagSet, args []string) error {
	if err := wantArgs(args, 1); err != nil {
		return err
	}
	var r io.Reader = os.Stdin
	if args[0] != "-" {
		f, err := os.Open(args[0])
		if err != nil {
			return err
		}
		defer f.Close()
		r = f
	}
	text, err := io.ReadAll(io.LimitReader(r, maxConfigFileBytes+1))
	if err != nil {
		return err
	}
	if len(text) > maxConfigFileBytes {
		return fmt.Errorf("%s is larger than %d bytes", args[0], maxConfigFileBytes)
	}
	if err := e.open(false); err != nil {
		return err
	}
	desc := str(fs, "desc")
	if desc == "" {
		desc = "saved from " + args[0]
	}
	gen, err := e.admin.SaveConfig(e.ctx, str(fs, "scope"), desc, text)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "stored generation %d of scope %s\n", gen, str(fs, "scope"))
	return nil
}

func configList(e *env, fs *flag.FlagSet, args []string) error {
	if err := wantArgs(args, 0); err != nil {
		return err
	}
	if err := e.open(false); err != nil {
		return err
	}
	gens, err := e.admin.ConfigGenerations(e.ctx, str(fs, "scope"))
	if err != nil {
		return err
	}
	if boolean(fs, "json") {
		if gens == nil {
			gens = []rip.ConfigGeneration{}
		}
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(gens)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SCOPE\tGEN\tCREATED\tDESCRIPTION")
	for _, g := range gens {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", g.Scope, g.Generation, g.CreatedAt.Format("2006-01-02 15:04:05Z07:00"), g.Description)
	}
	return tw.Flush()
}

func configDiff(e *env, fs *flag.FlagSet, args []string) error {
	if len(args) < 1 || len(args) > 2 {
		return fmt.Errorf("%w: want 1 or 2 generations", errUsage)
	}
	gens := make([]int, 2)
	for i, a := range args {
		n, err := strconv.Atoi(a)
		if err != nil || n < 1 {
			return fmt.Errorf("%w: generation must be a positive number, got %q", errUsage, a)
		}
		gens[i] = n
	}
	if err := e.open(false); err != nil {
		return err
	}
	scope, reveal := str(fs, "scope"), boolean(fs, "reveal")
	a, ma, err := e.admin.MaskedConfigText(e.ctx, scope, gens[0], reveal)
	if err != nil {
		return err
	}
	b, mb, err := e.admin.MaskedConfigText(e.ctx, scope, gens[1], reveal)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "--- %s generation %d\n+++ %s generation %d\n", scope, ma.Generation, scope, mb.Generation)
	fmt.Fprint(e.stdout, diffLines(string(a), string(b)))
	return nil
}

func configRollback(e *env, fs *flag.FlagSet, args []string) error {
	if err := wantArgs(args, 1); err != nil {
		return err
	}
	gen, err := strconv.Atoi(args[0])
	if err != nil || gen < 1 {
		return fmt.Errorf("%w: generation must be a positive number, got %q", errUsage, args[0])
	}
	if err := e.open(false); err != nil {
		return err
	}
	n, err := e.admin.RollbackConfig(e.ctx, str(fs, "scope"), gen)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "stored generation %d as a copy of generation %d; send SIGHUP to apply\n", n, gen)
	return nil
}

func configScopes(e *env, fs *flag.FlagSet, args []string) error {
	if err := wantArgs(args, 0); err != nil {
		return err
	}
	if err := e.open(false); err != nil {
		return err
	}
	scopes, err := e.admin.ConfigScopes(e.ctx)
	if err != nil {
		return err
	}
	for _, s := range scopes {
		fmt.Fprintln(e.stdout, s)
	}
	return nil
}

func configKeys(e *env, fs *flag.FlagSet, args []string) error {
	if err := wantArgs(args, 0); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, strings.Join(rip.ConfigKeys(), "\n"))
	return nil
}

// diffLines returns the lines that differ between a and b, "-" for
// removed and "+" for added, in order (a longest-common-subsequence diff;
// configurations are small).
func diffLines(a, b string) string {
	x, y := strings.Split(strings.TrimSuffix(a, "\n"), "\n"), strings.Split(strings.TrimSuffix(b, "\n"), "\n")
	lcs := make([][]int, len(x)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(y)+1)
	}
	for i := len(x) - 1; i >= 0; i-- {
		for j := len(y) - 1; j >= 0; j-- {
			if x[i] == y[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out strings.Builder
	for i, j := 0, 0; i < len(x) || j < len(y); {
		switch {
		case i < len(x) && j < len(y) && x[i] == y[j]:
			i, j = i+1, j+1
		case j < len(y) && (i == len(x) || lcs[i][j+1] >= lcs[i+1][j]):
			out.WriteString("+" + y[j] + "\n")
			j++
		default:
			out.WriteString("-" + x[i] + "\n")
			i++
		}
	}
	return out.String()
}
