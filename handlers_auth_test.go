package rip

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// fastHasher keeps argon2id but with test-sized parameters.
var fastHasher = Argon2id{MemoryKiB: 64, Time: 1, Threads: 1}

func newAuthApp(t *testing.T) (*testApp, string) {
	ta := newTestApp(t)
	ta.Hasher = fastHasher
	return ta, ta.serve()
}

func (ta *testApp) verify(email string) {
	ta.t.Helper()
	err := ta.Write(context.Background(), func(conn *sqlite.Conn) error {
		return sqlitex.Execute(conn, "UPDATE users SET verified = 1 WHERE email = ?", &sqlitex.ExecOptions{Args: []any{email}})
	})
	if err != nil {
		ta.t.Fatal(err)
	}
}

type authData struct {
	TokenType   string     `json:"token_type"`
	AccessToken string     `json:"access_token"`
	Record      authRecord `json:"record"`
}

func (r reply) auth(t *testing.T) authData {
	t.Helper()
	var d authData
	if err := json.Unmarshal(r.Data, &d); err != nil || d.AccessToken == "" || d.TokenType != "Bearer" {
		t.Fatalf("bad auth data %s: %v", r.Data, err)
	}
	return d
}

const goodPassword = "correct horse battery"

func TestAuthFlow(t *testing.T) {
	ta, url := newAuthApp(t)
	reg := map[string]string{"identity": " Alice@Example.com ", "password": goodPassword, "password_confirm": goodPassword}
	call(t, "POST", url+"/api/register-with-password", reg).expect(t, 202, codeOKPendingEmailVerification)
	login := map[string]string{"identity": "ALICE@example.com", "password": goodPassword}
	call(t, "POST", url+"/api/auth-with-password", login).expect(t, 403, codeErrRequiredEmailVerify)
	call(t, "POST", url+"/api/auth-with-password", map[string]string{"identity": "alice@example.com", "password": "wrong password!"}).
		expect(t, 401, codeErrInvalidCredentials)
	ta.verify("alice@example.com")
	d := call(t, "POST", url+"/api/auth-with-password", login).expect(t, 200, codeOKAuthentication).auth(t)
	if d.Record.Email != "alice@example.com" || !d.Record.Verified || d.Record.ID == "" {
		t.Fatalf("record = %+v", d.Record)
	}
	bearer := "Authorization: Bearer " + d.AccessToken
	ta.clock.Advance(2 * time.Second)
	d2 := call(t, "POST", url+"/api/refresh-auth", nil, bearer).expect(t, 200, codeOKAuthentication).auth(t)
	if d2.AccessToken == d.AccessToken {
		t.Fatal("refresh returned the same token")
	}
	call(t, "POST", url+"/api/refresh-auth", nil, bearer, "Content-Type: text/plain").expect(t, 415, codeErrInvalidContentType)
	call(t, "POST", url+"/api/refresh-auth", nil).expect(t, 401, codeErrNoAuthHeader)
	call(t, "POST", url+"/api/logout-all", nil, "Authorization: Bearer "+d2.AccessToken).expect(t, 200, codeOKLogoutAll)
	for _, tok := range []string{d.AccessToken, d2.AccessToken} {
		call(t, "POST", url+"/api/refresh-auth", nil, "Authorization: Bearer "+tok).expect(t, 401, codeErrInvalidToken)
	}
	d3 := call(t, "POST", url+"/api/auth-with-password", login).expect(t, 200, codeOKAuthentication).auth(t)
	call(t, "POST", url+"/api/refresh-auth", nil, "Authorization: Bearer "+d3.AccessToken).expect(t, 200, codeOKAuthentication)
	if h := call(t, "POST", url+"/api/auth-with-password", login).Header.Get("Cache-Control"); h != "no-store" {
		t.Errorf("token response Cache-Control = %q", h)
	}
}

