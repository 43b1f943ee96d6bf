package rip

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"filippo.io/age"
	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// ScopeApplication is the config scope rip itself reads. Applications keep
// their own settings under scopes of their own.
const ScopeApplication = "application"

// Size limits of the config store.
const (
	maxAgeKeyFileBytes = 64 << 10 // 64 KiB: an identity file is ~200 bytes
	maxConfigBytes     = 1 << 20  // 1 MiB of TOML per generation
)

// loadIdentity reads the age X25519 identity at path.
//
// # Security
//
// The identity decrypts every stored secret, so rip refuses a key file that
// is not a regular file or that group or others can read (mode & 0o077 ≠
// 0), naming the file and the fix. The file is read with a size cap and
// must hold exactly one X25519 identity.
func loadIdentity(path string) (*age.X25519Identity, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("rip: age key: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("rip: age key: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("rip: age key %s is not a regular file", path)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("rip: age key %s has mode %04o; it must be readable by its owner only: chmod 600 %s", path, st.Mode().Perm(), path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxAgeKeyFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("rip: age key: %w", err)
	}
	if len(data) > maxAgeKeyFileBytes {
		return nil, fmt.Errorf("rip: age key %s is larger than %d bytes", path, maxAgeKeyFileBytes)
	}
	defer clear(data)
	ids, err := age.ParseIdentities(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("rip: age key %s: %w", path, err)
	}
	if len(ids) != 1 {
		return nil, fmt.Errorf("rip: age key %s must hold exactly one identity, found %d", path, len(ids))
	}
	id, ok := ids[0].(*age.X25519Identity)
	if !ok {
		return nil, fmt.Errorf("rip: age key %s: not an X25519 identity", path)
	}
	return id, nil
}

// createIdentity writes a new X25519 identity to path with mode 0600. It
// never overwrites an existing file.
func createIdentity(path string) (*age.X25519Identity, error) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("rip: create age key: %w", err)
	}
	content := fmt.Sprintf("# created: %s\n# public key: %s\n%s\n", time.Now().UTC().Format(time.RFC3339), id.Recipient(), id)
	if _, err := f.WriteString(content); err != nil {
		f.Close()
		return nil, fmt.Errorf("rip: create age key: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("rip: create age key: %w", err)
	}
	return id, f.Close()
}

// encryptConfig encrypts plain to the identity's own recipient. The
// output is a standard binary age file: `age -d -i KEY` decrypts it.
func encryptConfig(id *age.X25519Identity, plain []byte) ([]byte, error) {
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, id.Recipient())
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(plain); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// decryptConfig decrypts one stored generation.
//
// # Security
//
// age ciphertexts are authenticated: a truncated or bit-flipped blob fails
// here instead of yielding altered settings. Output is capped.
func decryptConfig(id *age.X25519Identity, blob []byte) ([]byte, error) {
	r, err := age.Decrypt(bytes.NewReader(blob), id)
	if err != nil {
		return nil, fmt.Errorf("decrypt config: %w", err)
	}
	plain, err := io.ReadAll(io.LimitReader(r, maxConfigBytes+1))
	if err != nil {
		return nil, fmt.Errorf("decrypt config: %w", err)
	}
	if len(plain) > maxConfigBytes {
		return nil, fmt.Errorf("decrypt config: larger than %d bytes", maxConfigBytes)
	}
	return plain, nil
}

// ConfigGeneration describes one stored configuration generation.
type ConfigGeneration struct {
	Scope       string    `json:"scope"`
	Generation  int       `json:"generation"`
	Format      string    `json:"format"`
	Description string    `json:"description"`
	CreatedAt   time.Time `json:"created_at"`
}

// configStore reads and writes age-encrypted generations in app_config.
// Generations are immutable: every save appends generation max+1 of its
// scope; rollback appends a copy of an older one.
type configStore struct {
	db *database
	id *age.X25519Identity
}

const configTimeout = 10 * time.Second

// save encrypts plain and stores it as the next generation of scope.
func (s *configStore) save(ctx context.Context, scope, format, desc string, plain []byte, now time.Time) (int, error) {
	if err := checkScope(scope); err != nil {
		return 0, err
	}
	if len(plain) > maxConfigBytes {
		return 0, fmt.Errorf("rip: config larger than %d bytes", maxConfigBytes)
	}
	blob, err := encryptConfig(s.id, plain)
	if err != nil {
		return 0, err
	}
	var gen int
	err = s.db.Write(ctx, configTimeout, func(conn *sqlite.Conn) error {
		err := sqlitex.Execute(conn, "SELECT COALESCE(MAX(generation), 0) + 1 FROM app_config WHERE scope = ?",
			&sqlitex.ExecOptions{Args: []any{scope}, ResultFunc: func(st *sqlite.Stmt) error { gen = st.ColumnInt(0); return nil }})
		if err != nil {
			return err
		}
		return sqlitex.Execute(conn, `INSERT INTO app_config (scope, generation, content, format, description, created_at)
			VALUES (?, ?, ?, ?, ?, ?)`, &sqlitex.ExecOptions{Args: []any{scope, gen, blob, format, desc, now.UTC().Format(time.RFC3339Nano)}})
	})
	return gen, err
}

