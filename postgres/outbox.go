package postgres

import (
	"context"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice"
)

var _ sluice.Outbox = (*Ledger)(nil)

// insertEvent writes e to the outbox in tx: the transaction of the change
// it reports, so the event exists if and only if the change does. The ban
// (governance) writes user.banned with it: insertEvent(ctx, tx,
// sluice.BannedEvent(owner, at, reason)).
func insertEvent(ctx context.Context, tx pgx.Tx, e *sluice.Event) error {
	if e == nil {
		return nil
	}
	_, err := tx.Exec(ctx, `INSERT INTO outbox (id, type, created_at, data, attempts, next_attempt)
		VALUES ($1, $2, $3, $4, 0, $5)`, e.ID, string(e.Type), e.CreatedAt.UTC(), string(e.Data), e.NextAttempt.UTC())
	return err
}

// finishRecords writes what a grant leaving pending leaves behind, in its
// transaction: the file when complete, and the outbox event.
func finishRecords(ctx context.Context, tx pgx.Tx, g *sluice.Grant, f *sluice.File) error {
	if g.State == sluice.GrantComplete {
		if err := insertFile(ctx, tx, f); err != nil {
			return err
		}
	}
	return insertEvent(ctx, tx, sluice.FinishedEvent(g, f))
}

// DueEvents leases up to limit undelivered events due at now, oldest
// first. FOR UPDATE SKIP LOCKED lets instances poll at once: each takes
// rows no other transaction holds, and moves their next attempt to
// now+lease before committing, so none takes them again meanwhile.
func (l *Ledger) DueEvents(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]sluice.Event, error) {
	rows, err := l.pool.Query(ctx, `UPDATE outbox SET next_attempt = $2
		WHERE id IN (SELECT id FROM outbox WHERE delivered_at IS NULL AND next_attempt <= $1
			ORDER BY created_at, id LIMIT $3 FOR UPDATE SKIP LOCKED)
		RETURNING id, type, created_at, data, attempts`, now.UTC(), now.Add(lease).UTC(), limit)
	if err != nil {
		return nil, l.fail(err, "read the outbox")
	}
	var out []sluice.Event
	for rows.Next() {
		var e sluice.Event
		var typ, data string
		if err := rows.Scan(&e.ID, &typ, &e.CreatedAt, &data, &e.Attempts); err != nil {
			rows.Close()
			return nil, l.fail(err, "read the outbox")
		}
		e.Type, e.Data, e.CreatedAt, e.NextAttempt = sluice.EventType(typ), []byte(data), e.CreatedAt.UTC(), now.UTC()
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, l.fail(err, "read the outbox")
	}
	// RETURNING keeps no order.
	sort.Slice(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.Before(out[j].CreatedAt)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// EventDelivered marks the event acknowledged at at; CodeNotFound if there
// is no such event.
func (l *Ledger) EventDelivered(ctx context.Context, id string, at time.Time) error {
	return l.updateEvent(ctx, id, `UPDATE outbox SET delivered_at = $1, last_error = '' WHERE id = $2`, at.UTC(), id)
}

// EventFailed records a failed attempt: how many so far, when to try next
// and why it failed.
func (l *Ledger) EventFailed(ctx context.Context, id string, attempts int, next time.Time, reason string) error {
	return l.updateEvent(ctx, id, `UPDATE outbox SET attempts = $1, next_attempt = $2, last_error = $3 WHERE id = $4`,
		attempts, next.UTC(), reason, id)
}

func (l *Ledger) updateEvent(ctx context.Context, id, query string, args ...any) error {
	tag, err := l.pool.Exec(ctx, query, args...)
	if err != nil {
		return l.fail(err, "update the outbox")
	}
	if tag.RowsAffected() == 0 {
		return sluice.Errorf(sluice.CodeNotFound, "no such event %q", id)
	}
	return nil
}
