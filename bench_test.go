package rip

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// loadRun sends GETs to url from conc keep-alive clients for d and
// returns requests per second (non-200 answers fail the benchmark).
func loadRun(b *testing.B, url string, conc int, d time.Duration, bearer ...string) float64 {
	tr := &http.Transport{MaxIdleConnsPerHost: conc, MaxConnsPerHost: conc}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	var n, bad atomic.Int64
	stop := time.Now().Add(d)
	var wg sync.WaitGroup
	for i := 0; i < conc; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) {
				req, _ := http.NewRequest("GET", url, nil)
				if len(bearer) > 0 {
					req.Header.Set("Authorization", "Bearer "+bearer[0])
				}
				resp, err := client.Do(req)
				if err != nil {
					bad.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					bad.Add(1)
				}
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	if bad.Load() > 0 {
		b.Fatalf("%s: %d failed requests", url, bad.Load())
	}
	return float64(n.Load()) / d.Seconds()
}

// serveHandler serves h on a loopback listener until the benchmark ends.
func serveHandler(b *testing.B, h http.Handler) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	b.Cleanup(func() { srv.Shutdown(context.Background()) })
	return "http://" + ln.Addr().String()
}

func helloHandler(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `{"hello":"world"}`)
}

// BenchmarkLoadTrivialVsBare serves one trivial route from a rip app and
// from a bare net/http ServeMux in the same run, alternating rounds, and
// reports rip's throughput as a ratio of bare's. The rip app runs under
// Serve with every guard of the default chain on (a Host allow-list set),
// the load generator's loopback address on BlockIp's allow-list (so the
// sketch still counts every request), and the request log writing to
// logs.db; it fails if a log record was dropped. Run it with
// -benchtime=1x; the work is time-bounded.
func BenchmarkLoadTrivialVsBare(b *testing.B) { loadTrivialVsBare(b, true) }

// BenchmarkLoadTrivialVsBareNoLog is the same with the request log off,
// to show what writing a record per request to logs.db costs.
func BenchmarkLoadTrivialVsBareNoLog(b *testing.B) { loadTrivialVsBare(b, false) }

func loadTrivialVsBare(b *testing.B, logRequests bool) {
	bare := http.NewServeMux()
	bare.HandleFunc("GET /hello", helloHandler)
	bareURL := serveHandler(b, bare)

	app := benchEdgeApp(b, logRequests)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- app.Serve(ctx, ln) }()
	ripURL := "http://" + ln.Addr().String()

	// Short alternating rounds, so load from other tenants of a shared
	// machine falls on both servers alike.
	const rounds, conc, round = 10, 32, 400 * time.Millisecond
	var bareSum, ripSum float64
	for i := 0; i < b.N*rounds; i++ {
		if i%2 == 0 {
			bareSum += loadRun(b, bareURL+"/hello", conc, round)
			ripSum += loadRun(b, ripURL+"/hello", conc, round)
		} else {
			ripSum += loadRun(b, ripURL+"/hello", conc, round)
			bareSum += loadRun(b, bareURL+"/hello", conc, round)
		}
	}
	cancel()
	if err := <-served; err != nil {
		b.Fatal(err)
	}
	n := float64(b.N * rounds)
	b.ReportMetric(bareSum/n, "bare-req/s")
	b.ReportMetric(ripSum/n, "rip-req/s")
	b.ReportMetric(ripSum/bareSum, "rip/bare")
	dropped, written := app.logw.dropped.Load(), app.logw.written.Load()
	b.ReportMetric(float64(dropped), "log-dropped")
	b.ReportMetric(float64(written), "log-written")
	hwm := vmHWM()
	b.ReportMetric(hwm, "peak-RSS-MiB")
	fmt.Printf("load: bare %.0f req/s, rip %.0f req/s, rip/bare %.2f; request log: %d written, %d dropped; process peak RSS %.1f MiB (client + both servers)\n",
		bareSum/n, ripSum/n, ripSum/bareSum, written, dropped, hwm)
	if dropped > 0 {
		b.Fatalf("%d request-log records dropped", dropped)
	}
}

