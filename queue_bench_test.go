package rip

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// benchQueueApp opens a fresh app with jobs.concurrency = slots.
func benchQueueApp(b *testing.B, slots int) *App {
	b.Helper()
	dir := b.TempDir()
	ad, err := OpenAdmin(Options{DB: filepath.Join(dir, "app.db"), Create: true})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := ad.InitConfig(context.Background()); err != nil {
		b.Fatal(err)
	}
	if _, err := ad.SetConfigKey(context.Background(), "jobs.concurrency", fmt.Sprint(slots), "bench"); err != nil {
		b.Fatal(err)
	}
	ad.Close()
	a, err := New(Options{DB: filepath.Join(dir, "app.db"), Logger: discardLogger()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { a.Close() })
	return a
}

// benchFillQueue inserts n due pending jobs of type typ in one statement.
func benchFillQueue(b *testing.B, a *App, n int, typ string) {
	b.Helper()
	const fill = `WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < :n)
INSERT INTO job_queue (type, payload, scheduled_for, max_attempts, created_at, updated_at)
SELECT :type, '{}', :now - :n + x, 5, :now, :now FROM c`
	now := a.Now().UnixMilli()
	err := a.dbs.app.Write(context.Background(), 10*time.Minute, func(conn *sqlite.Conn) error {
		return sqlitex.Execute(conn, fill, &sqlitex.ExecOptions{Named: map[string]any{":n": n, ":type": typ, ":now": now}})
	})
	if err != nil {
		b.Fatal(err)
	}
}

// BenchmarkJobThroughput measures jobs claimed, run (no-op handler) and
// recorded as completed per second by the real scheduler loop, with
// app.db at synchronous=FULL. The clock runs from starting the scheduler
// to its drained shutdown, so every job's completion is committed.
//
//	go test -run '^$' -bench JobThroughput -benchtime=20000x .
func BenchmarkJobThroughput(b *testing.B) {
	for _, slots := range []int{4, 16, 64} {
		b.Run(fmt.Sprintf("concurrency=%d", slots), func(b *testing.B) {
			a := benchQueueApp(b, slots)
			var ran atomic.Int64
			all := make(chan struct{})
			n := int64(b.N)
			a.HandleJob("noop", func(ctx context.Context, j *Job) error {
				if ran.Add(1) == n {
					close(all)
				}
				return nil
			})
			benchFillQueue(b, a, b.N, "noop")
			b.ResetTimer()
			start := time.Now()
			r := a.startJobs()
			<-all
			r.shutdown(context.Background())
			elapsed := time.Since(start)
			b.StopTimer()
			var completed int
			a.Read(context.Background(), func(conn *sqlite.Conn) error {
				return sqlitex.Execute(conn, "SELECT count(*) FROM job_queue WHERE status = 'completed'", &sqlitex.ExecOptions{
					ResultFunc: func(s *sqlite.Stmt) error { completed = s.ColumnInt(0); return nil }})
			})
			if completed != b.N {
				b.Fatalf("%d of %d jobs completed", completed, b.N)
			}
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "jobs/s")
		})
	}
}

// BenchmarkJobClaimLatency measures claiming one job with the queue
// holding 1,000 and 1,000,000 due pending jobs: "commit" is a whole write
// transaction per claim (what the scheduler pays, fsync included), "stmt"
// is the claim statement alone, b.N of them inside one transaction, which
// isolates the index work. With the seek-per-priority claim both should
// cost about the same at either size. The 1M cases (about 10 s to build
// each) are skipped under -short.
//
//	go test -run '^$' -bench JobClaimLatency -benchtime=2000x .
func BenchmarkJobClaimLatency(b *testing.B) {
	for _, rows := range []int{1_000, 1_000_000} {
		for _, mode := range []string{"commit", "stmt"} {
			b.Run(fmt.Sprintf("pending=%d/%s", rows, mode), func(b *testing.B) {
				if rows > 1_000 && testing.Short() {
					b.Skip("1M rows: skipped under -short")
				}
				a := benchQueueApp(b, 4)
				benchFillQueue(b, a, rows+b.N, "noop")
				lease := a.Config().Jobs.Lease
				claimOne := func(conn *sqlite.Conn) error {
					c, err := jobClaimDue(conn, a.Now(), "bench", 1, lease)
					if err == nil && len(c) != 1 {
						err = fmt.Errorf("claimed %d jobs", len(c))
					}
					return err
				}
				b.ResetTimer()
				if mode == "stmt" {
					err := a.dbs.app.Write(context.Background(), 10*time.Minute, func(conn *sqlite.Conn) error {
						for i := 0; i < b.N; i++ {
							if err := claimOne(conn); err != nil {
								return err
							}
						}
						return nil
					})
					if err != nil {
						b.Fatal(err)
					}
					return
				}
				for i := 0; i < b.N; i++ {
					if err := a.Write(context.Background(), claimOne); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
