//go:build !unix

package rip

import "os"

// lockDataFile is a no-op where flock does not exist: on such systems
// nothing stops two rip processes from sharing one data directory.
func lockDataFile(path string) (*os.File, error) { return nil, nil }
