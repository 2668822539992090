package ledgertest

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
)

// RunGovernance runs the conformance suite of the reconciler's and the
// webhooks' optional capabilities, sluice.ReconcileLedger and
// sluice.Outbox (and, for PrefixIssuer, sluice.CredentialLedger). open must
// return a working ledger that implements them. Beyond the doc comments,
// it holds every implementation to:
//
//   - Each grant leaving pending as complete or rejected, and each file
//     deleted, leaves exactly one event in the outbox, written in the same
//     transaction: a FinishGrant that fails leaves none. An expired grant
//     leaves none.
//   - An event leased by DueEvents is not handed out again until the lease
//     runs out, and never once delivered.
//   - KeyKnown is true for a file's key and a pending grant's key only.
//
// The ledger may hold other subtests' rows (a shared Postgres schema): the
// suite only looks at its own.
func RunGovernance(t *testing.T, open func(t *testing.T) sluice.Ledger) {
	tests := []struct {
		name string
		fn   func(*testing.T, *fixture)
	}{
		{"OutboxFinishGrant", testOutboxFinishGrant},
		{"OutboxDeleteFile", testOutboxDeleteFile},
		{"OutboxLease", testOutboxLease},
		{"OutboxConcurrentLease", testOutboxConcurrentLease},
		{"PendingExpired", testPendingExpired},
		{"KeyKnown", testKeyKnown},
		{"RegisterFile", testRegisterFile},
		{"PrefixIssuer", testPrefixIssuer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := opened(t, open)
			capability[sluice.Outbox](t, l)
			capability[sluice.ReconcileLedger](t, l)
			tt.fn(t, newFixture(t, l))
		})
	}
}

// far is an instant after every event the suite writes.
var far = base.Add(100 * 365 * 24 * time.Hour)

// myEvents leases every due event and returns this subtest's (its prefix
// is in their payload), by ID.
func (f *fixture) myEvents(now time.Time) map[string]sluice.Event {
	f.t.Helper()
	evs, err := f.l.(sluice.Outbox).DueEvents(f.ctx, now, 100000, time.Hour)
	if err != nil {
		f.t.Fatalf("DueEvents: %v", err)
	}
	out := map[string]sluice.Event{}
	for _, e := range evs {
		if strings.Contains(string(e.Data), f.prefix) {
			out[e.ID] = e
		}
	}
	return out
}

func testOutboxFinishGrant(t *testing.T, f *fixture) {
	o := f.owner("alice")
	done := f.upload(o, base.Add(time.Minute))
	rej := f.create(o)
	if err := f.l.FinishGrant(f.ctx, finished(rej, sluice.GrantRejected), nil); err != nil {
		t.Fatal(err)
	}
	exp := f.create(o)
	if err := f.l.FinishGrant(f.ctx, finished(exp, sluice.GrantExpired), nil); err != nil {
		t.Fatal(err)
	}
	// A second finish is a conflict and must not add an event.
	if err := f.l.FinishGrant(f.ctx, finished(rej, sluice.GrantComplete), fileFor(rej, base)); !sluice.IsCode(err, sluice.CodeConflict) {
		t.Fatalf("second FinishGrant: %v, want conflict", err)
	}

	evs := f.myEvents(far)
	byType := map[sluice.EventType][]sluice.Event{}
	for _, e := range evs {
		byType[e.Type] = append(byType[e.Type], e)
	}
	if len(evs) != 2 || len(byType[sluice.EventFileCompleted]) != 1 || len(byType[sluice.EventFileRejected]) != 1 {
		t.Fatalf("events %v, want one file.completed and one file.rejected", byType)
	}
	var fd sluice.FileEventData
	c := byType[sluice.EventFileCompleted][0]
	if err := json.Unmarshal(c.Data, &fd); err != nil {
		t.Fatal(err)
	}
	if fd.ID != done.ID || fd.Key != done.Key || fd.Subject != o.Subject || fd.Issuer != o.Issuer || fd.Size != done.Size || fd.SHA256 != done.SHA256 {
		t.Errorf("file.completed data %+v, want the file %+v", fd, done)
	}
	if !strings.HasPrefix(c.ID, "evt_") || c.Attempts != 0 {
		t.Errorf("event %s with %d attempts", c.ID, c.Attempts)
	}
	var rd sluice.RejectedEventData
	if err := json.Unmarshal(byType[sluice.EventFileRejected][0].Data, &rd); err != nil {
		t.Fatal(err)
	}
	if rd.GrantID != rej.ID || rd.Code != sluice.CodeChecksumMismatch || rd.Subject != o.Subject {
		t.Errorf("file.rejected data %+v", rd)
	}

	// A FinishGrant whose file cannot be recorded rolls its event back too.
	g := f.create(o)
	clash := fileFor(g, base)
	clash.Key = done.Key
	if err := f.l.FinishGrant(f.ctx, finished(g, sluice.GrantComplete), clash); err == nil {
		t.Fatal("FinishGrant with a taken key succeeded")
	}
	if n := len(f.myEvents(far.Add(2 * time.Hour))); n != 2 {
		t.Errorf("%d events after a failed FinishGrant, want still 2", n)
	}
}

