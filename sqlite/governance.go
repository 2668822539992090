package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice"
)

// Quotas, rate limits, bans and the audit log (migration 0003).
//
// CreateGrantWithin rides the group commit of CreateGrant (batch.go): each
// grant's rate-limit count, ban check, quota count and insert run in order
// inside the batch's one write transaction, so the second grant of a batch
// counts the first, and N callers at a limit never overshoot it.

var (
	_ sluice.QuotaLedger = (*Ledger)(nil)
	_ sluice.AuditLedger = (*Ledger)(nil)
)

// CreateGrantWithin records g if a admits it; see sluice.QuotaLedger.
func (l *Ledger) CreateGrantWithin(ctx context.Context, g *sluice.Grant, a sluice.Admission) error {
	return l.createGrant(ctx, g, &a)
}

// quotaStmts are the statements of admission, prepared once on the writer
// connection: on the grant hot path, parsing them for each grant would cost
// more than running them.
type quotaStmts struct {
	hit, prune, user, usage, audit *sql.Stmt
	// pruned is the window whose predecessors were last deleted; shared
	// by the bound copies (in).
	pruned *atomic.Int64
}

func prepareQuota(w *sql.DB) (*quotaStmts, error) {
	q := quotaStmts{pruned: new(atomic.Int64)}
	for _, p := range []struct {
		dst **sql.Stmt
		sql string
	}{{&q.hit, hitSQL}, {&q.prune, pruneSQL}, {&q.user, userSQL}, {&q.usage, usageSQL}, {&q.audit, insertAuditSQL}} {
		st, err := w.Prepare(p.sql)
		if err != nil {
			q.close()
			return nil, err
		}
		*p.dst = st
	}
	return &q, nil
}

func (q *quotaStmts) close() error {
	var errs []error
	for _, st := range []*sql.Stmt{q.hit, q.prune, q.user, q.usage, q.audit} {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	return errors.Join(errs...)
}

// in returns the statements bound to tx.
func (q *quotaStmts) in(ctx context.Context, tx *sql.Tx) *quotaStmts {
	return &quotaStmts{tx.StmtContext(ctx, q.hit), tx.StmtContext(ctx, q.prune), tx.StmtContext(ctx, q.user),
		tx.StmtContext(ctx, q.usage), tx.StmtContext(ctx, q.audit), q.pruned}
}

// admitAndInsert is one grant's work in the batch transaction. refused is
// the caller's answer (a refusal, or its own insert's error); err is an
// error that must end the transaction (a busy database).
func admitAndInsert(ctx context.Context, qs *quotaStmts, stmt *sql.Stmt, g *sluice.Grant, a *sluice.Admission) (refused, err error) {
	now := a.Now.UTC()
	if a.Rate.PerUserPerMinute > 0 {
		n, err := hit(ctx, qs, userKey(g.Owner()), now)
		if err != nil {
			return nil, err
		}
		if n > a.Rate.PerUserPerMinute {
			return sluice.RateLimitedError(now, "from this account"), nil
		}
	}
	if a.Rate.PerIPPerMinute > 0 && g.ClientIP != "" {
		n, err := hit(ctx, qs, "ip:"+g.ClientIP, now)
		if err != nil {
			return nil, err
		}
		if n > a.Rate.PerIPPerMinute {
			return sluice.RateLimitedError(now, "from this address"), nil
		}
	}
	u, err := scanUser(qs.user.QueryRowContext(ctx, g.Issuer, g.Subject), g.Owner())
	if err != nil {
		return nil, err
	}
	refusal := error(nil)
	if !u.BannedAt.IsZero() {
		refusal = sluice.BannedError()
	} else if lim := u.Overrides.Apply(a.Limits); lim != (sluice.Limits{}) {
		use, err := scanUsage(qs.usage.QueryRowContext(ctx, usageArgs(g.Owner(), now, &lim)...), now)
		if err != nil {
			return nil, err
		}
		refusal = use.Check(lim, g.Size, now)
	}
	if refusal == nil {
		if _, err := stmt.ExecContext(ctx, grantArgs(g)...); err != nil {
			if transient(err) {
				return nil, err
			}
			return err, nil // nothing audited: the grant was never issued
		}
	}
	ev := sluice.GrantAudit(g, refusal)
	if err := appendAuditWith(ctx, qs.audit, &ev); err != nil {
		return nil, err
	}
	return refusal, nil
}

func userKey(o sluice.Owner) string { return "u:" + o.Issuer + " " + o.Subject }

const hitSQL = `INSERT INTO rate_limits (key, window_start, count) VALUES (?, ?, 1)
	ON CONFLICT (key, window_start) DO UPDATE SET count = rate_limits.count + 1
	RETURNING count`

const pruneSQL = `DELETE FROM rate_limits WHERE window_start < ?`

// hit counts one request for key in now's window. The first count of each
// new window (per process) deletes every older window, so the table holds
// the keys active in the last minute or two.
func hit(ctx context.Context, qs *quotaStmts, key string, now time.Time) (int64, error) {
	win := micros(sluice.MinuteStart(now))
	if old := qs.pruned.Load(); old < win && qs.pruned.CompareAndSwap(old, win) {
		if _, err := qs.prune.ExecContext(ctx, win); err != nil {
			return 0, err
		}
	}
	var n int64
	err := qs.hit.QueryRowContext(ctx, key, win).Scan(&n)
	return n, err
}

// querier is a *sql.DB or *sql.Tx.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// Hit counts one request against key's window; see sluice.QuotaLedger.
func (l *Ledger) Hit(ctx context.Context, key string, window time.Time) (int64, error) {
	var n int64
	err := l.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		n, err = hit(ctx, l.quota.in(ctx, tx), key, window)
		return err
	})
	return n, l.fail(err, "count the request")
}

