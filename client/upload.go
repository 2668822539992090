package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/httpapi"
)

// UploadOptions tune UploadFile and UploadReader.
type UploadOptions struct {
	// Method is sluice.MethodPUT (the default) or sluice.MethodPOST, a
	// multipart form upload as a browser would send it.
	Method string
	// ContentType is the file's media type. When empty it is guessed from
	// the file name's extension, then from the file's first bytes.
	ContentType string
	// Progress, when set, is called as the bytes go to the store with the
	// count sent so far and the total. Calls come one at a time, from the
	// goroutine that sends the body. If the request is retried, sent starts
	// again from zero.
	Progress func(sent, total int64)
}

// UploadFile uploads the file at path under its base name: it hashes the
// file, asks for a grant, sends the bytes to the store and has the server
// verify and record them. The file is read twice (hash, then send) and never
// held in memory.
func (c *Client) UploadFile(ctx context.Context, path string, opts UploadOptions) (*sluice.File, error) {
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
	return c.UploadReader(ctx, filepath.Base(path), f, st.Size(), opts)
}

// UploadReader uploads size bytes of r as a file called name, the same way
// as UploadFile. r must not change during the upload: the server checks the
// stored bytes against the SHA-256 computed first.
func (c *Client) UploadReader(ctx context.Context, name string, r io.ReaderAt, size int64, opts UploadOptions) (*sluice.File, error) {
	ct, err := detectType(name, r, opts.ContentType)
	if err != nil {
		return nil, err
	}
	sum, err := hashOf(ctx, r, size)
	if err != nil {
		return nil, err
	}
	up, err := c.CreateUpload(ctx, httpapi.UploadRequest{
		Filename: name, ContentType: ct, Size: size, SHA256: sum, Method: opts.Method,
	})
	if err != nil {
		return nil, err
	}
	if err := c.Send(ctx, up, name, r, size, opts.Progress); err != nil {
		return nil, err
	}
	return c.Complete(ctx, up.ID)
}

// Send sends size bytes of r to the store as grant up prescribes, without
// completing it. name is the file name given in a POST form.
func (c *Client) Send(ctx context.Context, up *httpapi.UploadResponse, name string, r io.ReaderAt, size int64, progress func(sent, total int64)) error {
	var req *http.Request
	var err error
	switch up.Method {
	case sluice.MethodPUT:
		req, err = putRequest(ctx, up, r, size, progress)
	case sluice.MethodPOST:
		req, err = postRequest(ctx, up, name, r, size, progress)
	default:
		return sluice.Errorf(sluice.CodeMethodNotSupported, "the server granted an upload by %q, which this client cannot send", up.Method)
	}
	if err != nil {
		return err
	}
	// Presigned uploads answer 200 (PUT), or 204 or 201 (POST, depending
	// on success_action_status).
	resp, err := c.storeDo(req, "upload", http.StatusOK, http.StatusCreated, http.StatusNoContent)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// putRequest builds the presigned PUT: exactly the granted headers, and a
// body of exactly size bytes, which the signature binds.
func putRequest(ctx context.Context, up *httpapi.UploadResponse, r io.ReaderAt, size int64, progress func(int64, int64)) (*http.Request, error) {
	body := func() io.ReadCloser {
		return io.NopCloser(withProgress(io.NewSectionReader(r, 0, size), size, progress))
	}
	req, err := newStoreRequest(ctx, http.MethodPut, up.URL, body, size)
	if err != nil {
		return nil, err
	}
	for k, v := range up.Headers {
		req.Header.Set(k, v)
	}
	return req, nil
}

// postRequest builds the presigned form upload: every granted field, then
// the file part last, as S3 requires.
//
// The body is the form's framing around a section of r rather than an
// io.Pipe: it streams the same, but its length is known, so it is sent with
// a Content-Length (S3 answers 411 to a chunked upload) and it can be
// replayed if the transport retries.
func postRequest(ctx context.Context, up *httpapi.UploadResponse, name string, r io.ReaderAt, size int64, progress func(int64, int64)) (*http.Request, error) {
	head, tail, ctype := formFraming(up.Fields, name)
	body := func() io.ReadCloser {
		file := withProgress(io.NewSectionReader(r, 0, size), size, progress)
		return io.NopCloser(io.MultiReader(bytes.NewReader(head), file, bytes.NewReader(tail)))
	}
	req, err := newStoreRequest(ctx, http.MethodPost, up.URL, body, int64(len(head))+size+int64(len(tail)))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", ctype)
	return req, nil
}

// newStoreRequest builds a request to a presigned URL with a replayable
// body of a known length.
func newStoreRequest(ctx context.Context, method, rawURL string, body func() io.ReadCloser, length int64) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, rawURL, nil)
	if err != nil {
		// err would quote the URL, signature and all.
		return nil, sluice.Errorf(sluice.CodeInternal, "the server handed out a presigned URL that is not a valid URL")
	}
	req.Body = body()
	req.GetBody = func() (io.ReadCloser, error) { return body(), nil }
	req.ContentLength = length
	return req, nil
}

