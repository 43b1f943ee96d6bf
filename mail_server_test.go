package rip

import (
	"cmp"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"math/big"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// mailFakeOptions configures the in-process SMTP server used by the mail
// tests. The zero value is a plain server without TLS or AUTH.
type mailFakeOptions struct {
	implicitTLS bool              // TLS from the first byte (port 465 style)
	startTLS    bool              // offer STARTTLS
	cert        *tls.Certificate  // certificate for either TLS mode
	inject      string            // bytes sent right after the STARTTLS 220 reply
	stall       string            // "greeting": never greet; "ehlo": never answer EHLO
	greeting    string            // first reply; default "220 fake ESMTP"
	replies     map[string]string // verb (or "DATAEND") → reply replacing the normal one
	user, pass  string            // AUTH is advertised when user is set
	authMechs   string            // advertised mechanisms; default "PLAIN CRAM-MD5"
	authNoTLS   bool              // advertise AUTH before TLS too
}

// mailFakeLine is one command line the server received.
type mailFakeLine struct {
	tls  bool
	line string
}

// mailFake is a minimal SMTP server on 127.0.0.1 that records what clients
// send. It stops, and waits for its goroutines, when the test ends.
type mailFake struct {
	opts    mailFakeOptions
	ln      net.Listener
	done    chan struct{}
	stalled chan struct{} // receives when a connection starts stalling
	wg      sync.WaitGroup

	mu    sync.Mutex
	conns []net.Conn
	lines []mailFakeLine
	msgs  []string
}

func newMailFake(t *testing.T, opts mailFakeOptions) *mailFake {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &mailFake{opts: opts, ln: ln, done: make(chan struct{}), stalled: make(chan struct{}, 8)}
	f.wg.Add(1)
	go f.accept()
	t.Cleanup(f.close)
	return f
}

func (f *mailFake) port() int { return f.ln.Addr().(*net.TCPAddr).Port }

func (f *mailFake) close() {
	close(f.done)
	f.ln.Close()
	f.mu.Lock()
	for _, c := range f.conns {
		c.Close()
	}
	f.mu.Unlock()
	f.wg.Wait()
}

func (f *mailFake) accept() {
	defer f.wg.Done()
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.mu.Lock()
		select {
		case <-f.done: // close has already closed the tracked connections
			f.mu.Unlock()
			c.Close()
			return
		default:
		}
		f.conns = append(f.conns, c)
		f.mu.Unlock()
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			defer c.Close()
			f.serve(c)
		}()
	}
}

// connCount is the number of connections accepted so far.
func (f *mailFake) connCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.conns)
}

// received returns the command lines received so far.
func (f *mailFake) received() []mailFakeLine {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]mailFakeLine(nil), f.lines...)
}

// messages returns the message contents accepted so far.
func (f *mailFake) messages() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.msgs...)
}

// verbs returns the upper-cased first word of each received line.
func (f *mailFake) verbs() []string {
	var v []string
	for _, l := range f.received() {
		word, _, _ := strings.Cut(l.line, " ")
		v = append(v, strings.ToUpper(word))
	}
	return v
}

// stall blocks until the server closes, after telling a waiting test.
func (f *mailFake) stall() {
	select {
	case f.stalled <- struct{}{}:
	default:
	}
	<-f.done
}

// mailFakeSession is the state of one connection.
type mailFakeSession struct {
	conn   net.Conn
	tp     *textproto.Conn
	tls    bool
	authed bool
}

func (f *mailFake) serve(c net.Conn) {
	s := &mailFakeSession{conn: c}
	if f.opts.implicitTLS {
		tc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{*f.opts.cert}})
		if tc.Handshake() != nil {
			return
		}
		s.conn, s.tls = tc, true
	}
	if f.opts.stall == "greeting" {
		f.stall()
		return
	}
	s.tp = textproto.NewConn(s.conn)
	greeting := f.opts.greeting
	if greeting == "" {
		greeting = "220 fake ESMTP"
	}
	s.tp.PrintfLine("%s", greeting)
	if !strings.HasPrefix(greeting, "2") {
		return
	}
	for {
		line, err := s.tp.ReadLine()
		if err != nil {
			return
		}
		f.mu.Lock()
		f.lines = append(f.lines, mailFakeLine{tls: s.tls, line: line})
		f.mu.Unlock()
		verb, arg, _ := strings.Cut(line, " ")
		verb = strings.ToUpper(verb)
		if reply, ok := f.opts.replies[verb]; ok {
			s.tp.PrintfLine("%s", reply)
			continue
		}
		if !f.command(s, verb, arg) {
			return
		}
	}
}

