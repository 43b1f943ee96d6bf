package rip

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
	"unicode/utf8"
)

// discordTestToken is the secret part of the test webhook path; logs must
// never contain it.
const discordTestToken = "s3cr3t-T0KEN"

const discordTestPath = "/api/webhooks/123/" + discordTestToken

// discordTestLog is a concurrency-safe log sink.
type discordTestLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *discordTestLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *discordTestLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func newDiscordTestNotifier(url string) (*DiscordNotifier, *discordTestLog) {
	logs := &discordTestLog{}
	return &DiscordNotifier{
		WebhookURL:           url,
		Logger:               slog.New(slog.NewTextHandler(logs, nil)),
		allowInsecureForTest: true,
	}, logs
}

// discordTestRequest is what a fake or real webhook received.
type discordTestRequest struct {
	at      time.Duration // since the start of the test
	method  string
	path    string
	ctype   string
	payload discordPayload
}

func discordTestDecode(t *testing.T, r *http.Request, start time.Time) discordTestRequest {
	t.Helper()
	var p discordPayload
	if err := json.NewDecoder(r.Body).Decode(&p); err != nil {
		t.Errorf("decode webhook body: %v", err)
	}
	return discordTestRequest{
		at: time.Since(start), method: r.Method, path: r.URL.Path,
		ctype: r.Header.Get("Content-Type"), payload: p,
	}
}

// discordTestTransport answers requests in memory, so that it can run inside
// a synctest bubble where time is fake.
type discordTestTransport func(*http.Request) (*http.Response, error)

func (f discordTestTransport) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func discordTestResponse(status int, header http.Header, body string) *http.Response {
	if header == nil {
		header = http.Header{}
	}
	return &http.Response{StatusCode: status, Header: header, Body: io.NopCloser(strings.NewReader(body))}
}

// discordTestRecorder records requests made through a fake transport.
type discordTestRecorder struct {
	mu   sync.Mutex
	reqs []discordTestRequest
}

func (rec *discordTestRecorder) add(r discordTestRequest) int {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.reqs = append(rec.reqs, r)
	return len(rec.reqs)
}

func (rec *discordTestRecorder) times() []time.Duration {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var out []time.Duration
	for _, r := range rec.reqs {
		out = append(out, r.at)
	}
	return out
}

// discordTestRunDrain runs d with an already cancelled context, so Run sends
// what is queued (within the drain limit) and returns: a deterministic way
// to wait for delivery against a real server.
func discordTestRunDrain(t *testing.T, d *DiscordNotifier) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := d.Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
}

func TestDiscordNotifierDelivers(t *testing.T) {
	start := time.Now()
	got := make(chan discordTestRequest, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- discordTestDecode(t, r, start)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()

	d, logs := newDiscordTestNotifier(srv.URL + discordTestPath)
	err := d.Notify(t.Context(), Notification{
		Type: "alarm", Source: "backup", Message: "disk *full*\nsecond line",
		Fields: map[string]string{"zone": "eu", "cmd": "rm `x`", "empty": ""},
	})
	if err != nil {
		t.Fatalf("Notify: %v", err)
	}
	discordTestRunDrain(t, d)

	if len(got) != 1 {
		t.Fatalf("webhook got %d requests, want 1; log: %s", len(got), logs)
	}
	r := <-got
	want := "[alarm] from *backup*:\n> disk \\*full\\*\n> second line\ncmd: `rm ˋxˋ`\nempty:\nzone: `eu`"
	if r.payload.Content != want {
		t.Errorf("content =\n%q\nwant\n%q", r.payload.Content, want)
	}
	if r.method != http.MethodPost || r.path != discordTestPath || r.ctype != "application/json" {
		t.Errorf("request = %s %s (%s), want POST %s (application/json)", r.method, r.path, r.ctype, discordTestPath)
	}
	if r.payload.AllowedMentions.Parse == nil || len(r.payload.AllowedMentions.Parse) != 0 {
		t.Errorf("allowed_mentions.parse = %#v, want an empty list", r.payload.AllowedMentions.Parse)
	}
	if d.Dropped() != 0 {
		t.Errorf("Dropped = %d, want 0", d.Dropped())
	}
}

func TestDiscordNotifierTruncatesDelivered(t *testing.T) {
	got := make(chan discordTestRequest, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- discordTestDecode(t, r, time.Now())
	}))
	defer srv.Close()

	d, logs := newDiscordTestNotifier(srv.URL + discordTestPath)
	if err := d.Notify(t.Context(), Notification{Type: "t", Source: "s", Message: strings.Repeat("日本😀", 1000)}); err != nil {
		t.Fatal(err)
	}
	discordTestRunDrain(t, d)
	if len(got) != 1 {
		t.Fatalf("webhook got %d requests, want 1; log: %s", len(got), logs)
	}
	c := (<-got).payload.Content
	if n := utf8.RuneCountInString(c); n != discordMaxContentRunes {
		t.Errorf("delivered %d runes, want %d", n, discordMaxContentRunes)
	}
	if !utf8.ValidString(c) || !strings.HasSuffix(c, "…") {
		t.Errorf("delivered content invalid UTF-8 or without ellipsis: ...%q", c[len(c)-20:])
	}
}

