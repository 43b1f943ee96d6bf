package rip

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
)

// Sentinel errors returned by rip's Go API.
var (
	// ErrDBBusy reports that a database call could not get its lock or
	// finish before its deadline. HTTP handlers answer it with 503 and
	// Retry-After; callers may retry later.
	ErrDBBusy = errors.New("rip: database busy")
	// ErrNotFound reports that a looked-up row does not exist.
	ErrNotFound = errors.New("rip: not found")
	// ErrJobExists reports that a live job already holds the unique key
	// of a job being enqueued; [App.Enqueue] returns its ID with it.
	ErrJobExists = errors.New("rip: job with this unique key exists")
	// ErrInvalidJob reports a job spec or job query that breaks a rule
	// (type name, payload size, interval, …); the message says which.
	ErrInvalidJob = errors.New("rip: invalid job")
)

// Response codes of the JSON envelope. The set and the HTTP status of each
// are the wire contract shared with restinpieces clients; rip's additions are
// marked. testdata/codes.golden pins the catalogue.
const (
	codeOK                          = "ok"
	codeOKAuthentication            = "ok_authentication"
	codeOKEndpoints                 = "ok_endpoints"
	codeOKHealth                    = "ok_health" // rip
	codeOKOTPTokenIssued            = "ok_otp_token_issued"
	codeOKPasswordResetOTPVerified  = "ok_password_reset_otp_verified"
	codeOKPasswordReset             = "ok_password_reset"
	codeOKPasswordResetNotNeeded    = "ok_password_reset_not_needed"
	codeOKAlreadyVerified           = "ok_already_verified"
	codeOKEmailChange               = "ok_email_change"
	codeOKPendingEmailVerification  = "ok_pending_email_verification_otp"
	codeOKOAuth2ProvidersList       = "ok_oauth2_providers_list"
	codeOKLogoutAll                 = "ok_logout_all" // rip
	codeErrTokenGeneration          = "err_token_generation"
	codeErrInvalidInput             = "err_invalid_input"
	codeErrInvalidCredentials       = "err_invalid_credentials"
	codeErrPasswordMismatch         = "err_password_mismatch"
	codeErrMissingFields            = "err_missing_fields"
	codeErrWeakPassword             = "err_weak_password"
	codeErrEmailConflict            = "err_email_conflict"
	codeErrNotFound                 = "err_not_found"
	codeErrMethodNotAllowed         = "err_method_not_allowed" // rip
	codeErrEmailOTPAlreadyRequested = "err_email_verification_otp_already_requested"
	codeErrPasswordHashingFailed    = "err_password_hashing_failed"
	codeErrServiceUnavailable       = "err_service_unavailable"
	codeErrNoAuthHeader             = "err_no_auth_header"
	codeErrInvalidSignMethod        = "err_invalid_sign_method"
	codeErrTokenExpired             = "err_token_expired"
	codeErrInvalidToken             = "err_invalid_token"
	codeErrInvalidVerificationToken = "err_invalid_verification_token"
	codeErrInvalidOTP               = "err_invalid_otp"
	codeErrOTPFailed                = "err_otp_failed"
	codeErrInvalidOAuth2Provider    = "err_invalid_oauth2_provider"
	codeErrOAuth2TokenExchange      = "err_oauth2_token_exchange_failed"
	codeErrOAuth2UserInfo           = "err_oauth2_user_info_failed"
	codeErrOAuth2UserInfoProcessing = "err_oauth2_user_info_processing_failed"
	codeErrOAuth2Database           = "err_oauth2_database_error"
	codeErrAuthDatabase             = "err_auth_database_error"
	codeErrUnverifiedEmail          = "err_unverified_email"
	codeErrRequiredEmailVerify      = "err_required_email_verification_otp"
	codeErrEndpointsHashMismatch    = "err_endpoints_hash_mismatch"
	codeErrInvalidContentType       = "err_invalid_content_type"
	codeErrTooManyRequests          = "err_too_many_requests"
	codeErrBodyTooLarge             = "err_body_too_large"      // rip
	codeErrInternal                 = "err_internal"            // rip
	codeErrForbidden                = "err_forbidden"           // rip
	codeErrMaintenance              = "err_maintenance"         // rip
	codeErrURITooLong               = "err_uri_too_long"        // rip
	codeErrHeaderTooLarge           = "err_header_too_large"    // rip
	codeErrMisdirected              = "err_misdirected_request" // rip
)

// apiReply is one entry of the catalogue: a code with its HTTP status and
// the fixed, client-safe message. Only catalogue text ever reaches a
// client; internal errors are logged, never echoed.
type apiReply struct {
	Status  int
	Code    string
	Message string
}

