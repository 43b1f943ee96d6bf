package rip

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/bits"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Test secrets. Each purpose gets its own, as New requires; jwtTestSameSecret
// is what a careless operator would configure for all of them.
var (
	jwtTestNow        = time.Unix(1_700_000_000, 0)
	jwtTestSameSecret = []byte("the-same-secret-for-every-purpose!!")
	jwtTestUIDSecret  = []byte("uid-mac-secret-0123456789abcdef0123")
)

// jwtTestSecrets holds one 40-byte secret per purpose, computed once so that
// allocation tests do not count it.
var jwtTestSecrets = func() map[jwtPurpose][]byte {
	m := make(map[jwtPurpose][]byte)
	for p := jwtSession; p.valid(); p++ {
		m[p] = []byte(fmt.Sprintf("%-40s", "secret-for-"+p.String()))
	}
	return m
}()

func jwtTestSecret(p jwtPurpose) []byte { return jwtTestSecrets[p] }

// jwtTestUser is the account the session tests authenticate against.
var jwtTestUser = struct {
	id, email, hash string
	tokenKey        []byte
}{"u_123", "alice@example.com", "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo", []byte("0123456789abcdef")}

func jwtTestSessionKey() []byte {
	k := jwtUserKey(jwtTestSecret(jwtSession), jwtTestUser.email, jwtTestUser.hash, jwtTestUser.tokenKey)
	return k[:]
}

// jwtTestClaims returns valid claims of purpose p issued at jwtTestNow.
func jwtTestClaims(p jwtPurpose) jwtClaims {
	now := jwtTestNow.Unix()
	c := jwtClaims{IssuedAt: now, Expires: now + 900}
	switch p {
	case jwtSession:
		c.UserID, c.UIDMAC, c.AuthTime = jwtTestUser.id, jwtUIDMAC(jwtTestUIDSecret, jwtTestUser.id), now-3600
	case jwtEmailVerify, jwtResetOTP:
		c.OTPID, c.Email = "otp_1", jwtTestUser.email
	case jwtResetGrant:
		c.UserID, c.UIDMAC, c.Email = jwtTestUser.id, jwtUIDMAC(jwtTestUIDSecret, jwtTestUser.id), jwtTestUser.email
	case jwtEmailChange:
		c.OTPID, c.UserID, c.Email, c.NewEmail = "otp_2", jwtTestUser.id, jwtTestUser.email, "bob@example.org"
	case jwtOAuth2State:
		cv := sha256.Sum256([]byte("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"))
		c.Provider, c.CVHash, c.Nonce = "github", hex.EncodeToString(cv[:]), "n0nce-42"
	}
	return c
}

var jwtTestPurposes = []jwtPurpose{jwtSession, jwtEmailVerify, jwtResetOTP, jwtResetGrant, jwtEmailChange, jwtOAuth2State}

// jwtTestForge builds a token from raw header and payload JSON, MACed with
// crypto/hmac (not jwtHMAC), as an attacker holding the key could.
func jwtTestForge(header, payload string, key []byte) string {
	enc := base64.RawURLEncoding
	in := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(payload))
	m := hmac.New(sha256.New, key)
	m.Write([]byte(in))
	return in + "." + enc.EncodeToString(m.Sum(nil))
}

var errJWTTestUIDMAC = fmt.Errorf("%w: uid_mac does not match user_id", errJWTSignature)

// jwtTestAuthenticate is what the Bearer middleware does with a session
// token; lookups counts the user reads it makes, so tests can assert that a
// rejected token caused none.
func jwtTestAuthenticate(token string, now time.Time, lookups *int) (jwtClaims, error) {
	var c jwtClaims
	if err := jwtParse(jwtSession, token, &c); err != nil {
		return c, err
	}
	if !jwtUIDMACValid(jwtTestUIDSecret, c.UserID, c.UIDMAC) {
		return c, errJWTTestUIDMAC
	}
	*lookups++
	key := jwtUserKey(jwtTestSecret(jwtSession), jwtTestUser.email, jwtTestUser.hash, jwtTestUser.tokenKey)
	return c, jwtVerify(token, key[:], &c, now)
}

func TestJWTHeaderSegment(t *testing.T) {
	if got := base64.RawURLEncoding.EncodeToString([]byte(jwtHeaderJSON)); got != jwtHeaderSegment {
		t.Fatalf("jwtHeaderSegment = %q, want %q", jwtHeaderSegment, got)
	}
}

