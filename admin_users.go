package rip

import (
	"context"
	"fmt"
	"time"

	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// UserRecord is one account as [Admin.ListUsers] reports it: never the
// password hash or the token key.
type UserRecord struct {
	ID          string    `json:"id"`
	Email       string    `json:"email"`
	Name        string    `json:"name"`
	Verified    bool      `json:"verified"`
	OAuth2      bool      `json:"oauth2"`
	HasPassword bool      `json:"has_password"`
	CreatedAt   time.Time `json:"created_at"`
}

// maxListUsers caps one ListUsers answer.
const maxListUsers = 10_000

// ListUsers returns up to limit accounts (all up to maxListUsers when
// limit < 1), newest first, optionally only those whose e-mail contains
// match.
func (ad *Admin) ListUsers(ctx context.Context, match string, limit int) ([]UserRecord, error) {
	if limit < 1 || limit > maxListUsers {
		limit = maxListUsers
	}
	var out []UserRecord
	err := ad.dbs.app.Read(ctx, 30*time.Second, func(conn *sqlite.Conn) error {
		return sqlitex.Execute(conn, `SELECT id, email, name, verified, oauth2, password != '', created_at FROM users
			WHERE instr(email, ?) > 0 ORDER BY created_at DESC, id LIMIT ?`, &sqlitex.ExecOptions{
			Args: []any{match, limit}, ResultFunc: func(s *sqlite.Stmt) error {
				created, _ := time.Parse(time.RFC3339, s.ColumnText(6))
				out = append(out, UserRecord{ID: s.ColumnText(0), Email: s.ColumnText(1), Name: s.ColumnText(2),
					Verified: s.ColumnBool(3), OAuth2: s.ColumnBool(4), HasPassword: s.ColumnBool(5), CreatedAt: created})
				return nil
			}})
	})
	return out, err
}

// RevokeUser rotates the token_key of the account with email, ending all
// its sessions, pending codes and reset grants.
//
// # Security
//
// The incident-response lever: works beside a running server, which
// stops accepting the account's tokens once its user cache entry ages
// out (userCacheTTL, 5 s).
func (ad *Admin) RevokeUser(ctx context.Context, email string) error {
	norm, ok := normalizeEmail(email)
	if !ok {
		return fmt.Errorf("rip: %q is not an e-mail address", email)
	}
	return ad.dbs.app.Write(ctx, 30*time.Second, func(conn *sqlite.Conn) error {
		err := sqlitex.Execute(conn, "UPDATE users SET token_key = ?, updated_at = ? WHERE email = ?",
			&sqlitex.ExecOptions{Args: []any{newTokenKey(), ad.Now().UTC().Format(time.RFC3339), norm}})
		if err != nil {
			return err
		}
		if conn.Changes() == 0 {
			return fmt.Errorf("rip: no account with e-mail %s: %w", norm, ErrNotFound)
		}
		return nil
	})
}
