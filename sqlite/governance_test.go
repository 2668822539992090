package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/ledgertest"
	"github.com/sluicehq/sluice/sqlite"
)

func TestQuotas(t *testing.T) {
	ledgertest.RunQuotas(t, func(t *testing.T) sluice.Ledger {
		l, err := sqlite.Open(filepath.Join(t.TempDir(), "ledger.db"))
		if err != nil {
			t.Fatal(err)
		}
		return l
	})
}
