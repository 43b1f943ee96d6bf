package rip

// This file holds the strict JSON scanner for JWT payloads: one flat object
// of string and integer members, read into a jwtClaims. It is separate from
// jwt.go because it is the one part of the token code that parses
// attacker-chosen structure, and deserves to be read on its own.

import (
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// jwtScanClaims parses payload, which must be one flat JSON object holding
// exactly the claims of purpose p, into c.
//
// # Security
//
// One strict parser, used for every purpose, so no two parsers can disagree
// about a token (the reference parsed payloads twice with different decoders;
// ASVS 5 1.5.3). It rejects what encoding/json would quietly accept:
// duplicate keys (encoding/json keeps the last), case variants (encoding/json
// matches fields case-insensitively; here every unknown key is an error, and
// all known keys are lower case), floats, exponents and signs (an iat of 1e300
// converts to a negative int64), integers at or above 2^53, invalid UTF-8 and
// lone surrogates (encoding/json substitutes U+FFFD), values of the wrong type
// (CVE-2020-26160), nested values, and anything after the object. Every claim
// of the purpose is required and must be non-empty, and the type claim must
// name the purpose.
func jwtScanClaims(p jwtPurpose, payload string, c *jwtClaims) error {
	spec := jwtPurposes[p]
	sc := jwtScanner{s: payload}
	var seen jwtClaimSet
	sc.space()
	if !sc.take('{') {
		return jwtErrNotObject
	}
	sc.space()
	if !sc.take('}') {
		for {
			if err := sc.member(spec.claims, spec.typ, &seen, c); err != nil {
				return err
			}
			sc.space()
			if sc.take('}') {
				break
			}
			if !sc.take(',') {
				return jwtErrSyntax
			}
			sc.space()
		}
	}
	sc.space()
	if sc.i != len(sc.s) {
		return jwtErrTrailing
	}
	if seen != spec.claims {
		return jwtErrMissing
	}
	return jwtCheckTimes(spec.claims, c)
}

// jwtScanner walks a JSON text; i is the offset of the next unread byte.
type jwtScanner struct {
	s string
	i int
}

// member reads one `"key": value` pair into c, where allowed is the purpose's
// claim set, typ its type value and seen the claims read so far.
func (sc *jwtScanner) member(allowed jwtClaimSet, typ string, seen *jwtClaimSet, c *jwtClaims) error {
	key, err := sc.str()
	if err != nil {
		return err
	}
	sc.space()
	if !sc.take(':') {
		return jwtErrSyntax
	}
	sc.space()
	i := jwtClaimIndex(key)
	if i < 0 || allowed&(1<<i) == 0 {
		return jwtErrUnknownClaim
	}
	if *seen&(1<<i) != 0 {
		return jwtErrDuplicate
	}
	*seen |= 1 << i
	if jwtClaimTable[i].integer {
		_, n := c.field(i)
		*n, err = sc.integer()
		return err
	}
	v, err := sc.str()
	switch {
	case err != nil:
		return err
	case v == "":
		return jwtErrEmptyClaim
	case i == 0 && v != typ:
		return jwtErrType
	case i == 0:
		return nil
	}
	s, _ := c.field(i)
	*s = v
	return nil
}

// jwtClaimIndex returns the index of name in jwtClaimTable, or -1.
func jwtClaimIndex(name string) int {
	switch name {
	case "type":
		return 0
	case "user_id":
		return 1
	case "uid_mac":
		return 2
	case "auth_time":
		return 3
	case "email":
		return 4
	case "new_email":
		return 5
	case "otp_id":
		return 6
	case "provider":
		return 7
	case "cv_hash":
		return 8
	case "nonce":
		return 9
	case "iat":
		return 10
	case "exp":
		return 11
	}
	return -1
}

// space skips JSON whitespace (RFC 8259 §2).
func (sc *jwtScanner) space() {
	for sc.i < len(sc.s) {
		switch sc.s[sc.i] {
		case ' ', '\t', '\n', '\r':
			sc.i++
		default:
			return
		}
	}
}

// take consumes c if it is the next byte.
func (sc *jwtScanner) take(c byte) bool {
	if sc.i < len(sc.s) && sc.s[sc.i] == c {
		sc.i++
		return true
	}
	return false
}

// integer reads a non-negative JSON integer below 2^53 without sign,
// fraction, exponent or leading zeros. A following '.', 'e' or '-' is left
// for the caller, whose next structural check rejects it.
func (sc *jwtScanner) integer() (int64, error) {
	start := sc.i
	var v int64
	for sc.i < len(sc.s) && '0' <= sc.s[sc.i] && sc.s[sc.i] <= '9' {
		if sc.i-start == jwtMaxIntDigits {
			return 0, jwtErrInteger
		}
		v = v*10 + int64(sc.s[sc.i]-'0')
		sc.i++
	}
	switch digits := sc.i - start; {
	case digits == 0, digits > 1 && sc.s[start] == '0', v > jwtMaxInt:
		return 0, jwtErrInteger
	}
	return v, nil
}

// str reads a JSON string. Without escapes (everything rip emits) the
// result shares the payload's memory; with escapes it is decoded into a new
// string.
func (sc *jwtScanner) str() (string, error) {
	if !sc.take('"') {
		return "", jwtErrString
	}
	start := sc.i
	for sc.i < len(sc.s) && jwtStringPlain[sc.s[sc.i]] {
		sc.i++
	}
	switch {
	case sc.i == len(sc.s):
		return "", jwtErrString
	case sc.s[sc.i] == '\\':
		return sc.strEscaped(start)
	case sc.s[sc.i] != '"':
		return "", jwtErrString // a control character
	}
	v := sc.s[start:sc.i]
	sc.i++
	if !utf8.ValidString(v) {
		return "", jwtErrUTF8
	}
	return v, nil
}

// jwtStringPlain is true for the bytes a JSON string may hold unescaped
// other than its closing quote: not '"', not '\\', not a control character.
var jwtStringPlain = func() (t [256]bool) {
	for c := range t {
		t[c] = c >= 0x20 && c != '"' && c != '\\'
	}
	return t
}()

// strEscaped finishes a string whose content starts at start and that has an
// escape at sc.i.
func (sc *jwtScanner) strEscaped(start int) (string, error) {
	b := []byte(sc.s[start:sc.i])
	for sc.i < len(sc.s) {
		c := sc.s[sc.i]
		sc.i++
		switch {
		case c == '"':
			if !utf8.Valid(b) {
				return "", jwtErrUTF8
			}
			return string(b), nil
		case c < 0x20:
			return "", jwtErrString
		case c != '\\':
			b = append(b, c)
			continue
		}
		if sc.i >= len(sc.s) {
			return "", jwtErrString
		}
		e := sc.s[sc.i]
		sc.i++
		switch e {
		case '"', '\\', '/':
			b = append(b, e)
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			r, ok := sc.escapedRune()
			if !ok {
				return "", jwtErrString
			}
			b = utf8.AppendRune(b, r)
		default:
			return "", jwtErrString
		}
	}
	return "", jwtErrString
}

// escapedRune reads the hex digits of a \u escape (the "\u" already read),
// and the low half when it is the high half of a UTF-16 surrogate pair. A
// lone or reversed surrogate is an error, not U+FFFD.
func (sc *jwtScanner) escapedRune() (rune, bool) {
	r1, ok := sc.hex4()
	if !ok {
		return 0, false
	}
	if !utf16.IsSurrogate(r1) {
		return r1, true
	}
	if r1 >= 0xdc00 || !strings.HasPrefix(sc.s[sc.i:], `\u`) {
		return 0, false
	}
	sc.i += 2
	r2, ok := sc.hex4()
	if !ok || r2 < 0xdc00 || r2 > 0xdfff {
		return 0, false
	}
	return utf16.DecodeRune(r1, r2), true
}

// hex4 reads four hex digits of either case.
func (sc *jwtScanner) hex4() (rune, bool) {
	if len(sc.s)-sc.i < 4 {
		return 0, false
	}
	var r rune
	for _, c := range []byte(sc.s[sc.i : sc.i+4]) {
		var d byte
		switch {
		case '0' <= c && c <= '9':
			d = c - '0'
		case 'a' <= c && c <= 'f':
			d = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(d)
	}
	sc.i += 4
	return r, true
}
