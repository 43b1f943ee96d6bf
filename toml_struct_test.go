package rip

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// tomlTestConfig mirrors the shape of rip's Config (tables per concern,
// durations, secrets, lists, a map of provider tables, an optional table).
type tomlTestConfig struct {
	PublicDir string               `toml:"public_dir"`
	Server    tomlTestServer       `toml:"server"`
	JWT       tomlTestJWT          `toml:"jwt"`
	SMTP      tomlTestSMTP         `toml:"smtp"`
	BlockIP   tomlTestBlockIP      `toml:"block_ip"`
	BlockHost tomlTestBlockHost    `toml:"block_host"`
	Metrics   tomlTestMetrics      `toml:"metrics"`
	Log       tomlTestLog          `toml:"log"`
	Backup    *tomlTestBackup      `toml:"backup"`
	OAuth2    map[string]tomlTestP `toml:"oauth2_providers"`
	Endpoints map[string]string    `toml:"endpoints"`
	Internal  string               // untagged: ignored
	Skipped   string               `toml:"-"`
}

type tomlTestServer struct {
	Addr              string        `toml:"addr"`
	ReadTimeout       time.Duration `toml:"read_timeout"`
	ReadHeaderTimeout time.Duration `toml:"read_header_timeout"`
	WriteTimeout      time.Duration `toml:"write_timeout"`
	IdleTimeout       time.Duration `toml:"idle_timeout"`
	ShutdownTimeout   time.Duration `toml:"shutdown_graceful_timeout"`
	ClientIPHeader    string        `toml:"client_ip_proxy_header"`
	EnableTLS         bool          `toml:"enable_tls"`
	CertData          string        `toml:"cert_data"`
	KeyData           Secret        `toml:"key_data"`
	RedirectAddr      string        `toml:"redirect_addr"`
	MaxBodyBytes      int64         `toml:"max_body_bytes"`
}

type tomlTestJWT struct {
	AuthSecret            Secret        `toml:"auth_secret"`
	AuthTokenDuration     time.Duration `toml:"auth_token_duration"`
	PasswordResetSecret   Secret        `toml:"password_reset_secret"`
	PasswordResetDuration time.Duration `toml:"password_reset_token_duration"`
	OAuth2StateSecret     Secret        `toml:"oauth2_state_secret"`
	OAuth2StateDuration   time.Duration `toml:"oauth2_state_token_duration"`
}

type tomlTestSMTP struct {
	Enabled     bool   `toml:"enabled"`
	Host        string `toml:"host"`
	Port        uint16 `toml:"port"`
	Username    string `toml:"username"`
	Password    Secret `toml:"password"`
	FromName    string `toml:"from_name"`
	FromAddress string `toml:"from_address"`
	LocalName   string `toml:"local_name"`
	AuthMethod  string `toml:"auth_method"`
	UseTLS      bool   `toml:"use_tls"`
	UseStartTLS bool   `toml:"use_start_tls"`
}

type tomlTestLevel string

type tomlTestBlockIP struct {
	Enabled   bool          `toml:"enabled"`
	Level     tomlTestLevel `toml:"level"`
	Threshold float64       `toml:"threshold"`
	Window    time.Duration `toml:"window"`
}

type tomlTestBlockHost struct {
	Activated    bool     `toml:"activated"`
	AllowedHosts []string `toml:"allowed_hosts"`
}

type tomlTestMetrics struct {
	Enabled    bool     `toml:"enabled"`
	Endpoint   string   `toml:"endpoint"`
	AllowedIPs []string `toml:"allowed_ips"`
	Buckets    []int64  `toml:"buckets"`
}

type tomlTestLog struct {
	FlushSize     int           `toml:"flush_size"`
	ChanSize      int           `toml:"chan_size"`
	FlushInterval time.Duration `toml:"flush_interval"`
	Level         string        `toml:"level"`
	RetentionDays int32         `toml:"retention_days"`
}

type tomlTestBackup struct {
	Dir      string        `toml:"dir"`
	Interval time.Duration `toml:"interval"`
	Keep     int           `toml:"keep"`
	Strategy string        `toml:"strategy"`
}

