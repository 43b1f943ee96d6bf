package rip

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
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

// BenchmarkLoadTrivialVsBare serves one trivial route from a rip app (the
// whole edge chain and router) and from a bare net/http ServeMux in the
// same run, alternating rounds, and reports rip's throughput as a ratio
// of bare's. Run it with -benchtime=1x; the work is time-bounded.
func BenchmarkLoadTrivialVsBare(b *testing.B) {
	bare := http.NewServeMux()
	bare.HandleFunc("GET /hello", helloHandler)
	bareURL := serveHandler(b, bare)

	dir := b.TempDir()
	app, err := New(Options{DB: dir + "/app.db", Create: true, Logger: discardLogger()})
	if err != nil {
		b.Fatal(err)
	}
	defer app.Close()
	app.HandleFunc("GET /hello", helloHandler)
	ripURL := serveHandler(b, app.Handler())

	const rounds, conc = 3, 32
	var bareSum, ripSum float64
	for i := 0; i < b.N*rounds; i++ {
		bareSum += loadRun(b, bareURL+"/hello", conc, time.Second)
		ripSum += loadRun(b, ripURL+"/hello", conc, time.Second)
	}
	n := float64(b.N * rounds)
	b.ReportMetric(bareSum/n, "bare-req/s")
	b.ReportMetric(ripSum/n, "rip-req/s")
	b.ReportMetric(ripSum/bareSum, "rip/bare")
	fmt.Printf("load: bare %.0f req/s, rip %.0f req/s, rip/bare %.2f\n", bareSum/n, ripSum/n, ripSum/bareSum)
}

// BenchmarkLoadAuthReadVsBare serves an authenticated read (bearer token
// → uid_mac → cached user → per-user key → MAC) through the whole rip
// handler and a trivial bare route in the same run, and reports the ratio.
func BenchmarkLoadAuthReadVsBare(b *testing.B) {
	bare := http.NewServeMux()
	bare.HandleFunc("GET /hello", helloHandler)
	bareURL := serveHandler(b, bare)

	dir := b.TempDir()
	app, err := New(Options{DB: dir + "/app.db", Create: true, Logger: discardLogger()})
	if err != nil {
		b.Fatal(err)
	}
	defer app.Close()
	app.Handle("GET /api/me", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		WriteJSON(w, 200, "ok", "me", UserFromContext(r.Context()))
	}), app.RequireAuth)
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
