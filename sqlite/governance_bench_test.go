package sqlite

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
)

// BenchmarkCreateGrantWithin is BenchmarkCreateGrantParallel's 16 callers
// through admission, at the default rate limits (out of reach) with and
// without quotas: what governance adds to the writer's work per grant.
//
//	go test -run '^$' -bench 'CreateGrant(Within|Parallel/goroutines=16)' ./sqlite/
func BenchmarkCreateGrantWithin(b *testing.B) {
	for _, c := range []struct {
		name string
		lim  sluice.Limits
	}{{"rate-only", sluice.Limits{}}, {"quotas", sluice.Limits{FilesPerDay: 1000, BytesPerDay: 1 << 40, StoredBytes: 1 << 50, PendingGrants: 1000}}} {
		b.Run(c.name, func(b *testing.B) {
			l := openBench(b)
			ctx := context.Background()
			a := sluice.Admission{Limits: c.lim, Rate: sluice.RateLimits{PerUserPerMinute: 1 << 40, PerIPPerMinute: 1 << 40}}
			b.ReportAllocs()
			b.SetParallelism(8)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					a := a
					a.Now = time.Now()
					g := benchGrant()
					// 1000 users, so that each has a realistic day of grants.
					g.Subject = fmt.Sprint("user", rand.IntN(1000))
					if err := l.CreateGrantWithin(ctx, g, a); err != nil {
						b.Error(err)
						return
					}
				}
			})
			reportInserts(b)
		})
	}
}
