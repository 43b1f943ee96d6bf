package rip

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/netip"
	"runtime/debug"
	"slices"
	"strings"
	"time"
)

// edge wraps the router with the fixed pre-router chain. Every request runs
// these steps in this order, and a guard that refuses a request answers
// with the JSON envelope and stops the chain. The order is fixed: users add
// per-route middleware with [App.Handle]. Each guard reads the
// configuration in force when the request started ([App.Config]), so a
// reload (SIGHUP) switches guards on and off and changes their limits.
//
//  1. observe (always, [App.edge] itself): a response recorder; the client
//     address, computed once by [clientIP] for every guard, the request log
//     and metrics; when the request ends, whatever answered it, it is
//     counted in metrics and written to the request log.
//  2. recover (always, [App.recoverer]): a panic anywhere below becomes a
//     logged and notified 500 envelope.
//  3. HSTS [tls_header_sts]: Strict-Transport-Security on every TLS
//     response, rejections included.
//  4. BlockIp [block_ip]: heavy hitters of a busy server get 429 with
//     Retry-After; the allow-list (loopback by default) is never refused.
//  5. BlockOversizedRequest [block_oversized_request]: URL path and query
//     → 414, header count and size → 431, body → 413; cheapest first.
//  6. metrics [metrics]: the Prometheus exposition at metrics.endpoint,
//     to allow-listed addresses only (before the Host check, so a
//     scraper addressing the server by IP is served).
//  7. BlockHost [block_host]: Host header allow-list → 421.
//  8. BlockUaList [block_ua_list]: User-Agent regexp → 403.
//  9. maintenance [maintenance]: 503 with Retry-After.
//  10. endpoints mismatch [endpoints_block_mismatch]: a stale
//     X-Restinpieces-Endpoints-Hash → 409.
//
// Then the router: unknown paths and wrong methods get the envelope too.
func (a *App) edge(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cfg := a.Config()
		e := &edgeRequest{
			ResponseWriter: w,
			cfg:            cfg,
			start:          time.Now(),
			ip:             clientIP(r, cfg.Server.ClientIPProxyHeader, cfg.trustedProxies),
		}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler || !a.recoverer(e, r, v) {
					a.observe(e, r)
					panic(http.ErrAbortHandler)
				}
			}
			a.observe(e, r)
		}()
		for _, g := range edgeChain {
			if !g.fn(a, e, r) {
				return
			}
		}
		next.ServeHTTP(e, r)
	})
}

// edgeGuard is one step of the chain: it returns false when it answered
// the request itself.
type edgeGuard struct {
	name string // the configuration table that switches it
	fn   func(a *App, e *edgeRequest, r *http.Request) bool
}

// edgeChain is steps 3 to 10 of [App.edge], in execution order.
var edgeChain = [...]edgeGuard{
	{"tls_header_sts", (*App).guardHSTS},
	{"block_ip", (*App).guardBlockIP},
	{"block_oversized_request", (*App).guardRequestLimits},
	{"metrics", (*App).guardMetrics},
	{"block_host", (*App).guardBlockHost},
	{"block_ua_list", (*App).guardBlockUA},
	{"maintenance", (*App).guardMaintenance},
	{"endpoints_block_mismatch", (*App).guardEndpointsMismatch},
}

// edgeRequest is the per-request state of the chain and the response
// recorder handlers write through. Unwrap lets [http.ResponseController]
// reach the connection's Flusher, Hijacker and deadlines.
type edgeRequest struct {
	http.ResponseWriter
	cfg     *Config
	start   time.Time
	ip      netip.Addr
	status  int   // first status written; 0 until then
	written int64 // body bytes written
	blocked metricsBlockReason
	refused bool // a guard answered; blocked says which
}

func (e *edgeRequest) WriteHeader(code int) {
	if e.status == 0 && code >= 200 {
		e.status = code
	}
	e.ResponseWriter.WriteHeader(code)
}

