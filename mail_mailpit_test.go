package rip

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// These tests run rip's mailer against Mailpit, a real SMTP server, started by
// .ci/mailpit.sh. They read:
//
//	RIP_TEST_SMTP_ADDR, RIP_TEST_SMTP_API    STARTTLS-required instance and its REST API
//	RIP_TEST_SMTPS_ADDR, RIP_TEST_SMTPS_API  implicit-TLS instance (optional)
//	RIP_TEST_SMTP_CA                         PEM certificate the instances present
//	RIP_TEST_SMTP_USER, RIP_TEST_SMTP_PASSWORD

// mailpitEnv returns the named variables. When one is unset the test skips
// loudly, or fails under RIP_CI, where .ci/run must have started Mailpit.
func mailpitEnv(t *testing.T, names ...string) []string {
	t.Helper()
	vals := make([]string, len(names))
	for i, n := range names {
		vals[i] = os.Getenv(n)
		if vals[i] == "" {
			if os.Getenv("RIP_CI") != "" {
				t.Fatalf("%s is not set; .ci/run must start Mailpit (.ci/mailpit.sh)", n)
			}
			t.Skipf("SKIPPED: %s is not set: this test needs a running Mailpit SMTP server (source .ci/mailpit.sh)", n)
		}
	}
	return vals
}

// mailpitConfig returns a mailer config for the Mailpit instance at addr.
func mailpitConfig(t *testing.T, addr string) (SMTPConfig, *tls.Config) {
	t.Helper()
	env := mailpitEnv(t, "RIP_TEST_SMTP_CA", "RIP_TEST_SMTP_USER", "RIP_TEST_SMTP_PASSWORD")
	pem, err := os.ReadFile(env[0])
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		t.Fatalf("no certificate in %s", env[0])
	}
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(portStr)
	return SMTPConfig{
		Enabled:     true,
		Host:        host,
		Port:        port,
		Username:    env[1],
		Password:    Secret(env[2]),
		FromName:    "Équipe Rïp",
		FromAddress: "noreply@rip.test",
		AuthMethod:  mailAuthPlain,
		UseStartTLS: true,
		Timeout:     10 * time.Second,
	}, &tls.Config{RootCAs: roots}
}

// mailpitMessage is the part of Mailpit's message JSON the tests check.
type mailpitMessage struct {
	ID        string
	MessageID string
	Subject   string
	From      struct{ Name, Address string }
	To        []struct{ Name, Address string }
	Cc, Bcc   []struct{ Name, Address string }
	Text      string
	HTML      string
}

// mailpitClient reads messages from a Mailpit REST API.
type mailpitClient struct {
	base string
	http *http.Client
}

func newMailpitClient(base string) *mailpitClient {
	return &mailpitClient{base: strings.TrimSuffix(base, "/"), http: &http.Client{Timeout: 10 * time.Second,
		// No idle connections outlive the test (TestMain checks for leaks).
		Transport: &http.Transport{DisableKeepAlives: true}}}
}

func (c *mailpitClient) get(path string, v any) error {
	resp, err := c.http.Get(c.base + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// find returns the one message whose decoded subject is subject, with its
// bodies and its headers.
func (c *mailpitClient) find(subject string) (*mailpitMessage, map[string][]string, error) {
	var list struct{ Messages []mailpitMessage }
	if err := c.get("/api/v1/search?query="+url.QueryEscape(`subject:"`+subject+`"`), &list); err != nil {
		return nil, nil, err
	}
	var found []mailpitMessage
	for _, m := range list.Messages {
		if m.Subject == subject {
			found = append(found, m)
		}
	}
	if len(found) != 1 {
		return nil, nil, fmt.Errorf("%d messages with subject %q, want 1", len(found), subject)
	}
	var msg mailpitMessage
	if err := c.get("/api/v1/message/"+found[0].ID, &msg); err != nil {
		return nil, nil, err
	}
	var headers map[string][]string
	if err := c.get("/api/v1/message/"+found[0].ID+"/headers", &headers); err != nil {
		return nil, nil, err
	}
	return &msg, headers, nil
}

func TestSMTPMailerMailpit(t *testing.T) {
	modes := []struct {
		name    string
		addrEnv string
		apiEnv  string
		implTLS bool
	}{
		{name: "starttls", addrEnv: "RIP_TEST_SMTP_ADDR", apiEnv: "RIP_TEST_SMTP_API"},
		{name: "implicit tls", addrEnv: "RIP_TEST_SMTPS_ADDR", apiEnv: "RIP_TEST_SMTPS_API", implTLS: true},
	}
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			env := mailpitEnv(t, mode.addrEnv, mode.apiEnv)
			cfg, tlsCfg := mailpitConfig(t, env[0])
			cfg.UseTLS, cfg.UseStartTLS = mode.implTLS, !mode.implTLS
			mailpitSendAndCheck(t, cfg, tlsCfg, newMailpitClient(env[1]))
		})
	}
	t.Run("header injection refused", func(t *testing.T) {
		env := mailpitEnv(t, "RIP_TEST_SMTP_ADDR", "RIP_TEST_SMTP_API")
		cfg, tlsCfg := mailpitConfig(t, env[0])
		token := rand.Text()
		m := &SMTPMailer{Config: func() SMTPConfig { return cfg }, TLSConfig: tlsCfg}
		err := m.Send(t.Context(), &Message{To: "ana@example.com", Subject: token + "\r\nBcc: eve@evil.test", Text: "x"})
		if !errors.Is(err, ErrMailPermanent) {
			t.Fatalf("err = %v, want ErrMailPermanent", err)
		}
		var list struct {
			MessagesCount int `json:"messages_count"`
		}
		if err := newMailpitClient(env[1]).get("/api/v1/search?query="+url.QueryEscape(token), &list); err != nil {
			t.Fatal(err)
		}
		if list.MessagesCount != 0 {
			t.Errorf("server stored %d messages containing %s", list.MessagesCount, token)
		}
	})
}

