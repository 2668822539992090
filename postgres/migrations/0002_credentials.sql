-- 0002: temporary credentials issued by the STS endpoint, and revocations.
-- Mirrors sqlite/migrations/0002_credentials.sql.
--
-- Same conventions as 0001: times are timestamptz; optional text is ''
-- rather than NULL. revoked_at is NULL until the credential is revoked.
--
-- The credentials themselves are not stored: the secret is derived from
-- the access key id with the master key, and the session token carries the
-- claims. This table is the record of who got what, and where a revocation
-- is looked up, by every instance.

CREATE TABLE credentials (
	access_key_id TEXT        PRIMARY KEY,
	issuer        TEXT        NOT NULL,
	subject       TEXT        NOT NULL,
	email         TEXT        NOT NULL DEFAULT '',
	role_arn      TEXT        NOT NULL,
	session_name  TEXT        NOT NULL,
	bucket        TEXT        NOT NULL,
	key_prefix    TEXT        NOT NULL,
	client_ip     TEXT        NOT NULL DEFAULT '',
	user_agent    TEXT        NOT NULL DEFAULT '',
	issued_at     TIMESTAMPTZ NOT NULL,
	expires_at    TIMESTAMPTZ NOT NULL,
	revoked_at    TIMESTAMPTZ
);

-- A user's credentials, newest first (audit, "revoke all of alice's").
CREATE INDEX credentials_owner ON credentials (issuer, subject, issued_at);

-- "Every credential of this user issued before revoked_before is void",
-- and so is every web identity token issued before it: one row per user,
-- replaced by each new revocation.
CREATE TABLE subject_revocations (
	issuer         TEXT        NOT NULL,
	subject        TEXT        NOT NULL,
	revoked_before TIMESTAMPTZ NOT NULL,
	PRIMARY KEY (issuer, subject)
);
