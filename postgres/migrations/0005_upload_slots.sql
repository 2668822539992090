-- 0005: upload slots, so the per-user limit on concurrent uploads through
-- sluice holds across instances. Mirrors sqlite/migrations/0005.
CREATE TABLE upload_slots (
	id         TEXT        PRIMARY KEY,
	issuer     TEXT        NOT NULL,
	subject    TEXT        NOT NULL,
	expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX upload_slots_owner ON upload_slots (issuer, subject, expires_at);
