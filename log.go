package rip

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// This file is the log writer: records from slog (through logDBHandler)
// and from the request log (logRequest) go into a bounded channel, and one
// goroutine writes them to logs.db in batches. A request never waits for
// the log database: when the channel is full the record is dropped and
// counted (rip_log_records_dropped_total), which is how a slow or locked
// logs.db stays invisible to clients.

// logRecord is one row of the logs table.
type logRecord struct {
	level   slog.Level
	message string
	data    []byte // a JSON object
	time    time.Time
}

// Log writer limits.
const (
	logFlushTimeout     = 5 * time.Second // one batch insert, lock wait included
	logRetentionEvery   = time.Hour
	logRetentionBatch   = 5000 // rows deleted per transaction, so pruning never holds the lock long
	logErrorReportEvery = time.Minute
	logTimeLayout       = "2006-01-02T15:04:05.000Z07:00" // fixed width in UTC: sorts as text
)

// logWriter batches records into logs.db. enqueue is safe for concurrent
// use and never blocks; run and stop are called by [App.Serve] and
// [App.Close] only.
type logWriter struct {
	db        *database
	fallback  slog.Handler // receives records once the writer has stopped, and write errors
	metrics   *appMetrics
	now       func() time.Time
	retention func() time.Duration

	ch        chan logRecord
	wake      chan struct{} // signalled when flushSize records wait
	flushSize int
	interval  time.Duration

	stopped atomic.Bool
	// lastFailed reports that the latest flush could not write (stop ends
	// its drain on it).
	lastFailed atomic.Bool
	dropped    atomic.Uint64
	written    atomic.Uint64
	cancel     context.CancelFunc
	done       chan struct{} // closed when run returns; nil if never started
	stopOnce   sync.Once
	lastError  time.Time // run goroutine (or stop) only
}

func newLogWriter(db *database, c *LogConfig, fallback slog.Handler, m *appMetrics, now func() time.Time, retention func() time.Duration) *logWriter {
	return &logWriter{
		db: db, fallback: fallback, metrics: m, now: now, retention: retention,
		ch:        make(chan logRecord, c.Batch.ChanSize),
		wake:      make(chan struct{}, 1),
		flushSize: c.Batch.FlushSize,
		interval:  c.Batch.FlushInterval,
	}
}

// enqueue hands a record to the writer without blocking. After stop the
// record goes to the fallback handler, so nothing logged during shutdown
// is lost silently.
//
// # Security
//
// The channel is bounded (log.batch.chan_size): a flood of requests or a
// stalled logs.db can never grow memory or make a request wait; the
// records that do not fit are counted as dropped.
//
// The writer is woken once per flushSize records, not per record: a
// wake-up per request would cost more than writing the record.
func (lw *logWriter) enqueue(rec logRecord) {
	if lw.stopped.Load() {
		lw.toFallback(rec)
		return
	}
	select {
	case lw.ch <- rec:
		if len(lw.ch) >= lw.flushSize {
			select {
			case lw.wake <- struct{}{}:
			default:
			}
		}
	default:
		lw.dropped.Add(1)
		lw.metrics.incLogDropped()
	}
}

func (lw *logWriter) toFallback(rec logRecord) {
	r := slog.NewRecord(rec.time, rec.level, rec.message, 0)
	r.AddAttrs(slog.String("data", string(rec.data)))
	lw.fallback.Handle(context.Background(), r)
}

// start runs the writer goroutine until stop.
func (lw *logWriter) start() {
	ctx, cancel := context.WithCancel(context.Background())
	lw.cancel, lw.done = cancel, make(chan struct{})
	go func() {
		defer close(lw.done)
		lw.run(ctx)
	}()
}

// run writes what is queued when flushSize records wait or every
// interval, and prunes old records hourly.
func (lw *logWriter) run(ctx context.Context) {
	flush := time.NewTicker(lw.interval)
	defer flush.Stop()
	prune := time.NewTicker(logRetentionEvery)
	defer prune.Stop()
	batch := make([]logRecord, 0, lw.flushSize)
	lw.prune()
	for {
		select {
		case <-lw.wake:
		case <-flush.C:
		case <-prune.C:
			lw.prune()
			continue
		case <-ctx.Done():
			return
		}
		batch = lw.drain(batch)
	}
}

