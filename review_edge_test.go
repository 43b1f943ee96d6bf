package rip

// Review tests (review2): each test fails on the code as reviewed because
// of the bug its comment describes, and passes once the bug is fixed.

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"zombiezen.com/go/sqlite"
)

// TestReviewPanicAfterPartialWriteLooksComplete: a handler that panics
// after it has started its answer must not leave the client with what
// looks like a complete, successful response.
//
// App.edge recovers every panic and App.recoverer, when the header is
// already out, just returns ("the answer has started; net/http closes the
// connection"). But since the panic was swallowed, net/http never learns
// about it: it finishes the response normally — a small body even gets a
// Content-Length computed from the bytes written — and keeps the
// connection alive. The client reads a clean "200 OK" with half a JSON
// document and no error. Expected: once the status is sent, the recoverer
// logs and notifies, then re-panics with http.ErrAbortHandler so net/http
// aborts the connection and the client sees a transport error.
func TestReviewPanicAfterPartialWriteLooksComplete(t *testing.T) {
	ta := newTestApp(t)
	ta.HandleFunc("GET /review/partial", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		w.Write([]byte(`{"items":[1,2,`))
		panic("review: handler failed half-way")
	})
	base := ta.serve()
	resp, err := http.Get(base + "/review/partial")
	if err != nil {
		return // the connection was aborted: the client knows it failed
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err == nil {
		t.Fatalf("a handler that panicked mid-answer produced a clean %d response (Content-Length %d) with body %q: "+
			"the client cannot tell it is truncated", resp.StatusCode, resp.ContentLength, body)
	}
}

