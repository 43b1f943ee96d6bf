package rip

// This file holds rip's hand-written HS256 JSON Web Tokens: one strict verifier
// and one signer shared by every token purpose (sessions, e-mail OTP tokens,
// password-reset tokens, OAuth2 state). It is deliberately narrower than RFC 7519:
// rip verifies only tokens it could have issued itself, so anything a generic
// library would have to tolerate (other algorithms, header parameters, nested
// claims, floats, whitespace in the header) is rejected before it is looked at.
//
// A token is checked in two calls so the caller can find the signing key in
// between: [jwtParse] checks the structure and the claims without the key, the
// caller looks up the user (after [jwtUIDMACValid]) and derives the key with
// [jwtUserKey], then [jwtVerify] checks the MAC and only then the time rules.

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits and fixed values of the token format.
const (
	// jwtMaxTokenBytes bounds a token before any other work, so an oversized
	// token costs one length comparison (the lesson of CVE-2025-30204).
	jwtMaxTokenBytes = 4 << 10 // 4 KiB

	// jwtMaxPayloadBytes is the largest payload a token within
	// jwtMaxTokenBytes can decode to; the payload is decoded into a stack
	// buffer of this size.
	jwtMaxPayloadBytes = jwtMaxTokenBytes / 4 * 3 // 3 KiB

	// jwtLeeway is the clock skew tolerated on exp and iat (RFC 7519 §4.1.4
	// suggests "no more than a few minutes").
	jwtLeeway = 60 * time.Second

	// jwtMaxInt is the largest integer claim value accepted: beyond 2^53
	// JSON numbers lose precision in many decoders, so two parsers of the
	// same token could disagree.
	jwtMaxInt = 1<<53 - 1

	// jwtMaxIntDigits is the number of decimal digits of jwtMaxInt.
	jwtMaxIntDigits = 16

	// jwtMinKeyBytes is the shortest signing key accepted (RFC 7518 §3.2:
	// an HS256 key must have at least 256 bits). Derived per-user keys are
	// exactly this long.
	jwtMinKeyBytes = 32

	// jwtSignatureChars is the length of the base64url encoding (without
	// padding) of a 32-byte HMAC-SHA256 tag.
	jwtSignatureChars = 43

	// jwtHMACBlockBytes is the SHA-256 block size that HMAC pads keys to.
	jwtHMACBlockBytes = sha256.BlockSize

	// jwtStackMessageBytes is the size of the stack buffers that hold the
	// small messages MACed by jwtUIDMAC and jwtUserKey; longer inputs
	// spill to the heap but give the same result.
	jwtStackMessageBytes = 512

	// jwtSmallBytes sizes the stack buffers of the common case (a session
	// token's payload is about 130 bytes, its signing input about 210):
	// declaring a buffer zeroes it, and zeroing 4 KiB on every call would
	// cost more than a SHA-256 block. Larger inputs use jwtMaxTokenBytes
	// buffers.
	jwtSmallBytes = 512
)

// jwtHeaderJSON is the only JOSE header rip emits, and jwtHeaderSegment its
// base64url encoding (a test recomputes it). The verifier compares the
// header segment bytes with jwtHeaderSegment and never parses a header, which
// rules out alg "none", algorithm substitution, kid/jku/x5u lookups, crit
// and duplicate header parameters in one comparison (RFC 8725 §2.1, §3.10).
const (
	jwtHeaderJSON    = `{"alg":"HS256","typ":"JWT"}`
	jwtHeaderSegment = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
)

// The three failure kinds. The HTTP layer maps errJWTExpired to
// err_token_expired and everything else to err_invalid_token. Every error the
// functions in this file return wraps exactly one of them; the wrapped text
// says why, for logs only.
var (
	errJWTMalformed = errors.New("rip: malformed token")
	errJWTSignature = errors.New("rip: invalid token signature")
	errJWTExpired   = errors.New("rip: token expired")
)