// drain writes every queued record, flushSize per transaction.
func (lw *logWriter) drain(batch []logRecord) []logRecord {
	for {
		select {
		case rec := <-lw.ch:
			batch = append(batch, rec)
			if len(batch) >= lw.flushSize {
				batch = lw.flush(batch)
			}
		default:
			return lw.flush(batch)
		}
	}
}

// stop ends the writer: the goroutine (if started) returns, then
// everything still queued is written. A batch that fails (logs.db locked
// past logFlushTimeout) ends the drain: the rest is dropped and counted,
// so shutdown waits at most one flush timeout for logs, not one per
// queued batch. Later records go to the fallback handler.
func (lw *logWriter) stop() {
	lw.stopOnce.Do(func() {
		if lw.done != nil {
			lw.cancel()
			<-lw.done
		}
		lw.stopped.Store(true)
		batch := make([]logRecord, 0, lw.flushSize)
		for {
			select {
			case rec := <-lw.ch:
				batch = append(batch, rec)
				if len(batch) < lw.flushSize {
					continue
				}
			default:
			}
			if len(batch) == 0 {
				return
			}
			if batch = lw.flush(batch); lw.lastFailed.Load() {
				lw.dropQueued()
				return
			}
		}
	})
}

// dropQueued discards the queued records, counting them as dropped.
func (lw *logWriter) dropQueued() {
	for {
		select {
		case <-lw.ch:
			lw.dropped.Add(1)
			lw.metrics.incLogDropped()
		default:
			return
		}
	}
}

// logInsertRows is how many records one INSERT statement carries: one
// statement per row spends most of its time in the statement machinery.
const logInsertRows = 32

// logInsertSQL is the INSERT of n rows.
func logInsertSQL(n int) string {
	return "INSERT INTO logs (level, message, data, created_at) VALUES (?, ?, ?, ?)" + strings.Repeat(", (?, ?, ?, ?)", n-1)
}

var (
	logInsertFull = logInsertSQL(logInsertRows)
	logInsertOne  = logInsertSQL(1)
)

// flush writes batch in one transaction and returns it emptied. A failed
// write drops the batch (counted) rather than holding records in memory.
func (lw *logWriter) flush(batch []logRecord) []logRecord {
	if len(batch) == 0 {
		return batch
	}
	err := lw.db.Write(context.Background(), logFlushTimeout, func(conn *sqlite.Conn) error {
		for rest := batch; len(rest) > 0; {
			n, q := logInsertRows, logInsertFull
			if len(rest) < logInsertRows {
				n, q = 1, logInsertOne
			}
			st := conn.Prep(q)
			for i, rec := range rest[:n] {
				st.BindInt64(4*i+1, int64(rec.level))
				st.BindText(4*i+2, rec.message)
				st.BindText(4*i+3, string(rec.data))
				st.BindText(4*i+4, rec.time.UTC().Format(logTimeLayout))
			}
			_, err := st.Step()
			st.Reset()
			if err != nil {
				return err
			}
			rest = rest[n:]
		}
		return nil
	})
	lw.lastFailed.Store(err != nil)
	if err != nil {
		lw.dropped.Add(uint64(len(batch)))
		for range batch {
			lw.metrics.incLogDropped()
		}
		lw.reportError("rip: log writer could not write to logs.db; records dropped", err, len(batch))
	} else {
		lw.written.Add(uint64(len(batch)))
	}
	clear(batch)
	return batch[:0]
}

// reportError logs a write failure to the fallback at most once a minute.
func (lw *logWriter) reportError(msg string, err error, n int) {
	now := time.Now()
	if now.Sub(lw.lastError) < logErrorReportEvery {
		return
	}
	lw.lastError = now
	r := slog.NewRecord(now, slog.LevelError, msg, 0)
	r.AddAttrs(slog.Any("err", err), slog.Int("records", n))
	lw.fallback.Handle(context.Background(), r)
}

const logPruneSQL = "DELETE FROM logs WHERE id IN (SELECT id FROM logs WHERE created_at < ? ORDER BY id LIMIT ?)"

