package app_test

import (
	"context"
	"fmt"
	"net/url"
	"testing"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/testutil"
	"github.com/sluicehq/sluice/postgres"
)

// BenchmarkGrantIssuancePostgres is BenchmarkGrantIssuance with the
// Postgres ledger in place of SQLite: same HTTP API, token checks, store
// signer and 16 clients; the database named by SLUICE_TEST_POSTGRES, with
// the pool at pgxpool's default size on 2 cores (4) and at 16.
//
//	SLUICE_TEST_POSTGRES=postgres://... go test -run '^$' -bench GrantIssuance -benchmem ./app/
func BenchmarkGrantIssuancePostgres(b *testing.B) {
	dsn := testutil.PostgresDSN(b)
	for _, conns := range []int{4, 16} {
		u, _ := url.Parse(dsn)
		q := u.Query()
		q.Set("pool_max_conns", fmt.Sprint(conns))
		u.RawQuery = q.Encode()
		l, err := postgres.Open(context.Background(), u.String())
		if err != nil {
			b.Fatal(err)
		}
		svc := &sluice.Service{Store: srv.Service.Store, Ledger: l, Policy: srv.Service.Policy, Log: srv.Service.Log}
		for _, c := range []struct {
			name  string
			cache int
		}{{"verify-every-request", -1}, {"cached-token", 0}} {
			b.Run(fmt.Sprintf("conns=%d/%s", conns, c.name), func(b *testing.B) { benchGrantsOn(b, svc, c.cache) })
		}
		l.Close()
	}
}
