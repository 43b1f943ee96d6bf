package rip

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"time"

	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// registerAuth registers the account endpoints of the boot configuration.
func (a *App) registerAuth() {
	e := &a.boot.Endpoints
	a.HandleFunc(e.RegisterWithPassword, a.handleRegister)
	a.HandleFunc(e.AuthWithPassword, a.handleLogin)
	a.Handle(e.RefreshAuth, http.HandlerFunc(a.handleRefresh), requireJSON, a.RequireAuth)
	a.Handle(e.LogoutAll, http.HandlerFunc(a.handleLogoutAll), requireJSON, a.RequireAuth)
}

// writeTooMany answers 429 with Retry-After rounded up to whole seconds.
func writeTooMany(w http.ResponseWriter, wait time.Duration) {
	writeRetry(w, codeErrTooManyRequests, int((wait+time.Second-1)/time.Second))
}

// hashPassword runs the hasher under the concurrency cap.
func (a *App) hashPassword(ctx context.Context, pw string) (string, error) {
	var h string
	var err error
	if gerr := a.hashGate.run(ctx, func() { h, err = a.Hasher.Hash(pw) }); gerr != nil {
		return "", gerr
	}
	return h, err
}

// checkPassword verifies pw against u's hash, or against the dummy hash
// when u is nil or has no password, so both cost the same.
func (a *App) checkPassword(ctx context.Context, u *User, pw string) (ok, rehash bool, err error) {
	hash := a.dummyHash.get(a.Hasher)
	real := u != nil && u.passwordHash != ""
	if real {
		hash = u.passwordHash
	}
	if gerr := a.hashGate.run(ctx, func() { ok, rehash, err = a.Hasher.Verify(hash, pw) }); gerr != nil {
		return false, false, gerr
	}
	return ok && real, rehash, err
}

type registerRequest struct {
	Identity        string `json:"identity"`
	Password        string `json:"password"`
	PasswordConfirm string `json:"password_confirm"`
}

// handleRegister creates an unverified account and always answers 202.
//
// # Security
//
// The same 202 for a new email, an existing one and an OAuth2 account,
// after the same hashing work, so registration does not reveal which
// emails exist (OWASP Authentication CS). An existing account is never
// modified. Each registration spends the client address's budget, which
// bounds hashing CPU and account spam per address.
func (a *App) handleRegister(w http.ResponseWriter, r *http.Request) {
	var req registerRequest
	if !decodeJSON(w, r, &req) {
		return
	}
	if req.Identity == "" || req.Password == "" || req.PasswordConfirm == "" {
		writeReply(w, codeErrMissingFields, nil)
		return
	}
	email, ok := normalizeEmail(req.Identity)
	if !ok {
		writeReply(w, codeErrInvalidInput, nil)
		return
	}
	if req.Password != req.PasswordConfirm {
		writeReply(w, codeErrPasswordMismatch, nil)
		return
	}
	pw, err := preparePassword(req.Password)
	if err != nil {
		writeReply(w, codeErrWeakPassword, nil)
		return
	}
	addr := addrKey(a.clientIP(r))
	if !a.takeBudgets(w, r, budgetKey{budgetRegisterAddr, addr}) {
		return
	}
	hash, err := a.hashPassword(r.Context(), pw)
	if err != nil {
		a.Logger.Error("rip: hash password", "err", err)
		writeReply(w, codeErrPasswordHashingFailed, nil)
		return
	}
	err = a.Write(r.Context(), func(conn *sqlite.Conn) error {
		now := a.Now().UTC().Format(time.RFC3339)
		return sqlitex.Execute(conn, `INSERT INTO users (id, email, password, token_key, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (email) DO NOTHING`,
			&sqlitex.ExecOptions{Args: []any{newUserID(), email, hash, newTokenKey(), now, now}})
	})
	if a.writeDBError(w, err) {
		return
	}
	writeReply(w, codeOKPendingEmailVerification, nil)
}

type loginRequest struct {
	Identity string `json:"identity"`
	Password string `json:"password"`
}

// handleLogin checks email and password and answers a session token.
//
// # Security
//
// The checks are [App.passwordGate]'s: budgets per account (the email,
// known or not) and per client address charged before any hashing, the
// dummy hash for unknown accounts, so the single 401
// err_invalid_credentials reveals nothing. The 403 for an unverified
// account comes only after the password matched.
func (a *App) handleLogin(w http.ResponseWriter, r *http.Request) {
	var req loginRequest
	if !decodeJSON(w, r, &req) {
		return
	}
	if req.Identity == "" || req.Password == "" {
		writeReply(w, codeErrMissingFields, nil)
		return
	}
	email, ok := normalizeEmail(req.Identity)
	if !ok {
		writeReply(w, codeErrInvalidInput, nil)
		return
	}
	u, ok := a.passwordGate(w, r, email, req.Password)
	switch {
	case !ok:
	case u == nil:
		writeReply(w, codeErrInvalidCredentials, nil)
	case !u.Verified:
		writeReply(w, codeErrRequiredEmailVerify, nil)
	default:
		a.writeAuthOK(w, u, a.Now())
	}
}

