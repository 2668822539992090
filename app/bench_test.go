package app_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/httpapi"
	"github.com/sluicehq/sluice/oidc"
)

// BenchmarkGrantIssuance measures POST /v1/uploads over HTTP on loopback:
// token verification, policy, presign and the ledger insert, with the
// real embedded store's signer and the real SQLite ledger. It reports
// grants/s and latency percentiles.
//
//	go test -run '^$' -bench GrantIssuance -benchmem ./app/
func BenchmarkGrantIssuance(b *testing.B) {
	for _, c := range []struct {
		name  string
		cache int
	}{{"verify-every-request", -1}, {"cached-token", 0}} {
		b.Run(c.name, func(b *testing.B) { benchGrants(b, c.cache) })
	}
}

func benchGrants(b *testing.B, cacheSize int) { benchGrantsOn(b, srv.Service, cacheSize) }

// benchGrantsOn measures grant issuance through svc (whose store and ledger
// vary between benchmarks) behind the real HTTP API.
func benchGrantsOn(b *testing.B, svc *sluice.Service, cacheSize int) {
	v, err := oidc.New(oidc.Config{Issuers: []oidc.IssuerConfig{srv.Dev.IssuerConfig()}, CacheSize: cacheSize})
	if err != nil {
		b.Fatal(err)
	}
	api := httpapi.New(svc, v, slog.New(slog.NewTextHandler(io.Discard, nil)), httpapi.Options{})
	ts := httptest.NewServer(api)
	defer ts.Close()
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	body, _ := json.Marshal(httpapi.UploadRequest{Filename: "a.jpg", ContentType: "image/jpeg", Size: 123456,
		SHA256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"})

	defer hc.CloseIdleConnections()
	httpLoad(b, hc, "grants/s", http.StatusCreated, func(n int) func() *http.Request {
		tok := tokenFor(b, fmt.Sprintf("bench-%d", n))
		return func() *http.Request {
			req, _ := http.NewRequest("POST", ts.URL+"/v1/uploads", bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+tok)
			req.Header.Set("Content-Type", "application/json")
			return req
		}
	})
}

// httpLoad sends requests from 16 parallel clients (on 2 cores: a server
// under load) until b.N, and reports the rate in unit with p50 and p99
// latency. client is called once per client, with its number, and returns
// how that client builds one request; every answer must have status want.
func httpLoad(b *testing.B, hc *http.Client, unit string, want int, client func(n int) func() *http.Request) {
	var mu sync.Mutex
	var lat []time.Duration
	var n int
	b.SetParallelism(8)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		mu.Lock()
		n++
		next := client(n)
		mu.Unlock()
		local := make([]time.Duration, 0, 1024)
		for pb.Next() {
			t0 := time.Now()
			resp, err := hc.Do(next())
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != want {
				b.Errorf("status %d, want %d", resp.StatusCode, want)
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
	b.ReportMetric(float64(len(lat))/elapsed.Seconds(), unit)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}
