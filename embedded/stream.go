package embedded

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/versity/versitygw/backend/posix"
	"github.com/versity/versitygw/s3err"
	"github.com/versity/versitygw/s3response"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/s3store"
)

// Store is the embedded store: everything goes through the S3 API of the
// gateway (presigned URLs, heads, reads) except the bytes of proxied
// uploads, which are handed to the posix backend in-process. That skips a
// loopback HTTP hop and its SigV4 work, which measured as the difference
// between a proxy at 0.7x and at 1.0x the speed of a direct PUT.
type Store struct {
	s3store.PostStore
	be     *posix.Posix
	bucket string
	count  func(op string) // Config.OnRequest, nil when not counting
}

var (
	_ sluice.StreamPutter        = (*Store)(nil)
	_ sluice.PostPresigner       = (*Store)(nil)
	_ interface{ Close() error } = (*Store)(nil)
)

// newStore wraps the gateway's S3 store with the in-process write path.
func newStore(st sluice.Store, be *posix.Posix, bucket string, count func(op string)) sluice.Store {
	ps, ok := st.(s3store.PostStore)
	if !ok {
		return st
	}
	return &Store{PostStore: ps, be: be, bucket: bucket, count: count}
}

// PutStream writes r to p.Key with the posix backend's PutObject, which
// stages the bytes in an unnamed temporary file and links it into place
// only once all of them arrived and their checksum held: whatever fails
// before, nothing is left. The backend computes the SHA-256 (as the
// object's checksum) in the same pass as its write, so the bytes are
// hashed once, and checks it against the declared one before the link.
//
// Every size goes in one write: the temporary file has no size ceiling,
// so the multipart path of S3 stores would only add parts to clean up.
func (s *Store) PutStream(ctx context.Context, p sluice.StreamParams, r io.Reader) (*sluice.ObjectInfo, error) {
	// The backend truncates a body that ends early instead of failing: the
	// length checks must turn an early end into an error it passes on.
	length := p.Size
	body := &bounded{ctx: ctx, r: r, want: p.Size, max: p.MaxSize}
	if p.Size < 0 {
		// The backend refuses writes past the length it is given, and
		// trims its file to what arrived: the maximum is the right bound.
		length = p.MaxSize
	}
	in := s3response.PutObjectInput{
		Bucket: aws.String(s.bucket), Key: aws.String(p.Key), Body: body,
		ContentLength: aws.Int64(length), ContentType: aws.String(p.ContentType),
		IfNoneMatch:       aws.String("*"),
		ChecksumAlgorithm: types.ChecksumAlgorithmSha256,
	}
	if p.SHA256 != "" {
		raw, err := hex.DecodeString(p.SHA256)
		if err != nil || len(raw) != 32 {
			return nil, sluice.Errorf(sluice.CodeInvalidChecksum, "sha256 must be 64 hex characters")
		}
		in.ChecksumSHA256 = aws.String(base64.StdEncoding.EncodeToString(raw))
	}
	if s.count != nil {
		// In-process, so the S3 listener's counter does not see it; on a
		// hosted store it would be one PutObject.
		s.count(OpPutObject)
	}
	out, err := s.be.PutObject(ctx, in)
	if body.err != nil {
		// The body failed (or was refused) and broke the write; that is
		// the cause worth reporting.
		if err == nil {
			s.remove(ctx, p.Key)
		}
		return nil, body.err
	}
	if err != nil {
		return nil, backendError(err)
	}
	info := &sluice.ObjectInfo{
		Key: p.Key, Size: body.n, ContentType: p.ContentType,
		ETag: strings.Trim(out.ETag, `"`), Modified: time.Now().UTC(),
	}
	if out.Size != nil {
		info.Size = *out.Size
	}
	if c := aws.ToString(out.ChecksumSHA256); c != "" {
		if raw, err := base64.StdEncoding.DecodeString(c); err == nil && len(raw) == 32 {
			info.SHA256 = hex.EncodeToString(raw)
		}
	}
	if info.SHA256 == "" || (p.SHA256 != "" && info.SHA256 != p.SHA256) || (p.Size >= 0 && info.Size != p.Size) {
		// Never expected from this backend; checked so that a change in it
		// cannot get a wrong object recorded.
		s.remove(ctx, p.Key)
		return nil, sluice.Errorf(sluice.CodeInternal, "the embedded store did not store what it was given")
	}
	return info, nil
}

// remove deletes key through the gateway, even when ctx has ended.
func (s *Store) remove(ctx context.Context, key string) {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	s.Delete(dctx, key)
}

// backendError translates the posix backend's errors at the boundary.
func backendError(err error) error {
	var s3e s3err.S3Error
	if errors.As(err, &s3e) {
		switch s3e.BaseError().Code {
		case "PreconditionFailed":
			return sluice.Wrap(sluice.CodeConflict, err, "an object already exists at this key")
		case "BadDigest", "InvalidDigest":
			return sluice.Wrap(sluice.CodeChecksumMismatch, err, "the body's SHA-256 differs from the declared one")
		case "NoSuchBucket":
			return sluice.Wrap(sluice.CodeUnavailable, err, "the store's bucket is missing")
		case "QuotaExceeded", "NoSpaceLeftOnDevice", "SlowDown":
			return sluice.Wrap(sluice.CodeUnavailable, err, "the store cannot take more data now")
		}
	}
	return sluice.Wrap(sluice.CodeInternal, err, "the embedded store failed to write the object")
}

// bounded passes on a body that must be want bytes long (want >= 0) or at
// most max bytes (want < 0), failing on the read that breaks the rule, so
// that the backend never links a short or over-long file. It stops at want
// bytes: what may follow is not the object's. It also fails once ctx ends,
// which the backend's copy loop does not watch.
type bounded struct {
	ctx       context.Context
	r         io.Reader
	n         int64
	want, max int64
	err       error
}

func (b *bounded) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if err := b.ctx.Err(); err != nil {
		b.err = err
		return 0, err
	}
	if b.want >= 0 {
		if left := b.want - b.n; left <= 0 {
			return 0, io.EOF
		} else if int64(len(p)) > left {
			p = p[:left]
		}
	}
	n, err := b.r.Read(p)
	b.n += int64(n)
	switch {
	case b.want < 0 && b.n > b.max:
		b.err = sluice.Errorf(sluice.CodeTooLarge, "the body exceeds the maximum of %d bytes", b.max)
		return 0, b.err
	case err == io.EOF && b.want >= 0 && b.n < b.want:
		b.err = sluice.Errorf(sluice.CodeUploadIncomplete, "the body ended after %d of the %d bytes declared", b.n, b.want)
		return n, b.err
	case err == io.ErrUnexpectedEOF:
		// The backend's checksum reader takes this one for a clean end.
		b.err = sluice.Wrap(sluice.CodeUploadIncomplete, err, "the body ended after %d bytes, before its end", b.n)
		return n, b.err
	case err != nil && err != io.EOF:
		b.err = err
	}
	return n, err
}
