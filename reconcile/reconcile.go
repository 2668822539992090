// Package reconcile makes the store and the ledger agree. Every upload path
// ends with a ledger record, but some can stop halfway: a presigned URL
// written and never completed, a multipart upload whose writer died, and
// objects written with STS credentials (option 4), which never pass
// through sluice at all. A run settles each of them:
//
//  1. pending grants past their expiry are completed as complete would
//     (verified and recorded, or deleted and rejected), or expired when
//     nothing was written;
//  2. incomplete multipart uploads under users/ older than StaleAfter are
//     aborted;
//  3. objects under users/ that no file or pending grant records are
//     verified like any upload and registered as files of their user, or
//     deleted.
//
// Afterwards every object under users/ is a complete file in the ledger,
// or belongs to an upload still in progress. Objects outside users/ (the
// resumable uploads' bookkeeping under .tus/) are not touched.
package reconcile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/sluicehq/sluice"
)

// Config of the reconciler.
type Config struct {
	// Interval between runs inside `sluice serve`; 0 turns them off.
	// Default (Auto): 1 m on the embedded store, where listing is free; 1 h
	// on an S3 store, where every run lists the whole users/ prefix and is
	// billed per 1,000 keys (docs/COST.md).
	Interval time.Duration `yaml:"interval" json:"interval"`
	// StaleAfter is how old an incomplete multipart upload must be before
	// it is aborted, and how long past its expiry a grant of an upload
	// through sluice (proxied, tus) is left to its own request. Default 24 h.
	StaleAfter time.Duration `yaml:"stale_after" json:"stale_after"`
}

// Default intervals.
const (
	DefaultInterval   = time.Minute
	DefaultS3Interval = time.Hour
	DefaultStaleAfter = 24 * time.Hour
	// Auto is the Interval of a configuration that sets none; the server
	// resolves it by store (see Interval).
	Auto time.Duration = -1
)

// DefaultConfig is the configuration with nothing set.
func DefaultConfig() Config {
	return Config{Interval: Auto, StaleAfter: DefaultStaleAfter}
}

// WithStore resolves an Auto interval for the kind of store: cheap local
// listing runs often, billed listing rarely.
func (c Config) WithStore(billedListing bool) Config {
	if c.Interval != Auto {
		return c
	}
	c.Interval = DefaultInterval
	if billedListing {
		c.Interval = DefaultS3Interval
	}
	return c
}

// Validate names the first bad field.
func (c Config) Validate() error {
	if c.Interval < 0 && c.Interval != Auto {
		return errors.New("reconcile.interval: must be 0 (off) or more")
	}
	if c.StaleAfter < time.Hour {
		return errors.New("reconcile.stale_after: must be at least 1h: a multipart upload younger than that may still be under way")
	}
	return nil
}

// Prefix is the part of the bucket the reconciler owns.
const Prefix = "users/"

// batch is how many expired grants a run reads at a time.
const batch = 500

// Reconciler runs reconciliation passes over one service's store and
// ledger.
type Reconciler struct {
	cfg    Config
	svc    *sluice.Service
	ledger sluice.ReconcileLedger
	// issuers are the deployment's configured issuers: with exactly one,
	// an object of a user no credential names is that issuer's user.
	issuers []string
	log     *slog.Logger
	// Now is the clock; defaults to the service's.
	Now func() time.Time
}

// New returns a reconciler for svc, whose ledger must be a
// sluice.ReconcileLedger.
func New(cfg Config, svc *sluice.Service, issuers []string, log *slog.Logger) (*Reconciler, error) {
	rl, ok := svc.Ledger.(sluice.ReconcileLedger)
	if !ok {
		return nil, errors.New("reconcile: the configured ledger cannot be reconciled")
	}
	if cfg.StaleAfter <= 0 {
		cfg.StaleAfter = DefaultStaleAfter
	}
	if log == nil {
		log = slog.Default()
	}
	return &Reconciler{cfg: cfg, svc: svc, ledger: rl, issuers: issuers, log: log}, nil
}

func (r *Reconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	if r.svc.Now != nil {
		return r.svc.Now()
	}
	return time.Now()
}

