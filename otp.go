package rip

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"time"

	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// otpPurpose names what a one-time code proves; it is stored with the
// code and must match when the code is used.
type otpPurpose string

const (
	otpVerification  otpPurpose = "verification"   // e-mail verification
	otpPasswordReset otpPurpose = "password_reset" // step 1 of a password reset
	otpEmailChange   otpPurpose = "email_change"   // ownership of the new address
)

const (
	// otpDigits is the code length: 10^6 codes, ASVS 5 6.5.4's 20 bits.
	otpDigits = 6
	// otpMaxAttempts wrong guesses burn a code (ASVS 5 6.6.3).
	otpMaxAttempts = 5
	// otpRetention is how long a used or expired row is kept before the
	// purge deletes it; cooldowns look back at most this far.
	otpRetention = 48 * time.Hour
)

// otpRow is one row of the otps table.
type otpRow struct {
	ID, UserID, Email, NewEmail string
	AliasOf                     string // the row whose code this one stands for; "" for none
	Purpose                     otpPurpose
	CodeHash, UserKey           []byte
	Attempts                    int
	Consumed                    bool
	Expires                     int64 // unix seconds
}

// otpRequest describes a code to issue.
type otpRequest struct {
	Purpose otpPurpose
	// UserID is the account the code is for; "" issues a row that can
	// never verify, so that requests for unknown addresses do the same
	// work and get the same answer as requests for known ones.
	UserID string
	// UserKey is the account's token_key now: a code dies when it rotates
	// (password reset, e-mail change, logout-all).
	UserKey         []byte
	Email, NewEmail string
	// Send false stores the row without a code to mail.
	Send bool
}

// recipient is the address the code is mailed to, which the cooldown is
// keyed by.
func (r *otpRequest) recipient() string {
	if r.Purpose == otpEmailChange {
		return r.NewEmail
	}
	return r.Email
}

// otpSecret returns the configured secret of purpose p's flow, which keys
// both its tokens and its code hashes.
func otpSecret(cfg *Config, p otpPurpose) []byte {
	switch p {
	case otpVerification:
		return []byte(cfg.JWT.VerificationEmailOTPSecret)
	case otpPasswordReset:
		return []byte(cfg.JWT.PasswordResetSecret)
	}
	return []byte(cfg.JWT.EmailChangeOTPSecret)
}

// otpTTL and otpCooldown return purpose p's code lifetime and the
// minimum time between two mails to one address.
func otpTTL(cfg *Config, p otpPurpose) time.Duration {
	switch p {
	case otpVerification:
		return cfg.JWT.VerificationEmailOTPTokenDuration
	case otpPasswordReset:
		return cfg.JWT.PasswordResetTokenDuration
	}
	return cfg.JWT.EmailChangeOTPTokenDuration
}

func otpCooldown(cfg *Config, p otpPurpose) time.Duration {
	switch p {
	case otpVerification:
		return cfg.RateLimits.EmailVerificationOTPCooldown
	case otpPasswordReset:
		return cfg.RateLimits.PasswordResetCooldown
	}
	return cfg.RateLimits.EmailChangeCooldown
}

// otpNewCode returns a uniformly random code of otpDigits decimal digits.
//
// # Security
//
// crypto/rand with rejection sampling, so every code is equally likely
// (a plain modulo would favour low codes); ASVS 5 6.5.3.
func otpNewCode() string {
	const limit = 1_000_000
	const bound = (1 << 32) / limit * limit // largest multiple below 2^32
	var b [4]byte
	for {
		rand.Read(b[:])
		if v := binary.BigEndian.Uint32(b[:]); v < bound {
			s := []byte("000000")
			v %= limit
			for i := otpDigits - 1; i >= 0; i-- {
				s[i] = byte('0' + v%10)
				v /= 10
			}
			return string(s)
		}
	}
}

