package rip

// This file is rip's OAuth2 client: provider configuration and presets, PKCE,
// the state token, and the two outbound calls (code exchange and userinfo) on
// net/http alone. The endpoints that use it are in handlers_oauth2.go.
//
// The flow is the restinpieces SPA flow: GET list-oauth2-providers hands the
// client, per provider, an authorization URL, a fresh PKCE code verifier and a
// signed state bound to that verifier and provider; the browser goes to the
// provider, comes back to the SPA's redirect URL with code and state, and the
// SPA posts provider, code, code_verifier and state to auth-with-oauth2.

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// OAuth2Provider configures one sign-in provider, the TOML table
// [oauth2_providers.NAME]; NAME is what clients post back as "provider".
// Only ClientID and ClientSecret are needed for a preset: the other fields
// default to the preset's values. A provider with an empty ClientID is not
// advertised, and none is advertised while server.public_url is unset.
type OAuth2Provider struct {
	// Preset is google, github, microsoft or oidc (a generic OpenID
	// Connect provider, which needs the three URLs). Default: NAME when
	// NAME is one of those.
	Preset       string `toml:"preset"`
	ClientID     string `toml:"client_id"`
	ClientSecret Secret `toml:"client_secret"`
	// DisplayName is shown on the sign-in button. Default: the preset's
	// ("Google", "GitHub", "Microsoft"), else NAME.
	DisplayName string `toml:"display_name"`
	// RedirectURLPath is the path on server.public_url the provider sends
	// the browser back to (the SPA's callback page). Default
	// /oauth2/NAME/callback.
	RedirectURLPath string `toml:"redirect_url_path"`
	// AuthURL, TokenURL and UserInfoURL must be https, or http on a
	// loopback address (tests).
	AuthURL     string `toml:"auth_url"`
	TokenURL    string `toml:"token_url"`
	UserInfoURL string `toml:"user_info_url"`
	// EmailsURL is GitHub's list of the user's addresses (github only).
	EmailsURL string `toml:"emails_url"`
	// Scopes default to the preset's.
	Scopes []string `toml:"scopes"`
}

// oauth2Preset holds a preset's defaults. kind selects the userinfo
// mapping: "oidc" (sub, email, email_verified, name, picture) or "github".
type oauth2Preset struct {
	kind, display, auth, token, userInfo, emails string
	scopes                                       []string
}

// oauth2Presets are the providers rip knows. Google and generic OIDC use the
// OpenID Connect userinfo claims. Microsoft's userinfo carries no
// email_verified claim, so its e-mail counts as unverified (see
// oauth2MapOIDC): a Microsoft identity can sign in only where the
// configured userinfo asserts email_verified.
var oauth2Presets = map[string]oauth2Preset{
	"google": {kind: "oidc", display: "Google",
		auth:     "https://accounts.google.com/o/oauth2/v2/auth",
		token:    "https://oauth2.googleapis.com/token",
		userInfo: "https://openidconnect.googleapis.com/v1/userinfo",
		scopes:   []string{"openid", "email", "profile"}},
	"github": {kind: "github", display: "GitHub",
		auth:     "https://github.com/login/oauth/authorize",
		token:    "https://github.com/login/oauth/access_token",
		userInfo: "https://api.github.com/user",
		emails:   "https://api.github.com/user/emails",
		scopes:   []string{"read:user", "user:email"}},
	"microsoft": {kind: "oidc", display: "Microsoft",
		auth:     "https://login.microsoftonline.com/common/oauth2/v2.0/authorize",
		token:    "https://login.microsoftonline.com/common/oauth2/v2.0/token",
		userInfo: "https://graph.microsoft.com/oidc/userinfo",
		scopes:   []string{"openid", "email", "profile"}},
	"oidc": {kind: "oidc", scopes: []string{"openid", "email", "profile"}},
}

// oauth2Provider is a provider with its preset applied, built by
// [Config.Validate].
type oauth2Provider struct {
	name, kind, display, redirectPath string
	clientID                          string
	clientSecret                      Secret
	authURL, tokenURL, userInfoURL    string
	emailsURL                         string
	scopes                            []string
}

// oauth2MaxStateDuration caps jwt.oauth2_state_token_duration: a state is
// only needed for the round trip through the provider's login page.
const oauth2MaxStateDuration = time.Hour