// The reasons behind errJWTMalformed and errJWTSignature. They are values,
// not built per call, so that rejecting hostile input allocates nothing.
var (
	jwtErrPurpose      = jwtMalformed("unknown token purpose")
	jwtErrTooLong      = jwtMalformed(fmt.Sprintf("token longer than %d bytes", jwtMaxTokenBytes))
	jwtErrSegments     = jwtMalformed("token does not have exactly three segments")
	jwtErrHeader       = jwtMalformed("header is not the one rip emits")
	jwtErrAlphabet     = jwtMalformed("segment has a byte outside the base64url alphabet")
	jwtErrBase64       = jwtMalformed("segment is not canonical base64url")
	jwtErrSigLength    = jwtMalformed("signature is not 32 bytes")
	jwtErrNotObject    = jwtMalformed("payload is not one JSON object")
	jwtErrTrailing     = jwtMalformed("payload has data after the JSON object")
	jwtErrSyntax       = jwtMalformed("payload JSON syntax error")
	jwtErrString       = jwtMalformed("payload has a bad JSON string")
	jwtErrUTF8         = jwtMalformed("payload string is not valid UTF-8")
	jwtErrInteger      = jwtMalformed("claim is not an integer in [0, 2^53)")
	jwtErrUnknownClaim = jwtMalformed("claim not allowed for this token purpose")
	jwtErrDuplicate    = jwtMalformed("duplicate claim")
	jwtErrMissing      = jwtMalformed("required claim missing")
	jwtErrEmptyClaim   = jwtMalformed("claim is an empty string")
	jwtErrType         = jwtMalformed("type claim does not match the token purpose")
	jwtErrAuthTime     = jwtMalformed("auth_time after iat")
	jwtErrLifetime     = jwtMalformed("exp not after iat")
	jwtErrNotParsed    = jwtMalformed("claims were not parsed from this token")
	jwtErrFuture       = jwtMalformed("iat in the future")
	errJWTShortKey     = fmt.Errorf("%w: key shorter than %d bytes", errJWTSignature, jwtMinKeyBytes)
)

func jwtMalformed(why string) error { return fmt.Errorf("%w: %s", errJWTMalformed, why) }

// jwtPurpose says what a token is for. Each purpose has its own secret
// (chosen by the caller), its own type claim value and its own claim set.
// The zero value is not a purpose, so claims that were never parsed or
// signed cannot pass [jwtVerify].
type jwtPurpose uint8

const (
	jwtSession     jwtPurpose = iota + 1 // a login session (Bearer token)
	jwtEmailVerify                       // the e-mail verification OTP token
	jwtResetOTP                          // step 1 of password reset: the OTP token
	jwtResetGrant                        // step 2 of password reset: the grant to set a password
	jwtEmailChange                       // the e-mail change OTP token
	jwtOAuth2State                       // the OAuth2 state parameter
)

// jwtClaimSet is a set of claim names, one bit per entry of jwtClaimTable.
type jwtClaimSet uint16

const (
	jwtCType jwtClaimSet = 1 << iota
	jwtCUserID
	jwtCUIDMAC
	jwtCAuthTime
	jwtCEmail
	jwtCNewEmail
	jwtCOTPID
	jwtCProvider
	jwtCCVHash
	jwtCNonce
	jwtCIssuedAt
	jwtCExpires
)

// jwtClaimTable names every claim rip knows, in the order jwtSign writes
// them; entry i is the claim whose bit is 1<<i. All names are lower case, so
// a case variant such as "EXP" is an unknown claim and is rejected.
var jwtClaimTable = [...]struct {
	name    string
	integer bool
}{
	{"type", false},
	{"user_id", false},
	{"uid_mac", false},
	{"auth_time", true},
	{"email", false},
	{"new_email", false},
	{"otp_id", false},
	{"provider", false},
	{"cv_hash", false},
	{"nonce", false},
	{"iat", true},
	{"exp", true},
}

