package client

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
)

// tusPath is where the server serves resumable uploads.
const tusPath = "/v1/tus/"

// DefaultChunkSize is what one PATCH of a resumable upload carries. Each
// chunk is sent with its SHA-256 (Upload-Checksum), which the server holds
// in memory until it checks out, up to 8 MiB by default.
const DefaultChunkSize = 4 << 20

// ResumableOptions tune Resumable and ResumableFile.
type ResumableOptions struct {
	UploadOptions
	// ChunkSize is the bytes per PATCH (default DefaultChunkSize). A lost
	// connection costs at most the chunk in flight.
	ChunkSize int64
	// URL resumes an upload created earlier, for instance by a run that
	// was interrupted; empty creates a new upload.
	URL string
	// OnCreate, when set, receives the URL of a new upload before any byte
	// is sent, so that the caller can keep it and resume after a restart.
	OnCreate func(uploadURL string)
	// Retries is how many times in a row a failed chunk is resumed (HEAD
	// for the server's offset, then PATCH from there) before giving up.
	// Default 5; negative means none.
	Retries int
}

// ResumableFile uploads the file at path with the tus protocol, resuming
// from the server's offset when a chunk fails.
func (c *Client) ResumableFile(ctx context.Context, path string, opts ResumableOptions) (*sluice.File, error) {
	f, size, err := openRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return c.Resumable(ctx, filepath.Base(path), f, size, opts)
}

// Resumable uploads size bytes of r as a file called name with the tus
// protocol (creation, then PATCHes of ChunkSize, each checksummed). The
// whole file's SHA-256 goes in the metadata, so the server verifies the
// assembled object before it records the file. r must not change between
// attempts.
func (c *Client) Resumable(ctx context.Context, name string, r io.ReaderAt, size int64, opts ResumableOptions) (*sluice.File, error) {
	if opts.ChunkSize <= 0 {
		opts.ChunkSize = DefaultChunkSize
	}
	if opts.Retries == 0 {
		opts.Retries = 5
	}
	ct, err := detectType(name, r, opts.ContentType)
	if err != nil {
		return nil, err
	}
	sum, err := hashOf(ctx, r, size)
	if err != nil {
		return nil, err
	}
	u, offset := opts.URL, int64(0)
	if u == "" {
		if u, err = c.tusCreate(ctx, name, ct, size, sum); err != nil {
			return nil, err
		}
		if opts.OnCreate != nil {
			opts.OnCreate(u)
		}
	} else if offset, err = c.tusOffset(ctx, u); err != nil {
		return nil, err
	}
	fileID := ""
	for failures := 0; offset < size; {
		n := min(opts.ChunkSize, size-offset)
		next, id, err := c.tusPatch(ctx, u, r, offset, n, size, opts.Progress)
		if err == nil {
			offset, fileID, failures = next, id, 0
			continue
		}
		if failures++; !resumable(err) || failures > opts.Retries || ctx.Err() != nil {
			return nil, err
		}
		if err := sleep(ctx, backoff(failures)); err != nil {
			return nil, err
		}
		// Where the server got to, whatever this client believes. If it
		// cannot say, the next PATCH fails or corrects it the same way.
		at, err := c.tusOffset(ctx, u)
		switch {
		case err == nil:
			offset = at
		case !resumable(err):
			return nil, err
		}
	}
	if fileID == "" {
		// The last chunk's answer was lost, or the upload was already
		// finished: the file's ID is the upload's grant ID.
		fileID = grantOf(u)
	}
	return c.File(ctx, fileID)
}

// tusCreate creates an upload and returns its URL.
func (c *Client) tusCreate(ctx context.Context, name, contentType string, size int64, sum string) (string, error) {
	req, err := c.tusRequest(ctx, http.MethodPost, c.base.String()+tusPath)
	if err != nil {
		return "", err
	}
	req.Header.Set("Upload-Length", strconv.FormatInt(size, 10))
	req.Header.Set("Upload-Metadata", tusMetadata(map[string]string{"filename": name, "filetype": contentType, "sha256": sum}))
	resp, err := c.do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return "", apiError(resp)
	}
	return c.uploadURL(resp.Header.Get("Location"))
}

// tusOffset asks the server how many bytes of the upload it holds.
func (c *Client) tusOffset(ctx context.Context, u string) (int64, error) {
	req, err := c.tusRequest(ctx, http.MethodHead, u)
	if err != nil {
		return 0, err
	}
	resp, err := c.do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNoContent {
		return 0, tusError(resp)
	}
	return strconv.ParseInt(resp.Header.Get("Upload-Offset"), 10, 64)
}