func testOutboxDeleteFile(t *testing.T, f *fixture) {
	file := f.upload(f.owner("bob"), base)
	f.myEvents(far) // lease the completion away
	if err := f.l.DeleteFile(f.ctx, file.ID); err != nil {
		t.Fatal(err)
	}
	checkCode(t, "DeleteFile again", f.l.DeleteFile(f.ctx, file.ID), sluice.CodeNotFound)
	evs := f.myEvents(far)
	if len(evs) != 1 {
		t.Fatalf("%d events after one delete (and a failed one), want 1", len(evs))
	}
	for _, e := range evs {
		var fd sluice.FileEventData
		json.Unmarshal(e.Data, &fd)
		if e.Type != sluice.EventFileDeleted || fd.ID != file.ID || fd.Key != file.Key || fd.DeletedAt.IsZero() {
			t.Errorf("event %s %+v, want file.deleted of %s", e.Type, fd, file.ID)
		}
	}
}

func testOutboxLease(t *testing.T, f *fixture) {
	ob := f.l.(sluice.Outbox)
	f.upload(f.owner("carol"), base)
	f.upload(f.owner("carol"), base.Add(time.Second))
	now := far
	first := f.myEvents(now)
	if len(first) != 2 {
		t.Fatalf("%d events, want 2", len(first))
	}
	if again := f.myEvents(now.Add(59 * time.Minute)); len(again) != 0 {
		t.Errorf("%d leased events handed out again within the lease", len(again))
	}
	var ids []string
	for id := range first {
		ids = append(ids, id)
	}
	if err := ob.EventDelivered(f.ctx, ids[0], now); err != nil {
		t.Fatal(err)
	}
	retry := now.Add(3 * time.Hour)
	if err := ob.EventFailed(f.ctx, ids[1], 3, retry, "receiver answered 503"); err != nil {
		t.Fatal(err)
	}
	if got := f.myEvents(retry.Add(-time.Second)); len(got) != 0 {
		t.Errorf("events handed out before their retry time: %v", got)
	}
	got := f.myEvents(retry)
	if len(got) != 1 || got[ids[1]].Attempts != 3 {
		t.Errorf("at the retry time: %+v, want only %s with 3 attempts (the delivered one never again)", got, ids[1])
	}
	checkCode(t, "EventDelivered(unknown)", ob.EventDelivered(f.ctx, "evt_nope"+f.prefix, now), sluice.CodeNotFound)
}

func testPendingExpired(t *testing.T, f *fixture) {
	rl := f.l.(sluice.ReconcileLedger)
	o := f.owner("dave")
	early := f.grant(o)
	early.ExpiresAt = base.Add(time.Minute)
	late := f.grant(o)
	late.ExpiresAt = base.Add(2 * time.Minute)
	live := f.grant(o)
	live.ExpiresAt = base.Add(time.Hour)
	for _, g := range []*sluice.Grant{late, early, live} {
		if err := f.l.CreateGrant(f.ctx, g); err != nil {
			t.Fatal(err)
		}
	}
	done := f.grant(o)
	done.ExpiresAt = base
	f.l.CreateGrant(f.ctx, done)
	f.l.FinishGrant(f.ctx, finished(done, sluice.GrantExpired), nil)

	gs, err := rl.PendingExpired(f.ctx, base.Add(30*time.Minute), 100000)
	if err != nil {
		t.Fatal(err)
	}
	var mine []string
	for _, g := range gs {
		if strings.HasPrefix(g.ID, f.prefix) {
			mine = append(mine, g.ID)
		}
	}
	if strings.Join(mine, ",") != early.ID+","+late.ID {
		t.Errorf("PendingExpired = %v, want [%s %s] (pending, expired, longest expired first)", mine, early.ID, late.ID)
	}
	for _, g := range gs {
		if g.ID == early.ID {
			checkGrant(t, g, early)
		}
	}
}

