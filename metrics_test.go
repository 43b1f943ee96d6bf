package rip

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// metricsGoldenApp builds an appMetrics with a fixed, hand-checkable set of events.
func metricsGoldenApp() *appMetrics {
	m := newAppMetrics()
	m.observeRequest(200, 300*time.Microsecond)   // le 0.0005
	m.observeRequest(200, 500*time.Microsecond)   // le 0.0005 (bounds are inclusive)
	m.observeRequest(200, 501*time.Microsecond)   // le 0.001
	m.observeRequest(404, 20*time.Millisecond)    // le 0.025
	m.observeRequest(500, 3*time.Second)          // le 5
	m.observeRequest(503, 7*time.Second)          // +Inf only
	m.observeRequest(999, time.Millisecond)       // code="other", le 0.001
	m.observeRequest(100, 0)                      // lowest code, le 0.0005
	m.observeRequest(599, -5*time.Millisecond)    // highest code, negative counts as 0
	m.observeWriteLockWait(40 * time.Microsecond) // le 5e-05
	m.observeWriteLockWait(2 * time.Millisecond)  // le 0.0025
	m.observeWriteLockWait(11 * time.Second)      // +Inf only
	m.incBusy()
	m.incBusy()
	m.incMailFailure()
	m.incBlocked(metricsBlockIP)
	m.incBlocked(metricsBlockIP)
	m.incBlocked(metricsBlockUA)
	m.incBlocked(metricsBlockMaintenance)
	m.incBlocked(metricsBlockReasonCount) // not a reason: ignored
	m.incLogDropped()
	m.incLogDropped()
	m.incLogDropped()
	m.jobFinished(false)
	m.jobFinished(false)
	m.jobFinished(true)
	m.setConfigGeneration(7)
	m.backupSucceeded(time.Unix(1767225600, 500_000_000), 1500*time.Millisecond)
	m.setQueueStats(func() (int64, float64) { return 12, 3.25 })
	return m
}

func TestMetricsGolden(t *testing.T) {
	got := metricsGoldenApp().appendAppText(nil)
	path := filepath.Join("testdata", "metrics.golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (run with -update to create it): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("exposition differs from %s (run with -update if intended)\n--- got\n%s", path, got)
	}
}

func TestMetricsAppendLabelValue(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{name: "plain", in: "go1.26.0", want: "go1.26.0"},
		{name: "empty", in: "", want: ""},
		{name: "backslash", in: `a\b`, want: `a\\b`},
		{name: "quote", in: `say "hi"`, want: `say \"hi\"`},
		{name: "newline", in: "a\nb", want: `a\nb`},
		{name: "all three", in: "\\\"\n", want: `\\\"\n`},
		{name: "escape-like text is escaped again", in: `\n`, want: `\\n`},
		{name: "tab and carriage return kept", in: "a\tb\rc", want: "a\tb\rc"},
		{name: "utf8 kept", in: "héllo ✓", want: "héllo ✓"},
		{name: "invalid utf8 replaced", in: "a\xffb", want: "a\uFFFDb"},
		{name: "injection attempt", in: "x\"} 1\nevil_total 9", want: `x\"} 1\nevil_total 9`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(metricsAppendLabelValue(nil, tt.in)); got != tt.want {
				t.Errorf("metricsAppendLabelValue(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestMetricsAppendHelp(t *testing.T) {
	got := string(metricsAppendHelp(nil, "a\\b\nc\"d"))
	if want := `a\\b\nc"d`; got != want {
		t.Errorf("metricsAppendHelp = %q, want %q", got, want)
	}
}

// metricsUnescapeLabelValue inverts metricsAppendLabelValue, failing on any escape
// sequence the format does not define, the way a strict scraper would.
func metricsUnescapeLabelValue(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\n':
			return "", fmt.Errorf("raw %q at %d", c, i)
		case c != '\\':
			b.WriteByte(c)
			continue
		}
		i++
		if i == len(s) {
			return "", errors.New("trailing backslash")
		}
		switch s[i] {
		case '\\':
			b.WriteByte('\\')
		case '"':
			b.WriteByte('"')
		case 'n':
			b.WriteByte('\n')
		default:
			return "", fmt.Errorf("bad escape \\%c", s[i])
		}
	}
	return b.String(), nil
}

func FuzzMetricsAppendLabelValue(f *testing.F) {
	for _, s := range []string{"", "plain", `a\b`, `"`, "\n", "\\\"\n", `\n`, "a\xffb", "é\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		esc := string(metricsAppendLabelValue(nil, s))
		if !utf8.ValidString(esc) {
			t.Fatalf("escaped %q is not valid UTF-8: %q", s, esc)
		}
		back, err := metricsUnescapeLabelValue(esc)
		if err != nil {
			t.Fatalf("escaped %q = %q does not parse: %v", s, esc, err)
		}
		if want := strings.ToValidUTF8(s, "\uFFFD"); back != want {
			t.Fatalf("round trip of %q = %q, want %q", s, back, want)
		}
	})
}

func TestMetricsHistogramBuckets(t *testing.T) {
	bounds := []time.Duration{time.Millisecond, 10 * time.Millisecond, time.Second}
	tests := []struct {
		name    string
		observe []time.Duration
		want    string // bucket, sum and count lines
	}{
		{
			name: "empty",
			want: `h_bucket{le="0.001"} 0
h_bucket{le="0.01"} 0
h_bucket{le="1"} 0
h_bucket{le="+Inf"} 0
h_sum 0
h_count 0
`,
		},
		{
			name:    "bounds are inclusive",
			observe: []time.Duration{time.Millisecond, 10 * time.Millisecond, time.Second},
			want: `h_bucket{le="0.001"} 1
h_bucket{le="0.01"} 2
h_bucket{le="1"} 3
h_bucket{le="+Inf"} 3
h_sum 1.011
h_count 3
`,
		},
		{
			name:    "just above a bound goes to the next",
			observe: []time.Duration{time.Millisecond + 1, time.Second + 1},
			want: `h_bucket{le="0.001"} 0
h_bucket{le="0.01"} 1
h_bucket{le="1"} 1
h_bucket{le="+Inf"} 2
h_sum 1.001000002
h_count 2
`,
		},
		{
			name:    "cumulative with repeats, negative counts as zero",
			observe: []time.Duration{-time.Second, 0, 5 * time.Millisecond, 5 * time.Millisecond, time.Hour},
			want: `h_bucket{le="0.001"} 2
h_bucket{le="0.01"} 4
h_bucket{le="1"} 4
h_bucket{le="+Inf"} 5
h_sum 3600.01
h_count 5
`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newMetricsHistogram(bounds)
			for _, d := range tt.observe {
				h.observe(d)
			}
			got := string(metricsAppendHistogram(nil, "h", "help", h))
			want := "# HELP h help\n# TYPE h histogram\n" + tt.want
			if got != want {
				t.Errorf("got\n%s\nwant\n%s", got, want)
			}
		})
	}
}

func TestMetricsHistogramBoundsMustAscend(t *testing.T) {
	for _, bounds := range [][]time.Duration{
		{time.Second, time.Millisecond},
		{time.Second, time.Second},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("newMetricsHistogram(%v) did not panic", bounds)
				}
			}()
			newMetricsHistogram(bounds)
		}()
	}
}

