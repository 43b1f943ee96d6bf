// Command rip is the ready-to-run rip server.
//
// With no flags it keeps everything in ./data/: on first start it creates
// the directory, the databases, the age key (mode 0600) and configuration
// generation 1 with fresh random secrets, then serves on 127.0.0.1:8080.
// Later starts reuse what is there. Change settings with ripc.
//
// On the first start, when the address is a specific host (the default
// 127.0.0.1), rip stores the URL it prints as server.public_url, so the
// Host allow-list (block_host) accepts that host only and redirects and
// links use it. Change it with `ripc config set server.public_url …`.
//
//	rip [-data DIR] [-addr HOST:PORT]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/ripkit/rip"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("rip", flag.ContinueOnError)
	data := fs.String("data", "data", "directory of app.db, logs.db and age.key")
	addr := fs.String("addr", "", "listen address HOST:PORT for this run (default: server.addr from the configuration)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: rip [-data DIR] [-addr HOST:PORT]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("rip: unexpected arguments %q", fs.Args())
	}
	db := filepath.Join(*data, "app.db")
	_, statErr := os.Stat(db)
	first := errors.Is(statErr, os.ErrNotExist)
	app, err := rip.New(rip.Options{DB: db, Create: true})
	if err != nil {
		return err
	}
	listen := app.Config().Server.Addr
	if *addr != "" {
		listen = *addr
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		app.Close()
		return fmt.Errorf("rip: listen: %w", err)
	}
	scheme := "http"
	if app.Config().Server.EnableTLS {
		scheme = "https"
	}
	url := scheme + "://" + ln.Addr().String()
	if first {
		if err := storePublicURL(app, db, url); err != nil {
			ln.Close()
			app.Close()
			return err
		}
	}
	fmt.Printf("rip: serving on %s (data in %s)\n", url, *data)
	return app.Serve(context.Background(), ln)
}

// storePublicURL makes url the configured public URL on a first start,
// unless the listener is on a wildcard address (any host may be right)
// or the configuration already names hosts. The allow-list of block_host
// then defaults to url's host.
func storePublicURL(app *rip.App, db, url string) error {
	host, _, err := net.SplitHostPort(strings.TrimPrefix(strings.TrimPrefix(url, "https://"), "http://"))
	if ip, perr := netip.ParseAddr(host); err != nil || (perr == nil && ip.IsUnspecified()) {
		return nil
	}
	c := app.Config()
	if c.Server.PublicURL != "" || len(c.BlockHost.AllowedHosts) > 0 {
		return nil
	}
	ad, err := rip.OpenAdmin(rip.Options{DB: db})
	if err != nil {
		return err
	}
	defer ad.Close()
	if _, err := ad.SetConfigKey(context.Background(), "server.public_url", strconv.Quote(url), "cmd/rip: public URL of the first start"); err != nil {
		return err
	}
	fmt.Printf("rip: stored server.public_url = %s; only that Host is accepted (ripc config set server.public_url to change it)\n", url)
	return app.Reload(context.Background())
}
