package sluice

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Code is a stable, machine-readable error code. Clients are written against
// these strings: never rename one, only add.
type Code string

// Error codes. The HTTP status of each is in statusOf.
const (
	// Request shape.
	CodeInvalidRequest     Code = "invalid_request"
	CodeInvalidSize        Code = "invalid_size"
	CodeInvalidChecksum    Code = "invalid_checksum"
	CodeInvalidFilename    Code = "invalid_filename"
	CodeMethodNotSupported Code = "method_not_supported"
	CodeInvalidTTL         Code = "invalid_ttl"
	CodeRouteNotFound      Code = "route_not_found"
	CodeMethodNotAllowed   Code = "method_not_allowed"

	// Policy.
	CodeTooLarge           Code = "too_large"
	CodeTypeNotAllowed     Code = "content_type_not_allowed"
	CodeSubjectUnsupported Code = "subject_unsupported"
	CodeForbidden          Code = "forbidden"
	CodeEmailNotVerified   Code = "email_not_verified"

	// Identity. Each refusal of a token has its own code so that operators
	// can tell an attack from a misconfiguration; all answer 401.
	CodeTokenMissing      Code = "token_missing"
	CodeTokenMalformed    Code = "token_malformed"
	CodeTokenTooLarge     Code = "token_too_large"
	CodeTokenAlgorithm    Code = "token_algorithm"
	CodeTokenUnknownKey   Code = "token_unknown_key"
	CodeTokenSignature    Code = "token_signature"
	CodeTokenExpired      Code = "token_expired"
	CodeTokenNotYetValid  Code = "token_not_yet_valid"
	CodeTokenIssuedFuture Code = "token_issued_in_future"
	CodeTokenAuthFuture   Code = "token_auth_time_in_future"
	CodeTokenIssuer       Code = "token_issuer"
	CodeTokenAudience     Code = "token_audience"
	CodeTokenSubject      Code = "token_subject"
	CodeTokenClaims       Code = "token_claims"
	// CodeIdentityUnavailable: the issuer's keys cannot be had, so no token
	// can be checked. The server fails closed with 503.
	CodeIdentityUnavailable Code = "identity_unavailable"

	// Lookups and state.
	CodeNotFound     Code = "not_found"
	CodeConflict     Code = "conflict"
	CodeGrantExpired Code = "grant_expired"

	// Verification after upload (complete).
	CodeUploadMissing    Code = "upload_missing"
	CodeSizeMismatch     Code = "size_mismatch"
	CodeChecksumMismatch Code = "checksum_mismatch"
	CodeContentMismatch  Code = "content_mismatch"
	// CodeUploadIncomplete: bytes sent through sluice stopped before the
	// end (the body was shorter than declared, the client went away, or
	// it ended a resumable upload).
	CodeUploadIncomplete Code = "upload_incomplete"

	// Server side.
	CodeRateLimited Code = "rate_limited"
	// CodeTooManyUploads: the user already streams as many uploads through
	// sluice as the policy allows at once.
	CodeTooManyUploads Code = "too_many_uploads"
	CodeUnavailable    Code = "unavailable"
	CodeInternal       Code = "internal"

	// Governance (quotas per user, bans). Each limit has its own code so a
	// client can tell the user which one they hit.
	CodeQuotaBytesPerDay   Code = "quota_bytes_per_day"
	CodeQuotaFilesPerDay   Code = "quota_files_per_day"
	CodeQuotaStorage       Code = "quota_storage"
	CodeQuotaPendingGrants Code = "quota_pending_grants"
	CodeUserBanned         Code = "user_banned"
	// CodeAdminUnauthorized: the admin API was called without the admin
	// token (an end user's token is never enough).
	CodeAdminUnauthorized Code = "admin_unauthorized"
)