func TestSessionAbsoluteLifetime(t *testing.T) {
	ta, url := newAuthApp(t)
	clock := ta.clock
	reg := map[string]string{"identity": "bob@example.com", "password": goodPassword, "password_confirm": goodPassword}
	call(t, "POST", url+"/api/register-with-password", reg).expect(t, 202, codeOKPendingEmailVerification)
	ta.verify("bob@example.com")
	tok := call(t, "POST", url+"/api/auth-with-password", map[string]string{"identity": "bob@example.com", "password": goodPassword}).auth(t).AccessToken
	// Refresh every 40 minutes for the whole max age: the chain ends.
	steps := int(ta.Config().JWT.SessionMaxAge/(40*time.Minute)) + 2
	for i := 0; i < steps; i++ {
		clock.Advance(40 * time.Minute)
		r := call(t, "POST", url+"/api/refresh-auth", nil, "Authorization: Bearer "+tok)
		if r.HTTP != 200 {
			r.expect(t, 401, codeErrTokenExpired)
			if i < steps-3 {
				t.Fatalf("session died after %d refreshes", i)
			}
			return
		}
		tok = r.auth(t).AccessToken
	}
	t.Fatal("refresh extended the session past session_max_age")
}

func TestRegisterAndLoginRevealNothing(t *testing.T) {
	ta, url := newAuthApp(t)
	reg := func(email string) reply {
		return call(t, "POST", url+"/api/register-with-password", map[string]string{"identity": email, "password": goodPassword, "password_confirm": goodPassword})
	}
	a := reg("carol@example.com")
	b := reg("carol@example.com")
	if a.Body != b.Body || a.HTTP != b.HTTP {
		t.Fatalf("register new vs existing differ: %s / %s", a.Body, b.Body)
	}
	ta.verify("carol@example.com")
	known := call(t, "POST", url+"/api/auth-with-password", map[string]string{"identity": "carol@example.com", "password": "not the password"})
	unknown := call(t, "POST", url+"/api/auth-with-password", map[string]string{"identity": "nobody@example.com", "password": "not the password"})
	if known.Body != unknown.Body || known.HTTP != unknown.HTTP {
		t.Fatalf("login known vs unknown differ: %s / %s", known.Body, unknown.Body)
	}
}

func TestRegisterValidation(t *testing.T) {
	_, url := newAuthApp(t)
	for _, tc := range []struct {
		name         string
		id, pw, conf string
		status       int
		code         string
	}{
		{"missing", "", goodPassword, goodPassword, 400, codeErrMissingFields},
		{"bad email", "not-an-email", goodPassword, goodPassword, 400, codeErrInvalidInput},
		{"display name", "Eve <eve@example.com>", goodPassword, goodPassword, 400, codeErrInvalidInput},
		{"crlf in email", "eve@example.com\r\nBcc: x@y.z", goodPassword, goodPassword, 400, codeErrInvalidInput},
		{"mismatch", "eve@example.com", goodPassword, goodPassword + "x", 400, codeErrPasswordMismatch},
		{"short", "eve@example.com", "short", "short", 400, codeErrWeakPassword},
		{"common", "eve@example.com", "Password123", "Password123", 400, codeErrWeakPassword},
		{"too long", "eve@example.com", strings.Repeat("x", 129), strings.Repeat("x", 129), 400, codeErrWeakPassword},
		{"control char", "eve@example.com", "abc\x00defghij", "abc\x00defghij", 400, codeErrWeakPassword},
		{"ok", "eve@example.com", goodPassword, goodPassword, 202, codeOKPendingEmailVerification},
	} {
		t.Run(tc.name, func(t *testing.T) {
			call(t, "POST", url+"/api/register-with-password", map[string]string{"identity": tc.id, "password": tc.pw, "password_confirm": tc.conf}).expect(t, tc.status, tc.code)
		})
	}
}

func TestLoginBudget(t *testing.T) {
	ta, url := newAuthApp(t)
	clock := ta.clock
	body := map[string]string{"identity": "dave@example.com", "password": "wrong password!"}
	for i := 0; i < budgetLoginAccount.Free; i++ {
		call(t, "POST", url+"/api/auth-with-password", body).expect(t, 401, codeErrInvalidCredentials)
	}
	call(t, "POST", url+"/api/auth-with-password", body).expect(t, 401, codeErrInvalidCredentials)
	r := call(t, "POST", url+"/api/auth-with-password", body).expect(t, 429, codeErrTooManyRequests)
	if r.Header.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}
	clock.Advance(budgetLoginAccount.Base + time.Second)
	call(t, "POST", url+"/api/auth-with-password", body).expect(t, 401, codeErrInvalidCredentials)
	// The wait doubled.
	r = call(t, "POST", url+"/api/auth-with-password", body).expect(t, 429, codeErrTooManyRequests)
	if r.Header.Get("Retry-After") != "4" {
		t.Errorf("Retry-After = %s, want 4", r.Header.Get("Retry-After"))
	}
}

