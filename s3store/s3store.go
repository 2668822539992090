// Package s3store is a sluice.Store over any S3 API: AWS S3, SeaweedFS,
// Cloudflare R2, and the embedded versitygw gateway. It talks to the store
// with aws-sdk-go-v2 and signs presigned requests itself with the SDK's
// SigV4 signer, as a pure function of its inputs and the injected time.
package s3store

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/sluicehq/sluice"
)

// Config says where the store is and how to reach it.
type Config struct {
	// Endpoint is the S3 API base URL sluice itself calls (e.g.
	// http://127.0.0.1:8081). Empty means AWS S3 in Region.
	Endpoint string `yaml:"endpoint" json:"endpoint"`
	// PublicURL is the base URL put into presigned URLs, i.e. what clients
	// can reach. Defaults to Endpoint (or the AWS virtual-hosted URL).
	PublicURL string `yaml:"public_url" json:"public_url"`
	Region    string `yaml:"region" json:"region"`
	Bucket    string `yaml:"bucket" json:"bucket"`
	// PathStyle addresses buckets as /bucket/key instead of bucket.host.
	PathStyle bool `yaml:"path_style" json:"path_style"`
	// PostPolicy says the store accepts browser form (POST policy)
	// uploads. AWS S3 and versitygw do; R2 does not.
	PostPolicy bool `yaml:"post_policy" json:"post_policy"`
	// PartSize is the part of a multipart upload that PutStream buffers
	// (and so its memory per upload); a stream known to be no longer than
	// it goes in one PUT. Default DefaultPartSize; at least 5 MiB, the S3
	// minimum.
	PartSize int64 `yaml:"part_size" json:"part_size"`
	// Credentials; nil means the standard AWS chain (environment, shared
	// config, IAM role).
	Credentials aws.CredentialsProvider `yaml:"-" json:"-"`
	HTTPClient  *http.Client            `yaml:"-" json:"-"`
}

// Store is a sluice.Store over an S3 API.
type Store struct {
	cfg    Config
	client *s3.Client
	http   *http.Client
	creds  aws.CredentialsProvider
	signer *v4.Signer
	post   s3.PresignPost
	base   *url.URL // presigned URLs' base, bucket included for path style
}

// PostStore is a Store that can also sign POST policy uploads.
type PostStore struct{ *Store }

var (
	_ sluice.Store         = (*Store)(nil)
	_ sluice.PostPresigner = PostStore{}
)

// New returns a sluice.Store for cfg: a PostStore when cfg.PostPolicy is set,
// so that the capability is visible to a type assertion.
func New(ctx context.Context, cfg Config) (sluice.Store, error) {
	s, err := newStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if cfg.PostPolicy {
		return PostStore{s}, nil
	}
	return s, nil
}

func newStore(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Bucket == "" {
		return nil, errors.New("s3store: bucket is required")
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	creds := cfg.Credentials
	if creds == nil {
		ac, err := config.LoadDefaultConfig(ctx, config.WithRegion(cfg.Region))
		if err != nil {
			return nil, fmt.Errorf("s3store: load AWS config: %w", err)
		}
		creds = ac.Credentials
	}
	creds = aws.NewCredentialsCache(creds)
	opts := s3.Options{
		Region:       cfg.Region,
		Credentials:  creds,
		UsePathStyle: cfg.PathStyle,
		// sluice sends no bodies through the SDK that need checksums, and
		// some S3 implementations reject the SDK's default trailers.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	}
	opts.HTTPClient = hc
	if cfg.Endpoint != "" {
		opts.BaseEndpoint = aws.String(cfg.Endpoint)
	}
	base, err := publicBase(cfg)
	if err != nil {
		return nil, err
	}
	client := s3.New(opts)
	s := &Store{cfg: cfg, client: client, http: hc, creds: creds, signer: v4.NewSigner(), base: base}
	s.post = postSigner(ctx, client, cfg.Bucket)
	return s, nil
}

// publicBase is the URL prefix of every presigned URL.
func publicBase(cfg Config) (*url.URL, error) {
	raw := cfg.PublicURL
	if raw == "" {
		raw = cfg.Endpoint
	}
	if raw == "" {
		raw = "https://s3." + cfg.Region + ".amazonaws.com"
	}
	u, err := url.Parse(strings.TrimRight(raw, "/"))
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("s3store: public URL %q is not an http(s) URL", raw)
	}
	if cfg.PathStyle {
		u.Path += "/" + cfg.Bucket
	} else {
		u.Host = cfg.Bucket + "." + u.Host
	}
	return u, nil
}

// postSigner extracts the SDK's POST policy signer so that it can be called
// with an explicit signing time: PresignPostObject itself reads the SDK's
// wall clock. The call makes no request.
func postSigner(ctx context.Context, c *s3.Client, bucket string) s3.PresignPost {
	var p s3.PresignPost
	pc := s3.NewPresignClient(c)
	_, _ = pc.PresignPostObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("x")},
		func(o *s3.PresignPostOptions) { p = o.PostPresigner })
	return p
}