// vmHWM returns the process's peak resident set in MiB (Linux), or 0.
func vmHWM() float64 { return vmHWMOf("self") }

// vmHWMOf returns the peak resident set in MiB of process pid ("self" for
// this one), or 0 where /proc is missing.
func vmHWMOf(pid string) float64 {
	status, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
			return float64(kb) / 1024
		}
	}
	return 0
}

// BenchmarkLoadAuthReadVsBare serves an authenticated read (bearer token
// → uid_mac → cached user → per-user key → MAC) through the whole rip
// handler and a trivial bare route in the same run, and reports the ratio.
func BenchmarkLoadAuthReadVsBare(b *testing.B) {
	bare := http.NewServeMux()
	bare.HandleFunc("GET /hello", helloHandler)
	bareURL := serveHandler(b, bare)

	app, tok := benchAuthApp(b)
	app.Handle("GET /api/me", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		WriteJSON(w, 200, "ok", "me", UserFromContext(r.Context()))
	}), app.RequireAuth)
	ripURL := serveHandler(b, app.Handler())

	const rounds, conc = 3, 32
	var bareSum, ripSum float64
	for i := 0; i < b.N*rounds; i++ {
		bareSum += loadRun(b, bareURL+"/hello", conc, time.Second)
		ripSum += loadRun(b, ripURL+"/api/me", conc, time.Second, tok)
	}
	n := float64(b.N * rounds)
	b.ReportMetric(bareSum/n, "bare-req/s")
	b.ReportMetric(ripSum/n, "rip-req/s")
	b.ReportMetric(ripSum/bareSum, "rip/bare")
	fmt.Printf("auth read: bare %.0f req/s, rip %.0f req/s, rip/bare %.2f\n", bareSum/n, ripSum/n, ripSum/bareSum)
}

