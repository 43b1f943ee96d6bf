package rip

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// recordingMailer keeps every message it is given; it is the Mailer
// extension point used where a test is about rip's code logic rather than
// SMTP (the flows also run against Mailpit below).
type recordingMailer struct {
	mu   sync.Mutex
	sent []*Message
	fail error
	ch   chan *Message
}

func newRecordingMailer() *recordingMailer { return &recordingMailer{ch: make(chan *Message, 100)} }

func (m *recordingMailer) Send(ctx context.Context, msg *Message) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	m.sent = append(m.sent, msg)
	m.ch <- msg
	return nil
}

// next waits for the next message sent (the mail job runs on the
// scheduler) and fails the test after a deadline.
func (m *recordingMailer) next(t *testing.T) *Message {
	t.Helper()
	select {
	case msg := <-m.ch:
		return msg
	case <-time.After(10 * time.Second):
		t.Fatal("no mail was sent within 10 s")
		return nil
	}
}

// none checks that no message is sent within a short while.
func (m *recordingMailer) none(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case msg := <-m.ch:
		t.Fatalf("unexpected mail to %s: %q", msg.To, msg.Subject)
	case <-time.After(d):
	}
}

var otpCodeRE = regexp.MustCompile(`\b\d{6}\b`)

// mailCode extracts the one six-digit code of a mail body.
func mailCode(t *testing.T, body string) string {
	t.Helper()
	codes := otpCodeRE.FindAllString(body, -1)
	if len(codes) != 1 {
		t.Fatalf("mail has %d six-digit codes, want 1:\n%s", len(codes), body)
	}
	return codes[0]
}

// otpApp is an app with mail enabled through rec and fast password hashing.
func otpApp(t *testing.T, edit ...func(*Config)) (*testApp, string, *recordingMailer) {
	edits := append([]func(*Config){func(c *Config) {
		c.SMTP.Enabled = true
		c.SMTP.Host = "127.0.0.1"
		c.SMTP.FromAddress = "noreply@rip.test"
	}}, edit...)
	ta := newTestApp(t, edits...)
	ta.Hasher = fastHasher
	rec := newRecordingMailer()
	ta.Mailer = rec
	return ta, ta.serve(), rec
}

// registerVerified creates a verified account and returns a session token.
func registerVerified(t *testing.T, ta *testApp, url, email string) string {
	t.Helper()
	call(t, "POST", url+"/api/register-with-password", map[string]string{"identity": email, "password": goodPassword, "password_confirm": goodPassword}).
		expect(t, 202, codeOKPendingEmailVerification)
	ta.verify(email)
	return call(t, "POST", url+"/api/auth-with-password", map[string]string{"identity": email, "password": goodPassword}).
		expect(t, 200, codeOKAuthentication).auth(t).AccessToken
}

func (r reply) field(t *testing.T, name string) string {
	t.Helper()
	var m map[string]string
	if err := json.Unmarshal(r.Data, &m); err != nil || m[name] == "" {
		t.Fatalf("data %s has no %q: %v", r.Data, name, err)
	}
	return m[name]
}

// plaintextCodes counts rows of otps that still hold a plaintext code.
func (ta *testApp) plaintextCodes() int {
	ta.t.Helper()
	n := 0
	err := ta.Read(context.Background(), func(conn *sqlite.Conn) error {
		return sqlitex.Execute(conn, "SELECT count(*) FROM otps WHERE code IS NOT NULL", &sqlitex.ExecOptions{
			ResultFunc: func(s *sqlite.Stmt) error { n = s.ColumnInt(0); return nil }})
	})
	if err != nil {
		ta.t.Fatal(err)
	}
	return n
}

