// Package ledgertest is the conformance suite every sluice.Ledger must pass.
// Run it from an implementation's tests, against the real backend:
//
//	func TestLedger(t *testing.T) {
//		ledgertest.Run(t, func(t *testing.T) sluice.Ledger {
//			l, err := sqlite.Open(filepath.Join(t.TempDir(), "ledger.db"))
//			if err != nil {
//				t.Fatal(err)
//			}
//			return l
//		})
//	}
//
// The suite uses the ledger only through sluice.Ledger. Where the doc
// comments there leave a choice open, it holds every implementation to the
// same answer, so the service behaves alike on any of them:
//
//   - Times come back as the instant stored, within a millisecond, in UTC; a
//     zero FinishedAt comes back zero. Grant times are whole seconds (the
//     service truncates them), but File.CreatedAt is not, and files are
//     listed by it, so a ledger must keep at least milliseconds.
//   - CreateGrant with an ID already in use fails with CodeConflict and
//     leaves the first grant as it was.
//   - Grant, File, DeleteFile and FinishGrant answer CodeNotFound for an ID
//     they do not know.
//   - FinishGrant records f only when the new state is complete, fails (and
//     changes nothing) when asked to complete without a file, and, if
//     recording f fails, leaves the grant pending: it is one transaction.
//     It answers CodeConflict only when the grant is no longer pending,
//     never for a file it cannot record: the service reads a conflict as
//     "another request finished this grant".
//   - Files pages by an opaque cursor: each file is listed exactly once even
//     when several share a CreatedAt, every page but the last holds exactly
//     limit files, and next is empty on the last page (never a trailing
//     empty page). A cursor
//     stays valid after the file it points past is deleted. A cursor that is
//     not one the ledger made fails with CodeInvalidRequest, because it
//     comes from the end user.
//   - Once closed, Ping fails with CodeUnavailable.
//
// Each subtest opens its own ledger and closes it when done; open need not
// register a Close. The suite also makes every ID and owner unique to the
// subtest, so a backend whose open hands out one shared database (a Postgres
// schema reused across subtests, say) still passes.
package ledgertest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
)

// Run runs the conformance suite. open must return a working, empty ledger
// each time it is called; it may use t for cleanup and t.TempDir.
func Run(t *testing.T, open func(t *testing.T) sluice.Ledger) {
	tests := []struct {
		name string
		fn   func(*testing.T, *fixture)
	}{
		{"GrantRoundTrip", testGrantRoundTrip},
		{"GrantEmptyOptionalFields", testGrantEmptyOptionalFields},
		{"GrantDuplicateID", testGrantDuplicateID},
		{"GrantNotFound", testGrantNotFound},
		{"CreateGrantConcurrent", testCreateGrantConcurrent},
		{"FinishGrantComplete", testFinishGrantComplete},
		{"FinishGrantReject", testFinishGrantReject},
		{"FinishGrantExpire", testFinishGrantExpire},
		{"FinishGrantNotPending", testFinishGrantNotPending},
		{"FinishGrantNotFound", testFinishGrantNotFound},
		{"FinishGrantCompleteNeedsFile", testFinishGrantCompleteNeedsFile},
		{"FinishGrantAtomic", testFinishGrantAtomic},
		{"FinishGrantConcurrent", testFinishGrantConcurrent},
		{"FileNotFound", testFileNotFound},
		{"FilesEmpty", testFilesEmpty},
		{"FilesOwner", testFilesOwner},
		{"FilesNewestFirst", testFilesNewestFirst},
		{"FilesPagination", testFilesPagination},
		{"FilesCursorAfterDelete", testFilesCursorAfterDelete},
		{"FilesBadCursor", testFilesBadCursor},
		{"DeleteFile", testDeleteFile},
		{"Ping", testPing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn(t, newFixture(t, opened(t, open)))
		})
	}
	// Close gets a ledger of its own: closing is what it tests.
	t.Run("Close", func(t *testing.T) { testClose(t, open(t)) })
}

// base is the clock of the fixtures: a fixed instant, so failures repeat.
var base = time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC)

// fixture makes grants and files unique to one subtest.
type fixture struct {
	t      *testing.T
	l      sluice.Ledger
	ctx    context.Context
	prefix string
	seq    *atomic.Int64 // shared with sub-fixtures, so IDs stay unique
}

func newFixture(t *testing.T, l sluice.Ledger) *fixture {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, l: l, ctx: context.Background(), prefix: hex.EncodeToString(b), seq: new(atomic.Int64)}
}

// sub is the fixture for a subtest: its helpers must fail t, not the parent.
func (f *fixture) sub(t *testing.T) *fixture {
	c := *f
	c.t = t
	return &c
}

// id returns a new ID that sorts after the previous one, like the ULIDs the
// service makes.
func (f *fixture) id() string {
	return fmt.Sprintf("%s%06d", f.prefix, f.seq.Add(1))
}

// owner returns a user of this subtest; name tells users apart.
func (f *fixture) owner(name string) sluice.Owner {
	return sluice.Owner{Issuer: "https://issuer.example/" + f.prefix, Subject: name}
}