// formFraming returns the multipart bytes that go before the file's content
// (all fields, sorted so the body is deterministic, then the file part's
// header) and after it (the closing boundary), and the form's Content-Type.
func formFraming(fields map[string]string, filename string) (head, tail []byte, contentType string) {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	names := make([]string, 0, len(fields))
	for k := range fields {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		w.WriteField(k, fields[k]) // writes to a bytes.Buffer cannot fail
	}
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="file"; filename="%s"`, quoteEscaper.Replace(filename)))
	if ct := fields["Content-Type"]; ct != "" {
		h.Set("Content-Type", ct)
	}
	w.CreatePart(h)
	n := buf.Len()
	w.Close()
	b := buf.Bytes()
	return b[:n:n], b[n:], w.FormDataContentType()
}

// quoteEscaper escapes a quoted form parameter the way mime/multipart does.
var quoteEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`)

// withProgress reports reads from r to fn, if there is one.
func withProgress(r io.Reader, total int64, fn func(int64, int64)) io.Reader {
	if fn == nil {
		return r
	}
	return &progressReader{r: r, total: total, fn: fn}
}

type progressReader struct {
	r           io.Reader
	sent, total int64
	fn          func(int64, int64)
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 {
		p.sent += int64(n)
		p.fn(p.sent, p.total)
	}
	return n, err
}

// hashOf returns the lowercase hex SHA-256 of the first size bytes of r,
// streaming. It stops when ctx is done, so an interrupt is not held up by
// hashing a large file.
func hashOf(ctx context.Context, r io.ReaderAt, size int64) (string, error) {
	h := sha256.New()
	n, err := io.Copy(h, ctxReader{ctx, io.NewSectionReader(r, 0, size)})
	if err != nil {
		return "", err
	}
	if n != size {
		return "", fmt.Errorf("the file has %d bytes, not the %d expected; did it change?", n, size)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(b []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(b)
}

// extraTypes are types sluice can verify that Go's mime table may lack.
var extraTypes = map[string]string{".heic": "image/heic", ".heif": "image/heif", ".avif": "image/avif"}

// detectType returns declared if set, else the type the name's extension
// suggests, else the type the first 512 bytes of r suggest. Parameters such
// as charset are dropped: sluice's policy matches bare media types.
func detectType(name string, r io.ReaderAt, declared string) (string, error) {
	if declared != "" {
		return declared, nil
	}
	ext := strings.ToLower(filepath.Ext(name))
	t := extraTypes[ext]
	if t == "" && ext != "" {
		t = mime.TypeByExtension(ext)
	}
	if t == "" {
		head := make([]byte, 512)
		n, err := r.ReadAt(head, 0)
		if err != nil && err != io.EOF {
			return "", err
		}
		t = http.DetectContentType(head[:n])
	}
	if mt, _, err := mime.ParseMediaType(t); err == nil {
		return mt, nil
	}
	return t, nil
}