type tomlTestP struct {
	Name         string   `toml:"name"`
	ClientID     string   `toml:"client_id"`
	ClientSecret Secret   `toml:"client_secret"`
	RedirectPath string   `toml:"redirect_url_path"`
	AuthURL      string   `toml:"auth_url"`
	TokenURL     string   `toml:"token_url"`
	UserInfoURL  string   `toml:"user_info_url"`
	Scopes       []string `toml:"scopes"`
	PKCE         bool     `toml:"pkce"`
}

// tomlTestDefaults plays the role of DefaultConfig.
func tomlTestDefaults() tomlTestConfig {
	return tomlTestConfig{
		PublicDir: "static/dist",
		Server: tomlTestServer{Addr: ":8080", ReadTimeout: 2 * time.Second, ReadHeaderTimeout: 2 * time.Second,
			WriteTimeout: 3 * time.Second, IdleTimeout: time.Minute, ShutdownTimeout: 15 * time.Second, MaxBodyBytes: 1 << 20},
		JWT: tomlTestJWT{AuthTokenDuration: 45 * time.Minute, PasswordResetDuration: time.Hour, OAuth2StateDuration: 10 * time.Minute},
		SMTP: tomlTestSMTP{Host: "smtp.gmail.com", Port: 587, FromName: "My App", AuthMethod: "plain",
			UseStartTLS: true},
		BlockIP:   tomlTestBlockIP{Enabled: true, Level: "medium", Threshold: 0.5, Window: time.Minute},
		BlockHost: tomlTestBlockHost{Activated: true, AllowedHosts: []string{}},
		Metrics:   tomlTestMetrics{Enabled: true, Endpoint: "/metrics", AllowedIPs: []string{"127.0.0.1", "::1"}},
		Log:       tomlTestLog{FlushSize: 100, ChanSize: 1000, FlushInterval: 5 * time.Second, Level: "INFO"},
		Backup:    &tomlTestBackup{Dir: "backups", Interval: 24 * time.Hour, Keep: 7, Strategy: "online"},
		OAuth2: map[string]tomlTestP{
			"google": {Name: "google", RedirectPath: "/oauth2/google/callback", Scopes: []string{"profile", "email"}, PKCE: true},
		},
		Endpoints: map[string]string{"auth_refresh": "POST /api/refresh-auth"},
	}
}

// tomlBenchConfig is a realistic ~100-line rip configuration.
const tomlBenchConfig = `# rip application configuration
public_dir = "static/dist"

[server]
addr = "127.0.0.1:8080"
read_timeout = "2s"
read_header_timeout = "2s"
write_timeout = "3s"
idle_timeout = "1m"
shutdown_graceful_timeout = "15s"
client_ip_proxy_header = ""
enable_tls = false
cert_data = """
-----BEGIN CERTIFICATE-----
MIIBszCCAVmgAwIBAgIUYW5leGFtcGxlY2VydGlmaWNhdGUwCgYIKoZIzj0EAwIw
-----END CERTIFICATE-----
"""
key_data = ''
redirect_addr = ""
max_body_bytes = 1_048_576

[jwt]
auth_secret = "Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGx5d2FsZG8"
auth_token_duration = "45m"
password_reset_secret = "cGFzc3dvcmQtcmVzZXQtc2VjcmV0LTMyLWJ5dGVzLWxvbmc"
password_reset_token_duration = "1h"
oauth2_state_secret = "b2F1dGgyLXN0YXRlLXNlY3JldC0zMi1ieXRlcy1sb25nLXg"
oauth2_state_token_duration = "10m"

[smtp]
enabled = true
host = "smtp.example.com"
port = 587
username = "mailer@example.com"
password = "s3cr3t\"quoted\""
from_name = "Example App"
from_address = "noreply@example.com"
local_name = "app.example.com"
auth_method = "plain"
use_tls = false
use_start_tls = true

[block_ip]
enabled = true
level = "high"
threshold = 0.75
window = "1m30s"

[block_host]
activated = true
allowed_hosts = [
  "example.com",
  "www.example.com", # the apex redirects here
  "api.example.com",
]

[metrics]
enabled = true
endpoint = "/metrics"
allowed_ips = ["127.0.0.1", "::1", "10.0.0.5"]
buckets = [5, 10, 25, 50, 100, 250, 500, 1_000]

[log]
flush_size = 100
chan_size = 1000
flush_interval = "5s"
level = "INFO"
retention_days = 30

[backup]
dir = "/var/backups/app"
interval = "24h"
keep = 14
strategy = "vacuum"

[oauth2_providers.google]
name = "google"
client_id = "1234567890-abc.apps.googleusercontent.com"
client_secret = "GOCSPX-abcdefghijklmnopqrstuvwx"
redirect_url_path = "/oauth2/google/callback"
auth_url = "https://accounts.google.com/o/oauth2/v2/auth"
token_url = "https://oauth2.googleapis.com/token"
user_info_url = "https://www.googleapis.com/oauth2/v3/userinfo"
scopes = ["https://www.googleapis.com/auth/userinfo.profile", "https://www.googleapis.com/auth/userinfo.email"]
pkce = true

[oauth2_providers.github]
name = "github"
client_id = "Iv1.0123456789abcdef"
client_secret = "0123456789abcdef0123456789abcdef01234567"
redirect_url_path = "/oauth2/github/callback"
auth_url = "https://github.com/login/oauth/authorize"
token_url = "https://github.com/login/oauth/access_token"
user_info_url = "https://api.github.com/user"
scopes = ["read:user", "user:email"]
pkce = true

[endpoints]
auth_refresh = "POST /api/refresh-auth"
auth_with_password = "POST /api/auth-with-password"
register_with_password = "POST /api/register-with-password"
list_endpoints = "GET /api/list-endpoints"
`

