-- 0003: governance — users (bans, quota overrides), the append-only audit
-- log and the shared rate-limit counters.
--
-- Times are INTEGER Unix microseconds, UTC, as in 0001 and 0002. Quota
-- overrides are NULL when the user has none (the deployment's limit holds).

CREATE TABLE users (
	issuer                 TEXT    NOT NULL,
	subject                TEXT    NOT NULL,
	banned_at              INTEGER,
	ban_reason             TEXT    NOT NULL DEFAULT '',
	quota_bytes_per_day    INTEGER,
	quota_files_per_day    INTEGER,
	quota_stored_bytes     INTEGER,
	quota_pending_grants   INTEGER,
	PRIMARY KEY (issuer, subject)
);

-- Append-only: rows are never updated, except that erasing a user (purge)
-- blanks email, ip and user_agent. outcome is 'ok' or an error code. No
-- AUTOINCREMENT: rows are never deleted, so ids are never reused anyway,
-- and it would cost a write to sqlite_sequence per row. One index only,
-- by subject: each index is a write on the grant hot path.
CREATE TABLE audit (
	id         INTEGER PRIMARY KEY,
	at         INTEGER NOT NULL,
	kind       TEXT    NOT NULL,
	issuer     TEXT    NOT NULL DEFAULT '',
	subject    TEXT    NOT NULL DEFAULT '',
	email      TEXT    NOT NULL DEFAULT '',
	ip         TEXT    NOT NULL DEFAULT '',
	user_agent TEXT    NOT NULL DEFAULT '',
	key        TEXT    NOT NULL DEFAULT '',
	size       INTEGER NOT NULL DEFAULT 0,
	sha256     TEXT    NOT NULL DEFAULT '',
	outcome    TEXT    NOT NULL,
	detail     TEXT    NOT NULL DEFAULT ''
);

CREATE INDEX audit_subject ON audit (subject, at);

-- Fixed-window request counters ("u:<iss> <sub>", "ip:<addr>"), one row per
-- key and window; old windows are deleted as new ones start.
CREATE TABLE rate_limits (
	key          TEXT    NOT NULL,
	window_start INTEGER NOT NULL,
	count        INTEGER NOT NULL,
	PRIMARY KEY (key, window_start)
);

-- No new index on grants: quotas count a user's grants through
-- grants_owner (issuer, subject, created_at), bounded by the day or by
-- sluice.PendingHorizon, and another index would be another write on the
-- grant hot path.
