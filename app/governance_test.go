package app_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/app"
	"github.com/sluicehq/sluice/httpapi"
)

// adminToken is the token the server generated on first start.
func adminToken(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(app.AdminTokenFile(srv.Config))
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(app.AdminTokenFile(srv.Config))
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("admin token file mode %v, want 0600", fi.Mode().Perm())
	}
	return strings.TrimSpace(string(b))
}

// adminEnv is the environment of `sluice admin` against the test server.
func adminEnv(t *testing.T) map[string]string {
	return map[string]string{"SLUICE_SERVER": srv.APIURL, "SLUICE_ADMIN_TOKEN": adminToken(t)}
}

func sluiceOK(t *testing.T, env map[string]string, args ...string) string {
	t.Helper()
	code, out, errw := sluiceCmd(t, env, args...)
	if code != 0 {
		t.Fatalf("sluice %s: exit %d: %s", strings.Join(args, " "), code, errw)
	}
	return out
}

// presignedUpload uploads a PNG on a presigned PUT and completes it.
func presignedUpload(t *testing.T, tok string, seed int) sluice.File {
	t.Helper()
	body := pngBytes(t, seed)
	up := grant(t, tok, httpapi.UploadRequest{Filename: "a.png", ContentType: "image/png", Size: int64(len(body)), SHA256: sum(body)})
	if code := put(t, up, up.Headers, body); code != 200 {
		t.Fatalf("PUT: %d", code)
	}
	code, f, e := complete(t, tok, up.ID)
	if code != 200 {
		t.Fatalf("complete: %d %s", code, e.Error.Code)
	}
	return f
}

// TestAdminAPINeedsAdminToken: no token, a user's ID token and a wrong
// admin token are all refused, with the admin API's own code.
func TestAdminAPINeedsAdminToken(t *testing.T) {
	for name, tok := range map[string]string{
		"none": "", "user token": tokenFor(t, "admin-wannabe"), "wrong admin token": strings.Repeat("0", 64),
		"admin token prefix": adminToken(t)[:32],
	} {
		var e apiError
		code, h := api(t, tok, "GET", "/admin/v1/users/admin-wannabe", nil, &e)
		if code != 401 || e.Error.Code != string(sluice.CodeAdminUnauthorized) || h.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: %d %s, want 401 %s", name, code, e.Error.Code, sluice.CodeAdminUnauthorized)
		}
	}
	var u sluice.AdminUser
	if code, _ := api(t, adminToken(t), "GET", "/admin/v1/users/admin-wannabe", nil, &u); code != 200 || u.User.Subject != "admin-wannabe" {
		t.Errorf("with the admin token: %d %+v", code, u)
	}
	// The end-user API does not take the admin token either.
	if code, _ := api(t, adminToken(t), "GET", "/v1/files", nil, nil); code != 401 {
		t.Errorf("GET /v1/files with the admin token: %d, want 401", code)
	}
}

