package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/cursor"
)

const fileColumns = `id, key, issuer, subject, filename, content_type, size, sha256, etag, created_at`

const insertFileSQL = `INSERT INTO files (` + fileColumns + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

func fileArgs(f *sluice.File) []any {
	return []any{f.ID, f.Key, f.Issuer, f.Subject, f.Filename, f.ContentType, f.Size, f.SHA256, f.ETag, micros(f.CreatedAt)}
}

func scanFile(s scanner) (*sluice.File, error) {
	var f sluice.File
	var created int64
	err := s.Scan(&f.ID, &f.Key, &f.Issuer, &f.Subject, &f.Filename, &f.ContentType, &f.Size, &f.SHA256, &f.ETag, &created)
	if err != nil {
		return nil, err
	}
	f.CreatedAt = fromMicros(created)
	return &f, nil
}

// errNoFile is the service's answer for someone else's file too, so the two
// cannot be told apart.
func errNoFile() error { return sluice.Errorf(sluice.CodeNotFound, "no such file") }

// File returns the file with the given ID, or CodeNotFound (also once it
// has been deleted).
func (l *Ledger) File(ctx context.Context, id string) (*sluice.File, error) {
	f, err := scanFile(l.r.QueryRowContext(ctx, `SELECT `+fileColumns+` FROM files WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
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
func (l *Ledger) Files(ctx context.Context, o sluice.Owner, cur string, limit int) ([]*sluice.File, string, error) {
	if limit <= 0 {
		limit = DefaultLimit
	}
	query := `SELECT ` + fileColumns + ` FROM files WHERE issuer = ? AND subject = ?`
	args := []any{o.Issuer, o.Subject}
	if cur != "" {
		at, id, err := cursor.Decode(cur)
		if err != nil {
			return nil, "", err
		}
		query += ` AND (created_at, id) < (?, ?)`
		args = append(args, micros(at), id)
	}
	// One row more than asked says whether there is a next page, so that
	// the last page never points at an empty one.
	query += ` ORDER BY created_at DESC, id DESC LIMIT ?`
	args = append(args, limit+1)

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
	rows, err := l.r.QueryContext(ctx, query, args...)
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
// none. The row is deleted: the grant that recorded it stays complete as a
// record of the upload.
//
// The file.deleted event is written in the same transaction.
func (l *Ledger) DeleteFile(ctx context.Context, id string) error {
	err := l.inTx(ctx, func(tx *sql.Tx) error {
		f, err := scanFile(tx.QueryRowContext(ctx, `DELETE FROM files WHERE id = ? RETURNING `+fileColumns, id))
		if errors.Is(err, sql.ErrNoRows) {
			return errNoFile()
		}
		if err != nil {
			return err
		}
		return insertEvent(ctx, tx, sluice.DeletedEvent(f, time.Now()))
	})
	return l.fail(err, "delete the file")
}
