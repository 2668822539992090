package sluice

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// Methods of grants whose bytes come through sluice instead of going to the
// store on a presigned URL.
const (
	// MethodProxy: one request to POST /v1/files carries the whole file.
	MethodProxy = "PROXY"
	// MethodTus: a resumable (tus 1.0) upload, finished when its last byte
	// arrives.
	MethodTus = "TUS"
)

// presigned reports whether the client writes grants of method m straight
// to the store, so that only the client's complete can finish them.
func presigned(method string) bool { return method == MethodPUT || method == MethodPOST }

// StreamPutter is the optional capability of a Store to write an object from
// bytes that pass through sluice (proxied uploads). The embedded store
// writes in-process; an S3 store streams one PUT, or a multipart upload
// beyond its part size.
type StreamPutter interface {
	// PutStream writes what r yields to p.Key. Memory stays bounded by one
	// part whatever the object's size.
	//
	// The object appears only if r is read to its end without error, its
	// length is p.Size exactly (when p.Size >= 0; bytes beyond it are not
	// read) or at most p.MaxSize (when p.Size < 0), and, when p.SHA256 is
	// set, its SHA-256 is that. On any failure, including ctx ending,
	// nothing is left behind: no object, no multipart upload. It never
	// overwrites: an existing key is CodeConflict.
	//
	// On success the ObjectInfo's SHA256 is always set, computed once as
	// the bytes went by. Errors: r's own error (wrapped, so errors.Is finds
	// it), CodeUploadIncomplete (r ended before p.Size), CodeTooLarge,
	// CodeChecksumMismatch, CodeConflict, CodeUnavailable.
	PutStream(ctx context.Context, p StreamParams, r io.Reader) (*ObjectInfo, error)
	// PendingUploads lists the keys under prefix that have a multipart
	// upload in progress. After PutStream returns, none is its own.
	PendingUploads(ctx context.Context, prefix string) ([]string, error)
}

// StreamParams describes the one object PutStream writes.
type StreamParams struct {
	Key         string
	ContentType string
	// Size is the exact length of the stream, or -1 when it is not known
	// in advance (chunked transfer, a form's file part).
	Size int64
	// MaxSize bounds a stream of unknown size.
	MaxSize int64
	// SHA256 is the declared lowercase hex SHA-256; empty for none.
	SHA256 string
}

// ByteCounter is the optional capability of an Observer to count the bytes
// of uploads that pass through sluice (proxied and resumable), as they are
// read from clients. It is called often, from many goroutines: it must be
// as cheap as an atomic add.
type ByteCounter interface {
	BytesThrough(n int64)
}

// CountBytes reports n bytes of an upload read through sluice to the
// Observer, if it counts them.
func (s *Service) CountBytes(n int64) {
	if c, ok := s.Observer.(ByteCounter); ok && n > 0 {
		c.BytesThrough(n)
	}
}

// UploadLimiter bounds how many uploads one user streams through sluice at
// once. The in-process LocalLimiter counts per process; a limiter kept in
// the shared ledger can replace it to count across instances.
type UploadLimiter interface {
	// Acquire takes one of o's slots, or fails with CodeTooManyUploads when
	// they are all taken. release gives the slot back; calling it more than
	// once is harmless.
	Acquire(ctx context.Context, o Owner) (release func(), err error)
}

// LocalLimiter is an UploadLimiter for one process.
type LocalLimiter struct {
	perUser int
	mu      sync.Mutex
	used    map[Owner]int
}

// NewLocalLimiter allows perUser uploads at once to each user.
func NewLocalLimiter(perUser int) *LocalLimiter {
	return &LocalLimiter{perUser: perUser, used: map[Owner]int{}}
}

// Acquire takes one of o's slots if one is free; it never waits.
func (l *LocalLimiter) Acquire(_ context.Context, o Owner) (func(), error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.used[o] >= l.perUser {
		return nil, Errorf(CodeTooManyUploads, "%d uploads of yours are already in progress; wait for one to finish", l.perUser)
	}
	l.used[o]++
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			if l.used[o]--; l.used[o] <= 0 {
				delete(l.used, o)
			}
		})
	}, nil
}

