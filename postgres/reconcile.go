package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice"
)

var _ sluice.ReconcileLedger = (*Ledger)(nil)

// PendingExpired returns up to limit pending grants that expired before
// before, the longest expired first (the grants_pending_expiry index).
func (l *Ledger) PendingExpired(ctx context.Context, before time.Time, limit int) ([]*sluice.Grant, error) {
	rows, err := l.pool.Query(ctx, `SELECT `+grantColumns+` FROM grants
		WHERE state = 'pending' AND expires_at < $1 ORDER BY expires_at LIMIT $2`, before.UTC(), limit)
	if err != nil {
		return nil, l.fail(err, "list expired uploads")
	}
	defer rows.Close()
	var gs []*sluice.Grant
	for rows.Next() {
		g, err := scanGrant(rows)
		if err != nil {
			return nil, l.fail(err, "list expired uploads")
		}
		gs = append(gs, g)
	}
	return gs, l.fail(rows.Err(), "list expired uploads")
}

// KeyKnown reports whether a file or a pending grant records key.
func (l *Ledger) KeyKnown(ctx context.Context, key string) (bool, error) {
	var known bool
	err := l.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM files WHERE key = $1)
		OR EXISTS (SELECT 1 FROM grants WHERE key = $1 AND state = 'pending')`, key).Scan(&known)
	return known, l.fail(err, "look the object up")
}

// RegisterFile records the finished grant g (complete with f, or rejected)
// and its event in one transaction; CodeConflict if g's ID or f's key is
// already recorded.
func (l *Ledger) RegisterFile(ctx context.Context, g *sluice.Grant, f *sluice.File) error {
	if g.State != sluice.GrantComplete && g.State != sluice.GrantRejected {
		return sluice.Errorf(sluice.CodeInternal, "ledger: a registered grant is complete or rejected, not %q", g.State)
	}
	if g.State == sluice.GrantComplete && f == nil {
		return sluice.Errorf(sluice.CodeInternal, "ledger: a complete grant needs its file")
	}
	err := pgx.BeginFunc(ctx, l.pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, insertGrantSQL,
			g.ID, g.Key, g.Method, g.Issuer, g.Subject, g.Email, g.Filename, g.ContentType, g.Size, g.SHA256,
			g.ClientIP, g.UserAgent, g.CreatedAt.UTC(), g.ExpiresAt.UTC(), string(g.State),
			string(g.RejectCode), g.RejectReason, nullTime(g.FinishedAt))
		if err != nil {
			return err
		}
		if g.State == sluice.GrantComplete {
			_, err := tx.Exec(ctx, `INSERT INTO files (`+fileColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
				f.ID, f.Key, f.Issuer, f.Subject, f.Filename, f.ContentType, f.Size, f.SHA256, f.ETag, f.CreatedAt.UTC())
			if err != nil {
				return err
			}
		}
		return insertEvent(ctx, tx, sluice.FinishedEvent(g, f))
	})
	return l.fail(err, "register the object")
}

// PrefixIssuer returns the issuer of the newest credential for prefix.
func (l *Ledger) PrefixIssuer(ctx context.Context, prefix string) (string, error) {
	var iss string
	err := l.pool.QueryRow(ctx, `SELECT issuer FROM credentials WHERE key_prefix = $1
		ORDER BY issued_at DESC LIMIT 1`, prefix).Scan(&iss)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", sluice.Errorf(sluice.CodeNotFound, "no credential was issued for %q", prefix)
	}
	return iss, l.fail(err, "look the credential up")
}
