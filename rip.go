package rip

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"zombiezen.com/go/sqlite"
)

// Options locate rip's files. The zero value uses ./data/.
type Options struct {
	// DB is the application database, created and migrated if missing.
	// Default "data/app.db".
	DB string
	// LogDB is the log database. Default: logs.db beside DB.
	LogDB string
	// AgeKey is the age X25519 identity that encrypts the stored
	// configuration; it must be mode 0600. Default: age.key beside DB.
	AgeKey string
	// Create, when set, creates what a first start needs: the directory of
	// DB (mode 0700), the age key, and configuration generation 1 with
	// fresh random secrets. Without it a missing key or configuration is
	// an error from [New].
	Create bool
	// Logger receives rip's logs. Default: text on stderr.
	Logger *slog.Logger
}

func (o *Options) withDefaults() {
	if o.DB == "" {
		o.DB = filepath.Join("data", "app.db")
	}
	dir := filepath.Dir(o.DB)
	if o.LogDB == "" {
		o.LogDB = filepath.Join(dir, "logs.db")
	}
	if o.AgeKey == "" {
		o.AgeKey = filepath.Join(dir, "age.key")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
}

// App is one rip application: databases, configuration, routes, jobs and
// daemons. Build it with [New], register routes, jobs and daemons, then
// call [App.Run]. Registration methods are not safe for concurrent use
// and panic after Run starts; everything else is.
//
// Applications embed *App in their own type and write handlers as its
// methods.
type App struct {
	// Logger receives rip's logs and the request log.
	Logger *slog.Logger
	// Now is the clock; tests replace it. It must be safe for concurrent use.
	Now func() time.Time
	// Cache holds hot rows (users on every authenticated request). Default:
	// an LRU of 10,000 entries. Replace it before Run.
	Cache Cache
	// Hasher hashes and verifies passwords. Default: [Argon2id] with
	// OWASP parameters.
	Hasher PasswordHasher
	// Notifier receives operator alerts: handler panics and failed
	// daemons. Default: a [DiscordNotifier] when notifier.discord is
	// activated, else nil (no alerts). Replace it before Run.
	Notifier Notifier
	// Mailer sends the account mails (from jobs only). Default: an
	// [SMTPMailer] on the [smtp] configuration in force.
	Mailer Mailer
	// MailTemplates, when set before Run, overrides any of the embedded
	// mail templates: a file "mail/verification.html" in it replaces
	// that template (see the mail directory of the source).
	MailTemplates fs.FS

	opts     Options
	cfg      atomic.Pointer[Config]
	boot     *Config // configuration at New: routes and listeners use it
	dbs      *dbPair
	store    *configStore
	lockFile *os.File

	mux      *http.ServeMux
	patterns map[string]bool
	jobs     map[string]JobFunc
	jobWake  chan struct{} // Enqueue → scheduler; capacity 1 (queue.go)
	daemons  []daemon
	started  atomic.Bool
	closed   sync.Once

	userCache *userCacheView // a.Cache under the "user:" prefix
	txHooksMu sync.Mutex
	txHooks   map[*sqlite.Conn][]func() // run when a write transaction ends (auth.go)
	hashGate  *hashGate                 // caps concurrent password hashing
	dummyHash dummyHash                 // hash checked for unknown accounts

	mailTplOnce sync.Once // parses MailTemplates
	mailTpl     *mailTemplates
	mailTplErr  error

	oauth2 *oauth2Client // outbound calls of the OAuth2 sign-in

	endpoints         map[string]string // config key → "METHOD /path"
	endpointsHash     string
	listEndpointsPath string

	metrics     *appMetrics
	metricsHTTP http.Handler
	blocker     atomic.Pointer[ipBlocker] // BlockIp; replaced when block_ip's sizing changes
	logw        *logWriter

	backups *backupRunner // serializes backups; last good time and duration per database (metrics)
	// onBackupFailure, when set, is called for a failed backup after the
	// log line and the Notifier alarm (tests observe failures with it).
	onBackupFailure func(db string, err error)
}

// daemon is a long-running function registered with [App.Go].
type daemon struct {
	name string
	fn   func(ctx context.Context) error
}

// New opens (and if needed creates and migrates) the databases, loads and
// validates the configuration, and registers rip's endpoints. It starts
// no goroutine and opens no listener. Bad configuration is an error that
// lists every problem.
func New(opts Options) (*App, error) {
	opts.withDefaults()
	a := &App{
		Logger:   opts.Logger,
		Now:      time.Now,
		opts:     opts,
		mux:      http.NewServeMux(),
		patterns: map[string]bool{},
		jobs:     map[string]JobFunc{},
		jobWake:  make(chan struct{}, 1),
		Cache:    NewLRU(10_000),
		Hasher:   Argon2id{},
		hashGate: newHashGate(max(1, runtime.NumCPU()-1)),
		backups:  newBackupRunner(),
	}
	a.userCache = &userCacheView{app: a}
	a.metrics = newAppMetrics()
	a.metricsHTTP = metricsHandler(a.metrics)
	a.Mailer = &SMTPMailer{Config: func() SMTPConfig { return a.Config().SMTP }}
	if err := a.open(); err != nil {
		a.Close()
		return nil, err
	}
	a.startObservability()
	a.registerBuiltins()
	return a, nil
}

// startObservability wires metrics into the databases, routes rip's logger
// to logs.db as well, builds the BlockIp sketch and the notifier. It starts
// no goroutine: Run starts the log writer and the notifier.
func (a *App) startObservability() {
	cfg := a.boot
	a.dbs.app.onLockWait = a.metrics.observeWriteLockWait
	a.dbs.app.onBusy = a.metrics.incBusy
	stderr := a.Logger.Handler()
	// The writer's clock is the wall clock, not a.Now: it runs in its own
	// goroutine from Run on, while tests may still be replacing a.Now.
	a.logw = newLogWriter(a.dbs.logs, &cfg.Log, stderr, a.metrics, time.Now,
		func() time.Duration { return a.Config().Log.Retention })
	a.Logger = slog.New(logTee{stderr, &logDBHandler{w: a.logw, level: func() slog.Level { return a.Config().Log.level }}})
	a.blocker.Store(a.newBlocker(cfg))
	a.metrics.setQueueStats(a.jobQueueStats)
	a.warnEdge(cfg)
	if d := cfg.Notifier.Discord; d.Activated {
		n := &DiscordNotifier{WebhookURL: string(d.WebhookURL), Interval: d.APIRateLimit, Burst: d.APIBurst,
			Timeout: d.SendTimeout, Logger: a.Logger}
		a.Notifier = n
		a.Go("rip.notifier.discord", n.Run)
	}
}

// now reads the App's clock field on every call, so a test may replace
// Now after New.
func (a *App) now() time.Time { return a.Now() }

// newBlocker builds the BlockIp sketch for cfg's level.
func (a *App) newBlocker(cfg *Config) *ipBlocker {
	b := &cfg.BlockIP
	return newIPBlocker(blockIPLevels[b.Level], b.BlockDuration, b.MaxBlocked, a.now)
}

// warnEdge logs configuration that is valid but weakens the edge.
func (a *App) warnEdge(cfg *Config) {
	if cfg.BlockHost.Activated && len(cfg.BlockHost.hosts) == 0 {
		a.Logger.Warn("rip: block_host.allowed_hosts is empty and server.public_url is unset: every Host header is accepted (DNS rebinding); set one of them")
	}
}

// notify sends n to the Notifier, if any, without waiting.
func (a *App) notify(n Notification) {
	if a.Notifier == nil {
		return
	}
	if n.Time.IsZero() {
		n.Time = a.Now()
	}
	if err := a.Notifier.Notify(context.Background(), n); err != nil {
		a.Logger.Debug("rip: notification not sent", "err", err)
	}
}

// open does the work of New that can fail.
func (a *App) open() error {
	o := &a.opts
	if o.Create {
		if err := os.MkdirAll(filepath.Dir(o.DB), 0o700); err != nil {
			return fmt.Errorf("rip: create data directory: %w", err)
		}
	}
	if _, err := os.Stat(o.DB); err != nil && !o.Create {
		return fmt.Errorf("rip: database %s: %w (set Options.Create, or run `ripc config init`)", o.DB, err)
	}
	lock, err := lockDataFile(o.DB + ".lock")
	if err != nil {
		return err
	}
	a.lockFile = lock
	id, err := loadIdentity(o.AgeKey)
	if errors.Is(err, os.ErrNotExist) && o.Create {
		id, err = createIdentity(o.AgeKey)
	}
	if err != nil {
		return err
	}
	// The stored configuration is needed to open the databases with the
	// right settings, so app.db is first opened with defaults; settings
	// that differ take effect for the connections opened below.
	dbs, err := openDatabases(o, DefaultConfig().DB, a.Now())
	if err != nil {
		return err
	}
	a.dbs = dbs
	a.store = &configStore{db: dbs.app, id: id}
	cfg, gen, err := a.loadConfig(context.Background())
	if errors.Is(err, errNoConfig) && o.Create {
		cfg, gen, err = a.createConfig(context.Background())
	}
	if err != nil {
		return err
	}
	if cfg.DB != DefaultConfig().DB {
		dbs.Close()
		if a.dbs, err = openDatabases(o, cfg.DB, a.Now()); err != nil {
			return err
		}
		a.store.db = a.dbs.app
	}
	a.boot = cfg
	a.cfg.Store(cfg)
	a.txHooks = map[*sqlite.Conn][]func(){}
	a.dbs.app.afterTx = a.runTxHooks
	a.metrics.setConfigGeneration(int64(gen.Generation))
	a.Logger.Info("rip: configuration loaded", "generation", gen.Generation, "db", o.DB)
	return nil
}

// openDatabases opens and migrates app.db and logs.db.
func openDatabases(o *Options, c DBConfig, now time.Time) (*dbPair, error) {
	sync := "FULL"
	if c.Synchronous == "normal" {
		sync = "NORMAL"
	}
	app, err := openDatabase(o.DB, dbOptions{Synchronous: sync, BusyTimeout: c.BusyTimeout, ReadPoolSize: c.ReadPoolSize})
	if err != nil {
		return nil, err
	}
	p := &dbPair{app: app}
	if _, err := migrate(app, "app", now); err != nil {
		p.Close()
		return nil, err
	}
	p.logs, err = openDatabase(o.LogDB, dbOptions{Synchronous: "NORMAL", BusyTimeout: c.BusyTimeout, ReadPoolSize: 1})
	if err != nil {
		p.Close()
		return nil, err
	}
	if _, err := migrate(p.logs, "logs", now); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

// loadConfig decrypts, decodes and validates the newest application
// generation over the defaults.
func (a *App) loadConfig(ctx context.Context) (*Config, ConfigGeneration, error) {
	plain, gen, err := a.store.load(ctx, ScopeApplication, 0)
	if err != nil {
		return nil, gen, err
	}
	cfg, err := parseConfig(plain)
	if err != nil {
		return nil, gen, fmt.Errorf("rip: configuration generation %d: %w", gen.Generation, err)
	}
	return cfg, gen, nil
}

// parseConfig overlays TOML text on the defaults and validates the result.
func parseConfig(text []byte) (*Config, error) {
	cfg := DefaultConfig()
	if err := tomlDecode(text, cfg); err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// createConfig stores generation 1: the defaults with fresh secrets.
func (a *App) createConfig(ctx context.Context) (*Config, ConfigGeneration, error) {
	cfg := DefaultConfig()
	GenerateSecrets(cfg)
	if err := cfg.Validate(); err != nil { // also derives the parsed fields
		return nil, ConfigGeneration{}, err
	}
	text, err := tomlEncode(cfg)
	if err != nil {
		return nil, ConfigGeneration{}, err
	}
	gen, err := a.store.save(ctx, ScopeApplication, "toml", "initial configuration with generated secrets", text, a.Now())
	if err != nil {
		return nil, ConfigGeneration{}, err
	}
	a.Logger.Info("rip: created configuration generation 1 with fresh secrets")
	return cfg, ConfigGeneration{Scope: ScopeApplication, Generation: gen}, nil
}

// Config returns the configuration in force. The returned value must not
// be modified; it is replaced as a whole on reload.
func (a *App) Config() *Config { return a.cfg.Load() }

// Reload decrypts, parses and validates the newest stored generation and,
// only if all of that succeeds, swaps it in atomically. On failure the
// running configuration stays and the error says why. SIGHUP calls it.
func (a *App) Reload(ctx context.Context) error {
	cfg, gen, err := a.loadConfig(ctx)
	if err != nil {
		a.Logger.Error("rip: reload failed; keeping the running configuration", "err", err)
		return err
	}
	if o := a.Config().BlockIP; o.Level != cfg.BlockIP.Level || o.BlockDuration != cfg.BlockIP.BlockDuration || o.MaxBlocked != cfg.BlockIP.MaxBlocked {
		a.blocker.Store(a.newBlocker(cfg))
	}
	old := a.cfg.Swap(cfg)
	a.metrics.setConfigGeneration(int64(gen.Generation))
	a.warnEdge(cfg)
	if keys := restartKeys(old, cfg); len(keys) > 0 {
		a.Logger.Warn("rip: reloaded settings that take effect only after a restart", "keys", keys)
	}
	a.Logger.Info("rip: configuration reloaded", "generation", gen.Generation)
	return nil
}

// Read runs fn on a read-only app.db connection. The call is bounded by
// ctx and db.read_timeout; a lock that cannot be had in time returns
// [ErrDBBusy].
func (a *App) Read(ctx context.Context, fn func(*sqlite.Conn) error) error {
	return a.dbs.app.Read(ctx, a.Config().DB.ReadTimeout, fn)
}

// Write runs fn inside BEGIN IMMEDIATE … COMMIT on app.db's single
// writer connection; an error from fn rolls back. Bounded by ctx and
// db.write_timeout; running out returns [ErrDBBusy].
func (a *App) Write(ctx context.Context, fn func(*sqlite.Conn) error) error {
	return a.dbs.app.Write(ctx, a.Config().DB.WriteTimeout, fn)
}

// mustNotBeStarted panics when registration happens after Run.
func (a *App) mustNotBeStarted(what string) {
	if a.started.Load() {
		panic(fmt.Sprintf("rip: %s after Run", what))
	}
}

// Middleware wraps a handler; it is the plain net/http shape.
type Middleware = func(http.Handler) http.Handler

// Handle registers h for a Go 1.22 ServeMux pattern ("GET /api/items/{id}"),
// wrapped by mw (the first runs first). A duplicate or conflicting pattern,
// or registration after Run, panics.
func (a *App) Handle(pattern string, h http.Handler, mw ...Middleware) {
	a.mustNotBeStarted(fmt.Sprintf("Handle(%q)", pattern))
	if a.patterns[pattern] {
		panic(fmt.Sprintf("rip: duplicate route %q", pattern))
	}
	for i := len(mw) - 1; i >= 0; i-- {
		h = mw[i](h)
	}
	func() {
		defer func() {
			if r := recover(); r != nil {
				panic(fmt.Sprintf("rip: route %q: %v", pattern, r))
			}
		}()
		a.mux.Handle(pattern, h)
	}()
	a.patterns[pattern] = true
}

// HandleFunc is [App.Handle] for a function.
func (a *App) HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request), mw ...Middleware) {
	a.Handle(pattern, http.HandlerFunc(h), mw...)
}

// Go registers a daemon: fn runs from Run until its context ends. An error
// it returns is logged; it does not stop the app.
func (a *App) Go(name string, fn func(ctx context.Context) error) {
	a.mustNotBeStarted(fmt.Sprintf("Go(%q)", name))
	for _, d := range a.daemons {
		if d.name == name {
			panic(fmt.Sprintf("rip: duplicate daemon %q", name))
		}
	}
	a.daemons = append(a.daemons, daemon{name, fn})
}

// Handler returns the whole HTTP handler: the edge chain and the router.
// Run serves it; tests may serve it with httptest.
func (a *App) Handler() http.Handler {
	return a.edge(a.router())
}

// Run serves HTTP on server.addr (and the redirect listener, with TLS),
// runs the daemons, and blocks until ctx ends or the process gets SIGINT
// or SIGTERM. SIGHUP reloads the configuration. On the way out it stops
// accepting, drains in-flight requests and daemons within
// server.shutdown_timeout, and closes the databases.
func (a *App) Run(ctx context.Context) error {
	cfg := a.boot
	ln, err := net.Listen("tcp", cfg.Server.Addr)
	if err != nil {
		a.Close()
		return fmt.Errorf("rip: listen: %w", err)
	}
	return a.Serve(ctx, ln)
}

// Serve is [App.Run] on a listener the caller opened.
func (a *App) Serve(ctx context.Context, ln net.Listener) error {
	if !a.started.CompareAndSwap(false, true) {
		ln.Close()
		return errors.New("rip: Run or Serve called twice")
	}
	closeBy := time.Time{} // set when shutdown begins
	defer func() { a.closeWithin(closeBy) }()
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	// SIGHUP is caught before the listener answers: its default action
	// ends the process, so a reload sent as soon as the server is up must
	// not arrive before rip listens for it.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	cfg := a.boot
	srv := a.httpServer(cfg)
	var servers []*http.Server
	errc := make(chan error, 2)
	if cfg.Server.EnableTLS {
		cert, err := tls.X509KeyPair([]byte(cfg.Server.CertData), []byte(cfg.Server.KeyData))
		if err != nil {
			ln.Close()
			return fmt.Errorf("rip: TLS: %w", err)
		}
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		ln = tls.NewListener(ln, srv.TLSConfig)
		if cfg.Server.RedirectAddr != "" {
			rsrv, err := a.startRedirect(cfg, errc)
			if err != nil {
				ln.Close()
				return err
			}
			servers = append(servers, rsrv)
		}
	}
	servers = append(servers, srv)
	go func() { errc <- srv.Serve(ln) }()
	a.Logger.Info("rip: serving", "url", a.Config().publicURL(), "addr", ln.Addr().String())

	a.logw.start()
	dctx, cancelDaemons := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	a.startDaemons(dctx, &wg)
	a.scheduleBuiltinJobs(ctx)
	jobs := a.startJobs()

	var serveErr error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-hup:
			a.Reload(context.Background())
		case err := <-errc:
			if !errors.Is(err, http.ErrServerClosed) {
				serveErr = fmt.Errorf("rip: serve: %w", err)
			}
			break loop
		}
	}
	a.Logger.Info("rip: shutting down", "timeout", a.Config().Server.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), a.Config().Server.ShutdownTimeout)
	defer cancel()
	closeBy, _ = sctx.Deadline()
	jobsDone := make(chan struct{})
	go func() { jobs.shutdown(sctx); close(jobsDone) }() // drains beside the HTTP drain
	for _, s := range servers {
		if err := s.Shutdown(sctx); err != nil {
			a.Logger.Warn("rip: HTTP drain did not finish in time", "err", err)
			s.Close()
		}
	}
	cancelDaemons()
	waitTimeout(&wg, sctx)
	<-jobsDone // bounded by sctx: shutdown abandons running handlers then
	return serveErr
}

