package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/sluicehq/sluice"
)

var _ sluice.SlotLedger = (*Ledger)(nil)

// AcquireSlot counts o's live slots and inserts one in the same write
// transaction; SQLite's single writer makes the pair atomic.
func (l *Ledger) AcquireSlot(ctx context.Context, o sluice.Owner, id string, limit int, now, expires time.Time) error {
	full := false
	err := l.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM upload_slots WHERE issuer = ? AND subject = ? AND expires_at <= ?`,
			o.Issuer, o.Subject, micros(now)); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM upload_slots WHERE issuer = ? AND subject = ?`,
			o.Issuer, o.Subject).Scan(&n); err != nil {
			return err
		}
		if n >= limit {
			full = true
			return nil
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO upload_slots (id, issuer, subject, expires_at) VALUES (?, ?, ?, ?)`,
			id, o.Issuer, o.Subject, micros(expires))
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
	var n int64
	err := l.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE upload_slots SET expires_at = ? WHERE id = ?`, micros(expires), id)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return l.fail(err, "renew an upload slot")
	}
	if n == 0 {
		return sluice.Errorf(sluice.CodeNotFound, "no such upload slot")
	}
	return nil
}

// ReleaseSlot frees a slot.
func (l *Ledger) ReleaseSlot(ctx context.Context, id string) error {
	err := l.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM upload_slots WHERE id = ?`, id)
		return err
	})
	return l.fail(err, "release an upload slot")
}
