package rip

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The sign-in against mockoidc, a real OpenID Connect provider
// (interop/oidcmock): list → authorize → callback → session.
func TestOAuth2FlowMockOIDC(t *testing.T) {
	m := startOIDCMock(t)
	ta := oauth2App(t, map[string]OAuth2Provider{"oidc": m.provider()})
	base := ta.serve()

	r := fullSignIn(t, base, "oidc", oidcUser("sub-ada", "Ada@Example.com", true)).expect(t, 200, codeOKAuthentication)
	d := r.auth(t)
	if d.Record.Email != "ada@example.com" || !d.Record.Verified || d.Record.Name != "User sub-ada" {
		t.Fatalf("record %+v", d.Record)
	}
	if got := ta.queryText("SELECT user_id FROM oauth2_identities WHERE provider = 'oidc' AND subject = 'sub-ada'"); got != d.Record.ID {
		t.Fatalf("identity links to %q, want %q", got, d.Record.ID)
	}
	if pw := ta.queryText("SELECT password || '|' || oauth2 || '|' || avatar FROM users WHERE id = ?", d.Record.ID); pw != "|1|https://img.rip.test/sub-ada.png" {
		t.Fatalf("user row password|oauth2|avatar = %q", pw)
	}
	// The session works like a password session.
	bearer := "Authorization: Bearer " + d.AccessToken
	refreshed := call(t, "POST", base+"/api/refresh-auth", nil, bearer).expect(t, 200, codeOKAuthentication).auth(t)

	// Linked by subject: the same subject signs into the same account even
	// after its provider address changed.
	again := fullSignIn(t, base, "oidc", oidcUser("sub-ada", "ada.new@example.com", true)).expect(t, 200, codeOKAuthentication).auth(t)
	if again.Record.ID != d.Record.ID || again.Record.Email != "ada@example.com" {
		t.Fatalf("second sign-in got %+v", again.Record)
	}

	// Logout everywhere works for a password-less account: every token dies.
	call(t, "POST", base+"/api/logout-all", nil, bearer).expect(t, 200, codeOKLogoutAll)
	for _, tok := range []string{d.AccessToken, refreshed.AccessToken, again.AccessToken} {
		call(t, "POST", base+"/api/refresh-auth", nil, "Authorization: Bearer "+tok).expect(t, 401, codeErrInvalidToken)
	}
}

