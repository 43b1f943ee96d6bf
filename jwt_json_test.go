package rip

import (
	"errors"
	"strings"
	"testing"
)

// TestJWTScanClaims pins what the scanner decodes, beyond the rejections in
// TestJWTAttacks.
func TestJWTScanClaims(t *testing.T) {
	const tail = `,"iat":1,"exp":2}`
	tests := []struct {
		name    string
		payload string
		want    jwtClaims // OTPID and Email of an email_verification token
		err     error
	}{
		{"plain", `{"type":"email_verification","otp_id":"o","email":"a@b"` + tail, jwtClaims{OTPID: "o", Email: "a@b"}, nil},
		{"members in any order", `{"exp":2,"email":"a@b","iat":1,"otp_id":"o","type":"email_verification"}`, jwtClaims{OTPID: "o", Email: "a@b"}, nil},
		{"whitespace everywhere", " \t\r\n{ \"type\" : \"email_verification\" , \"otp_id\":\"o\",\"email\":\"a@b\",\"iat\" :1,\"exp\": 2 } \n", jwtClaims{OTPID: "o", Email: "a@b"}, nil},
		{"simple escapes", `{"type":"email_verification","otp_id":"\"\\\/\b\f\n\r\t","email":"a@b"` + tail, jwtClaims{OTPID: "\"\\/\b\f\n\r\t", Email: "a@b"}, nil},
		{"unicode escapes", `{"type":"email_verification","otp_id":"\u00e9\u20AC\ud83d\ude00\u0000","email":"a@b"` + tail, jwtClaims{OTPID: "é€😀\x00", Email: "a@b"}, nil},
		{"raw UTF-8", `{"type":"email_verification","otp_id":"é€😀","email":"a@b"` + tail, jwtClaims{OTPID: "é€😀", Email: "a@b"}, nil},
		{"escaped key", `{"\u0074ype":"email_verification","otp_id":"o","email":"a@b"` + tail, jwtClaims{OTPID: "o", Email: "a@b"}, nil},
		{"escaped type value", `{"type":"email\u005fverification","otp_id":"o","email":"a@b"` + tail, jwtClaims{OTPID: "o", Email: "a@b"}, nil},
		{"largest integer", `{"type":"email_verification","otp_id":"o","email":"a@b","iat":0,"exp":9007199254740991}`, jwtClaims{OTPID: "o", Email: "a@b", IssuedAt: 0, Expires: 1<<53 - 1}, nil},
		{"empty object", `{}`, jwtClaims{}, jwtErrMissing},
		{"empty", ``, jwtClaims{}, jwtErrNotObject},
		{"high surrogate then non-surrogate", `{"type":"email_verification","otp_id":"\ud83d\u0041","email":"a@b"` + tail, jwtClaims{}, jwtErrString},
		{"high surrogate at end", `{"type":"email_verification","otp_id":"\ud83d","email":"a@b"` + tail, jwtClaims{}, jwtErrString},
		{"short unicode escape", `{"type":"email_verification","otp_id":"\u00e","email":"a@b"` + tail, jwtClaims{}, jwtErrString},
		{"escape at end of input", `{"type":"email_verification","otp_id":"\`, jwtClaims{}, jwtErrString},
		{"invalid UTF-8 beside an escape", "{\"type\":\"email_verification\",\"otp_id\":\"\xc3\\n\",\"email\":\"a@b\"" + tail, jwtClaims{}, jwtErrUTF8},
		{"overlong UTF-8", "{\"type\":\"email_verification\",\"otp_id\":\"\xc0\xaf\",\"email\":\"a@b\"" + tail, jwtClaims{}, jwtErrUTF8},
		{"encoded surrogate in UTF-8", "{\"type\":\"email_verification\",\"otp_id\":\"\xed\xa0\x80\",\"email\":\"a@b\"" + tail, jwtClaims{}, jwtErrUTF8},
		{"missing colon", `{"type" "email_verification"}`, jwtClaims{}, jwtErrSyntax},
		{"missing comma", `{"type":"email_verification" "otp_id":"o"}`, jwtClaims{}, jwtErrSyntax},
		{"single quotes", `{'type':'email_verification'}`, jwtClaims{}, jwtErrString},
		{"bare key", `{type:"email_verification"}`, jwtClaims{}, jwtErrString},
		{"NUL after object", `{"type":"email_verification","otp_id":"o","email":"a@b"` + tail + "\x00", jwtClaims{}, jwtErrTrailing},
		{"BOM before object", "\ufeff{}", jwtClaims{}, jwtErrNotObject},
		{"exp true", `{"type":"email_verification","otp_id":"o","email":"a@b","iat":1,"exp":true}`, jwtClaims{}, jwtErrInteger},
		{"exp -0", `{"type":"email_verification","otp_id":"o","email":"a@b","iat":1,"exp":-0}`, jwtClaims{}, jwtErrInteger},
		{"exp 2.0", `{"type":"email_verification","otp_id":"o","email":"a@b","iat":1,"exp":2.0}`, jwtClaims{}, jwtErrSyntax},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c jwtClaims
			err := jwtScanClaims(jwtEmailVerify, tt.payload, &c)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("err = %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.want.Expires == 0 {
				tt.want.IssuedAt, tt.want.Expires = 1, 2
			}
			if c != tt.want {
				t.Errorf("got %+v, want %+v", c, tt.want)
			}
			c.Type = jwtEmailVerify
			jwtCheckAgainstStdlib(t, []byte(tt.payload), &c)
		})
	}
}

// FuzzJWTScanClaims feeds raw payloads to the scanner for every purpose; what
// it accepts, encoding/json must read as the same claims.
func FuzzJWTScanClaims(f *testing.F) {
	f.Add(`{"type":"email_verification","otp_id":"o\u00e9","email":"a@b","iat":1,"exp":2}`)
	f.Add(jwtTestSession(jwtTestSessionTmpl))
	f.Add(`{"type":"oauth2_state","provider":"p","cv_hash":"h","nonce":"n","iat":0,"exp":9007199254740991}`)
	f.Add(`{"type":"email_change","otp_id":"\ud83d\ude00","user_id":"u","email":"e","new_email":"n","iat":1,"exp":2} `)
	f.Add(`{"a":[1,{"b":null}],"c":1e5,"d":-1}`)
	f.Fuzz(func(t *testing.T, payload string) {
		for _, p := range jwtTestPurposes {
			var c jwtClaims
			if jwtScanClaims(p, payload, &c) != nil {
				continue
			}
			c.Type = p
			jwtCheckAgainstStdlib(t, []byte(payload), &c)
			if !strings.Contains(payload, p.String()) && !strings.Contains(payload, `\u`) {
				t.Fatalf("accepted %q as %s without its type", payload, p)
			}
		}
	})
}
