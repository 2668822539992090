package postgres

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice"
)

// Quotas, rate limits, bans and the audit log (migration 0003; times there
// are BIGINT Unix microseconds).
//
// CreateGrantWithin counts the request (an autocommit upsert, so the hot
// per-IP row is locked for one statement only, and the count stays even if
// the grant is refused), then, in one transaction, upserts and locks the
// user's row (SELECT ... FOR UPDATE) and counts and inserts under that
// lock: two grants of one user on any instances are admitted one after the
// other, so N parallel requests at a limit never overshoot it.

var (
	_ sluice.QuotaLedger = (*Ledger)(nil)
	_ sluice.AuditLedger = (*Ledger)(nil)
)

func userKey(o sluice.Owner) string { return "u:" + o.Issuer + " " + o.Subject }

// CreateGrantWithin records g if a admits it; see sluice.QuotaLedger.
func (l *Ledger) CreateGrantWithin(ctx context.Context, g *sluice.Grant, a sluice.Admission) error {
	if g.State != "" && g.State != sluice.GrantPending {
		return sluice.Errorf(sluice.CodeInternal, "ledger: a new grant must be pending, not %q", g.State)
	}
	now := a.Now.UTC()
	counted := false
	if a.Limits == (sluice.Limits{}) {
		// No deployment quota: one statement does it all, unless the user
		// turns out to have overrides to count against.
		verdict, err := l.grantFast(ctx, g, a)
		if err != nil {
			return l.fail(err, "record the upload")
		}
		switch verdict {
		case "ok":
			return nil
		case "rate_user":
			return sluice.RateLimitedError(now, "from this account")
		case "rate_ip":
			return sluice.RateLimitedError(now, "from this address")
		case "banned":
			return sluice.BannedError()
		}
		counted = true // "override": counted, not recorded; on to the full check
	}
	if a.Rate.PerUserPerMinute > 0 && !counted {
		n, err := l.Hit(ctx, userKey(g.Owner()), now)
		if err != nil {
			return err
		}
		if n > a.Rate.PerUserPerMinute {
			return sluice.RateLimitedError(now, "from this account")
		}
	}
	if a.Rate.PerIPPerMinute > 0 && g.ClientIP != "" && !counted {
		n, err := l.Hit(ctx, "ip:"+g.ClientIP, now)
		if err != nil {
			return err
		}
		if n > a.Rate.PerIPPerMinute {
			return sluice.RateLimitedError(now, "from this address")
		}
	}
	var refusal error
	err := pgx.BeginFunc(ctx, l.pool, func(tx pgx.Tx) error {
		refusal = nil
		u, err := user(ctx, tx, g.Owner(), false)
		if err != nil {
			return err
		}
		lim := u.Overrides.Apply(a.Limits)
		if u.BannedAt.IsZero() && lim != (sluice.Limits{}) {
			// Counting needs the user's lock: take it (creating the row
			// the first time), and read the row again under it.
			if _, err := tx.Exec(ctx, `INSERT INTO users (issuer, subject) VALUES ($1, $2) ON CONFLICT DO NOTHING`,
				g.Issuer, g.Subject); err != nil {
				return err
			}
			if u, err = user(ctx, tx, g.Owner(), true); err != nil {
				return err
			}
			lim = u.Overrides.Apply(a.Limits)
		}
		switch {
		case !u.BannedAt.IsZero():
			refusal = sluice.BannedError()
		case lim != (sluice.Limits{}):
			use, err := usage(ctx, tx, g.Owner(), now)
			if err != nil {
				return err
			}
			refusal = use.Check(lim, g.Size, now)
		}
		if refusal == nil {
			if _, err := tx.Exec(ctx, insertGrantSQL,
				g.ID, g.Key, g.Method, g.Issuer, g.Subject, g.Email, g.Filename, g.ContentType, g.Size, g.SHA256,
				g.ClientIP, g.UserAgent, g.CreatedAt.UTC(), g.ExpiresAt.UTC(), string(sluice.GrantPending),
				string(g.RejectCode), g.RejectReason, nullTime(g.FinishedAt)); err != nil {
				return err
			}
		}
		ev := sluice.GrantAudit(g, refusal)
		return appendAudit(ctx, tx, &ev)
	})
	if err != nil {
		return l.fail(err, "record the upload")
	}
	return refusal
}

