package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"

	"github.com/sluicehq/sluice"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// fail translates an error from the database into a sluice error, so that
// no driver error leaves the package. doing completes "could not ...", for
// the message; the cause is kept for the logs. Errors that already are
// sluice errors pass through, and nil stays nil.
func (l *Ledger) fail(err error, doing string) error {
	if err == nil {
		return nil
	}
	var se *sluice.Error
	if errors.As(err, &se) {
		return err
	}
	switch {
	case l.closed.Load():
		return sluice.Wrap(sluice.CodeUnavailable, err, "the ledger is closed; could not %s", doing)
	case transient(err):
		return sluice.Wrap(sluice.CodeUnavailable, err, "the ledger is unavailable; could not %s", doing)
	case duplicate(err):
		return sluice.Wrap(sluice.CodeConflict, err, "could not %s: it already exists", doing)
	}
	return sluice.Wrap(sluice.CodeInternal, err, "ledger error; could not %s", doing)
}

// transient reports whether err is worth retrying later: the database is
// locked, out of disk or unreachable, or the caller gave up waiting.
func transient(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, sql.ErrConnDone) || errors.Is(err, driver.ErrBadConn) {
		return true
	}
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return false
	}
	switch e.Code() & 0xff { // the primary code; extended codes are on
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_IOERR,
		sqlite3.SQLITE_FULL, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_INTERRUPT,
		sqlite3.SQLITE_PROTOCOL, sqlite3.SQLITE_READONLY:
		return true
	}
	return false
}

// duplicate reports whether err is a primary key or unique violation.
func duplicate(err error) bool {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return false
	}
	return e.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY || e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE
}
