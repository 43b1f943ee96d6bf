package rip

import (
	"bytes"
	"io"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"time"
)

// This file writes the process and Go runtime families that a Prometheus client
// library would add by itself. Each value is read at scrape time from a source that
// does not stop the world: /proc on Linux, getrusage, and runtime/metrics instead of
// runtime.ReadMemStats. A family whose source is missing on this platform is left out
// rather than reported as zero.

// metricsProcessStart is when package rip was initialised, which for a Go binary is
// within milliseconds of the process start and needs no /proc parsing.
var metricsProcessStart = time.Now()

// metricsStatmMaxBytes bounds the read of /proc/self/statm, a single short line.
const metricsStatmMaxBytes = 256

// metricsFDBatch is how many directory entries are read at a time when counting open
// file descriptors, so a process with many descriptors is counted in bounded memory.
const metricsFDBatch = 256

// metricsRuntimeSamples are the runtime/metrics names behind the go_* families. Each
// is a cheap read that does not stop the world.
const (
	metricsGoroutines = "/sched/goroutines:goroutines"
	metricsHeapAlloc  = "/memory/classes/heap/objects:bytes"
	metricsGCCycles   = "/gc/cycles/total:gc-cycles"
)

// metricsAppendProcessText appends the process_* and go_* families.
func metricsAppendProcessText(b []byte) []byte {
	b = metricsAppendGauge(b, "process_start_time_seconds",
		"Start time of the process since the Unix epoch, in seconds.",
		float64(metricsProcessStart.UnixNano())/1e9)
	if rss, ok := metricsResidentBytes(); ok {
		b = metricsAppendGauge(b, "process_resident_memory_bytes",
			"Resident memory size, in bytes.", float64(rss))
	}
	if n, ok := metricsOpenFDs(); ok {
		b = metricsAppendGauge(b, "process_open_fds",
			"Number of open file descriptors.", float64(n))
	}
	if cpu, ok := metricsCPUSeconds(); ok {
		b = metricsAppendHeader(b, "process_cpu_seconds_total", "counter",
			"Total user and system CPU time spent, in seconds.")
		b = metricsAppendSample(b, "process_cpu_seconds_total", cpu)
	}
	return metricsAppendRuntimeText(b)
}

// metricsAppendRuntimeText appends the go_* families from runtime/metrics.
func metricsAppendRuntimeText(b []byte) []byte {
	samples := [...]metrics.Sample{
		{Name: metricsGoroutines},
		{Name: metricsHeapAlloc},
		{Name: metricsGCCycles},
	}
	metrics.Read(samples[:])
	if v, ok := metricsSampleUint(samples[0]); ok {
		b = metricsAppendGauge(b, "go_goroutines",
			"Number of goroutines that currently exist.", float64(v))
	}
	if v, ok := metricsSampleUint(samples[1]); ok {
		b = metricsAppendGauge(b, "go_memstats_heap_alloc_bytes",
			"Bytes of allocated heap objects, live or not yet swept.", float64(v))
	}
	if v, ok := metricsSampleUint(samples[2]); ok {
		b = metricsAppendCounter(b, "go_gc_cycles_total",
			"Completed garbage collection cycles.", v)
	}
	b = metricsAppendHeader(b, "go_info", "gauge", "Information about the Go environment.")
	return metricsAppendLabeled(b, "go_info", "version", runtime.Version(), 1)
}

// metricsSampleUint returns s's value if the runtime supports it as an integer.
func metricsSampleUint(s metrics.Sample) (uint64, bool) {
	if s.Value.Kind() != metrics.KindUint64 {
		return 0, false
	}
	return s.Value.Uint64(), true
}

// metricsResidentBytes reads the resident set size from /proc/self/statm, whose second
// field counts resident pages.
func metricsResidentBytes() (int64, bool) {
	f, err := os.Open("/proc/self/statm")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	var buf [metricsStatmMaxBytes]byte
	n, err := io.ReadFull(f, buf[:])
	if err != nil && err != io.ErrUnexpectedEOF {
		return 0, false
	}
	fields := bytes.Fields(buf[:n])
	if len(fields) < 2 {
		return 0, false
	}
	pages, err := strconv.ParseInt(string(fields[1]), 10, 64)
	if err != nil || pages < 0 {
		return 0, false
	}
	return pages * int64(os.Getpagesize()), true
}

// metricsOpenFDs counts the entries of /proc/self/fd, minus the one descriptor opened
// to read that directory.
func metricsOpenFDs() (int, bool) {
	d, err := os.Open("/proc/self/fd")
	if err != nil {
		return 0, false
	}
	defer d.Close()
	count := 0
	for {
		names, err := d.Readdirnames(metricsFDBatch)
		count += len(names)
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, false
		}
	}
	return count - 1, true
}