func TestDiscordFormat(t *testing.T) {
	tests := []struct {
		name string
		n    Notification
		want string
	}{
		{"plain", Notification{Type: "alarm", Source: "job", Message: "failed"},
			"[alarm] from *job*:\n> failed"},
		{"fields sorted", Notification{Type: "metric", Source: "db", Message: "m",
			Fields: map[string]string{"b": "2", "a": "1"}},
			"[metric] from *db*:\n> m\na: `1`\nb: `2`"},
		// Markdown in user text must not break the layout.
		{"markdown escaped", Notification{Type: "a]b", Source: "x*y_z", Message: "# head ~~s~~ ||sp|| [l](u) <@1> \\"},
			"[a\\]b] from *x\\*y\\_z*:\n> \\# head \\~\\~s\\~\\~ \\|\\|sp\\|\\| \\[l\\](u) \\<@1\\> \\\\"},
		{"backtick in value", Notification{Type: "t", Source: "s", Message: "`code`",
			Fields: map[string]string{"k`": "a`b"}},
			"[t] from *s*:\n> \\`code\\`\nk\\`: `aˋb`"},
		{"newlines in message stay quoted", Notification{Type: "t", Source: "s", Message: "a\n\nb\r\nc"},
			"[t] from *s*:\n> a\n> \n> b \n> c"},
		{"newlines elsewhere flattened", Notification{Type: "t\nu", Source: "s\u2028x", Message: "m",
			Fields: map[string]string{"k\nk": "v\nv"}},
			"[t u] from *s x*:\n> m\nk k: `v v`"},
		{"invalid utf8 replaced", Notification{Type: "\xff", Source: "s", Message: "a\xc3"},
			"[\uFFFD] from *s*:\n> a\uFFFD"},
		{"empty", Notification{}, "[] from **:\n> "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := discordFormat(tt.n); got != tt.want {
				t.Errorf("discordFormat =\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

func TestDiscordFormatBoundsWork(t *testing.T) {
	fields := map[string]string{}
	for i := range 5000 {
		fields[strings.Repeat("k", 10)+string(rune('a'+i%26))+strings.Repeat("x", i%50)] = strings.Repeat("€", 100)
	}
	got := discordFormat(Notification{Type: "t", Source: "s", Message: strings.Repeat("é", 1<<20), Fields: fields})
	if n := utf8.RuneCountInString(got); n != discordMaxContentRunes {
		t.Errorf("rune count = %d, want %d", n, discordMaxContentRunes)
	}
}

func TestDiscordTruncate(t *testing.T) {
	tests := []struct {
		name string
		in   string
		max  int
		want string
	}{
		{"fits", "abc", 3, "abc"},
		{"cut", "abcd", 3, "ab…"},
		{"multibyte counted as runes", "日本語です", 4, "日本語…"},
		{"emoji not split", "😀😀😀", 2, "😀…"},
		{"split escape dropped", "a\\*bc", 3, "a…"},
		{"escaped backslash kept", "a\\\\bc", 4, "a\\\\…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := discordTruncate(tt.in, tt.max)
			if got != tt.want {
				t.Errorf("discordTruncate(%q, %d) = %q, want %q", tt.in, tt.max, got, tt.want)
			}
			if utf8.RuneCountInString(got) > tt.max || !utf8.ValidString(got) {
				t.Errorf("result %q is longer than %d runes or invalid", got, tt.max)
			}
		})
	}
}

func TestDiscordBucket(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	b := newDiscordBucket(2*time.Second, 3, t0)
	steps := []struct {
		name string
		now  time.Time
		want time.Duration
	}{
		{"burst 1", t0, 0},
		{"burst 2", t0, 0},
		{"burst 3", t0, 0},
		{"empty", t0, 2 * time.Second},
		{"part refilled", at(time.Second), time.Second},
		{"one token", at(2 * time.Second), 0},
		{"empty again", at(2 * time.Second), 2 * time.Second},
		{"clock backwards earns nothing", at(time.Second), 2 * time.Second},
		{"long idle caps at burst 1", at(time.Hour), 0},
		{"long idle caps at burst 2", at(time.Hour), 0},
		{"long idle caps at burst 3", at(time.Hour), 0},
		{"long idle caps at burst, then empty", at(time.Hour), 2 * time.Second},
	}
	for _, s := range steps {
		if got := b.take(s.now); got != s.want {
			t.Fatalf("%s: take = %v, want %v", s.name, got, s.want)
		}
	}

	b.pause(at(time.Hour + 30*time.Second))
	if got := b.take(at(time.Hour + 10*time.Second)); got != 20*time.Second {
		t.Errorf("during pause: take = %v, want 20s", got)
	}
	if got := b.take(at(time.Hour + 30*time.Second)); got != 0 {
		t.Errorf("pause end: take = %v, want 0", got)
	}
	if got := b.take(at(time.Hour + 30*time.Second)); got != 2*time.Second {
		t.Errorf("after pause: take = %v, want 2s (no burst)", got)
	}
}

// discordTestFake builds a notifier whose client answers in memory with
// respond(n) for the n-th request (1-based), recording each request.
func discordTestFake(t *testing.T, respond func(n int, r *http.Request) (*http.Response, error)) (*DiscordNotifier, *discordTestRecorder, *discordTestLog) {
	rec := &discordTestRecorder{}
	start := time.Now()
	d, logs := newDiscordTestNotifier("http://webhook.test" + discordTestPath)
	d.Client = &http.Client{Transport: discordTestTransport(func(r *http.Request) (*http.Response, error) {
		n := rec.add(discordTestDecode(t, r, start))
		return respond(n, r)
	})}
	return d, rec, logs
}

func discordTestOK(int, *http.Request) (*http.Response, error) {
	return discordTestResponse(http.StatusNoContent, nil, ""), nil
}

// discordTestStart runs d in the background and returns a stop function that
// cancels it and checks Run's result.
func discordTestStart(t *testing.T, d *DiscordNotifier) (stop func()) {
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
}

func discordTestEqualTimes(t *testing.T, got, want []time.Duration) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("send times = %v, want %v", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("send times = %v, want %v", got, want)
		}
	}
}

func TestDiscordNotifierRateLimited(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d, rec, _ := discordTestFake(t, discordTestOK)
		d.Interval, d.Burst = 2*time.Second, 2
		for range 5 {
			if err := d.Notify(t.Context(), Notification{Type: "t", Source: "s", Message: "m"}); err != nil {
				t.Fatal(err)
			}
		}
		stop := discordTestStart(t, d)
		time.Sleep(time.Minute) // fake time: lets the worker run its schedule
		stop()
		s := time.Second
		discordTestEqualTimes(t, rec.times(), []time.Duration{0, 0, 2 * s, 4 * s, 6 * s})
	})
}

