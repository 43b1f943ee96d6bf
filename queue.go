package rip

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"regexp"
	"runtime/debug"
	"time"
	"unicode/utf8"

	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// The queue in one paragraph: jobs are rows of job_queue. [App.Enqueue]
// inserts one, inside the caller's write transaction when it has one, so
// a state change and the job it needs commit or roll back together. While
// [App.Serve] runs, one scheduler goroutine claims due jobs in batches
// with a single UPDATE … RETURNING that takes a lease (locked_until, a
// worker id, attempts+1), hands them to at most jobs.concurrency handler
// goroutines, and records their results in its next write transaction,
// guarded by the lease. Delivery is at least once: a job whose lease
// expires without a result (the process died) is claimed again, so
// handlers must be idempotent.

// Job is one unit of background work, as a handler sees it. Handlers get
// a copy; changing it changes nothing in the queue.
type Job struct {
	ID          int64
	Type        string
	Payload     []byte // JSON
	Attempt     int    // 1 on the first run
	MaxAttempts int
}

// JobFunc runs one job. Returning nil completes it; an error retries it
// with backoff until max attempts, unless it is [Permanent]. The context
// ends after jobs.timeout or when the server gives up draining at
// shutdown; a handler that ignores it may run again after its lease.
type JobFunc func(ctx context.Context, j *Job) error

// JobSpec describes a job to enqueue. Only Type is required.
type JobSpec struct {
	// Type names the handler registered with [App.HandleJob]. A job whose
	// type has no handler when it comes due fails at once (it is not
	// retried: nothing would handle the retry either).
	Type string
	// Payload is stored as JSON (encoding/json; a json.RawMessage is
	// taken as is). Nil stores {}. At most 64 KiB once encoded.
	Payload any
	// UniqueKey, when set, admits at most one live (pending or running)
	// job with this key: enqueueing another returns the live job's ID
	// with [ErrJobExists]. Finished jobs do not hold their key.
	UniqueKey string
	// Priority orders due jobs: higher first, from -5 to 5. Default 0.
	Priority int
	// At is when the job becomes due. Zero: now.
	At time.Time
	// Interval, when set, makes the job recurrent: after each run it is
	// due again at the next multiple of Interval after At (missed runs
	// are skipped, not replayed). A recurrent job that exhausts its
	// attempts or fails permanently keeps its schedule; its last error
	// stays visible in `ripc job list`. At least 1s.
	Interval time.Duration
	// MaxAttempts bounds the runs of a failing job; less than 1 means
	// jobs.max_attempts.
	MaxAttempts int
}

// JobRecord is one row of job_queue, as [Admin.ListJobs] reports it.
type JobRecord struct {
	ID           int64           `json:"id"`
	Type         string          `json:"type"`
	Payload      json.RawMessage `json:"payload"`
	Status       string          `json:"status"` // pending, running, completed or failed
	UniqueKey    string          `json:"unique_key,omitempty"`
	Priority     int             `json:"priority"`
	ScheduledFor time.Time       `json:"scheduled_for"`
	Interval     time.Duration   `json:"interval,omitempty"`
	Attempts     int             `json:"attempts"`
	MaxAttempts  int             `json:"max_attempts"`
	LockedUntil  time.Time       `json:"locked_until,omitzero"`
	WorkerID     string          `json:"worker_id,omitempty"`
	LastError    string          `json:"last_error,omitempty"`
	CreatedAt    time.Time       `json:"created_at"`
	UpdatedAt    time.Time       `json:"updated_at"`
	FinishedAt   time.Time       `json:"finished_at,omitzero"`
}

// Job states, as stored in job_queue.status. A job is live while
// pending or running.
const (
	jobPending   = "pending"
	jobRunning   = "running"
	jobCompleted = "completed"
	jobFailed    = "failed"
)

// Limits on what a job may carry. They bound the rows a hostile or buggy
// caller can make the scheduler read and a handler decode.
const (
	maxJobPayloadBytes   = 64 << 10 // 64 KiB of JSON
	maxJobUniqueKeyBytes = 256
	maxJobLastErrorBytes = 2 << 10 // 2 KiB of error text kept per job
	jobMaxAttemptsLimit  = 1000
	jobMinInterval       = time.Second
	jobPriorityMin       = -5
	jobPriorityMax       = 5
	jobPurgeBatch        = 1000 // finished rows deleted per scheduler round
	jobPurgeEvery        = time.Minute
)

var jobTypeRE = regexp.MustCompile(`^[a-z][a-z0-9_.-]{0,63}$`)

