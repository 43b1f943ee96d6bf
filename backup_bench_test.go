package rip

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// Settings of BenchmarkBackupWriters.
const (
	benchBackupDefaultMB = 200                    // database size; RIP_BENCH_BACKUP_MB overrides
	benchBackupRowBytes  = 4000                   // filler row size (about one page)
	benchBackupFillBatch = 5000                   // filler rows per transaction
	benchWriteEvery      = 2 * time.Millisecond   // paced writer: 500 writes/s
	benchBaseline        = 10 * time.Second       // writes measured without a backup
	benchWriteTimeout    = 5 * time.Second        // per write (db.write_timeout)
	benchMinBackupWindow = 500 * time.Millisecond // keep writing at least this long per phase
)

// BenchmarkBackupWriters proves backups do not block writers: it fills
// app.db to 200 MB, then measures the latency of paced single-row writes
// (500/s) without a backup, during an online backup and during a vacuum
// backup, and reports p50/p99/max of each. Run it with
//
//	go test -run '^$' -bench BackupWriters -benchtime=1x -timeout 30m .
//
// It is a benchmark so plain `go test ./...` never runs it.
func BenchmarkBackupWriters(b *testing.B) {
	mb := benchBackupDefaultMB
	if s := os.Getenv("RIP_BENCH_BACKUP_MB"); s != "" {
		mb, _ = strconv.Atoi(s)
	}
	dir := b.TempDir()
	a, err := New(Options{DB: filepath.Join(dir, "app.db"), Create: true, Logger: discardLogger()})
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	ctx := context.Background()
	fillStart := time.Now()
	rows := mb << 20 / benchBackupRowBytes
	for done := 0; done < rows; done += benchBackupFillBatch {
		err := a.dbs.app.Write(ctx, time.Minute, func(conn *sqlite.Conn) error {
			if err := sqlitex.ExecuteTransient(conn, "CREATE TABLE IF NOT EXISTS filler (id INTEGER PRIMARY KEY, v BLOB)", nil); err != nil {
				return err
			}
			for i := 0; i < benchBackupFillBatch; i++ {
				if err := sqlitex.Execute(conn, "INSERT INTO filler (v) VALUES (randomblob(?))", &sqlitex.ExecOptions{Args: []any{benchBackupRowBytes}}); err != nil {
					return err
				}
			}
			return sqlitex.ExecuteTransient(conn, "CREATE TABLE IF NOT EXISTS writes (id INTEGER PRIMARY KEY, v TEXT)", nil)
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	st, _ := os.Stat(a.opts.DB)
	b.Logf("filled app.db to %d MiB in %s", st.Size()>>20, time.Since(fillStart).Round(time.Millisecond))
	if st.Size() < int64(mb)<<20*9/10 {
		b.Fatalf("database is %d bytes, want about %d MiB", st.Size(), mb)
	}

	// phase writes at the paced rate until stop returns true and returns
	// the sorted latencies.
	phase := func(during func() (time.Duration, error)) (lat []time.Duration, took time.Duration) {
		stop := make(chan struct{})
		var berr error
		start := time.Now()
		go func() {
			if during == nil {
				time.Sleep(benchBaseline)
			} else {
				took, berr = during()
				if d := benchMinBackupWindow - time.Since(start); d > 0 {
					time.Sleep(d)
				}
			}
			close(stop)
		}()
		tick := time.NewTicker(benchWriteEvery)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				if berr != nil {
					b.Fatal(berr)
				}
				slices.Sort(lat)
				return lat, took
			case <-tick.C:
			}
			t0 := time.Now()
			err := a.dbs.app.Write(ctx, benchWriteTimeout, func(conn *sqlite.Conn) error {
				return sqlitex.Execute(conn, "INSERT INTO writes (v) VALUES (?)", &sqlitex.ExecOptions{Args: []any{"a short row of application data"}})
			})
			if err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(t0))
		}
	}
	pct := func(lat []time.Duration, p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(float64(len(lat))*p))]
	}
	report := func(name string, lat []time.Duration, took time.Duration) {
		b.Logf("%-22s writes %6d  p50 %8s  p99 %8s  max %8s  backup %s", name, len(lat),
			pct(lat, 0.50).Round(time.Microsecond), pct(lat, 0.99).Round(time.Microsecond), lat[len(lat)-1].Round(time.Microsecond), took.Round(time.Millisecond))
		b.ReportMetric(float64(pct(lat, 0.99).Microseconds()), "p99-µs-"+strings.ReplaceAll(name, " ", "-"))
	}
	for i := 0; i < b.N; i++ {
		lat, _ := phase(nil)
		report("no backup", lat, 0)
		for _, strategy := range []string{backupOnline, backupVacuum} {
			cfg := DefaultConfig().Backup
			cfg.Strategy = strategy
			lat, took := phase(func() (time.Duration, error) {
				info, err := backupDatabase(ctx, a.dbs.app, backupParams{cfg: cfg, dir: filepath.Join(dir, "backups"), stem: "app", dbName: "app", now: time.Now().Add(time.Duration(len(strategy)) * time.Second)})
				if err == nil {
					b.Logf("%s archive: %d MiB database → %d MiB gzip", strategy, info.DBBytes>>20, info.Bytes>>20)
				}
				return info.Duration, err
			})
			report(fmt.Sprintf("during %s backup", strategy), lat, took)
		}
	}
}