// errNoConfig reports a scope without any stored generation.
var errNoConfig = errors.New("rip: no configuration stored for this scope")

// load decrypts generation gen of scope; gen 0 means the newest.
func (s *configStore) load(ctx context.Context, scope string, gen int) ([]byte, ConfigGeneration, error) {
	var blob []byte
	var meta ConfigGeneration
	q := "SELECT generation, content, format, description, created_at FROM app_config WHERE scope = ? ORDER BY generation DESC LIMIT 1"
	args := []any{scope}
	if gen > 0 {
		q = "SELECT generation, content, format, description, created_at FROM app_config WHERE scope = ? AND generation = ?"
		args = append(args, gen)
	}
	err := s.db.Read(ctx, configTimeout, func(conn *sqlite.Conn) error {
		return sqlitex.Execute(conn, q, &sqlitex.ExecOptions{Args: args, ResultFunc: func(st *sqlite.Stmt) error {
			meta = scanGeneration(scope, st)
			blob = make([]byte, st.ColumnLen(1))
			st.ColumnBytes(1, blob)
			return nil
		}})
	})
	if err != nil {
		return nil, meta, err
	}
	if blob == nil {
		if gen > 0 {
			return nil, meta, fmt.Errorf("rip: scope %q has no generation %d", scope, gen)
		}
		return nil, meta, fmt.Errorf("%w (%q)", errNoConfig, scope)
	}
	plain, err := decryptConfig(s.id, blob)
	if err != nil {
		return nil, meta, fmt.Errorf("rip: scope %q generation %d: %w", scope, meta.Generation, err)
	}
	return plain, meta, nil
}

func scanGeneration(scope string, st *sqlite.Stmt) ConfigGeneration {
	t, _ := time.Parse(time.RFC3339Nano, st.ColumnText(4))
	return ConfigGeneration{Scope: scope, Generation: st.ColumnInt(0), Format: st.ColumnText(2), Description: st.ColumnText(3), CreatedAt: t}
}

// list returns the generations of scope, newest first; scope "" lists all.
func (s *configStore) list(ctx context.Context, scope string) ([]ConfigGeneration, error) {
	var out []ConfigGeneration
	err := s.db.Read(ctx, configTimeout, func(conn *sqlite.Conn) error {
		return sqlitex.Execute(conn, `SELECT generation, scope, format, description, created_at FROM app_config
			WHERE ? = '' OR scope = ? ORDER BY scope, generation DESC`, &sqlitex.ExecOptions{
			Args: []any{scope, scope},
			ResultFunc: func(st *sqlite.Stmt) error {
				g := scanGeneration(st.ColumnText(1), st)
				out = append(out, g)
				return nil
			}})
	})
	return out, err
}

// scopes returns the distinct scopes in use.
func (s *configStore) scopes(ctx context.Context) ([]string, error) {
	var out []string
	err := s.db.Read(ctx, configTimeout, func(conn *sqlite.Conn) error {
		return sqlitex.Execute(conn, "SELECT DISTINCT scope FROM app_config ORDER BY scope", &sqlitex.ExecOptions{
			ResultFunc: func(st *sqlite.Stmt) error { out = append(out, st.ColumnText(0)); return nil }})
	})
	return out, err
}

// checkScope accepts scope names of 1–64 lower-case letters, digits, '_',
// '-' and '.'.
func checkScope(scope string) error {
	if len(scope) == 0 || len(scope) > 64 {
		return fmt.Errorf("rip: scope must be 1 to 64 characters, got %q", scope)
	}
	for _, r := range scope {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || strings.ContainsRune("_-.", r)) {
			return fmt.Errorf("rip: scope %q may only hold a-z, 0-9, '_', '-' and '.'", scope)
		}
	}
	return nil
}

// newSecret returns 32 random bytes as 43 characters of base64url: a
// secret that is safe to paste into TOML.
func newSecret() Secret {
	var b [32]byte
	rand.Read(b[:])
	return Secret(base64.RawURLEncoding.EncodeToString(b[:]))
}

// GenerateSecrets fills every empty JWT secret of c with a fresh random
// one, each distinct.
func GenerateSecrets(c *Config) {
	for _, p := range []*Secret{&c.JWT.AuthSecret, &c.JWT.VerificationEmailOTPSecret, &c.JWT.PasswordResetSecret,
		&c.JWT.EmailChangeOTPSecret, &c.JWT.OAuth2StateSecret} {
		if *p == "" {
			*p = newSecret()
		}
	}
}