// tusPatch sends n bytes of r from offset and returns the server's new
// offset and, when that was the last chunk, the file's ID.
func (c *Client) tusPatch(ctx context.Context, u string, r io.ReaderAt, offset, n, total int64, progress func(int64, int64)) (int64, string, error) {
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(r, offset, n)); err != nil {
		return 0, "", err
	}
	req, err := c.tusRequest(ctx, http.MethodPatch, u)
	if err != nil {
		return 0, "", err
	}
	var report func(int64, int64)
	if progress != nil {
		report = func(sent, _ int64) { progress(offset+sent, total) }
	}
	body := func() io.ReadCloser {
		return io.NopCloser(withProgress(io.NewSectionReader(r, offset, n), n, report))
	}
	req.Body, req.GetBody, req.ContentLength = body(), func() (io.ReadCloser, error) { return body(), nil }, n
	req.Header.Set("Content-Type", "application/offset+octet-stream")
	req.Header.Set("Upload-Offset", strconv.FormatInt(offset, 10))
	req.Header.Set("Upload-Checksum", "sha256 "+base64.StdEncoding.EncodeToString(h.Sum(nil)))
	resp, err := c.do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent && resp.StatusCode != http.StatusOK {
		return 0, "", tusError(resp)
	}
	next, err := strconv.ParseInt(resp.Header.Get("Upload-Offset"), 10, 64)
	if err != nil || next < offset {
		return 0, "", sluice.Errorf(sluice.CodeInternal, "the server answered a PATCH with Upload-Offset %q", resp.Header.Get("Upload-Offset"))
	}
	return next, resp.Header.Get("Sluice-File-Id"), nil
}

// tusRequest builds an authenticated tus request to u, which must be on
// the configured server.
func (c *Client) tusRequest(ctx context.Context, method, u string) (*http.Request, error) {
	if c.baseErr != nil {
		return nil, c.baseErr
	}
	if c.token == "" {
		return nil, sluice.Errorf(sluice.CodeTokenMissing, "no ID token was given; the server requires one")
	}
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return nil, sluice.Wrap(sluice.CodeInvalidRequest, err, "bad upload URL")
	}
	if req.URL.Scheme != c.base.Scheme || req.URL.Host != c.base.Host {
		return nil, sluice.Errorf(sluice.CodeInvalidRequest, "the upload URL is not on %s; the token goes nowhere else", c.base.Host)
	}
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("User-Agent", c.userAgent)
	return req, nil
}

func (c *Client) do(req *http.Request) (*http.Response, error) {
	resp, err := c.api.Do(req)
	if err != nil {
		return nil, sluice.Wrap(sluice.CodeUnavailable, err, "cannot reach the sluice server at %s: %v", c.base.Host, cause(err))
	}
	return resp, nil
}

// uploadURL makes the Location of a new upload a URL on the configured
// server: behind a proxy, the server may not know the name it is reached
// by, and the token must only ever go to that one.
func (c *Client) uploadURL(location string) (string, error) {
	l, err := url.Parse(location)
	if err != nil || !strings.Contains(l.Path, tusPath) {
		return "", sluice.Errorf(sluice.CodeInternal, "the server created an upload at %q, which is not a tus upload URL", location)
	}
	u := *c.base
	u.Path = c.base.Path + tusPath + l.Path[strings.LastIndex(l.Path, tusPath)+len(tusPath):]
	u.RawPath = ""
	return u.String(), nil
}

// grantOf is the grant ID in an upload URL: {base}/v1/tus/{grant}+{upload}.
func grantOf(u string) string {
	id := u[strings.LastIndex(u, "/")+1:]
	if i := strings.LastIndexByte(id, '+'); i >= 0 {
		id = id[:i]
	}
	return id
}

// tusError explains a refused tus request. sluice's own refusals carry its
// JSON; tusd's protocol errors are plain text, named by their status.
func tusError(resp *http.Response) error {
	if resp.StatusCode == http.StatusConflict {
		// tusd: the offset moved (another request, or one whose answer was
		// lost). Resuming asks the server where it is.
		return &sluice.Error{Code: sluice.CodeConflict, Message: "the upload's offset on the server differs from this client's"}
	}
	return apiError(resp)
}

// resumable reports whether a failed chunk is worth resuming: the network
// or the server failed, the chunk was damaged on the way, the offsets
// disagree, or the user was at the limit of concurrent uploads.
func resumable(err error) bool {
	switch sluice.ErrorCode(err) {
	case sluice.CodeUnavailable, sluice.CodeChecksumMismatch, sluice.CodeUploadIncomplete,
		sluice.CodeConflict, sluice.CodeTooManyUploads, sluice.CodeRateLimited:
		return true
	}
	var se *sluice.Error
	return !errors.As(err, &se) // a local read error or the like: try again
}

func backoff(failures int) time.Duration {
	d := 250 * time.Millisecond << min(failures-1, 5)
	return min(d, 5*time.Second)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// tusMetadata encodes Upload-Metadata: key base64(value) pairs, sorted so
// that the header is deterministic.
func tusMetadata(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k, v := range m {
		if v != "" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + " " + base64.StdEncoding.EncodeToString([]byte(m[k]))
	}
	return strings.Join(parts, ",")
}
