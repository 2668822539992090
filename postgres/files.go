package postgres

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/cursor"
)

const fileColumns = `id, key, issuer, subject, filename, content_type, size, sha256, etag, created_at`

// insertFile records f. A file whose ID or key is taken is reported as
// CodeInternal, not CodeConflict: the service reads a conflict from
// FinishGrant as "someone else finished this grant" and would answer as if
// the file had been recorded.
func insertFile(ctx context.Context, tx pgx.Tx, f *sluice.File) error {
	_, err := tx.Exec(ctx, `INSERT INTO files (`+fileColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		f.ID, f.Key, f.Issuer, f.Subject, f.Filename, f.ContentType, f.Size, f.SHA256, f.ETag, f.CreatedAt.UTC())
	if duplicate(err) {
		return sluice.Wrap(sluice.CodeInternal, err, "ledger: a file with this ID or key is already recorded")
	}
	return err
}

func scanFile(row pgx.Row) (*sluice.File, error) {
	var f sluice.File
	err := row.Scan(&f.ID, &f.Key, &f.Issuer, &f.Subject, &f.Filename, &f.ContentType, &f.Size, &f.SHA256, &f.ETag, &f.CreatedAt)
	if err != nil {
		return nil, err
	}
	f.CreatedAt = f.CreatedAt.UTC()
	return &f, nil
}

// errNoFile is the service's answer for someone else's file too, so the two
// cannot be told apart.
func errNoFile() error { return sluice.Errorf(sluice.CodeNotFound, "no such file") }

// File returns the file with the given ID, or CodeNotFound (also once it
// has been deleted).
func (l *Ledger) File(ctx context.Context, id string) (*sluice.File, error) {
	f, err := scanFile(l.pool.QueryRow(ctx, `SELECT `+fileColumns+` FROM files WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, errNoFile()
	}
	if err != nil {
		return nil, l.fail(err, "read the file")
	}
	return f, nil
}

// DefaultLimit is the page size Files uses when asked for limit <= 0.
const DefaultLimit = 100

// Files lists o's files, newest first, limit at a time, after cursor (empty
// for the first page). Files with equal CreatedAt are ordered by ID, so
// every file is listed exactly once. next is empty on the last page. A
// cursor that Files did not make fails with CodeInvalidRequest.
//
// Cursors are internal/cursor's, as the SQLite ledger's, so a client paging
// through a deployment that moves from one ledger to the other is not
// thrown off.
func (l *Ledger) Files(ctx context.Context, o sluice.Owner, cur string, limit int) ([]*sluice.File, string, error) {
	if limit <= 0 {
		limit = DefaultLimit
	}
	query := `SELECT ` + fileColumns + ` FROM files WHERE issuer = $1 AND subject = $2`
	args := []any{o.Issuer, o.Subject}
	if cur != "" {
		at, id, err := cursor.Decode(cur)
		if err != nil {
			return nil, "", err
		}
		query += ` AND (created_at, id) < ($3, $4)`
		args = append(args, at, id)
	}
	// One row more than asked says whether there is a next page, so that
	// the last page never points at an empty one.
	query += ` ORDER BY created_at DESC, id DESC LIMIT ` + strconv.Itoa(limit+1)

	files, err := l.queryFiles(ctx, query, args...)
	if err != nil {
		return nil, "", l.fail(err, "list files")
	}
	if len(files) <= limit {
		return files, "", nil
	}
	files = files[:limit]
	last := files[limit-1]
	return files, cursor.Encode(last.CreatedAt, last.ID), nil
}

func (l *Ledger) queryFiles(ctx context.Context, query string, args ...any) ([]*sluice.File, error) {
	rows, err := l.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	files := []*sluice.File{} // not nil: an empty list encodes as [], not null
	for rows.Next() {
		f, err := scanFile(rows)
		if err != nil {
			return nil, err
		}
		files = append(files, f)
	}
	return files, rows.Err()
}

// DeleteFile forgets the file with the given ID; CodeNotFound if there is
// none. The grant that recorded it stays complete as a record of the
// upload.
//
// The file.deleted event is written in the same transaction.
func (l *Ledger) DeleteFile(ctx context.Context, id string) error {
	err := pgx.BeginFunc(ctx, l.pool, func(tx pgx.Tx) error {
		f, err := scanFile(tx.QueryRow(ctx, `DELETE FROM files WHERE id = $1 RETURNING `+fileColumns, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return errNoFile()
		}
		if err != nil {
			return err
		}
		return insertEvent(ctx, tx, sluice.DeletedEvent(f, time.Now()))
	})
	return l.fail(err, "delete the file")
}
