package rip

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// newQueueApp is a test app on the fake clock.
func newQueueApp(t *testing.T, edit ...func(*Config)) (*testApp, *testClock) {
	t.Helper()
	ta := newTestApp(t, edit...)
	ta.clock.t = newTestClock().t // a fixed start
	return ta, ta.clock
}

// enqueueT enqueues spec in its own write and fails the test on error.
func enqueueT(t *testing.T, a *App, spec JobSpec) int64 {
	t.Helper()
	id, err := a.Enqueue(context.Background(), nil, spec)
	if err != nil {
		t.Fatalf("Enqueue(%+v): %v", spec, err)
	}
	return id
}

// claimT claims up to n due jobs for worker at the app's clock.
func claimT(t *testing.T, a *App, worker string, n int) []*jobClaim {
	t.Helper()
	var got []*jobClaim
	err := a.Write(context.Background(), func(conn *sqlite.Conn) (err error) {
		got, err = jobClaimDue(conn, a.Now(), worker, n, a.Config().Jobs.Lease)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// finishT records the result of c as the scheduler would, with jitter
// 0.5 (a factor of exactly 1), and reports whether it counted.
func finishT(t *testing.T, a *App, c *jobClaim, runErr error) bool {
	t.Helper()
	var ok bool
	err := a.Write(context.Background(), func(conn *sqlite.Conn) (err error) {
		now := a.Now()
		ok, err = jobFinish(conn, c, jobOutcome(c, runErr, now, a.Config().Jobs, 0.5), now)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

// queueTestRow is the part of a job_queue row the tests look at.
type queueTestRow struct {
	status       string
	attempts     int
	scheduledFor time.Time
	lastError    string
	worker       string
}

func jobRowT(t *testing.T, a *App, id int64) queueTestRow {
	t.Helper()
	var r queueTestRow
	err := a.Read(context.Background(), func(conn *sqlite.Conn) error {
		return sqlitex.Execute(conn, "SELECT status, attempts, scheduled_for, last_error, worker_id FROM job_queue WHERE id = ?", &sqlitex.ExecOptions{
			Args: []any{id},
			ResultFunc: func(s *sqlite.Stmt) error {
				r = queueTestRow{s.ColumnText(0), s.ColumnInt(1), time.UnixMilli(s.ColumnInt64(2)).UTC(), s.ColumnText(3), s.ColumnText(4)}
				return nil
			}})
	})
	if err != nil || r.status == "" {
		t.Fatalf("job %d: %v (status %q)", id, err, r.status)
	}
	return r
}

// countJobs counts rows matching a WHERE clause (a test constant).
func countJobs(t *testing.T, a *App, where string) int {
	t.Helper()
	n := 0
	err := a.Read(context.Background(), func(conn *sqlite.Conn) error {
		return sqlitex.Execute(conn, "SELECT count(*) FROM job_queue WHERE "+where, &sqlitex.ExecOptions{
			ResultFunc: func(s *sqlite.Stmt) error { n = s.ColumnInt(0); return nil }})
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// drive runs one scheduler cycle synchronously through the production
// round: claim every due job (up to the slots), run each handler, record
// the results. It returns how many jobs ran.
func drive(t *testing.T, r *jobRunner) int {
	t.Helper()
	claimed, err := r.round(nil, true)
	if err != nil {
		t.Fatal(err)
	}
	r.running += len(claimed)
	var done []jobResult
	for _, c := range claimed {
		done = append(done, jobResult{claim: c, err: r.app.runJob(context.Background(), c)})
	}
	if _, err := r.round(done, false); err != nil {
		t.Fatal(err)
	}
	if r.running != 0 {
		t.Fatalf("running = %d after a round", r.running)
	}
	return len(claimed)
}

func TestJobsConfigValidate(t *testing.T) {
	c := validConfig()
	c.Jobs = JobsConfig{Concurrency: 0, PollInterval: time.Millisecond, Timeout: 10 * time.Second, Lease: 5 * time.Second,
		MaxAttempts: 0, BackoffBase: 0, BackoffMax: -1, RetainCompleted: -1, RetainFailed: -1}
	err := c.Validate()
	for _, key := range []string{"jobs.concurrency", "jobs.poll_interval", "jobs.lease: must exceed jobs.timeout", "jobs.max_attempts",
		"jobs.backoff_base", "jobs.backoff_max", "jobs.retain_completed", "jobs.retain_failed"} {
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("Validate did not report %s; got:\n%v", key, err)
		}
	}
	if err := validConfig().Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
}

func TestEnqueueRejectsHostileSpecs(t *testing.T) {
	ta, _ := newQueueApp(t)
	for _, tc := range []struct {
		name string
		spec JobSpec
	}{
		{"empty type", JobSpec{}},
		{"upper case type", JobSpec{Type: "Mail"}},
		{"type with space", JobSpec{Type: "send mail"}},
		{"type with SQL", JobSpec{Type: "x';DROP TABLE job_queue;--"}},
		{"type with newline", JobSpec{Type: "mail\n"}},
		{"type too long", JobSpec{Type: "a" + strings.Repeat("b", 64)}},
		{"payload not JSON", JobSpec{Type: "mail", Payload: json.RawMessage(`{"a":`)}},
		{"payload unencodable", JobSpec{Type: "mail", Payload: func() {}}},
		{"payload NaN", JobSpec{Type: "mail", Payload: math.NaN()}},
		{"payload over 64 KiB", JobSpec{Type: "mail", Payload: strings.Repeat("x", 64<<10)}},
		{"negative interval", JobSpec{Type: "mail", Interval: -time.Second}},
		{"sub-second interval", JobSpec{Type: "mail", Interval: 999 * time.Millisecond}},
		{"priority too high", JobSpec{Type: "mail", Priority: 6}},
		{"priority too low", JobSpec{Type: "mail", Priority: -6}},
		{"max attempts too high", JobSpec{Type: "mail", MaxAttempts: jobMaxAttemptsLimit + 1}},
		{"unique key too long", JobSpec{Type: "mail", UniqueKey: strings.Repeat("k", maxJobUniqueKeyBytes+1)}},
		{"unique key not UTF-8", JobSpec{Type: "mail", UniqueKey: "k\xff"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ta.Enqueue(context.Background(), nil, tc.spec); !errors.Is(err, ErrInvalidJob) {
				t.Fatalf("Enqueue = %v, want ErrInvalidJob", err)
			}
		})
	}
	if n := countJobs(t, ta.App, "1"); n != 0 {
		t.Fatalf("%d rows written by rejected specs", n)
	}
	// The limits themselves are accepted.
	enqueueT(t, ta.App, JobSpec{Type: "a" + strings.Repeat("b", 63), Payload: json.RawMessage(`"` + strings.Repeat("x", maxJobPayloadBytes-2) + `"`),
		Priority: 5, Interval: time.Second, MaxAttempts: jobMaxAttemptsLimit, UniqueKey: strings.Repeat("k", maxJobUniqueKeyBytes)})
	id := enqueueT(t, ta.App, JobSpec{Type: "mail"})
	c := claimT(t, ta.App, "w", 10)
	if len(c) != 2 || string(c[0].Payload) == "" || string(c[1].Payload) != "{}" || c[1].ID != id {
		t.Fatalf("claimed %+v", c)
	}
}

func TestEnqueueJoinsCallerTransaction(t *testing.T) {
	ta, _ := newQueueApp(t)
	for len(ta.jobWake) > 0 {
		<-ta.jobWake
	}
	boom := errors.New("boom")
	err := ta.Write(context.Background(), func(conn *sqlite.Conn) error {
		if _, err := ta.Enqueue(context.Background(), conn, JobSpec{Type: "mail"}); err != nil {
			return err
		}
		return boom // the caller's change failed: the job must go with it
	})
	if !errors.Is(err, boom) || countJobs(t, ta.App, "1") != 0 {
		t.Fatalf("rolled-back enqueue left %d jobs (err %v)", countJobs(t, ta.App, "1"), err)
	}
	err = ta.Write(context.Background(), func(conn *sqlite.Conn) error {
		_, err := ta.Enqueue(context.Background(), conn, JobSpec{Type: "mail"})
		return err
	})
	if err != nil || countJobs(t, ta.App, "status = 'pending'") != 1 {
		t.Fatalf("committed enqueue: %v, %d jobs", err, countJobs(t, ta.App, "1"))
	}
	select {
	case <-ta.jobWake:
	default:
		t.Fatal("Enqueue did not wake the scheduler")
	}
}

func TestEnqueueDeduplicatesTenThousand(t *testing.T) {
	ta, _ := newQueueApp(t)
	const goroutines, txns, perTxn, keys = 4, 25, 100, 100
	var created, dups atomic.Int64
	var ids sync.Map // key → the id Enqueue reported for it
	var wg sync.WaitGroup
	errc := make(chan error, goroutines)
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for tx := 0; tx < txns; tx++ {
				err := ta.Write(context.Background(), func(conn *sqlite.Conn) error {
					for i := 0; i < perTxn; i++ {
						key := fmt.Sprintf("otp:%d", (g*txns*perTxn+tx*perTxn+i)%keys)
						id, err := ta.Enqueue(context.Background(), conn, JobSpec{Type: "mail", UniqueKey: key})
						switch {
						case err == nil:
							created.Add(1)
						case errors.Is(err, ErrJobExists):
							dups.Add(1)
						default:
							return err
						}
						if prev, loaded := ids.LoadOrStore(key, id); loaded && prev != id {
							return fmt.Errorf("key %s: id %d, earlier %d", key, id, prev)
						}
					}
					return nil
				})
				if err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	if created.Load() != keys || dups.Load() != goroutines*txns*perTxn-keys {
		t.Fatalf("created %d, duplicates %d", created.Load(), dups.Load())
	}
	if n := countJobs(t, ta.App, "status = 'pending'"); n != keys {
		t.Fatalf("%d live rows, want %d", n, keys)
	}
	// A finished job no longer holds its key; a running one still does.
	c := claimT(t, ta.App, "w", 2)
	finishT(t, ta.App, c[0], nil)
	if _, err := ta.Enqueue(context.Background(), nil, JobSpec{Type: "mail", UniqueKey: "otp:" + fmt.Sprint((c[0].ID-1)%keys)}); err != nil {
		t.Fatalf("enqueue after completion: %v", err)
	}
	id, err := ta.Enqueue(context.Background(), nil, JobSpec{Type: "mail", UniqueKey: "otp:" + fmt.Sprint((c[1].ID-1)%keys)})
	if !errors.Is(err, ErrJobExists) || id != c[1].ID {
		t.Fatalf("enqueue while running: %d, %v; want %d, ErrJobExists", id, err, c[1].ID)
	}
}

func TestJobClaimIsAtomicAcrossConnections(t *testing.T) {
	ta, _ := newQueueApp(t)
	const jobs = 300
	err := ta.Write(context.Background(), func(conn *sqlite.Conn) error {
		for i := 0; i < jobs; i++ {
			if _, err := ta.Enqueue(context.Background(), conn, JobSpec{Type: "mail"}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// A second handle on the same file is what a second process has: its
	// own writer connection, serialized with ours only by SQLite's lock.
	other, err := openDatabase(filepath.Join(ta.dir, "app.db"), dbOptions{Synchronous: "NORMAL", BusyTimeout: 5 * time.Second, ReadPoolSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	var mu sync.Mutex
	seen := map[int64]string{}
	var wg sync.WaitGroup
	errc := make(chan error, 6)
	for i, db := range []*database{ta.dbs.app, other, ta.dbs.app, other, ta.dbs.app, other} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			worker := fmt.Sprintf("w%d", i)
			for {
				var got []*jobClaim
				err := db.Write(context.Background(), 10*time.Second, func(conn *sqlite.Conn) (err error) {
					got, err = jobClaimDue(conn, ta.Now(), worker, 7, time.Minute)
					return err
				})
				if err != nil {
					errc <- err
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, c := range got {
					if prev, dup := seen[c.ID]; dup {
						errc <- fmt.Errorf("job %d claimed by %s and %s", c.ID, prev, worker)
					}
					seen[c.ID] = worker
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	workers := map[string]bool{}
	for _, w := range seen {
		workers[w] = true
	}
	if len(seen) != jobs || countJobs(t, ta.App, "status = 'running' AND attempts = 1") != jobs {
		t.Fatalf("claimed %d distinct jobs of %d", len(seen), jobs)
	}
	t.Logf("%d jobs claimed by %d workers", len(seen), len(workers))
}

func TestJobLeaseExpiryAndZombieWorker(t *testing.T) {
	ta, clock := newQueueApp(t)
	lease := ta.Config().Jobs.Lease
	id := enqueueT(t, ta.App, JobSpec{Type: "mail"})
	a := claimT(t, ta.App, "worker-a", 1)
	if len(a) != 1 || a[0].Attempt != 1 {
		t.Fatalf("first claim: %+v", a)
	}
	// Worker A "crashes": it never reports. Within the lease nobody else
	// may take the job.
	clock.Advance(lease - time.Millisecond)
	if got := claimT(t, ta.App, "worker-b", 1); len(got) != 0 {
		t.Fatalf("claimed inside the lease: %+v", got)
	}
	clock.Advance(2 * time.Millisecond)
	b := claimT(t, ta.App, "worker-b", 1)
	if len(b) != 1 || b[0].ID != id || b[0].Attempt != 2 {
		t.Fatalf("claim after lease: %+v", b)
	}
	// A wakes up and reports, success or failure: nothing changes.
	before := jobRowT(t, ta.App, id)
	if finishT(t, ta.App, a[0], nil) || finishT(t, ta.App, a[0], errors.New("late")) {
		t.Fatal("the zombie's result counted")
	}
	if after := jobRowT(t, ta.App, id); after != before || after.status != jobRunning || after.worker != "worker-b" {
		t.Fatalf("zombie changed the row: %+v → %+v", before, after)
	}
	if !finishT(t, ta.App, b[0], nil) || jobRowT(t, ta.App, id).status != jobCompleted {
		t.Fatalf("the owner's result did not count: %+v", jobRowT(t, ta.App, id))
	}
	// A job that used its last attempt and whose lease expires fails.
	last := enqueueT(t, ta.App, JobSpec{Type: "mail", MaxAttempts: 1})
	claimT(t, ta.App, "worker-c", 1)
	clock.Advance(lease)
	if got := claimT(t, ta.App, "worker-d", 1); len(got) != 0 {
		t.Fatalf("exhausted job claimed again: %+v", got)
	}
	if r := jobRowT(t, ta.App, last); r.status != jobFailed || !strings.Contains(r.lastError, "lease expired") {
		t.Fatalf("exhausted job after lease: %+v", r)
	}
}

func TestJobAlwaysFailingRunsMaxAttemptsWithGrowingGaps(t *testing.T) {
	const attempts = 6
	ta, clock := newQueueApp(t, func(c *Config) {
		c.Jobs.MaxAttempts = attempts
		c.Jobs.BackoffBase = 10 * time.Second
		c.Jobs.BackoffMax = 2 * time.Minute
	})
	runs := 0
	var runTimes []time.Time
	ta.HandleJob("flaky", func(ctx context.Context, j *Job) error {
		runs++
		runTimes = append(runTimes, ta.Now())
		if j.Attempt != runs || j.MaxAttempts != attempts {
			t.Errorf("run %d sees attempt %d of %d", runs, j.Attempt, j.MaxAttempts)
		}
		return fmt.Errorf("smtp down (run %d)", runs)
	})
	id := enqueueT(t, ta.App, JobSpec{Type: "flaky"})
	r := ta.newJobRunner()
	for i := 1; i <= attempts; i++ {
		if n := drive(t, r); n != 1 {
			t.Fatalf("attempt %d: %d jobs ran", i, n)
		}
		row := jobRowT(t, ta.App, id)
		if i == attempts {
			if row.status != jobFailed || row.attempts != attempts || row.lastError != fmt.Sprintf("smtp down (run %d)", attempts) {
				t.Fatalf("after the last attempt: %+v", row)
			}
			break
		}
		gap := row.scheduledFor.Sub(ta.Now())
		want := min(10*time.Second<<(i-1), 2*time.Minute)
		if lo, hi := time.Duration(float64(want)*0.9), time.Duration(float64(want)*1.1); gap < lo-time.Millisecond || gap > hi {
			t.Fatalf("gap after attempt %d = %s, want %s ±10%%", i, gap, want)
		}
		// Not due a moment before its time; due at it.
		clock.Advance(gap - time.Millisecond)
		if n := drive(t, r); n != 0 {
			t.Fatalf("retry ran %s early", time.Millisecond)
		}
		clock.Advance(time.Millisecond)
	}
	clock.Advance(24 * time.Hour)
	if n := drive(t, r); n != 0 || runs != attempts {
		t.Fatalf("ran %d times (+%d after failing), want exactly %d", runs, n, attempts)
	}
	for i := 2; i < len(runTimes) && i < 4; i++ {
		if runTimes[i].Sub(runTimes[i-1]) <= runTimes[i-1].Sub(runTimes[i-2]) {
			t.Errorf("gaps do not grow: %v", runTimes)
		}
	}
	if !strings.Contains(ta.logs.String(), "job failed") {
		t.Error("failures were not logged")
	}
}

func TestJobBackoffBounds(t *testing.T) {
	base, max := time.Second, time.Minute
	for n := 1; n <= 40; n++ {
		lo, hi := jobBackoff(n, base, max, 0), jobBackoff(n, base, max, 0.999999)
		want := min(base<<min(n-1, 30), max)
		if lo != time.Duration(float64(want)*0.9) || hi > time.Duration(float64(want)*1.1) || hi < want {
			t.Fatalf("attempt %d: [%s, %s], want %s ±10%%", n, lo, hi, want)
		}
	}
}

func TestJobPermanentUnknownAndPanic(t *testing.T) {
	ta, _ := newQueueApp(t)
	ran := map[string]int{}
	ta.HandleJob("bounce", func(ctx context.Context, j *Job) error {
		ran["bounce"]++
		return Permanent(fmt.Errorf("550 no such mailbox"))
	})
	ta.HandleJob("boom", func(ctx context.Context, j *Job) error {
		ran["boom"]++
		panic("nil map")
	})
	bounce := enqueueT(t, ta.App, JobSpec{Type: "bounce"})
	unknown := enqueueT(t, ta.App, JobSpec{Type: "nobody.handles.this"})
	boom := enqueueT(t, ta.App, JobSpec{Type: "boom"})
	r := ta.newJobRunner()
	if n := drive(t, r); n != 3 {
		t.Fatalf("%d jobs ran", n)
	}
	if row := jobRowT(t, ta.App, bounce); row.status != jobFailed || row.lastError != "550 no such mailbox" || ran["bounce"] != 1 {
		t.Fatalf("permanent error: %+v, ran %d", row, ran["bounce"])
	}
	if row := jobRowT(t, ta.App, unknown); row.status != jobFailed || !strings.Contains(row.lastError, `no handler registered for job type "nobody.handles.this"`) {
		t.Fatalf("unknown type: %+v", row)
	}
	if row := jobRowT(t, ta.App, boom); row.status != jobPending || !strings.Contains(row.lastError, "panicked: nil map") {
		t.Fatalf("panic: %+v", row)
	}
	if !strings.Contains(ta.logs.String(), "job handler panicked") {
		t.Error("panic was not logged")
	}
	if Permanent(nil) != nil || !errors.Is(Permanent(ErrNotFound), ErrNotFound) {
		t.Error("Permanent must keep nil nil and wrap its error")
	}
}

func TestJobErrorTextIsCapped(t *testing.T) {
	long := errors.New(strings.Repeat("é", maxJobLastErrorBytes))
	s := jobErrorText(long)
	if len(s) > maxJobLastErrorBytes+64 || !strings.Contains(s, "truncated from") || !strings.HasPrefix(s, "é") || strings.Contains(s, "\xc3 ") {
		t.Fatalf("capped error text: %d bytes, tail %q", len(s), s[len(s)-40:])
	}
}

func TestJobRecurrent(t *testing.T) {
	ta, clock := newQueueApp(t, func(c *Config) { c.Jobs.MaxAttempts = 1 })
	fail := false
	runs := 0
	ta.HandleJob("report", func(ctx context.Context, j *Job) error {
		runs++
		if fail {
			return errors.New("disk full")
		}
		return nil
	})
	start := ta.Now()
	spec := JobSpec{Type: "report", Interval: time.Hour, UniqueKey: "every:report"}
	id := enqueueT(t, ta.App, spec)
	// A restart registers it again: still one job.
	if again, err := ta.Enqueue(context.Background(), nil, spec); !errors.Is(err, ErrJobExists) || again != id {
		t.Fatalf("second registration: %d, %v", again, err)
	}
	r := ta.newJobRunner()
	if drive(t, r) != 1 {
		t.Fatal("recurrent job did not run")
	}
	if row := jobRowT(t, ta.App, id); row.status != jobPending || row.attempts != 0 || !row.scheduledFor.Equal(start.Add(time.Hour)) {
		t.Fatalf("after run 1: %+v", row)
	}
	// Down for three and a half hours: one run, then back on the grid.
	clock.Advance(3*time.Hour + 30*time.Minute)
	if drive(t, r) != 1 || drive(t, r) != 0 {
		t.Fatal("missed runs were replayed")
	}
	if row := jobRowT(t, ta.App, id); !row.scheduledFor.Equal(start.Add(4 * time.Hour)) {
		t.Fatalf("next run %s, want %s", row.scheduledFor, start.Add(4*time.Hour))
	}
	// Exhausting its attempts keeps the schedule and shows the error.
	fail = true
	clock.Advance(30 * time.Minute)
	if drive(t, r) != 1 {
		t.Fatal("did not run")
	}
	if row := jobRowT(t, ta.App, id); row.status != jobPending || row.lastError != "disk full" || !row.scheduledFor.Equal(start.Add(5*time.Hour)) {
		t.Fatalf("after a failed run: %+v", row)
	}
	if runs != 3 {
		t.Fatalf("runs = %d", runs)
	}
}

func TestJobRetentionPurge(t *testing.T) {
	ta, clock := newQueueApp(t, func(c *Config) { c.Jobs.Concurrency = 8 })
	ta.HandleJob("ok", func(ctx context.Context, j *Job) error { return nil })
	ta.HandleJob("bad", func(ctx context.Context, j *Job) error { return Permanent(errors.New("no")) })
	for i := 0; i < 3; i++ {
		enqueueT(t, ta.App, JobSpec{Type: "ok"})
		enqueueT(t, ta.App, JobSpec{Type: "bad"})
	}
	live := enqueueT(t, ta.App, JobSpec{Type: "ok", At: ta.Now().Add(365 * 24 * time.Hour)})
	r := ta.newJobRunner()
	if drive(t, r) != 6 {
		t.Fatal("jobs did not run")
	}
	cfg := ta.Config().Jobs
	clock.Advance(cfg.RetainCompleted + time.Minute)
	drive(t, r)
	if c, f := countJobs(t, ta.App, "status = 'completed'"), countJobs(t, ta.App, "status = 'failed'"); c != 0 || f != 3 {
		t.Fatalf("after completed retention: %d completed, %d failed", c, f)
	}
	clock.Advance(cfg.RetainFailed)
	drive(t, r)
	if n := countJobs(t, ta.App, "1"); n != 1 || jobRowT(t, ta.App, live).status != jobPending {
		t.Fatalf("after failed retention: %d rows", n)
	}
}

// explain returns the EXPLAIN QUERY PLAN lines of q.
func explain(t *testing.T, a *App, q string, named map[string]any) string {
	t.Helper()
	var lines []string
	err := a.Write(context.Background(), func(conn *sqlite.Conn) error {
		return sqlitex.Execute(conn, "EXPLAIN QUERY PLAN "+q, &sqlitex.ExecOptions{Named: named,
			ResultFunc: func(s *sqlite.Stmt) error { lines = append(lines, s.ColumnText(3)); return nil }})
	})
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n")
}

func TestJobQueryPlans(t *testing.T) {
	ta, _ := newQueueApp(t)
	now := map[string]any{":now": int64(1)}
	for _, tc := range []struct {
		name, sql string
		named     map[string]any
		want      string
	}{
		{"claim", jobClaimSQL, map[string]any{":lease_end": 1, ":worker": "w", ":now": 1, ":n": 1}, "USING COVERING INDEX job_queue_due (priority=? AND scheduled_for<?)"},
		{"rescue fail", jobRescueFailSQL, now, "USING INDEX job_queue_lease (locked_until<?)"},
		{"rescue retry", jobRescueRetrySQL, now, "USING INDEX job_queue_lease (locked_until<?)"},
		{"purge", jobPurgeSQL, map[string]any{":status": "completed", ":cutoff": 1, ":n": 1}, "USING COVERING INDEX job_queue_finished (status=? AND finished_at>? AND finished_at<?)"},
		{"unique key", jobLiveKeySQL, map[string]any{":key": "k"}, "USING INDEX job_queue_live_key (unique_key=?)"},
	} {
		plan := explain(t, ta.App, tc.sql, tc.named)
		if !strings.Contains(plan, tc.want) || strings.Contains(plan, "TEMP B-TREE") || strings.Contains(plan, "SCAN job_queue") {
			t.Errorf("%s: plan\n%s\nwant a seek %q and no scan or sort", tc.name, plan, tc.want)
		}
	}
}

func TestJobPriorityOrder(t *testing.T) {
	ta, clock := newQueueApp(t)
	low := enqueueT(t, ta.App, JobSpec{Type: "a", Priority: -5})
	normal := enqueueT(t, ta.App, JobSpec{Type: "a"})
	clock.Advance(time.Second)
	urgent := enqueueT(t, ta.App, JobSpec{Type: "a", Priority: 5})
	enqueueT(t, ta.App, JobSpec{Type: "a", Priority: 5, At: ta.Now().Add(time.Hour)}) // not due
	var got []int64
	for {
		c := claimT(t, ta.App, "w", 1)
		if len(c) == 0 {
			break
		}
		got = append(got, c[0].ID)
	}
	if fmt.Sprint(got) != fmt.Sprint([]int64{urgent, normal, low}) {
		t.Fatalf("claim order %v, want %v", got, []int64{urgent, normal, low})
	}
}

// waitFor polls cond until it holds or 10 s pass: only for waiting on the
// real scheduler goroutine, whose timing the test does not drive.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestJobsThroughServe(t *testing.T) {
	// An hour between polls: only Enqueue's wake-up can start a job.
	ta := newTestApp(t, func(c *Config) { c.Jobs.PollInterval = time.Hour })
	got := make(chan string, 4)
	ta.HandleJob("greet", func(ctx context.Context, j *Job) error {
		var p struct{ Name string }
		if err := json.Unmarshal(j.Payload, &p); err != nil {
			return Permanent(err)
		}
		got <- "hello " + p.Name
		return nil
	})
	ta.serve()
	for _, name := range []string{"ada", "grace"} {
		id := enqueueT(t, ta.App, JobSpec{Type: "greet", Payload: map[string]string{"Name": name}})
		select {
		case s := <-got:
			if s != "hello "+name {
				t.Fatalf("handler got %q", s)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("job %d did not run: the wake-up was lost", id)
		}
		waitFor(t, "completion to be recorded", func() bool { return jobRowT(t, ta.App, id).status == jobCompleted })
	}
}

func TestJobsShutdownDrainsThenAbandons(t *testing.T) {
	ta := newTestApp(t, func(c *Config) { c.Server.ShutdownTimeout = 300 * time.Millisecond })
	started := make(chan int64, 2)
	release := make(chan struct{})
	ta.HandleJob("quick", func(ctx context.Context, j *Job) error {
		started <- j.ID
		<-release
		return nil
	})
	ta.HandleJob("stuck", func(ctx context.Context, j *Job) error {
		started <- j.ID
		<-ctx.Done()
		return ctx.Err()
	})
	quick := enqueueT(t, ta.App, JobSpec{Type: "quick"})
	stuck := enqueueT(t, ta.App, JobSpec{Type: "stuck"})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ta.Serve(ctx, ln) }()
	for i := 0; i < 2; i++ {
		select {
		case <-started:
		case <-time.After(10 * time.Second):
			t.Fatal("jobs did not start")
		}
	}
	cancel()
	close(release) // "quick" finishes during the drain
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	ad, err := OpenAdmin(Options{DB: filepath.Join(ta.dir, "app.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer ad.Close()
	jobs, err := ad.ListJobs(context.Background(), "", "", 10)
	if err != nil {
		t.Fatal(err)
	}
	status := map[int64]string{}
	for _, j := range jobs {
		status[j.ID] = j.Status
	}
	if status[quick] != jobCompleted || status[stuck] != jobRunning {
		t.Fatalf("after shutdown: quick %s (want completed), stuck %s (want running, left to its lease)", status[quick], status[stuck])
	}
}

func TestAdminJobs(t *testing.T) {
	ta, _ := newQueueApp(t)
	ad, err := OpenAdmin(Options{DB: filepath.Join(ta.dir, "app.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer ad.Close()
	ad.Now = ta.Now
	ctx := context.Background()
	id, err := ad.AddJob(ctx, JobSpec{Type: "mail", Payload: json.RawMessage(`{"to":"a@example.com"}`), UniqueKey: "k", MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ad.AddJob(ctx, JobSpec{Type: "mail", UniqueKey: "k"}); !errors.Is(err, ErrJobExists) {
		t.Fatalf("duplicate AddJob: %v", err)
	}
	if _, err := ad.AddJob(ctx, JobSpec{Type: "Bad Type"}); !errors.Is(err, ErrInvalidJob) {
		t.Fatalf("bad AddJob: %v", err)
	}
	if err := ad.RetryJob(ctx, id); err == nil || !strings.Contains(err.Error(), "only failed jobs") {
		t.Fatalf("retry of a pending job: %v", err)
	}
	c := claimT(t, ta.App, "w", 1)
	finishT(t, ta.App, c[0], errors.New("refused"))
	list, err := ad.ListJobs(ctx, "failed", "mail", 10)
	if err != nil || len(list) != 1 || list[0].ID != id || list[0].LastError != "refused" || list[0].Attempts != 1 ||
		string(list[0].Payload) != `{"to":"a@example.com"}` || list[0].FinishedAt.IsZero() || list[0].UniqueKey != "k" {
		t.Fatalf("ListJobs failed: %+v, %v", list, err)
	}
	if err := ad.RetryJob(ctx, id); err != nil {
		t.Fatal(err)
	}
	if row := jobRowT(t, ta.App, id); row.status != jobPending || row.attempts != 0 {
		t.Fatalf("after retry: %+v", row)
	}
	if err := ad.RetryJob(ctx, 999); !errors.Is(err, ErrNotFound) {
		t.Fatalf("retry of a missing job: %v", err)
	}
	if _, err := ad.ListJobs(ctx, "exploded", "", 10); !errors.Is(err, ErrInvalidJob) {
		t.Fatalf("bad status filter: %v", err)
	}
	if err := ad.RemoveJob(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := ad.RemoveJob(ctx, id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second remove: %v", err)
	}
	if list, _ := ad.ListJobs(ctx, "", "", 10); len(list) != 0 {
		t.Fatalf("jobs left: %+v", list)
	}
	var ids []int64
	for i := 0; i < 5; i++ {
		id, _ := ad.AddJob(ctx, JobSpec{Type: "mail"})
		ids = append(ids, id)
	}
	list, _ = ad.ListJobs(ctx, "", "", 3)
	sort.Slice(ids, func(i, j int) bool { return ids[i] > ids[j] })
	if len(list) != 3 || list[0].ID != ids[0] {
		t.Fatalf("limit/order: %+v", list)
	}
}
