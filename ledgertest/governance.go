package ledgertest

import (
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
)

// RunQuotas runs the conformance suite of sluice.QuotaLedger and
// sluice.AuditLedger: quotas and rate limits that hold under concurrency
// (N callers at a limit: exactly the limit succeed), bans, overrides, the
// audit log and purge. open must return a ledger with both capabilities.
func RunQuotas(t *testing.T, open func(t *testing.T) sluice.Ledger) {
	tests := []struct {
		name string
		fn   func(*testing.T, *fixture, sluice.QuotaLedger, sluice.AuditLedger)
	}{
		{"QuotaFilesPerDayConcurrent", testQuotaFilesConcurrent},
		{"QuotaBytesPerDayConcurrent", testQuotaBytesConcurrent},
		{"QuotaPendingAndStorage", testQuotaPendingAndStorage},
		{"RateLimitConcurrent", testRateLimitConcurrent},
		{"BanAndOverrides", testBanAndOverrides},
		{"AuditRows", testAuditRows},
		{"PurgeUser", testPurgeUser},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := opened(t, open)
			ql, al := capability[sluice.QuotaLedger](t, l), capability[sluice.AuditLedger](t, l)
			tt.fn(t, newFixture(t, l), ql, al)
		})
	}
}

// small returns a grant of o of size bytes.
func (f *fixture) small(o sluice.Owner, size int64) *sluice.Grant {
	g := f.grant(o)
	g.Size = size
	g.ClientIP = "ip-" + f.prefix
	return g
}

// race asks for n grants at once through CreateGrantWithin and returns
// how many were recorded and the refusals' codes.
func race(f *fixture, ql sluice.QuotaLedger, o sluice.Owner, n int, size int64, a sluice.Admission) (int, map[sluice.Code]int, []error) {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		ok   int
		errs []error
	)
	codes := map[sluice.Code]int{}
	start := make(chan struct{})
	for range n {
		g := f.small(o, size)
		wg.Go(func() {
			<-start
			err := ql.CreateGrantWithin(f.ctx, g, a)
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				ok++
				return
			}
			codes[sluice.ErrorCode(err)]++
			errs = append(errs, err)
		})
	}
	close(start)
	wg.Wait()
	return ok, codes, errs
}

func adm(l sluice.Limits) sluice.Admission {
	return sluice.Admission{Limits: l, Now: base.Add(time.Second)}
}

func testQuotaFilesConcurrent(t *testing.T, f *fixture, ql sluice.QuotaLedger, _ sluice.AuditLedger) {
	o := f.owner("alice")
	ok, codes, errs := race(f, ql, o, 24, 10, adm(sluice.Limits{FilesPerDay: 5}))
	if ok != 5 || codes[sluice.CodeQuotaFilesPerDay] != 19 {
		t.Fatalf("24 parallel grants at files_per_day=5: %d recorded, refusals %v, want exactly 5 and 19 %s", ok, codes, sluice.CodeQuotaFilesPerDay)
	}
	// Retry-After: until 00:00 UTC of the next day.
	want := sluice.DayStart(base).Add(24 * time.Hour).Sub(base.Add(time.Second))
	if got := sluice.RetryAfter(errs[0]); got != want {
		t.Errorf("RetryAfter = %s, want %s (until the UTC day rolls over)", got, want)
	}
	u, err := ql.Usage(f.ctx, o, base.Add(time.Second))
	if err != nil || u.FilesToday != 5 || u.BytesToday != 50 || u.PendingGrants != 5 {
		t.Errorf("Usage = %+v, %v; want 5 files, 50 bytes today, 5 pending", u, err)
	}
	// Another user is not affected.
	if ok, _, _ := race(f, ql, f.owner("bob"), 1, 10, adm(sluice.Limits{FilesPerDay: 5})); ok != 1 {
		t.Error("bob's grant was refused by alice's quota")
	}
}

func testQuotaBytesConcurrent(t *testing.T, f *fixture, ql sluice.QuotaLedger, _ sluice.AuditLedger) {
	o := f.owner("alice")
	ok, codes, _ := race(f, ql, o, 20, 100, adm(sluice.Limits{BytesPerDay: 750}))
	if ok != 7 || codes[sluice.CodeQuotaBytesPerDay] != 13 {
		t.Fatalf("20 parallel 100-byte grants at bytes_per_day=750: %d recorded, refusals %v, want 7", ok, codes)
	}
	// A rejected grant gives its bytes back.
	g := f.small(o, 100)
	g.Key += ".x"
	if err := ql.CreateGrantWithin(f.ctx, g, adm(sluice.Limits{BytesPerDay: 750})); !sluice.IsCode(err, sluice.CodeQuotaBytesPerDay) {
		t.Fatalf("8th grant: %v, want %s", err, sluice.CodeQuotaBytesPerDay)
	}
}

