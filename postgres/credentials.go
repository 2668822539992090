package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice"
)

// The STS endpoint's records live here too, so a credential issued, or
// revoked, through one instance is known to every other.
var _ sluice.CredentialLedger = (*Ledger)(nil)

const credentialColumns = `access_key_id, issuer, subject, email, role_arn, session_name, bucket, key_prefix,
	client_ip, user_agent, issued_at, expires_at, revoked_at`

// RecordCredential records a newly issued STS credential; CodeConflict if
// its access key id is taken.
func (l *Ledger) RecordCredential(ctx context.Context, c *sluice.Credential) error {
	_, err := l.pool.Exec(ctx, `INSERT INTO credentials (`+credentialColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
		c.AccessKeyID, c.Issuer, c.Subject, c.Email, c.RoleARN, c.SessionName, c.Bucket, c.Prefix,
		c.ClientIP, c.UserAgent, c.IssuedAt.UTC(), c.ExpiresAt.UTC(), nullTime(c.RevokedAt))
	return l.fail(err, "record the credential")
}

// Credential returns the record of a credential, or CodeNotFound.
func (l *Ledger) Credential(ctx context.Context, accessKeyID string) (*sluice.Credential, error) {
	var (
		c       sluice.Credential
		revoked *time.Time
	)
	err := l.pool.QueryRow(ctx, `SELECT `+credentialColumns+` FROM credentials WHERE access_key_id = $1`, accessKeyID).
		Scan(&c.AccessKeyID, &c.Issuer, &c.Subject, &c.Email, &c.RoleARN, &c.SessionName, &c.Bucket, &c.Prefix,
			&c.ClientIP, &c.UserAgent, &c.IssuedAt, &c.ExpiresAt, &revoked)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, sluice.Errorf(sluice.CodeNotFound, "no such credential")
	}
	if err != nil {
		return nil, l.fail(err, "read the credential")
	}
	c.IssuedAt, c.ExpiresAt = c.IssuedAt.UTC(), c.ExpiresAt.UTC()
	if revoked != nil {
		c.RevokedAt = revoked.UTC()
	}
	return &c, nil
}

// RevokeCredential voids a credential from at; a second revocation keeps
// the first instant.
func (l *Ledger) RevokeCredential(ctx context.Context, accessKeyID string, at time.Time) error {
	tag, err := l.pool.Exec(ctx,
		`UPDATE credentials SET revoked_at = COALESCE(revoked_at, $1) WHERE access_key_id = $2`, at.UTC(), accessKeyID)
	if err != nil {
		return l.fail(err, "revoke the credential")
	}
	if tag.RowsAffected() == 0 {
		return sluice.Errorf(sluice.CodeNotFound, "no such credential")
	}
	return nil
}

// RevokeSubject sets o's "revoked before" instant, replacing any earlier
// one.
func (l *Ledger) RevokeSubject(ctx context.Context, o sluice.Owner, before time.Time) error {
	_, err := l.pool.Exec(ctx, `INSERT INTO subject_revocations (issuer, subject, revoked_before) VALUES ($1, $2, $3)
		ON CONFLICT (issuer, subject) DO UPDATE SET revoked_before = excluded.revoked_before`,
		o.Issuer, o.Subject, before.UTC())
	return l.fail(err, "revoke the user's credentials")
}

// Revocation reads a credential's revocation and its owner's in one query;
// CodeNotFound if the credential was never recorded.
func (l *Ledger) Revocation(ctx context.Context, accessKeyID string, o sluice.Owner) (sluice.Revocation, error) {
	var (
		found         bool
		revoked, subj *time.Time
	)
	err := l.pool.QueryRow(ctx, `SELECT
			EXISTS (SELECT 1 FROM credentials WHERE access_key_id = $1),
			(SELECT revoked_at FROM credentials WHERE access_key_id = $1),
			(SELECT revoked_before FROM subject_revocations WHERE issuer = $2 AND subject = $3)`,
		accessKeyID, o.Issuer, o.Subject).Scan(&found, &revoked, &subj)
	if err != nil {
		return sluice.Revocation{}, l.fail(err, "check the credential's revocation")
	}
	if !found {
		return sluice.Revocation{}, sluice.Errorf(sluice.CodeNotFound, "no such credential")
	}
	var r sluice.Revocation
	if revoked != nil {
		r.CredentialRevokedAt = revoked.UTC()
	}
	if subj != nil {
		r.SubjectRevokedBefore = subj.UTC()
	}
	return r, nil
}

// SubjectRevokedBefore returns o's "revoked before" instant, zero if none.
func (l *Ledger) SubjectRevokedBefore(ctx context.Context, o sluice.Owner) (time.Time, error) {
	var before time.Time
	err := l.pool.QueryRow(ctx, `SELECT revoked_before FROM subject_revocations WHERE issuer = $1 AND subject = $2`,
		o.Issuer, o.Subject).Scan(&before)
	if errors.Is(err, pgx.ErrNoRows) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, l.fail(err, "check the user's revocation")
	}
	return before.UTC(), nil
}
