package sluice

import (
	"context"
	"encoding/json"
	"time"
)

// EventType names what happened; receivers switch on it.
type EventType string

// Event types sent to webhooks. Names are a contract with receivers.
const (
	EventFileCompleted EventType = "file.completed"
	EventFileRejected  EventType = "file.rejected"
	EventFileDeleted   EventType = "file.deleted"
	EventUserBanned    EventType = "user.banned"
)

// Event is one entry of the transactional outbox: written in the same
// transaction as the change it reports, delivered at least once.
type Event struct {
	ID        string
	Type      EventType
	CreatedAt time.Time
	// Data is the event's JSON payload (the "data" of the webhook body).
	Data json.RawMessage
	// Attempts made so far and when the next one is due.
	Attempts    int
	NextAttempt time.Time
}

// Outbox is the ledger's queue of events awaiting delivery. Implementations
// must let several instances share it: an event handed to one deliverer is
// not handed to another until its lease runs out.
type Outbox interface {
	// DueEvents leases up to limit undelivered events whose next attempt
	// is due at now, oldest first, for lease.
	DueEvents(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]Event, error)
	// EventDelivered marks an event acknowledged by the receiver.
	EventDelivered(ctx context.Context, id string, at time.Time) error
	// EventFailed records a failed attempt and when to try again.
	EventFailed(ctx context.Context, id string, attempts int, next time.Time, reason string) error
}
