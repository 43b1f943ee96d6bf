package rip

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// storedLog is one row of logs.db.
type storedLog struct {
	Level   int
	Message string
	Data    map[string]any
	Raw     string
	Created string
}

// readLogs returns the rows of logs.db, oldest first.
func (ta *testApp) readLogs(where string) []storedLog {
	ta.t.Helper()
	var out []storedLog
	err := ta.dbs.logs.Read(context.Background(), time.Second, func(conn *sqlite.Conn) error {
		return sqlitex.Execute(conn, "SELECT level, message, data, created_at FROM logs "+where+" ORDER BY id", &sqlitex.ExecOptions{
			ResultFunc: func(s *sqlite.Stmt) error {
				l := storedLog{Level: s.ColumnInt(0), Message: s.ColumnText(1), Raw: s.ColumnText(2), Created: s.ColumnText(3)}
				if err := json.Unmarshal([]byte(l.Raw), &l.Data); err != nil {
					ta.t.Errorf("data is not JSON: %q", l.Raw)
				}
				out = append(out, l)
				return nil
			}})
	})
	if err != nil {
		ta.t.Fatal(err)
	}
	return out
}

func TestRequestLog(t *testing.T) {
	ta := newTestApp(t)
	ta.HandleFunc("GET /test/hello", func(w http.ResponseWriter, r *http.Request) { WriteJSON(w, 200, "ok", "hi", nil) })
	long := strings.Repeat("é", 400) // 800 bytes: cut on a rune boundary
	r := httptest.NewRequest("GET", "/test/hello?token=s3cr3t&page=2&reset_code=999", nil)
	r.RemoteAddr = "[2001:db8::1]:443"
	r.Header.Set("User-Agent", "evil\x00\n\x1b[31mforged line\u2028"+long)
	r.Header.Set("Referer", "https://ref.example/"+long)
	r.Header.Set("Authorization", "Bearer tok-visible?")
	r.Header.Set("Cookie", "session=cookie-visible?")
	ta.Handler().ServeHTTP(httptest.NewRecorder(), r)
	ta.logw.stop()
	rows := ta.readLogs("WHERE message = 'http_request'")
	if len(rows) != 1 {
		t.Fatalf("%d request records", len(rows))
	}
	got := rows[0]
	for _, bad := range []string{"s3cr3t", "999", "tok-visible", "cookie-visible", "\n", "\x00", "\x1b", "\u2028"} {
		if strings.Contains(got.Raw, bad) {
			t.Errorf("request log holds %q: %s", bad, got.Raw)
		}
	}
	d := got.Data
	if d["uri"] != "/test/hello?token=REDACTED&page=2&reset_code=REDACTED" || d["status"] != 200.0 || d["method"] != "GET" ||
		d["remote_ip"] != "2001:db8::1" || d["tls"] != false || d["type"] != "request" {
		t.Errorf("fields: %s", got.Raw)
	}
	lim := ta.Config().Log.Request.Limits
	for key, limit := range map[string]int{"user_agent": lim.UserAgent, "referer": lim.Referer} {
		s, _ := d[key].(string)
		if len(s) > limit || !strings.HasSuffix(s, "...") || !utf8.ValidString(s) {
			t.Errorf("%s not cut to %d bytes on a rune boundary: %d bytes %q", key, limit, len(s), s)
		}
	}
	if !strings.HasPrefix(d["user_agent"].(string), "evil\x00\n\x1b[31mforged line\u2028") {
		t.Errorf("control characters not preserved as escapes: %q", d["user_agent"])
	}
	if got.Level != int(slog.LevelInfo) || len(got.Created) != len("2026-01-02T03:04:05.000Z") {
		t.Errorf("level %d created %q", got.Level, got.Created)
	}
}

