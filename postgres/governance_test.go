package postgres_test

import (
	"testing"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/testutil"
	"github.com/sluicehq/sluice/ledgertest"
)

func TestQuotas(t *testing.T) {
	dsn := testutil.PostgresDSN(t)
	ledgertest.RunQuotas(t, func(t *testing.T) sluice.Ledger { return open(t, dsn) })
}
