package rip

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"
)

// Notification is one operator alert: something a human should look at, such as
// a failed backup or a job that went to the dead letter state. rip itself never
// sends one; applications and their jobs do.
type Notification struct {
	// Type classifies the alert, for example "alarm" or "metric".
	Type string
	// Source names what raised it, for example a job or daemon name.
	Source string
	// Message is the human-readable text. It may span several lines.
	Message string
	// Fields carries extra key/value detail. They are rendered sorted by key.
	Fields map[string]string
	// Time is when the event happened. The Discord notifier does not render it,
	// because Discord stamps every message with its own arrival time.
	Time time.Time
}

// Notifier delivers operator alerts. Implementations must be safe for
// concurrent use and must not block the caller for long: alerts are raised
// from request handlers and jobs, and a slow chat service must never slow
// those down.
type Notifier interface {
	Notify(ctx context.Context, n Notification) error
}

// Limits and defaults of [DiscordNotifier]. Discord documents 2000 characters
// as the maximum message content and rate limits webhooks to a few requests
// per second per channel; the defaults stay well inside that.
const (
	discordMaxContentRunes    = 2000             // characters per Discord message
	discordQueueLen           = 100              // notifications waiting to be sent
	discordDefaultInterval    = 2 * time.Second  // one token per interval
	discordDefaultBurst       = 5                // tokens in a full bucket
	discordDefaultTimeout     = 10 * time.Second // per HTTP request, connect to body read
	discordMaxInterval        = time.Hour        // keeps burst*interval far from overflow
	discordMaxBurst           = 100              // tokens
	discordDrainTimeout       = 5 * time.Second  // total time Run spends sending after ctx ends
	discordMaxResponseBytes   = 64 << 10         // 64 KiB of response body read, then dropped
	discordMaxLoggedBodyBytes = 256              // bytes of an error response put in the log
	discordMaxRetryAfter      = time.Minute      // longest pause honoured after a 429
	discordMaxURLBytes        = 2048             // webhook URL length
	discordWebhookPathPrefix  = "/api/webhooks/"
)

var (
	errDiscordQueueFull = errors.New("rip: discord notifier: queue full, notification dropped")
	errDiscordStopped   = errors.New("rip: discord notifier: stopped, notification dropped")
)

// DiscordNotifier posts notifications to a Discord webhook.
//
// Notify only formats the message and puts it on a bounded queue; it never
// waits for the network. [DiscordNotifier.Run] owns the one worker goroutine
// that sends queued messages, at most one per Interval after an initial Burst
// (a token bucket). When the queue is full the notification is dropped and
// counted in [DiscordNotifier.Dropped]. Failed sends (network errors, timeouts,
// non-2xx answers) are logged and not retried: alerts are best effort, and
// retrying into a struggling service would only pile work up. After a 429 the
// worker pauses for the Retry-After the server asked for (capped).
//
// Set the fields before the first call to Notify or Run and do not change them
// afterwards. A DiscordNotifier must not be copied after first use. Notify and
// Dropped are safe for concurrent use; Run may be called once.
//
// The webhook URL is a bearer credential: whoever holds it can post to the
// channel. Run accepts only https URLs on discord.com or discordapp.com under
// /api/webhooks/, redirects are never followed, and the URL never appears in
// logs. Message text may be attacker influenced (an e-mail address, a user
// agent): markdown is escaped, mentions are disabled, content is capped at
// 2000 characters. The security notes on the unexported helpers give the
// details.
type DiscordNotifier struct {
	// WebhookURL is the Discord webhook, https://discord.com/api/webhooks/ID/TOKEN.
	WebhookURL string
	// Interval is the time to earn one send token. Less than 1 means 2s.
	Interval time.Duration
	// Burst is the number of sends allowed back to back. Less than 1 means 5.
	Burst int
	// Timeout bounds each HTTP request. Less than 1 means 10s.
	Timeout time.Duration
	// Client sends the requests. Nil means a client built on
	// http.DefaultTransport. Its CheckRedirect is replaced so that redirects
	// are never followed.
	Client *http.Client
	// Logger receives send failures. Nil means slog.Default().
	Logger *slog.Logger

	// allowInsecureForTest lets tests point the notifier at a local http
	// server. It is unexported and no configuration path sets it.
	allowInsecureForTest bool

	queueOnce sync.Once
	queue     chan string

	dropped atomic.Uint64
	running atomic.Bool

	// mu guards stopped, so that no notification enters the queue after Run
	// has taken its final look at it.
	mu      sync.Mutex
	stopped bool
}

