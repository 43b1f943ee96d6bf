package rip

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// This file holds the configuration tables of the edge guards, the log
// writer and the notifier, with their validation. Every setting here takes
// effect on reload unless marked "restart".

// BlockIPConfig configures BlockIp: heavy-hitter blocking on a top-k
// sketch (topk.go). Key names follow restinpieces.
type BlockIPConfig struct {
	// Activated turns the guard on.
	Activated bool `toml:"activated"`
	// Level is "low", "medium" or "high": the activation rate and share
	// of restinpieces' presets (see blockIPLevels). Changing it on reload
	// starts a fresh sketch and an empty block list.
	Level string `toml:"level"`
	// AllowedIPs lists addresses and CIDRs that are counted but never
	// blocked. Default: loopback, so health checks and a local load
	// generator are never refused.
	AllowedIPs []string `toml:"allowed_ips"`
	// BlockDuration is how long a heavy hitter is refused after the last
	// tick that found it heavy.
	BlockDuration time.Duration `toml:"block_duration"`
	// MaxBlocked bounds the block list; when full, the block expiring
	// first makes room.
	MaxBlocked int `toml:"max_blocked"`

	allow []netip.Prefix // parsed AllowedIPs, set by Validate
}

// RequestLimitsConfig configures BlockOversizedRequest: size limits
// checked cheapest first. A limit of 0 disables that check.
type RequestLimitsConfig struct {
	Activated bool `toml:"activated"`
	// URLPathLimit caps the escaped URL path in bytes (414).
	URLPathLimit int `toml:"url_path_limit"`
	// QueryStringLimit caps the raw query in bytes (414).
	QueryStringLimit int `toml:"query_string_limit"`
	// HeaderCountLimit caps the number of distinct header names (431).
	HeaderCountLimit int `toml:"header_count_limit"`
	// HeaderValueLimit caps each header value in bytes (431).
	HeaderValueLimit int `toml:"header_value_limit"`
	// BodyLimit caps the request body in bytes (413): a larger declared
	// Content-Length is refused at once, a chunked body is cut by
	// http.MaxBytesReader.
	BodyLimit int64 `toml:"body_limit"`
	// ExcludedPaths are exact URL paths exempt from BodyLimit (uploads).
	// URL and header limits still apply to them.
	ExcludedPaths []string `toml:"excluded_paths"`
}

// MetricsConfig configures the Prometheus endpoint (metrics.go).
type MetricsConfig struct {
	// Activated serves the exposition at Endpoint. Counting never stops.
	Activated bool `toml:"activated"`
	// Endpoint is the URL path of the exposition; any method but GET and
	// HEAD gets 405.
	Endpoint string `toml:"endpoint"`
	// AllowedIPs lists the addresses and CIDRs (IPv4 and IPv6) that may
	// scrape; everyone else gets the 404 envelope.
	AllowedIPs []string `toml:"allowed_ips"`

	allow []netip.Prefix // parsed AllowedIPs, set by Validate
}

// BlockHostConfig configures BlockHost: the Host header allow-list.
type BlockHostConfig struct {
	Activated bool `toml:"activated"`
	// AllowedHosts lists host names, exact ("app.example.com") or a
	// wildcard for subdomains ("*.example.com", which does not match the
	// apex). Compared case-insensitively, port and one trailing dot
	// ignored. Empty: the host of server.public_url if set, otherwise
	// every host is accepted and rip logs a warning at start.
	AllowedHosts []string `toml:"allowed_hosts"`

	hosts []string // normalized AllowedHosts (or the public URL host), set by Validate
}

// BlockUAListConfig configures BlockUaList: a User-Agent block-list.
type BlockUAListConfig struct {
	Activated bool `toml:"activated"`
	// List is an RE2 regular expression matched against the first 512
	// bytes of the User-Agent; a match is refused with 403. Empty blocks
	// nothing.
	List string `toml:"list"`

	match *uaMatcher // compiled List, set by Validate
}

