package rip

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// PasswordHasher turns passwords into stored hashes and checks them.
// rip's default is [Argon2id]; an application may supply its own.
// Implementations must be safe for concurrent use.
type PasswordHasher interface {
	// Hash returns the encoded hash of password.
	Hash(password string) (string, error)
	// Verify reports whether password matches encoded, and whether the
	// hash should be replaced by a fresh Hash (old parameters or another
	// algorithm).
	Verify(encoded, password string) (ok, rehash bool, err error)
}

// Argon2id hashes with argon2id in the PHC string format
// ($argon2id$v=19$m=…,t=…,p=…$salt$hash), so parameters can be raised
// later and old hashes upgraded on the next login. It also verifies
// bcrypt hashes imported from other systems (and asks for a rehash).
type Argon2id struct {
	MemoryKiB uint32 // default 19456 (19 MiB)
	Time      uint32 // default 2
	Threads   uint8  // default 1
}

// Password hashing limits.
const (
	argonSaltBytes = 16
	argonKeyBytes  = 32
	// maxArgonMemoryKiB bounds what a stored hash may ask for, so a
	// tampered row cannot make one verification allocate gigabytes.
	maxArgonMemoryKiB = 1 << 20 // 1 GiB
	maxArgonTime      = 16
)

func (h Argon2id) params() (m, t uint32, p uint8) {
	m, t, p = h.MemoryKiB, h.Time, h.Threads
	if m == 0 {
		m = 19456
	}
	if t == 0 {
		t = 2
	}
	if p == 0 {
		p = 1
	}
	return m, t, p
}

// Hash returns the PHC string of password with a fresh random salt.
//
// # Security
//
// OWASP Password Storage parameters (argon2id, 19 MiB, t=2, p=1), a
// 16-byte salt from crypto/rand.
func (h Argon2id) Hash(password string) (string, error) {
	m, t, p := h.params()
	salt := make([]byte, argonSaltBytes)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, t, m, p, argonKeyBytes)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, m, t, p, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// Verify checks password against an argon2id PHC string or a bcrypt hash.
//
// # Security
//
// The comparison is constant-time. Parameters read from the stored hash
// are bounded before use. bcrypt silently ignores bytes past 72, so a
// bcrypt hash never matches a password longer than that (otherwise
// "stored72bytes+anything" would log in).
func (h Argon2id) Verify(encoded, password string) (ok, rehash bool, err error) {
	if strings.HasPrefix(encoded, "$2a$") || strings.HasPrefix(encoded, "$2b$") || strings.HasPrefix(encoded, "$2y$") {
		if len(password) > 72 {
			return false, false, nil
		}
		err := bcrypt.CompareHashAndPassword([]byte(encoded), []byte(password))
		if errors.Is(err, bcrypt.ErrMismatchedHashAndPassword) {
			return false, false, nil
		}
		return err == nil, err == nil, err
	}
	m, t, p, salt, key, err := parseArgon2id(encoded)
	if err != nil {
		return false, false, err
	}
	got := argon2.IDKey([]byte(password), salt, t, m, p, uint32(len(key)))
	ok = subtle.ConstantTimeCompare(got, key) == 1
	wm, wt, wp := h.params()
	return ok, ok && (m != wm || t != wt || p != wp), nil
}

var errBadHash = errors.New("rip: malformed password hash")

// parseArgon2id decodes a PHC argon2id string.
func parseArgon2id(s string) (m, t uint32, p uint8, salt, key []byte, err error) {
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return 0, 0, 0, nil, nil, errBadHash
	}
	var mm, tt, pp uint64
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &mm, &tt, &pp); err != nil ||
		mm < 8 || mm > maxArgonMemoryKiB || tt < 1 || tt > maxArgonTime || pp < 1 || pp > 16 {
		return 0, 0, 0, nil, nil, errBadHash
	}
	salt, err1 := base64.RawStdEncoding.Strict().DecodeString(parts[4])
	key, err2 := base64.RawStdEncoding.Strict().DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(salt) < 8 || len(key) < 16 || len(key) > 64 {
		return 0, 0, 0, nil, nil, errBadHash
	}
	return uint32(mm), uint32(tt), uint8(pp), salt, key, nil
}

// Password policy limits.
const (
	minPasswordChars = 8
	maxPasswordChars = 128
	maxPasswordBytes = 512 // 128 characters of up to 4 bytes
)

// errWeakPassword is the policy failure (err_weak_password).
var errWeakPassword = errors.New("rip: password does not meet the policy")

// preparePassword applies rip's password policy and returns the form that
// is hashed and verified.
//
// # Security
//
// The same preparation runs on every path that sets or checks a password
// (register, login, reset, email change): RFC 8265 OpaqueString (non-ASCII
// spaces → U+0020, then NFC), no trimming, no case change. Limits: valid
// UTF-8, no control characters, 8–128 characters and at most 512 bytes,
// not on the common-password list (ASVS 6.2.1, 6.2.4, 6.2.9; NIST
// SP 800-63B).
func preparePassword(pw string) (string, error) {
	if len(pw) > maxPasswordBytes || !utf8.ValidString(pw) {
		return "", errWeakPassword
	}
	pw = passwordOpaqueString(pw)
	n := utf8.RuneCountInString(pw)
	if n < minPasswordChars || n > maxPasswordChars || len(pw) > maxPasswordBytes {
		return "", errWeakPassword
	}
	for _, r := range pw {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return "", errWeakPassword
		}
	}
	if isCommonPassword(pw) {
		return "", errWeakPassword
	}
	return pw, nil
}

// hashGate caps concurrent password hash computations.
//
// # Security
//
// Each argon2id run costs 19 MiB and tens of milliseconds of CPU; without
// a cap a login flood exhausts memory and starves every other request. A
// caller waits for a slot until its context ends. The app sizes the gate
// at one less than the number of CPUs (at least one), so a flood always
// leaves a core to other requests: on the 2-core CI machine a cap of 2
// let an authenticated read's p99 grow 11× during a flood, a cap of 1
// kept it within 0.4–2.2× at the same login rate (BenchmarkLoginFloodP99).
type hashGate struct {
	slots    chan struct{}
	mu       sync.Mutex
	inFlight int
	peak     int // highest inFlight seen (tests)
}

func newHashGate(n int) *hashGate {
	if n < 1 {
		n = 1
	}
	return &hashGate{slots: make(chan struct{}, n)}
}

// run calls fn holding a slot.
func (g *hashGate) run(ctx context.Context, fn func()) error {
	select {
	case g.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	g.mu.Lock()
	g.inFlight++
	g.peak = max(g.peak, g.inFlight)
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		g.inFlight--
		g.mu.Unlock()
		<-g.slots
	}()
	fn()
	return nil
}
