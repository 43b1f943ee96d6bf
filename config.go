package rip

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Secret is a configuration string that must never be printed or logged:
// JWT secrets, the SMTP password, OAuth2 client secrets, the TLS key.
//
// # Security
//
// Every formatting path (fmt verbs, %#v, slog, JSON, text marshalling) sees
// "REDACTED", so a config dump, an error message or a log line cannot leak
// the value. Code that needs the value converts explicitly: string(s).
type Secret string

const redacted = "REDACTED"

// String returns a fixed mask, never the value.
func (s Secret) String() string { return redacted }

// GoString returns a fixed mask for %#v.
func (s Secret) GoString() string { return redacted }

// LogValue masks the secret in slog output.
func (s Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalText masks the secret in JSON and other text encodings.
func (s Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// Config is rip's whole configuration. The effective configuration is
// [DefaultConfig] overlaid by the newest stored generation of scope
// "application" (TOML, age-encrypted in app.db). Key names follow
// restinpieces wherever the concept is the same.
//
// Settings marked "restart" are read once by [App.Run]; a reload (SIGHUP)
// that changes them logs that a restart is needed and they take effect on
// the next start. Every other setting takes effect on reload.
type Config struct {
	Server    ServerConfig    `toml:"server"`
	DB        DBConfig        `toml:"db"`
	JWT       JWTConfig       `toml:"jwt"`
	Endpoints EndpointsConfig `toml:"endpoints"`
	Jobs      JobsConfig      `toml:"jobs"`
	// EndpointsBlockMismatch turns the X-Restinpieces-Endpoints-Hash check on.
	EndpointsBlockMismatch Toggle           `toml:"endpoints_block_mismatch"`
	SMTP                   SMTPConfig       `toml:"smtp"`
	RateLimits             RateLimitsConfig `toml:"rate_limits"`
	// OAuth2Providers are the sign-in providers, one table
	// [oauth2_providers.NAME] each (see [OAuth2Provider]). Default: none.
	OAuth2Providers map[string]OAuth2Provider `toml:"oauth2_providers"`
	Backup          BackupConfig              `toml:"backup"`

	// The edge guards (middleware.go), in the order they run.
	BlockIP               BlockIPConfig       `toml:"block_ip"`
	BlockOversizedRequest RequestLimitsConfig `toml:"block_oversized_request"`
	Metrics               MetricsConfig       `toml:"metrics"`
	BlockHost             BlockHostConfig     `toml:"block_host"`
	BlockUAList           BlockUAListConfig   `toml:"block_ua_list"`
	TLSHeaderSTS          HSTSConfig          `toml:"tls_header_sts"`
	Maintenance           MaintenanceConfig   `toml:"maintenance"`
	Log                   LogConfig           `toml:"log"`
	Notifier              NotifierConfig      `toml:"notifier"`

	trustedProxies []netip.Prefix             // parsed Server.TrustedProxies, set by Validate
	oauth2         map[string]*oauth2Provider // OAuth2Providers with presets applied, set by Validate
}

// Toggle is a section with a single hot switch.
type Toggle struct {
	Activated bool `toml:"activated"`
}

// ServerConfig configures the HTTP server.
type ServerConfig struct {
	// Addr is the listen address, HOST:PORT (restart).
	Addr string `toml:"addr"`
	// PublicURL is the absolute base URL clients use (scheme://host[:port]).
	// Redirects, mail links and OAuth2 redirect URLs are built from it,
	// never from the request's Host header. Default: http:// + Addr.
	PublicURL string `toml:"public_url"`
	// ShutdownTimeout bounds the graceful drain of requests and jobs.
	ShutdownTimeout   time.Duration `toml:"shutdown_timeout"`
	ReadTimeout       time.Duration `toml:"read_timeout"`        // restart
	ReadHeaderTimeout time.Duration `toml:"read_header_timeout"` // restart
	WriteTimeout      time.Duration `toml:"write_timeout"`       // restart
	IdleTimeout       time.Duration `toml:"idle_timeout"`        // restart
	// MaxHeaderBytes caps request line plus headers (restart).
	MaxHeaderBytes int `toml:"max_header_bytes"`
	// EnableTLS serves HTTPS on Addr with CertData/KeyData (restart).
	EnableTLS bool   `toml:"enable_tls"`
	CertData  string `toml:"cert_data"` // PEM certificate chain (restart)
	KeyData   Secret `toml:"key_data"`  // PEM private key (restart)
	// ClientIPProxyHeader names the header (e.g. X-Forwarded-For) that
	// carries the client address when rip runs behind a proxy. It is read
	// only from peers in TrustedProxies.
	ClientIPProxyHeader string `toml:"client_ip_proxy_header"`
	// TrustedProxies lists the CIDRs (or addresses) of proxies whose
	// ClientIPProxyHeader is believed. Empty: the socket address is the
	// client address.
	TrustedProxies []string `toml:"trusted_proxies"`
	// RedirectAddr, with TLS on, is a plain-HTTP listener that redirects
	// every request to PublicURL (restart). Empty: no redirect listener.
	RedirectAddr string `toml:"redirect_addr"`
}

// DBConfig tunes the SQLite connections.
type DBConfig struct {
	// ReadPoolSize is the number of read connections (restart).
	ReadPoolSize int `toml:"read_pool_size"`
	// BusyTimeout is how long a connection waits for a lock held by
	// another connection or process before SQLITE_BUSY (restart).
	BusyTimeout time.Duration `toml:"busy_timeout"`
	// WriteTimeout bounds a whole write transaction, including the wait
	// for the single in-process writer.
	WriteTimeout time.Duration `toml:"write_timeout"`
	// ReadTimeout bounds a read that carries no deadline of its own.
	ReadTimeout time.Duration `toml:"read_timeout"`
	// Synchronous is app.db's PRAGMA synchronous: "full" or "normal"
	// (restart). FULL survives power loss; NORMAL may lose the newest
	// commits then. logs.db always uses NORMAL.
	Synchronous string `toml:"synchronous"`
}

// JWTConfig holds one secret per token purpose and the lifetimes.
//
// # Security
//
// Each purpose has its own secret so a token of one kind can never verify
// as another; [Config.Validate] refuses secrets shorter than 32 bytes or
// shared between purposes.
type JWTConfig struct {
	AuthSecret                        Secret        `toml:"auth_secret"`
	AuthTokenDuration                 time.Duration `toml:"auth_token_duration"`
	SessionMaxAge                     time.Duration `toml:"session_max_age"`
	VerificationEmailOTPSecret        Secret        `toml:"verification_email_otp_secret"`
	VerificationEmailOTPTokenDuration time.Duration `toml:"verification_email_otp_token_duration"`
	PasswordResetSecret               Secret        `toml:"password_reset_secret"`
	PasswordResetTokenDuration        time.Duration `toml:"password_reset_token_duration"`
	EmailChangeOTPSecret              Secret        `toml:"email_change_otp_secret"`
	EmailChangeOTPTokenDuration       time.Duration `toml:"email_change_otp_token_duration"`
	OAuth2StateSecret                 Secret        `toml:"oauth2_state_secret"`
	OAuth2StateTokenDuration          time.Duration `toml:"oauth2_state_token_duration"`
}

// JobsConfig tunes the job queue (queue.go). Durations are wall-clock
// time; every setting except Concurrency takes effect on reload.
type JobsConfig struct {
	// Concurrency is the number of jobs that run at once (restart). It
	// is also the batch size of a scheduler round (one commit records the
	// results and claims the next jobs), so it bounds throughput: jobs
	// are mostly waiting on the network (mail), and 16 goroutines cost
	// little.
	Concurrency int `toml:"concurrency"`
	// PollInterval is how often the scheduler looks for due jobs that no
	// wake-up announced: scheduled and retried jobs, jobs added by ripc or
	// another process, and expired leases.
	PollInterval time.Duration `toml:"poll_interval"`
	// Timeout is the deadline of one handler run (its context ends then).
	Timeout time.Duration `toml:"timeout"`
	// Lease is how long a claimed job belongs to its worker. A job whose
	// lease runs out without a result (the process died) is claimed
	// again, so Lease must exceed Timeout: a live handler is cancelled
	// before another worker may take its job.
	Lease time.Duration `toml:"lease"`
	// MaxAttempts is the default number of runs before a failing job is
	// marked failed; [JobSpec.MaxAttempts] overrides it per job.
	MaxAttempts int `toml:"max_attempts"`
	// BackoffBase is the delay before the first retry; each further retry
	// doubles it, up to BackoffMax, with ±10 % jitter.
	BackoffBase time.Duration `toml:"backoff_base"`
	BackoffMax  time.Duration `toml:"backoff_max"`
	// RetainCompleted and RetainFailed are how long finished jobs stay in
	// job_queue (for `ripc job list`) before they are purged.
	RetainCompleted time.Duration `toml:"retain_completed"`
	RetainFailed    time.Duration `toml:"retain_failed"`
}

// EndpointsConfig maps each built-in endpoint to its "METHOD /path"
// pattern (restart: routes are registered once).
type EndpointsConfig struct {
	ListEndpoints               string `toml:"list_endpoints"`
	RegisterWithPassword        string `toml:"register_with_password"`
	AuthWithPassword            string `toml:"auth_with_password"`
	RefreshAuth                 string `toml:"refresh_auth"`
	RequestEmailVerificationOTP string `toml:"request_email_verification_otp"`
	ConfirmEmailVerificationOTP string `toml:"confirm_email_verification_otp"`
	RequestPasswordResetOTP     string `toml:"request_password_reset_otp"`
	VerifyPasswordResetOTP      string `toml:"verify_password_reset_otp"`
	ConfirmPasswordResetOTP     string `toml:"confirm_password_reset_otp"`
	RequestEmailChangeOTP       string `toml:"request_email_change_otp"`
	ConfirmEmailChangeOTP       string `toml:"confirm_email_change_otp"`
	ListOAuth2Providers         string `toml:"list_oauth2_providers"`
	AuthWithOAuth2              string `toml:"auth_with_oauth2"`
	LogoutAll                   string `toml:"logout_all"`
	Health                      string `toml:"health"`
}

// SMTPConfig configures the mail transport ([SMTPMailer]). Every setting
// takes effect on the next mail.
type SMTPConfig struct {
	// Enabled false makes every mail job fail at once (permanently, so a
	// code is never left waiting in the database) with a clear error.
	Enabled     bool   `toml:"enabled"`
	Host        string `toml:"host"`
	Port        int    `toml:"port"` // 0: 465 with use_tls, 587 with use_start_tls, else 25
	Username    string `toml:"username"`
	Password    Secret `toml:"password"`
	FromName    string `toml:"from_name"`
	FromAddress string `toml:"from_address"`
	LocalName   string `toml:"local_name"`  // EHLO name; "" = localhost
	AuthMethod  string `toml:"auth_method"` // plain, cram-md5 or none
	// UseTLS is implicit TLS (RFC 8314, the default); UseStartTLS requires
	// STARTTLS and fails the send when the server does not offer it or its
	// certificate does not verify. With neither, only a loopback server is
	// accepted.
	UseTLS      bool          `toml:"use_tls"`
	UseStartTLS bool          `toml:"use_start_tls"`
	Timeout     time.Duration `toml:"timeout"` // dial and every reply
}

// RateLimitsConfig holds the per-address cooldowns between account mails:
// a second request for the same address and purpose inside the cooldown
// sends nothing (409 for e-mail verification, the usual reply otherwise).
type RateLimitsConfig struct {
	EmailVerificationOTPCooldown time.Duration `toml:"email_verification_otp_cooldown"`
	PasswordResetCooldown        time.Duration `toml:"password_reset_cooldown"`
	EmailChangeCooldown          time.Duration `toml:"email_change_cooldown"`
}

// BackupConfig configures the local backups (backup.go). Every setting
// takes effect on reload, at the next check (at most a minute later).
type BackupConfig struct {
	// Enabled runs the recurrent backup. `ripc backup now` works either way.
	Enabled bool `toml:"enabled"`
	// Dir receives the archives; a relative path is relative to the
	// directory of app.db. Keep it on another disk, or copy it off the
	// machine: a backup beside the database dies with its disk.
	Dir string `toml:"dir"`
	// Strategy is "online" (SQLite backup API, paced by PagesPerStep and
	// StepSleep) or "vacuum" (VACUUM INTO: one read transaction, a
	// compacted copy).
	Strategy string `toml:"strategy"`
	// Interval is the age of the newest archive at which a new backup is
	// made (checked every minute).
	Interval time.Duration `toml:"interval"`
	// Retention is how many archives of each database are kept.
	Retention int `toml:"retention"`
	// PagesPerStep is how many pages the online strategy copies per step.
	PagesPerStep int `toml:"pages_per_step"`
	// StepSleep is the pause between online steps (0: none).
	StepSleep time.Duration `toml:"step_sleep"`
	// MaxRestarts bounds how often writes may restart a paced online
	// copy; after that the rest is copied in one step (one read
	// transaction, which in WAL mode does not block writers).
	MaxRestarts int `toml:"max_restarts"`
	// Timeout bounds one backup run.
	Timeout time.Duration `toml:"timeout"`
	// IncludeLogs backs up logs.db too.
	IncludeLogs bool `toml:"include_logs"`
}

// DefaultConfig returns the defaults every stored configuration overlays.
// Secrets are empty: [GenerateSecrets] fills them on first start.
func DefaultConfig() *Config {
	return &Config{
		Server: ServerConfig{
			Addr:              "127.0.0.1:8080",
			ShutdownTimeout:   15 * time.Second,
			ReadTimeout:       15 * time.Second,
			ReadHeaderTimeout: 5 * time.Second,
			WriteTimeout:      30 * time.Second,
			IdleTimeout:       60 * time.Second,
			MaxHeaderBytes:    32 << 10, // 32 KiB
			TrustedProxies:    []string{},
		},
		DB: DBConfig{
			ReadPoolSize: 4,
			BusyTimeout:  5 * time.Second,
			WriteTimeout: 5 * time.Second,
			ReadTimeout:  5 * time.Second,
			Synchronous:  "full",
		},
		JWT: JWTConfig{
			AuthTokenDuration:                 45 * time.Minute,
			SessionMaxAge:                     30 * 24 * time.Hour,
			VerificationEmailOTPTokenDuration: 10 * time.Minute,
			PasswordResetTokenDuration:        10 * time.Minute,
			EmailChangeOTPTokenDuration:       10 * time.Minute,
			OAuth2StateTokenDuration:          10 * time.Minute,
		},
		Endpoints: EndpointsConfig{
			ListEndpoints:               "GET /api/list-endpoints",
			RegisterWithPassword:        "POST /api/register-with-password",
			AuthWithPassword:            "POST /api/auth-with-password",
			RefreshAuth:                 "POST /api/refresh-auth",
			RequestEmailVerificationOTP: "POST /api/request-email-verification-otp",
			ConfirmEmailVerificationOTP: "POST /api/confirm-email-verification-otp",
			RequestPasswordResetOTP:     "POST /api/request-password-reset-otp",
			VerifyPasswordResetOTP:      "POST /api/verify-password-reset-otp",
			ConfirmPasswordResetOTP:     "POST /api/confirm-password-reset-otp",
			RequestEmailChangeOTP:       "POST /api/request-email-change-otp",
			ConfirmEmailChangeOTP:       "POST /api/confirm-email-change-otp",
			ListOAuth2Providers:         "GET /api/list-oauth2-providers",
			AuthWithOAuth2:              "POST /api/auth-with-oauth2",
			LogoutAll:                   "POST /api/logout-all",
			Health:                      "GET /api/health",
		},
		Jobs: JobsConfig{
			Concurrency:     16,
			PollInterval:    time.Second,
			Timeout:         time.Minute,
			Lease:           2 * time.Minute,
			MaxAttempts:     5,
			BackoffBase:     10 * time.Second,
			BackoffMax:      time.Hour,
			RetainCompleted: 24 * time.Hour,
			RetainFailed:    7 * 24 * time.Hour,
		},
		EndpointsBlockMismatch: Toggle{Activated: true},
		BlockIP: BlockIPConfig{
			Activated:     true,
			Level:         "medium",
			AllowedIPs:    []string{"127.0.0.0/8", "::1"},
			BlockDuration: 3 * time.Minute,
			MaxBlocked:    10_000,
		},
		BlockOversizedRequest: RequestLimitsConfig{
			Activated:        true,
			URLPathLimit:     2048,
			QueryStringLimit: 2048,
			HeaderCountLimit: 100,
			HeaderValueLimit: 4096,
			BodyLimit:        1 << 20, // 1 MiB
			ExcludedPaths:    []string{},
		},
		Metrics: MetricsConfig{
			Activated:  true,
			Endpoint:   "/metrics",
			AllowedIPs: []string{"127.0.0.1", "::1"},
		},
		BlockHost: BlockHostConfig{Activated: true, AllowedHosts: []string{}},
		BlockUAList: BlockUAListConfig{
			Activated: true,
			List:      `(?i)(sqlmap|nikto|nuclei|masscan|zgrab|acunetix|nessus|wpscan|dirbuster|gobuster|feroxbuster)`,
		},
		TLSHeaderSTS: HSTSConfig{Activated: true, MaxAge: 2 * 365 * 24 * time.Hour},
		Maintenance:  MaintenanceConfig{RetryAfter: 10 * time.Minute, AllowedPaths: []string{}},
		Log:          defaultLogConfig(),
		Notifier: NotifierConfig{Discord: DiscordConfig{
			APIRateLimit: 2 * time.Second,
			APIBurst:     5,
			SendTimeout:  10 * time.Second,
		}},
		SMTP: SMTPConfig{
			FromName:   "rip",
			AuthMethod: mailAuthPlain,
			UseTLS:     true,
			Timeout:    30 * time.Second,
		},
		RateLimits: RateLimitsConfig{
			EmailVerificationOTPCooldown: 2 * time.Minute,
			PasswordResetCooldown:        5 * time.Minute,
			EmailChangeCooldown:          5 * time.Minute,
		},
		Backup: BackupConfig{
			Enabled:      true,
			Dir:          "backups",
			Strategy:     backupOnline,
			Interval:     6 * time.Hour,
			Retention:    8,
			PagesPerStep: 1024, // 4 MiB of 4 KiB pages
			StepSleep:    10 * time.Millisecond,
			MaxRestarts:  3,
			Timeout:      time.Hour,
		},
	}
}

// minSecretBytes is the shortest accepted JWT secret (RFC 7518 §3.2: an
// HS256 key of at least 256 bits).
const minSecretBytes = 32

// secrets lists the per-purpose JWT secrets with their key names.
func (c *JWTConfig) secrets() []struct {
	key string
	val Secret
} {
	return []struct {
		key string
		val Secret
	}{
		{"jwt.auth_secret", c.AuthSecret},
		{"jwt.verification_email_otp_secret", c.VerificationEmailOTPSecret},
		{"jwt.password_reset_secret", c.PasswordResetSecret},
		{"jwt.email_change_otp_secret", c.EmailChangeOTPSecret},
		{"jwt.oauth2_state_secret", c.OAuth2StateSecret},
	}
}

// Validate reports every problem of c at once, each naming its key.
//
// # Security
//
// Refuses JWT secrets shorter than 32 bytes or shared between purposes, a
// public URL that is not an absolute http(s) URL, TLS material that does
// not parse, endpoint patterns that would panic the router or collide,
// and OAuth2 provider URLs that are not https (see [oauth2CheckURL]).
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	c.validateServer(bad)
	c.validateDB(bad)
	c.validateJWT(bad)
	c.validateEndpoints(bad)
	c.validateEdge(bad)
	c.validateLog(bad)
	c.validateJobs(bad)
	c.validateMail(bad)
	c.validateOAuth2(bad)
	c.validateBackup(bad)
	return errors.Join(errs...)
}

func (c *Config) validateMail(bad badFunc) {
	m := &c.SMTP
	if m.Timeout <= 0 {
		bad("smtp.timeout", "must be positive, got %s", m.Timeout)
	}
	if m.Enabled {
		if m.FromAddress == "" {
			bad("smtp.from_address", "is required when smtp.enabled is true")
		}
		if err := mailValidateConfig(*m); err != nil {
			// Each line of mailValidateConfig names its key.
			for _, e := range strings.Split(err.Error(), "\n") {
				e = strings.TrimPrefix(e, ErrMailPermanent.Error()+": ")
				key, msg, ok := strings.Cut(e, " ")
				if !ok || !strings.HasPrefix(key, "smtp.") {
					key, msg = "smtp", e
				}
				bad(key, "%s", msg)
			}
		}
	}
	r := &c.RateLimits
	for _, d := range []struct {
		key string
		d   time.Duration
	}{
		{"rate_limits.email_verification_otp_cooldown", r.EmailVerificationOTPCooldown},
		{"rate_limits.password_reset_cooldown", r.PasswordResetCooldown},
		{"rate_limits.email_change_cooldown", r.EmailChangeCooldown},
	} {
		if d.d <= 0 {
			bad(d.key, "must be positive, got %s", d.d)
		}
	}
}

type badFunc func(key, format string, args ...any)

func (c *Config) validateServer(bad badFunc) {
	s := &c.Server
	if err := validateHostPort(s.Addr); err != nil {
		bad("server.addr", "%v", err)
	}
	if s.PublicURL != "" {
		u, err := url.Parse(s.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			u.User != nil || u.RawQuery != "" || u.Fragment != "" || (u.Path != "" && u.Path != "/") {
			bad("server.public_url", "must be an absolute http(s) URL with no path, query or credentials, got %q", s.PublicURL)
		}
	}
	positive := []struct {
		key string
		d   time.Duration
	}{
		{"server.shutdown_timeout", s.ShutdownTimeout},
		{"server.read_timeout", s.ReadTimeout},
		{"server.read_header_timeout", s.ReadHeaderTimeout},
		{"server.write_timeout", s.WriteTimeout},
		{"server.idle_timeout", s.IdleTimeout},
	}
	for _, p := range positive {
		if p.d <= 0 {
			bad(p.key, "must be positive, got %s", p.d)
		}
	}
	if s.MaxHeaderBytes < 4<<10 || s.MaxHeaderBytes > 1<<20 {
		bad("server.max_header_bytes", "must be between 4096 and 1048576, got %d", s.MaxHeaderBytes)
	}
	if s.EnableTLS {
		if _, err := tls.X509KeyPair([]byte(s.CertData), []byte(s.KeyData)); err != nil {
			bad("server.cert_data", "TLS certificate and key do not parse as a pair: %v", err)
		}
	}
	if p, err := parsePrefixes(s.TrustedProxies); err != nil {
		bad("server.trusted_proxies", "%v", err)
	} else {
		c.trustedProxies = p
	}
	if (s.ClientIPProxyHeader == "") != (len(s.TrustedProxies) == 0) {
		bad("server.client_ip_proxy_header", "set together with server.trusted_proxies, or neither")
	}
	if s.RedirectAddr != "" {
		if err := validateHostPort(s.RedirectAddr); err != nil {
			bad("server.redirect_addr", "%v", err)
		}
		if !s.EnableTLS {
			bad("server.redirect_addr", "only meaningful with server.enable_tls")
		}
	}
}

func validateHostPort(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("must be HOST:PORT: %v", err)
	}
	if strings.ContainsAny(host, " /") {
		return fmt.Errorf("invalid host %q", host)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("invalid port %q", port)
	}
	return nil
}

func (c *Config) validateDB(bad badFunc) {
	d := &c.DB
	if d.ReadPoolSize < 1 || d.ReadPoolSize > 64 {
		bad("db.read_pool_size", "must be between 1 and 64, got %d", d.ReadPoolSize)
	}
	if d.BusyTimeout < 0 || d.BusyTimeout > time.Minute {
		bad("db.busy_timeout", "must be between 0 and 1m, got %s", d.BusyTimeout)
	}
	if d.WriteTimeout <= 0 {
		bad("db.write_timeout", "must be positive, got %s", d.WriteTimeout)
	}
	if d.ReadTimeout <= 0 {
		bad("db.read_timeout", "must be positive, got %s", d.ReadTimeout)
	}
	if d.Synchronous != "full" && d.Synchronous != "normal" {
		bad("db.synchronous", `must be "full" or "normal", got %q`, d.Synchronous)
	}
}

func (c *Config) validateJWT(bad badFunc) {
	seen := map[Secret]string{}
	for _, s := range c.JWT.secrets() {
		switch {
		case len(s.val) < minSecretBytes:
			bad(s.key, "must be at least %d bytes, got %d", minSecretBytes, len(s.val))
		case seen[s.val] != "":
			bad(s.key, "must differ from %s: every token purpose needs its own secret", seen[s.val])
		default:
			seen[s.val] = s.key
		}
	}
	j := &c.JWT
	for _, d := range []struct {
		key string
		d   time.Duration
	}{
		{"jwt.auth_token_duration", j.AuthTokenDuration},
		{"jwt.session_max_age", j.SessionMaxAge},
		{"jwt.verification_email_otp_token_duration", j.VerificationEmailOTPTokenDuration},
		{"jwt.password_reset_token_duration", j.PasswordResetTokenDuration},
		{"jwt.email_change_otp_token_duration", j.EmailChangeOTPTokenDuration},
		{"jwt.oauth2_state_token_duration", j.OAuth2StateTokenDuration},
	} {
		if d.d < time.Minute || d.d > 365*24*time.Hour {
			bad(d.key, "must be between 1m and 8760h, got %s", d.d)
		}
	}
	if j.SessionMaxAge < j.AuthTokenDuration {
		bad("jwt.session_max_age", "must be at least jwt.auth_token_duration")
	}
}

func (c *Config) validateJobs(bad badFunc) {
	j := &c.Jobs
	if j.Concurrency < 1 || j.Concurrency > 256 {
		bad("jobs.concurrency", "must be between 1 and 256, got %d", j.Concurrency)
	}
	if j.PollInterval < 10*time.Millisecond || j.PollInterval > time.Hour {
		bad("jobs.poll_interval", "must be between 10ms and 1h, got %s", j.PollInterval)
	}
	if j.Timeout < time.Second {
		bad("jobs.timeout", "must be at least 1s, got %s", j.Timeout)
	}
	if j.Lease <= j.Timeout {
		bad("jobs.lease", "must exceed jobs.timeout (%s) so a running handler is cancelled before its job can be claimed again, got %s", j.Timeout, j.Lease)
	}
	if j.MaxAttempts < 1 || j.MaxAttempts > jobMaxAttemptsLimit {
		bad("jobs.max_attempts", "must be between 1 and %d, got %d", jobMaxAttemptsLimit, j.MaxAttempts)
	}
	if j.BackoffBase < time.Millisecond {
		bad("jobs.backoff_base", "must be at least 1ms, got %s", j.BackoffBase)
	}
	if j.BackoffMax < j.BackoffBase {
		bad("jobs.backoff_max", "must be at least jobs.backoff_base, got %s", j.BackoffMax)
	}
	if j.RetainCompleted < 0 {
		bad("jobs.retain_completed", "must not be negative, got %s", j.RetainCompleted)
	}
	if j.RetainFailed < 0 {
		bad("jobs.retain_failed", "must not be negative, got %s", j.RetainFailed)
	}
}

func (c *Config) validateBackup(bad badFunc) {
	b := &c.Backup
	if b.Dir == "" {
		bad("backup.dir", "must not be empty")
	}
	if b.Strategy != backupOnline && b.Strategy != backupVacuum {
		bad("backup.strategy", `must be "online" or "vacuum", got %q`, b.Strategy)
	}
	if b.Interval < backupCheckInterval {
		bad("backup.interval", "must be at least %s, got %s", backupCheckInterval, b.Interval)
	}
	if b.Retention < 1 || b.Retention > 10000 {
		bad("backup.retention", "must be between 1 and 10000, got %d", b.Retention)
	}
	if b.PagesPerStep < 1 || b.PagesPerStep > 1<<20 {
		bad("backup.pages_per_step", "must be between 1 and 1048576, got %d", b.PagesPerStep)
	}
	if b.StepSleep < 0 || b.StepSleep > 10*time.Second {
		bad("backup.step_sleep", "must be between 0 and 10s, got %s", b.StepSleep)
	}
	if b.MaxRestarts < 0 || b.MaxRestarts > 1000 {
		bad("backup.max_restarts", "must be between 0 and 1000, got %d", b.MaxRestarts)
	}
	if b.Timeout < time.Minute {
		bad("backup.timeout", "must be at least 1m, got %s", b.Timeout)
	}
}

// routes lists the built-in endpoints as config key → pattern, in the
// fixed order the endpoints hash is computed over.
func (e *EndpointsConfig) routes() []struct{ Key, Pattern string } {
	return []struct{ Key, Pattern string }{
		{"refresh_auth", e.RefreshAuth},
		{"list_endpoints", e.ListEndpoints},
		{"auth_with_password", e.AuthWithPassword},
		{"auth_with_oauth2", e.AuthWithOAuth2},
		{"register_with_password", e.RegisterWithPassword},
		{"list_oauth2_providers", e.ListOAuth2Providers},
		{"request_password_reset_otp", e.RequestPasswordResetOTP},
		{"verify_password_reset_otp", e.VerifyPasswordResetOTP},
		{"confirm_password_reset_otp", e.ConfirmPasswordResetOTP},
		{"request_email_change_otp", e.RequestEmailChangeOTP},
		{"confirm_email_change_otp", e.ConfirmEmailChangeOTP},
		{"request_email_verification_otp", e.RequestEmailVerificationOTP},
		{"confirm_email_verification_otp", e.ConfirmEmailVerificationOTP},
		{"logout_all", e.LogoutAll},
		{"health", e.Health},
	}
}

// endpointMethods are the methods an endpoint pattern may name.
var endpointMethods = map[string]bool{"GET": true, "POST": true, "PUT": true, "PATCH": true, "DELETE": true}

func (c *Config) validateEndpoints(bad badFunc) {
	seen := map[string]string{}
	mux := http.NewServeMux()
	for _, r := range c.Endpoints.routes() {
		key := "endpoints." + r.Key
		if err := checkEndpointPattern(r.Pattern); err != nil {
			bad(key, "%v", err)
			continue
		}
		if other := seen[r.Pattern]; other != "" {
			bad(key, "pattern %q is also used by endpoints.%s", r.Pattern, other)
			continue
		}
		seen[r.Pattern] = r.Key
		if err := tryRegister(mux, r.Pattern); err != nil {
			bad(key, "%v", err)
		}
	}
}

// checkEndpointPattern accepts exactly "METHOD /path": one space, an
// upper-case method, a path of printable ASCII starting with '/'. Clients
// split the string on its single space, so anything else breaks them.
func checkEndpointPattern(p string) error {
	method, path, ok := strings.Cut(p, " ")
	if !ok || !endpointMethods[method] {
		return fmt.Errorf(`must be "METHOD /path" with METHOD one of GET, POST, PUT, PATCH, DELETE; got %q`, p)
	}
	if len(path) < 2 || path[0] != '/' || len(path) > 256 {
		return fmt.Errorf("path must start with / and be 2 to 256 bytes, got %q", path)
	}
	for i := 0; i < len(path); i++ {
		if b := path[i]; b <= ' ' || b >= 0x7f || b == '{' || b == '}' {
			return fmt.Errorf("path must be printable ASCII without spaces or wildcards, got %q", path)
		}
	}
	return nil
}

// tryRegister registers pattern on a scratch mux and turns the mux's
// panic on a malformed or conflicting pattern into an error.
func tryRegister(mux *http.ServeMux, pattern string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("invalid pattern %q: %v", pattern, r)
		}
	}()
	mux.Handle(pattern, http.NotFoundHandler())
	return nil
}

