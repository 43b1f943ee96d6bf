package rip

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"time"

	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// registerOAuth2 registers list-oauth2-providers and auth-with-oauth2 of
// the boot configuration and builds the outbound client.
func (a *App) registerOAuth2() {
	e := &a.boot.Endpoints
	a.oauth2 = newOAuth2Client()
	a.HandleFunc(e.ListOAuth2Providers, a.handleListOAuth2)
	a.HandleFunc(e.AuthWithOAuth2, a.handleAuthWithOAuth2)
	if len(a.boot.oauth2) > 0 && a.boot.Server.PublicURL == "" {
		a.Logger.Warn("rip: OAuth2 providers are configured but server.public_url is unset: none is advertised")
	}
}

// oauth2ProviderInfo is one entry of the list; the camelCase keys are the
// restinpieces wire format.
type oauth2ProviderInfo struct {
	Name                string `json:"name"`
	DisplayName         string `json:"displayName"`
	State               string `json:"state"`
	AuthURL             string `json:"authURL"`
	RedirectURL         string `json:"redirectURL"`
	CodeVerifier        string `json:"codeVerifier"`
	CodeChallenge       string `json:"codeChallenge"`
	CodeChallengeMethod string `json:"codeChallengeMethod"`
}

// handleListOAuth2 answers, for every advertised provider, an
// authorization URL with a fresh PKCE verifier and a state bound to both.
// No provider advertised is 400 err_invalid_oauth2_provider, as in
// restinpieces.
//
// # Security
//
// Stateless: nothing is stored per call, so the unauthenticated GET cannot
// grow the database. Every call mints a new 256-bit verifier and a state
// token signed with jwt.oauth2_state_secret carrying the provider, a hash
// of the verifier, a random nonce and a short expiry. The redirect URL
// comes from server.public_url, never from the Host header.
func (a *App) handleListOAuth2(w http.ResponseWriter, r *http.Request) {
	cfg := a.Config()
	provs := cfg.oauth2Advertised()
	if len(provs) == 0 {
		if len(cfg.oauth2) > 0 && cfg.Server.PublicURL == "" && a.oauth2.warnedNoPublicURL.CompareAndSwap(false, true) {
			a.Logger.Warn("rip: list-oauth2-providers: server.public_url is unset, so no provider is advertised")
		}
		writeReply(w, codeErrInvalidOAuth2Provider, nil)
		return
	}
	list := make([]oauth2ProviderInfo, 0, len(provs))
	for _, p := range provs {
		verifier := pkceNewVerifier()
		state, err := a.oauth2State(cfg, p.name, verifier)
		if err != nil {
			a.Logger.Error("rip: sign oauth2 state", "err", err)
			writeReply(w, codeErrTokenGeneration, nil)
			return
		}
		redirect := cfg.oauth2RedirectURL(p)
		list = append(list, oauth2ProviderInfo{
			Name: p.name, DisplayName: p.display, State: state, RedirectURL: redirect,
			AuthURL:      oauth2AuthURL(p, redirect, state, verifier),
			CodeVerifier: verifier, CodeChallenge: pkceChallenge(verifier), CodeChallengeMethod: "S256",
		})
	}
	writeReply(w, codeOKOAuth2ProvidersList, map[string]any{"providers": list})
}

// oauth2State signs a state for provider and verifier.
func (a *App) oauth2State(cfg *Config, provider, verifier string) (string, error) {
	var nonce [16]byte
	rand.Read(nonce[:])
	now := a.Now()
	return jwtSign(jwtOAuth2State, []byte(cfg.JWT.OAuth2StateSecret), &jwtClaims{
		Provider: provider, CVHash: oauth2CVHash(verifier), Nonce: hex.EncodeToString(nonce[:]),
		IssuedAt: now.Unix(), Expires: now.Add(cfg.JWT.OAuth2StateTokenDuration).Unix(),
	})
}

// oauth2CheckState verifies state and reports whether it was issued for
// provider and verifier; it returns the claims.
//
// # Security
//
// MAC and expiry first (see [jwtVerify]), then the provider claim (a
// state minted for one provider is refused for another: RFC 9700 §4.4
// mix-up) and the verifier hash, compared with hmac.Equal. A code
// stolen without the verifier, or injected with another flow's state,
// fails here before any outbound call.
func (a *App) oauth2CheckState(cfg *Config, state, provider, verifier string) (*jwtClaims, bool) {
	var c jwtClaims
	if jwtParse(jwtOAuth2State, state, &c) != nil ||
		jwtVerify(state, []byte(cfg.JWT.OAuth2StateSecret), &c, a.Now()) != nil {
		return nil, false
	}
	if !hmac.Equal([]byte(c.Provider), []byte(provider)) ||
		!hmac.Equal([]byte(c.CVHash), []byte(oauth2CVHash(verifier))) {
		return nil, false
	}
	return &c, true
}

type oauth2AuthBody struct {
	Provider     string `json:"provider"`
	Code         string `json:"code"`
	CodeVerifier string `json:"code_verifier"`
	State        string `json:"state"`
	RedirectURI  string `json:"redirect_uri"`
}

