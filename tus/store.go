package tus

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/tus/tusd/v2/pkg/handler"
	tuss3 "github.com/tus/tusd/v2/pkg/s3store"

	"github.com/sluicehq/sluice"
)

// store is tusd's S3 store behind sluice's checks. Upload IDs outside are
// {grant}+{multipart}; inside, tusd's store names the object after the
// ID, so it is given {key}+{multipart} with the grant's key.
type store struct {
	inner tuss3.S3Store
	svc   *sluice.Service
	log   *slog.Logger
}

var (
	_ handler.DataStore           = (*store)(nil)
	_ handler.TerminaterDataStore = (*store)(nil)
)

// NewUpload starts the multipart upload at the key of the grant that
// beforeCreate recorded for this request.
func (s *store) NewUpload(ctx context.Context, info handler.FileInfo) (handler.Upload, error) {
	c := callerFrom(ctx)
	if c == nil || c.grant == nil || c.grant.ID != info.ID {
		return nil, tusError(sluice.Errorf(sluice.CodeInternal, "upload created without its grant"), 0)
	}
	g := c.grant
	info.ID = g.Key
	up, err := s.inner.NewUpload(ctx, info)
	if err != nil {
		// Nothing will ever finish this grant: say why it failed.
		why := sluice.Wrap(sluice.CodeUnavailable, err, "the store could not start the upload; try again")
		if aerr := s.svc.AbandonResumable(ctx, g, sluice.GrantRejected, why); aerr != nil {
			s.log.LogAttrs(ctx, slog.LevelError, "cannot record a failed resumable upload",
				slog.String("grant", g.ID), slog.String("error", aerr.Error()))
		}
		return nil, tusError(why, 0)
	}
	return &upload{Upload: up, grant: g.ID}, nil
}

// GetUpload returns the caller's upload, or answers as if there were none.
func (s *store) GetUpload(ctx context.Context, id string) (handler.Upload, error) {
	g, mp, err := s.own(ctx, id)
	if err != nil {
		return nil, err
	}
	up, err := s.inner.GetUpload(ctx, g.Key+"+"+mp)
	if err != nil {
		return nil, err
	}
	return &upload{Upload: up, grant: g.ID}, nil
}

// own checks that upload id belongs to the caller, by the grant in the
// ledger (issuer and subject), and is still open. tusd calls it for every
// HEAD, PATCH and DELETE.
func (s *store) own(ctx context.Context, id string) (*sluice.Grant, string, error) {
	c := callerFrom(ctx)
	gid, mp := splitID(id)
	if c == nil || c.id == nil || gid == "" || mp == "" {
		return nil, "", tusError(sluice.Errorf(sluice.CodeNotFound, "no such upload"), 0)
	}
	g, err := s.svc.ResumableGrant(ctx, c.id, gid)
	if err != nil {
		return nil, "", tusError(err, 0)
	}
	switch g.State {
	case sluice.GrantPending:
		if s.now().After(g.ExpiresAt) {
			s.remove(ctx, g, mp)
			if err := s.svc.AbandonResumable(ctx, g, sluice.GrantExpired, nil); err != nil {
				return nil, "", tusError(err, 0)
			}
			return nil, "", tusError(sluice.Errorf(sluice.CodeGrantExpired, "this upload was not finished in time; start a new one"), 0)
		}
	case sluice.GrantRejected, sluice.GrantExpired:
		if c.method == http.MethodDelete {
			// Removing what is left of an upload that ended badly (if its
			// own cleanup failed) is always allowed.
			return g, mp, nil
		}
		if g.State == sluice.GrantExpired {
			return nil, "", tusError(sluice.Errorf(sluice.CodeGrantExpired, "this upload was not finished in time; start a new one"), 0)
		}
		return nil, "", tusError(sluice.Errorf(g.RejectCode, "%s", g.RejectReason), 0)
	}
	return g, mp, nil
}

func (s *store) now() time.Time {
	if s.svc.Now != nil {
		return s.svc.Now()
	}
	return time.Now()
}

// AsTerminatableUpload lets tusd terminate the upload through its store.
func (s *store) AsTerminatableUpload(up handler.Upload) handler.TerminatableUpload {
	return s.inner.AsTerminatableUpload(up.(*upload).Upload)
}

// remove drops what g's upload wrote: its parts, its bookkeeping and any
// object. Failures are logged: the upload cannot be used again anyway.
func (s *store) remove(ctx context.Context, g *sluice.Grant, mp string) {
	up, err := s.inner.GetUpload(ctx, g.Key+"+"+mp)
	if err == nil {
		err = s.inner.AsTerminatableUpload(up).Terminate(ctx)
	}
	if err != nil {
		s.log.LogAttrs(ctx, slog.LevelError, "cannot remove a resumable upload",
			slog.String("grant", g.ID), slog.String("key", g.Key), slog.String("error", err.Error()))
	}
}

// upload is tusd's upload with the outside ID.
type upload struct {
	handler.Upload
	grant string
}

func (u *upload) GetInfo(ctx context.Context) (handler.FileInfo, error) {
	info, err := u.Upload.GetInfo(ctx)
	if err != nil {
		return info, err
	}
	_, mp := splitID(info.ID)
	info.ID = u.grant + "+" + mp
	return info, nil
}