const userSQL = `SELECT banned_at, ban_reason, quota_bytes_per_day, quota_files_per_day,
	quota_stored_bytes, quota_pending_grants FROM users WHERE issuer = ? AND subject = ?`

func user(ctx context.Context, q querier, o sluice.Owner) (*sluice.UserRecord, error) {
	return scanUser(q.QueryRowContext(ctx, userSQL, o.Issuer, o.Subject), o)
}

func scanUser(row *sql.Row, o sluice.Owner) (*sluice.UserRecord, error) {
	u := &sluice.UserRecord{Issuer: o.Issuer, Subject: o.Subject}
	var banned, bpd, fpd, sb, pg sql.NullInt64
	err := row.Scan(&banned, &u.BanReason, &bpd, &fpd, &sb, &pg)
	if errors.Is(err, sql.ErrNoRows) {
		return u, nil
	}
	if err != nil {
		return nil, err
	}
	if banned.Valid {
		u.BannedAt = fromMicros(banned.Int64)
	}
	ptr := func(v sql.NullInt64) *int64 {
		if !v.Valid {
			return nil
		}
		return &v.Int64
	}
	u.Overrides = sluice.LimitsOver{BytesPerDay: ptr(bpd), FilesPerDay: ptr(fpd), StoredBytes: ptr(sb), PendingGrants: ptr(pg)}
	return u, nil
}

// usageSQL counts what the limits in force need, and only that (each
// count is skipped unless its flag is set): the per-day counts scan the
// user's grants of the day, the pending count their pending grants, the
// storage count all their files.
const usageSQL = `SELECT
	CASE WHEN ?5 THEN (SELECT COUNT(*) FROM grants WHERE issuer = ?1 AND subject = ?2 AND state IN ('pending', 'complete') AND created_at >= ?3) ELSE 0 END,
	CASE WHEN ?6 THEN (SELECT COALESCE(SUM(size), 0) FROM grants WHERE issuer = ?1 AND subject = ?2 AND state IN ('pending', 'complete') AND created_at >= ?3) ELSE 0 END,
	CASE WHEN ?9 THEN (SELECT COUNT(*) FROM files WHERE issuer = ?1 AND subject = ?2) ELSE 0 END,
	CASE WHEN ?7 THEN (SELECT COALESCE(SUM(size), 0) FROM files WHERE issuer = ?1 AND subject = ?2) ELSE 0 END,
	CASE WHEN ?8 THEN (SELECT COUNT(*) FROM grants WHERE issuer = ?1 AND subject = ?2 AND state = 'pending' AND expires_at > ?4 AND created_at >= ?10) ELSE 0 END,
	CASE WHEN ?7 THEN (SELECT COALESCE(SUM(size), 0) FROM grants WHERE issuer = ?1 AND subject = ?2 AND state = 'pending' AND expires_at > ?4 AND created_at >= ?10) ELSE 0 END`