// jwtPurposes gives each purpose its type claim value and its claim set.
// Every claim in the set is required and no other claim is allowed, so the
// validation rules of two purposes are mutually exclusive (RFC 8725 §3.12).
var jwtPurposes = [...]struct {
	typ    string
	claims jwtClaimSet
}{
	jwtSession:     {"session", jwtCType | jwtCUserID | jwtCUIDMAC | jwtCAuthTime | jwtCIssuedAt | jwtCExpires},
	jwtEmailVerify: {"email_verification", jwtCType | jwtCOTPID | jwtCEmail | jwtCIssuedAt | jwtCExpires},
	jwtResetOTP:    {"password_reset_otp", jwtCType | jwtCOTPID | jwtCEmail | jwtCIssuedAt | jwtCExpires},
	jwtResetGrant:  {"password_reset", jwtCType | jwtCUserID | jwtCUIDMAC | jwtCEmail | jwtCIssuedAt | jwtCExpires},
	jwtEmailChange: {"email_change", jwtCType | jwtCOTPID | jwtCUserID | jwtCEmail | jwtCNewEmail | jwtCIssuedAt | jwtCExpires},
	jwtOAuth2State: {"oauth2_state", jwtCType | jwtCProvider | jwtCCVHash | jwtCNonce | jwtCIssuedAt | jwtCExpires},
}

func (p jwtPurpose) valid() bool { return p >= jwtSession && int(p) < len(jwtPurposes) }

// String returns the purpose's type claim value.
func (p jwtPurpose) String() string {
	if !p.valid() {
		return fmt.Sprintf("jwtPurpose(%d)", uint8(p))
	}
	return jwtPurposes[p].typ
}

// jwtClaims holds the claims of any purpose; fields a purpose does not use
// are empty. Times are Unix seconds. A jwtClaims filled by [jwtParse] refers
// to the token it came from, and [jwtVerify] accepts only that token.
type jwtClaims struct {
	Type     jwtPurpose
	UserID   string // user_id: the user's id (session, reset grant, e-mail change)
	UIDMAC   string // uid_mac: hex HMAC of UserID, see jwtUIDMAC
	Email    string // email: the address the token was issued for (the old one for e-mail change)
	NewEmail string // new_email: the address an e-mail change moves to
	OTPID    string // otp_id: id of the server-side OTP row
	Provider string // provider: OAuth2 provider name
	CVHash   string // cv_hash: hex SHA-256 of the PKCE code verifier
	Nonce    string // nonce: random id that makes an OAuth2 state single-use
	AuthTime int64  // auth_time: time of the original login, kept across refresh
	IssuedAt int64  // iat
	Expires  int64  // exp

	token string // the token jwtParse read these claims from
}

// field returns a pointer to the struct field holding claim i of
// jwtClaimTable; exactly one result is non-nil, except for "type" (i == 0),
// which has no string field and returns two nils.
func (c *jwtClaims) field(i int) (*string, *int64) {
	switch jwtClaimSet(1) << i {
	case jwtCUserID:
		return &c.UserID, nil
	case jwtCUIDMAC:
		return &c.UIDMAC, nil
	case jwtCAuthTime:
		return nil, &c.AuthTime
	case jwtCEmail:
		return &c.Email, nil
	case jwtCNewEmail:
		return &c.NewEmail, nil
	case jwtCOTPID:
		return &c.OTPID, nil
	case jwtCProvider:
		return &c.Provider, nil
	case jwtCCVHash:
		return &c.CVHash, nil
	case jwtCNonce:
		return &c.Nonce, nil
	case jwtCIssuedAt:
		return nil, &c.IssuedAt
	case jwtCExpires:
		return nil, &c.Expires
	}
	return nil, nil
}

// jwtSign sets c.Type to p and returns the token for c signed with key.
//
// # Security
//
// The purpose decides the type claim and the claim set, so a token signed for
// one purpose never parses as another even under the same key. jwtSign refuses
// to issue what [jwtParse] would reject (a missing or empty required claim, a
// claim of another purpose, invalid UTF-8, a time outside [0, 2^53), exp not
// after iat, auth_time after iat, a key shorter than 32 bytes, a token longer
// than 4 KiB), so every issued token round-trips to identical claims.
func jwtSign(p jwtPurpose, key []byte, c *jwtClaims) (string, error) {
	if !p.valid() {
		return "", fmt.Errorf("jwt sign: %w", jwtErrPurpose)
	}
	if len(key) < jwtMinKeyBytes {
		return "", fmt.Errorf("jwt sign %s: key shorter than %d bytes", p, jwtMinKeyBytes)
	}
	c.Type = p
	var buf [jwtMaxPayloadBytes]byte
	payload, err := jwtAppendPayload(buf[:0], p, c)
	if err != nil {
		return "", fmt.Errorf("jwt sign %s: %w", p, err)
	}
	enc := base64.RawURLEncoding
	n := len(jwtHeaderSegment) + 1 + enc.EncodedLen(len(payload)) + 1 + jwtSignatureChars
	if n > jwtMaxTokenBytes {
		return "", fmt.Errorf("jwt sign %s: token of %d bytes exceeds %d", p, n, jwtMaxTokenBytes)
	}
	out := make([]byte, 0, n)
	out = append(out, jwtHeaderSegment...)
	out = append(out, '.')
	out = enc.AppendEncode(out, payload)
	mac := jwtHMAC(key, out)
	out = append(out, '.')
	out = enc.AppendEncode(out, mac[:])
	return string(out), nil
}

