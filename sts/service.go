// Package sts is sluice's security token service: AssumeRoleWithWebIdentity
// over the AWS STS query protocol, and the check of the temporary
// credentials it issues, for the embedded store to honour.
//
// A client trades its ID token (verified by the same sluice.Verifier as the
// rest of sluice) for credentials scoped to its own users/{sub}/ prefix and
// signs its uploads itself, so the server sees one call per credential
// lifetime instead of one per upload (the seed's option 4).
//
// Credentials are stateless (see keys.go and token.go): any instance that
// shares the master key file and the ledger accepts them. Each one is
// recorded in the ledger before it is handed out, and each use checks the
// ledger (through a cache of a few seconds) for a revocation.
package sts

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
)

// Deps are what a Service works with.
type Deps struct {
	Keys     *Keyring
	Verifier sluice.Verifier
	Ledger   sluice.CredentialLedger
	// Bucket is the one bucket sessions may touch.
	Bucket string
	// RequireEmailVerified refuses tokens without email_verified: true,
	// as the rest of sluice does under the same policy setting.
	RequireEmailVerified bool
	Log                  *slog.Logger
	// Gate, when set, admits a verified caller before credentials are
	// issued (rate limits, bans, quotas) and is told of each issue (audit).
	Gate Gate
}

// Gate is what the STS asks of the upload service about a caller;
// *sluice.Service is one.
type Gate interface {
	AdmitCredentials(ctx context.Context, id *sluice.Identity, meta sluice.RequestMeta) error
	AuditCredential(ctx context.Context, id *sluice.Identity, meta sluice.RequestMeta, accessKeyID string, err error)
}

// Service issues and checks session credentials. Build it with New. It is
// safe for concurrent use; set Now, if at all, before serving.
type Service struct {
	// Now is the clock of issuance, expiry and the revocation cache. Tests
	// inject one. Defaults to time.Now.
	Now func() time.Time

	keys     *Keyring
	verifier sluice.Verifier
	ledger   sluice.CredentialLedger
	bucket   string
	emailReq bool
	gate     Gate
	log      *slog.Logger
	roles    map[string]*role
	order    []string // role ARNs in config order
	revs     *revocationCache
}

// role is a validated Role.
type role struct {
	Role
	access  access
	account string
	name    string
	id      string // AssumedRoleId prefix, AROA…: stable per ARN
}

// New checks cfg (see Config.Validate) and returns a Service.
func New(cfg Config, d Deps) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if d.Keys == nil || d.Verifier == nil || d.Ledger == nil || d.Bucket == "" {
		return nil, fmt.Errorf("sts: keys, verifier, ledger and bucket are required")
	}
	s := &Service{
		keys: d.Keys, verifier: d.Verifier, ledger: d.Ledger, bucket: d.Bucket,
		emailReq: d.RequireEmailVerified, gate: d.Gate, log: d.Log, roles: map[string]*role{},
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	for _, r := range cfg.Roles {
		a, _ := parseAccess(r.Access)
		acct, name := splitRoleARN(r.ARN)
		sum := sha256.Sum256([]byte(r.ARN))
		s.roles[r.ARN] = &role{Role: r, access: a, account: acct, name: name,
			id: "AROA" + akidEncoding.EncodeToString(sum[:11])[:17]}
		s.order = append(s.order, r.ARN)
	}
	s.revs = newRevocationCache(d.Ledger, cfg.RevocationCache, s.now)
	return s, nil
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Roles returns the ARNs of the roles that may be assumed, in config order.
func (s *Service) Roles() []string { return slices.Clone(s.order) }

// Bucket is the bucket sessions may touch.
func (s *Service) Bucket() string { return s.bucket }

// Request is an AssumeRoleWithWebIdentity call.
type Request struct {
	RoleARN          string
	RoleSessionName  string
	WebIdentityToken string
	// DurationSeconds is 0 for the default (1h, or the role's maximum if
	// lower).
	DurationSeconds int64
	// Policy is an optional session policy (see policy.go).
	Policy string
}

// Credentials are temporary AWS credentials.
type Credentials struct {
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
	Expiration      time.Time
}

// Result is the answer to AssumeRoleWithWebIdentity.
type Result struct {
	Credentials Credentials
	// Subject is the token's verified sub; Prefix the key prefix the
	// credentials are confined to.
	Subject  string
	Prefix   string
	Audience string
	// Provider is the token's issuer, as AWS reports it for OIDC.
	Provider string
	// AssumedRoleARN (arn:aws:sts::<acct>:assumed-role/<role>/<session>)
	// and AssumedRoleID (<role id>:<session>) name the session.
	AssumedRoleARN   string
	AssumedRoleID    string
	PackedPolicySize int // percent of the allowed size, when a Policy was given
}

// roleSessionName is AWS's rule for RoleSessionName.
var roleSessionName = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)