func testQuotaPendingAndStorage(t *testing.T, f *fixture, ql sluice.QuotaLedger, _ sluice.AuditLedger) {
	o := f.owner("alice")
	ok, codes, errs := race(f, ql, o, 10, 10, adm(sluice.Limits{PendingGrants: 3}))
	if ok != 3 || codes[sluice.CodeQuotaPendingGrants] != 7 {
		t.Fatalf("10 parallel grants at pending_grants=3: %d recorded, refusals %v", ok, codes)
	}
	if sluice.RetryAfter(errs[0]) <= 0 {
		t.Error("quota_pending_grants carries no Retry-After")
	}
	o2 := f.owner("carol")
	ok, codes, errs = race(f, ql, o2, 10, 100, adm(sluice.Limits{StoredBytes: 250}))
	if ok != 2 || codes[sluice.CodeQuotaStorage] != 8 {
		t.Fatalf("10 parallel 100-byte grants at stored_bytes=250: %d recorded, refusals %v", ok, codes)
	}
	if sluice.HTTPStatus(sluice.ErrorCode(errs[0])) != 403 {
		t.Errorf("quota_storage is %d, want 403 (waiting does not help)", sluice.HTTPStatus(sluice.ErrorCode(errs[0])))
	}
}

func testRateLimitConcurrent(t *testing.T, f *fixture, ql sluice.QuotaLedger, _ sluice.AuditLedger) {
	a := adm(sluice.Limits{})
	a.Rate = sluice.RateLimits{PerUserPerMinute: 7}
	ok, codes, errs := race(f, ql, f.owner("alice"), 20, 10, a)
	if ok != 7 || codes[sluice.CodeRateLimited] != 13 {
		t.Fatalf("20 parallel grants at 7/min per user: %d recorded, refusals %v", ok, codes)
	}
	if d, want := sluice.RetryAfter(errs[0]), sluice.MinuteStart(a.Now).Add(time.Minute).Sub(a.Now); d != want || d <= 0 {
		t.Errorf("RetryAfter = %s, want %s (the rest of the minute)", d, want)
	}
	// The next minute is a new window.
	a.Now = a.Now.Add(time.Minute)
	if ok, _, _ := race(f, ql, f.owner("alice"), 1, 10, a); ok != 1 {
		t.Error("a grant in the next minute was refused")
	}
	// Per IP: every user from one address shares the count.
	a = adm(sluice.Limits{})
	a.Rate = sluice.RateLimits{PerIPPerMinute: 4}
	got := 0
	for i := range 6 {
		g := f.small(f.owner("ipuser"+string(rune('a'+i))), 1)
		g.ClientIP = "ip2-" + f.prefix
		if err := ql.CreateGrantWithin(f.ctx, g, a); err == nil {
			got++
		} else if !sluice.IsCode(err, sluice.CodeRateLimited) {
			t.Fatal(err)
		}
	}
	if got != 4 {
		t.Errorf("6 users from one IP at 4/min per IP: %d recorded, want 4", got)
	}
	n, err := ql.Hit(f.ctx, "k-"+f.prefix, base)
	if err != nil || n != 1 {
		t.Fatalf("Hit = %d, %v", n, err)
	}
	if n, _ := ql.Hit(f.ctx, "k-"+f.prefix, base.Add(30*time.Second)); n != 2 {
		t.Errorf("second Hit in the window = %d, want 2", n)
	}
}

func testBanAndOverrides(t *testing.T, f *fixture, ql sluice.QuotaLedger, _ sluice.AuditLedger) {
	o := f.owner("mallory")
	if err := ql.SetBan(f.ctx, o, base, "spam"); err != nil {
		t.Fatal(err)
	}
	u, err := ql.User(f.ctx, o)
	if err != nil || !u.BannedAt.Equal(base) || u.BanReason != "spam" {
		t.Fatalf("User = %+v, %v", u, err)
	}
	if err := ql.CreateGrantWithin(f.ctx, f.small(o, 1), adm(sluice.Limits{})); !sluice.IsCode(err, sluice.CodeUserBanned) {
		t.Fatalf("grant of a banned user: %v, want %s", err, sluice.CodeUserBanned)
	}
	if err := ql.SetBan(f.ctx, o, time.Time{}, ""); err != nil {
		t.Fatal(err)
	}
	if err := ql.CreateGrantWithin(f.ctx, f.small(o, 1), adm(sluice.Limits{})); err != nil {
		t.Fatalf("grant after unban: %v", err)
	}
	two := int64(2)
	if err := ql.SetOverrides(f.ctx, o, sluice.LimitsOver{FilesPerDay: &two}); err != nil {
		t.Fatal(err)
	}
	// One grant already today; the override allows one more though the
	// deployment sets no limit.
	ok, codes, _ := race(f, ql, o, 5, 1, adm(sluice.Limits{}))
	if ok != 1 || codes[sluice.CodeQuotaFilesPerDay] != 4 {
		t.Fatalf("override files_per_day=2: %d more recorded, refusals %v, want 1", ok, codes)
	}
	if u, _ := ql.User(f.ctx, o); u.Overrides.FilesPerDay == nil || *u.Overrides.FilesPerDay != 2 || !u.BannedAt.IsZero() {
		t.Errorf("User after overrides = %+v", u)
	}
}

