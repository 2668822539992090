package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/internal/migrations"
)

// migrationFiles are the schema's history, one file per version named
// NNNN_what.sql. Never edit one that has shipped: add the next. The
// Postgres ledger keeps the same numbering.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

type migration = migrations.Migration

// migrationList returns the embedded migrations in order.
func migrationList() ([]migration, error) {
	return migrations.Load(migrationFiles, "migrations")
}

const createMigrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    INTEGER PRIMARY KEY,
	name       TEXT    NOT NULL,
	applied_at INTEGER NOT NULL
)`

// migrate brings the database at db up to the latest schema. It refuses a
// database from a newer sluice, whose schema this code does not know.
func migrate(ctx context.Context, db *sql.DB) error {
	ms, err := migrationList()
	if err != nil {
		return err
	}
	if _, err := db.ExecContext(ctx, createMigrationsTable); err != nil {
		return err
	}
	var current int
	if err := db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return err
	}
	if current > len(ms) {
		return fmt.Errorf("database schema is version %d, newer than this build knows (%d)", current, len(ms))
	}
	for _, m := range ms[current:] {
		if err := apply(ctx, db, m); err != nil {
			return fmt.Errorf("migration %s: %w", m.Name, err)
		}
	}
	return nil
}

// apply runs one migration and records it in the same transaction. The
// version is checked again inside the transaction because another process
// may have opened the file and migrated it since migrate looked.
func apply(ctx context.Context, db *sql.DB, m migration) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var done bool
	err = tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = ?)`, m.Version).Scan(&done)
	if err != nil || done {
		return err
	}
	if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
		m.Version, m.Name, time.Now().UnixMicro())
	if err != nil {
		return err
	}
	return tx.Commit()
}
