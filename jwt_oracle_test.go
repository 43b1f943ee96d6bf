package rip

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"testing"
	"time"
)

// jwtVectorFile is the exchange format between TestJWTOracleVectors and the
// golang-jwt oracle in interop/jwtoracle (run both with jwt-oracle.sh).
type jwtVectorFile struct {
	Issuer  string      `json:"issuer"` // "rip" or "golang-jwt"
	Now     int64       `json:"now"`    // the clock both sides verify at
	Vectors []jwtVector `json:"vectors"`
}

type jwtVector struct {
	Name    string         `json:"name"`
	Purpose string         `json:"purpose"` // the type claim value
	KeyHex  string         `json:"key_hex"`
	Token   string         `json:"token"`
	Claims  map[string]any `json:"claims"` // the claims the token carries
	// Valid says whether the issuer meant the token to satisfy rip's rules;
	// the oracle sets it to false for tokens rip must refuse.
	Valid bool `json:"valid"`
	// OracleAccepts is golang-jwt's own verdict on a foreign token. rip may
	// be stricter than golang-jwt, never looser.
	OracleAccepts bool `json:"oracle_accepts"`
}

// jwtVectorMinForeign is the least number of foreign vectors the test
// expects, so that an empty or truncated file cannot pass.
const jwtVectorMinForeign = 20

// TestJWTOracleVectors exchanges tokens with golang-jwt v5. With
// RIP_JWT_VECTORS=path it writes tokens rip signed (for the oracle to
// verify); with RIP_JWT_FOREIGN=path it verifies tokens golang-jwt signed.
// jwt-oracle.sh runs both directions.
func TestJWTOracleVectors(t *testing.T) {
	out, in := os.Getenv("RIP_JWT_VECTORS"), os.Getenv("RIP_JWT_FOREIGN")
	if out == "" && in == "" {
		t.Skip("SKIPPED: the golang-jwt oracle needs RIP_JWT_VECTORS / RIP_JWT_FOREIGN; run ./jwt-oracle.sh (needs the Go module proxy for github.com/golang-jwt/jwt/v5)")
	}
	if out != "" {
		jwtWriteVectors(t, out)
	}
	if in != "" {
		jwtCheckForeign(t, in)
	}
}

// jwtWriteVectors signs tokens of every purpose, plain and with strings that
// need escaping, and writes them with their keys and claims.
func jwtWriteVectors(t *testing.T, path string) {
	f := jwtVectorFile{Issuer: "rip", Now: jwtTestNow.Unix()}
	for _, p := range jwtTestPurposes {
		for _, variant := range []string{"plain", "escapes", "unicode"} {
			c := jwtTestClaims(p)
			for i := range jwtClaimTable {
				if s, _ := c.field(i); s != nil && *s != "" {
					switch variant {
					case "escapes":
						*s += "\"\\/\b\f\n\r\t\x00\x1f<>&"
					case "unicode":
						*s += "é\u2028\U0001F600"
					}
				}
			}
			key := jwtTestSecret(p)
			if p == jwtSession {
				key = jwtTestSessionKey()
			}
			tok, err := jwtSign(p, key, &c)
			if err != nil {
				t.Fatal(err)
			}
			f.Vectors = append(f.Vectors, jwtVector{
				Name: p.String() + "/" + variant, Purpose: p.String(), KeyHex: hex.EncodeToString(key),
				Token: tok, Claims: jwtClaimsMap(&c), Valid: true,
			})
		}
	}
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %d rip-signed tokens to %s", len(f.Vectors), path)
}

// jwtClaimsMap returns c's claims as the JSON object rip writes.
func jwtClaimsMap(c *jwtClaims) map[string]any {
	m := map[string]any{"type": c.Type.String()}
	for i, cl := range jwtClaimTable[1:] {
		if jwtPurposes[c.Type].claims&(2<<i) == 0 {
			continue
		}
		if s, n := c.field(i + 1); s != nil {
			m[cl.name] = *s
		} else {
			m[cl.name] = *n
		}
	}
	return m
}

// jwtCheckForeign verifies every golang-jwt token: valid ones must pass with
// identical claims, and none may pass that golang-jwt itself refuses or that
// the oracle built to break a rip rule.
func jwtCheckForeign(t *testing.T, path string) {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("RIP_JWT_FOREIGN: %v", err)
	}
	var f jwtVectorFile
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("RIP_JWT_FOREIGN: %v", err)
	}
	if f.Issuer != "golang-jwt" || len(f.Vectors) < jwtVectorMinForeign {
		t.Fatalf("RIP_JWT_FOREIGN holds %d vectors from %q, want at least %d from golang-jwt", len(f.Vectors), f.Issuer, jwtVectorMinForeign)
	}
	now := time.Unix(f.Now, 0)
	accepted, refused := 0, 0
	for _, v := range f.Vectors {
		t.Run(v.Name, func(t *testing.T) {
			p, ok := jwtPurposeByType(v.Purpose)
			key, err := hex.DecodeString(v.KeyHex)
			if !ok || err != nil {
				t.Fatalf("bad vector: purpose %q, key %v", v.Purpose, err)
			}
			var c jwtClaims
			err = jwtParse(p, v.Token, &c)
			if err == nil {
				err = jwtVerify(v.Token, key, &c, now)
			}
			switch {
			case err == nil && !v.OracleAccepts:
				t.Fatalf("rip accepts %q, which golang-jwt refuses: rip must never be looser", v.Token)
			case err == nil && !v.Valid:
				t.Fatalf("rip accepts %q, built to break a rip rule", v.Token)
			case err != nil && v.Valid:
				t.Fatalf("rip refuses golang-jwt's valid %s token %q: %v", v.Purpose, v.Token, err)
			case err != nil:
				refused++
				t.Logf("refused as expected: %v", err)
				return
			}
			accepted++
			if got, want := jwtJSONText(t, jwtClaimsMap(&c)), jwtJSONText(t, v.Claims); got != want {
				t.Errorf("claims differ:\n rip  %s\n want %s", got, want)
			}
		})
	}
	t.Logf("golang-jwt tokens: %d accepted, %d refused", accepted, refused)
}

func jwtPurposeByType(typ string) (jwtPurpose, bool) {
	for p := jwtSession; p.valid(); p++ {
		if p.String() == typ {
			return p, true
		}
	}
	return 0, false
}

// jwtJSONText renders claims canonically: json.Marshal sorts map keys and
// writes an integer the same whether it arrived as int64 or float64.
func jwtJSONText(t *testing.T, m map[string]any) string {
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
