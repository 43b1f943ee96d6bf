package rip

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits on what a message may carry. Inputs past a limit are refused with an
// error wrapping [ErrMailPermanent]; nothing is truncated.
const (
	// mailMaxAddressBytes is the longest address accepted: RFC 5321 §4.5.3.1.3
	// allows a 256-octet path, which includes the two angle brackets.
	mailMaxAddressBytes = 254
	// mailMaxNameBytes bounds the sender's display name. Even fully
	// Q-encoded it keeps the From line well under mailMaxLineBytes.
	mailMaxNameBytes = 128
	// mailMaxSubjectBytes bounds the subject. Plain ASCII subjects are not
	// folded, so this keeps the Subject line under mailMaxLineBytes.
	mailMaxSubjectBytes = 512
	// mailMaxBodyBytes bounds each of the text and HTML bodies (1 MiB).
	mailMaxBodyBytes = 1 << 20
	// mailMaxLineBytes is RFC 5322 §2.1.1's hard limit on a line, CRLF excluded.
	mailMaxLineBytes = 998
)

// mailBoundaryPrefix starts every multipart boundary. Quoted-printable encodes
// every "=" as "=3D", so a boundary that contains "=_" can never occur inside
// an encoded body, whatever the body says.
const mailBoundaryPrefix = "rip=_"

// mailCheckHeaderText returns an error wrapping [ErrMailPermanent] unless s
// can be placed in a header field: valid UTF-8, at most max bytes, and free of
// control characters.
//
// # Security
//
// Header injection (CWE-93, ASVS 1.3.11): a CR or LF in a subject, name or
// address would end the header line and let the sender of a request (who
// chooses the e-mail address) add headers such as Bcc, or a body. NUL is
// refused by many servers and truncates in C-based tools. The defence refuses
// every C0 control character and DEL rather than escaping them, so an attack
// fails loudly instead of being repaired into something unexpected.
func mailCheckHeaderText(field, s string, maxBytes int) error {
	if len(s) > maxBytes {
		return fmt.Errorf("%w: %s is %d bytes, over the limit of %d", ErrMailPermanent, field, len(s), maxBytes)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: %s is not valid UTF-8", ErrMailPermanent, field)
	}
	for i := 0; i < len(s); i++ {
		if b := s[i]; b < 0x20 || b == 0x7f {
			return fmt.Errorf("%w: %s contains control character %#02x", ErrMailPermanent, field, b)
		}
	}
	return nil
}

// mailParseAddress parses a bare address such as "ana@example.com" and
// returns it as a [mail.Address] with no display name.
//
// # Security
//
// The address reaches both a header line and the SMTP RCPT/MAIL command, so
// it must be exactly one addr-spec: no display name, no comment, no group and
// no second address ("a@x, b@y" would add a recipient). The parsed address
// must equal the input byte for byte, which rules out anything net/mail would
// silently drop. Non-ASCII addresses are refused because they need the
// SMTPUTF8 extension, which rip does not negotiate.
func mailParseAddress(field, s string) (*mail.Address, error) {
	if err := mailCheckHeaderText(field, s, mailMaxAddressBytes); err != nil {
		return nil, err
	}
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return nil, fmt.Errorf("%w: %s must be ASCII", ErrMailPermanent, field)
		}
	}
	a, err := mail.ParseAddress(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrMailPermanent, field, err)
	}
	if a.Name != "" || a.Address != s {
		return nil, fmt.Errorf("%w: %s must be a bare address without a display name", ErrMailPermanent, field)
	}
	return a, nil
}

// mailSender validates the configured sender and returns it as the address
// used in the From header.
func mailSender(cfg SMTPConfig) (*mail.Address, error) {
	from, err := mailParseAddress("smtp.from_address", cfg.FromAddress)
	if err != nil {
		return nil, err
	}
	if err := mailCheckHeaderText("smtp.from_name", cfg.FromName, mailMaxNameBytes); err != nil {
		return nil, err
	}
	from.Name = cfg.FromName
	return from, nil
}

