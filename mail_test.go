package rip

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"net/mail"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

const (
	mailTestUser = "rip"
	mailTestPass = "s3cret-relay-pw"
)

// mailTestConfig returns a config for a server on 127.0.0.1:port with
// STARTTLS required and AUTH PLAIN.
func mailTestConfig(port int) SMTPConfig {
	return SMTPConfig{
		Enabled:     true,
		Host:        "127.0.0.1",
		Port:        port,
		Username:    mailTestUser,
		Password:    mailTestPass,
		FromName:    "Rip Test",
		FromAddress: "noreply@rip.test",
		LocalName:   "client.rip.test",
		AuthMethod:  mailAuthPlain,
		UseStartTLS: true,
		Timeout:     5 * time.Second,
	}
}

func mailTestMailer(cfg SMTPConfig) *SMTPMailer {
	return &SMTPMailer{
		Config:    func() SMTPConfig { return cfg },
		TLSConfig: &tls.Config{RootCAs: mailTestCerts().roots},
	}
}

func mailTestMessage() *Message {
	return &Message{To: "ana@example.com", Subject: "Your Rip verification code", Text: "Code: 123456\n", HTML: "<p>Code: <b>123456</b></p>\n"}
}

// mailTestOptions is a server that offers STARTTLS with a trusted certificate
// and wants AUTH with the test credentials.
func mailTestOptions() mailFakeOptions {
	return mailFakeOptions{startTLS: true, cert: &mailTestCerts().good, user: mailTestUser, pass: mailTestPass}
}

// mailAssertNoLeak fails if the server received AUTH, MAIL, RCPT or DATA, or
// anything at all in clear text after a TLS policy failure.
func mailAssertNoLeak(t *testing.T, f *mailFake) {
	t.Helper()
	for _, v := range f.verbs() {
		if v == "AUTH" || v == "MAIL" || v == "RCPT" || v == "DATA" {
			t.Errorf("server received %s; lines: %+v", v, f.received())
		}
	}
	for _, l := range f.received() {
		if strings.Contains(l.line, base64.StdEncoding.EncodeToString([]byte("\x00"+mailTestUser+"\x00"+mailTestPass))) {
			t.Errorf("credentials reached the server in %q", l.line)
		}
	}
}

func TestSMTPMailerTLSPolicy(t *testing.T) {
	pki := mailTestCerts()
	tests := []struct {
		name      string
		opts      mailFakeOptions
		useTLS    bool
		permanent bool
		verbs     []string // exactly the commands the server may see
		binary    bool     // the server reads a TLS ClientHello as lines
	}{
		{name: "starttls not offered", opts: mailFakeOptions{user: mailTestUser, pass: mailTestPass, authNoTLS: true},
			permanent: true, verbs: []string{"EHLO"}},
		{name: "starttls self-signed certificate", opts: mailFakeOptions{startTLS: true, cert: &pki.selfy, user: mailTestUser, authNoTLS: true},
			permanent: true, verbs: []string{"EHLO", "STARTTLS"}},
		{name: "starttls certificate for another host", opts: mailFakeOptions{startTLS: true, cert: &pki.wrongHost, user: mailTestUser},
			permanent: true, verbs: []string{"EHLO", "STARTTLS"}},
		{name: "starttls refused permanently", opts: mailFakeOptions{startTLS: true, cert: &pki.good, replies: map[string]string{"STARTTLS": "502 no"}},
			permanent: true, verbs: []string{"EHLO", "STARTTLS"}},
		{name: "starttls refused for now", opts: mailFakeOptions{startTLS: true, cert: &pki.good, replies: map[string]string{"STARTTLS": "454 TLS not available"}},
			permanent: false, verbs: []string{"EHLO", "STARTTLS"}},
		{name: "starttls response injection", opts: mailFakeOptions{startTLS: true, cert: &pki.good, inject: "250-injected\r\n250 AUTH PLAIN\r\n"},
			permanent: true, verbs: []string{"EHLO", "STARTTLS"}},
		{name: "implicit tls self-signed certificate", opts: mailFakeOptions{implicitTLS: true, cert: &pki.selfy},
			useTLS: true, permanent: true, verbs: nil},
		{name: "implicit tls certificate for another host", opts: mailFakeOptions{implicitTLS: true, cert: &pki.wrongHost},
			useTLS: true, permanent: true, verbs: nil},
		{name: "implicit tls against a plain server", opts: mailFakeOptions{},
			useTLS: true, permanent: true, binary: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newMailFake(t, tt.opts)
			cfg := mailTestConfig(f.port())
			cfg.UseTLS, cfg.UseStartTLS = tt.useTLS, !tt.useTLS
			err := mailTestMailer(cfg).Send(t.Context(), mailTestMessage())
			if err == nil {
				t.Fatal("Send succeeded; want a TLS policy failure")
			}
			if got := errors.Is(err, ErrMailPermanent); got != tt.permanent {
				t.Errorf("permanent = %v, want %v (err: %v)", got, tt.permanent, err)
			}
			mailAssertNoLeak(t, f)
			for _, v := range f.verbs() {
				if !tt.binary && !slices.Contains(tt.verbs, v) {
					t.Errorf("server received %s; want only %v", v, tt.verbs)
				}
			}
			if len(f.messages()) != 0 {
				t.Error("server accepted a message")
			}
		})
	}
}