// replies is the catalogue. The HTTP status of each code never varies.
var replies = indexReplies([]apiReply{
	{200, codeOK, "OK"},
	{200, codeOKAuthentication, "Authentication successful"},
	{200, codeOKEndpoints, "List of endpoints"},
	{200, codeOKHealth, "Service healthy"},
	{200, codeOKOTPTokenIssued, "Verification code sent; use the token to confirm it"},
	{202, codeOKPasswordResetOTPVerified, "Code verified; use the token to set a new password"},
	{200, codeOKPasswordReset, "Password reset"},
	{200, codeOKPasswordResetNotNeeded, "The new password equals the current one"},
	{202, codeOKAlreadyVerified, "Email already verified"},
	{200, codeOKEmailChange, "Email address changed"},
	{202, codeOKPendingEmailVerification, "Registration accepted; verify your email to log in"},
	{200, codeOKOAuth2ProvidersList, "List of OAuth2 providers"},
	{200, codeOKLogoutAll, "Every session of this account has been revoked"},
	{500, codeErrTokenGeneration, "Failed to generate the token"},
	{400, codeErrInvalidInput, "The request contains invalid data"},
	{401, codeErrInvalidCredentials, "Invalid credentials"},
	{400, codeErrPasswordMismatch, "Password and confirmation differ"},
	{400, codeErrMissingFields, "Required fields are missing"},
	{400, codeErrWeakPassword, "The password does not meet the policy"},
	{409, codeErrEmailConflict, "Email address already in use"},
	{404, codeErrNotFound, "Resource not found"},
	{405, codeErrMethodNotAllowed, "Method not allowed"},
	{409, codeErrEmailOTPAlreadyRequested, "A code was already requested; wait before asking again"},
	{500, codeErrPasswordHashingFailed, "Failed to hash the password"},
	{503, codeErrServiceUnavailable, "Service temporarily unavailable; retry later"},
	{401, codeErrNoAuthHeader, "Authorization header required"},
	{401, codeErrInvalidSignMethod, "Invalid token signing method"},
	{401, codeErrTokenExpired, "Token expired"},
	{401, codeErrInvalidToken, "Invalid token"},
	{401, codeErrInvalidVerificationToken, "Invalid verification token"},
	{401, codeErrInvalidOTP, "Invalid or expired code"},
	{500, codeErrOTPFailed, "Failed to issue the verification code"},
	{400, codeErrInvalidOAuth2Provider, "Invalid OAuth2 provider"},
	{400, codeErrOAuth2TokenExchange, "OAuth2 token exchange failed"},
	{400, codeErrOAuth2UserInfo, "Failed to get the OAuth2 user information"},
	{400, codeErrOAuth2UserInfoProcessing, "Failed to process the OAuth2 user information"},
	{500, codeErrOAuth2Database, "Database error during OAuth2 login"},
	{500, codeErrAuthDatabase, "Database error"},
	{403, codeErrUnverifiedEmail, "Verify your email before changing it"},
	{403, codeErrRequiredEmailVerify, "Email verification required"},
	{409, codeErrEndpointsHashMismatch, "Client endpoints are out of date; fetch them again"},
	{415, codeErrInvalidContentType, "Content-Type must be application/json"},
	{429, codeErrTooManyRequests, "Too many requests; retry later"},
	{413, codeErrBodyTooLarge, "Request body too large"},
	{500, codeErrInternal, "Internal server error"},
	{403, codeErrForbidden, "Forbidden"},
	{503, codeErrMaintenance, "Service under maintenance; retry later"},
	{414, codeErrURITooLong, "Request URI too long"},
	{431, codeErrHeaderTooLarge, "Request header fields too large"},
	{421, codeErrMisdirected, "Misdirected request"},
})

// indexReplies builds the code → reply map; a duplicate code is a
// programmer error caught at package load.
func indexReplies(list []apiReply) map[string]apiReply {
	m := make(map[string]apiReply, len(list))
	for _, r := range list {
		if _, dup := m[r.Code]; dup {
			panic("rip: duplicate reply code " + r.Code)
		}
		m[r.Code] = r
	}
	return m
}

// FieldError is one entry of the data array of a validation error: which
// request field (param) failed and why.
type FieldError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Param   string `json:"param"`
}

// envelope is the JSON shape of every reply rip writes.
type envelope struct {
	Status  int    `json:"status"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Data    any    `json:"data,omitempty"`
}

// setJSONHeaders sets the headers every JSON reply carries.
//
// # Security
//
// Replies may carry tokens or personal data: no-store keeps them out of
// caches (RFC 6749 §5.1), nosniff and the restrictive CSP stop a browser
// from rendering a reply as a document, and frame-ancestors/X-Frame-Options
// deny framing. Applied to every envelope, errors included.
func setJSONHeaders(h http.Header) {
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
	h.Set("Referrer-Policy", "no-referrer")
}

// WriteJSON writes the envelope {status, code, message, data} with HTTP
// status status. data is omitted when nil. Applications use it so their own
// endpoints answer in the same shape as rip's.
func WriteJSON(w http.ResponseWriter, status int, code, message string, data any) {
	body, err := json.Marshal(envelope{Status: status, Code: code, Message: message, Data: data})
	if err != nil {
		status, body = 500, []byte(`{"status":500,"code":"err_internal","message":"Internal server error"}`)
	}
	setJSONHeaders(w.Header())
	w.Header().Set("Content-Length", strconv.Itoa(len(body)+1))
	w.WriteHeader(status)
	w.Write(append(body, '\n'))
}

// writeReply writes a catalogue reply with optional data.
func writeReply(w http.ResponseWriter, code string, data any) {
	r, ok := replies[code]
	if !ok {
		r = replies[codeErrInternal]
	}
	WriteJSON(w, r.Status, r.Code, r.Message, data)
}

// writeRetry writes a catalogue reply with a Retry-After header in whole
// seconds (at least 1), for 429 and 503 answers.
func writeRetry(w http.ResponseWriter, code string, afterSeconds int) {
	if afterSeconds < 1 {
		afterSeconds = 1
	}
	w.Header().Set("Retry-After", strconv.Itoa(afterSeconds))
	writeReply(w, code, nil)
}
