package sluice

import (
	"context"
	"time"
)

// Limits are the per-user quotas of a deployment (policy.quota), and what a
// user's own overrides replace. 0 means unlimited.
type Limits struct {
	// BytesPerDay bounds the bytes a user may be granted per UTC day
	// (pending and completed grants; rejected and expired ones give
	// theirs back).
	BytesPerDay int64 `yaml:"bytes_per_day" json:"bytes_per_day"`
	// FilesPerDay bounds the grants per UTC day, counted as BytesPerDay.
	FilesPerDay int64 `yaml:"files_per_day" json:"files_per_day"`
	// StoredBytes bounds the user's stored files plus their pending grants.
	StoredBytes int64 `yaml:"stored_bytes" json:"stored_bytes"`
	// PendingGrants bounds the user's live pending grants at once.
	PendingGrants int64 `yaml:"pending_grants" json:"pending_grants"`
}

// RateLimits bound requests for grants, uploads and STS credentials, in
// fixed one-minute windows shared by every instance through the ledger. 0
// means unlimited.
type RateLimits struct {
	PerUserPerMinute int64 `yaml:"per_user_per_minute" json:"per_user_per_minute"`
	PerIPPerMinute   int64 `yaml:"per_ip_per_minute" json:"per_ip_per_minute"`
}

// Default rate limits: generous for a person, tight for a script.
const (
	DefaultUserPerMinute = 120
	DefaultIPPerMinute   = 600
)

// Admission is what a ledger checks, atomically with recording a grant.
type Admission struct {
	Limits Limits
	Rate   RateLimits
	// Now is the clock for day and minute windows and for "pending".
	Now time.Time
}

// UserRecord is what the ledger keeps about a user beyond their grants and
// files: a ban, and quota overrides (nil: the deployment's limit).
type UserRecord struct {
	Issuer    string     `json:"iss"`
	Subject   string     `json:"sub"`
	BannedAt  time.Time  `json:"banned_at,omitzero"`
	BanReason string     `json:"ban_reason,omitempty"`
	Overrides LimitsOver `json:"overrides"`
}

// LimitsOver are a user's own limits; a nil field keeps the deployment's.
type LimitsOver struct {
	BytesPerDay   *int64 `json:"bytes_per_day,omitempty"`
	FilesPerDay   *int64 `json:"files_per_day,omitempty"`
	StoredBytes   *int64 `json:"stored_bytes,omitempty"`
	PendingGrants *int64 `json:"pending_grants,omitempty"`
}

// Apply returns l with o's overrides in place.
func (o LimitsOver) Apply(l Limits) Limits {
	set := func(dst *int64, v *int64) {
		if v != nil {
			*dst = *v
		}
	}
	set(&l.BytesPerDay, o.BytesPerDay)
	set(&l.FilesPerDay, o.FilesPerDay)
	set(&l.StoredBytes, o.StoredBytes)
	set(&l.PendingGrants, o.PendingGrants)
	return l
}

// Usage is what a user has used, as the quotas count it.
type Usage struct {
	DayStart      time.Time `json:"day_start"`
	BytesToday    int64     `json:"bytes_today"`
	FilesToday    int64     `json:"files_today"`
	StoredBytes   int64     `json:"stored_bytes"`
	StoredFiles   int64     `json:"stored_files"`
	PendingGrants int64     `json:"pending_grants"`
}

// Check returns the error for the first limit that one more grant of size
// bytes would break, with Retry-After where waiting helps.
func (u Usage) Check(l Limits, size int64, now time.Time) error {
	untilTomorrow := DayStart(now).Add(24 * time.Hour).Sub(now)
	switch {
	case l.FilesPerDay > 0 && u.FilesToday+1 > l.FilesPerDay:
		return &Error{Code: CodeQuotaFilesPerDay, RetryAfter: untilTomorrow,
			Message: "daily upload count reached; it resets at 00:00 UTC"}
	case l.BytesPerDay > 0 && u.BytesToday+size > l.BytesPerDay:
		return &Error{Code: CodeQuotaBytesPerDay, RetryAfter: untilTomorrow,
			Message: "daily upload volume reached; it resets at 00:00 UTC"}
	case l.StoredBytes > 0 && u.StoredBytes+size > l.StoredBytes:
		return Errorf(CodeQuotaStorage, "storage quota reached: delete files to make room")
	case l.PendingGrants > 0 && u.PendingGrants+1 > l.PendingGrants:
		return &Error{Code: CodeQuotaPendingGrants, RetryAfter: time.Minute,
			Message: "too many uploads in progress; finish or let some expire first"}
	}
	return nil
}

// PendingHorizon bounds how far back quotas look for pending grants (so
// that counting them reads a user's recent grants, not their history): no
// grant may stay pending longer. URL TTLs are at most MaxTTL and resumable
// uploads expire after a day by default; a tus TTL configured beyond this
// would let older pending grants go uncounted.
const PendingHorizon = 7 * 24 * time.Hour

// DayStart is the start of t's UTC day: per-day quotas reset then.
func DayStart(t time.Time) time.Time { return t.UTC().Truncate(24 * time.Hour) }

// MinuteStart is the start of t's rate-limit window.
func MinuteStart(t time.Time) time.Time { return t.UTC().Truncate(time.Minute) }

// RateLimitedError is the answer once a window's count is over its limit.
func RateLimitedError(now time.Time, what string) error {
	return &Error{Code: CodeRateLimited, RetryAfter: MinuteStart(now).Add(time.Minute).Sub(now),
		Message: "too many requests " + what + "; slow down"}
}

