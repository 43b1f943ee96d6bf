package rip

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// The SIGKILL harness: a child process (this test binary as the
// crash-app helper) serves a rip app with three kinds of durable writes —
// an app row plus a job in the same transaction, and config generations
// of scope "crash" — while the parent writes to it from several
// goroutines and kills it at a random moment. After every kill the
// parent checks the files directly: integrity_check ok, every row whose
// 2xx it saw present, every acknowledged generation present and
// decrypting. At the end one more start must run every job to completion:
// none lost, none stuck.

const (
	crashJobType       = "crash.mark"
	crashConfigScope   = "crash"
	crashConfigPad     = 32 << 10 // 32 KiB per generation: a wide write window
	crashDefaultCycles = 50
	crashShortCycles   = 10
	crashWriters       = 4
	crashReadyTimeout  = 20 * time.Second
	crashDrainTimeout  = 60 * time.Second
)

// crashApp is the helper process: it serves the crash endpoints on a
// loopback port, prints "ready URL" and runs until killed.
func crashApp(dir string) {
	app, err := New(Options{DB: filepath.Join(dir, "app.db"), Create: true, Logger: discardLogger()})
	if err != nil {
		fmt.Fprintln(os.Stderr, "crash-app:", err)
		os.Exit(1)
	}
	err = app.Write(context.Background(), func(conn *sqlite.Conn) error {
		return sqlitex.ExecuteTransient(conn, "CREATE TABLE IF NOT EXISTS crash_rows (id INTEGER PRIMARY KEY, done INTEGER NOT NULL DEFAULT 0)", nil)
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "crash-app:", err)
		os.Exit(1)
	}
	app.HandleJob(crashJobType, func(ctx context.Context, j *Job) error {
		var p struct{ ID int64 }
		if err := json.Unmarshal(j.Payload, &p); err != nil {
			return Permanent(err)
		}
		return app.Write(ctx, func(conn *sqlite.Conn) error {
			return sqlitex.Execute(conn, "UPDATE crash_rows SET done = 1 WHERE id = ?", &sqlitex.ExecOptions{Args: []any{p.ID}})
		})
	})
	app.HandleFunc("POST /crash/write/{id}", func(w http.ResponseWriter, r *http.Request) {
		id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
		err := app.Write(r.Context(), func(conn *sqlite.Conn) error {
			if err := sqlitex.Execute(conn, "INSERT INTO crash_rows (id) VALUES (?)", &sqlitex.ExecOptions{Args: []any{id}}); err != nil {
				return err
			}
			// Every kill while a job runs costs it an attempt (at least
			// once: the lease expires, the job runs again); one kill every
			// few hundred milliseconds would dead-letter jobs with the
			// default 5 attempts, which is the queue working, not losing.
			_, err := app.Enqueue(r.Context(), conn, JobSpec{Type: crashJobType, Payload: map[string]int64{"ID": id}, MaxAttempts: jobMaxAttemptsLimit})
			return err
		})
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	app.HandleFunc("POST /crash/config/{n}", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.PathValue("n"))
		text := fmt.Sprintf("n = %d\npad = %q\n", n, strings.Repeat("x", crashConfigPad))
		if _, err := app.store.save(r.Context(), crashConfigScope, "toml", fmt.Sprintf("crash %d", n), []byte(text), time.Now()); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "crash-app:", err)
		os.Exit(1)
	}
	fmt.Printf("ready http://%s\n", ln.Addr())
	if err := app.Serve(context.Background(), ln); err != nil {
		fmt.Fprintln(os.Stderr, "crash-app:", err)
		os.Exit(1)
	}
}

// crashChild is one running crash-app process.
type crashChild struct {
	cmd *exec.Cmd
	url string
}

// startCrashChild starts the helper on dir and waits for its URL.
func startCrashChild(t testing.TB, dir string) *crashChild {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "RIP_TEST_HELPER=crash-app", "RIP_TEST_DIR="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(out).ReadString('\n')
		line <- s
		io.Copy(io.Discard, out)
	}()
	select {
	case s := <-line:
		url, ok := strings.CutPrefix(strings.TrimSpace(s), "ready ")
		if !ok {
			t.Fatalf("crash-app did not start: %q", s)
		}
		return &crashChild{cmd: cmd, url: url}
	case <-time.After(crashReadyTimeout):
		t.Fatal("crash-app did not report ready in time")
	}
	return nil
}

// kill sends SIGKILL and reaps the process.
func (c *crashChild) kill() {
	c.cmd.Process.Kill()
	c.cmd.Wait()
}