func TestTOMLDecodeConfig(t *testing.T) {
	cfg := tomlTestDefaults()
	if err := tomlDecode([]byte(tomlBenchConfig), &cfg); err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"string", cfg.Server.Addr, "127.0.0.1:8080"},
		{"multi-line string", cfg.Server.CertData[:27], "-----BEGIN CERTIFICATE-----"},
		{"duration", cfg.BlockIP.Window, 90 * time.Second},
		{"secret", cfg.SMTP.Password, Secret(`s3cr3t"quoted"`)},
		{"uint16", cfg.SMTP.Port, uint16(587)},
		{"named string", cfg.BlockIP.Level, tomlTestLevel("high")},
		{"float", cfg.BlockIP.Threshold, 0.75},
		{"int with underscores", cfg.Server.MaxBodyBytes, int64(1 << 20)},
		{"[]string", cfg.BlockHost.AllowedHosts, []string{"example.com", "www.example.com", "api.example.com"}},
		{"[]int64", cfg.Metrics.Buckets, []int64{5, 10, 25, 50, 100, 250, 500, 1000}},
		{"pointer table", cfg.Backup.Strategy, "vacuum"},
		{"map entry overlaid", cfg.OAuth2["google"].ClientID, "1234567890-abc.apps.googleusercontent.com"},
		{"map entry added", cfg.OAuth2["github"].Scopes, []string{"read:user", "user:email"}},
		{"map of strings merged", len(cfg.Endpoints), 4},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s: got %#v, want %#v", c.name, c.got, c.want)
		}
	}
}

func TestTOMLDecodeOverlay(t *testing.T) {
	defaults := tomlTestDefaults()
	cfg := tomlTestDefaults()
	src := `
[jwt]
auth_token_duration = "1h30m"
[oauth2_providers.google]
client_id = "id"
[oauth2_providers.gitlab]
name = "gitlab"
[backup]
keep = 3
`
	if err := tomlDecode([]byte(src), &cfg); err != nil {
		t.Fatal(err)
	}
	want := tomlTestDefaults()
	want.JWT.AuthTokenDuration = 90 * time.Minute
	g := want.OAuth2["google"]
	g.ClientID = "id"
	want.OAuth2["google"] = g
	want.OAuth2["gitlab"] = tomlTestP{Name: "gitlab"}
	want.Backup.Keep = 3
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("overlay result:\n%+v\nwant\n%+v", cfg, want)
	}
	if defaults.Backup.Keep != 7 || defaults.OAuth2["google"].ClientID != "" || len(defaults.OAuth2) != 1 {
		t.Error("decoding mutated values shared with the defaults (pointer or map aliasing)")
	}
}

func TestTOMLDecodeErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string // every line must appear in the joined error
	}{
		{"unknown keys are all reported", "bogus = 1\n[jwt]\nfoo = 1\n[oauth2_providers.google]\nclient = 'x'\n[endpoints]\n",
			[]string{"toml: unknown key bogus", "toml: unknown key jwt.foo", "toml: unknown key oauth2_providers.google.client"}},
		{"ignored fields are unknown keys", "Internal = 'x'\nSkipped = 'y'",
			[]string{"unknown key Internal", "unknown key Skipped"}},
		{"type mismatches", "public_dir = 1\n[smtp]\nenabled = 'yes'\nport = 1.5\n[metrics]\nallowed_ips = '127.0.0.1'\n[block_ip]\nthreshold = 'high'",
			[]string{"key public_dir: expected string, got integer", "key smtp.enabled: expected boolean, got string",
				"key smtp.port: expected integer, got float", "key metrics.allowed_ips: expected array, got string",
				"key block_ip.threshold: expected float, got string"}},
		{"durations are strings only", "[jwt]\nauth_token_duration = 45\noauth2_state_token_duration = '45 minutes'",
			[]string{`key jwt.auth_token_duration: expected duration string such as "45m", got integer`,
				`key jwt.oauth2_state_token_duration: invalid duration "45 minutes"`}},
		{"integer ranges", "[smtp]\nport = 65536\n[log]\nretention_days = 4294967296\nflush_size = -1\n[metrics]\nbuckets = [1, 'x']",
			[]string{"key smtp.port: 65536 is out of range for uint16", "key log.retention_days: 4294967296 is out of range for int32",
				"key metrics.buckets[1]: expected integer, got string"}},
		{"negative into unsigned", "[smtp]\nport = -1", []string{"key smtp.port: -1 is out of range for uint16"}},
		{"table expected", "server = 'x'\nbackup = 1\noauth2_providers = []\n[oauth2_providers2]",
			[]string{"key server: expected table, got string", "key backup: expected table, got integer",
				"key oauth2_providers: expected table, got array", "unknown key oauth2_providers2"}},
		{"map entry must be a table", "[oauth2_providers]\ngoogle = 'x'", []string{"key oauth2_providers.google: expected table, got string"}},
		{"quoted key in path", "[oauth2_providers.\"my.idp\"]\nnope = 1", []string{`unknown key oauth2_providers."my.idp".nope`}},
		{"syntax error has line and column", "[server]\naddr = \"x\"\naddr = \"y\"", []string{"3:1: duplicate key server.addr"}},
		{"unsupported feature", "[[oauth2_providers]]", []string{"1:1: unsupported TOML feature: array of tables"}},
		{"date-time into string", "public_dir = 1979-05-27", []string{"key public_dir: expected string, got date-time"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tomlTestDefaults()
			err := tomlDecode([]byte(tt.src), &cfg)
			if err == nil {
				t.Fatal("tomlDecode succeeded, want an error")
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tt.want) {
				t.Errorf("got %d errors, want %d:\n%v", len(lines), len(tt.want), err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q; got:\n%v", w, err)
				}
			}
			if !reflect.DeepEqual(cfg, tomlTestDefaults()) {
				t.Error("tomlDecode changed the struct although it failed")
			}
		})
	}
}