// jwtAppendPayload appends the JSON payload for purpose p to b, checking
// every claim as jwtScanClaims will.
func jwtAppendPayload(b []byte, p jwtPurpose, c *jwtClaims) ([]byte, error) {
	spec := jwtPurposes[p]
	b = append(b, '{')
	for i, cl := range jwtClaimTable {
		s, n := c.field(i)
		used := spec.claims&(1<<i) != 0
		switch {
		case i == 0:
			b = append(b, `"type":`...)
			b = jwtAppendString(b, spec.typ)
			continue
		case !used && (s != nil && *s != "" || n != nil && *n != 0):
			return nil, fmt.Errorf("claim %s is not used by this purpose", cl.name)
		case !used:
			continue
		case s != nil && *s == "":
			return nil, fmt.Errorf("required claim %s is empty", cl.name)
		case s != nil && !utf8.ValidString(*s):
			return nil, fmt.Errorf("claim %s is not valid UTF-8", cl.name)
		case n != nil && (*n < 0 || *n > jwtMaxInt):
			return nil, fmt.Errorf("claim %s = %d is outside [0, 2^53)", cl.name, *n)
		}
		b = append(b, ',', '"')
		b = append(b, cl.name...)
		b = append(b, '"', ':')
		if s != nil {
			b = jwtAppendString(b, *s)
		} else {
			b = strconv.AppendInt(b, *n, 10)
		}
	}
	if err := jwtCheckTimes(spec.claims, c); err != nil {
		return nil, err
	}
	return append(b, '}'), nil
}

// jwtCheckTimes checks the time claims against each other (not against the
// clock): exp must be after iat and a session's auth_time not after iat.
func jwtCheckTimes(set jwtClaimSet, c *jwtClaims) error {
	if c.Expires <= c.IssuedAt {
		return jwtErrLifetime
	}
	if set&jwtCAuthTime != 0 && c.AuthTime > c.IssuedAt {
		return jwtErrAuthTime
	}
	return nil
}

