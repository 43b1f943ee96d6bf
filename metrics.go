package rip

import (
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// This file holds rip's Prometheus metrics: a few lock-free primitives, the one
// struct that owns every series the app exports, and a hand-written encoder for the
// text exposition format 0.0.4. No client library is linked: the format is small,
// and writing it by hand keeps the number of series fixed and visible in one place.
// Process and Go runtime families are written by metrics_process.go.

// metricsContentType is the media type of the text exposition format 0.0.4.
const metricsContentType = "text/plain; version=0.0.4; charset=utf-8"

// metricsTextSizeHint is the initial capacity, in bytes, of the buffer a scrape is
// rendered into. A typical exposition is 4–6 KiB; the buffer grows past it if needed.
const metricsTextSizeHint = 8 << 10 // 8 KiB

// metricsCounter is a monotonically increasing count. It is safe for concurrent use.
type metricsCounter struct{ n atomic.Uint64 }

func (c *metricsCounter) inc()         { c.n.Add(1) }
func (c *metricsCounter) load() uint64 { return c.n.Load() }

// metricsGauge is a value that can go up and down, stored as the bits of a float64 so
// that a set and a load are single atomic operations. It is safe for concurrent use.
type metricsGauge struct{ bits atomic.Uint64 }

func (g *metricsGauge) set(v float64) { g.bits.Store(math.Float64bits(v)) }
func (g *metricsGauge) load() float64 { return math.Float64frombits(g.bits.Load()) }

// metricsHistogram counts durations into fixed buckets. Each observation costs two
// atomic adds and no allocation: one on the first bucket whose upper bound is at least
// the duration, and one on the sum. Buckets are stored non-cumulative and summed at
// scrape time, and _count is taken from that same sum, so the +Inf bucket always
// equals _count in one scrape even while observations race with it. The sum is kept
// in integer nanoseconds: exact, and an atomic add instead of a compare-and-swap loop
// on a float. It is safe for concurrent use.
type metricsHistogram struct {
	bounds   []time.Duration // ascending upper bounds (inclusive), fixed at construction
	counts   []atomic.Uint64 // len(bounds)+1; the last slot counts values above every bound
	sumNanos atomic.Int64
}

func newMetricsHistogram(bounds []time.Duration) *metricsHistogram {
	for i := 1; i < len(bounds); i++ {
		if bounds[i] <= bounds[i-1] {
			panic("rip: histogram bounds not strictly ascending: " + bounds[i].String())
		}
	}
	return &metricsHistogram{bounds: bounds, counts: make([]atomic.Uint64, len(bounds)+1)}
}

// observe records d. A negative d (a clock step between two readings) counts as zero.
func (h *metricsHistogram) observe(d time.Duration) {
	if d < 0 {
		d = 0
	}
	i := 0
	for i < len(h.bounds) && d > h.bounds[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sumNanos.Add(int64(d))
}

// metricsDurationBuckets are the upper bounds of http_server_request_duration_seconds:
// 0.5 ms to 5 s, about three per decade, which resolves both a cached JSON answer and
// a slow password hash.
var metricsDurationBuckets = []time.Duration{
	500 * time.Microsecond, time.Millisecond, 2500 * time.Microsecond,
	5 * time.Millisecond, 10 * time.Millisecond, 25 * time.Millisecond,
	50 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond,
	500 * time.Millisecond, time.Second, 2500 * time.Millisecond, 5 * time.Second,
}

// metricsLockWaitBuckets are the upper bounds of rip_db_write_lock_wait_seconds. The
// wait for the single writer is usually tens of microseconds, so the buckets start
// lower than the request ones and end past a typical busy timeout.
var metricsLockWaitBuckets = []time.Duration{
	50 * time.Microsecond, 100 * time.Microsecond, 250 * time.Microsecond,
	500 * time.Microsecond, time.Millisecond, 2500 * time.Microsecond,
	5 * time.Millisecond, 10 * time.Millisecond, 25 * time.Millisecond,
	50 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond,
	500 * time.Millisecond, time.Second, 2500 * time.Millisecond, 5 * time.Second,
	10 * time.Second,
}

// HTTP status codes counted one by one; anything else is counted as code="other".
const (
	metricsMinCode = 100
	metricsMaxCode = 599
)

// metricsCodeCounter counts responses by HTTP status code in a fixed array, one slot
// per code from 100 to 599, so that no input can create a new series: the label set
// is bounded by the array, not by what handlers or clients send. Codes outside that
// range (net/http accepts up to 999) share one "other" slot. Only codes seen at least
// once are printed. It is safe for concurrent use.
type metricsCodeCounter struct {
	counts [metricsMaxCode - metricsMinCode + 1]atomic.Uint64
	other  atomic.Uint64
}

func (c *metricsCodeCounter) inc(code int) {
	if code < metricsMinCode || code > metricsMaxCode {
		c.other.Add(1)
		return
	}
	c.counts[code-metricsMinCode].Add(1)
}

// metricsBlockReason names why the edge refused a request; it is the only source of
// the reason label of rip_requests_blocked_total, so that label has five values.
type metricsBlockReason uint8

const (
	metricsBlockIP metricsBlockReason = iota
	metricsBlockHost
	metricsBlockUA
	metricsBlockOversized
	metricsBlockMaintenance
	metricsBlockReasonCount // number of reasons; not a reason
)

// metricsBlockReasonLabels are the label values, indexed by metricsBlockReason.
var metricsBlockReasonLabels = [metricsBlockReasonCount]string{
	metricsBlockIP:          "block_ip",
	metricsBlockHost:        "block_host",
	metricsBlockUA:          "block_ua",
	metricsBlockOversized:   "oversized",
	metricsBlockMaintenance: "maintenance",
}

// metricsQueueStats reports the job queue at scrape time: the number of runnable jobs
// and how many seconds the oldest due job has waited past its due time.
type metricsQueueStats func() (depth int64, oldestDueAgeSeconds float64)

// appMetrics holds every series rip exports. The zero value is not usable; build one
// with [newAppMetrics]. All methods are safe for concurrent use, and the event methods
// (observe…, inc…, set…) never allocate, so they may sit on the request path.
type appMetrics struct {
	requests         metricsCodeCounter // http_server_requests_total{code}
	duration         *metricsHistogram  // http_server_request_duration_seconds
	blocked          [metricsBlockReasonCount]metricsCounter
	writeLockWait    *metricsHistogram // rip_db_write_lock_wait_seconds
	dbBusy           metricsCounter
	jobsCompleted    metricsCounter
	jobsFailed       metricsCounter
	mailFailures     metricsCounter
	logsDropped      metricsCounter
	configGeneration metricsGauge
	backupLastGood   metricsGauge // Unix seconds of the last verified backup
	backupDuration   metricsGauge // seconds the last verified backup took
	queueStats       atomic.Pointer[metricsQueueStats]
}

// newAppMetrics returns metrics with every counter at zero and no queue callback.
func newAppMetrics() *appMetrics {
	return &appMetrics{
		duration:      newMetricsHistogram(metricsDurationBuckets),
		writeLockWait: newMetricsHistogram(metricsLockWaitBuckets),
	}
}

// observeRequest records one finished HTTP request with its status code and how long
// it took to serve.
//
// # Security
//
// Threat: an attacker who can choose the status code, path or other request data
// could make every request a new series and exhaust memory, in rip and in Prometheus.
// Defence: the only label is the status code, counted in a fixed array of 500 slots
// (100–599) with one "other" slot for the rest; no request data becomes a label.
func (m *appMetrics) observeRequest(code int, d time.Duration) {
	m.requests.inc(code)
	m.duration.observe(d)
}

// observeWriteLockWait records how long a writer waited for the single write
// connection.
func (m *appMetrics) observeWriteLockWait(d time.Duration) { m.writeLockWait.observe(d) }

// incBusy counts one SQLITE_BUSY result or write-lock timeout.
func (m *appMetrics) incBusy() { m.dbBusy.inc() }

// incMailFailure counts one message the mailer failed to hand to the SMTP server.
func (m *appMetrics) incMailFailure() { m.mailFailures.inc() }

// incBlocked counts one request refused by the edge for reason r. An unknown reason is
// ignored rather than allowed to add a label value.
func (m *appMetrics) incBlocked(r metricsBlockReason) {
	if r < metricsBlockReasonCount {
		m.blocked[r].inc()
	}
}

// incLogDropped counts one log record dropped because the log writer's queue was full.
func (m *appMetrics) incLogDropped() { m.logsDropped.inc() }

// jobFinished counts one job run that ended, as failed when failed is true.
func (m *appMetrics) jobFinished(failed bool) {
	if failed {
		m.jobsFailed.inc()
		return
	}
	m.jobsCompleted.inc()
}

// setConfigGeneration records the generation number of the configuration in use.
func (m *appMetrics) setConfigGeneration(gen int64) { m.configGeneration.set(float64(gen)) }

// backupSucceeded records a backup that was verified and stored: when it finished and
// how long it took.
func (m *appMetrics) backupSucceeded(finished time.Time, took time.Duration) {
	m.backupLastGood.set(float64(finished.UnixNano()) / 1e9)
	m.backupDuration.set(took.Seconds())
}

// setQueueStats installs the callback that reports the job queue at scrape time. It
// runs on the scraping goroutine, so it should be a cheap read. Passing nil removes it,
// and the two queue families are then left out of the exposition.
func (m *appMetrics) setQueueStats(f metricsQueueStats) {
	if f == nil {
		m.queueStats.Store(nil)
		return
	}
	m.queueStats.Store(&f)
}

// writeText writes the full exposition — rip's families, then process and Go runtime
// families — to w in one Write call.
func (m *appMetrics) writeText(w io.Writer) error {
	b := m.appendText(make([]byte, 0, metricsTextSizeHint))
	_, err := w.Write(b)
	return err
}

// appendText appends the full exposition to b.
func (m *appMetrics) appendText(b []byte) []byte {
	b = m.appendAppText(b)
	return metricsAppendProcessText(b)
}

// appendAppText appends rip's own families, whose values depend only on the events
// recorded, so tests can compare them against a golden file.
func (m *appMetrics) appendAppText(b []byte) []byte {
	b = metricsAppendHeader(b, "http_server_requests_total", "counter",
		"Total number of HTTP requests handled by the server, labeled by status code.")
	for i := range m.requests.counts {
		if n := m.requests.counts[i].Load(); n > 0 {
			b = append(b, `http_server_requests_total{code="`...)
			b = strconv.AppendInt(b, int64(i+metricsMinCode), 10)
			b = append(b, `"} `...)
			b = strconv.AppendUint(b, n, 10)
			b = append(b, '\n')
		}
	}
	if n := m.requests.other.Load(); n > 0 {
		b = metricsAppendLabeled(b, "http_server_requests_total", "code", "other", n)
	}

	b = metricsAppendHistogram(b, "http_server_request_duration_seconds",
		"Time taken to serve HTTP requests, in seconds.", m.duration)

	b = metricsAppendHeader(b, "rip_requests_blocked_total", "counter",
		"Requests refused by the edge middleware before routing, by reason.")
	for r := range metricsBlockReasonCount {
		b = metricsAppendLabeled(b, "rip_requests_blocked_total", "reason",
			metricsBlockReasonLabels[r], m.blocked[r].load())
	}

	b = metricsAppendHistogram(b, "rip_db_write_lock_wait_seconds",
		"Time spent waiting for the single database write connection, in seconds.", m.writeLockWait)
	b = metricsAppendCounter(b, "rip_db_busy_total",
		"SQLITE_BUSY results and write-lock timeouts.", m.dbBusy.load())

	if f := m.queueStats.Load(); f != nil {
		depth, age := (*f)()
		b = metricsAppendGauge(b, "rip_job_queue_depth",
			"Jobs in the queue that are due or running.", float64(depth))
		b = metricsAppendGauge(b, "rip_job_queue_oldest_due_age_seconds",
			"Seconds the oldest due job has waited past its due time.", age)
	}
	b = metricsAppendCounter(b, "rip_jobs_completed_total",
		"Job runs that returned without error.", m.jobsCompleted.load())
	b = metricsAppendCounter(b, "rip_jobs_failed_total",
		"Job runs that returned an error or panicked.", m.jobsFailed.load())

	b = metricsAppendCounter(b, "rip_mail_failures_total",
		"Messages the mailer failed to hand to the SMTP server.", m.mailFailures.load())
	b = metricsAppendCounter(b, "rip_log_records_dropped_total",
		"Log records dropped because the log writer's queue was full.", m.logsDropped.load())
	b = metricsAppendGauge(b, "rip_config_generation",
		"Generation number of the configuration in use.", m.configGeneration.load())
	b = metricsAppendGauge(b, "rip_backup_last_success_timestamp_seconds",
		"Unix time of the last verified backup, or 0 if none since start.", m.backupLastGood.load())
	b = metricsAppendGauge(b, "rip_backup_duration_seconds",
		"Seconds the last verified backup took.", m.backupDuration.load())
	return b
}

// metricsHandler serves the exposition of m to GET and HEAD requests and answers any
// other method with 405. The body is rendered before the first byte is written, so the
// response always carries a Content-Length and is never a half-written scrape.
//
// # Security
//
// Threat: the exposition leaks internals (traffic, error rates, queue depth, backup
// times) that help an attacker time or tune an attack. Defence: this handler does no
// access control of its own; [App.guardMetrics] mounts it behind the address
// allow-list.
// It reads nothing from the request except the method, so no request data can reach
// the output, and it refuses methods other than GET and HEAD.
func metricsHandler(m *appMetrics) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			writeReply(w, codeErrMethodNotAllowed, nil)
			return
		}
		body := m.appendText(make([]byte, 0, metricsTextSizeHint))
		h.Set("Content-Type", metricsContentType)
		h.Set("Content-Length", strconv.Itoa(len(body)))
		h.Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			w.Write(body) // An error means the client went away; there is nothing to do.
		}
	})
}

