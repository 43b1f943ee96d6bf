package rip

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

var staticTestModTime = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const staticTestJS = "console.log('plain');\n"

// staticTestGzip compresses s.
func staticTestGzip(t testing.TB, s string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := io.WriteString(zw, s); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// staticTestFS holds, beside the public files, private ones at the places a
// traversal or a lax cleaner would reach, so a test that expects 404 fails
// if the handler ever serves them.
func staticTestFS(t testing.TB) fstest.MapFS {
	file := func(s string) *fstest.MapFile {
		return &fstest.MapFile{Data: []byte(s), ModTime: staticTestModTime}
	}
	return fstest.MapFS{
		"index.html":               file("<h1>home</h1>"),
		"app.3f9a1c2b.js":          file("console.log('hashed');"),
		"app.js":                   file(staticTestJS),
		"app.js.gz":                {Data: staticTestGzip(t, staticTestJS), ModTime: staticTestModTime},
		"style.css":                file("body{}"),
		"blob.unknownext":          file("\x00\x01"),
		"docs/index.html":          file("<h1>docs</h1>"),
		"assets/logo.png":          file("\x89PNG"),
		"a/b.txt":                  file("a/b"),
		"etc/passwd":               file("root:x:0:0 (served only via /etc/passwd)"),
		".env":                     file("SECRET=1"),
		".git/config":              file("[core]"),
		"a/.hidden":                file("hidden"),
		"a%2fb.txt":                file("literal percent name"),
		"http:evil.com/index.html": file("colon dir"),
	}
}

func staticTestNotFound() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, "custom 404")
	})
}

// staticTestRequest builds a request for a raw target, which may hold
// characters httptest.NewRequest would refuse.
func staticTestRequest(method, target string) *http.Request {
	r := httptest.NewRequest(method, "/", nil)
	r.RequestURI = target
	u, err := url.ParseRequestURI(target)
	if err != nil {
		u = &url.URL{Path: target}
	}
	r.URL = u
	return r
}

func staticTestServe(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestStaticTraversalRejected(t *testing.T) {
	h := Static(staticTestFS(t), staticTestNotFound())
	tests := []struct {
		name   string
		target string
	}{
		// Parent references, plain and encoded.
		{"dot-dot", "/../etc/passwd"},
		{"encoded slash after dot-dot", "/..%2fetc/passwd"},
		{"encoded slash upper-case", "/..%2Fetc/passwd"},
		{"encoded dots", "/%2e%2e/etc/passwd"},
		{"encoded dots upper-case", "/%2E%2E/etc/passwd"},
		{"climb past root", "/a/../../etc/passwd"},
		{"climb inside tree", "/a/../index.html"},
		{"trailing dot-dot", "/a/.."},
		{"single dot", "/./index.html"},
		{"encoded single dot", "/%2e/index.html"},
		// Hidden files.
		{"git config", "/.git/config"},
		{"env", "/.env"},
		{"hidden in subdir", "/a/.hidden"},
		{"encoded hidden", "/%2eenv"},
		// Separators and bytes a file system might interpret.
		{"double slash", "//etc/passwd"},
		{"empty segment inside", "/a//b.txt"},
		{"backslashes", "/\\..\\"},
		{"encoded backslash", "/..%5cetc%5cpasswd"},
		{"backslash in name", "/a\\b.txt"},
		{"encoded slash in name", "/a%2fb.txt"},
		{"nul", "/a%00b"},
		{"nul before extension", "/index.html%00.png"},
		{"control character", "/index%0a.html"},
		{"bad escape", "/%zz"},
		{"invalid utf8", "/%ff.html"},
		{"too long", "/" + strings.Repeat("a", staticMaxPathBytes)},
		// Names that exist only as something else.
		{"file with trailing slash", "/index.html/"},
		{"directory without index", "/assets/"},
		{"directory without index, no slash", "/assets"},
		{"missing", "/nope.js"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, method := range []string{http.MethodGet, http.MethodHead} {
				w := staticTestServe(h, staticTestRequest(method, tt.target))
				if w.Code != http.StatusNotFound {
					t.Fatalf("%s %q: status %d, want 404; body %q", method, tt.target, w.Code, w.Body)
				}
				if method == http.MethodGet && w.Body.String() != "custom 404" {
					t.Fatalf("%s %q: body %q, want the notFound handler's", method, tt.target, w.Body)
				}
			}
		})
	}
}

