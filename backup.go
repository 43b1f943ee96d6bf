package rip

import (
	"bufio"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// Backups in one paragraph: a recurrent job (rip.backup) wakes every
// minute and, for app.db (and logs.db with backup.include_logs), makes a
// backup when the newest archive in backup.dir is older than
// backup.interval. A backup copies the live database into a temporary
// file with the SQLite online backup API or VACUUM INTO — neither holds
// the write lock, so writers go on — checks the copy (integrity_check,
// schema version), gzips it to a second temporary file, fsyncs it,
// re-reads it to prove the archive decompresses to the same bytes, and
// only then links it under its final name
// <db>_<UTC timestamp>_<strategy>.bck.gz and fsyncs the directory. Old
// archives beyond backup.retention are deleted only after a new one is in
// place; a failed run deletes nothing but its own temporary files.

// Backup strategies (backup.strategy).
const (
	backupOnline = "online" // SQLite online backup API, paced
	backupVacuum = "vacuum" // VACUUM INTO from a read connection
)

// Limits and timings of the backup machinery.
const (
	jobTypeBackup = "rip.backup"
	// backupCheckInterval is how often the recurrent job looks whether a
	// backup is due; backup.interval decides whether one is made, so a
	// reloaded interval takes effect without rescheduling anything.
	backupCheckInterval = time.Minute
	// backupRetryDelay is the pause after a failed backup before the next
	// attempt, so a broken disk raises one notification per delay, not
	// one per minute.
	backupRetryDelay = 10 * time.Minute
	// backupStaleTempAge is how old a temporary file in backup.dir must be
	// before a backup deletes it as the leftover of a crashed run (a
	// younger one may belong to a backup running in ripc).
	backupStaleTempAge = 24 * time.Hour
	// maxBackupDBBytes caps what verify and restore decompress: an
	// archive that inflates beyond it is refused, not written out.
	maxBackupDBBytes = 1 << 40 // 1 TiB
	// backupTimestamp is the UTC time in archive names.
	backupTimestamp = "20060102T150405Z"
	backupSuffix    = ".bck.gz"
	backupFileMode  = 0o600 // archives hold password hashes
	backupDirMode   = 0o700
	// backupProgressEvery is how often (in bytes or pages of work) a
	// progress callback is called at most.
	backupProgressEvery = 4 << 20 // 4 MiB
)

// backupNameRE matches an archive name: database stem, UTC time, strategy.
var backupNameRE = regexp.MustCompile(`^(.+)_([0-9]{8}T[0-9]{6}Z)_(online|vacuum)\.bck\.gz$`)

// BackupInfo describes one backup archive.
type BackupInfo struct {
	Path     string    `json:"path"`
	DB       string    `json:"db"` // "app" or "logs" (the database file's stem)
	Strategy string    `json:"strategy"`
	Time     time.Time `json:"time"`  // from the name, UTC
	Bytes    int64     `json:"bytes"` // size of the archive
	// The fields below are known only after a backup or a verify.
	DBBytes       int64         `json:"db_bytes,omitempty"`       // size of the database inside
	SchemaVersion int           `json:"schema_version,omitempty"` // newest migration in the copy
	Duration      time.Duration `json:"duration,omitempty"`       // how long the backup took
}

// BackupProgress, when not nil, is called during long backup, verify and
// restore steps with the stage ("copy", "compress", "decompress", "check")
// and how much of total is done (pages or bytes; total 0 = unknown).
type BackupProgress func(stage string, done, total int64)

// backupParams is one backup run.
type backupParams struct {
	cfg      BackupConfig
	dir      string // absolute backup directory
	stem     string // "app" or "logs"
	dbName   string // migration set: "app" or "logs"
	now      time.Time
	progress BackupProgress
}

// backupStats holds the outcome of the newest backups of one database,
// for a metrics exporter (last good backup time and duration, failures).
// Its fields are atomic: the backup job writes them, anyone reads them.
type backupStats struct {
	lastGood     atomic.Int64 // unix nanoseconds of the newest good backup; 0 = none in this process
	lastDuration atomic.Int64 // nanoseconds the newest good backup took
	failures     atomic.Int64 // failed backups since start
	lastFailure  atomic.Int64 // unix nanoseconds of the newest failure (for backupRetryDelay)
}

// backupDir resolves backup.dir: a relative directory is relative to the
// directory of app.db, so the data directory can move as a whole.
func backupDir(cfg BackupConfig, appDB string) string {
	if filepath.IsAbs(cfg.Dir) {
		return cfg.Dir
	}
	return filepath.Join(filepath.Dir(appDB), cfg.Dir)
}

// dbStem is the archive prefix of a database file: "app" for app.db.
func dbStem(path string) string {
	return strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
}

// backupDatabase makes one verified archive of db.
//
// # Security
//
// Durability: the archive appears under its final name only after the
// copy passed integrity_check and the schema check, the gzip stream was
// fsynced and re-read to the same SHA-256, and it is linked (never
// renamed) into place, so an existing archive of the same name is never
// replaced; the directory is fsynced after. Any failure removes only
// this run's temporary files. Archives are written mode 0600 in a 0700
// directory: they contain password hashes and the encrypted
// configuration.
func backupDatabase(ctx context.Context, db *database, p backupParams) (info BackupInfo, err error) {
	start := time.Now()
	if err := os.MkdirAll(p.dir, backupDirMode); err != nil {
		return info, fmt.Errorf("rip: backup directory: %w", err)
	}
	removeStaleTemps(p.dir, p.stem, time.Now())
	name := fmt.Sprintf("%s_%s_%s%s", p.stem, p.now.UTC().Format(backupTimestamp), p.cfg.Strategy, backupSuffix)
	final := filepath.Join(p.dir, name)
	if _, err := os.Lstat(final); err == nil {
		return info, fmt.Errorf("rip: backup %s already exists; not replacing it", final)
	}
	tag := randomTag()
	tmpDB := filepath.Join(p.dir, "."+p.stem+"_"+tag+".tmp-db")
	tmpGz := filepath.Join(p.dir, "."+name+"."+tag+".tmp")
	defer func() {
		removeDBFiles(tmpDB)
		os.Remove(tmpGz)
	}()
	switch p.cfg.Strategy {
	case backupVacuum:
		err = vacuumCopy(ctx, db, tmpDB)
	default:
		err = onlineCopy(ctx, db, tmpDB, p.cfg, p.progress)
	}
	if err != nil {
		return info, fmt.Errorf("rip: backup %s (%s): %w", p.stem, p.cfg.Strategy, err)
	}
	version, err := checkCopy(tmpDB, p.dbName, true)
	if err != nil {
		return info, fmt.Errorf("rip: backup %s: the copy failed its check: %w", p.stem, err)
	}
	sum, dbBytes, err := gzipFile(tmpDB, tmpGz, p.progress)
	if err != nil {
		return info, fmt.Errorf("rip: backup %s: compress: %w", p.stem, err)
	}
	again, _, err := gunzipTo(tmpGz, io.Discard, nil)
	if err != nil || again != sum {
		return info, fmt.Errorf("rip: backup %s: the archive does not read back to the copy (%v)", p.stem, err)
	}
	// Link, unlike rename, fails when final exists: two runs in the same
	// second (the server's job and `ripc backup now`) cannot replace each
	// other's good archive.
	if err := os.Link(tmpGz, final); err != nil {
		return info, fmt.Errorf("rip: backup %s: %w", p.stem, err)
	}
	if err := syncDir(p.dir); err != nil {
		return info, fmt.Errorf("rip: backup %s: sync directory: %w", p.stem, err)
	}
	st, err := os.Stat(final)
	if err != nil {
		return info, err
	}
	return BackupInfo{
		Path: final, DB: p.stem, Strategy: p.cfg.Strategy, Time: p.now.UTC().Truncate(time.Second),
		Bytes: st.Size(), DBBytes: dbBytes, SchemaVersion: version, Duration: time.Since(start),
	}, nil
}

// onlineCopy copies db into path with the SQLite online backup API,
// cfg.PagesPerStep pages at a time with cfg.StepSleep between steps, on a
// read connection.
//
// Between steps the source is unlocked, and a write from another
// connection makes SQLite restart the copy from page 1; under steady
// writes a paced copy might never finish. After cfg.MaxRestarts restarts
// the rest is copied in one step: in WAL mode that step is one read
// transaction, which does not block writers (it only holds back
// checkpoints for its duration).
func onlineCopy(ctx context.Context, db *database, path string, cfg BackupConfig, progress BackupProgress) error {
	src, err := db.reader.Take(ctx)
	if err != nil {
		return err
	}
	defer db.reader.Put(src)
	dst, err := sqlite.OpenConn(path, sqlite.OpenReadWrite|sqlite.OpenCreate)
	if err != nil {
		return err
	}
	defer dst.Close()
	b, err := sqlite.NewBackup(dst, "main", src, "main")
	if err != nil {
		return err
	}
	closed := false // a Backup must be finished exactly once
	defer func() {
		if !closed {
			b.Close()
		}
	}()
	restarts, last := 0, -1
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := cfg.PagesPerStep
		if restarts > cfg.MaxRestarts {
			n = -1
		}
		more, err := b.Step(n)
		if err != nil && !more {
			return err
		}
		// Remaining grows only when the copy started over.
		if rem := b.Remaining(); last >= 0 && rem > last {
			restarts++
		}
		last = b.Remaining()
		if progress != nil {
			progress("copy", int64(b.PageCount()-b.Remaining()), int64(b.PageCount()))
		}
		if !more {
			closed = true
			return b.Close()
		}
		if cfg.StepSleep > 0 {
			timer.Reset(cfg.StepSleep)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-timer.C:
			}
		}
	}
}

