package rip

import (
	"context"
	"time"

	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// budgetPolicy is an attempt budget: Free failures within Window cost
// nothing; each further one doubles a wait, from Base up to Max, during
// which attempts are refused with 429. A quiet Window resets the count.
//
// # Security
//
// A growing delay rather than a hard lockout: an attacker cannot lock the
// owner out for long, but online guessing slows to a crawl (OWASP
// Authentication Cheat Sheet "Account Lockout"; NIST SP 800-63B caps
// consecutive failures). Budgets live in SQLite, so a restart does not
// reset them.
type budgetPolicy struct {
	Scope  string
	Free   int
	Window time.Duration
	Base   time.Duration
	Max    time.Duration
}

// The budgets rip applies. Per-account keys are the normalised email
// (known or not, so budgets reveal nothing); per-address keys are IPv4
// addresses or IPv6 /64s.
var (
	budgetLoginAccount = budgetPolicy{Scope: "login_account", Free: 5, Window: 15 * time.Minute, Base: 2 * time.Second, Max: 15 * time.Minute}
	budgetLoginAddr    = budgetPolicy{Scope: "login_addr", Free: 30, Window: 15 * time.Minute, Base: 2 * time.Second, Max: 15 * time.Minute}
	budgetRegisterAddr = budgetPolicy{Scope: "register_addr", Free: 10, Window: time.Hour, Base: 30 * time.Second, Max: time.Hour}
	// Wrong one-time codes per account (keyed by e-mail), across codes:
	// 5 guesses burn a code, this bounds the guesses a day.
	budgetOTPAccount = budgetPolicy{Scope: "otp_account", Free: 20, Window: 24 * time.Hour, Base: time.Minute, Max: 24 * time.Hour}
	// Code requests (mails) per client address, every request charged.
	budgetOTPRequestAddr = budgetPolicy{Scope: "otp_request_addr", Free: 20, Window: time.Hour, Base: 30 * time.Second, Max: time.Hour}
)

// budgetCheck returns how long the caller must wait before another attempt
// under (p, key); zero means go ahead.
func (a *App) budgetCheck(ctx context.Context, p budgetPolicy, key string) (time.Duration, error) {
	var until int64
	err := a.Read(ctx, func(conn *sqlite.Conn) error {
		return sqlitex.Execute(conn, "SELECT blocked_until FROM attempt_budgets WHERE scope = ? AND key = ?", &sqlitex.ExecOptions{
			Args: []any{p.Scope, key}, ResultFunc: func(s *sqlite.Stmt) error { until = s.ColumnInt64(0); return nil }})
	})
	if err != nil {
		return 0, err
	}
	now := a.Now().Unix()
	if until > now {
		return time.Duration(until-now) * time.Second, nil
	}
	return 0, nil
}

// budgetFailConn records one failed (or, for registration, one) attempt inside the caller's transaction.
func budgetFailConn(conn *sqlite.Conn, p budgetPolicy, key string, t time.Time) error {
	now := t.Unix()
	failures, last := 0, int64(0)
	err := sqlitex.Execute(conn, "SELECT failures, last_failure FROM attempt_budgets WHERE scope = ? AND key = ?", &sqlitex.ExecOptions{
		Args: []any{p.Scope, key}, ResultFunc: func(s *sqlite.Stmt) error { failures, last = s.ColumnInt(0), s.ColumnInt64(1); return nil }})
	if err != nil {
		return err
	}
	if now-last > int64(p.Window/time.Second) {
		failures = 0
	}
	failures++
	var until int64
	if over := failures - p.Free; over > 0 {
		wait := p.Base
		for i := 1; i < over && wait < p.Max; i++ {
			wait *= 2
		}
		until = now + int64(min(wait, p.Max)/time.Second)
	}
	return sqlitex.Execute(conn, `INSERT INTO attempt_budgets (scope, key, failures, last_failure, blocked_until) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (scope, key) DO UPDATE SET failures = excluded.failures, last_failure = excluded.last_failure, blocked_until = excluded.blocked_until`,
		&sqlitex.ExecOptions{Args: []any{p.Scope, key, failures, now, until}})
}

// budgetReset clears (p, key) after a success.
func budgetResetConn(conn *sqlite.Conn, p budgetPolicy, key string) error {
	return sqlitex.Execute(conn, "DELETE FROM attempt_budgets WHERE scope = ? AND key = ?", &sqlitex.ExecOptions{Args: []any{p.Scope, key}})
}
