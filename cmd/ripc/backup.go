package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/ripkit/rip"
)

func jsonFlag(fs *flag.FlagSet) { fs.Bool("json", false, "print JSON") }

func litestreamFlags(fs *flag.FlagSet) {
	fs.String("replica", "", "replica: a directory, or a Litestream URL such as s3://bucket/rip or sftp://user@host/path (required)")
	fs.Bool("logs", false, "replicate logs.db too")
}

// progressPrinter prints one line per stage and whole percent to w: the
// operator of a multi-gigabyte restore sees it move.
func progressPrinter(w io.Writer) rip.BackupProgress {
	lastStage, lastPct := "", -1
	return func(stage string, done, total int64) {
		pct := -1
		if total > 0 {
			pct = int(done * 100 / total)
		}
		if stage == lastStage && (pct == lastPct || pct%5 != 0) {
			return
		}
		lastStage, lastPct = stage, pct
		if pct < 0 {
			fmt.Fprintf(w, "%s…\n", stage)
			return
		}
		fmt.Fprintf(w, "%s: %3d%%\n", stage, pct)
	}
}

func printBackups(e *env, fs *flag.FlagSet, list []rip.BackupInfo) error {
	if boolean(fs, "json") {
		if list == nil {
			list = []rip.BackupInfo{}
		}
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(list)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DB\tTIME\tSTRATEGY\tBYTES\tPATH")
	for _, b := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", b.DB, b.Time.Format(time.RFC3339), b.Strategy, b.Bytes, b.Path)
	}
	return tw.Flush()
}

func backupNow(e *env, fs *flag.FlagSet, args []string) error {
	if err := wantArgs(args, 0); err != nil {
		return err
	}
	if err := e.open(false); err != nil {
		return err
	}
	list, err := e.admin.BackupNow(e.ctx, progressPrinter(e.stderr))
	if err != nil {
		return err
	}
	return printBackups(e, fs, list)
}

func backupList(e *env, fs *flag.FlagSet, args []string) error {
	if err := wantArgs(args, 0); err != nil {
		return err
	}
	if err := e.open(false); err != nil {
		return err
	}
	list, err := e.admin.Backups(e.ctx)
	if err != nil {
		return err
	}
	return printBackups(e, fs, list)
}

func backupVerify(e *env, fs *flag.FlagSet, args []string) error {
	if err := wantArgs(args, 1); err != nil {
		return err
	}
	info, err := rip.VerifyBackup(args[0], progressPrinter(e.stderr))
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "ok: %s is a %s backup of %s.db from %s, %d bytes, schema version %d, integrity_check ok\n",
		info.Path, info.Strategy, info.DB, info.Time.Format(time.RFC3339), info.DBBytes, info.SchemaVersion)
	return nil
}

func backupRestore(e *env, fs *flag.FlagSet, args []string) error {
	if err := wantArgs(args, 1); err != nil {
		return err
	}
	aside, err := rip.RestoreBackup(rip.Options{DB: filepath.Join(e.data, "app.db")}, args[0], progressPrinter(e.stderr))
	if errors.Is(err, rip.ErrServerRunning) {
		return fmt.Errorf("%v\nnothing was changed", err)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "restored %s into %s\n", args[0], e.data)
	if aside != "" {
		fmt.Fprintf(e.stdout, "the previous database is kept as %s (delete it once the restored data is confirmed)\n", aside)
	}
	fmt.Fprintln(e.stdout, "if Litestream replicates this directory, remove its .app.db-litestream directory before starting it again")
	return nil
}

func backupLitestream(e *env, fs *flag.FlagSet, args []string) error {
	if err := wantArgs(args, 0); err != nil {
		return err
	}
	replica := str(fs, "replica")
	if replica == "" {
		return fmt.Errorf("%w: --replica is required", errUsage)
	}
	text, err := rip.LitestreamConfig(rip.Options{DB: filepath.Join(e.data, "app.db")}, replica, boolean(fs, "logs"))
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	_, err = e.stdout.Write(text)
	return err
}