// vacuumCopy writes a compacted, transactionally consistent copy of db to
// path with VACUUM INTO. It runs on a connection of its own opened
// read-only (the pool's readers are query_only, which refuses VACUUM
// even INTO another file); in WAL mode it is a reader, so writers go on
// while it runs.
func vacuumCopy(ctx context.Context, db *database, path string) error {
	conn, err := sqlite.OpenConn(db.path, sqlite.OpenReadOnly|sqlite.OpenWAL)
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetBusyTimeout(5 * time.Second)
	conn.SetInterrupt(ctx.Done())
	return sqlitex.Execute(conn, "VACUUM INTO ?", &sqlitex.ExecOptions{Args: []any{path}})
}

// checkCopy runs integrity_check on the database at path and returns its
// schema version. A fresh copy (a backup being made) must carry exactly
// the version this rip migrates dbName to and is first switched to
// rollback-journal mode so the archive is one self-contained file; an
// archive being verified or restored may be older (opening it migrates
// it) but not newer.
func checkCopy(path, dbName string, fresh bool) (int, error) {
	flags := sqlite.OpenReadWrite
	if !fresh {
		flags = sqlite.OpenReadOnly
	}
	conn, err := sqlite.OpenConn(path, flags)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	if fresh {
		if err := sqlitex.ExecuteTransient(conn, "PRAGMA journal_mode=DELETE", nil); err != nil {
			return 0, err
		}
	}
	var lines []string
	err = sqlitex.ExecuteTransient(conn, "PRAGMA integrity_check", &sqlitex.ExecOptions{
		ResultFunc: func(s *sqlite.Stmt) error {
			if len(lines) < 10 {
				lines = append(lines, s.ColumnText(0))
			}
			return nil
		},
	})
	if err != nil {
		return 0, fmt.Errorf("integrity_check: %w", err)
	}
	if len(lines) != 1 || lines[0] != "ok" {
		return 0, fmt.Errorf("integrity_check: %s", strings.Join(lines, "; "))
	}
	version := -1
	err = sqlitex.ExecuteTransient(conn, "SELECT coalesce(max(version), 0) FROM schema_migrations", &sqlitex.ExecOptions{
		ResultFunc: func(s *sqlite.Stmt) error { version = s.ColumnInt(0); return nil },
	})
	if err != nil {
		return 0, fmt.Errorf("schema version: %w (not a rip database?)", err)
	}
	want := latestMigration(dbName)
	switch {
	case version < 1:
		return 0, errors.New("schema version: no migration recorded (not a rip database?)")
	case version > want:
		return version, fmt.Errorf("schema version %d is newer than this rip's %s schema (%d): use the rip release that made it", version, dbName, want)
	case fresh && version != want:
		return version, fmt.Errorf("schema version %d, want %d", version, want)
	}
	return version, nil
}