// metricsAppendHeader appends the HELP and TYPE lines of one family.
func metricsAppendHeader(b []byte, name, typ, help string) []byte {
	b = append(b, "# HELP "...)
	b = append(b, name...)
	b = append(b, ' ')
	b = metricsAppendHelp(b, help)
	b = append(b, "\n# TYPE "...)
	b = append(b, name...)
	b = append(b, ' ')
	b = append(b, typ...)
	return append(b, '\n')
}

// metricsAppendCounter appends a whole counter family with one unlabeled sample.
func metricsAppendCounter(b []byte, name, help string, v uint64) []byte {
	b = metricsAppendHeader(b, name, "counter", help)
	b = append(b, name...)
	b = append(b, ' ')
	b = strconv.AppendUint(b, v, 10)
	return append(b, '\n')
}

// metricsAppendGauge appends a whole gauge family with one unlabeled sample.
func metricsAppendGauge(b []byte, name, help string, v float64) []byte {
	b = metricsAppendHeader(b, name, "gauge", help)
	return metricsAppendSample(b, name, v)
}

// metricsAppendSample appends one unlabeled sample line.
func metricsAppendSample(b []byte, name string, v float64) []byte {
	b = append(b, name...)
	b = append(b, ' ')
	b = metricsAppendValue(b, v)
	return append(b, '\n')
}