// usageArgs are usageSQL's arguments for counting what lim needs (all of
// it when lim is nil).
func usageArgs(o sluice.Owner, now time.Time, lim *sluice.Limits) []any {
	all := lim == nil
	if all {
		lim = &sluice.Limits{}
	}
	return []any{o.Issuer, o.Subject, micros(sluice.DayStart(now)), micros(now),
		all || lim.FilesPerDay > 0, all || lim.BytesPerDay > 0, all || lim.StoredBytes > 0, all || lim.PendingGrants > 0, all,
		micros(now.Add(-sluice.PendingHorizon))}
}

func usage(ctx context.Context, q querier, o sluice.Owner, now time.Time) (sluice.Usage, error) {
	return scanUsage(q.QueryRowContext(ctx, usageSQL, usageArgs(o, now, nil)...), now)
}

func scanUsage(row *sql.Row, now time.Time) (sluice.Usage, error) {
	u := sluice.Usage{DayStart: sluice.DayStart(now)}
	var pendingBytes int64
	err := row.Scan(&u.FilesToday, &u.BytesToday, &u.StoredFiles, &u.StoredBytes, &u.PendingGrants, &pendingBytes)
	// Pending grants hold their declared bytes against the storage quota.
	u.StoredBytes += pendingBytes
	return u, err
}

// Usage returns o's usage at now.
func (l *Ledger) Usage(ctx context.Context, o sluice.Owner, now time.Time) (sluice.Usage, error) {
	u, err := usage(ctx, l.r, o, now.UTC())
	return u, l.fail(err, "read the user's usage")
}

// User returns o's record (zero if never set).
func (l *Ledger) User(ctx context.Context, o sluice.Owner) (*sluice.UserRecord, error) {
	u, err := user(ctx, l.r, o)
	return u, l.fail(err, "read the user")
}

// SetBan bans o from at, or lifts the ban when at is zero, and audits it in
// the same transaction.
func (l *Ledger) SetBan(ctx context.Context, o sluice.Owner, at time.Time, reason string) error {
	err := l.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO users (issuer, subject, banned_at, ban_reason) VALUES (?, ?, ?, ?)
			ON CONFLICT (issuer, subject) DO UPDATE SET banned_at = excluded.banned_at, ban_reason = excluded.ban_reason`,
			o.Issuer, o.Subject, nullMicros(at), reason)
		if err != nil {
			return err
		}
		if at.IsZero() {
			return nil
		}
		return banned(ctx, tx, o, at, reason)
	})
	return l.fail(err, "record the ban")
}

// banned runs in SetBan's transaction when a user is banned: whatever must
// commit with the ban goes here, i.e. the user.banned outbox event.
func banned(ctx context.Context, tx *sql.Tx, o sluice.Owner, at time.Time, reason string) error {
	return insertEvent(ctx, tx, sluice.BannedEvent(o, at, reason))
}

// SetOverrides replaces o's quota overrides.
func (l *Ledger) SetOverrides(ctx context.Context, o sluice.Owner, v sluice.LimitsOver) error {
	err := l.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO users (issuer, subject, quota_bytes_per_day, quota_files_per_day,
			quota_stored_bytes, quota_pending_grants) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (issuer, subject) DO UPDATE SET quota_bytes_per_day = excluded.quota_bytes_per_day,
			quota_files_per_day = excluded.quota_files_per_day, quota_stored_bytes = excluded.quota_stored_bytes,
			quota_pending_grants = excluded.quota_pending_grants`,
			o.Issuer, o.Subject, v.BytesPerDay, v.FilesPerDay, v.StoredBytes, v.PendingGrants)
		return err
	})
	return l.fail(err, "record the user's limits")
}

const insertAuditSQL = `INSERT INTO audit (at, kind, issuer, subject, email, ip, user_agent, key, size, sha256, outcome, detail)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`