// HandleJob registers fn for jobs of type name. A duplicate name, a
// malformed one, or registration after Run panics.
func (a *App) HandleJob(name string, fn JobFunc) {
	a.mustNotBeStarted(fmt.Sprintf("HandleJob(%q)", name))
	if !jobTypeRE.MatchString(name) {
		panic(fmt.Sprintf("rip: job type %q must match %s", name, jobTypeRE))
	}
	if _, dup := a.jobs[name]; dup {
		panic(fmt.Sprintf("rip: duplicate job %q", name))
	}
	a.jobs[name] = fn
}

// Permanent marks err as not worth retrying: a handler returns
// Permanent(err) for a job that can never succeed (a 550 from the mail
// server, a payload it cannot decode), and the job fails at once with
// err as its last error. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &jobPermanentError{err}
}

type jobPermanentError struct{ err error }

func (e *jobPermanentError) Error() string { return e.err.Error() }
func (e *jobPermanentError) Unwrap() error { return e.err }

func jobIsPermanent(err error) bool {
	var p *jobPermanentError
	return errors.As(err, &p)
}

// Enqueue adds a job. With conn (the connection of an [App.Write]
// callback) the insert joins the caller's transaction, so the job exists
// exactly when the caller's change commits; with a nil conn Enqueue runs
// its own write, bounded by ctx. A spec that breaks a rule returns an
// error wrapping [ErrInvalidJob]; a live job holding spec.UniqueKey
// returns that job's ID and [ErrJobExists], leaving the transaction
// usable. Enqueue wakes the scheduler, so a due job starts without
// waiting for the next poll (jobs added while the caller's transaction
// is open are claimed once it commits).
func (a *App) Enqueue(ctx context.Context, conn *sqlite.Conn, spec JobSpec) (int64, error) {
	row, err := jobPrepare(spec, a.Now(), a.Config().Jobs.MaxAttempts)
	if err != nil {
		return 0, err
	}
	var id int64
	insert := func(conn *sqlite.Conn) (err error) {
		id, err = jobInsert(conn, row)
		return err
	}
	if conn != nil {
		err = insert(conn)
	} else {
		err = a.Write(ctx, insert)
	}
	if err == nil {
		a.jobWakeUp()
	}
	return id, err
}

// jobWakeUp tells the scheduler, if it waits, to look for due jobs now.
// The channel holds one token: wake-ups that arrive while one is pending
// merge, and Enqueue never blocks.
func (a *App) jobWakeUp() {
	select {
	case a.jobWake <- struct{}{}:
	default:
	}
}

// jobRow is a validated JobSpec in column form.
type jobRow struct {
	typ         string
	payload     string
	uniqueKey   any // nil or string
	priority    int
	at          int64 // unix ms
	intervalMS  int64
	maxAttempts int
	now         int64
}

// jobPrepare validates spec and turns it into column values.
//
// # Security
//
// Every field that reaches job_queue is checked here, for App.Enqueue and
// `ripc job add` alike: the type against the handler-name pattern, the
// payload encoded as JSON and capped at 64 KiB, the unique key capped and
// valid UTF-8, priority, attempts and interval within bounds (no negative
// or sub-second interval that would spin the scheduler).
func jobPrepare(spec JobSpec, now time.Time, defaultMax int) (jobRow, error) {
	bad := func(format string, args ...any) (jobRow, error) {
		return jobRow{}, fmt.Errorf("%w: %s", ErrInvalidJob, fmt.Sprintf(format, args...))
	}
	if !jobTypeRE.MatchString(spec.Type) {
		return bad("type %q must match %s", spec.Type, jobTypeRE)
	}
	payload := []byte("{}")
	if spec.Payload != nil {
		var err error
		if payload, err = json.Marshal(spec.Payload); err != nil {
			return bad("payload: %v", err)
		}
	}
	if len(payload) > maxJobPayloadBytes {
		return bad("payload is %d bytes of JSON; the limit is %d", len(payload), maxJobPayloadBytes)
	}
	var key any
	if spec.UniqueKey != "" {
		if len(spec.UniqueKey) > maxJobUniqueKeyBytes || !utf8.ValidString(spec.UniqueKey) {
			return bad("unique key must be valid UTF-8 of at most %d bytes", maxJobUniqueKeyBytes)
		}
		key = spec.UniqueKey
	}
	if spec.Priority < jobPriorityMin || spec.Priority > jobPriorityMax {
		return bad("priority must be between %d and %d, got %d", jobPriorityMin, jobPriorityMax, spec.Priority)
	}
	if spec.Interval < 0 || (spec.Interval > 0 && spec.Interval < jobMinInterval) {
		return bad("interval must be 0 (one-off) or at least %s, got %s", jobMinInterval, spec.Interval)
	}
	maxAttempts := spec.MaxAttempts
	if maxAttempts < 1 {
		maxAttempts = defaultMax
	}
	if maxAttempts > jobMaxAttemptsLimit {
		return bad("max attempts must be at most %d, got %d", jobMaxAttemptsLimit, maxAttempts)
	}
	at := spec.At
	if at.IsZero() {
		at = now
	}
	return jobRow{
		typ: spec.Type, payload: string(payload), uniqueKey: key, priority: spec.Priority,
		at: at.UnixMilli(), intervalMS: spec.Interval.Milliseconds(), maxAttempts: maxAttempts, now: now.UnixMilli(),
	}, nil
}

