package rip

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"net/mail"
	"strings"
	"sync"
	"time"

	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// User is an account as handlers see it. Get the caller's with
// [UserFromContext] behind [App.RequireAuth].
type User struct {
	ID        string    `json:"id"`
	Email     string    `json:"email"`
	Name      string    `json:"name"`
	Avatar    string    `json:"avatar,omitempty"`
	Verified  bool      `json:"verified"`
	OAuth2    bool      `json:"-"`
	CreatedAt time.Time `json:"-"`

	passwordHash string // PHC string; "" = no password login
	tokenKey     []byte // per-user random part of every session key
}

// authRecord is the "record" object of the auth envelope.
type authRecord struct {
	ID       string `json:"id"`
	Email    string `json:"email"`
	Name     string `json:"name"`
	Verified bool   `json:"verified"`
}

const userColumns = "id, email, name, avatar, password, verified, oauth2, token_key, created_at"

func scanUser(s *sqlite.Stmt) *User {
	u := &User{ID: s.ColumnText(0), Email: s.ColumnText(1), Name: s.ColumnText(2), Avatar: s.ColumnText(3),
		passwordHash: s.ColumnText(4), Verified: s.ColumnBool(5), OAuth2: s.ColumnBool(6)}
	u.tokenKey = make([]byte, s.ColumnLen(7))
	s.ColumnBytes(7, u.tokenKey)
	u.CreatedAt, _ = time.Parse(time.RFC3339, s.ColumnText(8))
	return u
}

// userEntry is what the user cache holds: the row and the two MACs every
// authenticated request would otherwise recompute, derived under secret.
//
// # Security
//
// Caching a MAC is the same as recomputing it: both are deterministic
// functions of (secret, row). The entry records the session secret it was
// derived under and [App.userKeys] ignores it after a secret rotation, and
// every write to the row deletes the entry, so a cached key never outlives
// the token_key, password hash or email it was derived from.
type userEntry struct {
	user   *User
	secret string
	uidMAC [32]byte // HMAC(secret, "uid:" + id)
	key    [32]byte // jwtUserKey(secret, email, hash, token_key)
}

// newUserEntry derives u's MACs under secret.
func newUserEntry(u *User, secret string) *userEntry {
	return &userEntry{user: u, secret: secret,
		uidMAC: jwtUIDMACSum([]byte(secret), u.ID),
		key:    jwtUserKey([]byte(secret), u.Email, u.passwordHash, u.tokenKey)}
}

// userKeys returns the cached entry of user id derived under secret,
// loading the row on a miss or when the entry predates a secret change.
func (a *App) userKeys(ctx context.Context, id, secret string) (*userEntry, error) {
	if e, ok := a.cachedUserKeys(id, secret); ok {
		return e, nil
	}
	u, err := a.findUser(ctx, "id", id)
	if err != nil {
		return nil, err
	}
	e := newUserEntry(u, secret)
	a.userCache.Set(id, e, userCacheTTL)
	return e, nil
}

// cachedUserKeys is userKeys without the database: the entry of id if it
// is cached and derived under secret.
func (a *App) cachedUserKeys(id, secret string) (*userEntry, bool) {
	if v, ok := a.userCache.Get(id); ok {
		if e := v.(*userEntry); e.secret == secret {
			return e, true
		}
	}
	return nil, false
}

// userCacheTTL bounds how stale a cached user may be if a write outside
// this process (ripc) changes it; writes in process invalidate at once.
const userCacheTTL = 5 * time.Second

// userByEmail loads a user by normalised email (ErrNotFound if none).
func (a *App) userByEmail(ctx context.Context, email string) (*User, error) {
	return a.findUser(ctx, "email", email)
}

func (a *App) findUser(ctx context.Context, column, value string) (*User, error) {
	var u *User
	q := "SELECT " + userColumns + " FROM users WHERE id = ?"
	if column == "email" {
		q = "SELECT " + userColumns + " FROM users WHERE email = ?"
	}
	err := a.Read(ctx, func(conn *sqlite.Conn) error {
		return sqlitex.Execute(conn, q, &sqlitex.ExecOptions{Args: []any{value}, ResultFunc: func(s *sqlite.Stmt) error { u = scanUser(s); return nil }})
	})
	if err == nil && u == nil {
		err = ErrNotFound
	}
	return u, err
}

// newUserID returns "r" and 20 hex characters (80 random bits).
func newUserID() string {
	var b [10]byte
	rand.Read(b[:])
	return "r" + hex.EncodeToString(b[:])
}

func newTokenKey() []byte {
	b := make([]byte, 16)
	rand.Read(b)
	return b
}

// afterCommit registers f to run when the write transaction on conn
// ends, before the next one can begin.
func (a *App) afterCommit(conn *sqlite.Conn, f func()) {
	a.txHooksMu.Lock()
	a.txHooks[conn] = append(a.txHooks[conn], f)
	a.txHooksMu.Unlock()
}

