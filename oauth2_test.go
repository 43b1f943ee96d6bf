package rip

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// testPublicURL is the SPA origin the provider redirects to. Nothing
// listens there: the test reads the redirect instead of following it.
const testPublicURL = "https://app.rip.test"

// oidcMock is a running interop/oidcmock: mockoidc, a real OpenID Connect
// provider in its own module, started as a subprocess.
type oidcMock struct {
	Issuer       string `json:"issuer"`
	AuthorizeURL string `json:"authorize_url"`
	TokenURL     string `json:"token_url"`
	UserinfoURL  string `json:"userinfo_url"`
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
}

// startOIDCMock starts the provider built by .ci/oidc-mock.sh. Absent, the
// test skips loudly, except under CI, where it fails.
func startOIDCMock(t *testing.T) *oidcMock {
	t.Helper()
	path := os.Getenv("RIP_TEST_OIDC_MOCK")
	if path == "" {
		if os.Getenv("RIP_CI") != "" {
			t.Fatal("RIP_TEST_OIDC_MOCK is not set; .ci/run must build the OAuth2 test provider (.ci/oidc-mock.sh)")
		}
		t.Skip("SKIPPED: RIP_TEST_OIDC_MOCK is not set: this test needs the mockoidc provider (source .ci/oidc-mock.sh)")
	}
	cmd := exec.Command(path)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", path, err)
	}
	t.Cleanup(func() { stdin.Close(); cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadBytes('\n')
	if err != nil {
		t.Fatalf("oidcmock: %v", err)
	}
	var m oidcMock
	if err := json.Unmarshal(line, &m); err != nil || m.ClientID == "" {
		t.Fatalf("oidcmock said %q: %v", line, err)
	}
	return &m
}

// provider returns a generic OIDC provider configuration for the mock.
func (m *oidcMock) provider() OAuth2Provider {
	return OAuth2Provider{Preset: "oidc", ClientID: m.ClientID, ClientSecret: Secret(m.ClientSecret),
		AuthURL: m.AuthorizeURL, TokenURL: m.TokenURL, UserInfoURL: m.UserinfoURL}
}

// oauth2App is a test app (not yet serving) with public_url and the given
// providers.
func oauth2App(t *testing.T, providers map[string]OAuth2Provider, edit ...func(*Config)) *testApp {
	t.Helper()
	ta := newTestApp(t, append([]func(*Config){func(c *Config) {
		c.Server.PublicURL = testPublicURL
		// The tests call the loopback listener directly, beside the SPA host.
		c.BlockHost.AllowedHosts = []string{"app.rip.test", "127.0.0.1"}
		c.OAuth2Providers = providers
	}}, edit...)...)
	ta.Hasher = fastHasher
	return ta
}

// listProviders calls list-oauth2-providers and returns the offers by name,
// checking that each has exactly the restinpieces keys.
func listProviders(t *testing.T, base string) map[string]oauth2ProviderInfo {
	t.Helper()
	r := call(t, "GET", base+"/api/list-oauth2-providers", nil).expect(t, 200, codeOKOAuth2ProvidersList)
	var raw struct {
		Providers []map[string]any `json:"providers"`
	}
	var typed struct {
		Providers []oauth2ProviderInfo `json:"providers"`
	}
	if err := json.Unmarshal(r.Data, &raw); err != nil {
		t.Fatal(err)
	}
	json.Unmarshal(r.Data, &typed)
	want := []string{"authURL", "codeChallenge", "codeChallengeMethod", "codeVerifier", "displayName", "name", "redirectURL", "state"}
	out := map[string]oauth2ProviderInfo{}
	for i, p := range raw.Providers {
		keys := slices.Sorted(func(yield func(string) bool) {
			for k := range p {
				if !yield(k) {
					return
				}
			}
		})
		if !slices.Equal(keys, want) {
			t.Fatalf("provider keys %v, want %v", keys, want)
		}
		out[typed.Providers[i].Name] = typed.Providers[i]
	}
	return out
}

// authorize does what the browser does: it follows the offer's
// authorization URL to the provider, which signs in as user (the userinfo
// object; nil for the mock's default user) and redirects back with a
// code. It returns the code after checking the redirect.
func authorize(t *testing.T, offer oauth2ProviderInfo, user map[string]any) string {
	t.Helper()
	u := offer.AuthURL
	if user != nil {
		j, _ := json.Marshal(user)
		u += "&mock_user=" + url.QueryEscape(string(j))
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("authorize answered %d, want 302", resp.StatusCode)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	back := *loc
	back.RawQuery = ""
	if back.String() != offer.RedirectURL {
		t.Fatalf("provider redirected to %s, want %s", back.String(), offer.RedirectURL)
	}
	if loc.Query().Get("state") != offer.State {
		t.Fatal("provider did not echo the state")
	}
	code := loc.Query().Get("code")
	if code == "" {
		t.Fatalf("no code in %s", loc)
	}
	return code
}

// signIn posts the callback to auth-with-oauth2.
func signIn(t *testing.T, base, provider, code, verifier, state string) reply {
	t.Helper()
	return call(t, "POST", base+"/api/auth-with-oauth2", map[string]string{
		"provider": provider, "code": code, "code_verifier": verifier, "state": state, "redirect_uri": testPublicURL + "/cb"})
}

func oidcUser(sub, email string, verified any) map[string]any {
	u := map[string]any{"sub": sub, "email": email, "name": "User " + sub, "picture": "https://img.rip.test/" + sub + ".png"}
	if verified != nil {
		u["email_verified"] = verified
	}
	return u
}

// fullSignIn runs list → authorize → callback for provider.
func fullSignIn(t *testing.T, base, provider string, user map[string]any) reply {
	t.Helper()
	offer := listProviders(t, base)[provider]
	return signIn(t, base, provider, authorize(t, offer, user), offer.CodeVerifier, offer.State)
}

// queryInt runs a one-value query on app.db.
func (ta *testApp) queryText(q string, args ...any) string {
	ta.t.Helper()
	var v string
	err := ta.Read(context.Background(), func(conn *sqlite.Conn) error {
		return sqlitex.Execute(conn, q, &sqlitex.ExecOptions{Args: args, ResultFunc: func(s *sqlite.Stmt) error { v = s.ColumnText(0); return nil }})
	})
	if err != nil {
		ta.t.Fatal(err)
	}
	return v
}

func TestOAuth2ListNoneAdvertised(t *testing.T) {
	// A fresh install advertises nothing: 400 as restinpieces answers
	// when no provider is configured.
	ta := newTestApp(t)
	base := ta.serve()
	call(t, "GET", base+"/api/list-oauth2-providers", nil).expect(t, 400, codeErrInvalidOAuth2Provider)
	call(t, "POST", base+"/api/list-oauth2-providers", nil).expect(t, 405, codeErrMethodNotAllowed)

	// Configured but without server.public_url: still nothing, and the
	// log says why.
	ta = newTestApp(t, func(c *Config) {
		c.OAuth2Providers = map[string]OAuth2Provider{"google": {ClientID: "id", ClientSecret: "secret"}}
	})
	base = ta.serve()
	call(t, "GET", base+"/api/list-oauth2-providers", nil).expect(t, 400, codeErrInvalidOAuth2Provider)
	if !strings.Contains(ta.logs.String(), "public_url is unset") {
		t.Fatalf("no log line about public_url:\n%s", ta.logs)
	}
}

func TestOAuth2ListShape(t *testing.T) {
	ta := oauth2App(t, map[string]OAuth2Provider{
		"google": {ClientID: "gid.apps", ClientSecret: "gsecret"},
		"github": {ClientID: "ghid", ClientSecret: "ghsecret"},
		"corp":   {Preset: "microsoft"}, // no client id: not advertised
	})
	base := ta.serve()
	offers := listProviders(t, base)
	if len(offers) != 2 {
		t.Fatalf("offers %v", offers)
	}
	g := offers["google"]
	if g.DisplayName != "Google" || g.RedirectURL != testPublicURL+"/oauth2/google/callback" || g.CodeChallengeMethod != "S256" {
		t.Fatalf("google offer %+v", g)
	}
	if !pkceValidVerifier(g.CodeVerifier) || len(g.CodeVerifier) != 43 || g.CodeChallenge != pkceChallenge(g.CodeVerifier) {
		t.Fatalf("verifier %q challenge %q", g.CodeVerifier, g.CodeChallenge)
	}
	u, _ := url.Parse(g.AuthURL)
	q := u.Query()
	if u.Host != "accounts.google.com" || q.Get("client_id") != "gid.apps" || q.Get("redirect_uri") != g.RedirectURL ||
		q.Get("response_type") != "code" || q.Get("scope") != "openid email profile" || q.Get("state") != g.State ||
		q.Get("code_challenge") != g.CodeChallenge || q.Get("code_challenge_method") != "S256" || strings.Contains(g.AuthURL, "gsecret") {
		t.Fatalf("auth URL %s", g.AuthURL)
	}
	if gh := offers["github"]; !strings.HasPrefix(gh.AuthURL, "https://github.com/login/oauth/authorize?") || gh.DisplayName != "GitHub" {
		t.Fatalf("github offer %+v", gh)
	}
	// The state is a signed oauth2_state token bound to provider and verifier.
	var c jwtClaims
	if err := jwtParse(jwtOAuth2State, g.State, &c); err != nil || c.Provider != "google" || c.CVHash != oauth2CVHash(g.CodeVerifier) {
		t.Fatalf("state claims %+v: %v", c, err)
	}
	if again := listProviders(t, base)["google"]; again.CodeVerifier == g.CodeVerifier || again.State == g.State {
		t.Fatal("a second list reused the verifier or state")
	}
	// The Host header plays no part in the redirect URL.
	r := call(t, "GET", base+"/api/list-oauth2-providers", nil, "Host: evil.test")
	if strings.Contains(r.Body, "evil.test") {
		t.Fatalf("Host header reached the reply: %s", r.Body)
	}
}

func TestOAuth2ConfigValidate(t *testing.T) {
	base := func() *Config { c := DefaultConfig(); GenerateSecrets(c); return c }
	tests := []struct {
		name string
		p    map[string]OAuth2Provider
		edit func(*Config)
		want string // "" = valid
	}{
		{"preset by name", map[string]OAuth2Provider{"google": {ClientID: "a", ClientSecret: "b"}}, nil, ""},
		{"unconfigured is fine", map[string]OAuth2Provider{"google": {}, "oidc": {}}, nil, ""},
		{"unknown preset", map[string]OAuth2Provider{"corp": {ClientID: "a", ClientSecret: "b"}}, nil, "oauth2_providers.corp.preset"},
		{"secret required", map[string]OAuth2Provider{"github": {ClientID: "a"}}, nil, "oauth2_providers.github.client_secret"},
		{"oidc needs URLs", map[string]OAuth2Provider{"oidc": {ClientID: "a", ClientSecret: "b"}}, nil, "oauth2_providers.oidc.auth_url"},
		{"plain http refused", map[string]OAuth2Provider{"google": {ClientID: "a", ClientSecret: "b", TokenURL: "http://idp.example.com/token"}}, nil, "oauth2_providers.google.token_url"},
		{"http loopback allowed", map[string]OAuth2Provider{"google": {ClientID: "a", ClientSecret: "b", TokenURL: "http://127.0.0.1:9/token"}}, nil, ""},
		{"credentials in URL", map[string]OAuth2Provider{"google": {ClientID: "a", ClientSecret: "b", UserInfoURL: "https://u:p@x.test/"}}, nil, "oauth2_providers.google.user_info_url"},
		{"bad name", map[string]OAuth2Provider{"Goo gle": {Preset: "google"}}, nil, "provider name"},
		{"bad scope", map[string]OAuth2Provider{"google": {ClientID: "a", ClientSecret: "b", Scopes: []string{"openid email"}}}, nil, "oauth2_providers.google.scopes"},
		{"bad redirect path", map[string]OAuth2Provider{"google": {ClientID: "a", ClientSecret: "b", RedirectURLPath: "//evil.test/cb"}}, nil, "redirect_url_path"},
		{"client id with space", map[string]OAuth2Provider{"google": {ClientID: "a b", ClientSecret: "b"}}, nil, "client_id"},
		{"long state lifetime", nil, func(c *Config) { c.JWT.OAuth2StateTokenDuration = 2 * time.Hour }, "jwt.oauth2_state_token_duration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base()
			c.OAuth2Providers = tt.p
			if tt.edit != nil {
				tt.edit(c)
			}
			err := c.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("error %v, want one naming %s", err, tt.want)
			}
		})
	}
	// TOML: a table per provider; only client id and secret are needed.
	c := base()
	text, _ := tomlEncode(c)
	text = append(text, "\n[oauth2_providers.google]\nclient_id = \"gid\"\nclient_secret = \"gsec\"\n"...)
	got, err := parseConfig(text)
	if err != nil {
		t.Fatal(err)
	}
	p := got.oauth2Lookup("google")
	if p != nil { // public_url unset: not advertised
		t.Fatal("provider advertised without public_url")
	}
	if p := got.oauth2["google"]; p == nil || p.tokenURL != oauth2Presets["google"].token || string(p.clientSecret) != "gsec" {
		t.Fatalf("resolved %+v", p)
	}
	if _, err := parseConfig(append(text, "pkce = false\n"...)); err == nil {
		t.Fatal("unknown key pkce accepted")
	}
	// ripc config dump masks the client secret.
	maskSecrets(reflect.ValueOf(got).Elem())
	dump, _ := tomlEncode(got)
	if strings.Contains(string(dump), "gsec") || !strings.Contains(string(dump), "[oauth2_providers.google]") {
		t.Fatalf("masked dump:\n%s", dump)
	}
}

