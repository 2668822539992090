package ledgertest

import (
	"testing"
	"time"

	"github.com/sluicehq/sluice"
)

func testFileNotFound(t *testing.T, f *fixture) {
	_, err := f.l.File(f.ctx, f.id())
	checkCode(t, "File(unknown)", err, sluice.CodeNotFound)
}

func testFilesEmpty(t *testing.T, f *fixture) {
	files, next, err := f.l.Files(f.ctx, f.owner("nobody"), "", 10)
	if err != nil {
		t.Fatalf("Files: %v", err)
	}
	if len(files) != 0 || next != "" {
		t.Errorf("Files of a user with none = %d files, next %q; want none, \"\"", len(files), next)
	}
}

// A user is issuer and subject together: the same subject under another
// issuer, or another subject under the same issuer, is someone else.
func testFilesOwner(t *testing.T, f *fixture) {
	alice := f.owner("alice")
	sameSubOtherIss := sluice.Owner{Issuer: alice.Issuer + "/other", Subject: alice.Subject}
	otherSubSameIss := f.owner("bob")

	want := []*sluice.File{f.upload(alice, base.Add(time.Second)), f.upload(alice, base)}
	f.upload(sameSubOtherIss, base.Add(2*time.Second))
	f.upload(otherSubSameIss, base.Add(3*time.Second))

	got := walk(t, f, alice, 10)
	if len(got) != len(want) {
		t.Fatalf("Files(alice) = %d files, want %d", len(got), len(want))
	}
	for i := range want {
		checkFile(t, got[i], want[i])
	}
	if n := len(walk(t, f, sameSubOtherIss, 10)); n != 1 {
		t.Errorf("Files(same subject, other issuer) = %d files, want 1", n)
	}
}

func testFilesNewestFirst(t *testing.T, f *fixture) {
	o := f.owner("alice")
	// Recorded out of order, and closer together than a second.
	offsets := []time.Duration{3 * time.Second, time.Second, 5 * time.Second, 1500 * time.Millisecond, 0, 4*time.Second + 2*time.Millisecond, 4 * time.Second}
	for _, d := range offsets {
		f.upload(o, base.Add(d+123456*time.Nanosecond))
	}
	got := walk(t, f, o, len(offsets))
	if len(got) != len(offsets) {
		t.Fatalf("Files = %d files, want %d", len(got), len(offsets))
	}
	for i := 1; i < len(got); i++ {
		if !got[i].CreatedAt.Before(got[i-1].CreatedAt) {
			t.Errorf("file %d (%v) is not older than file %d (%v)", i, got[i].CreatedAt, i-1, got[i-1].CreatedAt)
		}
	}
}

// Pages must cover every file exactly once at every page size, including
// where a page boundary falls inside a run of files with one CreatedAt.
func testFilesPagination(t *testing.T, f *fixture) {
	o := f.owner("alice")
	var offsets []time.Duration
	for i := range 5 {
		offsets = append(offsets, time.Duration(i)*time.Second)
	}
	for range 6 {
		offsets = append(offsets, 10*time.Second) // a burst within one instant
	}
	offsets = append(offsets, 20*time.Second, 10*time.Second-time.Millisecond)
	want := make(map[string]bool)
	for _, d := range offsets {
		want[f.upload(o, base.Add(d)).ID] = true
	}
	f.upload(f.owner("bob"), base.Add(10*time.Second))

	for _, limit := range []int{1, 2, 3, 4, 5, 6, 7, 13, 14, 100} {
		got := walk(t, f, o, limit)
		seen := make(map[string]bool)
		for i, file := range got {
			if seen[file.ID] {
				t.Errorf("limit %d: file %s listed twice", limit, file.ID)
			}
			seen[file.ID] = true
			if !want[file.ID] {
				t.Errorf("limit %d: file %s is not alice's", limit, file.ID)
			}
			if i > 0 && file.CreatedAt.After(got[i-1].CreatedAt) {
				t.Errorf("limit %d: file %d is newer than file %d", limit, i, i-1)
			}
		}
		if len(seen) != len(want) {
			t.Errorf("limit %d: listed %d distinct files, want %d", limit, len(seen), len(want))
		}
	}
}

