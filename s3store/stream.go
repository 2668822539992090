package s3store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"hash"
	"io"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/sluicehq/sluice"
)

// DefaultPartSize is PutStream's part size unless Config.PartSize says
// otherwise: S3's 5 MiB minimum with some room, so that memory per upload
// stays small.
const DefaultPartSize = 8 << 20

// minPartSize and maxParts are S3's multipart limits.
const (
	minPartSize = 5 << 20
	maxParts    = 10000
)

// cleanupTimeout bounds the aborts and deletes that run after a stream
// failed, on a context of their own since the request's may be gone.
const cleanupTimeout = 30 * time.Second

var _ sluice.StreamPutter = (*Store)(nil)

// partPool recycles DefaultPartSize buffers between uploads, so that a busy
// proxy does not make the garbage collector chase 8 MiB slices.
var partPool = sync.Pool{New: func() any { b := make([]byte, DefaultPartSize); return &b }}

func (s *Store) partSize(p sluice.StreamParams) int64 {
	size := s.cfg.PartSize
	if size < minPartSize {
		size = DefaultPartSize
	}
	// A large object must still fit in S3's 10,000 parts.
	limit := p.Size
	if limit < 0 {
		limit = p.MaxSize
	}
	if need := (limit + maxParts - 1) / maxParts; need > size {
		size = need
	}
	return size
}

// partOpts are the options of a call whose body is a buffered part. It is
// signed UNSIGNED-PAYLOAD: hashing it again for the signature would only
// cost CPU, since its SHA-256 is checked otherwise (by the store for a
// single PUT, before completion for a multipart upload). No 100-continue:
// a round trip per part for nothing, the request is already authorised.
func partOpts(o *s3.Options) {
	o.APIOptions = append(o.APIOptions, v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware)
	o.ContinueHeaderThresholdBytes = -1
}

// PutStream writes r to p.Key: one PUT when the body fits in a part, else
// a multipart upload. Either way each part is read whole into memory before
// it is sent, so that a body that breaks off never reaches the store as a
// short request: some S3 implementations (versitygw among them) commit a
// PUT whose connection closed early as a complete, shorter object. The
// SHA-256 is computed on the way and checked before anything is
// committed: sent with a single PUT for the store to verify, compared
// before completing a multipart upload, which a failed check aborts.
func (s *Store) PutStream(ctx context.Context, p sluice.StreamParams, r io.Reader) (*sluice.ObjectInfo, error) {
	rec := &recorder{r: r}
	buf, free := partBuffer(s.partSize(p))
	defer free()
	first, err := fill(rec, buf, p, 0)
	if err != nil {
		return nil, err
	}
	if len(first) < len(buf) || (p.Size >= 0 && int64(len(first)) == p.Size) {
		return s.putBuffered(ctx, p, first)
	}
	return s.putMultipart(ctx, p, rec, buf, first)
}

// putBuffered writes a whole body held in memory, checking its SHA-256
// before anything is sent.
func (s *Store) putBuffered(ctx context.Context, p sluice.StreamParams, b []byte) (*sluice.ObjectInfo, error) {
	sum := sha256.Sum256(b)
	if p.SHA256 != "" && hex.EncodeToString(sum[:]) != p.SHA256 {
		return nil, sluice.Errorf(sluice.CodeChecksumMismatch, "the body's SHA-256 differs from the declared one")
	}
	out, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(s.cfg.Bucket), Key: aws.String(p.Key), Body: bytes.NewReader(b),
		ContentLength: aws.Int64(int64(len(b))), ContentType: aws.String(p.ContentType), IfNoneMatch: aws.String("*"),
		ChecksumSHA256: aws.String(base64.StdEncoding.EncodeToString(sum[:])),
	}, partOpts)
	if err != nil {
		return nil, streamError(err, "put "+p.Key)
	}
	h := sha256.New()
	h.Write(b)
	return s.stored(ctx, p, int64(len(b)), h, aws.ToString(out.ETag))
}

// putMultipart uploads first, then the rest of rec part by part through
// buf, and completes only if the length and SHA-256 are right. Any failure
// aborts the multipart upload, so its parts do not linger in the bucket.
func (s *Store) putMultipart(ctx context.Context, p sluice.StreamParams, rec *recorder, buf, first []byte) (info *sluice.ObjectInfo, err error) {
	created, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket: aws.String(s.cfg.Bucket), Key: aws.String(p.Key), ContentType: aws.String(p.ContentType),
	})
	if err != nil {
		return nil, streamError(err, "create multipart upload "+p.Key)
	}
	uploadID := created.UploadId
	defer func() {
		if err != nil {
			s.abort(ctx, p.Key, uploadID)
		}
	}()
	h := sha256.New()
	var parts []types.CompletedPart
	var total int64
	for chunk := first; len(chunk) > 0; {
		h.Write(chunk)
		total += int64(len(chunk))
		n := int32(len(parts) + 1)
		out, err := s.client.UploadPart(ctx, &s3.UploadPartInput{
			Bucket: aws.String(s.cfg.Bucket), Key: aws.String(p.Key), UploadId: uploadID,
			PartNumber: aws.Int32(n), Body: bytes.NewReader(chunk), ContentLength: aws.Int64(int64(len(chunk))),
		}, partOpts)
		if err != nil {
			return nil, streamError(err, "upload part of "+p.Key)
		}
		parts = append(parts, types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(n)})
		if int64(len(chunk)) < int64(len(buf)) {
			break // a short part is the last one
		}
		if chunk, err = fill(rec, buf, p, total); err != nil {
			return nil, err
		}
	}
	if p.Size >= 0 && total != p.Size {
		return nil, sluice.Errorf(sluice.CodeUploadIncomplete, "the body ended after %d of the %d bytes declared", total, p.Size)
	}
	if sum := hex.EncodeToString(h.Sum(nil)); p.SHA256 != "" && sum != p.SHA256 {
		return nil, sluice.Errorf(sluice.CodeChecksumMismatch, "the body's SHA-256 differs from the declared one")
	}
	out, err := s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: aws.String(s.cfg.Bucket), Key: aws.String(p.Key), UploadId: uploadID,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}, IfNoneMatch: aws.String("*"),
	})
	if err != nil {
		return nil, streamError(err, "complete multipart upload "+p.Key)
	}
	return s.stored(ctx, p, total, h, aws.ToString(out.ETag))
}

