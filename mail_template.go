package rip

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"strings"
	"sync"
	texttemplate "text/template"
)

// The kinds of account mail rip sends. Each has mail/<kind>.txt (a
// "subject" template and the text body) and mail/<kind>.html (the HTML body).
const (
	mailKindVerification  = "verification"   // e-mail verification code, to Email
	mailKindPasswordReset = "password_reset" // password reset code, to Email
	mailKindEmailChange   = "email_change"   // e-mail change code, to NewEmail
	mailKindEmailChanged  = "email_changed"  // security alert, to OldEmail
)

// mailKinds lists every kind, for parsing all templates up front.
var mailKinds = []string{mailKindVerification, mailKindPasswordReset, mailKindEmailChange, mailKindEmailChanged}

// mailData is what the templates see. AppName is smtp.from_name (or the
// application's name); ExpiresIn is a human duration such as "10 minutes".
type mailData struct {
	AppName, Code, Email, NewEmail, OldEmail, ExpiresIn string
}

// mailEmbedded holds the default templates.
//
//go:embed mail/*.html mail/*.txt
var mailEmbedded embed.FS

// mailTemplates is a parsed set of templates for every kind. A user can
// override any file by supplying an fs.FS that holds it under the same name
// ("mail/verification.html"); files it lacks come from the embedded set.
type mailTemplates struct {
	text map[string]*texttemplate.Template
	html map[string]*htmltemplate.Template
}

// mailDefaultTemplates parses the embedded templates once.
var mailDefaultTemplates = sync.OnceValues(func() (*mailTemplates, error) {
	return newMailTemplates(nil)
})

// newMailTemplates parses the templates of every kind, taking each file from
// override when it has it, and reports every file that fails to parse.
func newMailTemplates(override fs.FS) (*mailTemplates, error) {
	t := &mailTemplates{
		text: make(map[string]*texttemplate.Template, len(mailKinds)),
		html: make(map[string]*htmltemplate.Template, len(mailKinds)),
	}
	var errs []error
	for _, kind := range mailKinds {
		src, err := mailTemplateSource(override, "mail/"+kind+".txt")
		if err == nil {
			t.text[kind], err = texttemplate.New(kind).Option("missingkey=error").Parse(src)
		}
		if err == nil && t.text[kind].Lookup("subject") == nil {
			err = fmt.Errorf("mail/%s.txt defines no \"subject\" template", kind)
		}
		errs = append(errs, err)
		src, err = mailTemplateSource(override, "mail/"+kind+".html")
		if err == nil {
			t.html[kind], err = htmltemplate.New(kind).Option("missingkey=error").Parse(src)
		}
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("parse mail templates: %w", err)
	}
	return t, nil
}

// mailTemplateSource reads name from override if it is there, else from the
// embedded set.
func mailTemplateSource(override fs.FS, name string) (string, error) {
	if override != nil {
		b, err := fs.ReadFile(override, name)
		if err == nil {
			return string(b), nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
	}
	b, err := mailEmbedded.ReadFile(name)
	return string(b), err
}

// mailRender renders the mail of the given kind with the embedded templates.
func mailRender(kind string, data mailData) (*Message, error) {
	t, err := mailDefaultTemplates()
	if err != nil {
		return nil, err
	}
	return t.render(kind, data)
}

// render builds the message of the given kind, addressed to the recipient
// that kind goes to.
//
// # Security
//
// Values such as the e-mail address come from users; html/template escapes
// them in the HTML body (restinpieces interpolated them unescaped). The
// subject is a header: [mailCompose] refuses it if a value put a line break
// or other control character into it.
func (t *mailTemplates) render(kind string, data mailData) (*Message, error) {
	txt, html := t.text[kind], t.html[kind]
	if txt == nil || html == nil {
		return nil, fmt.Errorf("render mail: unknown kind %q", kind)
	}
	m := &Message{To: data.Email}
	switch kind {
	case mailKindEmailChange:
		m.To = data.NewEmail
	case mailKindEmailChanged:
		m.To = data.OldEmail
	}
	var subject, text, body bytes.Buffer
	if err := txt.ExecuteTemplate(&subject, "subject", data); err != nil {
		return nil, fmt.Errorf("render mail %s subject: %w", kind, err)
	}
	if err := txt.Execute(&text, data); err != nil {
		return nil, fmt.Errorf("render mail %s text: %w", kind, err)
	}
	if err := html.Execute(&body, data); err != nil {
		return nil, fmt.Errorf("render mail %s html: %w", kind, err)
	}
	m.Subject = strings.TrimSpace(subject.String())
	m.Text = strings.TrimLeft(text.String(), "\r\n")
	m.HTML = body.String()
	return m, nil
}
