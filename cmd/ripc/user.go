package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strconv"
	"text/tabwriter"
	"time"
)

func userListFlags(fs *flag.FlagSet) {
	fs.String("match", "", "only accounts whose e-mail contains this text")
	fs.Int("limit", 100, "at most this many accounts")
	fs.Bool("json", false, "print JSON")
}

func userList(e *env, fs *flag.FlagSet, args []string) error {
	if err := wantArgs(args, 0); err != nil {
		return err
	}
	limit, _ := strconv.Atoi(str(fs, "limit"))
	if limit < 1 {
		return fmt.Errorf("%w: --limit must be positive, got %d", errUsage, limit)
	}
	if err := e.open(false); err != nil {
		return err
	}
	users, err := e.admin.ListUsers(e.ctx, str(fs, "match"), limit)
	if err != nil {
		return err
	}
	if boolean(fs, "json") {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if users == nil {
			return enc.Encode([]struct{}{})
		}
		return enc.Encode(users)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tEMAIL\tVERIFIED\tLOGIN\tCREATED")
	for _, u := range users {
		login := "password"
		switch {
		case u.OAuth2 && u.HasPassword:
			login = "password+oauth2"
		case u.OAuth2:
			login = "oauth2"
		case !u.HasPassword:
			login = "none"
		}
		fmt.Fprintf(tw, "%s\t%s\t%t\t%s\t%s\n", u.ID, u.Email, u.Verified, login, u.CreatedAt.Format(time.RFC3339))
	}
	return tw.Flush()
}

func userRevoke(e *env, fs *flag.FlagSet, args []string) error {
	if err := wantArgs(args, 1); err != nil {
		return err
	}
	if err := e.open(false); err != nil {
		return err
	}
	if err := e.admin.RevokeUser(e.ctx, args[0]); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "revoked every session, code and reset grant of %s (a running server stops accepting them within 5 s)\n", args[0])
	return nil
}

func mailTestFlags(fs *flag.FlagSet) {
	fs.String("ca", "", "PEM file of extra CA certificates to trust (a private mail server)")
	fs.Duration("timeout", time.Minute, "give up after this long")
}

func mailTest(e *env, fs *flag.FlagSet, args []string) error {
	if err := wantArgs(args, 1); err != nil {
		return err
	}
	var tlsCfg *tls.Config
	if ca := str(fs, "ca"); ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return err
		}
		roots, err := x509.SystemCertPool()
		if err != nil {
			roots = x509.NewCertPool()
		}
		if !roots.AppendCertsFromPEM(pem) {
			return fmt.Errorf("%w: no PEM certificate in %s", errUsage, ca)
		}
		tlsCfg = &tls.Config{RootCAs: roots}
	}
	timeout := fs.Lookup("timeout").Value.(flag.Getter).Get().(time.Duration)
	if timeout <= 0 {
		return fmt.Errorf("%w: --timeout must be positive", errUsage)
	}
	if err := e.open(false); err != nil {
		return err
	}
	if cfg, _, err := e.admin.EffectiveConfig(e.ctx, 0); err == nil && !cfg.SMTP.Enabled {
		fmt.Fprintln(e.stderr, "note: smtp.enabled is false; the server sends no mail until it is set to true")
	}
	ctx, cancel := context.WithTimeout(e.ctx, timeout)
	defer cancel()
	err := e.admin.SendTestMail(ctx, args[0], tlsCfg, e.stdout)
	if err != nil {
		return fmt.Errorf("mail not sent: %w", err)
	}
	fmt.Fprintf(e.stdout, "mail accepted by the server for %s\n", args[0])
	return nil
}
