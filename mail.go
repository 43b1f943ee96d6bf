package rip

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/smtp"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ErrMailPermanent wraps mail failures that must not be retried: 5xx replies,
// invalid addresses or header values, TLS policy failures (STARTTLS missing,
// a certificate that does not verify) and configuration errors. Every other
// error from [SMTPMailer.Send] (4xx replies, timeouts, network errors) is worth
// retrying with backoff.
var ErrMailPermanent = errors.New("rip: permanent mail failure")

// Message is one e-mail. Text and HTML are the two bodies; when both are set
// the mail is multipart/alternative, otherwise it has the one that is set.
// To is a bare address ("ana@example.com"), never a list or a display name.
type Message struct {
	To, Subject, Text, HTML string
}

// Mailer sends one message. rip calls it only from a job, so an error that
// does not wrap [ErrMailPermanent] makes the job retry later. Users may supply
// their own implementation, for example one that posts to an HTTP mail API.
type Mailer interface {
	Send(ctx context.Context, m *Message) error
}

const (
	// mailDefaultTimeout applies when SMTPConfig.Timeout is below 1.
	mailDefaultTimeout = 30 * time.Second
	// mailSendTimeoutSteps caps a whole send at this many timeouts, whatever
	// the context allows: a server that answers every step just in time
	// cannot hold a job for long.
	mailSendTimeoutSteps = 8
	// mailDefaultLocalName is the EHLO name when SMTPConfig.LocalName is
	// empty, as in net/smtp.
	mailDefaultLocalName = "localhost"
)

// Default ports per transport mode, used when SMTPConfig.Port is 0.
const (
	mailPortImplicitTLS = 465 // RFC 8314 submissions
	mailPortStartTLS    = 587 // RFC 6409 submission
	mailPortPlain       = 25
)

// Values of SMTPConfig.AuthMethod. The empty string means mailAuthNone.
const (
	mailAuthPlain   = "plain"
	mailAuthCRAMMD5 = "cram-md5"
	mailAuthNone    = "none"
)

// SMTPMailer sends mail through an SMTP server with the standard library's
// net/smtp, one connection per message. It is safe for concurrent use, except
// that concurrent sends interleave their lines in a shared Transcript.
//
// The transport is implicit TLS (SMTPConfig.UseTLS, port 465 by default, the
// mode RFC 8314 prefers) or STARTTLS that must succeed (UseStartTLS, port
// 587). Plain SMTP without either is allowed only when the connected address
// is a loopback address (a local relay or a test sink); it is refused for any
// other host before a byte is read.
type SMTPMailer struct {
	// Config returns the settings to use; it is called once per send so
	// that a config reload takes effect on the next mail.
	Config func() SMTPConfig
	// TLSConfig, when set, is cloned for every connection: tests put a test
	// CA in RootCAs. ServerName is always set to SMTPConfig.Host and
	// InsecureSkipVerify is always forced off.
	TLSConfig *tls.Config
	// Transcript, when set, receives the SMTP dialogue line by line, with
	// the AUTH exchange and the message content replaced by placeholders.
	// `ripc mail test` prints it to help an operator debug a relay.
	Transcript io.Writer

	now func() time.Time // clock for the Date header; nil means time.Now
}

var _ Mailer = (*SMTPMailer)(nil)

