package rip

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// fillRows creates table backup_rows in ta's app.db with n rows of
// size bytes each.
func fillRows(t testing.TB, a *App, n, size int) {
	t.Helper()
	err := a.Write(context.Background(), func(conn *sqlite.Conn) error {
		if err := sqlitex.ExecuteTransient(conn, "CREATE TABLE IF NOT EXISTS backup_rows (id INTEGER PRIMARY KEY, v BLOB)", nil); err != nil {
			return err
		}
		for i := 0; i < n; i++ {
			if err := sqlitex.Execute(conn, "INSERT INTO backup_rows (v) VALUES (randomblob(?))", &sqlitex.ExecOptions{Args: []any{size}}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// countRows counts backup_rows in the database file at path.
func countRows(t testing.TB, path string) int {
	t.Helper()
	conn, err := sqlite.OpenConn(path, sqlite.OpenReadOnly)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	n := -1
	err = sqlitex.ExecuteTransient(conn, "SELECT count(*) FROM backup_rows", &sqlitex.ExecOptions{
		ResultFunc: func(s *sqlite.Stmt) error { n = s.ColumnInt(0); return nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// unpackForTest decompresses an archive into a temp file and returns it.
func unpackForTest(t *testing.T, path string) string {
	t.Helper()
	tmp, _, err := unpackBackup(path, t.TempDir(), "app", nil)
	if err != nil {
		t.Fatal(err)
	}
	return tmp
}

func TestBackupStrategies(t *testing.T) {
	for _, strategy := range []string{backupOnline, backupVacuum} {
		t.Run(strategy, func(t *testing.T) {
			ta := newTestApp(t)
			fillRows(t, ta.App, 500, 1000)
			cfg := ta.Config().Backup
			cfg.Strategy = strategy
			cfg.PagesPerStep = 16
			cfg.StepSleep = 0
			var steps int
			info, err := ta.backupOne(context.Background(), ta.dbs.app, "app", cfg, ta.clock.Now(), func(stage string, done, total int64) { steps++ })
			if err != nil {
				t.Fatal(err)
			}
			want := fmt.Sprintf("app_%s_%s.bck.gz", ta.clock.Now().UTC().Format(backupTimestamp), strategy)
			if filepath.Base(info.Path) != want || filepath.Dir(info.Path) != filepath.Join(ta.dir, "backups") {
				t.Fatalf("archive %s, want backups/%s", info.Path, want)
			}
			st, err := os.Stat(info.Path)
			if err != nil || st.Mode().Perm() != backupFileMode {
				t.Fatalf("archive mode: %v %v", st.Mode(), err)
			}
			if info.SchemaVersion != latestMigration("app") || info.DBBytes < 500*1000 || steps < 2 {
				t.Fatalf("info %+v, progress calls %d", info, steps)
			}
			if n := countRows(t, unpackForTest(t, info.Path)); n != 500 {
				t.Fatalf("archive holds %d rows, want 500", n)
			}
			v, err := VerifyBackup(info.Path, nil)
			if err != nil || v.DBBytes != info.DBBytes {
				t.Fatalf("verify: %+v %v", v, err)
			}
			s := ta.backups.stats["app"]
			if s.lastGood.Load() == 0 || s.lastDuration.Load() <= 0 {
				t.Fatal("stats not recorded")
			}
			var exp strings.Builder
			if err := ta.metrics.writeText(&exp); err != nil {
				t.Fatal(err)
			}
			if want := "rip_backup_last_success_timestamp_seconds 1."; !strings.Contains(exp.String(), want) {
				t.Fatalf("metrics lack %q:\n%s", want, exp.String())
			}
			left, _ := filepath.Glob(filepath.Join(ta.dir, "backups", ".*"))
			if len(left) != 0 {
				t.Fatalf("temporary files left: %v", left)
			}
		})
	}
}

// TestBackupOnlineRestartsBounded: writes between paced steps restart
// the online copy; after max_restarts it finishes in one step, and the
// copy is consistent.
func TestBackupOnlineRestartsBounded(t *testing.T) {
	ta := newTestApp(t)
	fillRows(t, ta.App, 400, 1000)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var writes atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			if ta.Write(ctx, func(conn *sqlite.Conn) error {
				return sqlitex.Execute(conn, "INSERT INTO backup_rows (v) VALUES (randomblob(100))", nil)
			}) == nil {
				writes.Add(1)
			}
		}
	}()
	cfg := ta.Config().Backup
	cfg.PagesPerStep, cfg.StepSleep, cfg.MaxRestarts = 1, time.Millisecond, 2
	info, err := backupDatabase(context.Background(), ta.dbs.app, backupParams{cfg: cfg, dir: t.TempDir(), stem: "app", dbName: "app", now: ta.clock.Now()})
	cancel()
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if writes.Load() == 0 {
		t.Fatal("no write ran during the backup")
	}
	if n := countRows(t, unpackForTest(t, info.Path)); n < 400 {
		t.Fatalf("copy holds %d rows", n)
	}
}

func TestBackupRetentionAndFailure(t *testing.T) {
	ta := newTestApp(t)
	fillRows(t, ta.App, 10, 100)
	cfg := ta.Config().Backup
	cfg.Retention = 2
	var made []string
	for i := 0; i < 4; i++ {
		info, err := ta.backupOne(context.Background(), ta.dbs.app, "app", cfg, ta.clock.Now(), nil)
		if err != nil {
			t.Fatal(err)
		}
		made = append(made, info.Path)
		ta.clock.Advance(time.Hour)
	}
	have, _ := listBackups(filepath.Join(ta.dir, "backups"), "app")
	if len(have) != 2 || have[0].Path != made[3] || have[1].Path != made[2] {
		t.Fatalf("kept %v, want the newest two of %v", have, made)
	}
	// A failing run (here: cancelled) keeps both archives and notifies.
	var notified []string
	ta.onBackupFailure = func(db string, err error) { notified = append(notified, db+": "+err.Error()) }
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := ta.backupOne(ctx, ta.dbs.app, "app", cfg, ta.clock.Now(), nil); err == nil {
		t.Fatal("cancelled backup succeeded")
	}
	after, _ := listBackups(filepath.Join(ta.dir, "backups"), "app")
	if len(after) != 2 || after[0].Path != made[3] {
		t.Fatalf("a failed backup changed the archives: %v", after)
	}
	if len(notified) != 1 || !strings.Contains(ta.logs.String(), "backup failed") || ta.backups.stats["app"].failures.Load() != 1 {
		t.Fatalf("failure not raised: %v\n%s", notified, ta.logs)
	}
	// Same second, same name: the existing archive is not replaced.
	ta.clock.Advance(-time.Hour)
	if _, err := ta.backupOne(context.Background(), ta.dbs.app, "app", cfg, ta.clock.Now(), nil); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("backup over an existing name: %v", err)
	}
}

// TestBackupJob: the recurrent handler backs up when the newest archive
// is older than backup.interval, and only then.
func TestBackupJob(t *testing.T) {
	ta := newTestApp(t, func(c *Config) { c.Backup.IncludeLogs = true; c.Backup.Interval = time.Hour })
	dir := filepath.Join(ta.dir, "backups")
	run := func() {
		t.Helper()
		if err := ta.runBackupJob(context.Background(), nil); err != nil {
			t.Fatal(err)
		}
	}
	run()
	if b, _ := listBackups(dir, ""); len(b) != 2 {
		t.Fatalf("first run made %v, want app and logs", b)
	}
	ta.clock.Advance(59 * time.Minute)
	run()
	if b, _ := listBackups(dir, ""); len(b) != 2 {
		t.Fatalf("run before the interval made %v", b)
	}
	ta.clock.Advance(2 * time.Minute)
	run()
	if b, _ := listBackups(dir, "app"); len(b) != 2 {
		t.Fatalf("run after the interval: %v", b)
	}
}

func TestBackupJobScheduled(t *testing.T) {
	ta := newTestApp(t)
	ta.scheduleBuiltinJobs(context.Background())
	ta.scheduleBuiltinJobs(context.Background()) // a restart adds no copy
	var n int
	ta.Read(context.Background(), func(conn *sqlite.Conn) error {
		return sqlitex.Execute(conn, "SELECT count(*) FROM job_queue WHERE type = ? AND interval_ms = ?", &sqlitex.ExecOptions{
			Args:       []any{jobTypeBackup, backupCheckInterval.Milliseconds()},
			ResultFunc: func(s *sqlite.Stmt) error { n = s.ColumnInt(0); return nil },
		})
	})
	if n != 1 {
		t.Fatalf("%d recurrent backup jobs, want 1", n)
	}
}

func TestVerifyRejects(t *testing.T) {
	ta := newTestApp(t)
	fillRows(t, ta.App, 200, 1000)
	info, err := ta.backupOne(context.Background(), ta.dbs.app, "app", ta.Config().Backup, ta.clock.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	good, _ := os.ReadFile(info.Path)
	dir := t.TempDir()
	name := filepath.Base(info.Path)
	gz := func(b []byte) []byte {
		var buf bytes.Buffer
		w := gzip.NewWriter(&buf)
		w.Write(b)
		w.Close()
		return buf.Bytes()
	}
	raw, _ := os.ReadFile(unpackForTest(t, info.Path))
	corrupt := bytes.Clone(raw)
	for i := 8192; i < len(corrupt) && i < 8192+4096; i++ { // a b-tree page
		corrupt[i] ^= 0x5a
	}
	flipped := bytes.Clone(good)
	flipped[len(flipped)/2] ^= 1
	for _, tc := range []struct {
		name, file string
		data       []byte
		want       string
	}{
		{"truncated", name, good[:len(good)/2], "truncated"},
		{"bit flip", name, flipped, "corrupt"},
		{"not gzip", name, []byte("hello"), "not a gzip"},
		{"not a database", name, gz([]byte(strings.Repeat("x", 8192))), "not a database"},
		{"corrupt pages", name, gz(corrupt), "integrity"},
		{"bad name", "backup.gz", good, "not named like"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, tc.name, tc.file)
			os.MkdirAll(filepath.Dir(p), 0o700)
			os.WriteFile(p, tc.data, 0o600)
			_, err := VerifyBackup(p, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
		})
	}
}

func TestRestoreBackup(t *testing.T) {
	ta := newTestApp(t)
	fillRows(t, ta.App, 30, 100)
	info, err := ta.backupOne(context.Background(), ta.dbs.app, "app", ta.Config().Backup, ta.clock.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	fillRows(t, ta.App, 5, 100)
	// The app holds the data lock: restore refuses and changes nothing.
	if _, err := RestoreBackup(ta.opts, info.Path, nil); !errors.Is(err, ErrServerRunning) || !strings.Contains(err.Error(), "stop it") {
		t.Fatalf("restore beside a running app: %v", err)
	}
	if n := countRows(t, ta.opts.DB); n != 35 {
		t.Fatalf("refused restore changed the database: %d rows", n)
	}
	ta.Close()
	// A truncated archive is refused before anything moves.
	bad := filepath.Join(t.TempDir(), filepath.Base(info.Path))
	good, _ := os.ReadFile(info.Path)
	os.WriteFile(bad, good[:len(good)-10], 0o600)
	if _, err := RestoreBackup(ta.opts, bad, nil); err == nil {
		t.Fatal("restored a truncated archive")
	}
	var stages []string
	aside, err := RestoreBackup(ta.opts, info.Path, func(stage string, done, total int64) { stages = append(stages, stage) })
	if err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, ta.opts.DB); n != 30 {
		t.Fatalf("restored database has %d rows, want 30", n)
	}
	if n := countRows(t, aside); n != 35 {
		t.Fatalf("kept-aside database has %d rows, want 35", n)
	}
	if !strings.Contains(strings.Join(stages, " "), "decompress") {
		t.Fatalf("no progress: %v", stages)
	}
	// The restored data directory opens as an app again.
	a, err := New(Options{DB: ta.opts.DB, Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
}
