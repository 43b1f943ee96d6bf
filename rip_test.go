package rip

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

func TestHTTPConventions(t *testing.T) {
	ta := newTestApp(t)
	ta.HandleFunc("GET /test/panic", func(w http.ResponseWriter, r *http.Request) { panic("kaboom secret-detail") })
	url := ta.serve()

	r := call(t, "GET", url+"/api/list-endpoints", nil).expect(t, 200, codeOKEndpoints)
	if !strings.Contains(string(r.Data), `"hash":"d0f56807442b1eb3"`) {
		t.Errorf("default endpoints hash differs from restinpieces': %s", r.Data)
	}
	for _, tc := range []struct {
		name, method, path string
		headers            []string
		status             int
		code               string
	}{
		{"unknown path", "GET", "/nope", nil, 404, codeErrNotFound},
		{"wrong method", "DELETE", "/api/list-endpoints", nil, 405, codeErrMethodNotAllowed},
		{"health", "GET", "/api/health", nil, 200, codeOKHealth},
		{"stale hash", "GET", "/api/health", []string{endpointsHashHeader + ": 0000000000000000"}, 409, codeErrEndpointsHashMismatch},
		{"current hash", "GET", "/api/health", []string{endpointsHashHeader + ": d0f56807442b1eb3"}, 200, codeOKHealth},
		{"discovery exempt", "GET", "/api/list-endpoints", []string{endpointsHashHeader + ": stale"}, 200, codeOKEndpoints},
		{"panic", "GET", "/test/panic", nil, 500, codeErrInternal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := call(t, tc.method, url+tc.path, nil, tc.headers...).expect(t, tc.status, tc.code)
			for _, h := range []string{"X-Content-Type-Options", "Cache-Control", "Content-Security-Policy", "X-Frame-Options"} {
				if r.Header.Get(h) == "" {
					t.Errorf("missing %s", h)
				}
			}
			if strings.Contains(r.Body, "kaboom") {
				t.Error("panic value leaked to the client")
			}
		})
	}
	if !strings.Contains(ta.logs.String(), "kaboom secret-detail") {
		t.Error("panic was not logged")
	}
	r = call(t, "DELETE", url+"/api/list-endpoints", nil)
	if r.Header.Get("Allow") == "" {
		t.Error("405 without Allow")
	}
}