func testAuditRows(t *testing.T, f *fixture, ql sluice.QuotaLedger, al sluice.AuditLedger) {
	o := f.owner("alice")
	g := f.small(o, 10)
	if err := ql.CreateGrantWithin(f.ctx, g, adm(sluice.Limits{FilesPerDay: 1})); err != nil {
		t.Fatal(err)
	}
	if err := ql.CreateGrantWithin(f.ctx, f.small(o, 10), adm(sluice.Limits{FilesPerDay: 1})); err == nil {
		t.Fatal("second grant at files_per_day=1 was recorded")
	}
	done := finished(g, sluice.GrantComplete)
	file := fileFor(g, base.Add(time.Minute))
	file.Size = 10
	if err := f.l.FinishGrant(f.ctx, done, file); err != nil {
		t.Fatal(err)
	}
	if err := al.AppendAudit(f.ctx, &sluice.AuditEvent{At: base.Add(2 * time.Minute), Kind: sluice.AuditDelete,
		Issuer: o.Issuer, Subject: o.Subject, Key: g.Key, Outcome: "ok"}); err != nil {
		t.Fatal(err)
	}
	evs, err := al.Audit(f.ctx, sluice.AuditQuery{Owner: o})
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, e := range evs {
		kinds = append(kinds, e.Kind+":"+e.Outcome)
	}
	want := []string{"grant:ok", "grant:" + string(sluice.CodeQuotaFilesPerDay), "complete:ok", "delete:ok"}
	if len(kinds) != len(want) {
		t.Fatalf("audit rows %v, want %v", kinds, want)
	}
	for i := range want {
		if kinds[i] != want[i] {
			t.Fatalf("audit rows %v, want %v", kinds, want)
		}
	}
	e := evs[0]
	if e.Email != g.Email || e.IP != g.ClientIP || e.UserAgent != g.UserAgent || e.Key != g.Key || e.Size != 10 || e.SHA256 != g.SHA256 || !e.At.Equal(g.CreatedAt) {
		t.Errorf("grant audit row %+v does not carry the grant's fields", e)
	}
	if evs2, _ := al.Audit(f.ctx, sluice.AuditQuery{Owner: o, Since: base.Add(90 * time.Second)}); len(evs2) != 2 {
		t.Errorf("Audit since: %d rows, want 2", len(evs2))
	}
}

func testPurgeUser(t *testing.T, f *fixture, ql sluice.QuotaLedger, al sluice.AuditLedger) {
	o, keep := f.owner("erase-me"), f.owner("keep-me")
	file := f.upload(o, base.Add(time.Minute))
	pending := f.small(o, 5)
	if err := ql.CreateGrantWithin(f.ctx, pending, adm(sluice.Limits{})); err != nil {
		t.Fatal(err)
	}
	other := f.upload(keep, base.Add(time.Minute))
	keys, err := al.PurgeUser(f.ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 {
		t.Errorf("PurgeUser keys = %v, want the file's and the pending grant's", keys)
	}
	if _, err := f.l.File(f.ctx, file.ID); !sluice.IsCode(err, sluice.CodeNotFound) {
		t.Errorf("purged file still there: %v", err)
	}
	if _, err := f.l.Grant(f.ctx, pending.ID); !sluice.IsCode(err, sluice.CodeNotFound) {
		t.Errorf("purged grant still there: %v", err)
	}
	if files, _ := al.OwnerFiles(f.ctx, o); len(files) != 0 {
		t.Errorf("OwnerFiles after purge = %d files", len(files))
	}
	if _, err := f.l.File(f.ctx, other.ID); err != nil {
		t.Errorf("another user's file went too: %v", err)
	}
	evs, _ := al.Audit(f.ctx, sluice.AuditQuery{Owner: o})
	if len(evs) == 0 {
		t.Fatal("purge deleted the audit rows; they stay, blanked")
	}
	for _, e := range evs {
		if e.Email != "" || e.IP != "" || e.UserAgent != "" {
			t.Errorf("audit row after purge keeps personal data: %+v", e)
		}
	}
}
