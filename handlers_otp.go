package rip

import (
	"errors"
	"net/http"
	"time"

	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// registerOTP registers the e-mail verification, password reset and
// e-mail change endpoints of the boot configuration, and their jobs.
func (a *App) registerOTP() {
	e := &a.boot.Endpoints
	a.HandleFunc(e.RequestEmailVerificationOTP, a.handleRequestVerification)
	a.HandleFunc(e.ConfirmEmailVerificationOTP, a.handleConfirmVerification)
	a.HandleFunc(e.RequestPasswordResetOTP, a.handleRequestPasswordReset)
	a.HandleFunc(e.VerifyPasswordResetOTP, a.handleVerifyPasswordReset)
	a.HandleFunc(e.ConfirmPasswordResetOTP, a.handleConfirmPasswordReset)
	a.Handle(e.RequestEmailChangeOTP, http.HandlerFunc(a.handleRequestEmailChange), requireJSON, a.RequireAuth)
	a.Handle(e.ConfirmEmailChangeOTP, http.HandlerFunc(a.handleConfirmEmailChange), requireJSON, a.RequireAuth)
	a.registerMail()
	a.registerBackup()
}

// otpJWTPurpose maps a code's purpose to the purpose of the token that
// carries its id.
func otpJWTPurpose(p otpPurpose) jwtPurpose {
	switch p {
	case otpVerification:
		return jwtEmailVerify
	case otpPasswordReset:
		return jwtResetOTP
	}
	return jwtEmailChange
}

// otpToken signs the token a client holds for code id: it names the row
// and expires with it. c carries the purpose's other claims.
func (a *App) otpToken(p otpPurpose, id string, c jwtClaims) (string, error) {
	cfg := a.Config()
	now := a.Now()
	c.OTPID, c.IssuedAt, c.Expires = id, now.Unix(), now.Add(otpTTL(cfg, p)).Unix()
	return jwtSign(otpJWTPurpose(p), otpSecret(cfg, p), &c)
}

// otpClaims parses and verifies a code token of purpose p.
func (a *App) otpClaims(p otpPurpose, token string) (*jwtClaims, bool) {
	var c jwtClaims
	if jwtParse(otpJWTPurpose(p), token, &c) != nil ||
		jwtVerify(token, otpSecret(a.Config(), p), &c, a.Now()) != nil {
		return nil, false
	}
	return &c, true
}

// writeOTPIssued answers 200 ok_otp_token_issued with the token of code
// id, or 500 err_token_generation.
func (a *App) writeOTPIssued(w http.ResponseWriter, p otpPurpose, id string, c jwtClaims) {
	tok, err := a.otpToken(p, id, c)
	if err != nil {
		a.Logger.Error("rip: sign code token", "err", err)
		writeReply(w, codeErrTokenGeneration, nil)
		return
	}
	writeReply(w, codeOKOTPTokenIssued, map[string]string{"verification_token": tok})
}

// otpRequestBudget charges a code request to the client address's
// budget; it answers 429 or 503 and returns false when it is spent.
func (a *App) otpRequestBudget(w http.ResponseWriter, r *http.Request) bool {
	return a.takeBudgets(w, r, budgetKey{budgetOTPRequestAddr, addrKey(a.clientIP(r))})
}

// Errors an otpAttempt action returns to roll back and answer:
// errOTPRejected → 401 err_invalid_otp, errEmailTaken → 409
// err_email_conflict.
var (
	errOTPRejected = errors.New("rip: code check refused")
	errEmailTaken  = errors.New("rip: e-mail address taken")
)

// otpAttempt runs what every code check shares, in order: the token of
// purpose p, the code's format, the account's code budget, and inside one
// transaction the code itself and the account's token_key. On a match it
// calls act in the same transaction and returns the account; otherwise it
// has answered (401 err_invalid_otp, 429, 503) and returns nil.
//
// # Security
//
// The token only names the row; the code's MAC, expiry, use and
// attempts live server-side (see [App.otpConsume]). Wrong codes are
// charged to a per-account budget across codes, so new codes do not
// buy new guesses: 5 per code and about 20 a day, a success chance
// near 2×10⁻⁵ per day. A code issued before a password reset, an e-mail
// change or logout-all fails because token_key changed. Every failure
// is the same 401.
func (a *App) otpAttempt(w http.ResponseWriter, r *http.Request, p otpPurpose, token, code string,
	act func(conn *sqlite.Conn, row *otpRow, u *User) error) *User {
	c, ok := a.otpClaims(p, token)
	if !ok || !otpValidCode(code) {
		writeReply(w, codeErrInvalidOTP, nil)
		return nil
	}
	var user *User
	var wait time.Duration
	err := a.Write(r.Context(), func(conn *sqlite.Conn) (err error) {
		// The budget is read and charged in this one transaction, so
		// concurrent guesses cannot all pass the check first.
		if wait, err = budgetWaitConn(conn, budgetOTPAccount, c.Email, a.Now()); err != nil || wait > 0 {
			return err
		}
		row, match, err := a.otpConsume(conn, p, c.OTPID, code)
		if err != nil {
			return err
		}
		if !match {
			return budgetFailConn(conn, budgetOTPAccount, c.Email, a.Now())
		}
		u, keyOK, err := a.otpUser(conn, row)
		if err != nil {
			return err
		}
		if u == nil || !keyOK || row.Email != c.Email || u.Email != row.Email {
			return nil // the code is used up, and the account moved on
		}
		if err := act(conn, row, u); err != nil {
			return err
		}
		user = u
		return nil
	})
	switch {
	case err == nil && wait > 0:
		writeTooMany(w, wait)
		return nil
	case errors.Is(err, errOTPRejected):
		writeReply(w, codeErrInvalidOTP, nil)
		return nil
	case errors.Is(err, errEmailTaken):
		writeReply(w, codeErrEmailConflict, nil)
		return nil
	case a.writeDBError(w, err):
		return nil
	case user == nil:
		writeReply(w, codeErrInvalidOTP, nil)
		return nil
	}
	a.userCache.Delete(user.ID)
	return user
}

type otpRequestBody struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

// handleRequestVerification mails an e-mail verification code to an
// unverified account whose password the caller knows.
//
// # Security
//
// The password check runs against the dummy hash for unknown addresses
// and a wrong password is charged like a failed login, so the endpoint
// neither reveals accounts nor opens a second password-guessing door.
// Only after the password matched can the answer differ (202
// ok_already_verified, 409 inside the cooldown).
func (a *App) handleRequestVerification(w http.ResponseWriter, r *http.Request) {
	var req otpRequestBody
	if !decodeJSON(w, r, &req) {
		return
	}
	if req.Email == "" || req.Password == "" {
		writeReply(w, codeErrMissingFields, nil)
		return
	}
	email, ok := normalizeEmail(req.Email)
	if !ok {
		writeReply(w, codeErrInvalidInput, nil)
		return
	}
	if _, err := preparePassword(req.Password); err != nil {
		writeReply(w, codeErrWeakPassword, nil)
		return
	}
	if !a.otpRequestBudget(w, r) {
		return
	}
	u, ok := a.passwordGate(w, r, email, req.Password)
	if !ok {
		return
	}
	if u == nil {
		writeReply(w, codeErrInvalidInput, nil)
		return
	}
	if u.Verified {
		writeReply(w, codeOKAlreadyVerified, nil)
		return
	}
	var id string
	var cooled bool
	err := a.Write(r.Context(), func(conn *sqlite.Conn) (err error) {
		id, cooled, err = a.otpIssue(conn, otpRequest{Purpose: otpVerification, UserID: u.ID, UserKey: u.tokenKey, Email: u.Email, Send: true})
		return err
	})
	if a.writeDBError(w, err) {
		return
	}
	if cooled {
		writeReply(w, codeErrEmailOTPAlreadyRequested, nil)
		return
	}
	a.writeOTPIssued(w, otpVerification, id, jwtClaims{Email: u.Email})
}

type otpConfirmBody struct {
	OTP               string `json:"otp"`
	VerificationToken string `json:"verification_token"`
}

// decodeOTPConfirm reads {otp, verification_token}; both are required.
func decodeOTPConfirm(w http.ResponseWriter, r *http.Request) (otpConfirmBody, bool) {
	var req otpConfirmBody
	if !decodeJSON(w, r, &req) {
		return req, false
	}
	if req.OTP == "" || req.VerificationToken == "" {
		writeReply(w, codeErrMissingFields, nil)
		return req, false
	}
	return req, true
}

// handleConfirmVerification marks the account verified and logs it in.
func (a *App) handleConfirmVerification(w http.ResponseWriter, r *http.Request) {
	req, ok := decodeOTPConfirm(w, r)
	if !ok {
		return
	}
	u := a.otpAttempt(w, r, otpVerification, req.VerificationToken, req.OTP, func(conn *sqlite.Conn, _ *otpRow, u *User) error {
		u.Verified = true
		return sqlitex.Execute(conn, "UPDATE users SET verified = 1, updated_at = ? WHERE id = ?",
			&sqlitex.ExecOptions{Args: []any{a.Now().UTC().Format(time.RFC3339), u.ID}})
	})
	if u != nil {
		a.writeAuthOK(w, u, a.Now())
	}
}

type resetRequestBody struct {
	Email string `json:"email"`
}

// handleRequestPasswordReset mails a reset code to a verified account,
// and answers the same for every other address. A verified OAuth2-only
// account (no password yet) gets a code too: the reset is how it sets a
// password.
//
// # Security
//
// Unknown and unverified addresses get a token for a row that can never
// verify, after the same database work, so the answer and its timing do
// not reveal accounts (OWASP Forgot Password CS). Unverified accounts get
// no code, as in restinpieces: they verify first (or an OAuth2 sign-in
// with the address takes them over, see [App.oauth2Account]).
// Requests are charged to the client address's budget; mails to one
// address are limited by the cooldown.
func (a *App) handleRequestPasswordReset(w http.ResponseWriter, r *http.Request) {
	var req resetRequestBody
	if !decodeJSON(w, r, &req) {
		return
	}
	if req.Email == "" {
		writeReply(w, codeErrMissingFields, nil)
		return
	}
	email, ok := normalizeEmail(req.Email)
	if !ok {
		writeReply(w, codeErrInvalidInput, nil)
		return
	}
	if !a.otpRequestBudget(w, r) {
		return
	}
	u, err := a.userByEmail(r.Context(), email)
	if err != nil && !errors.Is(err, ErrNotFound) {
		a.writeDBError(w, err)
		return
	}
	req2 := otpRequest{Purpose: otpPasswordReset, Email: email}
	if u != nil && u.Verified {
		req2.UserID, req2.UserKey, req2.Send = u.ID, u.tokenKey, true
	}
	var id string
	err = a.Write(r.Context(), func(conn *sqlite.Conn) (err error) {
		id, _, err = a.otpIssue(conn, req2)
		return err
	})
	if a.writeDBError(w, err) {
		return
	}
	a.writeOTPIssued(w, otpPasswordReset, id, jwtClaims{Email: email})
}

// handleVerifyPasswordReset exchanges a reset code for a grant token
// that allows setting a new password (202 ok_password_reset_otp_verified).
func (a *App) handleVerifyPasswordReset(w http.ResponseWriter, r *http.Request) {
	req, ok := decodeOTPConfirm(w, r)
	if !ok {
		return
	}
	u := a.otpAttempt(w, r, otpPasswordReset, req.VerificationToken, req.OTP, func(*sqlite.Conn, *otpRow, *User) error { return nil })
	if u == nil {
		return
	}
	tok, err := a.resetGrant(u)
	if err != nil {
		a.Logger.Error("rip: sign reset grant", "err", err)
		writeReply(w, codeErrTokenGeneration, nil)
		return
	}
	writeReply(w, codeOKPasswordResetOTPVerified, map[string]string{"token": tok})
}

// resetGrant signs u's password-reset grant.
//
// # Security
//
// The grant's key is derived from the reset secret, u's e-mail, password
// hash and token_key, so it dies when the password is set (single use by
// construction), on logout-all and on an e-mail change; its uid_mac lets
// a forged user id be refused before any read.
func (a *App) resetGrant(u *User) (string, error) {
	cfg := a.Config()
	secret := []byte(cfg.JWT.PasswordResetSecret)
	now := a.Now()
	key := jwtUserKey(secret, u.Email, u.passwordHash, u.tokenKey)
	return jwtSign(jwtResetGrant, key[:], &jwtClaims{UserID: u.ID, UIDMAC: jwtUIDMAC(secret, u.ID), Email: u.Email,
		IssuedAt: now.Unix(), Expires: now.Add(cfg.JWT.PasswordResetTokenDuration).Unix()})
}

// resetGrantUser verifies a grant token and returns its account.
func (a *App) resetGrantUser(r *http.Request, token string) (*User, error) {
	secret := []byte(a.Config().JWT.PasswordResetSecret)
	var c jwtClaims
	if jwtParse(jwtResetGrant, token, &c) != nil || !jwtUIDMACValid(secret, c.UserID, c.UIDMAC) {
		return nil, nil
	}
	u, err := a.findUser(r.Context(), "id", c.UserID)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			err = nil
		}
		return nil, err
	}
	key := jwtUserKey(secret, u.Email, u.passwordHash, u.tokenKey)
	if jwtVerify(token, key[:], &c, a.Now()) != nil || c.Email != u.Email {
		return nil, nil
	}
	return u, nil
}