// Every state and verifier check, against the real provider.
func TestOAuth2StateChecksMockOIDC(t *testing.T) {
	m := startOIDCMock(t)
	p := m.provider()
	ta := oauth2App(t, map[string]OAuth2Provider{"oidc": p, "corp": p})
	base := ta.serve()
	user := oidcUser("sub-bo", "bo@example.com", true)

	t.Run("wrong verifier", func(t *testing.T) {
		offer := listProviders(t, base)["oidc"]
		code := authorize(t, offer, user)
		other := listProviders(t, base)["oidc"].CodeVerifier
		signIn(t, base, "oidc", code, other, offer.State).expect(t, 400, codeErrInvalidInput)
	})
	t.Run("provider enforces PKCE", func(t *testing.T) {
		// A consistent verifier and state from one list, a code obtained
		// with another list's challenge: rip's checks pass, and the
		// provider refuses the exchange because the verifier does not
		// match the challenge it saw.
		first, second := listProviders(t, base)["oidc"], listProviders(t, base)["oidc"]
		code := authorize(t, second, user)
		signIn(t, base, "oidc", code, first.CodeVerifier, first.State).expect(t, 400, codeErrOAuth2TokenExchange)
	})
	t.Run("tampered state", func(t *testing.T) {
		offer := listProviders(t, base)["oidc"]
		code := authorize(t, offer, user)
		parts := strings.Split(offer.State, ".")
		var claims map[string]any
		payload, _ := jwtBase64.DecodeString(parts[1])
		json.Unmarshal(payload, &claims)
		claims["exp"] = claims["exp"].(float64) + 3600
		j, _ := json.Marshal(claims)
		forged := parts[0] + "." + jwtBase64.EncodeToString(j) + "." + parts[2]
		signIn(t, base, "oidc", code, offer.CodeVerifier, forged).expect(t, 400, codeErrInvalidInput)
		flipped := offer.State[:len(offer.State)-2] + map[bool]string{true: "BA", false: "AA"}[strings.HasSuffix(offer.State, "AA")]
		signIn(t, base, "oidc", code, offer.CodeVerifier, flipped).expect(t, 400, codeErrInvalidInput)
		// The untouched state still works: the failures above used nothing up.
		signIn(t, base, "oidc", code, offer.CodeVerifier, offer.State).expect(t, 200, codeOKAuthentication)
	})
	t.Run("replayed state", func(t *testing.T) {
		offer := listProviders(t, base)["oidc"]
		code := authorize(t, offer, user)
		signIn(t, base, "oidc", code, offer.CodeVerifier, offer.State).expect(t, 200, codeOKAuthentication)
		signIn(t, base, "oidc", code, offer.CodeVerifier, offer.State).expect(t, 400, codeErrInvalidInput)
		// A fresh code with the used state: still refused.
		code2 := authorize(t, offer, user)
		signIn(t, base, "oidc", code2, offer.CodeVerifier, offer.State).expect(t, 400, codeErrInvalidInput)
	})
	t.Run("cross-provider state", func(t *testing.T) {
		offers := listProviders(t, base)
		code := authorize(t, offers["oidc"], user)
		signIn(t, base, "corp", code, offers["oidc"].CodeVerifier, offers["oidc"].State).expect(t, 400, codeErrInvalidInput)
		signIn(t, base, "corp", code, offers["corp"].CodeVerifier, offers["oidc"].State).expect(t, 400, codeErrInvalidInput)
	})
	t.Run("expired state", func(t *testing.T) {
		offer := listProviders(t, base)["oidc"]
		code := authorize(t, offer, user)
		ta.clock.Advance(ta.Config().JWT.OAuth2StateTokenDuration + jwtLeeway + time.Second)
		signIn(t, base, "oidc", code, offer.CodeVerifier, offer.State).expect(t, 400, codeErrInvalidInput)
	})
}

func TestOAuth2UnverifiedEmailMockOIDC(t *testing.T) {
	m := startOIDCMock(t)
	ta := oauth2App(t, map[string]OAuth2Provider{"oidc": m.provider()})
	base := ta.serve()
	for _, v := range []any{false, nil, "false"} {
		fullSignIn(t, base, "oidc", oidcUser("sub-eve", "eve@example.com", v)).expect(t, 400, codeErrOAuth2UserInfoProcessing)
	}
	// An unverified address never links either: the victim's unverified
	// account stays as it was.
	call(t, "POST", base+"/api/register-with-password", map[string]string{"identity": "vic@example.com", "password": goodPassword, "password_confirm": goodPassword}).
		expect(t, 202, codeOKPendingEmailVerification)
	before := ta.queryText("SELECT password FROM users WHERE email = 'vic@example.com'")
	fullSignIn(t, base, "oidc", oidcUser("sub-eve", "vic@example.com", false)).expect(t, 400, codeErrOAuth2UserInfoProcessing)
	if n := ta.queryText("SELECT count(*) FROM users WHERE email = 'eve@example.com'"); n != "0" {
		t.Fatal("an unverified provider address created an account")
	}
	if ta.queryText("SELECT password FROM users WHERE email = 'vic@example.com'") != before || ta.queryText("SELECT count(*) FROM oauth2_identities") != "0" {
		t.Fatal("an unverified provider address changed or linked an account")
	}
}