func TestSMTPMailerReplies(t *testing.T) {
	tests := []struct {
		name      string
		greeting  string
		replies   map[string]string
		wantErr   bool
		permanent bool
	}{
		{name: "accepted"},
		{name: "421 at greeting", greeting: "421 too busy", wantErr: true},
		{name: "554 at greeting", greeting: "554 go away", wantErr: true, permanent: true},
		{name: "535 to AUTH", replies: map[string]string{"AUTH": "535 bad credentials"}, wantErr: true, permanent: true},
		{name: "454 to AUTH", replies: map[string]string{"AUTH": "454 try later"}, wantErr: true},
		{name: "451 to MAIL", replies: map[string]string{"MAIL": "451 local error"}, wantErr: true},
		{name: "550 to RCPT", replies: map[string]string{"RCPT": "550 no such user"}, wantErr: true, permanent: true},
		{name: "452 to RCPT", replies: map[string]string{"RCPT": "452 mailbox full"}, wantErr: true},
		{name: "554 to DATA", replies: map[string]string{"DATA": "554 no"}, wantErr: true, permanent: true},
		{name: "552 after content", replies: map[string]string{"DATAEND": "552 too big"}, wantErr: true, permanent: true},
		{name: "451 after content", replies: map[string]string{"DATAEND": "451 try again"}, wantErr: true},
		{name: "QUIT fails after acceptance", replies: map[string]string{"QUIT": "500 what"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := mailTestOptions()
			opts.greeting, opts.replies = tt.greeting, tt.replies
			f := newMailFake(t, opts)
			err := mailTestMailer(mailTestConfig(f.port())).Send(t.Context(), mailTestMessage())
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if got := errors.Is(err, ErrMailPermanent); got != tt.permanent {
				t.Errorf("permanent = %v, want %v (err: %v)", got, tt.permanent, err)
			}
			if got := len(f.messages()); !tt.wantErr && got != 1 {
				t.Errorf("server has %d messages, want 1", got)
			}
		})
	}
}

func TestSMTPMailerDeadline(t *testing.T) {
	for _, stall := range []string{"greeting", "ehlo"} {
		t.Run(stall, func(t *testing.T) {
			f := newMailFake(t, mailFakeOptions{stall: stall})
			cfg := mailTestConfig(f.port())
			cfg.UseStartTLS, cfg.AuthMethod = false, mailAuthNone
			cfg.Timeout = 300 * time.Millisecond
			start := time.Now()
			err := mailTestMailer(cfg).Send(t.Context(), mailTestMessage())
			elapsed := time.Since(start)
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("err = %v, want a deadline error", err)
			}
			if errors.Is(err, ErrMailPermanent) {
				t.Errorf("a timeout is permanent: %v", err)
			}
			if elapsed < cfg.Timeout || elapsed > cfg.Timeout+2*time.Second {
				t.Errorf("Send took %v with a timeout of %v", elapsed, cfg.Timeout)
			}
		})
	}
}

func TestSMTPMailerCancel(t *testing.T) {
	f := newMailFake(t, mailFakeOptions{stall: "ehlo"})
	cfg := mailTestConfig(f.port())
	cfg.UseStartTLS, cfg.AuthMethod = false, mailAuthNone
	cfg.Timeout = time.Minute
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		select {
		case <-f.stalled:
			cancel()
		case <-ctx.Done():
		}
	}()
	start := time.Now()
	err := mailTestMailer(cfg).Send(ctx, mailTestMessage())
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if errors.Is(err, ErrMailPermanent) {
		t.Errorf("cancellation is permanent: %v", err)
	}
	if elapsed := time.Since(start); elapsed > 10*time.Second {
		t.Errorf("Send took %v after cancellation", elapsed)
	}
}

