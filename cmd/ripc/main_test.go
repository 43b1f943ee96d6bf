package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// ripc runs one invocation against dir and returns exit code and output.
func ripc(t *testing.T, dir string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(append([]string{"-data", dir}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

func TestConfigCommands(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	for _, tc := range []struct {
		name     string
		args     []string
		code     int
		contains string
	}{
		{"dump before init", []string{"config", "dump"}, 1, "ripc config init"},
		{"init", []string{"config", "init"}, 0, "created configuration generation 1"},
		{"init again", []string{"config", "init"}, 0, "nothing changed"},
		{"get", []string{"config", "get", "server.addr"}, 0, `"127.0.0.1:8080"`},
		{"get secret masked", []string{"config", "get", "jwt.auth_secret"}, 0, "REDACTED"},
		{"get unknown", []string{"config", "get", "server.nope"}, 1, "nope"},
		{"set", []string{"config", "set", "server.shutdown_timeout", `"5s"`}, 0, "stored generation 2"},
		{"set invalid", []string{"config", "set", "server.shutdown_timeout", `"-5s"`}, 1, "server.shutdown_timeout"},
		{"set wrong type", []string{"config", "set", "db.read_pool_size", `"many"`}, 1, "read_pool_size"},
		{"set missing arg", []string{"config", "set", "server.addr"}, 2, "want 2 argument"},
		{"dump", []string{"config", "dump"}, 0, `shutdown_timeout = "5s"`},
		{"dump hides secrets", []string{"config", "dump"}, 0, `auth_secret = "REDACTED"`},
		{"diff", []string{"config", "diff", "1", "2"}, 0, `+shutdown_timeout = "5s"`},
		{"diff bad gen", []string{"config", "diff", "x"}, 2, "positive number"},
		{"diff missing gen", []string{"config", "diff", "9"}, 1, "no generation 9"},
		{"rollback", []string{"config", "rollback", "1"}, 0, "stored generation 3"},
		{"rollback zero", []string{"config", "rollback", "0"}, 2, "positive number"},
		{"scopes", []string{"config", "scopes"}, 0, "application"},
		{"keys", []string{"config", "keys"}, 0, "jwt.auth_secret"},
		{"unknown command", []string{"config", "frobnicate"}, 2, "unknown command"},
		{"help", []string{"help", "config", "set"}, 0, "usage: ripc"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := ripc(t, dir, tc.args...)
			if code != tc.code || !strings.Contains(out+errs, tc.contains) {
				t.Fatalf("exit %d (want %d)\nstdout: %s\nstderr: %s\nwant output containing %q", code, tc.code, out, errs, tc.contains)
			}
		})
	}
	_, out, _ := ripc(t, dir, "config", "dump", "--reveal")
	if strings.Contains(out, "REDACTED") {
		t.Error("--reveal still masks secrets")
	}
}

func TestConfigSaveAndList(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	ripc(t, dir, "config", "init")
	_, dump, _ := ripc(t, dir, "config", "dump", "--reveal")
	good := filepath.Join(t.TempDir(), "good.toml")
	os.WriteFile(good, []byte(strings.Replace(dump, `idle_timeout = "1m"`, `idle_timeout = "2m"`, 1)), 0o600)
	if code, out, errs := ripc(t, dir, "config", "save", good); code != 0 {
		t.Fatalf("save: %d %s %s", code, out, errs)
	}
	for _, bad := range []string{"[server]\nunknown = 1\n", "[[x]]\n", "a = \"unterminated\n", "\xff\xfe"} {
		f := filepath.Join(t.TempDir(), "bad.toml")
		os.WriteFile(f, []byte(bad), 0o600)
		if code, _, errs := ripc(t, dir, "config", "save", f); code != 1 || errs == "" {
			t.Errorf("save %q: exit %d, stderr %q", bad, code, errs)
		}
	}
	code, out, _ := ripc(t, dir, "config", "list", "--json")
	var gens []map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &gens) != nil || len(gens) != 2 {
		t.Fatalf("list --json: %d %s", code, out)
	}
	if code, _, _ := ripc(t, dir, "config", "save", "/nonexistent/file.toml"); code != 1 {
		t.Error("save of a missing file did not fail")
	}
}

func TestJobCommands(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if code, out, errs := ripc(t, dir, "config", "init"); code != 0 {
		t.Fatalf("init: %d %s %s", code, out, errs)
	}
	for _, tc := range []struct {
		name     string
		args     []string
		code     int
		contains string
	}{
		{"list empty", []string{"job", "list"}, 0, "ID"},
		{"add", []string{"job", "add", "mail", `{"to":"a@example.com"}`, "--unique-key", "welcome:a", "--max-attempts", "3"}, 0, "added job 1"},
		{"add duplicate key", []string{"job", "add", "mail", "--unique-key", "welcome:a"}, 1, "live job (1)"},
		{"add scheduled recurrent", []string{"job", "add", "report", "--at", "2030-01-02T03:04:05Z", "--every", "1h", "--priority", "-2"}, 0, "added job 2"},
		{"list", []string{"job", "list"}, 0, "welcome:a"},
		{"list by type", []string{"job", "list", "--type", "report", "--json"}, 0, `"interval": 3600000000000`},
		{"list by status", []string{"job", "list", "--status", "failed"}, 0, "LAST ERROR"},
		{"retry pending", []string{"job", "retry", "1"}, 1, "only failed jobs"},
		{"retry missing", []string{"job", "retry", "99"}, 1, "not found"},
		{"rm", []string{"job", "rm", "1"}, 0, "removed job 1"},
		{"rm again", []string{"job", "rm", "1"}, 1, "not found"},
		// Malformed arguments: exit 2 with the reason.
		{"add no type", []string{"job", "add"}, 2, "want TYPE"},
		{"add bad type", []string{"job", "add", "Bad Type"}, 2, "must match"},
		{"add bad JSON", []string{"job", "add", "mail", "{nope"}, 2, "not valid JSON"},
		{"add too many args", []string{"job", "add", "mail", "{}", "extra"}, 2, "want TYPE"},
		{"add bad time", []string{"job", "add", "mail", "--at", "tomorrow"}, 2, "RFC 3339"},
		{"add negative interval", []string{"job", "add", "mail", "--every", "-1h"}, 2, "interval"},
		{"add bad interval", []string{"job", "add", "mail", "--every", "soon"}, 2, "invalid value"},
		{"add priority out of range", []string{"job", "add", "mail", "--priority", "9"}, 2, "priority"},
		{"add negative attempts", []string{"job", "add", "mail", "--max-attempts", "-1"}, 2, "max-attempts"},
		{"add huge payload", []string{"job", "add", "mail", `"` + strings.Repeat("x", 70<<10) + `"`}, 2, "limit is 65536"},
		{"list bad status", []string{"job", "list", "--status", "exploded"}, 2, "--status must be"},
		{"list bad limit", []string{"job", "list", "--limit", "0"}, 2, "--limit must be positive"},
		{"rm not a number", []string{"job", "rm", "abc"}, 2, "positive number"},
		{"rm negative", []string{"job", "rm", "--", "-3"}, 2, "positive number"},
		{"retry no id", []string{"job", "retry"}, 2, "want 1 argument"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := ripc(t, dir, tc.args...)
			if code != tc.code || !strings.Contains(out+errs, tc.contains) {
				t.Fatalf("exit %d (want %d)\nstdout: %s\nstderr: %s\nwant output containing %q", code, tc.code, out, errs, tc.contains)
			}
		})
	}
	_, out, _ := ripc(t, dir, "job", "list", "--json")
	var jobs []map[string]any
	if err := json.Unmarshal([]byte(out), &jobs); err != nil || len(jobs) != 1 || jobs[0]["type"] != "report" || jobs[0]["priority"] != -2.0 {
		t.Fatalf("list --json after rm: %v %s", err, out)
	}
}
