package rip

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"zombiezen.com/go/sqlite"
)

// envelopeOf decodes a recorded envelope and fails unless it has status
// and code and agrees with the HTTP status.
func envelopeOf(t *testing.T, w *httptest.ResponseRecorder, status int, code string) {
	t.Helper()
	var env struct {
		Status int    `json:"status"`
		Code   string `json:"code"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &env); err != nil {
		t.Fatalf("%d: body is not an envelope: %q", w.Code, w.Body.String())
	}
	if w.Code != status || env.Status != status || env.Code != code {
		t.Fatalf("got %d %s (%s), want %d %s", w.Code, env.Code, w.Body.String(), status, code)
	}
}

func TestEdgeGuards(t *testing.T) {
	ta := newTestApp(t)
	ta.HandleFunc("POST /test/echo", func(w http.ResponseWriter, r *http.Request) {
		var v map[string]any
		if decodeJSON(w, r, &v) {
			WriteJSON(w, 200, "ok", "echo", nil)
		}
	})
	ta.HandleFunc("POST /upload", func(w http.ResponseWriter, r *http.Request) {
		n, err := io.Copy(io.Discard, r.Body)
		if err != nil {
			writeReply(w, codeErrBodyTooLarge, nil)
			return
		}
		WriteJSON(w, 200, "ok", strconv.FormatInt(n, 10), nil)
	})
	ta.setConfig(func(c *Config) {
		c.BlockHost.AllowedHosts = []string{"App.Example.com", "*.example.org"}
		c.BlockOversizedRequest.URLPathLimit = 64
		c.BlockOversizedRequest.QueryStringLimit = 64
		c.BlockOversizedRequest.HeaderCountLimit = 10
		c.BlockOversizedRequest.HeaderValueLimit = 128
		c.BlockOversizedRequest.BodyLimit = 100
		c.BlockOversizedRequest.ExcludedPaths = []string{"/upload"}
	})
	const peer = "203.0.113.9:4000"
	big := strings.Repeat("x", 200)
	many := []string{}
	for i := range 11 {
		many = append(many, "X-H"+strconv.Itoa(i)+": v")
	}
	for _, tc := range []struct {
		name, method, target string
		host                 string
		body                 string
		headers              []string
		status               int
		code                 string
	}{
		{"allowed host", "GET", "/api/health", "app.example.com", "", nil, 200, codeOKHealth},
		{"host any case, port, trailing dot", "GET", "/api/health", "APP.example.COM.:8443", "", nil, 200, codeOKHealth},
		{"wildcard subdomain", "GET", "/api/health", "a.b.example.org", "", nil, 200, codeOKHealth},
		{"wildcard excludes apex", "GET", "/api/health", "example.org", "", nil, 421, codeErrMisdirected},
		{"suffix is not a subdomain", "GET", "/api/health", "evilexample.org", "", nil, 421, codeErrMisdirected},
		{"other host", "GET", "/api/health", "evil.test", "", nil, 421, codeErrMisdirected},
		{"path too long", "GET", "/" + big, "app.example.com", "", nil, 414, codeErrURITooLong},
		{"query too long", "GET", "/api/health?q=" + big, "app.example.com", "", nil, 414, codeErrURITooLong},
		{"too many headers", "GET", "/api/health", "app.example.com", "", many, 431, codeErrHeaderTooLarge},
		{"header value too long", "GET", "/api/health", "app.example.com", "", []string{"X-Big: " + big}, 431, codeErrHeaderTooLarge},
		{"declared body too large", "POST", "/test/echo", "app.example.com", `{"a":"` + big + `"}`, nil, 413, codeErrBodyTooLarge},
		{"body within limit", "POST", "/test/echo", "app.example.com", `{"a":"b"}`, nil, 200, "ok"},
		{"excluded path takes a big body", "POST", "/upload", "app.example.com", big, nil, 200, "ok"},
		{"blocked user agent", "GET", "/api/health", "app.example.com", "", []string{"User-Agent: sqlmap/1.7"}, 403, codeErrForbidden},
		{"browser user agent", "GET", "/api/health", "app.example.com", "", []string{"User-Agent: Mozilla/5.0 (X11; Linux x86_64)"}, 200, codeOKHealth},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var body io.Reader
			if tc.body != "" {
				body = strings.NewReader(tc.body)
			}
			r := httptest.NewRequest(tc.method, tc.target, body)
			r.RemoteAddr, r.Host = peer, tc.host
			r.Header.Set("Content-Type", "application/json")
			for _, h := range tc.headers {
				k, v, _ := strings.Cut(h, ": ")
				r.Header.Set(k, v)
			}
			w := httptest.NewRecorder()
			ta.Handler().ServeHTTP(w, r)
			envelopeOf(t, w, tc.status, tc.code)
			if w.Header().Get("X-Content-Type-Options") != "nosniff" {
				t.Error("envelope without the JSON security headers")
			}
		})
	}
	t.Run("chunked body over the limit", func(t *testing.T) {
		r := httptest.NewRequest("POST", "/test/echo", io.MultiReader(strings.NewReader(`{"a":"`), strings.NewReader(big+`"}`)))
		r.ContentLength = -1
		r.RemoteAddr, r.Host = peer, "app.example.com"
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		ta.Handler().ServeHTTP(w, r)
		envelopeOf(t, w, 413, codeErrBodyTooLarge)
	})
	t.Run("guards switched off by config", func(t *testing.T) {
		ta.setConfig(func(c *Config) {
			c.BlockHost.Activated = false
			c.BlockOversizedRequest.Activated = false
			c.BlockUAList.Activated = false
		})
		w := ta.do("GET", "/api/health?q="+big, peer, nil, "User-Agent: sqlmap", "X-Big: "+big)
		envelopeOf(t, w, 200, codeOKHealth)
	})
}

func TestBlockHostDefaultsToPublicURL(t *testing.T) {
	c := validConfig()
	c.Server.PublicURL = "https://App.Example.com:8443"
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if len(c.BlockHost.hosts) != 1 || c.BlockHost.hosts[0] != "app.example.com" {
		t.Fatalf("hosts = %q", c.BlockHost.hosts)
	}
	c.BlockHost.AllowedHosts = []string{"*.example.com"}
	c.Validate()
	if !hostAllowed("a.example.com", c.BlockHost.hosts) || hostAllowed("app.example.com.evil.test", c.BlockHost.hosts) {
		t.Fatal("explicit list does not replace the public URL host")
	}
}

func TestMaintenance(t *testing.T) {
	ta := newTestApp(t)
	ta.setConfig(func(c *Config) { c.Maintenance.Activated = true })
	w := ta.do("GET", "/api/health", "192.0.2.1:1", nil)
	envelopeOf(t, w, 503, codeErrMaintenance)
	if w.Header().Get("Retry-After") != "600" {
		t.Errorf("Retry-After = %q, want 600", w.Header().Get("Retry-After"))
	}
	ta.setConfig(func(c *Config) { c.Maintenance.AllowGet = true })
	envelopeOf(t, ta.do("GET", "/api/health", "192.0.2.1:1", nil), 200, codeOKHealth)
	envelopeOf(t, ta.do("POST", "/api/refresh-auth", "192.0.2.1:1", nil), 503, codeErrMaintenance)
	ta.setConfig(func(c *Config) { c.Maintenance.AllowGet = false; c.Maintenance.AllowedPaths = []string{"/api/health"} })
	envelopeOf(t, ta.do("GET", "/api/health", "192.0.2.1:1", nil), 200, codeOKHealth)
	envelopeOf(t, ta.do("GET", "/api/list-endpoints", "192.0.2.1:1", nil), 503, codeErrMaintenance)
	ta.setConfig(func(c *Config) { c.Maintenance.Activated = false })
	envelopeOf(t, ta.do("GET", "/api/list-endpoints", "192.0.2.1:1", nil), 200, codeOKEndpoints)
}

// TestBlockIPThroughEdge floods from one address at the "low" level: it
// is refused with 429 and Retry-After, an allow-listed address flooding
// the same way never is, and switching block_ip off really lets it in.
func TestBlockIPThroughEdge(t *testing.T) {
	ta := newTestApp(t, func(c *Config) { c.BlockIP.Level = "low" })
	clock := newTestClock()
	ta.Now = clock.Now // a still clock: every tick looks infinitely fast, so the rate gate is open
	flood := func(remote string, n int) (refused int, last *httptest.ResponseRecorder) {
		for range n {
			w := ta.do("GET", "/api/list-endpoints", remote, nil)
			if w.Code == 429 {
				refused++
				last = w
			}
		}
		return refused, last
	}
	if n, _ := flood("127.0.0.1:5000", 1200); n != 0 {
		t.Fatalf("allow-listed loopback refused %d times", n)
	}
	n, last := flood("203.0.113.7:5000", 1200)
	if n == 0 {
		t.Fatal("a single address sending everything was never blocked")
	}
	envelopeOf(t, last, 429, codeErrTooManyRequests)
	if ra, _ := strconv.Atoi(last.Header().Get("Retry-After")); ra < 1 || ra > 180 {
		t.Errorf("Retry-After = %q", last.Header().Get("Retry-After"))
	}
	// Another IPv4 client is untouched; the same /64 is the same client.
	envelopeOf(t, ta.do("GET", "/api/list-endpoints", "198.51.100.1:1", nil), 200, codeOKEndpoints)
	ta.setConfig(func(c *Config) { c.BlockIP.Activated = false })
	envelopeOf(t, ta.do("GET", "/api/list-endpoints", "203.0.113.7:5000", nil), 200, codeOKEndpoints)
	ta.setConfig(func(c *Config) { c.BlockIP.Activated = true })
	envelopeOf(t, ta.do("GET", "/api/list-endpoints", "203.0.113.7:5000", nil), 429, codeErrTooManyRequests)
	clock.Advance(3*time.Minute + time.Second)
	envelopeOf(t, ta.do("GET", "/api/list-endpoints", "203.0.113.7:5000", nil), 200, codeOKEndpoints)
	if got := ta.metrics.blocked[metricsBlockIP].load(); got != uint64(n)+1 {
		t.Errorf("blocked counter = %d, want %d", got, n+1)
	}
}

// TestBlockIPUsesTrustedClientIP: behind a trusted proxy the forwarded
// client is blocked, not the proxy; a spoofed header from an untrusted
// peer changes nothing.
func TestBlockIPUsesTrustedClientIP(t *testing.T) {
	ta := newTestApp(t, func(c *Config) {
		c.BlockIP.Level = "low"
		c.BlockIP.AllowedIPs = []string{}
		c.Server.TrustedProxies = []string{"10.0.0.0/8"}
		c.Server.ClientIPProxyHeader = "X-Forwarded-For"
	})
	ta.Now = newTestClock().Now
	for range 1200 {
		ta.do("GET", "/api/health", "10.1.1.1:1", nil, "X-Forwarded-For: 1.2.3.4, 203.0.113.50")
	}
	envelopeOf(t, ta.do("GET", "/api/health", "10.1.1.1:1", nil, "X-Forwarded-For: 203.0.113.50"), 429, codeErrTooManyRequests)
	envelopeOf(t, ta.do("GET", "/api/health", "10.1.1.1:1", nil, "X-Forwarded-For: 198.51.100.2"), 200, codeOKHealth)
	// An untrusted peer cannot claim to be the blocked client or escape it.
	envelopeOf(t, ta.do("GET", "/api/health", "192.0.2.8:1", nil, "X-Forwarded-For: 203.0.113.50"), 200, codeOKHealth)
}

func TestHSTSOnlyOverTLS(t *testing.T) {
	ta := newTestApp(t)
	w := ta.do("GET", "/api/health", "192.0.2.1:1", nil)
	if w.Header().Get("Strict-Transport-Security") != "" {
		t.Fatal("HSTS sent over plain HTTP (RFC 6797 §7.2)")
	}
	for _, tc := range []struct {
		name   string
		edit   func(*Config)
		target string
		want   string
	}{
		{"default", func(*Config) {}, "/api/health", "max-age=63072000"},
		{"on a rejection", func(*Config) {}, "/nope", "max-age=63072000"},
		{"subdomains and preload", func(c *Config) { c.TLSHeaderSTS.IncludeSubdomains, c.TLSHeaderSTS.Preload = true, true }, "/api/health", "max-age=63072000; includeSubDomains; preload"},
		{"off", func(c *Config) { c.TLSHeaderSTS.Activated = false }, "/api/health", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ta.setConfig(func(c *Config) { *c = *defaultsWithSecrets(ta.Config()); tc.edit(c) })
			r := httptest.NewRequest("GET", "https://127.0.0.1"+tc.target, nil)
			w := httptest.NewRecorder()
			ta.Handler().ServeHTTP(w, r)
			if got := w.Header().Get("Strict-Transport-Security"); got != tc.want {
				t.Errorf("Strict-Transport-Security = %q, want %q", got, tc.want)
			}
		})
	}
}

// defaultsWithSecrets returns the defaults carrying c's secrets.
func defaultsWithSecrets(c *Config) *Config {
	d := DefaultConfig()
	d.JWT = c.JWT
	return d
}

func TestMetricsEndpoint(t *testing.T) {
	ta := newTestApp(t)
	for i := range 30 {
		ta.do("GET", "/random-"+strconv.Itoa(i), "192.0.2.1:1", nil) // 404s: no new series
	}
	ta.do("GET", "/api/health", "192.0.2.1:1", nil, "User-Agent: nikto")
	if err := ta.Write(context.Background(), func(*sqlite.Conn) error { return nil }); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, remote string
		status       int
	}{
		{"loopback v4", "127.0.0.1:9", 200},
		{"loopback v6", "[::1]:9", 200},
		{"other address", "192.0.2.1:9", 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := ta.do("GET", "/metrics", tc.remote, nil)
			if tc.status == 404 {
				envelopeOf(t, w, 404, codeErrNotFound)
				return
			}
			body := w.Body.String()
			for _, want := range []string{
				`http_server_requests_total{code="404"} 30`,
				`rip_requests_blocked_total{reason="block_ua"} 1`,
				"rip_db_write_lock_wait_seconds_count ",
				"rip_config_generation 1",
				"http_server_request_duration_seconds_bucket",
				"go_goroutines",
			} {
				if !strings.Contains(body, want) {
					t.Errorf("exposition lacks %q", want)
				}
			}
			if n := strings.Count(body, "\nhttp_server_requests_total{"); n > 3 {
				t.Errorf("%d code series after 30 random paths", n)
			}
			if strings.Contains(body, "rip_db_write_lock_wait_seconds_count 0\n") {
				t.Error("app.db write lock wait not wired to metrics")
			}
		})
	}
	ta.setConfig(func(c *Config) { c.Metrics.AllowedIPs = []string{"10.0.0.0/8", "fd00::/8"} })
	envelopeOf(t, ta.do("GET", "/metrics", "127.0.0.1:9", nil), 404, codeErrNotFound)
	if w := ta.do("GET", "/metrics", "[fd00::5]:9", nil); w.Code != 200 {
		t.Errorf("IPv6 CIDR allow-list: %d", w.Code)
	}
	envelopeOf(t, ta.do("POST", "/metrics", "10.1.2.3:9", nil), 405, codeErrMethodNotAllowed)
	ta.setConfig(func(c *Config) { c.Metrics.Activated = false })
	envelopeOf(t, ta.do("GET", "/metrics", "10.1.2.3:9", nil), 404, codeErrNotFound)
}

func TestMetricsCountsBusy(t *testing.T) {
	ta := newTestApp(t, func(c *Config) { c.DB.BusyTimeout = 20 * time.Millisecond; c.DB.WriteTimeout = 300 * time.Millisecond })
	release := lockDB(t, ta.opts.DB)
	err := ta.Write(context.Background(), func(*sqlite.Conn) error { return nil })
	release()
	if err == nil {
		t.Fatal("write succeeded under an exclusive lock")
	}
	if ta.metrics.dbBusy.load() == 0 {
		t.Fatal("SQLITE_BUSY not counted")
	}
}

// fakeNotifier records notifications.
type fakeNotifier struct {
	mu   sync.Mutex
	sent []Notification
}

func (f *fakeNotifier) Notify(_ context.Context, n Notification) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sent = append(f.sent, n)
	return nil
}

func TestPanicRecoveredLoggedAndNotified(t *testing.T) {
	ta := newTestApp(t)
	fn := &fakeNotifier{}
	ta.Notifier = fn
	ta.HandleFunc("GET /test/panic", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Partial", "secret")
		panic("kaboom")
	})
	ta.HandleFunc("GET /test/late-panic", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "partial")
		panic("late")
	})
	w := ta.do("GET", "/test/panic", "192.0.2.1:1", nil)
	envelopeOf(t, w, 500, codeErrInternal)
	if w.Header().Get("X-Partial") != "" {
		t.Error("headers of the panicking handler leaked")
	}
	// A panic after the answer started aborts the connection (net/http
	// recovers http.ErrAbortHandler and closes it) instead of ending a
	// truncated body as if it were complete.
	func() {
		defer func() {
			if v := recover(); v != http.ErrAbortHandler {
				t.Errorf("late panic: recovered %v, want http.ErrAbortHandler", v)
			}
		}()
		ta.do("GET", "/test/late-panic", "192.0.2.1:1", nil)
	}()
	if len(fn.sent) != 2 || fn.sent[0].Source != "http" || fn.sent[0].Fields["panic"] != "kaboom" {
		t.Fatalf("notifications: %+v", fn.sent)
	}
	if got := ta.metrics.requests.counts[500-metricsMinCode].Load(); got != 1 {
		t.Errorf("500s counted: %d", got)
	}
}

func TestDiscordNotifierFromConfig(t *testing.T) {
	ta := newTestApp(t, func(c *Config) {
		c.Notifier.Discord.Activated = true
		c.Notifier.Discord.WebhookURL = "https://discord.com/api/webhooks/1/abc"
	})
	d, ok := ta.Notifier.(*DiscordNotifier)
	if !ok || d.WebhookURL != "https://discord.com/api/webhooks/1/abc" || d.Interval != 2*time.Second || d.Burst != 5 {
		t.Fatalf("Notifier = %#v", ta.Notifier)
	}
	if len(ta.daemons) != 1 || ta.daemons[0].name != "rip.notifier.discord" {
		t.Fatal("the notifier's Run is not a daemon")
	}
	c := validConfig()
	c.Notifier.Discord.Activated = true
	c.Notifier.Discord.WebhookURL = "https://evil.test/api/webhooks/1/abc"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "notifier.discord.webhook_url") {
		t.Fatalf("foreign webhook host accepted: %v", err)
	}
}

func TestValidateEdgeKeys(t *testing.T) {
	c := validConfig()
	c.BlockIP.Level = "extreme"
	c.BlockIP.AllowedIPs = []string{"not-an-ip"}
	c.BlockOversizedRequest.BodyLimit = -1
	c.BlockOversizedRequest.ExcludedPaths = []string{"upload"}
	c.Metrics.Endpoint = "metrics"
	c.Metrics.AllowedIPs = []string{"::1/200"}
	c.BlockHost.AllowedHosts = []string{"a b", "*."}
	c.BlockUAList.List = "(unclosed"
	c.TLSHeaderSTS.MaxAge = -time.Second
	c.Maintenance.RetryAfter = 0
	c.Log.Batch.Level = "loud"
	c.Log.Batch.ChanSize = 1
	c.Log.Request.Limits.URI = 1
	c.Log.Retention = time.Minute
	err := c.Validate()
	for _, key := range []string{"block_ip.level", "block_ip.allowed_ips", "block_oversized_request.body_limit",
		"block_oversized_request.excluded_paths", "metrics.endpoint", "metrics.allowed_ips", "block_host.allowed_hosts",
		"block_ua_list.list", "tls_header_sts.max_age", "maintenance.retry_after", "log.batch.level",
		"log.batch.chan_size", "log.request.limits.uri", "log.retention"} {
		if err == nil || !strings.Contains(err.Error(), key+":") {
			t.Errorf("Validate did not report %s; got:\n%v", key, err)
		}
	}
}

// FuzzHostAllowed: any Host header either matches an exact entry after
// normalization or a wildcard's proper subdomain, never anything else.
func FuzzHostAllowed(f *testing.F) {
	for _, s := range []string{"app.example.com", "APP.example.com.:443", "x.example.org", "example.org", "", ":", "[::1]:80", "a..example.org", "app.example.com\x00"} {
		f.Add(s)
	}
	allowed := []string{"app.example.com", "*.example.org"}
	f.Fuzz(func(t *testing.T, host string) {
		if !hostAllowed(host, allowed) {
			return
		}
		n := normalizeHost(host)
		if n != "app.example.com" && !(strings.HasSuffix(n, ".example.org") && len(n) > len(".example.org")) {
			t.Fatalf("%q (normalized %q) allowed", host, n)
		}
	})
}

// uaTestPatterns are block-lists of every shape uaMatcher handles, and
// some it leaves to the regexp.
var uaTestPatterns = []string{
	DefaultConfig().BlockUAList.List,
	`sqlmap|Nikto|curl/7`,
	`(?i)bot[0-9]|spider`,
	`(?i)a[bc]d`,
	`(?i)x[B]y|z`, // the parser folds the class under (?i)
	`(?i:ab)|CD`,  // mixed case sensitivity
	`^curl`,       // anchored: regexp
	`bad.*bot`,    // not finite: regexp
	`(?i)straße`,  // non-ASCII literal: regexp
	`(?i)kelvin`,  // U+212A folds to k
	`a|`,          // empty alternative matches everything
}

// FuzzUAMatcher: the literal fast path answers exactly as the regexp.
func FuzzUAMatcher(f *testing.F) {
	for _, s := range []string{"Mozilla/5.0", "sqlmap/1.7", "NIKTO", "xBy", "xby", "abd", "ACD", "\u212Aelvin", "STRASSE", "", "curl/7.1", "my bad little bot"} {
		f.Add(s)
	}
	var ms []*uaMatcher
	var res []*regexp.Regexp
	for _, p := range uaTestPatterns {
		re := regexp.MustCompile(p)
		res, ms = append(res, re), append(ms, newUAMatcher(re))
	}
	f.Fuzz(func(t *testing.T, ua string) {
		if len(ua) > maxUAMatchBytes {
			ua = ua[:maxUAMatchBytes]
		}
		for i, m := range ms {
			if got, want := m.match(ua), res[i].MatchString(ua); got != want {
				t.Fatalf("pattern %q on %q: matcher %v, regexp %v (literal path %v)", uaTestPatterns[i], ua, got, want, m.lits != nil)
			}
		}
	})
}

func TestUAMatcherUsesLiterals(t *testing.T) {
	for _, tc := range []struct {
		pattern string
		literal bool
	}{
		{DefaultConfig().BlockUAList.List, true},
		{`sqlmap|Nikto|curl/7`, true},
		{`(?i)a[bc]d`, true},
		{`(?i)x[B]y|z`, true}, // (?i) folds the class to [Bb]
		{`(?i:ab)|CD`, false},
		{`^curl`, false},
		{`bad.*bot`, false},
	} {
		if got := newUAMatcher(regexp.MustCompile(tc.pattern)).lits != nil; got != tc.literal {
			t.Errorf("%q: literal path %v, want %v", tc.pattern, got, tc.literal)
		}
	}
}

// TestReloadRebuildsEdge: a reload that changes block_ip's level swaps
// the sketch, one that does not keeps it (and its block list); an empty
// Host allow-list is warned about at start and on reload.
func TestReloadRebuildsEdge(t *testing.T) {
	ta := newTestApp(t)
	if !strings.Contains(ta.logs.String(), "block_host.allowed_hosts is empty") {
		t.Error("no warning for an empty Host allow-list")
	}
	first := ta.blocker.Load()
	storeTestConfig(t, ta.dir, func(c *Config) { c.Maintenance.Activated = true })
	if err := ta.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if ta.blocker.Load() != first {
		t.Error("unrelated reload replaced the BlockIp sketch")
	}
	envelopeOf(t, ta.do("GET", "/api/health", "192.0.2.1:1", nil), 503, codeErrMaintenance)
	storeTestConfig(t, ta.dir, func(c *Config) { c.BlockIP.Level = "high"; c.Server.PublicURL = "https://app.example.com" })
	if err := ta.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if b := ta.blocker.Load(); b == first || b.level != blockIPLevels["high"] {
		t.Error("level change on reload did not take effect")
	}
	envelopeOf(t, ta.do("GET", "/api/health", "192.0.2.1:1", nil), 421, codeErrMisdirected)
	if ta.metrics.configGeneration.load() != 3 {
		t.Errorf("rip_config_generation = %v, want 3", ta.metrics.configGeneration.load())
	}
}

// TestMetricsQueueAndMail: the queue's depth and oldest due age are read
// at scrape time; failed mail sends and job runs are counted.
func TestMetricsQueueAndMail(t *testing.T) {
	t.Run("queue depth", func(t *testing.T) {
		ta := newTestApp(t)
		clock := newTestClock()
		ta.Now = clock.Now
		ta.HandleJob("noop", func(context.Context, *Job) error { return nil })
		err := ta.Write(context.Background(), func(conn *sqlite.Conn) error {
			for _, at := range []time.Time{clock.Now().Add(-90 * time.Second), clock.Now(), clock.Now().Add(time.Hour)} {
				if _, err := ta.Enqueue(context.Background(), conn, JobSpec{Type: "noop", At: at}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		body := ta.do("GET", "/metrics", "127.0.0.1:9", nil).Body.String()
		for _, want := range []string{"\nrip_job_queue_depth 2\n", "\nrip_job_queue_oldest_due_age_seconds 90\n"} {
			if !strings.Contains(body, want) {
				t.Errorf("exposition lacks %q", strings.TrimSpace(want))
			}
		}
	})
	t.Run("mail failure and failed job run", func(t *testing.T) {
		ta, url, rec := otpApp(t)
		registerVerified(t, ta, url, "mia@example.com")
		rec.mu.Lock()
		rec.fail = errors.New("smtp down")
		rec.mu.Unlock()
		call(t, "POST", url+"/api/request-password-reset-otp", map[string]string{"email": "mia@example.com"}).expect(t, 200, codeOKOTPTokenIssued)
		deadline := time.Now().Add(10 * time.Second)
		for ta.metrics.mailFailures.load() == 0 || ta.metrics.jobsFailed.load() == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("mail failures %d, failed job runs %d", ta.metrics.mailFailures.load(), ta.metrics.jobsFailed.load())
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// FuzzHostAllowedFastPath checks that the fast path of hostAllowed never
// accepts a Host header the normalizing path refuses.
func FuzzHostAllowedFastPath(f *testing.F) {
	for _, s := range []string{"app.example.com", "app.example.com:8080", "APP.example.com", "app.example.com.", "app.example.com:",
		"app.example.com:80x", "app.example.comx", "[::1]:80", "::1", "127.0.0.1:1", "x.app.example.com", " app.example.com"} {
		f.Add(s)
	}
	allowed := []string{"app.example.com", "127.0.0.1", "::1", "*.example.org"}
	f.Fuzz(func(t *testing.T, host string) {
		if got, want := hostAllowed(host, allowed), hostAllowedSlow(host, allowed); got != want {
			t.Fatalf("hostAllowed(%q) = %v, normalizing path %v", host, got, want)
		}
	})
}

// TestUAMatcherCache: verdicts through the cache equal the regexp's for
// more distinct User-Agents than the cache holds, asked twice each (hits,
// misses and evictions), and the cache never holds more than its slots.
func TestUAMatcherCache(t *testing.T) {
	re := regexp.MustCompile(`(?i)sqlmap|nikto|masscan`)
	m := newUAMatcher(re)
	uas := make([]string, 4*uaCacheSlots)
	for i := range uas {
		uas[i] = fmt.Sprintf("Mozilla/5.0 client-%d", i)
		if i%7 == 0 {
			uas[i] += " SQLMap/1.7"
		}
	}
	for round := 0; round < 2; round++ {
		for _, ua := range uas {
			if got, want := m.match(ua), re.MatchString(ua); got != want {
				t.Fatalf("round %d, %q: cached verdict %v, regexp %v", round, ua, got, want)
			}
		}
	}
	filled := 0
	for i := range m.cache {
		if m.cache[i].Load() != nil {
			filled++
		}
	}
	if filled == 0 || filled > uaCacheSlots {
		t.Fatalf("%d cache slots filled", filled)
	}
}