const (
	jobInsertSQL = `INSERT INTO job_queue
    (type, payload, unique_key, priority, scheduled_for, grid_at, interval_ms, max_attempts, created_at, updated_at)
VALUES (:type, :payload, :key, :priority, :at, :at, :interval, :max, :now, :now)
ON CONFLICT DO NOTHING
RETURNING id`
	jobLiveKeySQL = `SELECT id FROM job_queue
WHERE unique_key = :key AND status IN ('pending', 'running')`
)

// jobInsert inserts row; a live job with the same unique key makes it a
// no-op that returns that job's ID and ErrJobExists.
func jobInsert(conn *sqlite.Conn, r jobRow) (int64, error) {
	var id int64
	err := sqlitex.Execute(conn, jobInsertSQL, &sqlitex.ExecOptions{
		Named: map[string]any{":type": r.typ, ":payload": r.payload, ":key": r.uniqueKey, ":priority": r.priority,
			":at": r.at, ":interval": r.intervalMS, ":max": r.maxAttempts, ":now": r.now},
		ResultFunc: func(s *sqlite.Stmt) error { id = s.ColumnInt64(0); return nil },
	})
	if err != nil || id != 0 {
		if err != nil {
			err = fmt.Errorf("enqueue job: %w", err)
		}
		return id, err
	}
	err = sqlitex.Execute(conn, jobLiveKeySQL, &sqlitex.ExecOptions{
		Named:      map[string]any{":key": r.uniqueKey},
		ResultFunc: func(s *sqlite.Stmt) error { id = s.ColumnInt64(0); return nil },
	})
	if err != nil {
		return 0, fmt.Errorf("enqueue job: %w", err)
	}
	return id, fmt.Errorf("%w: unique key %q is held by job %d", ErrJobExists, r.uniqueKey, id)
}

// jobClaim is a claimed job with what recording its result needs.
type jobClaim struct {
	Job
	worker       string
	intervalMS   int64
	scheduledFor int64 // unix ms
	// gridAt is the recurrent schedule's current grid point (unix ms): a
	// retry moves scheduledFor but not the grid, so later runs stay on
	// At + k·Interval. 0 in rows enqueued before the column existed.
	gridAt int64
}

// The claim statement. The IN list over every priority level lets SQLite
// do one index seek per level in claim order (no sort of the due rows),
// so claiming stays O(log n) however many jobs wait; TestJobClaimPlan
// pins the plan.
// jobClaimSQL claims due jobs; its LIMIT is filled in with the number of
// free slots by jobClaimQuery. The count is written into the text rather
// than bound: SQLite marks a bound LIMIT as plan-relevant and re-prepares
// the statement on every bind (about 170 µs here, against 13 µs for a
// cached statement), and n takes at most jobs.concurrency (≤ 256) values,
// so the connection caches at most that many texts.
const jobClaimSQL = `UPDATE job_queue
SET status = 'running', attempts = attempts + 1, locked_until = :lease_end,
    worker_id = :worker, updated_at = :now
WHERE id IN (
    SELECT id FROM job_queue
    WHERE status = 'pending' AND priority IN (5, 4, 3, 2, 1, 0, -1, -2, -3, -4, -5)
      AND scheduled_for <= :now
    ORDER BY priority DESC, scheduled_for, id
    LIMIT %d)
RETURNING id, type, payload, attempts, max_attempts, interval_ms, scheduled_for, grid_at`

