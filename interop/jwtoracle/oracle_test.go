package jwtoracle

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"maps"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// vectorFile and vector mirror jwtVectorFile and jwtVector in rip's
// jwt_oracle_test.go.
type vectorFile struct {
	Issuer  string   `json:"issuer"`
	Now     int64    `json:"now"`
	Vectors []vector `json:"vectors"`
}

type vector struct {
	Name          string         `json:"name"`
	Purpose       string         `json:"purpose"`
	KeyHex        string         `json:"key_hex"`
	Token         string         `json:"token"`
	Claims        map[string]any `json:"claims"`
	Valid         bool           `json:"valid"`
	OracleAccepts bool           `json:"oracle_accepts"`
}

// minRipVectors is the least number of rip tokens expected, so an empty or
// truncated file cannot pass.
const minRipVectors = 18

// leeway matches rip's jwtLeeway, so that both sides apply the same time rules.
const leeway = 60 * time.Second

// parser returns the strictest golang-jwt parser that accepts what rip
// issues: HS256 only, iat checked, exp required, the clock fixed at now.
func parser(now time.Time) *jwt.Parser {
	return jwt.NewParser(
		jwt.WithValidMethods([]string{"HS256"}),
		jwt.WithIssuedAt(),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(leeway),
		jwt.WithTimeFunc(func() time.Time { return now }),
		jwt.WithJSONNumber(),
	)
}

func TestOracle(t *testing.T) {
	in, out := os.Getenv("RIP_JWT_VECTORS"), os.Getenv("RIP_JWT_FOREIGN")
	if in == "" || out == "" {
		t.Skip("SKIPPED: needs RIP_JWT_VECTORS (tokens rip signed) and RIP_JWT_FOREIGN (where to write golang-jwt's); run ../../jwt-oracle.sh")
	}
	now := verifyRip(t, in)
	writeForeign(t, out, now)
}

// verifyRip verifies every rip-signed token with golang-jwt and compares
// header and claims; it returns the clock the file was written for.
func verifyRip(t *testing.T, path string) time.Time {
	var f vectorFile
	readJSON(t, path, &f)
	if f.Issuer != "rip" || len(f.Vectors) < minRipVectors {
		t.Fatalf("%s holds %d vectors from %q, want at least %d from rip", path, len(f.Vectors), f.Issuer, minRipVectors)
	}
	now := time.Unix(f.Now, 0)
	p := parser(now)
	for _, v := range f.Vectors {
		t.Run("rip/"+v.Name, func(t *testing.T) {
			key := mustHex(t, v.KeyHex)
			tok, err := p.Parse(v.Token, func(*jwt.Token) (any, error) { return key, nil })
			if err != nil || !tok.Valid {
				t.Fatalf("golang-jwt refuses rip's token %q: %v", v.Token, err)
			}
			if want := map[string]any{"alg": "HS256", "typ": "JWT"}; !maps.Equal(tok.Header, want) {
				t.Errorf("header %v, want %v", tok.Header, want)
			}
			if got, want := canon(t, tok.Claims.(jwt.MapClaims)), canon(t, v.Claims); got != want {
				t.Errorf("claims differ:\n golang-jwt %s\n rip        %s", got, want)
			}
			// The oracle must be able to fail: a changed signature is refused.
			bad := []byte(v.Token)
			bad[len(bad)-2] ^= 'A' ^ 'B'
			if _, err := p.Parse(string(bad), func(*jwt.Token) (any, error) { return key, nil }); err == nil {
				t.Errorf("golang-jwt accepts a tampered token %q", bad)
			}
		})
	}
	return now
}

// foreignCase is one token golang-jwt signs for rip to verify.
type foreignCase struct {
	name    string
	purpose string
	method  jwt.SigningMethod
	header  map[string]any // extra header fields; nil values delete
	claims  jwt.MapClaims
	key     []byte // signing key; verifyKey is used when nil
	valid   bool   // meant to satisfy rip's rules
}