type resetConfirmBody struct {
	Token           string `json:"token"`
	Password        string `json:"password"`
	PasswordConfirm string `json:"password_confirm"`
}

// handleConfirmPasswordReset sets a new password with a grant token. It
// does not log the user in.
//
// # Security
//
// Every session of the account is revoked (token_key rotates), also when
// the new password equals the old one: the grant itself dies either way
// (OWASP Forgot Password CS; ASVS 5 7.4.3). The account's login budget
// is cleared, since the owner proved control of the mailbox.
func (a *App) handleConfirmPasswordReset(w http.ResponseWriter, r *http.Request) {
	var req resetConfirmBody
	if !decodeJSON(w, r, &req) {
		return
	}
	if req.Token == "" || req.Password == "" || req.PasswordConfirm == "" {
		writeReply(w, codeErrMissingFields, nil)
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
	u, err := a.resetGrantUser(r, req.Token)
	if a.writeDBError(w, err) {
		return
	}
	if u == nil {
		writeReply(w, codeErrInvalidVerificationToken, nil)
		return
	}
	same, _, err := a.checkPassword(r.Context(), u, pw)
	if err != nil {
		a.Logger.Error("rip: verify password", "err", err)
	}
	hash := u.passwordHash
	if !same {
		if hash, err = a.hashPassword(r.Context(), pw); err != nil {
			a.Logger.Error("rip: hash password", "err", err)
			writeReply(w, codeErrPasswordHashingFailed, nil)
			return
		}
	}
	err = a.Write(r.Context(), func(conn *sqlite.Conn) error {
		// The grant is checked again inside the transaction: two
		// concurrent confirms cannot both pass.
		var cur []byte
		if err := sqlitex.Execute(conn, "SELECT token_key FROM users WHERE id = ?", &sqlitex.ExecOptions{
			Args: []any{u.ID}, ResultFunc: func(s *sqlite.Stmt) error { cur = columnBytes(s, 0); return nil }}); err != nil {
			return err
		}
		if string(cur) != string(u.tokenKey) {
			return errOTPRejected
		}
		if err := sqlitex.Execute(conn, "UPDATE users SET password = ? WHERE id = ?", &sqlitex.ExecOptions{Args: []any{hash, u.ID}}); err != nil {
			return err
		}
		if err := budgetResetConn(conn, budgetLoginAccount, u.Email); err != nil {
			return err
		}
		return a.rotateTokenKey(conn, u.ID)
	})
	if errors.Is(err, errOTPRejected) {
		writeReply(w, codeErrInvalidVerificationToken, nil)
		return
	}
	if a.writeDBError(w, err) {
		return
	}
	if same {
		writeReply(w, codeOKPasswordResetNotNeeded, nil)
		return
	}
	writeReply(w, codeOKPasswordReset, nil)
}

type emailChangeBody struct {
	NewEmail string `json:"new_email"`
	Password string `json:"password"`
}

// handleRequestEmailChange mails a code to the new address of the
// signed-in, verified account, after re-checking its password.
//
// # Security
//
// Re-authentication by password (ASVS 5 7.5.1) under the login budgets.
// An address that belongs to another account gets the same answer and
// no mail, so the endpoint does not reveal accounts. The code is bound
// to the account, both addresses and token_key.
func (a *App) handleRequestEmailChange(w http.ResponseWriter, r *http.Request) {
	u := UserFromContext(r.Context())
	if !u.Verified {
		writeReply(w, codeErrUnverifiedEmail, nil)
		return
	}
	var req emailChangeBody
	if !decodeJSON(w, r, &req) {
		return
	}
	if req.NewEmail == "" || req.Password == "" {
		writeReply(w, codeErrMissingFields, nil)
		return
	}
	newEmail, ok := normalizeEmail(req.NewEmail)
	if !ok {
		writeReply(w, codeErrInvalidInput, nil)
		return
	}
	if !a.otpRequestBudget(w, r) {
		return
	}
	checked, ok := a.passwordGate(w, r, u.Email, req.Password)
	if !ok {
		return
	}
	if checked == nil || checked.ID != u.ID {
		writeReply(w, codeErrInvalidCredentials, nil)
		return
	}
	if newEmail == u.Email {
		writeReply(w, codeErrEmailConflict, nil)
		return
	}
	other, err := a.userByEmail(r.Context(), newEmail)
	if err != nil && !errors.Is(err, ErrNotFound) {
		a.writeDBError(w, err)
		return
	}
	var id string
	err = a.Write(r.Context(), func(conn *sqlite.Conn) (err error) {
		id, _, err = a.otpIssue(conn, otpRequest{Purpose: otpEmailChange, UserID: u.ID, UserKey: checked.tokenKey,
			Email: u.Email, NewEmail: newEmail, Send: other == nil})
		return err
	})
	if a.writeDBError(w, err) {
		return
	}
	a.writeOTPIssued(w, otpEmailChange, id, jwtClaims{UserID: u.ID, Email: u.Email, NewEmail: newEmail})
}

// handleConfirmEmailChange moves the signed-in account to the new
// address with the code mailed there, alerts the old address and ends
// every session (200 ok_email_change).
//
// # Security
//
// The token must name the caller and the code must have been issued to
// this account with its current token_key and address. The alert to the
// old address lets its owner notice a takeover (ASVS 5 6.3.7). A new
// address taken in the meantime answers 409 err_email_conflict and
// changes nothing.
func (a *App) handleConfirmEmailChange(w http.ResponseWriter, r *http.Request) {
	caller := UserFromContext(r.Context())
	req, ok := decodeOTPConfirm(w, r)
	if !ok {
		return
	}
	if c, ok := a.otpClaims(otpEmailChange, req.VerificationToken); !ok || c.UserID != caller.ID {
		writeReply(w, codeErrInvalidOTP, nil)
		return
	}
	u := a.otpAttempt(w, r, otpEmailChange, req.VerificationToken, req.OTP, func(conn *sqlite.Conn, row *otpRow, u *User) error {
		if row.UserID != caller.ID {
			return errOTPRejected
		}
		err := sqlitex.Execute(conn, "UPDATE users SET email = ?, updated_at = ? WHERE id = ?",
			&sqlitex.ExecOptions{Args: []any{row.NewEmail, a.Now().UTC().Format(time.RFC3339), u.ID}})
		if sqlite.ErrCode(err) == sqlite.ResultConstraintUnique {
			return errEmailTaken
		}
		if err != nil {
			return err
		}
		if err := a.rotateTokenKey(conn, u.ID); err != nil {
			return err
		}
		return a.enqueueMail(conn, mailJob{OldEmail: row.Email, NewEmail: row.NewEmail})
	})
	if u != nil {
		writeReply(w, codeOKEmailChange, nil)
	}
}