// runTxHooks runs and forgets the functions registered for conn's
// transaction; it is app.db's afterTx.
func (a *App) runTxHooks(conn *sqlite.Conn) {
	a.txHooksMu.Lock()
	hooks := a.txHooks[conn]
	delete(a.txHooks, conn)
	a.txHooksMu.Unlock()
	for _, f := range hooks {
		f()
	}
}

// forgetUserAfterCommit drops userID's cache entry now and again when the
// transaction on conn has ended.
//
// # Security
//
// Deleting only inside the transaction leaves a window: a request arriving
// before the commit reads the old, still committed row and caches it again,
// with the old token_key, for userCacheTTL, so revoked sessions would keep
// working that long. The second delete runs after the commit and before
// the writer connection is released.
func (a *App) forgetUserAfterCommit(conn *sqlite.Conn, userID string) {
	a.userCache.Delete(userID)
	a.afterCommit(conn, func() { a.userCache.Delete(userID) })
}

// rotateTokenKey gives userID a fresh token_key inside the caller's
// transaction, so every token signed with the old key stops verifying.
//
// # Security
//
// The session key is HMAC(secret, email ‖ password hash ‖ token_key):
// rotating token_key revokes every session of the account, including
// OAuth2-only accounts that have no password hash. Called by password
// change and reset, email change and logout-all; the cache entry is
// dropped after the commit too ([App.forgetUserAfterCommit]).
func (a *App) rotateTokenKey(conn *sqlite.Conn, userID string) error {
	defer a.forgetUserAfterCommit(conn, userID)
	return sqlitex.Execute(conn, "UPDATE users SET token_key = ?, updated_at = ? WHERE id = ?",
		&sqlitex.ExecOptions{Args: []any{newTokenKey(), a.Now().UTC().Format(time.RFC3339), userID}})
}

// sessionKey derives the per-user signing key of session tokens.
func (a *App) sessionKey(cfg *Config, u *User) [32]byte {
	return jwtUserKey([]byte(cfg.JWT.AuthSecret), u.Email, u.passwordHash, u.tokenKey)
}

// issueSession signs a session token for u. authTime is the time of the
// original login: refresh keeps it so a session has an absolute lifetime.
func (a *App) issueSession(u *User, authTime time.Time) (string, error) {
	cfg := a.Config()
	now := a.Now()
	// A token issued by a clock slightly ahead (within the leeway) may carry
	// an auth_time after now; the new token cannot claim a login in its own
	// future.
	if authTime.After(now) {
		authTime = now
	}
	exp := now.Add(cfg.JWT.AuthTokenDuration)
	if end := authTime.Add(cfg.JWT.SessionMaxAge); exp.After(end) {
		exp = end
	}
	key := a.sessionKey(cfg, u)
	return jwtSign(jwtSession, key[:], &jwtClaims{
		UserID:   u.ID,
		UIDMAC:   jwtUIDMAC([]byte(cfg.JWT.AuthSecret), u.ID),
		AuthTime: authTime.Unix(),
		IssuedAt: now.Unix(),
		Expires:  exp.Unix(),
	})
}

// writeAuthOK answers 200 ok_authentication with a fresh session token.
func (a *App) writeAuthOK(w http.ResponseWriter, u *User, authTime time.Time) {
	tok, err := a.issueSession(u, authTime)
	if err != nil {
		a.Logger.Error("rip: sign session", "err", err)
		writeReply(w, codeErrTokenGeneration, nil)
		return
	}
	writeReply(w, codeOKAuthentication, map[string]any{
		"token_type":   "Bearer",
		"access_token": tok,
		"record":       authRecord{ID: u.ID, Email: u.Email, Name: u.Name, Verified: u.Verified},
	})
}

// maxAuthHeaderBytes bounds the Authorization header read by authenticate.
const maxAuthHeaderBytes = 8 << 10 // 8 KiB

// errAuthExpired and errAuthInvalid are the two verdicts clients see.
var (
	errAuthNoHeader = errors.New("no bearer token")
	errAuthExpired  = errors.New("token expired")
	errAuthInvalid  = errors.New("invalid token")
)

