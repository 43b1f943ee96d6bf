package rip

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"runtime/debug"
	"strings"
)

// edge wraps the router with the fixed pre-router chain, outermost first:
//
//  1. recoverer: a panic becomes a logged 500 envelope;
//  2. endpointsMismatch: a stale X-Restinpieces-Endpoints-Hash → 409.
//
// The order is fixed: users add per-route middleware with [App.Handle].
func (a *App) edge(next http.Handler) http.Handler {
	h := a.endpointsMismatch(next)
	h = a.recoverer(h)
	return h
}

// recoverer turns a handler panic into a 500 envelope and an error log
// with the stack.
//
// # Security
//
// Without it net/http drops the connection and nothing reaches the log
// database; the stack goes to the log only, never to the client.
// http.ErrAbortHandler is re-raised: it is net/http's way to abort a
// response on purpose.
func (a *App) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			a.Logger.Error("rip: handler panicked", "method", r.Method, "path", truncate(r.URL.Path, 256), "panic", v, "stack", string(debug.Stack()))
			writeReply(w, codeErrInternal, nil)
		}()
		next.ServeHTTP(w, r)
	})
}

// endpointsHashHeader carries the client's hash of the endpoint table.
const endpointsHashHeader = "X-Restinpieces-Endpoints-Hash"

// endpointsMismatch answers 409 when a client's cached endpoint table is
// stale, so it rediscovers. Discovery itself and requests without the
// header pass.
func (a *App) endpointsMismatch(next http.Handler) http.Handler {
	listPath := patternPath(a.endpoints["list_endpoints"])
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h := r.Header.Get(endpointsHashHeader); h != "" && h != a.endpointsHash &&
			a.Config().EndpointsBlockMismatch.Activated && r.URL.Path != listPath {
			writeReply(w, codeErrEndpointsHashMismatch, nil)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// patternPath returns the path of "METHOD /path".
func patternPath(p string) string {
	_, path, _ := strings.Cut(p, " ")
	return path
}

// endpointsHash is the hex of the first 8 bytes of SHA-256 over the
// endpoint patterns in the fixed order of restinpieces, so a client
// compares one short string.
func endpointsHash(e *EndpointsConfig) string {
	h := sha256.New()
	for _, r := range e.routes()[:13] {
		io.WriteString(h, r.Pattern)
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// router returns the ServeMux wrapped so that unknown paths and wrong
// methods answer with the JSON envelope instead of plain text.
func (a *App) router() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, pattern := a.mux.Handler(r)
		if pattern == "" {
			h.ServeHTTP(&missWriter{ResponseWriter: w}, r)
			return
		}
		a.mux.ServeHTTP(w, r)
	})
}

// missWriter replaces the plain-text body net/http writes for 404 and 405
// with the envelope, keeping the status and the Allow header.
type missWriter struct {
	http.ResponseWriter
	wrote bool
}

func (m *missWriter) WriteHeader(status int) {
	if m.wrote {
		return
	}
	m.wrote = true
	h := m.Header()
	h.Del("Content-Type")
	h.Del("X-Content-Type-Options")
	switch status {
	case http.StatusMethodNotAllowed:
		writeReply(m.ResponseWriter, codeErrMethodNotAllowed, nil)
	case http.StatusNotFound:
		writeReply(m.ResponseWriter, codeErrNotFound, nil)
	default: // a redirect to the canonical path
		m.ResponseWriter.WriteHeader(status)
	}
}

func (m *missWriter) Write(b []byte) (int, error) {
	if !m.wrote {
		m.WriteHeader(http.StatusOK)
	}
	return len(b), nil
}

// maxJSONBodyBytes caps the body of rip's JSON endpoints.
const maxJSONBodyBytes = 64 << 10 // 64 KiB: auth bodies are a few hundred bytes

// decodeJSON reads one JSON object from r into dst and answers the error
// itself when it returns false.
//
// # Security
//
// Content-Type must be application/json (415 otherwise); the body is
// capped (413 beyond maxJSONBodyBytes); exactly one object with known
// fields only, no trailing data (400) — so a request smuggling extra
// fields or a second document is refused rather than half-read.
func decodeJSON(w http.ResponseWriter, r *http.Request, dst any) bool {
	if !isJSONRequest(r) {
		writeReply(w, codeErrInvalidContentType, nil)
		return false
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxJSONBodyBytes)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	err := dec.Decode(dst)
	if err == nil && dec.More() {
		err = errors.New("trailing data")
	}
	if err == nil {
		if _, e := dec.Token(); e != io.EOF {
			err = errors.New("trailing data")
		}
	}
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		writeReply(w, codeErrBodyTooLarge, nil)
		return false
	case err != nil:
		writeReply(w, codeErrInvalidInput, nil)
		return false
	}
	return true
}

// isJSONRequest reports whether the media type is exactly
// application/json (parameters such as charset allowed).
func isJSONRequest(r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == "application/json"
}

// requireJSON is middleware for body-less POST endpoints that still must
// carry the JSON content type (restinpieces' refresh-auth contract).
func requireJSON(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !isJSONRequest(r) {
			writeReply(w, codeErrInvalidContentType, nil)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// truncate cuts s to at most n bytes without splitting a UTF-8 sequence.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