func TestMetricsCodeCounter(t *testing.T) {
	tests := []struct {
		name  string
		codes []int
		want  string // sample lines of http_server_requests_total
	}{
		{name: "none seen prints no sample", want: ""},
		{
			name:  "range ends are codes, outside is other",
			codes: []int{99, 100, 599, 600, 0, -1, 1 << 30},
			want: `http_server_requests_total{code="100"} 1
http_server_requests_total{code="599"} 1
http_server_requests_total{code="other"} 5
`,
		},
		{
			name:  "sorted by code and counted",
			codes: []int{404, 200, 404, 201},
			want: `http_server_requests_total{code="200"} 1
http_server_requests_total{code="201"} 1
http_server_requests_total{code="404"} 2
`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newAppMetrics()
			for _, c := range tt.codes {
				m.observeRequest(c, time.Millisecond)
			}
			var got strings.Builder
			for line := range strings.Lines(string(m.appendAppText(nil))) {
				if strings.HasPrefix(line, "http_server_requests_total") {
					got.WriteString(line)
				}
			}
			if got.String() != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got.String(), tt.want)
			}
		})
	}
}

func TestMetricsQueueStatsOptional(t *testing.T) {
	m := newAppMetrics()
	if s := string(m.appendAppText(nil)); strings.Contains(s, "rip_job_queue") {
		t.Errorf("queue families printed without a callback:\n%s", s)
	}
	m.setQueueStats(func() (int64, float64) { return 3, 0.5 })
	s := string(m.appendAppText(nil))
	for _, want := range []string{"\nrip_job_queue_depth 3\n", "\nrip_job_queue_oldest_due_age_seconds 0.5\n"} {
		if !strings.Contains(s, want) {
			t.Errorf("missing %q in\n%s", want, s)
		}
	}
	m.setQueueStats(nil)
	if s := string(m.appendAppText(nil)); strings.Contains(s, "rip_job_queue") {
		t.Errorf("queue families printed after the callback was removed:\n%s", s)
	}
}

func TestMetricsEventsDoNotAllocate(t *testing.T) {
	m := newAppMetrics()
	tests := []struct {
		name string
		f    func()
	}{
		{name: "observeRequest", f: func() { m.observeRequest(200, 3*time.Millisecond) }},
		{name: "observeRequest other code", f: func() { m.observeRequest(999, time.Hour) }},
		{name: "observeWriteLockWait", f: func() { m.observeWriteLockWait(time.Millisecond) }},
		{name: "incBusy", f: m.incBusy},
		{name: "incMailFailure", f: m.incMailFailure},
		{name: "incBlocked", f: func() { m.incBlocked(metricsBlockHost) }},
		{name: "incLogDropped", f: m.incLogDropped},
		{name: "jobFinished", f: func() { m.jobFinished(true) }},
		{name: "setConfigGeneration", f: func() { m.setConfigGeneration(3) }},
		{name: "backupSucceeded", f: func() { m.backupSucceeded(time.Unix(1, 0), time.Second) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if n := testing.AllocsPerRun(1000, tt.f); n != 0 {
				t.Errorf("%s allocates %v times per call, want 0", tt.name, n)
			}
		})
	}
}

