package rip

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// Job types of rip's own background work.
const (
	jobTypeMail     = "rip.mail"      // one account mail; payload mailJob
	jobTypeOTPPurge = "rip.otp_purge" // recurrent: scrub expired codes, delete old code and budget rows
)

// otpPurgeInterval is how often expired codes are scrubbed; a code whose
// mail never went out stays in the database at most its lifetime plus
// this.
const otpPurgeInterval = time.Minute

// mailJob is the payload of a rip.mail job: either the id of a code row
// (the mail of that row's purpose) or an alert about an e-mail change.
// It never holds a code: the handler reads it from the row and deletes it
// after the send.
type mailJob struct {
	OTPID    string `json:"otp_id,omitempty"`
	OldEmail string `json:"old_email,omitempty"` // alert: the address that was replaced
	NewEmail string `json:"new_email,omitempty"`
}

// errMailDisabled is the last error of mail jobs while smtp.enabled is
// false.
var errMailDisabled = errors.New("smtp.enabled is false: mail not sent")

// enqueueMail queues m inside the caller's transaction.
func (a *App) enqueueMail(conn *sqlite.Conn, m mailJob) error {
	_, err := a.Enqueue(context.Background(), conn, JobSpec{Type: jobTypeMail, Payload: m})
	return err
}

// registerMail registers the mail job and the recurrent purge of codes.
func (a *App) registerMail() {
	a.HandleJob(jobTypeMail, a.runMailJob)
	a.HandleJob(jobTypeOTPPurge, func(ctx context.Context, _ *Job) error {
		return a.Write(ctx, func(conn *sqlite.Conn) error {
			if err := otpPurge(conn, a.Now()); err != nil {
				return err
			}
			return budgetPurge(conn, a.Now())
		})
	})
}

// scheduleBuiltinJobs makes sure rip's recurrent jobs exist; their unique
// keys keep restarts from adding copies.
func (a *App) scheduleBuiltinJobs(ctx context.Context) {
	_, err := a.Enqueue(ctx, nil, JobSpec{Type: jobTypeOTPPurge, Interval: otpPurgeInterval, UniqueKey: jobTypeOTPPurge})
	if err != nil && !errors.Is(err, ErrJobExists) {
		a.Logger.Error("rip: schedule recurrent job", "job", jobTypeOTPPurge, "err", err)
	}
	a.scheduleBackup(ctx)
}

// runMailJob sends the mail a rip.mail job describes.
//
// # Security
//
// Mail leaves only from here, never from a request, so a slow or failing
// mail server cannot delay or fail an HTTP answer, and timing does not
// reveal whether an address has an account. The plaintext code is
// deleted from its row as soon as the mail was accepted or failed for
// good; a retryable failure keeps it until the code expires, when the
// purge deletes it.
func (a *App) runMailJob(ctx context.Context, j *Job) error {
	var m mailJob
	if err := json.Unmarshal(j.Payload, &m); err != nil {
		return Permanent(fmt.Errorf("mail job payload: %w", err))
	}
	cfg := a.Config()
	msg, otpID, err := a.mailJobMessage(ctx, cfg, m)
	if err != nil || msg == nil {
		return err
	}
	if !cfg.SMTP.Enabled {
		err = Permanent(errMailDisabled)
	} else if err = a.Mailer.Send(ctx, msg); err != nil {
		a.metrics.incMailFailure()
		if errors.Is(err, ErrMailPermanent) {
			err = Permanent(err)
		}
	}
	if otpID != "" && (err == nil || errors.Is(err, ErrMailPermanent) || errors.Is(err, errMailDisabled)) {
		if serr := a.Write(ctx, func(conn *sqlite.Conn) error { return otpScrub(conn, otpID) }); serr != nil {
			return errors.Join(err, serr)
		}
	}
	return err
}

// mailJobMessage renders the message of m. A nil message with a nil
// error means there is nothing to send (a row issued for an unknown
// address, or one already mailed).
func (a *App) mailJobMessage(ctx context.Context, cfg *Config, m mailJob) (*Message, string, error) {
	data := mailData{AppName: cfg.SMTP.FromName}
	if m.OTPID == "" {
		data.OldEmail, data.NewEmail = m.OldEmail, m.NewEmail
		msg, err := a.renderMail(mailKindEmailChanged, data)
		return msg, "", err
	}
	var row *otpRow
	var code string
	err := a.Read(ctx, func(conn *sqlite.Conn) error {
		return sqlitex.Execute(conn, "SELECT purpose, email, new_email, code, expires_at FROM otps WHERE id = ?",
			&sqlitex.ExecOptions{Args: []any{m.OTPID}, ResultFunc: func(s *sqlite.Stmt) error {
				row = &otpRow{Purpose: otpPurpose(s.ColumnText(0)), Email: s.ColumnText(1), NewEmail: s.ColumnText(2), Expires: s.ColumnInt64(4)}
				code = s.ColumnText(3)
				return nil
			}})
	})
	if err != nil || row == nil || code == "" || a.Now().Unix() >= row.Expires {
		return nil, "", err
	}
	data.Code, data.Email, data.NewEmail = code, row.Email, row.NewEmail
	data.ExpiresIn = humanDuration(time.Unix(row.Expires, 0).Sub(a.Now()))
	kind := mailKindVerification
	switch row.Purpose {
	case otpPasswordReset:
		kind = mailKindPasswordReset
	case otpEmailChange:
		kind = mailKindEmailChange
	}
	msg, err := a.renderMail(kind, data)
	return msg, m.OTPID, err
}

// renderMail renders a mail with the app's templates: MailTemplates
// overrides, or the embedded defaults. A template error is permanent.
func (a *App) renderMail(kind string, data mailData) (*Message, error) {
	t, err := a.mailTemplates()
	if err != nil {
		return nil, Permanent(err)
	}
	m, err := t.render(kind, data)
	if err != nil {
		return nil, Permanent(err)
	}
	return m, nil
}

// mailTemplates parses the templates once, taking overrides from
// a.MailTemplates.
func (a *App) mailTemplates() (*mailTemplates, error) {
	if a.MailTemplates == nil {
		return mailDefaultTemplates()
	}
	a.mailTplOnce.Do(func() { a.mailTpl, a.mailTplErr = newMailTemplates(a.MailTemplates) })
	return a.mailTpl, a.mailTplErr
}

// humanDuration writes d rounded to whole minutes ("10 minutes"), or
// seconds below a minute, for mail bodies.
func humanDuration(d time.Duration) string {
	switch m := int((d + 30*time.Second) / time.Minute); {
	case d < time.Minute:
		s := max(int(d/time.Second), 1)
		if s == 1 {
			return "1 second"
		}
		return fmt.Sprintf("%d seconds", s)
	case m == 1:
		return "1 minute"
	default:
		return fmt.Sprintf("%d minutes", m)
	}
}