// validation is AWS's wording for a parameter that breaks a constraint;
// SDKs and people searching for the message recognise it.
func validation(format string, args ...any) error {
	return sluice.Errorf(sluice.CodeInvalidRequest, "1 validation error detected: "+format, args...)
}

// check validates the request's parameters, cheapest first, before the
// token is verified: a malformed call costs no signature check.
func (s *Service) check(req Request) (*role, time.Duration, []statement, error) {
	switch n := len(req.RoleARN); {
	case n == 0:
		return nil, 0, nil, validation("Value null at 'roleArn' failed to satisfy constraint: Member must not be null")
	case n < 20 || n > 2048:
		return nil, 0, nil, validation("Value at 'roleArn' failed to satisfy constraint: Member must have length between 20 and 2048")
	}
	if req.RoleSessionName == "" {
		return nil, 0, nil, validation("Value null at 'roleSessionName' failed to satisfy constraint: Member must not be null")
	}
	if !roleSessionName.MatchString(req.RoleSessionName) {
		return nil, 0, nil, validation("Value '%s' at 'roleSessionName' failed to satisfy constraint: Member must have length between 2 and 64 and satisfy regular expression pattern: [\\w+=,.@-]*",
			printable(req.RoleSessionName))
	}
	if n := len(req.WebIdentityToken); n == 0 {
		return nil, 0, nil, validation("Value null at 'webIdentityToken' failed to satisfy constraint: Member must not be null")
	} else if n < 4 || n > 20000 {
		return nil, 0, nil, validation("Value at 'webIdentityToken' failed to satisfy constraint: Member must have length between 4 and 20000")
	}
	d := req.DurationSeconds
	if d != 0 && (d < int64(MinDuration/time.Second) || d > int64(MaxRoleDuration/time.Second)) {
		return nil, 0, nil, &sluice.Error{Code: sluice.CodeInvalidTTL, Message: fmt.Sprintf(
			"1 validation error detected: Value '%d' at 'durationSeconds' failed to satisfy constraint: Member must have value between %d and %d",
			d, int64(MinDuration/time.Second), int64(MaxRoleDuration/time.Second))}
	}
	pol, err := parsePolicy(req.Policy)
	if err != nil {
		return nil, 0, nil, err
	}
	r := s.roles[req.RoleARN]
	if r == nil {
		// AWS says the same for a role that does not exist as for one
		// whose trust policy refuses the caller: nothing to enumerate.
		return nil, 0, nil, sluice.Errorf(sluice.CodeForbidden, "Not authorized to perform sts:AssumeRoleWithWebIdentity")
	}
	dur := time.Duration(d) * time.Second
	if d == 0 {
		dur = min(DefaultDuration, r.MaxDuration)
	}
	if dur > r.MaxDuration {
		return nil, 0, nil, &sluice.Error{Code: sluice.CodeInvalidTTL, Message: fmt.Sprintf(
			"The requested DurationSeconds exceeds the MaxSessionDuration set for this role (%d).", int64(r.MaxDuration/time.Second))}
	}
	return r, dur, pol, nil
}