func testKeyKnown(t *testing.T, f *fixture) {
	rl := f.l.(sluice.ReconcileLedger)
	o := f.owner("erin")
	file := f.upload(o, base)
	pending := f.create(o)
	rejected := f.create(o)
	f.l.FinishGrant(f.ctx, finished(rejected, sluice.GrantRejected), nil)
	for key, want := range map[string]bool{
		file.Key: true, pending.Key: true, rejected.Key: false, "users/erin/" + f.prefix + "never.png": false,
	} {
		got, err := rl.KeyKnown(f.ctx, key)
		if err != nil || got != want {
			t.Errorf("KeyKnown(%s) = %v, %v; want %v", key, got, err, want)
		}
	}
	if err := f.l.DeleteFile(f.ctx, file.ID); err != nil {
		t.Fatal(err)
	}
	if got, _ := rl.KeyKnown(f.ctx, file.Key); got {
		t.Error("KeyKnown is true for a deleted file's key")
	}
}

func testRegisterFile(t *testing.T, f *fixture) {
	rl := f.l.(sluice.ReconcileLedger)
	o := f.owner("frank")
	g := f.grant(o)
	g.Method, g.State, g.FinishedAt = sluice.MethodDirect, sluice.GrantComplete, base.Add(time.Hour)
	file := fileFor(g, base.Add(time.Hour))
	if err := rl.RegisterFile(f.ctx, g, file); err != nil {
		t.Fatal(err)
	}
	checkGrant(t, f.mustGrant(g.ID), g)
	checkFile(t, f.mustFile(g.ID), file)
	files, _, err := f.l.Files(f.ctx, o, "", 10)
	if err != nil || len(files) != 1 {
		t.Errorf("Files after RegisterFile: %d, %v", len(files), err)
	}

	rej := f.grant(o)
	rej.Method, rej.State, rej.FinishedAt = sluice.MethodDirect, sluice.GrantRejected, base.Add(time.Hour)
	rej.RejectCode, rej.RejectReason = sluice.CodeContentMismatch, "content is text/html, not the declared image/jpeg"
	if err := rl.RegisterFile(f.ctx, rej, nil); err != nil {
		t.Fatal(err)
	}
	checkGrant(t, f.mustGrant(rej.ID), rej)
	_, err = f.l.File(f.ctx, rej.ID)
	checkCode(t, "File of a rejected registration", err, sluice.CodeNotFound)

	types := map[sluice.EventType]int{}
	for _, e := range f.myEvents(far) {
		types[e.Type]++
	}
	if types[sluice.EventFileCompleted] != 1 || types[sluice.EventFileRejected] != 1 || len(types) != 2 {
		t.Errorf("events %v, want one file.completed and one file.rejected", types)
	}

	// The same key again is a conflict and records nothing.
	dup := f.grant(o)
	dup.Key, dup.State, dup.FinishedAt = g.Key, sluice.GrantComplete, base
	checkCode(t, "RegisterFile of a recorded key", rl.RegisterFile(f.ctx, dup, fileFor(dup, base)), sluice.CodeConflict)
	_, err = f.l.Grant(f.ctx, dup.ID)
	checkCode(t, "Grant of a refused registration", err, sluice.CodeNotFound)
}

func testPrefixIssuer(t *testing.T, f *fixture) {
	rl := f.l.(sluice.ReconcileLedger)
	cl, ok := f.l.(sluice.CredentialLedger)
	if !ok {
		t.Skip("the ledger records no credentials")
	}
	prefix := "users/" + f.prefix + "gina/"
	_, err := rl.PrefixIssuer(f.ctx, prefix)
	checkCode(t, "PrefixIssuer with no credential", err, sluice.CodeNotFound)
	for i, iss := range []string{"https://old.example", "https://new.example"} {
		c := f.credential(sluice.Owner{Issuer: iss, Subject: f.prefix + "gina"})
		c.Prefix = prefix
		c.IssuedAt = base.Add(time.Duration(i) * time.Hour)
		if err := cl.RecordCredential(f.ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if iss, err := rl.PrefixIssuer(f.ctx, prefix); err != nil || iss != "https://new.example" {
		t.Errorf("PrefixIssuer = %q, %v; want the newest credential's issuer", iss, err)
	}
}

// Deliverers polling at once (several instances) never take the same
// event: each is handed to exactly one of them.
func testOutboxConcurrentLease(t *testing.T, f *fixture) {
	ob := f.l.(sluice.Outbox)
	const n = 24
	for i := range n {
		f.upload(f.owner("hank"), base.Add(time.Duration(i)*time.Second))
	}
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				evs, err := ob.DueEvents(f.ctx, far, 3, time.Hour)
				if err != nil {
					t.Errorf("DueEvents: %v", err)
					return
				}
				if len(evs) == 0 {
					return
				}
				mu.Lock()
				for _, e := range evs {
					if strings.Contains(string(e.Data), f.prefix) {
						seen[e.ID]++
					}
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(seen) != n {
		t.Errorf("%d of %d events handed out", len(seen), n)
	}
	for id, c := range seen {
		if c != 1 {
			t.Errorf("event %s handed out %d times", id, c)
		}
	}
}