func TestOAuth2AccountLinkingMockOIDC(t *testing.T) {
	m := startOIDCMock(t)
	ta := oauth2App(t, map[string]OAuth2Provider{"oidc": m.provider(), "corp": m.provider()})
	base := ta.serve()
	register := func(email string) {
		call(t, "POST", base+"/api/register-with-password", map[string]string{"identity": email, "password": goodPassword, "password_confirm": goodPassword}).
			expect(t, 202, codeOKPendingEmailVerification)
	}
	login := func(email string) reply {
		return call(t, "POST", base+"/api/auth-with-password", map[string]string{"identity": email, "password": goodPassword})
	}

	t.Run("verified local account: 409, unchanged", func(t *testing.T) {
		register("owner@example.com")
		ta.verify("owner@example.com")
		fullSignIn(t, base, "oidc", oidcUser("sub-owner", "owner@example.com", true)).expect(t, 409, codeErrEmailConflict)
		login("owner@example.com").expect(t, 200, codeOKAuthentication)
		if ta.queryText("SELECT count(*) FROM oauth2_identities WHERE subject = 'sub-owner'") != "0" {
			t.Fatal("linked to a verified account")
		}
	})
	t.Run("unverified squatter: taken over", func(t *testing.T) {
		register("victim@example.com") // the squatter typed the victim's address
		squatID := ta.queryText("SELECT id FROM users WHERE email = 'victim@example.com'")
		key := ta.queryText("SELECT hex(token_key) FROM users WHERE id = ?", squatID)
		login("victim@example.com").expect(t, 403, codeErrRequiredEmailVerify)
		d := fullSignIn(t, base, "oidc", oidcUser("sub-victim", "victim@example.com", true)).expect(t, 200, codeOKAuthentication).auth(t)
		if d.Record.ID != squatID || !d.Record.Verified {
			t.Fatalf("record %+v, want the taken-over account %s", d.Record, squatID)
		}
		// The squatter's password no longer works, nor anything signed
		// under the old token_key.
		login("victim@example.com").expect(t, 401, codeErrInvalidCredentials)
		call(t, "POST", base+"/api/request-email-verification-otp", map[string]string{"email": "victim@example.com", "password": goodPassword}).
			expect(t, 400, codeErrInvalidInput)
		if ta.queryText("SELECT hex(token_key) FROM users WHERE id = ?", squatID) == key {
			t.Fatal("token_key not rotated")
		}
		if ta.queryText("SELECT password FROM users WHERE id = ?", squatID) != "" {
			t.Fatal("squatter's password hash kept")
		}
	})
	t.Run("second provider, same address: 409", func(t *testing.T) {
		fullSignIn(t, base, "oidc", oidcUser("sub-multi", "multi@example.com", true)).expect(t, 200, codeOKAuthentication)
		fullSignIn(t, base, "corp", oidcUser("other-multi", "multi@example.com", true)).expect(t, 409, codeErrEmailConflict)
		// The same subject at another provider is another identity (ASVS 5 6.8.1).
		fullSignIn(t, base, "corp", oidcUser("sub-multi", "multi@example.com", true)).expect(t, 409, codeErrEmailConflict)
	})
}

// An OAuth2-only account sets a password through the reset flow.
func TestOAuth2PasswordResetMockOIDC(t *testing.T) {
	m := startOIDCMock(t)
	ta, base, rec := otpApp(t, func(c *Config) {
		c.Server.PublicURL = testPublicURL
		// The tests call the loopback listener directly, beside the SPA host.
		c.BlockHost.AllowedHosts = []string{"app.rip.test", "127.0.0.1"}
		c.OAuth2Providers = map[string]OAuth2Provider{"oidc": m.provider()}
	})
	d := fullSignIn(t, base, "oidc", oidcUser("sub-cy", "cy@example.com", true)).expect(t, 200, codeOKAuthentication).auth(t)
	tok := call(t, "POST", base+"/api/request-password-reset-otp", map[string]string{"email": "cy@example.com"}).
		expect(t, 200, codeOKOTPTokenIssued).field(t, "verification_token")
	code := mailCode(t, rec.next(t).Text)
	grant := call(t, "POST", base+"/api/verify-password-reset-otp", map[string]string{"otp": code, "verification_token": tok}).
		expect(t, 202, codeOKPasswordResetOTPVerified).field(t, "token")
	call(t, "POST", base+"/api/confirm-password-reset-otp", map[string]string{"token": grant, "password": goodPassword, "password_confirm": goodPassword}).
		expect(t, 200, codeOKPasswordReset)
	pw := call(t, "POST", base+"/api/auth-with-password", map[string]string{"identity": "cy@example.com", "password": goodPassword}).
		expect(t, 200, codeOKAuthentication).auth(t)
	if pw.Record.ID != d.Record.ID {
		t.Fatal("password login reached another account")
	}
	call(t, "POST", base+"/api/refresh-auth", nil, "Authorization: Bearer "+d.AccessToken).expect(t, 401, codeErrInvalidToken)
	// OAuth2 sign-in still works beside the password.
	fullSignIn(t, base, "oidc", oidcUser("sub-cy", "cy@example.com", true)).expect(t, 200, codeOKAuthentication)
	_ = ta
}

