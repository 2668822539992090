// Package sqlite is a sluice.Ledger kept in one SQLite file, for deployments
// that run a single sluice process.
//
// SQLite lets one connection write at a time. The Ledger therefore keeps
// exactly one writer connection, so its own writers queue in Go instead of
// spinning on SQLITE_BUSY, and a separate pool of readers, which WAL mode
// lets read while the writer writes. CreateGrant, the per-request hot path,
// is group-committed: a writer goroutine takes every call waiting at that
// moment and inserts them in one transaction (see batch.go).
//
// Durability is synchronous=NORMAL in WAL mode: a power cut can lose the
// last transactions before a checkpoint, never corrupt the file. Losing a
// just-issued grant costs its user a retry of the upload.
//
// Times are stored as INTEGER Unix microseconds, UTC.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

var _ sluice.Ledger = (*Ledger)(nil)

// busyTimeout is how long a statement waits for a lock held by another
// process (a backup, the sqlite3 shell) before failing with CodeUnavailable.
const busyTimeout = 5 * time.Second

// Ledger is a sluice.Ledger on a SQLite file. It is safe for concurrent use.
type Ledger struct {
	w *sql.DB // the one writer connection
	r *sql.DB // readers

	insertGrant *sql.Stmt   // on w
	quota       *quotaStmts // on w: admission (governance.go)

	inserts    chan *insertReq // to the writer goroutine; unbuffered
	closing    chan struct{}   // closed by Close
	writerDone chan struct{}   // closed when the writer goroutine has left
	closed     atomic.Bool
}

// Open opens the ledger in the SQLite file at path, creating the file (mode
// 0600; its -wal and -shm files follow that mode) if it does not exist and
// applying any migrations it lacks. The directory must exist. path must name
// a file: an in-memory database cannot be shared by the writer and readers.
func Open(path string) (*Ledger, error) {
	if path == "" || strings.HasPrefix(path, ":memory:") || strings.HasPrefix(path, "file:") {
		return nil, fmt.Errorf("sqlite: open %q: want the path of a database file", path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %q: %w", path, err)
	}
	l, err := open(abs)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", abs, err)
	}
	return l, nil
}

func open(path string) (*Ledger, error) {
	if err := createPrivate(path); err != nil {
		return nil, err
	}
	w, err := openWriter(path)
	if err != nil {
		return nil, err
	}
	r, err := openReaders(path)
	if err != nil {
		w.Close()
		return nil, err
	}
	l := &Ledger{
		w: w, r: r,
		inserts:    make(chan *insertReq),
		closing:    make(chan struct{}),
		writerDone: make(chan struct{}),
	}
	if l.insertGrant, err = w.Prepare(insertGrantSQL); err != nil {
		w.Close()
		r.Close()
		return nil, err
	}
	if l.quota, err = prepareQuota(w); err != nil {
		l.insertGrant.Close()
		w.Close()
		r.Close()
		return nil, err
	}
	go l.writeLoop()
	return l, nil
}

// createPrivate creates the database file, readable by its owner only,
// before SQLite does: SQLite would create it 0644, and gives the -wal and
// -shm files the main file's mode. An existing file keeps its mode.
func createPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	return f.Close()
}

// dsn is the modernc DSN for path with the given connection pragmas. The
// path goes in a file: URI so that any character in it survives.
func dsn(path string, pragmas []string, extra url.Values) string {
	q := url.Values{"_pragma": pragmas}
	for k, v := range extra {
		q[k] = v
	}
	u := url.URL{Scheme: "file", Path: path, RawQuery: q.Encode()}
	return u.String()
}

var busyPragma = fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds())

// openWriter opens the writer connection, switches the file to WAL and
// migrates it. BEGIN IMMEDIATE takes the write lock at the start of a
// transaction, so a transaction never fails halfway on a lock it cannot
// upgrade.
func openWriter(path string) (*sql.DB, error) {
	db, err := sql.Open("sqlite", dsn(path,
		[]string{busyPragma, "journal_mode(WAL)", "synchronous(NORMAL)", "foreign_keys(ON)"},
		url.Values{"_txlock": {"immediate"}}))
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	if err := setUp(db); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// setUp checks that WAL took (it cannot on some network filesystems, and
// the one-writer, many-readers design depends on it) and migrates.
func setUp(db *sql.DB) error {
	ctx := context.Background()
	var mode string
	if err := db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return err
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("journal_mode is %q, want wal", mode)
	}
	return migrate(ctx, db)
}

// openReaders opens the read pool. query_only makes a write through it an
// error rather than a second writer contending for the lock.
func openReaders(path string) (*sql.DB, error) {
	db, err := sql.Open("sqlite", dsn(path, []string{busyPragma, "query_only(1)"}, nil))
	if err != nil {
		return nil, err
	}
	n := max(4, runtime.GOMAXPROCS(0))
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)
	if err := db.Ping(); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// Ping reports whether the database file can be read. It does not wait for
// the writer, so a long write does not make a health check fail.
func (l *Ledger) Ping(ctx context.Context) error {
	if l.closed.Load() {
		return sluice.Errorf(sluice.CodeUnavailable, "the ledger is closed")
	}
	var v int
	err := l.r.QueryRowContext(ctx, `SELECT 1 FROM schema_migrations LIMIT 1`).Scan(&v)
	return l.fail(err, "reach the ledger")
}

// Close stops the writer, after it has answered every CreateGrant it took,
// and closes the database. Calls made after Close fail with
// CodeUnavailable. Closing twice is a no-op.
func (l *Ledger) Close() error {
	if !l.closed.CompareAndSwap(false, true) {
		return nil
	}
	close(l.closing)
	<-l.writerDone
	return errors.Join(l.insertGrant.Close(), l.quota.close(), l.w.Close(), l.r.Close())
}

// inTx runs fn in a write transaction on the writer connection, committing
// if fn returns nil.
func (l *Ledger) inTx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := l.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// micros is how a time is stored.
func micros(t time.Time) int64 { return t.UnixMicro() }

// nullMicros stores the zero time as NULL.
func nullMicros(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

// scanner is a *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }
