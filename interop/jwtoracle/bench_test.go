package jwtoracle

import (
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// sessionClaims is a rip session token's claims as a golang-jwt user would
// declare them: typed fields, no map.
type sessionClaims struct {
	Type     string `json:"type"`
	UserID   string `json:"user_id"`
	UIDMAC   string `json:"uid_mac"`
	AuthTime int64  `json:"auth_time"`
	jwt.RegisteredClaims
}

var benchKey = []byte("bench-key-0123456789abcdef0123456")

func benchClaims(now time.Time) *sessionClaims {
	return &sessionClaims{
		Type: "session", UserID: "u_123",
		UIDMAC:   "1c12882ec447a0b81ef9b2e9fa34df9edd910691384c3f75cbb773d3134e0726",
		AuthTime: now.Unix() - 3600,
		RegisteredClaims: jwt.RegisteredClaims{
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(15 * time.Minute)),
		},
	}
}

// BenchmarkGolangJWTParseVerify is the golang-jwt counterpart of rip's
// BenchmarkJWTParseVerify: parse, HS256 check and time checks of a session
// token with a known key.
func BenchmarkGolangJWTParseVerify(b *testing.B) {
	now := time.Unix(1_700_000_000, 0)
	token, err := jwt.NewWithClaims(jwt.SigningMethodHS256, benchClaims(now)).SignedString(benchKey)
	if err != nil {
		b.Fatal(err)
	}
	p := parser(now)
	keyFunc := func(*jwt.Token) (any, error) { return benchKey, nil }
	b.ReportAllocs()
	for b.Loop() {
		var c sessionClaims
		if _, err := p.ParseWithClaims(token, &c, keyFunc); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGolangJWTSign is the counterpart of rip's BenchmarkJWTSign.
func BenchmarkGolangJWTSign(b *testing.B) {
	c := benchClaims(time.Unix(1_700_000_000, 0))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(benchKey); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGolangJWTParseVerifyMapClaims is golang-jwt's common usage (and
// the anchor-bench.md row "HS256 parse+verify, MapClaims, WithValidMethods").
func BenchmarkGolangJWTParseVerifyMapClaims(b *testing.B) {
	now := time.Unix(1_700_000_000, 0)
	token, err := jwt.NewWithClaims(jwt.SigningMethodHS256, benchClaims(now)).SignedString(benchKey)
	if err != nil {
		b.Fatal(err)
	}
	p := jwt.NewParser(jwt.WithValidMethods([]string{"HS256"}), jwt.WithTimeFunc(func() time.Time { return now }))
	keyFunc := func(*jwt.Token) (any, error) { return benchKey, nil }
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Parse(token, keyFunc); err != nil {
			b.Fatal(err)
		}
	}
}