func TestTOMLDecodeAcceptsIntForFloat(t *testing.T) {
	cfg := tomlTestDefaults()
	if err := tomlDecode([]byte("[block_ip]\nthreshold = 1"), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.BlockIP.Threshold != 1.0 {
		t.Errorf("threshold = %v, want 1", cfg.BlockIP.Threshold)
	}
	if err := tomlDecode([]byte("[block_ip]\nthreshold = 9007199254740993"), &cfg); err == nil {
		t.Error("an integer that a float64 cannot hold exactly was accepted")
	}
}

func TestTOMLUnsupportedGoTypes(t *testing.T) {
	type inner struct{ X int }
	tests := []struct {
		name string
		v    any
		want string
	}{
		{"chan", &struct {
			C chan int `toml:"c"`
		}{}, "unsupported Go type chan int"},
		{"slice of structs", &struct {
			S []inner `toml:"s"`
		}{}, "unsupported Go type []rip.inner"},
		{"interface", &struct {
			A any `toml:"a"`
		}{}, "unsupported Go type interface {}"},
		{"map of maps", &struct {
			M map[string]map[string]string `toml:"m"`
		}{}, "unsupported Go type map[string]map[string]string"},
		{"int map key", &struct {
			M map[int]string `toml:"m"`
		}{}, "unsupported Go type map[int]string"},
		{"unexported tagged", &struct {
			x string `toml:"x"`
		}{}, "has a toml tag but is unexported"},
		{"duplicate tag", &struct {
			A string `toml:"a"`
			B string `toml:"a"`
		}{}, `two fields of struct { A string "toml:\"a\""; B string "toml:\"a\"" } are tagged "a"`},
		{"not a struct", new(int), "to a struct, got *int"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tomlDecode([]byte(""), tt.v); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("tomlDecode error = %v, want %q", err, tt.want)
			}
			if _, err := tomlEncode(tt.v); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("tomlEncode error = %v, want %q", err, tt.want)
			}
			if err := tomlSetPath(tt.v, "a", "1"); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("tomlSetPath error = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestTOMLEncode(t *testing.T) {
	type sub struct {
		On bool `toml:"on"`
	}
	type cfg struct {
		Name    string            `toml:"name"`
		Key     Secret            `toml:"key"`
		Wait    time.Duration     `toml:"wait"`
		Ratio   float64           `toml:"ratio"`
		Nested  sub               `toml:"nested"`
		Count   uint16            `toml:"count"`
		Opt     *sub              `toml:"opt"`
		Unset   *sub              `toml:"unset"`
		Tags    []string          `toml:"tags"`
		Empty   []int64           `toml:"empty"`
		Labels  map[string]string `toml:"labels"`
		None    map[string]string `toml:"none"`
		Provs   map[string]sub    `toml:"providers"`
		Ignored string
	}
	v := cfg{
		Name: "a \"b\"\n", Key: "real-secret-value", Wait: 90 * time.Minute, Ratio: 2, Count: 65535,
		Nested: sub{On: true}, Opt: &sub{}, Tags: []string{"x", "y z"},
		Labels:  map[string]string{"b": "2", "a": "1"},
		Provs:   map[string]sub{"z": {}, "my.idp": {On: true}, "google": {}},
		Ignored: "never written",
	}
	const want = `name = "a \"b\"\n"
key = "real-secret-value"
wait = "1h30m"
ratio = 2.0
count = 65535
tags = ["x", "y z"]
empty = []

[nested]
on = true

[opt]
on = false

[labels]
a = "1"
b = "2"

[providers.google]
on = false

[providers."my.idp"]
on = true

[providers.z]
on = false
`
	for _, in := range []any{v, &v} {
		got, err := tomlEncode(in)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != want {
			t.Errorf("tomlEncode(%T) =\n%s\nwant\n%s", in, got, want)
		}
	}
	if strings.Contains(want, "REDACTED") {
		t.Fatal("the test's own expectation contains the mask")
	}
}

func TestTOMLEncodeErrors(t *testing.T) {
	tests := []struct {
		name string
		v    any
		want string
	}{
		{"invalid UTF-8 string", struct {
			S string `toml:"s"`
		}{S: "\xff"}, "toml: encode s: string is not valid UTF-8"},
		{"invalid UTF-8 map key", struct {
			M map[string]string `toml:"m"`
		}{M: map[string]string{"\xff": "x"}}, "key is not valid UTF-8"},
		{"uint64 too large", struct {
			U uint64 `toml:"u"`
		}{U: 1 << 63}, "toml: encode u: 9223372036854775808 does not fit a TOML integer (int64)"},
		{"nil pointer", (*tomlTestConfig)(nil), "need a struct or a non-nil pointer to a struct"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tomlEncode(tt.v); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("tomlEncode error = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestTOMLEncodeDecodeRoundTrip(t *testing.T) {
	orig := tomlTestDefaults()
	if err := tomlDecode([]byte(tomlBenchConfig), &orig); err != nil {
		t.Fatal(err)
	}
	out, err := tomlEncode(&orig)
	if err != nil {
		t.Fatal(err)
	}
	var back tomlTestConfig
	if err := tomlDecode(out, &back); err != nil {
		t.Fatalf("decode of encoded config: %v\n%s", err, out)
	}
	if !reflect.DeepEqual(back, orig) {
		t.Errorf("round trip differs:\n%+v\nwant\n%+v\nTOML:\n%s", back, orig, out)
	}
	if !strings.Contains(string(out), `password = "s3cr3t\"quoted\""`) {
		t.Errorf("secret not written as its real value:\n%s", out)
	}
}

func TestTOMLGetPath(t *testing.T) {
	cfg := tomlTestDefaults()
	cfg.SMTP.Password = "hunter2"
	cfg.OAuth2["my.idp"] = tomlTestP{ClientID: "abc"}
	tests := []struct {
		name, path, want, err string
	}{
		{"duration", "jwt.auth_token_duration", `"45m"`, ""},
		{"bool", "smtp.use_start_tls", "true", ""},
		{"int", "smtp.port", "587", ""},
		{"float", "block_ip.threshold", "0.5", ""},
		{"secret real value", "smtp.password", `"hunter2"`, ""},
		{"list", "metrics.allowed_ips", `["127.0.0.1", "::1"]`, ""},
		{"map of structs", "oauth2_providers.google.scopes", `["profile", "email"]`, ""},
		{"quoted map key", `oauth2_providers."my.idp".client_id`, `"abc"`, ""},
		{"map of strings", "endpoints.auth_refresh", `"POST /api/refresh-auth"`, ""},
		{"blanks around dots", "smtp . port", "587", ""},
		{"unknown field", "jwt.foo", "", "toml: unknown key jwt.foo"},
		{"unknown map key", "oauth2_providers.nope.client_id", "", "toml: unknown key oauth2_providers.nope"},
		{"table", "jwt", "", "toml: key jwt is a table, not a value"},
		{"through a value", "smtp.port.x", "", "toml: key smtp.port is a value, not a table"},
		{"ignored field", "Internal", "", "toml: unknown key Internal"},
		{"bad path", "jwt..x", "", `toml: key "jwt..x": 1:5: unexpected '.', expected a key`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tomlGetPath(&cfg, tt.path)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("error = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("tomlGetPath = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	var nilBackup tomlTestConfig
	if got, err := tomlGetPath(nilBackup, "backup.keep"); err != nil || got != "0" {
		t.Errorf("get through a nil pointer = %q, %v; want \"0\"", got, err)
	}
}

func TestTOMLSetPath(t *testing.T) {
	tests := []struct {
		name, path, literal string
		check               func(c *tomlTestConfig) bool
		err                 string
	}{
		{"raw string", "server.addr", ":9090", func(c *tomlTestConfig) bool { return c.Server.Addr == ":9090" }, ""},
		{"quoted string", "server.addr", `"x # y"`, func(c *tomlTestConfig) bool { return c.Server.Addr == "x # y" }, ""},
		{"number as raw string", "smtp.password", "1234", func(c *tomlTestConfig) bool { return c.SMTP.Password == "1234" }, ""},
		{"raw duration", "jwt.auth_token_duration", "1h", func(c *tomlTestConfig) bool { return c.JWT.AuthTokenDuration == time.Hour }, ""},
		{"quoted duration", "jwt.auth_token_duration", `"30s"`, func(c *tomlTestConfig) bool { return c.JWT.AuthTokenDuration == 30*time.Second }, ""},
		{"bool", "smtp.enabled", "true", func(c *tomlTestConfig) bool { return c.SMTP.Enabled }, ""},
		{"int", "smtp.port", "2525", func(c *tomlTestConfig) bool { return c.SMTP.Port == 2525 }, ""},
		{"list", "block_host.allowed_hosts", `["a.com", 'b.com']`, func(c *tomlTestConfig) bool {
			return reflect.DeepEqual(c.BlockHost.AllowedHosts, []string{"a.com", "b.com"})
		}, ""},
		{"existing map entry", "oauth2_providers.google.client_id", "cid", func(c *tomlTestConfig) bool {
			return c.OAuth2["google"].ClientID == "cid" && c.OAuth2["google"].PKCE
		}, ""},
		{"new map entry", `oauth2_providers."my.idp".pkce`, "true", func(c *tomlTestConfig) bool { return c.OAuth2["my.idp"].PKCE }, ""},
		{"new map of strings entry", "endpoints.x", "GET /x", func(c *tomlTestConfig) bool { return c.Endpoints["x"] == "GET /x" }, ""},
		{"nil pointer table", "backup.keep", "2", func(c *tomlTestConfig) bool { return c.Backup.Keep == 2 && c.Backup.Dir == "backups" }, ""},
		{"out of range", "smtp.port", "70000", nil, "toml: key smtp.port: 70000 is out of range for uint16"},
		{"bad duration", "jwt.auth_token_duration", "soon", nil, `toml: key jwt.auth_token_duration: invalid duration "soon" (want a string such as "45m" or "1h30m")`},
		{"wrong type", "smtp.enabled", "'yes'", nil, "toml: key smtp.enabled: expected boolean, got string"},
		{"not a literal", "smtp.enabled", "yes", nil, "toml: set smtp.enabled: 1:1: unexpected 'y', expected a value"},
		{"trailing garbage", "smtp.port", "1 2", nil, "toml: set smtp.port: 1:3: unexpected '2', expected end of value"},
		{"unknown key", "smtp.nope", "1", nil, "toml: unknown key smtp.nope"},
		{"table", "smtp", "{}", nil, "toml: key smtp is a table; set its keys one at a time"},
		{"through a value", "smtp.port.x", "1", nil, "toml: key smtp.port is a value, not a table"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defaults := tomlTestDefaults()
			cfg := tomlTestDefaults()
			err := tomlSetPath(&cfg, tt.path, tt.literal)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("error = %v, want %q", err, tt.err)
				}
				if !reflect.DeepEqual(cfg, tomlTestDefaults()) {
					t.Error("failed set changed the struct")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(&cfg) {
				t.Errorf("value not set: %+v", cfg)
			}
			if !reflect.DeepEqual(defaults, tomlTestDefaults()) || len(defaults.OAuth2) != 1 || defaults.Backup.Keep != 7 {
				t.Error("set mutated a map or pointer shared with another value")
			}
		})
	}
	var empty tomlTestConfig
	if err := tomlSetPath(&empty, "backup.keep", "2"); err != nil || empty.Backup == nil || empty.Backup.Keep != 2 {
		t.Errorf("set through a nil pointer: err %v, backup %+v", err, empty.Backup)
	}
	if err := tomlSetPath(empty, "backup.keep", "2"); err == nil {
		t.Error("set on a non-pointer succeeded")
	}
}

func TestTOMLPaths(t *testing.T) {
	type sub struct {
		A string `toml:"a"`
	}
	v := struct {
		X     int               `toml:"x"`
		S     sub               `toml:"s"`
		P     *sub              `toml:"p"`
		M     map[string]sub    `toml:"m"`
		L     map[string]string `toml:"l"`
		List  []string          `toml:"list"`
		Plain string
	}{M: map[string]sub{"z": {}, "a.b": {}}, L: map[string]string{"k": "v"}}
	want := []string{"x", "s.a", "p.a", `m."a.b".a`, "m.z.a", "l.k", "list"}
	if got := tomlPaths(&v); !reflect.DeepEqual(got, want) {
		t.Errorf("tomlPaths = %q, want %q", got, want)
	}
	cfg := tomlTestDefaults()
	for _, p := range tomlPaths(&cfg) {
		lit, err := tomlGetPath(&cfg, p)
		if err != nil {
			t.Errorf("tomlGetPath(%s): %v", p, err)
			continue
		}
		if err := tomlSetPath(&cfg, p, lit); err != nil {
			t.Errorf("tomlSetPath(%s, %s): %v", p, lit, err)
		}
	}
	// Compare encodings: a nil slice reads as [] and comes back empty, not nil.
	got, err1 := tomlEncode(&cfg)
	want2, err2 := tomlEncode(tomlTestDefaults())
	if err1 != nil || err2 != nil || string(got) != string(want2) {
		t.Errorf("get then set of every path changed the config:\n%s\nwant\n%s", got, want2)
	}
}

func TestTOMLDecodeNotAPointer(t *testing.T) {
	var cfg tomlTestConfig
	for _, v := range []any{cfg, (*tomlTestConfig)(nil), nil} {
		if err := tomlDecode(nil, v); err == nil || !strings.Contains(err.Error(), "non-nil pointer to a struct") {
			t.Errorf("tomlDecode(%T) error = %v", v, err)
		}
	}
	if err := tomlDecode([]byte("[[x]]"), &cfg); !errors.Is(err, errTOMLUnsupported) {
		t.Errorf("unsupported feature error does not wrap errTOMLUnsupported: %v", err)
	}
}

func BenchmarkTOMLDecodeConfig(b *testing.B) {
	src := []byte(tomlBenchConfig)
	b.ReportAllocs()
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		cfg := tomlTestDefaults()
		if err := tomlDecode(src, &cfg); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkTOMLEncodeConfig(b *testing.B) {
	cfg := tomlTestDefaults()
	if err := tomlDecode([]byte(tomlBenchConfig), &cfg); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tomlEncode(&cfg); err != nil {
			b.Fatal(err)
		}
	}
}