// TestQuotaHoldsUnderConcurrency: a user limited (by an override, set with
// `sluice admin limits`) to 3 files a day sends 12 grant requests at once;
// exactly 3 are granted, the rest are 429 quota_files_per_day with a
// Retry-After until midnight UTC.
func TestQuotaHoldsUnderConcurrency(t *testing.T) {
	env := adminEnv(t)
	sluiceOK(t, env, "admin", "limits", "quota-e2e", "--files-per-day", "3")
	tok := tokenFor(t, "quota-e2e")
	var wg sync.WaitGroup
	var mu sync.Mutex
	got := map[string]int{}
	var retry []string
	for range 12 {
		wg.Go(func() {
			var e apiError
			code, h := api(t, tok, "POST", "/v1/uploads", httpapi.UploadRequest{ContentType: "image/png", Size: 100}, &e)
			mu.Lock()
			defer mu.Unlock()
			got[fmt.Sprint(code, " ", e.Error.Code)]++
			if code == 429 {
				retry = append(retry, h.Get("Retry-After"))
			}
		})
	}
	wg.Wait()
	if got["201 "] != 3 || got["429 "+string(sluice.CodeQuotaFilesPerDay)] != 9 {
		t.Fatalf("12 parallel grants at files_per_day=3: %v, want 3 granted and 9 refused", got)
	}
	now := time.Now().UTC()
	untilMidnight := sluice.DayStart(now).Add(24 * time.Hour).Sub(now)
	for _, r := range retry {
		n, err := strconv.Atoi(r)
		if err != nil || n <= 0 || time.Duration(n)*time.Second > untilMidnight+2*time.Second {
			t.Fatalf("Retry-After %q, want the seconds until 00:00 UTC (%s)", r, untilMidnight)
		}
	}
	// A proxied upload is held to the same quota.
	a := proxyPost(t, tok, bytes.NewReader(pngBytes(t, 1)), -1, "image/png", "", nil)
	if a.code != 429 || a.err.Error.Code != string(sluice.CodeQuotaFilesPerDay) {
		t.Errorf("proxied upload over quota: %d %s", a.code, a.err.Error.Code)
	}
	if out := sluiceOK(t, env, "admin", "usage", "quota-e2e"); !strings.Contains(out, "limit 3") {
		t.Errorf("usage does not show the limit of 3:\n%s", out)
	}
	var u sluice.AdminUser
	json.Unmarshal([]byte(sluiceOK(t, env, "admin", "usage", "quota-e2e", "--json")), &u)
	if u.Usage.FilesToday != 3 || u.Usage.PendingGrants != 3 || u.Limits.FilesPerDay != 3 {
		t.Errorf("usage --json = %+v", u)
	}
}

// TestRateLimitPerUser: past the per-user rate, grants are 429
// rate_limited with a Retry-After of the rest of the minute.
func TestRateLimitPerUser(t *testing.T) {
	// Start at second 1 of a minute so that the window cannot roll over
	// during the test.
	now := time.Now()
	clock.Set(sluice.MinuteStart(now).Add(time.Minute + time.Second).Sub(now))
	old := srv.Service.Policy.RateLimit
	srv.Service.Policy.RateLimit.PerUserPerMinute = 5
	defer func() { srv.Service.Policy.RateLimit = old; clock.Set(0) }()

	tok := tokenFor(t, "rate-e2e")
	var wg sync.WaitGroup
	var mu sync.Mutex
	got := map[int]int{}
	var last http.Header
	for range 9 {
		wg.Go(func() {
			var e apiError
			code, h := api(t, tok, "POST", "/v1/uploads", httpapi.UploadRequest{ContentType: "image/png", Size: 100}, &e)
			mu.Lock()
			defer mu.Unlock()
			got[code]++
			if code == 429 {
				last = h
				if e.Error.Code != string(sluice.CodeRateLimited) {
					t.Errorf("429 with code %q", e.Error.Code)
				}
			}
		})
	}
	wg.Wait()
	if got[201] != 5 || got[429] != 4 {
		t.Fatalf("9 parallel grants at 5/min: %v", got)
	}
	if n, err := strconv.Atoi(last.Get("Retry-After")); err != nil || n < 1 || n > 60 {
		t.Errorf("Retry-After %q, want 1–60 s", last.Get("Retry-After"))
	}
	// Another user is not affected.
	if code, _ := api(t, tokenFor(t, "rate-e2e-other"), "POST", "/v1/uploads", httpapi.UploadRequest{ContentType: "image/png", Size: 100}, nil); code != 201 {
		t.Errorf("another user: %d", code)
	}
}

