package rip

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// needProgram returns the path of an external test oracle. Absent, the
// test skips loudly — except under CI (RIP_CI=1), where .ci/run has
// installed it and its absence is a failure.
func needProgram(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("RIP_CI") != "" {
			t.Fatalf("%s is not installed; .ci/run must install it", name)
		}
		t.Skipf("SKIPPED: external program %s not installed (bash .ci/run installs it)", name)
	}
	return p
}

// TestAgeCLIInterop: a generation rip wrote decrypts with the age CLI,
// and a TOML file the age CLI encrypted loads in rip.
func TestAgeCLIInterop(t *testing.T) {
	agebin := needProgram(t, "age")
	ta := newTestApp(t)
	var blob []byte
	ta.Read(context.Background(), func(conn *sqlite.Conn) error {
		return sqlitex.Execute(conn, "SELECT content FROM app_config WHERE scope = 'application' ORDER BY generation DESC LIMIT 1",
			&sqlitex.ExecOptions{ResultFunc: func(s *sqlite.Stmt) error {
				blob = make([]byte, s.ColumnLen(0))
				s.ColumnBytes(0, blob)
				return nil
			}})
	})
	cmd := exec.Command(agebin, "-d", "-i", ta.opts.AgeKey)
	cmd.Stdin = bytes.NewReader(blob)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("age -d: %v", err)
	}
	if !strings.Contains(string(out), "auth_secret = ") {
		t.Fatalf("age -d output is not rip's TOML: %.200s", out)
	}

	// The other way: encrypt with the CLI to the key's recipient, store
	// the blob with SQL, reload.
	id, err := loadIdentity(ta.opts.AgeKey)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(out), "shutdown_timeout = \"15s\"", "shutdown_timeout = \"9s\"", 1)
	plain := filepath.Join(t.TempDir(), "cfg.toml")
	os.WriteFile(plain, []byte(text), 0o600)
	enc, err := exec.Command(agebin, "-r", id.Recipient().String(), plain).Output()
	if err != nil {
		t.Fatalf("age -r: %v", err)
	}
	err = ta.Write(context.Background(), func(conn *sqlite.Conn) error {
		return sqlitex.Execute(conn, `INSERT INTO app_config (scope, generation, content, created_at) VALUES ('application', 99, ?, ?)`,
			&sqlitex.ExecOptions{Args: []any{enc, time.Now().UTC().Format(time.RFC3339)}})
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := ta.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := ta.Config().Server.ShutdownTimeout; got != 9*time.Second {
		t.Fatalf("config from the age CLI not applied: %s", got)
	}
}

func TestConfigGenerationsAndRollback(t *testing.T) {
	dir := t.TempDir()
	ad, err := OpenAdmin(Options{DB: filepath.Join(dir, "app.db"), Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ad.Close()
	ctx := context.Background()
	if created, err := ad.InitConfig(ctx); err != nil || !created {
		t.Fatalf("InitConfig = %v, %v", created, err)
	}
	if created, _ := ad.InitConfig(ctx); created {
		t.Fatal("second InitConfig created a generation")
	}
	if _, err := ad.SetConfigKey(ctx, "server.shutdown_timeout", `"3s"`, ""); err != nil {
		t.Fatal(err)
	}
	if v, _ := ad.ConfigKey(ctx, "server.shutdown_timeout", false); v != `"3s"` {
		t.Fatalf("get = %s", v)
	}
	if v, _ := ad.ConfigKey(ctx, "jwt.auth_secret", false); v != `"REDACTED"` {
		t.Fatalf("secret not masked: %s", v)
	}
	for _, bad := range []struct{ key, val string }{
		{"server.nope", "1"},
		{"server.shutdown_timeout", "-1s"},
		{"jwt.auth_secret", "short"},
		{"server.max_header_bytes", `"x"`},
	} {
		if _, err := ad.SetConfigKey(ctx, bad.key, bad.val, ""); err == nil {
			t.Errorf("set %s = %s accepted", bad.key, bad.val)
		}
	}
	for _, bad := range []string{"[server]\nnope = 1\n", "[[a]]\n", "x = ", strings.Repeat("a", maxConfigBytes+1)} {
		if _, err := ad.SaveConfig(ctx, ScopeApplication, "bad", []byte(bad)); err == nil {
			t.Errorf("SaveConfig accepted %.30q", bad)
		}
	}
	gens, _ := ad.ConfigGenerations(ctx, ScopeApplication)
	if len(gens) != 2 || gens[0].Generation != 2 {
		t.Fatalf("generations = %+v", gens)
	}
	if n, err := ad.RollbackConfig(ctx, ScopeApplication, 1); err != nil || n != 3 {
		t.Fatalf("rollback = %d, %v", n, err)
	}
	cfg, _, _ := ad.EffectiveConfig(ctx, 0)
	if cfg.Server.ShutdownTimeout != 15*time.Second {
		t.Fatalf("rollback did not restore: %s", cfg.Server.ShutdownTimeout)
	}
	if _, err := ad.SaveConfig(ctx, "myapp", "app settings", []byte("feature = true\n")); err != nil {
		t.Fatal(err)
	}
	if scopes, _ := ad.ConfigScopes(ctx); strings.Join(scopes, ",") != "application,myapp" {
		t.Fatalf("scopes = %v", scopes)
	}
	if _, err := ad.SaveConfig(ctx, "Bad Scope", "", []byte("a = 1\n")); err == nil {
		t.Fatal("bad scope accepted")
	}
}