// grant returns a pending grant for o with every field set.
func (f *fixture) grant(o sluice.Owner) *sluice.Grant {
	id := f.id()
	return &sluice.Grant{
		ID:          id,
		Key:         "users/" + o.Subject + "/" + id + ".png",
		Method:      sluice.MethodPUT,
		Issuer:      o.Issuer,
		Subject:     o.Subject,
		Email:       o.Subject + "@example.com",
		Filename:    "Été à Zürich – 日本 'quoted' \"double\".png",
		ContentType: "image/png",
		Size:        1<<40 + 7, // beyond 32 bits
		SHA256:      "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
		ClientIP:    "2001:db8::1",
		UserAgent:   "Mozilla/5.0 (X11; Linux x86_64) sluice-ledgertest/1.0",
		CreatedAt:   base,
		ExpiresAt:   base.Add(5 * time.Minute),
		State:       sluice.GrantPending,
	}
}

// create records a new grant for o and returns it.
func (f *fixture) create(o sluice.Owner) *sluice.Grant {
	f.t.Helper()
	g := f.grant(o)
	if err := f.l.CreateGrant(f.ctx, g); err != nil {
		f.t.Fatalf("CreateGrant: %v", err)
	}
	return g
}

// fileFor returns the file the service would record when completing g; its
// CreatedAt has nanoseconds, as time.Now does.
func fileFor(g *sluice.Grant, createdAt time.Time) *sluice.File {
	return &sluice.File{
		ID: g.ID, Key: g.Key, Filename: g.Filename, ContentType: g.ContentType,
		Size: g.Size, SHA256: g.SHA256, ETag: `"d41d8cd98f00b204e9800998ecf8427e"`,
		Issuer: g.Issuer, Subject: g.Subject, CreatedAt: createdAt,
	}
}

// finished returns g moved to state at FinishedAt, as the service does it.
func finished(g *sluice.Grant, state sluice.GrantState) *sluice.Grant {
	next := *g
	next.State = state
	next.FinishedAt = g.CreatedAt.Add(90*time.Second + 123456789*time.Nanosecond)
	if state == sluice.GrantRejected {
		next.RejectCode = sluice.CodeChecksumMismatch
		next.RejectReason = "stored object's SHA-256 differs from the declared one"
	}
	return &next
}

// upload records a completed grant for o and its file, created at createdAt.
func (f *fixture) upload(o sluice.Owner, createdAt time.Time) *sluice.File {
	f.t.Helper()
	g := f.create(o)
	file := fileFor(g, createdAt)
	if err := f.l.FinishGrant(f.ctx, finished(g, sluice.GrantComplete), file); err != nil {
		f.t.Fatalf("FinishGrant: %v", err)
	}
	return file
}

// mustGrant reads back a grant that must exist.
func (f *fixture) mustGrant(id string) *sluice.Grant {
	f.t.Helper()
	g, err := f.l.Grant(f.ctx, id)
	if err != nil {
		f.t.Fatalf("Grant(%s): %v", id, err)
	}
	return g
}

// mustFile reads back a file that must exist.
func (f *fixture) mustFile(id string) *sluice.File {
	f.t.Helper()
	file, err := f.l.File(f.ctx, id)
	if err != nil {
		f.t.Fatalf("File(%s): %v", id, err)
	}
	return file
}

// checkCode fails unless err carries code.
func checkCode(t *testing.T, what string, err error, code sluice.Code) {
	t.Helper()
	if !sluice.IsCode(err, code) {
		t.Errorf("%s: error = %v (code %q), want code %q", what, err, sluice.ErrorCode(err), code)
	}
}

// checkTime holds a ledger to millisecond precision and UTC.
func checkTime(t *testing.T, field string, got, want time.Time) {
	t.Helper()
	if want.IsZero() {
		if !got.IsZero() {
			t.Errorf("%s = %v, want zero", field, got)
		}
		return
	}
	if d := got.Sub(want); d <= -time.Millisecond || d >= time.Millisecond {
		t.Errorf("%s = %v, want %v (within 1ms)", field, got, want)
	}
	if got.Location() != time.UTC {
		t.Errorf("%s is in %v, want UTC", field, got.Location())
	}
}

func checkGrant(t *testing.T, got, want *sluice.Grant) {
	t.Helper()
	checkTime(t, "Grant.CreatedAt", got.CreatedAt, want.CreatedAt)
	checkTime(t, "Grant.ExpiresAt", got.ExpiresAt, want.ExpiresAt)
	checkTime(t, "Grant.FinishedAt", got.FinishedAt, want.FinishedAt)
	g, w := *got, *want
	g.CreatedAt, g.ExpiresAt, g.FinishedAt = time.Time{}, time.Time{}, time.Time{}
	w.CreatedAt, w.ExpiresAt, w.FinishedAt = time.Time{}, time.Time{}, time.Time{}
	if g != w {
		t.Errorf("grant (times aside):\n got %+v\nwant %+v", g, w)
	}
}

func checkFile(t *testing.T, got, want *sluice.File) {
	t.Helper()
	checkTime(t, "File.CreatedAt", got.CreatedAt, want.CreatedAt)
	g, w := *got, *want
	g.CreatedAt, w.CreatedAt = time.Time{}, time.Time{}
	if g != w {
		t.Errorf("file (CreatedAt aside):\n got %+v\nwant %+v", g, w)
	}
}

// opened opens a ledger for one subtest and closes it when the subtest ends,
// failing it if Close fails.
func opened(t *testing.T, open func(t *testing.T) sluice.Ledger) sluice.Ledger {
	l := open(t)
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return l
}

// capability returns l as the optional interface T a suite tests, or
// fails the test naming what l lacks.
func capability[T any](t *testing.T, l sluice.Ledger) T {
	t.Helper()
	c, ok := l.(T)
	if !ok {
		var zero *T
		t.Fatalf("%T does not implement %T", l, zero)
	}
	return c
}
