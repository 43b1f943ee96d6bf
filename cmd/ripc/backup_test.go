package main

import (
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ripkit/rip"
)

func TestBackupCommands(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	ripc(t, dir, "config", "init")
	code, out, errs := ripc(t, dir, "backup", "now", "--json")
	var made []rip.BackupInfo
	if code != 0 || json.Unmarshal([]byte(out), &made) != nil || len(made) != 1 || !strings.Contains(errs, "copy: 100%") {
		t.Fatalf("backup now: %d\n%s\n%s", code, out, errs)
	}
	archive := made[0].Path
	if filepath.Dir(archive) != filepath.Join(dir, "backups") {
		t.Fatalf("archive in %s", archive)
	}
	for _, tc := range []struct {
		name     string
		args     []string
		code     int
		contains string
	}{
		{"list", []string{"backup", "list"}, 0, filepath.Base(archive)},
		{"verify", []string{"backup", "verify", archive}, 0, "integrity_check ok"},
		{"verify missing", []string{"backup", "verify", filepath.Join(dir, "app_20200101T000000Z_online.bck.gz")}, 1, "no such file"},
		{"verify no arg", []string{"backup", "verify"}, 2, "want 1 argument"},
		{"litestream needs replica", []string{"backup", "litestream"}, 2, "--replica is required"},
		{"litestream", []string{"backup", "litestream", "--replica", "/srv/replica"}, 0, "path: /srv/replica"},
		{"litestream s3", []string{"backup", "litestream", "--replica", "s3://bucket/rip"}, 0, "url: s3://bucket/rip"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := ripc(t, dir, tc.args...)
			if code != tc.code || !strings.Contains(out+errs, tc.contains) {
				t.Fatalf("exit %d (want %d)\nstdout: %s\nstderr: %s\nwant %q", code, tc.code, out, errs, tc.contains)
			}
		})
	}

	// A truncated archive is refused.
	good, _ := os.ReadFile(archive)
	bad := filepath.Join(t.TempDir(), filepath.Base(archive))
	os.WriteFile(bad, good[:len(good)/2], 0o600)
	if code, _, errs := ripc(t, dir, "backup", "verify", bad); code != 1 || !strings.Contains(errs, "truncated") {
		t.Fatalf("verify truncated: %d %s", code, errs)
	}

	// With a server on the data, restore refuses and says what to do.
	app, err := rip.New(rip.Options{DB: filepath.Join(dir, "app.db"), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	code, _, errs = ripc(t, dir, "backup", "restore", archive)
	app.Close()
	if code != 1 || !strings.Contains(errs, "stop it") || !strings.Contains(errs, "nothing was changed") {
		t.Fatalf("restore beside a server: %d %s", code, errs)
	}
	if code, _, errs := ripc(t, dir, "backup", "restore", bad); code != 1 || !strings.Contains(errs, "truncated") {
		t.Fatalf("restore truncated: %d %s", code, errs)
	}
	code, out, errs = ripc(t, dir, "backup", "restore", archive)
	if code != 0 || !strings.Contains(out, "kept as") || !strings.Contains(errs, "decompress") {
		t.Fatalf("restore: %d\n%s\n%s", code, out, errs)
	}
	if code, out, errs := ripc(t, dir, "config", "get", "server.addr"); code != 0 {
		t.Fatalf("restored data does not open: %s %s", out, errs)
	}
}
