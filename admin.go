package sluice

import (
	"context"
	"log/slog"
	"time"
)

// Governance on the Service: quota and rate checks around the ledger, the
// audit log, and what an operator does to a user (ban, unban, usage,
// purge). The checks that must be atomic are the ledger's (QuotaLedger);
// a ledger without that capability records grants unchecked.

// admission is what the ledger checks a new grant against.
func (s *Service) admission() Admission {
	return Admission{Limits: s.Policy.Quota, Rate: s.Policy.RateLimit, Now: s.now()}
}

// createGrant records g, checked against quotas, rate limits and bans when
// the ledger can (QuotaLedger, which also audits the grant).
func (s *Service) createGrant(ctx context.Context, g *Grant) error {
	if ql, ok := s.Ledger.(QuotaLedger); ok {
		return ql.CreateGrantWithin(ctx, g, s.admission())
	}
	return s.Ledger.CreateGrant(ctx, g)
}

// audit appends e, stamped now if it has no time. An audit row that cannot
// be written does not undo what happened: it is logged instead.
func (s *Service) audit(ctx context.Context, e *AuditEvent) {
	al, ok := s.Ledger.(AuditLedger)
	if !ok {
		return
	}
	if e.At.IsZero() {
		e.At = s.now().UTC()
	}
	if err := al.AppendAudit(ctx, e); err != nil {
		s.log().LogAttrs(ctx, slog.LevelError, "audit append failed", slog.String("kind", e.Kind),
			slog.String("sub", e.Subject), slog.String("error", err.Error()))
	}
}

// AdmitCredentials is the STS endpoint's gate: it counts the request
// against the user's and the IP's rate limits and refuses a banned user,
// and one already over a quota (credentials let them write without
// another grant). Refusals are audited.
func (s *Service) AdmitCredentials(ctx context.Context, id *Identity, meta RequestMeta) error {
	ql, ok := s.Ledger.(QuotaLedger)
	if !ok {
		return nil
	}
	err := s.admitCredentials(ctx, ql, id, meta)
	if err != nil && !IsCode(err, CodeRateLimited) && ErrorCode(err) != CodeInternal && !IsCode(err, CodeUnavailable) {
		s.AuditCredential(ctx, id, meta, "", err)
	}
	return err
}

func (s *Service) admitCredentials(ctx context.Context, ql QuotaLedger, id *Identity, meta RequestMeta) error {
	now := s.now().UTC()
	o := Owner{id.Issuer, id.Subject}
	rl := s.Policy.RateLimit
	for _, c := range []struct {
		key   string
		limit int64
		what  string
	}{{"u:" + o.Issuer + " " + o.Subject, rl.PerUserPerMinute, "from this account"}, {"ip:" + meta.ClientIP, rl.PerIPPerMinute, "from this address"}} {
		if c.limit <= 0 || c.key == "ip:" {
			continue
		}
		n, err := ql.Hit(ctx, c.key, now)
		if err != nil {
			return err
		}
		if n > c.limit {
			return RateLimitedError(now, c.what)
		}
	}
	u, err := ql.User(ctx, o)
	if err != nil {
		return err
	}
	if !u.BannedAt.IsZero() {
		return BannedError()
	}
	lim := u.Overrides.Apply(s.Policy.Quota)
	lim.PendingGrants = 0 // credentials are not a grant
	if lim == (Limits{}) {
		return nil
	}
	use, err := ql.Usage(ctx, o, now)
	if err != nil {
		return err
	}
	// Credentials carry no size: refused once a limit is reached already.
	return use.Check(lim, 0, now)
}

// AuditCredential records STS credentials issued (akid set, err nil) or
// refused.
func (s *Service) AuditCredential(ctx context.Context, id *Identity, meta RequestMeta, akid string, err error) {
	e := &AuditEvent{Kind: AuditCredential, Issuer: id.Issuer, Subject: id.Subject, Email: id.Email,
		IP: meta.ClientIP, UserAgent: meta.UserAgent, Outcome: "ok", Detail: akid}
	if err != nil {
		e.Outcome = string(ErrorCode(err))
	}
	s.audit(ctx, e)
}

// AdminUser is what an operator sees of a user.
type AdminUser struct {
	User   *UserRecord `json:"user"`
	Usage  Usage       `json:"usage"`
	Limits Limits      `json:"limits"` // in force: the deployment's with the user's overrides
}

func (s *Service) governance() (QuotaLedger, AuditLedger, error) {
	ql, ok1 := s.Ledger.(QuotaLedger)
	al, ok2 := s.Ledger.(AuditLedger)
	if !ok1 || !ok2 {
		return nil, nil, Errorf(CodeUnavailable, "the configured ledger does not support quotas, bans and audit")
	}
	return ql, al, nil
}

// UserUsage returns o's record, usage and limits in force.
func (s *Service) UserUsage(ctx context.Context, o Owner) (*AdminUser, error) {
	ql, _, err := s.governance()
	if err != nil {
		return nil, err
	}
	u, err := ql.User(ctx, o)
	if err != nil {
		return nil, err
	}
	use, err := ql.Usage(ctx, o, s.now())
	if err != nil {
		return nil, err
	}
	return &AdminUser{User: u, Usage: use, Limits: u.Overrides.Apply(s.Policy.Quota)}, nil
}