// TestBanRefusesEverythingNew: after `sluice admin ban`, the user's
// grants, proxied uploads and STS requests are refused, their live STS
// credentials fail at the store, and --delete-files took their files.
// After unban and a new sign-in they may upload again.
func TestBanRefusesEverythingNew(t *testing.T) {
	tok := tokenFor(t, "ban-e2e")
	f := presignedUpload(t, tok, 70)
	creds := credsS3(assume(t, tok))
	if err := putString(creds, "users/ban-e2e/live.png", "\x89PNG"); err != nil {
		t.Fatalf("STS PUT before the ban: %v", err)
	}

	out := sluiceOK(t, adminEnv(t), "admin", "ban", "ban-e2e", "--reason", "abuse", "--delete-files")
	if !strings.Contains(out, "1 files deleted") {
		t.Errorf("ban output: %s", out)
	}
	if objectExists(t, f.Key) {
		t.Error("--delete-files left the user's file in the store")
	}
	if code, _ := api(t, tok, "GET", "/v1/files/"+f.ID, nil, nil); code != 404 {
		t.Errorf("file record after ban --delete-files: %d", code)
	}

	var e apiError
	if code, _ := api(t, tok, "POST", "/v1/uploads", httpapi.UploadRequest{ContentType: "image/png", Size: 100}, &e); code != 403 || e.Error.Code != string(sluice.CodeUserBanned) {
		t.Errorf("grant after ban: %d %s, want 403 user_banned", code, e.Error.Code)
	}
	if a := proxyPost(t, tok, bytes.NewReader(pngBytes(t, 2)), -1, "image/png", "", nil); a.code != 403 || a.err.Error.Code != string(sluice.CodeUserBanned) {
		t.Errorf("proxied upload after ban: %d %s", a.code, a.err.Error.Code)
	}
	// A token minted after the ban still names a banned user.
	time.Sleep(1100 * time.Millisecond)
	fresh := tokenFor(t, "ban-e2e")
	if code, se, _ := stsRaw(t, "POST", stsForm(fresh)); code != 403 || se.Error.Code != "AccessDenied" {
		t.Errorf("STS after ban: %d %s, want 403 AccessDenied", code, se.Error.Code)
	}
	if got := outcome(putString(creds, "users/ban-e2e/after.png", "\x89PNG")); got == "ok" {
		t.Error("the banned user's live STS credentials still write")
	}

	sluiceOK(t, adminEnv(t), "admin", "unban", "ban-e2e")
	if code, _ := api(t, fresh, "POST", "/v1/uploads", httpapi.UploadRequest{ContentType: "image/png", Size: 100}, nil); code != 201 {
		t.Errorf("grant after unban: %d", code)
	}
}