// closeWaitMin is how long Serve waits for the databases to close when
// the shutdown timeout is already spent.
const closeWaitMin = time.Second

// closeWithin closes the app, waiting until deadline (at least
// closeWaitMin from now). A connection held by a job or handler that
// ignores its context would make closing wait forever (the pool waits
// for every connection to come back); then Serve logs it and returns, so
// a SIGTERM always ends the process within about server.shutdown_timeout.
func (a *App) closeWithin(deadline time.Time) {
	done := make(chan struct{})
	go func() { a.Close(); close(done) }()
	wait := max(time.Until(deadline), closeWaitMin)
	select {
	case <-done:
	case <-time.After(wait):
		a.Logger.Error("rip: databases not closed: a job or handler still holds a connection and ignores its context; exiting without waiting")
	}
}

// httpServer builds the http.Server with every timeout set: a server
// exposed to the internet must not let a slow client hold a connection.
func (a *App) httpServer(cfg *Config) *http.Server {
	s := cfg.Server
	return &http.Server{
		Handler:           a.Handler(),
		ReadTimeout:       s.ReadTimeout,
		ReadHeaderTimeout: s.ReadHeaderTimeout,
		WriteTimeout:      s.WriteTimeout,
		IdleTimeout:       s.IdleTimeout,
		MaxHeaderBytes:    s.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(a.Logger.Handler(), slog.LevelWarn),
	}
}

