package ledgertest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
)

func testGrantRoundTrip(t *testing.T, f *fixture) {
	want := f.create(f.owner("alice"))
	checkGrant(t, f.mustGrant(want.ID), want)
}

// A grant without the optional fields must not come back with NULLs turned
// into something else.
func testGrantEmptyOptionalFields(t *testing.T, f *fixture) {
	want := f.grant(f.owner("alice"))
	want.Email, want.Filename, want.SHA256, want.ClientIP, want.UserAgent = "", "", "", "", ""
	want.Method = sluice.MethodPOST
	if err := f.l.CreateGrant(f.ctx, want); err != nil {
		t.Fatalf("CreateGrant: %v", err)
	}
	checkGrant(t, f.mustGrant(want.ID), want)
}

func testGrantDuplicateID(t *testing.T, f *fixture) {
	first := f.create(f.owner("alice"))
	dup := f.grant(f.owner("mallory"))
	dup.ID = first.ID
	checkCode(t, "CreateGrant with a used ID", f.l.CreateGrant(f.ctx, dup), sluice.CodeConflict)
	checkGrant(t, f.mustGrant(first.ID), first)
}

func testGrantNotFound(t *testing.T, f *fixture) {
	_, err := f.l.Grant(f.ctx, f.id())
	checkCode(t, "Grant(unknown)", err, sluice.CodeNotFound)
}