// grantFastSQL is admission without quotas in one statement, so one round
// trip and one commit, as CreateGrant alone: count the request for the
// user's and the IP's keys ($18, with their limits in $19; a limit of 0
// is not counted), read the user's row, and record the grant and its
// audit row only if no limit was passed, the user is not banned and has
// no quota overrides (which need counting: the caller's full path). It
// answers the verdict: ok, rate_user, rate_ip, banned or override.
const grantFastSQL = `WITH r AS (
	INSERT INTO rate_limits (key, window_start, count)
	SELECT k, $20, 1 FROM unnest($18::text[]) AS k WHERE k <> ''
	ON CONFLICT (key, window_start) DO UPDATE SET count = rate_limits.count + 1
	RETURNING key, count
), lim AS (
	SELECT * FROM unnest($18::text[], $19::bigint[], ARRAY['rate_user', 'rate_ip']) AS l(key, max, verdict)
	WHERE key <> ''
), u AS (
	SELECT banned_at, (quota_bytes_per_day IS NOT NULL OR quota_files_per_day IS NOT NULL OR
		quota_stored_bytes IS NOT NULL OR quota_pending_grants IS NOT NULL) AS over
	FROM users WHERE issuer = $4 AND subject = $5
), v AS (
	SELECT COALESCE(
		(SELECT lim.verdict FROM r JOIN lim ON lim.key = r.key WHERE r.count > lim.max ORDER BY lim.verdict DESC LIMIT 1),
		(SELECT 'banned' FROM u WHERE banned_at IS NOT NULL),
		(SELECT 'override' FROM u WHERE over),
		'ok') AS verdict
), g AS (
	INSERT INTO grants (` + grantColumns + `)
	SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, 'pending', '', '', NULL
	FROM v WHERE verdict = 'ok'
	RETURNING id
), a AS (
	INSERT INTO audit (at, kind, issuer, subject, email, ip, user_agent, key, size, sha256, outcome, detail)
	SELECT $15, 'grant', $4, $5, $6, $11, $12, $2, $9, $10, CASE verdict WHEN 'ok' THEN 'ok' ELSE $16 END, $17
	FROM v WHERE verdict IN ('ok', 'banned')
)
SELECT verdict FROM v`

func (l *Ledger) grantFast(ctx context.Context, g *sluice.Grant, a sluice.Admission) (string, error) {
	now := a.Now.UTC()
	if err := l.prune(ctx, now); err != nil {
		return "", err
	}
	keys, maxes := []string{}, []int64{}
	// Both keys always appear, in order, so lim's verdicts line up; a key
	// of "" with limit 0 is never counted (no row has key "").
	uk, ul := userKey(g.Owner()), a.Rate.PerUserPerMinute
	ik, il := "ip:"+g.ClientIP, a.Rate.PerIPPerMinute
	if ul <= 0 {
		uk = ""
	}
	if il <= 0 || g.ClientIP == "" {
		ik = ""
	}
	keys, maxes = append(keys, uk, ik), append(maxes, ul, il)
	ev := sluice.GrantAudit(g, nil)
	var verdict string
	err := l.pool.QueryRow(ctx, grantFastSQL,
		g.ID, g.Key, g.Method, g.Issuer, g.Subject, g.Email, g.Filename, g.ContentType, g.Size, g.SHA256,
		g.ClientIP, g.UserAgent, g.CreatedAt.UTC(), g.ExpiresAt.UTC(),
		ev.At.UnixMicro(), string(sluice.CodeUserBanned), ev.Detail,
		keys, maxes, sluice.MinuteStart(now).UnixMicro()).Scan(&verdict)
	return verdict, err
}

const hitSQL = `INSERT INTO rate_limits (key, window_start, count) VALUES ($1, $2, 1)
	ON CONFLICT (key, window_start) DO UPDATE SET count = rate_limits.count + 1
	RETURNING count`

// Hit counts one request for key in window. The first count of each new
// window (per instance) deletes every older window, so the table holds the
// keys active in the last minute or two.
func (l *Ledger) Hit(ctx context.Context, key string, window time.Time) (int64, error) {
	win := sluice.MinuteStart(window).UnixMicro()
	if err := l.prune(ctx, window); err != nil {
		return 0, l.fail(err, "count the request")
	}
	var n int64
	if err := l.pool.QueryRow(ctx, hitSQL, key, win).Scan(&n); err != nil {
		return 0, l.fail(err, "count the request")
	}
	return n, nil
}

// prune deletes the rate-limit windows before now's, the first time this
// process sees now's window.
func (l *Ledger) prune(ctx context.Context, now time.Time) error {
	win := sluice.MinuteStart(now).UnixMicro()
	if old := prunedWindow.Load(); old < win && prunedWindow.CompareAndSwap(old, win) {
		_, err := l.pool.Exec(ctx, `DELETE FROM rate_limits WHERE window_start < $1`, win)
		return err
	}
	return nil
}

// prunedWindow is the window whose predecessors this process last deleted.
// Per process, not per Ledger: one sweep a minute is enough for all.
var prunedWindow atomic.Int64