func TestJWTHMACRFC4231(t *testing.T) {
	tests := []struct {
		name      string
		key, data []byte
		want      string
	}{
		{"TC1", bytes.Repeat([]byte{0x0b}, 20), []byte("Hi There"),
			"b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
		{"TC2", []byte("Jefe"), []byte("what do ya want for nothing?"),
			"5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
		{"TC6 key longer than a block", bytes.Repeat([]byte{0xaa}, 131),
			[]byte("Test Using Larger Than Block-Size Key - Hash Key First"),
			"60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := jwtHMAC(tt.key, tt.data)
			if hex.EncodeToString(got[:]) != tt.want {
				t.Errorf("[]byte message: got %x, want %s", got, tt.want)
			}
			got = jwtHMAC(tt.key, string(tt.data))
			if hex.EncodeToString(got[:]) != tt.want {
				t.Errorf("string message: got %x, want %s", got, tt.want)
			}
		})
	}
}

// TestJWTHMACMatchesStdlib compares jwtHMAC with crypto/hmac around every
// boundary: key lengths around the block size, messages around a block and
// around the stack buffer (where jwtHMAC switches to crypto/hmac).
func TestJWTHMACMatchesStdlib(t *testing.T) {
	keyLens := []int{0, 1, 31, 32, 63, 64, 65, 128}
	msgLens := []int{0, 1, 55, 56, 63, 64, 65, 119, 120, 1000, jwtMaxTokenBytes - 1, jwtMaxTokenBytes, jwtMaxTokenBytes + 1, 3 * jwtMaxTokenBytes}
	for _, kl := range keyLens {
		for _, ml := range msgLens {
			key := bytes.Repeat([]byte{byte(kl + 1)}, kl)
			msg := bytes.Repeat([]byte{byte(ml + 7)}, ml)
			m := hmac.New(sha256.New, key)
			m.Write(msg)
			want := m.Sum(nil)
			if got := jwtHMAC(key, msg); !bytes.Equal(got[:], want) {
				t.Errorf("key %d, msg %d bytes: got %x, want %x", kl, ml, got, want)
			}
		}
	}
}

// The RFC 7515 Appendix A.1 token, whose header and payload contain CR LF and
// spaces, so it verifies only over the received bytes.
const (
	jwtTestA1Key   = "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"
	jwtTestA1Input = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9" + "." +
		"eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
	jwtTestA1Sig = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
)

func TestJWTRFC7515A1(t *testing.T) {
	key, err := base64.RawURLEncoding.DecodeString(jwtTestA1Key)
	if err != nil {
		t.Fatal(err)
	}
	token := jwtTestA1Input + "." + jwtTestA1Sig
	if sum := jwtHMAC(key, jwtTestA1Input); base64.RawURLEncoding.EncodeToString(sum[:]) != jwtTestA1Sig {
		t.Fatalf("HMAC over the A.1 signing input = %x", sum)
	}
	if err := jwtCheckMAC(token, key); err != nil {
		t.Fatalf("jwtCheckMAC(A.1) = %v, want nil", err)
	}
	// The lenient decoder maps the k→l variant to the same bytes; the
	// negative below is only meaningful if that is so.
	lenient, _ := base64.RawURLEncoding.DecodeString(jwtTestA1Sig[:42] + "l")
	exact, _ := base64.RawURLEncoding.DecodeString(jwtTestA1Sig)
	if !bytes.Equal(lenient, exact) {
		t.Fatal("k→l no longer decodes to the same bytes leniently; pick another variant")
	}
	flipped := []byte(token)
	flipped[60] = map[bool]byte{true: 'B', false: 'A'}[flipped[60] == 'A'] // a byte inside the payload segment
	tests := []struct {
		name  string
		token string
		key   []byte
		want  error
	}{
		{"last char k→l (non-zero trailing bits)", jwtTestA1Input + "." + jwtTestA1Sig[:42] + "l", key, jwtErrBase64},
		{"payload byte flipped", string(flipped), key, errJWTSignature},
		{"padding appended", token + "=", key, jwtErrAlphabet},
		{"LF inside signature", jwtTestA1Input + "." + jwtTestA1Sig[:20] + "\n" + jwtTestA1Sig[20:], key, jwtErrAlphabet},
		{"other key", token, append(bytes.Clone(key[:63]), key[63]^1), errJWTSignature},
		{"truncated signature", token[:len(token)-1], key, jwtErrSigLength},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := jwtCheckMAC(tt.token, tt.key); !errors.Is(err, tt.want) {
				t.Errorf("jwtCheckMAC = %v, want %v", err, tt.want)
			}
		})
	}
	// rip's own parser refuses A.1: its header is not rip's.
	var c jwtClaims
	if err := jwtParse(jwtSession, token, &c); !errors.Is(err, jwtErrHeader) {
		t.Errorf("jwtParse(A.1) = %v, want %v", err, jwtErrHeader)
	}
}

// jwtTestSession fills the session payload template: $MAC, $AT, $IAT and
// $EXP stand for a valid uid_mac, auth_time, iat and exp.
func jwtTestSession(tmpl string) string {
	now := jwtTestNow.Unix()
	return strings.NewReplacer(
		"$MAC", jwtUIDMAC(jwtTestUIDSecret, jwtTestUser.id),
		"$AT", strconv.FormatInt(now-3600, 10),
		"$IAT", strconv.FormatInt(now, 10),
		"$EXP", strconv.FormatInt(now+900, 10),
	).Replace(tmpl)
}

const jwtTestSessionTmpl = `{"type":"session","user_id":"u_123","uid_mac":"$MAC","auth_time":$AT,"iat":$IAT,"exp":$EXP}`

