package sqlite

import (
	"testing"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/ledgertest"
)

func TestCredentialLedger(t *testing.T) {
	ledgertest.RunCredentials(t, func(t *testing.T) sluice.Ledger {
		return openTemp(t)
	})
}

func TestSlotLedger(t *testing.T) {
	ledgertest.RunSlots(t, func(t *testing.T) sluice.Ledger { return openTemp(t) })
}