func TestRequestLogOffAndBlockIPNotLogged(t *testing.T) {
	ta := newTestApp(t)
	ta.setConfig(func(c *Config) { c.Log.Request.Activated = false })
	ta.do("GET", "/api/health", "192.0.2.1:1", nil)
	ta.setConfig(func(c *Config) { c.Log.Request.Activated = true })
	e := &edgeRequest{ResponseWriter: httptest.NewRecorder(), cfg: ta.Config(), start: time.Now()}
	ta.refuse(e, metricsBlockIP)
	ta.observe(e, httptest.NewRequest("GET", "/", nil))
	ta.logw.stop()
	if rows := ta.readLogs("WHERE message = 'http_request'"); len(rows) != 0 {
		t.Fatalf("logged %d records: %v", len(rows), rows)
	}
}

func TestSlogToLogsDB(t *testing.T) {
	ta := newTestApp(t)
	l := ta.Logger.With("k", "v").WithGroup("g")
	l.Info("grouped", "a", 1, "secret", Secret("hunter2-canary"), "d", 1500*time.Millisecond)
	l.Debug("below the level")
	ta.setConfig(func(c *Config) { c.Log.Batch.Level = "debug" })
	l.Debug("now stored")
	ta.logw.stop()
	rows := ta.readLogs("WHERE message IN ('grouped', 'below the level', 'now stored')")
	if len(rows) != 2 || rows[0].Message != "grouped" || rows[1].Message != "now stored" {
		t.Fatalf("rows: %+v", rows)
	}
	if rows[0].Raw != `{"k":"v","g":{"a":1,"secret":"REDACTED","d":1500000000}}` {
		t.Errorf("data = %s", rows[0].Raw)
	}
	// After stop, records still reach the configured logger.
	ta.Logger.Warn("after stop")
	if !strings.Contains(ta.logs.String(), "after stop") {
		t.Error("record after stop lost")
	}
}

// TestLockedLogsDBNeverSlowsRequests: while another process holds an
// exclusive lock on logs.db, requests are answered as fast as usual; the
// records that do not fit are counted as dropped, and once the lock is
// gone records are written again.
func TestLockedLogsDBNeverSlowsRequests(t *testing.T) {
	ta := newTestApp(t, func(c *Config) {
		c.DB.BusyTimeout = 300 * time.Millisecond
		c.Log.Batch.ChanSize = 32
		c.Log.Batch.FlushSize = 8
		c.Log.Batch.FlushInterval = 10 * time.Millisecond
	})
	url := ta.serve()
	call(t, "GET", url+"/api/health", nil).expect(t, 200, codeOKHealth)
	release := lockDB(t, ta.opts.LogDB)
	var slowest time.Duration
	for range 200 {
		start := time.Now()
		call(t, "GET", url+"/api/health", nil).expect(t, 200, codeOKHealth)
		slowest = max(slowest, time.Since(start))
	}
	// The flush blocked on the lock takes 300 ms; a request that waited
	// for it would take at least that.
	if slowest > 250*time.Millisecond {
		t.Errorf("slowest request %s while logs.db was locked", slowest)
	}
	if ta.logw.dropped.Load() == 0 || ta.metrics.logsDropped.load() != ta.logw.dropped.Load() {
		t.Errorf("dropped = %d, metric = %d", ta.logw.dropped.Load(), ta.metrics.logsDropped.load())
	}
	release()
	before := ta.logw.written.Load()
	for i := 0; i < 200 && ta.logw.written.Load() == before; i++ {
		call(t, "GET", url+"/api/health", nil)
		time.Sleep(5 * time.Millisecond)
	}
	if ta.logw.written.Load() == before {
		t.Fatal("no record written after the lock was released")
	}
}

// TestLogsFlushedOnShutdown: records still queued when Run stops are
// written before the databases close.
func TestLogsFlushedOnShutdown(t *testing.T) {
	ta := newTestApp(t, func(c *Config) { c.Log.Batch.FlushInterval = time.Minute })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ta.Serve(ctx, ln) }()
	url := "http://" + ln.Addr().String()
	for range 5 {
		call(t, "GET", url+"/api/health", nil).expect(t, 200, codeOKHealth)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	conn, err := sqlite.OpenConn(ta.opts.LogDB, sqlite.OpenReadOnly)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	n := 0
	sqlitex.Execute(conn, "SELECT count(*) FROM logs WHERE message = 'http_request'", &sqlitex.ExecOptions{
		ResultFunc: func(s *sqlite.Stmt) error { n = s.ColumnInt(0); return nil }})
	if n != 5 {
		t.Fatalf("%d of 5 request records flushed at shutdown", n)
	}
}