// Keyset pagination must not depend on the row the cursor came from still
// being there: a user deletes files while paging through them.
func testFilesCursorAfterDelete(t *testing.T, f *fixture) {
	o := f.owner("alice")
	var files []*sluice.File
	for i := range 4 {
		files = append(files, f.upload(o, base.Add(time.Duration(i)*time.Second)))
	}
	page, next, err := f.l.Files(f.ctx, o, "", 2)
	if err != nil || len(page) != 2 || next == "" {
		t.Fatalf("Files(first page) = %d files, next %q, %v", len(page), next, err)
	}
	if err := f.l.DeleteFile(f.ctx, page[1].ID); err != nil {
		t.Fatalf("DeleteFile: %v", err)
	}
	rest, next, err := f.l.Files(f.ctx, o, next, 2)
	if err != nil {
		t.Fatalf("Files(after deleting the cursor's file): %v", err)
	}
	if len(rest) != 2 || next != "" {
		t.Fatalf("second page = %d files, next %q; want 2, \"\"", len(rest), next)
	}
	checkFile(t, rest[0], files[1])
	checkFile(t, rest[1], files[0])
}

func testFilesBadCursor(t *testing.T, f *fixture) {
	o := f.owner("alice")
	f.upload(o, base)
	_, _, err := f.l.Files(f.ctx, o, "%%% not a cursor %%%", 10)
	checkCode(t, "Files(bad cursor)", err, sluice.CodeInvalidRequest)
}

func testDeleteFile(t *testing.T, f *fixture) {
	o := f.owner("alice")
	gone := f.upload(o, base.Add(time.Second))
	kept := f.upload(o, base)
	if err := f.l.DeleteFile(f.ctx, gone.ID); err != nil {
		t.Fatalf("DeleteFile: %v", err)
	}
	_, err := f.l.File(f.ctx, gone.ID)
	checkCode(t, "File after DeleteFile", err, sluice.CodeNotFound)
	checkCode(t, "DeleteFile twice", f.l.DeleteFile(f.ctx, gone.ID), sluice.CodeNotFound)
	checkCode(t, "DeleteFile(unknown)", f.l.DeleteFile(f.ctx, f.id()), sluice.CodeNotFound)

	got := walk(t, f, o, 10)
	if len(got) != 1 || got[0].ID != kept.ID {
		t.Errorf("Files after DeleteFile = %d files, want only %s", len(got), kept.ID)
	}
	// The grant is history: deleting its file does not rewrite it.
	if g := f.mustGrant(gone.ID); g.State != sluice.GrantComplete {
		t.Errorf("grant state after DeleteFile = %q, want complete", g.State)
	}
}

// walk lists all of o's files limit at a time, checking each page against
// the contract, and returns them in the order listed.
func walk(t *testing.T, f *fixture, o sluice.Owner, limit int) []*sluice.File {
	t.Helper()
	var all []*sluice.File
	cursor := ""
	for pages := 1; ; pages++ {
		files, next, err := f.l.Files(f.ctx, o, cursor, limit)
		if err != nil {
			t.Fatalf("Files(limit %d, page %d): %v", limit, pages, err)
		}
		if len(files) > limit {
			t.Fatalf("Files(limit %d) returned %d files", limit, len(files))
		}
		all = append(all, files...)
		if next == "" {
			// A last page may be short but not empty, unless all is.
			if len(files) == 0 && len(all) > 0 {
				t.Errorf("limit %d: last page is empty; next should have been empty a page earlier", limit)
			}
			return all
		}
		if len(files) < limit {
			t.Errorf("limit %d: page %d has %d files but a next cursor", limit, pages, len(files))
		}
		if pages > len(all)+1 {
			t.Fatalf("limit %d: paging does not end", limit)
		}
		cursor = next
	}
}