// Close drops idle connections to the store, so that a store shutting
// down does not wait for them.
func (s *Store) Close() error {
	s.http.CloseIdleConnections()
	return nil
}

// Bucket returns the bucket the store writes to.
func (s *Store) Bucket() string { return s.cfg.Bucket }

// Client returns the underlying SDK client, for administration (bucket
// creation, CORS) by the packages that set a store up.
func (s *Store) Client() *s3.Client { return s.client }

// objectURL is the public URL of key, escaped the way S3's canonical
// request expects (each byte outside the unreserved set, once).
func (s *Store) objectURL(key string) *url.URL {
	u := *s.base
	u.Path = s.base.Path + "/" + key
	u.RawPath = s.base.EscapedPath() + "/" + escapeKey(key)
	return &u
}

func escapeKey(key string) string {
	var b strings.Builder
	for i := 0; i < len(key); i++ {
		c := key[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-_.~/", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

func (s *Store) presign(ctx context.Context, r *http.Request, now, expires time.Time) (string, error) {
	secs := int64(expires.Sub(now) / time.Second)
	if secs < 1 || secs > 7*24*3600 {
		return "", sluice.Errorf(sluice.CodeInvalidTTL, "presigned URL lifetime must be between 1 s and 7 days")
	}
	q := r.URL.Query()
	q.Set("X-Amz-Expires", strconv.FormatInt(secs, 10))
	r.URL.RawQuery = q.Encode()
	creds, err := s.creds.Retrieve(ctx)
	if err != nil {
		return "", sluice.Wrap(sluice.CodeUnavailable, err, "storage credentials are unavailable")
	}
	signed, _, err := s.signer.PresignHTTP(ctx, creds, r, "UNSIGNED-PAYLOAD", "s3", s.cfg.Region, now,
		func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
	if err != nil {
		return "", sluice.Wrap(sluice.CodeInternal, err, "signing failed")
	}
	return signed, nil
}

// PresignPut signs a PUT that binds, in X-Amz-SignedHeaders, the exact
// Content-Length, the Content-Type, If-None-Match: * (write once) and, when
// given, x-amz-checksum-sha256.
func (s *Store) PresignPut(ctx context.Context, p sluice.PutParams) (*sluice.Presigned, error) {
	r := &http.Request{Method: http.MethodPut, URL: s.objectURL(p.Key), Header: http.Header{}, ContentLength: p.Size}
	r.Host = r.URL.Host
	headers := map[string]string{"Content-Type": p.ContentType, "If-None-Match": "*"}
	if p.SHA256 != "" {
		raw, err := hex.DecodeString(p.SHA256)
		if err != nil {
			return nil, sluice.Errorf(sluice.CodeInvalidChecksum, "sha256 must be hex")
		}
		headers["x-amz-checksum-sha256"] = base64.StdEncoding.EncodeToString(raw)
	}
	for k, v := range headers {
		r.Header.Set(k, v)
	}
	u, err := s.presign(ctx, r, p.Now, p.Expires)
	if err != nil {
		return nil, err
	}
	return &sluice.Presigned{Method: http.MethodPut, URL: u, Headers: headers, ExpiresAt: p.Expires}, nil
}

// PresignGet signs a GET of key.
func (s *Store) PresignGet(ctx context.Context, key string, now, expires time.Time) (*sluice.Presigned, error) {
	r := &http.Request{Method: http.MethodGet, URL: s.objectURL(key), Header: http.Header{}}
	r.Host = r.URL.Host
	u, err := s.presign(ctx, r, now, expires)
	if err != nil {
		return nil, err
	}
	return &sluice.Presigned{Method: http.MethodGet, URL: u, ExpiresAt: expires}, nil
}

// PresignPost signs a browser form upload whose policy pins the key, the
// content type, the size (content-length-range) and, when given, the
// SHA-256 checksum.
func (s PostStore) PresignPost(ctx context.Context, p sluice.PutParams) (*sluice.Presigned, error) {
	if p.Expires.Sub(p.Now) < time.Second {
		return nil, sluice.Errorf(sluice.CodeInvalidTTL, "presigned URL lifetime must be at least 1 s")
	}
	creds, err := s.creds.Retrieve(ctx)
	if err != nil {
		return nil, sluice.Wrap(sluice.CodeUnavailable, err, "storage credentials are unavailable")
	}
	min := p.Size
	max := p.MaxSize
	if max < min {
		max = min
	}
	conds := []any{
		[]any{"content-length-range", min, max},
		map[string]string{"Content-Type": p.ContentType},
	}
	extra := map[string]string{"Content-Type": p.ContentType}
	if p.SHA256 != "" {
		raw, err := hex.DecodeString(p.SHA256)
		if err != nil {
			return nil, sluice.Errorf(sluice.CodeInvalidChecksum, "sha256 must be hex")
		}
		sum := base64.StdEncoding.EncodeToString(raw)
		conds = append(conds, map[string]string{"x-amz-checksum-sha256": sum})
		extra["x-amz-checksum-sha256"] = sum
	}
	fields, err := s.post.PresignPost(creds, s.cfg.Bucket, p.Key, s.cfg.Region, "s3", p.Now.UTC(), conds, p.Expires.UTC())
	if err != nil {
		return nil, sluice.Wrap(sluice.CodeInternal, err, "signing failed")
	}
	for k, v := range extra {
		fields[k] = v
	}
	u := *s.base
	if u.Path == "" {
		u.Path = "/"
	}
	return &sluice.Presigned{Method: http.MethodPost, URL: u.String(), Fields: fields, ExpiresAt: p.Expires}, nil
}

// Head describes the object at key, including its SHA-256 when the store
// kept one.
func (s *Store) Head(ctx context.Context, key string) (*sluice.ObjectInfo, error) {
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{
		Bucket: aws.String(s.cfg.Bucket), Key: aws.String(key), ChecksumMode: types.ChecksumModeEnabled,
	})
	if err != nil {
		return nil, translate(err, "head "+key)
	}
	info := &sluice.ObjectInfo{
		Key:         key,
		Size:        aws.ToInt64(out.ContentLength),
		ContentType: aws.ToString(out.ContentType),
		ETag:        strings.Trim(aws.ToString(out.ETag), `"`),
		Modified:    aws.ToTime(out.LastModified),
	}
	// A composite (multipart) checksum ends in -N and is not the object's
	// SHA-256; leave it out rather than compare the wrong thing.
	if c := aws.ToString(out.ChecksumSHA256); c != "" && !strings.Contains(c, "-") {
		if raw, err := base64.StdEncoding.DecodeString(c); err == nil && len(raw) == 32 {
			info.SHA256 = hex.EncodeToString(raw)
		}
	}
	return info, nil
}

// ReadRange reads n bytes from offset; n < 0 reads to the end.
func (s *Store) ReadRange(ctx context.Context, key string, offset, n int64) (io.ReadCloser, error) {
	in := &s3.GetObjectInput{Bucket: aws.String(s.cfg.Bucket), Key: aws.String(key)}
	switch {
	case n > 0:
		in.Range = aws.String(fmt.Sprintf("bytes=%d-%d", offset, offset+n-1))
	case offset > 0:
		in.Range = aws.String(fmt.Sprintf("bytes=%d-", offset))
	}
	out, err := s.client.GetObject(ctx, in)
	if err != nil {
		return nil, translate(err, "get "+key)
	}
	return out.Body, nil
}

// Delete removes key; a missing key is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.cfg.Bucket), Key: aws.String(key)})
	if err != nil && !sluice.IsCode(translate(err, ""), sluice.CodeNotFound) {
		return translate(err, "delete "+key)
	}
	return nil
}

// Ping checks that the bucket is reachable with sluice's credentials.
func (s *Store) Ping(ctx context.Context) error {
	_, err := s.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(s.cfg.Bucket)})
	if err != nil {
		return translate(err, "head bucket "+s.cfg.Bucket)
	}
	return nil
}

// translate maps provider errors to sluice codes at the boundary, so no
// SDK type leaks upward.
func translate(err error, op string) error {
	var nf *types.NotFound
	var nsk *types.NoSuchKey
	if errors.As(err, &nf) || errors.As(err, &nsk) {
		return sluice.Wrap(sluice.CodeNotFound, err, "no such object")
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "NotFound", "NoSuchKey", "NoSuchBucket":
			return sluice.Wrap(sluice.CodeNotFound, err, "no such object")
		case "SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout":
			return sluice.Wrap(sluice.CodeUnavailable, err, "storage is unavailable")
		}
		return sluice.Wrap(sluice.CodeInternal, err, "storage refused %s", op)
	}
	var ne net.Error
	var oe *net.OpError
	if errors.As(err, &ne) || errors.As(err, &oe) || errors.Is(err, context.DeadlineExceeded) {
		return sluice.Wrap(sluice.CodeUnavailable, err, "storage is unreachable")
	}
	return sluice.Wrap(sluice.CodeUnavailable, err, "storage request failed")
}