// Send delivers m, composing the message before it connects so that an
// invalid message never reaches the server. Errors that must not be retried
// wrap [ErrMailPermanent]; when ctx ends the error wraps ctx.Err().
//
// Every exchange (dial, TLS handshake, each command and its reply, the
// message content) has its own deadline of SMTPConfig.Timeout, bounded by
// ctx; the whole send is also capped at mailSendTimeoutSteps timeouts. RFC
// 5321 §4.5.3.2 lets a server take up to 10 minutes to accept the content; a
// Timeout shorter than the server needs makes the job retry, and the retry
// may deliver a second copy.
func (s *SMTPMailer) Send(ctx context.Context, m *Message) error {
	if s.Config == nil {
		return fmt.Errorf("%w: SMTPMailer.Config is nil", ErrMailPermanent)
	}
	cfg := s.Config()
	if !cfg.Enabled {
		return fmt.Errorf("%w: smtp.enabled is false", ErrMailPermanent)
	}
	if err := mailValidateConfig(cfg); err != nil {
		return fmt.Errorf("%w: %w", ErrMailPermanent, err)
	}
	from, err := mailSender(cfg)
	if err != nil {
		return err
	}
	now := time.Now
	if s.now != nil {
		now = s.now
	}
	msg, rcpt, err := mailCompose(from, m, now())
	if err != nil {
		return err
	}
	timeout := cfg.Timeout
	if timeout < 1 {
		timeout = mailDefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, mailSendTimeoutSteps*timeout)
	defer cancel()
	sess := &mailSession{cfg: cfg, ctx: ctx, timeout: timeout}
	if s.Transcript != nil {
		sess.tr = &mailTranscript{w: s.Transcript}
	}
	err = sess.run(s.tlsConfig(cfg.Host), from.Address, rcpt, msg)
	return mailClassify(ctx, err)
}

// tlsConfig returns the TLS settings for one connection to host.
//
// # Security
//
// The certificate must verify for the configured host name: ServerName is
// always host and InsecureSkipVerify is forced off even if the caller's
// TLSConfig set it, so a test shortcut cannot reach production. TLS 1.2 is
// the floor.
func (s *SMTPMailer) tlsConfig(host string) *tls.Config {
	c := &tls.Config{}
	if s.TLSConfig != nil {
		c = s.TLSConfig.Clone()
	}
	c.ServerName = host
	c.InsecureSkipVerify = false
	c.MinVersion = max(c.MinVersion, tls.VersionTLS12)
	return c
}

// mailValidateConfig reports every problem in cfg at once. It does not look
// at Enabled, so config validation can call it for an enabled mailer only.
func mailValidateConfig(cfg SMTPConfig) error {
	var errs []error
	if _, ipErr := netip.ParseAddr(cfg.Host); cfg.Host == "" || strings.ContainsAny(cfg.Host, " \t\r\n\x00/[]") ||
		(strings.Contains(cfg.Host, ":") && ipErr != nil) {
		errs = append(errs, fmt.Errorf("smtp.host %q is not a host name or IP address (the port goes in smtp.port)", cfg.Host))
	}
	if cfg.Port < 0 || cfg.Port > 65535 {
		errs = append(errs, fmt.Errorf("smtp.port %d is out of range", cfg.Port))
	}
	if cfg.UseTLS && cfg.UseStartTLS {
		errs = append(errs, errors.New("smtp.use_tls and smtp.use_start_tls are exclusive"))
	}
	switch cfg.AuthMethod {
	case "", mailAuthNone, mailAuthPlain, mailAuthCRAMMD5:
	default:
		errs = append(errs, fmt.Errorf("smtp.auth_method %q is not one of plain, cram-md5, none", cfg.AuthMethod))
	}
	if strings.ContainsRune(cfg.Username, 0) || strings.ContainsRune(string(cfg.Password), 0) {
		errs = append(errs, errors.New("smtp.username and smtp.password must not contain NUL"))
	}
	if err := mailCheckHeaderText("smtp.local_name", cfg.LocalName, mailMaxAddressBytes); err != nil || strings.Contains(cfg.LocalName, " ") {
		errs = append(errs, fmt.Errorf("smtp.local_name %q is not a host name", cfg.LocalName))
	}
	if _, err := mailSender(cfg); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// mailClassify turns a send error into the form the job runner acts on: 5xx
// replies and TLS verification failures wrap [ErrMailPermanent]; everything
// else stays retryable. When ctx has ended the error also wraps ctx.Err().
func mailClassify(ctx context.Context, err error) error {
	if err == nil || errors.Is(err, ErrMailPermanent) {
		return err
	}
	if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
		return fmt.Errorf("%w: %w", ctxErr, err)
	}
	var reply *textproto.Error
	if errors.As(err, &reply) && reply.Code >= 500 && reply.Code <= 599 {
		return fmt.Errorf("%w: %w", ErrMailPermanent, err)
	}
	var certErr *tls.CertificateVerificationError
	var recordErr tls.RecordHeaderError
	if errors.As(err, &certErr) || errors.As(err, &recordErr) {
		return fmt.Errorf("%w: %w", ErrMailPermanent, err)
	}
	return err
}

