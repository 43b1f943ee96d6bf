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
	// The address budget is generous: attempts are charged while in flight
	// (budgetTake), so Free also bounds the logins one address (a NAT, an
	// office) can have waiting for the hash gate at once.
	budgetLoginAddr    = budgetPolicy{Scope: "login_addr", Free: 100, Window: 15 * time.Minute, Base: 2 * time.Second, Max: 15 * time.Minute}
	budgetRegisterAddr = budgetPolicy{Scope: "register_addr", Free: 10, Window: time.Hour, Base: 30 * time.Second, Max: time.Hour}
	// Wrong one-time codes per account (keyed by e-mail), across codes:
	// 5 guesses burn a code, this bounds the guesses a day.
	budgetOTPAccount = budgetPolicy{Scope: "otp_account", Free: 20, Window: 24 * time.Hour, Base: time.Minute, Max: 24 * time.Hour}
	// Code requests (mails) per client address, every request charged.
	budgetOTPRequestAddr = budgetPolicy{Scope: "otp_request_addr", Free: 20, Window: time.Hour, Base: 30 * time.Second, Max: time.Hour}
	// Failed OAuth2 sign-ins per client address: each can cost a round
	// trip to the provider and a used-state row.
	budgetOAuth2Addr = budgetPolicy{Scope: "oauth2_addr", Free: 30, Window: 15 * time.Minute, Base: 2 * time.Second, Max: 15 * time.Minute}
)

// budgetKey is one budget an attempt spends: a policy and its key.
type budgetKey struct {
	p   budgetPolicy
	key string
}

// budgetTake charges one attempt to every budget in keys, in one write
// transaction, before the attempt's work; when any is spent it charges
// none and returns how long to wait. A successful attempt gives its
// charge back with [budgetRefundConn] (or clears the budget with
// [budgetResetConn]).
//
// # Security
//
// Checking in one transaction and charging in a later one let concurrent
// attempts all pass the check before any was charged: 25 parallel wrong
// passwords were all hashed where the budget allows 6. Charging first,
// atomically with the check, bounds the attempts whatever the
// concurrency.
func (a *App) budgetTake(ctx context.Context, keys ...budgetKey) (wait time.Duration, err error) {
	err = a.Write(ctx, func(conn *sqlite.Conn) error {
		now := a.Now()
		for _, k := range keys {
			w, err := budgetWaitConn(conn, k.p, k.key, now)
			if err != nil {
				return err
			}
			wait = max(wait, w)
		}
		if wait > 0 {
			return nil
		}
		for _, k := range keys {
			if err := budgetFailConn(conn, k.p, k.key, now); err != nil {
				return err
			}
		}
		return nil
	})
	return wait, err
}

// budgetWaitConn returns how long (p, key) is blocked at t, inside the
// caller's transaction; zero means an attempt may go ahead.
func budgetWaitConn(conn *sqlite.Conn, p budgetPolicy, key string, t time.Time) (time.Duration, error) {
	var until int64
	err := sqlitex.Execute(conn, "SELECT blocked_until FROM attempt_budgets WHERE scope = ? AND key = ?", &sqlitex.ExecOptions{
		Args: []any{p.Scope, key}, ResultFunc: func(s *sqlite.Stmt) error { until = s.ColumnInt64(0); return nil }})
	if now := t.Unix(); err == nil && until > now {
		return time.Duration(until-now) * time.Second, nil
	}
	return 0, err
}

// budgetRefundConn gives back one attempt charged by [App.budgetTake]
// that succeeded, inside the caller's transaction; the block is lifted
// when the count falls back within the free attempts.
func budgetRefundConn(conn *sqlite.Conn, p budgetPolicy, key string) error {
	return sqlitex.Execute(conn, `UPDATE attempt_budgets SET failures = max(failures - 1, 0),
		blocked_until = CASE WHEN failures - 1 > ? THEN blocked_until ELSE 0 END WHERE scope = ? AND key = ?`,
		&sqlitex.ExecOptions{Args: []any{p.Free, p.Scope, key}})
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

// budgetPolicies lists every policy, for the purge.
var budgetPolicies = []budgetPolicy{budgetLoginAccount, budgetLoginAddr, budgetRegisterAddr,
	budgetOTPAccount, budgetOTPRequestAddr, budgetOAuth2Addr}

// budgetPurgeBatch bounds the rows one purge deletes, so a table an
// attacker filled is emptied over several runs without a long write.
const budgetPurgeBatch = 5000

// budgetPurge deletes rows that no longer carry information: their block
// is over and their last failure is older than the longest window, so
// budgetFailConn would start them from zero anyway.
//
// # Security
//
// Rows are keyed by attacker-chosen strings (any e-mail, any /64), so
// without a purge the table grows without bound.
func budgetPurge(conn *sqlite.Conn, t time.Time) error {
	var window time.Duration
	for _, p := range budgetPolicies {
		window = max(window, p.Window)
	}
	now := t.Unix()
	return sqlitex.Execute(conn, `DELETE FROM attempt_budgets WHERE (scope, key) IN (
		SELECT scope, key FROM attempt_budgets WHERE blocked_until <= ? AND last_failure < ? LIMIT ?)`,
		&sqlitex.ExecOptions{Args: []any{now, now - int64(window/time.Second), budgetPurgeBatch}})
}

// budgetReset clears (p, key) after a success.
func budgetResetConn(conn *sqlite.Conn, p budgetPolicy, key string) error {
	return sqlitex.Execute(conn, "DELETE FROM attempt_budgets WHERE scope = ? AND key = ?", &sqlitex.ExecOptions{Args: []any{p.Scope, key}})
}