// StreamRequest describes an upload whose bytes come through sluice.
type StreamRequest struct {
	Filename    string
	ContentType string
	// Size is the declared length; -1 when unknown (proxied uploads only).
	Size int64
	// SHA256 is the declared lowercase hex SHA-256, if any.
	SHA256 string
}

// finishTimeout bounds the ledger and store calls that settle an upload
// after its request is gone: they must still run when the client has
// disconnected, but not forever.
const finishTimeout = 30 * time.Second

// acquire takes a slot of id's; with no Limiter there is no limit.
func (s *Service) acquire(ctx context.Context, id *Identity) (func(), error) {
	if s.Limiter == nil {
		return func() {}, nil
	}
	return s.Limiter.Acquire(ctx, Owner{id.Issuer, id.Subject})
}

// AcquireUpload takes one of id's concurrent-upload slots (for transports
// such as tus that stream in several requests); release it when the
// request ends.
func (s *Service) AcquireUpload(ctx context.Context, id *Identity) (release func(), err error) {
	return s.acquire(ctx, id)
}

// newGrant applies the policy to req and builds (without recording) a
// grant for method, valid for ttl. A negative req.Size means unknown.
func (s *Service) newGrant(id *Identity, req StreamRequest, method string, ttl time.Duration, meta RequestMeta) (*Grant, error) {
	prefix, err := s.admit(id)
	if err != nil {
		return nil, err
	}
	ct, err := s.Policy.ContentType(req.ContentType)
	if err != nil {
		return nil, err
	}
	size := req.Size
	if size >= 0 {
		if err := s.Policy.CheckSize(size); err != nil {
			return nil, err
		}
	} else {
		size = 0 // the ledger's "not declared"; the file records the real size
	}
	sum, err := NormalizeSHA256(req.SHA256)
	if err != nil {
		return nil, err
	}
	filename, err := CleanFilename(req.Filename)
	if err != nil {
		return nil, err
	}
	gid := s.newID()
	ext, _ := Extension(ct)
	now := s.now().UTC().Truncate(time.Second)
	return &Grant{
		ID: gid, Key: prefix + gid + ext, Method: method,
		Issuer: id.Issuer, Subject: id.Subject, Email: id.Email,
		Filename: filename, ContentType: ct, Size: size, SHA256: sum,
		ClientIP: meta.ClientIP, UserAgent: meta.UserAgent,
		CreatedAt: now, ExpiresAt: now.Add(ttl), State: GrantPending,
	}, nil
}

// record writes a new grant to the ledger.
func (s *Service) record(ctx context.Context, g *Grant) error {
	if err := s.createGrant(ctx, g); err != nil {
		return err
	}
	s.log().LogAttrs(ctx, slog.LevelInfo, "grant issued",
		slog.String("grant", g.ID), slog.String("sub", g.Subject), slog.String("key", g.Key),
		slog.Int64("size", g.Size), slog.String("content_type", g.ContentType), slog.String("method", g.Method))
	if s.Observer != nil {
		s.Observer.GrantIssued(g)
	}
	return nil
}