// jobClaimDue claims up to n due jobs for worker with a lease until
// now+lease, after returning expired leases to the queue. The caller
// holds the write transaction.
//
// # Security
//
// Claiming is one UPDATE … RETURNING inside BEGIN IMMEDIATE, so two
// schedulers (two processes on one file) can never claim the same job;
// each claim increments attempts, which with the worker id fences every
// later write about this run (see jobFinish).
func jobClaimDue(conn *sqlite.Conn, now time.Time, worker string, n int, lease time.Duration) ([]*jobClaim, error) {
	if err := jobRescue(conn, now); err != nil {
		return nil, err
	}
	var out []*jobClaim
	err := sqlitex.Execute(conn, fmt.Sprintf(jobClaimSQL, max(n, 0)), &sqlitex.ExecOptions{
		Named: map[string]any{":lease_end": now.Add(lease).UnixMilli(), ":worker": worker, ":now": now.UnixMilli()},
		ResultFunc: func(s *sqlite.Stmt) error {
			c := &jobClaim{worker: worker, intervalMS: s.ColumnInt64(5), scheduledFor: s.ColumnInt64(6), gridAt: s.ColumnInt64(7)}
			c.ID, c.Type, c.Attempt, c.MaxAttempts = s.ColumnInt64(0), s.ColumnText(1), s.ColumnInt(3), s.ColumnInt(4)
			c.Payload = []byte(s.ColumnText(2))
			out = append(out, c)
			return nil
		},
	})
	if err != nil {
		return nil, fmt.Errorf("claim jobs: %w", err)
	}
	return out, nil
}

// Expired leases: a one-off job that used its last attempt fails; any
// other goes back to pending (a recurrent one that used its last attempt
// starts over at its next interval).
const (
	jobRescueFailSQL = `UPDATE job_queue
SET status = 'failed', finished_at = :now, updated_at = :now, worker_id = '', locked_until = 0,
    last_error = 'rip: lease expired without a result on attempt ' || attempts || ' of ' || max_attempts ||
                 ' (worker ' || worker_id || ' stopped, or its handler overran jobs.lease)'
WHERE status = 'running' AND locked_until <= :now AND attempts >= max_attempts AND interval_ms = 0`
	jobRescueRetrySQL = `UPDATE job_queue
SET status = 'pending', updated_at = :now, worker_id = '', locked_until = 0,
    last_error = 'rip: lease expired without a result on attempt ' || attempts || ' of ' || max_attempts ||
                 ' (worker ' || worker_id || ' stopped, or its handler overran jobs.lease)',
    -- a recurrent job out of attempts waits for its next grid point (jobNextRun)
    scheduled_for = CASE WHEN attempts >= max_attempts THEN
        (CASE grid_at WHEN 0 THEN scheduled_for ELSE grid_at END) +
        ((:now - (CASE grid_at WHEN 0 THEN scheduled_for ELSE grid_at END)) / interval_ms + 1) * interval_ms
        ELSE :now END,
    attempts = CASE WHEN attempts >= max_attempts THEN 0 ELSE attempts END
WHERE status = 'running' AND locked_until <= :now`
)

// jobRescue returns jobs whose lease expired to the queue: the
// at-least-once half of the lease. The partial index on running jobs
// makes it a seek when nothing expired.
func jobRescue(conn *sqlite.Conn, now time.Time) error {
	args := map[string]any{":now": now.UnixMilli()}
	for _, q := range []string{jobRescueFailSQL, jobRescueRetrySQL} {
		if err := sqlitex.Execute(conn, q, &sqlitex.ExecOptions{Named: args}); err != nil {
			return fmt.Errorf("rescue expired jobs: %w", err)
		}
	}
	return nil
}

// jobUpdate is the new state of a job after one run.
type jobUpdate struct {
	status       string
	scheduledFor int64
	gridAt       int64
	attempts     int
	lastError    string
	finished     bool
}

// jobOutcome decides what a run's result means: complete, retry after a
// backoff, fail for good, or (recurrent) schedule the next interval.
// jitter is a number in [0, 1).
func jobOutcome(c *jobClaim, runErr error, now time.Time, cfg JobsConfig, jitter float64) jobUpdate {
	nowMS := now.UnixMilli()
	grid := c.gridAt
	if grid == 0 {
		grid = c.scheduledFor
	}
	next := func(u jobUpdate) jobUpdate { // the recurrent job's next grid point
		u.status, u.scheduledFor = jobPending, jobNextRun(grid, c.intervalMS, nowMS)
		u.gridAt = u.scheduledFor
		return u
	}
	if runErr == nil {
		if c.intervalMS > 0 {
			return next(jobUpdate{})
		}
		return jobUpdate{status: jobCompleted, scheduledFor: c.scheduledFor, gridAt: grid, attempts: c.Attempt, finished: true}
	}
	msg := jobErrorText(runErr)
	if !jobIsPermanent(runErr) && c.Attempt < c.MaxAttempts {
		delay := jobBackoff(c.Attempt, cfg.BackoffBase, cfg.BackoffMax, jitter)
		return jobUpdate{status: jobPending, scheduledFor: nowMS + delay.Milliseconds(), gridAt: grid, attempts: c.Attempt, lastError: msg}
	}
	if c.intervalMS > 0 {
		return next(jobUpdate{lastError: msg})
	}
	return jobUpdate{status: jobFailed, scheduledFor: c.scheduledFor, gridAt: grid, attempts: c.Attempt, lastError: msg, finished: true}
}