// TestStaticTraversalRealListener sends raw request lines through a real
// server, so nothing in net/http's request parsing changes the picture.
func TestStaticTraversalRealListener(t *testing.T) {
	srv := httptest.NewServer(Static(staticTestFS(t), staticTestNotFound()))
	defer srv.Close()
	targets := []string{
		"/../etc/passwd", "/..%2fetc/passwd", "/%2e%2e/etc/passwd", "/a/../../etc/passwd",
		"/.git/config", "/.env", "//etc/passwd", "/\\..\\etc\\passwd", "/a%00b", "/index.html/",
	}
	for _, target := range targets {
		conn, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", target)
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("%q: %v", target, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		conn.Close()
		// net/http itself answers 400 for some malformed targets; what
		// matters is that no file content comes back.
		if resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%q: status %d, want 404 or 400", target, resp.StatusCode)
		}
		if bytes.Contains(body, []byte("root:x")) || bytes.Contains(body, []byte("SECRET")) {
			t.Errorf("%q: leaked file content %q", target, body)
		}
	}
}

func TestStaticServes(t *testing.T) {
	h := Static(staticTestFS(t), staticTestNotFound())
	tests := []struct {
		name    string
		method  string
		target  string
		status  int
		body    string
		headers map[string]string // exact values
		absent  []string
	}{
		{"root index", "GET", "/", 200, "<h1>home</h1>", map[string]string{
			"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-cache",
			"Content-Security-Policy": staticCSP, "Referrer-Policy": staticReferrerPolicy,
			"X-Content-Type-Options": "nosniff",
		}, []string{"Vary", "Content-Encoding"}},
		{"index by name", "GET", "/index.html", 200, "<h1>home</h1>", map[string]string{"Cache-Control": "no-cache"}, nil},
		{"subdir index", "GET", "/docs/", 200, "<h1>docs</h1>", map[string]string{"Cache-Control": "no-cache"}, nil},
		{"query ignored", "GET", "/style.css?v=2", 200, "body{}", nil, nil},
		{"subdir without slash redirects", "GET", "/docs?x=1", 301, "", map[string]string{"Location": "./docs/?x=1"}, nil},
		{"redirect cannot gain a scheme", "GET", "/http:evil.com", 301, "", map[string]string{"Location": "./http:evil.com/"}, nil},
		{"hashed asset", "GET", "/app.3f9a1c2b.js", 200, "console.log('hashed');", map[string]string{
			"Cache-Control": staticCacheImmutable, "X-Content-Type-Options": "nosniff",
		}, []string{"Content-Security-Policy", "Referrer-Policy", "Vary"}},
		{"css", "GET", "/style.css", 200, "body{}", map[string]string{
			"Content-Type": "text/css; charset=utf-8", "Cache-Control": staticCacheDefault,
		}, nil},
		{"unknown extension", "GET", "/blob.unknownext", 200, "\x00\x01", map[string]string{
			"Content-Type": "application/octet-stream", "X-Content-Type-Options": "nosniff",
		}, nil},
		{"nested file", "GET", "/a/b.txt", 200, "a/b", nil, nil},
		{"head", "HEAD", "/style.css", 200, "", map[string]string{"Content-Length": "6"}, nil},
		{"post refused", "POST", "/index.html", 405, "method not allowed\n", map[string]string{"Allow": "GET, HEAD"}, nil},
		{"delete refused", "DELETE", "/", 405, "method not allowed\n", map[string]string{"Allow": "GET, HEAD"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := staticTestServe(h, staticTestRequest(tt.method, tt.target))
			if w.Code != tt.status || w.Body.String() != tt.body {
				t.Fatalf("status %d body %q, want %d %q", w.Code, w.Body, tt.status, tt.body)
			}
			for k, v := range tt.headers {
				if got := w.Header().Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			for _, k := range tt.absent {
				if got := w.Header().Get(k); got != "" {
					t.Errorf("%s = %q, want absent", k, got)
				}
			}
		})
	}
}

func TestStaticUnderStripPrefix(t *testing.T) {
	h := http.StripPrefix("/static/", Static(staticTestFS(t), staticTestNotFound()))
	tests := []struct {
		name   string
		target string
		status int
		body   string
	}{
		{"file", "/static/app.3f9a1c2b.js", 200, "console.log('hashed');"},
		{"index", "/static/", 200, "<h1>home</h1>"},
		{"dotfile", "/static/.env", 404, "custom 404"},
		{"traversal", "/static/..%2f.env", 404, "custom 404"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := staticTestServe(h, staticTestRequest("GET", tt.target))
			if w.Code != tt.status || w.Body.String() != tt.body {
				t.Errorf("status %d body %q, want %d %q", w.Code, w.Body, tt.status, tt.body)
			}
		})
	}
}

