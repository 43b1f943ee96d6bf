package rip

import (
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// golden compares got with testdata/name, rewriting it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := "testdata/" + name
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if string(want) != string(got) {
		t.Errorf("%s differs from the code; run go test -run %s -update and review the diff\n--- want\n%s\n--- got\n%s", path, t.Name(), want, got)
	}
}

func TestCodeCatalogueGolden(t *testing.T) {
	var lines []string
	for _, r := range replies {
		lines = append(lines, fmt.Sprintf("%-48s %d  %s", r.Code, r.Status, r.Message))
	}
	sort.Strings(lines)
	golden(t, "codes.golden", []byte(strings.Join(lines, "\n")+"\n"))
}

func TestDefaultConfigGolden(t *testing.T) {
	text, err := tomlEncode(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "default-config.toml", text)
	// The encoded defaults decode back to the defaults.
	got := &Config{}
	if err := tomlDecode(text, got); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprintf("%#v", got) != fmt.Sprintf("%#v", DefaultConfig()) {
		t.Error("defaults do not round-trip through TOML")
	}
}

func validConfig() *Config {
	c := DefaultConfig()
	GenerateSecrets(c)
	return c
}

func TestValidateReportsEveryProblem(t *testing.T) {
	c := validConfig()
	if err := c.Validate(); err != nil {
		t.Fatalf("generated config invalid: %v", err)
	}
	c.JWT.AuthSecret = "short"
	c.JWT.PasswordResetSecret = c.JWT.VerificationEmailOTPSecret
	c.Server.Addr = "nope"
	c.Server.PublicURL = "ftp://x"
	c.DB.Synchronous = "off"
	c.Endpoints.Health = ""
	c.Endpoints.LogoutAll = c.Endpoints.RefreshAuth
	c.Endpoints.ListOAuth2Providers = "GET  /two-spaces"
	c.Server.EnableTLS = true
	c.JWT.AuthTokenDuration = 0
	err := c.Validate()
	for _, key := range []string{"jwt.auth_secret", "jwt.password_reset_secret: must differ", "server.addr", "server.public_url",
		"db.synchronous", "endpoints.health", "endpoints.logout_all", "endpoints.list_oauth2_providers", "server.cert_data", "jwt.auth_token_duration"} {
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("Validate did not report %s; got:\n%v", key, err)
		}
	}
}

func TestEndpointPatterns(t *testing.T) {
	for _, tc := range []struct {
		name, pattern string
		ok            bool
	}{
		{"default", "POST /api/refresh-auth", true},
		{"no method", "/api/x", false},
		{"lower method", "post /api/x", false},
		{"two spaces", "POST  /api/x", false},
		{"no slash", "POST api/x", false},
		{"wildcard", "GET /api/{id}", false},
		{"control char", "GET /api/\x00", false},
		{"host", "GET example.com/api", false},
		{"root only", "GET /", false},
	} {
		err := checkEndpointPattern(tc.pattern)
		if (err == nil) != tc.ok {
			t.Errorf("%s: checkEndpointPattern(%q) = %v", tc.name, tc.pattern, err)
		}
	}
}

func TestSecretNeverPrints(t *testing.T) {
	const canary = "canary-0123456789-0123456789-0123456789"
	c := DefaultConfig()
	c.JWT.AuthSecret = canary
	var logs syncBuffer
	l := slog.New(slog.NewJSONHandler(&logs, nil))
	l.Info("cfg", "secret", c.JWT.AuthSecret, "jwt", c.JWT)
	j, _ := json.Marshal(c)
	for _, out := range []string{fmt.Sprint(c.JWT.AuthSecret), fmt.Sprintf("%v %+v %#v %s %q", c.JWT, c.JWT, c.JWT, c.JWT.AuthSecret, c.JWT.AuthSecret), string(j), logs.String()} {
		if strings.Contains(out, canary) {
			t.Fatalf("secret printed: %s", out)
		}
	}
	// The TOML encoder, which stores the config, keeps the value.
	text, _ := tomlEncode(c)
	if !strings.Contains(string(text), canary) {
		t.Fatal("tomlEncode lost the secret")
	}
}

func TestRestartKeys(t *testing.T) {
	a, b := DefaultConfig(), DefaultConfig()
	if k := restartKeys(a, b); len(k) != 0 {
		t.Fatalf("identical configs: %v", k)
	}
	b.Server.Addr = "127.0.0.1:9"
	b.DB.ReadPoolSize = 9
	b.EndpointsBlockMismatch.Activated = false
	k := restartKeys(a, b)
	if strings.Join(k, ",") != "server.addr,db" {
		t.Fatalf("restartKeys = %v", k)
	}
}

func TestPublicURLDefault(t *testing.T) {
	c := DefaultConfig()
	for _, tc := range []struct{ name, addr, public, want string }{
		{"loopback", "127.0.0.1:8080", "", "http://127.0.0.1:8080"},
		{"any host", ":8080", "", "http://localhost:8080"},
		{"configured", ":443", "https://app.example.com/", "https://app.example.com"},
	} {
		c.Server.Addr, c.Server.PublicURL = tc.addr, tc.public
		if got := c.publicURL(); got != tc.want {
			t.Errorf("%s: publicURL = %q, want %q", tc.name, got, tc.want)
		}
	}
	_ = time.Second
}
