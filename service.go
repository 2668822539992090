package sluice

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"
)

// Service is the upload service: it applies the Policy, names keys, records
// grants in the Ledger and asks the Store to sign. It holds no per-user state
// of its own, so any number of instances can share one ledger and store.
type Service struct {
	Store  Store
	Ledger Ledger
	Policy Policy
	Log    *slog.Logger
	// Now is the clock; tests inject one. Defaults to time.Now.
	Now func() time.Time
	// NewID makes grant IDs; defaults to ULIDs.
	NewID func() string
	// Observer, when set, is told of grants issued and finished (metrics).
	Observer Observer
	// Limiter bounds each user's concurrent uploads through sluice
	// (proxied and resumable); nil means no limit.
	Limiter UploadLimiter
	// RevokeUser, when set, voids a user's live STS credentials (on ban
	// and purge); the STS endpoint's RevokeUser also clears its cache.
	RevokeUser func(ctx context.Context, o Owner) error
}

// UploadRequest is what a client asks to upload.
type UploadRequest struct {
	Filename    string
	ContentType string
	Size        int64
	SHA256      string
	Method      string
}

// RequestMeta is what the ledger records about the client making a request.
type RequestMeta struct {
	ClientIP  string
	UserAgent string
}

// MetaOf is the RequestMeta of an HTTP request. The client IP is the peer's
// address, or with trustProxy (behind a load balancer that sets it) the
// first X-Forwarded-For entry; the user agent is cut to 512 bytes.
func MetaOf(r *http.Request, trustProxy bool) RequestMeta {
	ip, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		ip = r.RemoteAddr
	}
	if trustProxy {
		if xff := r.Header.Get("X-Forwarded-For"); xff != "" {
			first, _, _ := strings.Cut(xff, ",")
			ip = strings.TrimSpace(first)
		}
	}
	ua := r.UserAgent()
	if len(ua) > 512 {
		ua = ua[:512]
	}
	return RequestMeta{ClientIP: ip, UserAgent: ua}
}

// Upload is an issued grant with the signed request for the client.
type Upload struct {
	Grant     *Grant
	Presigned *Presigned
	MaxSize   int64
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Service) newID() string {
	if s.NewID != nil {
		return s.NewID()
	}
	return strings.ToLower(ulid.Make().String())
}

func (s *Service) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

// admit refuses users the policy shuts out before anything else happens.
func (s *Service) admit(id *Identity) (prefix string, err error) {
	if s.Policy.RequireEmailVerified && !id.EmailVerified {
		return "", Errorf(CodeEmailNotVerified, "this deployment requires a verified email address")
	}
	return UserPrefix(id.Subject)
}

