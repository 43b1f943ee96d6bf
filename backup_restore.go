package rip

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Verify and restore: what `ripc backup verify` and `ripc backup restore`
// run. Both trust nothing in the archive (see unpackBackup).

// unpackBackup decompresses the archive at path into a new temporary
// file in dir and checks it; it returns the temporary file (the caller
// removes or renames it) and what it found.
//
// # Security
//
// Restore and verify trust nothing in the archive: its name must parse,
// the gzip stream must end with a matching CRC-32 and length (a
// truncated file fails), it may not inflate beyond maxBackupDBBytes, and
// the database inside must pass integrity_check and carry a schema
// version this rip knows.
func unpackBackup(path, dir, dbName string, progress BackupProgress) (string, BackupInfo, error) {
	info, ok := parseBackupName(filepath.Base(path))
	if !ok {
		return "", info, fmt.Errorf("rip: %s is not named like a rip backup (<db>_<YYYYMMDDTHHMMSSZ>_<online|vacuum>%s)", path, backupSuffix)
	}
	info.Path = path
	if st, err := os.Stat(path); err == nil {
		info.Bytes = st.Size()
	} else {
		return "", info, err
	}
	tmp := filepath.Join(dir, "."+info.DB+"_"+randomTag()+".tmp-db")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, backupFileMode)
	if err != nil {
		return "", info, err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	_, n, err := gunzipTo(path, bw, progress)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		removeDBFiles(tmp)
		return "", info, fmt.Errorf("rip: %w", err)
	}
	info.DBBytes = n
	if progress != nil {
		progress("check", 0, 0)
	}
	if dbName == "" {
		dbName = info.DB
	}
	if info.SchemaVersion, err = checkCopy(tmp, dbName, false); err != nil {
		removeDBFiles(tmp)
		return "", info, fmt.Errorf("rip: %s: %w", path, err)
	}
	return tmp, info, nil
}

// VerifyBackup decompresses the archive at path into a temporary file
// and checks it as a restore would: gzip CRC, integrity_check and schema
// version. It changes nothing.
func VerifyBackup(path string, progress BackupProgress) (BackupInfo, error) {
	dbName := "app"
	if info, ok := parseBackupName(filepath.Base(path)); ok && info.DB == "logs" {
		dbName = "logs"
	}
	tmp, info, err := unpackBackup(path, os.TempDir(), dbName, progress)
	if err != nil {
		return info, err
	}
	removeDBFiles(tmp)
	return info, nil
}

// ErrServerRunning is returned by [RestoreBackup] while a rip process
// serves the data directory.
var ErrServerRunning = errors.New("rip: a rip server is running on this data directory")

// RestoreBackup replaces the database the archive at path belongs to
// (app.db or logs.db of opts, by the archive's name) with its content.
// The archive is decompressed and checked first; the current database
// with its -wal and -shm is kept beside it as
// <db>.before-restore-<UTC time>, whose path is returned. It works only
// while no rip server runs on opts: it takes the server's lock file for
// its whole run, and returns [ErrServerRunning] when it cannot.
//
// # Security
//
// A restore that swapped files under a live server would corrupt the
// database (SQLite's howtocorrupt §1.3), so the server's flock must be
// free; holding it also keeps a server from starting mid-restore. The
// archive is fully checked ([unpackBackup]) before anything is moved,
// and the current files are renamed aside, never deleted.
func RestoreBackup(opts Options, path string, progress BackupProgress) (aside string, err error) {
	opts.withDefaults()
	info, ok := parseBackupName(filepath.Base(path))
	if !ok {
		return "", fmt.Errorf("rip: %s is not named like a rip backup (<db>_<YYYYMMDDTHHMMSSZ>_<online|vacuum>%s)", path, backupSuffix)
	}
	target, dbName := opts.DB, "app"
	switch info.DB {
	case dbStem(opts.DB):
	case dbStem(opts.LogDB):
		target, dbName = opts.LogDB, "logs"
	default:
		return "", fmt.Errorf("rip: %s is a backup of %q, which is neither %s nor %s", path, info.DB, opts.DB, opts.LogDB)
	}
	lock, err := lockDataFile(opts.DB + ".lock")
	if err != nil {
		return "", fmt.Errorf("%w (%v): stop it (and Litestream, if it replicates this database), then run the restore again", ErrServerRunning, err)
	}
	if lock != nil {
		defer lock.Close()
	}
	dir := filepath.Dir(target)
	tmp, _, err := unpackBackup(path, dir, dbName, progress)
	if err != nil {
		return "", err
	}
	defer removeDBFiles(tmp) // a no-op once renamed into place
	if _, err := os.Stat(target); err == nil {
		// The random suffix keeps two restores within one second from
		// renaming over the database the first one kept aside.
		var rnd [4]byte
		rand.Read(rnd[:])
		aside = target + ".before-restore-" + time.Now().UTC().Format(backupTimestamp) + "-" + hex.EncodeToString(rnd[:])
		// The database and its WAL move together, under matching names,
		// so the set kept aside is still a consistent database.
		for _, s := range []string{"", "-wal", "-shm", "-journal"} {
			if err := os.Rename(target+s, aside+s); err != nil && !errors.Is(err, os.ErrNotExist) {
				return aside, fmt.Errorf("rip: keep %s aside: %w", target+s, err)
			}
		}
	}
	if err := os.Rename(tmp, target); err != nil {
		return aside, fmt.Errorf("rip: put the restored database in place: %w (the previous one is %s)", err, aside)
	}
	return aside, syncDir(dir)
}