// crashLoad writes to a child until stop closes and records what the
// child acknowledged with a 2xx.
type crashLoad struct {
	mu      sync.Mutex
	rows    []int64 // acknowledged row ids
	configs []int   // acknowledged config numbers
	nextID  atomic.Int64
	nextCfg atomic.Int64
	client  *http.Client
}

func newCrashLoad() *crashLoad {
	return &crashLoad{client: &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: crashWriters + 1}}}
}

// post reports whether the child answered 2xx.
func (l *crashLoad) post(url string) bool {
	resp, err := l.client.Post(url, "application/json", nil)
	if err != nil {
		return false
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode/100 == 2
}

// run writes until ctx ends, from crashWriters row writers and one config
// writer.
func (l *crashLoad) run(ctx context.Context, url string) {
	var wg sync.WaitGroup
	for range crashWriters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				id := l.nextID.Add(1)
				if l.post(fmt.Sprintf("%s/crash/write/%d", url, id)) {
					l.mu.Lock()
					l.rows = append(l.rows, id)
					l.mu.Unlock()
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			n := int(l.nextCfg.Add(1))
			if l.post(fmt.Sprintf("%s/crash/config/%d", url, n)) {
				l.mu.Lock()
				l.configs = append(l.configs, n)
				l.mu.Unlock()
			}
		}
	}()
	wg.Wait()
	l.client.CloseIdleConnections()
}