// jobNextRun is the first due time after now on the grid sched + k·every,
// so a recurrent job keeps its phase and skips the runs it missed.
func jobNextRun(sched, every, now int64) int64 {
	if sched > now {
		return sched + every
	}
	return sched + ((now-sched)/every+1)*every
}

// jobBackoff is the delay after failed attempt n (1-based): base·2^(n-1)
// capped at max, times a jitter factor in [0.9, 1.1) so that jobs that
// failed together do not retry together.
func jobBackoff(n int, base, max time.Duration, jitter float64) time.Duration {
	d := base
	for i := 1; i < n && d < max; i++ {
		d *= 2
	}
	d = min(d, max)
	return time.Duration(float64(d) * (0.9 + 0.2*jitter))
}

// jobErrorText is err's text capped at maxJobLastErrorBytes, saying so
// when it was cut.
func jobErrorText(err error) string {
	s := err.Error()
	if len(s) <= maxJobLastErrorBytes {
		return s
	}
	cut := maxJobLastErrorBytes
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s … (truncated from %d bytes)", s[:cut], len(s))
}

const jobFinishSQL = `UPDATE job_queue
SET status = :status, scheduled_for = :scheduled_for, grid_at = :grid_at, attempts = :attempts, last_error = :last_error,
    finished_at = :finished_at, worker_id = '', locked_until = 0, updated_at = :now
WHERE id = :id AND worker_id = :worker AND attempts = :claimed_attempts AND status = 'running'`

// jobFinish records the result of one run and reports whether it
// counted.
//
// # Security
//
// The update applies only while the row is still this run's: same
// worker id, same attempt number, still running. A worker that lost its
// lease (it stalled past jobs.lease, the job was rescued and perhaps
// claimed again, or removed by ripc) changes nothing, so a zombie can
// neither complete nor fail a job another worker now owns.
func jobFinish(conn *sqlite.Conn, c *jobClaim, u jobUpdate, now time.Time) (bool, error) {
	var finished any
	if u.finished {
		finished = now.UnixMilli()
	}
	err := sqlitex.Execute(conn, jobFinishSQL, &sqlitex.ExecOptions{Named: map[string]any{
		":status": u.status, ":scheduled_for": u.scheduledFor, ":grid_at": u.gridAt, ":attempts": u.attempts, ":last_error": u.lastError,
		":finished_at": finished, ":now": now.UnixMilli(), ":id": c.ID, ":worker": c.worker, ":claimed_attempts": c.Attempt,
	}})
	if err != nil {
		return false, fmt.Errorf("record job %d: %w", c.ID, err)
	}
	return conn.Changes() == 1, nil
}

const jobPurgeSQL = `DELETE FROM job_queue WHERE id IN (
    SELECT id FROM job_queue
    WHERE finished_at IS NOT NULL AND status = :status AND finished_at <= :cutoff
    LIMIT :n)`

// jobPurge deletes up to jobPurgeBatch completed and as many failed jobs
// that finished longer ago than their retention; a backlog goes over a
// few rounds so no write transaction grows long.
func jobPurge(conn *sqlite.Conn, now time.Time, cfg JobsConfig) (int, error) {
	n := 0
	for _, p := range []struct {
		status string
		keep   time.Duration
	}{{jobCompleted, cfg.RetainCompleted}, {jobFailed, cfg.RetainFailed}} {
		err := sqlitex.Execute(conn, jobPurgeSQL, &sqlitex.ExecOptions{Named: map[string]any{
			":status": p.status, ":cutoff": now.Add(-p.keep).UnixMilli(), ":n": jobPurgeBatch}})
		if err != nil {
			return n, fmt.Errorf("purge jobs: %w", err)
		}
		n += conn.Changes()
	}
	return n, nil
}

// jobResult is a finished handler run on its way to the database.
type jobResult struct {
	claim *jobClaim
	err   error
}

