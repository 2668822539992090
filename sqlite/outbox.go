package sqlite

import (
	"context"
	"database/sql"
	"slices"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
)

var _ sluice.Outbox = (*Ledger)(nil)

// insertEvent writes e to the outbox in tx: the transaction of the change
// it reports, so the event exists if and only if the change does. The ban
// (governance) writes user.banned with it: insertEvent(ctx, tx,
// sluice.BannedEvent(owner, at, reason)).
func insertEvent(ctx context.Context, tx *sql.Tx, e *sluice.Event) error {
	if e == nil {
		return nil
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO outbox (id, type, created_at, data, attempts, next_attempt)
		VALUES (?, ?, ?, ?, 0, ?)`, e.ID, string(e.Type), micros(e.CreatedAt), string(e.Data), micros(e.NextAttempt))
	return err
}

// finishRecords writes what a grant leaving pending leaves behind, in its
// transaction: the file when complete, and the outbox event.
func finishRecords(ctx context.Context, tx *sql.Tx, g *sluice.Grant, f *sluice.File) error {
	if g.State == sluice.GrantComplete {
		if err := insertFile(ctx, tx, f); err != nil {
			return err
		}
	}
	return insertEvent(ctx, tx, sluice.FinishedEvent(g, f))
}

// DueEvents leases up to limit undelivered events due at now, oldest
// first: their next attempt moves to now+lease in the same transaction.
// The writer connection is the only one, so two deliverers in this
// process cannot take the same event.
func (l *Ledger) DueEvents(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]sluice.Event, error) {
	var out []sluice.Event
	err := l.inTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT id, type, created_at, data, attempts, next_attempt FROM outbox
			WHERE delivered_at IS NULL AND next_attempt <= ? ORDER BY created_at, id LIMIT ?`, micros(now), limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var e sluice.Event
			var typ, data string
			var created, next int64
			if err := rows.Scan(&e.ID, &typ, &created, &data, &e.Attempts, &next); err != nil {
				return err
			}
			e.Type, e.Data = sluice.EventType(typ), []byte(data)
			e.CreatedAt, e.NextAttempt = fromMicros(created), fromMicros(next)
			out = append(out, e)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		rows.Close()
		if len(out) == 0 {
			return nil
		}
		ids := make([]any, 0, len(out)+1)
		ids = append(ids, micros(now.Add(lease)))
		for _, e := range out {
			ids = append(ids, e.ID)
		}
		_, err = tx.ExecContext(ctx, `UPDATE outbox SET next_attempt = ? WHERE id IN (?`+
			strings.Repeat(", ?", len(out)-1)+`)`, ids...)
		return err
	})
	if err != nil {
		return nil, l.fail(err, "read the outbox")
	}
	return slices.Clip(out), nil
}

// EventDelivered marks the event acknowledged at at; CodeNotFound if there
// is no such event.
func (l *Ledger) EventDelivered(ctx context.Context, id string, at time.Time) error {
	return l.updateEvent(ctx, id, `UPDATE outbox SET delivered_at = ?, last_error = '' WHERE id = ?`, micros(at), id)
}

// EventFailed records a failed attempt: how many so far, when to try next
// and why it failed.
func (l *Ledger) EventFailed(ctx context.Context, id string, attempts int, next time.Time, reason string) error {
	return l.updateEvent(ctx, id, `UPDATE outbox SET attempts = ?, next_attempt = ?, last_error = ? WHERE id = ?`,
		attempts, micros(next), reason, id)
}

func (l *Ledger) updateEvent(ctx context.Context, id, query string, args ...any) error {
	res, err := l.w.ExecContext(ctx, query, args...)
	if err != nil {
		return l.fail(err, "update the outbox")
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		if err != nil {
			return l.fail(err, "update the outbox")
		}
		return sluice.Errorf(sluice.CodeNotFound, "no such event %q", id)
	}
	return nil
}
