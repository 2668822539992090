package sqlite

import (
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
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
func (l *Ledger) Files(ctx context.Context, o sluice.Owner, cursor string, limit int) ([]*sluice.File, string, error) {
	if limit <= 0 {
		limit = DefaultLimit
	}
	query := `SELECT ` + fileColumns + ` FROM files WHERE issuer = ? AND subject = ?`
	args := []any{o.Issuer, o.Subject}
	if cursor != "" {
		at, id, err := decodeCursor(cursor)
		if err != nil {
			return nil, "", err
		}
		query += ` AND (created_at, id) < (?, ?)`
		args = append(args, at, id)
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
	return files, encodeCursor(files[limit-1]), nil
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

// encodeCursor makes the cursor that resumes after f: its sort key, as
// stored. It is opaque to clients but readable by an operator who decodes
// it: "<created_at µs>:<id>".
func encodeCursor(f *sluice.File) string {
	key := strconv.FormatInt(micros(f.CreatedAt), 10) + ":" + f.ID
	return base64.RawURLEncoding.EncodeToString([]byte(key))
}

func decodeCursor(cursor string) (createdAt int64, id string, err error) {
	bad := sluice.Errorf(sluice.CodeInvalidRequest, "invalid cursor")
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return 0, "", bad
	}
	at, id, ok := strings.Cut(string(b), ":")
	if !ok || id == "" {
		return 0, "", bad
	}
	createdAt, err = strconv.ParseInt(at, 10, 64)
	if err != nil {
		return 0, "", bad
	}
	return createdAt, id, nil
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