// TestMetricsConcurrent updates every metric from several goroutines while others
// scrape, then checks the totals. Under -race it also proves the updates are atomic.
func TestMetricsConcurrent(t *testing.T) {
	const workers, perWorker = 8, 500
	m := newAppMetrics()
	m.setQueueStats(func() (int64, float64) { return 1, 1 })
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				m.observeRequest(200+w%2, time.Duration(i)*time.Microsecond)
				m.observeWriteLockWait(time.Duration(i) * time.Microsecond)
				m.incBusy()
				m.incBlocked(metricsBlockReason(i % int(metricsBlockReasonCount)))
				m.jobFinished(i%2 == 0)
				m.setConfigGeneration(int64(i))
			}
		})
	}
	scrapeErrs := make(chan error, 2)
	for range 2 {
		wg.Go(func() {
			for range 20 {
				if err := metricsCheckInfEqualsCount(m.appendText(nil)); err != nil {
					scrapeErrs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(scrapeErrs)
	for err := range scrapeErrs {
		t.Error(err)
	}

	const total = workers * perWorker
	s := string(m.appendAppText(nil))
	for _, want := range []string{
		`http_server_requests_total{code="200"} ` + strconv.Itoa(total/2) + "\n",
		`http_server_requests_total{code="201"} ` + strconv.Itoa(total/2) + "\n",
		"http_server_request_duration_seconds_count " + strconv.Itoa(total) + "\n",
		`http_server_request_duration_seconds_bucket{le="+Inf"} ` + strconv.Itoa(total) + "\n",
		"rip_db_write_lock_wait_seconds_count " + strconv.Itoa(total) + "\n",
		"rip_db_busy_total " + strconv.Itoa(total) + "\n",
		`rip_requests_blocked_total{reason="block_ip"} ` + strconv.Itoa(total/int(metricsBlockReasonCount)) + "\n",
		"rip_jobs_completed_total " + strconv.Itoa(total/2) + "\n",
		"rip_jobs_failed_total " + strconv.Itoa(total/2) + "\n",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("missing %q in\n%s", want, s)
		}
	}
}

// metricsCheckInfEqualsCount checks that in every histogram of exposition the +Inf
// bucket equals _count, even when the scrape raced with observations.
func metricsCheckInfEqualsCount(exposition []byte) error {
	inf := map[string]string{}
	for line := range strings.Lines(string(exposition)) {
		line = strings.TrimSuffix(line, "\n")
		if name, v, ok := strings.Cut(line, `_bucket{le="+Inf"} `); ok {
			inf[name] = v
		}
		if name, v, ok := strings.Cut(line, "_count "); ok && !strings.Contains(name, " ") {
			if inf[name] != v {
				return fmt.Errorf("%s: +Inf bucket %q != _count %q", name, inf[name], v)
			}
			delete(inf, name)
		}
	}
	if len(inf) != 0 {
		return fmt.Errorf("histograms without _count: %v", inf)
	}
	return nil
}

// TestMetricsWellFormed checks what promtool does not: each family is declared once
// with HELP before TYPE, every sample follows its own family's TYPE, and no series
// (name plus labels) appears twice.
func TestMetricsWellFormed(t *testing.T) {
	m := metricsGoldenApp()
	if err := metricsCheckWellFormed(m.appendText(nil)); err != nil {
		t.Fatal(err)
	}
	if err := metricsCheckWellFormed([]byte("# HELP a x\n# TYPE a gauge\na 1\na 2\n")); err == nil {
		t.Fatal("checker accepted a duplicate series")
	}
}

func metricsCheckWellFormed(exposition []byte) error {
	families := map[string]bool{}
	series := map[string]bool{}
	var family, typ, help string
	for line := range strings.Lines(string(exposition)) {
		line = strings.TrimSuffix(line, "\n")
		switch {
		case strings.HasPrefix(line, "# HELP "):
			help, _, _ = strings.Cut(strings.TrimPrefix(line, "# HELP "), " ")
		case strings.HasPrefix(line, "# TYPE "):
			family, typ, _ = strings.Cut(strings.TrimPrefix(line, "# TYPE "), " ")
			if family != help {
				return fmt.Errorf("TYPE %s not preceded by its HELP", family)
			}
			if families[family] {
				return fmt.Errorf("family %s declared twice", family)
			}
			families[family] = true
		default:
			key, _, ok := strings.Cut(line, " ")
			if !ok {
				return fmt.Errorf("malformed line %q", line)
			}
			name, _, _ := strings.Cut(key, "{")
			base := name
			if typ == "histogram" {
				for _, suf := range []string{"_bucket", "_sum", "_count"} {
					if b, ok := strings.CutSuffix(name, suf); ok {
						base = b
					}
				}
			}
			if base != family {
				return fmt.Errorf("sample %s outside its family (current %s)", name, family)
			}
			if series[key] {
				return fmt.Errorf("duplicate series %s", key)
			}
			series[key] = true
		}
	}
	return nil
}

func TestMetricsProcessFamilies(t *testing.T) {
	s := string(metricsAppendProcessText(nil))
	values := map[string]float64{}
	for line := range strings.Lines(s) {
		if strings.HasPrefix(line, "#") || strings.HasPrefix(line, "go_info{") {
			continue
		}
		name, v, _ := strings.Cut(strings.TrimSuffix(line, "\n"), " ")
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		values[name] = f
	}
	positive := []string{"process_start_time_seconds", "go_goroutines", "go_memstats_heap_alloc_bytes"}
	if runtime.GOOS == "linux" {
		positive = append(positive, "process_resident_memory_bytes", "process_open_fds")
	}
	for _, name := range positive {
		if values[name] <= 0 {
			t.Errorf("%s = %v, want > 0 in\n%s", name, values[name], s)
		}
	}
	if start := values["process_start_time_seconds"]; start > float64(time.Now().Unix()+1) {
		t.Errorf("process_start_time_seconds %v is in the future", start)
	}
	counters := []string{"go_gc_cycles_total"}
	if runtime.GOOS == "linux" {
		counters = append(counters, "process_cpu_seconds_total")
	}
	for _, name := range counters {
		if _, ok := values[name]; !ok {
			t.Errorf("%s missing in\n%s", name, s)
		}
	}
	if want := `go_info{version="` + runtime.Version() + `"} 1` + "\n"; !strings.Contains(s, want) {
		t.Errorf("missing %q in\n%s", want, s)
	}
}

func TestMetricsOpenFDsCountsNewFile(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs /proc/self/fd (Linux)")
	}
	before, ok := metricsOpenFDs()
	if !ok {
		t.Fatal("metricsOpenFDs failed on Linux")
	}
	f, err := os.Open(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	after, _ := metricsOpenFDs()
	if after != before+1 {
		t.Errorf("open fds went from %d to %d after opening one file", before, after)
	}
}

func TestMetricsHandler(t *testing.T) {
	m := metricsGoldenApp()
	h := metricsHandler(m)
	tests := []struct {
		name       string
		method     string
		wantStatus int
		wantBody   bool
	}{
		{name: "GET", method: http.MethodGet, wantStatus: http.StatusOK, wantBody: true},
		{name: "HEAD", method: http.MethodHead, wantStatus: http.StatusOK},
		{name: "POST", method: http.MethodPost, wantStatus: http.StatusMethodNotAllowed},
		{name: "PUT", method: http.MethodPut, wantStatus: http.StatusMethodNotAllowed},
		{name: "DELETE", method: http.MethodDelete, wantStatus: http.StatusMethodNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(tt.method, "/metrics", nil))
			res := rec.Result()
			if res.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d, want %d", res.StatusCode, tt.wantStatus)
			}
			body := rec.Body.String()
			if tt.wantStatus == http.StatusMethodNotAllowed {
				if got := res.Header.Get("Allow"); got != "GET, HEAD" {
					t.Errorf("Allow = %q, want %q", got, "GET, HEAD")
				}
				if strings.Contains(body, "http_server") {
					t.Errorf("405 response leaks metrics: %q", body)
				}
				return
			}
			if got := res.Header.Get("Content-Type"); got != "text/plain; version=0.0.4; charset=utf-8" {
				t.Errorf("Content-Type = %q", got)
			}
			n, err := strconv.Atoi(res.Header.Get("Content-Length"))
			if err != nil || n < 1000 {
				t.Errorf("Content-Length = %q, want the size of a full exposition", res.Header.Get("Content-Length"))
			}
			if tt.wantBody {
				if len(body) != n {
					t.Errorf("body is %d bytes, Content-Length says %d", len(body), n)
				}
				if app := string(m.appendAppText(nil)); !strings.HasPrefix(body, app) || !strings.Contains(body, "\ngo_info{") {
					t.Errorf("body is not the app exposition followed by runtime families:\n%s", body)
				}
			} else if body != "" {
				t.Errorf("HEAD response has a body: %q", body)
			}
		})
	}
}

