// Command oidcmock runs github.com/oauth2-proxy/mockoidc, a real OpenID
// Connect provider (authorization code with PKCE, client authentication,
// signed tokens, userinfo), on a loopback port for rip's OAuth2 tests.
//
// It prints one JSON line on stdout with the endpoints and client
// credentials, then serves until its standard input closes. An authorize
// request that carries mock_user=<JSON object> signs in as a user whose
// userinfo response is exactly that object (its "sub" is the subject);
// without it mockoidc's default user signs in. That parameter stands in
// for the person choosing an account on the provider's login page.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"

	"github.com/golang-jwt/jwt/v5"
	"github.com/oauth2-proxy/mockoidc"
)

// rawUser is a mockoidc.User whose userinfo is a fixed JSON object.
type rawUser struct {
	sub  string
	info []byte
}

func (u rawUser) ID() string                        { return u.sub }
func (u rawUser) Userinfo([]string) ([]byte, error) { return u.info, nil }
func (u rawUser) Claims(_ []string, c *mockoidc.IDTokenClaims) (jwt.Claims, error) {
	return c, nil
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "oidcmock:", err)
		os.Exit(1)
	}
}

func run() error {
	m, err := mockoidc.NewServer(nil)
	if err != nil {
		return err
	}
	err = m.AddMiddleware(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == mockoidc.AuthorizationEndpoint {
				if raw := r.URL.Query().Get("mock_user"); raw != "" {
					var info struct {
						Sub string `json:"sub"`
					}
					if err := json.Unmarshal([]byte(raw), &info); err != nil {
						http.Error(w, "mock_user: "+err.Error(), http.StatusBadRequest)
						return
					}
					m.QueueUser(rawUser{sub: info.Sub, info: []byte(raw)})
				}
			}
			next.ServeHTTP(w, r)
		})
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	if err := m.Start(ln, nil); err != nil {
		return err
	}
	defer m.Shutdown()
	err = json.NewEncoder(os.Stdout).Encode(map[string]string{
		"issuer":        m.Issuer(),
		"authorize_url": m.AuthorizationEndpoint(),
		"token_url":     m.TokenEndpoint(),
		"userinfo_url":  m.UserinfoEndpoint(),
		"client_id":     m.ClientID,
		"client_secret": m.ClientSecret,
	})
	if err != nil {
		return err
	}
	io.Copy(io.Discard, os.Stdin)
	return nil
}
