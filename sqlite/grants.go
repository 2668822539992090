package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/sluicehq/sluice"
)

const grantColumns = `id, key, method, issuer, subject, email, filename, content_type, size, sha256,
	client_ip, user_agent, created_at, expires_at, state, reject_code, reject_reason, finished_at`

const insertGrantSQL = `INSERT INTO grants (` + grantColumns + `)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// grantArgs are g's values for insertGrantSQL. The state is always pending:
// CreateGrant has checked that g says so, or says nothing.
func grantArgs(g *sluice.Grant) []any {
	return []any{
		g.ID, g.Key, g.Method, g.Issuer, g.Subject, g.Email, g.Filename, g.ContentType, g.Size, g.SHA256,
		g.ClientIP, g.UserAgent, micros(g.CreatedAt), micros(g.ExpiresAt), string(sluice.GrantPending),
		string(g.RejectCode), g.RejectReason, nullMicros(g.FinishedAt),
	}
}

func scanGrant(s scanner) (*sluice.Grant, error) {
	var (
		g                 sluice.Grant
		created, expires  int64
		finished          sql.NullInt64
		state, rejectCode string
	)
	err := s.Scan(&g.ID, &g.Key, &g.Method, &g.Issuer, &g.Subject, &g.Email, &g.Filename, &g.ContentType, &g.Size, &g.SHA256,
		&g.ClientIP, &g.UserAgent, &created, &expires, &state, &rejectCode, &g.RejectReason, &finished)
	if err != nil {
		return nil, err
	}
	g.State, g.RejectCode = sluice.GrantState(state), sluice.Code(rejectCode)
	g.CreatedAt, g.ExpiresAt = fromMicros(created), fromMicros(expires)
	if finished.Valid {
		g.FinishedAt = fromMicros(finished.Int64)
	}
	return &g, nil
}

// errNoGrant is the service's answer for someone else's grant too, so the
// two cannot be told apart.
func errNoGrant() error { return sluice.Errorf(sluice.CodeNotFound, "no such upload") }

// Grant returns the grant with the given ID, or CodeNotFound.
func (l *Ledger) Grant(ctx context.Context, id string) (*sluice.Grant, error) {
	row := l.r.QueryRowContext(ctx, `SELECT `+grantColumns+` FROM grants WHERE id = ?`, id)
	g, err := scanGrant(row)
	if errors.Is(err, sql.ErrNoRows) {
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
	err := l.inTx(ctx, func(tx *sql.Tx) error {
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

// insertFile records f. A file whose ID or key is taken is reported as
// CodeInternal, not CodeConflict: the service reads a conflict from
// FinishGrant as "someone else finished this grant" and would answer as if
// the file had been recorded.
func insertFile(ctx context.Context, tx *sql.Tx, f *sluice.File) error {
	_, err := tx.ExecContext(ctx, insertFileSQL, fileArgs(f)...)
	if duplicate(err) {
		return sluice.Wrap(sluice.CodeInternal, err, "ledger: a file with this ID or key is already recorded")
	}
	return err
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

// finish updates the grant row if, and only if, it is still pending. The
// write lock is held from BEGIN IMMEDIATE, so no one can finish it between
// this check and the commit.
func finish(ctx context.Context, tx *sql.Tx, g *sluice.Grant) error {
	res, err := tx.ExecContext(ctx, `UPDATE grants
		SET state = ?, reject_code = ?, reject_reason = ?, finished_at = ?
		WHERE id = ? AND state = 'pending'`,
		string(g.State), string(g.RejectCode), g.RejectReason, nullMicros(g.FinishedAt), g.ID)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n == 1 {
		return err
	}
	var exists bool
	if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM grants WHERE id = ?)`, g.ID).Scan(&exists); err != nil {
		return err
	}
	if !exists {
		return errNoGrant()
	}
	return sluice.Errorf(sluice.CodeConflict, "the upload is no longer pending")
}
