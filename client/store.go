package client

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/sluicehq/sluice"
)

// Download writes the content of file id to w and returns how many bytes it
// wrote. It fetches a presigned GET from the server, then reads the store
// with a fresh request: the bearer token is for sluice only and is never
// sent to the store.
func (c *Client) Download(ctx context.Context, id string, w io.Writer) (int64, error) {
	cu, err := c.ContentURL(ctx, id)
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, cu.URL, nil)
	if err != nil {
		return 0, sluice.Errorf(sluice.CodeInternal, "the server handed out a presigned URL that is not a valid URL")
	}
	resp, err := c.storeDo(req, "download", http.StatusOK)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return n, fmt.Errorf("download of %s stopped after %d bytes: %w", id, n, err)
	}
	return n, nil
}

// storeDo sends a presigned request and returns the answer if its status is
// one of ok; the caller closes its body. Any other answer, or none, is a
// *sluice.Error that names the URL without its query.
func (c *Client) storeDo(req *http.Request, op string, ok ...int) (*http.Response, error) {
	req.Header.Set("User-Agent", c.userAgent)
	resp, err := c.store.Do(req)
	if err != nil {
		return nil, sluice.Wrap(sluice.CodeUnavailable, redactError(err), "the %s to the store at %s failed: %v", op, req.URL.Host, cause(err))
	}
	if slices.Contains(ok, resp.StatusCode) {
		return resp, nil
	}
	defer resp.Body.Close()
	return nil, storeError(resp, op, req.URL)
}

// s3Error is the part of an S3 error document worth showing. Other elements
// (StringToSign, SignatureProvided...) echo the signature and are dropped.
type s3Error struct {
	Code    string `xml:"Code"`
	Message string `xml:"Message"`
}

// storeError explains a refusal by the store: its status and, when the body
// is an S3 error document, the S3 code and message.
func storeError(resp *http.Response, op string, u *url.URL) error {
	var e s3Error
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<10))
	xml.Unmarshal(b, &e) // a body that is not S3 XML just leaves e empty
	msg := fmt.Sprintf("the store refused the %s to %s: %s", op, redactURL(u), resp.Status)
	if e.Code != "" {
		msg += fmt.Sprintf(" (S3 %s: %s)", e.Code, clip(e.Message, 200))
	}
	return &sluice.Error{Code: storeCode(resp.StatusCode, e.Code), Message: msg}
}

// s3Codes translate the S3 refusals a presigned request meets to sluice
// codes; the rest are told apart by status.
var s3Codes = map[string]sluice.Code{
	"AccessDenied":          sluice.CodeForbidden,
	"SignatureDoesNotMatch": sluice.CodeForbidden,
	"InvalidAccessKeyId":    sluice.CodeForbidden,
	"BadDigest":             sluice.CodeChecksumMismatch,
	"InvalidDigest":         sluice.CodeChecksumMismatch,
	"EntityTooLarge":        sluice.CodeSizeMismatch,
	"EntityTooSmall":        sluice.CodeSizeMismatch,
	"IncompleteBody":        sluice.CodeSizeMismatch,
	"NoSuchKey":             sluice.CodeNotFound,
	"SlowDown":              sluice.CodeUnavailable,
}

func storeCode(status int, s3Code string) sluice.Code {
	if c, ok := s3Codes[s3Code]; ok {
		return c
	}
	switch {
	case status == http.StatusPreconditionFailed:
		// If-None-Match: * refused: the object exists, the grant was used.
		return sluice.CodeConflict
	case status >= 500:
		// From the client's side a failing store is an unavailable one.
		return sluice.CodeUnavailable
	}
	return statusCode(status)
}

// redactURL is u without its query, user info and fragment: a presigned
// URL's query is its signature, a bearer credential.
func redactURL(u *url.URL) string {
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
}

// redactError strips the query from the URL that net/http quotes in its
// errors.
func redactError(err error) error {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return err
	}
	safe := *ue
	safe.URL = "(presigned URL)"
	if u, perr := url.Parse(ue.URL); perr == nil {
		safe.URL = redactURL(u)
	}
	return &safe
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}