// writeForeign signs valid tokens of every purpose and tokens that break
// one rip rule each, records golang-jwt's own verdict, and writes them.
func writeForeign(t *testing.T, path string, now time.Time) {
	n := now.Unix()
	uidMAC := hex.EncodeToString(hmacSum([]byte("oracle-uid-secret"), "uid:u_9"))
	cv := sha256.Sum256([]byte("oracle-code-verifier-0123456789012345678901"))
	base := map[string]jwt.MapClaims{
		"session":            {"type": "session", "user_id": "u_9", "uid_mac": uidMAC, "auth_time": n - 100, "iat": n, "exp": n + 600},
		"email_verification": {"type": "email_verification", "otp_id": "otp_9", "email": "c@example.com", "iat": n, "exp": n + 600},
		"password_reset_otp": {"type": "password_reset_otp", "otp_id": "otp_8", "email": "c@example.com", "iat": n, "exp": n + 600},
		"password_reset":     {"type": "password_reset", "user_id": "u_9", "uid_mac": uidMAC, "email": "c@example.com", "iat": n, "exp": n + 600},
		"email_change":       {"type": "email_change", "otp_id": "otp_7", "user_id": "u_9", "email": "c@example.com", "new_email": "d@example.org", "iat": n, "exp": n + 600},
		"oauth2_state":       {"type": "oauth2_state", "provider": "google", "cv_hash": hex.EncodeToString(cv[:]), "nonce": "n-9", "iat": n, "exp": n + 600},
	}
	with := func(purpose string, edit func(jwt.MapClaims)) jwt.MapClaims {
		c := maps.Clone(base[purpose])
		edit(c)
		return c
	}
	hs := jwt.SigningMethodHS256
	var cases []foreignCase
	for _, purpose := range slices.Sorted(maps.Keys(base)) {
		cases = append(cases,
			foreignCase{name: purpose + "/plain", purpose: purpose, method: hs, claims: base[purpose], valid: true},
			// json.Marshal escapes <, >, & and U+2028 as \uXXXX, which
			// rip must decode.
			foreignCase{name: purpose + "/html-escapes", purpose: purpose, method: hs, valid: true, claims: with(purpose, func(c jwt.MapClaims) {
				for k, v := range c {
					if s, ok := v.(string); ok && k != "type" {
						c[k] = s + "<a&b>\u2028\"\\é😀"
					}
				}
			})},
		)
	}
	s := "session"
	cases = append(cases,
		foreignCase{name: "exp 30 s ago (inside leeway)", purpose: s, method: hs, valid: true, claims: with(s, func(c jwt.MapClaims) { c["auth_time"], c["iat"], c["exp"] = n-900, n-600, n-30 })},
		foreignCase{name: "alg HS384", purpose: s, method: jwt.SigningMethodHS384, claims: base[s]},
		foreignCase{name: "alg HS512", purpose: s, method: jwt.SigningMethodHS512, claims: base[s]},
		foreignCase{name: "alg none", purpose: s, method: jwt.SigningMethodNone, claims: base[s]},
		foreignCase{name: "header kid", purpose: s, method: hs, header: map[string]any{"kid": "../../dev/null"}, claims: base[s]},
		foreignCase{name: "header without typ", purpose: s, method: hs, header: map[string]any{"typ": nil}, claims: base[s]},
		foreignCase{name: "extra claim nbf", purpose: s, method: hs, claims: with(s, func(c jwt.MapClaims) { c["nbf"] = n })},
		foreignCase{name: "extra claim aud", purpose: s, method: hs, claims: with(s, func(c jwt.MapClaims) { c["aud"] = []string{"x"} })},
		foreignCase{name: "float exp", purpose: s, method: hs, claims: with(s, func(c jwt.MapClaims) { c["exp"] = float64(n) + 600.5 })},
		foreignCase{name: "exp as string", purpose: s, method: hs, claims: with(s, func(c jwt.MapClaims) { c["exp"] = "9999999999" })},
		foreignCase{name: "exp 2^53", purpose: s, method: hs, claims: with(s, func(c jwt.MapClaims) { c["exp"] = int64(1) << 53 })},
		foreignCase{name: "missing exp", purpose: s, method: hs, claims: with(s, func(c jwt.MapClaims) { delete(c, "exp") })},
		foreignCase{name: "missing iat", purpose: s, method: hs, claims: with(s, func(c jwt.MapClaims) { delete(c, "iat") })},
		foreignCase{name: "missing auth_time", purpose: s, method: hs, claims: with(s, func(c jwt.MapClaims) { delete(c, "auth_time") })},
		foreignCase{name: "negative auth_time", purpose: s, method: hs, claims: with(s, func(c jwt.MapClaims) { c["auth_time"] = -1 })},
		foreignCase{name: "user_id as number", purpose: s, method: hs, claims: with(s, func(c jwt.MapClaims) { c["user_id"] = 9 })},
		foreignCase{name: "empty user_id", purpose: s, method: hs, claims: with(s, func(c jwt.MapClaims) { c["user_id"] = "" })},
		foreignCase{name: "expired", purpose: s, method: hs, claims: with(s, func(c jwt.MapClaims) { c["iat"], c["exp"] = n-7200, n-3600 })},
		foreignCase{name: "iat an hour ahead", purpose: s, method: hs, claims: with(s, func(c jwt.MapClaims) { c["iat"], c["exp"] = n+3600, n+7200 })},
		foreignCase{name: "wrong key", purpose: s, method: hs, claims: base[s], key: []byte("another-key-another-key-another-k")},
		foreignCase{name: "type of another purpose", purpose: s, method: hs, claims: with(s, func(c jwt.MapClaims) { c["type"] = "password_reset" })},
		foreignCase{name: "email_verification as password_reset_otp", purpose: "password_reset_otp", method: hs, claims: base["email_verification"]},
		foreignCase{name: "reset grant as session", purpose: s, method: hs, claims: base["password_reset"]},
		foreignCase{name: "oauth2 state without nonce", purpose: "oauth2_state", method: hs, claims: with("oauth2_state", func(c jwt.MapClaims) { delete(c, "nonce") })},
	)

	verifyKey := []byte("oracle-verify-key-0123456789abcdef!")
	f := vectorFile{Issuer: "golang-jwt", Now: n}
	p := parser(now)
	for _, fc := range cases {
		tok := jwt.NewWithClaims(fc.method, fc.claims)
		for k, v := range fc.header {
			if v == nil {
				delete(tok.Header, k)
			} else {
				tok.Header[k] = v
			}
		}
		var signKey any = verifyKey
		if fc.key != nil {
			signKey = fc.key
		}
		if fc.method == jwt.SigningMethodNone {
			signKey = jwt.UnsafeAllowNoneSignatureType
		}
		str, err := tok.SignedString(signKey)
		if err != nil {
			t.Fatalf("%s: sign: %v", fc.name, err)
		}
		_, perr := p.Parse(str, func(*jwt.Token) (any, error) { return verifyKey, nil })
		if fc.valid && perr != nil {
			t.Fatalf("%s: golang-jwt refuses its own valid token: %v", fc.name, perr)
		}
		f.Vectors = append(f.Vectors, vector{
			Name: fc.name, Purpose: fc.purpose, KeyHex: hex.EncodeToString(verifyKey), Token: str,
			Claims: fc.claims, Valid: fc.valid, OracleAccepts: perr == nil,
		})
		t.Logf("%-45s golang-jwt accepts: %v", fc.name, perr == nil)
	}
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %d golang-jwt tokens to %s", len(f.Vectors), path)
}

func hmacSum(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

func readJSON(t *testing.T, path string, v any) {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func mustHex(t *testing.T, s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// canon renders claims with sorted keys and numbers as JSON writes them,
// so json.Number, float64 and int64 forms of one integer compare equal.
func canon(t *testing.T, m map[string]any) string {
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var norm map[string]any
	if err := json.Unmarshal(b, &norm); err != nil {
		t.Fatal(err)
	}
	b, err = json.Marshal(norm)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