// forge builds a token with arbitrary header and payload JSON and a
// signature under key.
func forge(header, payload string, key []byte) string {
	enc := base64.RawURLEncoding
	in := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(payload))
	mac := jwtHMAC(key, in)
	return in + "." + enc.EncodeToString(mac[:])
}

func TestHostileBearerTokens(t *testing.T) {
	ta, url := newAuthApp(t)
	call(t, "POST", url+"/api/register-with-password", map[string]string{"identity": "frank@example.com", "password": goodPassword, "password_confirm": goodPassword})
	ta.verify("frank@example.com")
	good := call(t, "POST", url+"/api/auth-with-password", map[string]string{"identity": "frank@example.com", "password": goodPassword}).auth(t)
	cfg := ta.Config()
	u, _ := ta.userByEmail(context.Background(), "frank@example.com")
	key := ta.sessionKey(cfg, u)
	now := ta.Now().Unix()
	mac := jwtUIDMAC([]byte(cfg.JWT.AuthSecret), u.ID)
	claims := func(extra string) string {
		return `{"type":"session","user_id":"` + u.ID + `","uid_mac":"` + mac + `","auth_time":` + itoa(now) + `,"iat":` + itoa(now) + `,"exp":` + itoa(now+600) + extra + `}`
	}
	hdr := `{"alg":"HS256","typ":"JWT"}`
	parts := strings.Split(good.AccessToken, ".")
	for _, tc := range []struct{ name, token, code string }{
		{"valid forge control", forge(hdr, claims(""), key[:]), ""},
		{"alg none", base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + ".", codeErrInvalidToken},
		{"alg HS512 header", forge(`{"alg":"HS512","typ":"JWT"}`, claims(""), key[:]), codeErrInvalidToken},
		{"header with kid", forge(`{"alg":"HS256","typ":"JWT","kid":"../../dev/null"}`, claims(""), key[:]), codeErrInvalidToken},
		{"duplicate claim", forge(hdr, claims(`,"user_id":"x"`), key[:]), codeErrInvalidToken},
		{"case variant claim", forge(hdr, claims(`,"EXP":99999999999`), key[:]), codeErrInvalidToken},
		{"float exp", forge(hdr, strings.Replace(claims(""), `"exp":`+itoa(now+600), `"exp":1e300`, 1), key[:]), codeErrInvalidToken},
		{"raw secret key", forge(hdr, claims(""), []byte(cfg.JWT.AuthSecret)), codeErrInvalidToken},
		{"expired", forge(hdr, strings.NewReplacer(`"exp":`+itoa(now+600), `"exp":`+itoa(now-120), `:`+itoa(now)+`,`, `:`+itoa(now-1000)+`,`).Replace(claims("")), key[:]), codeErrTokenExpired},
		// A clock 30 s ahead (within the leeway) issued it: the refresh
		// signs with auth_time clamped to now instead of failing.
		{"auth_time and iat 30 s ahead", forge(hdr, strings.NewReplacer(`:`+itoa(now)+`,`, `:`+itoa(now+30)+`,`).Replace(claims("")), key[:]), ""},
		{"forged uid_mac", forge(hdr, strings.Replace(claims(""), mac, strings.Repeat("0", 64), 1), key[:]), codeErrInvalidToken},
		{"other purpose", forge(hdr, `{"type":"password_reset","user_id":"`+u.ID+`","uid_mac":"`+mac+`","email":"frank@example.com","iat":`+itoa(now)+`,"exp":`+itoa(now+600)+`}`, key[:]), codeErrInvalidToken},
		{"trailing dot", good.AccessToken + ".", codeErrInvalidToken},
		{"padding", good.AccessToken + "=", codeErrInvalidToken},
		{"flipped sig char", good.AccessToken[:len(good.AccessToken)-1] + flip(good.AccessToken[len(good.AccessToken)-1]), codeErrInvalidToken},
		{"huge", strings.Repeat(".", 4080), codeErrInvalidToken}, // longer header values get 431 at the edge
		{"garbage", "garbage", codeErrInvalidToken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := call(t, "POST", url+"/api/refresh-auth", nil, "Authorization: Bearer "+tc.token)
			if tc.code == "" {
				r.expect(t, 200, codeOKAuthentication)
				return
			}
			r.expect(t, 401, tc.code)
		})
	}
}

