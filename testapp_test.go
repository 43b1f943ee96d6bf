package rip

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"zombiezen.com/go/sqlite"
)

// testClock is an adjustable clock for tests.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock { return &testClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *testClock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// testLogger returns a logger that writes into buf (safe for concurrent
// use) so tests can assert on log lines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.buf.String() }

// testApp is an App in a temp directory with a captured log.
type testApp struct {
	*App
	t     *testing.T
	dir   string
	logs  *syncBuffer
	clock *testClock // a.Now, starting at the real time
}

// newTestApp creates a fresh data directory with generated secrets and
// opens an App on it. edit, when given, changes the stored configuration
// before the app opens it.
func newTestApp(t *testing.T, edit ...func(*Config)) *testApp {
	t.Helper()
	dir := t.TempDir()
	if len(edit) > 0 {
		storeTestConfig(t, dir, func(c *Config) {
			for _, e := range edit {
				e(c)
			}
		})
	}
	logs := &syncBuffer{}
	app, err := New(Options{DB: filepath.Join(dir, "app.db"), Create: true, Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { app.Close() })
	// The clock is installed before any goroutine (Serve's scheduler)
	// reads a.Now; tests move it with clock.Advance, never by assigning
	// a.Now while the app serves.
	clock := newTestClock()
	clock.t = time.Now()
	app.Now = clock.Now
	return &testApp{App: app, t: t, dir: dir, logs: logs, clock: clock}
}

// storeTestConfig initialises dir and stores a new application generation
// made by edit from the defaults plus generated secrets.
func storeTestConfig(t *testing.T, dir string, edit func(*Config)) {
	t.Helper()
	ad, err := OpenAdmin(Options{DB: filepath.Join(dir, "app.db"), Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ad.Close()
	cfg, _, err := ad.EffectiveConfig(context.Background(), 0)
	if err != nil {
		if _, err := ad.InitConfig(context.Background()); err != nil {
			t.Fatal(err)
		}
		if cfg, _, err = ad.EffectiveConfig(context.Background(), 0); err != nil {
			t.Fatal(err)
		}
	}
	edit(cfg)
	text, err := tomlEncode(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ad.SaveConfig(context.Background(), ScopeApplication, "test", text); err != nil {
		t.Fatal(err)
	}
}

// serve runs the app on a loopback listener until the test ends and
// returns its base URL.
func (ta *testApp) serve() string {
	ta.t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		ta.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ta.Serve(ctx, ln) }()
	ta.t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			ta.t.Errorf("Serve: %v", err)
		}
	})
	return "http://" + ln.Addr().String()
}

// reply is a decoded envelope plus the raw response.
type reply struct {
	Status  int             `json:"status"`
	Code    string          `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data"`
	HTTP    int             `json:"-"`
	Header  http.Header     `json:"-"`
	Body    string          `json:"-"`
}

// call sends one request with a JSON body (nil for none) and decodes the
// envelope. headers are "Key: value" strings.
func call(t *testing.T, method, url string, body any, headers ...string) reply {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ": ")
		if v == "" {
			req.Header.Del(k)
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var r reply
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatalf("%s %s: body is not an envelope: %q", method, url, raw)
	}
	r.HTTP, r.Header, r.Body = resp.StatusCode, resp.Header, string(raw)
	if r.Status != r.HTTP {
		t.Fatalf("%s %s: envelope status %d != HTTP %d", method, url, r.Status, r.HTTP)
	}
	return r
}

// expect fails unless r has the HTTP status and code.
func (r reply) expect(t *testing.T, status int, code string) reply {
	t.Helper()
	if r.HTTP != status || r.Code != code {
		t.Fatalf("got %d %s (%s), want %d %s", r.HTTP, r.Code, r.Body, status, code)
	}
	return r
}

// holdExclusive is a helper process: it takes BEGIN EXCLUSIVE on db,
// prints "locked" and holds the lock until stdin closes.
func holdExclusive(db string) {
	conn, err := sqlite.OpenConn(db, sqlite.OpenReadWrite)
	if err != nil {
		panic(err)
	}
	if err := execSimple(conn, "BEGIN EXCLUSIVE"); err != nil {
		panic(err)
	}
	os.Stdout.WriteString("locked\n")
	bufio.NewReader(os.Stdin).ReadString('\n')
	execSimple(conn, "ROLLBACK")
	conn.Close()
}

func execSimple(conn *sqlite.Conn, q string) error {
	st, _, err := conn.PrepareTransient(q)
	if err != nil {
		return err
	}
	defer st.Finalize()
	_, err = st.Step()
	return err
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// lockDB runs the hold-exclusive helper process on the SQLite file at
// path and returns once it holds BEGIN EXCLUSIVE; release ends it.
func lockDB(t *testing.T, path string) (release func()) {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "RIP_TEST_HELPER=hold-exclusive", "RIP_TEST_DB="+path)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if line, _ := bufio.NewReader(stdout).ReadString('\n'); line != "locked\n" {
		stdin.Close()
		cmd.Wait()
		t.Fatalf("lock helper said %q", line)
	}
	var once sync.Once
	release = func() { once.Do(func() { stdin.Close(); cmd.Wait() }) }
	t.Cleanup(release)
	return release
}

// setConfig swaps in a copy of the running configuration changed by edit
// and validated, as a reload would.
func (ta *testApp) setConfig(edit func(*Config)) {
	ta.t.Helper()
	c := *ta.Config()
	edit(&c)
	if err := c.Validate(); err != nil {
		ta.t.Fatal(err)
	}
	ta.cfg.Store(&c)
}

// do serves one request through the whole handler from remote (an
// "ip:port") and returns the recorded response.
func (ta *testApp) do(method, target, remote string, body io.Reader, headers ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, body)
	r.RemoteAddr = remote
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ": ")
		r.Header.Add(k, v)
	}
	w := httptest.NewRecorder()
	ta.Handler().ServeHTTP(w, r)
	return w
}