// ProxyUpload stores the file that body carries, checking it on the way:
// its first bytes against the declared type before anything is written,
// its length against the policy as it arrives, and its SHA-256 (when
// declared) before the store commits it. It records a grant of method
// PROXY and, on success, the file.
//
// Any failure leaves nothing in the store and the grant rejected with the
// reason; a refusal before the grant (policy, too many uploads) records
// nothing. The grant is returned once recorded, failure or not, so that
// the client can be told where to look. body must end where the file ends.
func (s *Service) ProxyUpload(ctx context.Context, id *Identity, req StreamRequest, body io.Reader, meta RequestMeta) (*Grant, *File, error) {
	sp, ok := s.Store.(StreamPutter)
	if !ok {
		return nil, nil, Errorf(CodeMethodNotSupported, "this storage backend cannot take uploads through sluice; use POST /v1/uploads")
	}
	g, err := s.newGrant(id, req, MethodProxy, s.Policy.URLTTL, meta)
	if err != nil {
		return nil, nil, err
	}
	release, err := s.acquire(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	defer release()
	if err := s.record(ctx, g); err != nil {
		return nil, nil, err
	}
	f, err := s.stream(ctx, sp, g, req.Size, body)
	if err != nil {
		if c := ErrorCode(err); ctx.Err() != nil && (c == CodeInternal || c == CodeUnavailable) {
			// The store failed because the request ended, not the reverse.
			err = Wrap(CodeUploadIncomplete, err, "the upload stopped before its end: the client went away")
		}
		s.reject(ctx, g, err)
		return g, nil, err
	}
	return g, f, nil
}

// stream sniffs, streams and settles one proxied upload.
func (s *Service) stream(ctx context.Context, sp StreamPutter, g *Grant, size int64, body io.Reader) (*File, error) {
	gr := &guard{r: body, size: size, max: s.Policy.MaxSize}
	if c, ok := s.Observer.(ByteCounter); ok {
		gr.count = c.BytesThrough
	}
	head := make([]byte, SniffLen)
	n, err := io.ReadFull(gr, head)
	switch {
	case err == io.EOF:
		return nil, Errorf(CodeInvalidSize, "the body is empty")
	case err != nil && err != io.ErrUnexpectedEOF:
		return nil, err
	}
	head = head[:n]
	// Before a byte reaches the store: the content must be what it says.
	if err := Sniff(head, g.ContentType); err != nil {
		return nil, err
	}
	info, err := sp.PutStream(ctx, StreamParams{
		Key: g.Key, ContentType: g.ContentType, Size: size, MaxSize: s.Policy.MaxSize, SHA256: g.SHA256,
	}, io.MultiReader(bytes.NewReader(head), gr))
	// The guard saw the body's own failure first hand; the store's error
	// may only say that its write broke.
	if gr.err != nil {
		if err == nil {
			s.discard(ctx, g.Key)
		}
		return nil, gr.err
	}
	if err != nil {
		return nil, err
	}
	// The store's figures are the truth; a store that enforced less than
	// its contract must still not get a wrong object recorded.
	var bad error
	switch {
	case size >= 0 && info.Size != size:
		bad = Errorf(CodeSizeMismatch, "stored %d bytes, the request declared %d", info.Size, size)
	case info.Size > s.Policy.MaxSize:
		bad = Errorf(CodeTooLarge, "the body exceeds the maximum of %d bytes", s.Policy.MaxSize)
	case g.SHA256 != "" && info.SHA256 != g.SHA256:
		bad = Errorf(CodeChecksumMismatch, "the body's SHA-256 differs from the declared one")
	}
	if bad != nil {
		s.discard(ctx, g.Key)
		return nil, bad
	}
	f := &File{
		ID: g.ID, Key: g.Key, Filename: g.Filename, ContentType: g.ContentType,
		Size: info.Size, SHA256: info.SHA256, ETag: info.ETag,
		Issuer: g.Issuer, Subject: g.Subject, CreatedAt: s.now().UTC(),
	}
	// Record the file even if the client left after its last byte.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
	defer cancel()
	done, err := s.finish(fctx, g, GrantComplete, nil, f)
	if err != nil {
		s.discard(ctx, g.Key)
		return nil, err
	}
	if done.State != GrantComplete {
		// Not ours to keep: no file record would point at the object.
		s.discard(ctx, g.Key)
		return s.outcome(fctx, done)
	}
	return f, nil
}

// discard deletes an object that must not stay, even when ctx has ended.
func (s *Service) discard(ctx context.Context, key string) {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
	defer cancel()
	if err := s.Store.Delete(dctx, key); err != nil {
		s.log().LogAttrs(ctx, slog.LevelError, "cannot delete a refused object",
			slog.String("key", key), slog.String("error", err.Error()))
	}
}

// reject records why g failed, even when ctx has ended.
func (s *Service) reject(ctx context.Context, g *Grant, why error) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
	defer cancel()
	if _, err := s.finish(rctx, g, GrantRejected, why, nil); err != nil {
		s.log().LogAttrs(ctx, slog.LevelError, "cannot record a rejected upload",
			slog.String("grant", g.ID), slog.String("error", err.Error()))
	}
}

