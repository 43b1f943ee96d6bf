package rip

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestMain runs the tests and fails the run if goroutines leak: every
// test must stop what it started.
func TestMain(m *testing.M) {
	tomlTestHook()
	if helperMain() {
		return
	}
	base := runtime.NumGoroutine()
	code := m.Run()
	if code == 0 {
		if leaked := waitGoroutines(base, 5*time.Second); leaked != "" {
			fmt.Fprintf(os.Stderr, "goroutines leaked:\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}

// waitGoroutines waits until at most base goroutines run (plus a small
// allowance for runtime and net/http background workers) and returns the
// stacks of the extras if they never go away.
func waitGoroutines(base int, limit time.Duration) string {
	deadline := time.Now().Add(limit)
	for {
		if runtime.NumGoroutine() <= base+2 {
			return ""
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			n := runtime.Stack(buf, true)
			var keep []string
			for _, g := range strings.Split(string(buf[:n]), "\n\n") {
				if !strings.Contains(g, "testing.(*M).Run") && !strings.Contains(g, "runtime.goexit") || strings.Contains(g, "rip.") {
					keep = append(keep, g)
				}
			}
			return strings.Join(keep, "\n\n")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// helperMain lets the test binary act as a helper process for tests that
// need a second OS process (a lock holder, a second rip). It returns
// false when the binary runs as a normal test binary.
func helperMain() bool {
	switch os.Getenv("RIP_TEST_HELPER") {
	case "":
		return false
	case "hold-exclusive":
		holdExclusive(os.Getenv("RIP_TEST_DB"))
	default:
		if err := runTestHelper(os.Getenv("RIP_TEST_HELPER")); err != nil {
			fmt.Fprintln(os.Stderr, err, os.Getenv("RIP_TEST_HELPER"))
			os.Exit(2)
		}
	}
	return true
}