// fakeProvider is a local provider for error injection: tests swap its
// handlers with set; it counts the token requests.
type fakeProvider struct {
	srv    *httptest.Server
	tokens atomic.Int32

	mu                      sync.Mutex
	token, userinfo, emails http.HandlerFunc
}

func newFakeProvider(t *testing.T) *fakeProvider {
	f := &fakeProvider{}
	h := func(pick func() http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			f.mu.Lock()
			fn := pick()
			f.mu.Unlock()
			fn(w, r)
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/token", func(w http.ResponseWriter, r *http.Request) {
		f.tokens.Add(1)
		h(func() http.HandlerFunc { return f.token })(w, r)
	})
	mux.HandleFunc("/userinfo", h(func() http.HandlerFunc { return f.userinfo }))
	mux.HandleFunc("/emails", h(func() http.HandlerFunc { return f.emails }))
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	f.token = func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"access_token":"at-1","token_type":"Bearer"}`))
	}
	f.userinfo = func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"sub":"s1","email":"fay@example.com","email_verified":true}`))
	}
	return f
}

// set replaces the non-nil handlers.
func (f *fakeProvider) set(token, userinfo, emails http.HandlerFunc) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if token != nil {
		f.token = token
	}
	if userinfo != nil {
		f.userinfo = userinfo
	}
	if emails != nil {
		f.emails = emails
	}
}

func (f *fakeProvider) provider(preset string) OAuth2Provider {
	return OAuth2Provider{Preset: preset, ClientID: "cid", ClientSecret: "csecret", AuthURL: f.srv.URL + "/authorize",
		TokenURL: f.srv.URL + "/token", UserInfoURL: f.srv.URL + "/userinfo", EmailsURL: f.srv.URL + "/emails"}
}

// skipAuthorize signs in with a made-up code: the fake provider does not
// check it.
func skipAuthorize(t *testing.T, base, provider string) reply {
	t.Helper()
	offer := listProviders(t, base)[provider]
	return signIn(t, base, provider, "code-1", offer.CodeVerifier, offer.State)
}

