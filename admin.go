package rip

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"time"
)

// Admin works on a rip data directory directly, for the ripc command:
// configuration generations, jobs, users, backups. It takes no process
// lock, so it works beside a running server; SQLite serializes the
// writes. It is safe for concurrent use.
type Admin struct {
	opts  Options
	dbs   *dbPair
	store *configStore
	// Now is the clock.
	Now func() time.Time
}

// OpenAdmin opens the databases and the age key of opts (defaults as in
// [New]). With opts.Create it creates a missing data directory and age
// key, as `ripc config init` needs.
func OpenAdmin(opts Options) (*Admin, error) {
	opts.withDefaults()
	if _, err := os.Stat(opts.DB); err != nil && !opts.Create {
		return nil, fmt.Errorf("rip: database %s: %w (run `ripc config init` first)", opts.DB, err)
	}
	if opts.Create {
		if err := os.MkdirAll(filepath.Dir(opts.DB), 0o700); err != nil {
			return nil, fmt.Errorf("rip: create data directory: %w", err)
		}
	}
	id, err := loadIdentity(opts.AgeKey)
	if errors.Is(err, os.ErrNotExist) && opts.Create {
		id, err = createIdentity(opts.AgeKey)
	}
	if err != nil {
		return nil, err
	}
	cfg := DefaultConfig().DB
	cfg.ReadPoolSize = 1
	dbs, err := openDatabases(&opts, cfg, time.Now())
	if err != nil {
		return nil, err
	}
	return &Admin{opts: opts, dbs: dbs, store: &configStore{db: dbs.app, id: id}, Now: time.Now}, nil
}

// Close closes the databases.
func (ad *Admin) Close() error { return ad.dbs.Close() }

// InitConfig stores generation 1 of the application scope (defaults with
// fresh secrets) unless one exists; it reports whether it created one.
func (ad *Admin) InitConfig(ctx context.Context) (bool, error) {
	_, _, err := ad.store.load(ctx, ScopeApplication, 0)
	if err == nil {
		return false, nil
	}
	if !errors.Is(err, errNoConfig) {
		return false, err
	}
	cfg := DefaultConfig()
	GenerateSecrets(cfg)
	text, err := tomlEncode(cfg)
	if err != nil {
		return false, err
	}
	_, err = ad.store.save(ctx, ScopeApplication, "toml", "initial configuration with generated secrets", text, ad.Now())
	return err == nil, err
}

// ConfigText returns the decrypted text of generation gen of scope (0 =
// newest).
func (ad *Admin) ConfigText(ctx context.Context, scope string, gen int) ([]byte, ConfigGeneration, error) {
	return ad.store.load(ctx, scope, gen)
}

// EffectiveConfig returns the application configuration of generation
// gen (0 = newest) overlaid on the defaults, validated.
func (ad *Admin) EffectiveConfig(ctx context.Context, gen int) (*Config, ConfigGeneration, error) {
	text, meta, err := ad.store.load(ctx, ScopeApplication, gen)
	if err != nil {
		return nil, meta, err
	}
	cfg, err := parseConfig(text)
	return cfg, meta, err
}

// SaveConfig validates text and stores it as the next generation of
// scope. For the application scope the text must decode over the
// defaults and pass [Config.Validate]; for other scopes it must be valid
// TOML. Nothing is written when validation fails.
func (ad *Admin) SaveConfig(ctx context.Context, scope, desc string, text []byte) (int, error) {
	if scope == ScopeApplication {
		if _, err := parseConfig(text); err != nil {
			return 0, err
		}
	} else if _, err := tomlParse(text); err != nil {
		return 0, err
	}
	return ad.store.save(ctx, scope, "toml", desc, text, ad.Now())
}

// SetConfigKey sets one key of the application configuration (a dotted
// path, value as a TOML literal or a bare string), validates the result
// and stores it as a new generation.
func (ad *Admin) SetConfigKey(ctx context.Context, key, value, desc string) (int, error) {
	cfg, _, err := ad.EffectiveConfig(ctx, 0)
	if err != nil {
		return 0, err
	}
	if err := tomlSetPath(cfg, key, value); err != nil {
		return 0, err
	}
	if err := cfg.Validate(); err != nil {
		return 0, err
	}
	text, err := tomlEncode(cfg)
	if err != nil {
		return 0, err
	}
	if desc == "" {
		desc = "set " + key
	}
	return ad.store.save(ctx, ScopeApplication, "toml", desc, text, ad.Now())
}

// ConfigKey returns the TOML literal of one key of the effective
// application configuration; secrets are masked unless reveal is set.
func (ad *Admin) ConfigKey(ctx context.Context, key string, reveal bool) (string, error) {
	cfg, _, err := ad.EffectiveConfig(ctx, 0)
	if err != nil {
		return "", err
	}
	if !reveal {
		maskSecrets(reflect.ValueOf(cfg).Elem())
	}
	return tomlGetPath(cfg, key)
}

// ConfigKeys lists every key path of rip's configuration.
func ConfigKeys() []string { return tomlPaths(DefaultConfig()) }

// ConfigGenerations lists the generations of scope ("" = every scope),
// newest first.
func (ad *Admin) ConfigGenerations(ctx context.Context, scope string) ([]ConfigGeneration, error) {
	return ad.store.list(ctx, scope)
}

// ConfigScopes lists the scopes that hold a generation.
func (ad *Admin) ConfigScopes(ctx context.Context) ([]string, error) { return ad.store.scopes(ctx) }

// RollbackConfig stores a copy of generation gen of scope as its newest
// generation. History is never rewritten. The application scope is
// validated first.
func (ad *Admin) RollbackConfig(ctx context.Context, scope string, gen int) (int, error) {
	if gen < 1 {
		return 0, fmt.Errorf("rip: generation must be 1 or more, got %d", gen)
	}
	text, _, err := ad.store.load(ctx, scope, gen)
	if err != nil {
		return 0, err
	}
	return ad.SaveConfig(ctx, scope, fmt.Sprintf("rollback to generation %d", gen), text)
}

// MaskedConfigText returns generation gen (0 = newest) of the
// application scope as effective TOML (defaults filled in) with every
// secret masked, unless reveal is set. Other scopes come back verbatim.
func (ad *Admin) MaskedConfigText(ctx context.Context, scope string, gen int, reveal bool) ([]byte, ConfigGeneration, error) {
	if scope != ScopeApplication {
		return ad.store.load(ctx, scope, gen)
	}
	cfg, meta, err := ad.EffectiveConfig(ctx, gen)
	if err != nil {
		return nil, meta, err
	}
	if !reveal {
		maskSecrets(reflect.ValueOf(cfg).Elem())
	}
	text, err := tomlEncode(cfg)
	return text, meta, err
}

// maskSecrets replaces every non-empty Secret reachable from v with the
// mask, for dump, get and diff output.
//
// # Security
//
// The admin tool prints configuration to terminals and scripts; secrets
// appear only with an explicit --reveal.
func maskSecrets(v reflect.Value) {
	switch v.Kind() {
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				maskSecrets(v.Field(i))
			}
		}
	case reflect.Pointer:
		if !v.IsNil() {
			maskSecrets(v.Elem())
		}
	case reflect.Map:
		for _, k := range v.MapKeys() {
			e := reflect.New(v.Type().Elem()).Elem()
			e.Set(v.MapIndex(k))
			maskSecrets(e)
			v.SetMapIndex(k, e)
		}
	case reflect.String:
		if v.Type() == reflect.TypeFor[Secret]() && v.Len() > 0 && v.CanSet() {
			v.SetString(redacted)
		}
	}
}