// TestReviewBackupPruneDeletesTheNewArchive: retention must never delete
// the archive the run has just written and verified.
//
// pruneBackups orders archives by the UTC time in their names and keeps
// the first backup.retention. An archive whose name is later than the
// clock — written before the wall clock was stepped back (a host booted
// with a fast RTC, then corrected by NTP), or copied from another machine
// — sorts as "newest", so with retention = 1 the new backup (the only one
// holding the current data) is deleted right after it was made, while
// backupOne logs "backup written" and reports success.
// Expected: the archive just made is always kept (prune only among the
// others, or order by modification time).
func TestReviewBackupPruneDeletesTheNewArchive(t *testing.T) {
	ta := newTestApp(t)
	fillRows(t, ta.App, 10, 100)
	cfg := ta.Config().Backup
	cfg.Retention = 1
	ctx := context.Background()
	// Written while the clock was two hours fast.
	if _, err := ta.backupOne(ctx, ta.dbs.app, "app", cfg, ta.clock.Now().Add(2*time.Hour), nil); err != nil {
		t.Fatal(err)
	}
	fillRows(t, ta.App, 10, 100) // new data only the next backup holds
	info, err := ta.backupOne(ctx, ta.dbs.app, "app", cfg, ta.clock.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(info.Path); err != nil {
		t.Fatalf("the backup just written and verified was deleted by retention: %v", err)
	}
}

// TestReviewBackupJobStopsAfterClockStepBack: one archive named in the
// future silences the recurrent backup job until the clock catches up.
//
// runBackupJob skips a database when now.Sub(newest.Time) < backup.interval.
// When the newest name is in the future, the difference is negative, so
// the job makes no backup — silently: no error, no log line, no
// notification — for (future offset + interval). After a clock step of a
// day back, a server with the default 6h interval takes no backup for 30
// hours. Expected: an archive dated after now does not count as recent
// (e.g. skip only when 0 <= now-newest < interval), so backups go on.
func TestReviewBackupJobStopsAfterClockStepBack(t *testing.T) {
	ta := newTestApp(t, func(c *Config) { c.Backup.Interval = time.Hour })
	cfg := ta.Config().Backup
	dir := backupDir(cfg, ta.opts.DB)
	// The last archive was made while the clock was a day fast.
	if _, err := ta.backupOne(context.Background(), ta.dbs.app, "app", cfg, ta.clock.Now().Add(24*time.Hour), nil); err != nil {
		t.Fatal(err)
	}
	// Two hours of (corrected) time later the job runs; a backup is due.
	ta.clock.Advance(2 * time.Hour)
	if err := ta.runBackupJob(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	have, _ := listBackups(dir, "app")
	if len(have) != 2 {
		t.Fatalf("backup job made no backup two intervals after the last real one (archives: %d); "+
			"an archive named in the future blocks every backup until the clock passes it", len(have))
	}
}

// TestReviewRestoreAsideOverwritten: a restore must never destroy the
// database it moves aside.
//
// RestoreBackup renames the current database to
// <db>.before-restore-<UTC second> with os.Rename, which silently replaces
// an existing file of that name. Two restores within the same second (a
// script restoring, checking, then restoring another archive; or an
// operator who picked the wrong archive) make the second rename replace
// the first aside — the only copy of the data as it was before any
// restore. Expected: the aside name is unique (O_EXCL/link, or a suffix),
// as backupDatabase already does with os.Link for archives.
func TestReviewRestoreAsideOverwritten(t *testing.T) {
	ta := newTestApp(t)
	fillRows(t, ta.App, 30, 100)
	info, err := ta.backupOne(context.Background(), ta.dbs.app, "app", ta.Config().Backup, ta.clock.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	fillRows(t, ta.App, 5, 100) // the live database: 35 rows, in no archive
	ta.Close()
	aside1, err := RestoreBackup(ta.opts, info.Path, nil)
	if err != nil {
		t.Fatal(err)
	}
	aside2, err := RestoreBackup(ta.opts, info.Path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if aside1 == aside2 {
		t.Fatalf("two restores kept their databases aside under one name %s", aside1)
	}
	// aside1 holds the 35-row original whatever the clock did.
	if n := countRows(t, aside1); n != 35 {
		t.Fatalf("the database kept aside by the first restore (%s) now has %d rows, want the original 35", aside1, n)
	}
}

// TestReviewLogStopStallsShutdown: with logs.db locked, closing the app
// takes one busy timeout per queued batch.
//
// logWriter.stop drains everything queued, one transaction per
// log.batch.flush_size records, and each failing transaction waits the full
// busy timeout (capped by logFlushTimeout = 5 s) before dropping its batch
// and starting the next. With the defaults (chan_size 4096, flush_size
// 256, busy_timeout 5 s) a full queue makes Close — called by Serve after
// server.shutdown_timeout has already been spent — block for 16 × 5 s =
// 80 s, long enough for a supervisor to SIGKILL the process (systemd's
// default stop timeout is 90 s). Here: 10 batches of one record at a 500
// ms busy timeout block for 5 s. Expected: the shutdown drain has one
// overall deadline (or gives up after the first batch that fails with
// ErrDBBusy and counts the rest as dropped).
func TestReviewLogStopStallsShutdown(t *testing.T) {
	ta := newTestApp(t, func(c *Config) {
		c.DB.BusyTimeout = 500 * time.Millisecond
		c.Log.Batch.FlushSize = 1
		c.Log.Batch.ChanSize = 10
	})
	drainLogs(ta.logw) // records of New
	for i := 0; i < 10; i++ {
		ta.logw.enqueue(logRecord{message: "queued at shutdown", data: []byte("{}"), time: time.Now()})
	}
	lockDB(t, ta.opts.LogDB)
	start := time.Now()
	ta.logw.stop()
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("stopping the log writer with logs.db locked took %s (one busy timeout per batch of %d queued batches)",
			took.Round(100*time.Millisecond), 10)
	}
}

// TestReviewLogRemoteIPNotEscaped: the request log's remote_ip is the one
// field not JSON-escaped, so a zoned IPv6 address breaks the record.
//
// App.logRequest appends e.ip with netip.Addr.AppendTo straight between
// quotes. netip.ParseAddr accepts an IPv6 zone of any bytes ("fe80::1%x"
// with quotes and backslashes, no commas), and clientIP returns such an address from
// server.client_ip_proxy_header (a zoned address is never inside a
// trusted prefix, so it is taken as the client). The stored data is then
// not JSON — or carries forged keys — breaking every reader of the log
// (the security notes promise "every string is JSON-escaped").
// Expected: write remote_ip through logAppendString (or drop the zone).
func TestReviewLogRemoteIPNotEscaped(t *testing.T) {
	ta := newTestApp(t, func(c *Config) {
		c.Server.TrustedProxies = []string{"10.0.0.0/8"}
		c.Server.ClientIPProxyHeader = "X-Forwarded-For"
	})
	drainLogs(ta.logw)
	ta.do("GET", "/api/health", "10.1.2.3:4000", nil, `X-Forwarded-For: fe80::1%z"}{"forged":"\`)
	var found bool
	for _, rec := range drainLogs(ta.logw) {
		if rec.message != "http_request" {
			continue
		}
		found = true
		var v map[string]any
		if err := json.Unmarshal(rec.data, &v); err != nil {
			t.Fatalf("request log record is not JSON (%v): %s", err, rec.data)
		}
		if s, _ := v["remote_ip"].(string); !strings.HasPrefix(s, "fe80::1") {
			t.Fatalf("remote_ip = %q; record %s", s, rec.data)
		}
	}
	if !found {
		t.Fatal("no request record")
	}
}

// TestReviewLogRedactsEncodedParamNames: a secret query parameter whose
// name is percent-encoded is logged in clear.
//
// logRedactQuery matches parameter names as they appear in the raw query,
// but net/http decodes names: "?%74oken=s3cr3t" is r.URL.Query().Get("token")
// == "s3cr3t" for the handler, while the log keeps "%74oken=s3cr3t".
// Expected: compare the decoded name (url.QueryUnescape) with the secret
// list, so every name a handler sees as secret is redacted.
func TestReviewLogRedactsEncodedParamNames(t *testing.T) {
	r := httptest.NewRequest("GET", "/x?%74oken=s3cr3t&acc%65ss_key=k3y", nil)
	if r.URL.Query().Get("token") != "s3cr3t" {
		t.Fatal("premise: net/http decodes the parameter name")
	}
	if got := logRedactQuery(r.URL.RawQuery); strings.Contains(got, "s3cr3t") || strings.Contains(got, "k3y") {
		t.Fatalf("logRedactQuery(%q) = %q: secret values logged", r.URL.RawQuery, got)
	}
}

// TestReviewRecurrentJobRetryShiftsGrid: a recurrent job that fails once
// and then succeeds on retry leaves its schedule grid.
//
// JobSpec.Interval promises "after each run it is due again at the next
// multiple of Interval after At". jobOutcome stores a retry as
// scheduled_for = now + backoff, and the successful retry then computes
// jobNextRun from that shifted scheduled_for, so every later run is offset
// by the backoff (and by every further retry's). A report due on the hour
// drifts to hh:00:30, then hh:01:30, … Expected: a retry keeps the grid's
// base (remember the original scheduled_for, e.g. in a separate column,
// or compute the next run from At/created grid), so the next run after a
// successful retry is At + k·Interval.
func TestReviewRecurrentJobRetryShiftsGrid(t *testing.T) {
	ta, clock := newQueueApp(t, func(c *Config) { c.Jobs.MaxAttempts = 3 })
	fail := true
	ta.HandleJob("report", func(ctx context.Context, j *Job) error {
		if fail {
			return errors.New("smtp down")
		}
		return nil
	})
	start := ta.Now()
	id := enqueueT(t, ta.App, JobSpec{Type: "report", Interval: time.Hour, UniqueKey: "every:report"})
	r := ta.newJobRunner()
	if drive(t, r) != 1 {
		t.Fatal("did not run")
	}
	retryAt := jobRowT(t, ta.App, id).scheduledFor
	clock.Advance(retryAt.Sub(ta.Now()))
	fail = false
	if drive(t, r) != 1 {
		t.Fatal("retry did not run")
	}
	if got := jobRowT(t, ta.App, id).scheduledFor; !got.Equal(start.Add(time.Hour)) {
		t.Fatalf("after a failed run and a successful retry the next run is %s, want %s on the grid (off by %s)",
			got, start.Add(time.Hour), got.Sub(start.Add(time.Hour)))
	}
}

// TestReviewShutdownHangsOnHeldConnection: Serve must return within
// server.shutdown_timeout even when a job handler ignores its context.
//
// Serve abandons running jobs (and HTTP handlers) once the shutdown
// timeout is spent, then its deferred App.Close closes the databases.
// database.Close calls sqlitex.Pool.Close, which interrupts SQL but then
// waits on <-p.free for every connection to be returned. A handler that
// ignores ctx while it holds a connection — here a job inside App.Write
// that waits on something without a deadline, e.g. an outbound call made
// with context.Background() — therefore makes Serve block until that
// handler returns, possibly forever: SIGTERM no longer stops the process
// and the shutdown timeout means nothing. Expected: Serve returns within
// about shutdown_timeout; connections still checked out are abandoned
// (logged) instead of waited for.
func TestReviewShutdownHangsOnHeldConnection(t *testing.T) {
	ta := newTestApp(t, func(c *Config) {
		c.Server.ShutdownTimeout = time.Second
		c.DB.WriteTimeout = time.Second
	})
	holding, release := make(chan struct{}), make(chan struct{})
	ta.HandleJob("review.hold", func(ctx context.Context, j *Job) error {
		return ta.Write(context.Background(), func(conn *sqlite.Conn) error {
			close(holding)
			<-release // ignores ctx
			return nil
		})
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ta.Serve(ctx, ln) }()
	defer func() {
		cancel()
		select {
		case <-release:
		default:
			close(release)
		}
		<-done
	}()
	enqueueT(t, ta.App, JobSpec{Type: "review.hold"})
	select {
	case <-holding:
	case <-time.After(10 * time.Second):
		t.Fatal("job did not start")
	}
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		done <- err // for the deferred cleanup
		return
	case <-time.After(6 * time.Second):
	}
	t.Fatalf("Serve has not returned %s after shutdown began (shutdown_timeout 1s): "+
		"App.Close waits for the connection the abandoned job holds\nlogs:\n%s", time.Since(start).Round(time.Second), ta.logs.String())
}