// TestJWTAttacks runs every attack of security-reliability.md §1.3 (and the
// parser rules of §1.1–1.2) against the session verifier. Tokens are MACed
// with the right key unless the row says otherwise, so each must fail for the
// reason named in want, never merely for a bad signature.
func TestJWTAttacks(t *testing.T) {
	key := jwtTestSessionKey()
	rip := func(payload string) string { return jwtTestForge(jwtHeaderJSON, jwtTestSession(payload), key) }
	hdr := func(header string) string { return jwtTestForge(header, jwtTestSession(jwtTestSessionTmpl), key) }
	valid := rip(jwtTestSessionTmpl)
	h, p, s := func() (string, string, string) { a := strings.Split(valid, "."); return a[0], a[1], a[2] }()
	at := func(payloadTmpl string, iat, exp int64) string {
		r := strings.NewReplacer("$IAT", strconv.FormatInt(iat, 10), "$EXP", strconv.FormatInt(exp, 10))
		return rip(r.Replace(payloadTmpl))
	}
	now := jwtTestNow.Unix()
	tmpl := jwtTestSessionTmpl

	tests := []struct {
		name    string
		token   string
		want    error // nil: accepted
		lookups int   // user reads the middleware may make
	}{
		{"valid", valid, nil, 1},

		// Algorithm and header attacks: refused by the header comparison.
		{"alg none, empty signature", base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + p + ".", jwtErrHeader, 0},
		{"alg None with rip's payload", base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"None","typ":"JWT"}`)) + "." + p + ".", jwtErrHeader, 0},
		{"alg HS384", hdr(`{"alg":"HS384","typ":"JWT"}`), jwtErrHeader, 0},
		{"alg HS512", hdr(`{"alg":"HS512","typ":"JWT"}`), jwtErrHeader, 0},
		{"alg RS256 (public key as HMAC key)", hdr(`{"alg":"RS256","typ":"JWT"}`), jwtErrHeader, 0},
		{"alg hs256 lower case", hdr(`{"alg":"hs256","typ":"JWT"}`), jwtErrHeader, 0},
		{"kid path traversal", hdr(`{"alg":"HS256","typ":"JWT","kid":"../../dev/null"}`), jwtErrHeader, 0},
		{"kid SQL injection", hdr(`{"alg":"HS256","typ":"JWT","kid":"' OR 1=1--"}`), jwtErrHeader, 0},
		{"jku URL", hdr(`{"alg":"HS256","typ":"JWT","jku":"https://evil.example/jwks"}`), jwtErrHeader, 0},
		{"x5u URL", hdr(`{"alg":"HS256","typ":"JWT","x5u":"https://evil.example/cert"}`), jwtErrHeader, 0},
		{"crit", hdr(`{"alg":"HS256","typ":"JWT","crit":["exp"]}`), jwtErrHeader, 0},
		{"header whitespace", hdr(`{"alg":"HS256", "typ":"JWT"}`), jwtErrHeader, 0},
		{"header reordered", hdr(`{"typ":"JWT","alg":"HS256"}`), jwtErrHeader, 0},
		{"header duplicate alg", hdr(`{"alg":"none","alg":"HS256","typ":"JWT"}`), jwtErrHeader, 0},
		{"header without typ", hdr(`{"alg":"HS256"}`), jwtErrHeader, 0},

		// Time claims: type and range.
		{"missing exp", rip(`{"type":"session","user_id":"u_123","uid_mac":"$MAC","auth_time":$AT,"iat":$IAT}`), jwtErrMissing, 0},
		{"missing iat", rip(`{"type":"session","user_id":"u_123","uid_mac":"$MAC","auth_time":$AT,"exp":$EXP}`), jwtErrMissing, 0},
		{"missing auth_time", rip(`{"type":"session","user_id":"u_123","uid_mac":"$MAC","iat":$IAT,"exp":$EXP}`), jwtErrMissing, 0},
		{"exp as string", rip(strings.Replace(tmpl, `"exp":$EXP`, `"exp":"$EXP"`, 1)), jwtErrInteger, 0},
		{"exp 1e300", rip(strings.Replace(tmpl, `"exp":$EXP`, `"exp":1e300`, 1)), jwtErrSyntax, 0},
		{"iat 1e300", rip(strings.Replace(tmpl, `"iat":$IAT`, `"iat":1e300`, 1)), jwtErrSyntax, 0},
		{"exp with exponent", rip(strings.Replace(tmpl, `"exp":$EXP`, `"exp":17E8`, 1)), jwtErrSyntax, 0},
		{"negative iat", rip(strings.Replace(tmpl, `"iat":$IAT`, `"iat":-1`, 1)), jwtErrInteger, 0},
		{"fractional exp", rip(strings.Replace(tmpl, `"exp":$EXP`, `"exp":$EXP.5`, 1)), jwtErrSyntax, 0},
		{"exp with plus sign", rip(strings.Replace(tmpl, `"exp":$EXP`, `"exp":+$EXP`, 1)), jwtErrInteger, 0},
		{"exp with leading zero", rip(strings.Replace(tmpl, `"exp":$EXP`, `"exp":0$EXP`, 1)), jwtErrInteger, 0},
		{"exp 2^53", rip(strings.Replace(tmpl, `"exp":$EXP`, `"exp":9007199254740992`, 1)), jwtErrInteger, 0},
		{"exp 20 digits", rip(strings.Replace(tmpl, `"exp":$EXP`, `"exp":10000000000000000000`, 1)), jwtErrInteger, 0},
		{"exp null", rip(strings.Replace(tmpl, `"exp":$EXP`, `"exp":null`, 1)), jwtErrInteger, 0},
		{"exp not after iat", at(tmpl, now, now), jwtErrLifetime, 0},
		{"auth_time after iat", rip(strings.Replace(tmpl, `"auth_time":$AT`, `"auth_time":$IAT1`, 1)), jwtErrAuthTime, 0},
		{"nbf claim (not rip's)", rip(strings.Replace(tmpl, `}`, `,"nbf":$EXP}`, 1)), jwtErrUnknownClaim, 0},

		// Time rules around the 60 s leeway.
		{"iat 60 s in the future", at(tmpl, now+60, now+900), nil, 1},
		{"iat 61 s in the future", at(tmpl, now+61, now+900), jwtErrFuture, 1},
		{"exp 30 s ago", at(`{"type":"session","user_id":"u_123","uid_mac":"$MAC","auth_time":0,"iat":$IAT,"exp":$EXP}`, now-900, now-30), nil, 1},
		{"exp 59 s ago", at(`{"type":"session","user_id":"u_123","uid_mac":"$MAC","auth_time":0,"iat":$IAT,"exp":$EXP}`, now-900, now-59), nil, 1},
		{"exp 60 s ago", at(`{"type":"session","user_id":"u_123","uid_mac":"$MAC","auth_time":0,"iat":$IAT,"exp":$EXP}`, now-900, now-60), errJWTExpired, 1},
		{"exp 61 s ago", at(`{"type":"session","user_id":"u_123","uid_mac":"$MAC","auth_time":0,"iat":$IAT,"exp":$EXP}`, now-900, now-61), errJWTExpired, 1},
		{"expired and forged: signature wins (CVE-2024-51744)",
			jwtTestForge(jwtHeaderJSON, jwtTestSession(`{"type":"session","user_id":"u_123","uid_mac":"$MAC","auth_time":0,"iat":0,"exp":1}`), []byte("not-the-key-not-the-key-not-the-key")),
			errJWTSignature, 1},

		// Duplicate and case-variant claims, even with a valid MAC.
		{"duplicate user_id", rip(strings.Replace(tmpl, `}`, `,"user_id":"admin"}`, 1)), jwtErrDuplicate, 0},
		{"duplicate exp", rip(strings.Replace(tmpl, `}`, `,"exp":9999999999}`, 1)), jwtErrDuplicate, 0},
		{"duplicate via escape", rip(strings.Replace(tmpl, `}`, `,"\u0065xp":9999999999}`, 1)), jwtErrDuplicate, 0},
		{"case variant EXP", rip(strings.Replace(tmpl, `}`, `,"EXP":9999999999}`, 1)), jwtErrUnknownClaim, 0},
		{"case variant User_ID", rip(strings.Replace(tmpl, `}`, `,"User_ID":"admin"}`, 1)), jwtErrUnknownClaim, 0},
		{"type of another purpose", rip(strings.Replace(tmpl, `"session"`, `"password_reset"`, 1)), jwtErrType, 0},
		{"type in upper case", rip(strings.Replace(tmpl, `"session"`, `"SESSION"`, 1)), jwtErrType, 0},
		{"empty user_id", rip(strings.Replace(tmpl, `"u_123"`, `""`, 1)), jwtErrEmptyClaim, 0},
		{"user_id as number", rip(strings.Replace(tmpl, `"u_123"`, `123`, 1)), jwtErrString, 0},
		{"user_id as array (CVE-2020-26160)", rip(strings.Replace(tmpl, `"u_123"`, `["u_123"]`, 1)), jwtErrString, 0},
		{"user_id as object", rip(strings.Replace(tmpl, `"u_123"`, `{"id":"u_123"}`, 1)), jwtErrString, 0},
		{"user_id true", rip(strings.Replace(tmpl, `"u_123"`, `true`, 1)), jwtErrString, 0},
		{"invalid UTF-8", rip(strings.Replace(tmpl, `"u_123"`, "\"u_\xff\"", 1)), jwtErrUTF8, 0},
		{"lone surrogate", rip(strings.Replace(tmpl, `"u_123"`, `"u_\ud800"`, 1)), jwtErrString, 0},
		{"reversed surrogates", rip(strings.Replace(tmpl, `"u_123"`, `"\udc00\ud800"`, 1)), jwtErrString, 0},
		{"raw control character", rip(strings.Replace(tmpl, `"u_123"`, "\"u_\x01\"", 1)), jwtErrString, 0},
		{"bad escape", rip(strings.Replace(tmpl, `"u_123"`, `"u_\x41"`, 1)), jwtErrString, 0},
		{"escaped user_id of another user (uid_mac catches it)", rip(strings.Replace(tmpl, `"u_123"`, `"u_12\u0034"`, 1)), errJWTTestUIDMAC, 0},

		// Oversized tokens.
		{"100 KB token", strings.Repeat("a", 100_000) + "." + p + "." + s, jwtErrTooLong, 0},
		{"1 MiB of dots", strings.Repeat(".", 1<<20), jwtErrTooLong, 0},
		{"4 KiB + 1", h + "." + p + strings.Repeat("A", jwtMaxTokenBytes+1-len(h)-len(p)-len(s)-2) + "." + s, jwtErrTooLong, 0},

		// Non-canonical base64url and stray bytes.
		{"signature with non-zero trailing bits", h + "." + p + "." + jwtTestFlipTrailingBit(s), jwtErrBase64, 1},
		{"payload with non-zero trailing bits", jwtTestTrailingBitsPayload(key), jwtErrBase64, 0},
		{"padding on payload", h + "." + p + "==." + s, jwtErrAlphabet, 0},
		{"padding on signature", h + "." + p + "." + s + "=", jwtErrSigLength, 0},
		{"std alphabet + in signature", h + "." + p + "." + strings.NewReplacer("-", "+", "_", "/").Replace(s[:42]) + "+", jwtErrAlphabet, 0},
		{"slash in payload", h + "." + p[:10] + "/" + p[11:] + "." + s, jwtErrAlphabet, 0},
		{"LF in payload", h + "." + p[:10] + "\n" + p[10:] + "." + s, jwtErrAlphabet, 0},
		{"CR LF in signature", h + "." + p + "." + s[:10] + "\r\n" + s[10:41], jwtErrAlphabet, 0},
		{"leading space", " " + valid, jwtErrHeader, 0},
		{"trailing space", valid + " ", jwtErrSigLength, 0},
		{"payload length 4n+1", h + "." + jwtTestPadTo4n1(p) + "." + s, jwtErrBase64, 0},

		// Trailing data.
		{"fourth segment", valid + ".AAAA", jwtErrSegments, 0},
		{"trailing dot", valid + ".", jwtErrSegments, 0},
		{"only two segments", h + "." + p, jwtErrSegments, 0},
		{"empty payload", h + ".." + s, jwtErrNotObject, 0},
		{"JSON then garbage", rip(tmpl + "garbage"), jwtErrTrailing, 0},
		{"two objects", rip(tmpl + tmpl), jwtErrTrailing, 0},
		{"array payload", rip("[" + tmpl + "]"), jwtErrNotObject, 0},
		{"trailing comma", rip(strings.Replace(tmpl, `}`, `,}`, 1)), jwtErrString, 0},
		{"JSON whitespace is fine", rip(strings.ReplaceAll(strings.ReplaceAll(" "+tmpl+"\n", ":", " :\t"), ",", "\r\n, ")), nil, 1},
		{"unterminated string", rip(`{"type":"session`), jwtErrString, 0},
		{"unterminated object", rip(strings.TrimSuffix(tmpl, "}")), jwtErrSyntax, 0},

		// Forged identity and key substitution.
		{"forged user_id with own uid_mac", rip(strings.Replace(tmpl, `"u_123"`, `"u_999"`, 1)), errJWTTestUIDMAC, 0},
		{"uid_mac truncated to 16 hex", rip(strings.Replace(tmpl, `"$MAC"`, `"`+jwtUIDMAC(jwtTestUIDSecret, jwtTestUser.id)[:16]+`"`, 1)), errJWTTestUIDMAC, 0},
		{"signed with the session secret itself", jwtTestForge(jwtHeaderJSON, jwtTestSession(tmpl), jwtTestSecret(jwtSession)), errJWTSignature, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lookups := 0
			c, err := jwtTestAuthenticate(tt.token, jwtTestNow, &lookups)
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if lookups > tt.lookups {
				t.Errorf("%d user lookups, want at most %d", lookups, tt.lookups)
			}
			kinds := 0
			for _, k := range []error{errJWTMalformed, errJWTSignature, errJWTExpired} {
				if errors.Is(err, k) {
					kinds++
				}
			}
			if err != nil && kinds != 1 {
				t.Errorf("error %v wraps %d failure kinds, want exactly 1", err, kinds)
			}
			if err == nil && (c.UserID != jwtTestUser.id || c.Type != jwtSession) {
				t.Errorf("accepted claims %+v", c)
			}
		})
	}
}