func TestStaticNilNotFound(t *testing.T) {
	w := staticTestServe(Static(staticTestFS(t), nil), staticTestRequest("GET", "/.env"))
	if w.Code != http.StatusNotFound || strings.Contains(w.Body.String(), "SECRET") {
		t.Errorf("status %d body %q, want the default 404", w.Code, w.Body)
	}
}

func TestStaticGzipNegotiation(t *testing.T) {
	h := Static(staticTestFS(t), staticTestNotFound())
	gz := string(staticTestGzip(t, staticTestJS))
	tests := []struct {
		name     string
		accept   []string
		wantGzip bool
	}{
		{"none", nil, false},
		{"gzip", []string{"gzip"}, true},
		{"upper-case", []string{"GZIP"}, true},
		{"x-gzip", []string{"x-gzip"}, true},
		{"list", []string{"deflate, gzip;q=0.5, br"}, true},
		{"q zero", []string{"gzip;q=0"}, false},
		{"q zero with decimals", []string{"gzip; q=0.000"}, false},
		{"small q", []string{"gzip;q=0.001"}, true},
		{"spaces", []string{" br ,  gzip ; q = 0.8 "}, true},
		{"wildcard", []string{"*"}, true},
		{"wildcard refused", []string{"*;q=0"}, false},
		{"explicit gzip refusal beats wildcard", []string{"gzip;q=0, *"}, false},
		{"invalid q is a refusal", []string{"gzip;q=1.5"}, false},
		{"garbage q is a refusal", []string{"gzip;q=high"}, false},
		{"identity only", []string{"identity"}, false},
		{"several header lines", []string{"br", "gzip"}, true},
		{"gzip as substring only", []string{"gzipx, notgzip"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := staticTestRequest("GET", "/app.js")
			for _, v := range tt.accept {
				r.Header.Add("Accept-Encoding", v)
			}
			w := staticTestServe(h, r)
			if w.Code != http.StatusOK {
				t.Fatalf("status %d", w.Code)
			}
			wantBody, wantEnc := staticTestJS, ""
			if tt.wantGzip {
				wantBody, wantEnc = gz, "gzip"
			}
			if w.Body.String() != wantBody || w.Header().Get("Content-Encoding") != wantEnc {
				t.Errorf("Content-Encoding %q, body gzip=%v; want %q", w.Header().Get("Content-Encoding"), w.Body.String() == gz, wantEnc)
			}
			if ct := w.Header().Get("Content-Type"); !strings.Contains(ct, "javascript") {
				t.Errorf("Content-Type = %q, want the type of app.js", ct)
			}
			if v := w.Header().Get("Vary"); v != "Accept-Encoding" {
				t.Errorf("Vary = %q, want Accept-Encoding", v)
			}
		})
	}
}