func TestLogRetention(t *testing.T) {
	ta := newTestApp(t)
	now := time.Now()
	old := now.Add(-31 * 24 * time.Hour)
	for i := range 3 {
		ta.logw.enqueue(logRecord{level: slog.LevelInfo, message: "old", data: []byte("{}"), time: old.Add(time.Duration(i) * time.Second)})
	}
	ta.logw.enqueue(logRecord{level: slog.LevelInfo, message: "recent", data: []byte("{}"), time: now.Add(-time.Hour)})
	ta.logw.flush(drainLogs(ta.logw))
	ta.logw.prune()
	rows := ta.readLogs("WHERE message IN ('old', 'recent')")
	if len(rows) != 1 || rows[0].Message != "recent" {
		t.Fatalf("after retention: %+v", rows)
	}
}

func drainLogs(lw *logWriter) []logRecord {
	var out []logRecord
	for {
		select {
		case r := <-lw.ch:
			out = append(out, r)
		default:
			return out
		}
	}
}

func TestLogRedactQuery(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"nothing secret", "a=1&b=2", "a=1&b=2"},
		{"token", "access_token=x&b=2", "access_token=REDACTED&b=2"},
		{"oauth callback", "code=abc&state=def", "code=REDACTED&state=REDACTED"},
		{"case", "Password=x", "Password=REDACTED"},
		{"no value", "token&a=1", "token&a=1"},
		{"empty pairs", "&&otp=1&", "&&otp=REDACTED&"},
	} {
		if got := logRedactQuery(tc.in); got != tc.want {
			t.Errorf("%s: logRedactQuery(%q) = %q, want %q", tc.name, tc.in, got, tc.want)
		}
	}
}

// FuzzLogAppendString: the output is one valid JSON string with no raw
// control characters, decoding to at most limit bytes.
func FuzzLogAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", "a\"b\\c", "\x00\x1f\x7f", "\xff\xfe", "é€𝄞", "\u2028\u2029", strings.Repeat("é", 100)} {
		f.Add(s, 40)
	}
	f.Fuzz(func(t *testing.T, s string, limit int) {
		limit = 16 + abs(limit)%200
		b := logAppendString(nil, s, limit)
		for _, c := range b {
			if c < 0x20 {
				t.Fatalf("raw control byte in %q", b)
			}
		}
		var out string
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatalf("not a JSON string: %q: %v", b, err)
		}
		if len(out) > limit {
			t.Fatalf("decoded %d bytes, limit %d", len(out), limit)
		}
		if strings.ContainsAny(out, "\u2028\u2029") && !strings.ContainsAny(s, "\u2028\u2029") {
			t.Fatal("separator appeared from nowhere")
		}
	})
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// BenchmarkLogFlush measures writing request-log records to logs.db, per
// record, in batches of log.batch.flush_size.
func BenchmarkLogFlush(b *testing.B) {
	dir := b.TempDir()
	app, err := New(Options{DB: dir + "/app.db", Create: true, Logger: discardLogger()})
	if err != nil {
		b.Fatal(err)
	}
	defer app.Close()
	rec := logRecord{level: slog.LevelInfo, message: "http_request", time: time.Now(),
		data: []byte(`{"type":"request","method":"GET","uri":"/hello?page=2","status":200,"duration_us":87,"remote_ip":"198.51.0.7","user_agent":"Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0","referer":"https://127.0.0.1/app/","host":"127.0.0.1:8080","proto":"HTTP/1.1","tls":false,"request_content_length":0,"response_content_length":17}`)}
	batch := make([]logRecord, 0, app.logw.flushSize)
	b.ReportAllocs()
	for b.Loop() {
		batch = append(batch, rec)
		if len(batch) == cap(batch) {
			batch = app.logw.flush(batch)
		}
	}
}