func TestDiscordNotifierQueueFull(t *testing.T) {
	d, _ := newDiscordTestNotifier("http://webhook.test" + discordTestPath)
	n := Notification{Type: "t", Source: "s", Message: "m"}
	for i := range discordQueueLen {
		if err := d.Notify(t.Context(), n); err != nil {
			t.Fatalf("Notify %d: %v", i, err)
		}
	}
	if err := d.Notify(t.Context(), n); !errors.Is(err, errDiscordQueueFull) {
		t.Fatalf("Notify on full queue = %v, want errDiscordQueueFull", err)
	}
	if got := d.Dropped(); got != 1 {
		t.Errorf("Dropped = %d, want 1", got)
	}
}

func TestDiscordNotifierServerNeverAnswers(t *testing.T) {
	var hits atomic.Int32
	delivered := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) == 1 {
			// Hang until the client gives up. The body must be read first:
			// only then does the server notice the client closing.
			io.Copy(io.Discard, r.Body)
			<-r.Context().Done()
			return
		}
		delivered <- discordTestDecode(t, r, time.Now()).payload.Content
	}))
	defer srv.Close()

	d, logs := newDiscordTestNotifier(srv.URL + discordTestPath)
	d.Timeout = 200 * time.Millisecond
	for _, m := range []string{"first", "second"} {
		if err := d.Notify(t.Context(), Notification{Type: "t", Source: "s", Message: m}); err != nil {
			t.Fatal(err)
		}
	}
	began := time.Now()
	discordTestRunDrain(t, d)
	if elapsed := time.Since(began); elapsed < d.Timeout {
		t.Errorf("Run returned after %v, before the %v timeout", elapsed, d.Timeout)
	}
	if len(delivered) != 1 || !strings.HasSuffix(<-delivered, "> second") {
		t.Errorf("the message after the hung one was not delivered")
	}
	log := logs.String()
	if !strings.Contains(log, "send failed") || !strings.Contains(log, "deadline exceeded") {
		t.Errorf("timeout not logged: %s", log)
	}
	if strings.Contains(log, discordTestToken) {
		t.Errorf("log leaks the webhook token: %s", log)
	}
}

func TestDiscordNotifierTimeoutFakeClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d, rec, _ := discordTestFake(t, func(n int, r *http.Request) (*http.Response, error) {
			if n == 1 {
				<-r.Context().Done()
				return nil, r.Context().Err()
			}
			return discordTestOK(n, r)
		})
		d.Timeout = 3 * time.Second
		for range 2 {
			if err := d.Notify(t.Context(), Notification{Type: "t", Source: "s", Message: "m"}); err != nil {
				t.Fatal(err)
			}
		}
		stop := discordTestStart(t, d)
		time.Sleep(time.Minute)
		stop()
		discordTestEqualTimes(t, rec.times(), []time.Duration{0, 3 * time.Second})
	})
}

func TestDiscordNotifierErrorStatusNotRetried(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) == 1 {
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, "boom\x1b[31m"+strings.Repeat("x", 1<<20))
		}
	}))
	defer srv.Close()

	d, logs := newDiscordTestNotifier(srv.URL + discordTestPath)
	for range 2 {
		if err := d.Notify(t.Context(), Notification{Type: "t", Source: "s", Message: "m"}); err != nil {
			t.Fatal(err)
		}
	}
	discordTestRunDrain(t, d)
	if got := hits.Load(); got != 2 {
		t.Errorf("server got %d requests for 2 notifications, want 2 (no retry)", got)
	}
	log := logs.String()
	if !strings.Contains(log, "status=500") || !strings.Contains(log, "boom ") {
		t.Errorf("500 not logged with a sanitised body: %s", log)
	}
	if strings.Contains(log, "\x1b") || strings.Contains(log, strings.Repeat("x", discordMaxLoggedBodyBytes)) {
		t.Errorf("logged body not sanitised or not capped: %d bytes of log", len(log))
	}
}

func TestDiscordNotifier429PausesWithoutRetry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d, rec, logs := discordTestFake(t, func(n int, r *http.Request) (*http.Response, error) {
			if n == 1 {
				return discordTestResponse(http.StatusTooManyRequests, http.Header{"Retry-After": {"30"}}, `{"retry_after":30}`), nil
			}
			return discordTestOK(n, r)
		})
		for range 2 {
			if err := d.Notify(t.Context(), Notification{Type: "t", Source: "s", Message: "m"}); err != nil {
				t.Fatal(err)
			}
		}
		stop := discordTestStart(t, d)
		time.Sleep(time.Minute)
		stop()
		// The rate-limited message is not sent again; the next one waits for
		// the Retry-After although the bucket still had tokens.
		discordTestEqualTimes(t, rec.times(), []time.Duration{0, 30 * time.Second})
		if !strings.Contains(logs.String(), "status=429") {
			t.Errorf("429 not logged: %s", logs)
		}
	})
}

func TestDiscordRetryAfter(t *testing.T) {
	tests := []struct {
		name, header string
		want         time.Duration
	}{
		{"seconds", "3", 3 * time.Second},
		{"fraction", "0.5", 500 * time.Millisecond},
		{"missing", "", 2 * time.Second},
		{"garbage", "soon", 2 * time.Second},
		{"negative", "-1", 2 * time.Second},
		{"nan", "NaN", 2 * time.Second},
		{"capped", "1e300", discordMaxRetryAfter},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := discordRetryAfter(tt.header, 2*time.Second); got != tt.want {
				t.Errorf("discordRetryAfter(%q) = %v, want %v", tt.header, got, tt.want)
			}
		})
	}
}

