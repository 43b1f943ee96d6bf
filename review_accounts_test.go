package rip

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// reviewOTPID decodes the (unencrypted, readable by anyone) payload of a
// code token and returns its otp_id claim.
func reviewOTPID(t *testing.T, tok string) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q has %d segments", tok, len(parts))
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		OTPID string `json:"otp_id"`
	}
	if err := json.Unmarshal(raw, &c); err != nil || c.OTPID == "" {
		t.Fatalf("payload %s: %v", raw, err)
	}
	return c.OTPID
}

// TestReviewResetRequestRevealsAccountsByOTPID: request-password-reset-otp
// promises the same answer for every address (README "Requests for unknown
// addresses get the same answer"; handleRequestPasswordReset # Security).
// The token's payload is plain base64 JSON and carries otp_id. Inside the
// cooldown, otpIssue/otpRecent hand a verified account the id of the live
// row it already mailed, while unknown (and unverified) addresses get a new
// row, so a new id, on every request.
//
// Attack: an anonymous client posts the victim address twice and compares
// the two otp_id claims: equal → a verified account exists; different → no
// account (or an unverified one). One request pair per address, no
// password, no mailbox needed.
//
// Expected: the relation between the ids of two back-to-back answers is the
// same for a verified account and for an unknown address.
func TestReviewResetRequestRevealsAccountsByOTPID(t *testing.T) {
	ta, url, rec := otpApp(t)
	registerVerified(t, ta, url, "known@example.com")
	request := func(email string) string {
		return reviewOTPID(t, call(t, "POST", url+"/api/request-password-reset-otp", map[string]string{"email": email}).
			expect(t, 200, codeOKOTPTokenIssued).field(t, "verification_token"))
	}
	k1, k2 := request("known@example.com"), request("known@example.com")
	rec.next(t)
	u1, u2 := request("ghost@example.com"), request("ghost@example.com")
	knownSame, unknownSame := k1 == k2, u1 == u2
	if knownSame != unknownSame {
		t.Fatalf("two requests for a verified account share otp_id=%v, for an unknown address %v: the token reveals which addresses have accounts",
			knownSame, unknownSame)
	}
}

// TestReviewEmailChangeRevealsTakenAddressByOTPID: request-email-change-otp
// promises that "an address that belongs to another account gets the same
// answer and no mail, so the endpoint does not reveal accounts". A free
// address's row is mailed (sent = 1), so a repeat inside the cooldown gets
// the same otp_id back; a taken address's row is never "sent", so every
// repeat gets a fresh otp_id.
//
// Attack: any signed-in user (their own password is all it takes) probes
// arbitrary addresses, two requests each, and learns which are registered.
//
// Expected: the otp_id relation of two requests is the same for a taken and
// for a free address.
func TestReviewEmailChangeRevealsTakenAddressByOTPID(t *testing.T) {
	ta, url, rec := otpApp(t)
	session := registerVerified(t, ta, url, "prober@example.com")
	registerVerified(t, ta, url, "victim@example.com")
	request := func(newEmail string) string {
		return reviewOTPID(t, call(t, "POST", url+"/api/request-email-change-otp", map[string]string{"new_email": newEmail, "password": goodPassword},
			"Authorization: Bearer "+session).expect(t, 200, codeOKOTPTokenIssued).field(t, "verification_token"))
	}
	f1, f2 := request("free@example.com"), request("free@example.com")
	rec.next(t)
	t1, t2 := request("victim@example.com"), request("victim@example.com")
	freeSame, takenSame := f1 == f2, t1 == t2
	if freeSame != takenSame {
		t.Fatalf("two requests for a free address share otp_id=%v, for a taken address %v: the endpoint reveals registered addresses",
			freeSame, takenSame)
	}
}

// TestReviewLoginBudgetRaceBypass: budgetCheck (a read) and budgetFailConn
// (the charge, in a later write) are separate steps with the password hash
// in between, so N concurrent wrong-password logins all pass the check
// before the first is charged. The per-account budget (5 free failures,
// then a doubling wait from 2 s) is meant to allow at most Free+1 answered
// guesses in a burst; a concurrent burst gets one guess per request. The
// same check-then-charge pattern is used by the OTP account budget (the
// "≈20 guesses a day" bound of otpAttempt), registration and OAuth2.
//
// Attack: send 25 wrong passwords for one account at once (under the
// 30-per-address budget, or from several addresses): every one is hashed
// and answered 401, instead of 6 answered and the rest 429.
//
// Expected: at most budgetLoginAccount.Free+1 of the burst are answered
// 401 err_invalid_credentials; the rest are 429.
func TestReviewLoginBudgetRaceBypass(t *testing.T) {
	ta, url := newAuthApp(t)
	call(t, "POST", url+"/api/register-with-password", map[string]string{"identity": "eve@example.com", "password": goodPassword, "password_confirm": goodPassword})
	ta.verify("eve@example.com")
	const n = 25
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n}}
	defer client.CloseIdleConnections()
	var mu sync.Mutex
	counts := map[int]int{}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			req, _ := http.NewRequest("POST", url+"/api/auth-with-password", strings.NewReader(`{"identity":"eve@example.com","password":"wrong password!"}`))
			req.Header.Set("Content-Type", "application/json")
			resp, err := client.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			mu.Lock()
			counts[resp.StatusCode]++
			mu.Unlock()
		}()
	}
	close(start)
	wg.Wait()
	if got, limit := counts[401], budgetLoginAccount.Free+1; got > limit {
		t.Fatalf("%d of %d concurrent wrong passwords were checked (statuses %v); the account budget allows %d", got, n, counts, limit)
	}
}