// fill reads the next part into buf: full, or short at the end of the
// body. done bytes were read before it. It enforces the declared size and
// the maximum as it goes.
func fill(rec *recorder, buf []byte, p sluice.StreamParams, done int64) ([]byte, error) {
	want := int64(len(buf))
	if p.Size >= 0 && p.Size-done < want {
		want = p.Size - done
	}
	n, err := io.ReadFull(rec, buf[:want])
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		if rec.err != nil {
			return nil, rec.err
		}
		if p.Size >= 0 {
			return nil, sluice.Errorf(sluice.CodeUploadIncomplete, "the body ended after %d of the %d bytes declared", done+int64(n), p.Size)
		}
	case err != nil:
		return nil, err
	}
	if p.Size < 0 && done+int64(n) > p.MaxSize {
		return nil, sluice.Errorf(sluice.CodeTooLarge, "the body exceeds the maximum of %d bytes", p.MaxSize)
	}
	return buf[:n], nil
}

// stored checks what was committed against p and describes it. An object
// that turns out wrong is deleted: the caller never records it.
func (s *Store) stored(ctx context.Context, p sluice.StreamParams, size int64, h hash.Hash, etag string) (*sluice.ObjectInfo, error) {
	sum := hex.EncodeToString(h.Sum(nil))
	var bad error
	switch {
	case p.SHA256 != "" && sum != p.SHA256:
		bad = sluice.Errorf(sluice.CodeChecksumMismatch, "the body's SHA-256 differs from the declared one")
	case p.Size < 0 && size > p.MaxSize:
		bad = sluice.Errorf(sluice.CodeTooLarge, "the body exceeds the maximum of %d bytes", p.MaxSize)
	}
	if bad != nil {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer cancel()
		s.Delete(dctx, p.Key)
		return nil, bad
	}
	return &sluice.ObjectInfo{
		Key: p.Key, Size: size, ContentType: p.ContentType, SHA256: sum,
		ETag: trimETag(etag), Modified: time.Now().UTC(),
	}, nil
}

// abort drops a multipart upload and its parts, even when ctx has ended.
func (s *Store) abort(ctx context.Context, key string, uploadID *string) {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	_, _ = s.client.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{
		Bucket: aws.String(s.cfg.Bucket), Key: aws.String(key), UploadId: uploadID,
	})
}

// PendingUploads lists the keys under prefix with a multipart upload in
// progress.
func (s *Store) PendingUploads(ctx context.Context, prefix string) ([]string, error) {
	var keys []string
	in := &s3.ListMultipartUploadsInput{Bucket: aws.String(s.cfg.Bucket), Prefix: aws.String(prefix)}
	for {
		out, err := s.client.ListMultipartUploads(ctx, in)
		if err != nil {
			return nil, translate(err, "list multipart uploads")
		}
		for _, u := range out.Uploads {
			keys = append(keys, aws.ToString(u.Key))
		}
		if !aws.ToBool(out.IsTruncated) {
			return keys, nil
		}
		in.KeyMarker, in.UploadIdMarker = out.NextKeyMarker, out.NextUploadIdMarker
	}
}

// partBuffer returns a buffer of size bytes and a func to give it back.
func partBuffer(size int64) ([]byte, func()) {
	if size != DefaultPartSize {
		return make([]byte, size), func() {}
	}
	bp := partPool.Get().(*[]byte)
	return *bp, func() { partPool.Put(bp) }
}

// recorder remembers the first error (other than EOF) its reader
// returned: behind the SDK and net/http, that error may reach the caller
// only as "request failed".
type recorder struct {
	r   io.Reader
	err error
}

func (r *recorder) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF && r.err == nil {
		r.err = err
	}
	return n, err
}

// streamError translates a failed write, with the answers particular to
// writes, at the boundary.
func streamError(err error, op string) error {
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "PreconditionFailed", "ConditionalRequestConflict":
			return sluice.Wrap(sluice.CodeConflict, err, "an object already exists at this key")
		case "BadDigest", "InvalidDigest", "XAmzContentChecksumMismatch", "XAmzContentSHA256Mismatch":
			return sluice.Wrap(sluice.CodeChecksumMismatch, err, "the body's SHA-256 differs from the declared one")
		case "EntityTooLarge":
			return sluice.Wrap(sluice.CodeTooLarge, err, "the store refused the object as too large")
		case "IncompleteBody":
			return sluice.Wrap(sluice.CodeUploadIncomplete, err, "the body ended before its declared length")
		}
	}
	return translate(err, op)
}

func hexToBase64(h string) (string, error) {
	raw, err := hex.DecodeString(h)
	if err != nil || len(raw) != sha256.Size {
		return "", sluice.Errorf(sluice.CodeInvalidChecksum, "sha256 must be 64 hex characters")
	}
	return base64.StdEncoding.EncodeToString(raw), nil
}

func trimETag(e string) string {
	if len(e) >= 2 && e[0] == '"' && e[len(e)-1] == '"' {
		return e[1 : len(e)-1]
	}
	return e
}