func (e *edgeRequest) Write(b []byte) (int, error) {
	if e.status == 0 {
		e.status = http.StatusOK
	}
	n, err := e.ResponseWriter.Write(b)
	e.written += int64(n)
	return n, err
}

// ReadFrom keeps net/http's sendfile path for static files.
func (e *edgeRequest) ReadFrom(src io.Reader) (int64, error) {
	if e.status == 0 {
		e.status = http.StatusOK
	}
	n, err := io.Copy(e.ResponseWriter, src)
	e.written += n
	return n, err
}

// Flush sends buffered data to the client (server-sent events).
func (e *edgeRequest) Flush() {
	if e.status == 0 {
		e.status = http.StatusOK
	}
	http.NewResponseController(e.ResponseWriter).Flush()
}

func (e *edgeRequest) Unwrap() http.ResponseWriter { return e.ResponseWriter }

// refuse counts a guard's refusal; the guard then writes the envelope.
func (a *App) refuse(e *edgeRequest, reason metricsBlockReason) {
	e.refused, e.blocked = true, reason
	a.metrics.incBlocked(reason)
}

// observe runs when a request ends, however it ended: it counts the
// request in metrics and writes the request log. Requests refused by
// BlockIp are counted but not logged, so a flood costs no log writes.
func (a *App) observe(e *edgeRequest, r *http.Request) {
	status := e.status
	if status == 0 {
		status = http.StatusOK // net/http's answer when a handler writes nothing
	}
	d := time.Since(e.start)
	a.metrics.observeRequest(status, d)
	if e.cfg.Log.Request.Activated && !(e.refused && e.blocked == metricsBlockIP) {
		a.logRequest(e, r, status, d)
	}
}

// recoverer turns a panic below the edge into a 500 envelope (when no
// header was sent yet), an error log with the stack, and a notification.
//
// # Security
//
// Without it net/http drops the connection and nothing reaches the log
// database; the stack goes to the log only, never to the client, and the
// headers a handler set before panicking are discarded so none of its
// partial answer leaks. When the handler had already started its answer,
// recoverer returns false and [App.edge] raises http.ErrAbortHandler, so
// net/http drops the connection: the client sees a broken response, never
// a truncated body that looks complete. http.ErrAbortHandler itself (a
// handler aborting on purpose) is re-raised as is.
func (a *App) recoverer(e *edgeRequest, r *http.Request, v any) bool {
	a.Logger.Error("rip: handler panicked", "method", r.Method, "path", truncate(r.URL.Path, 256), "panic", v, "stack", string(debug.Stack()))
	a.notify(Notification{Type: "alarm", Source: "http", Message: "handler panicked",
		Fields: map[string]string{"method": r.Method, "path": truncate(r.URL.Path, 256), "panic": truncate(fmt.Sprint(v), 512)}})
	if e.status != 0 {
		return false // the answer has started: abort the connection
	}
	h := e.Header()
	sts := h.Get("Strict-Transport-Security")
	clear(h)
	if sts != "" {
		h.Set("Strict-Transport-Security", sts)
	}
	writeReply(e, codeErrInternal, nil)
	return true
}

// guardHSTS sets Strict-Transport-Security on TLS responses.
//
// # Security
//
// RFC 6797: the header is only honoured, and only sent (§7.2), over TLS;
// set here, before any guard can refuse, every TLS response carries it.
// Behind a TLS-terminating proxy r.TLS is nil: the proxy must send it.
func (a *App) guardHSTS(e *edgeRequest, r *http.Request) bool {
	if c := &e.cfg.TLSHeaderSTS; r.TLS != nil && c.Activated {
		e.Header()["Strict-Transport-Security"] = c.header
	}
	return true
}