// TestReviewAttemptBudgetRowsNeverExpire: every failed login inserts an
// attempt_budgets row keyed by the attacker-chosen (normalised) e-mail, and
// nothing ever deletes a row except a successful login of that same key.
// There is no purge (otpPurge, the only recurrent cleanup, ignores the
// table), so rows for addresses nobody owns accumulate forever: ~30 per
// address per 15 min, and an IPv6 attacker has 2^16 /64s in a /48.
//
// Expected: once a row's window and block are over it carries no
// information (budgetFailConn resets the count after Window) and the
// recurrent maintenance removes it.
func TestReviewAttemptBudgetRowsNeverExpire(t *testing.T) {
	ta, url, _ := otpApp(t)
	for i := range 10 {
		call(t, "POST", url+"/api/auth-with-password", map[string]string{"identity": "x" + itoa(int64(i)) + "@nobody.example", "password": "wrong password!"}).
			expect(t, 401, codeErrInvalidCredentials)
	}
	// An otps row, so we can see the purge job run.
	call(t, "POST", url+"/api/request-password-reset-otp", map[string]string{"email": "ghost@example.com"}).expect(t, 200, codeOKOTPTokenIssued)
	count := func(table string) int {
		n := 0
		err := ta.Read(context.Background(), func(conn *sqlite.Conn) error {
			return sqlitex.Execute(conn, "SELECT count(*) FROM "+table, &sqlitex.ExecOptions{
				ResultFunc: func(s *sqlite.Stmt) error { n = s.ColumnInt(0); return nil }})
		})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	ta.clock.Advance(3 * 24 * time.Hour)
	deadline := time.Now().Add(15 * time.Second)
	for count("otps") != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the otp purge job did not run")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := count("attempt_budgets"); n != 0 {
		t.Fatalf("%d attempt_budgets rows remain three days after their last failure, after the purge ran", n)
	}
}

// TestReviewLogoutAllCacheRefilledBeforeCommit: rotateTokenKey deletes the
// user's cache entry with a defer, i.e. when it returns, inside the
// caller's transaction and before the COMMIT. A request that authenticates
// in that window (the rest of the transaction: the commit's fsync, and in
// confirm-email-change the mail enqueue, in the OAuth2 take-over the
// identity insert) misses the cache, reads the still-committed old row
// through a reader connection and caches it, with the old token_key, for
// userCacheTTL. Once the logout-all (or reset, e-mail change, take-over)
// has answered, the revoked session keeps working for up to 5 s, against
// the documented "writes in process invalidate at once".
//
// Attack: a thief polling with a stolen token races the owner's
// logout-all and keeps a working session (and can refresh it) after the
// owner was told every session ended.
//
// Expected: once the rotating transaction committed, the old token is 401.
func TestReviewLogoutAllCacheRefilledBeforeCommit(t *testing.T) {
	ta, url, _ := otpApp(t)
	session := registerVerified(t, ta, url, "zoe@example.com")
	u, err := ta.userByEmail(context.Background(), "zoe@example.com")
	if err != nil {
		t.Fatal(err)
	}
	refresh := func() reply {
		return call(t, "POST", url+"/api/refresh-auth", nil, "Authorization: Bearer "+session)
	}
	refresh().expect(t, 200, codeOKAuthentication)
	// The owner's logout-all, with the thief's request landing between
	// rotateTokenKey's cache delete and the commit.
	err = ta.Write(context.Background(), func(conn *sqlite.Conn) error {
		if err := ta.rotateTokenKey(conn, u.ID); err != nil {
			return err
		}
		refresh() // still the committed old key: any answer is fine here
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	refresh().expect(t, 401, codeErrInvalidToken)
}

// TestReviewNormalizeEmailUnicode: normalizeEmail promises "one canonical
// form per mailbox" but accepts non-ASCII addresses that the mail layer
// (mailParseAddress: "must be ASCII") can never reach, and lower-cases them
// with Unicode case mapping:
//   - "jos\u00e9@" (NFC) and "jose\u0301@" (NFD) are the same mailbox as
//     typed, yet become two distinct accounts (no NFC step);
//   - the Kelvin sign U+212A lower-cases to ASCII "k", so an address that is
//     a different mailbox ("\u212Aate@example.com") is folded onto
//     "kate@example.com". Through the OAuth2 path, an identity provider that
//     verified the Kelvin-sign address creates (or takes over the unverified
//     account of) kate@example.com: a pre-hijack of someone else's address.
//
// Expected: input with any non-ASCII byte is refused (400
// err_invalid_input), matching what mail can be sent to; at the least no
// non-ASCII input may normalise to a different ASCII address.
func TestReviewNormalizeEmailUnicode(t *testing.T) {
	if got, ok := normalizeEmail("\u212Aate@example.com"); ok && got == "kate@example.com" {
		t.Errorf("Kelvin-sign address normalised onto another mailbox %q", got)
	}
	nfc, ok1 := normalizeEmail("jos\u00e9@example.com")
	nfd, ok2 := normalizeEmail("jose\u0301@example.com")
	if ok1 && ok2 && nfc != nfd {
		t.Errorf("one mailbox, two canonical forms: %q and %q", nfc, nfd)
	}
	_, url := newAuthApp(t)
	call(t, "POST", url+"/api/register-with-password", map[string]string{"identity": "jos\u00e9@example.com", "password": goodPassword, "password_confirm": goodPassword}).
		expect(t, 400, codeErrInvalidInput) // no code could ever be mailed to it
}
