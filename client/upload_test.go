package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/httpapi"
)

var pngMagic = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")

func TestPutRequestSendsExactlyTheGrant(t *testing.T) {
	body := bytes.Repeat([]byte("x"), 1000)
	up := &httpapi.UploadResponse{Method: "PUT", URL: "https://store.example/b/k?X-Amz-Signature=s", Headers: map[string]string{
		"Content-Type": "image/png", "If-None-Match": "*", "x-amz-checksum-sha256": "c3VtCg==",
	}}
	var last, total int64
	req, err := putRequest(context.Background(), up, bytes.NewReader(body), int64(len(body)), func(s, t int64) { last, total = s, t })
	if err != nil {
		t.Fatal(err)
	}
	if req.ContentLength != int64(len(body)) {
		t.Errorf("ContentLength %d", req.ContentLength)
	}
	for k, v := range up.Headers {
		if got := req.Header.Get(k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
	if len(req.Header) != len(up.Headers) || req.Header.Get("Authorization") != "" {
		t.Errorf("headers beyond the grant: %v", req.Header)
	}
	sent := readAll(t, req.Body)
	if !bytes.Equal(sent, body) || last != int64(len(body)) || total != int64(len(body)) {
		t.Errorf("sent %d bytes, progress %d/%d", len(sent), last, total)
	}
	again, _ := req.GetBody()
	if !bytes.Equal(readAll(t, again), body) {
		t.Error("GetBody does not replay the body")
	}
}

// The POST body is built from pieces rather than by a multipart.Writer; a
// standard multipart reader must read it back as fields first, file last,
// and its length must be the declared Content-Length.
func TestPostRequestIsAValidForm(t *testing.T) {
	content := append(bytes.Clone(pngMagic), bytes.Repeat([]byte{0xff}, 70000)...)
	fields := map[string]string{"key": "users/u/g.png", "policy": "cG9saWN5", "Content-Type": "image/png", "x-amz-signature": "abc"}
	up := &httpapi.UploadResponse{Method: "POST", URL: "https://store.example/b/", Fields: fields}
	var last int64
	req, err := postRequest(context.Background(), up, `my "best".png`, bytes.NewReader(content), int64(len(content)), func(s, _ int64) { last = s })
	if err != nil {
		t.Fatal(err)
	}
	raw := readAll(t, req.Body)
	if int64(len(raw)) != req.ContentLength {
		t.Fatalf("body is %d bytes, Content-Length says %d", len(raw), req.ContentLength)
	}
	if last != int64(len(content)) {
		t.Errorf("progress ended at %d of %d", last, len(content))
	}
	mt, params, err := mime.ParseMediaType(req.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" {
		t.Fatalf("Content-Type %q", req.Header.Get("Content-Type"))
	}
	got := map[string]string{}
	mr := multipart.NewReader(bytes.NewReader(raw), params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if _, done := got["file"]; done {
			t.Fatalf("part %q comes after the file", p.FormName())
		}
		b := readAll(t, p)
		if p.FormName() == "file" {
			if !bytes.Equal(b, content) || p.FileName() != `my "best".png` || p.Header.Get("Content-Type") != "image/png" {
				t.Errorf("file part: %d bytes, name %q, type %q", len(b), p.FileName(), p.Header.Get("Content-Type"))
			}
		}
		got[p.FormName()] = string(b)
	}
	for k, v := range fields {
		if got[k] != v {
			t.Errorf("field %s = %q, want %q", k, got[k], v)
		}
	}
	if _, ok := got["file"]; !ok || len(got) != len(fields)+1 {
		t.Errorf("parts %d, want the %d fields and the file", len(got), len(fields))
	}
	again, _ := req.GetBody()
	if !bytes.Equal(readAll(t, again), raw) {
		t.Error("GetBody does not replay the body")
	}
}

func TestSendRefusesUnknownMethod(t *testing.T) {
	err := New("http://127.0.0.1", token).Send(context.Background(), &httpapi.UploadResponse{Method: "PATCH"}, "f", strings.NewReader("x"), 1, nil)
	if !sluice.IsCode(err, sluice.CodeMethodNotSupported) {
		t.Errorf("got %v", err)
	}
}

func TestStoreErrorNamesS3CodeNotSignature(t *testing.T) {
	cases := []struct {
		status int
		body   string
		want   sluice.Code
		s3     string
	}{
		{403, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match.</Message><StringToSign>AWS4-HMAC-SHA256 secret</StringToSign><SignatureProvided>secret</SignatureProvided></Error>`, sluice.CodeForbidden, "SignatureDoesNotMatch"},
		{412, `<Error><Code>PreconditionFailed</Code><Message>At least one of the pre-conditions you specified did not hold</Message></Error>`, sluice.CodeConflict, "PreconditionFailed"},
		{400, `<Error><Code>BadDigest</Code><Message>The sha256 you specified did not match.</Message></Error>`, sluice.CodeChecksumMismatch, "BadDigest"},
		{503, `<Error><Code>SlowDown</Code><Message>Reduce your request rate.</Message></Error>`, sluice.CodeUnavailable, "SlowDown"},
		{500, `<Error><Code>InternalError</Code><Message>We encountered an internal error.</Message></Error>`, sluice.CodeUnavailable, "InternalError"},
		{502, `<html>bad gateway</html>`, sluice.CodeUnavailable, ""},
		{403, ``, sluice.CodeForbidden, ""},
	}
	u, _ := url.Parse("https://store.example/bucket/users/u/g.png?X-Amz-Credential=AKIA&X-Amz-Signature=secret")
	for _, tc := range cases {
		rec := httptest.NewRecorder()
		rec.WriteHeader(tc.status)
		rec.WriteString(tc.body)
		err := storeError(rec.Result(), "upload", u)
		se, ok := err.(*sluice.Error)
		if !ok {
			t.Fatalf("%T", err)
		}
		msg := err.Error()
		if se.Code != tc.want || !strings.Contains(msg, http.StatusText(tc.status)) || !strings.Contains(msg, tc.s3) ||
			!strings.Contains(msg, "/bucket/users/u/g.png") || strings.Contains(msg, "secret") || strings.Contains(msg, "AKIA") {
			t.Errorf("%d %s: got %q %q", tc.status, tc.s3, se.Code, msg)
		}
	}
}

func TestDetectType(t *testing.T) {
	cases := []struct {
		name, declared string
		head           []byte
		want           string
	}{
		{"a.png", "image/webp", pngMagic, "image/webp"},
		{"a.PNG", "", []byte("not a png"), "image/png"},
		{"a.jpg", "", nil, "image/jpeg"},
		{"a.heic", "", nil, "image/heic"},
		{"noext", "", pngMagic, "image/png"},
		{"noext", "", []byte("\xff\xd8\xff\xe0\x00\x10JFIF\x00"), "image/jpeg"},
		{"noext", "", []byte("hello"), "text/plain"},
		{"noext", "", nil, "text/plain"},
	}
	for _, tc := range cases {
		got, err := detectType(tc.name, bytes.NewReader(tc.head), tc.declared)
		if err != nil || got != tc.want {
			t.Errorf("%s %q: got %q %v, want %q", tc.name, tc.head, got, err, tc.want)
		}
	}
}

func TestHashOf(t *testing.T) {
	data := bytes.Repeat([]byte("sluice"), 100000)
	sum := sha256.Sum256(data)
	got, err := hashOf(context.Background(), bytes.NewReader(data), int64(len(data)))
	if err != nil || got != hex.EncodeToString(sum[:]) {
		t.Errorf("got %q %v", got, err)
	}
	if _, err := hashOf(context.Background(), bytes.NewReader(data), int64(len(data))+1); err == nil {
		t.Error("a file shorter than its size hashed without error")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := hashOf(ctx, bytes.NewReader(data), int64(len(data))); err != context.Canceled {
		t.Errorf("hashing ignored a cancelled context: %v", err)
	}
}

func readAll(t *testing.T, r io.Reader) []byte {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