// validateOAuth2 resolves every provider table against its preset into
// c.oauth2 and reports bad ones.
func (c *Config) validateOAuth2(bad badFunc) {
	if d := c.JWT.OAuth2StateTokenDuration; d > oauth2MaxStateDuration {
		bad("jwt.oauth2_state_token_duration", "must be at most %s, got %s", oauth2MaxStateDuration, d)
	}
	c.oauth2 = map[string]*oauth2Provider{}
	for name, p := range c.OAuth2Providers {
		key := "oauth2_providers." + name
		if !oauth2ValidName(name) {
			bad(key, "provider name must be 1 to 32 characters of a-z, 0-9, - and _")
			continue
		}
		preset := p.Preset
		if preset == "" {
			preset = name
		}
		pre, ok := oauth2Presets[preset]
		if !ok {
			bad(key+".preset", "must be google, github, microsoft or oidc, got %q", p.Preset)
			continue
		}
		r := &oauth2Provider{name: name, kind: pre.kind, clientID: p.ClientID, clientSecret: p.ClientSecret,
			display: cmpOr(p.DisplayName, pre.display, name), redirectPath: cmpOr(p.RedirectURLPath, "/oauth2/"+name+"/callback"),
			authURL: cmpOr(p.AuthURL, pre.auth), tokenURL: cmpOr(p.TokenURL, pre.token),
			userInfoURL: cmpOr(p.UserInfoURL, pre.userInfo), emailsURL: cmpOr(p.EmailsURL, pre.emails),
			scopes: p.Scopes}
		if len(r.scopes) == 0 {
			r.scopes = pre.scopes
		}
		if p.ClientID == "" {
			continue // not advertised; nothing else to check
		}
		if p.ClientSecret == "" {
			bad(key+".client_secret", "is required when client_id is set")
		}
		if len(p.ClientID) > 512 || strings.ContainsFunc(p.ClientID, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			bad(key+".client_id", "must be at most 512 printable characters without spaces")
		}
		urls := []struct{ k, v string }{{"auth_url", r.authURL}, {"token_url", r.tokenURL}, {"user_info_url", r.userInfoURL}}
		if r.kind == "github" {
			urls = append(urls, struct{ k, v string }{"emails_url", r.emailsURL})
		}
		for _, u := range urls {
			if err := oauth2CheckURL(u.v); err != nil {
				bad(key+"."+u.k, "%v", err)
			}
		}
		if err := checkRedirectPath(r.redirectPath); err != nil {
			bad(key+".redirect_url_path", "%v", err)
		}
		for _, s := range r.scopes {
			if s == "" || strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r >= 0x7f || r == '"' || r == '\\' }) {
				bad(key+".scopes", "scope %q must be printable ASCII without spaces (RFC 6749 §3.3)", s)
			}
		}
		c.oauth2[name] = r
	}
}

