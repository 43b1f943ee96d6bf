package rip

import (
	"context"
	"crypto/tls"
	"io"
)

// SendTestMail sends a short test message to addr with the stored
// [smtp] configuration, writing the SMTP dialogue to transcript (AUTH
// exchanges and the message content redacted). It sends also while
// smtp.enabled is false, so the settings can be tried before they are
// switched on. tlsCfg, when set, supplies extra roots (a private CA).
func (ad *Admin) SendTestMail(ctx context.Context, addr string, tlsCfg *tls.Config, transcript io.Writer) error {
	cfg, _, err := ad.EffectiveConfig(ctx, 0)
	if err != nil {
		return err
	}
	smtpCfg := cfg.SMTP
	smtpCfg.Enabled = true // the point is to try the settings
	m := &SMTPMailer{Config: func() SMTPConfig { return smtpCfg }, TLSConfig: tlsCfg, Transcript: transcript, now: ad.Now}
	return m.Send(ctx, &Message{
		To:      addr,
		Subject: smtpCfg.FromName + " mail test",
		Text:    "This message was sent by `ripc mail test` to check the [smtp] settings.\n",
	})
}