// Notify formats n and queues it for sending. It never blocks on the network;
// ctx is unused because queuing cannot wait, and an alert raised while a
// request is being cancelled is often the one an operator wants. It returns an
// error, and counts a drop, when the queue is full or Run has finished.
func (d *DiscordNotifier) Notify(ctx context.Context, n Notification) error {
	content := discordFormat(n)
	d.initQueue()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stopped {
		d.dropped.Add(1)
		return errDiscordStopped
	}
	select {
	case d.queue <- content:
		return nil
	default:
		d.dropped.Add(1)
		return errDiscordQueueFull
	}
}

// Dropped reports how many notifications were never handed to Discord: the
// queue was full, Run had finished, or the drain at shutdown ran out of time.
// Sends that were attempted and failed are logged, not counted here.
func (d *DiscordNotifier) Dropped() uint64 {
	return d.dropped.Load()
}

// Run validates the configuration, then sends queued notifications until ctx
// ends. It then lets a send in flight finish (bounded by Timeout), stops
// accepting new notifications and drains the queue for at most 5 seconds
// (still rate limited, each request still bounded by Timeout); what is left
// is dropped and counted. It returns nil after a normal shutdown
// and an error if the configuration is invalid or Run was already called.
func (d *DiscordNotifier) Run(ctx context.Context) error {
	target, err := discordValidateWebhookURL(d.WebhookURL, d.allowInsecureForTest)
	if err != nil {
		return fmt.Errorf("discord notifier: %w", err)
	}
	interval, burst, timeout, err := d.limits()
	if err != nil {
		return fmt.Errorf("discord notifier: %w", err)
	}
	if !d.running.CompareAndSwap(false, true) {
		return errors.New("rip: discord notifier: Run called twice")
	}
	d.initQueue()
	w := &discordWorker{
		target:  target,
		client:  discordClient(d.Client),
		timeout: timeout,
		logger:  d.Logger,
		bucket:  newDiscordBucket(interval, burst, time.Now()),
	}
	if w.logger == nil {
		w.logger = slog.Default()
	}
	for {
		select {
		case <-ctx.Done():
			d.drain(ctx, w, "")
			return nil
		case content := <-d.queue:
			if ctx.Err() != nil || !w.waitToken(ctx) {
				d.drain(ctx, w, content)
				return nil
			}
			// A send already started is not aborted by ctx: it is bounded
			// by Timeout, and cutting it would lose the message uncounted.
			w.send(context.WithoutCancel(ctx), content)
		}
	}
}

func (d *DiscordNotifier) initQueue() {
	d.queueOnce.Do(func() { d.queue = make(chan string, discordQueueLen) })
}

// limits applies the defaults and rejects values that would overflow the
// token bucket arithmetic.
func (d *DiscordNotifier) limits() (interval time.Duration, burst int, timeout time.Duration, err error) {
	interval, burst, timeout = d.Interval, d.Burst, d.Timeout
	if interval < 1 {
		interval = discordDefaultInterval
	}
	if burst < 1 {
		burst = discordDefaultBurst
	}
	if timeout < 1 {
		timeout = discordDefaultTimeout
	}
	if interval > discordMaxInterval {
		return 0, 0, 0, fmt.Errorf("interval %v above %v", interval, discordMaxInterval)
	}
	if burst > discordMaxBurst {
		return 0, 0, 0, fmt.Errorf("burst %d above %d", burst, discordMaxBurst)
	}
	return interval, burst, timeout, nil
}