func TestRegistrationPanics(t *testing.T) {
	ta := newTestApp(t)
	h := func(w http.ResponseWriter, r *http.Request) {}
	for _, tc := range []struct {
		name string
		fn   func()
		want string
	}{
		{"duplicate route", func() { ta.HandleFunc("GET /api/health", h) }, `rip: duplicate route "GET /api/health"`},
		{"conflicting route", func() { ta.HandleFunc("GET /api/{x}", h); ta.HandleFunc("GET /{y}/health", h) }, "rip: route"},
		{"bad pattern", func() { ta.HandleFunc("GET", h) }, "rip: route"},
		{"duplicate job", func() {
			ta.HandleJob("x", func(context.Context, *Job) error { return nil })
			ta.HandleJob("x", func(context.Context, *Job) error { return nil })
		}, `rip: duplicate job "x"`},
		{"bad job name", func() { ta.HandleJob("X Y", nil) }, "rip: job type"},
		{"duplicate daemon", func() {
			ta.Go("d", func(context.Context) error { return nil })
			ta.Go("d", func(context.Context) error { return nil })
		}, `rip: duplicate daemon "d"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				r := recover()
				if r == nil || !strings.Contains(fmt.Sprint(r), tc.want) {
					t.Fatalf("panic = %v, want %q", r, tc.want)
				}
			}()
			tc.fn()
		})
	}
	waitHTTP(t, ta.serve()+"/api/health")
	func() {
		defer func() {
			if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "after Run") {
				t.Fatalf("registration after Run: panic = %v", r)
			}
		}()
		ta.HandleFunc("GET /late", h)
	}()
}

func TestRunStopsOnContextAndDrains(t *testing.T) {
	ta := newTestApp(t)
	started := make(chan struct{})
	finish := make(chan struct{})
	ta.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-finish
		writeReply(w, codeOK, nil)
	})
	daemonDone := make(chan struct{})
	ta.Go("waiter", func(ctx context.Context) error { <-ctx.Done(); close(daemonDone); return ctx.Err() })
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ta.Serve(ctx, ln) }()
	got := make(chan int, 1)
	go func() {
		resp, err := http.Get("http://" + ln.Addr().String() + "/slow")
		if err != nil {
			got <- 0
			return
		}
		resp.Body.Close()
		got <- resp.StatusCode
	}()
	<-started
	cancel()
	time.Sleep(50 * time.Millisecond) // let Shutdown close the listener
	if _, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		t.Error("listener still accepts after shutdown began")
	}
	close(finish)
	if code := <-got; code != 200 {
		t.Errorf("in-flight request got %d, want 200", code)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	<-daemonDone
	if err := ta.Read(context.Background(), func(*sqlite.Conn) error { return nil }); err == nil {
		t.Error("databases still open after Run returned")
	}
}

func TestRunStopsOnSIGTERM(t *testing.T) {
	ta := newTestApp(t)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	done := make(chan error, 1)
	go func() { done <- ta.Serve(context.Background(), ln) }()
	waitHTTP(t, "http://"+ln.Addr().String()+"/api/health")
	syscall.Kill(os.Getpid(), syscall.SIGTERM)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after SIGTERM")
	}
}

// waitHTTP polls url until it answers, for servers started in a goroutine.
func waitHTTP(t *testing.T, url string) {
	t.Helper()
	for i := 0; i < 200; i++ {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s never answered", url)
}

func TestSecondAppOnSameDataRefused(t *testing.T) {
	ta := newTestApp(t)
	_, err := New(Options{DB: ta.opts.DB, Logger: ta.Logger})
	if err == nil || !strings.Contains(err.Error(), "another running rip") {
		t.Fatalf("second New: err = %v", err)
	}
}

func TestDataDirProblems(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	os.WriteFile(file, []byte("x"), 0o600)
	for _, tc := range []struct {
		name string
		opts Options
		want string
	}{
		{"data dir is a file", Options{DB: filepath.Join(file, "app.db"), Create: true}, "create data directory"},
		{"missing database without create", Options{DB: filepath.Join(dir, "new", "app.db")}, "ripc config init"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestAgeKeyModeRefused(t *testing.T) {
	ta := newTestApp(t)
	ta.Close()
	os.Chmod(ta.opts.AgeKey, 0o644)
	_, err := New(Options{DB: ta.opts.DB})
	if err == nil || !strings.Contains(err.Error(), "chmod 600") || !strings.Contains(err.Error(), ta.opts.AgeKey) {
		t.Fatalf("err = %v", err)
	}
}

func TestWrongAgeKeyRefused(t *testing.T) {
	ta := newTestApp(t)
	ta.Close()
	os.Remove(ta.opts.AgeKey)
	if _, err := createIdentity(ta.opts.AgeKey); err != nil {
		t.Fatal(err)
	}
	_, err := New(Options{DB: ta.opts.DB})
	if err == nil || !strings.Contains(err.Error(), "decrypt config") {
		t.Fatalf("err = %v", err)
	}
}

// corruptNewest flips a byte of (or truncates) the newest stored
// application generation.
func corruptNewest(t *testing.T, db *database, truncate bool) {
	t.Helper()
	err := db.Write(context.Background(), time.Second, func(conn *sqlite.Conn) error {
		var blob []byte
		var id int64
		err := sqlitex.ExecuteTransient(conn, "SELECT id, content FROM app_config ORDER BY id DESC LIMIT 1", &sqlitex.ExecOptions{
			ResultFunc: func(s *sqlite.Stmt) error {
				id = s.ColumnInt64(0)
				blob = make([]byte, s.ColumnLen(1))
				s.ColumnBytes(1, blob)
				return nil
			}})
		if err != nil {
			return err
		}
		if truncate {
			blob = blob[:len(blob)/2]
		} else {
			blob[len(blob)-5] ^= 1
		}
		return sqlitex.Execute(conn, "UPDATE app_config SET content = ? WHERE id = ?", &sqlitex.ExecOptions{Args: []any{blob, id}})
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestCorruptGenerationFailsStartAndKeepsRunningConfig(t *testing.T) {
	for _, truncate := range []bool{false, true} {
		t.Run(fmt.Sprint("truncate=", truncate), func(t *testing.T) {
			ta := newTestApp(t)
			storeTestConfig(t, ta.dir, func(c *Config) { c.Server.ShutdownTimeout = 7 * time.Second })
			corruptNewest(t, ta.dbs.app, truncate)
			if err := ta.Reload(context.Background()); err == nil {
				t.Fatal("reload accepted a corrupt generation")
			}
			if got := ta.Config().Server.ShutdownTimeout; got != 15*time.Second {
				t.Fatalf("running config changed to %s", got)
			}
			if !strings.Contains(ta.logs.String(), "keeping the running configuration") {
				t.Error("failed reload not logged")
			}
			ta.Close()
			_, err := New(Options{DB: ta.opts.DB})
			if err == nil || !strings.Contains(err.Error(), "generation 2") {
				t.Fatalf("start on corrupt config: err = %v", err)
			}
		})
	}
}

func TestReloadOnSIGHUP(t *testing.T) {
	ta := newTestApp(t)
	url := ta.serve()
	waitHTTP(t, url+"/api/health")
	storeTestConfig(t, ta.dir, func(c *Config) { c.EndpointsBlockMismatch.Activated = false })
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	for i := 0; i < 200 && ta.Config().EndpointsBlockMismatch.Activated; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if ta.Config().EndpointsBlockMismatch.Activated {
		t.Fatal("SIGHUP did not reload")
	}
	call(t, "GET", url+"/api/health", nil, endpointsHashHeader+": stale").expect(t, 200, codeOKHealth)
}

func TestRedirectUsesPublicURL(t *testing.T) {
	ta := newTestApp(t, func(c *Config) { c.Server.PublicURL = "https://example.com" })
	for _, tc := range []struct{ name, target, want string }{
		{"path and query", "/a/b?x=1", "https://example.com/a/b?x=1"},
		{"evil host ignored", "/", "https://example.com/"},
		{"absolute form", "http://evil.test//evil.test/x", "https://example.com//evil.test/x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", "http://evil.test"+tc.target, nil)
			if strings.HasPrefix(tc.target, "http") {
				req, _ = http.NewRequest("GET", tc.target, nil)
			}
			req.Host = "evil.test"
			rec := &recorder{header: http.Header{}}
			ta.redirectToPublic(rec, req)
			if rec.status != 301 || rec.header.Get("Location") != tc.want {
				t.Fatalf("got %d %q, want 301 %q", rec.status, rec.header.Get("Location"), tc.want)
			}
		})
	}
}

// recorder is a minimal ResponseWriter for direct handler calls.
type recorder struct {
	header http.Header
	status int
	body   strings.Builder
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) WriteHeader(s int)           { r.status = s }
func (r *recorder) Write(b []byte) (int, error) { return r.body.Write(b) }

func TestDecodeJSON(t *testing.T) {
	ta := newTestApp(t)
	type body struct {
		A string `json:"a"`
	}
	ta.HandleFunc("POST /test/json", func(w http.ResponseWriter, r *http.Request) {
		var b body
		if decodeJSON(w, r, &b) {
			writeReply(w, codeOK, b)
		}
	})
	url := ta.serve()
	for _, tc := range []struct {
		name, body, ctype string
		status            int
		code              string
	}{
		{"ok", `{"a":"x"}`, "application/json", 200, codeOK},
		{"charset ok", `{"a":"x"}`, "application/json; charset=utf-8", 200, codeOK},
		{"no content type", `{"a":"x"}`, "", 415, codeErrInvalidContentType},
		{"wrong content type", `{"a":"x"}`, "text/plain", 415, codeErrInvalidContentType},
		{"lookalike type", `{"a":"x"}`, "application/jsonx", 415, codeErrInvalidContentType},
		{"unknown field", `{"a":"x","b":1}`, "application/json", 400, codeErrInvalidInput},
		{"two objects", `{"a":"x"}{"a":"y"}`, "application/json", 400, codeErrInvalidInput},
		{"trailing garbage", `{"a":"x"} x`, "application/json", 400, codeErrInvalidInput},
		{"not an object", `[1]`, "application/json", 400, codeErrInvalidInput},
		{"wrong type", `{"a":1}`, "application/json", 400, codeErrInvalidInput},
		{"empty", ``, "application/json", 400, codeErrInvalidInput},
		{"too big", `{"a":"` + strings.Repeat("x", maxJSONBodyBytes) + `"}`, "application/json", 413, codeErrBodyTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			call(t, "POST", url+"/test/json", tc.body, "Content-Type: "+tc.ctype).expect(t, tc.status, tc.code)
		})
	}
}

func TestTruncateKeepsUTF8(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		n        int
		want     string
	}{
		{"short", "abc", 5, "abc"},
		{"ascii", "abcdef", 3, "abc"},
		{"mid rune", "aé", 2, "a"},
		{"emoji", "😀😀", 5, "😀"},
	} {
		if got := truncate(tc.in, tc.n); got != tc.want {
			t.Errorf("%s: truncate(%q, %d) = %q, want %q", tc.name, tc.in, tc.n, got, tc.want)
		}
	}
}

func TestHealthReportsDBFailure(t *testing.T) {
	ta := newTestApp(t)
	rec := &recorder{header: http.Header{}}
	ta.Close()
	ta.handleHealth(rec, httptestRequest("GET", "/api/health"))
	if rec.status != 503 {
		t.Fatalf("health with closed DB = %d", rec.status)
	}
}

func httptestRequest(method, target string) *http.Request {
	r, _ := http.NewRequestWithContext(context.Background(), method, "http://127.0.0.1"+target, io.NopCloser(strings.NewReader("")))
	return r
}

func TestTLSAndRedirect(t *testing.T) {
	certPEM, keyPEM := selfSignedCert(t)
	redirect, _ := net.Listen("tcp", "127.0.0.1:0")
	raddr := redirect.Addr().String()
	redirect.Close()
	ta := newTestApp(t, func(c *Config) {
		c.Server.EnableTLS = true
		c.Server.CertData = certPEM
		c.Server.KeyData = Secret(keyPEM)
		c.Server.RedirectAddr = raddr
		c.Server.PublicURL = "https://app.example.com"
		c.BlockHost.AllowedHosts = []string{"app.example.com", "127.0.0.1"}
	})
	url := strings.Replace(ta.serve(), "http://", "https://", 1)
	client := &http.Client{
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	defer client.CloseIdleConnections()
	var resp *http.Response
	var err error
	for i := 0; i < 100; i++ {
		if resp, err = client.Get(url + "/api/health"); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil || resp.StatusCode != 200 || resp.TLS == nil {
		t.Fatalf("HTTPS health: %v %v", resp, err)
	}
	resp.Body.Close()
	req, _ := http.NewRequest("GET", "http://"+raddr+"/x?y=1", nil)
	req.Host = "evil.test"
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 301 || resp.Header.Get("Location") != "https://app.example.com/x?y=1" {
		t.Fatalf("redirect = %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// selfSignedCert returns a PEM certificate and key for 127.0.0.1.
func selfSignedCert(t *testing.T) (string, string) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "rip test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}))
}
