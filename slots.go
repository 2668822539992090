package sluice

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync"
	"time"
)

// SlotLedger keeps upload slots in the shared ledger, so that every
// instance counts a user's concurrent uploads the same.
type SlotLedger interface {
	// AcquireSlot records slot id for o until expires, unless o already
	// holds limit slots that are live at now: then CodeTooManyUploads.
	// The count and the insert are one atomic step.
	AcquireSlot(ctx context.Context, o Owner, id string, limit int, now, expires time.Time) error
	// RenewSlot moves a held slot's expiry; CodeNotFound if it is gone.
	RenewSlot(ctx context.Context, id string, expires time.Time) error
	// ReleaseSlot frees a slot; releasing a missing slot is not an error.
	ReleaseSlot(ctx context.Context, id string) error
}

// LedgerLimiter is an UploadLimiter over a SlotLedger. A slot is a lease:
// it is renewed while its upload runs, so one held by an instance that died
// frees itself when the lease runs out.
type LedgerLimiter struct {
	Ledger  SlotLedger
	PerUser int
	// Lease is how long a slot outlives its last renewal. Default 1 min.
	Lease time.Duration
	Now   func() time.Time
}

var _ UploadLimiter = (*LedgerLimiter)(nil)

func (l *LedgerLimiter) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

func (l *LedgerLimiter) lease() time.Duration {
	if l.Lease > 0 {
		return l.Lease
	}
	return time.Minute
}

// Acquire takes one of o's slots in the ledger and renews it every half
// lease until release is called.
func (l *LedgerLimiter) Acquire(ctx context.Context, o Owner) (func(), error) {
	b := make([]byte, 12)
	rand.Read(b)
	id := hex.EncodeToString(b)
	now := l.now()
	if err := l.Ledger.AcquireSlot(ctx, o, id, l.PerUser, now, now.Add(l.lease())); err != nil {
		return nil, err
	}
	stop := make(chan struct{})
	go l.renew(id, stop)
	var once sync.Once
	return func() {
		once.Do(func() {
			close(stop)
			// The upload's own context may be cancelled already (a client
			// that went away); the slot must be freed all the same.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			l.Ledger.ReleaseSlot(ctx, id)
		})
	}, nil
}

func (l *LedgerLimiter) renew(id string, stop <-chan struct{}) {
	t := time.NewTicker(l.lease() / 2)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), l.lease()/4)
			l.Ledger.RenewSlot(ctx, id, l.now().Add(l.lease()))
			cancel()
		}
	}
}