// HSTSConfig configures the Strict-Transport-Security header sent on
// every response served over TLS (never over plain HTTP: RFC 6797 §7.2).
type HSTSConfig struct {
	Activated bool `toml:"activated"`
	// MaxAge is the max-age; ASVS 3.4.1 asks for at least a year.
	MaxAge time.Duration `toml:"max_age"`
	// IncludeSubdomains adds includeSubDomains: set it only when every
	// subdomain is served over HTTPS.
	IncludeSubdomains bool `toml:"include_subdomains"`
	// Preload adds preload (for the browsers' preload lists).
	Preload bool `toml:"preload"`

	header []string // the header value, set by Validate (shared, never modified)
}

// MaintenanceConfig configures maintenance mode: 503 with Retry-After for
// every request except those let through below.
type MaintenanceConfig struct {
	Activated bool `toml:"activated"`
	// RetryAfter is sent in the Retry-After header (whole seconds).
	RetryAfter time.Duration `toml:"retry_after"`
	// AllowGet lets GET and HEAD requests through (a read-only mode).
	AllowGet bool `toml:"allow_get"`
	// AllowedPaths are exact URL paths served as usual.
	AllowedPaths []string `toml:"allowed_paths"`
}

// LogConfig configures the log writer (log.go) and the request log.
type LogConfig struct {
	Request struct {
		// Activated writes one record per request to logs.db.
		Activated bool `toml:"activated"`
		// Limits cap each field in bytes; longer values are cut (on a
		// UTF-8 boundary) and end with "...".
		Limits struct {
			URI       int `toml:"uri"`
			UserAgent int `toml:"user_agent"`
			Referer   int `toml:"referer"`
			RemoteIP  int `toml:"remote_ip"`
			Host      int `toml:"host"`
		} `toml:"limits"`
	} `toml:"request"`
	Batch struct {
		// FlushSize is the most records written in one transaction
		// (restart).
		FlushSize int `toml:"flush_size"`
		// FlushInterval is the longest a record waits before it is
		// written (restart).
		FlushInterval time.Duration `toml:"flush_interval"`
		// ChanSize bounds the records waiting in memory; beyond it
		// records are dropped and counted, never waited for (restart).
		ChanSize int `toml:"chan_size"`
		// Level is the least severe level stored: "debug", "info",
		// "warn" or "error".
		Level string `toml:"level"`
	} `toml:"batch"`
	// Retention is how long records are kept; older ones are deleted
	// hourly. 0 keeps them forever.
	Retention time.Duration `toml:"retention"`

	level slog.Level // parsed Batch.Level, set by Validate
}

func defaultLogConfig() LogConfig {
	var l LogConfig
	l.Request.Activated = true
	l.Request.Limits.URI = 512
	l.Request.Limits.UserAgent = 256
	l.Request.Limits.Referer = 512
	l.Request.Limits.RemoteIP = 64
	l.Request.Limits.Host = 256
	l.Batch.FlushSize = 256
	l.Batch.FlushInterval = 2 * time.Second
	l.Batch.ChanSize = 4096
	l.Batch.Level = "info"
	l.Retention = 30 * 24 * time.Hour
	return l
}

// NotifierConfig configures the operator notifiers.
type NotifierConfig struct {
	Discord DiscordConfig `toml:"discord"`
}

// DiscordConfig configures the built-in [DiscordNotifier] (restart: the
// notifier is built once by [New]).
type DiscordConfig struct {
	Activated bool `toml:"activated"`
	// WebhookURL is https://discord.com/api/webhooks/ID/TOKEN; the token
	// is a credential.
	WebhookURL   Secret        `toml:"webhook_url"`
	APIRateLimit time.Duration `toml:"api_rate_limit"` // one message per interval
	APIBurst     int           `toml:"api_burst"`
	SendTimeout  time.Duration `toml:"send_timeout"`
}

// Edge limits on configuration values.
const (
	maxAllowListEntries = 1024 // per address allow-list
	maxAllowedHosts     = 256
	maxUARegexpBytes    = 4096
	maxExcludedPaths    = 256
	maxLogFieldLimit    = 8192 // bytes per request-log field
)