// jwtTestPadTo4n1 appends 'A's until len(seg) mod 4 is 1, a length no
// base64 encoding has.
func jwtTestPadTo4n1(seg string) string {
	for len(seg)%4 != 1 {
		seg += "A"
	}
	return seg
}

// jwtTestFlipTrailingBit sets the lowest (unused) bit of the last character
// of an unpadded 43-character segment, which lenient decoders ignore.
func jwtTestFlipTrailingBit(seg string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	i := strings.IndexByte(alphabet, seg[len(seg)-1])
	return seg[:len(seg)-1] + string(alphabet[i|1])
}

// jwtTestTrailingBitsPayload returns a token whose payload segment has a
// non-canonical last character but is MACed as received, so only the strict
// decoder can reject it.
func jwtTestTrailingBitsPayload(key []byte) string {
	payload := jwtTestSession(jwtTestSessionTmpl)
	for len(payload)%3 == 0 { // need a partial final quantum
		payload = strings.Replace(payload, `"u_123"`, `"u_123" `, 1)
	}
	seg := base64.RawURLEncoding.EncodeToString([]byte(payload))
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	i := strings.IndexByte(alphabet, seg[len(seg)-1])
	seg = seg[:len(seg)-1] + string(alphabet[i|1])
	in := jwtHeaderSegment + "." + seg
	m := hmac.New(sha256.New, key)
	m.Write([]byte(in))
	return in + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// TestJWTPurposeConfusion checks every purpose against every other, with
// separate secrets and with one secret shared by all purposes.
func TestJWTPurposeConfusion(t *testing.T) {
	for _, shared := range []bool{false, true} {
		for _, from := range jwtTestPurposes {
			for _, as := range jwtTestPurposes {
				name := fmt.Sprintf("shared=%v/%s as %s", shared, from, as)
				t.Run(name, func(t *testing.T) {
					signKey, verifyKey := jwtTestSecret(from), jwtTestSecret(as)
					if shared {
						signKey, verifyKey = jwtTestSameSecret, jwtTestSameSecret
					}
					c := jwtTestClaims(from)
					token, err := jwtSign(from, signKey, &c)
					if err != nil {
						t.Fatal(err)
					}
					var got jwtClaims
					err = jwtParse(as, token, &got)
					if err == nil {
						err = jwtVerify(token, verifyKey, &got, jwtTestNow)
					}
					switch {
					case from == as && err != nil:
						t.Fatalf("own purpose rejected: %v", err)
					case from != as && err == nil:
						t.Fatalf("%s token accepted as %s", from, as)
					case from != as && !errors.Is(err, errJWTMalformed):
						t.Fatalf("%s token as %s: %v, want the parser to refuse it", from, as, err)
					}
				})
			}
		}
	}
	// Two purposes share a claim shape; only the type claim tells them apart.
	c := jwtTestClaims(jwtEmailVerify)
	token, err := jwtSign(jwtEmailVerify, jwtTestSameSecret, &c)
	if err != nil {
		t.Fatal(err)
	}
	if err := jwtParse(jwtResetOTP, token, &c); !errors.Is(err, jwtErrType) {
		t.Errorf("email_verification token parsed as password_reset_otp: %v, want %v", err, jwtErrType)
	}
}

func TestJWTUIDMAC(t *testing.T) {
	mac := jwtUIDMAC(jwtTestUIDSecret, "u_123")
	if len(mac) != 64 || strings.ToLower(mac) != mac {
		t.Fatalf("jwtUIDMAC = %q, want 64 lowercase hex characters", mac)
	}
	m := hmac.New(sha256.New, jwtTestUIDSecret)
	m.Write([]byte("uid:u_123"))
	if want := hex.EncodeToString(m.Sum(nil)); mac != want {
		t.Fatalf("jwtUIDMAC = %s, want %s", mac, want)
	}
	long := strings.Repeat("x", 2*jwtStackMessageBytes)
	tests := []struct {
		name   string
		secret []byte
		id     string
		mac    string
		want   bool
	}{
		{"valid", jwtTestUIDSecret, "u_123", mac, true},
		{"forged id, victim's mac", jwtTestUIDSecret, "u_124", mac, false},
		{"id with prefix moved", jwtTestUIDSecret, "uid:u_123", mac, false},
		{"other secret", jwtTestSameSecret, "u_123", mac, false},
		{"upper case hex", jwtTestUIDSecret, "u_123", strings.ToUpper(mac), false},
		{"truncated to 64 bits", jwtTestUIDSecret, "u_123", mac[:16], false},
		{"one bit off", jwtTestUIDSecret, "u_123", mac[:63] + string(mac[63]^1), false},
		{"non-hex", jwtTestUIDSecret, "u_123", mac[:62] + "zz", false},
		{"empty", jwtTestUIDSecret, "u_123", "", false},
		{"long id (heap path)", jwtTestUIDSecret, long, jwtUIDMAC(jwtTestUIDSecret, long), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := jwtUIDMACValid(tt.secret, tt.id, tt.mac); got != tt.want {
				t.Errorf("jwtUIDMACValid = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestJWTUserKey(t *testing.T) {
	u := jwtTestUser
	secret := jwtTestSecret(jwtSession)
	// The derivation is HMAC over length-prefixed fields, recomputed here
	// with crypto/hmac.
	ref := func(email, hash string, tk []byte) []byte {
		m := hmac.New(sha256.New, secret)
		for _, f := range [][]byte{[]byte(email), []byte(hash), tk} {
			var n [8]byte
			for i := range 8 {
				n[i] = byte(uint64(len(f)) >> (56 - 8*i))
			}
			m.Write(n[:])
			m.Write(f)
		}
		return m.Sum(nil)
	}
	long := strings.Repeat("h", 3*jwtStackMessageBytes)
	for _, in := range []struct{ email, hash string }{{u.email, u.hash}, {u.email, ""}, {u.email, long}} {
		if got := jwtUserKey(secret, in.email, in.hash, u.tokenKey); !bytes.Equal(got[:], ref(in.email, in.hash, u.tokenKey)) {
			t.Errorf("jwtUserKey(%q, %d-byte hash) differs from the reference", in.email, len(in.hash))
		}
	}
	if a, b := jwtUserKey(secret, "a", "bc", nil), jwtUserKey(secret, "ab", "c", nil); a == b {
		t.Error(`("a","bc") and ("ab","c") derive the same key`)
	}

	// A session issued under the current key dies when any input changes.
	c := jwtTestClaims(jwtSession)
	key := jwtTestSessionKey()
	token, err := jwtSign(jwtSession, key, &c)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		email    string
		hash     string
		tokenKey []byte
		want     error
	}{
		{"unchanged", u.email, u.hash, u.tokenKey, nil},
		{"email changed", "alice@example.net", u.hash, u.tokenKey, errJWTSignature},
		{"password changed", u.email, u.hash + "x", u.tokenKey, errJWTSignature},
		{"password removed", u.email, "", u.tokenKey, errJWTSignature},
		{"token_key rotated (logout-all)", u.email, u.hash, []byte("fedcba9876543210"), errJWTSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got jwtClaims
			if err := jwtParse(jwtSession, token, &got); err != nil {
				t.Fatal(err)
			}
			k := jwtUserKey(secret, tt.email, tt.hash, tt.tokenKey)
			if err := jwtVerify(token, k[:], &got, jwtTestNow); !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Errorf("jwtVerify = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestJWTSignRejects(t *testing.T) {
	key := jwtTestSecret(jwtSession)
	tests := []struct {
		name  string
		p     jwtPurpose
		key   []byte
		edit  func(*jwtClaims)
		wants string
	}{
		{"zero purpose", 0, key, func(*jwtClaims) {}, "unknown token purpose"},
		{"purpose past the end", jwtOAuth2State + 1, key, func(*jwtClaims) {}, "unknown token purpose"},
		{"short key", jwtSession, key[:31], func(*jwtClaims) {}, "key shorter"},
		{"missing user_id", jwtSession, key, func(c *jwtClaims) { c.UserID = "" }, "user_id is empty"},
		{"claim of another purpose", jwtSession, key, func(c *jwtClaims) { c.Email = "a@b.c" }, "email is not used"},
		{"time of another purpose", jwtResetGrant, key, func(c *jwtClaims) { c.AuthTime = 1 }, "auth_time is not used"},
		{"invalid UTF-8", jwtSession, key, func(c *jwtClaims) { c.UserID = "\xff" }, "not valid UTF-8"},
		{"negative iat", jwtSession, key, func(c *jwtClaims) { c.IssuedAt = -1 }, "outside"},
		{"exp 2^53", jwtSession, key, func(c *jwtClaims) { c.Expires = 1 << 53 }, "outside"},
		{"exp before iat", jwtSession, key, func(c *jwtClaims) { c.Expires = c.IssuedAt - 1 }, "exp not after iat"},
		{"auth_time after iat", jwtSession, key, func(c *jwtClaims) { c.AuthTime = c.IssuedAt + 1 }, "auth_time after iat"},
		{"token over 4 KiB", jwtSession, key, func(c *jwtClaims) { c.UserID = strings.Repeat("u", 3000) }, "exceeds"},
		{"payload over 3 KiB", jwtSession, key, func(c *jwtClaims) { c.UserID = strings.Repeat("\x01", 3000) }, "exceeds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.p
			if !p.valid() {
				p = jwtSession
			}
			c := jwtTestClaims(p)
			tt.edit(&c)
			_, err := jwtSign(tt.p, tt.key, &c)
			if err == nil || !strings.Contains(err.Error(), tt.wants) {
				t.Errorf("jwtSign = %v, want an error containing %q", err, tt.wants)
			}
		})
	}
}

// TestJWTRoundTrip signs every purpose, including strings that need
// escaping, and parses and verifies the result back to identical claims.
func TestJWTRoundTrip(t *testing.T) {
	odd := "q\"b\\s/c\x00\x1f\u00e9\u2028\U0001F600<>&"
	for _, p := range jwtTestPurposes {
		for _, variant := range []string{"plain", "escapes"} {
			t.Run(p.String()+"/"+variant, func(t *testing.T) {
				c := jwtTestClaims(p)
				if variant == "escapes" {
					for i := range jwtClaimTable {
						if s, _ := c.field(i); s != nil && *s != "" {
							*s += odd
						}
					}
				}
				key := jwtTestSecret(p)
				token, err := jwtSign(p, key, &c)
				if err != nil {
					t.Fatal(err)
				}
				if !strings.HasPrefix(token, jwtHeaderSegment+".") {
					t.Errorf("token %q does not start with rip's header", token)
				}
				var got jwtClaims
				if err := jwtParse(p, token, &got); err != nil {
					t.Fatal(err)
				}
				if err := jwtVerify(token, key, &got, jwtTestNow); err != nil {
					t.Fatal(err)
				}
				got.token = ""
				if got != c {
					t.Errorf("round trip:\n got %+v\nwant %+v", got, c)
				}
			})
		}
	}
}

func TestJWTVerifyNeedsParsedClaims(t *testing.T) {
	key := jwtTestSessionKey()
	c1, c2 := jwtTestClaims(jwtSession), jwtTestClaims(jwtSession)
	c2.Expires++
	t1, err := jwtSign(jwtSession, key, &c1)
	if err != nil {
		t.Fatal(err)
	}
	t2, err := jwtSign(jwtSession, key, &c2)
	if err != nil {
		t.Fatal(err)
	}
	var p1 jwtClaims
	if err := jwtParse(jwtSession, t1, &p1); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		token string
		c     jwtClaims
		want  error
	}{
		{"parsed from this token", t1, p1, nil},
		{"zero claims", t1, jwtClaims{}, jwtErrNotParsed},
		{"claims from jwtSign", t1, c1, jwtErrNotParsed},
		{"claims of another token", t2, p1, jwtErrNotParsed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := jwtVerify(tt.token, key, &tt.c, jwtTestNow); !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Errorf("jwtVerify = %v, want %v", err, tt.want)
			}
		})
	}
	var bad jwtClaims
	bad.UserID = "left over"
	if err := jwtParse(jwtSession, "x.y.z", &bad); err == nil || bad != (jwtClaims{}) {
		t.Errorf("failed jwtParse left claims %+v (err %v)", bad, err)
	}
}

// TestJWTAllocs bounds the allocations of hostile and valid input. A
// rejected token allocates nothing; a valid session costs one allocation
// (the decoded payload the claim strings share).
func TestJWTAllocs(t *testing.T) {
	valid := jwtTestForge(jwtHeaderJSON, jwtTestSession(jwtTestSessionTmpl), jwtTestSessionKey())
	parts := strings.Split(valid, ".")
	tests := []struct {
		name  string
		token string
		max   float64
		ok    bool
	}{
		{"1 MiB of dots", strings.Repeat(".", 1<<20), 0, false},
		{"100 KB token", strings.Repeat("A", 100_000) + "." + parts[1] + "." + parts[2], 0, false},
		{"4 KiB of dots", strings.Repeat(".", jwtMaxTokenBytes), 0, false},
		{"4 KiB payload, bad base64", jwtHeaderSegment + "." + strings.Repeat("A", jwtMaxTokenBytes-len(jwtHeaderSegment)-46) + "=." + parts[2], 0, false},
		// Bounded: the decoded payload (≤ 3 KiB) is one string before it is
		// scanned.
		{"4 KiB payload, not JSON", jwtHeaderSegment + "." + strings.Repeat("A", jwtMaxTokenBytes-len(jwtHeaderSegment)-45) + "." + parts[2], 1, false},
		{"valid session", valid, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lookups := 0
			var err error
			n := testing.AllocsPerRun(50, func() {
				_, err = jwtTestAuthenticate(tt.token, jwtTestNow, &lookups)
			})
			if (err == nil) != tt.ok {
				t.Fatalf("authenticate = %v, want ok=%v", err, tt.ok)
			}
			if n > tt.max {
				t.Errorf("%v allocations per run, want at most %v", n, tt.max)
			}
			key := jwtTestSessionKey()
			if n := testing.AllocsPerRun(50, func() { _ = jwtCheckMAC(tt.token, key) }); n != 0 {
				t.Errorf("jwtCheckMAC: %v allocations per run, want 0", n)
			}
		})
	}
}

// FuzzJWTParse checks that no input panics the parser, that nothing is
// accepted unless its MAC verifies under crypto/hmac, that accepted payloads
// decode to the same claims under encoding/json, and that anything jwtSign
// issues parses back to identical claims. token is used as it comes; payload
// is wrapped in rip's header and MACed, so that the fuzzer reaches the claim
// scanner and the accepting path.
func FuzzJWTParse(f *testing.F) {
	key := jwtTestSessionKey()
	for _, p := range jwtTestPurposes {
		c := jwtTestClaims(p)
		tok, err := jwtSign(p, key, &c)
		if err != nil {
			f.Fatal(err)
		}
		payload, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[1])
		f.Add(tok, string(payload), c.UserID, c.Email, c.IssuedAt)
	}
	escaped := jwtTestSession(strings.Replace(jwtTestSessionTmpl, `"u_123"`, `"u\u00e9\ud83d\ude00\/\n"`, 1))
	f.Add(jwtTestForge(jwtHeaderJSON, escaped, key), " "+escaped+"\t", "é", "\\", int64(0))
	f.Add(jwtTestA1Input+"."+jwtTestA1Sig, `{"exp":1e3}`, "", "x", int64(1<<53))
	f.Add(strings.Repeat(".", 100), `{"type":"session","type":"session"}`, "\xff", "\"", int64(-1))
	f.Add(jwtHeaderSegment+".e30."+jwtTestA1Sig, `{"otp_id":"\ud800"}`, "a\u2028", "b\x00", int64(1))
	f.Fuzz(func(t *testing.T, token, payload, s1, s2 string, n int64) {
		forged := jwtTestForge(jwtHeaderJSON, payload, key)
		for _, p := range jwtTestPurposes {
			var c jwtClaims
			if jwtParse(p, token, &c) == nil {
				jwtFuzzCheckJSON(t, token, &c)
				if jwtVerify(token, key, &c, jwtTestNow) == nil && !jwtFuzzMACValid(token, key) {
					t.Fatalf("accepted %q without a valid MAC", token)
				}
			}
			if len(forged) <= jwtMaxTokenBytes && jwtParse(p, forged, &c) == nil {
				jwtFuzzCheckJSON(t, forged, &c)
				if err := jwtVerify(forged, key, &c, time.Unix(c.IssuedAt, 0)); err != nil && !errors.Is(err, errJWTExpired) {
					t.Fatalf("payload %q parsed but its valid MAC does not verify: %v", payload, err)
				}
			}
		}
		for _, p := range jwtTestPurposes {
			c := jwtTestClaims(p)
			for i := range jwtClaimTable {
				if s, _ := c.field(i); s != nil && *s != "" {
					*s = s1 + *s + s2
				}
			}
			c.IssuedAt, c.Expires = n, n+1
			if p == jwtSession {
				c.AuthTime = n
			}
			tok, err := jwtSign(p, key, &c)
			if err != nil {
				continue
			}
			var got jwtClaims
			if err := jwtParse(p, tok, &got); err != nil {
				t.Fatalf("jwtSign issued %q that does not parse: %v", tok, err)
			}
			if err := jwtVerify(tok, key, &got, time.Unix(n, 0)); err != nil {
				t.Fatalf("jwtSign issued %q that does not verify: %v", tok, err)
			}
			got.token = ""
			if got != c {
				t.Fatalf("round trip of %q:\n got %+v\nwant %+v", tok, got, c)
			}
		}
	})
}

// jwtFuzzMACValid recomputes a token's MAC with crypto/hmac and a lenient
// decoder, independently of jwtCheckMAC.
func jwtFuzzMACValid(token string, key []byte) bool {
	i := strings.LastIndexByte(token, '.')
	sig, err := base64.RawURLEncoding.DecodeString(token[i+1:])
	if err != nil {
		return false
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(token[:i]))
	return hmac.Equal(sig, m.Sum(nil))
}

// jwtFuzzCheckJSON checks that encoding/json reads an accepted token's
// payload as the same claims.
func jwtFuzzCheckJSON(t *testing.T, token string, c *jwtClaims) {
	seg := strings.Split(token, ".")[1]
	raw, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Fatalf("accepted payload %q is not base64url: %v", seg, err)
	}
	jwtCheckAgainstStdlib(t, raw, c)
}

