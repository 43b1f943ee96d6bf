package rip

import (
	"errors"
	"net/mail"
	"strings"
	"testing"
	"testing/fstest"
)

func mailTestData() mailData {
	return mailData{
		AppName:   "Rip",
		Code:      "123456",
		Email:     "ana@example.com",
		NewEmail:  "new@example.com",
		OldEmail:  "old@example.com",
		ExpiresIn: "10 minutes",
	}
}

func TestMailRender(t *testing.T) {
	tests := []struct {
		name     string
		kind     string
		to       string
		subject  string
		contains []string // in both bodies
	}{
		{name: "verification", kind: mailKindVerification, to: "ana@example.com",
			subject: "Your Rip verification code", contains: []string{"123456", "10 minutes", "ana@example.com"}},
		{name: "password reset", kind: mailKindPasswordReset, to: "ana@example.com",
			subject: "Your Rip password reset code", contains: []string{"123456", "10 minutes"}},
		{name: "email change", kind: mailKindEmailChange, to: "new@example.com",
			subject: "Your Rip email change code", contains: []string{"123456", "old@example.com", "new@example.com"}},
		{name: "email changed", kind: mailKindEmailChanged, to: "old@example.com",
			subject: "Rip security alert: email address changed", contains: []string{"old@example.com", "new@example.com"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := mailRender(tt.kind, mailTestData())
			if err != nil {
				t.Fatal(err)
			}
			if m.To != tt.to || m.Subject != tt.subject {
				t.Errorf("To, Subject = %q, %q; want %q, %q", m.To, m.Subject, tt.to, tt.subject)
			}
			for _, s := range tt.contains {
				if !strings.Contains(m.Text, s) || !strings.Contains(m.HTML, s) {
					t.Errorf("a body lacks %q:\n%s\n%s", s, m.Text, m.HTML)
				}
			}
			if strings.Contains(m.Text, "{{") || strings.HasPrefix(m.Text, "\n") || !strings.Contains(m.HTML, "<html") {
				t.Errorf("unexpected bodies:\n%q\n%q", m.Text, m.HTML)
			}
			from := &mail.Address{Name: "Rip", Address: "noreply@rip.test"}
			if _, _, err := mailCompose(from, m, mailTestNow); err != nil {
				t.Errorf("rendered mail does not compose: %v", err)
			}
		})
	}
}

func TestMailRenderEscapesHTML(t *testing.T) {
	d := mailTestData()
	d.OldEmail = `"><script>alert(1)</script>@evil.test`
	m, err := mailRender(mailKindEmailChanged, d)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(m.HTML, "<script>") || !strings.Contains(m.HTML, "&lt;script&gt;") {
		t.Errorf("HTML body does not escape the address:\n%s", m.HTML)
	}
}

func TestMailRenderSubjectInjectionRefused(t *testing.T) {
	d := mailTestData()
	d.AppName = "Rip\r\nBcc: eve@evil.test"
	m, err := mailRender(mailKindVerification, d)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = mailCompose(&mail.Address{Address: "noreply@rip.test"}, m, mailTestNow)
	if !errors.Is(err, ErrMailPermanent) {
		t.Fatalf("compose err = %v, want ErrMailPermanent", err)
	}
}

func TestMailRenderUnknownKind(t *testing.T) {
	if _, err := mailRender("welcome", mailTestData()); err == nil {
		t.Fatal("no error for an unknown kind")
	}
}

func TestMailTemplatesOverride(t *testing.T) {
	fsys := fstest.MapFS{
		"mail/verification.txt":  {Data: []byte(`{{define "subject"}}{{.AppName}}: code {{.Code}}{{end}}Code {{.Code}}`)},
		"mail/verification.html": {Data: []byte(`<b>{{.Code}}</b> for {{.Email}}`)},
	}
	tpl, err := newMailTemplates(fsys)
	if err != nil {
		t.Fatal(err)
	}
	d := mailTestData()
	d.Email = "<ana>"
	m, err := tpl.render(mailKindVerification, d)
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != "Rip: code 123456" || m.Text != "Code 123456" || m.HTML != "<b>123456</b> for &lt;ana&gt;" {
		t.Errorf("override not used: %+v", m)
	}
	m, err = tpl.render(mailKindPasswordReset, mailTestData())
	if err != nil || m.Subject != "Your Rip password reset code" {
		t.Errorf("embedded fallback: %+v, %v", m, err)
	}
}

func TestMailTemplatesOverrideErrors(t *testing.T) {
	tests := []struct {
		name string
		fsys fstest.MapFS
		want []string
	}{
		{name: "parse errors are all reported", fsys: fstest.MapFS{
			"mail/verification.html":   {Data: []byte(`{{.Code`)},
			"mail/password_reset.html": {Data: []byte(`{{end}}`)},
		}, want: []string{"verification", "password_reset"}},
		{name: "text without subject", fsys: fstest.MapFS{
			"mail/email_change.txt": {Data: []byte(`Code {{.Code}}`)},
		}, want: []string{`mail/email_change.txt defines no "subject"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := newMailTemplates(tt.fsys)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q: %v", w, err)
				}
			}
		})
	}
}

func TestMailTemplatesUnknownField(t *testing.T) {
	tpl, err := newMailTemplates(fstest.MapFS{"mail/verification.html": {Data: []byte(`{{.Nope}}`)}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tpl.render(mailKindVerification, mailTestData()); err == nil {
		t.Fatal("no error for a template using an unknown field")
	}
}

func BenchmarkMailRender(b *testing.B) {
	d := mailTestData()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := mailRender(mailKindVerification, d); err != nil {
			b.Fatal(err)
		}
	}
}