// mailpitSendAndCheck sends a rendered multipart mail with a non-ASCII
// subject and checks what the server stored.
func mailpitSendAndCheck(t *testing.T, cfg SMTPConfig, tlsCfg *tls.Config, api *mailpitClient) {
	t.Helper()
	token := rand.Text()
	d := mailTestData()
	d.AppName = "Rïp ✓ " + token
	d.Email = "ana+" + strings.ToLower(token[:8]) + "@example.com"
	msg, err := mailRender(mailKindVerification, d)
	if err != nil {
		t.Fatal(err)
	}
	var transcript strings.Builder
	m := &SMTPMailer{Config: func() SMTPConfig { return cfg }, TLSConfig: tlsCfg, Transcript: &transcript}
	if err := m.Send(t.Context(), msg); err != nil {
		t.Fatalf("Send: %v\ntranscript:\n%s", err, transcript.String())
	}
	if s := transcript.String(); strings.Contains(s, string(cfg.Password)) || strings.Contains(s, d.Code) || !strings.Contains(s, "S: 235") {
		t.Errorf("transcript leaks a secret or lacks the AUTH reply:\n%s", s)
	}
	got, headers, err := api.find(msg.Subject)
	if err != nil {
		t.Fatal(err)
	}
	if got.Subject != "Your Rïp ✓ "+token+" verification code" {
		t.Errorf("Subject = %q", got.Subject)
	}
	if got.From.Name != cfg.FromName || got.From.Address != cfg.FromAddress {
		t.Errorf("From = %+v", got.From)
	}
	if len(got.To) != 1 || got.To[0].Address != d.Email || len(got.Cc) != 0 || len(got.Bcc) != 0 {
		t.Errorf("recipients: To %+v, Cc %+v, Bcc %+v", got.To, got.Cc, got.Bcc)
	}
	if !strings.Contains(got.Text, d.Code) || strings.Contains(got.Text, "<p") {
		t.Errorf("text part = %q", got.Text)
	}
	if !strings.Contains(got.HTML, "<p style=") || !strings.Contains(got.HTML, d.Code) {
		t.Errorf("HTML part = %q", got.HTML)
	}
	for _, h := range []string{"Subject", "From", "To", "Date", "Message-Id", "Mime-Version", "Content-Type"} {
		if n := len(mailpitHeader(headers, h)); n != 1 {
			t.Errorf("header %s appears %d times: %v", h, n, headers)
		}
	}
	// Mailpit adds Received and Return-Path; any other header came from
	// somewhere rip did not intend.
	allowed := []string{"subject", "from", "to", "date", "message-id", "mime-version", "content-type", "received", "return-path"}
	for k := range headers {
		if !slices.Contains(allowed, strings.ToLower(k)) {
			t.Errorf("unexpected header %s: %v", k, headers[k])
		}
	}
	t.Logf("transcript:\n%s", transcript.String())
}

// mailpitHeader returns the values of header key, matched case-insensitively.
func mailpitHeader(headers map[string][]string, key string) []string {
	for k, v := range headers {
		if strings.EqualFold(k, key) {
			return v
		}
	}
	return nil
}

func TestSMTPMailerMailpitRejects(t *testing.T) {
	env := mailpitEnv(t, "RIP_TEST_SMTP_ADDR")
	cfg, tlsCfg := mailpitConfig(t, env[0])
	tests := []struct {
		name      string
		edit      func(*SMTPConfig, *tls.Config)
		permanent bool
	}{
		{name: "wrong password", edit: func(c *SMTPConfig, _ *tls.Config) { c.Password = "wrong" }, permanent: true},
		// Mailpit offers only LOGIN and PLAIN: rip must not try CRAM-MD5 anyway.
		{name: "auth method not offered", edit: func(c *SMTPConfig, _ *tls.Config) { c.AuthMethod = mailAuthCRAMMD5 }, permanent: true},
		{name: "untrusted certificate", edit: func(_ *SMTPConfig, tc *tls.Config) { tc.RootCAs = x509.NewCertPool() }, permanent: true},
		{name: "plain SMTP to a STARTTLS-only server", edit: func(c *SMTPConfig, _ *tls.Config) { c.UseStartTLS = false }, permanent: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, tc := cfg, tlsCfg.Clone()
			tt.edit(&c, tc)
			m := &SMTPMailer{Config: func() SMTPConfig { return c }, TLSConfig: tc}
			err := m.Send(t.Context(), &Message{To: "ana@example.com", Subject: "rejected " + rand.Text(), Text: "x"})
			if err == nil {
				t.Fatal("Send succeeded")
			}
			if got := errors.Is(err, ErrMailPermanent); got != tt.permanent {
				t.Errorf("permanent = %v, want %v: %v", got, tt.permanent, err)
			}
			if strings.Contains(err.Error(), string(c.Password)) {
				t.Errorf("error shows the password: %v", err)
			}
		})
	}
}