// command answers one command and reports whether to read the next one.
func (f *mailFake) command(s *mailFakeSession, verb, arg string) bool {
	switch verb {
	case "EHLO":
		if f.opts.stall == "ehlo" {
			f.stall()
			return false
		}
		ext := []string{"fake", "8BITMIME"}
		if f.opts.startTLS && !s.tls {
			ext = append(ext, "STARTTLS")
		}
		if f.opts.user != "" && (s.tls || f.opts.authNoTLS) {
			ext = append(ext, "AUTH "+cmp.Or(f.opts.authMechs, "PLAIN CRAM-MD5"))
		}
		for i, e := range ext {
			sep := "-"
			if i == len(ext)-1 {
				sep = " "
			}
			s.tp.PrintfLine("250%s%s", sep, e)
		}
	case "STARTTLS":
		if !f.opts.startTLS || s.tls {
			s.tp.PrintfLine("502 not here")
			return true
		}
		s.conn.Write([]byte("220 go ahead\r\n" + f.opts.inject))
		tc := tls.Server(s.conn, &tls.Config{Certificates: []tls.Certificate{*f.opts.cert}})
		if tc.Handshake() != nil {
			return false
		}
		s.conn, s.tls, s.tp = tc, true, textproto.NewConn(tc)
	case "AUTH":
		return f.auth(s, arg)
	case "MAIL":
		if f.opts.user != "" && !s.authed {
			s.tp.PrintfLine("530 authentication required")
			return true
		}
		s.tp.PrintfLine("250 ok")
	case "DATA":
		s.tp.PrintfLine("354 go ahead")
		data, err := s.tp.ReadDotBytes()
		if err != nil {
			return false
		}
		f.mu.Lock()
		f.msgs = append(f.msgs, string(data))
		f.mu.Unlock()
		s.tp.PrintfLine("%s", cmp.Or(f.opts.replies["DATAEND"], "250 queued"))
	case "QUIT":
		s.tp.PrintfLine("221 bye")
		return false
	case "HELO", "RCPT", "RSET", "NOOP":
		s.tp.PrintfLine("250 ok")
	default:
		s.tp.PrintfLine("502 unknown command")
	}
	return true
}

// auth checks AUTH PLAIN (with an initial response) or CRAM-MD5 against the
// configured credentials.
func (f *mailFake) auth(s *mailFakeSession, arg string) bool {
	mech, resp, _ := strings.Cut(arg, " ")
	ok := false
	switch strings.ToUpper(mech) {
	case "PLAIN":
		b, err := base64.StdEncoding.DecodeString(resp)
		ok = err == nil && string(b) == "\x00"+f.opts.user+"\x00"+f.opts.pass
	case "CRAM-MD5":
		challenge := "<1896.697170952@fake.test>"
		s.tp.PrintfLine("334 %s", base64.StdEncoding.EncodeToString([]byte(challenge)))
		line, err := s.tp.ReadLine()
		if err != nil {
			return false
		}
		f.mu.Lock()
		f.lines = append(f.lines, mailFakeLine{tls: s.tls, line: line})
		f.mu.Unlock()
		b, _ := base64.StdEncoding.DecodeString(line)
		mac := hmac.New(md5.New, []byte(f.opts.pass))
		mac.Write([]byte(challenge))
		ok = string(b) == f.opts.user+" "+hex.EncodeToString(mac.Sum(nil))
	}
	if !ok {
		s.tp.PrintfLine("535 authentication failed")
		return true
	}
	s.authed = true
	s.tp.PrintfLine("235 authenticated")
	return true
}

// mailTestPKI holds certificates for the TLS tests: a CA trusted by the
// client, a leaf for 127.0.0.1 signed by it, a leaf for another host signed
// by it, and a self-signed leaf for 127.0.0.1 that nobody trusts.
type mailTestPKI struct {
	roots                  *x509.CertPool
	good, wrongHost, selfy tls.Certificate
}

var mailTestCerts = sync.OnceValue(func() *mailTestPKI {
	caKey := mailTestKey()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "rip test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		panic(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	p := &mailTestPKI{roots: x509.NewCertPool()}
	p.roots.AddCert(ca)
	p.good = mailTestLeaf(2, []net.IP{net.IPv4(127, 0, 0, 1)}, nil, ca, caKey)
	p.wrongHost = mailTestLeaf(3, nil, []string{"mail.example.org"}, ca, caKey)
	p.selfy = mailTestLeaf(4, []net.IP{net.IPv4(127, 0, 0, 1)}, nil, nil, nil)
	return p
})

func mailTestKey() *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	return k
}

// mailTestLeaf makes a server certificate, self-signed when ca is nil.
func mailTestLeaf(serial int64, ips []net.IP, names []string, ca *x509.Certificate, caKey *ecdsa.PrivateKey) tls.Certificate {
	key := mailTestKey()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: "fake smtp " + strconv.FormatInt(serial, 10)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  ips,
		DNSNames:     names,
	}
	parent, signer := ca, caKey
	if ca == nil {
		parent, signer = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		panic(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