// startRedirect serves the plain-HTTP listener that sends every request
// to the configured public URL.
func (a *App) startRedirect(cfg *Config, errc chan<- error) (*http.Server, error) {
	ln, err := net.Listen("tcp", cfg.Server.RedirectAddr)
	if err != nil {
		return nil, fmt.Errorf("rip: listen redirect: %w", err)
	}
	rs := &http.Server{
		Handler:           http.HandlerFunc(a.redirectToPublic),
		ReadHeaderTimeout: 2 * time.Second, ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second, IdleTimeout: 10 * time.Second,
		MaxHeaderBytes: cfg.Server.MaxHeaderBytes,
	}
	go func() {
		if err := rs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			errc <- err
		}
	}()
	return rs, nil
}

// redirectToPublic answers 301 to the public URL plus the request path.
//
// # Security
//
// The target is built from server.public_url, never from the request's
// Host header, so the redirect cannot be pointed at another site (OWASP
// host header injection).
func (a *App) redirectToPublic(w http.ResponseWriter, r *http.Request) {
	target := a.Config().publicURL() + r.URL.EscapedPath()
	if len(r.URL.EscapedPath()) == 0 || r.URL.EscapedPath()[0] != '/' {
		target = a.Config().publicURL() + "/"
	}
	if r.URL.RawQuery != "" {
		target += "?" + r.URL.RawQuery
	}
	w.Header().Set("Location", target)
	w.Header().Set("Connection", "close")
	w.WriteHeader(http.StatusMovedPermanently)
}