func TestDiscordNotifierNoRedirect(t *testing.T) {
	var followed atomic.Bool
	mux := http.NewServeMux()
	mux.HandleFunc("/elsewhere", func(http.ResponseWriter, *http.Request) { followed.Store(true) })
	mux.HandleFunc(discordTestPath, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/elsewhere", http.StatusTemporaryRedirect)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	d, logs := newDiscordTestNotifier(srv.URL + discordTestPath)
	d.Client = &http.Client{} // a caller's client that would follow redirects
	if err := d.Notify(t.Context(), Notification{Type: "t", Source: "s", Message: "m"}); err != nil {
		t.Fatal(err)
	}
	discordTestRunDrain(t, d)
	if followed.Load() {
		t.Error("redirect was followed")
	}
	if !strings.Contains(logs.String(), "status=307") {
		t.Errorf("redirect not logged as a rejection: %s", logs)
	}
	if d.Client.CheckRedirect != nil {
		t.Error("caller's client was modified")
	}
}

func TestDiscordNotifierDrainBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d, rec, _ := discordTestFake(t, discordTestOK)
		d.Interval, d.Burst = time.Hour, 1
		for range 3 {
			if err := d.Notify(t.Context(), Notification{Type: "t", Source: "s", Message: "m"}); err != nil {
				t.Fatal(err)
			}
		}
		start := time.Now()
		discordTestRunDrain(t, d)
		if elapsed := time.Since(start); elapsed != discordDrainTimeout {
			t.Errorf("Run returned after %v, want the drain limit %v", elapsed, discordDrainTimeout)
		}
		if got := len(rec.times()); got != 1 {
			t.Errorf("sent %d during drain, want 1 (burst)", got)
		}
		if got := d.Dropped(); got != 2 {
			t.Errorf("Dropped = %d, want 2", got)
		}
		if err := d.Notify(t.Context(), Notification{}); !errors.Is(err, errDiscordStopped) {
			t.Errorf("Notify after Run = %v, want errDiscordStopped", err)
		}
		if got := d.Dropped(); got != 3 {
			t.Errorf("Dropped after late Notify = %d, want 3", got)
		}
	})
}

func TestDiscordNotifierRunDrainsOnCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d, rec, _ := discordTestFake(t, discordTestOK)
		stop := discordTestStart(t, d)
		synctest.Wait() // Run is idle, waiting for work
		for range 3 {
			if err := d.Notify(t.Context(), Notification{Type: "t", Source: "s", Message: "m"}); err != nil {
				t.Fatal(err)
			}
		}
		stop()
		if got := len(rec.times()); got != 3 {
			t.Errorf("sent %d, want 3", got)
		}
		if got := d.Dropped(); got != 0 {
			t.Errorf("Dropped = %d, want 0", got)
		}
	})
}

func TestDiscordNotifierRunErrors(t *testing.T) {
	t.Run("invalid URL", func(t *testing.T) {
		d := &DiscordNotifier{WebhookURL: "http://127.0.0.1/api/webhooks/1/x"}
		if err := d.Run(t.Context()); err == nil || !strings.Contains(err.Error(), "https") {
			t.Errorf("Run = %v, want an https error", err)
		}
	})
	t.Run("burst too large", func(t *testing.T) {
		d, _ := newDiscordTestNotifier("http://webhook.test" + discordTestPath)
		d.Burst = discordMaxBurst + 1
		if err := d.Run(t.Context()); err == nil {
			t.Error("Run accepted an oversized burst")
		}
	})
	t.Run("twice", func(t *testing.T) {
		d, _ := newDiscordTestNotifier("http://webhook.test" + discordTestPath)
		discordTestRunDrain(t, d)
		if err := d.Run(t.Context()); err == nil {
			t.Error("second Run succeeded")
		}
	})
}

