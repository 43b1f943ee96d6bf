package main

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ripkit/rip"
)

// registerUsers creates accounts through rip's own register endpoint, then
// closes the app so ripc works on the data directory alone.
func registerUsers(t *testing.T, dir string, emails ...string) {
	t.Helper()
	app, err := rip.New(rip.Options{DB: filepath.Join(dir, "app.db"), Create: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	app.Hasher = rip.Argon2id{MemoryKiB: 64, Time: 1, Threads: 1}
	srv := httptest.NewServer(app.Handler())
	for _, e := range emails {
		body := `{"identity":"` + e + `","password":"correct horse battery","password_confirm":"correct horse battery"}`
		resp, err := http.Post(srv.URL+"/api/register-with-password", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 202 {
			t.Fatalf("register %s: %d", e, resp.StatusCode)
		}
	}
	srv.Close()
	app.Close()
}

func TestUserCommands(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if code, _, errs := ripc(t, dir, "user", "list"); code != 1 || !strings.Contains(errs, "ripc config init") {
		t.Fatalf("list before init: exit %d, %s", code, errs)
	}
	registerUsers(t, dir, "ann@example.com", "bob@example.com")
	for _, tc := range []struct {
		name     string
		args     []string
		code     int
		contains string
	}{
		{"list", []string{"user", "list"}, 0, "ann@example.com"},
		{"list match", []string{"user", "list", "--match", "bob"}, 0, "bob@example.com"},
		{"list bad limit", []string{"user", "list", "--limit", "0"}, 2, "--limit must be positive"},
		{"list limit not a number", []string{"user", "list", "--limit", "x"}, 2, "invalid value"},
		{"revoke", []string{"user", "revoke", "ANN@example.com"}, 0, "revoked every session"},
		{"revoke unknown", []string{"user", "revoke", "nobody@example.com"}, 1, "no account"},
		{"revoke not an email", []string{"user", "revoke", "a\r\nb"}, 1, "not an e-mail address"},
		{"revoke missing arg", []string{"user", "revoke"}, 2, "want 1 argument"},
		{"revoke extra arg", []string{"user", "revoke", "a@b.c", "d@e.f"}, 2, "want 1 argument"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := ripc(t, dir, tc.args...)
			if code != tc.code || !strings.Contains(out+errs, tc.contains) {
				t.Fatalf("exit %d (want %d)\nstdout: %s\nstderr: %s\nwant output containing %q", code, tc.code, out, errs, tc.contains)
			}
		})
	}
	_, out, _ := ripc(t, dir, "user", "list", "--match", "bob")
	if strings.Contains(out, "ann@") {
		t.Errorf("--match bob listed ann:\n%s", out)
	}
	_, out, _ = ripc(t, dir, "user", "list", "--json")
	var users []rip.UserRecord
	if err := json.Unmarshal([]byte(out), &users); err != nil || len(users) != 2 {
		t.Fatalf("--json: %v\n%s", err, out)
	}
	if strings.Contains(out, "argon2") || strings.Contains(out, "token_key") {
		t.Fatalf("user list leaks secrets:\n%s", out)
	}
}

// TestMailTestCommand sends through Mailpit (started by .ci/run) and checks
// the printed dialogue, then fails cleanly against a closed port.
func TestMailTestCommand(t *testing.T) {
	addr, ca, user, pass := os.Getenv("RIP_TEST_SMTP_ADDR"), os.Getenv("RIP_TEST_SMTP_CA"), os.Getenv("RIP_TEST_SMTP_USER"), os.Getenv("RIP_TEST_SMTP_PASSWORD")
	if addr == "" {
		if os.Getenv("RIP_CI") != "" {
			t.Fatal("RIP_TEST_SMTP_ADDR is not set; .ci/run must start Mailpit (.ci/mailpit.sh)")
		}
		t.Skip("SKIPPED: RIP_TEST_SMTP_ADDR is not set: this test needs Mailpit (source .ci/mailpit.sh)")
	}
	host, port, _ := strings.Cut(addr, ":")
	dir := filepath.Join(t.TempDir(), "data")
	ripc(t, dir, "config", "init")
	for _, kv := range [][2]string{{"smtp.host", host}, {"smtp.port", port}, {"smtp.username", user}, {"smtp.password", pass},
		{"smtp.from_address", "noreply@rip.test"}, {"smtp.use_tls", "false"}, {"smtp.use_start_tls", "true"}} {
		if code, _, errs := ripc(t, dir, "config", "set", kv[0], kv[1]); code != 0 {
			t.Fatalf("set %s: %s", kv[0], errs)
		}
	}
	code, out, errs := ripc(t, dir, "mail", "test", "--ca", ca, "ops@example.com")
	if code != 0 || !strings.Contains(out, "STARTTLS") || !strings.Contains(out, "mail accepted") {
		t.Fatalf("mail test: exit %d\n%s\n%s", code, out, errs)
	}
	if strings.Contains(out, pass) {
		t.Fatalf("the transcript shows the SMTP password:\n%s", out)
	}
	// Without the CA the certificate does not verify: a clear failure.
	code, _, errs = ripc(t, dir, "mail", "test", "ops@example.com")
	if code != 1 || !strings.Contains(errs, "mail not sent") {
		t.Fatalf("untrusted certificate: exit %d, %s", code, errs)
	}
	code, _, errs = ripc(t, dir, "mail", "test", "--ca", "/nonexistent", "ops@example.com")
	if code != 1 {
		t.Fatalf("missing CA file: exit %d, %s", code, errs)
	}
	code, _, errs = ripc(t, dir, "mail", "test", "not an address")
	if code != 1 || !strings.Contains(errs, "mail not sent") {
		t.Fatalf("bad address: exit %d, %s", code, errs)
	}
	code, _, _ = ripc(t, dir, "mail", "test")
	if code != 2 {
		t.Fatalf("no address: exit %d", code)
	}
}
