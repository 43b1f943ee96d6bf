package rip

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"slices"
	"strings"
	"testing"
	"time"
)

var mailTestNow = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)

// mailTestParse parses a composed message and fails the test on any error.
func mailTestParse(t testing.TB, msg []byte) *mail.Message {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(msg))
	if err != nil {
		t.Fatalf("parse composed message: %v\n%s", err, msg)
	}
	return m
}

// mailTestParts decodes the text and HTML bodies of a composed message.
func mailTestParts(t testing.TB, m *mail.Message) (text, html string) {
	t.Helper()
	typ, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	decode := func(h textproto.MIMEHeader, r io.Reader) string {
		if h.Get("Content-Transfer-Encoding") != "quoted-printable" {
			t.Fatalf("Content-Transfer-Encoding = %q", h.Get("Content-Transfer-Encoding"))
		}
		b, err := io.ReadAll(quotedprintable.NewReader(r))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	switch typ {
	case "text/plain":
		return decode(textproto.MIMEHeader(m.Header), m.Body), ""
	case "text/html":
		return "", decode(textproto.MIMEHeader(m.Header), m.Body)
	case "multipart/alternative":
		mr := multipart.NewReader(m.Body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if err == io.EOF {
				return text, html
			}
			if err != nil {
				t.Fatal(err)
			}
			switch p.Header.Get("Content-Type") {
			case "text/plain; charset=utf-8":
				text = decode(p.Header, p)
			case "text/html; charset=utf-8":
				html = decode(p.Header, p)
			default:
				t.Fatalf("unexpected part type %q", p.Header.Get("Content-Type"))
			}
		}
	}
	t.Fatalf("unexpected Content-Type %q", typ)
	return "", ""
}

// mailTestNorm maps line endings to LF and drops trailing ones, which the
// transfer encoding and the multipart delimiters are free to change.
func mailTestNorm(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.TrimRight(strings.ReplaceAll(s, "\r", "\n"), "\n")
}

func TestMailCompose(t *testing.T) {
	long := strings.Repeat("ünïcødé ", 42) // 504 bytes
	tests := []struct {
		name     string
		fromName string
		msg      Message
		ctype    string
	}{
		{name: "both bodies", fromName: "Rip", msg: Message{To: "ana@example.com", Subject: "Your Rip code", Text: "code 123456\n", HTML: "<p>123456</p>"}, ctype: "multipart/alternative"},
		{name: "text only", fromName: "Rip", msg: Message{To: "ana@example.com", Subject: "s", Text: "no newline"}, ctype: "text/plain"},
		{name: "html only", msg: Message{To: "a.b+c@example.com", Subject: "s", HTML: "<p>x</p>\n"}, ctype: "text/html"},
		{name: "non-ascii subject and name", fromName: "Équipe Rïp", msg: Message{To: "ana@example.com", Subject: "Votre code ✓ — café", Text: "é\n", HTML: "<p>é</p>"}, ctype: "multipart/alternative"},
		{name: "long non-ascii subject folds", fromName: "Rip", msg: Message{To: "ana@example.com", Subject: long, Text: "x"}, ctype: "text/plain"},
		{name: "name with quotes and specials", fromName: `Rip "the" <app>, inc.`, msg: Message{To: "ana@example.com", Subject: "s", Text: "x"}, ctype: "text/plain"},
		{name: "long body lines", fromName: "Rip", msg: Message{To: "ana@example.com", Subject: "s", Text: strings.Repeat("x", 5000), HTML: strings.Repeat("=", 3000) + "\r\n.\r\n"}, ctype: "multipart/alternative"},
		{name: "body looks like a boundary", fromName: "Rip", msg: Message{To: "ana@example.com", Subject: "s", Text: "--rip=_X\r\n", HTML: "--rip=_X--\r\n"}, ctype: "multipart/alternative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			from := &mail.Address{Name: tt.fromName, Address: "noreply@rip.test"}
			raw, rcpt, err := mailCompose(from, &tt.msg, mailTestNow)
			if err != nil {
				t.Fatal(err)
			}
			if rcpt != tt.msg.To {
				t.Errorf("rcpt = %q, want %q", rcpt, tt.msg.To)
			}
			if err := mailCheckLines(raw); err != nil {
				t.Error(err)
			}
			m := mailTestParse(t, raw)
			var dec mime.WordDecoder
			if got, err := dec.DecodeHeader(m.Header.Get("Subject")); err != nil || got != tt.msg.Subject {
				t.Errorf("Subject decodes to %q, %v; want %q", got, err, tt.msg.Subject)
			}
			if got, err := m.Header.AddressList("From"); err != nil || len(got) != 1 || *got[0] != *from {
				t.Errorf("From = %v, %v; want %v", got, err, from)
			}
			if got, err := m.Header.AddressList("To"); err != nil || len(got) != 1 || got[0].Address != tt.msg.To || got[0].Name != "" {
				t.Errorf("To = %v, %v", got, err)
			}
			if got, _ := m.Header.Date(); !got.Equal(mailTestNow) {
				t.Errorf("Date = %v", got)
			}
			if id := m.Header.Get("Message-Id"); !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, "@rip.test>") || len(id) < 30 {
				t.Errorf("Message-ID = %q", id)
			}
			if got := m.Header.Get("Mime-Version"); got != "1.0" {
				t.Errorf("MIME-Version = %q", got)
			}
			if typ, _, _ := mime.ParseMediaType(m.Header.Get("Content-Type")); typ != tt.ctype {
				t.Errorf("Content-Type = %q, want %q", typ, tt.ctype)
			}
			text, html := mailTestParts(t, m)
			if mailTestNorm(text) != mailTestNorm(tt.msg.Text) {
				t.Errorf("text body = %q, want %q", text, tt.msg.Text)
			}
			if mailTestNorm(html) != mailTestNorm(tt.msg.HTML) {
				t.Errorf("html body = %q, want %q", html, tt.msg.HTML)
			}
		})
	}
}