// jwtCheckAgainstStdlib checks that encoding/json reads a payload rip
// accepted as the same claims, so the strict scanner is never looser than
// the standard decoder and never disagrees with it.
func jwtCheckAgainstStdlib(t *testing.T, raw []byte, c *jwtClaims) {
	t.Helper()
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil || dec.More() {
		t.Fatalf("accepted payload %q is not one JSON object: %v", raw, err)
	}
	if len(m) != bits.OnesCount16(uint16(jwtPurposes[c.Type].claims)) {
		t.Fatalf("payload %q has %d claims under encoding/json, rip accepted it for %s", raw, len(m), c.Type)
	}
	if m["type"] != c.Type.String() {
		t.Fatalf("payload %q: type %v, parsed as %s", raw, m["type"], c.Type)
	}
	for i, cl := range jwtClaimTable[1:] {
		v, present := m[cl.name]
		if jwtPurposes[c.Type].claims&(2<<i) == 0 {
			if present {
				t.Fatalf("payload %q: claim %s accepted for %s", raw, cl.name, c.Type)
			}
			continue
		}
		s, n := c.field(i + 1)
		switch {
		case s != nil && v != *s:
			t.Fatalf("payload %q: %s = %q under encoding/json, %q under rip", raw, cl.name, v, *s)
		case n != nil && v != json.Number(strconv.FormatInt(*n, 10)):
			t.Fatalf("payload %q: %s = %v under encoding/json, %d under rip", raw, cl.name, v, *n)
		}
	}
}