func flip(c byte) string {
	if c == 'A' {
		return "B"
	}
	return "A"
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

// TestLoginFloodRespectsHashCap runs 200 parallel logins: in-flight
// hashes never exceed the cap and health answers meanwhile.
func TestLoginFloodRespectsHashCap(t *testing.T) {
	ta, url := newAuthApp(t)
	ta.Hasher = Argon2id{MemoryKiB: 1024, Time: 1, Threads: 1}
	call(t, "POST", url+"/api/register-with-password", map[string]string{"identity": "gina@example.com", "password": goodPassword, "password_confirm": goodPassword})
	ta.verify("gina@example.com")
	var wg sync.WaitGroup
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 200}}
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("POST", url+"/api/auth-with-password", strings.NewReader(`{"identity":"gina@example.com","password":"`+goodPassword+`"}`))
			req.Header.Set("Content-Type", "application/json")
			if resp, err := client.Do(req); err == nil {
				resp.Body.Close()
			} else {
				t.Error(err)
			}
		}()
	}
	var worst time.Duration
	for i := 0; i < 20; i++ {
		start := time.Now()
		call(t, "GET", url+"/api/health", nil).expect(t, 200, codeOKHealth)
		worst = max(worst, time.Since(start))
	}
	wg.Wait()
	client.CloseIdleConnections()
	ta.hashGate.mu.Lock()
	peak := ta.hashGate.peak
	ta.hashGate.mu.Unlock()
	if peak > cap(ta.hashGate.slots) || peak < 1 {
		t.Fatalf("peak concurrent hashes %d, cap %d", peak, cap(ta.hashGate.slots))
	}
	if worst > 2*time.Second {
		t.Errorf("health took %s during the login flood", worst)
	}
}

// TestLoginBudgetGroupsIPv6By64 sends failed logins for distinct accounts
// from addresses of one IPv6 /64 (through a trusted proxy header): the
// address budget treats them as one client, and a neighbour /64 is not
// charged.
func TestLoginBudgetGroupsIPv6By64(t *testing.T) {
	ta := newTestApp(t, func(c *Config) {
		c.Server.TrustedProxies = []string{"127.0.0.1/32"}
		c.Server.ClientIPProxyHeader = "X-Forwarded-For"
	})
	ta.Hasher = fastHasher
	url := ta.serve()
	login := func(i int, from string) reply {
		body := map[string]string{"identity": fmt.Sprintf("u%d@example.com", i), "password": "wrong password!"}
		return call(t, "POST", url+"/api/auth-with-password", body, "X-Forwarded-For: "+from)
	}
	for i := 0; i <= budgetLoginAddr.Free; i++ {
		// Every attempt comes from another address of 2001:db8:1:2::/64.
		login(i, fmt.Sprintf("2001:db8:1:2:%x::%x", i, i+1)).expect(t, 401, codeErrInvalidCredentials)
	}
	login(100, "2001:db8:1:2:ffff:ffff:ffff:ffff").expect(t, 429, codeErrTooManyRequests)
	login(101, "2001:db8:1:3::1").expect(t, 401, codeErrInvalidCredentials)
	// A spoofed header from an untrusted peer is ignored, not obeyed: the
	// socket address (127.0.0.1, not yet charged) is budgeted instead.
	ta2 := newTestApp(t)
	ta2.Hasher = fastHasher
	url2 := ta2.serve()
	for i := 0; i <= budgetLoginAddr.Free; i++ {
		body := map[string]string{"identity": fmt.Sprintf("v%d@example.com", i), "password": "wrong password!"}
		call(t, "POST", url2+"/api/auth-with-password", body, fmt.Sprintf("X-Forwarded-For: 2001:db8:9::%x", i)).
			expect(t, 401, codeErrInvalidCredentials)
	}
	body := map[string]string{"identity": "w@example.com", "password": "wrong password!"}
	call(t, "POST", url2+"/api/auth-with-password", body, "X-Forwarded-For: 2001:db8:7::1").expect(t, 429, codeErrTooManyRequests)
}