func TestMailComposeUniqueIDs(t *testing.T) {
	from := &mail.Address{Address: "noreply@rip.test"}
	msg := &Message{To: "ana@example.com", Subject: "s", Text: "a", HTML: "b"}
	a, _, errA := mailCompose(from, msg, mailTestNow)
	b, _, errB := mailCompose(from, msg, mailTestNow)
	if errA != nil || errB != nil {
		t.Fatal(errA, errB)
	}
	ma, mb := mailTestParse(t, a), mailTestParse(t, b)
	if ma.Header.Get("Message-Id") == mb.Header.Get("Message-Id") {
		t.Error("two messages share a Message-ID")
	}
	if ma.Header.Get("Content-Type") == mb.Header.Get("Content-Type") {
		t.Error("two messages share a boundary")
	}
}

func TestMailParseAddress(t *testing.T) {
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{name: "plain", in: "ana@example.com", ok: true},
		{name: "plus and dots", in: "a.b+tag@mail.example.com", ok: true},
		{name: "angle brackets", in: "<ana@example.com>"},
		{name: "display name", in: "Ana <ana@example.com>"},
		{name: "list", in: "a@x.test, b@y.test"},
		{name: "group", in: "g: a@x.test;"},
		{name: "comment", in: "ana@example.com (hi)"},
		{name: "leading space", in: " ana@example.com"},
		{name: "crlf", in: "ana@example.com\r\nBcc: e@x.test"},
		{name: "tab", in: "ana@example.com\t"},
		{name: "nul", in: "ana@exa\x00mple.com"},
		{name: "del", in: "ana@exa\x7fmple.com"},
		{name: "non-ascii", in: "jörg@example.com"},
		{name: "invalid utf-8", in: "a\xff@example.com"},
		{name: "no at", in: "ana"},
		{name: "empty", in: ""},
		{name: "too long", in: strings.Repeat("a", 250) + "@x.test"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := mailParseAddress("to", tt.in)
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v, want ok %v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrMailPermanent) {
				t.Errorf("err = %v, want ErrMailPermanent", err)
			}
			if err == nil && a.Address != tt.in {
				t.Errorf("Address = %q, want %q", a.Address, tt.in)
			}
		})
	}
}

func TestMailCheckLines(t *testing.T) {
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{name: "crlf lines", in: "a\r\nb\r\n", ok: true},
		{name: "max line", in: strings.Repeat("x", mailMaxLineBytes) + "\r\n", ok: true},
		{name: "line too long", in: strings.Repeat("x", mailMaxLineBytes+1) + "\r\n"},
		{name: "bare lf", in: "a\nb\r\n"},
		{name: "bare cr", in: "a\rb\r\n"},
		{name: "no final crlf", in: "a\r\nb"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := mailCheckLines([]byte(tt.in)); (err == nil) != tt.ok {
				t.Errorf("err = %v, want ok %v", err, tt.ok)
			}
		})
	}
}