// startDaemons runs every daemon in its own goroutine under ctx.
func (a *App) startDaemons(ctx context.Context, wg *sync.WaitGroup) {
	for _, d := range a.daemons {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				if r := recover(); r != nil {
					a.Logger.Error("rip: daemon panicked", "daemon", d.name, "panic", r)
					a.notify(Notification{Type: "alarm", Source: d.name, Message: "daemon panicked",
						Fields: map[string]string{"panic": truncate(fmt.Sprint(r), 512)}})
				}
			}()
			if err := d.fn(ctx); err != nil && !errors.Is(err, context.Canceled) {
				a.Logger.Error("rip: daemon stopped", "daemon", d.name, "err", err)
				a.notify(Notification{Type: "alarm", Source: d.name, Message: "daemon stopped with an error",
					Fields: map[string]string{"err": truncate(err.Error(), 512)}})
			}
		}()
	}
}

// waitTimeout waits for wg or until ctx ends.
func waitTimeout(wg *sync.WaitGroup, ctx context.Context) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// Close closes the databases and releases the data lock. Run calls it on
// the way out; call it yourself only when you never call Run.
func (a *App) Close() error {
	var err error
	a.closed.Do(func() {
		if a.logw != nil {
			a.logw.stop()
		}
		if a.dbs != nil {
			err = a.dbs.Close()
		}
		if a.lockFile != nil {
			a.lockFile.Close()
		}
	})
	return err
}
