-- 0005: upload slots, so the per-user limit on concurrent uploads through
-- sluice holds across instances. A slot is a lease renewed while its upload
-- runs; an expired slot no longer counts.
CREATE TABLE upload_slots (
	id         TEXT    PRIMARY KEY,
	issuer     TEXT    NOT NULL,
	subject    TEXT    NOT NULL,
	expires_at INTEGER NOT NULL
);
CREATE INDEX upload_slots_owner ON upload_slots (issuer, subject, expires_at);