// jwtAppendString appends s as a JSON string. It escapes only what JSON
// requires (quote, backslash, control characters), so the scanner's fast path
// sees no escapes for ordinary values.
func jwtAppendString(b []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

// jwtParse checks token's structure and payload without its MAC and fills c
// with the claims of purpose p, so that the caller can find the key (reject a
// forged user id with [jwtUIDMACValid], look the user up, [jwtUserKey]) and
// then call [jwtVerify]. Claims returned by jwtParse are untrusted until
// jwtVerify succeeds. On error c is zeroed.
//
// # Security
//
// The checks run cheapest first and nothing is parsed before its container
// passed: length ≤ 4 KiB (one comparison; a megabyte of dots allocates
// nothing), exactly two dots counted before splitting, the header segment
// equal byte for byte to the one rip emits (so alg, kid, jku, crit and
// header tricks never reach a parser), the signature segment 43 base64url
// characters, the payload segment canonical base64url after an alphabet
// whitelist (Go's decoder alone skips CR/LF and, unless strict, accepts
// non-zero trailing bits), and finally the strict claim scanner
// [jwtScanClaims]. The payload is decoded on the stack; the claims share one
// heap string.
func jwtParse(p jwtPurpose, token string, c *jwtClaims) error {
	*c = jwtClaims{}
	if !p.valid() {
		return jwtErrPurpose
	}
	header, payload, sig, err := jwtSplit(token)
	if err != nil {
		return err
	}
	if header != jwtHeaderSegment {
		return jwtErrHeader
	}
	if len(sig) != jwtSignatureChars {
		return jwtErrSigLength
	}
	if !jwtIsBase64URL(sig) {
		return jwtErrAlphabet
	}
	if jwtBase64.DecodedLen(len(payload)) <= jwtSmallBytes {
		var buf [jwtSmallBytes]byte
		return jwtParsePayload(p, token, payload, buf[:], c)
	}
	var buf [jwtMaxPayloadBytes]byte
	return jwtParsePayload(p, token, payload, buf[:], c)
}

// jwtParsePayload decodes the payload segment into buf and scans it into c.
func jwtParsePayload(p jwtPurpose, token, payload string, buf []byte, c *jwtClaims) error {
	n, err := jwtDecodeSegment(buf, payload)
	if err != nil {
		return err
	}
	if err := jwtScanClaims(p, string(buf[:n]), c); err != nil {
		*c = jwtClaims{}
		return err
	}
	c.Type = p
	c.token = token
	return nil
}

// jwtSplit bounds the token's length, counts its dots and cuts it into its
// three segments, allocating nothing.
func jwtSplit(token string) (header, payload, sig string, err error) {
	if len(token) > jwtMaxTokenBytes {
		return "", "", "", jwtErrTooLong
	}
	if strings.Count(token, ".") != 2 {
		return "", "", "", jwtErrSegments
	}
	header, rest, _ := strings.Cut(token, ".")
	payload, sig, _ = strings.Cut(rest, ".")
	return header, payload, sig, nil
}

// jwtIsBase64URL reports whether s holds only [A-Za-z0-9_-]. It looks at
// every byte without branching on it.
func jwtIsBase64URL(s string) bool {
	var bad byte
	for i := 0; i < len(s); i++ {
		bad |= jwtNotBase64URL[s[i]]
	}
	return bad == 0
}

// jwtNotBase64URL is 1 for every byte outside [A-Za-z0-9_-].
var jwtNotBase64URL = func() (t [256]byte) {
	for c := range t {
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			t[c] = 1
		}
	}
	return t
}()

// jwtBase64 is strict unpadded base64url: it rejects non-zero trailing bits,
// so every byte string has exactly one accepted encoding.
var jwtBase64 = base64.RawURLEncoding.Strict()

// jwtDecodeSegment decodes a base64url segment of at most jwtMaxTokenBytes
// into dst, which must hold its decoded length.
//
// # Security
//
// The alphabet whitelist runs first because Go's decoder silently skips CR
// and LF even in strict mode; the strict decoder then rejects padding, bad
// lengths and non-zero trailing bits, so a segment cannot be altered without
// changing the bytes it decodes to (no malleable tokens).
func jwtDecodeSegment(dst []byte, seg string) (int, error) {
	if !jwtIsBase64URL(seg) {
		return 0, jwtErrAlphabet
	}
	if jwtBase64.DecodedLen(len(seg)) > len(dst) {
		return 0, jwtErrTooLong
	}
	// The conversion does not copy: the compiler sees that Decode neither
	// keeps nor modifies its source.
	n, err := jwtBase64.Decode(dst, []byte(seg))
	if err != nil {
		return 0, jwtErrBase64
	}
	return n, nil
}

// jwtVerify checks token's HS256 signature under key and then the time rules
// at now. c must have been filled by [jwtParse] from the same token.
//
// # Security
//
// The MAC (see [jwtMACValid]) is verified over the received signing input
// before any claim is trusted, and "expired" is reported only after it
// verified, so a forged token can never produce errJWTExpired (the lesson of
// CVE-2024-51744). The time rules allow jwtLeeway of skew both ways: exp is
// required and now < exp+60 s; iat is required and iat ≤ now+60 s. Claims
// from another token, or never parsed, are refused: that check is what lets
// jwtVerify rely on jwtParse's structure checks instead of repeating them.
func jwtVerify(token string, key []byte, c *jwtClaims, now time.Time) error {
	if !c.Type.valid() || c.token != token {
		return jwtErrNotParsed
	}
	dot := strings.LastIndexByte(token, '.')
	if err := jwtMACValid(token[:dot], token[dot+1:], key); err != nil {
		return err
	}
	t, leeway := now.Unix(), int64(jwtLeeway/time.Second)
	if c.IssuedAt > t+leeway {
		return jwtErrFuture
	}
	if t >= c.Expires+leeway {
		return errJWTExpired
	}
	return nil
}

