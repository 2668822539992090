package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice"
)

var _ sluice.SlotLedger = (*Ledger)(nil)

// AcquireSlot counts o's live slots and inserts one in one transaction,
// serialised per user by a transaction-scoped advisory lock: two instances
// cannot both see a free slot and both take it.
func (l *Ledger) AcquireSlot(ctx context.Context, o sluice.Owner, id string, limit int, now, expires time.Time) error {
	full := false
	err := pgx.BeginFunc(ctx, l.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('upload_slots|' || $1 || '|' || $2, 0))`,
			o.Issuer, o.Subject); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM upload_slots WHERE issuer = $1 AND subject = $2 AND expires_at <= $3`,
			o.Issuer, o.Subject, now.UTC()); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM upload_slots WHERE issuer = $1 AND subject = $2`,
			o.Issuer, o.Subject).Scan(&n); err != nil {
			return err
		}
		if n >= limit {
			full = true
			return nil
		}
		_, err := tx.Exec(ctx, `INSERT INTO upload_slots (id, issuer, subject, expires_at) VALUES ($1, $2, $3, $4)`,
			id, o.Issuer, o.Subject, expires.UTC())
		return err
	})
	if err != nil {
		return l.fail(err, "take an upload slot")
	}
	if full {
		return sluice.Errorf(sluice.CodeTooManyUploads, "you already have %d uploads in progress; wait for one to finish", limit)
	}
	return nil
}

// RenewSlot extends a held slot.
func (l *Ledger) RenewSlot(ctx context.Context, id string, expires time.Time) error {
	tag, err := l.pool.Exec(ctx, `UPDATE upload_slots SET expires_at = $1 WHERE id = $2`, expires.UTC(), id)
	if err != nil {
		return l.fail(err, "renew an upload slot")
	}
	if tag.RowsAffected() == 0 {
		return sluice.Errorf(sluice.CodeNotFound, "no such upload slot")
	}
	return nil
}

// ReleaseSlot frees a slot.
func (l *Ledger) ReleaseSlot(ctx context.Context, id string) error {
	_, err := l.pool.Exec(ctx, `DELETE FROM upload_slots WHERE id = $1`, id)
	return l.fail(err, "release an upload slot")
}
