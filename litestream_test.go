package rip

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"zombiezen.com/go/sqlite"
)

// litestreamVersion is the Litestream release .ci/run installs and the
// README documents.
const litestreamVersion = "v0.5.18"

// Timings of the Litestream test: the replica's sync-interval is 1 s.
const (
	litestreamLoad      = 3 * time.Second // writes before the kill
	litestreamAfterKill = 3 * time.Second // Litestream keeps shipping the WAL
	litestreamExit      = 20 * time.Second
)

// TestLitestreamSettings guards what Litestream needs from rip, without
// Litestream: WAL, a busy timeout, the default PASSIVE autocheckpoint on
// every pooled connection, and no blocking checkpoint anywhere in rip.
func TestLitestreamSettings(t *testing.T) {
	ta := newTestApp(t)
	check := func(conn *sqlite.Conn) error {
		r, err := pragmaReport(conn)
		if err != nil {
			return err
		}
		var auto int
		execInt(conn, "PRAGMA wal_autocheckpoint", &auto)
		bt, _ := strconv.Atoi(r["busy_timeout"])
		if r["journal_mode"] != "wal" || bt < 5000 || auto < 1000 {
			t.Errorf("connection settings %v, wal_autocheckpoint %d: Litestream needs WAL, busy_timeout >= 5000, autocheckpoint >= 1000", r, auto)
		}
		return nil
	}
	ta.Write(context.Background(), check)
	ta.Read(context.Background(), check)
	blocking := regexp.MustCompile(`(?i)wal_checkpoint\s*\(\s*(truncate|restart|full)`)
	files, _ := filepath.Glob("*.go")
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, _ := os.ReadFile(f)
		if blocking.Match(src) {
			t.Errorf("%s runs a blocking checkpoint; it would stall writers behind Litestream", f)
		}
	}
}

func execInt(conn *sqlite.Conn, q string, out *int) {
	st, _, err := conn.PrepareTransient(q)
	if err != nil {
		return
	}
	defer st.Finalize()
	if ok, _ := st.Step(); ok {
		*out = st.ColumnInt(0)
	}
}

// TestLitestreamReplicateKillRestore: with Litestream replicating app.db
// (the config rip prints) to a local directory, the app is SIGKILLed under
// write load; the database restored from the replica into a new path
// holds every acknowledged write and passes integrity_check.
func TestLitestreamReplicateKillRestore(t *testing.T) {
	bin := needProgram(t, "litestream")
	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), litestreamVersion) {
		t.Fatalf("litestream version: %q %v; want %s (.ci/run installs it)", out, err, litestreamVersion)
	}
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	storeTestConfig(t, data, crashConfig)
	yml, err := LitestreamConfig(Options{DB: filepath.Join(data, "app.db")}, filepath.Join(dir, "replica"), false)
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "litestream.yml")
	os.WriteFile(cfgPath, yml, 0o600)
	env := []string{}
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "AWS_CA_BUNDLE=") { // breaks v0.5.18's S3 client setup (scale-out.md)
			env = append(env, e)
		}
	}
	ls := exec.Command(bin, "replicate", "-config", cfgPath)
	ls.Env = env
	var lsLog syncBuffer
	ls.Stdout, ls.Stderr = &lsLog, &lsLog
	if err := ls.Start(); err != nil {
		t.Fatal(err)
	}
	lsDone := make(chan error, 1)
	go func() { lsDone <- ls.Wait() }()
	t.Cleanup(func() {
		ls.Process.Kill()
		<-lsDone
	})

	child := startCrashChild(t, data)
	l := newCrashLoad()
	ctx, cancel := context.WithTimeout(context.Background(), litestreamLoad)
	l.run(ctx, child.url)
	child.kill()
	cancel()
	time.Sleep(litestreamAfterKill) // a subprocess: let Litestream ship the rest
	ls.Process.Signal(syscall.SIGTERM)
	select {
	case <-lsDone:
		lsDone <- nil
	case <-time.After(litestreamExit):
		t.Fatalf("litestream did not exit after SIGTERM:\n%s", lsLog.String())
	}
	restored := filepath.Join(dir, "restored", "app.db")
	os.MkdirAll(filepath.Dir(restored), 0o700)
	cmd := exec.Command(bin, "restore", "-config", cfgPath, "-o", restored, filepath.Join(data, "app.db"))
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("litestream restore: %v\n%s\nreplicate log:\n%s", err, out, lsLog.String())
	}
	n := crashCheck(t, restored, l)
	l.mu.Lock()
	acked := len(l.rows)
	l.mu.Unlock()
	if acked < 100 {
		t.Fatalf("only %d writes acknowledged", acked)
	}
	t.Logf("Litestream %s: %d writes acknowledged, %d rows restored, integrity ok", litestreamVersion, acked, n)
}