// jwtCheckMAC is the generic HS256 primitive: it checks that token is three
// base64url segments whose last one is the HMAC-SHA256 under key of the
// received bytes before the last dot. It knows nothing about rip's header or
// claims, which is why the RFC 7515 A.1 vector can test it.
//
// # Security
//
// The MAC is computed over the bytes as received, never over re-serialised
// JSON. The signature must be canonical base64url of exactly 32 bytes and is
// compared with hmac.Equal (constant time). Keys shorter than 32 bytes are
// refused, so a zero-length key from a misconfiguration fails closed.
func jwtCheckMAC(token string, key []byte) error {
	if len(key) < jwtMinKeyBytes {
		return errJWTShortKey
	}
	header, payload, sig, err := jwtSplit(token)
	if err != nil {
		return err
	}
	if !jwtIsBase64URL(header) || !jwtIsBase64URL(payload) {
		return jwtErrAlphabet
	}
	return jwtMACValid(token[:len(header)+1+len(payload)], sig, key)
}

// jwtMACValid checks that sig is the canonical base64url encoding of
// HMAC-SHA256(key, signingInput).
//
// # Security
//
// The signature must be exactly 43 characters of the base64url alphabet that
// decode strictly to 32 bytes; the comparison is hmac.Equal. Keys shorter
// than 32 bytes fail closed.
func jwtMACValid(signingInput, sig string, key []byte) error {
	if len(key) < jwtMinKeyBytes {
		return errJWTShortKey
	}
	if !jwtIsBase64URL(sig) {
		return jwtErrAlphabet
	}
	if len(sig) != jwtSignatureChars {
		return jwtErrSigLength
	}
	var got [sha256.Size]byte // DecodedLen(43) is 32
	n, err := jwtDecodeSegment(got[:], sig)
	if err != nil {
		return err
	}
	want := jwtHMAC(key, signingInput)
	if n != len(want) || !hmac.Equal(got[:], want[:]) {
		return errJWTSignature
	}
	return nil
}

// jwtHMAC returns HMAC-SHA256(key, msg) (RFC 2104). For messages up to
// jwtMaxTokenBytes (every signing input) it runs sha256.Sum256 over stack
// buffers and allocates nothing; longer messages go through crypto/hmac.
//
// # Security
//
// This is the one MAC of the file; it is tested against RFC 4231 and against
// crypto/hmac for keys and messages of every length around the block size.
// Keys longer than a block are hashed first, as RFC 2104 requires. The stack
// buffers hold key-derived pads and are not zeroed, as in crypto/hmac.
func jwtHMAC[M ~string | ~[]byte](key []byte, msg M) [sha256.Size]byte {
	switch {
	case len(msg) <= jwtSmallBytes:
		var inner [jwtHMACBlockBytes + jwtSmallBytes]byte
		return jwtHMACBuf(inner[:], key, msg)
	case len(msg) <= jwtMaxTokenBytes:
		var inner [jwtHMACBlockBytes + jwtMaxTokenBytes]byte
		return jwtHMACBuf(inner[:], key, msg)
	}
	// The copies keep key and msg from escaping through the hash.Hash
	// interface, which would move callers' stack buffers to the heap.
	return jwtHMACLong(bytes.Clone(key), append([]byte(nil), msg...))
}

// jwtHMACBuf computes HMAC-SHA256(key, msg) using inner, which must hold a
// block plus msg, for the inner hash's input.
func jwtHMACBuf[M ~string | ~[]byte](inner, key []byte, msg M) [sha256.Size]byte {
	var k [jwtHMACBlockBytes]byte
	if len(key) > jwtHMACBlockBytes {
		sum := sha256.Sum256(key)
		copy(k[:], sum[:])
	} else {
		copy(k[:], key)
	}
	var outer [jwtHMACBlockBytes + sha256.Size]byte
	// The pads are XORed eight bytes at a time (byte order is irrelevant
	// to XOR with a repeated byte).
	const ipad, opad = 0x3636363636363636, 0x5c5c5c5c5c5c5c5c
	for i := 0; i < jwtHMACBlockBytes; i += 8 {
		w := binary.LittleEndian.Uint64(k[i:])
		binary.LittleEndian.PutUint64(inner[i:], w^ipad)
		binary.LittleEndian.PutUint64(outer[i:], w^opad)
	}
	n := jwtHMACBlockBytes + copy(inner[jwtHMACBlockBytes:], msg)
	innerSum := sha256.Sum256(inner[:n])
	copy(outer[jwtHMACBlockBytes:], innerSum[:])
	return sha256.Sum256(outer[:])
}

