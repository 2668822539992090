package postgres_test

import (
	"context"
	"fmt"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/testutil"
	"github.com/sluicehq/sluice/postgres"
)

// benchGrant is a grant as the service issues it (the SQLite ledger's
// benchmark uses the same one).
func benchGrant() *sluice.Grant {
	id := strings.ToLower(ulid.Make().String())
	now := time.Now().UTC().Truncate(time.Second)
	return &sluice.Grant{
		ID: id, Key: "users/Xb3kQ9pL2mN7vR4tY8wZ1aC5dE6f/" + id + ".jpg", Method: sluice.MethodPUT,
		Issuer: "https://securetoken.google.com/sluice-bench", Subject: "Xb3kQ9pL2mN7vR4tY8wZ1aC5dE6f",
		Email: "someone@example.com", Filename: "IMG_20250314_150926.jpg", ContentType: "image/jpeg",
		Size: 2_345_678, SHA256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
		ClientIP:  "203.0.113.45",
		UserAgent: "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
		CreatedAt: now, ExpiresAt: now.Add(5 * time.Minute), State: sluice.GrantPending,
	}
}

func openBench(b *testing.B, maxConns int) *postgres.Ledger {
	b.Helper()
	u, _ := url.Parse(testutil.PostgresDSN(b))
	q := u.Query()
	q.Set("pool_max_conns", fmt.Sprint(maxConns))
	u.RawQuery = q.Encode()
	l := open(b, u.String())
	b.Cleanup(func() { l.Close() })
	return l
}

func reportInserts(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "inserts/s")
}

// BenchmarkCreateGrantSerial is one caller at a time: every grant pays a
// round trip and a commit of its own.
//
//	go test -run '^$' -bench . -benchmem ./postgres/
func BenchmarkCreateGrantSerial(b *testing.B) {
	l := openBench(b, 4)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := l.CreateGrant(ctx, benchGrant()); err != nil {
			b.Fatal(err)
		}
	}
	reportInserts(b)
}

// BenchmarkCreateGrantParallel is many requests issuing grants at once;
// goroutines is the number of callers, conns the pool size.
func BenchmarkCreateGrantParallel(b *testing.B) {
	for _, conns := range []int{4, 16} {
		for _, perProc := range []int{1, 8, 64} {
			l := openBench(b, conns)
			b.Run(fmt.Sprintf("conns=%d/goroutines=%d", conns, perProc*runtime.GOMAXPROCS(0)), func(b *testing.B) {
				ctx := context.Background()
				b.ReportAllocs()
				b.SetParallelism(perProc)
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if err := l.CreateGrant(ctx, benchGrant()); err != nil {
							b.Error(err)
							return
						}
					}
				})
				reportInserts(b)
			})
		}
	}
}