// authenticate returns the user a session bearer token belongs to.
//
// # Security
//
// Order, cheapest first, nothing trusted before the MAC: header size and
// "Bearer " prefix → strict structural parse of the token (size, header
// bytes, base64url, claims) → uid_mac, a full-length HMAC of user_id
// under the session secret, compared in constant time, so forged ids are
// refused without a database read → user lookup → per-user key (email,
// password hash, token_key) → MAC → times. A warm cache entry holds both
// MACs (see [userEntry]): uid_mac is then compared with the cached value
// instead of recomputed, which is the same check. "Expired" is reported only
// after the MAC verified; every other failure is one generic answer.
// Sessions older than jwt.session_max_age since the original login die
// whatever their exp says.
func (a *App) authenticate(r *http.Request) (*User, *jwtClaims, error) {
	h := r.Header.Get("Authorization")
	if len(h) > maxAuthHeaderBytes {
		return nil, nil, errAuthInvalid
	}
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || tok == "" {
		return nil, nil, errAuthNoHeader
	}
	cfg := a.Config()
	secret := string(cfg.JWT.AuthSecret)
	var c jwtClaims
	if err := jwtParse(jwtSession, tok, &c); err != nil {
		return nil, nil, errAuthInvalid
	}
	e, hit := a.cachedUserKeys(c.UserID, secret)
	switch {
	case hit && !jwtUIDMACEqual(c.UIDMAC, &e.uidMAC):
		return nil, nil, errAuthInvalid
	case !hit && !jwtUIDMACValid([]byte(secret), c.UserID, c.UIDMAC):
		return nil, nil, errAuthInvalid
	case !hit:
		var err error
		if e, err = a.userKeys(r.Context(), c.UserID, secret); err != nil {
			if errors.Is(err, ErrNotFound) {
				return nil, nil, errAuthInvalid
			}
			return nil, nil, err
		}
	}
	u, key := e.user, e.key
	now := a.Now()
	switch err := jwtVerify(tok, key[:], &c, now); {
	case errors.Is(err, errJWTExpired):
		return nil, nil, errAuthExpired
	case err != nil:
		return nil, nil, errAuthInvalid
	}
	if now.Sub(time.Unix(c.AuthTime, 0)) > cfg.JWT.SessionMaxAge {
		return nil, nil, errAuthExpired
	}
	return u, &c, nil
}

// ctxKey is the type of rip's context keys.
type ctxKey int

const (
	ctxUser ctxKey = iota
	ctxClaims
)

// UserFromContext returns the authenticated user that [App.RequireAuth]
// stored in ctx, or nil.
func UserFromContext(ctx context.Context) *User {
	u, _ := ctx.Value(ctxUser).(*User)
	return u
}

// RequireAuth is middleware that lets a request through only with a valid
// session bearer token; the handler gets the user from
// [UserFromContext]. Failures answer 401 err_no_auth_header,
// err_token_expired or err_invalid_token.
//
// # Security
//
// All checks are in [App.authenticate]; a database failure answers 503,
// never a pass.
func (a *App) RequireAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, c, err := a.authenticate(r)
		switch {
		case errors.Is(err, errAuthNoHeader):
			writeReply(w, codeErrNoAuthHeader, nil)
			return
		case errors.Is(err, errAuthExpired):
			writeReply(w, codeErrTokenExpired, nil)
			return
		case errors.Is(err, errAuthInvalid):
			writeReply(w, codeErrInvalidToken, nil)
			return
		case err != nil:
			a.writeDBError(w, err)
			return
		}
		ctx := context.WithValue(r.Context(), ctxUser, u)
		ctx = context.WithValue(ctx, ctxClaims, c)
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// maxEmailBytes is RFC 5321's path limit.
const maxEmailBytes = 254

// normalizeEmail trims and lower-cases an address and checks it is a bare
// addr-spec: it round-trips through net/mail (no display name, comments
// or quoting tricks), the local part has at most 64 bytes, the domain has
// a dot and no empty label.
//
// # Security
//
// Accounts are keyed by this form; one canonical form per mailbox stops
// duplicate accounts that differ only in case or spacing, and refusing
// exotic syntax keeps CR/LF and display names out of mail headers.
func normalizeEmail(s string) (string, bool) {
	s = strings.TrimSpace(s)
	// ASCII only, lower-cased byte by byte: Unicode case folding would map
	// other mailboxes onto existing ones (the Kelvin sign K folds to "k"),
	// and the mailer accepts ASCII addresses only.
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return "", false
		}
	}
	s = asciiLower(s)
	if len(s) == 0 || len(s) > maxEmailBytes {
		return "", false
	}
	addr, err := mail.ParseAddress(s)
	if err != nil || addr.Name != "" || addr.Address != s {
		return "", false
	}
	local, domain, ok := strings.Cut(s, "@")
	if !ok || len(local) == 0 || len(local) > 64 || !strings.Contains(domain, ".") {
		return "", false
	}
	for _, label := range strings.Split(domain, ".") {
		if label == "" {
			return "", false
		}
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] == 0x7f {
			return "", false
		}
	}
	return s, true
}

// userCacheView keys users in the shared cache under "user:".
type userCacheView struct{ app *App }

func (v *userCacheView) Get(id string) (any, bool) { return v.app.Cache.Get("user:" + id) }
func (v *userCacheView) Set(id string, e *userEntry, ttl time.Duration) {
	v.app.Cache.Set("user:"+id, e, ttl)
}
func (v *userCacheView) Delete(id string) { v.app.Cache.Delete("user:" + id) }

// dummyHash is a hash of a random password made with the configured
// hasher, computed once on first use.
//
// # Security
//
// Checking an unknown account's password against it costs what a real
// check costs, so response time does not reveal whether an email is
// registered. It uses the same hasher and parameters as real hashes.
type dummyHash struct {
	once sync.Once
	hash string
}

func (d *dummyHash) get(h PasswordHasher) string {
	d.once.Do(func() {
		var b [16]byte
		rand.Read(b[:])
		d.hash, _ = h.Hash(hex.EncodeToString(b[:]))
	})
	return d.hash
}