// Grant issuance is the per-request hot path: many requests at once must
// all be recorded, none lost or refused.
func testCreateGrantConcurrent(t *testing.T, f *fixture) {
	const n = 200
	grants := make([]*sluice.Grant, n)
	for i := range grants {
		grants[i] = f.grant(f.owner("alice"))
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i, g := range grants {
		wg.Go(func() { errs[i] = f.l.CreateGrant(f.ctx, g) })
	}
	wg.Wait()
	for i, g := range grants {
		if errs[i] != nil {
			t.Errorf("CreateGrant(%s): %v", g.ID, errs[i])
			continue
		}
		checkGrant(t, f.mustGrant(g.ID), g)
	}
}

func testFinishGrantComplete(t *testing.T, f *fixture) {
	g := f.create(f.owner("alice"))
	done := finished(g, sluice.GrantComplete)
	file := fileFor(g, base.Add(91*time.Second+987654321))
	if err := f.l.FinishGrant(f.ctx, done, file); err != nil {
		t.Fatalf("FinishGrant: %v", err)
	}
	checkGrant(t, f.mustGrant(g.ID), done)
	checkFile(t, f.mustFile(file.ID), file)
}

func testFinishGrantReject(t *testing.T, f *fixture) {
	g := f.create(f.owner("alice"))
	done := finished(g, sluice.GrantRejected)
	// A file handed along with a rejection is not a stored object.
	if err := f.l.FinishGrant(f.ctx, done, fileFor(g, base)); err != nil {
		t.Fatalf("FinishGrant: %v", err)
	}
	checkGrant(t, f.mustGrant(g.ID), done)
	_, err := f.l.File(f.ctx, g.ID)
	checkCode(t, "File of a rejected grant", err, sluice.CodeNotFound)
}

func testFinishGrantExpire(t *testing.T, f *fixture) {
	g := f.create(f.owner("alice"))
	done := finished(g, sluice.GrantExpired)
	if err := f.l.FinishGrant(f.ctx, done, nil); err != nil {
		t.Fatalf("FinishGrant: %v", err)
	}
	checkGrant(t, f.mustGrant(g.ID), done)
	_, err := f.l.File(f.ctx, g.ID)
	checkCode(t, "File of an expired grant", err, sluice.CodeNotFound)
}

// Once a grant has left pending, every further FinishGrant is a conflict
// and leaves the grant and files as they were.
func testFinishGrantNotPending(t *testing.T, f *fixture) {
	for _, first := range []sluice.GrantState{sluice.GrantComplete, sluice.GrantRejected, sluice.GrantExpired} {
		for _, second := range []sluice.GrantState{sluice.GrantComplete, sluice.GrantRejected, sluice.GrantExpired} {
			t.Run(string(first)+"Then"+string(second), func(t *testing.T) {
				f := f.sub(t)
				g := f.create(f.owner("alice"))
				done := finished(g, first)
				var file *sluice.File
				if first == sluice.GrantComplete {
					file = fileFor(g, base)
				}
				if err := f.l.FinishGrant(f.ctx, done, file); err != nil {
					t.Fatalf("first FinishGrant: %v", err)
				}
				again := finished(g, second)
				again.FinishedAt = again.FinishedAt.Add(time.Hour)
				other := fileFor(g, base.Add(time.Hour))
				other.ID, other.Key = f.id(), g.Key+".other"
				checkCode(t, "second FinishGrant", f.l.FinishGrant(f.ctx, again, other), sluice.CodeConflict)

				checkGrant(t, f.mustGrant(g.ID), done)
				if _, err := f.l.File(f.ctx, other.ID); !sluice.IsCode(err, sluice.CodeNotFound) {
					t.Errorf("the losing FinishGrant recorded its file (File: %v)", err)
				}
				if file != nil {
					checkFile(t, f.mustFile(file.ID), file)
				}
			})
		}
	}
}

func testFinishGrantNotFound(t *testing.T, f *fixture) {
	g := f.grant(f.owner("alice"))
	err := f.l.FinishGrant(f.ctx, finished(g, sluice.GrantComplete), fileFor(g, base))
	checkCode(t, "FinishGrant(unknown)", err, sluice.CodeNotFound)
	_, err = f.l.File(f.ctx, g.ID)
	checkCode(t, "File after FinishGrant(unknown)", err, sluice.CodeNotFound)
}

func testFinishGrantCompleteNeedsFile(t *testing.T, f *fixture) {
	g := f.create(f.owner("alice"))
	if err := f.l.FinishGrant(f.ctx, finished(g, sluice.GrantComplete), nil); err == nil {
		t.Fatal("FinishGrant(complete, nil file) succeeded")
	}
	checkGrant(t, f.mustGrant(g.ID), g)
}

// The grant's state and its file are one transaction: if the file cannot be
// recorded (here its key is taken), the grant stays pending.
func testFinishGrantAtomic(t *testing.T, f *fixture) {
	o := f.owner("alice")
	taken := f.upload(o, base)
	g := f.create(o)
	file := fileFor(g, base)
	file.Key = taken.Key
	err := f.l.FinishGrant(f.ctx, finished(g, sluice.GrantComplete), file)
	if err == nil {
		t.Fatal("FinishGrant recorded a second file under one key")
	}
	if sluice.IsCode(err, sluice.CodeConflict) {
		t.Errorf("FinishGrant with a taken file key = %v; CodeConflict must mean only that the grant was not pending", err)
	}
	checkGrant(t, f.mustGrant(g.ID), g)
	_, err = f.l.File(f.ctx, g.ID)
	checkCode(t, "File after failed FinishGrant", err, sluice.CodeNotFound)
	checkFile(t, f.mustFile(taken.ID), taken)
}

// Two completes of one grant race whenever a client retries: exactly one
// may win, and the grant must end as the winner left it.
func testFinishGrantConcurrent(t *testing.T, f *fixture) {
	const n = 16
	g := f.create(f.owner("alice"))
	var wg sync.WaitGroup
	errs := make([]error, n)
	wants := make([]*sluice.Grant, n)
	for i := range n {
		state := sluice.GrantComplete
		if i%2 == 1 {
			state = sluice.GrantRejected
		}
		wants[i] = finished(g, state)
		wants[i].FinishedAt = wants[i].FinishedAt.Add(time.Duration(i) * time.Second)
		wg.Go(func() { errs[i] = f.l.FinishGrant(f.ctx, wants[i], fileFor(g, base)) })
	}
	wg.Wait()

	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Errorf("FinishGrant %d and %d both won", winner, i)
		case err == nil:
			winner = i
		default:
			checkCode(t, "losing FinishGrant", err, sluice.CodeConflict)
		}
	}
	if winner < 0 {
		t.Fatal("no FinishGrant won")
	}
	checkGrant(t, f.mustGrant(g.ID), wants[winner])
	_, err := f.l.File(f.ctx, g.ID)
	if wants[winner].State == sluice.GrantComplete {
		if err != nil {
			t.Errorf("File after a winning complete: %v", err)
		}
	} else {
		checkCode(t, "File after a winning reject", err, sluice.CodeNotFound)
	}
}

func testPing(t *testing.T, f *fixture) {
	if err := f.l.Ping(f.ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

// A health check must report a closed ledger as unavailable, not as a
// server bug.
func testClose(t *testing.T, l sluice.Ledger) {
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	checkCode(t, "Ping after Close", l.Ping(context.Background()), sluice.CodeUnavailable)
}