// drain closes the queue to new notifications, then sends pending (if not
// empty) and whatever is queued, within discordDrainTimeout. The deadline is
// measured from a context detached from ctx, which has already ended.
func (d *DiscordNotifier) drain(ctx context.Context, w *discordWorker, pending string) {
	d.mu.Lock()
	d.stopped = true
	d.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), discordDrainTimeout)
	defer cancel()
	next := pending
	for {
		if next == "" {
			select {
			case next = <-d.queue:
			default:
				return
			}
		}
		if !w.waitToken(ctx) {
			d.dropped.Add(1 + uint64(len(d.queue)))
			return
		}
		w.send(ctx, next)
		next = ""
	}
}

// discordWorker holds what the Run goroutine alone uses; it needs no locking.
type discordWorker struct {
	target  string
	client  *http.Client
	timeout time.Duration
	logger  *slog.Logger
	bucket  *discordBucket
}

// waitToken blocks until the bucket grants a send or ctx ends. It reports
// whether a token was taken.
func (w *discordWorker) waitToken(ctx context.Context) bool {
	for {
		wait := w.bucket.take(time.Now())
		if wait <= 0 {
			return true
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-t.C:
		}
	}
}

// discordPayload is the JSON body of a webhook execution. AllowedMentions
// with an empty parse list turns every @everyone, @here, role and user
// mention in the content into plain text.
type discordPayload struct {
	Content         string          `json:"content"`
	AllowedMentions discordMentions `json:"allowed_mentions"`
}

type discordMentions struct {
	Parse []string `json:"parse"`
}

// send posts one message and logs any failure. After a 429 it pauses the
// bucket for the Retry-After the server asked for.
//
// # Security
//
// Threats: the request being steered to another host, the webhook token
// leaking into logs, a hostile or broken server exhausting memory or time,
// and message text pinging a whole server. Defences: the client never
// follows redirects (discordClient); transport errors are logged through
// discordRedact, which drops the URL that *url.Error quotes; each request is
// bounded by Timeout; at most 64 KiB of the response is read and at most
// 256 sanitised bytes of it logged; allowed_mentions with an empty parse list
// turns @everyone, @here, role and user mentions into plain text.
func (w *discordWorker) send(ctx context.Context, content string) {
	body, err := json.Marshal(discordPayload{Content: content, AllowedMentions: discordMentions{Parse: []string{}}})
	if err != nil {
		w.logger.Error("rip: discord notify: encode", "err", err)
		return
	}
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.target, bytes.NewReader(body))
	if err != nil {
		w.logger.Error("rip: discord notify: build request", "err", discordRedact(err))
		return
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := w.client.Do(req)
	if err != nil {
		w.logger.Warn("rip: discord notify: send failed", "err", discordRedact(err))
		return
	}
	defer resp.Body.Close()
	respBody, _ := io.ReadAll(io.LimitReader(resp.Body, discordMaxResponseBytes))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		pause := discordRetryAfter(resp.Header.Get("Retry-After"), w.bucket.interval)
		w.bucket.pause(time.Now().Add(pause))
		w.logger.Warn("rip: discord notify: rate limited", "status", resp.StatusCode, "retry_after", pause)
		return
	}
	w.logger.Warn("rip: discord notify: rejected", "status", resp.StatusCode, "body", discordLogSnippet(respBody))
}

// discordClient returns a copy of c (or a default client) that never follows
// redirects: a webhook that answers with a redirect is misconfigured, and
// following it would send the message, and the credential in the path, to a
// host nobody validated.
func discordClient(c *http.Client) *http.Client {
	var client http.Client
	if c != nil {
		client = *c
	}
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &client
}

// discordRedact renders err without the request URL, which *url.Error quotes
// and which here contains the webhook token.
func discordRedact(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) && ue.Err != nil {
		return ue.Op + ": " + ue.Err.Error()
	}
	return err.Error()
}

// discordLogSnippet keeps the start of an error response for the log, as
// valid UTF-8 without control characters.
func discordLogSnippet(b []byte) string {
	if len(b) > discordMaxLoggedBodyBytes {
		b = b[:discordMaxLoggedBodyBytes]
	}
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(string(b), "\uFFFD"))
}