// mailCompose renders m as an RFC 5322 message from the sender, dated now,
// with CRLF line endings. It returns the message and the recipient address
// for RCPT TO.
//
// # Security
//
// Every header is built here from validated parts: addresses through
// [mailParseAddress] and [mail.Address.String], the subject checked by
// [mailCheckHeaderText] and RFC 2047-encoded when it is not plain ASCII, bodies
// quoted-printable so no body line can exceed the line limit or mimic a
// boundary. A final pass refuses any line over 998 octets or any bare CR or
// LF, so a mistake in this function cannot produce a malformed message.
func mailCompose(from *mail.Address, m *Message, now time.Time) ([]byte, string, error) {
	to, err := mailParseAddress("to", m.To)
	if err != nil {
		return nil, "", err
	}
	if err := mailCheckHeaderText("subject", m.Subject, mailMaxSubjectBytes); err != nil {
		return nil, "", err
	}
	if strings.Contains(m.Subject, "=?") {
		// Left as is, readers would decode it as an RFC 2047 encoded word
		// and could show a subject (even line breaks) that rip never wrote.
		return nil, "", fmt.Errorf("%w: subject contains \"=?\"", ErrMailPermanent)
	}
	if m.Text == "" && m.HTML == "" {
		return nil, "", fmt.Errorf("%w: message has neither a text nor an HTML body", ErrMailPermanent)
	}
	if len(m.Text) > mailMaxBodyBytes || len(m.HTML) > mailMaxBodyBytes {
		return nil, "", fmt.Errorf("%w: message body is over the limit of %d bytes", ErrMailPermanent, mailMaxBodyBytes)
	}

	var b bytes.Buffer
	mailWriteHeader(&b, "From", from.String())
	mailWriteHeader(&b, "To", to.String())
	mailWriteHeader(&b, "Subject", mailEncodeSubject(m.Subject))
	mailWriteHeader(&b, "Date", now.Format(time.RFC1123Z))
	mailWriteHeader(&b, "Message-ID", mailMessageID(from.Address))
	mailWriteHeader(&b, "MIME-Version", "1.0")
	if err := mailWriteBody(&b, m); err != nil {
		return nil, "", err
	}
	if !bytes.HasSuffix(b.Bytes(), []byte("\r\n")) {
		b.WriteString("\r\n")
	}
	if err := mailCheckLines(b.Bytes()); err != nil {
		return nil, "", err
	}
	return b.Bytes(), to.Address, nil
}

func mailWriteHeader(b *bytes.Buffer, key, value string) {
	b.WriteString(key)
	b.WriteString(": ")
	b.WriteString(value)
	b.WriteString("\r\n")
}

// mailEncodeSubject returns s unchanged when it is printable ASCII and as
// RFC 2047 Q-encoded words otherwise, one encoded word per folded line so that
// a long subject never makes a long line.
func mailEncodeSubject(s string) string {
	enc := mime.QEncoding.Encode("utf-8", s)
	// Inside an encoded word "?" and " " are themselves encoded, so "?= =?"
	// only occurs between two words, where folding whitespace is allowed.
	return strings.ReplaceAll(enc, "?= =?", "?=\r\n =?")
}

// mailMessageID returns a random Message-ID whose right-hand side is the
// domain of the sender's address.
func mailMessageID(from string) string {
	domain := from[strings.LastIndexByte(from, '@')+1:]
	return "<" + rand.Text() + "@" + domain + ">"
}

// mailWriteBody writes the MIME headers and the body: one quoted-printable
// part when only one of Text and HTML is set, multipart/alternative (text
// first, so clients prefer the HTML) when both are.
func mailWriteBody(b *bytes.Buffer, m *Message) error {
	if m.HTML == "" || m.Text == "" {
		typ, body := "text/plain; charset=utf-8", m.Text
		if m.Text == "" {
			typ, body = "text/html; charset=utf-8", m.HTML
		}
		mailWriteHeader(b, "Content-Type", typ)
		mailWriteHeader(b, "Content-Transfer-Encoding", "quoted-printable")
		b.WriteString("\r\n")
		return mailWriteQP(b, body)
	}
	mw := multipart.NewWriter(b)
	if err := mw.SetBoundary(mailBoundaryPrefix + rand.Text()); err != nil {
		return fmt.Errorf("compose mail: %w", err)
	}
	mailWriteHeader(b, "Content-Type", mime.FormatMediaType("multipart/alternative", map[string]string{"boundary": mw.Boundary()}))
	b.WriteString("\r\n")
	for _, part := range []struct{ typ, body string }{
		{"text/plain; charset=utf-8", m.Text},
		{"text/html; charset=utf-8", m.HTML},
	} {
		w, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {part.typ},
			"Content-Transfer-Encoding": {"quoted-printable"},
		})
		if err != nil {
			return fmt.Errorf("compose mail: %w", err)
		}
		if err := mailWriteQP(w, part.body); err != nil {
			return err
		}
	}
	if err := mw.Close(); err != nil {
		return fmt.Errorf("compose mail: %w", err)
	}
	return nil
}

// mailWriteQP writes body quoted-printable encoded. The encoder turns every
// line ending into CRLF and keeps encoded lines at 76 characters.
func mailWriteQP(w interface{ Write([]byte) (int, error) }, body string) error {
	qp := quotedprintable.NewWriter(w)
	if _, err := qp.Write([]byte(body)); err != nil {
		return fmt.Errorf("compose mail: %w", err)
	}
	if err := qp.Close(); err != nil {
		return fmt.Errorf("compose mail: %w", err)
	}
	return nil
}

// mailCheckLines refuses a composed message with a line over
// mailMaxLineBytes or a CR or LF that is not part of a CRLF pair.
func mailCheckLines(msg []byte) error {
	for len(msg) > 0 {
		line, rest, found := bytes.Cut(msg, []byte("\r\n"))
		if len(line) > mailMaxLineBytes {
			return fmt.Errorf("%w: composed line of %d bytes exceeds %d", ErrMailPermanent, len(line), mailMaxLineBytes)
		}
		if bytes.ContainsAny(line, "\r\n") {
			return fmt.Errorf("%w: composed message has a bare CR or LF", ErrMailPermanent)
		}
		if !found && len(line) > 0 {
			return fmt.Errorf("%w: composed message does not end in CRLF", ErrMailPermanent)
		}
		msg = rest
	}
	return nil
}