// Report counts what a run did.
type Report struct {
	// Expired grants: verified into files, rejected (object deleted), or
	// expired with nothing written.
	Completed, Rejected, Expired int
	// Aborted incomplete multipart uploads.
	Aborted int
	// Objects no record knew: registered as files, or deleted.
	Registered, Deleted int
	// Skipped are objects left alone, with why (their user's issuer is not
	// known, the store failed reading them).
	Skipped []string
	// Errors are failures that ended a step early.
	Errors []string
}

func (rep *Report) String() string {
	return fmt.Sprintf("grants: %d completed, %d rejected, %d expired; multipart uploads aborted: %d; unrecorded objects: %d registered, %d deleted; skipped: %d; errors: %d",
		rep.Completed, rep.Rejected, rep.Expired, rep.Aborted, rep.Registered, rep.Deleted, len(rep.Skipped), len(rep.Errors))
}

func (rep *Report) skip(key, why string) { rep.Skipped = append(rep.Skipped, key+": "+why) }

// Run makes one pass. It returns an error only when ctx ended; other
// failures are in the report and the next run retries them.
func (r *Reconciler) Run(ctx context.Context) (*Report, error) {
	rep := &Report{}
	for _, step := range []func(context.Context, *Report) error{r.expiredGrants, r.multipart, r.unrecorded} {
		if err := step(ctx, rep); err != nil {
			if ctx.Err() != nil {
				return rep, ctx.Err()
			}
			rep.Errors = append(rep.Errors, sluice.ErrorMessage(err))
		}
	}
	lvl := slog.LevelInfo
	if len(rep.Errors) > 0 || len(rep.Skipped) > 0 {
		lvl = slog.LevelWarn
	}
	r.log.LogAttrs(ctx, lvl, "reconciled", slog.String("report", rep.String()))
	return rep, nil
}

// Loop runs every Interval until ctx ends; the first run is one Interval
// after the start, so a restart loop does not turn into a listing loop.
func (r *Reconciler) Loop(ctx context.Context) {
	if r.cfg.Interval <= 0 {
		return
	}
	t := time.NewTicker(r.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.Run(ctx)
		}
	}
}

// expiredGrants settles pending grants past their expiry. A presigned
// grant is settled at once: only its client's complete could have, and
// the URL can no longer write. An upload through sluice is left
// StaleAfter more to its own request, which may still be streaming.
func (r *Reconciler) expiredGrants(ctx context.Context, rep *Report) error {
	now := r.now()
	seen := map[string]bool{}
	for {
		gs, err := r.ledger.PendingExpired(ctx, now, batch)
		if err != nil {
			return err
		}
		progress := false
		for _, g := range gs {
			if seen[g.ID] {
				continue
			}
			seen[g.ID] = true
			if g.Method != sluice.MethodPUT && g.Method != sluice.MethodPOST && now.Sub(g.ExpiresAt) < r.cfg.StaleAfter {
				continue
			}
			progress = true
			f, err := r.svc.ReconcileGrant(ctx, g)
			switch {
			case f != nil:
				rep.Completed++
			case sluice.IsCode(err, sluice.CodeGrantExpired):
				rep.Expired++
			case err != nil && (sluice.IsCode(err, sluice.CodeUnavailable) || sluice.ErrorCode(err) == sluice.CodeInternal):
				rep.skip(g.Key, "grant "+g.ID+": "+sluice.ErrorMessage(err))
			default:
				rep.Rejected++
			}
		}
		if len(gs) < batch || !progress {
			return nil
		}
	}
}

// multipart aborts incomplete multipart uploads under users/ begun more
// than StaleAfter ago.
func (r *Reconciler) multipart(ctx context.Context, rep *Report) error {
	ma, ok := r.svc.Store.(sluice.MultipartAborter)
	if !ok {
		return nil
	}
	ups, err := ma.MultipartUploads(ctx, Prefix)
	if err != nil {
		return err
	}
	cutoff := r.now().Add(-r.cfg.StaleAfter)
	for _, u := range ups {
		if u.Initiated.IsZero() || u.Initiated.After(cutoff) {
			continue
		}
		if err := ma.AbortMultipart(ctx, u.Key, u.UploadID); err != nil {
			rep.skip(u.Key, "abort multipart upload: "+sluice.ErrorMessage(err))
			continue
		}
		r.log.LogAttrs(ctx, slog.LevelInfo, "multipart upload aborted", slog.String("key", u.Key), slog.Time("initiated", u.Initiated))
		rep.Aborted++
	}
	return nil
}