// statusOf is the one table from code to HTTP status. The server answers
// with it; the client maps answers back to codes from the JSON body.
var statusOf = map[Code]int{
	CodeInvalidRequest:     http.StatusBadRequest,
	CodeInvalidSize:        http.StatusBadRequest,
	CodeInvalidChecksum:    http.StatusBadRequest,
	CodeInvalidFilename:    http.StatusBadRequest,
	CodeMethodNotSupported: http.StatusBadRequest,
	CodeInvalidTTL:         http.StatusBadRequest,
	CodeRouteNotFound:      http.StatusNotFound,
	CodeMethodNotAllowed:   http.StatusMethodNotAllowed,

	CodeTooLarge:           http.StatusRequestEntityTooLarge,
	CodeTypeNotAllowed:     http.StatusUnsupportedMediaType,
	CodeSubjectUnsupported: http.StatusForbidden,
	CodeForbidden:          http.StatusForbidden,
	CodeEmailNotVerified:   http.StatusForbidden,

	CodeTokenMissing:        http.StatusUnauthorized,
	CodeTokenMalformed:      http.StatusUnauthorized,
	CodeTokenTooLarge:       http.StatusUnauthorized,
	CodeTokenAlgorithm:      http.StatusUnauthorized,
	CodeTokenUnknownKey:     http.StatusUnauthorized,
	CodeTokenSignature:      http.StatusUnauthorized,
	CodeTokenExpired:        http.StatusUnauthorized,
	CodeTokenNotYetValid:    http.StatusUnauthorized,
	CodeTokenIssuedFuture:   http.StatusUnauthorized,
	CodeTokenAuthFuture:     http.StatusUnauthorized,
	CodeTokenIssuer:         http.StatusUnauthorized,
	CodeTokenAudience:       http.StatusUnauthorized,
	CodeTokenSubject:        http.StatusUnauthorized,
	CodeTokenClaims:         http.StatusUnauthorized,
	CodeIdentityUnavailable: http.StatusServiceUnavailable,

	CodeNotFound:     http.StatusNotFound,
	CodeConflict:     http.StatusConflict,
	CodeGrantExpired: http.StatusGone,

	CodeUploadMissing:    http.StatusUnprocessableEntity,
	CodeSizeMismatch:     http.StatusUnprocessableEntity,
	CodeChecksumMismatch: http.StatusUnprocessableEntity,
	CodeContentMismatch:  http.StatusUnprocessableEntity,
	CodeUploadIncomplete: http.StatusBadRequest,

	CodeRateLimited:    http.StatusTooManyRequests,
	CodeTooManyUploads: http.StatusTooManyRequests,
	CodeUnavailable:    http.StatusServiceUnavailable,
	CodeInternal:       http.StatusInternalServerError,

	CodeQuotaBytesPerDay:   http.StatusTooManyRequests,
	CodeQuotaFilesPerDay:   http.StatusTooManyRequests,
	CodeQuotaStorage:       http.StatusForbidden,
	CodeQuotaPendingGrants: http.StatusTooManyRequests,
	CodeUserBanned:         http.StatusForbidden,
	CodeAdminUnauthorized:  http.StatusUnauthorized,
}

// HTTPStatus returns the HTTP status for a code; unknown codes are 500.
func HTTPStatus(c Code) int {
	if s, ok := statusOf[c]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// Codes lists every code with its status, for documentation and tests.
func Codes() map[Code]int {
	m := make(map[Code]int, len(statusOf))
	for c, s := range statusOf {
		m[c] = s
	}
	return m
}

// Error is the one error type of sluice. Message is safe to show to the end
// user; Err, if set, is the underlying cause and is only logged.
type Error struct {
	Code    Code
	Message string
	Err     error
	// RetryAfter, when set, is how long to wait before asking again (the
	// server answers it as Retry-After, in whole seconds, rounded up).
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf builds an *Error with a formatted, user-safe message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap builds an *Error that keeps cause for the logs.
func Wrap(code Code, cause error, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Err: cause}
}

// ErrorCode returns the code of the first *Error in err's chain, or
// CodeInternal when there is none.
func ErrorCode(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// ErrorMessage returns the user-safe message of err: the *Error's message,
// or a generic text for anything else so internals never leak.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}

// RetryAfter returns the wait the first *Error in err's chain asks for;
// zero if none.
func RetryAfter(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}

// IsCode reports whether err carries code c.
func IsCode(err error, c Code) bool { return err != nil && ErrorCode(err) == c }