// discordRetryAfter parses a Retry-After header in seconds (Discord may send
// a fraction). A missing or unusable value falls back to def; the result is
// capped at discordMaxRetryAfter.
func discordRetryAfter(header string, def time.Duration) time.Duration {
	secs, err := strconv.ParseFloat(strings.TrimSpace(header), 64)
	if err != nil || math.IsNaN(secs) || secs <= 0 {
		return def
	}
	if secs >= discordMaxRetryAfter.Seconds() {
		return discordMaxRetryAfter
	}
	return time.Duration(secs * float64(time.Second))
}

// discordValidateWebhookURL checks that raw is a Discord webhook URL and
// returns it in canonical form.
//
// # Security
//
// The threat is a configuration value that makes the server post to a host
// of an attacker's choosing (request forgery towards internal services, or
// leaking alert contents). Only https to discord.com or discordapp.com on the
// default port, with a clean path under /api/webhooks/ and no user info, is
// accepted. Tests may allow http to any host through an unexported flag.
func discordValidateWebhookURL(raw string, allowInsecureForTest bool) (string, error) {
	if raw == "" {
		return "", errors.New("webhook URL is empty")
	}
	if len(raw) > discordMaxURLBytes {
		return "", fmt.Errorf("webhook URL longer than %d bytes", discordMaxURLBytes)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", errors.New("webhook URL does not parse")
	}
	switch {
	case u.Scheme != "https" && !(allowInsecureForTest && u.Scheme == "http"):
		return "", errors.New("webhook URL must use https")
	case u.User != nil:
		return "", errors.New("webhook URL must not carry user info")
	case u.Fragment != "" || u.RawFragment != "":
		return "", errors.New("webhook URL must not carry a fragment")
	case !allowInsecureForTest && !discordAllowedHost(u.Host):
		return "", errors.New("webhook URL host must be discord.com or discordapp.com")
	case !strings.HasPrefix(u.Path, discordWebhookPathPrefix) || len(u.Path) == len(discordWebhookPathPrefix):
		return "", errors.New("webhook URL path must start with " + discordWebhookPathPrefix)
	case path.Clean(u.Path) != u.Path || u.RawPath != "":
		return "", errors.New("webhook URL path must be clean and unescaped")
	}
	return u.String(), nil
}

// discordAllowedHost accepts the two Discord hosts, in any case, on the
// default https port only.
func discordAllowedHost(hostport string) bool {
	host, port := hostport, ""
	if h, p, err := net.SplitHostPort(hostport); err == nil {
		host, port = h, p
	}
	if port != "" && port != "443" {
		return false
	}
	host = strings.ToLower(host)
	return host == "discord.com" || host == "discordapp.com"
}

// discordFormat renders n as Discord message content:
//
//	[Type] from *Source*:
//	> Message, every line quoted
//	key: `value`
//
// with the fields sorted by key, then truncates it to 2000 characters.
//
// # Security
//
// The inputs may carry attacker-chosen text. Threats: markdown or newlines
// that forge extra lines or fields, break out of the quote or a code span,
// or hide text in spoilers and masked links; invalid UTF-8 or an oversize
// message that Discord would reject; unbounded work on a huge input.
// Defences: markdown characters are backslash-escaped, backticks inside code
// spans are replaced by a look-alike, control characters and line separators
// become spaces (message newlines continue the quote), invalid UTF-8 becomes
// U+FFFD, each input is clipped to 2000 runes before escaping, rendering
// stops once the output is certainly too long, and the result is cut to 2000
// runes without splitting a rune. FuzzDiscordFormat checks the layout.
func discordFormat(n Notification) string {
	var b strings.Builder
	b.WriteByte('[')
	discordEscapeText(&b, n.Type, false)
	b.WriteString("] from *")
	discordEscapeText(&b, n.Source, false)
	b.WriteString("*:\n> ")
	discordEscapeText(&b, n.Message, true)
	keys := make([]string, 0, len(n.Fields))
	for k := range n.Fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if b.Len() > utf8.UTFMax*discordMaxContentRunes {
			break // already more than 2000 characters
		}
		b.WriteByte('\n')
		discordEscapeText(&b, k, false)
		b.WriteByte(':')
		if v := n.Fields[k]; v != "" {
			b.WriteString(" `")
			discordEscapeCode(&b, v)
			b.WriteByte('`')
		}
	}
	return discordTruncate(b.String(), discordMaxContentRunes)
}

