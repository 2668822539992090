package client

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"

	"github.com/sluicehq/sluice"
)

// ProxyFile uploads the file at path through sluice (POST /v1/files): the
// bytes go to the server, which checks them as they pass and stores them.
// It is one request, so an interruption means starting again; large files
// on flaky networks are better sent with ResumableFile.
func (c *Client) ProxyFile(ctx context.Context, path string, opts UploadOptions) (*sluice.File, error) {
	f, size, err := openRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return c.Proxy(ctx, filepath.Base(path), f, size, opts)
}

// Proxy uploads size bytes of r as a file called name through sluice. It
// hashes r first and declares the SHA-256 (Content-Digest), so that the
// server refuses to store bytes that changed on the way.
func (c *Client) Proxy(ctx context.Context, name string, r io.ReaderAt, size int64, opts UploadOptions) (*sluice.File, error) {
	ct, err := detectType(name, r, opts.ContentType)
	if err != nil {
		return nil, err
	}
	sum, err := hashOf(ctx, r, size)
	if err != nil {
		return nil, err
	}
	raw, _ := hex.DecodeString(sum)
	body := func() io.ReadCloser {
		return io.NopCloser(withProgress(io.NewSectionReader(r, 0, size), size, opts.Progress))
	}
	req, err := c.newRequest(ctx, http.MethodPost, "/v1/files", url.Values{"filename": {name}}, nil)
	if err != nil {
		return nil, err
	}
	req.Body, req.GetBody, req.ContentLength = body(), func() (io.ReadCloser, error) { return body(), nil }, size
	req.Header.Set("Content-Type", ct)
	req.Header.Set("Content-Digest", "sha-256=:"+base64.StdEncoding.EncodeToString(raw)+":")
	resp, err := c.api.Do(req)
	if err != nil {
		return nil, sluice.Wrap(sluice.CodeUnavailable, err, "cannot reach the sluice server at %s: %v", c.base.Host, cause(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return nil, apiError(resp)
	}
	var f sluice.File
	if err := json.NewDecoder(resp.Body).Decode(&f); err != nil {
		return nil, sluice.Wrap(sluice.CodeInternal, err, "the server's answer to POST /v1/files is not the expected JSON")
	}
	return &f, nil
}

// openRegular opens path, which must be a regular file, and returns its size.
func openRegular(path string) (*os.File, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, 0, &os.PathError{Op: "upload", Path: path, Err: os.ErrInvalid}
	}
	return f, st.Size(), nil
}
