package ledgertest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
)

// RunSlots runs the conformance suite of sluice.SlotLedger: the shared count
// behind the per-user limit on concurrent uploads. open must return a
// working, empty ledger that implements it.
func RunSlots(t *testing.T, open func(t *testing.T) sluice.Ledger) {
	slots := func(t *testing.T) sluice.SlotLedger {
		return capability[sluice.SlotLedger](t, opened(t, open))
	}
	t.Run("LimitHoldsUnderConcurrency", func(t *testing.T) { testSlotsConcurrent(t, slots(t)) })
	t.Run("ExpiredAndReleasedSlotsFree", func(t *testing.T) { testSlotsLifecycle(t, slots(t)) })
}

func randomOwner() sluice.Owner {
	b := make([]byte, 6)
	rand.Read(b)
	return sluice.Owner{Issuer: "https://issuer.test/" + hex.EncodeToString(b), Subject: "u" + hex.EncodeToString(b)}
}

func slotID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// N callers race for a user's slots: exactly limit win, whatever the
// interleaving, and another user is not affected.
func testSlotsConcurrent(t *testing.T, l sluice.SlotLedger) {
	ctx := context.Background()
	o, other := randomOwner(), randomOwner()
	now := time.Now().UTC()
	const limit, callers = 3, 16
	var won, full atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < callers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := l.AcquireSlot(ctx, o, slotID(), limit, now, now.Add(time.Minute))
			switch {
			case err == nil:
				won.Add(1)
			case sluice.IsCode(err, sluice.CodeTooManyUploads):
				full.Add(1)
			default:
				t.Errorf("AcquireSlot: %v", err)
			}
		}()
	}
	wg.Wait()
	if won.Load() != limit || full.Load() != callers-limit {
		t.Errorf("%d callers at a limit of %d: %d won, %d refused", callers, limit, won.Load(), full.Load())
	}
	if err := l.AcquireSlot(ctx, other, slotID(), limit, now, now.Add(time.Minute)); err != nil {
		t.Errorf("another user was refused: %v", err)
	}
}

func testSlotsLifecycle(t *testing.T, l sluice.SlotLedger) {
	ctx := context.Background()
	o := randomOwner()
	now := time.Now().UTC()
	a, b := slotID(), slotID()
	if err := l.AcquireSlot(ctx, o, a, 2, now, now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := l.AcquireSlot(ctx, o, b, 2, now, now.Add(10*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := l.AcquireSlot(ctx, o, slotID(), 2, now, now.Add(time.Minute)); !sluice.IsCode(err, sluice.CodeTooManyUploads) {
		t.Fatalf("third slot at a limit of 2: %v, want too_many_uploads", err)
	}
	// b's lease runs out unless renewed: renew it, and it still counts.
	if err := l.RenewSlot(ctx, b, now.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	later := now.Add(30 * time.Second)
	if err := l.AcquireSlot(ctx, o, slotID(), 2, later, later.Add(time.Minute)); !sluice.IsCode(err, sluice.CodeTooManyUploads) {
		t.Errorf("a renewed slot stopped counting: %v", err)
	}
	// a is released: its place is free.
	if err := l.ReleaseSlot(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := l.ReleaseSlot(ctx, a); err != nil {
		t.Errorf("second release: %v", err)
	}
	c := slotID()
	if err := l.AcquireSlot(ctx, o, c, 2, later, later.Add(time.Minute)); err != nil {
		t.Errorf("slot after a release: %v", err)
	}
	// Much later every lease has run out (an instance that died holding
	// them): the user is not locked out.
	muchLater := now.Add(time.Hour)
	for i := 0; i < 2; i++ {
		if err := l.AcquireSlot(ctx, o, slotID(), 2, muchLater, muchLater.Add(time.Minute)); err != nil {
			t.Errorf("slot %d after the leases ran out: %v", i, err)
		}
	}
	if err := l.RenewSlot(ctx, b, muchLater.Add(time.Minute)); !sluice.IsCode(err, sluice.CodeNotFound) {
		t.Errorf("renewing a slot that expired and was cleared: %v, want not_found", err)
	}
}