func TestOAuth2PKCEVerifier(t *testing.T) {
	ok := strings.Repeat("a", 43)
	for _, tt := range []struct {
		v    string
		want bool
	}{
		{ok, true}, {strings.Repeat("Z", 128), true}, {"abc-._~" + ok[7:], true},
		{ok[:42], false}, {strings.Repeat("a", 129), false}, {ok[:42] + "+", false}, {ok[:42] + "/", false},
		{ok[:42] + "=", false}, {ok[:42] + " ", false}, {ok[:41] + "é", false}, {"", false},
	} {
		if got := pkceValidVerifier(tt.v); got != tt.want {
			t.Errorf("pkceValidVerifier(%q) = %v", tt.v, got)
		}
	}
	// RFC 7636 Appendix B.
	if got := pkceChallenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"); got != "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM" {
		t.Fatalf("S256 challenge %s", got)
	}
}

func TestOAuth2MapOIDC(t *testing.T) {
	for _, tt := range []struct {
		name     string
		raw      string
		verified bool
		err      bool
	}{
		{"verified", `{"sub":"1","email":"A@Example.com","email_verified":true}`, true, false},
		{"string true", `{"sub":"1","email":"a@example.com","email_verified":"true"}`, true, false},
		{"false", `{"sub":"1","email":"a@example.com","email_verified":false}`, false, false},
		{"absent (Microsoft)", `{"sub":"1","email":"a@example.com"}`, false, false},
		{"string yes", `{"sub":"1","email":"a@example.com","email_verified":"yes"}`, false, false},
		{"no sub", `{"email":"a@example.com","email_verified":true}`, false, true},
		{"numeric sub", `{"sub":1,"email":"a@example.com","email_verified":true}`, false, true},
		{"bad email", `{"sub":"1","email":"Bob <a@example.com>","email_verified":true}`, false, true},
		{"no email", `{"sub":"1","email_verified":true}`, false, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var raw map[string]any
			json.Unmarshal([]byte(tt.raw), &raw)
			id, err := oauth2MapOIDC(raw)
			if (err != nil) != tt.err {
				t.Fatalf("err %v", err)
			}
			if err == nil && (id.EmailVerified != tt.verified || id.Email != "a@example.com") {
				t.Fatalf("identity %+v", id)
			}
		})
	}
	id, _ := oauth2MapOIDC(map[string]any{"sub": "1", "email": "a@example.com", "name": "Eve\r\nBcc: x", "picture": "javascript:alert(1)"})
	if id.Name != "" || id.Avatar != "" {
		t.Fatalf("hostile name/picture kept: %+v", id)
	}
}

func TestOAuth2ParseToken(t *testing.T) {
	for _, tt := range []struct {
		name, body, ctype string
		ok                bool
	}{
		{"json", `{"access_token":"at","token_type":"Bearer"}`, "application/json", true},
		{"json lower bearer", `{"access_token":"at","token_type":"bearer","expires_in":3600}`, "application/json; charset=utf-8", true},
		{"form (GitHub default)", "access_token=at&scope=user&token_type=bearer", "application/x-www-form-urlencoded", true},
		{"form error (GitHub)", "error=bad_verification_code&error_description=x", "application/x-www-form-urlencoded", false},
		{"json error", `{"error":"invalid_grant"}`, "application/json", false},
		{"no token", `{"token_type":"Bearer"}`, "application/json", false},
		{"mac token", `{"access_token":"at","token_type":"mac"}`, "application/json", false},
		{"not json", `<html>`, "text/html", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := oauth2ParseToken([]byte(tt.body), tt.ctype)
			if (err == nil) != tt.ok || tt.ok && tok != "at" {
				t.Fatalf("token %q err %v", tok, err)
			}
		})
	}
}
