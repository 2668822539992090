package app_test

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

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
	var mu sync.Mutex
	var lat []time.Duration
	var n int
	b.SetParallelism(8) // 16 clients on 2 cores, as the grant benchmark
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		mu.Lock()
		n++
		form := url.Values{
			"Action": {"AssumeRoleWithWebIdentity"}, "Version": {sts.APIVersion}, "RoleArn": {sts.DefaultRoleARN},
			"RoleSessionName": {"bench"}, "WebIdentityToken": {tokenFor(b, fmt.Sprintf("sts-bench-%d", n))},
		}.Encode()
		mu.Unlock()
		local := make([]time.Duration, 0, 1024)
		for pb.Next() {
			t0 := time.Now()
			req, _ := http.NewRequest("POST", srv.APIURL+"/sts", strings.NewReader(form))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, err := hc.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
			local = append(local, time.Since(t0))
		}
		mu.Lock()
		lat = append(lat, local...)
		mu.Unlock()
	})
	elapsed := time.Since(start)
	b.StopTimer()
	if len(lat) == 0 {
		return
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "calls/s")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
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