// jwtHMACLong is jwtHMAC for messages too long for its stack buffers.
func jwtHMACLong(key, msg []byte) [sha256.Size]byte {
	m := hmac.New(sha256.New, key)
	m.Write(msg)
	var out [sha256.Size]byte
	m.Sum(out[:0])
	return out
}

// jwtUserKey derives the per-user signing key of session and reset-grant
// tokens: HMAC-SHA256(secret, len‖email ‖ len‖passwordHash ‖ len‖tokenKey),
// each length 8 bytes big-endian.
//
// # Security
//
// Every token of a user dies when any input changes: a new password hash,
// a new e-mail, or a rotated tokenKey (password change or reset, e-mail
// change, logout-all; this also covers OAuth2-only users, whose hash is
// empty). The length prefixes make the encoding injective, so no two
// (email, hash, tokenKey) triples share a key; the reference's 0x00
// separator did not guarantee that. The first 8 bytes of the message are a
// length, which can never equal the "uid:" prefix of jwtUIDMAC, so one secret
// may serve both without their MACs colliding.
func jwtUserKey(secret []byte, email, passwordHash string, tokenKey []byte) [sha256.Size]byte {
	var stack [jwtStackMessageBytes]byte
	msg := stack[:0]
	msg = binary.BigEndian.AppendUint64(msg, uint64(len(email)))
	msg = append(msg, email...)
	msg = binary.BigEndian.AppendUint64(msg, uint64(len(passwordHash)))
	msg = append(msg, passwordHash...)
	msg = binary.BigEndian.AppendUint64(msg, uint64(len(tokenKey)))
	msg = append(msg, tokenKey...)
	return jwtHMAC(secret, msg)
}

// jwtUIDMAC returns the uid_mac claim for userID: the lowercase hex of the
// full HMAC-SHA256(secret, "uid:" + userID), 64 characters.
//
// # Security
//
// uid_mac lets the verifier reject a forged user_id before any database read,
// so an attacker cannot use tokens to probe or load arbitrary users. It is the
// full 256-bit MAC (the reference kept 64 bits) and is checked in constant time
// by [jwtUIDMACValid].
func jwtUIDMAC(secret []byte, userID string) string {
	sum := jwtUIDMACSum(secret, userID)
	return hex.EncodeToString(sum[:])
}

// jwtUIDMACValid reports whether mac is jwtUIDMAC(secret, userID). It
// allocates nothing.
//
// # Security
//
// mac is decoded as exactly 64 lowercase hex digits (the only form
// jwtUIDMAC emits) and compared with hmac.Equal, so the comparison time does
// not depend on how much of a guess was right.
func jwtUIDMACValid(secret []byte, userID, mac string) bool {
	want := jwtUIDMACSum(secret, userID)
	return jwtUIDMACEqual(mac, &want)
}

// jwtUIDMACEqual reports whether mac is the hex form of want, decoding
// exactly 64 lowercase hex digits and comparing with hmac.Equal.
func jwtUIDMACEqual(mac string, want *[sha256.Size]byte) bool {
	var got [sha256.Size]byte
	if len(mac) != 2*len(got) {
		return false
	}
	for i := range got {
		hi, ok1 := jwtHexNibble(mac[2*i])
		lo, ok2 := jwtHexNibble(mac[2*i+1])
		if !ok1 || !ok2 {
			return false
		}
		got[i] = hi<<4 | lo
	}
	return hmac.Equal(got[:], want[:])
}

func jwtUIDMACSum(secret []byte, userID string) [sha256.Size]byte {
	var stack [jwtStackMessageBytes]byte
	msg := append(stack[:0], "uid:"...)
	msg = append(msg, userID...)
	return jwtHMAC(secret, msg)
}

// jwtHexNibble decodes one lowercase hex digit.
func jwtHexNibble(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}
