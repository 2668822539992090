// Package tus serves resumable uploads (tus 1.0: core, creation,
// creation-with-upload, termination and checksum) with tusd v2's handler
// and its S3 store, writing to the same bucket as the sluice store.
//
// sluice stays in charge of everything tusd would otherwise decide:
//
//   - who: every request carries a verified identity (httpapi checks the
//     token); an upload belongs to the issuer and subject of the grant that
//     created it, and anyone else is answered 404 (GetUpload below).
//   - where: creation records a grant (method TUS) whose key is
//     users/{sub}/{id}{ext}. tusd's S3 store writes its multipart upload
//     straight to that key (it uses the upload's ID as the object key), so
//     the finished object needs no copy. Its bookkeeping objects (.info,
//     .part) live under a staging prefix, outside users/.
//   - what: the policy (Upload-Length, the type in Upload-Metadata) is
//     applied at creation; on the last byte the object is verified as a
//     presigned upload is (size, type, magic number, SHA-256 when declared
//     in Upload-Metadata) before the file is recorded; a failing object is
//     deleted with the upload.
//
// The URL of an upload is {base}{grant id}+{multipart upload id}: the
// grant ID is the file's ID once it is finished.
package tus

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/tus/tusd/v2/pkg/handler"
	"github.com/tus/tusd/v2/pkg/memorylocker"
	tuss3 "github.com/tus/tusd/v2/pkg/s3store"

	"github.com/sluicehq/sluice"
)

// Config of the resumable upload handler. Defaults are in defaults.
type Config struct {
	Service *sluice.Service
	// S3 is the client tusd's store writes with, and Bucket the bucket:
	// the sluice store's own, with its server-side credentials, which never
	// leave the server.
	S3     tuss3.S3API
	Bucket string
	// BasePath is the URL path the handler is mounted at, e.g. /v1/tus/.
	BasePath string
	// StagingPrefix is where tusd keeps each upload's .info and .part
	// objects. Default ".tus/": outside users/, so that no user's listing
	// shows them.
	StagingPrefix string
	// TempDir holds the parts tusd's S3 store buffers on disk while it
	// sends them (a property of that store: it cuts the stream into parts
	// of known size). Default: the system's temporary directory.
	TempDir string
	// PartSize is tusd's preferred part size, at least 5 MiB (S3's
	// minimum). Default 8 MiB.
	PartSize int64
	// ChecksumChunk bounds a request that carries Upload-Checksum: its body
	// is held in memory until the checksum holds, so that a chunk that
	// fails it is never appended. Default 8 MiB.
	ChecksumChunk int64
	// TTL is how long a resumable upload may take from creation to its
	// last byte. Default 24 h.
	TTL time.Duration
	// TrustProxy builds upload URLs from X-Forwarded-Host/-Proto.
	TrustProxy bool
	Log        *slog.Logger
}