func cmpOr(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

func oauth2ValidName(s string) bool {
	if len(s) == 0 || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// oauth2CheckURL accepts an absolute https URL, or http to a loopback
// address (a provider on the same machine, as in tests), with no
// credentials or fragment.
//
// # Security
//
// Tokens, codes and the client secret travel to these URLs, so plain
// http is refused wherever it could cross a network (RFC 6749 §10.9,
// RFC 9700 §2.6).
func oauth2CheckURL(s string) error {
	if s == "" {
		return errors.New("is required (the oidc preset has no default)")
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.User != nil || u.Fragment != "" || len(s) > 2048 {
		return fmt.Errorf("must be an absolute URL without credentials or fragment, got %q", s)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		h := u.Hostname()
		if a, err := netip.ParseAddr(h); h == "localhost" || err == nil && a.IsLoopback() {
			return nil
		}
	}
	return fmt.Errorf("must use https (http only to a loopback address), got %q", s)
}

// checkRedirectPath accepts an absolute path of printable ASCII with no
// query or fragment.
func checkRedirectPath(p string) error {
	if len(p) < 2 || p[0] != '/' || p[1] == '/' || len(p) > 256 ||
		strings.ContainsFunc(p, func(r rune) bool { return r <= ' ' || r >= 0x7f || r == '?' || r == '#' || r == '\\' }) {
		return fmt.Errorf("must be a path such as /oauth2/google/callback, got %q", p)
	}
	return nil
}

// oauth2Advertised returns the providers the list endpoint offers, sorted
// by name: those with a client id, and none while server.public_url is
// unset (a redirect URL built from the listen address would be wrong
// behind any proxy).
func (c *Config) oauth2Advertised() []*oauth2Provider {
	if c.Server.PublicURL == "" {
		return nil
	}
	var out []*oauth2Provider
	for _, p := range c.oauth2 {
		if p.clientID != "" {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b *oauth2Provider) int { return strings.Compare(a.name, b.name) })
	return out
}

// oauth2Lookup returns the advertised provider name, or nil.
func (c *Config) oauth2Lookup(name string) *oauth2Provider {
	p := c.oauth2[name]
	if p == nil || p.clientID == "" || c.Server.PublicURL == "" {
		return nil
	}
	return p
}

// oauth2RedirectURL is p's redirect URI: server.public_url plus the
// configured path, never derived from a request.
func (c *Config) oauth2RedirectURL(p *oauth2Provider) string {
	return c.publicURL() + p.redirectPath
}

// PKCE (RFC 7636).
const (
	pkceMinVerifier = 43
	pkceMaxVerifier = 128
)

// pkceNewVerifier returns a verifier of 32 random bytes in base64url: 43
// characters, 256 bits (RFC 7636 §7.1).
func pkceNewVerifier() string {
	var b [32]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// pkceValidVerifier reports whether v is 43–128 characters of
// [A-Za-z0-9-._~] (RFC 7636 §4.1).
//
// # Security
//
// Checked before the state or anything else, so a malformed verifier
// never reaches the provider, and the exact alphabet keeps the value
// safe to put in a form body without re-encoding surprises.
func pkceValidVerifier(v string) bool {
	if len(v) < pkceMinVerifier || len(v) > pkceMaxVerifier {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
			return false
		}
	}
	return true
}

// pkceChallenge is the S256 challenge: base64url(SHA-256(verifier)).
func pkceChallenge(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// oauth2CVHash is the state's cv_hash claim: hex SHA-256 of the verifier.
func oauth2CVHash(verifier string) string {
	sum := sha256.Sum256([]byte("cv:" + verifier))
	return hex.EncodeToString(sum[:])
}

// oauth2AuthURL builds the authorization request URL (RFC 6749 §4.1.1
// with RFC 7636 §4.3), keeping any query the configured URL has.
func oauth2AuthURL(p *oauth2Provider, redirectURL, state, verifier string) string {
	u, _ := url.Parse(p.authURL) // checked by Validate
	q := u.Query()
	q.Set("response_type", "code")
	q.Set("client_id", p.clientID)
	q.Set("redirect_uri", redirectURL)
	q.Set("scope", strings.Join(p.scopes, " "))
	q.Set("state", state)
	q.Set("code_challenge", pkceChallenge(verifier))
	q.Set("code_challenge_method", "S256")
	u.RawQuery = q.Encode()
	return u.String()
}

// Limits of the outbound calls.
const (
	// oauth2MaxBodyBytes caps every response body read from a provider;
	// a larger one is an error, never silently truncated.
	oauth2MaxBodyBytes = 1 << 20 // 1 MiB
	// oauth2MaxCodeBytes caps the authorization code a client may post.
	oauth2MaxCodeBytes = 2 << 10 // 2 KiB
)

// oauth2Client is the HTTP client of the outbound calls, with a deadline
// per call. It is safe for concurrent use; tests shorten the timeouts
// before Serve.
type oauth2Client struct {
	http            *http.Client
	tokenTimeout    time.Duration // code exchange, whole call
	userInfoTimeout time.Duration // each userinfo call

	warnedNoPublicURL atomic.Bool // the list endpoint logs a missing public_url once
}

// newOAuth2Client builds the outbound client.
//
// # Security
//
// Its own transport with dial, TLS-handshake and response-header
// timeouts, response headers capped at 64 KiB, TLS 1.2 or later, and no
// redirect ever followed (ASVS 5 15.3.2): a token or userinfo endpoint
// that redirects fails instead of sending the code, the verifier or the
// access token on to another host.
func newOAuth2Client() *oauth2Client {
	tr := &http.Transport{
		Proxy:                  http.ProxyFromEnvironment,
		DialContext:            (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:        &tls.Config{MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:    5 * time.Second,
		ResponseHeaderTimeout:  10 * time.Second,
		MaxResponseHeaderBytes: 64 << 10,
		MaxIdleConnsPerHost:    2,
		IdleConnTimeout:        90 * time.Second,
		ForceAttemptHTTP2:      true,
	}
	return &oauth2Client{
		http: &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		}},
		tokenTimeout:    10 * time.Second,
		userInfoTimeout: 5 * time.Second,
	}
}

// The failure classes of the outbound calls; each maps to one
// restinpieces code.
var (
	errOAuth2Exchange   = errors.New("rip: oauth2 code exchange failed")    // err_oauth2_token_exchange_failed
	errOAuth2UserInfo   = errors.New("rip: oauth2 userinfo request failed") // err_oauth2_user_info_failed
	errOAuth2Processing = errors.New("rip: oauth2 userinfo unusable")       // err_oauth2_user_info_processing_failed
)

// do sends req and returns the body of a 200 answer, at most
// oauth2MaxBodyBytes; anything else is an error wrapping class.
func (c *oauth2Client) do(req *http.Request, class error) ([]byte, string, error) {
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, "", fmt.Errorf("%w: %v", class, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, oauth2MaxBodyBytes+1))
	if err != nil {
		return nil, "", fmt.Errorf("%w: read body: %v", class, err)
	}
	if len(body) > oauth2MaxBodyBytes {
		return nil, "", fmt.Errorf("%w: response body exceeds %d bytes", class, oauth2MaxBodyBytes)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, "", fmt.Errorf("%w: HTTP %d%s", class, resp.StatusCode, oauth2ErrorField(body))
	}
	return body, resp.Header.Get("Content-Type"), nil
}

// oauth2ErrorField returns ": error=…" from an OAuth2 error body (JSON or
// form), for the log; never the whole body.
func oauth2ErrorField(body []byte) string {
	var j struct {
		Error string `json:"error"`
	}
	e := ""
	if json.Unmarshal(body, &j) == nil {
		e = j.Error
	} else if q, err := url.ParseQuery(string(body)); err == nil {
		e = q.Get("error")
	}
	if e == "" || len(e) > 64 || !utf8.ValidString(e) {
		return ""
	}
	return ": error=" + strconv.Quote(e)
}

// exchange trades code for an access token at p's token endpoint (RFC
// 6749 §4.1.3), sending the PKCE verifier and authenticating with
// client_secret_post.
func (c *oauth2Client) exchange(ctx context.Context, p *oauth2Provider, redirectURL, code, verifier string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, c.tokenTimeout)
	defer cancel()
	form := url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {code},
		"redirect_uri":  {redirectURL},
		"client_id":     {p.clientID},
		"client_secret": {string(p.clientSecret)},
		"code_verifier": {verifier},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", fmt.Errorf("%w: %v", errOAuth2Exchange, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	body, ctype, err := c.do(req, errOAuth2Exchange)
	if err != nil {
		return "", err
	}
	return oauth2ParseToken(body, ctype)
}

// oauth2ParseToken reads a token response: JSON (RFC 6749 §5.1) or, as
// GitHub answers without Accept: application/json, form-encoded. An
// "error" field, a missing access_token or a token type other than
// Bearer is a failure.
func oauth2ParseToken(body []byte, ctype string) (string, error) {
	var tok struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		Error       string `json:"error"`
	}
	mt, _, _ := mime.ParseMediaType(ctype)
	if mt == "application/x-www-form-urlencoded" || mt == "text/plain" {
		q, err := url.ParseQuery(string(body))
		if err != nil {
			return "", fmt.Errorf("%w: form token response: %v", errOAuth2Exchange, err)
		}
		tok.AccessToken, tok.TokenType, tok.Error = q.Get("access_token"), q.Get("token_type"), q.Get("error")
	} else if err := json.Unmarshal(body, &tok); err != nil {
		return "", fmt.Errorf("%w: JSON token response: %v", errOAuth2Exchange, err)
	}
	switch {
	case tok.Error != "":
		return "", fmt.Errorf("%w%s", errOAuth2Exchange, oauth2ErrorField(body))
	case tok.AccessToken == "" || len(tok.AccessToken) > 16<<10:
		return "", fmt.Errorf("%w: no usable access_token", errOAuth2Exchange)
	case tok.TokenType != "" && !strings.EqualFold(tok.TokenType, "bearer"):
		return "", fmt.Errorf("%w: token_type %q is not Bearer", errOAuth2Exchange, tok.TokenType)
	}
	return tok.AccessToken, nil
}

// get fetches url with the access token and decodes the JSON answer into
// dst.
func (c *oauth2Client) get(ctx context.Context, u, accessToken string, dst any) error {
	ctx, cancel := context.WithTimeout(ctx, c.userInfoTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("%w: %v", errOAuth2UserInfo, err)
	}
	req.Header.Set("Authorization", "Bearer "+accessToken)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "rip") // GitHub's API refuses requests without one
	body, _, err := c.do(req, errOAuth2UserInfo)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.UseNumber()
	if err := dec.Decode(dst); err != nil {
		return fmt.Errorf("%w: JSON: %v", errOAuth2UserInfo, err)
	}
	return nil
}