// CreateUpload checks req against the policy and issues a write-once grant
// for a key the server chooses: users/{sub}/{id}{ext}.
func (s *Service) CreateUpload(ctx context.Context, id *Identity, req UploadRequest, meta RequestMeta) (*Upload, error) {
	prefix, err := s.admit(id)
	if err != nil {
		return nil, err
	}
	method := strings.ToUpper(req.Method)
	if method == "" {
		method = MethodPUT
	}
	if method != MethodPUT && method != MethodPOST {
		return nil, Errorf(CodeMethodNotSupported, "method must be PUT or POST")
	}
	poster, canPost := s.Store.(PostPresigner)
	if method == MethodPOST && !canPost {
		return nil, Errorf(CodeMethodNotSupported, "this storage backend does not support POST uploads; use PUT")
	}
	ct, err := s.Policy.ContentType(req.ContentType)
	if err != nil {
		return nil, err
	}
	if err := s.Policy.CheckSize(req.Size); err != nil {
		return nil, err
	}
	sum, err := NormalizeSHA256(req.SHA256)
	if err != nil {
		return nil, err
	}
	if method == MethodPOST && sum == "" {
		// A form upload cannot be made write-once (there is no
		// If-None-Match for POST), so a leaked form could be replayed until
		// it expires. Binding the checksum makes any replay write the same
		// verified bytes.
		return nil, Errorf(CodeInvalidChecksum, "POST uploads must declare sha256")
	}
	filename, err := CleanFilename(req.Filename)
	if err != nil {
		return nil, err
	}

	gid := s.newID()
	ext, _ := Extension(ct)
	now := s.now().UTC().Truncate(time.Second)
	g := &Grant{
		ID: gid, Key: prefix + gid + ext, Method: method,
		Issuer: id.Issuer, Subject: id.Subject, Email: id.Email,
		Filename: filename, ContentType: ct, Size: req.Size, SHA256: sum,
		ClientIP: meta.ClientIP, UserAgent: meta.UserAgent,
		CreatedAt: now, ExpiresAt: now.Add(s.Policy.URLTTL), State: GrantPending,
	}
	p := PutParams{Key: g.Key, ContentType: ct, Size: req.Size, SHA256: sum, MaxSize: req.Size, Expires: g.ExpiresAt, Now: now}
	var signed *Presigned
	if method == MethodPOST {
		signed, err = poster.PresignPost(ctx, p)
	} else {
		signed, err = s.Store.PresignPut(ctx, p)
	}
	if err != nil {
		return nil, err
	}
	// Record before answering: a URL the ledger does not know of is never
	// handed out.
	if err := s.createGrant(ctx, g); err != nil {
		return nil, err
	}
	s.log().LogAttrs(ctx, slog.LevelInfo, "grant issued",
		slog.String("grant", g.ID), slog.String("sub", g.Subject), slog.String("key", g.Key),
		slog.Int64("size", g.Size), slog.String("content_type", g.ContentType), slog.String("method", g.Method))
	if s.Observer != nil {
		s.Observer.GrantIssued(g)
	}
	return &Upload{Grant: g, Presigned: signed, MaxSize: req.Size}, nil
}

// ownGrant returns the grant if it belongs to id; someone else's grant is
// reported as not found, so its existence is not revealed.
func (s *Service) ownGrant(ctx context.Context, id *Identity, grantID string) (*Grant, error) {
	g, err := s.Ledger.Grant(ctx, grantID)
	if err != nil {
		return nil, err
	}
	if g.Owner() != (Owner{id.Issuer, id.Subject}) {
		return nil, Errorf(CodeNotFound, "no such upload")
	}
	return g, nil
}

// Upload returns the state of one of id's grants. A pending grant whose URL
// has expired with nothing written is recorded as expired on the way.
func (s *Service) Upload(ctx context.Context, id *Identity, grantID string) (*Grant, error) {
	g, err := s.ownGrant(ctx, id, grantID)
	if err != nil {
		return nil, err
	}
	// Only a presigned URL expires unused; uploads through sluice are
	// finished by the requests that carry their bytes.
	if g.State != GrantPending || !presigned(g.Method) || !s.now().After(g.ExpiresAt) {
		return g, nil
	}
	if _, err := s.Store.Head(ctx, g.Key); !IsCode(err, CodeNotFound) {
		// Written in time (or the store is unsure): complete decides.
		return g, nil
	}
	return s.finish(ctx, g, GrantExpired, nil, nil)
}

// CompleteUpload verifies what the client wrote for a grant and records the
// file. It is idempotent: a completed grant returns its file, a rejected one
// the same error as the first time.
//
// Verification: the object exists, its size, content type and (when
// declared) SHA-256 match the grant, and its first bytes are of the declared
// type. An object that fails is deleted and the grant rejected.
func (s *Service) CompleteUpload(ctx context.Context, id *Identity, grantID string) (*File, error) {
	g, err := s.ownGrant(ctx, id, grantID)
	if err != nil {
		return nil, err
	}
	if g.State != GrantPending {
		return s.outcome(ctx, g)
	}
	if !presigned(g.Method) {
		// Bytes sent through sluice are verified as they end; a client's
		// complete must not settle (or expire) an upload still under way.
		return nil, Errorf(CodeUploadMissing, "this upload is still in progress; it completes when its last byte arrives")
	}
	return s.completeGrant(ctx, g)
}

