package app_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/textproto"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/httpapi"
)

// bigPNG is n bytes that start as a PNG: a body larger than a store's part
// (8 MiB), under the default 10 MiB maximum.
func bigPNG(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	copy(b, "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
	return b
}

type proxyAnswer struct {
	code     int
	file     sluice.File
	err      apiError
	uploadID string // Sluice-Upload-Id: the grant, when one was recorded
	header   http.Header
}

// proxyPost sends body to POST /v1/files as a plain HTTP client would.
// size -1 sends it chunked.
func proxyPost(t *testing.T, tok string, body io.Reader, size int64, contentType, query string, headers map[string]string) proxyAnswer {
	t.Helper()
	req, _ := http.NewRequest("POST", srv.APIURL+"/v1/files"+query, body)
	req.ContentLength = size
	if size < 0 {
		req.TransferEncoding = []string{"chunked"}
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", contentType)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := uploadClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	return readAnswer(t, resp)
}

// uploadClient gives up on a server that never answers, so that a
// regression fails the test instead of hanging it.
var uploadClient = &http.Client{Timeout: 2 * time.Minute}

func readAnswer(t *testing.T, resp *http.Response) proxyAnswer {
	t.Helper()
	a := proxyAnswer{code: resp.StatusCode, uploadID: resp.Header.Get("Sluice-Upload-Id"), header: resp.Header}
	raw, _ := io.ReadAll(resp.Body)
	if a.code == http.StatusCreated {
		if err := json.Unmarshal(raw, &a.file); err != nil {
			t.Fatalf("201 without a file record: %s", raw)
		}
	} else if err := json.Unmarshal(raw, &a.err); err != nil || a.err.Error.Code == "" {
		t.Fatalf("%d without a sluice error: %q", a.code, raw)
	}
	return a
}

func digest(b []byte) string {
	s := sha256.Sum256(b)
	return "sha-256=:" + base64.StdEncoding.EncodeToString(s[:]) + ":"
}

// userObjects lists what the bucket holds under a user's prefix, and the
// multipart uploads in progress there: behind sluice's back, with the
// store's root keys.
func userObjects(t *testing.T, sub string) (objects, uploads []string) {
	t.Helper()
	ctx, c := context.Background(), rootS3(t)
	prefix := aws.String("users/" + sub + "/")
	lo, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("sluice"), Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range lo.Contents {
		objects = append(objects, aws.ToString(o.Key))
	}
	lm, err := c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String("sluice"), Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range lm.Uploads {
		uploads = append(uploads, aws.ToString(u.Key))
	}
	return objects, uploads
}

// nothingLeft fails unless the user's prefix holds no object and no
// multipart upload.
func nothingLeft(t *testing.T, sub string) {
	t.Helper()
	objects, uploads := userObjects(t, sub)
	if len(objects)+len(uploads) > 0 {
		t.Errorf("left behind under users/%s/: objects %v, multipart uploads %v", sub, objects, uploads)
	}
}

// rejected fails unless grant id is rejected with code.
func rejected(t *testing.T, tok, id, code string) {
	t.Helper()
	if id == "" {
		t.Fatal("no Sluice-Upload-Id: the refusal does not say which grant it recorded")
	}
	g := state(t, tok, id)
	if g.State != sluice.GrantRejected || g.Error == nil || string(g.Error.Code) != code || g.Method != sluice.MethodProxy {
		t.Errorf("grant %s: %+v, want rejected %s", id, g, code)
	}
}

// grantsOf reads a user's grants from the SQLite ledger, for uploads whose
// client was gone before it could be told their ID.
func grantsOf(t *testing.T, sub string) map[string]string {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(srv.Config.Data, "ledger.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT id, state || ' ' || reject_code FROM grants WHERE subject = ?`, sub)
	if err != nil {
		t.Skipf("the ledger is not the SQLite one: %v", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var id, st string
		rows.Scan(&id, &st)
		out[id] = strings.TrimSpace(st)
	}
	return out
}

func TestProxyUploadSmallAndLarge(t *testing.T) {
	tok := tokenFor(t, "pat")
	cases := []struct {
		name, ct string
		body     []byte
		headers  func(b []byte) map[string]string
	}{
		{"small JPEG with X-Checksum-Sha256", "image/jpeg", jpegBytes(t, 50), func(b []byte) map[string]string { return map[string]string{"X-Checksum-Sha256": sum(b)} }},
		{"small PNG with Content-Digest", "image/png", pngBytes(t, 51), func(b []byte) map[string]string { return map[string]string{"Content-Digest": digest(b)} }},
		{"9 MiB with Content-Digest", "image/png", bigPNG(9 << 20), func(b []byte) map[string]string { return map[string]string{"Content-Digest": digest(b)} }},
		{"9 MiB without a checksum", "image/png", bigPNG(9 << 20), func([]byte) map[string]string { return nil }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := proxyPost(t, tok, bytes.NewReader(c.body), int64(len(c.body)), c.ct, "?filename=..%2Fholiday%20photo"+map[string]string{"image/jpeg": ".jpg", "image/png": ".png"}[c.ct], c.headers(c.body))
			if a.code != http.StatusCreated {
				t.Fatalf("POST /v1/files: %d %+v", a.code, a.err)
			}
			f := a.file
			ext := map[string]string{"image/jpeg": ".jpg", "image/png": ".png"}[c.ct]
			if f.Key != "users/pat/"+f.ID+ext || f.Size != int64(len(c.body)) || f.SHA256 != sum(c.body) || f.ContentType != c.ct || f.Filename != "holiday photo"+ext {
				t.Errorf("file record: %+v", f)
			}
			if a.header.Get("Location") != "/v1/files/"+f.ID || a.uploadID != f.ID {
				t.Errorf("Location %q, Sluice-Upload-Id %q", a.header.Get("Location"), a.uploadID)
			}
			if g := state(t, tok, f.ID); g.State != sluice.GrantComplete || g.Method != sluice.MethodProxy {
				t.Errorf("grant: %+v", g)
			}
			var got sluice.File
			if code, _ := api(t, tok, "GET", "/v1/files/"+f.ID, nil, &got); code != 200 || got.SHA256 != f.SHA256 {
				t.Errorf("GET /v1/files/%s: %d %+v", f.ID, code, got)
			}
			if b := download(t, tok, f.ID); !bytes.Equal(b, c.body) {
				t.Errorf("downloaded %d bytes, not the %d uploaded", len(b), len(c.body))
			}
		})
	}
}

// download reads a file back through its presigned GET.
func download(t *testing.T, tok, id string) []byte {
	t.Helper()
	var cu httpapi.ContentURL
	if code, _ := api(t, tok, "GET", "/v1/files/"+id+"/content?redirect=false", nil, &cu); code != 200 {
		t.Fatalf("content URL: %d", code)
	}
	resp, err := http.Get(cu.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return b
}

func TestProxyUploadChunked(t *testing.T) {
	tok := tokenFor(t, "quinn")
	for _, body := range [][]byte{pngBytes(t, 52), bigPNG(9 << 20)} {
		// A reader of unknown length: net/http sends it chunked.
		a := proxyPost(t, tok, io.MultiReader(bytes.NewReader(body)), -1, "image/png", "", map[string]string{"X-Checksum-Sha256": sum(body)})
		if a.code != http.StatusCreated || a.file.Size != int64(len(body)) || a.file.SHA256 != sum(body) {
			t.Fatalf("chunked %d bytes: %d %+v %+v", len(body), a.code, a.file, a.err)
		}
		if b := download(t, tok, a.file.ID); !bytes.Equal(b, body) {
			t.Errorf("downloaded %d bytes, not the %d uploaded", len(b), len(body))
		}
	}
}

// rawPost writes a request by hand, so that its Content-Length can lie,
// then sends body and, if closeWrite, ends its side of the connection.
func rawPost(t *testing.T, tok string, contentLength int, headers map[string]string, body []byte, closeWrite bool) *http.Response {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(srv.APIURL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	var h bytes.Buffer
	fmt.Fprintf(&h, "POST /v1/files HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: image/png\r\nContent-Length: %d\r\n",
		strings.TrimPrefix(srv.APIURL, "http://"), tok, contentLength)
	for k, v := range headers {
		fmt.Fprintf(&h, "%s: %s\r\n", k, v)
	}
	h.WriteString("\r\n")
	conn.Write(h.Bytes())
	conn.Write(body)
	if closeWrite {
		conn.(*net.TCPConn).CloseWrite()
	}
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	return resp
}

func TestProxyUploadLyingContentLength(t *testing.T) {
	tok := tokenFor(t, "rosa")
	body := bigPNG(1 << 20)

	t.Run("longer than the body", func(t *testing.T) {
		// The client says 2 MiB, sends 1 MiB and ends its side.
		resp := rawPost(t, tok, 2<<20, nil, body, true)
		defer resp.Body.Close()
		a := readAnswer(t, resp)
		if a.code != http.StatusBadRequest || a.err.Error.Code != "upload_incomplete" {
			t.Fatalf("%d %+v, want 400 upload_incomplete", a.code, a.err)
		}
		rejected(t, tok, a.uploadID, "upload_incomplete")
		nothingLeft(t, "rosa")
	})

	t.Run("shorter than the body, with its checksum", func(t *testing.T) {
		// The server reads the declared length, no more: the stored
		// prefix of the body is not the declared file.
		resp := rawPost(t, tok, len(body)/2, map[string]string{"X-Checksum-Sha256": sum(body)}, body, false)
		defer resp.Body.Close()
		a := readAnswer(t, resp)
		if a.code != http.StatusUnprocessableEntity || a.err.Error.Code != "checksum_mismatch" {
			t.Fatalf("%d %+v, want 422 checksum_mismatch", a.code, a.err)
		}
		rejected(t, tok, a.uploadID, "checksum_mismatch")
		nothingLeft(t, "rosa")
	})

	t.Run("shorter than the body, without a checksum", func(t *testing.T) {
		// Without a checksum the declared length is all there is: the
		// file is exactly that long, and nothing past it is read.
		resp := rawPost(t, tok, len(body)/2, nil, body, false)
		defer resp.Body.Close()
		a := readAnswer(t, resp)
		if a.code != http.StatusCreated || a.file.Size != int64(len(body)/2) || a.file.SHA256 != sum(body[:len(body)/2]) {
			t.Fatalf("%d %+v %+v", a.code, a.file, a.err)
		}
		api(t, tok, "DELETE", "/v1/files/"+a.file.ID, nil, nil)
	})
}

func TestProxyUploadOverSize(t *testing.T) {
	tok := tokenFor(t, "sven")
	max := srv.Config.Policy.MaxSize

	t.Run("declared", func(t *testing.T) {
		// Refused on its headers: a body that never comes is never read.
		pr, pw := io.Pipe()
		defer pw.Close()
		a := proxyPost(t, tok, pr, max+1, "image/png", "", nil)
		if a.code != http.StatusRequestEntityTooLarge || a.err.Error.Code != "too_large" || a.uploadID != "" {
			t.Errorf("%d %+v (grant %q), want 413 too_large and no grant", a.code, a.err, a.uploadID)
		}
	})

	t.Run("chunked", func(t *testing.T) {
		// The client sends one byte more than the maximum and then holds
		// the body open: the 413 must come while it is still sending.
		pr, pw := io.Pipe()
		sent := make(chan int64, 1)
		go func() {
			chunk, n := bigPNG(64<<10), int64(0)
			for n <= max {
				c := chunk[:min(int64(len(chunk)), max+1-n)]
				if _, err := pw.Write(c); err != nil {
					break
				}
				n += int64(len(c))
				chunk = chunk[len(c):]
				if len(chunk) == 0 {
					chunk = make([]byte, 64<<10)
				}
			}
			sent <- n
			// Keep the body open: no EOF, as if more were coming.
		}()
		a := proxyPost(t, tok, pr, -1, "image/png", "", nil)
		pw.CloseWithError(io.ErrClosedPipe)
		if a.code != http.StatusRequestEntityTooLarge || a.err.Error.Code != "too_large" {
			t.Fatalf("%d %+v, want 413 too_large", a.code, a.err)
		}
		if n := <-sent; n != max+1 {
			t.Errorf("the client got its answer after %d bytes; it had sent max+1 = %d", n, max+1)
		}
		rejected(t, tok, a.uploadID, "too_large")
		nothingLeft(t, "sven")
	})
}

func TestProxyUploadWrongType(t *testing.T) {
	tok := tokenFor(t, "tara")
	cases := []struct {
		name, ct string
		body     []byte
		code     int
		err      string
		grant    bool
	}{
		{"PNG declared as JPEG", "image/jpeg", pngBytes(t, 53), 422, "content_mismatch", true},
		{"HTML declared as PNG", "image/png", []byte("<!DOCTYPE html><html><script>alert(1)</script></html>"), 422, "content_mismatch", true},
		{"type not allowed", "text/html", []byte("<html></html>"), 415, "content_type_not_allowed", false},
		{"no type", "", pngBytes(t, 54), 415, "content_type_not_allowed", false},
		{"empty body", "image/png", nil, 400, "invalid_size", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := proxyPost(t, tok, bytes.NewReader(c.body), int64(len(c.body)), c.ct, "", nil)
			if a.code != c.code || a.err.Error.Code != c.err {
				t.Fatalf("%d %+v, want %d %s", a.code, a.err, c.code, c.err)
			}
			if c.grant {
				rejected(t, tok, a.uploadID, c.err)
			} else if a.uploadID != "" {
				t.Errorf("a policy refusal recorded grant %s", a.uploadID)
			}
		})
	}
	nothingLeft(t, "tara")
}

func TestProxyUploadWrongChecksum(t *testing.T) {
	tok := tokenFor(t, "uma")
	small, big := pngBytes(t, 55), bigPNG(9<<20)
	other := sha256.Sum256([]byte("other bytes"))
	otherHex, otherB64 := hex.EncodeToString(other[:]), base64.StdEncoding.EncodeToString(other[:])
	cases := []struct {
		name    string
		body    []byte
		headers map[string]string
		code    int
		err     string
	}{
		{"X-Checksum-Sha256 of other bytes", small, map[string]string{"X-Checksum-Sha256": otherHex}, 422, "checksum_mismatch"},
		{"Content-Digest of other bytes", small, map[string]string{"Content-Digest": "sha-256=:" + otherB64 + ":"}, 422, "checksum_mismatch"},
		{"Content-Digest of other bytes, 9 MiB", big, map[string]string{"Content-Digest": "sha-256=:" + otherB64 + ":"}, 422, "checksum_mismatch"},
		{"one bit off", big, map[string]string{"X-Checksum-Sha256": func() string { b := bytes.Clone(big); b[len(b)-1] ^= 1; return sum(b) }()}, 422, "checksum_mismatch"},
		{"X-Checksum-Sha256 not hex", small, map[string]string{"X-Checksum-Sha256": "xyz"}, 400, "invalid_checksum"},
		{"Content-Digest malformed", small, map[string]string{"Content-Digest": "sha-256=abc"}, 400, "invalid_checksum"},
		{"Content-Digest without sha-256", small, map[string]string{"Content-Digest": "sha-512=:" + base64.StdEncoding.EncodeToString(make([]byte, 64)) + ":"}, 400, "invalid_checksum"},
		{"the two headers disagree", small, map[string]string{"X-Checksum-Sha256": sum(small), "Content-Digest": "sha-256=:" + otherB64 + ":"}, 400, "invalid_checksum"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := proxyPost(t, tok, bytes.NewReader(c.body), int64(len(c.body)), "image/png", "", c.headers)
			if a.code != c.code || a.err.Error.Code != c.err {
				t.Fatalf("%d %+v, want %d %s", a.code, a.err, c.code, c.err)
			}
			if c.code == 422 {
				rejected(t, tok, a.uploadID, c.err)
			}
		})
	}
	nothingLeft(t, "uma")
}

func TestProxyUploadClientDisconnects(t *testing.T) {
	tok := tokenFor(t, "vera")
	body := bigPNG(2 << 20)
	for _, chunked := range []bool{false, true} {
		before := len(grantsOf(t, "vera"))
		conn, err := net.Dial("tcp", strings.TrimPrefix(srv.APIURL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		framing := "Content-Length: 8388608\r\n"
		if chunked {
			framing = "Transfer-Encoding: chunked\r\n"
		}
		fmt.Fprintf(conn, "POST /v1/files HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: image/png\r\n%s\r\n", tok, framing)
		if chunked {
			fmt.Fprintf(conn, "%x\r\n", len(body))
		}
		conn.Write(body)
		// Gone mid-body: 2 of 8 MiB, or in the middle of the chunk stream.
		conn.Close()

		// The server finds out when it next reads; wait for the grant to
		// be settled rather than for a time.
		deadline := time.Now().Add(20 * time.Second)
		var grants map[string]string
		for {
			grants = grantsOf(t, "vera")
			settled := len(grants) > before
			for _, st := range grants {
				settled = settled && st != "pending"
			}
			if settled || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if len(grants) != before+1 {
			t.Fatalf("chunked %v: %d grants, want %d", chunked, len(grants), before+1)
		}
		for id, st := range grants {
			if st != "rejected upload_incomplete" {
				t.Errorf("chunked %v: grant %s is %q, want rejected upload_incomplete", chunked, id, st)
			}
		}
		nothingLeft(t, "vera")
	}
	var list httpapi.FileList
	api(t, tok, "GET", "/v1/files", nil, &list)
	if len(list.Files) != 0 {
		t.Errorf("files recorded for uploads that were cut off: %+v", list.Files)
	}
}

func TestProxyUploadConcurrencyLimit(t *testing.T) {
	tok := tokenFor(t, "wes")
	limit := srv.Config.Policy.ConcurrentUploads()
	body := bigPNG(256 << 10)
	type inflight struct {
		pw     *io.PipeWriter
		answer chan proxyAnswer
	}
	var open []inflight
	for i := 0; i < limit; i++ {
		pr, pw := io.Pipe()
		f := inflight{pw, make(chan proxyAnswer, 1)}
		go func() { f.answer <- proxyPost(t, tok, pr, int64(len(body)), "image/png", "", nil) }()
		pw.Write(body[:SniffHead]) // the server holds a slot once it reads
		open = append(open, f)
	}
	// Each upload holds its slot from before its grant is recorded until
	// it ends: wait until the ledger shows them all.
	deadline := time.Now().Add(10 * time.Second)
	for pending := 0; pending < limit && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		pending = 0
		for _, st := range grantsOf(t, "wes") {
			if st == "pending" {
				pending++
			}
		}
	}

	a := proxyPost(t, tok, bytes.NewReader(body), int64(len(body)), "image/png", "", nil)
	if a.code != http.StatusTooManyRequests || a.err.Error.Code != "too_many_uploads" || a.header.Get("Retry-After") == "" || a.uploadID != "" {
		t.Errorf("upload beyond the limit: %d %+v Retry-After %q grant %q", a.code, a.err, a.header.Get("Retry-After"), a.uploadID)
	}
	// Another user is not held up by this one.
	other := proxyPost(t, tokenFor(t, "wes-neighbour"), bytes.NewReader(body), int64(len(body)), "image/png", "", nil)
	if other.code != http.StatusCreated {
		t.Errorf("another user's upload: %d %+v", other.code, other.err)
	}

	// One ends; its slot is free again.
	open[0].pw.Write(body[SniffHead:])
	open[0].pw.Close()
	if a := <-open[0].answer; a.code != http.StatusCreated {
		t.Fatalf("first upload: %d %+v", a.code, a.err)
	}
	if a := proxyPost(t, tok, bytes.NewReader(body), int64(len(body)), "image/png", "", nil); a.code != http.StatusCreated {
		t.Errorf("upload after a slot came free: %d %+v", a.code, a.err)
	}
	for _, f := range open[1:] {
		f.pw.Write(body[SniffHead:])
		f.pw.Close()
		if a := <-f.answer; a.code != http.StatusCreated {
			t.Errorf("upload: %d %+v", a.code, a.err)
		}
	}
}

// SniffHead is enough of a body for the server to have started on it.
const SniffHead = 4096

// form builds a multipart/form-data body: fields in order, then the file.
func form(fields [][2]string, fileType, filename string, file []byte) (io.Reader, string) {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for _, f := range fields {
		w.WriteField(f[0], f[1])
	}
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="file"; filename=%q`, filename))
	if fileType != "" {
		h.Set("Content-Type", fileType)
	}
	fw, _ := w.CreatePart(h)
	fw.Write(file)
	w.Close()
	return &buf, w.FormDataContentType()
}

func TestProxyUploadMultipartForm(t *testing.T) {
	tok := tokenFor(t, "xena")
	jpg, png := jpegBytes(t, 56), pngBytes(t, 57)

	t.Run("a browser's form", func(t *testing.T) {
		body, ct := form([][2]string{{"csrf", "token-of-the-app"}, {"sha256", sum(jpg)}}, "image/jpeg", "cat.jpg", jpg)
		a := proxyPost(t, tok, body, -1, ct, "", nil)
		if a.code != http.StatusCreated || a.file.SHA256 != sum(jpg) || a.file.Filename != "cat.jpg" || a.file.ContentType != "image/jpeg" {
			t.Fatalf("%d %+v %+v", a.code, a.file, a.err)
		}
		if b := download(t, tok, a.file.ID); !bytes.Equal(b, jpg) {
			t.Error("downloaded bytes differ from the form's file")
		}
	})
	t.Run("type from a field when the part has none", func(t *testing.T) {
		body, ct := form([][2]string{{"content_type", "image/png"}, {"filename", "dog.png"}}, "", "blob", png)
		a := proxyPost(t, tok, body, -1, ct, "", map[string]string{"X-Checksum-Sha256": sum(png)})
		if a.code != http.StatusCreated || a.file.ContentType != "image/png" || a.file.Filename != "dog.png" {
			t.Fatalf("%d %+v %+v", a.code, a.file, a.err)
		}
	})
	refusals := []struct {
		name    string
		fields  [][2]string
		typ     string
		file    []byte
		headers map[string]string
		code    int
		err     string
	}{
		{"wrong sha256 field", [][2]string{{"sha256", sum(png)}}, "image/jpeg", jpg, nil, 422, "checksum_mismatch"},
		{"file not of its type", nil, "image/png", jpg, nil, 422, "content_mismatch"},
		{"Content-Digest on a form", nil, "image/jpeg", jpg, map[string]string{"Content-Digest": digest(jpg)}, 400, "invalid_checksum"},
		{"file over the maximum", nil, "image/png", bigPNG(int(srv.Config.Policy.MaxSize) + 1), nil, 413, "too_large"},
	}
	for _, r := range refusals {
		t.Run(r.name, func(t *testing.T) {
			body, ct := form(r.fields, r.typ, "x", r.file)
			a := proxyPost(t, tok, body, -1, ct, "", r.headers)
			if a.code != r.code || a.err.Error.Code != r.err {
				t.Fatalf("%d %+v, want %d %s", a.code, a.err, r.code, r.err)
			}
		})
	}
	t.Run("no file part", func(t *testing.T) {
		var buf bytes.Buffer
		w := multipart.NewWriter(&buf)
		w.WriteField("filename", "x.png")
		w.Close()
		a := proxyPost(t, tok, &buf, int64(buf.Len()), w.FormDataContentType(), "", nil)
		if a.code != 400 || a.err.Error.Code != "invalid_request" {
			t.Errorf("%d %+v", a.code, a.err)
		}
	})
	objects, uploads := userObjects(t, "xena")
	if len(objects) != 2 || len(uploads) != 0 {
		t.Errorf("under users/xena/: objects %v (want the 2 accepted files), multipart uploads %v", objects, uploads)
	}
}

// proxiedBytes reads sluice_proxied_bytes_total from /metrics.
func proxiedBytes(t *testing.T) float64 {
	t.Helper()
	resp, err := http.Get(srv.APIURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "sluice_proxied_bytes_total "); ok {
			var f float64
			fmt.Sscan(v, &f)
			return f
		}
	}
	t.Fatal("no sluice_proxied_bytes_total in /metrics")
	return 0
}

func TestProxyBytesCounted(t *testing.T) {
	tok := tokenFor(t, "yuki")
	body := pngBytes(t, 58)
	before := proxiedBytes(t)
	if a := proxyPost(t, tok, bytes.NewReader(body), int64(len(body)), "image/png", "", nil); a.code != 201 {
		t.Fatalf("%d %+v", a.code, a.err)
	}
	u := tusCreate(t, tok, len(body), map[string]string{"filetype": "image/png"})
	if a := tusPatch(t, tok, u, 0, body, nil); a.code != http.StatusNoContent {
		t.Fatalf("tus: %d %+v", a.code, a.err)
	}
	if got := proxiedBytes(t) - before; got != float64(2*len(body)) {
		t.Errorf("sluice_proxied_bytes_total grew by %.0f, want %d", got, 2*len(body))
	}
}