// publicURL returns the configured public base URL without a trailing
// slash, defaulting to the listen address.
func (c *Config) publicURL() string {
	if c.Server.PublicURL != "" {
		return strings.TrimSuffix(c.Server.PublicURL, "/")
	}
	scheme := "http"
	if c.Server.EnableTLS {
		scheme = "https"
	}
	host, port, _ := net.SplitHostPort(c.Server.Addr)
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}

// restartKeys reports which restart-only settings differ between two
// configurations, for the reload log.
func restartKeys(old, cur *Config) []string {
	var keys []string
	o, n := old.Server, cur.Server
	for _, d := range []struct {
		key  string
		diff bool
	}{
		{"server.addr", o.Addr != n.Addr},
		{"server.enable_tls", o.EnableTLS != n.EnableTLS},
		{"server.cert_data", o.CertData != n.CertData},
		{"server.key_data", o.KeyData != n.KeyData},
		{"server.redirect_addr", o.RedirectAddr != n.RedirectAddr},
		{"server timeouts", o.ReadTimeout != n.ReadTimeout || o.ReadHeaderTimeout != n.ReadHeaderTimeout ||
			o.WriteTimeout != n.WriteTimeout || o.IdleTimeout != n.IdleTimeout || o.MaxHeaderBytes != n.MaxHeaderBytes},
		{"db", old.DB.ReadPoolSize != cur.DB.ReadPoolSize || old.DB.BusyTimeout != cur.DB.BusyTimeout || old.DB.Synchronous != cur.DB.Synchronous},
		{"endpoints", old.Endpoints != cur.Endpoints},
		{"log.batch", old.Log.Batch.ChanSize != cur.Log.Batch.ChanSize || old.Log.Batch.FlushSize != cur.Log.Batch.FlushSize ||
			old.Log.Batch.FlushInterval != cur.Log.Batch.FlushInterval},
		{"notifier.discord", old.Notifier.Discord != cur.Notifier.Discord},
		{"jobs.concurrency", old.Jobs.Concurrency != cur.Jobs.Concurrency},
	} {
		if d.diff {
			keys = append(keys, d.key)
		}
	}
	return keys
}
