package rip

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// minSQLiteVersion is the oldest SQLite rip runs on: 3.51.3 fixed a WAL
// reset race that can corrupt a database written through a pool.
const (
	minSQLiteVersion       = "3.51.3"
	minSQLiteVersionNumber = 3051003
)

// database is one SQLite file: a single writer connection, serialized in
// process, and a pool of read-only connections. It is safe for concurrent
// use.
type database struct {
	path   string
	writer *sqlitex.Pool // size 1: taking it is the in-process write lock
	reader *sqlitex.Pool
	// onLockWait, when set, observes how long a write waited for the
	// writer connection (metrics).
	onLockWait func(time.Duration)
	onBusy     func()
	// afterTx, when set, runs after every write transaction ends
	// (committed or not) and before the writer connection is released,
	// so work registered by one transaction never runs before it
	// committed or after the next one began.
	afterTx func(conn *sqlite.Conn)
}

// dbOptions are the per-file settings applied to every connection.
type dbOptions struct {
	Synchronous  string // "FULL" or "NORMAL"
	BusyTimeout  time.Duration
	ReadPoolSize int
}

// openDatabase opens (creating if missing) the SQLite file at path, sets
// the PRAGMAs on every connection and checks the SQLite version.
//
// # Security
//
// zombiezen ignores DSN pragma parameters and by default blocks forever on
// a locked database; here every connection gets journal_mode=WAL,
// synchronous, busy_timeout and foreign_keys explicitly, readers are
// query_only, and the library refuses SQLite older than 3.51.3 (WAL-reset
// corruption fix).
func openDatabase(path string, o dbOptions) (*database, error) {
	prep := func(readOnly bool) sqlitex.ConnPrepareFunc {
		return func(conn *sqlite.Conn) error { return prepareConn(conn, o, readOnly) }
	}
	// SQLite creates files 0644 and gives -wal/-shm the database's mode;
	// the database holds password hashes, so create it owner-only.
	if f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600); err == nil {
		f.Close()
	} else {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	uri := "file:" + path
	flags := sqlite.OpenReadWrite | sqlite.OpenCreate | sqlite.OpenWAL | sqlite.OpenURI
	writer, err := sqlitex.NewPool(uri, sqlitex.PoolOptions{Flags: flags, PoolSize: 1, PrepareConn: prep(false)})
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	db := &database{path: path, writer: writer}
	// The writer is prepared first so the file is in WAL mode before any
	// reader opens it.
	if err := db.Write(context.Background(), 10*time.Second, checkSQLiteVersion); err != nil {
		writer.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	db.reader, err = sqlitex.NewPool(uri, sqlitex.PoolOptions{Flags: flags, PoolSize: o.ReadPoolSize, PrepareConn: prep(true)})
	if err != nil {
		writer.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return db, nil
}

// prepareConn sets the PRAGMAs of one connection. It runs once per
// connection, when the pool first hands it out.
func prepareConn(conn *sqlite.Conn, o dbOptions, readOnly bool) error {
	conn.SetBusyTimeout(o.BusyTimeout)
	pragmas := []string{
		"PRAGMA journal_mode=WAL",
		"PRAGMA synchronous=" + o.Synchronous,
		"PRAGMA foreign_keys=ON",
	}
	if readOnly {
		pragmas = append(pragmas, "PRAGMA query_only=ON")
	}
	for _, p := range pragmas {
		if err := sqlitex.ExecuteTransient(conn, p, nil); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
	}
	return nil
}

// checkSQLiteVersion refuses a linked SQLite older than minSQLiteVersion.
func checkSQLiteVersion(conn *sqlite.Conn) error {
	var v string
	var n int64
	err := sqlitex.ExecuteTransient(conn, "SELECT sqlite_version(), sqlite_source_id() IS NOT NULL", &sqlitex.ExecOptions{
		ResultFunc: func(s *sqlite.Stmt) error { v = s.ColumnText(0); return nil },
	})
	if err != nil {
		return err
	}
	n = sqliteVersionNumber(v)
	if n < minSQLiteVersionNumber {
		return fmt.Errorf("rip: SQLite %s is too old; rip needs %s or newer (WAL-reset corruption fix): require modernc.org/sqlite v1.62.0 or later", v, minSQLiteVersion)
	}
	return nil
}

// sqliteVersionNumber turns "3.54.1" into 3054001 (0 if malformed).
func sqliteVersionNumber(v string) int64 {
	parts := strings.SplitN(v, ".", 3)
	if len(parts) != 3 {
		return 0
	}
	var n int64
	for _, p := range parts {
		var x int64
		if _, err := fmt.Sscanf(p, "%d", &x); err != nil || x < 0 || x > 999 {
			return 0
		}
		n = n*1000 + x
	}
	return n
}

// Close closes every connection. Callers must have stopped using db.
func (db *database) Close() error {
	var errs []error
	if db.reader != nil {
		errs = append(errs, db.reader.Close())
	}
	errs = append(errs, db.writer.Close())
	return errors.Join(errs...)
}

// withDeadline returns ctx bounded by d unless it already ends sooner.
func withDeadline(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= d {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}

// Read runs fn on a read-only connection. The call ends when ctx ends or
// after timeout, whichever is first.
func (db *database) Read(ctx context.Context, timeout time.Duration, fn func(*sqlite.Conn) error) error {
	ctx, cancel := withDeadline(ctx, timeout)
	defer cancel()
	conn, err := db.reader.Take(ctx)
	if err != nil {
		return db.mapErr(ctx, err)
	}
	defer db.reader.Put(conn)
	return db.mapErr(ctx, fn(conn))
}

// Write runs fn on the single writer connection inside BEGIN IMMEDIATE …
// COMMIT; an error from fn rolls back. Waiting for the writer, for the
// file lock (busy_timeout) and the work itself are bounded by ctx and
// timeout; running out of either returns [ErrDBBusy].
func (db *database) Write(ctx context.Context, timeout time.Duration, fn func(*sqlite.Conn) error) (err error) {
	ctx, cancel := withDeadline(ctx, timeout)
	defer cancel()
	start := time.Now()
	conn, err := db.writer.Take(ctx)
	if db.onLockWait != nil {
		db.onLockWait(time.Since(start))
	}
	if err != nil {
		return db.mapErr(ctx, err)
	}
	defer db.writer.Put(conn)
	end, err := sqlitex.ImmediateTransaction(conn)
	if err != nil {
		return db.mapErr(ctx, err)
	}
	defer func() { err = db.mapErr(ctx, err) }()
	if db.afterTx != nil {
		defer db.afterTx(conn)
	}
	defer end(&err) // runs first: the commit precedes afterTx
	return fn(conn)
}

// mapErr turns lock and deadline failures into ErrDBBusy so callers can
// answer 503 without knowing SQLite result codes.
func (db *database) mapErr(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	code := sqlite.ErrCode(err).ToPrimary()
	if code == sqlite.ResultBusy || code == sqlite.ResultLocked || code == sqlite.ResultInterrupt ||
		errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
		if db.onBusy != nil {
			db.onBusy()
		}
		return fmt.Errorf("%w: %s: %v", ErrDBBusy, db.path, err)
	}
	return err
}

// pragmaReport reads back the PRAGMAs of conn; tests assert it for every
// pooled connection.
func pragmaReport(conn *sqlite.Conn) (map[string]string, error) {
	out := map[string]string{}
	for _, p := range []string{"journal_mode", "synchronous", "busy_timeout", "foreign_keys", "query_only"} {
		err := sqlitex.ExecuteTransient(conn, "PRAGMA "+p, &sqlitex.ExecOptions{
			ResultFunc: func(s *sqlite.Stmt) error { out[p] = s.ColumnText(0); return nil },
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// dbPair is app.db and logs.db.
type dbPair struct {
	app, logs *database
	closeOnce sync.Once
}

func (p *dbPair) Close() error {
	var err error
	p.closeOnce.Do(func() {
		var errs []error
		if p.logs != nil {
			errs = append(errs, p.logs.Close())
		}
		if p.app != nil {
			errs = append(errs, p.app.Close())
		}
		err = errors.Join(errs...)
	})
	return err
}