// errOAuth2Replay rolls back a sign-in whose state was already used.
var errOAuth2Replay = errors.New("rip: oauth2 state already used")

// handleAuthWithOAuth2 completes a sign-in: it checks the state and the
// verifier, consumes the state, exchanges the code, reads the user's
// identity and finds, creates or takes over the account (see
// [App.oauth2Account]), then answers the session like a password login.
// redirect_uri is required, as in restinpieces, and ignored: the
// configured redirect URL is the one sent to the provider.
//
// # Security
//
// Every check happens before any outbound call, cheapest first: field
// sizes, the verifier's RFC 7636 form, the address budget, the state
// (MAC, expiry, provider, verifier hash), the provider's configuration,
// and the state's single use, recorded in the same step so two requests
// with one state cannot both reach the provider. Failures are charged to
// the client address's budget (429 when spent). Provider answers map to
// the restinpieces codes; their details are only logged. The function
// is longer than most because it is that checklist, read top to bottom.
func (a *App) handleAuthWithOAuth2(w http.ResponseWriter, r *http.Request) {
	var req oauth2AuthBody
	if !decodeJSON(w, r, &req) {
		return
	}
	if req.Provider == "" || req.Code == "" || req.CodeVerifier == "" || req.State == "" || req.RedirectURI == "" {
		writeReply(w, codeErrMissingFields, nil)
		return
	}
	addr := addrKey(a.clientIP(r))
	// The attempt is charged before any work and given back on success
	// (budgetTake), so concurrent attempts cannot outrun the budget.
	if !a.takeBudgets(w, r, budgetKey{budgetOAuth2Addr, addr}) {
		return
	}
	fail := func(code string) { writeReply(w, code, nil) }
	if len(req.Code) > oauth2MaxCodeBytes || len(req.Provider) > 32 || !pkceValidVerifier(req.CodeVerifier) {
		fail(codeErrInvalidInput)
		return
	}
	cfg := a.Config()
	c, ok := a.oauth2CheckState(cfg, req.State, req.Provider, req.CodeVerifier)
	if !ok {
		fail(codeErrInvalidInput)
		return
	}
	p := cfg.oauth2Lookup(req.Provider)
	if p == nil {
		fail(codeErrInvalidOAuth2Provider)
		return
	}
	err := a.Write(r.Context(), func(conn *sqlite.Conn) error { return a.oauth2UseState(conn, c) })
	if errors.Is(err, errOAuth2Replay) {
		fail(codeErrInvalidInput)
		return
	}
	if a.writeDBError(w, err) {
		return
	}
	redirect := cfg.oauth2RedirectURL(p)
	token, err := a.oauth2.exchange(r.Context(), p, redirect, req.Code, req.CodeVerifier)
	if err != nil {
		a.Logger.Warn("rip: oauth2 sign-in failed", "provider", p.name, "err", err)
		fail(codeErrOAuth2TokenExchange)
		return
	}
	id, err := a.oauth2.userInfo(r.Context(), p, token)
	if err == nil && !id.EmailVerified {
		err = errOAuth2Processing
	}
	if err != nil {
		a.Logger.Warn("rip: oauth2 sign-in failed", "provider", p.name, "err", err)
		if errors.Is(err, errOAuth2Processing) {
			fail(codeErrOAuth2UserInfoProcessing)
		} else {
			fail(codeErrOAuth2UserInfo)
		}
		return
	}
	u, err := a.oauth2Account(r.Context(), p.name, id)
	switch {
	case errors.Is(err, errEmailTaken):
		writeReply(w, codeErrEmailConflict, nil)
		return
	case errors.Is(err, ErrDBBusy):
		a.writeDBError(w, err)
		return
	case err != nil:
		a.Logger.Error("rip: oauth2 account", "provider", p.name, "err", err)
		writeReply(w, codeErrOAuth2Database, nil)
		return
	}
	err = a.Write(r.Context(), func(conn *sqlite.Conn) error { return budgetRefundConn(conn, budgetOAuth2Addr, addr) })
	if a.writeDBError(w, err) {
		return
	}
	a.writeAuthOK(w, u, a.Now())
}

// oauth2UseState records c's nonce as used, inside the caller's
// transaction, and fails with errOAuth2Replay if it already was. Rows of
// states that can no longer verify are deleted first.
//
// # Security
//
// Single use (RFC 9700 §2.1: one-time CSRF token): the row lives until
// the state's exp plus the verifier's leeway, so a replay is refused for
// as long as the state could verify. Rows are written only for states
// whose MAC verified, and failures spend the address budget.
func (a *App) oauth2UseState(conn *sqlite.Conn, c *jwtClaims) error {
	now := a.Now().Unix()
	if err := sqlitex.Execute(conn, "DELETE FROM oauth2_used_states WHERE expires_at < ?",
		&sqlitex.ExecOptions{Args: []any{now}}); err != nil {
		return err
	}
	err := sqlitex.Execute(conn, "INSERT INTO oauth2_used_states (nonce, expires_at) VALUES (?, ?)",
		&sqlitex.ExecOptions{Args: []any{c.Nonce, c.Expires + int64(jwtLeeway/time.Second)}})
	if sqlite.ErrCode(err) == sqlite.ResultConstraintPrimaryKey || sqlite.ErrCode(err) == sqlite.ResultConstraintUnique {
		return errOAuth2Replay
	}
	return err
}

