package client

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"github.com/oklog/ulid/v2"

	"github.com/sluicehq/sluice"
	slsts "github.com/sluicehq/sluice/sts"
)

// Direct uploads with temporary credentials (the seed's option 4): the
// client trades its ID token for credentials at sluice's STS once, then
// signs its own PUTs to the store with aws-sdk-go-v2, with no call to
// sluice per upload. The credentials reach only users/{sub}/, and the store
// enforces that, and (the embedded one) the size and type of each PUT. The
// client checks size and type against the server's policy first, to spare
// an upload the store (or, on other stores, the reconciler) would refuse.

// Direct uploads files with temporary credentials. Make one with
// Client.Direct and reuse it: its credentials are cached until shortly
// before they expire, so N uploads in one credential lifetime cost one STS
// call (and one discovery call, on first use). It is safe for concurrent
// use.
type Direct struct {
	c    *Client
	opts CredentialsOptions

	mu    sync.Mutex // guards the fields below, set up on first use
	disc  *slsts.Discovery
	s3    *s3.Client
	sub   string
	ready bool
}

// Direct returns a direct uploader for the client's user. opts.STSEndpoint
// and opts.RoleARN default to what the server's discovery document says.
func (c *Client) Direct(opts CredentialsOptions) *Direct {
	return &Direct{c: c, opts: opts}
}

// setup fetches the discovery document and builds the S3 client, once; a
// failure is retried on the next call.
func (d *Direct) setup(ctx context.Context) (*s3.Client, *slsts.Discovery, string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ready {
		return d.s3, d.disc, d.sub, nil
	}
	sub, err := tokenSubject(d.c.token)
	if err != nil {
		return nil, nil, "", err
	}
	disc, err := d.c.Discovery(ctx)
	if err != nil {
		return nil, nil, "", err
	}
	opts := d.opts
	if opts.STSEndpoint == "" {
		opts.STSEndpoint = disc.STSEndpoint
	}
	if opts.RoleARN == "" {
		opts.RoleARN = disc.RoleARN
	}
	d.s3 = s3.New(s3.Options{
		Region: disc.Region, BaseEndpoint: aws.String(disc.S3Endpoint), UsePathStyle: true,
		Credentials: d.c.Credentials(opts),
		// The store client never carries the ID token: only the
		// temporary credentials' signature.
		HTTPClient: d.c.store, AppID: d.c.userAgent,
		// The SHA-256 is sent as computed here; the SDK need not add a
		// CRC of its own.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
	})
	d.disc, d.sub, d.ready = disc, sub, true
	return d.s3, d.disc, d.sub, nil
}

// UploadFile uploads the file at path as a new object
// users/{sub}/<new id><ext>, signed locally with the temporary
// credentials, write-once (If-None-Match: *) and bound to its SHA-256. The
// returned File describes the object written; the server records it when
// its reconciler next runs, not now.
func (d *Direct) UploadFile(ctx context.Context, path string, opts UploadOptions) (*sluice.File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	return d.UploadReader(ctx, filepath.Base(path), f, st.Size(), opts)
}