// guardBlockIP counts the request in the heavy-hitter sketch and refuses
// a blocked client with 429 and Retry-After.
//
// # Security
//
// The key is the trusted client address ([clientIP]), IPv6 grouped by /64
// ([topkKeyFromAddr]), so neither a reverse proxy nor a client rotating
// through its /64 defeats it. Refusing costs no DB write and no log
// record. Allow-listed addresses are counted (shares stay shares of all
// traffic) but never refused. Memory is fixed ([ipBlocker]).
func (a *App) guardBlockIP(e *edgeRequest, r *http.Request) bool {
	c := &e.cfg.BlockIP
	if !c.Activated {
		return true
	}
	blocked, after := a.blocker.Load().check(topkKeyFromAddr(e.ip))
	if !blocked || inPrefixes(e.ip, c.allow) {
		return true
	}
	a.refuse(e, metricsBlockIP)
	writeRetry(e, codeErrTooManyRequests, int((after+time.Second-1)/time.Second))
	return false
}

// guardRequestLimits refuses oversized requests, cheapest check first,
// and caps the body of the rest.
//
// # Security
//
// Bounds what a request can make the server parse and hold: URL path and
// query (414), distinct header names and each value (431), body (413 at
// once for a declared Content-Length over the limit; a chunked body is cut
// by http.MaxBytesReader, which is given net/http's own writer so it can
// close the connection). Excluded paths skip only the body limit.
func (a *App) guardRequestLimits(e *edgeRequest, r *http.Request) bool {
	l := &e.cfg.BlockOversizedRequest
	if !l.Activated {
		return true
	}
	code := ""
	switch {
	case l.URLPathLimit > 0 && max(len(r.URL.Path), len(r.URL.RawPath)) > l.URLPathLimit,
		l.QueryStringLimit > 0 && len(r.URL.RawQuery) > l.QueryStringLimit:
		code = codeErrURITooLong
	case l.HeaderCountLimit > 0 && len(r.Header) > l.HeaderCountLimit,
		l.HeaderValueLimit > 0 && headerValueOver(r.Header, l.HeaderValueLimit):
		code = codeErrHeaderTooLarge
	case l.BodyLimit > 0 && r.ContentLength > l.BodyLimit && !slices.Contains(l.ExcludedPaths, r.URL.Path):
		e.Header().Set("Connection", "close")
		code = codeErrBodyTooLarge
	}
	if code != "" {
		a.refuse(e, metricsBlockOversized)
		writeReply(e, code, nil)
		return false
	}
	if l.BodyLimit > 0 && r.Body != nil && r.Body != http.NoBody && !slices.Contains(l.ExcludedPaths, r.URL.Path) {
		r.Body = http.MaxBytesReader(e.ResponseWriter, r.Body, l.BodyLimit)
	}
	return true
}

// headerValueOver reports whether any header value is longer than n bytes.
func headerValueOver(h http.Header, n int) bool {
	for _, vs := range h {
		for _, v := range vs {
			if len(v) > n {
				return true
			}
		}
	}
	return false
}

// guardMetrics serves the Prometheus exposition at metrics.endpoint.
//
// # Security
//
// The exposition leaks internals, so only addresses in metrics.allowed_ips
// (CIDRs, IPv4 and IPv6, matched against the trusted [clientIP], never a
// forwarded header from an untrusted peer) get it; everyone else gets the
// same 404 envelope as an unknown path, so the endpoint's existence is not
// revealed.
func (a *App) guardMetrics(e *edgeRequest, r *http.Request) bool {
	m := &e.cfg.Metrics
	if !m.Activated || r.URL.Path != m.Endpoint {
		return true
	}
	if !inPrefixes(e.ip, m.allow) {
		writeReply(e, codeErrNotFound, nil)
		return false
	}
	a.metricsHTTP.ServeHTTP(e, r)
	return false
}