// oauth2Identity is what rip keeps from a provider's userinfo.
type oauth2Identity struct {
	Subject       string // the provider's stable user id (sub, GitHub id)
	Email         string // normalised
	EmailVerified bool
	Name, Avatar  string
}

// userInfo fetches and maps the signed-in user's identity.
func (c *oauth2Client) userInfo(ctx context.Context, p *oauth2Provider, accessToken string) (*oauth2Identity, error) {
	if p.kind == "github" {
		return c.githubUser(ctx, p, accessToken)
	}
	var raw map[string]any
	if err := c.get(ctx, p.userInfoURL, accessToken, &raw); err != nil {
		return nil, err
	}
	return oauth2MapOIDC(raw)
}

// oauth2MapOIDC maps OpenID Connect userinfo claims (OIDC Core §5.1).
//
// # Security
//
// The identity key is sub (a string, never reassigned), not the e-mail
// (ASVS 5 10.5.2). email_verified counts only as JSON true or the string
// "true"; absent (Microsoft's userinfo never sends it, and its email
// claim is mutable: the "nOAuth" takeovers) means unverified, and an
// unverified address never creates or links an account.
func oauth2MapOIDC(raw map[string]any) (*oauth2Identity, error) {
	id := &oauth2Identity{}
	sub, _ := raw["sub"].(string)
	if sub == "" || len(sub) > 255 || !utf8.ValidString(sub) {
		return nil, fmt.Errorf("%w: sub missing or invalid", errOAuth2Processing)
	}
	id.Subject = sub
	email, _ := raw["email"].(string)
	var ok bool
	if id.Email, ok = normalizeEmail(email); !ok {
		return nil, fmt.Errorf("%w: email missing or invalid", errOAuth2Processing)
	}
	switch v := raw["email_verified"].(type) {
	case bool:
		id.EmailVerified = v
	case string:
		id.EmailVerified = v == "true"
	}
	name, _ := raw["name"].(string)
	pic, _ := raw["picture"].(string)
	id.Name, id.Avatar = oauth2CleanName(name), oauth2CleanURL(pic)
	return id, nil
}