// latestMigration is the newest migration number of dbName in schema.sql.
func latestMigration(dbName string) int {
	all, _ := parseMigrations(schemaSQL) // parsed and checked at every open
	n := 0
	for _, m := range all {
		if m.DB == dbName && m.Version > n {
			n = m.Version
		}
	}
	return n
}

// gzipFile compresses src into dst (created 0600, fsynced) and returns
// the SHA-256 and size of src.
func gzipFile(src, dst string, progress BackupProgress) (sum [32]byte, n int64, err error) {
	in, err := os.Open(src)
	if err != nil {
		return sum, 0, err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return sum, 0, err
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, backupFileMode)
	if err != nil {
		return sum, 0, err
	}
	defer out.Close()
	bw := bufio.NewWriterSize(out, 1<<20)
	// BestSpeed: the archive is written while the server runs; a database
	// of pages compresses well at any level.
	zw, _ := gzip.NewWriterLevel(bw, gzip.BestSpeed)
	zw.Name = filepath.Base(src)
	h := sha256.New()
	n, err = io.Copy(io.MultiWriter(zw, h), &progressReader{r: in, stage: "compress", total: st.Size(), fn: progress})
	if err == nil {
		err = zw.Close()
	}
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = out.Sync()
	}
	if err == nil {
		err = out.Close()
	}
	copy(sum[:], h.Sum(nil))
	return sum, n, err
}