// passwordGate checks the password of the account email under the login
// budgets; login, the e-mail verification request and the e-mail change
// request share it. It returns the account when the password matched
// (after settling the budgets and upgrading an old hash), nil with ok
// when it did not (the attempt stays charged), and ok false when it has
// answered itself (429 or 503).
//
// # Security
//
// Both budgets are charged before any hashing ([App.budgetTake]). An
// unknown account, and a password that fails the policy (it cannot match
// a stored hash), are checked against the dummy hash, so timing reveals
// nothing. Old-parameter and bcrypt hashes are upgraded here.
func (a *App) passwordGate(w http.ResponseWriter, r *http.Request, email, password string) (*User, bool) {
	addr := addrKey(a.clientIP(r))
	if !a.takeBudgets(w, r, budgetKey{budgetLoginAccount, email}, budgetKey{budgetLoginAddr, addr}) {
		return nil, false
	}
	u, err := a.userByEmail(r.Context(), email)
	if err != nil && !errors.Is(err, ErrNotFound) {
		a.writeDBError(w, err)
		return nil, false
	}
	pw, perr := preparePassword(password)
	if perr != nil {
		u, pw = nil, password[:min(len(password), maxPasswordBytes)]
	}
	match, rehash, err := a.checkPassword(r.Context(), u, pw)
	if err != nil {
		a.Logger.Error("rip: verify password", "err", err)
	}
	if !match {
		return nil, true // the attempt is already charged
	}
	err = a.Write(r.Context(), func(conn *sqlite.Conn) error {
		if rehash {
			if err := a.upgradeHash(r.Context(), conn, u, pw); err != nil {
				return err
			}
		}
		if err := budgetResetConn(conn, budgetLoginAccount, email); err != nil {
			return err
		}
		return budgetRefundConn(conn, budgetLoginAddr, addr)
	})
	return u, !a.writeDBError(w, err)
}

// takeBudgets charges one attempt to each budget before the attempt's
// work ([App.budgetTake]); it answers 429 or 503 and returns false when
// one is spent or unreadable.
func (a *App) takeBudgets(w http.ResponseWriter, r *http.Request, keys ...budgetKey) bool {
	wait, err := a.budgetTake(r.Context(), keys...)
	if a.writeDBError(w, err) {
		return false
	}
	if wait > 0 {
		writeTooMany(w, wait)
		return false
	}
	return true
}

// upgradeHash re-hashes pw with the current hasher and stores it. The
// token key stays: the user's sessions are not revoked by an upgrade, but
// the session key includes the hash, so the caller signs with the new u.
func (a *App) upgradeHash(ctx context.Context, conn *sqlite.Conn, u *User, pw string) error {
	h, err := a.hashPassword(ctx, pw)
	if err != nil {
		return err
	}
	defer a.forgetUserAfterCommit(conn, u.ID)
	if err := sqlitex.Execute(conn, "UPDATE users SET password = ?, updated_at = ? WHERE id = ?",
		&sqlitex.ExecOptions{Args: []any{h, a.Now().UTC().Format(time.RFC3339), u.ID}}); err != nil {
		return err
	}
	u.passwordHash = h
	return nil
}

// handleRefresh issues a new session token for a valid one.
//
// # Security
//
// The new token keeps the original auth_time, so refreshing cannot
// extend a session past jwt.session_max_age (ASVS 7.3.2); the old token
// stays valid until its own exp (logout-all revokes both).
func (a *App) handleRefresh(w http.ResponseWriter, r *http.Request) {
	u := UserFromContext(r.Context())
	c := r.Context().Value(ctxClaims).(*jwtClaims)
	a.writeAuthOK(w, u, time.Unix(c.AuthTime, 0))
}

// handleLogoutAll rotates the caller's token_key: every session token of
// the account, this one included, stops verifying.
func (a *App) handleLogoutAll(w http.ResponseWriter, r *http.Request) {
	u := UserFromContext(r.Context())
	err := a.Write(r.Context(), func(conn *sqlite.Conn) error { return a.rotateTokenKey(conn, u.ID) })
	if a.writeDBError(w, err) {
		return
	}
	writeReply(w, codeOKLogoutAll, nil)
}

// clientIP is the client address under the configuration in force.
func (a *App) clientIP(r *http.Request) netip.Addr {
	cfg := a.Config()
	return clientIP(r, cfg.Server.ClientIPProxyHeader, cfg.trustedProxies)
}