// TestBcryptImportRehash imports a user with a bcrypt hash, as a migration
// from another system would: the password logs in, the stored hash becomes
// argon2id, the new hash logs in, and a wrong password or one longer than
// bcrypt's 72 bytes never matches.
func TestBcryptImportRehash(t *testing.T) {
	ta, url := newAuthApp(t)
	h, err := bcrypt.GenerateFromPassword([]byte(goodPassword), 4)
	if err != nil {
		t.Fatal(err)
	}
	id := newUserID()
	err = ta.Write(context.Background(), func(conn *sqlite.Conn) error {
		return sqlitex.Execute(conn, "INSERT INTO users (id, email, password, verified, token_key, created_at, updated_at) VALUES (?, 'imp@example.com', ?, 1, ?, '', '')",
			&sqlitex.ExecOptions{Args: []any{id, string(h), newTokenKey()}})
	})
	if err != nil {
		t.Fatal(err)
	}
	stored := func() string {
		u, err := ta.userByEmail(context.Background(), "imp@example.com")
		if err != nil {
			t.Fatal(err)
		}
		return u.passwordHash
	}
	login := func(pw string) reply {
		return call(t, "POST", url+"/api/auth-with-password", map[string]string{"identity": "imp@example.com", "password": pw})
	}
	login("wrong password!").expect(t, 401, codeErrInvalidCredentials)
	if !strings.HasPrefix(stored(), "$2a$") {
		t.Fatal("a failed login changed the bcrypt hash")
	}
	tok := login(goodPassword).expect(t, 200, codeOKAuthentication).auth(t).AccessToken
	if got := stored(); !strings.HasPrefix(got, "$argon2id$") {
		t.Fatalf("hash after login = %.10s…, want argon2id", got)
	}
	call(t, "POST", url+"/api/refresh-auth", nil, "Authorization: Bearer "+tok).expect(t, 200, codeOKAuthentication)
	login(goodPassword).expect(t, 200, codeOKAuthentication)
	login(goodPassword+strings.Repeat("x", 80)).expect(t, 401, codeErrInvalidCredentials)
}

// TestSessionCacheFollowsSecret: the cached per-user MACs are derived
// under the session secret in force; after a secret change a token signed
// under the old one is refused even though the user is cached, and a
// forged uid_mac is refused whether the user is cached or not.
func TestSessionCacheFollowsSecret(t *testing.T) {
	ta, url := newAuthApp(t)
	call(t, "POST", url+"/api/register-with-password", map[string]string{"identity": "gina@example.com", "password": goodPassword, "password_confirm": goodPassword})
	ta.verify("gina@example.com")
	tok := call(t, "POST", url+"/api/auth-with-password", map[string]string{"identity": "gina@example.com", "password": goodPassword}).auth(t).AccessToken
	refresh := func(tok string) reply {
		return call(t, "POST", url+"/api/refresh-auth", nil, "Authorization: Bearer "+tok)
	}
	refresh(tok).expect(t, 200, codeOKAuthentication) // warms the cache
	cfg := ta.Config()
	u, _ := ta.userByEmail(context.Background(), "gina@example.com")
	key := ta.sessionKey(cfg, u)
	now := time.Now().Unix()
	forged := forge(`{"alg":"HS256","typ":"JWT"}`, `{"type":"session","user_id":"`+u.ID+`","uid_mac":"`+strings.Repeat("ab", 32)+
		`","auth_time":`+itoa(now)+`,"iat":`+itoa(now)+`,"exp":`+itoa(now+600)+`}`, key[:])
	refresh(forged).expect(t, 401, codeErrInvalidToken)
	ta.userCache.Delete(u.ID)
	refresh(forged).expect(t, 401, codeErrInvalidToken)
	refresh(tok).expect(t, 200, codeOKAuthentication)

	next := *cfg
	next.JWT.AuthSecret = Secret(strings.Repeat("n", 32))
	ta.cfg.Store(&next)
	refresh(tok).expect(t, 401, codeErrInvalidToken)
	fresh := call(t, "POST", url+"/api/auth-with-password", map[string]string{"identity": "gina@example.com", "password": goodPassword}).auth(t).AccessToken
	refresh(fresh).expect(t, 200, codeOKAuthentication)
}
