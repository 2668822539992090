package postgres

import (
	"context"
	"embed"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sluicehq/sluice/internal/migrations"
)

// migrationFiles are the schema's history, one file per version named
// NNNN_what.sql, numbered as the SQLite ledger's (sqlite/migrations) so a
// version means the same schema on both. Never edit one that has shipped:
// add the next, here and in sqlite/migrations.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

type migration = migrations.Migration

// migrationList returns the embedded migrations in order.
func migrationList() ([]migration, error) {
	return migrations.Load(migrationFiles, "migrations")
}

// SchemaVersion is the schema version this build migrates databases to.
func SchemaVersion() int {
	ms, _ := migrationList()
	return len(ms)
}

// migrateLock is the advisory lock key that serializes migrations: several
// instances starting at once must not apply the same migration twice.
// ("sluice" in ASCII.)
const migrateLock int64 = 0x736c75696365

const createMigrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    INTEGER     PRIMARY KEY,
	name       TEXT        NOT NULL,
	applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
)`

// Migrate brings the database at dsn up to the latest schema and returns
// the versions it found and left. It is what Open does first; `sluice
// migrate` calls it alone, to migrate before rolling out new instances.
func Migrate(ctx context.Context, dsn string) (from, to int, err error) {
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return 0, 0, fmt.Errorf("postgres: %w", err)
	}
	defer pool.Close()
	from, err = migrate(ctx, pool)
	if err != nil {
		return from, from, fmt.Errorf("postgres: %s: %w", where(pool.Config().ConnConfig), err)
	}
	return from, SchemaVersion(), nil
}

// migrate applies the migrations the database lacks, each in its own
// transaction (Postgres DDL is transactional, so a failed migration leaves
// nothing half done), under a session advisory lock held for the whole
// run. It refuses a database from a newer sluice, whose schema this code
// does not know, and returns the version it found.
func migrate(ctx context.Context, pool *pgxpool.Pool) (int, error) {
	ms, err := migrationList()
	if err != nil {
		return 0, err
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrateLock); err != nil {
		return 0, err
	}
	defer conn.Exec(context.Background(), `SELECT pg_advisory_unlock($1)`, migrateLock)

	if _, err := conn.Exec(ctx, createMigrationsTable); err != nil {
		return 0, err
	}
	var current int
	if err := conn.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return 0, err
	}
	if current > len(ms) {
		return current, fmt.Errorf("database schema is version %d, newer than this build knows (%d)", current, len(ms))
	}
	for _, m := range ms[current:] {
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.Version, m.Name)
			return err
		})
		if err != nil {
			return current, fmt.Errorf("migration %s: %w", m.Name, err)
		}
	}
	return current, nil
}

// Version returns the schema version of the database at dsn without
// changing it (0 for a database sluice has not migrated yet), for `sluice
// doctor`.
func Version(ctx context.Context, dsn string) (int, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return 0, fmt.Errorf("postgres: %w", err)
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT to_regclass('schema_migrations') IS NOT NULL`).Scan(&exists); err != nil || !exists {
		return 0, err
	}
	var v int
	err = conn.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v)
	return v, err
}