// guardBlockHost refuses a Host header that is not allow-listed with 421.
//
// # Security
//
// A server answering any Host is open to DNS rebinding and host header
// injection. The comparison is case-insensitive, ignores the port and one
// trailing dot; "*.example.com" matches subdomains only. An empty list
// (no block_host.allowed_hosts and no server.public_url) accepts every
// host and is warned about at start.
func (a *App) guardBlockHost(e *edgeRequest, r *http.Request) bool {
	b := &e.cfg.BlockHost
	if !b.Activated || len(b.hosts) == 0 || hostAllowed(r.Host, b.hosts) {
		return true
	}
	a.refuse(e, metricsBlockHost)
	writeReply(e, codeErrMisdirected, nil)
	return false
}

// hostAllowed matches a Host header against normalized allow-list entries.
func hostAllowed(host string, allowed []string) bool {
	// Fast path for the Host header as clients send it: an exact entry,
	// optionally followed by ":port". Anything else (upper case, a
	// trailing dot, a bracketed IPv6 address, spaces) takes the
	// normalizing path, which accepts everything this accepts
	// (FuzzHostAllowed checks that).
	for _, h := range allowed {
		if h != "" && h[0] != '*' && strings.HasPrefix(host, h) &&
			(len(host) == len(h) || host[len(h)] == ':' && allDigits(host[len(h)+1:])) {
			return true
		}
	}
	return hostAllowedSlow(host, allowed)
}

// hostAllowedSlow is hostAllowed on the normalized Host header.
func hostAllowedSlow(host string, allowed []string) bool {
	host = normalizeHost(host)
	if host == "" {
		return false
	}
	for _, h := range allowed {
		if suffix, ok := strings.CutPrefix(h, "*"); ok {
			if len(host) > len(suffix) && strings.HasSuffix(host, suffix) {
				return true
			}
		} else if host == h {
			return true
		}
	}
	return false
}

// allDigits reports whether s is only ASCII digits (or empty).
func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// maxUAMatchBytes is how much of the User-Agent the block-list sees.
const maxUAMatchBytes = 512

// guardBlockUA refuses a User-Agent matching block_ua_list.list with 403.
//
// # Security
//
// Go's regexp is RE2: matching is linear in the input, so a pattern cannot
// be turned into a ReDoS; the input is also cut to 512 bytes. The pattern
// is compiled once per configuration; a bad one fails validation and a
// reload keeps the old one. A word list runs as a literal search
// ([uaMatcher]), so a long User-Agent costs microseconds, not the
// regexp's hundreds.
func (a *App) guardBlockUA(e *edgeRequest, r *http.Request) bool {
	u := &e.cfg.BlockUAList
	if !u.Activated || u.match == nil {
		return true
	}
	ua := headerValue(r.Header, "User-Agent")
	if len(ua) > maxUAMatchBytes {
		ua = ua[:maxUAMatchBytes]
	}
	if !u.match.match(ua) {
		return true
	}
	a.refuse(e, metricsBlockUA)
	writeReply(e, codeErrForbidden, nil)
	return false
}