func TestStaticETagAnd304(t *testing.T) {
	embedLike := staticTestFS(t)
	for name, f := range embedLike {
		embedLike[name] = &fstest.MapFile{Data: f.Data} // no modification time, like embed.FS
	}
	for _, fsys := range []struct {
		name string
		fs   fs.FS
	}{{"with modtime", staticTestFS(t)}, {"without modtime", embedLike}} {
		t.Run(fsys.name, func(t *testing.T) {
			h := Static(fsys.fs, staticTestNotFound())
			first := staticTestServe(h, staticTestRequest("GET", "/app.js"))
			tag := first.Header().Get("ETag")
			if first.Code != 200 || len(tag) < 4 || tag[0] != '"' || tag[len(tag)-1] != '"' {
				t.Fatalf("status %d ETag %q, want 200 and a strong tag", first.Code, tag)
			}
			if again := staticTestServe(h, staticTestRequest("GET", "/app.js")).Header().Get("ETag"); again != tag {
				t.Errorf("ETag changed between requests: %q then %q", tag, again)
			}

			r := staticTestRequest("GET", "/app.js")
			r.Header.Set("If-None-Match", tag)
			w := staticTestServe(h, r)
			if w.Code != http.StatusNotModified || w.Body.Len() != 0 {
				t.Errorf("If-None-Match: status %d body %q, want 304 and no body", w.Code, w.Body)
			}
			if w.Header().Get("Cache-Control") == "" || w.Header().Get("ETag") != tag {
				t.Errorf("304 lost Cache-Control or ETag: %v", w.Header())
			}

			r = staticTestRequest("GET", "/app.js")
			r.Header.Set("If-None-Match", `"other"`)
			if w := staticTestServe(h, r); w.Code != http.StatusOK {
				t.Errorf("stale If-None-Match: status %d, want 200", w.Code)
			}

			r = staticTestRequest("GET", "/app.js")
			r.Header.Set("Accept-Encoding", "gzip")
			if gzTag := staticTestServe(h, r).Header().Get("ETag"); gzTag == tag || gzTag == "" {
				t.Errorf("gzip variant ETag %q must differ from identity %q", gzTag, tag)
			}
		})
	}
}

func TestStaticRange(t *testing.T) {
	r := staticTestRequest("GET", "/app.js")
	r.Header.Set("Range", "bytes=0-6")
	w := staticTestServe(Static(staticTestFS(t), nil), r)
	if w.Code != http.StatusPartialContent || w.Body.String() != "console" {
		t.Errorf("status %d body %q, want 206 \"console\"", w.Code, w.Body)
	}
}

// staticTestNoSeekFS wraps an FS so that its files cannot seek.
type staticTestNoSeekFS struct{ fs.FS }

type staticTestNoSeekFile struct{ f fs.File }

func (f staticTestNoSeekFile) Stat() (fs.FileInfo, error) { return f.f.Stat() }
func (f staticTestNoSeekFile) Read(p []byte) (int, error) { return f.f.Read(p) }
func (f staticTestNoSeekFile) Close() error               { return f.f.Close() }

func (s staticTestNoSeekFS) Open(name string) (fs.File, error) {
	f, err := s.FS.Open(name)
	if err != nil {
		return nil, err
	}
	return staticTestNoSeekFile{f}, nil
}

func TestStaticNonSeekableFile(t *testing.T) {
	w := staticTestServe(Static(staticTestNoSeekFS{staticTestFS(t)}, nil), staticTestRequest("GET", "/style.css"))
	if w.Code != http.StatusInternalServerError || strings.Contains(w.Body.String(), "body{}") {
		t.Errorf("status %d body %q, want 500 without content", w.Code, w.Body)
	}
	if cc := w.Header().Get("Cache-Control"); cc != "no-store" {
		t.Errorf("500 carries Cache-Control %q, want no-store", cc)
	}
}