// BannedError is the answer to a banned user.
func BannedError() error {
	return Errorf(CodeUserBanned, "this account is banned from uploading")
}

// QuotaLedger is the optional capability of a Ledger to enforce quotas,
// rate limits and bans atomically with recording a grant, so that N
// parallel requests at a limit never overshoot it, on any number of
// instances.
type QuotaLedger interface {
	// CreateGrantWithin records g as CreateGrant does, after, in the same
	// transaction: counting one request for g's owner and one for
	// g.ClientIP in the current minute (CodeRateLimited over a.Rate; the
	// count stays even when the grant is refused), refusing a banned owner
	// (CodeUserBanned), and checking the owner's Usage against a.Limits
	// with their overrides (the CodeQuota* codes). It also appends the
	// audit row of the grant ("grant", outcome ok or the refusal's code).
	CreateGrantWithin(ctx context.Context, g *Grant, a Admission) error
	// Hit counts one request against key's window starting at window and
	// returns the count so far, this one included.
	Hit(ctx context.Context, key string, window time.Time) (int64, error)
	// Usage returns o's usage at now.
	Usage(ctx context.Context, o Owner, now time.Time) (Usage, error)
	// User returns o's record; a user never seen has a zero one, no error.
	User(ctx context.Context, o Owner) (*UserRecord, error)
	// SetBan bans o from at (a zero at lifts the ban), recording reason.
	SetBan(ctx context.Context, o Owner, at time.Time, reason string) error
	// SetOverrides replaces o's quota overrides.
	SetOverrides(ctx context.Context, o Owner, over LimitsOver) error
}

// AuditEvent is one row of the append-only audit log.
type AuditEvent struct {
	ID        int64     `json:"id"`
	At        time.Time `json:"at"`
	Kind      string    `json:"kind"`
	Issuer    string    `json:"iss"`
	Subject   string    `json:"sub"`
	Email     string    `json:"email,omitempty"`
	IP        string    `json:"ip,omitempty"`
	UserAgent string    `json:"user_agent,omitempty"`
	Key       string    `json:"key,omitempty"`
	Size      int64     `json:"size,omitempty"`
	SHA256    string    `json:"sha256,omitempty"`
	// Outcome is "ok" or the error code of a refusal or rejection.
	Outcome string `json:"outcome"`
	Detail  string `json:"detail,omitempty"`
}

// Audit kinds.
const (
	AuditGrant      = "grant"      // a grant issued or refused (all methods)
	AuditComplete   = "complete"   // a grant completed (file recorded)
	AuditReject     = "reject"     // a grant rejected or expired
	AuditCredential = "credential" // STS credentials issued or refused
	AuditDelete     = "delete"     // a file deleted
	AuditAdmin      = "admin"      // an admin action (Detail says which)
)

// AuditQuery selects audit rows: zero fields select everything.
type AuditQuery struct {
	Owner Owner // Subject "" for any user; Issuer "" for any issuer
	Since time.Time
	Limit int // default 1000
}

// AuditLedger is the optional capability of a Ledger to keep the audit
// log and erase users.
type AuditLedger interface {
	// AppendAudit appends e (e.ID is assigned).
	AppendAudit(ctx context.Context, e *AuditEvent) error
	// Audit lists rows matching q, oldest first.
	Audit(ctx context.Context, q AuditQuery) ([]AuditEvent, error)
	// PurgeUser forgets o: their files, grants, credentials and user
	// record are deleted (their revocation stays, so old tokens stay void), and the personal fields (email, IP, user
	// agent) of their audit rows blanked; the rows themselves stay, as the
	// record that the uploads and the erasure happened. It returns the
	// keys of the files it forgot, for the caller to delete from the store.
	PurgeUser(ctx context.Context, o Owner) (keys []string, err error)
	// OwnerFiles returns every file key of o (for ban --delete-files).
	OwnerFiles(ctx context.Context, o Owner) ([]*File, error)
}

// GrantAudit is the audit row of a grant issued (refusal nil) or refused.
func GrantAudit(g *Grant, refusal error) AuditEvent {
	e := AuditEvent{
		At: g.CreatedAt, Kind: AuditGrant, Issuer: g.Issuer, Subject: g.Subject, Email: g.Email,
		IP: g.ClientIP, UserAgent: g.UserAgent, Key: g.Key, Size: g.Size, SHA256: g.SHA256,
		Outcome: "ok", Detail: g.Method + " " + g.ID,
	}
	if refusal != nil {
		e.Outcome = string(ErrorCode(refusal))
	}
	return e
}

// FinishAudit is the audit row of g leaving pending, with its file when
// complete.
func FinishAudit(g *Grant, f *File) AuditEvent {
	e := AuditEvent{
		At: g.FinishedAt, Kind: AuditReject, Issuer: g.Issuer, Subject: g.Subject, Email: g.Email,
		IP: g.ClientIP, UserAgent: g.UserAgent, Key: g.Key, Size: g.Size, SHA256: g.SHA256,
		Outcome: string(g.RejectCode), Detail: string(g.State) + " " + g.ID,
	}
	if e.At.IsZero() {
		e.At = time.Now()
	}
	switch {
	case g.State == GrantComplete && f != nil:
		e.Kind, e.Outcome, e.Size, e.SHA256 = AuditComplete, "ok", f.Size, f.SHA256
	case g.State == GrantExpired:
		e.Outcome = string(CodeGrantExpired)
	}
	return e
}