// discordMarkdown lists the characters that Discord markdown gives a meaning:
// emphasis, code, spoilers, quotes, headings, masked links and mentions.
const discordMarkdown = "\\*_~`|[]<>#"

// discordEscapeText writes s with markdown characters backslash-escaped and
// control characters replaced by spaces. In multiline mode a newline
// continues the block quote ("\n> ") instead of leaving it.
func discordEscapeText(b *strings.Builder, s string, multiline bool) {
	for _, r := range discordClip(s, discordMaxContentRunes) {
		switch {
		case r == '\n' && multiline:
			b.WriteString("\n> ")
		case discordIsBreak(r):
			b.WriteByte(' ')
		case r < utf8.RuneSelf && strings.IndexByte(discordMarkdown, byte(r)) >= 0:
			b.WriteByte('\\')
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
	}
}

// discordEscapeCode writes s for use inside an inline code span, where
// Discord does not honour backslash escapes: a backtick would end the span,
// so it becomes U+02CB MODIFIER LETTER GRAVE ACCENT, which looks the same.
func discordEscapeCode(b *strings.Builder, s string) {
	for _, r := range discordClip(s, discordMaxContentRunes) {
		switch {
		case r == '`':
			b.WriteRune('\u02CB')
		case discordIsBreak(r):
			b.WriteByte(' ')
		default:
			b.WriteRune(r)
		}
	}
}

// discordIsBreak reports control characters and Unicode line separators,
// which could end a quoted line or a code span.
func discordIsBreak(r rune) bool {
	return unicode.IsControl(r) || r == '\u2028' || r == '\u2029'
}

// discordClip returns s cut to at most max runes, with invalid UTF-8 replaced
// by U+FFFD. Ranging over the result then never yields more than max runes.
func discordClip(s string, max int) string {
	n := 0
	for i := range s {
		if n == max {
			s = s[:i]
			break
		}
		n++
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// discordTruncate cuts s to at most max runes, never inside a rune, ending
// with "…" when something was cut. A backslash escape split by the cut is
// removed so the ellipsis is not escaped.
func discordTruncate(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	n := 0
	for i := range s {
		if n == max-1 {
			s = s[:i]
			break
		}
		n++
	}
	trailing := len(s) - len(strings.TrimRight(s, "\\"))
	if trailing%2 == 1 {
		s = s[:len(s)-1]
	}
	return s + "…"
}

// discordBucket is a token bucket that counts credit as time: each send costs
// one interval, credit accrues with elapsed time and is capped at burst
// intervals. Integer durations keep it exact. It is used by one goroutine.
type discordBucket struct {
	interval    time.Duration
	capacity    time.Duration // burst * interval
	credit      time.Duration
	last        time.Time
	pausedUntil time.Time
}

func newDiscordBucket(interval time.Duration, burst int, now time.Time) *discordBucket {
	capacity := interval * time.Duration(burst)
	return &discordBucket{interval: interval, capacity: capacity, credit: capacity, last: now}
}

// take consumes a token and returns 0 if one is available at now; otherwise
// it consumes nothing and returns how long to wait before asking again.
func (b *discordBucket) take(now time.Time) time.Duration {
	if now.Before(b.pausedUntil) {
		return b.pausedUntil.Sub(now)
	}
	if now.After(b.last) {
		b.credit = min(b.credit+now.Sub(b.last), b.capacity)
		b.last = now
	}
	if b.credit >= b.interval {
		b.credit -= b.interval
		return 0
	}
	return b.interval - b.credit
}

// pause grants no token before until, and leaves one token for that moment,
// so that the sends after the pause are paced rather than a burst.
func (b *discordBucket) pause(until time.Time) {
	if until.After(b.pausedUntil) {
		b.pausedUntil = until
	}
	b.credit = b.interval
	if until.After(b.last) {
		b.last = until
	}
}