// waitNoPlaintext waits until no row holds a plaintext code (the mail job
// deletes it after the send).
func (ta *testApp) waitNoPlaintext() {
	ta.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for ta.plaintextCodes() != 0 {
		if time.Now().After(deadline) {
			ta.t.Fatalf("%d plaintext codes still stored", ta.plaintextCodes())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestEmailVerificationFlow(t *testing.T) {
	ta, url, rec := otpApp(t)
	reg := map[string]string{"identity": "vera@example.com", "password": goodPassword, "password_confirm": goodPassword}
	call(t, "POST", url+"/api/register-with-password", reg).expect(t, 202, codeOKPendingEmailVerification)
	req := func(pw string) reply {
		return call(t, "POST", url+"/api/request-email-verification-otp", map[string]string{"email": "Vera@Example.com", "password": pw})
	}
	req("wrong password!").expect(t, 400, codeErrInvalidInput)
	call(t, "POST", url+"/api/request-email-verification-otp", map[string]string{"email": "nobody@example.com", "password": goodPassword}).
		expect(t, 400, codeErrInvalidInput)
	tok := req(goodPassword).expect(t, 200, codeOKOTPTokenIssued).field(t, "verification_token")
	req(goodPassword).expect(t, 409, codeErrEmailOTPAlreadyRequested)
	msg := rec.next(t)
	if msg.To != "vera@example.com" || !strings.Contains(msg.Subject, "verification code") {
		t.Fatalf("mail to %s %q", msg.To, msg.Subject)
	}
	code := mailCode(t, msg.Text)
	ta.waitNoPlaintext()
	rec.none(t, 100*time.Millisecond) // the 409 sent nothing

	confirm := func(otp, token string) reply {
		return call(t, "POST", url+"/api/confirm-email-verification-otp", map[string]string{"otp": otp, "verification_token": token})
	}
	confirm(wrongCode(code), tok).expect(t, 401, codeErrInvalidOTP)
	d := confirm(code, tok).expect(t, 200, codeOKAuthentication).auth(t)
	if !d.Record.Verified || d.Record.Email != "vera@example.com" {
		t.Fatalf("record %+v", d.Record)
	}
	call(t, "POST", url+"/api/refresh-auth", nil, "Authorization: Bearer "+d.AccessToken).expect(t, 200, codeOKAuthentication)
	confirm(code, tok).expect(t, 401, codeErrInvalidOTP) // single use
	call(t, "POST", url+"/api/auth-with-password", map[string]string{"identity": "vera@example.com", "password": goodPassword}).
		expect(t, 200, codeOKAuthentication)
	req(goodPassword).expect(t, 202, codeOKAlreadyVerified)
}

// wrongCode returns a six-digit code other than code.
func wrongCode(code string) string {
	if code == "000000" {
		return "000001"
	}
	return "000000"
}

func TestPasswordResetFlow(t *testing.T) {
	ta, url, rec := otpApp(t)
	session := registerVerified(t, ta, url, "rosa@example.com")
	request := func(email string) reply {
		return call(t, "POST", url+"/api/request-password-reset-otp", map[string]string{"email": email})
	}
	tok := request("rosa@example.com").expect(t, 200, codeOKOTPTokenIssued).field(t, "verification_token")
	unknown := request("ghost@example.com").expect(t, 200, codeOKOTPTokenIssued)
	if got, want := jsonKeys(t, unknown.Data), jsonKeys(t, request("rosa@example.com").Data); got != want {
		t.Fatalf("unknown address answered keys %s, known %s", got, want)
	}
	msg := rec.next(t)
	if msg.To != "rosa@example.com" {
		t.Fatalf("mail to %s", msg.To)
	}
	code := mailCode(t, msg.Text)
	rec.none(t, 200*time.Millisecond) // nothing for the unknown address, nothing inside the cooldown

	verify := func(otp, token string) reply {
		return call(t, "POST", url+"/api/verify-password-reset-otp", map[string]string{"otp": otp, "verification_token": token})
	}
	verify(code, unknown.field(t, "verification_token")).expect(t, 401, codeErrInvalidOTP)
	grant := verify(code, tok).expect(t, 202, codeOKPasswordResetOTPVerified).field(t, "token")
	verify(code, tok).expect(t, 401, codeErrInvalidOTP)

	confirm := func(token, pw string) reply {
		return call(t, "POST", url+"/api/confirm-password-reset-otp", map[string]string{"token": token, "password": pw, "password_confirm": pw})
	}
	confirm(grant, "short").expect(t, 400, codeErrWeakPassword)
	confirm(tok, "a brand new passphrase").expect(t, 401, codeErrInvalidVerificationToken) // a code token is not a grant
	confirm(grant, "a brand new passphrase").expect(t, 200, codeOKPasswordReset)
	confirm(grant, "another new passphrase").expect(t, 401, codeErrInvalidVerificationToken) // single use
	call(t, "POST", url+"/api/refresh-auth", nil, "Authorization: Bearer "+session).expect(t, 401, codeErrInvalidToken)
	login := func(pw string) reply {
		return call(t, "POST", url+"/api/auth-with-password", map[string]string{"identity": "rosa@example.com", "password": pw})
	}
	login(goodPassword).expect(t, 401, codeErrInvalidCredentials)
	login("a brand new passphrase").expect(t, 200, codeOKAuthentication)
	if n := ta.plaintextCodes(); n != 0 {
		t.Fatalf("%d plaintext codes stored after the flow", n)
	}
}

// jsonKeys lists the keys of a JSON object, sorted, joined.
func jsonKeys(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	return strings.Join(keys, ",")
}

func TestEmailChangeFlow(t *testing.T) {
	ta, url, rec := otpApp(t)
	session := registerVerified(t, ta, url, "olga@example.com")
	registerVerified(t, ta, url, "taken@example.com")
	auth := "Authorization: Bearer " + session
	request := func(newEmail, pw string) reply {
		return call(t, "POST", url+"/api/request-email-change-otp", map[string]string{"new_email": newEmail, "password": pw}, auth)
	}
	request("new@example.com", "wrong password!").expect(t, 401, codeErrInvalidCredentials)
	request("olga@example.com", goodPassword).expect(t, 409, codeErrEmailConflict)
	request("not an email", goodPassword).expect(t, 400, codeErrInvalidInput)
	takenTok := request("taken@example.com", goodPassword).expect(t, 200, codeOKOTPTokenIssued).field(t, "verification_token")
	rec.none(t, 200*time.Millisecond) // no mail to another account's address
	tok := request("New@Example.com", goodPassword).expect(t, 200, codeOKOTPTokenIssued).field(t, "verification_token")
	msg := rec.next(t)
	if msg.To != "new@example.com" {
		t.Fatalf("code mailed to %s, want the new address", msg.To)
	}
	code := mailCode(t, msg.Text)

	confirm := func(otp, token, bearer string) reply {
		return call(t, "POST", url+"/api/confirm-email-change-otp", map[string]string{"otp": otp, "verification_token": token}, "Authorization: Bearer "+bearer)
	}
	other := call(t, "POST", url+"/api/auth-with-password", map[string]string{"identity": "taken@example.com", "password": goodPassword}).auth(t).AccessToken
	confirm(code, tok, other).expect(t, 401, codeErrInvalidOTP) // another account's session
	confirm(code, takenTok, session).expect(t, 401, codeErrInvalidOTP)
	confirm(code, tok, session).expect(t, 200, codeOKEmailChange)
	alert := rec.next(t)
	if alert.To != "olga@example.com" || !strings.Contains(alert.Text, "new@example.com") {
		t.Fatalf("alert to %s:\n%s", alert.To, alert.Text)
	}
	confirm(code, tok, session).expect(t, 401, codeErrInvalidToken) // the session died with the change
	call(t, "POST", url+"/api/auth-with-password", map[string]string{"identity": "new@example.com", "password": goodPassword}).
		expect(t, 200, codeOKAuthentication)
	call(t, "POST", url+"/api/auth-with-password", map[string]string{"identity": "olga@example.com", "password": goodPassword}).
		expect(t, 401, codeErrInvalidCredentials)
}

// TestOTPGuessesBurnTheCode: five wrong guesses burn a code (the right one
// then fails too), and wrong guesses across codes hit the account budget.
func TestOTPGuessesBurnTheCode(t *testing.T) {
	ta, url, rec := otpApp(t, func(c *Config) { c.RateLimits.PasswordResetCooldown = time.Second })
	registerVerified(t, ta, url, "bea@example.com")
	clock := ta.clock
	issue := func() (string, string) {
		tok := call(t, "POST", url+"/api/request-password-reset-otp", map[string]string{"email": "bea@example.com"}).field(t, "verification_token")
		return tok, mailCode(t, rec.next(t).Text)
	}
	verify := func(otp, token string) reply {
		return call(t, "POST", url+"/api/verify-password-reset-otp", map[string]string{"otp": otp, "verification_token": token})
	}
	tok, code := issue()
	for range otpMaxAttempts {
		verify(wrongCode(code), tok).expect(t, 401, codeErrInvalidOTP)
	}
	verify(code, tok).expect(t, 401, codeErrInvalidOTP) // burned: charged too

	// 20 free failures a day and one more answered: then the account is
	// refused before any code is looked at, even a fresh right one.
	for guesses := otpMaxAttempts + 1; guesses <= budgetOTPAccount.Free; {
		clock.Advance(2 * time.Second)
		tok, code = issue()
		for i := 0; i < otpMaxAttempts && guesses <= budgetOTPAccount.Free; i++ {
			verify(wrongCode(code), tok).expect(t, 401, codeErrInvalidOTP)
			guesses++
		}
	}
	clock.Advance(2 * time.Second)
	tok, code = issue()
	verify(code, tok).expect(t, 429, codeErrTooManyRequests)
}

// TestOTPHostileInput: codes that are not exactly six ASCII digits, tokens
// of other purposes, forged and oversized tokens, and missing fields.
func TestOTPHostileInput(t *testing.T) {
	ta, url, rec := otpApp(t)
	registerVerified(t, ta, url, "hal@example.com")
	resetTok := call(t, "POST", url+"/api/request-password-reset-otp", map[string]string{"email": "hal@example.com"}).field(t, "verification_token")
	code := mailCode(t, rec.next(t).Text)
	verify := func(otp, token string) reply {
		return call(t, "POST", url+"/api/verify-password-reset-otp", map[string]string{"otp": otp, "verification_token": token})
	}
	for _, otp := range []string{" " + code, code + " ", code[:5], code + "0", "１２３４５６", "12345\x00", "-12345", "1e5000", "abcdef"} {
		verify(otp, resetTok).expect(t, 401, codeErrInvalidOTP)
	}
	// The same code through the verification endpoint: wrong purpose.
	call(t, "POST", url+"/api/confirm-email-verification-otp", map[string]string{"otp": code, "verification_token": resetTok}).
		expect(t, 401, codeErrInvalidOTP)
	for _, tok := range []string{"", "x", strings.Repeat("A", 5000), resetTok + "A", "a.b.c"} {
		r := verify(code, tok)
		if r.HTTP != 400 && r.HTTP != 401 {
			t.Fatalf("token %.20q: %d %s", tok, r.HTTP, r.Code)
		}
	}
	call(t, "POST", url+"/api/verify-password-reset-otp", map[string]any{"otp": 123456, "verification_token": resetTok}).expect(t, 400, codeErrInvalidInput)
	call(t, "POST", url+"/api/request-password-reset-otp", map[string]string{}).expect(t, 400, codeErrMissingFields)
	call(t, "POST", url+"/api/request-password-reset-otp", map[string]string{"email": "a@b.c\r\nBcc: x@y.z"}).expect(t, 400, codeErrInvalidInput)
	call(t, "POST", url+"/api/confirm-password-reset-otp", map[string]string{"token": "x", "password": "p1 long enough", "password_confirm": "p2 long enough"}).
		expect(t, 400, codeErrPasswordMismatch)
	// The right code still works: none of the above counted as a guess
	// against it, except format-valid wrong ones.
	verify(code, resetTok).expect(t, 202, codeOKPasswordResetOTPVerified)
}

// TestOTPDiesWithTokenKey: a code issued before logout-all (token_key
// rotation) no longer verifies.
func TestOTPDiesWithTokenKey(t *testing.T) {
	ta, url, rec := otpApp(t)
	session := registerVerified(t, ta, url, "ida@example.com")
	tok := call(t, "POST", url+"/api/request-password-reset-otp", map[string]string{"email": "ida@example.com"}).field(t, "verification_token")
	code := mailCode(t, rec.next(t).Text)
	call(t, "POST", url+"/api/logout-all", nil, "Authorization: Bearer "+session).expect(t, 200, codeOKLogoutAll)
	call(t, "POST", url+"/api/verify-password-reset-otp", map[string]string{"otp": code, "verification_token": tok}).expect(t, 401, codeErrInvalidOTP)
}

// TestMailDisabledScrubsCode: with smtp.enabled false (the default) the
// mail job fails at once, permanently, and the code is deleted.
func TestMailDisabledScrubsCode(t *testing.T) {
	ta := newTestApp(t)
	ta.Hasher = fastHasher
	url := ta.serve()
	registerVerified(t, ta, url, "dora@example.com")
	call(t, "POST", url+"/api/request-password-reset-otp", map[string]string{"email": "dora@example.com"}).expect(t, 200, codeOKOTPTokenIssued)
	ta.waitNoPlaintext()
	var status, lastErr string
	deadline := time.Now().Add(10 * time.Second)
	for status != jobFailed && time.Now().Before(deadline) {
		err := ta.Read(context.Background(), func(conn *sqlite.Conn) error {
			return sqlitex.Execute(conn, "SELECT status, last_error FROM job_queue WHERE type = ?", &sqlitex.ExecOptions{
				Args: []any{jobTypeMail}, ResultFunc: func(s *sqlite.Stmt) error { status, lastErr = s.ColumnText(0), s.ColumnText(1); return nil }})
		})
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if status != jobFailed || !strings.Contains(lastErr, "smtp.enabled is false") {
		t.Fatalf("mail job %s: %q", status, lastErr)
	}
}

// TestOTPCodeUniform draws codes and checks the digits look uniform and
// every code has exactly six ASCII digits.
func TestOTPCodeUniform(t *testing.T) {
	var counts [10]int
	const n = 20000
	for range n {
		c := otpNewCode()
		if !otpValidCode(c) {
			t.Fatalf("code %q", c)
		}
		for i := range c {
			counts[c[i]-'0']++
		}
	}
	for d, k := range counts {
		// Expected 12,000 per digit; 6 sigma is about 650.
		if k < 11300 || k > 12700 {
			t.Fatalf("digit %d drawn %d times of %d", d, k, 6*n)
		}
	}
}

// TestFlowsMailpit runs verification, reset and e-mail change end to end
// against Mailpit (a real SMTP server with STARTTLS and AUTH), reading each
// code from the delivered mail.
func TestFlowsMailpit(t *testing.T) {
	addr := mailpitEnv(t, "RIP_TEST_SMTP_ADDR", "RIP_TEST_SMTP_API")
	smtpCfg, tlsCfg := mailpitConfig(t, addr[0])
	inbox := newMailpitClient(addr[1])
	ta := newTestApp(t, func(c *Config) { c.SMTP = smtpCfg })
	ta.Hasher = fastHasher
	ta.Mailer = &SMTPMailer{Config: func() SMTPConfig { return ta.Config().SMTP }, TLSConfig: tlsCfg}
	url := ta.serve()
	var rnd [4]byte
	rand.Read(rnd[:])
	user := "flow-" + hex.EncodeToString(rnd[:]) + "@example.com"
	fetch := func(to, subject string) string {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			body, err := mailpitBodyTo(inbox, to, subject)
			if err == nil {
				return body
			}
			if time.Now().After(deadline) {
				t.Fatalf("mail to %s %q: %v", to, subject, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	call(t, "POST", url+"/api/register-with-password", map[string]string{"identity": user, "password": goodPassword, "password_confirm": goodPassword}).
		expect(t, 202, codeOKPendingEmailVerification)
	tok := call(t, "POST", url+"/api/request-email-verification-otp", map[string]string{"email": user, "password": goodPassword}).
		expect(t, 200, codeOKOTPTokenIssued).field(t, "verification_token")
	code := mailCode(t, fetch(user, "verification code"))
	session := call(t, "POST", url+"/api/confirm-email-verification-otp", map[string]string{"otp": code, "verification_token": tok}).
		expect(t, 200, codeOKAuthentication).auth(t).AccessToken

	tok = call(t, "POST", url+"/api/request-password-reset-otp", map[string]string{"email": user}).field(t, "verification_token")
	code = mailCode(t, fetch(user, "password reset code"))
	grant := call(t, "POST", url+"/api/verify-password-reset-otp", map[string]string{"otp": code, "verification_token": tok}).
		expect(t, 202, codeOKPasswordResetOTPVerified).field(t, "token")
	call(t, "POST", url+"/api/confirm-password-reset-otp", map[string]string{"token": grant, "password": "fresh passphrase 1", "password_confirm": "fresh passphrase 1"}).
		expect(t, 200, codeOKPasswordReset)
	call(t, "POST", url+"/api/refresh-auth", nil, "Authorization: Bearer "+session).expect(t, 401, codeErrInvalidToken)
	session = call(t, "POST", url+"/api/auth-with-password", map[string]string{"identity": user, "password": "fresh passphrase 1"}).auth(t).AccessToken

	moved := "moved-" + user
	tok = call(t, "POST", url+"/api/request-email-change-otp", map[string]string{"new_email": moved, "password": "fresh passphrase 1"}, "Authorization: Bearer "+session).
		expect(t, 200, codeOKOTPTokenIssued).field(t, "verification_token")
	code = mailCode(t, fetch(moved, "email change code"))
	call(t, "POST", url+"/api/confirm-email-change-otp", map[string]string{"otp": code, "verification_token": tok}, "Authorization: Bearer "+session).
		expect(t, 200, codeOKEmailChange)
	if alert := fetch(user, "security alert"); !strings.Contains(alert, moved) {
		t.Fatalf("alert does not name the new address:\n%s", alert)
	}
	ta.waitNoPlaintext()
}

// mailpitBodyTo returns the text body of the newest message to addr whose
// subject contains subject.
func mailpitBodyTo(c *mailpitClient, addr, subject string) (string, error) {
	var list struct{ Messages []mailpitMessage }
	if err := c.get("/api/v1/search?query="+url.QueryEscape(`to:"`+addr+`"`), &list); err != nil {
		return "", err
	}
	for _, m := range list.Messages {
		if strings.Contains(m.Subject, subject) && len(m.To) == 1 && m.To[0].Address == addr {
			var msg mailpitMessage
			if err := c.get("/api/v1/message/"+m.ID, &msg); err != nil {
				return "", err
			}
			return msg.Text, nil
		}
	}
	return "", errors.New("not delivered yet")
}

// mailJobState returns the status, attempts and last error of the only
// rip.mail job.
func (ta *testApp) mailJobState() (status string, attempts int, lastErr string) {
	ta.t.Helper()
	err := ta.Read(context.Background(), func(conn *sqlite.Conn) error {
		return sqlitex.Execute(conn, "SELECT status, attempts, last_error FROM job_queue WHERE type = ?", &sqlitex.ExecOptions{
			Args: []any{jobTypeMail}, ResultFunc: func(s *sqlite.Stmt) error {
				status, attempts, lastErr = s.ColumnText(0), s.ColumnInt(1), s.ColumnText(2)
				return nil
			}})
	})
	if err != nil {
		ta.t.Fatal(err)
	}
	return status, attempts, lastErr
}

// TestMailJobOutcomes runs the reset mail against an in-process SMTP
// server: a 550 fails the job after one attempt and deletes the code; a
// 452 keeps the job for a retry with its error recorded.
func TestMailJobOutcomes(t *testing.T) {
	for _, tc := range []struct {
		name, reply, status string
		scrubbed            bool
	}{
		{"550 is permanent", "550 no such user", jobFailed, true},
		{"452 is retried", "452 mailbox full", jobPending, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newMailFake(t, mailFakeOptions{replies: map[string]string{"RCPT": tc.reply}})
			ta := newTestApp(t, func(c *Config) {
				c.SMTP = SMTPConfig{Enabled: true, Host: "127.0.0.1", Port: f.port(), FromAddress: "noreply@rip.test",
					AuthMethod: mailAuthNone, Timeout: 5 * time.Second}
			})
			ta.Hasher = fastHasher
			url := ta.serve()
			registerVerified(t, ta, url, "max@example.com")
			call(t, "POST", url+"/api/request-password-reset-otp", map[string]string{"email": "max@example.com"}).expect(t, 200, codeOKOTPTokenIssued)
			deadline := time.Now().Add(10 * time.Second)
			for {
				status, attempts, lastErr := ta.mailJobState()
				if attempts == 1 && status != jobRunning {
					if status != tc.status || !strings.Contains(lastErr, tc.reply[:3]) {
						t.Fatalf("job %s after %d attempt(s): %q", status, attempts, lastErr)
					}
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("job still %s after %d attempt(s)", status, attempts)
				}
				time.Sleep(10 * time.Millisecond)
			}
			if got := ta.plaintextCodes() == 0; got != tc.scrubbed {
				t.Fatalf("code scrubbed = %v, want %v", got, tc.scrubbed)
			}
		})
	}
}

// TestOTPRepeatRequestUsesMailedCode: a repeat request inside the cooldown
// sends no mail and answers a token with a new id, which still verifies the
// code mailed for the first request (an alias row); the code stays single
// use across both tokens.
func TestOTPRepeatRequestUsesMailedCode(t *testing.T) {
	ta, url, rec := otpApp(t)
	registerVerified(t, ta, url, "rita@example.com")
	request := func() string {
		return call(t, "POST", url+"/api/request-password-reset-otp", map[string]string{"email": "rita@example.com"}).
			expect(t, 200, codeOKOTPTokenIssued).field(t, "verification_token")
	}
	first := request()
	code := mailCode(t, rec.next(t).Text)
	second := request()
	rec.none(t, 100*time.Millisecond)
	if first == second {
		t.Fatal("the repeat request got the same token")
	}
	verify := func(tok string) reply {
		return call(t, "POST", url+"/api/verify-password-reset-otp", map[string]string{"otp": code, "verification_token": tok})
	}
	verify(second).expect(t, 202, codeOKPasswordResetOTPVerified)
	verify(first).expect(t, 401, codeErrInvalidOTP)
}
