// Package client is the Go client of sluice's HTTP API. It asks the server
// for upload grants, sends the bytes straight to the object store through the
// presigned requests it is given, and has the server verify them.
//
// Every error that comes from the API is a *sluice.Error with the server's
// code and message, so callers can test it with sluice.IsCode. Errors from
// the object store are *sluice.Error too; their messages name the store's
// status and S3 error code but never the presigned URL, which is a bearer
// credential.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/httpapi"
)

// DefaultUserAgent is sent unless WithUserAgent says otherwise.
const DefaultUserAgent = "sluice-client"

// Client talks to one sluice server as one user. It is safe for concurrent
// use.
type Client struct {
	base  *url.URL
	token string
	// api carries the bearer token and never follows redirects, so the
	// token goes nowhere but the configured server.
	api *http.Client
	// store makes the presigned requests; it never carries the token.
	store     *http.Client
	userAgent string
	baseErr   error
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient makes the client send its requests through h (for
// timeouts, proxies or custom TLS). Redirects from the API are still never
// followed.
func WithHTTPClient(h *http.Client) Option {
	return func(c *Client) {
		c.store = h
		api := *h
		c.api = &api
	}
}

// WithUserAgent sets the User-Agent header of every request.
func WithUserAgent(ua string) Option {
	return func(c *Client) { c.userAgent = ua }
}

// New returns a client of the sluice server at serverURL (e.g.
// "https://uploads.example.com") that authenticates with token, an ID token
// from the app's identity provider. An empty token is allowed here; every
// call then fails with sluice.CodeTokenMissing without contacting the server.
func New(serverURL, token string, opts ...Option) *Client {
	c := &Client{token: strings.TrimSpace(token), userAgent: DefaultUserAgent}
	c.base, c.baseErr = parseBase(serverURL)
	WithHTTPClient(&http.Client{})(c)
	for _, o := range opts {
		o(c)
	}
	c.api.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return c
}

func parseBase(s string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimRight(s, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, sluice.Errorf(sluice.CodeInvalidRequest, "server URL %q must be http(s)://host[:port]", s)
	}
	return u, nil
}

// CreateUpload asks for a grant to upload one file. The answer says where
// and how to send the bytes, and until when.
func (c *Client) CreateUpload(ctx context.Context, req httpapi.UploadRequest) (*httpapi.UploadResponse, error) {
	var out httpapi.UploadResponse
	if err := c.call(ctx, http.MethodPost, "/v1/uploads", nil, req, &out, http.StatusCreated); err != nil {
		return nil, err
	}
	return &out, nil
}

// Complete asks the server to verify the uploaded object of grant id and
// record it. A refusal is a *sluice.Error such as CodeUploadMissing,
// CodeSizeMismatch, CodeChecksumMismatch or CodeContentMismatch.
func (c *Client) Complete(ctx context.Context, id string) (*sluice.File, error) {
	var out sluice.File
	if err := c.call(ctx, http.MethodPost, "/v1/uploads/"+url.PathEscape(id)+"/complete", nil, nil, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return &out, nil
}

// Upload returns the state of grant id.
func (c *Client) Upload(ctx context.Context, id string) (*httpapi.GrantResponse, error) {
	var out httpapi.GrantResponse
	if err := c.call(ctx, http.MethodGet, "/v1/uploads/"+url.PathEscape(id), nil, nil, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return &out, nil
}

// Files returns one page of the user's files, newest first, after cursor
// (empty for the first page). A limit of 0 leaves the page size to the
// server. NextCursor is empty on the last page.
func (c *Client) Files(ctx context.Context, cursor string, limit int) (*httpapi.FileList, error) {
	q := url.Values{}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var out httpapi.FileList
	if err := c.call(ctx, http.MethodGet, "/v1/files", q, nil, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return &out, nil
}

// AllFiles returns all of the user's files, newest first, walking every
// page.
func (c *Client) AllFiles(ctx context.Context) ([]*sluice.File, error) {
	var all []*sluice.File
	seen := map[string]bool{}
	cursor := ""
	for {
		page, err := c.Files(ctx, cursor, 0)
		if err != nil {
			return nil, err
		}
		all = append(all, page.Files...)
		if page.NextCursor == "" {
			return all, nil
		}
		// A server that hands back a cursor twice would keep us here forever.
		if seen[page.NextCursor] {
			return nil, sluice.Errorf(sluice.CodeInternal, "the server repeated list cursor %q", page.NextCursor)
		}
		seen[page.NextCursor] = true
		cursor = page.NextCursor
	}
}

// File returns the record of file id, or CodeNotFound.
func (c *Client) File(ctx context.Context, id string) (*sluice.File, error) {
	var out sluice.File
	if err := c.call(ctx, http.MethodGet, "/v1/files/"+url.PathEscape(id), nil, nil, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return &out, nil
}

// ContentURL returns a short-lived presigned GET of file id's content. The
// URL is a credential: whoever holds it may read the file until it expires.
func (c *Client) ContentURL(ctx context.Context, id string) (*httpapi.ContentURL, error) {
	q := url.Values{"redirect": {"false"}}
	var out httpapi.ContentURL
	if err := c.call(ctx, http.MethodGet, "/v1/files/"+url.PathEscape(id)+"/content", q, nil, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return &out, nil
}

// Delete deletes file id, or returns CodeNotFound.
func (c *Client) Delete(ctx context.Context, id string) error {
	return c.call(ctx, http.MethodDelete, "/v1/files/"+url.PathEscape(id), nil, nil, nil, http.StatusNoContent)
}

// call makes one authenticated API request, sending in as JSON (when not
// nil) and decoding a want answer into out (when not nil). Any other answer
// becomes a *sluice.Error.
func (c *Client) call(ctx context.Context, method, path string, q url.Values, in, out any, want int) error {
	req, err := c.newRequest(ctx, method, path, q, in)
	if err != nil {
		return err
	}
	resp, err := c.api.Do(req)
	if err != nil {
		return sluice.Wrap(sluice.CodeUnavailable, err, "cannot reach the sluice server at %s: %v", c.base.Host, cause(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		return apiError(resp)
	}
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return sluice.Wrap(sluice.CodeInternal, err, "the server's answer to %s %s is not the expected JSON", method, path)
	}
	return nil
}

func (c *Client) newRequest(ctx context.Context, method, path string, q url.Values, in any) (*http.Request, error) {
	if c.baseErr != nil {
		return nil, c.baseErr
	}
	if c.token == "" {
		return nil, sluice.Errorf(sluice.CodeTokenMissing, "no ID token was given; the server requires one")
	}
	u := *c.base
	u.Path += path
	u.RawQuery = q.Encode()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, sluice.Wrap(sluice.CodeInvalidRequest, err, "cannot encode the request")
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, sluice.Wrap(sluice.CodeInvalidRequest, err, "cannot build the request")
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("User-Agent", c.userAgent)
	return req, nil
}

// apiError turns an error answer into the *sluice.Error the server meant.
// Answers without sluice's JSON (a proxy's 502 page, a wrong --server) get
// a code from their HTTP status instead.
func apiError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var eb httpapi.ErrorBody
	if json.Unmarshal(b, &eb) == nil && eb.Error.Code != "" {
		return &sluice.Error{Code: eb.Error.Code, Message: eb.Error.Message}
	}
	msg := fmt.Sprintf("the server answered %s without a sluice error", resp.Status)
	if resp.StatusCode/100 == 3 {
		msg = fmt.Sprintf("the server answered %s, a redirect to %s; point the client at the final URL", resp.Status, redactedLocation(resp))
	}
	return &sluice.Error{Code: statusCode(resp.StatusCode), Message: msg}
}

// redactedLocation is a redirect target without its query, which may hold
// a signature.
func redactedLocation(resp *http.Response) string {
	u, err := resp.Location()
	if err != nil {
		return "nowhere"
	}
	return redactURL(u)
}

// fallbackCodes name the error of an answer that has no sluice JSON body.
// Each code answers with the same status in sluice's table (tested), so the
// code and the status never disagree.
var fallbackCodes = map[int]sluice.Code{
	http.StatusBadRequest:            sluice.CodeInvalidRequest,
	http.StatusForbidden:             sluice.CodeForbidden,
	http.StatusNotFound:              sluice.CodeNotFound,
	http.StatusMethodNotAllowed:      sluice.CodeMethodNotAllowed,
	http.StatusConflict:              sluice.CodeConflict,
	http.StatusGone:                  sluice.CodeGrantExpired,
	http.StatusRequestEntityTooLarge: sluice.CodeTooLarge,
	http.StatusUnsupportedMediaType:  sluice.CodeTypeNotAllowed,
	http.StatusTooManyRequests:       sluice.CodeRateLimited,
	http.StatusInternalServerError:   sluice.CodeInternal,
	http.StatusServiceUnavailable:    sluice.CodeUnavailable,
}

// statusCode picks a code for an HTTP status. Gateways' 502 and 504 mean
// the server could not be reached, hence CodeUnavailable.
func statusCode(status int) sluice.Code {
	if c, ok := fallbackCodes[status]; ok {
		return c
	}
	switch {
	case status == http.StatusBadGateway || status == http.StatusGatewayTimeout:
		return sluice.CodeUnavailable
	case status >= 500:
		return sluice.CodeInternal
	default:
		return sluice.CodeInvalidRequest
	}
}

// cause is what went wrong below net/http's "Get <URL>: " prefix, fit to
// show the user.
func cause(err error) error {
	if inner := errors.Unwrap(err); inner != nil {
		return inner
	}
	return err
}
