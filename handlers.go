package rip

import (
	"errors"
	"net/http"

	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// registerBuiltins registers rip's endpoints from the boot configuration.
func (a *App) registerBuiltins() {
	e := &a.boot.Endpoints
	a.endpoints = map[string]string{}
	for _, r := range e.routes() {
		a.endpoints[r.Key] = r.Pattern
	}
	a.endpointsHash = endpointsHash(e)
	a.listEndpointsPath = patternPath(e.ListEndpoints)
	a.HandleFunc(e.ListEndpoints, a.handleListEndpoints)
	a.HandleFunc(e.Health, a.handleHealth)
	a.registerAuth()
	a.registerOTP()
	a.registerOAuth2()
}

// handleListEndpoints answers the endpoint table and its hash. Both come
// from the boot configuration: routes are registered once, so a reload
// must not advertise paths the router does not serve.
func (a *App) handleListEndpoints(w http.ResponseWriter, r *http.Request) {
	writeReply(w, codeOKEndpoints, map[string]any{"endpoints": a.endpoints, "hash": a.endpointsHash})
}

// handleHealth answers 200 when app.db answers a trivial query, 503
// otherwise. No authentication: it says nothing but "up".
func (a *App) handleHealth(w http.ResponseWriter, r *http.Request) {
	err := a.Read(r.Context(), func(conn *sqlite.Conn) error {
		return sqlitex.ExecuteTransient(conn, "SELECT 1", nil)
	})
	if err != nil {
		a.Logger.Warn("rip: health check failed", "err", err)
		writeRetry(w, codeErrServiceUnavailable, 5)
		return
	}
	writeReply(w, codeOKHealth, map[string]any{"db": "ok"})
}

// writeDBError answers a failed database call and reports whether it did:
// ErrDBBusy → 503 with Retry-After, anything else → logged 500.
func (a *App) writeDBError(w http.ResponseWriter, err error) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, ErrDBBusy):
		a.Logger.Warn("rip: database busy", "err", err)
		writeRetry(w, codeErrServiceUnavailable, 1)
	default:
		a.Logger.Error("rip: database error", "err", err)
		writeReply(w, codeErrInternal, nil)
	}
	return true
}