// githubUser maps GitHub's /user (id, name, login, avatar_url) and takes
// the primary verified address from /user/emails.
//
// # Security
//
// The subject is GitHub's numeric id (logins can be renamed and
// re-registered). The e-mail is the primary one, and only when GitHub
// marks it verified; /user's public email field is ignored.
func (c *oauth2Client) githubUser(ctx context.Context, p *oauth2Provider, accessToken string) (*oauth2Identity, error) {
	var u struct {
		ID        json.Number `json:"id"`
		Login     string      `json:"login"`
		Name      string      `json:"name"`
		AvatarURL string      `json:"avatar_url"`
	}
	if err := c.get(ctx, p.userInfoURL, accessToken, &u); err != nil {
		return nil, err
	}
	n, err := strconv.ParseUint(string(u.ID), 10, 63)
	if err != nil || n == 0 {
		return nil, fmt.Errorf("%w: GitHub id missing or invalid", errOAuth2Processing)
	}
	var emails []struct {
		Email    string `json:"email"`
		Primary  bool   `json:"primary"`
		Verified bool   `json:"verified"`
	}
	if err := c.get(ctx, p.emailsURL, accessToken, &emails); err != nil {
		return nil, err
	}
	id := &oauth2Identity{Subject: strconv.FormatUint(n, 10), Name: oauth2CleanName(cmpOr(u.Name, u.Login)), Avatar: oauth2CleanURL(u.AvatarURL)}
	for _, e := range emails {
		if e.Primary {
			var ok bool
			if id.Email, ok = normalizeEmail(e.Email); !ok {
				return nil, fmt.Errorf("%w: primary email invalid", errOAuth2Processing)
			}
			id.EmailVerified = e.Verified
		}
	}
	if id.Email == "" {
		return nil, fmt.Errorf("%w: no primary email", errOAuth2Processing)
	}
	return id, nil
}

// oauth2CleanName keeps a display name of valid UTF-8 without control
// characters, at most 200 bytes; anything else becomes "".
func oauth2CleanName(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 200 || !utf8.ValidString(s) || strings.ContainsFunc(s, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return ""
	}
	return s
}

// oauth2CleanURL keeps an absolute https avatar URL of at most 2048 bytes.
func oauth2CleanURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "https" || u.Host == "" || len(s) > 2048 {
		return ""
	}
	return s
}