// benchAuthApp returns an app with one user and a session token for it.
func benchAuthApp(b *testing.B) (*App, string) {
	dir := b.TempDir()
	app, err := New(Options{DB: dir + "/app.db", Create: true, Logger: discardLogger()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { app.Close() })
	u := &User{ID: newUserID(), Email: "bench@example.com", Verified: true, tokenKey: newTokenKey()}
	err = app.Write(context.Background(), func(conn *sqlite.Conn) error {
		return sqlitex.Execute(conn, "INSERT INTO users (id, email, verified, token_key, created_at, updated_at) VALUES (?, ?, 1, ?, '', '')",
			&sqlitex.ExecOptions{Args: []any{u.ID, u.Email, u.tokenKey}})
	})
	if err != nil {
		b.Fatal(err)
	}
	tok, err := app.issueSession(u, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	return app, tok
}

// BenchmarkAuthenticate is the whole session check RequireAuth runs per
// request (header, strict parse, uid_mac, user and per-user key from the
// warm cache, MAC, times), without the HTTP server.
func BenchmarkAuthenticate(b *testing.B) {
	app, tok := benchAuthApp(b)
	r, _ := http.NewRequest("GET", "/api/me", nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	if _, _, err := app.authenticate(r); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := app.authenticate(r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkArgon2idHash measures one password hash with the default
// parameters (logins/s per core ≈ 1e9 / ns/op).
func BenchmarkArgon2idHash(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := (Argon2id{}).Hash("correct horse battery"); err != nil {
			b.Fatal(err)
		}
	}
}

// benchEdgeApp is an app whose every guard is on, as in the default
// configuration, with a Host allow-list and the load generator's address
// (loopback) on BlockIp's allow-list, so the sketch still counts it.
func benchEdgeApp(b *testing.B, logRequests bool) *App {
	dir := b.TempDir()
	storeBenchConfig(b, dir, func(c *Config) {
		c.BlockHost.AllowedHosts = []string{"127.0.0.1", "localhost"}
		c.Log.Request.Activated = logRequests
	})
	app, err := New(Options{DB: dir + "/app.db", Logger: discardLogger()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { app.Close() })
	app.HandleFunc("GET /hello", helloHandler)
	return app
}

// storeBenchConfig is storeTestConfig for benchmarks.
func storeBenchConfig(b *testing.B, dir string, edit func(*Config)) {
	ad, err := OpenAdmin(Options{DB: dir + "/app.db", Create: true})
	if err != nil {
		b.Fatal(err)
	}
	defer ad.Close()
	if _, err := ad.InitConfig(context.Background()); err != nil {
		b.Fatal(err)
	}
	cfg, _, err := ad.EffectiveConfig(context.Background(), 0)
	if err != nil {
		b.Fatal(err)
	}
	edit(cfg)
	text, _ := tomlEncode(cfg)
	if _, err := ad.SaveConfig(context.Background(), ScopeApplication, "bench", text); err != nil {
		b.Fatal(err)
	}
}

// benchRequest is a typical browser-like GET over TLS from a public
// address, so every guard does its full not-refused work.
func benchRequest() *http.Request {
	r := httptest.NewRequest("GET", "https://127.0.0.1/hello?page=2", nil)
	r.RemoteAddr = "203.0.113.7:51234"
	r.Host = "127.0.0.1:8080"
	r.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0")
	r.Header.Set("Accept", "application/json")
	r.Header.Set("Accept-Encoding", "gzip, deflate, br")
	r.Header.Set("Accept-Language", "en-US,en;q=0.5")
	r.Header.Set("Referer", "https://127.0.0.1/app/")
	return r
}

// BenchmarkEdgeGuard measures each guard of the chain on a request it
// lets through (the common path).
func BenchmarkEdgeGuard(b *testing.B) {
	app := benchEdgeApp(b, true)
	app.Now = time.Now
	r := benchRequest()
	cfg := app.Config()
	addrs := benchAddrs()
	for _, g := range edgeChain {
		b.Run(g.name, func(b *testing.B) {
			e := &edgeRequest{ResponseWriter: httptest.NewRecorder(), cfg: cfg}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				e.ip = addrs[i%len(addrs)].Addr()
				i++
				if !g.fn(app, e, r) {
					b.Fatal("refused")
				}
			}
		})
	}
	b.Run("clientIP", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			clientIP(r, cfg.Server.ClientIPProxyHeader, cfg.trustedProxies)
		}
	})
}

// benchAddrs are 10,000 public client addresses: sent round-robin, none
// is a heavy hitter, so BlockIp counts every request and blocks nobody.
func benchAddrs() []netip.AddrPort {
	out := make([]netip.AddrPort, 10_000)
	for i := range out {
		out[i] = netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 51, byte(i >> 8), byte(i)}), 40000)
	}
	return out
}

// discardWriter is a ResponseWriter that keeps nothing, so the chain
// benchmarks measure the chain, not a recorder.
type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d *discardWriter) WriteHeader(int)             {}

// BenchmarkEdgeChain measures the whole default chain around a trivial
// handler, from 10,000 rotating public addresses: "no-log" is the chain
// alone (request log off); "log" adds building the request record and
// queuing it, with a consumer that discards records in place of the
// SQLite writer, so the figure is the chain outside the log write.
func BenchmarkEdgeChain(b *testing.B) {
	for _, logOn := range []bool{false, true} {
		name := "no-log"
		if logOn {
			name = "log"
		}
		b.Run(name, func(b *testing.B) {
			app := benchEdgeApp(b, logOn)
			done := make(chan struct{})
			go func() { // drains like the writer: woken per batch, not per record
				for {
					select {
					case <-app.logw.wake:
					case <-done:
						return
					}
					for len(app.logw.ch) > 0 {
						<-app.logw.ch
					}
				}
			}()
			defer close(done)
			h := app.edge(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }))
			r := benchRequest()
			w := &discardWriter{h: http.Header{}}
			addrs := benchAddrs()
			remotes := make([]string, len(addrs))
			for i, a := range addrs {
				remotes[i] = a.String()
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				clear(w.h)
				r.RemoteAddr = remotes[i%len(remotes)]
				i++
				h.ServeHTTP(w, r)
			}
		})
	}
}