// oauth2Account returns the account of a provider identity whose e-mail
// the provider verified, creating, or taking over, one as the rules
// below allow, in one transaction:
//
//  1. (provider, subject) already linked → that account, whatever the
//     provider's e-mail is now.
//  2. No account with the e-mail → a new verified account with no
//     password, linked.
//  3. A verified account with the e-mail → errEmailTaken (409
//     err_email_conflict, as restinpieces): no implicit linking.
//  4. An unverified account with the e-mail → taken over: its password
//     is wiped, its token_key rotated, any links removed, then it is
//     marked verified and linked.
//
// # Security
//
// Pre-account takeover (Sudhodanan & Paverd 2022; PocketBase
// CVE-2024-38351; security-reliability §3.6): an unverified account may
// belong to anyone who typed the address, so it is never trusted: the
// squatter's password stops working and every code or token issued under
// the old token_key dies. A verified account is never joined by a
// provider's say-so, so a provider that lies about email_verified cannot
// take over an established account, and a second provider with the same
// address cannot sign into an account linked to the first (rule 3).
// The caller has already refused identities without a verified e-mail.
func (a *App) oauth2Account(ctx context.Context, provider string, id *oauth2Identity) (*User, error) {
	var u *User
	err := a.Write(ctx, func(conn *sqlite.Conn) error {
		var linked string
		err := sqlitex.Execute(conn, "SELECT user_id FROM oauth2_identities WHERE provider = ? AND subject = ?", &sqlitex.ExecOptions{
			Args: []any{provider, id.Subject}, ResultFunc: func(s *sqlite.Stmt) error { linked = s.ColumnText(0); return nil }})
		if err != nil {
			return err
		}
		if linked != "" {
			u, err = userByIDConn(conn, linked)
			if err == nil && u == nil {
				err = errors.New("rip: oauth2 identity without account")
			}
			return err
		}
		now := a.Now().UTC().Format(time.RFC3339)
		existing, err := userByEmailConn(conn, id.Email)
		switch {
		case err != nil:
			return err
		case existing == nil:
			existing = &User{ID: newUserID()}
			err = sqlitex.Execute(conn, `INSERT INTO users (id, email, name, avatar, password, verified, oauth2, token_key, created_at, updated_at)
				VALUES (?, ?, ?, ?, '', 1, 1, ?, ?, ?)`, &sqlitex.ExecOptions{
				Args: []any{existing.ID, id.Email, id.Name, id.Avatar, newTokenKey(), now, now}})
		case existing.Verified:
			return errEmailTaken
		default:
			err = a.oauth2TakeOver(conn, existing.ID, id, now)
		}
		if err != nil {
			return err
		}
		if err := sqlitex.Execute(conn, "INSERT INTO oauth2_identities (provider, subject, user_id, email, created_at) VALUES (?, ?, ?, ?, ?)",
			&sqlitex.ExecOptions{Args: []any{provider, id.Subject, existing.ID, id.Email, now}}); err != nil {
			return err
		}
		u, err = userByIDConn(conn, existing.ID)
		return err
	})
	if err != nil {
		return nil, err
	}
	a.userCache.Delete(u.ID)
	return u, nil
}

// oauth2TakeOver turns the unverified account userID into the provider
// identity's verified, password-less account (rule 4 of oauth2Account).
func (a *App) oauth2TakeOver(conn *sqlite.Conn, userID string, id *oauth2Identity, now string) error {
	a.Logger.Warn("rip: oauth2 sign-in took over an unverified account", "user", userID)
	if err := sqlitex.Execute(conn, `UPDATE users SET password = '', verified = 1, oauth2 = 1, name = ?, avatar = ?, updated_at = ? WHERE id = ?`,
		&sqlitex.ExecOptions{Args: []any{id.Name, id.Avatar, now, userID}}); err != nil {
		return err
	}
	if err := sqlitex.Execute(conn, "DELETE FROM oauth2_identities WHERE user_id = ?", &sqlitex.ExecOptions{Args: []any{userID}}); err != nil {
		return err
	}
	return a.rotateTokenKey(conn, userID)
}

// userByIDConn and userByEmailConn read a user inside the caller's
// transaction; nil when there is none.
func userByIDConn(conn *sqlite.Conn, id string) (*User, error) {
	return userWhereConn(conn, "SELECT "+userColumns+" FROM users WHERE id = ?", id)
}

func userByEmailConn(conn *sqlite.Conn, email string) (*User, error) {
	return userWhereConn(conn, "SELECT "+userColumns+" FROM users WHERE email = ?", email)
}

func userWhereConn(conn *sqlite.Conn, q, arg string) (*User, error) {
	var u *User
	err := sqlitex.Execute(conn, q, &sqlitex.ExecOptions{Args: []any{arg}, ResultFunc: func(s *sqlite.Stmt) error { u = scanUser(s); return nil }})
	return u, err
}
