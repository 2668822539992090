-- 0001: grants and files. Mirrors sqlite/migrations/0001_init.sql: same
-- version, same tables, columns, constraints and indexes.
--
-- Times are timestamptz (microseconds, UTC instants), the precision SQLite's
-- INTEGER microseconds were chosen to match, so both ledgers store and order
-- the same instants. Optional text is '' rather than NULL, so that no column
-- has two spellings of "none". finished_at is NULL while the grant is
-- pending.

CREATE TABLE grants (
	id            TEXT        PRIMARY KEY,
	key           TEXT        NOT NULL,
	method        TEXT        NOT NULL,
	issuer        TEXT        NOT NULL,
	subject       TEXT        NOT NULL,
	email         TEXT        NOT NULL DEFAULT '',
	filename      TEXT        NOT NULL DEFAULT '',
	content_type  TEXT        NOT NULL,
	size          BIGINT      NOT NULL,
	sha256        TEXT        NOT NULL DEFAULT '',
	client_ip     TEXT        NOT NULL DEFAULT '',
	user_agent    TEXT        NOT NULL DEFAULT '',
	created_at    TIMESTAMPTZ NOT NULL,
	expires_at    TIMESTAMPTZ NOT NULL,
	state         TEXT        NOT NULL
		CHECK (state IN ('pending', 'complete', 'rejected', 'expired')),
	reject_code   TEXT        NOT NULL DEFAULT '',
	reject_reason TEXT        NOT NULL DEFAULT '',
	finished_at   TIMESTAMPTZ
);

-- A user's grants, newest first (per-user history and issuance limits).
CREATE INDEX grants_owner ON grants (issuer, subject, created_at);

-- The reconciler's query: pending grants past their expiry. Partial, so it
-- holds only live grants and stays small however long the history grows.
CREATE INDEX grants_pending_expiry ON grants (expires_at) WHERE state = 'pending';

-- Files are hard-deleted: a file row is what exists now; what happened is
-- in grants.
CREATE TABLE files (
	id           TEXT        PRIMARY KEY,
	key          TEXT        NOT NULL UNIQUE,
	issuer       TEXT        NOT NULL,
	subject      TEXT        NOT NULL,
	filename     TEXT        NOT NULL DEFAULT '',
	content_type TEXT        NOT NULL,
	size         BIGINT      NOT NULL,
	sha256       TEXT        NOT NULL DEFAULT '',
	etag         TEXT        NOT NULL DEFAULT '',
	created_at   TIMESTAMPTZ NOT NULL
);

-- Listing: one user's files by (created_at, id) descending, the cursor's key.
CREATE INDEX files_owner_created ON files (issuer, subject, created_at DESC, id DESC);
