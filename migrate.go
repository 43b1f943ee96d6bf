package rip

import (
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

//go:embed schema.sql
var schemaSQL string

// migration is one numbered block of schema.sql.
type migration struct {
	DB       string // "app" or "logs"
	Version  int
	Name     string
	SQL      string
	Checksum string // hex SHA-256 of SQL
}

const migrationMarker = "-- migrate: "

// parseMigrations splits schema.sql into its blocks and checks that each
// database's numbers run 1, 2, 3… without gaps.
func parseMigrations(src string) ([]migration, error) {
	var out []migration
	next := map[string]int{"app": 1, "logs": 1}
	var cur *migration
	var body strings.Builder
	flush := func() {
		if cur != nil {
			cur.SQL = strings.TrimSpace(body.String())
			sum := sha256.Sum256([]byte(cur.SQL))
			cur.Checksum = hex.EncodeToString(sum[:])
			out = append(out, *cur)
		}
		body.Reset()
	}
	for i, line := range strings.Split(src, "\n") {
		rest, ok := strings.CutPrefix(line, migrationMarker)
		if !ok {
			if cur != nil {
				body.WriteString(line + "\n")
			}
			continue
		}
		flush()
		f := strings.Fields(rest)
		if len(f) != 3 {
			return nil, fmt.Errorf("schema.sql:%d: marker must be %q<db> <n> <name>", i+1, migrationMarker)
		}
		n, err := strconv.Atoi(f[1])
		want, known := next[f[0]]
		if !known || err != nil || n != want {
			return nil, fmt.Errorf("schema.sql:%d: expected migration %s %d", i+1, f[0], want)
		}
		next[f[0]] = n + 1
		cur = &migration{DB: f[0], Version: n, Name: f[2]}
	}
	flush()
	return out, nil
}

const migrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    checksum   TEXT NOT NULL,
    applied_at TEXT NOT NULL
)`

// migrate applies the blocks of schema.sql for dbName that db has not
// seen, each in its own transaction. It is idempotent.
//
// # Security
//
// A recorded checksum that differs from the embedded block means the
// schema history was rewritten; migrate refuses to run rather than guess.
func migrate(db *database, dbName string, now time.Time) (applied int, err error) {
	all, err := parseMigrations(schemaSQL)
	if err != nil {
		return 0, err
	}
	err = db.Write(context.Background(), time.Minute, func(conn *sqlite.Conn) error {
		if err := sqlitex.ExecuteTransient(conn, migrationsTable, nil); err != nil {
			return err
		}
		done, err := appliedMigrations(conn)
		if err != nil {
			return err
		}
		for _, m := range all {
			if m.DB != dbName {
				continue
			}
			if sum, ok := done[m.Version]; ok {
				if sum != m.Checksum {
					return fmt.Errorf("rip: %s migration %d (%s) changed after it was applied (recorded checksum %.12s…, embedded %.12s…); restore schema.sql or add a new migration", dbName, m.Version, m.Name, sum, m.Checksum)
				}
				continue
			}
			if err := applyMigration(conn, m, now); err != nil {
				return err
			}
			applied++
		}
		return nil
	})
	return applied, err
}

// appliedMigrations maps version → checksum of what db already ran.
func appliedMigrations(conn *sqlite.Conn) (map[int]string, error) {
	done := map[int]string{}
	err := sqlitex.Execute(conn, "SELECT version, checksum FROM schema_migrations", &sqlitex.ExecOptions{
		ResultFunc: func(s *sqlite.Stmt) error {
			done[s.ColumnInt(0)] = s.ColumnText(1)
			return nil
		},
	})
	return done, err
}

// applyMigration runs one block inside a savepoint of the caller's
// transaction, so a failing block leaves nothing behind.
func applyMigration(conn *sqlite.Conn, m migration, now time.Time) (err error) {
	defer sqlitex.Save(conn)(&err)
	if err := sqlitex.ExecuteScript(conn, m.SQL, nil); err != nil {
		return fmt.Errorf("%s migration %d (%s): %w", m.DB, m.Version, m.Name, err)
	}
	return sqlitex.Execute(conn, "INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (?, ?, ?, ?)",
		&sqlitex.ExecOptions{Args: []any{m.Version, m.Name, m.Checksum, now.UTC().Format(time.RFC3339)}})
}