// prune deletes records older than log.retention, a batch per transaction.
func (lw *logWriter) prune() {
	keep := lw.retention()
	if keep <= 0 {
		return
	}
	cutoff := lw.now().Add(-keep).UTC().Format(logTimeLayout)
	for {
		var n int
		err := lw.db.Write(context.Background(), logFlushTimeout, func(conn *sqlite.Conn) error {
			err := sqlitex.Execute(conn, logPruneSQL, &sqlitex.ExecOptions{Args: []any{cutoff, logRetentionBatch}})
			n = conn.Changes()
			return err
		})
		if err != nil {
			lw.reportError("rip: log retention failed", err, 0)
			return
		}
		if n < logRetentionBatch {
			return
		}
	}
}

// logDBHandler is the slog.Handler that sends records to the log writer.
// Attributes are encoded as JSON by slog's own JSONHandler, so groups and
// WithAttrs behave exactly as slog documents; the level is read from the
// configuration in force (log.batch.level) on every call.
type logDBHandler struct {
	w     *logWriter
	level func() slog.Level
	ops   []logOp // WithAttrs and WithGroup calls, replayed per record
}

type logOp struct {
	group string
	attrs []slog.Attr
}

func (h *logDBHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level() }

func (h *logDBHandler) Handle(ctx context.Context, r slog.Record) error {
	var buf bytes.Buffer
	var jh slog.Handler = slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug, ReplaceAttr: logDropBuiltins})
	for _, op := range h.ops {
		if op.group != "" {
			jh = jh.WithGroup(op.group)
		} else {
			jh = jh.WithAttrs(op.attrs)
		}
	}
	if err := jh.Handle(ctx, r); err != nil {
		return err
	}
	h.w.enqueue(logRecord{level: r.Level, message: r.Message, data: bytes.TrimSpace(buf.Bytes()), time: r.Time})
	return nil
}

func (h *logDBHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &logDBHandler{w: h.w, level: h.level, ops: append(h.ops[:len(h.ops):len(h.ops)], logOp{attrs: attrs})}
}

func (h *logDBHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return &logDBHandler{w: h.w, level: h.level, ops: append(h.ops[:len(h.ops):len(h.ops)], logOp{group: name})}
}

// logDropBuiltins leaves time, level and message out of the JSON: they
// have their own columns.
func logDropBuiltins(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 && (a.Key == slog.TimeKey || a.Key == slog.LevelKey || a.Key == slog.MessageKey) {
		return slog.Attr{}
	}
	return a
}

// logTee sends every record to two handlers: rip's logger writes to the
// configured handler (stderr by default) and to logs.db.
type logTee struct{ a, b slog.Handler }

func (t logTee) Enabled(ctx context.Context, l slog.Level) bool {
	return t.a.Enabled(ctx, l) || t.b.Enabled(ctx, l)
}

func (t logTee) Handle(ctx context.Context, r slog.Record) error {
	var err error
	if t.a.Enabled(ctx, r.Level) {
		err = t.a.Handle(ctx, r.Clone())
	}
	if t.b.Enabled(ctx, r.Level) {
		if e := t.b.Handle(ctx, r); err == nil {
			err = e
		}
	}
	return err
}

func (t logTee) WithAttrs(attrs []slog.Attr) slog.Handler {
	return logTee{t.a.WithAttrs(attrs), t.b.WithAttrs(attrs)}
}

func (t logTee) WithGroup(name string) slog.Handler {
	return logTee{t.a.WithGroup(name), t.b.WithGroup(name)}
}

// logRequestSizeHint is the initial capacity of a request record's JSON.
const logRequestSizeHint = 384