func TestSMTPMailerDelivers(t *testing.T) {
	pki := mailTestCerts()
	tests := []struct {
		name string
		opts mailFakeOptions
		edit func(*SMTPConfig)
	}{
		{name: "starttls plain", opts: mailTestOptions()},
		{name: "starttls cram-md5", opts: mailTestOptions(), edit: func(c *SMTPConfig) { c.AuthMethod = mailAuthCRAMMD5 }},
		{name: "implicit tls plain", opts: mailFakeOptions{implicitTLS: true, cert: &pki.good, user: mailTestUser, pass: mailTestPass},
			edit: func(c *SMTPConfig) { c.UseTLS, c.UseStartTLS = true, false }},
		{name: "loopback without tls, plain", opts: mailFakeOptions{user: mailTestUser, pass: mailTestPass, authNoTLS: true},
			edit: func(c *SMTPConfig) { c.UseStartTLS = false }},
		{name: "loopback without tls or auth", opts: mailFakeOptions{},
			edit: func(c *SMTPConfig) { c.UseStartTLS, c.AuthMethod = false, "" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newMailFake(t, tt.opts)
			cfg := mailTestConfig(f.port())
			if tt.edit != nil {
				tt.edit(&cfg)
			}
			var transcript strings.Builder
			m := mailTestMailer(cfg)
			m.Transcript = &transcript
			m.now = func() time.Time { return mailTestNow }
			if err := m.Send(t.Context(), mailTestMessage()); err != nil {
				t.Fatalf("Send: %v\ntranscript:\n%s", err, transcript.String())
			}
			msgs := f.messages()
			if len(msgs) != 1 {
				t.Fatalf("server has %d messages, want 1", len(msgs))
			}
			parsed, err := mail.ReadMessage(strings.NewReader(msgs[0]))
			if err != nil {
				t.Fatal(err)
			}
			if got := parsed.Header.Get("To"); got != "<ana@example.com>" {
				t.Errorf("To = %q", got)
			}
			if got, err := parsed.Header.Date(); err != nil || !got.Equal(mailTestNow) {
				t.Errorf("Date = %v, %v; want %v", got, err, mailTestNow)
			}
			for _, l := range f.received() {
				verb, _, _ := strings.Cut(l.line, " ")
				if (verb == "AUTH" || verb == "MAIL") && !l.tls && (cfg.UseTLS || cfg.UseStartTLS) {
					t.Errorf("%s sent before TLS", verb)
				}
			}
			mailAssertTranscript(t, transcript.String(), cfg.AuthMethod)
			t.Logf("transcript:\n%s", transcript.String())
		})
	}
}

// mailAssertTranscript checks that a transcript shows the dialogue but not
// the credentials or the message content.
func mailAssertTranscript(t *testing.T, s, authMethod string) {
	t.Helper()
	for _, secret := range []string{mailTestPass, base64.StdEncoding.EncodeToString([]byte("\x00" + mailTestUser + "\x00" + mailTestPass)), "123456"} {
		if strings.Contains(s, secret) {
			t.Errorf("transcript contains %q:\n%s", secret, s)
		}
	}
	want := []string{"C: MAIL FROM:<noreply@rip.test>", "C: RCPT TO:<ana@example.com>", "S: 354", "C: [message content,", "S: 250 queued"}
	if authMethod != "" && authMethod != mailAuthNone {
		want = append(want, "[redacted]", "S: 235 authenticated")
	}
	for _, w := range want {
		if !strings.Contains(s, w) {
			t.Errorf("transcript lacks %q:\n%s", w, s)
		}
	}
}

func TestSMTPMailerAuthNotOffered(t *testing.T) {
	opts := mailTestOptions()
	opts.authMechs = "LOGIN XOAUTH2"
	f := newMailFake(t, opts)
	err := mailTestMailer(mailTestConfig(f.port())).Send(t.Context(), mailTestMessage())
	if !errors.Is(err, ErrMailPermanent) || !strings.Contains(err.Error(), "AUTH PLAIN") {
		t.Fatalf("err = %v, want a permanent error naming AUTH PLAIN", err)
	}
	mailAssertNoLeak(t, f)
}

