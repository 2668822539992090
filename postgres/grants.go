package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice"
)

const grantColumns = `id, key, method, issuer, subject, email, filename, content_type, size, sha256,
	client_ip, user_agent, created_at, expires_at, state, reject_code, reject_reason, finished_at`

const insertGrantSQL = `INSERT INTO grants (` + grantColumns + `)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)`

// nullTime stores the zero time as NULL.
func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// CreateGrant records g as a new pending grant. It fails with CodeConflict
// if g.ID is in use, and with CodeInternal if g is not pending. An error
// means the grant was not recorded.
func (l *Ledger) CreateGrant(ctx context.Context, g *sluice.Grant) error {
	if g.State != "" && g.State != sluice.GrantPending {
		return sluice.Errorf(sluice.CodeInternal, "ledger: a new grant must be pending, not %q", g.State)
	}
	_, err := l.pool.Exec(ctx, insertGrantSQL,
		g.ID, g.Key, g.Method, g.Issuer, g.Subject, g.Email, g.Filename, g.ContentType, g.Size, g.SHA256,
		g.ClientIP, g.UserAgent, g.CreatedAt.UTC(), g.ExpiresAt.UTC(), string(sluice.GrantPending),
		string(g.RejectCode), g.RejectReason, nullTime(g.FinishedAt))
	return l.fail(err, "record the upload")
}

func scanGrant(row pgx.Row) (*sluice.Grant, error) {
	var (
		g                 sluice.Grant
		finished          *time.Time
		state, rejectCode string
	)
	err := row.Scan(&g.ID, &g.Key, &g.Method, &g.Issuer, &g.Subject, &g.Email, &g.Filename, &g.ContentType, &g.Size, &g.SHA256,
		&g.ClientIP, &g.UserAgent, &g.CreatedAt, &g.ExpiresAt, &state, &rejectCode, &g.RejectReason, &finished)
	if err != nil {
		return nil, err
	}
	g.State, g.RejectCode = sluice.GrantState(state), sluice.Code(rejectCode)
	g.CreatedAt, g.ExpiresAt = g.CreatedAt.UTC(), g.ExpiresAt.UTC()
	if finished != nil {
		g.FinishedAt = finished.UTC()
	}
	return &g, nil
}

// errNoGrant is the service's answer for someone else's grant too, so the
// two cannot be told apart.
func errNoGrant() error { return sluice.Errorf(sluice.CodeNotFound, "no such upload") }

// Grant returns the grant with the given ID, or CodeNotFound.
func (l *Ledger) Grant(ctx context.Context, id string) (*sluice.Grant, error) {
	g, err := scanGrant(l.pool.QueryRow(ctx, `SELECT `+grantColumns+` FROM grants WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, errNoGrant()
	}
	if err != nil {
		return nil, l.fail(err, "read the upload")
	}
	return g, nil
}

// FinishGrant moves the pending grant g.ID to g.State (complete, rejected
// or expired), setting FinishedAt, RejectCode and RejectReason from g; the
// grant's other fields are not rewritten. When the state is complete, f is
// recorded in the same transaction, and if it cannot be (its ID or key is
// taken) the grant stays pending. f is ignored for other states.
//
// Errors: CodeNotFound if there is no such grant; CodeConflict (changing
// nothing) if, and only if, it is no longer pending; CodeInternal if g's
// state is not a final one, a complete comes without a file, or the file's
// ID or key is already recorded.
func (l *Ledger) FinishGrant(ctx context.Context, g *sluice.Grant, f *sluice.File) error {
	if err := checkFinish(g, f); err != nil {
		return err
	}
	err := pgx.BeginFunc(ctx, l.pool, func(tx pgx.Tx) error {
		if err := finish(ctx, tx, g); err != nil {
			return err
		}
		if err := auditFinish(ctx, tx, g, f); err != nil {
			return err
		}
		return finishRecords(ctx, tx, g, f) // the file, and the outbox event
	})
	return l.fail(err, "finish the upload")
}

func checkFinish(g *sluice.Grant, f *sluice.File) error {
	switch g.State {
	case sluice.GrantRejected, sluice.GrantExpired:
		return nil
	case sluice.GrantComplete:
		if f == nil {
			return sluice.Errorf(sluice.CodeInternal, "ledger: a complete grant needs its file")
		}
		return nil
	}
	return sluice.Errorf(sluice.CodeInternal, "ledger: cannot finish a grant as %q", g.State)
}

// finish updates the grant row if, and only if, it is still pending. Under
// READ COMMITTED a second finisher blocks on the row lock the first one's
// UPDATE took, then re-checks state = 'pending' against the committed row:
// after a commit it matches nothing (a conflict), after a rollback it wins.
func finish(ctx context.Context, tx pgx.Tx, g *sluice.Grant) error {
	tag, err := tx.Exec(ctx, `UPDATE grants
		SET state = $1, reject_code = $2, reject_reason = $3, finished_at = $4
		WHERE id = $5 AND state = 'pending'`,
		string(g.State), string(g.RejectCode), g.RejectReason, nullTime(g.FinishedAt), g.ID)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	var exists bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM grants WHERE id = $1)`, g.ID).Scan(&exists); err != nil {
		return err
	}
	if !exists {
		return errNoGrant()
	}
	return sluice.Errorf(sluice.CodeConflict, "the upload is no longer pending")
}