func (c *Config) defaults() error {
	if c.Service == nil || c.S3 == nil || c.Bucket == "" {
		return errors.New("tus: Service, S3 and Bucket are required")
	}
	if c.BasePath == "" {
		c.BasePath = "/v1/tus/"
	}
	if !strings.HasSuffix(c.BasePath, "/") {
		c.BasePath += "/"
	}
	if c.StagingPrefix == "" {
		c.StagingPrefix = ".tus/"
	}
	if c.PartSize == 0 {
		c.PartSize = 8 << 20
	}
	if c.PartSize < minPartSize {
		return errors.New("tus: PartSize must be at least 5 MiB")
	}
	if c.ChecksumChunk <= 0 {
		c.ChecksumChunk = 8 << 20
	}
	if c.TTL <= 0 {
		c.TTL = 24 * time.Hour
	}
	if c.TempDir != "" {
		if err := os.MkdirAll(c.TempDir, 0o700); err != nil {
			return err
		}
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	return nil
}

const minPartSize = 5 << 20

// Extensions is what the handler implements, as Tus-Extension says.
const Extensions = "creation,creation-with-upload,termination,checksum"

// Handler serves the tus protocol. Build it with New.
type Handler struct {
	cfg   Config
	store *store
	tusd  http.Handler
}

// New builds the handler.
func New(cfg Config) (*Handler, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	inner := tuss3.New(cfg.Bucket, cfg.S3)
	inner.MetadataObjectPrefix = cfg.StagingPrefix
	inner.PreferredPartSize = cfg.PartSize
	inner.MinPartSize = minPartSize
	inner.TemporaryDirectory = cfg.TempDir
	// One part on disk beside the one being sent: enough to keep the
	// client busy, without filling the disk with a fast client's backlog.
	inner.MaxBufferedParts = 1
	st := &store{inner: inner, svc: cfg.Service, log: cfg.Log}

	composer := handler.NewStoreComposer()
	composer.UseCore(st)
	composer.UseTerminater(st)
	// Serialises requests on one upload within this process (a new one
	// asks the holder to let go, as tus clients expect). Instances sharing
	// a bucket need a shared locker: issue 6's to provide.
	composer.UseLocker(memorylocker.New())

	h := &Handler{cfg: cfg, store: st}
	tusd, err := handler.NewHandler(handler.Config{
		StoreComposer: composer,
		BasePath:      cfg.BasePath,
		// Downloads go through GET /v1/files/{id}/content like any file's.
		DisableDownload:            true,
		Cors:                       &handler.CorsConfig{Disable: true}, // httpapi answers CORS
		RespectForwardedHeaders:    cfg.TrustProxy,
		PreUploadCreateCallback:    h.beforeCreate,
		PreFinishResponseCallback:  h.beforeFinish,
		PreUploadTerminateCallback: h.beforeTerminate,
		Logger:                     tusdLogger(cfg.Log),
	})
	if err != nil {
		return nil, err
	}
	h.tusd = http.StripPrefix(strings.TrimSuffix(cfg.BasePath, "/"), tusd)
	return h, nil
}

type callerKey struct{}

// caller is who makes a request, for the hooks and the store, which get
// only a context; grant carries the grant from creation's hook to NewUpload.
type caller struct {
	id     *sluice.Identity
	meta   sluice.RequestMeta
	method string
	grant  *sluice.Grant
}

func callerFrom(ctx context.Context) *caller {
	c, _ := ctx.Value(callerKey{}).(*caller)
	return c
}

// ServeResumable serves one tus request from id (nil only for OPTIONS,
// which needs no token).
func (h *Handler) ServeResumable(w http.ResponseWriter, r *http.Request, id *sluice.Identity, meta sluice.RequestMeta) {
	w.Header().Set("Tus-Resumable", "1.0.0")
	if r.Method == http.MethodOptions {
		h.options(w)
		return
	}
	if m := r.Header.Get("X-HTTP-Method-Override"); r.Method == http.MethodPost && m != "" {
		r.Method = m // as tusd would, so that the checks below see the real method
		r.Header.Del("X-HTTP-Method-Override")
	}
	ctx := context.WithValue(r.Context(), callerKey{}, &caller{id: id, meta: meta, method: r.Method})
	r = r.WithContext(ctx)
	if carriesChunk(r) {
		// Each request that streams bytes holds one of the user's
		// concurrent-upload slots, like a proxied upload does.
		release, err := h.cfg.Service.AcquireUpload(ctx, id)
		if err != nil {
			writeError(w, err, 0)
			return
		}
		defer release()
		if r.Header.Get("Upload-Checksum") != "" {
			if status, err := h.checkChunk(r); err != nil {
				writeError(w, err, status)
				return
			}
		}
	}
	if carriesChunk(r) && r.Body != nil {
		cr := &counted{r: r.Body}
		r.Body = cr
		defer func() { h.cfg.Service.CountBytes(cr.n) }()
	}
	h.tusd.ServeHTTP(w, r)
}

// counted counts the bytes read from a request body (metrics).
type counted struct {
	r io.ReadCloser
	n int64
}

func (c *counted) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func (c *counted) Close() error { return c.r.Close() }

// carriesChunk reports whether r appends bytes: a PATCH, or a creation
// with its first chunk (creation-with-upload).
func carriesChunk(r *http.Request) bool {
	return r.Method == http.MethodPatch ||
		(r.Method == http.MethodPost && r.Header.Get("Content-Type") == "application/offset+octet-stream")
}

// options answers protocol discovery. tusd would answer too, but without
// the checksum extension it does not know sluice adds.
func (h *Handler) options(w http.ResponseWriter) {
	hd := w.Header()
	hd.Set("Tus-Version", "1.0.0")
	hd.Set("Tus-Extension", Extensions)
	hd.Set("Tus-Checksum-Algorithm", checksumAlgorithms)
	hd.Set("Tus-Max-Size", strconv.FormatInt(h.cfg.Service.Policy.MaxSize, 10))
	w.WriteHeader(http.StatusNoContent)
}

// beforeCreate applies the policy to a new upload and records its grant;
// the upload takes the grant's ID, and its metadata is replaced by what
// sluice decided (normalised type, cleaned filename), so that the store
// writes that type and no client-chosen metadata.
func (h *Handler) beforeCreate(ev handler.HookEvent) (handler.HTTPResponse, handler.FileInfoChanges, error) {
	var none handler.FileInfoChanges
	c := callerFrom(ev.Context)
	if c == nil || c.id == nil {
		return handler.HTTPResponse{}, none, tusError(sluice.Errorf(sluice.CodeTokenMissing, "an Authorization: Bearer <ID token> header is required"), 0)
	}
	if ev.Upload.IsPartial || ev.Upload.IsFinal || ev.Upload.SizeIsDeferred {
		return handler.HTTPResponse{}, none, tusError(sluice.Errorf(sluice.CodeInvalidRequest, "concatenation and deferred length are not supported"), 0)
	}
	md := ev.Upload.MetaData
	g, err := h.cfg.Service.BeginResumable(ev.Context, c.id, sluice.StreamRequest{
		Filename:    first(md["filename"], md["name"]),
		ContentType: first(md["filetype"], md["content_type"], md["type"]),
		Size:        ev.Upload.Size,
		SHA256:      md["sha256"],
	}, h.cfg.TTL, c.meta)
	if err != nil {
		return handler.HTTPResponse{}, none, tusError(err, 0)
	}
	c.grant = g
	meta := handler.MetaData{"filetype": g.ContentType, "grant": g.ID}
	if g.Filename != "" {
		meta["filename"] = g.Filename
	}
	if g.SHA256 != "" {
		meta["sha256"] = g.SHA256
	}
	resp := handler.HTTPResponse{Header: handler.HTTPHeader{"Upload-Expires": g.ExpiresAt.UTC().Format(http.TimeFormat)}}
	return resp, handler.FileInfoChanges{ID: g.ID, MetaData: meta}, nil
}

// beforeFinish runs once the last byte is stored and the multipart upload
// completed: the object is verified and the file recorded, or the object
// is deleted with the upload and the client told why.
func (h *Handler) beforeFinish(ev handler.HookEvent) (handler.HTTPResponse, error) {
	c := callerFrom(ev.Context)
	gid, mp := splitID(ev.Upload.ID)
	f, err := h.cfg.Service.FinishResumable(ev.Context, c.id, gid)
	if err != nil {
		code := sluice.ErrorCode(err)
		if code != sluice.CodeUnavailable && code != sluice.CodeInternal {
			// Rejected: the object is gone; drop the upload's remains too,
			// so that it cannot be resumed into a second verification.
			if g, gerr := h.cfg.Service.ResumableGrant(ev.Context, c.id, gid); gerr == nil {
				h.store.remove(ev.Context, g, mp)
			}
		}
		return handler.HTTPResponse{}, tusError(err, 0)
	}
	h.cfg.Log.LogAttrs(ev.Context, slog.LevelInfo, "resumable upload finished",
		slog.String("file", f.ID), slog.String("sub", f.Subject), slog.Int64("size", f.Size))
	return handler.HTTPResponse{Header: handler.HTTPHeader{"Sluice-File-Id": f.ID}}, nil
}

// beforeTerminate lets the owner cancel an upload in progress (its grant
// is rejected as incomplete), but not one that became a file: that is
// deleted with DELETE /v1/files/{id}, which termination would bypass.
func (h *Handler) beforeTerminate(ev handler.HookEvent) (handler.HTTPResponse, error) {
	c := callerFrom(ev.Context)
	gid, _ := splitID(ev.Upload.ID)
	g, err := h.cfg.Service.ResumableGrant(ev.Context, c.id, gid)
	if err != nil {
		return handler.HTTPResponse{}, tusError(err, 0)
	}
	switch g.State {
	case sluice.GrantComplete:
		return handler.HTTPResponse{}, tusError(sluice.Errorf(sluice.CodeConflict, "this upload is finished; delete the file with DELETE /v1/files/%s", g.ID), 0)
	case sluice.GrantPending:
		why := sluice.Errorf(sluice.CodeUploadIncomplete, "the client terminated the upload")
		if err := h.cfg.Service.AbandonResumable(ev.Context, g, sluice.GrantRejected, why); err != nil {
			return handler.HTTPResponse{}, tusError(err, 0)
		}
	}
	return handler.HTTPResponse{}, nil
}

// splitID splits an upload ID into the grant ID and the store's multipart
// upload ID.
func splitID(id string) (grant, multipart string) {
	i := strings.LastIndexByte(id, '+')
	if i < 0 {
		return id, ""
	}
	return id[:i], id[i+1:]
}

func first(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// tusError carries a sluice error to tusd, which answers it: the status
// from sluice's table (or status, when not 0) and the JSON body every
// sluice error has.
func tusError(err error, status int) error {
	code := sluice.ErrorCode(err)
	if status == 0 {
		status = sluice.HTTPStatus(code)
	}
	h := handler.HTTPHeader{"Content-Type": "application/json", "Cache-Control": "no-store"}
	if d := sluice.RetryAfter(err); d > 0 {
		h["Retry-After"] = strconv.FormatInt(int64((d+time.Second-1)/time.Second), 10)
	}
	return handler.Error{
		ErrorCode: string(code),
		Message:   sluice.ErrorMessage(err),
		HTTPResponse: handler.HTTPResponse{
			StatusCode: status,
			Body:       errorJSON(err),
			Header:     h,
		},
	}
}

// writeError answers err before tusd is involved.
func writeError(w http.ResponseWriter, err error, status int) {
	code := sluice.ErrorCode(err)
	if status == 0 {
		status = sluice.HTTPStatus(code)
	}
	if code == sluice.CodeTooManyUploads {
		w.Header().Set("Retry-After", "1")
	}
	if d := sluice.RetryAfter(err); d > 0 {
		w.Header().Set("Retry-After", strconv.FormatInt(int64((d+time.Second-1)/time.Second), 10))
	}
	// The chunk may be unread: close rather than read it (see httpapi).
	w.Header().Set("Connection", "close")
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	io.WriteString(w, errorJSON(err))
}