// otpValidCode reports whether s is exactly otpDigits ASCII digits: no
// spaces, signs or non-ASCII digits are trimmed or accepted.
func otpValidCode(s string) bool {
	if len(s) != otpDigits {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// otpHash is the stored form of a code: HMAC-SHA256(secret, "otp:" ‖ id ‖
// ":" ‖ code).
//
// # Security
//
// Only the MAC is kept once the mail is sent (ASVS 4 2.7.5). Binding the
// row id means a hash cannot be moved to another row; keying with the
// flow's secret means a copy of the database alone does not allow an
// offline search of the 10^6 codes.
func otpHash(secret []byte, id, code string) []byte {
	sum := jwtHMAC(secret, "otp:"+id+":"+code)
	return sum[:]
}

// otpIssue stores a code for req inside the caller's transaction and
// queues its mail. It returns the id the client's token refers to, a new
// one on every call. cooled reports that a mail for the same purpose went
// to the same address within the cooldown: then no new mail is sent, and
// the new row is an alias of the live code already mailed to the same
// account when there is one (so a client that lost its token can still
// use the mailed code), or a row without a code.
//
// # Security
//
// Known and unknown addresses take the same path: a new row and a mail
// job are written every time, and for an unknown address the row has no
// user and no code, so it can never verify and its job sends nothing.
// The id is new on every request whatever the address: reusing the live
// row's id for a repeat request let anyone tell registered addresses
// from unknown ones by comparing two tokens. The cooldown is sliding and
// per address, so repeated requests cannot mail an inbox more than once
// per cooldown.
func (a *App) otpIssue(conn *sqlite.Conn, req otpRequest) (id string, cooled bool, err error) {
	cfg := a.Config()
	now := a.Now()
	live, cooled, err := otpRecent(conn, req, now.Add(-otpCooldown(cfg, req.Purpose)).Unix(), now.Unix())
	if err != nil {
		return "", false, err
	}
	var rid [16]byte
	rand.Read(rid[:])
	id = hex.EncodeToString(rid[:])
	code := otpNewCode()
	var plain any // NULL: nothing to mail
	send := req.Send && !cooled && req.UserID != ""
	if send {
		plain = code
	}
	err = sqlitex.Execute(conn, `INSERT INTO otps (id, purpose, user_id, user_key, email, new_email, recipient, code_hash, code, sent, alias_of, expires_at, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, &sqlitex.ExecOptions{Args: []any{
		id, string(req.Purpose), req.UserID, req.UserKey, req.Email, req.NewEmail, req.recipient(), otpHash(otpSecret(cfg, req.Purpose), id, code),
		plain, send, live, now.Add(otpTTL(cfg, req.Purpose)).Unix(), now.Unix()}})
	if err != nil {
		return "", false, err
	}
	return id, cooled, a.enqueueMail(conn, mailJob{OTPID: id})
}

// otpRecent looks for a code of req's purpose mailed to req's address
// since since. It returns the id of that code when it is still live and
// belongs to req's account.
func otpRecent(conn *sqlite.Conn, req otpRequest, since, now int64) (live string, cooled bool, err error) {
	err = sqlitex.Execute(conn, `SELECT id, user_id, consumed_at IS NULL AND attempts < ? AND expires_at > ?
		FROM otps WHERE purpose = ? AND recipient = ? AND sent AND created_at > ?
		ORDER BY created_at DESC LIMIT 1`, &sqlitex.ExecOptions{
		Args: []any{otpMaxAttempts, now, string(req.Purpose), req.recipient(), since},
		ResultFunc: func(s *sqlite.Stmt) error {
			cooled = true
			if s.ColumnText(1) == req.UserID && req.UserID != "" && s.ColumnBool(2) {
				live = s.ColumnText(0)
			}
			return nil
		}})
	return live, cooled, err
}

// otpConsume checks code against the live row id of purpose p inside the
// caller's transaction. ok reports a match, after which the row is used
// up; a wrong code counts an attempt. err is only a database failure, so
// the caller commits in both cases.
//
// # Security
//
// Single use (consumed_at), expiry, a burn after otpMaxAttempts wrong
// guesses (ASVS 5 6.5.1, 6.6.3), a row of another purpose or without a
// user never matches, and the comparison is hmac.Equal on MACs. The code
// format is checked by the caller before any lookup.
func (a *App) otpConsume(conn *sqlite.Conn, p otpPurpose, id, code string) (row *otpRow, ok bool, err error) {
	now := a.Now().Unix()
	row, err = otpLoad(conn, id)
	if err == nil && row != nil && row.AliasOf != "" {
		// A repeat request's row stands for the live code mailed before:
		// the code, its attempts and its use are the original row's.
		alias := row
		if row, err = otpLoad(conn, alias.AliasOf); row != nil && (row.Purpose != alias.Purpose || row.UserID != alias.UserID) {
			row = nil
		}
	}
	if err != nil || row == nil || row.Purpose != p || row.UserID == "" || row.Consumed ||
		row.Attempts >= otpMaxAttempts || now >= row.Expires {
		return nil, false, err
	}
	if !hmac.Equal(otpHash(otpSecret(a.Config(), p), row.ID, code), row.CodeHash) {
		err = sqlitex.Execute(conn, "UPDATE otps SET attempts = attempts + 1, code = CASE WHEN attempts + 1 >= ? THEN NULL ELSE code END WHERE id = ?",
			&sqlitex.ExecOptions{Args: []any{otpMaxAttempts, row.ID}})
		return nil, false, err
	}
	err = sqlitex.Execute(conn, "UPDATE otps SET consumed_at = ?, code = NULL WHERE id = ?", &sqlitex.ExecOptions{Args: []any{now, row.ID}})
	return row, err == nil, err
}

// otpLoad reads row id of otps (nil if there is none).
func otpLoad(conn *sqlite.Conn, id string) (*otpRow, error) {
	var row *otpRow
	err := sqlitex.Execute(conn, `SELECT id, purpose, user_id, user_key, email, new_email, code_hash, attempts, consumed_at IS NOT NULL, expires_at, alias_of
		FROM otps WHERE id = ?`, &sqlitex.ExecOptions{Args: []any{id}, ResultFunc: func(s *sqlite.Stmt) error {
		row = &otpRow{ID: s.ColumnText(0), Purpose: otpPurpose(s.ColumnText(1)), UserID: s.ColumnText(2),
			UserKey: columnBytes(s, 3), Email: s.ColumnText(4), NewEmail: s.ColumnText(5), CodeHash: columnBytes(s, 6),
			Attempts: s.ColumnInt(7), Consumed: s.ColumnBool(8), Expires: s.ColumnInt64(9), AliasOf: s.ColumnText(10)}
		return nil
	}})
	return row, err
}

// otpUser reads the account row's code is for inside the caller's
// transaction (not from the cache) and reports whether it still has the
// token_key the code was issued under.
func (a *App) otpUser(conn *sqlite.Conn, row *otpRow) (*User, bool, error) {
	var u *User
	err := sqlitex.Execute(conn, "SELECT "+userColumns+" FROM users WHERE id = ?", &sqlitex.ExecOptions{
		Args: []any{row.UserID}, ResultFunc: func(s *sqlite.Stmt) error { u = scanUser(s); return nil }})
	if err != nil || u == nil {
		return nil, false, err
	}
	return u, subtle.ConstantTimeCompare(u.tokenKey, row.UserKey) == 1, nil
}

// otpScrub deletes the plaintext code of row id: once its mail went out,
// or failed for good, the code exists only in the recipient's inbox.
func otpScrub(conn *sqlite.Conn, id string) error {
	return sqlitex.Execute(conn, "UPDATE otps SET code = NULL WHERE id = ?", &sqlitex.ExecOptions{Args: []any{id}})
}

// otpPurge clears the codes of expired rows and deletes rows older than
// otpRetention.
//
// # Security
//
// A code whose mail never went out (the mail server was down until it
// expired) does not stay in the database: expiry scrubs it.
func otpPurge(conn *sqlite.Conn, now time.Time) error {
	if err := sqlitex.Execute(conn, "UPDATE otps SET code = NULL WHERE code IS NOT NULL AND expires_at <= ?",
		&sqlitex.ExecOptions{Args: []any{now.Unix()}}); err != nil {
		return err
	}
	return sqlitex.Execute(conn, "DELETE FROM otps WHERE created_at < ?",
		&sqlitex.ExecOptions{Args: []any{now.Add(-otpRetention).Unix()}})
}

// columnBytes copies column i of s.
func columnBytes(s *sqlite.Stmt, i int) []byte {
	b := make([]byte, s.ColumnLen(i))
	s.ColumnBytes(i, b)
	return b
}