// completeGrant verifies the object written for the pending grant g and
// settles it: a file, or a rejection with the object deleted.
func (s *Service) completeGrant(ctx context.Context, g *Grant) (*File, error) {
	info, err := s.Store.Head(ctx, g.Key)
	if IsCode(err, CodeNotFound) {
		if s.now().After(g.ExpiresAt) {
			return s.settle(ctx, g, GrantExpired, nil, nil)
		}
		return nil, Errorf(CodeUploadMissing, "nothing has been uploaded for this grant yet")
	}
	if err != nil {
		return nil, err
	}
	sum, verr := s.verify(ctx, g, info)
	if verr != nil {
		if IsCode(verr, CodeUnavailable) || ErrorCode(verr) == CodeInternal {
			return nil, verr // the store failed, not the upload: try again later
		}
		if err := s.Store.Delete(ctx, g.Key); err != nil {
			return nil, err
		}
		return s.settle(ctx, g, GrantRejected, verr, nil)
	}
	f := &File{
		ID: g.ID, Key: g.Key, Filename: g.Filename, ContentType: g.ContentType,
		Size: info.Size, SHA256: sum, ETag: info.ETag,
		Issuer: g.Issuer, Subject: g.Subject, CreatedAt: s.now().UTC(),
	}
	return s.settle(ctx, g, GrantComplete, nil, f)
}

// settle finishes g and answers complete with whatever the ledger then
// holds: if a concurrent request finished the grant first, its outcome is
// the answer, not ours.
func (s *Service) settle(ctx context.Context, g *Grant, state GrantState, why error, f *File) (*File, error) {
	done, err := s.finish(ctx, g, state, why, f)
	if err != nil {
		return nil, err
	}
	if done.State != GrantComplete && state == GrantComplete {
		// Someone else expired or rejected it while we verified: no file
		// record will point at this object, so it must not stay.
		if err := s.Store.Delete(ctx, g.Key); err != nil {
			return nil, err
		}
	}
	return s.outcome(ctx, done)
}

// outcome is what complete answers for a grant that is no longer pending.
func (s *Service) outcome(ctx context.Context, g *Grant) (*File, error) {
	switch g.State {
	case GrantComplete:
		return s.Ledger.File(ctx, g.ID)
	case GrantRejected:
		return nil, Errorf(g.RejectCode, "%s", g.RejectReason)
	case GrantExpired:
		return nil, Errorf(CodeGrantExpired, "the upload URL expired before anything was written")
	}
	return nil, Errorf(CodeUploadMissing, "nothing has been uploaded for this grant yet")
}

// verify checks the stored object against its grant and returns the SHA-256
// it established (empty when none was declared).
func (s *Service) verify(ctx context.Context, g *Grant, info *ObjectInfo) (string, error) {
	if info.Size != g.Size {
		return "", Errorf(CodeSizeMismatch, "stored object is %d bytes, the grant was for %d", info.Size, g.Size)
	}
	if ct, _, _ := strings.Cut(info.ContentType, ";"); !strings.EqualFold(strings.TrimSpace(ct), g.ContentType) {
		return "", Errorf(CodeContentMismatch, "stored object has content type %q, the grant was for %q", info.ContentType, g.ContentType)
	}
	if s.Policy.VerifyAfterUpload == VerifyHead {
		// The store enforced what was signed; only what it reports is
		// checked, with no read of the object.
		if g.SHA256 != "" && info.SHA256 != "" && info.SHA256 != g.SHA256 {
			return "", Errorf(CodeChecksumMismatch, "stored object's SHA-256 differs from the declared one")
		}
		return g.SHA256, nil
	}
	head, err := s.readHead(ctx, g.Key)
	if err != nil {
		return "", err
	}
	if err := Sniff(head, g.ContentType); err != nil {
		return "", err
	}
	if g.SHA256 == "" {
		return "", nil
	}
	sum := info.SHA256
	if sum == "" {
		// The store kept no SHA-256 (e.g. a form upload): hash the object.
		if sum, err = s.hashObject(ctx, g.Key); err != nil {
			return "", err
		}
	}
	if sum != g.SHA256 {
		return "", Errorf(CodeChecksumMismatch, "stored object's SHA-256 differs from the declared one")
	}
	return sum, nil
}

