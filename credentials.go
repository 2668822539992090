package sluice

import (
	"context"
	"time"
)

// Credential is the record of one set of temporary credentials handed out by
// the STS endpoint (AssumeRoleWithWebIdentity). The secret and session token
// are not part of it: they are derived from the access key id and a master
// key, and never stored.
type Credential struct {
	// AccessKeyID ("ASIA…") names the credential; it is also the session's
	// id, the one a revocation names.
	AccessKeyID string
	Issuer      string
	Subject     string
	Email       string
	RoleARN     string
	// SessionName is the client-chosen RoleSessionName: a label for audit.
	// The verified Subject is what decides access.
	SessionName string
	Bucket      string
	// Prefix is the only key prefix the credential may touch, e.g.
	// "users/alice/".
	Prefix    string
	ClientIP  string
	UserAgent string
	IssuedAt  time.Time
	ExpiresAt time.Time
	// RevokedAt is zero unless the credential was revoked.
	RevokedAt time.Time
}

// Owner returns whom the credential was issued to.
func (c *Credential) Owner() Owner { return Owner{c.Issuer, c.Subject} }

// Revocation is what the ledger knows that voids a session: the credential's
// own revocation, and its owner's "revoked before" instant.
type Revocation struct {
	// CredentialRevokedAt is when the credential itself was revoked; zero if
	// it was not.
	CredentialRevokedAt time.Time
	// SubjectRevokedBefore voids every credential, and every web identity
	// token, of the owner issued before it; zero if none.
	SubjectRevokedBefore time.Time
}

// Revokes reports whether r voids a credential or token issued at issued.
func (r Revocation) Revokes(issued time.Time) bool {
	return !r.CredentialRevokedAt.IsZero() ||
		(!r.SubjectRevokedBefore.IsZero() && issued.Before(r.SubjectRevokedBefore))
}

// CredentialLedger is the optional capability of a Ledger to record STS
// credentials and their revocations. The STS endpoint runs only on a ledger
// that has it. Implementations must let several sluice instances share it:
// a revocation recorded through one is seen by all.
type CredentialLedger interface {
	// RecordCredential records a newly issued credential. It fails with
	// CodeConflict, changing nothing, if the access key id is taken.
	RecordCredential(ctx context.Context, c *Credential) error
	// Credential returns a credential by access key id, or CodeNotFound.
	Credential(ctx context.Context, accessKeyID string) (*Credential, error)
	// RevokeCredential voids one credential from at. Revoking it again
	// keeps the first time. CodeNotFound if there is no such credential.
	RevokeCredential(ctx context.Context, accessKeyID string, at time.Time) error
	// RevokeSubject voids every credential and web identity token of o
	// issued before before. It replaces any earlier instant for o, so an
	// earlier one can lift a revocation.
	RevokeSubject(ctx context.Context, o Owner, before time.Time) error
	// SubjectRevokedBefore returns o's "revoked before" instant, zero if
	// none.
	SubjectRevokedBefore(ctx context.Context, o Owner) (time.Time, error)
	// Revocation returns what voids the credential accessKeyID of owner o,
	// in one read. It fails with CodeNotFound if the ledger has no record
	// of the credential: a session token that was never recorded (minted
	// with a stolen master key, say) is worth nothing.
	Revocation(ctx context.Context, accessKeyID string, o Owner) (Revocation, error)
}