// Ban refuses o's new grants and uploads from now on (every instance, at
// once: the ledger is asked on each grant), voids their live STS
// credentials, and with deleteFiles deletes their files. It returns how
// many files it deleted.
func (s *Service) Ban(ctx context.Context, o Owner, reason string, deleteFiles bool) (int, error) {
	ql, al, err := s.governance()
	if err != nil {
		return 0, err
	}
	now := s.now().UTC()
	if err := ql.SetBan(ctx, o, now, reason); err != nil {
		return 0, err
	}
	if err := s.revoke(ctx, o); err != nil {
		return 0, err
	}
	n := 0
	if deleteFiles {
		files, err := al.OwnerFiles(ctx, o)
		if err != nil {
			return 0, err
		}
		for _, f := range files {
			if err := s.Store.Delete(ctx, f.Key); err != nil {
				return n, err
			}
			if err := s.Ledger.DeleteFile(ctx, f.ID); err != nil && !IsCode(err, CodeNotFound) {
				return n, err
			}
			s.audit(ctx, &AuditEvent{Kind: AuditDelete, Issuer: f.Issuer, Subject: f.Subject, Key: f.Key,
				Size: f.Size, SHA256: f.SHA256, Outcome: "ok", Detail: f.ID + " (ban)"})
			n++
		}
	}
	s.audit(ctx, &AuditEvent{Kind: AuditAdmin, Issuer: o.Issuer, Subject: o.Subject, Outcome: "ok",
		Detail: "ban: " + reason})
	s.log().LogAttrs(ctx, slog.LevelWarn, "user banned", slog.String("iss", o.Issuer), slog.String("sub", o.Subject),
		slog.Int("files_deleted", n))
	return n, nil
}

func (s *Service) revoke(ctx context.Context, o Owner) error {
	if s.RevokeUser != nil {
		return s.RevokeUser(ctx, o)
	}
	if cl, ok := s.Ledger.(CredentialLedger); ok {
		// As sts.RevokeUser: one second past now, issue times being whole
		// seconds.
		return cl.RevokeSubject(ctx, o, s.now().UTC().Truncate(time.Second).Add(time.Second))
	}
	return nil
}

// Unban lifts o's ban. Their revoked credentials stay void; they sign in
// again for new ones.
func (s *Service) Unban(ctx context.Context, o Owner) error {
	ql, _, err := s.governance()
	if err != nil {
		return err
	}
	if err := ql.SetBan(ctx, o, time.Time{}, ""); err != nil {
		return err
	}
	s.audit(ctx, &AuditEvent{Kind: AuditAdmin, Issuer: o.Issuer, Subject: o.Subject, Outcome: "ok", Detail: "unban"})
	return nil
}

// SetLimits replaces o's quota overrides.
func (s *Service) SetLimits(ctx context.Context, o Owner, v LimitsOver) error {
	ql, _, err := s.governance()
	if err != nil {
		return err
	}
	if err := ql.SetOverrides(ctx, o, v); err != nil {
		return err
	}
	s.audit(ctx, &AuditEvent{Kind: AuditAdmin, Issuer: o.Issuer, Subject: o.Subject, Outcome: "ok", Detail: "limits"})
	return nil
}

// Purge erases o for an erasure request: their STS credentials are voided,
// every object the ledger knows of theirs (files and grants' keys) and
// anything else under users/{sub}/ the store can list is deleted, and
// every record of them goes, but for the audit log, whose rows stay with
// email, IP and user agent blanked. It returns the number of objects
// deleted.
func (s *Service) Purge(ctx context.Context, o Owner) (int, error) {
	_, al, err := s.governance()
	if err != nil {
		return 0, err
	}
	if err := s.revoke(ctx, o); err != nil {
		return 0, err
	}
	keys, err := al.PurgeUser(ctx, o)
	if err != nil {
		return 0, err
	}
	seen := map[string]bool{}
	for _, k := range keys {
		seen[k] = true
	}
	if lister, ok := s.Store.(ObjectLister); ok {
		if prefix, err := UserPrefix(o.Subject); err == nil {
			for cursor := ""; ; {
				objs, next, err := lister.ListObjects(ctx, prefix, cursor)
				if err != nil {
					return 0, err
				}
				for _, obj := range objs {
					if !seen[obj.Key] {
						seen[obj.Key] = true
						keys = append(keys, obj.Key)
					}
				}
				if next == "" {
					break
				}
				cursor = next
			}
		}
	}
	for _, k := range keys {
		if err := s.Store.Delete(ctx, k); err != nil {
			return 0, err
		}
	}
	s.audit(ctx, &AuditEvent{Kind: AuditAdmin, Issuer: o.Issuer, Subject: o.Subject, Outcome: "ok", Detail: "purge"})
	s.log().LogAttrs(ctx, slog.LevelWarn, "user purged", slog.String("iss", o.Issuer), slog.String("sub", o.Subject),
		slog.Int("objects_deleted", len(keys)))
	return len(keys), nil
}

// AuditLog queries the audit log.
func (s *Service) AuditLog(ctx context.Context, q AuditQuery) ([]AuditEvent, error) {
	_, al, err := s.governance()
	if err != nil {
		return nil, err
	}
	return al.Audit(ctx, q)
}
