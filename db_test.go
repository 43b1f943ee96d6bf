package rip

import (
	"bufio"
	"context"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

func TestPragmasOnEveryPooledConnection(t *testing.T) {
	ta := newTestApp(t)
	for _, tc := range []struct {
		name string
		db   *database
		sync string
	}{
		{"app", ta.dbs.app, "2"},   // FULL
		{"logs", ta.dbs.logs, "1"}, // NORMAL
	} {
		t.Run(tc.name, func(t *testing.T) {
			check := func(conn *sqlite.Conn, readOnly bool) {
				got, err := pragmaReport(conn)
				if err != nil {
					t.Fatal(err)
				}
				want := map[string]string{"journal_mode": "wal", "synchronous": tc.sync, "busy_timeout": "5000", "foreign_keys": "1", "query_only": "0"}
				if readOnly {
					want["query_only"] = "1"
				}
				for k, v := range want {
					if got[k] != v {
						t.Errorf("%s: PRAGMA %s = %s, want %s", tc.name, k, got[k], v)
					}
				}
			}
			// Take every reader at once so each pooled connection is checked.
			var conns []*sqlite.Conn
			n := 1
			if tc.name == "app" {
				n = ta.Config().DB.ReadPoolSize
			}
			for i := 0; i < n; i++ {
				conn, err := tc.db.reader.Take(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				conns = append(conns, conn)
				check(conn, true)
			}
			for _, c := range conns {
				tc.db.reader.Put(c)
			}
			if err := tc.db.Write(context.Background(), time.Second, func(conn *sqlite.Conn) error {
				check(conn, false)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestSQLiteVersion(t *testing.T) {
	ta := newTestApp(t)
	var v string
	ta.Read(context.Background(), func(conn *sqlite.Conn) error {
		return sqlitex.ExecuteTransient(conn, "SELECT sqlite_version()", &sqlitex.ExecOptions{ResultFunc: func(s *sqlite.Stmt) error { v = s.ColumnText(0); return nil }})
	})
	if sqliteVersionNumber(v) < minSQLiteVersionNumber {
		t.Fatalf("linked SQLite %s is older than %s", v, minSQLiteVersion)
	}
	for _, tc := range []struct {
		name string
		in   string
		want int64
	}{
		{"current", "3.54.1", 3054001},
		{"minimum", "3.51.3", 3051003},
		{"malformed", "3.x.1", 0},
		{"two parts", "3.51", 0},
	} {
		if got := sqliteVersionNumber(tc.in); got != tc.want {
			t.Errorf("%s: sqliteVersionNumber(%q) = %d, want %d", tc.name, tc.in, got, tc.want)
		}
	}
}

func TestMigrationsIdempotentAndTamperProof(t *testing.T) {
	ta := newTestApp(t)
	n, err := migrate(ta.dbs.app, "app", time.Now())
	if err != nil || n != 0 {
		t.Fatalf("second migrate applied %d, err %v; want 0, nil", n, err)
	}
	// Rewrite the recorded checksum, as if schema.sql had been edited.
	ta.dbs.app.Write(context.Background(), time.Second, func(conn *sqlite.Conn) error {
		return sqlitex.ExecuteTransient(conn, "UPDATE schema_migrations SET checksum = 'x' WHERE version = 1", nil)
	})
	_, err = migrate(ta.dbs.app, "app", time.Now())
	if err == nil || !strings.Contains(err.Error(), "changed after it was applied") {
		t.Fatalf("tampered migration: err = %v", err)
	}
}

func TestParseMigrationsRejectsGaps(t *testing.T) {
	for _, tc := range []struct{ name, src string }{
		{"gap", "-- migrate: app 1 a\nSELECT 1;\n-- migrate: app 3 c\nSELECT 1;\n"},
		{"unknown db", "-- migrate: other 1 a\nSELECT 1;\n"},
		{"bad marker", "-- migrate: app one\n"},
	} {
		if _, err := parseMigrations(tc.src); err == nil {
			t.Errorf("%s: parseMigrations accepted %q", tc.name, tc.src)
		}
	}
	if _, err := parseMigrations(schemaSQL); err != nil {
		t.Fatalf("schema.sql: %v", err)
	}
}

// TestWriteLockedByAnotherProcess holds BEGIN EXCLUSIVE on app.db from a
// second OS process: a write through the API must answer 503 with
// Retry-After within the busy timeout, and leave no goroutine behind.
func TestWriteLockedByAnotherProcess(t *testing.T) {
	ta := newTestApp(t, func(c *Config) {
		c.DB.BusyTimeout = 200 * time.Millisecond
		c.DB.WriteTimeout = time.Second
	})
	ta.HandleFunc("POST /test/write", func(w http.ResponseWriter, r *http.Request) {
		err := ta.Write(r.Context(), func(conn *sqlite.Conn) error {
			return sqlitex.ExecuteTransient(conn, "CREATE TABLE IF NOT EXISTS t (x)", nil)
		})
		if ta.writeDBError(w, err) {
			return
		}
		writeReply(w, codeOK, nil)
	})
	url := ta.serve()
	call(t, "POST", url+"/test/write", nil).expect(t, 200, codeOK)

	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "RIP_TEST_HELPER=hold-exclusive", "RIP_TEST_DB="+ta.opts.DB)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer stdin.Close()
	if line, _ := bufio.NewReader(stdout).ReadString('\n'); line != "locked\n" {
		t.Fatalf("helper said %q", line)
	}
	base := runtime.NumGoroutine()
	start := time.Now()
	r := call(t, "POST", url+"/test/write", nil).expect(t, 503, codeErrServiceUnavailable)
	if r.Header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("locked write took %s", took)
	}
	if leaked := waitGoroutines(base, 3*time.Second); leaked != "" {
		t.Errorf("goroutines grew after the locked write:\n%s", leaked)
	}
	stdin.Close()
	cmd.Wait()
	call(t, "POST", url+"/test/write", nil).expect(t, 200, codeOK)
}

func TestWriteRollsBackOnError(t *testing.T) {
	ta := newTestApp(t)
	boom := errors.New("boom")
	err := ta.Write(context.Background(), func(conn *sqlite.Conn) error {
		if err := sqlitex.ExecuteTransient(conn, "CREATE TABLE t (x)", nil); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	var n int
	ta.Read(context.Background(), func(conn *sqlite.Conn) error {
		return sqlitex.ExecuteTransient(conn, "SELECT count(*) FROM sqlite_schema WHERE name = 't'", &sqlitex.ExecOptions{ResultFunc: func(s *sqlite.Stmt) error { n = s.ColumnInt(0); return nil }})
	})
	if n != 0 {
		t.Fatal("table survived a failed write")
	}
}

func TestReadIsReadOnly(t *testing.T) {
	ta := newTestApp(t)
	err := ta.Read(context.Background(), func(conn *sqlite.Conn) error {
		return sqlitex.ExecuteTransient(conn, "CREATE TABLE t (x)", nil)
	})
	if err == nil {
		t.Fatal("a read connection wrote")
	}
}

func TestDeadlineEndsWait(t *testing.T) {
	ta := newTestApp(t)
	// Hold the single writer, then ask for it with a short deadline.
	release := make(chan struct{})
	held := make(chan struct{})
	go ta.Write(context.Background(), func(conn *sqlite.Conn) error { close(held); <-release; return nil })
	<-held
	defer close(release)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := ta.Write(ctx, func(conn *sqlite.Conn) error { return nil })
	if !errors.Is(err, ErrDBBusy) {
		t.Fatalf("err = %v, want ErrDBBusy", err)
	}
}
