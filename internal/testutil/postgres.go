package testutil

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// PostgresDSN returns a DSN for a schema of its own in the database named
// by SLUICE_TEST_POSTGRES (a postgres:// URL), dropped when t ends, so
// tests start from an empty database and never see each other's tables.
// Without the variable the test is skipped, unless SLUICE_REQUIRE_POSTGRES=1
// (CI), where a missing database is a failure.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	base := os.Getenv("SLUICE_TEST_POSTGRES")
	if base == "" {
		if os.Getenv("SLUICE_REQUIRE_POSTGRES") == "1" {
			t.Fatal("SLUICE_REQUIRE_POSTGRES=1 but SLUICE_TEST_POSTGRES is not set (see .ci/postgres)")
		}
		t.Skip("SLUICE_TEST_POSTGRES is not set: no Postgres to test against (see .ci/postgres)")
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatalf("SLUICE_TEST_POSTGRES must be a postgres:// URL")
	}
	b := make([]byte, 6)
	rand.Read(b)
	schema := "sluice_test_" + hex.EncodeToString(b)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to SLUICE_TEST_POSTGRES: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