func (s *Service) readHead(ctx context.Context, key string) ([]byte, error) {
	rc, err := s.Store.ReadRange(ctx, key, 0, SniffLen)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, SniffLen))
	if err != nil {
		return nil, Wrap(CodeUnavailable, err, "reading the stored object failed")
	}
	return b, nil
}

func (s *Service) hashObject(ctx context.Context, key string) (string, error) {
	rc, err := s.Store.ReadRange(ctx, key, 0, -1)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	h := sha256.New()
	if _, err := io.Copy(h, rc); err != nil {
		return "", Wrap(CodeUnavailable, err, "reading the stored object failed")
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// finish moves g out of pending. If another request finished it first, the
// ledger's state wins and is returned.
func (s *Service) finish(ctx context.Context, g *Grant, state GrantState, why error, f *File) (*Grant, error) {
	next := *g
	next.State = state
	next.FinishedAt = s.now().UTC()
	if why != nil {
		next.RejectCode, next.RejectReason = ErrorCode(why), ErrorMessage(why)
	}
	err := s.Ledger.FinishGrant(ctx, &next, f)
	if IsCode(err, CodeConflict) {
		return s.Ledger.Grant(ctx, g.ID)
	}
	if err != nil {
		return nil, err
	}
	lvl := slog.LevelInfo
	if state == GrantRejected {
		lvl = slog.LevelWarn
	}
	s.log().LogAttrs(ctx, lvl, "grant "+string(state),
		slog.String("grant", g.ID), slog.String("sub", g.Subject), slog.String("key", g.Key),
		slog.String("code", string(next.RejectCode)))
	if s.Observer != nil {
		s.Observer.GrantFinished(&next)
	}
	return &next, nil
}

// Files lists id's files, newest first.
func (s *Service) Files(ctx context.Context, id *Identity, cursor string, limit int) ([]*File, string, error) {
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	return s.Ledger.Files(ctx, Owner{id.Issuer, id.Subject}, cursor, limit)
}

// File returns one of id's files; another user's file is not found.
func (s *Service) File(ctx context.Context, id *Identity, fileID string) (*File, error) {
	f, err := s.Ledger.File(ctx, fileID)
	if err != nil {
		return nil, err
	}
	if f.Owner() != (Owner{id.Issuer, id.Subject}) {
		return nil, Errorf(CodeNotFound, "no such file")
	}
	return f, nil
}

// DownloadURL returns a short-lived presigned GET for one of id's files.
func (s *Service) DownloadURL(ctx context.Context, id *Identity, fileID string) (*Presigned, error) {
	f, err := s.File(ctx, id, fileID)
	if err != nil {
		return nil, err
	}
	now := s.now().UTC().Truncate(time.Second)
	return s.Store.PresignGet(ctx, f.Key, now, now.Add(s.Policy.DownloadTTL))
}

// DeleteFile removes one of id's files from the store, then the ledger.
func (s *Service) DeleteFile(ctx context.Context, id *Identity, fileID string) error {
	f, err := s.File(ctx, id, fileID)
	if err != nil {
		return err
	}
	if err := s.Store.Delete(ctx, f.Key); err != nil {
		return err
	}
	if err := s.Ledger.DeleteFile(ctx, f.ID); err != nil {
		return err
	}
	s.audit(ctx, &AuditEvent{Kind: AuditDelete, Issuer: f.Issuer, Subject: f.Subject, Email: id.Email,
		Key: f.Key, Size: f.Size, SHA256: f.SHA256, Outcome: "ok", Detail: f.ID})
	s.log().LogAttrs(ctx, slog.LevelInfo, "file deleted", slog.String("file", f.ID), slog.String("sub", f.Subject), slog.String("key", f.Key))
	return nil
}
