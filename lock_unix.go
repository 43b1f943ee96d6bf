//go:build unix

package rip

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// lockDataFile takes an exclusive, non-blocking flock on path (created if
// missing) so that a second rip process on the same data refuses to start.
// The lock dies with the process, so a crash never leaves it stale. The
// admin CLI does not take it: it works beside a running server.
func lockDataFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("rip: lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("rip: %s is held by another running rip process on the same data; stop it first", path)
		}
		return nil, fmt.Errorf("rip: lock %s: %w", path, err)
	}
	return f, nil
}
