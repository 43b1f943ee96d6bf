//go:build unix

package rip

import "syscall"

// metricsCPUSeconds returns the user plus system CPU time of this process from
// getrusage(2), which every Unix provides.
func metricsCPUSeconds() (float64, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	sec := func(tv syscall.Timeval) float64 {
		return float64(tv.Sec) + float64(tv.Usec)/1e6
	}
	return sec(ru.Utime) + sec(ru.Stime), true
}