// guard counts a request body as it is read and turns what would let a
// store commit a wrong object into errors: more than max bytes, or an end
// before the declared size (which some stores would take for a short but
// complete object). It remembers the first such error.
type guard struct {
	r         io.Reader
	n         int64
	size, max int64
	err       error
	count     func(int64) // metrics, when counted
}

func (g *guard) Read(p []byte) (int, error) {
	if g.err != nil {
		return 0, g.err
	}
	n, err := g.r.Read(p)
	g.n += int64(n)
	if g.count != nil && n > 0 {
		g.count(int64(n))
	}
	if g.n > g.max {
		// Refuse the bytes that crossed the cap rather than pass them on.
		g.err = Errorf(CodeTooLarge, "the body exceeds the maximum of %d bytes", g.max)
		return 0, g.err
	}
	switch {
	case err == nil:
		return n, nil
	case err == io.EOF:
		if g.size >= 0 && g.n < g.size {
			g.err = Errorf(CodeUploadIncomplete, "the body ended after %d of the %d bytes declared", g.n, g.size)
			return n, g.err
		}
		return n, io.EOF
	}
	g.err = bodyError(err, g.n)
	return n, g.err
}

// bodyError explains why reading a request body failed.
func bodyError(err error, n int64) error {
	var se *Error
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &se):
		return err
	case errors.As(err, &mbe):
		return Wrap(CodeTooLarge, err, "the body exceeds the maximum of %d bytes", mbe.Limit)
	}
	return Wrap(CodeUploadIncomplete, err, "the upload stopped after %d bytes: the client went away or the body is malformed", n)
}

// BeginResumable applies the policy to a resumable upload of known size and
// records its grant (method TUS), valid for ttl. The returned grant names
// the key the upload must be written to.
func (s *Service) BeginResumable(ctx context.Context, id *Identity, req StreamRequest, ttl time.Duration, meta RequestMeta) (*Grant, error) {
	if req.Size < 0 {
		return nil, Errorf(CodeInvalidSize, "a resumable upload must declare its length")
	}
	g, err := s.newGrant(id, req, MethodTus, ttl, meta)
	if err != nil {
		return nil, err
	}
	if err := s.record(ctx, g); err != nil {
		return nil, err
	}
	return g, nil
}

// ResumableGrant returns id's resumable grant grantID; another user's, or
// one of another method, is not found.
func (s *Service) ResumableGrant(ctx context.Context, id *Identity, grantID string) (*Grant, error) {
	g, err := s.ownGrant(ctx, id, grantID)
	if err != nil {
		return nil, err
	}
	if g.Method != MethodTus {
		return nil, Errorf(CodeNotFound, "no such upload")
	}
	return g, nil
}

// FinishResumable verifies the object a resumable upload wrote, as
// complete does for a presigned one, and records the file. An object that
// fails is deleted and the grant rejected; a finished grant answers as it
// did the first time.
func (s *Service) FinishResumable(ctx context.Context, id *Identity, grantID string) (*File, error) {
	g, err := s.ResumableGrant(ctx, id, grantID)
	if err != nil {
		return nil, err
	}
	if g.State != GrantPending {
		return s.outcome(ctx, g)
	}
	return s.completeGrant(ctx, g)
}

// AbandonResumable ends a pending resumable grant as state (rejected or
// expired) with why, when its upload was terminated or ran out of time.
// The caller removes what the upload wrote.
func (s *Service) AbandonResumable(ctx context.Context, g *Grant, state GrantState, why error) error {
	_, err := s.finish(ctx, g, state, why, nil)
	return err
}