func (c *Config) validateEdge(bad badFunc) {
	b := &c.BlockIP
	if _, ok := blockIPLevels[b.Level]; !ok {
		bad("block_ip.level", `must be "low", "medium" or "high", got %q`, b.Level)
	}
	b.allow = validatePrefixes(bad, "block_ip.allowed_ips", b.AllowedIPs)
	if b.BlockDuration < time.Second || b.BlockDuration > 24*time.Hour {
		bad("block_ip.block_duration", "must be between 1s and 24h, got %s", b.BlockDuration)
	}
	if b.MaxBlocked < 1 || b.MaxBlocked > 1_000_000 {
		bad("block_ip.max_blocked", "must be between 1 and 1000000, got %d", b.MaxBlocked)
	}

	l := &c.BlockOversizedRequest
	for _, n := range []struct {
		key string
		v   int64
	}{
		{"block_oversized_request.url_path_limit", int64(l.URLPathLimit)},
		{"block_oversized_request.query_string_limit", int64(l.QueryStringLimit)},
		{"block_oversized_request.header_count_limit", int64(l.HeaderCountLimit)},
		{"block_oversized_request.header_value_limit", int64(l.HeaderValueLimit)},
		{"block_oversized_request.body_limit", l.BodyLimit},
	} {
		if n.v < 0 {
			bad(n.key, "must be 0 (off) or positive, got %d", n.v)
		}
	}
	validatePaths(bad, "block_oversized_request.excluded_paths", l.ExcludedPaths)

	m := &c.Metrics
	if err := checkURLPath(m.Endpoint); err != nil {
		bad("metrics.endpoint", "%v", err)
	}
	m.allow = validatePrefixes(bad, "metrics.allowed_ips", m.AllowedIPs)

	c.validateBlockHost(bad)

	u := &c.BlockUAList
	u.match = nil
	if len(u.List) > maxUARegexpBytes {
		bad("block_ua_list.list", "longer than %d bytes", maxUARegexpBytes)
	} else if u.List != "" {
		if re, err := regexp.Compile(u.List); err != nil {
			bad("block_ua_list.list", "not an RE2 regular expression: %v", err)
		} else {
			u.match = newUAMatcher(re)
		}
	}

	h := &c.TLSHeaderSTS
	if h.MaxAge < 0 || h.MaxAge > 10*365*24*time.Hour {
		bad("tls_header_sts.max_age", "must be between 0 and 87600h, got %s", h.MaxAge)
	}
	v := "max-age=" + strconv.FormatInt(int64(h.MaxAge/time.Second), 10)
	if h.IncludeSubdomains {
		v += "; includeSubDomains"
	}
	if h.Preload {
		v += "; preload"
	}
	h.header = []string{v}

	mt := &c.Maintenance
	if mt.RetryAfter < time.Second || mt.RetryAfter > 24*time.Hour {
		bad("maintenance.retry_after", "must be between 1s and 24h, got %s", mt.RetryAfter)
	}
	validatePaths(bad, "maintenance.allowed_paths", mt.AllowedPaths)

	d := &c.Notifier.Discord
	if d.Activated {
		if _, err := discordValidateWebhookURL(string(d.WebhookURL), false); err != nil {
			bad("notifier.discord.webhook_url", "%v", err)
		}
	}
	if d.APIRateLimit < 0 || d.APIRateLimit > discordMaxInterval {
		bad("notifier.discord.api_rate_limit", "must be between 0 and %s, got %s", discordMaxInterval, d.APIRateLimit)
	}
	if d.APIBurst < 0 || d.APIBurst > discordMaxBurst {
		bad("notifier.discord.api_burst", "must be between 0 and %d, got %d", discordMaxBurst, d.APIBurst)
	}
	if d.SendTimeout < 0 || d.SendTimeout > time.Minute {
		bad("notifier.discord.send_timeout", "must be between 0 and 1m, got %s", d.SendTimeout)
	}
}