// headerValue is r.Header.Get for a key already in canonical form,
// without Get's canonicalization cost.
func headerValue(h http.Header, key string) string {
	if v := h[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// guardMaintenance answers 503 with Retry-After while maintenance is on,
// except for GET/HEAD with maintenance.allow_get and maintenance.allowed_paths.
func (a *App) guardMaintenance(e *edgeRequest, r *http.Request) bool {
	m := &e.cfg.Maintenance
	if !m.Activated || (m.AllowGet && (r.Method == http.MethodGet || r.Method == http.MethodHead)) ||
		slices.Contains(m.AllowedPaths, r.URL.Path) {
		return true
	}
	a.refuse(e, metricsBlockMaintenance)
	writeRetry(e, codeErrMaintenance, int(m.RetryAfter/time.Second))
	return false
}

// endpointsHashHeader carries the client's hash of the endpoint table.
const endpointsHashHeader = "X-Restinpieces-Endpoints-Hash"

// guardEndpointsMismatch answers 409 when a client's cached endpoint table
// is stale, so it rediscovers. Discovery itself and requests without the
// header pass.
func (a *App) guardEndpointsMismatch(e *edgeRequest, r *http.Request) bool {
	if h := headerValue(r.Header, endpointsHashHeader); h != "" && h != a.endpointsHash &&
		e.cfg.EndpointsBlockMismatch.Activated && r.URL.Path != a.listEndpointsPath {
		writeReply(e, codeErrEndpointsHashMismatch, nil)
		return false
	}
	return true
}

// patternPath returns the path of "METHOD /path".
func patternPath(p string) string {
	_, path, _ := strings.Cut(p, " ")
	return path
}

// endpointsHash is the hex of the first 8 bytes of SHA-256 over the
// endpoint patterns in the fixed order of restinpieces, so a client
// compares one short string.
func endpointsHash(e *EndpointsConfig) string {
	h := sha256.New()
	for _, r := range e.routes()[:13] {
		io.WriteString(h, r.Pattern)
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// router returns the ServeMux wrapped so that unknown paths and wrong
// methods answer with the JSON envelope instead of plain text.
func (a *App) router() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, pattern := a.mux.Handler(r)
		if pattern == "" {
			h.ServeHTTP(&missWriter{ResponseWriter: w}, r)
			return
		}
		a.mux.ServeHTTP(w, r)
	})
}

// missWriter replaces the plain-text body net/http writes for 404 and 405
// with the envelope, keeping the status and the Allow header.
type missWriter struct {
	http.ResponseWriter
	wrote bool
}

func (m *missWriter) WriteHeader(status int) {
	if m.wrote {
		return
	}
	m.wrote = true
	h := m.Header()
	h.Del("Content-Type")
	h.Del("X-Content-Type-Options")
	switch status {
	case http.StatusMethodNotAllowed:
		writeReply(m.ResponseWriter, codeErrMethodNotAllowed, nil)
	case http.StatusNotFound:
		writeReply(m.ResponseWriter, codeErrNotFound, nil)
	default: // a redirect to the canonical path
		m.ResponseWriter.WriteHeader(status)
	}
}

func (m *missWriter) Write(b []byte) (int, error) {
	if !m.wrote {
		m.WriteHeader(http.StatusOK)
	}
	return len(b), nil
}

// maxJSONBodyBytes caps the body of rip's JSON endpoints.
const maxJSONBodyBytes = 64 << 10 // 64 KiB: auth bodies are a few hundred bytes

// decodeJSON reads one JSON object from r into dst and answers the error
// itself when it returns false.
//
// # Security
//
// Content-Type must be application/json (415 otherwise); the body is
// capped (413 beyond maxJSONBodyBytes); exactly one object with known
// fields only, no trailing data (400) — so a request smuggling extra
// fields or a second document is refused rather than half-read.
func decodeJSON(w http.ResponseWriter, r *http.Request, dst any) bool {
	if !isJSONRequest(r) {
		writeReply(w, codeErrInvalidContentType, nil)
		return false
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxJSONBodyBytes)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	err := dec.Decode(dst)
	if err == nil && dec.More() {
		err = errors.New("trailing data")
	}
	if err == nil {
		if _, e := dec.Token(); e != io.EOF {
			err = errors.New("trailing data")
		}
	}
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		writeReply(w, codeErrBodyTooLarge, nil)
		return false
	case err != nil:
		writeReply(w, codeErrInvalidInput, nil)
		return false
	}
	return true
}

// isJSONRequest reports whether the media type is exactly
// application/json (parameters such as charset allowed).
func isJSONRequest(r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == "application/json"
}

// requireJSON is middleware for body-less POST endpoints that still must
// carry the JSON content type (restinpieces' refresh-auth contract).
func requireJSON(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !isJSONRequest(r) {
			writeReply(w, codeErrInvalidContentType, nil)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// truncate cuts s to at most n bytes without splitting a UTF-8 sequence.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
