package sqlite

import (
	"testing"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/ledgertest"
)

func TestGovernanceLedger(t *testing.T) {
	ledgertest.RunGovernance(t, func(t *testing.T) sluice.Ledger { return openTemp(t) })
}