// metricsAppendLabeled appends one sample line with a single label and a count.
func metricsAppendLabeled(b []byte, name, label, value string, n uint64) []byte {
	b = append(b, name...)
	b = append(b, '{')
	b = append(b, label...)
	b = append(b, `="`...)
	b = metricsAppendLabelValue(b, value)
	b = append(b, `"} `...)
	b = strconv.AppendUint(b, n, 10)
	return append(b, '\n')
}

// metricsAppendHistogram appends a whole histogram family: cumulative _bucket lines
// ending with le="+Inf", then _sum and _count.
func metricsAppendHistogram(b []byte, name, help string, h *metricsHistogram) []byte {
	b = metricsAppendHeader(b, name, "histogram", help)
	var cum uint64
	for i := range h.counts {
		cum += h.counts[i].Load()
		b = append(b, name...)
		b = append(b, `_bucket{le="`...)
		if i < len(h.bounds) {
			b = metricsAppendFloat(b, h.bounds[i].Seconds())
		} else {
			b = append(b, "+Inf"...)
		}
		b = append(b, `"} `...)
		b = strconv.AppendUint(b, cum, 10)
		b = append(b, '\n')
	}
	b = append(b, name...)
	b = append(b, "_sum "...)
	b = metricsAppendValue(b, float64(h.sumNanos.Load())/1e9)
	b = append(b, '\n')
	b = append(b, name...)
	b = append(b, "_count "...)
	b = strconv.AppendUint(b, cum, 10)
	return append(b, '\n')
}

