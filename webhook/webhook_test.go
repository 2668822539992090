package webhook_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/webhook"
)

const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// memOutbox is a test fixture holding events in memory; the ledgers'
// outboxes are tested against the same contract in ledgertest.
type memOutbox struct {
	mu     sync.Mutex
	events map[string]*sluice.Event
	done   map[string]bool
}

func (o *memOutbox) DueEvents(_ context.Context, now time.Time, limit int, lease time.Duration) ([]sluice.Event, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []sluice.Event
	for _, e := range o.events {
		if !o.done[e.ID] && !e.NextAttempt.After(now) {
			out = append(out, *e)
			e.NextAttempt = now.Add(lease)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out, nil
}

func (o *memOutbox) EventDelivered(_ context.Context, id string, _ time.Time) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.done[id] = true
	return nil
}

func (o *memOutbox) EventFailed(_ context.Context, id string, attempts int, next time.Time, _ string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.events[id].Attempts, o.events[id].NextAttempt = attempts, next
	return nil
}

func TestDeliveryRetriesUntilReceiverIsBack(t *testing.T) {
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	ob := &memOutbox{events: map[string]*sluice.Event{}, done: map[string]bool{}}
	for i, typ := range []sluice.EventType{sluice.EventFileCompleted, sluice.EventFileDeleted} {
		id := []string{"evt_1", "evt_2"}[i]
		ob.events[id] = &sluice.Event{ID: id, Type: typ, CreatedAt: now.Add(time.Duration(i) * time.Second), Data: json.RawMessage(`{"id":"f1"}`), NextAttempt: now}
	}

	var down atomic.Bool
	down.Store(true)
	verifier, _ := standardwebhooks.NewWebhook(secret)
	var mu sync.Mutex
	got := map[string]int{}
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		body, _ := io.ReadAll(r.Body)
		if err := verifier.VerifyIgnoringTimestamp(body, r.Header); err != nil {
			t.Errorf("signature does not verify: %v", err)
			http.Error(w, "bad signature", 400)
			return
		}
		var b webhook.Body
		json.Unmarshal(body, &b)
		mu.Lock()
		got[r.Header.Get("webhook-id")]++
		mu.Unlock()
	}))
	defer rcv.Close()

	d, err := webhook.New(webhook.Config{URL: rcv.URL, Secret: secret, MinBackoff: 5 * time.Second, MaxBackoff: 40 * time.Second}, ob, nil)
	if err != nil {
		t.Fatal(err)
	}
	d.Now = func() time.Time { return now }
	ctx := context.Background()

	// Down: every pass fails, and each failure pushes the next try out,
	// doubling: 5, 10, 20, 40, 40 s.
	wantWaits := []time.Duration{5, 10, 20, 40, 40}
	for i, w := range wantWaits {
		if n, err := d.DeliverDue(ctx); err != nil || n != 0 {
			t.Fatalf("pass %d while down: %d delivered, %v", i, n, err)
		}
		if next := ob.events["evt_1"].NextAttempt.Sub(now); next != w*time.Second {
			t.Errorf("after failure %d, next attempt in %s, want %s", i+1, next, w*time.Second)
		}
		if n, _ := d.DeliverDue(ctx); n != 0 {
			t.Error("an event was retried before its backoff ran out")
		}
		now = now.Add(w * time.Second)
	}

	down.Store(false)
	if n, err := d.DeliverDue(ctx); err != nil || n != 2 {
		t.Fatalf("receiver back: %d delivered, %v", n, err)
	}
	if n, _ := d.DeliverDue(ctx); n != 0 {
		t.Errorf("%d events delivered again after acknowledgement", n)
	}
	if got["evt_1"] != 1 || got["evt_2"] != 1 {
		t.Errorf("receiver got %v, want each event once after it came back", got)
	}
}

func TestConfigRefusesBadSecret(t *testing.T) {
	for _, s := range []string{"", "whsec_", "whsec_not base64!"} {
		if _, err := webhook.New(webhook.Config{URL: "http://127.0.0.1:1", Secret: s}, nil, nil); err == nil {
			t.Errorf("secret %q accepted", s)
		}
	}
}
