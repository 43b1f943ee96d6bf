package rip

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// serveHelper runs in a helper process (RIP_TEST_HELPER=serve-rip or
// serve-bare): it serves GET /hello on a loopback port, prints the address
// on stdout and stops when stdin closes. The rip server has the whole
// default edge chain on, as in BenchmarkLoadTrivialVsBare, with its data
// in RIP_TEST_DIR.
func serveHelper(kind string) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	fmt.Printf("%s\n", ln.Addr())
	if kind == "serve-bare" {
		mux := http.NewServeMux()
		mux.HandleFunc("GET /hello", helloHandler)
		srv := &http.Server{Handler: mux}
		go func() { <-ctx.Done(); srv.Close() }()
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}
	dir := os.Getenv("RIP_TEST_DIR")
	app, err := New(Options{DB: filepath.Join(dir, "app.db"), Logger: discardLogger()})
	if err != nil {
		return err
	}
	defer app.Close()
	app.HandleFunc("GET /hello", helloHandler)
	return app.Serve(ctx, ln)
}

// serverProcess is a helper process serving /hello.
type serverProcess struct {
	url   string
	cmd   *exec.Cmd
	stdin io.WriteCloser
}

func startServerProcess(b *testing.B, kind, dir string) *serverProcess {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "RIP_TEST_HELPER="+kind, "RIP_TEST_DIR="+dir)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	addr, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		cmd.Process.Kill()
		b.Fatalf("%s helper: %v", kind, err)
	}
	p := &serverProcess{url: "http://" + strings.TrimSpace(addr), cmd: cmd, stdin: stdin}
	b.Cleanup(p.stop)
	return p
}

// peakRSS returns the process's peak resident set in MiB.
func (p *serverProcess) peakRSS() float64 {
	return vmHWMOf(strconv.Itoa(p.cmd.Process.Pid))
}

func (p *serverProcess) stop() {
	if p.stdin != nil {
		p.stdin.Close()
		p.stdin = nil
		done := make(chan struct{})
		go func() { p.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			p.cmd.Process.Kill()
			<-done
		}
	}
}

// BenchmarkLoadSeparateProcess runs rip (whole default chain, request log
// on) and a bare net/http server each in its own process, and drives both
// from this process in alternating rounds: the load generator no longer
// shares the servers' process, and each server's peak RSS is its own.
// Run with -benchtime=1x.
func BenchmarkLoadSeparateProcess(b *testing.B) {
	dir := b.TempDir()
	storeBenchConfig(b, dir, func(c *Config) {
		c.BlockHost.AllowedHosts = []string{"127.0.0.1", "localhost"}
		c.Log.Request.Activated = true
	})
	bare := startServerProcess(b, "serve-bare", "")
	rip := startServerProcess(b, "serve-rip", dir)
	const rounds, conc, round = 10, 32, 500 * time.Millisecond
	var bareSum, ripSum float64
	for i := 0; i < b.N*rounds; i++ {
		if i%2 == 0 {
			bareSum += loadRun(b, bare.url+"/hello", conc, round)
			ripSum += loadRun(b, rip.url+"/hello", conc, round)
		} else {
			ripSum += loadRun(b, rip.url+"/hello", conc, round)
			bareSum += loadRun(b, bare.url+"/hello", conc, round)
		}
	}
	ripRSS, bareRSS := rip.peakRSS(), bare.peakRSS()
	n := float64(b.N * rounds)
	b.ReportMetric(bareSum/n, "bare-req/s")
	b.ReportMetric(ripSum/n, "rip-req/s")
	b.ReportMetric(ripSum/bareSum, "rip/bare")
	b.ReportMetric(ripRSS, "rip-peak-RSS-MiB")
	b.ReportMetric(bareRSS, "bare-peak-RSS-MiB")
	fmt.Printf("separate processes: bare %.0f req/s, rip %.0f req/s, rip/bare %.2f; peak RSS rip %.1f MiB, bare %.1f MiB\n",
		bareSum/n, ripSum/n, ripSum/bareSum, ripRSS, bareRSS)
}
