package app_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sts"
)

// BenchmarkAssumeRoleWithWebIdentity measures POST /sts over HTTP on
// loopback against the running server: form parsing, token verification
// (cached after a client's first call, as for grants), role checks, the
// subject's revocation read, sealing the session and the ledger insert,
// and the XML answer. It reports calls/s and latency percentiles.
//
//	go test -run '^$' -bench AssumeRoleWithWebIdentity -benchmem ./app/
func BenchmarkAssumeRoleWithWebIdentity(b *testing.B) {
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	defer hc.CloseIdleConnections()
	httpLoad(b, hc, "calls/s", http.StatusOK, func(n int) func() *http.Request {
		form := url.Values{
			"Action": {"AssumeRoleWithWebIdentity"}, "Version": {sts.APIVersion}, "RoleArn": {sts.DefaultRoleARN},
			"RoleSessionName": {"bench"}, "WebIdentityToken": {tokenFor(b, fmt.Sprintf("sts-bench-%d", n))},
		}.Encode()
		return func() *http.Request {
			req, _ := http.NewRequest("POST", srv.APIURL+"/sts", strings.NewReader(form))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return req
		}
	})
}

// BenchmarkSTSSessionCheck is the cost the embedded store pays per request
// signed with session credentials, twice (signing key, then policy):
// open the token, check expiry and the cached revocation.
//
//	go test -run '^$' -bench STSSessionCheck -benchmem ./app/
func BenchmarkSTSSessionCheck(b *testing.B) {
	res, err := srv.STS.AssumeRoleWithWebIdentity(b.Context(), sts.Request{
		RoleARN: sts.DefaultRoleARN, RoleSessionName: "bench", WebIdentityToken: tokenFor(b, "session-bench"),
	}, sluice.RequestMeta{})
	if err != nil {
		b.Fatal(err)
	}
	akid, tok := res.Credentials.AccessKeyID, res.Credentials.SessionToken
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		s, err := srv.STS.Session(akid, tok)
		if err != nil {
			b.Fatal(err)
		}
		if !s.Allowed("s3:PutObject", "arn:aws:s3:::sluice/users/session-bench/x.jpg", nil) {
			b.Fatal("refused")
		}
	}
}
