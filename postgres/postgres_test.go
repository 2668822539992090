package postgres_test

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/testutil"
	"github.com/sluicehq/sluice/ledgertest"
	"github.com/sluicehq/sluice/postgres"
)

func open(t testing.TB, dsn string) *postgres.Ledger {
	t.Helper()
	l, err := postgres.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestLedger runs the conformance suite with every subtest's ledger on one
// shared schema, as several sluice instances share one database.
func TestLedger(t *testing.T) {
	dsn := testutil.PostgresDSN(t)
	ledgertest.Run(t, func(t *testing.T) sluice.Ledger { return open(t, dsn) })
}

func testGrant(id string) *sluice.Grant {
	now := time.Now().UTC().Truncate(time.Second)
	return &sluice.Grant{
		ID: id, Key: "users/alice/" + id + ".png", Method: sluice.MethodPUT,
		Issuer: "https://issuer.example", Subject: "alice", ContentType: "image/png", Size: 42,
		CreatedAt: now, ExpiresAt: now.Add(5 * time.Minute), State: sluice.GrantPending,
	}
}

type migrationRow struct {
	Version int
	Name    string
}

func applied(t *testing.T, dsn string) []migrationRow {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT version, name FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := pgx.CollectRows(rows, pgx.RowToStructByPos[migrationRow])
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

func exec(t *testing.T, dsn, sql string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatal(err)
	}
}

// The Postgres schema must move in step with SQLite's: same versions,
// same names, so "version N" means one thing on both ledgers.
func TestMigrationsMirrorSQLite(t *testing.T) {
	list := func(dir string) []string {
		ents, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range ents {
			if strings.HasSuffix(e.Name(), ".sql") {
				names = append(names, e.Name())
			}
		}
		return names
	}
	pg, lite := list("migrations"), list(filepath.Join("..", "sqlite", "migrations"))
	if !reflect.DeepEqual(pg, lite) {
		t.Errorf("postgres migrations %v, sqlite migrations %v: add the missing ones to postgres/migrations", pg, lite)
	}
	if postgres.SchemaVersion() != len(pg) {
		t.Errorf("SchemaVersion() = %d, want %d", postgres.SchemaVersion(), len(pg))
	}
}

func TestMigrateFreshAndReopen(t *testing.T) {
	dsn := testutil.PostgresDSN(t)
	from, to, err := postgres.Migrate(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	if from != 0 || to != postgres.SchemaVersion() {
		t.Errorf("Migrate on an empty database = %d→%d, want 0→%d", from, to, postgres.SchemaVersion())
	}
	before := applied(t, dsn)
	if len(before) != postgres.SchemaVersion() {
		t.Fatalf("%d migrations recorded, want %d", len(before), postgres.SchemaVersion())
	}
	l := open(t, dsn)
	g := testGrant("g1")
	if err := l.CreateGrant(context.Background(), g); err != nil {
		t.Fatal(err)
	}
	l.Close()

	l = open(t, dsn)
	defer l.Close()
	if _, err := l.Grant(context.Background(), g.ID); err != nil {
		t.Errorf("grant lost on reopen: %v", err)
	}
	if after := applied(t, dsn); !reflect.DeepEqual(after, before) {
		t.Errorf("migrations after reopen = %+v, want unchanged %+v", after, before)
	}
	if from, to, err := postgres.Migrate(context.Background(), dsn); err != nil || from != to {
		t.Errorf("Migrate on an up-to-date database = %d→%d, %v; want no change", from, to, err)
	}
}

// Instances of a deployment start together: each applies migrations on
// start, and all must succeed with each migration applied once.
func TestConcurrentStartMigratesOnce(t *testing.T) {
	dsn := testutil.PostgresDSN(t)
	const n = 6
	var wg sync.WaitGroup
	errs := make([]error, n)
	ls := make([]*postgres.Ledger, n)
	for i := range n {
		wg.Go(func() { ls[i], errs[i] = postgres.Open(context.Background(), dsn) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Open %d: %v", i, err)
			continue
		}
		ls[i].Close()
	}
	if got := applied(t, dsn); len(got) != postgres.SchemaVersion() {
		t.Errorf("schema_migrations = %+v, want each of %d versions once", got, postgres.SchemaVersion())
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	dsn := testutil.PostgresDSN(t)
	open(t, dsn).Close()
	exec(t, dsn, `INSERT INTO schema_migrations (version, name) VALUES (9999, 'future.sql')`)
	if l, err := postgres.Open(context.Background(), dsn); err == nil || !strings.Contains(err.Error(), "newer") {
		if l != nil {
			l.Close()
		}
		t.Fatalf("Open of a newer schema: %v, want refusal", err)
	}
}

// A DSN carries the database password: no error may repeat it.
func TestErrorsHideThePassword(t *testing.T) {
	const pw = "s3cr3t-Pa55word"
	for _, dsn := range []string{
		"postgres://sluice:" + pw + "@127.0.0.1:1/nope?sslmode=disable&connect_timeout=2",
		"postgres://sluice:" + pw + "@127.0.0.1:1/nope?sslmode=bogus",
	} {
		_, err := postgres.Open(context.Background(), dsn)
		if err == nil {
			t.Fatalf("Open(%s) succeeded", strings.ReplaceAll(dsn, pw, "***"))
		}
		if strings.Contains(err.Error(), pw) {
			t.Errorf("error repeats the password: %v", err)
		}
	}
}

// A database that goes away is "unavailable" (503, retry later), not a bug.
func TestUnreachableIsUnavailable(t *testing.T) {
	dsn := testutil.PostgresDSN(t)
	l := open(t, dsn)
	defer l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := l.CreateGrant(ctx, testGrant("g1")); !sluice.IsCode(err, sluice.CodeUnavailable) {
		t.Errorf("CreateGrant(canceled) = %v, want CodeUnavailable", err)
	}
	if _, err := l.Grant(context.Background(), "g1"); !sluice.IsCode(err, sluice.CodeNotFound) {
		t.Errorf("Grant after a failed CreateGrant: %v, want CodeNotFound", err)
	}
}

// The queries that grow with the data must be able to use their indexes:
// a user's file list, and the reconciler's pending grants.
func TestQueryPlans(t *testing.T) {
	dsn := testutil.PostgresDSN(t)
	open(t, dsn).Close()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	// The tables are empty: tell the planner not to prefer a scan.
	if _, err := conn.Exec(ctx, "SET enable_seqscan = off"); err != nil {
		t.Fatal(err)
	}
	for query, want := range map[string]string{
		`SELECT id FROM files WHERE issuer = 'i' AND subject = 's' AND (created_at, id) < (now(), 'x') ORDER BY created_at DESC, id DESC LIMIT 10`: "files_owner_created",
		`SELECT id FROM grants WHERE state = 'pending' AND expires_at < now() ORDER BY expires_at LIMIT 100`:                                       "grants_pending_expiry",
	} {
		rows, err := conn.Query(ctx, "EXPLAIN "+query)
		if err != nil {
			t.Fatal(err)
		}
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		plan := strings.Join(lines, "\n")
		if !strings.Contains(plan, want) || strings.Contains(plan, "Sort") {
			t.Errorf("plan for %s:\n%s\nwant index %s and no sort", query, plan, want)
		}
	}
}

func TestCredentialLedger(t *testing.T) {
	dsn := testutil.PostgresDSN(t)
	ledgertest.RunCredentials(t, func(t *testing.T) sluice.Ledger { return open(t, dsn) })
}

func TestSlotLedger(t *testing.T) {
	dsn := testutil.PostgresDSN(t)
	ledgertest.RunSlots(t, func(t *testing.T) sluice.Ledger { return open(t, dsn) })
}