// appendAudit appends e in tx and sets e.ID.
func appendAudit(ctx context.Context, q querier, e *sluice.AuditEvent) error {
	return q.QueryRowContext(ctx, insertAuditSQL, auditArgs(e)...).Scan(&e.ID)
}

func appendAuditWith(ctx context.Context, st *sql.Stmt, e *sluice.AuditEvent) error {
	return st.QueryRowContext(ctx, auditArgs(e)...).Scan(&e.ID)
}

func auditArgs(e *sluice.AuditEvent) []any {
	return []any{micros(e.At), e.Kind, e.Issuer, e.Subject, e.Email, e.IP, e.UserAgent, e.Key, e.Size, e.SHA256, e.Outcome, e.Detail}
}

// auditFinish appends the audit row of a grant leaving pending, in
// FinishGrant's transaction.
func auditFinish(ctx context.Context, tx *sql.Tx, g *sluice.Grant, f *sluice.File) error {
	e := sluice.FinishAudit(g, f)
	return appendAudit(ctx, tx, &e)
}

// AppendAudit appends e.
func (l *Ledger) AppendAudit(ctx context.Context, e *sluice.AuditEvent) error {
	err := l.inTx(ctx, func(tx *sql.Tx) error { return appendAudit(ctx, tx, e) })
	return l.fail(err, "append to the audit log")
}

// Audit lists rows matching q, oldest first.
func (l *Ledger) Audit(ctx context.Context, q sluice.AuditQuery) ([]sluice.AuditEvent, error) {
	query := `SELECT id, at, kind, issuer, subject, email, ip, user_agent, key, size, sha256, outcome, detail FROM audit WHERE at >= ?`
	args := []any{micros(q.Since)}
	if q.Owner.Subject != "" {
		query += ` AND subject = ?`
		args = append(args, q.Owner.Subject)
	}
	if q.Owner.Issuer != "" {
		query += ` AND issuer = ?`
		args = append(args, q.Owner.Issuer)
	}
	if q.Limit <= 0 {
		q.Limit = 1000
	}
	query += ` ORDER BY id LIMIT ?`
	args = append(args, q.Limit)
	rows, err := l.r.QueryContext(ctx, query, args...)
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
		e.At = fromMicros(at)
		out = append(out, e)
	}
	return out, l.fail(rows.Err(), "read the audit log")
}

// OwnerFiles returns every file of o.
func (l *Ledger) OwnerFiles(ctx context.Context, o sluice.Owner) ([]*sluice.File, error) {
	files, err := l.queryFiles(ctx, `SELECT `+fileColumns+` FROM files WHERE issuer = ? AND subject = ? ORDER BY created_at`, o.Issuer, o.Subject)
	return files, l.fail(err, "list the user's files")
}

// PurgeUser forgets o; see sluice.AuditLedger. Keys of the grants (pending
// ones included) are returned too, so an object written for a grant never
// completed is deleted as well.
func (l *Ledger) PurgeUser(ctx context.Context, o sluice.Owner) ([]string, error) {
	var keys []string
	err := l.inTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT key FROM files WHERE issuer = ?1 AND subject = ?2
			UNION SELECT key FROM grants WHERE issuer = ?1 AND subject = ?2`, o.Issuer, o.Subject)
		if err != nil {
			return err
		}
		for rows.Next() {
			var k string
			if err := rows.Scan(&k); err != nil {
				rows.Close()
				return err
			}
			keys = append(keys, k)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, q := range []string{
			`DELETE FROM files WHERE issuer = ? AND subject = ?`,
			`DELETE FROM grants WHERE issuer = ? AND subject = ?`,
			`DELETE FROM credentials WHERE issuer = ? AND subject = ?`,
			`DELETE FROM users WHERE issuer = ? AND subject = ?`,
			`UPDATE audit SET email = '', ip = '', user_agent = '' WHERE issuer = ? AND subject = ?`,
		} {
			if _, err := tx.ExecContext(ctx, q, o.Issuer, o.Subject); err != nil {
				return err
			}
		}
		// The subject's revocation stays: a purged user's old credentials
		// and tokens must remain void.
		return nil
	})
	return keys, l.fail(err, "purge the user")
}
