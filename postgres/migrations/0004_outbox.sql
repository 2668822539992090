-- 0004: the transactional outbox of webhook events, and the reconciler's
-- lookup of pending grants by key. Mirrors sqlite/migrations/0004_outbox.sql.
--
-- Same conventions as 0001: times are timestamptz; optional text is ''
-- rather than NULL. An event row is written in the transaction of the
-- change it reports (a grant finished, a file deleted, a user banned);
-- delivered_at is NULL until a receiver acknowledged it. next_attempt is
-- also the lease: a deliverer that takes an event (FOR UPDATE SKIP LOCKED)
-- moves it forward, so no other instance takes it meanwhile. data is the
-- JSON payload as text, byte for byte what was signed.

CREATE TABLE outbox (
	id           TEXT        PRIMARY KEY,
	type         TEXT        NOT NULL,
	created_at   TIMESTAMPTZ NOT NULL,
	data         TEXT        NOT NULL,
	attempts     INTEGER     NOT NULL DEFAULT 0,
	next_attempt TIMESTAMPTZ NOT NULL,
	delivered_at TIMESTAMPTZ,
	last_error   TEXT        NOT NULL DEFAULT ''
);

-- Due events: partial, so it holds only what is still to deliver.
CREATE INDEX outbox_due ON outbox (next_attempt) WHERE delivered_at IS NULL;

-- "Does a pending grant name this key?", asked for every object the
-- reconciler lists.
CREATE INDEX grants_pending_key ON grants (key) WHERE state = 'pending';
