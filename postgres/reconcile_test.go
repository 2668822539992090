package postgres_test

import (
	"testing"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/testutil"
	"github.com/sluicehq/sluice/ledgertest"
)

func TestGovernanceLedger(t *testing.T) {
	dsn := testutil.PostgresDSN(t)
	ledgertest.RunGovernance(t, func(t *testing.T) sluice.Ledger { return open(t, dsn) })
}
