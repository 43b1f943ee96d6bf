// Package rip is a framework for one-process applications: one binary on
// one VM serves the HTTP API, keeps its data in embedded SQLite, and
// defends itself at the edge without a reverse proxy.
//
// Start with [New], register routes with [App.Handle] (Go 1.22 patterns,
// per-route middleware such as [App.RequireAuth]), jobs with
// [App.HandleJob] and daemons with [App.Go], then call [App.Run].
// Applications embed *App in their own type and write handlers as its
// methods; reply with [WriteJSON] so every endpoint answers in rip's
// envelope {status, code, message, data}.
//
// # Storage
//
// Two SQLite files: app.db (users, configuration, budgets) and logs.db.
// [App.Read] runs on a pool of read-only connections; [App.Write] runs
// inside BEGIN IMMEDIATE on the single writer connection, so writes never
// fail with SQLITE_BUSY_SNAPSHOT. Every call has a deadline: a lock that
// cannot be had in time returns [ErrDBBusy], which handlers answer with
// 503 and Retry-After instead of hanging.
//
// # Configuration
//
// The configuration ([Config]) is TOML stored as immutable, age-encrypted
// generations in app.db and managed with the ripc command ([Admin]).
// SIGHUP reloads it atomically; a generation that fails to decrypt, parse
// or validate never replaces the running one.
//
// # The edge
//
// Before the router every request runs one fixed chain (see the README
// and [App.Handler]): panic recovery, HSTS on TLS, BlockIp (heavy-hitter
// blocking on a fixed-memory top-k sketch), request size limits, the
// Prometheus endpoint for allow-listed addresses, the Host allow-list,
// the User-Agent block-list, maintenance mode and the endpoints hash
// check. Each guard is switched and tuned by its configuration table and
// follows reloads. Requests are counted in metrics and written to the
// request log in logs.db by a batch writer that never makes a request
// wait. [Static] serves files; [App.Notifier] receives operator alerts.
//
// # Security
//
// The README's Audit map lists every security-relevant function in
// reading order; each carries a "# Security" section in its doc saying
// the threat and the defence.
package rip