// mailSession is one SMTP connection. Its methods run in the sending
// goroutine; only the cancellation callback runs elsewhere, under mu.
type mailSession struct {
	cfg      SMTPConfig
	ctx      context.Context
	timeout  time.Duration
	tr       *mailTranscript // nil when no transcript is kept
	local    string          // EHLO name
	loopback bool            // the connected address is a loopback address
	tls      bool            // the transport is TLS with a verified certificate

	mu   sync.Mutex // orders deadline updates against cancellation
	raw  net.Conn   // the TCP connection; deadlines are set here
	conn *mailConn  // what net/smtp reads and writes: raw, then TLS
}

// run performs the whole dialogue: connect, secure, authenticate, send.
func (s *mailSession) run(tlsCfg *tls.Config, from, rcpt string, msg []byte) error {
	if err := s.dial(); err != nil {
		return err
	}
	stop := context.AfterFunc(s.ctx, s.abort)
	defer stop()
	defer s.conn.Close()

	s.local = cmp.Or(s.cfg.LocalName, mailDefaultLocalName)
	if s.cfg.UseTLS {
		if err := s.handshake(tlsCfg); err != nil {
			return err
		}
	} else if err := mailCheckPlaintext(s.cfg, s.loopback); err != nil {
		return err
	}
	if err := s.step(); err != nil {
		return err
	}
	c, err := smtp.NewClient(s.conn, s.cfg.Host)
	if err != nil {
		return fmt.Errorf("smtp greeting: %w", err)
	}
	if s.cfg.UseStartTLS {
		if err := s.startTLS(c.Text, tlsCfg); err != nil {
			return err
		}
	}
	if err := s.step(); err != nil {
		return err
	}
	if err := c.Hello(s.local); err != nil {
		return fmt.Errorf("smtp EHLO: %w", err)
	}
	if err := s.auth(c); err != nil {
		return err
	}
	if err := s.transfer(c, from, rcpt, msg); err != nil {
		return err
	}
	// The message is accepted: a failed QUIT must not cause a retry and a
	// duplicate mail, so its error is dropped.
	if s.step() == nil {
		_ = c.Quit()
	}
	return nil
}

// dial connects with the configured timeout and records whether the peer is
// a loopback address.
func (s *mailSession) dial() error {
	port := s.cfg.Port
	if port == 0 {
		port = mailPortPlain
		switch {
		case s.cfg.UseTLS:
			port = mailPortImplicitTLS
		case s.cfg.UseStartTLS:
			port = mailPortStartTLS
		}
	}
	d := net.Dialer{Timeout: s.timeout}
	raw, err := d.DialContext(s.ctx, "tcp", net.JoinHostPort(s.cfg.Host, strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("smtp dial: %w", err)
	}
	s.raw = raw
	s.conn = &mailConn{Conn: raw, tr: s.tr}
	if ap, err := netip.ParseAddrPort(raw.RemoteAddr().String()); err == nil {
		s.loopback = ap.Addr().Unmap().IsLoopback()
	}
	s.tr.note("connected to " + raw.RemoteAddr().String())
	return nil
}

// mailCheckPlaintext decides whether a connection without TLS may go on.
//
// # Security
//
// Mail carries one-time codes, and AUTH carries the relay password; over
// plain TCP both are readable by anyone on the path. Plain SMTP is therefore
// allowed only when neither TLS mode is configured and the address actually
// connected to (not the configured name, which DNS could point anywhere) is a
// loopback address, as for a local relay or a test sink.
func mailCheckPlaintext(cfg SMTPConfig, loopback bool) error {
	if cfg.UseTLS || cfg.UseStartTLS || loopback {
		return nil
	}
	return fmt.Errorf("%w: plain SMTP to non-loopback host %q refused: set smtp.use_tls or smtp.use_start_tls", ErrMailPermanent, cfg.Host)
}

// step sets the deadline for the next exchange: Timeout from now, or the
// context's deadline if that is sooner. It fails once the context has ended.
func (s *mailSession) step() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.ctx.Err(); err != nil {
		return err
	}
	deadline := time.Now().Add(s.timeout)
	if d, ok := s.ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	return s.raw.SetDeadline(deadline)
}

