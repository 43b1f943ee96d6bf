//go:build !unix

package rip

// metricsCPUSeconds reports no value where getrusage(2) does not exist, so the
// process_cpu_seconds_total family is left out there.
func metricsCPUSeconds() (float64, bool) { return 0, false }