// printable keeps a client-supplied value fit to echo in a message.
func printable(v string) string {
	if len(v) > 80 {
		v = v[:80] + "…"
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, v)
}

// AssumeRoleWithWebIdentity verifies the web identity token and returns
// credentials confined to the caller's users/{sub}/ prefix, recorded in the
// ledger before they are returned.
//
// Errors are *sluice.Error: CodeInvalidRequest or CodeInvalidTTL for a bad
// parameter (ValidationError; a bad Policy is MalformedPolicyDocument),
// the token_* codes for a refused token, CodeIdentityUnavailable when the
// issuer's keys cannot be had, CodeForbidden / CodeSubjectUnsupported /
// CodeEmailNotVerified when the role is not for this caller, and
// CodeUnavailable when the ledger cannot record the credential.
func (s *Service) AssumeRoleWithWebIdentity(ctx context.Context, req Request, meta sluice.RequestMeta) (*Result, error) {
	r, dur, pol, err := s.check(req)
	if err != nil {
		return nil, err
	}
	id, err := s.verifier.Verify(ctx, req.WebIdentityToken)
	if err != nil {
		return nil, err
	}
	aud, err := s.admit(ctx, r, id)
	if err != nil {
		return nil, err
	}
	if s.gate != nil {
		if err := s.gate.AdmitCredentials(ctx, id, meta); err != nil {
			return nil, err
		}
	}
	prefix, err := sluice.UserPrefix(id.Subject)
	if err != nil {
		return nil, err
	}

	now := s.now().UTC().Truncate(time.Second)
	c := &claims{
		AccessKeyID: newAccessKeyID(), Issuer: id.Issuer, Subject: id.Subject,
		RoleARN: r.ARN, SessionName: req.RoleSessionName, Bucket: s.bucket, Prefix: prefix,
		Access: r.access, IssuedAt: now.Unix(), ExpiresAt: now.Add(dur).Unix(), Policy: pol,
	}
	token, err := s.keys.seal(c)
	if err != nil {
		return nil, sluice.Wrap(sluice.CodeInternal, err, "could not seal the session")
	}
	rec := &sluice.Credential{
		AccessKeyID: c.AccessKeyID, Issuer: id.Issuer, Subject: id.Subject, Email: id.Email,
		RoleARN: r.ARN, SessionName: req.RoleSessionName, Bucket: s.bucket, Prefix: prefix,
		ClientIP: meta.ClientIP, UserAgent: meta.UserAgent, IssuedAt: now, ExpiresAt: now.Add(dur),
	}
	// Record before answering: a credential the ledger does not know is
	// never handed out (and would not work: the session check requires
	// the record).
	if err := s.ledger.RecordCredential(ctx, rec); err != nil {
		return nil, err
	}
	if s.gate != nil {
		s.gate.AuditCredential(ctx, id, meta, rec.AccessKeyID, nil)
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "credential issued",
		slog.String("access_key_id", c.AccessKeyID), slog.String("sub", id.Subject), slog.String("role", r.ARN),
		slog.String("session_name", req.RoleSessionName), slog.Time("expires", rec.ExpiresAt))

	res := &Result{
		Credentials: Credentials{
			AccessKeyID: c.AccessKeyID, SecretAccessKey: secretFor(s.keys.current, c.AccessKeyID),
			SessionToken: token, Expiration: rec.ExpiresAt,
		},
		Subject: id.Subject, Prefix: prefix, Audience: aud, Provider: id.Issuer,
		AssumedRoleARN: r.assumedARN(req.RoleSessionName),
		AssumedRoleID:  r.id + ":" + req.RoleSessionName,
	}
	if req.Policy != "" {
		res.PackedPolicySize = (len(req.Policy)*100 + MaxPolicySize - 1) / MaxPolicySize
	}
	return res, nil
}

func (r *role) assumedARN(session string) string {
	return "arn:aws:sts::" + r.account + ":assumed-role/" + r.name + "/" + session
}