// metricsMaxExactInt is 2^53, below which every integer is exact in a float64.
const metricsMaxExactInt = 1 << 53

// metricsAppendFloat appends v in the shortest form that parses back to the same
// float64, as client libraries do for le label values (le="5e-05"), so that queries
// written against them match; infinities are "+Inf" and "-Inf" and NaN is "NaN", as
// the format requires.
func metricsAppendFloat(b []byte, v float64) []byte {
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

// metricsAppendValue appends a sample value: whole numbers as integers, so byte
// counts read as 7442432 rather than 7.442432e+06, anything else as
// [metricsAppendFloat] does.
func metricsAppendValue(b []byte, v float64) []byte {
	if v == math.Trunc(v) && math.Abs(v) < metricsMaxExactInt {
		return strconv.AppendInt(b, int64(v), 10)
	}
	return metricsAppendFloat(b, v)
}

// metricsAppendLabelValue appends s escaped for use between the double quotes of a
// label value: backslash, double quote and line feed become \\, \" and \n. Invalid
// UTF-8, which the format forbids, is replaced by U+FFFD.
//
// # Security
//
// Threat: a label value holding a quote or a newline could end the value early and
// inject forged samples or comment lines into the scrape. Defence: every value goes
// through this function, which escapes the three characters the format gives meaning
// to inside a quoted value and repairs invalid UTF-8.
func metricsAppendLabelValue(b []byte, s string) []byte {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			b = append(b, `\\`...)
		case '"':
			b = append(b, `\"`...)
		case '\n':
			b = append(b, `\n`...)
		default:
			b = append(b, c)
		}
	}
	return b
}

// metricsAppendHelp appends s escaped for a HELP line, where only backslash and line
// feed are special.
func metricsAppendHelp(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			b = append(b, `\\`...)
		case '\n':
			b = append(b, `\n`...)
		default:
			b = append(b, c)
		}
	}
	return b
}