// TestPurgeErasesTheUser: nothing is left under users/{sub}/ and no file
// or grant record; the audit rows stay with personal fields blanked.
func TestPurgeErasesTheUser(t *testing.T) {
	tok := tokenFor(t, "purge-e2e")
	f1 := presignedUpload(t, tok, 71)
	f2 := presignedUpload(t, tok, 72)
	pending := grant(t, tok, httpapi.UploadRequest{ContentType: "image/png", Size: 100})
	// Written but never completed: purge must find it too.
	body := pngBytes(t, 73)
	up := grant(t, tok, httpapi.UploadRequest{ContentType: "image/png", Size: int64(len(body))})
	if code := put(t, up, up.Headers, body); code != 200 {
		t.Fatalf("PUT: %d", code)
	}
	other := presignedUpload(t, tokenFor(t, "purge-e2e-neighbour"), 74)
	// Written with STS credentials: no record in the ledger at all.
	creds := credsS3(assume(t, tok))
	if err := putString(creds, "users/purge-e2e/sts.png", "\x89PNG"); err != nil {
		t.Fatal(err)
	}

	var res httpapi.AdminResult
	if code, _ := api(t, adminToken(t), "POST", "/admin/v1/users/purge-e2e/purge", nil, &res); code != 200 {
		t.Fatalf("purge: %d", code)
	}
	if got := outcome(putString(creds, "users/purge-e2e/after.png", "\x89PNG")); got == "ok" {
		t.Error("the purged user's STS credentials still write")
	}
	for _, k := range []string{f1.Key, f2.Key, pending.Key, up.Key, "users/purge-e2e/sts.png", "users/purge-e2e/after.png"} {
		if objectExists(t, k) {
			t.Errorf("%s still in the store after purge", k)
		}
	}
	var fl httpapi.FileList
	api(t, tok, "GET", "/v1/files", nil, &fl)
	if len(fl.Files) != 0 {
		t.Errorf("%d file records after purge", len(fl.Files))
	}
	if code, _ := api(t, tok, "GET", "/v1/uploads/"+pending.ID, nil, nil); code != 404 {
		t.Errorf("grant record after purge: %d", code)
	}
	if !objectExists(t, other.Key) {
		t.Error("purge deleted another user's file")
	}
	var al httpapi.AuditList
	api(t, adminToken(t), "GET", "/admin/v1/audit?sub=purge-e2e", nil, &al)
	if len(al.Events) == 0 {
		t.Fatal("no audit rows left after purge")
	}
	for _, e := range al.Events {
		if e.Email != "" || e.IP != "" || e.UserAgent != "" {
			t.Errorf("audit row keeps personal data after purge: %+v", e)
		}
	}
	if last := al.Events[len(al.Events)-1]; last.Kind != sluice.AuditAdmin || last.Detail != "purge" {
		t.Errorf("last audit row %+v, want the purge itself", last)
	}
}

// TestAuditRecordsEachKind: a grant, completion, rejection, credential
// issue, deletion and admin action each leave a row, with who, where from
// and what; `sluice audit --sub --json` returns them.
func TestAuditRecordsEachKind(t *testing.T) {
	tok := tokenFor(t, "audit-e2e")
	f := presignedUpload(t, tok, 75)
	// A rejection: the bytes are not the declared type.
	up := grant(t, tok, httpapi.UploadRequest{ContentType: "image/png", Size: 5})
	put(t, up, up.Headers, []byte("hello"))
	if code, _, _ := complete(t, tok, up.ID); code == 200 {
		t.Fatal("a non-PNG completed")
	}
	assume(t, tok)
	if code, _ := api(t, tok, "DELETE", "/v1/files/"+f.ID, nil, nil); code != 204 {
		t.Fatalf("DELETE: %d", code)
	}
	sluiceOK(t, adminEnv(t), "admin", "unban", "audit-e2e")

	out := sluiceOK(t, adminEnv(t), "audit", "--sub", "audit-e2e", "--since", "1h", "--json")
	kinds := map[string]sluice.AuditEvent{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var e sluice.AuditEvent
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("audit --json line %q: %v", line, err)
		}
		kinds[e.Kind+":"+e.Outcome] = e
	}
	for _, want := range []string{"grant:ok", "complete:ok", "reject:" + string(sluice.CodeContentMismatch), "credential:ok", "delete:ok", "admin:ok"} {
		if _, ok := kinds[want]; !ok {
			t.Errorf("no %s audit row; got %v", want, keys(kinds))
		}
	}
	g := kinds["grant:ok"]
	if g.Email != "audit-e2e@example.com" || g.IP != "127.0.0.1" || g.UserAgent != "sluice-e2e/1" || g.Key == "" || g.Size == 0 {
		t.Errorf("grant row %+v lacks email, IP, user agent, key or size", g)
	}
	if c := kinds["complete:ok"]; c.SHA256 != f.SHA256 || c.Key != f.Key || c.Size != f.Size {
		t.Errorf("complete row %+v, want the file's key, size and sha256", c)
	}
	if code, out, _ := sluiceCmd(t, map[string]string{"SLUICE_SERVER": srv.APIURL, "SLUICE_ADMIN_TOKEN": "nope"}, "audit"); code == 0 || out != "" {
		t.Errorf("sluice audit with a wrong token: exit %d", code)
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