// dbtx is a pool or a transaction.
type dbtx interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func user(ctx context.Context, q dbtx, o sluice.Owner, lock bool) (*sluice.UserRecord, error) {
	u := &sluice.UserRecord{Issuer: o.Issuer, Subject: o.Subject}
	var banned *int64
	query := `SELECT banned_at, ban_reason, quota_bytes_per_day, quota_files_per_day,
		quota_stored_bytes, quota_pending_grants FROM users WHERE issuer = $1 AND subject = $2`
	if lock {
		query += ` FOR UPDATE`
	}
	var v sluice.LimitsOver
	err := q.QueryRow(ctx, query, o.Issuer, o.Subject).
		Scan(&banned, &u.BanReason, &v.BytesPerDay, &v.FilesPerDay, &v.StoredBytes, &v.PendingGrants)
	if errors.Is(err, pgx.ErrNoRows) {
		return u, nil
	}
	if err != nil {
		return nil, err
	}
	if banned != nil {
		u.BannedAt = time.UnixMicro(*banned).UTC()
	}
	u.Overrides = v
	return u, nil
}

const usageSQL = `SELECT
	(SELECT COUNT(*) FROM grants WHERE issuer = $1 AND subject = $2 AND state IN ('pending', 'complete') AND created_at >= $3),
	(SELECT COALESCE(SUM(size), 0) FROM grants WHERE issuer = $1 AND subject = $2 AND state IN ('pending', 'complete') AND created_at >= $3)::BIGINT,
	(SELECT COUNT(*) FROM files WHERE issuer = $1 AND subject = $2),
	(SELECT COALESCE(SUM(size), 0) FROM files WHERE issuer = $1 AND subject = $2)::BIGINT,
	(SELECT COUNT(*) FROM grants WHERE issuer = $1 AND subject = $2 AND state = 'pending' AND expires_at > $4 AND created_at >= $5),
	(SELECT COALESCE(SUM(size), 0) FROM grants WHERE issuer = $1 AND subject = $2 AND state = 'pending' AND expires_at > $4 AND created_at >= $5)::BIGINT`

func usage(ctx context.Context, q dbtx, o sluice.Owner, now time.Time) (sluice.Usage, error) {
	u := sluice.Usage{DayStart: sluice.DayStart(now)}
	var pendingBytes int64
	err := q.QueryRow(ctx, usageSQL, o.Issuer, o.Subject, u.DayStart, now, now.Add(-sluice.PendingHorizon)).
		Scan(&u.FilesToday, &u.BytesToday, &u.StoredFiles, &u.StoredBytes, &u.PendingGrants, &pendingBytes)
	u.StoredBytes += pendingBytes
	return u, err
}

// Usage returns o's usage at now.
func (l *Ledger) Usage(ctx context.Context, o sluice.Owner, now time.Time) (sluice.Usage, error) {
	u, err := usage(ctx, l.pool, o, now.UTC())
	return u, l.fail(err, "read the user's usage")
}

// User returns o's record (zero if never set).
func (l *Ledger) User(ctx context.Context, o sluice.Owner) (*sluice.UserRecord, error) {
	u, err := user(ctx, l.pool, o, false)
	return u, l.fail(err, "read the user")
}

func nullMicros(t time.Time) *int64 {
	if t.IsZero() {
		return nil
	}
	us := t.UnixMicro()
	return &us
}