// abort makes any blocked read or write return at once; it runs when the
// context ends.
func (s *mailSession) abort() {
	s.mu.Lock()
	defer s.mu.Unlock()
	_ = s.raw.SetDeadline(time.Unix(1, 0))
}

// handshake runs the TLS client handshake over the TCP connection and
// switches the session to it.
func (s *mailSession) handshake(cfg *tls.Config) error {
	if err := s.step(); err != nil {
		return err
	}
	tc := tls.Client(s.raw, cfg)
	if err := tc.HandshakeContext(s.ctx); err != nil {
		return fmt.Errorf("smtp TLS handshake: %w", err)
	}
	s.conn.Conn = tc
	s.tls = true
	st := tc.ConnectionState()
	s.tr.note("TLS established: " + tls.VersionName(st.Version) + ", " + tls.CipherSuiteName(st.CipherSuite))
	return nil
}

// startTLS upgrades the connection with STARTTLS, before net/smtp's first
// EHLO, so that net/smtp learns the server's extensions only over TLS.
//
// # Security
//
// STARTTLS stripping (RFC 3207 §6, golang/go#22145): a man in the middle can
// delete "STARTTLS" from the EHLO reply, and an opportunistic client such as
// smtp.SendMail then carries on in clear text. Here a missing STARTTLS, a
// refused STARTTLS or a certificate that does not verify for smtp.host ends
// the session before AUTH, MAIL or DATA is sent. Bytes that arrive after the
// 220 reply but before the handshake (STARTTLS response injection,
// CVE-2011-0411 class) are refused rather than read as if they came over TLS.
// A missing STARTTLS, a 5xx reply to it or a bad certificate is permanent; a
// 4xx reply ("454 TLS not available") is retried later, never bypassed.
func (s *mailSession) startTLS(text *textproto.Conn, cfg *tls.Config) error {
	if err := s.step(); err != nil {
		return err
	}
	_, msg, err := mailCmd(text, 250, "EHLO %s", s.local)
	if err != nil {
		return fmt.Errorf("smtp EHLO: %w", err)
	}
	if !mailHasExtension(msg, "STARTTLS") {
		return fmt.Errorf("%w: server %q does not offer STARTTLS", ErrMailPermanent, s.cfg.Host)
	}
	if err := s.step(); err != nil {
		return err
	}
	if _, _, err := mailCmd(text, 220, "STARTTLS"); err != nil {
		return fmt.Errorf("smtp STARTTLS: %w", err)
	}
	if text.R.Buffered() > 0 {
		return fmt.Errorf("%w: server sent data after its STARTTLS reply", ErrMailPermanent)
	}
	return s.handshake(cfg)
}

// mailCmd sends one command and reads its reply, as net/smtp does internally.
func mailCmd(text *textproto.Conn, code int, format string, args ...any) (int, string, error) {
	id, err := text.Cmd(format, args...)
	if err != nil {
		return 0, "", err
	}
	text.StartResponse(id)
	defer text.EndResponse(id)
	return text.ReadResponse(code)
}

// mailHasExtension reports whether an EHLO reply (lines joined by "\n", the
// first being the greeting) lists the extension keyword ext.
func mailHasExtension(reply, ext string) bool {
	lines := strings.Split(reply, "\n")
	for _, line := range lines[1:] {
		keyword, _, _ := strings.Cut(line, " ")
		if strings.EqualFold(keyword, ext) {
			return true
		}
	}
	return false
}