// validateBlockHost normalizes the allow-list; when it is empty the host
// of server.public_url stands in for it.
func (c *Config) validateBlockHost(bad badFunc) {
	bh := &c.BlockHost
	bh.hosts = nil
	if len(bh.AllowedHosts) > maxAllowedHosts {
		bad("block_host.allowed_hosts", "more than %d entries", maxAllowedHosts)
		return
	}
	for _, h := range bh.AllowedHosts {
		n := normalizeHost(h)
		rest, wild := strings.CutPrefix(n, "*.")
		if n == "" || strings.ContainsAny(rest, "*/ @:[]") || (wild && rest == "") || len(n) > 253 {
			bad("block_host.allowed_hosts", "%q is not a host name or *.domain wildcard", h)
			continue
		}
		bh.hosts = append(bh.hosts, n)
	}
	if len(bh.AllowedHosts) == 0 && c.Server.PublicURL != "" {
		if u, err := url.Parse(c.Server.PublicURL); err == nil && u.Hostname() != "" {
			bh.hosts = []string{normalizeHost(u.Hostname())}
		}
	}
}

// normalizeHost lower-cases a host name, strips a port and one trailing
// dot, so that "App.Example.com.:443" compares equal to "app.example.com".
func normalizeHost(h string) string {
	h = strings.TrimSpace(h)
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	}
	h = strings.TrimSuffix(h, ".")
	return strings.ToLower(h)
}

// validatePrefixes parses an address allow-list.
func validatePrefixes(bad badFunc, key string, list []string) []netip.Prefix {
	if len(list) > maxAllowListEntries {
		bad(key, "more than %d entries", maxAllowListEntries)
		return nil
	}
	p, err := parsePrefixes(list)
	if err != nil {
		bad(key, "%v", err)
		return nil
	}
	return p
}

// validatePaths checks a list of exact URL paths.
func validatePaths(bad badFunc, key string, paths []string) {
	if len(paths) > maxExcludedPaths {
		bad(key, "more than %d entries", maxExcludedPaths)
	}
	for _, p := range paths {
		if err := checkURLPath(p); err != nil {
			bad(key, "%v", err)
		}
	}
}

// checkURLPath accepts an absolute path of printable ASCII.
func checkURLPath(p string) error {
	if len(p) < 1 || p[0] != '/' || len(p) > 256 {
		return fmt.Errorf("must be a path starting with / of at most 256 bytes, got %q", p)
	}
	for i := 0; i < len(p); i++ {
		if b := p[i]; b <= ' ' || b >= 0x7f {
			return fmt.Errorf("must be printable ASCII without spaces, got %q", p)
		}
	}
	return nil
}

func (c *Config) validateLog(bad badFunc) {
	l := &c.Log
	lim := &l.Request.Limits
	for _, f := range []struct {
		key   string
		v     int
		least int
	}{
		{"log.request.limits.uri", lim.URI, 64},
		{"log.request.limits.user_agent", lim.UserAgent, 32},
		{"log.request.limits.referer", lim.Referer, 64},
		{"log.request.limits.remote_ip", lim.RemoteIP, 45}, // an IPv6 address with a /64
		{"log.request.limits.host", lim.Host, 32},
	} {
		if f.v < f.least || f.v > maxLogFieldLimit {
			bad(f.key, "must be between %d and %d, got %d", f.least, maxLogFieldLimit, f.v)
		}
	}
	b := &l.Batch
	if b.FlushSize < 1 || b.FlushSize > 10_000 {
		bad("log.batch.flush_size", "must be between 1 and 10000, got %d", b.FlushSize)
	}
	if b.ChanSize < b.FlushSize || b.ChanSize > 1_000_000 {
		bad("log.batch.chan_size", "must be between log.batch.flush_size and 1000000, got %d", b.ChanSize)
	}
	if b.FlushInterval < 10*time.Millisecond || b.FlushInterval > time.Minute {
		bad("log.batch.flush_interval", "must be between 10ms and 1m, got %s", b.FlushInterval)
	}
	if err := l.level.UnmarshalText([]byte(b.Level)); err != nil || strings.ContainsAny(b.Level, "+-") {
		bad("log.batch.level", `must be "debug", "info", "warn" or "error", got %q`, b.Level)
	}
	if l.Retention != 0 && l.Retention < time.Hour {
		bad("log.retention", "must be 0 (keep forever) or at least 1h, got %s", l.Retention)
	}
}