// SetBan bans o from at, or lifts the ban when at is zero.
func (l *Ledger) SetBan(ctx context.Context, o sluice.Owner, at time.Time, reason string) error {
	err := pgx.BeginFunc(ctx, l.pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO users (issuer, subject, banned_at, ban_reason) VALUES ($1, $2, $3, $4)
			ON CONFLICT (issuer, subject) DO UPDATE SET banned_at = excluded.banned_at, ban_reason = excluded.ban_reason`,
			o.Issuer, o.Subject, nullMicros(at), reason)
		if err != nil || at.IsZero() {
			return err
		}
		return banned(ctx, tx, o, at, reason)
	})
	return l.fail(err, "record the ban")
}

// banned runs in SetBan's transaction when a user is banned: whatever must
// commit with the ban goes here, i.e. the user.banned outbox event.
func banned(ctx context.Context, tx pgx.Tx, o sluice.Owner, at time.Time, reason string) error {
	return insertEvent(ctx, tx, sluice.BannedEvent(o, at, reason))
}

// SetOverrides replaces o's quota overrides.
func (l *Ledger) SetOverrides(ctx context.Context, o sluice.Owner, v sluice.LimitsOver) error {
	_, err := l.pool.Exec(ctx, `INSERT INTO users (issuer, subject, quota_bytes_per_day, quota_files_per_day,
		quota_stored_bytes, quota_pending_grants) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (issuer, subject) DO UPDATE SET quota_bytes_per_day = excluded.quota_bytes_per_day,
		quota_files_per_day = excluded.quota_files_per_day, quota_stored_bytes = excluded.quota_stored_bytes,
		quota_pending_grants = excluded.quota_pending_grants`,
		o.Issuer, o.Subject, v.BytesPerDay, v.FilesPerDay, v.StoredBytes, v.PendingGrants)
	return l.fail(err, "record the user's limits")
}

func appendAudit(ctx context.Context, q dbtx, e *sluice.AuditEvent) error {
	return q.QueryRow(ctx, `INSERT INTO audit (at, kind, issuer, subject, email, ip, user_agent, key, size, sha256, outcome, detail)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id`,
		e.At.UnixMicro(), e.Kind, e.Issuer, e.Subject, e.Email, e.IP, e.UserAgent, e.Key, e.Size, e.SHA256, e.Outcome, e.Detail).
		Scan(&e.ID)
}

// auditFinish appends the audit row of a grant leaving pending, in
// FinishGrant's transaction.
func auditFinish(ctx context.Context, tx pgx.Tx, g *sluice.Grant, f *sluice.File) error {
	e := sluice.FinishAudit(g, f)
	return appendAudit(ctx, tx, &e)
}

// AppendAudit appends e.
func (l *Ledger) AppendAudit(ctx context.Context, e *sluice.AuditEvent) error {
	return l.fail(appendAudit(ctx, l.pool, e), "append to the audit log")
}

// Audit lists rows matching q, oldest first.
func (l *Ledger) Audit(ctx context.Context, q sluice.AuditQuery) ([]sluice.AuditEvent, error) {
	if q.Limit <= 0 {
		q.Limit = 1000
	}
	rows, err := l.pool.Query(ctx, `SELECT id, at, kind, issuer, subject, email, ip, user_agent, key, size, sha256, outcome, detail
		FROM audit WHERE at >= $1 AND ($2 = '' OR subject = $2) AND ($3 = '' OR issuer = $3) ORDER BY id LIMIT $4`,
		q.Since.UnixMicro(), q.Owner.Subject, q.Owner.Issuer, q.Limit)
	if err != nil {
		return nil, l.fail(err, "read the audit log")
	}
	defer rows.Close()
	out := []sluice.AuditEvent{}
	for rows.Next() {
		var e sluice.AuditEvent
		var at int64
		if err := rows.Scan(&e.ID, &at, &e.Kind, &e.Issuer, &e.Subject, &e.Email, &e.IP, &e.UserAgent,
			&e.Key, &e.Size, &e.SHA256, &e.Outcome, &e.Detail); err != nil {
			return nil, l.fail(err, "read the audit log")
		}
		e.At = time.UnixMicro(at).UTC()
		out = append(out, e)
	}
	return out, l.fail(rows.Err(), "read the audit log")
}

// OwnerFiles returns every file of o.
func (l *Ledger) OwnerFiles(ctx context.Context, o sluice.Owner) ([]*sluice.File, error) {
	files, err := l.queryFiles(ctx, `SELECT `+fileColumns+` FROM files WHERE issuer = $1 AND subject = $2 ORDER BY created_at`, o.Issuer, o.Subject)
	return files, l.fail(err, "list the user's files")
}

// PurgeUser forgets o; see sluice.AuditLedger. The subject's revocation
// stays, so a purged user's old credentials and tokens remain void.
func (l *Ledger) PurgeUser(ctx context.Context, o sluice.Owner) ([]string, error) {
	var keys []string
	err := pgx.BeginFunc(ctx, l.pool, func(tx pgx.Tx) error {
		keys = nil
		rows, err := tx.Query(ctx, `SELECT key FROM files WHERE issuer = $1 AND subject = $2
			UNION SELECT key FROM grants WHERE issuer = $1 AND subject = $2`, o.Issuer, o.Subject)
		if err != nil {
			return err
		}
		if keys, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
			return err
		}
		for _, q := range []string{
			`DELETE FROM files WHERE issuer = $1 AND subject = $2`,
			`DELETE FROM grants WHERE issuer = $1 AND subject = $2`,
			`DELETE FROM credentials WHERE issuer = $1 AND subject = $2`,
			`DELETE FROM users WHERE issuer = $1 AND subject = $2`,
			`UPDATE audit SET email = '', ip = '', user_agent = '' WHERE issuer = $1 AND subject = $2`,
		} {
			if _, err := tx.Exec(ctx, q, o.Issuer, o.Subject); err != nil {
				return err
			}
		}
		return nil
	})
	return keys, l.fail(err, "purge the user")
}