// logRequest writes the request log record of one finished request. It
// builds the JSON by hand: one allocation, no reflection, on every request.
//
// # Security
//
// Threats: log injection and log bloat through attacker-chosen fields,
// and credentials in logs. Every string is JSON-escaped (control
// characters become \u00XX escapes, invalid UTF-8 becomes U+FFFD) and cut
// to its log.request.limits byte limit on a UTF-8 boundary. No header
// that carries credentials (Authorization, Cookie) is logged, and query
// parameters whose names suggest a secret (token, code, password, …) are
// logged as REDACTED.
func (a *App) logRequest(e *edgeRequest, r *http.Request, status int, d time.Duration) {
	lim := &e.cfg.Log.Request.Limits
	b := make([]byte, 0, logRequestSizeHint)
	b = append(b, `{"type":"request","method":`...)
	b = logAppendString(b, r.Method, 16)
	b = append(b, `,"uri":`...)
	b = logAppendURI(b, r, lim.URI)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, `,"duration_us":`...)
	b = strconv.AppendInt(b, d.Microseconds(), 10)
	b = append(b, `,"remote_ip":"`...)
	if n := len(b); e.ip.IsValid() {
		b = e.ip.AppendTo(b)
		if len(b)-n > lim.RemoteIP {
			b = b[:n+lim.RemoteIP]
		}
	}
	b = append(b, `","user_agent":`...)
	b = logAppendString(b, r.Header.Get("User-Agent"), lim.UserAgent)
	b = append(b, `,"referer":`...)
	b = logAppendString(b, r.Header.Get("Referer"), lim.Referer)
	b = append(b, `,"host":`...)
	b = logAppendString(b, r.Host, lim.Host)
	b = append(b, `,"proto":`...)
	b = logAppendString(b, r.Proto, 16)
	b = append(b, `,"tls":`...)
	b = strconv.AppendBool(b, r.TLS != nil)
	b = append(b, `,"request_content_length":`...)
	b = strconv.AppendInt(b, r.ContentLength, 10)
	b = append(b, `,"response_content_length":`...)
	b = strconv.AppendInt(b, e.written, 10)
	b = append(b, '}')
	a.logw.enqueue(logRecord{level: slog.LevelInfo, message: "http_request", data: b, time: e.start})
}

// logAppendURI appends the path and query of r as a JSON string, with the
// values of secret-looking query parameters replaced by REDACTED.
func logAppendURI(b []byte, r *http.Request, limit int) []byte {
	uri := r.URL.EscapedPath()
	if q := r.URL.RawQuery; q != "" {
		uri = uri + "?" + logRedactQuery(q)
	}
	return logAppendString(b, uri, limit)
}

// logSecretParams are substrings of query parameter names whose values
// are never logged.
var logSecretParams = []string{"token", "code", "pass", "secret", "otp", "key", "state", "sig", "auth", "session"}

// logSecretName reports whether a parameter name contains one of
// logSecretParams, in any ASCII case, without allocating.
func logSecretName(name string) bool {
	for _, s := range logSecretParams {
		for i := 0; i+len(s) <= len(name); i++ {
			if strings.EqualFold(name[i:i+len(s)], s) {
				return true
			}
		}
	}
	return false
}

// logSecretParam reports whether a raw query parameter name, as written
// or percent-decoded (handlers see the decoded one: "%74oken" is
// "token"), looks like a secret.
func logSecretParam(raw string) bool {
	if logSecretName(raw) {
		return true
	}
	name, err := url.QueryUnescape(raw)
	return err == nil && name != raw && logSecretName(name)
}

// logRedactQuery replaces the values of secret-looking parameters; a
// query without any is returned as is, without allocating.
func logRedactQuery(q string) string {
	found := false
	for rest := q; rest != "" && !found; {
		var pair string
		pair, rest, _ = strings.Cut(rest, "&")
		name, _, ok := strings.Cut(pair, "=")
		found = ok && logSecretParam(name)
	}
	if !found {
		return q
	}
	var out strings.Builder
	redacted := false
	for i, pair := range strings.Split(q, "&") {
		if i > 0 {
			out.WriteByte('&')
		}
		if name, _, ok := strings.Cut(pair, "="); ok && logSecretParam(name) {
			out.WriteString(name)
			out.WriteString("=REDACTED")
			redacted = true
			continue
		}
		out.WriteString(pair)
	}
	if !redacted {
		return q
	}
	return out.String()
}

// logAppendString appends s, cut to limit bytes ("..." marking a cut), as
// a JSON string.
func logAppendString(b []byte, s string, limit int) []byte {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	cut := false
	if len(s) > limit {
		s, cut = truncate(s, limit-3), true
	}
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			b = append(b, c)
			i++
			continue
		}
		if c < utf8.RuneSelf {
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			default:
				b = append(b, `\u00`...)
				b = append(b, "0123456789abcdef"[c>>4], "0123456789abcdef"[c&0xF])
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else if r == '\u2028' || r == '\u2029' {
			b = append(b, `\u202`...)
			b = append(b, "89"[r-'\u2028'])
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	if cut {
		b = append(b, "..."...)
	}
	return append(b, '"')
}
