package app_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/app"
	"github.com/sluicehq/sluice/httpapi"
	"github.com/sluicehq/sluice/internal/testutil"
)

// TestGovernanceAcrossInstancesOnPostgres: two instances over one Postgres
// ledger share the rate-limit and quota counts exactly, and a ban through
// one instance's admin API refuses the user on the other at once.
func TestGovernanceAcrossInstancesOnPostgres(t *testing.T) {
	dsn := testutil.PostgresDSN(t)
	issuer := startIssuer(t)
	cfg := overEmbedded(t)
	cfg.Ledger.Type, cfg.Ledger.DSN = app.LedgerPostgres, dsn
	cfg.Policy.RateLimit = sluice.RateLimits{PerUserPerMinute: 6, PerIPPerMinute: 1 << 30}
	cfg.Policy.Quota = sluice.Limits{FilesPerDay: 4}
	cfg.Admin.TokenFile = filepath.Join(t.TempDir(), "admin-token") // shared, as behind one load balancer
	issuer.trust(&cfg)
	a, b := startNode(t, cfg, nil), startNode(t, cfg, nil)
	nodes := []*node{a, b}
	// Both clocks at second 1 of a minute, so the window cannot roll over
	// during the burst.
	shift := sluice.MinuteStart(time.Now()).Add(time.Minute + time.Second).Sub(time.Now())
	for _, n := range nodes {
		n.Service.Now = func() time.Time { return time.Now().Add(shift) }
	}

	// 16 requests at once, alternating instances: the first 6 counted pass
	// the rate limit, of which 4 fit the daily quota.
	tok := issuer.token(t, "pg-limits")
	var wg sync.WaitGroup
	var mu sync.Mutex
	got := map[string]int{}
	for i := range 16 {
		n := nodes[i%2]
		wg.Go(func() {
			var e apiError
			code := n.call(tok, "POST", "/v1/uploads", httpapi.UploadRequest{ContentType: "image/png", Size: 100}, &e)
			mu.Lock()
			got[fmt.Sprint(code, " ", e.Error.Code)]++
			mu.Unlock()
		})
	}
	wg.Wait()
	want := map[string]int{"201 ": 4, "429 " + string(sluice.CodeRateLimited): 10, "429 " + string(sluice.CodeQuotaFilesPerDay): 2}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("16 parallel grants over two instances at 6/min and 4 files/day: %v, want %v", got, want)
	}

	// Ban through a; b refuses at once.
	victim := issuer.token(t, "pg-banned")
	if code := b.call(victim, "POST", "/v1/uploads", httpapi.UploadRequest{ContentType: "image/png", Size: 100}, nil); code != 201 {
		t.Fatalf("grant before the ban: %d", code)
	}
	raw, err := os.ReadFile(app.AdminTokenFile(cfg))
	if err != nil {
		t.Fatal(err)
	}
	admin := strings.TrimSpace(string(raw))
	if code := a.call(admin, "POST", "/admin/v1/users/pg-banned/ban", httpapi.AdminBan{Reason: "test"}, nil); code != 200 {
		t.Fatalf("ban: %d", code)
	}
	var e apiError
	if code := b.call(victim, "POST", "/v1/uploads", httpapi.UploadRequest{ContentType: "image/png", Size: 100}, &e); code != 403 || e.Error.Code != string(sluice.CodeUserBanned) {
		t.Errorf("grant through the other instance after the ban: %d %s", code, e.Error.Code)
	}
	var al httpapi.AuditList
	b.call(admin, "GET", "/admin/v1/audit?sub=pg-banned", nil, &al)
	kinds := map[string]int{}
	for _, ev := range al.Events {
		kinds[ev.Kind+":"+ev.Outcome]++
	}
	if kinds["grant:ok"] != 1 || kinds["grant:"+string(sluice.CodeUserBanned)] != 1 || kinds["admin:ok"] != 1 {
		t.Errorf("audit of pg-banned: %v", kinds)
	}
}