// TestStaticOSRootSymlinks serves a real directory through os.Root and
// checks that links leading out of it are refused while links inside work.
// os.DirFS serves the same escaping link, which shows the test can fail.
func TestStaticOSRootSymlinks(t *testing.T) {
	base := t.TempDir()
	web, outside := filepath.Join(base, "web"), filepath.Join(base, "outside")
	for _, d := range []string{web, outside} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	secret := filepath.Join(outside, "secret.txt")
	writes := map[string]string{filepath.Join(web, "index.html"): "<h1>disk</h1>", secret: "TOP SECRET"}
	for p, s := range writes {
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	links := map[string]string{
		"leak.txt":   "../outside/secret.txt",
		"abs.txt":    secret,
		"linkdir":    "../outside",
		"inside.txt": "index.html",
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(web, name)); err != nil {
			t.Skipf("symlinks not supported here: %v", err)
		}
	}
	root, err := os.OpenRoot(web)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	h := Static(root.FS(), staticTestNotFound())

	tests := []struct {
		name   string
		target string
		status int
	}{
		{"relative link out", "/leak.txt", 404},
		{"absolute link out", "/abs.txt", 404},
		{"directory link out", "/linkdir/secret.txt", 404},
		{"link inside", "/inside.txt", 200},
		{"index", "/", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := staticTestServe(h, staticTestRequest("GET", tt.target))
			if w.Code != tt.status || strings.Contains(w.Body.String(), "TOP SECRET") {
				t.Errorf("status %d body %q, want %d without the secret", w.Code, w.Body, tt.status)
			}
		})
	}

	t.Run("control: os.DirFS follows the link", func(t *testing.T) {
		w := staticTestServe(Static(os.DirFS(web), nil), staticTestRequest("GET", "/leak.txt"))
		if !strings.Contains(w.Body.String(), "TOP SECRET") {
			t.Errorf("os.DirFS did not follow the link (status %d); the os.Root cases above prove nothing", w.Code)
		}
	})
}

func TestStaticFingerprinted(t *testing.T) {
	tests := []struct {
		name string
		base string
		want bool
	}{
		{"8 hex", "app.3f9a1c2b.js", true},
		{"upper-case hex", "app.3F9A1C2B.min.js", true},
		{"long hash", "chunk.0123456789abcdef0123.css", true},
		{"7 hex", "app.3f9a1c2.js", false},
		{"not hex", "app.3f9a1c2z.js", false},
		{"hash first", "3f9a1c2b.js", false},
		{"hash last", "app.3f9a1c2b", false},
		{"dash separated", "app-3f9a1c2b.js", false},
		{"no dots", "deadbeefcafe", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := staticFingerprinted(tt.base); got != tt.want {
				t.Errorf("staticFingerprinted(%q) = %v, want %v", tt.base, got, tt.want)
			}
		})
	}
}

func TestStaticCleanPath(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		want  string
		isDir bool
		ok    bool
	}{
		{"root", "/", ".", true, true},
		{"empty, after StripPrefix", "", ".", true, true},
		{"no leading slash, after StripPrefix", "app.js", "app.js", false, true},
		{"file", "/a/b.txt", "a/b.txt", false, true},
		{"dir", "/docs/", "docs", true, true},
		{"escaped space", "/my%20file.txt", "my file.txt", false, true},
		{"unicode", "/caf%C3%A9.html", "café.html", false, true},
		{"dot inside name", "/a.b/c.d", "a.b/c.d", false, true},
		{"dot-dot", "/../x", "", false, false},
		{"dotfile", "/.env", "", false, false},
		{"double slash", "//x", "", false, false},
		{"encoded slash", "/a%2Fb", "", false, false},
		{"backslash", "/a\\b", "", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, isDir, ok := staticCleanPath(tt.in)
			if got != tt.want || isDir != tt.isDir || ok != tt.ok {
				t.Errorf("staticCleanPath(%q) = %q, %v, %v; want %q, %v, %v", tt.in, got, isDir, ok, tt.want, tt.isDir, tt.ok)
			}
		})
	}
}