// unrecorded lists every object under users/ and settles those no record
// knows.
func (r *Reconciler) unrecorded(ctx context.Context, rep *Report) error {
	lister, ok := r.svc.Store.(sluice.ObjectLister)
	if !ok {
		return errors.New("the store cannot list its objects: objects written with STS credentials are not reconciled")
	}
	cursor := ""
	for {
		objs, next, err := lister.ListObjects(ctx, Prefix, cursor)
		if err != nil {
			return err
		}
		for _, o := range objs {
			known, err := r.ledger.KeyKnown(ctx, o.Key)
			if err != nil {
				return err
			}
			if !known {
				r.settleObject(ctx, o.Key, rep)
			}
		}
		if next == "" {
			return nil
		}
		cursor = next
	}
}

// settleObject verifies an object no record knows, then registers it as a
// file of its user, or deletes it (recording the rejection when its user
// is known).
func (r *Reconciler) settleObject(ctx context.Context, key string, rep *Report) {
	info, err := r.svc.Store.Head(ctx, key)
	if sluice.IsCode(err, sluice.CodeNotFound) {
		return // deleted since the listing
	}
	if err != nil {
		rep.skip(key, sluice.ErrorMessage(err))
		return
	}
	ct, why := r.svc.CheckDiscovered(ctx, info)
	if why != nil && (sluice.IsCode(why, sluice.CodeUnavailable) || sluice.ErrorCode(why) == sluice.CodeInternal) {
		rep.skip(key, sluice.ErrorMessage(why))
		return
	}
	owner, ownerErr := r.owner(ctx, key)
	if why == nil && ownerErr != nil {
		// A valid object of a user we cannot name: neither register it
		// under a guessed issuer nor delete what may be someone's photo.
		rep.skip(key, ownerErr.Error())
		return
	}
	if why != nil {
		if err := r.svc.Store.Delete(ctx, key); err != nil {
			rep.skip(key, "delete: "+sluice.ErrorMessage(err))
			return
		}
		rep.Deleted++
		r.log.LogAttrs(ctx, slog.LevelWarn, "unrecorded object deleted", slog.String("key", key),
			slog.String("code", string(sluice.ErrorCode(why))), slog.String("reason", sluice.ErrorMessage(why)))
		if ownerErr == nil {
			g, _ := r.svc.DiscoveredGrant(info, owner, ct, why)
			if err := r.ledger.RegisterFile(ctx, g, nil); err != nil {
				rep.Errors = append(rep.Errors, key+": record rejection: "+sluice.ErrorMessage(err))
			}
		}
		return
	}
	g, f := r.svc.DiscoveredGrant(info, owner, ct, nil)
	if err := r.ledger.RegisterFile(ctx, g, f); err != nil {
		rep.skip(key, "register: "+sluice.ErrorMessage(err))
		return
	}
	rep.Registered++
	r.log.LogAttrs(ctx, slog.LevelInfo, "unrecorded object registered", slog.String("key", key),
		slog.String("file", f.ID), slog.String("sub", f.Subject))
}

// owner names the user of key: the issuer of the newest STS credential for
// its prefix, else the deployment's only issuer.
func (r *Reconciler) owner(ctx context.Context, key string) (sluice.Owner, error) {
	sub, ok := sluice.DiscoveredOwner(key)
	if !ok {
		return sluice.Owner{}, errors.New("not under a user's prefix")
	}
	iss, err := r.ledger.PrefixIssuer(ctx, Prefix+sub+"/")
	switch {
	case err == nil:
		return sluice.Owner{Issuer: iss, Subject: sub}, nil
	case !sluice.IsCode(err, sluice.CodeNotFound):
		return sluice.Owner{}, err
	case len(r.issuers) == 1:
		return sluice.Owner{Issuer: r.issuers[0], Subject: sub}, nil
	}
	return sluice.Owner{}, fmt.Errorf("no STS credential names %s%s/ and %d issuers are configured: whose it is is unknown", Prefix, sub, len(r.issuers))
}