// gunzipTo decompresses the archive at path into w, at most
// maxBackupDBBytes, and returns the SHA-256 and size of the content. A
// truncated or corrupt archive is an error (gzip checks its CRC-32 and
// length at the end of the stream).
func gunzipTo(path string, w io.Writer, progress BackupProgress) (sum [32]byte, n int64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return sum, 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return sum, 0, err
	}
	zr, err := gzip.NewReader(bufio.NewReaderSize(&progressReader{r: f, stage: "decompress", total: st.Size(), fn: progress}, 1<<20))
	if err != nil {
		return sum, 0, fmt.Errorf("%s is not a gzip archive: %w", path, err)
	}
	zr.Multistream(false)
	h := sha256.New()
	n, err = io.Copy(io.MultiWriter(w, h), io.LimitReader(zr, maxBackupDBBytes+1))
	if err != nil {
		return sum, n, fmt.Errorf("%s is corrupt or truncated: %w", path, err)
	}
	if n > maxBackupDBBytes {
		return sum, n, fmt.Errorf("%s inflates beyond %d bytes; refusing it", path, int64(maxBackupDBBytes))
	}
	copy(sum[:], h.Sum(nil))
	return sum, n, nil
}

// progressReader reports bytes read through fn, at most every
// backupProgressEvery bytes.
type progressReader struct {
	r           io.Reader
	stage       string
	done, total int64
	next        int64
	fn          BackupProgress
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.done += int64(n)
	if p.fn != nil && (p.done >= p.next || err == io.EOF) {
		p.fn(p.stage, p.done, p.total)
		p.next = p.done + backupProgressEvery
	}
	return n, err
}

// syncDir fsyncs a directory so a rename or link in it is durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func randomTag() string {
	var b [6]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// removeDBFiles removes a database file and its journal, WAL and shm.
func removeDBFiles(path string) {
	for _, s := range []string{"", "-journal", "-wal", "-shm"} {
		os.Remove(path + s)
	}
}

// removeStaleTemps deletes temporary files of stem left by a crashed
// backup (older than backupStaleTempAge).
func removeStaleTemps(dir, stem string, now time.Time) {
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		n := e.Name()
		if !strings.HasPrefix(n, "."+stem+"_") || !strings.Contains(n, ".tmp") {
			continue
		}
		if fi, err := e.Info(); err == nil && now.Sub(fi.ModTime()) > backupStaleTempAge {
			os.Remove(filepath.Join(dir, n))
		}
	}
}

// listBackups returns the archives in dir, newest first; stem "" lists
// every database's.
func listBackups(dir, stem string) ([]BackupInfo, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []BackupInfo
	for _, e := range ents {
		info, ok := parseBackupName(e.Name())
		if !ok || !e.Type().IsRegular() || (stem != "" && info.DB != stem) {
			continue
		}
		info.Path = filepath.Join(dir, e.Name())
		if fi, err := e.Info(); err == nil {
			info.Bytes = fi.Size()
		}
		out = append(out, info)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Time.Equal(out[j].Time) {
			return out[i].Time.After(out[j].Time)
		}
		return out[i].Path > out[j].Path
	})
	return out, nil
}