// TestSMTPMailerRefusesBeforeDial checks that invalid messages and configs
// fail before any connection, so injected text never reaches a server.
func TestSMTPMailerRefusesBeforeDial(t *testing.T) {
	tests := []struct {
		name string
		msg  func(*Message)
		cfg  func(*SMTPConfig)
	}{
		{name: "subject with CRLF header", msg: func(m *Message) { m.Subject = "Hi\r\nBcc: eve@evil.test" }},
		{name: "subject with bare LF", msg: func(m *Message) { m.Subject = "Hi\nBcc: eve@evil.test" }},
		{name: "subject with NUL", msg: func(m *Message) { m.Subject = "Hi\x00there" }},
		{name: "to with CRLF RCPT", msg: func(m *Message) { m.To = "ana@example.com\r\nRCPT TO:<eve@evil.test>" }},
		{name: "to with display name", msg: func(m *Message) { m.To = "Ana <ana@example.com>" }},
		{name: "to with two addresses", msg: func(m *Message) { m.To = "ana@example.com, eve@evil.test" }},
		{name: "to with comment", msg: func(m *Message) { m.To = "ana@example.com (x)" }},
		{name: "to not an address", msg: func(m *Message) { m.To = "ana" }},
		{name: "to non-ascii", msg: func(m *Message) { m.To = "añа@example.com" }},
		{name: "no body", msg: func(m *Message) { m.Text, m.HTML = "", "" }},
		{name: "body too large", msg: func(m *Message) { m.Text = strings.Repeat("a", mailMaxBodyBytes+1) }},
		{name: "from name with LF", cfg: func(c *SMTPConfig) { c.FromName = "Rip\nBcc: eve@evil.test" }},
		{name: "from address with NUL", cfg: func(c *SMTPConfig) { c.FromAddress = "noreply@rip.test\x00" }},
		{name: "from address with name", cfg: func(c *SMTPConfig) { c.FromAddress = "Rip <noreply@rip.test>" }},
		{name: "disabled", cfg: func(c *SMTPConfig) { c.Enabled = false }},
		{name: "unknown auth method", cfg: func(c *SMTPConfig) { c.AuthMethod = "login" }},
		{name: "both tls modes", cfg: func(c *SMTPConfig) { c.UseTLS = true }},
		{name: "local name with CRLF", cfg: func(c *SMTPConfig) { c.LocalName = "x\r\nMAIL FROM:<eve@evil.test>" }},
		{name: "password with NUL", cfg: func(c *SMTPConfig) { c.Password = "a\x00b" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newMailFake(t, mailTestOptions())
			cfg := mailTestConfig(f.port())
			msg := mailTestMessage()
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			if tt.msg != nil {
				tt.msg(msg)
			}
			err := mailTestMailer(cfg).Send(t.Context(), msg)
			if !errors.Is(err, ErrMailPermanent) {
				t.Fatalf("err = %v, want ErrMailPermanent", err)
			}
			if strings.Contains(err.Error(), mailTestPass) {
				t.Errorf("error shows the password: %v", err)
			}
			if n := f.connCount(); n != 0 {
				t.Errorf("server saw %d connections, want 0", n)
			}
		})
	}
}

func TestMailCheckPlaintext(t *testing.T) {
	tests := []struct {
		name     string
		useTLS   bool
		startTLS bool
		loopback bool
		ok       bool
	}{
		{name: "plain to loopback", loopback: true, ok: true},
		{name: "plain to remote", loopback: false, ok: false},
		{name: "implicit tls to remote", useTLS: true, ok: true},
		{name: "starttls to remote", startTLS: true, ok: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := SMTPConfig{Host: "mail.example.org", UseTLS: tt.useTLS, UseStartTLS: tt.startTLS}
			err := mailCheckPlaintext(cfg, tt.loopback)
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v, want ok %v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrMailPermanent) {
				t.Errorf("err = %v, want ErrMailPermanent", err)
			}
		})
	}
}

