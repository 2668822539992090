// Package postgres is a sluice.Ledger on PostgreSQL (pgx v5), for
// deployments that run several stateless sluice instances over one shared
// database.
//
// Every instance talks to the database through a connection pool; there is
// no state in the process that another instance would need to see, so a
// grant issued by one instance is completed through any other. Concurrency
// control is the database's: a grant leaves pending through a conditional
// UPDATE that exactly one transaction wins (see FinishGrant).
//
// Times are timestamptz: microsecond UTC instants, the precision the SQLite
// ledger stores too, so both order files and page through them alike.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sluicehq/sluice"
)

var _ sluice.Ledger = (*Ledger)(nil)

// DefaultMaxConns is the pool size when the DSN does not set
// pool_max_conns. Mind the server's max_connections: each instance may
// open this many.
const DefaultMaxConns = 16

// Ledger is a sluice.Ledger on a PostgreSQL database. It is safe for
// concurrent use, and any number of Ledgers (in any number of processes)
// may share one database.
type Ledger struct {
	pool   *pgxpool.Pool
	closed atomic.Bool
}

// Open connects to the database named by dsn, applies any migrations it
// lacks (see Migrate) and returns the ledger. dsn is a libpq connection
// string or postgres:// URL; pgxpool's pool_* parameters tune the pool
// (pool_max_conns, default DefaultMaxConns). Errors never repeat the
// password.
func Open(ctx context.Context, dsn string) (*Ledger, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx redacts the password in its parse errors.
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if !strings.Contains(dsn, "pool_max_conns") {
		// pgxpool's default, one connection per core (at least 4), keeps a
		// busy instance's requests queueing for a connection while each
		// commit waits on the WAL flush; concurrent commits share one
		// flush, so more connections are more grants per second (measured:
		// docs/BENCHMARKS.md).
		cfg.MaxConns = max(cfg.MaxConns, DefaultMaxConns)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if _, err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: %s: %w", where(cfg.ConnConfig), err)
	}
	return &Ledger{pool: pool}, nil
}

// where names the database for error messages: host, port and name, never
// the password.
func where(c *pgx.ConnConfig) string {
	return fmt.Sprintf("database %q on %s", c.Database, net.JoinHostPort(c.Host, fmt.Sprint(c.Port)))
}

// Ping reports whether the database answers.
func (l *Ledger) Ping(ctx context.Context) error {
	if l.closed.Load() {
		return sluice.Errorf(sluice.CodeUnavailable, "the ledger is closed")
	}
	return l.fail(l.pool.Ping(ctx), "reach the ledger")
}

// Close waits for the connections in use to be released, then closes the
// pool. Calls made after Close fail with CodeUnavailable. Closing twice is
// a no-op.
func (l *Ledger) Close() error {
	if l.closed.CompareAndSwap(false, true) {
		l.pool.Close()
	}
	return nil
}

// fail translates an error from the database into a sluice error, so that
// no driver error leaves the package. doing completes "could not ...", for
// the message; the cause is kept for the logs. sluice errors pass through,
// and nil stays nil.
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
// unreachable, restarting, out of resources, or it aborted a transaction
// that would succeed on a second try; or the caller gave up waiting.
func transient(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err) {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code[:2] {
		case "08", // connection exception
			"53", // insufficient resources (disk full, too many connections)
			"57", // operator intervention (shutdown, cancel, recovery)
			"40": // transaction rollback (serialization failure, deadlock)
			return true
		}
		return false
	}
	// Anything else that is not an answer from the server is the network:
	// a refused or dropped connection, a failed TLS handshake, DNS.
	var ne net.Error
	var ce *pgconn.ConnectError
	return errors.As(err, &ne) || errors.As(err, &ce) || pgconn.SafeToRetry(err)
}

// duplicate reports whether err is a primary key or unique violation.
func duplicate(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}