// BenchmarkJWTSessionAuth measures what the Bearer middleware does per
// request: parse, uid_mac check, per-user key derivation, MAC and time check.
func BenchmarkJWTSessionAuth(b *testing.B) {
	u := jwtTestUser
	secret := jwtTestSecret(jwtSession)
	c := jwtTestClaims(jwtSession)
	key := jwtUserKey(secret, u.email, u.hash, u.tokenKey)
	token, err := jwtSign(jwtSession, key[:], &c)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		var c jwtClaims
		if err := jwtParse(jwtSession, token, &c); err != nil {
			b.Fatal(err)
		}
		if !jwtUIDMACValid(jwtTestUIDSecret, c.UserID, c.UIDMAC) {
			b.Fatal("uid_mac")
		}
		key := jwtUserKey(secret, u.email, u.hash, u.tokenKey)
		if err := jwtVerify(token, key[:], &c, jwtTestNow); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkJWTParseVerify is parse + MAC + time check with a known key, the
// work golang-jwt's BenchmarkGolangJWTParseVerify (interop/jwtoracle) does.
func BenchmarkJWTParseVerify(b *testing.B) {
	key := jwtTestSessionKey()
	c := jwtTestClaims(jwtSession)
	token, err := jwtSign(jwtSession, key, &c)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		var c jwtClaims
		if err := jwtParse(jwtSession, token, &c); err != nil {
			b.Fatal(err)
		}
		if err := jwtVerify(token, key, &c, jwtTestNow); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkJWTSign(b *testing.B) {
	key := jwtTestSessionKey()
	c := jwtTestClaims(jwtSession)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := jwtSign(jwtSession, key, &c); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkJWTRejectDots is the CVE-2025-30204 input: a megabyte of dots.
func BenchmarkJWTRejectDots(b *testing.B) {
	token := strings.Repeat(".", 1<<20)
	b.ReportAllocs()
	for b.Loop() {
		var c jwtClaims
		if jwtParse(jwtSession, token, &c) == nil {
			b.Fatal("accepted")
		}
	}
}

// TestJWTDecodeSegmentAlphabet inserts every byte value into a valid
// segment: jwtDecodeSegment must accept exactly the base64url alphabet and
// name every other byte as jwtErrAlphabet, including CR and LF, which Go's
// decoder would otherwise skip.
func TestJWTDecodeSegmentAlphabet(t *testing.T) {
	const base = "eyJzdWIiOiIxMjM0NTY3ODkwIn0" // 27 characters: {"sub":"1234567890"}
	var dst [64]byte
	for c := 0; c < 256; c++ {
		// Inserting one byte makes 28 characters (4n, no trailing bits),
		// which decode whenever the byte is in the alphabet.
		seg := base[:8] + string([]byte{byte(c)}) + base[8:]
		_, err := jwtDecodeSegment(dst[:], seg)
		inAlphabet := jwtNotBase64URL[c] == 0
		switch {
		case inAlphabet && err != nil:
			t.Errorf("byte %#x: alphabet byte refused: %v", c, err)
		case !inAlphabet && err != jwtErrAlphabet:
			t.Errorf("byte %#x: got %v, want jwtErrAlphabet", c, err)
		}
	}
}