// parseBackupName reads database, time and strategy from an archive name.
func parseBackupName(name string) (BackupInfo, bool) {
	m := backupNameRE.FindStringSubmatch(name)
	if m == nil {
		return BackupInfo{}, false
	}
	t, err := time.Parse(backupTimestamp, m[2])
	if err != nil {
		return BackupInfo{}, false
	}
	return BackupInfo{DB: m[1], Time: t, Strategy: m[3]}, true
}

// pruneBackups deletes the archives of stem beyond the newest keep,
// never the one at path just written. It runs only after that archive is
// in place, so it never leaves fewer than keep good ones because of a
// failure.
//
// # Security
//
// "Newest" is the time in the file name, which a clock stepped back (or a
// file copied from another host) can put in the future: the archive just
// written is kept whatever its name says, and the others share the
// remaining keep−1 places.
func pruneBackups(dir, stem, path string, keep int) ([]string, error) {
	all, err := listBackups(dir, stem)
	if err != nil {
		return nil, err
	}
	others := slices.DeleteFunc(all, func(b BackupInfo) bool { return b.Path == path })
	if len(others) <= max(keep-1, 0) {
		return nil, nil
	}
	var removed []string
	var errs []error
	for _, b := range others[max(keep-1, 0):] {
		if err := os.Remove(b.Path); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, b.Path)
	}
	return removed, errors.Join(errs...)
}

// backupRunner serializes backups inside one process and remembers their
// outcome for metrics and notifications.
type backupRunner struct {
	mu    sync.Mutex // held for a whole run: one backup at a time
	stats map[string]*backupStats
}

func newBackupRunner() *backupRunner {
	return &backupRunner{stats: map[string]*backupStats{"app": {}, "logs": {}}}
}

// backupTarget is one database to back up.
type backupTarget struct {
	db   *database
	name string // "app" or "logs"
}

// backupTargets are the databases the configuration asks to back up.
func backupTargets(p *dbPair, cfg BackupConfig) []backupTarget {
	t := []backupTarget{{p.app, "app"}}
	if cfg.IncludeLogs {
		t = append(t, backupTarget{p.logs, "logs"})
	}
	return t
}