// TestMetricsPromtool pipes the real exposition, as served by metricsHandler, into
// `promtool check metrics`, which parses it and lints names, types and help text.
// Exit status 1 is a parse error and 3 a lint problem; both fail the test.
func TestMetricsPromtool(t *testing.T) {
	promtool := needProgram(t, "promtool") // Debian package prometheus

	tests := []struct {
		name string
		m    *appMetrics
	}{
		{name: "fresh", m: newAppMetrics()},
		{name: "golden values", m: metricsGoldenApp()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			metricsHandler(tt.m).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
			cmd := exec.Command(promtool, "check", "metrics")
			cmd.Stdin = bytes.NewReader(rec.Body.Bytes())
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("promtool check metrics: %v\n%s\n--- exposition\n%s", err, out, rec.Body.Bytes())
			}
			if len(bytes.TrimSpace(out)) != 0 {
				t.Errorf("promtool printed findings:\n%s", out)
			}
		})
	}
	t.Run("served by an app through the edge", func(t *testing.T) {
		ta := newTestApp(t)
		ta.do("GET", "/api/health", "192.0.2.1:1", nil)
		ta.do("GET", "/nope", "192.0.2.1:1", nil, "User-Agent: nikto")
		w := ta.do("GET", "/metrics", "127.0.0.1:9", nil)
		cmd := exec.Command(promtool, "check", "metrics")
		cmd.Stdin = bytes.NewReader(w.Body.Bytes())
		if out, err := cmd.CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) != 0 {
			t.Fatalf("promtool check metrics: %v\n%s\n--- exposition\n%s", err, out, w.Body.Bytes())
		}
	})
	t.Run("promtool rejects a broken exposition", func(t *testing.T) {
		cmd := exec.Command(promtool, "check", "metrics")
		cmd.Stdin = strings.NewReader("# HELP x_total x\n# TYPE x_total counter\nx_total{code=\"1} 1\n")
		if err := cmd.Run(); err == nil {
			t.Fatal("promtool accepted a broken exposition; the test above proves nothing")
		}
	})
}