// latencies sends sequential authenticated GETs from conc clients until
// stop is closed and returns every request's latency; a failed request
// fails the benchmark.
func latencies(b *testing.B, url, tok string, conc int, stop <-chan struct{}) []time.Duration {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conc}}
	defer client.CloseIdleConnections()
	var mu sync.Mutex
	var all []time.Duration
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for {
				select {
				case <-stop:
					mu.Lock()
					all = append(all, mine...)
					mu.Unlock()
					return
				default:
				}
				req, _ := http.NewRequest("GET", url, nil)
				req.Header.Set("Authorization", "Bearer "+tok)
				start := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					b.Error(err)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				mine = append(mine, time.Since(start))
				if resp.StatusCode != 200 {
					b.Errorf("GET %s: %d", url, resp.StatusCode)
				}
			}
		}()
	}
	<-stop
	wg.Wait()
	return all
}

func p99(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	return d[len(d)*99/100]
}

// BenchmarkLoginFloodP99 measures the p99 latency of an authenticated
// read while idle and while 64 clients flood the login endpoint with
// correct passwords (argon2id at the default parameters, so the hash cap
// is saturated), and reports the ratio. Every request of both kinds must
// succeed: a dropped connection fails the benchmark. Run with
// -benchtime=1x.
func BenchmarkLoginFloodP99(b *testing.B) {
	app, _ := benchAuthApp(b)
	app.Handle("GET /api/me", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		WriteJSON(w, 200, "ok", "me", UserFromContext(r.Context()))
	}), app.RequireAuth)
	h, err := app.Hasher.Hash(goodPassword)
	if err != nil {
		b.Fatal(err)
	}
	const phase, readers, flooders = 3 * time.Second, 4, 64
	err = app.Write(context.Background(), func(conn *sqlite.Conn) error {
		if err := sqlitex.Execute(conn, "UPDATE users SET password = ?", &sqlitex.ExecOptions{Args: []any{h}}); err != nil {
			return err
		}
		// One account per flooding client: the account budget allows
		// only a few attempts in flight per account, as it should.
		for i := range flooders {
			err := sqlitex.Execute(conn, "INSERT INTO users (id, email, password, verified, token_key, created_at, updated_at) VALUES (?, ?, ?, 1, ?, '', '')",
				&sqlitex.ExecOptions{Args: []any{newUserID(), fmt.Sprintf("flood%d@example.com", i), h, newTokenKey()}})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	url := serveHandler(b, app.Handler())
	// The token predates the hash change; sign a fresh one.
	u, err := app.userByEmail(context.Background(), "bench@example.com")
	if err != nil {
		b.Fatal(err)
	}
	tok, err := app.issueSession(u, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < b.N; i++ {
		stop := make(chan struct{})
		time.AfterFunc(phase, func() { close(stop) })
		idle := p99(latencies(b, url+"/api/me", tok, readers, stop))

		stop = make(chan struct{})
		var logins, failed atomic.Int64
		var wg sync.WaitGroup
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: flooders}}
		for f := range flooders {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					body := strings.NewReader(`{"identity":"flood` + strconv.Itoa(f) + `@example.com","password":"` + goodPassword + `"}`)
					resp, err := client.Post(url+"/api/auth-with-password", "application/json", body)
					if err != nil {
						failed.Add(1)
						continue
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						failed.Add(1)
						continue
					}
					logins.Add(1)
				}
			}()
		}
		time.Sleep(500 * time.Millisecond) // let the flood fill the hash cap
		time.AfterFunc(phase, func() { close(stop) })
		flood := p99(latencies(b, url+"/api/me", tok, readers, stop))
		wg.Wait()
		client.CloseIdleConnections()
		if failed.Load() > 0 {
			b.Fatalf("%d logins failed or were dropped", failed.Load())
		}
		b.ReportMetric(float64(idle.Microseconds()), "idle-p99-µs")
		b.ReportMetric(float64(flood.Microseconds()), "flood-p99-µs")
		b.ReportMetric(float64(flood)/float64(idle), "flood/idle")
		b.ReportMetric(float64(logins.Load())/(phase+500*time.Millisecond).Seconds(), "logins/s")
		fmt.Printf("login flood: idle p99 %s, flood p99 %s, ratio %.2f, %d logins, hash cap %d\n",
			idle, flood, float64(flood)/float64(idle), logins.Load(), cap(app.hashGate.slots))
	}
}
