// Package webhook delivers sluice's outbox events to an HTTP receiver,
// signed the Standard Webhooks way (webhook-id, webhook-timestamp and
// webhook-signature headers, HMAC-SHA256), retrying with exponential
// backoff until the receiver acknowledges with a 2xx.
package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/sluicehq/sluice"
)

// Config of one receiver.
type Config struct {
	// URL receives a POST per event.
	URL string `yaml:"url" json:"url"`
	// Secret is the signing secret, "whsec_" followed by base64.
	Secret string `yaml:"secret" json:"-"`
	// Timeout of one delivery attempt. Default 10 s.
	Timeout time.Duration `yaml:"timeout" json:"timeout"`
	// MinBackoff and MaxBackoff bound the wait between attempts, which
	// doubles from the one to the other. Defaults 5 s and 1 h.
	MinBackoff time.Duration `yaml:"min_backoff" json:"min_backoff"`
	MaxBackoff time.Duration `yaml:"max_backoff" json:"max_backoff"`
	// Interval between polls of the outbox. Default 1 s.
	Interval time.Duration `yaml:"interval" json:"interval"`
}

// Dispatcher takes due events from the outbox and delivers them.
type Dispatcher struct {
	cfg    Config
	outbox sluice.Outbox
	signer *standardwebhooks.Webhook
	client *http.Client
	log    *slog.Logger
	// Now is the clock; tests inject one.
	Now func() time.Time
}

// New checks cfg and returns a dispatcher for it.
func New(cfg Config, outbox sluice.Outbox, log *slog.Logger) (*Dispatcher, error) {
	if cfg.URL == "" {
		return nil, fmt.Errorf("webhook.url: a receiver URL is required")
	}
	signer, err := standardwebhooks.NewWebhook(cfg.Secret)
	if err != nil {
		return nil, fmt.Errorf("webhook.secret: must be whsec_ followed by base64: %w", err)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.Timeout, 10*time.Second)
	def(&cfg.MinBackoff, 5*time.Second)
	def(&cfg.MaxBackoff, time.Hour)
	def(&cfg.Interval, time.Second)
	if log == nil {
		log = slog.Default()
	}
	return &Dispatcher{cfg: cfg, outbox: outbox, signer: signer, client: &http.Client{Timeout: cfg.Timeout}, log: log, Now: time.Now}, nil
}

// Run delivers due events every Interval until ctx ends.
func (d *Dispatcher) Run(ctx context.Context) {
	t := time.NewTicker(d.cfg.Interval)
	defer t.Stop()
	for {
		if _, err := d.DeliverDue(ctx); err != nil && ctx.Err() == nil {
			d.log.Warn("webhook outbox", "error", err.Error())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// DeliverDue makes one pass over the due events and returns how many were
// acknowledged. A receiver that fails gets the event again after a backoff.
func (d *Dispatcher) DeliverDue(ctx context.Context) (int, error) {
	events, err := d.outbox.DueEvents(ctx, d.Now(), 100, 2*d.cfg.Timeout)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, e := range events {
		if err := d.deliver(ctx, e); err != nil {
			attempts := e.Attempts + 1
			next := d.Now().Add(d.backoff(attempts))
			d.log.Info("webhook delivery failed", "event", e.ID, "type", string(e.Type), "attempt", attempts, "retry_at", next, "error", err.Error())
			if err := d.outbox.EventFailed(ctx, e.ID, attempts, next, err.Error()); err != nil {
				return n, err
			}
			continue
		}
		if err := d.outbox.EventDelivered(ctx, e.ID, d.Now()); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// backoff is MinBackoff doubled per earlier attempt, capped at MaxBackoff.
func (d *Dispatcher) backoff(attempts int) time.Duration {
	b := d.cfg.MinBackoff
	for i := 1; i < attempts && b < d.cfg.MaxBackoff; i++ {
		b *= 2
	}
	return min(b, d.cfg.MaxBackoff)
}

// Body is the JSON sent for an event, per Standard Webhooks.
type Body struct {
	Type      sluice.EventType `json:"type"`
	Timestamp time.Time        `json:"timestamp"`
	Data      json.RawMessage  `json:"data"`
}

func (d *Dispatcher) deliver(ctx context.Context, e sluice.Event) error {
	payload, err := json.Marshal(Body{Type: e.Type, Timestamp: e.CreatedAt.UTC(), Data: e.Data})
	if err != nil {
		return err
	}
	now := d.Now()
	sig, err := d.signer.Sign(e.ID, now, payload)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.cfg.URL, bytes.NewReader(payload))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(standardwebhooks.HeaderWebhookID, e.ID)
	req.Header.Set(standardwebhooks.HeaderWebhookTimestamp, strconv.FormatInt(now.Unix(), 10))
	req.Header.Set(standardwebhooks.HeaderWebhookSignature, sig)
	resp, err := d.client.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("receiver answered %d", resp.StatusCode)
	}
	return nil
}
