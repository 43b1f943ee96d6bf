// Command rip is the ready-to-run rip server.
//
// With no flags it keeps everything in ./data/: on first start it creates
// the directory, the databases, the age key (mode 0600) and configuration
// generation 1 with fresh random secrets, then serves on 127.0.0.1:8080.
// Later starts reuse what is there. Change settings with ripc.
//
//	rip [-data DIR] [-addr HOST:PORT]
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"

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
	app, err := rip.New(rip.Options{DB: filepath.Join(*data, "app.db"), Create: true})
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
	fmt.Printf("rip: serving on %s://%s (data in %s)\n", scheme, ln.Addr(), *data)
	return app.Serve(context.Background(), ln)
}
