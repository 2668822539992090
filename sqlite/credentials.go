package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/sluicehq/sluice"
)

var _ sluice.CredentialLedger = (*Ledger)(nil)

const credentialColumns = `access_key_id, issuer, subject, email, role_arn, session_name, bucket, key_prefix,
	client_ip, user_agent, issued_at, expires_at, revoked_at`

// RecordCredential records a newly issued STS credential; CodeConflict if its
// access key id is taken. Issuance is far rarer than grants (one per
// credential lifetime per user), so it is a plain insert, not group-committed.
func (l *Ledger) RecordCredential(ctx context.Context, c *sluice.Credential) error {
	err := l.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO credentials (`+credentialColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			c.AccessKeyID, c.Issuer, c.Subject, c.Email, c.RoleARN, c.SessionName, c.Bucket, c.Prefix,
			c.ClientIP, c.UserAgent, micros(c.IssuedAt), micros(c.ExpiresAt), nullMicros(c.RevokedAt))
		return err
	})
	return l.fail(err, "record the credential")
}

// Credential returns the record of a credential, or CodeNotFound.
func (l *Ledger) Credential(ctx context.Context, accessKeyID string) (*sluice.Credential, error) {
	var (
		c               sluice.Credential
		issued, expires int64
		revoked         sql.NullInt64
	)
	err := l.r.QueryRowContext(ctx, `SELECT `+credentialColumns+` FROM credentials WHERE access_key_id = ?`, accessKeyID).
		Scan(&c.AccessKeyID, &c.Issuer, &c.Subject, &c.Email, &c.RoleARN, &c.SessionName, &c.Bucket, &c.Prefix,
			&c.ClientIP, &c.UserAgent, &issued, &expires, &revoked)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, sluice.Errorf(sluice.CodeNotFound, "no such credential")
	}
	if err != nil {
		return nil, l.fail(err, "read the credential")
	}
	c.IssuedAt, c.ExpiresAt = fromMicros(issued), fromMicros(expires)
	if revoked.Valid {
		c.RevokedAt = fromMicros(revoked.Int64)
	}
	return &c, nil
}

// RevokeCredential voids a credential from at; a second revocation keeps the
// first instant.
func (l *Ledger) RevokeCredential(ctx context.Context, accessKeyID string, at time.Time) error {
	var n int64
	err := l.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx,
			`UPDATE credentials SET revoked_at = COALESCE(revoked_at, ?) WHERE access_key_id = ?`, micros(at), accessKeyID)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return l.fail(err, "revoke the credential")
	}
	if n == 0 {
		return sluice.Errorf(sluice.CodeNotFound, "no such credential")
	}
	return nil
}

// RevokeSubject sets o's "revoked before" instant, replacing any earlier one.
func (l *Ledger) RevokeSubject(ctx context.Context, o sluice.Owner, before time.Time) error {
	err := l.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO subject_revocations (issuer, subject, revoked_before) VALUES (?, ?, ?)
			ON CONFLICT (issuer, subject) DO UPDATE SET revoked_before = excluded.revoked_before`,
			o.Issuer, o.Subject, micros(before))
		return err
	})
	return l.fail(err, "revoke the user's credentials")
}

// Revocation reads a credential's revocation and its owner's in one query;
// CodeNotFound if the credential was never recorded.
func (l *Ledger) Revocation(ctx context.Context, accessKeyID string, o sluice.Owner) (sluice.Revocation, error) {
	var (
		found         bool
		revoked, subj sql.NullInt64
	)
	err := l.r.QueryRowContext(ctx, `SELECT
			EXISTS (SELECT 1 FROM credentials WHERE access_key_id = ?),
			(SELECT revoked_at FROM credentials WHERE access_key_id = ?),
			(SELECT revoked_before FROM subject_revocations WHERE issuer = ? AND subject = ?)`,
		accessKeyID, accessKeyID, o.Issuer, o.Subject).Scan(&found, &revoked, &subj)
	if err != nil {
		return sluice.Revocation{}, l.fail(err, "check the credential's revocation")
	}
	if !found {
		return sluice.Revocation{}, sluice.Errorf(sluice.CodeNotFound, "no such credential")
	}
	var r sluice.Revocation
	if revoked.Valid {
		r.CredentialRevokedAt = fromMicros(revoked.Int64)
	}
	if subj.Valid {
		r.SubjectRevokedBefore = fromMicros(subj.Int64)
	}
	return r, nil
}

// SubjectRevokedBefore returns o's "revoked before" instant, zero if none.
func (l *Ledger) SubjectRevokedBefore(ctx context.Context, o sluice.Owner) (time.Time, error) {
	var before int64
	err := l.r.QueryRowContext(ctx, `SELECT revoked_before FROM subject_revocations WHERE issuer = ? AND subject = ?`,
		o.Issuer, o.Subject).Scan(&before)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, l.fail(err, "check the user's revocation")
	}
	return fromMicros(before), nil
}