// UploadReader uploads size bytes of r as UploadFile does.
func (d *Direct) UploadReader(ctx context.Context, name string, r io.ReaderAt, size int64, opts UploadOptions) (*sluice.File, error) {
	if opts.Method != "" && !strings.EqualFold(opts.Method, sluice.MethodPUT) {
		return nil, sluice.Errorf(sluice.CodeMethodNotSupported, "direct uploads are PUTs signed by the client; %s is not available", opts.Method)
	}
	client, disc, sub, err := d.setup(ctx)
	if err != nil {
		return nil, err
	}
	ct, err := detectType(name, r, opts.ContentType)
	if err != nil {
		return nil, err
	}
	// Checked here first: a refusal after sending the bytes wastes them,
	// and other stores (AWS, SeaweedFS) cannot refuse at all.
	pol := sluice.Policy{AllowedTypes: disc.AllowedTypes, MaxSize: disc.MaxSize}
	if ct, err = pol.ContentType(ct); err != nil {
		return nil, err
	}
	if err := pol.CheckSize(size); err != nil {
		return nil, err
	}
	ext, ok := sluice.Extension(ct)
	if !ok || !slices.Contains(disc.AllowedTypes, ct) {
		return nil, sluice.Errorf(sluice.CodeTypeNotAllowed, "content_type %q is not allowed", ct)
	}
	sum, err := hashOf(ctx, r, size)
	if err != nil {
		return nil, err
	}
	prefix, err := sluice.UserPrefix(sub)
	if err != nil {
		return nil, err
	}
	raw, _ := hex.DecodeString(sum)
	id := strings.ToLower(ulid.Make().String())
	key := prefix + id + ext
	body := &seekProgress{r: io.NewSectionReader(r, 0, size), total: size, fn: opts.Progress}
	out, err := client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(disc.Bucket), Key: aws.String(key), Body: body,
		ContentLength: aws.Int64(size), ContentType: aws.String(ct),
		ChecksumSHA256: aws.String(base64.StdEncoding.EncodeToString(raw)),
		IfNoneMatch:    aws.String("*"),
	})
	if err != nil {
		return nil, sdkStoreError(err)
	}
	return &sluice.File{
		ID: id, Key: key, Filename: name, ContentType: ct, Size: size, SHA256: sum,
		ETag: aws.ToString(out.ETag), CreatedAt: time.Now().UTC(),
	}, nil
}

// sessionCodes are the store's refusals of temporary credentials, beyond
// what a presigned request meets (storeCode).
var sessionCodes = map[string]sluice.Code{
	"ExpiredToken": sluice.CodeTokenExpired,
	"InvalidToken": sluice.CodeTokenSignature,
}

// sdkStoreError turns an SDK error from the store into a *sluice.Error
// naming the store's code; credential errors pass through as stsError made
// them.
func sdkStoreError(err error) error {
	var se *sluice.Error
	if errors.As(err, &se) {
		return se
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		status := 0
		var re interface{ HTTPStatusCode() int }
		if errors.As(err, &re) {
			status = re.HTTPStatusCode()
		}
		code, ok := sessionCodes[ae.ErrorCode()]
		if !ok {
			code = storeCode(status, ae.ErrorCode())
		}
		return sluice.Wrap(code, err, "the store refused the upload: %s: %s", ae.ErrorCode(), clip(ae.ErrorMessage(), 200))
	}
	return sluice.Wrap(sluice.CodeUnavailable, err, "cannot reach the store: %v", cause(err))
}

// tokenSubject reads sub from the ID token's payload, without verifying
// it: only to name the key. The STS verifies the token, and the store
// refuses any key outside the verified subject's prefix.
func tokenSubject(token string) (string, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return "", sluice.Errorf(sluice.CodeTokenMalformed, "the ID token is not a JWT")
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", sluice.Errorf(sluice.CodeTokenMalformed, "the ID token's payload is not base64url")
	}
	var c struct {
		Sub string `json:"sub"`
	}
	if err := json.Unmarshal(raw, &c); err != nil || c.Sub == "" {
		return "", sluice.Errorf(sluice.CodeTokenMalformed, "the ID token names no subject")
	}
	return c.Sub, nil
}

// seekProgress is the PUT body: seekable, because over plain HTTP the SDK
// reads the body once to hash it for the signature and rewinds; progress
// starts again from zero when it does.
type seekProgress struct {
	r     *io.SectionReader
	sent  int64
	total int64
	fn    func(int64, int64)
}

func (p *seekProgress) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 && p.fn != nil {
		p.sent += int64(n)
		p.fn(p.sent, p.total)
	}
	return n, err
}

func (p *seekProgress) Seek(off int64, whence int) (int64, error) {
	n, err := p.r.Seek(off, whence)
	p.sent = n
	return n, err
}