// jobRunner is the scheduler and executor of one [App.Serve]. One loop
// goroutine does all database work (claims, results, purges); handlers run
// in at most jobs.concurrency goroutines that only compute and send their
// result back on a channel with room for all of them, so a handler never
// blocks and never touches the database. A round records every waiting
// result and claims as many jobs as there are free slots in one write
// transaction, which is what lets the queue go faster than one commit
// per job.
type jobRunner struct {
	app       *App
	worker    string // host:pid:random, recorded as worker_id
	slots     int
	running   int // handlers in flight; loop goroutine only
	results   chan jobResult
	lastPurge time.Time

	jobCtx  context.Context // parent of every handler context
	stopCtx context.CancelFunc
	// roundCtx bounds the scheduler's own writes; shutdown cancels it
	// when its deadline passes, so a writer connection held by a handler
	// that ignores its context cannot keep the loop waiting one write
	// timeout per round.
	roundCtx     context.Context
	cancelRounds context.CancelFunc
	stop         chan struct{} // closed: stop claiming, drain
	abandon      chan struct{} // closed: stop waiting for handlers
	exited       chan struct{} // closed when the loop returns
}

func (a *App) newJobRunner() *jobRunner {
	slots := a.boot.Jobs.Concurrency
	host, _ := os.Hostname()
	var b [4]byte
	rand.Read(b[:])
	ctx, cancel := context.WithCancel(context.Background())
	rctx, rcancel := context.WithCancel(context.Background())
	return &jobRunner{
		app: a, worker: fmt.Sprintf("%s:%d:%s", host, os.Getpid(), hex.EncodeToString(b[:])),
		slots: slots, results: make(chan jobResult, slots),
		jobCtx: ctx, stopCtx: cancel, roundCtx: rctx, cancelRounds: rcancel,
		stop: make(chan struct{}), abandon: make(chan struct{}), exited: make(chan struct{}),
	}
}

// startJobs starts the scheduler loop; Serve calls it. Stop it with
// [jobRunner.shutdown].
func (a *App) startJobs() *jobRunner {
	r := a.newJobRunner()
	go r.loop()
	return r
}

// shutdown stops claiming and waits for handlers in flight, recording
// their results, until they finish or ctx ends. Handlers still running
// then have their context cancelled and their results dropped: their
// leases expire and the jobs run again, which is the at-least-once
// contract (a job is never marked done because the process was leaving).
func (r *jobRunner) shutdown(ctx context.Context) {
	close(r.stop)
	select {
	case <-r.exited:
	case <-ctx.Done():
		r.cancelRounds()
		close(r.abandon)
		<-r.exited
	}
	r.cancelRounds()
}

// loop runs rounds until shutdown, then drains: after stop it claims
// nothing and records results until no handler runs or abandon closes.
func (r *jobRunner) loop() {
	a := r.app
	defer close(r.exited)
	defer r.stopCtx()
	poll := a.Config().Jobs.PollInterval
	tick := time.NewTicker(poll)
	defer tick.Stop()
	var done []jobResult
	claiming, stop, abandon := true, r.stop, chan struct{}(nil)
	for {
		if p := a.Config().Jobs.PollInterval; p != poll {
			poll = p
			tick.Reset(p)
		}
		claimed, err := r.round(done, claiming)
		if err != nil {
			a.Logger.Error("rip: job scheduler round failed; retrying at the next poll", "err", err, "results_waiting", len(done))
		} else {
			done = done[:0]
			for _, c := range claimed {
				r.start(c)
			}
		}
		if !claiming && r.running == 0 && len(done) == 0 {
			return
		}
		select {
		case <-stop:
			claiming, stop, abandon = false, nil, r.abandon
			a.Logger.Info("rip: job scheduler stopped claiming; waiting for running jobs", "running", r.running)
		case <-abandon:
			a.Logger.Warn("rip: shutdown timeout with jobs still running; they run again after their lease", "running", r.running)
			return
		case <-a.jobWake:
		case <-tick.C:
		case res := <-r.results:
			done = r.collect(append(done, res))
		}
	}
}

// collect adds every result already waiting to done without blocking.
func (r *jobRunner) collect(done []jobResult) []jobResult {
	for {
		select {
		case res := <-r.results:
			done = append(done, res)
		default:
			return done
		}
	}
}