func TestDiscordValidateWebhookURL(t *testing.T) {
	tests := []struct {
		name     string
		url      string
		insecure bool
		ok       bool
	}{
		{"discord.com", "https://discord.com/api/webhooks/1/tok", false, true},
		{"discordapp.com", "https://discordapp.com/api/webhooks/1/tok", false, true},
		{"upper-case host", "https://Discord.COM/api/webhooks/1/tok", false, true},
		{"explicit 443", "https://discord.com:443/api/webhooks/1/tok", false, true},
		{"query allowed", "https://discord.com/api/webhooks/1/tok?wait=true", false, true},
		{"http", "http://discord.com/api/webhooks/1/tok", false, false},
		{"other host", "https://evil.com/api/webhooks/1/tok", false, false},
		{"suffix host", "https://discord.com.evil.com/api/webhooks/1/tok", false, false},
		{"subdomain", "https://x.discord.com/api/webhooks/1/tok", false, false},
		{"userinfo trick", "https://discord.com@evil.com/api/webhooks/1/tok", false, false},
		{"userinfo", "https://u:p@discord.com/api/webhooks/1/tok", false, false},
		{"other port", "https://discord.com:8443/api/webhooks/1/tok", false, false},
		{"wrong path", "https://discord.com/api/v10/channels/1/messages", false, false},
		{"bare prefix", "https://discord.com/api/webhooks/", false, false},
		{"dot-dot path", "https://discord.com/api/webhooks/../../users/@me", false, false},
		{"escaped path", "https://discord.com/api/webhooks/1%2F..%2F/tok", false, false},
		{"fragment", "https://discord.com/api/webhooks/1/tok#x", false, false},
		{"empty", "", false, false},
		{"garbage", "://", false, false},
		{"too long", "https://discord.com/api/webhooks/" + strings.Repeat("a", discordMaxURLBytes), false, false},
		{"test server allowed in tests", "http://127.0.0.1:1234/api/webhooks/1/tok", true, true},
		{"test mode still checks path", "http://127.0.0.1:1234/other", true, false},
		{"test mode rejects other schemes", "file:///api/webhooks/1/tok", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := discordValidateWebhookURL(tt.url, tt.insecure)
			if (err == nil) != tt.ok {
				t.Errorf("discordValidateWebhookURL(%q) error = %v, want ok=%v", tt.url, err, tt.ok)
			}
			if err != nil && tt.url != "" && strings.Contains(err.Error(), "tok") {
				t.Errorf("error quotes the URL: %v", err)
			}
		})
	}
}

func FuzzDiscordFormat(f *testing.F) {
	f.Add("alarm", "backup", "disk full", "k", "v")
	f.Add("a]b", "*x*", "line\nline\r\n# h", "k`\n", "v`\u2028")
	f.Add("", "", "\xff\xfe", "", "")
	f.Add("t", "s", strings.Repeat("😀\\", 1500), "key", strings.Repeat("`", 10))
	f.Fuzz(func(t *testing.T, typ, source, message, key, value string) {
		n := Notification{Type: typ, Source: source, Message: message, Fields: map[string]string{key: value}}
		got := discordFormat(n)
		if !utf8.ValidString(got) {
			t.Fatalf("invalid UTF-8: %q", got)
		}
		if c := utf8.RuneCountInString(got); c > discordMaxContentRunes {
			t.Fatalf("%d runes, above %d", c, discordMaxContentRunes)
		}
		if strings.HasSuffix(got, "…") {
			return // truncated: the layout checks below need the whole text
		}
		lines := strings.Split(got, "\n")
		wantLines := 3 + strings.Count(message, "\n")
		if len(lines) != wantLines {
			t.Fatalf("%d lines, want %d: %q", len(lines), wantLines, got)
		}
		for _, l := range lines[1 : len(lines)-1] {
			if !strings.HasPrefix(l, "> ") {
				t.Fatalf("message line %q left the quote", l)
			}
		}
		field := lines[len(lines)-1]
		if value == "" {
			if discordTestMarkupBackticks(field) != 0 {
				t.Fatalf("field line %q opens a code span", field)
			}
			return
		}
		// key: `value` — the key part may hold only escaped backticks, the
		// code span none at all.
		open := strings.LastIndex(field, ": `")
		if open < 0 || !strings.HasSuffix(field, "`") || len(field) < open+4 {
			t.Fatalf("field line %q is not key: `value`", field)
		}
		if discordTestMarkupBackticks(field[:open]) != 0 || strings.Contains(field[open+3:len(field)-1], "`") {
			t.Fatalf("field line %q does not hold exactly one code span", field)
		}
	})
}

// discordTestMarkupBackticks counts backticks in s that are not escaped by a
// backslash, i.e. those Discord would read as code span delimiters.
func discordTestMarkupBackticks(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '`':
			n++
		}
	}
	return n
}

func BenchmarkDiscordNotify(b *testing.B) {
	n := Notification{Type: "alarm", Source: "backup", Message: "backup failed: disk full",
		Fields: map[string]string{"dir": "/var/backups", "free": "0 B", "job": "backup_online"}}
	d, _ := newDiscordTestNotifier("http://webhook.test" + discordTestPath)
	d.initQueue()
	b.ReportAllocs()
	for b.Loop() {
		if err := d.Notify(b.Context(), n); err != nil {
			b.Fatal(err)
		}
		<-d.queue // keep room: this measures formatting and queuing, not drops
	}
}