// runBackupJob is the rip.backup handler: it backs up each configured
// database whose newest archive is older than backup.interval.
//
// The copy runs on a context detached from the job's jobs.timeout (a
// large database takes longer than a mail) but bounded by backup.timeout
// and cancelled when the server shuts down.
func (a *App) runBackupJob(ctx context.Context, _ *Job) error {
	cfg := a.Config().Backup
	if !cfg.Enabled {
		return nil
	}
	if !a.backups.mu.TryLock() {
		return nil // a backup is running (an earlier run outlived its lease)
	}
	defer a.backups.mu.Unlock()
	bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.Timeout)
	defer cancel()
	stop := context.AfterFunc(ctx, func() {
		if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			cancel() // shutdown, not the job timeout
		}
	})
	defer stop()
	dir := backupDir(cfg, a.opts.DB)
	var errs []error
	for _, t := range backupTargets(a.dbs, cfg) {
		now := a.Now()
		st := a.backups.stats[t.name]
		if last := st.lastFailure.Load(); last != 0 && now.Sub(time.Unix(0, last)) < min(backupRetryDelay, cfg.Interval) {
			continue
		}
		stem := dbStem(t.db.path)
		if have, _ := listBackups(dir, stem); len(have) > 0 {
			// An archive dated in the future (the clock was stepped back)
			// does not count as recent: skipping on it would stop backups
			// silently until the clock caught up.
			if age := now.Sub(have[0].Time); age >= 0 && age < cfg.Interval {
				continue
			} else if age < 0 {
				a.Logger.Warn("rip: newest backup is dated in the future; backing up anyway", "db", t.name, "path", have[0].Path)
			}
		}
		if _, err := a.backupOne(bctx, t.db, t.name, cfg, now, nil); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// backupOne makes one backup of db, prunes old archives, records the
// outcome and raises a notification on failure.
func (a *App) backupOne(ctx context.Context, db *database, name string, cfg BackupConfig, now time.Time, progress BackupProgress) (BackupInfo, error) {
	st := a.backups.stats[name]
	dir := backupDir(cfg, a.opts.DB)
	info, err := backupDatabase(ctx, db, backupParams{cfg: cfg, dir: dir, stem: dbStem(db.path), dbName: name, now: now, progress: progress})
	if err != nil {
		st.failures.Add(1)
		st.lastFailure.Store(now.UnixNano())
		a.backupFailed(name, err)
		return info, err
	}
	st.lastFailure.Store(0)
	st.lastGood.Store(now.UnixNano())
	st.lastDuration.Store(int64(info.Duration))
	if name == "app" && a.metrics != nil {
		a.metrics.backupSucceeded(now.Add(info.Duration), info.Duration)
	}
	a.Logger.Info("rip: backup written", "db", name, "path", info.Path, "bytes", info.Bytes, "db_bytes", info.DBBytes, "duration", info.Duration)
	removed, err := pruneBackups(dir, info.DB, info.Path, cfg.Retention)
	if len(removed) > 0 {
		a.Logger.Info("rip: pruned old backups", "db", name, "removed", removed)
	}
	if err != nil {
		a.Logger.Warn("rip: pruning old backups failed", "db", name, "err", err)
	}
	return info, nil
}

// backupFailed logs a failed backup and raises an alarm through the
// Notifier (and a.onBackupFailure, which tests set).
func (a *App) backupFailed(db string, err error) {
	a.Logger.Error("rip: backup failed; previous backups are untouched", "db", db, "err", err)
	a.notify(Notification{Type: "alarm", Source: "backup", Message: "backup failed; previous backups are untouched",
		Fields: map[string]string{"db": db, "err": truncate(err.Error(), 500)}})
	if a.onBackupFailure != nil {
		a.onBackupFailure(db, err)
	}
}

// registerBackup registers the backup job.
func (a *App) registerBackup() {
	a.HandleJob(jobTypeBackup, a.runBackupJob)
}

// scheduleBackup makes sure the recurrent backup check exists. The first
// check runs one backupCheckInterval after the first start, so a test or
// a short-lived run does not begin by copying the database.
func (a *App) scheduleBackup(ctx context.Context) {
	_, err := a.Enqueue(ctx, nil, JobSpec{Type: jobTypeBackup, Interval: backupCheckInterval, UniqueKey: jobTypeBackup,
		At: a.Now().Add(backupCheckInterval), MaxAttempts: 1})
	if err != nil && !errors.Is(err, ErrJobExists) {
		a.Logger.Error("rip: schedule recurrent job", "job", jobTypeBackup, "err", err)
	}
}

// BackupNow backs up app.db (and logs.db with backup.include_logs) with
// the stored [backup] settings, whether or not backups are enabled, and
// prunes beyond backup.retention. progress may be nil.
func (ad *Admin) BackupNow(ctx context.Context, progress BackupProgress) ([]BackupInfo, error) {
	cfg, _, err := ad.EffectiveConfig(ctx, 0)
	if err != nil {
		return nil, err
	}
	b := cfg.Backup
	ctx, cancel := context.WithTimeout(ctx, b.Timeout)
	defer cancel()
	dir := backupDir(b, ad.opts.DB)
	var out []BackupInfo
	for _, t := range backupTargets(ad.dbs, b) {
		info, err := backupDatabase(ctx, t.db, backupParams{cfg: b, dir: dir, stem: dbStem(t.db.path), dbName: t.name, now: ad.Now(), progress: progress})
		if err != nil {
			return out, err
		}
		out = append(out, info)
		if _, err := pruneBackups(dir, info.DB, info.Path, b.Retention); err != nil {
			return out, err
		}
	}
	return out, nil
}

// Backups lists the archives in backup.dir, newest first.
func (ad *Admin) Backups(ctx context.Context) ([]BackupInfo, error) {
	cfg, _, err := ad.EffectiveConfig(ctx, 0)
	if err != nil {
		return nil, err
	}
	return listBackups(backupDir(cfg.Backup, ad.opts.DB), "")
}