// admit applies the role's trust conditions and the revocation of the
// subject to a verified identity, and returns the audience that matched.
func (s *Service) admit(ctx context.Context, r *role, id *sluice.Identity) (string, error) {
	denied := sluice.Errorf(sluice.CodeForbidden, "Not authorized to perform sts:AssumeRoleWithWebIdentity")
	if len(r.Issuers) > 0 && !slices.Contains(r.Issuers, id.Issuer) {
		return "", denied
	}
	auds := audiences(id.Claims["aud"])
	aud := ""
	if len(auds) > 0 {
		aud = auds[0]
	}
	if len(r.Audiences) > 0 {
		i := slices.IndexFunc(auds, func(a string) bool { return slices.Contains(r.Audiences, a) })
		if i < 0 {
			return "", denied
		}
		aud = auds[i]
	}
	if s.emailReq && !id.EmailVerified {
		return "", sluice.Errorf(sluice.CodeEmailNotVerified, "this deployment requires a verified email address")
	}
	before, err := s.ledger.SubjectRevokedBefore(ctx, sluice.Owner{Issuer: id.Issuer, Subject: id.Subject})
	if err != nil {
		return "", err
	}
	// A token issued before the user's revocation is as void as the
	// credentials were: otherwise a banned user would trade the ID token
	// they still hold for fresh credentials.
	if !before.IsZero() && issuedAt(id).Before(before) {
		return "", sluice.Errorf(sluice.CodeForbidden, "Not authorized to perform sts:AssumeRoleWithWebIdentity: this user's sessions were revoked; sign in again")
	}
	return aud, nil
}

// issuedAt is the token's iat; zero (so, before any revocation) if absent.
func issuedAt(id *sluice.Identity) time.Time {
	if f, ok := id.Claims["iat"].(float64); ok {
		return time.Unix(int64(f), 0)
	}
	return time.Time{}
}

func audiences(v any) []string {
	switch a := v.(type) {
	case string:
		return []string{a}
	case []any:
		out := make([]string, 0, len(a))
		for _, x := range a {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// Revoke voids one credential, on every instance within the revocation
// cache time (on this one at once). CodeNotFound if sluice never issued it.
func (s *Service) Revoke(ctx context.Context, accessKeyID string) error {
	if err := RevokeCredential(ctx, s.ledger, accessKeyID, s.now()); err != nil {
		return err
	}
	s.revs.forget(accessKeyID)
	s.log.LogAttrs(ctx, slog.LevelWarn, "credential revoked", slog.String("access_key_id", accessKeyID))
	return nil
}

// RevokeUser voids every credential and every web identity token of o
// issued until now (see the function RevokeUser), on every instance within
// the revocation cache time (on this one at once).
func (s *Service) RevokeUser(ctx context.Context, o sluice.Owner) error {
	if err := RevokeUser(ctx, s.ledger, o, s.now()); err != nil {
		return err
	}
	s.revs.forgetAll()
	s.log.LogAttrs(ctx, slog.LevelWarn, "user's credentials revoked", slog.String("iss", o.Issuer), slog.String("sub", o.Subject))
	return nil
}

// RevokeCredential records in l that one credential is void from now. Every
// instance sharing l refuses it within its revocation cache time. For
// operators' tools that have the ledger but no running Service.
func RevokeCredential(ctx context.Context, l sluice.CredentialLedger, accessKeyID string, now time.Time) error {
	return l.RevokeCredential(ctx, accessKeyID, now.UTC())
}

// RevokeUser records in l that every credential and every web identity
// token of o issued until now is void, so that o must sign in again to get
// new credentials. To keep a user out for good, also disable them at the
// identity provider.
func RevokeUser(ctx context.Context, l sluice.CredentialLedger, o sluice.Owner, now time.Time) error {
	// One second past now: issue times are whole seconds, and whatever was
	// issued within this second must be void too.
	return l.RevokeSubject(ctx, o, now.UTC().Truncate(time.Second).Add(time.Second))
}