// auth authenticates with the configured mechanism, if any.
//
// # Security
//
// Credentials are sent only over TLS, or over a loopback connection without
// TLS (see [mailCheckPlaintext]); CRAM-MD5 gets the same rule although
// net/smtp's CRAMMD5Auth has no such check, because its response is
// crackable offline. The mechanism must be one the server advertised after
// TLS; an unknown auth_method is a config error, never a silent fallback to
// PLAIN as in restinpieces. The password is never put in an error, and the
// transcript redacts the whole AUTH exchange.
func (s *mailSession) auth(c *smtp.Client) error {
	var a smtp.Auth
	mech := ""
	switch s.cfg.AuthMethod {
	case "", mailAuthNone:
		return nil
	case mailAuthPlain:
		a, mech = mailPlainAuth{user: s.cfg.Username, pass: string(s.cfg.Password)}, "PLAIN"
	case mailAuthCRAMMD5:
		a, mech = smtp.CRAMMD5Auth(s.cfg.Username, string(s.cfg.Password)), "CRAM-MD5"
	default:
		return fmt.Errorf("%w: unknown smtp.auth_method %q", ErrMailPermanent, s.cfg.AuthMethod)
	}
	if !s.tls && !s.loopback {
		return fmt.Errorf("%w: refusing AUTH without TLS", ErrMailPermanent)
	}
	if _, mechs := c.Extension("AUTH"); !mailHasWord(mechs, mech) {
		return fmt.Errorf("%w: server does not offer AUTH %s (offers %q)", ErrMailPermanent, mech, mechs)
	}
	if err := s.step(); err != nil {
		return err
	}
	if err := c.Auth(a); err != nil {
		return fmt.Errorf("smtp AUTH %s: %w", mech, err)
	}
	return nil
}

func mailHasWord(list, word string) bool {
	for _, w := range strings.Fields(list) {
		if strings.EqualFold(w, word) {
			return true
		}
	}
	return false
}

// mailPlainAuth is AUTH PLAIN (RFC 4616). net/smtp's PlainAuth cannot see
// that rip's wrapped connection is TLS, so rip checks TLS itself in
// [mailSession.auth] and uses this minimal mechanism.
type mailPlainAuth struct{ user, pass string }

func (a mailPlainAuth) Start(*smtp.ServerInfo) (string, []byte, error) {
	return "PLAIN", []byte("\x00" + a.user + "\x00" + a.pass), nil
}

func (a mailPlainAuth) Next(_ []byte, more bool) ([]byte, error) {
	if more {
		return nil, errors.New("unexpected AUTH PLAIN challenge")
	}
	return nil, nil
}

// transfer runs MAIL, RCPT and DATA, each exchange under its own deadline.
func (s *mailSession) transfer(c *smtp.Client, from, rcpt string, msg []byte) error {
	if err := s.step(); err != nil {
		return err
	}
	if err := c.Mail(from); err != nil {
		return fmt.Errorf("smtp MAIL: %w", err)
	}
	if err := s.step(); err != nil {
		return err
	}
	if err := c.Rcpt(rcpt); err != nil {
		return fmt.Errorf("smtp RCPT: %w", err)
	}
	if err := s.step(); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("smtp DATA: %w", err)
	}
	if _, err := w.Write(msg); err != nil {
		return fmt.Errorf("smtp DATA: %w", err)
	}
	if err := s.step(); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("smtp DATA: %w", err)
	}
	return nil
}

// mailConn is the connection net/smtp uses: the TCP connection, replaced by
// the TLS connection after the handshake, with an optional transcript that
// sees the clear text on both sides.
type mailConn struct {
	net.Conn
	tr *mailTranscript
}

func (c *mailConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.tr.server(p[:n])
	return n, err
}

func (c *mailConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.tr.client(p[:n])
	return n, err
}