// round records done, purges when due, and claims up to the free slots,
// all in one write transaction. The results' slots count as free: the
// handlers have returned.
func (r *jobRunner) round(done []jobResult, claim bool) ([]*jobClaim, error) {
	a := r.app
	now := a.Now()
	cfg := a.Config().Jobs
	free := r.slots - r.running + len(done)
	purge := claim && now.Sub(r.lastPurge) >= jobPurgeEvery
	if len(done) == 0 && !purge && (!claim || free == 0) {
		return nil, nil
	}
	var claimed []*jobClaim
	var lost []int64
	purged, completed, failed := 0, 0, 0
	err := a.Write(r.roundCtx, func(conn *sqlite.Conn) error {
		lost = lost[:0]
		completed, failed = 0, 0
		for _, d := range done {
			ok, err := jobFinish(conn, d.claim, jobOutcome(d.claim, d.err, now, cfg, mrand.Float64()), now)
			if err != nil {
				return err
			}
			switch {
			case !ok:
				lost = append(lost, d.claim.ID)
			case d.err != nil:
				failed++
			default:
				completed++
			}
		}
		if purge {
			var err error
			if purged, err = jobPurge(conn, now, cfg); err != nil {
				return err
			}
		}
		if claim && free > 0 {
			var err error
			claimed, err = jobClaimDue(conn, now, r.worker, free, cfg.Lease)
			return err
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	r.running -= len(done)
	for range completed {
		a.metrics.jobFinished(false)
	}
	for range failed {
		a.metrics.jobFinished(true)
	}
	for _, d := range done {
		r.logResult(d)
	}
	if len(lost) > 0 {
		a.Logger.Warn("rip: job results discarded: the lease was lost (expired and rescued, or the job was removed)", "jobs", lost)
	}
	if purge {
		r.lastPurge = now
		if purged > 0 {
			a.Logger.Info("rip: purged finished jobs past retention", "count", purged)
		}
	}
	return claimed, nil
}

// logResult logs a failed run; successes are too frequent to log.
func (r *jobRunner) logResult(d jobResult) {
	if d.err == nil {
		return
	}
	c := d.claim
	r.app.Logger.Warn("rip: job failed", "job", c.ID, "type", c.Type, "attempt", c.Attempt,
		"max_attempts", c.MaxAttempts, "permanent", jobIsPermanent(d.err), "err", d.err)
}

// start runs one claimed job in its own goroutine.
func (r *jobRunner) start(c *jobClaim) {
	r.running++
	go func() { r.results <- jobResult{claim: c, err: r.app.runJob(r.jobCtx, c)} }()
}

// runJob runs the handler of c with the jobs.timeout deadline. A missing
// handler is a permanent failure; a panic is an ordinary one (retried),
// logged with its stack.
func (a *App) runJob(ctx context.Context, c *jobClaim) (err error) {
	fn := a.jobs[c.Type]
	if fn == nil {
		return Permanent(fmt.Errorf("rip: no handler registered for job type %q", c.Type))
	}
	ctx, cancel := context.WithTimeout(ctx, a.Config().Jobs.Timeout)
	defer cancel()
	defer func() {
		if p := recover(); p != nil {
			a.Logger.Error("rip: job handler panicked", "job", c.ID, "type", c.Type, "panic", p, "stack", string(debug.Stack()))
			err = fmt.Errorf("rip: job handler panicked: %v", p)
		}
	}()
	j := c.Job
	return fn(ctx, &j)
}

// Admin side: what ripc's job commands run.

const jobListSQL = `SELECT id, type, payload, status, coalesce(unique_key, ''), priority, scheduled_for,
    interval_ms, attempts, max_attempts, locked_until, worker_id, last_error, created_at, updated_at,
    coalesce(finished_at, 0)
FROM job_queue
WHERE (:status = '' OR status = :status) AND (:type = '' OR type = :type)
ORDER BY id DESC
LIMIT :limit`

// ListJobs returns up to limit jobs, newest first, optionally only those
// with status and of jobType ("" = any).
func (ad *Admin) ListJobs(ctx context.Context, status, jobType string, limit int) ([]JobRecord, error) {
	switch status {
	case "", jobPending, jobRunning, jobCompleted, jobFailed:
	default:
		return nil, fmt.Errorf("%w: status must be pending, running, completed or failed, got %q", ErrInvalidJob, status)
	}
	if limit < 1 {
		return nil, fmt.Errorf("%w: limit must be positive, got %d", ErrInvalidJob, limit)
	}
	ms := func(v int64) time.Time {
		if v == 0 {
			return time.Time{}
		}
		return time.UnixMilli(v).UTC()
	}
	var out []JobRecord
	err := ad.dbs.app.Read(ctx, 30*time.Second, func(conn *sqlite.Conn) error {
		return sqlitex.Execute(conn, jobListSQL, &sqlitex.ExecOptions{
			Named: map[string]any{":status": status, ":type": jobType, ":limit": limit},
			ResultFunc: func(s *sqlite.Stmt) error {
				out = append(out, JobRecord{
					ID: s.ColumnInt64(0), Type: s.ColumnText(1), Payload: json.RawMessage(s.ColumnText(2)),
					Status: s.ColumnText(3), UniqueKey: s.ColumnText(4), Priority: s.ColumnInt(5),
					ScheduledFor: ms(s.ColumnInt64(6)), Interval: time.Duration(s.ColumnInt64(7)) * time.Millisecond,
					Attempts: s.ColumnInt(8), MaxAttempts: s.ColumnInt(9), LockedUntil: ms(s.ColumnInt64(10)),
					WorkerID: s.ColumnText(11), LastError: s.ColumnText(12), CreatedAt: ms(s.ColumnInt64(13)),
					UpdatedAt: ms(s.ColumnInt64(14)), FinishedAt: ms(s.ColumnInt64(15)),
				})
				return nil
			},
		})
	})
	return out, err
}

// AddJob enqueues spec as [App.Enqueue] does, with jobs.max_attempts from
// the stored configuration. A running server picks it up at its next
// poll (another process cannot wake it).
func (ad *Admin) AddJob(ctx context.Context, spec JobSpec) (int64, error) {
	maxAttempts := DefaultConfig().Jobs.MaxAttempts
	if cfg, _, err := ad.EffectiveConfig(ctx, 0); err == nil {
		maxAttempts = cfg.Jobs.MaxAttempts
	}
	row, err := jobPrepare(spec, ad.Now(), maxAttempts)
	if err != nil {
		return 0, err
	}
	var id int64
	err = ad.dbs.app.Write(ctx, 30*time.Second, func(conn *sqlite.Conn) (err error) {
		id, err = jobInsert(conn, row)
		return err
	})
	return id, err
}

// RemoveJob deletes job id whatever its status. A running job's handler
// may still finish; its result then changes nothing.
func (ad *Admin) RemoveJob(ctx context.Context, id int64) error {
	return ad.dbs.app.Write(ctx, 30*time.Second, func(conn *sqlite.Conn) error {
		err := sqlitex.Execute(conn, "DELETE FROM job_queue WHERE id = ?", &sqlitex.ExecOptions{Args: []any{id}})
		if err == nil && conn.Changes() == 0 {
			err = fmt.Errorf("%w: job %d", ErrNotFound, id)
		}
		return err
	})
}

const jobRetrySQL = `UPDATE job_queue
SET status = 'pending', attempts = 0, scheduled_for = :now, finished_at = NULL, updated_at = :now
WHERE id = :id AND status = 'failed'`

// RetryJob puts failed job id back in the queue, due now, with its
// attempts reset; its last error stays until the next run. Only failed
// jobs can be retried; one whose unique key a live job now holds cannot.
func (ad *Admin) RetryJob(ctx context.Context, id int64) error {
	return ad.dbs.app.Write(ctx, 30*time.Second, func(conn *sqlite.Conn) error {
		err := sqlitex.Execute(conn, jobRetrySQL, &sqlitex.ExecOptions{Named: map[string]any{":id": id, ":now": ad.Now().UnixMilli()}})
		if sqlite.ErrCode(err) == sqlite.ResultConstraintUnique {
			return fmt.Errorf("%w: job %d: a live job holds its unique key", ErrJobExists, id)
		}
		if err != nil || conn.Changes() == 1 {
			return err
		}
		status := ""
		err = sqlitex.Execute(conn, "SELECT status FROM job_queue WHERE id = ?", &sqlitex.ExecOptions{
			Args: []any{id}, ResultFunc: func(s *sqlite.Stmt) error { status = s.ColumnText(0); return nil }})
		switch {
		case err != nil:
			return err
		case status == "":
			return fmt.Errorf("%w: job %d", ErrNotFound, id)
		default:
			return fmt.Errorf("rip: job %d is %s; only failed jobs can be retried", id, status)
		}
	})
}

const jobQueueStatsSQL = `SELECT
    (SELECT count(*) FROM job_queue WHERE status = 'pending' AND scheduled_for <= :now) +
    (SELECT count(*) FROM job_queue WHERE status = 'running'),
    (SELECT min(scheduled_for) FROM job_queue WHERE status = 'pending' AND scheduled_for <= :now)`

// jobQueueStats reports, at metrics scrape time, the jobs that are due
// or running and how long the oldest due job has waited, in seconds.
// A database that does not answer within a second reports -1 and 0.
func (a *App) jobQueueStats() (depth int64, oldestDueAgeSeconds float64) {
	now := a.Now().UnixMilli()
	depth = -1
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	a.Read(ctx, func(conn *sqlite.Conn) error {
		return sqlitex.Execute(conn, jobQueueStatsSQL, &sqlitex.ExecOptions{
			Named: map[string]any{":now": now},
			ResultFunc: func(s *sqlite.Stmt) error {
				depth = s.ColumnInt64(0)
				if s.ColumnType(1) != sqlite.TypeNull {
					oldestDueAgeSeconds = float64(now-s.ColumnInt64(1)) / 1000
				}
				return nil
			}})
	})
	return depth, oldestDueAgeSeconds
}