func TestOAuth2ProviderFailures(t *testing.T) {
	f := newFakeProvider(t)
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("a redirect was followed to %s", r.URL)
	}))
	defer other.Close()
	ta := oauth2App(t, map[string]OAuth2Provider{"oidc": f.provider("oidc")})
	ta.oauth2.tokenTimeout = 300 * time.Millisecond
	ta.oauth2.userInfoTimeout = 300 * time.Millisecond
	base := ta.serve()
	big := strings.Repeat("x", oauth2MaxBodyBytes+1)
	hang := func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body) // so the server notices the client leave
		select {
		case <-r.Context().Done():
		case <-time.After(3 * time.Second):
		}
	}
	okToken := f.token
	okInfo := f.userinfo
	tests := []struct {
		name            string
		token, userinfo http.HandlerFunc
		code            string
	}{
		{"token 400 invalid_grant", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(400)
			w.Write([]byte(`{"error":"invalid_grant"}`))
		}, okInfo, codeErrOAuth2TokenExchange},
		{"token 200 with error (GitHub style)", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/x-www-form-urlencoded")
			w.Write([]byte("error=bad_verification_code"))
		}, okInfo, codeErrOAuth2TokenExchange},
		{"token timeout", hang, okInfo, codeErrOAuth2TokenExchange},
		{"token oversized", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"access_token":"` + big + `"}`))
		}, okInfo, codeErrOAuth2TokenExchange},
		{"token redirect not followed", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, other.URL+"/steal", http.StatusTemporaryRedirect)
		}, okInfo, codeErrOAuth2TokenExchange},
		{"userinfo 500", okToken, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) }, codeErrOAuth2UserInfo},
		{"userinfo timeout", okToken, hang, codeErrOAuth2UserInfo},
		{"userinfo oversized", okToken, func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`{"sub":"s1","pad":"` + big + `"}`))
		}, codeErrOAuth2UserInfo},
		{"userinfo not JSON", okToken, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("<html>")) }, codeErrOAuth2UserInfo},
		{"userinfo redirect not followed", okToken, func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, other.URL+"/steal", http.StatusFound)
		}, codeErrOAuth2UserInfo},
		{"userinfo without sub", okToken, func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`{"email":"fay@example.com","email_verified":true}`))
		}, codeErrOAuth2UserInfoProcessing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.set(tt.token, tt.userinfo, nil)
			start := time.Now()
			skipAuthorize(t, base, "oidc").expect(t, 400, tt.code)
			if d := time.Since(start); d > 3*time.Second {
				t.Fatalf("took %s: a timeout did not apply", d)
			}
		})
	}
	// The working provider signs in, and the token request carried what
	// RFC 6749 and RFC 7636 require.
	forms := make(chan url.Values, 1)
	f.set(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		forms <- r.PostForm
		okToken(w, r)
	}, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer at-1" {
			w.WriteHeader(401)
			return
		}
		okInfo(w, r)
	}, nil)
	offer := listProviders(t, base)["oidc"]
	signIn(t, base, "oidc", "code-1", offer.CodeVerifier, offer.State).expect(t, 200, codeOKAuthentication)
	form := <-forms
	want := map[string]string{"grant_type": "authorization_code", "code": "code-1", "code_verifier": offer.CodeVerifier,
		"client_id": "cid", "client_secret": "csecret", "redirect_uri": testPublicURL + "/oauth2/oidc/callback"}
	for k, v := range want {
		if len(form[k]) != 1 || form[k][0] != v {
			t.Errorf("token request %s = %v, want %q", k, form[k], v)
		}
	}
}

// Every check runs before the provider is called: hostile or stale input
// never reaches the token endpoint.
func TestOAuth2HostileInput(t *testing.T) {
	f := newFakeProvider(t)
	ta := oauth2App(t, map[string]OAuth2Provider{"oidc": f.provider("oidc"), "google": {ClientID: "g", ClientSecret: "s"}})
	base := ta.serve()
	offers := listProviders(t, base)
	o := offers["oidc"]
	post := func(body any, headers ...string) reply {
		return call(t, "POST", base+"/api/auth-with-oauth2", body, headers...)
	}
	body := func(edit func(m map[string]string)) map[string]string {
		m := map[string]string{"provider": "oidc", "code": "c", "code_verifier": o.CodeVerifier, "state": o.State, "redirect_uri": "x"}
		edit(m)
		return m
	}
	sessionTok := fullSessionToken(t, ta)
	tests := []struct {
		name   string
		body   any
		header string
		status int
		code   string
	}{
		{"no content type", body(func(map[string]string) {}), "Content-Type: ", 415, codeErrInvalidContentType},
		{"not JSON", "{", "", 400, codeErrInvalidInput},
		{"unknown field", `{"provider":"oidc","code":"c","code_verifier":"` + o.CodeVerifier + `","state":"s","redirect_uri":"x","admin":true}`, "", 400, codeErrInvalidInput},
		{"missing redirect_uri", body(func(m map[string]string) { delete(m, "redirect_uri") }), "", 400, codeErrMissingFields},
		{"missing code", body(func(m map[string]string) { m["code"] = "" }), "", 400, codeErrMissingFields},
		{"huge body", `{"code":"` + strings.Repeat("a", 70<<10) + `"}`, "", 413, codeErrBodyTooLarge},
		{"code too long", body(func(m map[string]string) { m["code"] = strings.Repeat("a", oauth2MaxCodeBytes+1) }), "", 400, codeErrInvalidInput},
		{"verifier 42 chars", body(func(m map[string]string) { m["code_verifier"] = o.CodeVerifier[:42] }), "", 400, codeErrInvalidInput},
		{"verifier bad char", body(func(m map[string]string) { m["code_verifier"] = o.CodeVerifier[:42] + "+" }), "", 400, codeErrInvalidInput},
		{"verifier 129 chars", body(func(m map[string]string) { m["code_verifier"] = strings.Repeat("a", 129) }), "", 400, codeErrInvalidInput},
		{"garbage state", body(func(m map[string]string) { m["state"] = "a.b.c" }), "", 400, codeErrInvalidInput},
		{"huge state", body(func(m map[string]string) { m["state"] = strings.Repeat("A", 5000) }), "", 400, codeErrInvalidInput},
		{"session token as state", body(func(m map[string]string) { m["state"] = sessionTok }), "", 400, codeErrInvalidInput},
		{"other provider's state", body(func(m map[string]string) { m["state"] = offers["google"].State }), "", 400, codeErrInvalidInput},
		{"unknown provider", body(func(m map[string]string) { m["provider"] = "../../etc" }), "", 400, codeErrInvalidInput},
		{"provider removed", body(func(m map[string]string) {
			m["provider"], m["state"], m["code_verifier"] = "gone", mustState(t, ta, "gone", o.CodeVerifier), o.CodeVerifier
		}), "", 400, codeErrInvalidOAuth2Provider},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hs []string
			if tt.header != "" {
				hs = append(hs, tt.header)
			}
			post(tt.body, hs...).expect(t, tt.status, tt.code)
		})
	}
	if n := f.tokens.Load(); n != 0 {
		t.Fatalf("%d token requests reached the provider", n)
	}
	// The address budget: failures are charged, then 429.
	for i := 0; ; i++ {
		r := post(body(func(m map[string]string) { m["state"] = "a.b.c" }))
		if r.HTTP == 429 {
			if r.Header.Get("Retry-After") == "" {
				t.Fatal("429 without Retry-After")
			}
			break
		}
		if i > budgetOAuth2Addr.Free+5 {
			t.Fatal("the address budget never ran out")
		}
	}
}

// mustState signs a state as the list endpoint would.
func mustState(t *testing.T, ta *testApp, provider, verifier string) string {
	t.Helper()
	s, err := ta.oauth2State(ta.Config(), provider, verifier)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// fullSessionToken returns a valid session token of a fresh account.
func fullSessionToken(t *testing.T, ta *testApp) string {
	t.Helper()
	u := &User{ID: "rtest", Email: "s@example.com", tokenKey: []byte("0123456789abcdef")}
	tok, err := ta.issueSession(u, ta.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// The GitHub preset: form-encoded token answer, numeric id, primary
// verified address from /user/emails.
func TestOAuth2GitHub(t *testing.T) {
	f := newFakeProvider(t)
	var ua atomic.Value
	f.set(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-www-form-urlencoded")
		w.Write([]byte("access_token=gho_1&scope=read%3Auser%2Cuser%3Aemail&token_type=bearer"))
	}, func(w http.ResponseWriter, r *http.Request) {
		ua.Store(r.Header.Get("User-Agent"))
		w.Write([]byte(`{"login":"octo","id":583231,"name":null,"avatar_url":"https://avatars.example/u/583231","email":"public@example.com"}`))
	}, reply200(`[{"email":"old@example.com","primary":false,"verified":true},{"email":"Octo@Example.com","primary":true,"verified":true}]`))
	ta := oauth2App(t, map[string]OAuth2Provider{"github": f.provider("github")})
	base := ta.serve()
	d := skipAuthorize(t, base, "github").expect(t, 200, codeOKAuthentication).auth(t)
	if d.Record.Email != "octo@example.com" || d.Record.Name != "octo" {
		t.Fatalf("record %+v", d.Record)
	}
	if ta.queryText("SELECT subject FROM oauth2_identities WHERE provider = 'github'") != "583231" {
		t.Fatal("GitHub id not stored as the subject")
	}
	if ua.Load() != "rip" {
		t.Fatalf("User-Agent %v", ua.Load())
	}
	// No verified primary address: refused, even with another verified one.
	f.set(nil, reply200(`{"login":"newbie","id":7}`),
		reply200(`[{"email":"new@example.com","primary":true,"verified":false},{"email":"x@example.com","primary":false,"verified":true}]`))
	skipAuthorize(t, base, "github").expect(t, 400, codeErrOAuth2UserInfoProcessing)
	// The same with a verified primary signs in; a bad id does not.
	f.set(nil, nil, reply200(`[{"email":"new@example.com","primary":true,"verified":true}]`))
	skipAuthorize(t, base, "github").expect(t, 200, codeOKAuthentication)
	f.set(nil, reply200(`{"login":"newbie","id":-7}`), nil)
	skipAuthorize(t, base, "github").expect(t, 400, codeErrOAuth2UserInfoProcessing)
}

// reply200 answers body.
func reply200(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(body)) }
}
