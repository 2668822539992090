package sqlite

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/ledgertest"
)

func TestLedger(t *testing.T) {
	ledgertest.Run(t, func(t *testing.T) sluice.Ledger {
		return openTemp(t)
	})
}

// openTemp opens a ledger in a fresh file; the caller closes it.
func openTemp(t *testing.T) *Ledger {
	t.Helper()
	l, err := Open(filepath.Join(t.TempDir(), "ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	return l
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
	Version   int
	Name      string
	AppliedAt int64
}

func appliedMigrations(t *testing.T, l *Ledger) []migrationRow {
	t.Helper()
	rows, err := l.r.Query(`SELECT version, name, applied_at FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ms []migrationRow
	for rows.Next() {
		var m migrationRow
		if err := rows.Scan(&m.Version, &m.Name, &m.AppliedAt); err != nil {
			t.Fatal(err)
		}
		ms = append(ms, m)
	}
	return ms
}

func TestReopenKeepsDataAndSchema(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ledger.db")
	l, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	g := testGrant("g1")
	if err := l.CreateGrant(ctx, g); err != nil {
		t.Fatal(err)
	}
	before := appliedMigrations(t, l)
	if want, _ := migrationList(); len(before) != len(want) {
		t.Fatalf("%d migrations recorded, want %d", len(before), len(want))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	l, err = Open(path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer l.Close()
	if _, err := l.Grant(ctx, g.ID); err != nil {
		t.Errorf("grant lost on reopen: %v", err)
	}
	if after := appliedMigrations(t, l); !reflect.DeepEqual(after, before) {
		t.Errorf("migrations after reopen = %+v, want unchanged %+v", after, before)
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	l, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.w.Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, 'future.sql', 0)`); err != nil {
		t.Fatal(err)
	}
	l.Close()
	if l, err := Open(path); err == nil || !strings.Contains(err.Error(), "newer") {
		if l != nil {
			l.Close()
		}
		t.Fatalf("Open of a newer schema: %v, want refusal", err)
	}
}

// The ledger holds user emails and IPs: no other local user may read it,
// whatever the umask.
func TestFileModes(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	path := filepath.Join(t.TempDir(), "ledger.db")
	l, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	// A write and a read make sure the -wal and -shm files exist.
	if err := l.CreateGrant(context.Background(), testGrant("g1")); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Grant(context.Background(), "g1"); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(name)
		if err != nil {
			t.Error(err)
			continue
		}
		if mode := fi.Mode().Perm(); mode != 0o600 {
			t.Errorf("%s has mode %#o, want 0600", filepath.Base(name), mode)
		}
	}
}

// A batch in which one row fails must still record the others.
func TestBatchIsolatesBadRows(t *testing.T) {
	ctx := context.Background()
	l := openTemp(t)
	defer l.Close()
	if err := l.CreateGrant(ctx, testGrant("taken")); err != nil {
		t.Fatal(err)
	}
	var batch []*insertReq
	for _, id := range []string{"a", "taken", "b", "b", "c"} {
		batch = append(batch, &insertReq{g: testGrant(id), done: make(chan error, 1)})
	}
	l.commit(batch)
	wantCode := []sluice.Code{"", sluice.CodeConflict, "", sluice.CodeConflict, ""}
	for i, r := range batch {
		if got := sluice.ErrorCode(<-r.done); got != wantCode[i] {
			t.Errorf("row %d (%s): code %q, want %q", i, r.g.ID, got, wantCode[i])
		}
	}
	for _, id := range []string{"a", "b", "c"} {
		if _, err := l.Grant(ctx, id); err != nil {
			t.Errorf("Grant(%s): %v", id, err)
		}
	}
}

// An error from CreateGrant means the grant was not recorded, so the
// service never hands out a URL the ledger does not know, nor the reverse.
func TestCreateGrantCanceled(t *testing.T) {
	l := openTemp(t)
	defer l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := l.CreateGrant(ctx, testGrant("g1"))
	if !sluice.IsCode(err, sluice.CodeUnavailable) {
		t.Fatalf("CreateGrant(canceled) = %v, want CodeUnavailable", err)
	}
	if _, err := l.Grant(context.Background(), "g1"); !sluice.IsCode(err, sluice.CodeNotFound) {
		t.Errorf("Grant after a failed CreateGrant: %v, want CodeNotFound", err)
	}
}

func TestCreateGrantAfterClose(t *testing.T) {
	l := openTemp(t)
	l.Close()
	if err := l.CreateGrant(context.Background(), testGrant("g1")); !sluice.IsCode(err, sluice.CodeUnavailable) {
		t.Fatalf("CreateGrant after Close = %v, want CodeUnavailable", err)
	}
}

// The queries that grow with the data must use their indexes, not scan or
// sort: a user's file list, and the reconciler's pending grants.
func TestQueryPlans(t *testing.T) {
	l := openTemp(t)
	defer l.Close()
	for query, want := range map[string]string{
		`SELECT ` + fileColumns + ` FROM files WHERE issuer = 'i' AND subject = 's' AND (created_at, id) < (1, 'x') ORDER BY created_at DESC, id DESC LIMIT 10`: "files_owner_created",
		`SELECT id FROM grants WHERE state = 'pending' AND expires_at < 1 ORDER BY expires_at LIMIT 100`:                                                        "grants_pending_expiry",
	} {
		plan := explain(t, l, query)
		if !strings.Contains(plan, want) || strings.Contains(plan, "TEMP B-TREE") {
			t.Errorf("plan for %s:\n%s\nwant index %s and no sort", query, plan, want)
		}
	}
}

func explain(t *testing.T, l *Ledger, query string) string {
	t.Helper()
	rows, err := l.r.Query("EXPLAIN QUERY PLAN " + query)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintln(&b, detail)
	}
	return b.String()
}