func TestMailValidateConfigListsEveryProblem(t *testing.T) {
	cfg := SMTPConfig{Host: "mail.example.org:587", Port: 70000, AuthMethod: "login", UseTLS: true, UseStartTLS: true, FromAddress: "nope"}
	err := mailValidateConfig(cfg)
	if err == nil {
		t.Fatal("no error for a bad config")
	}
	for _, want := range []string{"smtp.host", "smtp.port", "exclusive", "smtp.auth_method", "smtp.from_address"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	for _, host := range []string{"127.0.0.1", "::1", "mail.example.org"} {
		cfg := mailTestConfig(587)
		cfg.Host = host
		if err := mailValidateConfig(cfg); err != nil {
			t.Errorf("good config with host %q: %v", host, err)
		}
	}
}

func TestSMTPMailerTLSConfigPolicy(t *testing.T) {
	m := &SMTPMailer{TLSConfig: &tls.Config{InsecureSkipVerify: true, ServerName: "other", MinVersion: tls.VersionTLS10}}
	c := m.tlsConfig("mail.example.org")
	if c.InsecureSkipVerify || c.ServerName != "mail.example.org" || c.MinVersion != tls.VersionTLS12 {
		t.Errorf("tlsConfig = skip %v, name %q, min %x", c.InsecureSkipVerify, c.ServerName, c.MinVersion)
	}
	if !m.TLSConfig.InsecureSkipVerify {
		t.Error("tlsConfig changed the caller's config")
	}
}

func TestMailTranscriptRedacts(t *testing.T) {
	var b strings.Builder
	tr := &mailTranscript{w: &b}
	tr.server([]byte("220 hi\r\n"))
	tr.client([]byte("AUTH CRAM-MD5\r\n"))
	tr.server([]byte("334 PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2U+\r\n"))
	tr.client([]byte("dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw\r\n"))
	tr.server([]byte("235 ok\r\nxx"))
	tr.server([]byte("\x1b[31m\r\n"))
	tr.client([]byte("AUTH PLAIN AHJpcABzM2NyZXQ=\r\n"))
	tr.server([]byte("535 no\r\n"))
	tr.client([]byte("DATA\r\n"))
	tr.server([]byte("354 go\r\n"))
	tr.client([]byte("Subject: code 123456\r\n.\r\n"))
	tr.server([]byte("250 ok\r\n"))
	want := "S: 220 hi\nC: AUTH CRAM-MD5\nS: 334 [redacted]\nC: [redacted]\nS: 235 ok\nS: xx?[31m\n" +
		"C: AUTH PLAIN [redacted]\nS: 535 no\nC: DATA\nS: 354 go\nC: [message content, 25 bytes]\nS: 250 ok\n"
	if got := b.String(); got != want {
		t.Errorf("transcript:\n%s\nwant:\n%s", got, want)
	}
}

// FuzzMailTranscript feeds arbitrary server bytes around an AUTH exchange
// written in arbitrary pieces, and checks that the credentials never appear
// and that only printable ASCII reaches the operator's terminal.
func FuzzMailTranscript(f *testing.F) {
	f.Add([]byte("220 hi\r\n250-x\r\n250 AUTH PLAIN\r\n"), uint8(3), []byte("235 ok\r\n"))
	f.Add([]byte("354 go\r\n"), uint8(1), []byte("334 abc\r\n334 def\r\n"))
	f.Add([]byte("220 \x1b[2J\r"), uint8(200), []byte("\n\n\n"))
	f.Fuzz(func(t *testing.T, before []byte, chunk uint8, after []byte) {
		secret := base64.StdEncoding.EncodeToString([]byte("\x00" + mailTestUser + "\x00" + mailTestPass))
		if strings.Contains(string(before)+string(after), secret) {
			return
		}
		var b strings.Builder
		tr := &mailTranscript{w: &b}
		tr.server(before)
		line := []byte("AUTH PLAIN " + secret + strings.Repeat("A", int(chunk)*9) + "\r\n")
		for n := max(int(chunk), 1); len(line) > 0; line = line[min(n, len(line)):] {
			tr.client(line[:min(n, len(line))])
		}
		tr.server(after)
		tr.client([]byte("MAIL FROM:<a@b.c>\r\n"))
		out := b.String()
		if strings.Contains(out, secret) {
			t.Fatalf("transcript shows the credentials:\n%s", out)
		}
		for _, c := range []byte(out) {
			if c != '\n' && (c < 0x20 || c >= 0x7f) {
				t.Fatalf("transcript has byte %#02x:\n%q", c, out)
			}
		}
	})
}