func BenchmarkMetricsObserveRequest(b *testing.B) {
	m := newAppMetrics()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		m.observeRequest(200, time.Duration(i&0xffff)*time.Microsecond)
	}
}

func BenchmarkMetricsObserveRequestParallel(b *testing.B) {
	m := newAppMetrics()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			m.observeRequest(200, time.Duration(i&0xffff)*time.Microsecond)
			i++
		}
	})
}

func BenchmarkMetricsWriteText(b *testing.B) {
	m := metricsGoldenApp()
	b.ReportAllocs()
	var buf bytes.Buffer
	for b.Loop() {
		buf.Reset()
		if err := m.writeText(&buf); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(buf.Len()))
}

func TestMetricsAppendValue(t *testing.T) {
	tests := []struct {
		name string
		in   float64
		want string
	}{
		{name: "zero", in: 0, want: "0"},
		{name: "negative zero", in: math.Copysign(0, -1), want: "0"},
		{name: "whole", in: 7442432, want: "7442432"},
		{name: "negative whole", in: -12, want: "-12"},
		{name: "largest exact", in: 1<<53 - 1, want: "9007199254740991"},
		{name: "beyond exact", in: 1 << 60, want: "1.152921504606847e+18"},
		{name: "fraction", in: 3.25, want: "3.25"},
		{name: "small", in: 5e-05, want: "5e-05"},
		{name: "fractional timestamp", in: 1767225600.5, want: "1.7672256005e+09"},
		{name: "plus infinity", in: math.Inf(1), want: "+Inf"},
		{name: "minus infinity", in: math.Inf(-1), want: "-Inf"},
		{name: "not a number", in: math.NaN(), want: "NaN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(metricsAppendValue(nil, tt.in))
			if got != tt.want {
				t.Errorf("metricsAppendValue(%v) = %q, want %q", tt.in, got, tt.want)
			}
			if back, err := strconv.ParseFloat(got, 64); err != nil || back != tt.in && !math.IsNaN(tt.in) {
				t.Errorf("%q parses back as %v, %v; want %v", got, back, err, tt.in)
			}
		})
	}
}