// FuzzMailHeaders checks that no header input, however hostile, yields a
// message with a header line that rip did not write, a changed recipient or
// sender, or an over-long line. Inputs are either refused with
// ErrMailPermanent or round-trip exactly.
func FuzzMailHeaders(f *testing.F) {
	f.Add("ana@example.com", "Your code", "Rip", "noreply@rip.test", "body")
	f.Add("ana@example.com\r\nBcc: eve@evil.test", "x", "Rip", "noreply@rip.test", "b")
	f.Add("ana@example.com", "Hi\r\nBcc: eve@evil.test", "Rip", "noreply@rip.test", "b")
	f.Add("ana@example.com", "=?utf-8?q?a=0D=0ABcc:_x?=", "R\u2028ip", "noreply@rip.test", "\r\n.\r\nMAIL FROM:<x>")
	f.Add("ana@example.com", "Votre code ✓", "Équipe \"Rïp\" <x@y>", "noreply@rip.test", "é")
	f.Add("a@b.c, d@e.f", "s", "n", "x@y.z", "b")
	f.Add("ana@example.com", "s", "=?utf-8?q?a=0D=0ABcc:_x?=", "noreply@rip.test", "b")
	f.Add("ana@example.com", "s", "Rip", "=?utf-8?q?x?=@rip.test", "b")
	f.Add("\"a\r\nb\"@example.com", "s", "n", "x@y.z", "b")
	f.Add("ana@example.com", strings.Repeat("é", 200), strings.Repeat("ü", 60), "noreply@rip.test", "")
	f.Fuzz(func(t *testing.T, to, subject, fromName, fromAddress, body string) {
		cfg := SMTPConfig{FromName: fromName, FromAddress: fromAddress}
		from, err := mailSender(cfg)
		if err != nil {
			if !errors.Is(err, ErrMailPermanent) {
				t.Fatalf("sender error does not wrap ErrMailPermanent: %v", err)
			}
			return
		}
		msg := &Message{To: to, Subject: subject, Text: "t" + body, HTML: body + "<p>"}
		raw, rcpt, err := mailCompose(from, msg, mailTestNow)
		if err != nil {
			if !errors.Is(err, ErrMailPermanent) {
				t.Fatalf("compose error does not wrap ErrMailPermanent: %v", err)
			}
			return
		}
		if rcpt != to || strings.ContainsAny(rcpt, "\r\n\x00") {
			t.Fatalf("rcpt = %q, want %q", rcpt, to)
		}
		if err := mailCheckLines(raw); err != nil {
			t.Fatal(err)
		}
		hdr, err := textproto.NewReader(bufio.NewReader(bytes.NewReader(raw))).ReadMIMEHeader()
		if err != nil {
			t.Fatalf("read header: %v\n%q", err, raw)
		}
		keys := make([]string, 0, len(hdr))
		for k, v := range hdr {
			if len(v) != 1 {
				t.Fatalf("header %s appears %d times", k, len(v))
			}
			keys = append(keys, k)
		}
		slices.Sort(keys)
		want := []string{"Content-Type", "Date", "From", "Message-Id", "Mime-Version", "Subject", "To"}
		if !slices.Equal(keys, want) {
			t.Fatalf("header keys = %v, want %v", keys, want)
		}
		m := mailTestParse(t, raw)
		var dec mime.WordDecoder
		// Header parsers drop whitespace around a value; that is not a change
		// rip could make or prevent.
		if got, err := dec.DecodeHeader(m.Header.Get("Subject")); err != nil || strings.TrimSpace(got) != strings.TrimSpace(subject) {
			t.Fatalf("Subject decodes to %q, %v; want %q", got, err, subject)
		}
		if got, err := m.Header.AddressList("To"); err != nil || len(got) != 1 || got[0].Address != to || got[0].Name != "" {
			t.Fatalf("To = %v, %v; want %q", got, err, to)
		}
		if got, err := m.Header.AddressList("From"); err != nil || len(got) != 1 || got[0].Address != fromAddress || got[0].Name != fromName {
			t.Fatalf("From = %v, %v; want %q <%s>", got, err, fromName, fromAddress)
		}
	})
}

func BenchmarkMailCompose(b *testing.B) {
	from := &mail.Address{Name: "Rip", Address: "noreply@rip.test"}
	msg, err := mailRender(mailKindVerification, mailData{AppName: "Rip", Code: "123456", Email: "ana@example.com", ExpiresIn: "10 minutes"})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := mailCompose(from, msg, mailTestNow); err != nil {
			b.Fatal(err)
		}
	}
}