func FuzzStaticPath(f *testing.F) {
	seeds := []string{
		"/", "", "/index.html", "/a/b/", "/../etc/passwd", "/..%2fetc", "/%2e%2e/", "/a/../../",
		"/.git/config", "/.env", "//etc/passwd", "/\\..\\", "/a%00b", "/index.html/", "/%2E%2e%2F",
		"/a/./b", "/a/%2e/b", "/%c0%ae%c0%ae/", "/a%5c..%5cb", "/%25%32%65", "..", "a/..", "/a/b%2",
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		name, isDir, ok := staticCleanPath(raw)
		if !ok {
			if name != "" {
				t.Fatalf("rejected %q but returned name %q", raw, name)
			}
			return
		}
		if !fs.ValidPath(name) {
			t.Fatalf("%q -> %q is not a valid fs path", raw, name)
		}
		if name == "." {
			if !isDir {
				t.Fatalf("%q -> root without the directory flag", raw)
			}
			return
		}
		if strings.ContainsAny(name, "\\\x00") {
			t.Fatalf("%q -> %q holds a backslash or NUL", raw, name)
		}
		for _, seg := range strings.Split(name, "/") {
			if seg == "" || strings.HasPrefix(seg, ".") {
				t.Fatalf("%q -> %q has an empty or dot segment %q", raw, name, seg)
			}
		}
		if strings.Contains(strings.ToLower(raw), "%2f") {
			t.Fatalf("%q with an encoded slash was accepted as %q", raw, name)
		}
	})
}

func FuzzStaticAcceptsGzip(f *testing.F) {
	for _, s := range []string{"gzip", "gzip;q=0", "*;q=0.5", "br, gzip;q=1.000", "gzip;q=1.0001", "GZIP;Q=0.1", ";;,,=", "gzip;q="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		got := staticAcceptsGzip([]string{header})
		lower := strings.ToLower(header)
		if got && !strings.Contains(lower, "gzip") && !strings.Contains(lower, "*") {
			t.Fatalf("%q accepted gzip without naming it", header)
		}
		if !strings.Contains(lower, "gzip") && staticAcceptsGzip([]string{header + ", gzip;q=0"}) {
			t.Fatalf("%q: an explicit gzip;q=0 did not win over a wildcard", header)
		}
	})
}

func BenchmarkStaticSmallFile(b *testing.B) {
	for _, bc := range []struct {
		name   string
		target string
		accept string
	}{
		{"identity", "/app.js", ""},
		{"gzip", "/app.js", "gzip"},
		{"hashed", "/app.3f9a1c2b.js", ""},
		{"index", "/", ""},
	} {
		b.Run(bc.name, func(b *testing.B) {
			h := Static(staticTestFS(b), nil)
			r := httptest.NewRequest("GET", bc.target, nil)
			if bc.accept != "" {
				r.Header.Set("Accept-Encoding", bc.accept)
			}
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				if w.Code != http.StatusOK {
					b.Fatalf("status %d", w.Code)
				}
			}
		})
	}
}

func BenchmarkStaticOSRoot(b *testing.B) {
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "app.js"), []byte(staticTestJS), 0o644); err != nil {
		b.Fatal(err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		b.Fatal(err)
	}
	defer root.Close()
	h := Static(root.FS(), nil)
	r := httptest.NewRequest("GET", "/app.js", nil)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d", w.Code)
		}
	}
}

func BenchmarkStaticCleanPath(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, _, ok := staticCleanPath("/assets/js/app.3f9a1c2b.js"); !ok {
			b.Fatal("rejected")
		}
	}
}