// crashCheck opens the data of a dead child and checks integrity and
// every acknowledged write; it returns the number of rows present.
func crashCheck(t testing.TB, dbPath string, l *crashLoad) int {
	t.Helper()
	conn, err := sqlite.OpenConn(dbPath, sqlite.OpenReadWrite)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var integrity []string
	sqlitex.ExecuteTransient(conn, "PRAGMA integrity_check", &sqlitex.ExecOptions{ResultFunc: func(s *sqlite.Stmt) error {
		integrity = append(integrity, s.ColumnText(0))
		return nil
	}})
	if len(integrity) != 1 || integrity[0] != "ok" {
		t.Fatalf("integrity_check: %v", integrity)
	}
	present := map[int64]bool{}
	err = sqlitex.ExecuteTransient(conn, "SELECT id FROM crash_rows", &sqlitex.ExecOptions{ResultFunc: func(s *sqlite.Stmt) error {
		present[s.ColumnInt64(0)] = true
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, id := range l.rows {
		if !present[id] {
			t.Fatalf("acknowledged row %d is missing (%d acknowledged, %d present)", id, len(l.rows), len(present))
		}
	}
	return len(present)
}

// crashCheckConfig decrypts every generation of the crash scope and
// finds every acknowledged one.
func crashCheckConfig(t testing.TB, dir string, l *crashLoad) int {
	t.Helper()
	ad, err := OpenAdmin(Options{DB: filepath.Join(dir, "app.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer ad.Close()
	ctx := context.Background()
	gens, err := ad.ConfigGenerations(ctx, crashConfigScope)
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, g := range gens {
		text, _, err := ad.ConfigText(ctx, crashConfigScope, g.Generation)
		if err != nil {
			t.Fatalf("generation %d does not load: %v", g.Generation, err)
		}
		if n := fmt.Sprintf("n = %s\n", strings.TrimPrefix(g.Description, "crash ")); !strings.HasPrefix(string(text), n) || len(text) < crashConfigPad {
			t.Fatalf("generation %d (%s) is not what was written: %.40q…", g.Generation, g.Description, text)
		}
		have[g.Description] = true
	}
	if _, _, err := ad.EffectiveConfig(ctx, 0); err != nil {
		t.Fatalf("application configuration does not load: %v", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, n := range l.configs {
		if !have[fmt.Sprintf("crash %d", n)] {
			t.Fatalf("acknowledged config generation %d is missing", n)
		}
	}
	return len(gens)
}

// crashDrain starts the app once more and waits until every crash job has
// completed and every row is marked; it fails on a job that failed or
// stays pending or running.
func crashDrain(t testing.TB, dir string) {
	t.Helper()
	c := startCrashChild(t, dir)
	defer c.kill()
	conn, err := sqlite.OpenConn(filepath.Join(dir, "app.db"), sqlite.OpenReadOnly)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetBusyTimeout(5 * time.Second)
	deadline := time.Now().Add(crashDrainTimeout)
	var live, failed, unmarked int
	for {
		err := sqlitex.ExecuteTransient(conn, `SELECT
			(SELECT count(*) FROM job_queue WHERE type = ? AND status IN ('pending', 'running')),
			(SELECT count(*) FROM job_queue WHERE type = ? AND status = 'failed'),
			(SELECT count(*) FROM crash_rows WHERE done = 0)`, &sqlitex.ExecOptions{
			Args: []any{crashJobType, crashJobType},
			ResultFunc: func(s *sqlite.Stmt) error {
				live, failed, unmarked = s.ColumnInt(0), s.ColumnInt(1), s.ColumnInt(2)
				return nil
			}})
		if err != nil {
			t.Fatal(err)
		}
		if failed > 0 {
			var why []string
			sqlitex.ExecuteTransient(conn, "SELECT id, attempts, last_error FROM job_queue WHERE type = ? AND status = 'failed' LIMIT 3", &sqlitex.ExecOptions{
				Args: []any{crashJobType}, ResultFunc: func(s *sqlite.Stmt) error {
					why = append(why, fmt.Sprintf("job %d after %d attempts: %s", s.ColumnInt(0), s.ColumnInt(1), s.ColumnText(2)))
					return nil
				}})
			t.Fatalf("%d crash jobs failed: %v", failed, why)
		}
		if live == 0 && unmarked == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %d jobs still pending or running, %d rows without their job's effect (a job lost or stuck)", crashDrainTimeout, live, unmarked)
		}
		time.Sleep(50 * time.Millisecond) // a subprocess: no clock to move
	}
	// The recurrent built-in jobs exist exactly once each.
	for _, typ := range []string{jobTypeOTPPurge, jobTypeBackup} {
		n := 0
		sqlitex.ExecuteTransient(conn, "SELECT count(*) FROM job_queue WHERE type = ?", &sqlitex.ExecOptions{
			Args: []any{typ}, ResultFunc: func(s *sqlite.Stmt) error { n = s.ColumnInt(0); return nil }})
		if n != 1 {
			t.Fatalf("%d rows of recurrent job %s, want 1", n, typ)
		}
	}
}

// crashConfig makes leases short, so jobs a kill interrupted come back
// within seconds in crashDrain.
func crashConfig(c *Config) {
	c.Jobs.Timeout = time.Second
	c.Jobs.Lease = 2 * time.Second
	c.Jobs.PollInterval = 50 * time.Millisecond
}

// crashCycles is RIP_CRASH_CYCLES, or the CI default (fewer with -short).
func crashCycles(t testing.TB) int {
	if s := os.Getenv("RIP_CRASH_CYCLES"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("RIP_CRASH_CYCLES=%q", s)
		}
		return n
	}
	if testing.Short() {
		return crashShortCycles
	}
	return crashDefaultCycles
}

// TestCrashKill is the SIGKILL durability harness (README "Crash
// durability"). RIP_CRASH_CYCLES=500 runs the long version.
func TestCrashKill(t *testing.T) {
	dir := t.TempDir()
	storeTestConfig(t, dir, crashConfig)
	cycles := crashCycles(t)
	l := newCrashLoad()
	start := time.Now()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	for cycle := 0; cycle < cycles; cycle++ {
		c := startCrashChild(t, dir)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { l.run(ctx, c.url); close(done) }()
		time.Sleep(time.Duration(20+rng.IntN(230)) * time.Millisecond) // the random moment
		c.kill()
		cancel()
		<-done
		crashCheck(t, filepath.Join(dir, "app.db"), l)
		crashCheckConfig(t, dir, l)
	}
	crashDrain(t, dir)
	rows := crashCheck(t, filepath.Join(dir, "app.db"), l)
	gens := crashCheckConfig(t, dir, l)
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.rows) < cycles || len(l.configs) == 0 {
		t.Fatalf("the load barely ran: %d rows, %d configs acknowledged", len(l.rows), len(l.configs))
	}
	t.Logf("%d SIGKILL cycles in %s: %d rows acknowledged, %d present (%d written but unacknowledged); %d config generations acknowledged, %d present; every job completed",
		cycles, time.Since(start).Round(time.Second), len(l.rows), rows, rows-len(l.rows), len(l.configs), gens)
}

var errNoHelper = errors.New("unknown helper")

// runTestHelper runs the helper process named by RIP_TEST_HELPER for
// this file's tests.
func runTestHelper(name string) error {
	switch name {
	case "crash-app":
		crashApp(os.Getenv("RIP_TEST_DIR"))
		return nil
	case "serve-rip", "serve-bare":
		return serveHelper(name)
	}
	return errNoHelper
}
