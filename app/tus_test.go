package app_test

import (
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/client"
)

// tusAnswer is what a tus request got back.
type tusAnswer struct {
	code   int
	header http.Header
	err    apiError
}

// tusDo makes one tus request as a plain HTTP client would.
func tusDo(t *testing.T, tok, method, u string, headers map[string]string, body []byte) tusAnswer {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Tus-Resumable", "1.0.0")
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/offset+octet-stream")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	a := tusAnswer{code: resp.StatusCode, header: resp.Header}
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 400 && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		json.Unmarshal(raw, &a.err)
	}
	return a
}

func tusMeta(m map[string]string) string {
	var parts []string
	for k, v := range m {
		parts = append(parts, k+" "+base64.StdEncoding.EncodeToString([]byte(v)))
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

// tusCreate creates an upload and returns its URL.
func tusCreate(t *testing.T, tok string, size int, meta map[string]string) string {
	t.Helper()
	a := tusDo(t, tok, "POST", srv.APIURL+"/v1/tus/", map[string]string{
		"Upload-Length": strconv.Itoa(size), "Upload-Metadata": tusMeta(meta),
	}, nil)
	if a.code != http.StatusCreated || a.header.Get("Location") == "" {
		t.Fatalf("creation: %d %+v", a.code, a.err)
	}
	return a.header.Get("Location")
}

func tusOffset(t *testing.T, tok, u string) (int, int64) {
	t.Helper()
	a := tusDo(t, tok, "HEAD", u, nil, nil)
	off, _ := strconv.ParseInt(a.header.Get("Upload-Offset"), 10, 64)
	return a.code, off
}

func tusPatch(t *testing.T, tok, u string, offset int64, chunk []byte, headers map[string]string) tusAnswer {
	t.Helper()
	h := map[string]string{"Upload-Offset": strconv.FormatInt(offset, 10)}
	for k, v := range headers {
		h[k] = v
	}
	return tusDo(t, tok, "PATCH", u, h, chunk)
}

func sha256Header(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256 " + base64.StdEncoding.EncodeToString(s[:])
}

// staging lists tusd's bookkeeping objects of an upload (.info, .part).
func staging(t *testing.T, key string) []string {
	t.Helper()
	out, err := rootS3(t).ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{
		Bucket: aws.String("sluice"), Prefix: aws.String(".tus/" + key),
	})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range out.Contents {
		keys = append(keys, aws.ToString(o.Key))
	}
	return keys
}

func TestTusDiscovery(t *testing.T) {
	req, _ := http.NewRequest("OPTIONS", srv.APIURL+"/v1/tus/", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	ext := resp.Header.Get("Tus-Extension")
	for _, e := range []string{"creation", "termination", "checksum"} {
		if !strings.Contains(","+ext+",", ","+e+",") {
			t.Errorf("Tus-Extension %q lacks %s", ext, e)
		}
	}
	if resp.StatusCode/100 != 2 || resp.Header.Get("Tus-Version") != "1.0.0" ||
		resp.Header.Get("Tus-Max-Size") != strconv.FormatInt(srv.Config.Policy.MaxSize, 10) ||
		!strings.Contains(resp.Header.Get("Tus-Checksum-Algorithm"), "sha256") {
		t.Errorf("OPTIONS: %d %v", resp.StatusCode, resp.Header)
	}
	if a := tusDo(t, "", "POST", srv.APIURL+"/v1/tus/", map[string]string{"Upload-Length": "10"}, nil); a.code != 401 || a.header.Get("Tus-Resumable") != "1.0.0" {
		t.Errorf("creation without a token: %d, Tus-Resumable %q", a.code, a.header.Get("Tus-Resumable"))
	}
}

// TestTusResumeAfterInterruption cuts a PATCH off halfway (the connection
// drops), asks the server where it got to, sends the rest, and reads the
// file back.
func TestTusResumeAfterInterruption(t *testing.T) {
	tok := tokenFor(t, "yann")
	body := bigPNG(9 << 20)
	u := tusCreate(t, tok, len(body), map[string]string{"filetype": "image/png", "filename": "big.png", "sha256": sum(body)})
	if !strings.HasPrefix(u, srv.APIURL+"/v1/tus/") || strings.Contains(u, "yann") {
		t.Errorf("upload URL %q: want it under /v1/tus/, naming the upload, not the user", u)
	}
	if code, off := tusOffset(t, tok, u); code != 200 || off != 0 {
		t.Fatalf("HEAD of a new upload: %d offset %d", code, off)
	}

	// Half the body, then the connection drops.
	half := len(body) / 2
	conn, err := net.Dial("tcp", strings.TrimPrefix(srv.APIURL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	path := strings.TrimPrefix(u, srv.APIURL)
	fmt.Fprintf(conn, "PATCH %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nTus-Resumable: 1.0.0\r\nContent-Type: application/offset+octet-stream\r\nUpload-Offset: 0\r\nContent-Length: %d\r\n\r\n", path, tok, len(body))
	conn.Write(body[:half])
	conn.Close()

	// The server keeps what arrived; wait until it has settled.
	var off int64
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		code, o := tusOffset(t, tok, u)
		if code == 200 && o > 0 || time.Now().After(deadline) {
			off = o
			break
		}
	}
	if off <= 0 || off > int64(half) {
		t.Fatalf("offset after the interruption: %d, want 1..%d", off, half)
	}
	if objectExists(t, "users/yann/"+grantID(u)+".png") {
		t.Error("an unfinished upload is already an object")
	}

	a := tusPatch(t, tok, u, off, body[off:], nil)
	if a.code != http.StatusNoContent || a.header.Get("Upload-Offset") != strconv.Itoa(len(body)) {
		t.Fatalf("resumed PATCH: %d offset %q %+v", a.code, a.header.Get("Upload-Offset"), a.err)
	}
	id := a.header.Get("Sluice-File-Id")
	if id == "" || id != grantID(u) {
		t.Fatalf("Sluice-File-Id %q, want the upload's grant %q", id, grantID(u))
	}
	var f sluice.File
	if code, _ := api(t, tok, "GET", "/v1/files/"+id, nil, &f); code != 200 ||
		f.Key != "users/yann/"+id+".png" || f.Size != int64(len(body)) || f.SHA256 != sum(body) || f.Filename != "big.png" {
		t.Fatalf("file: %d %+v", code, f)
	}
	if b := download(t, tok, id); !bytes.Equal(b, body) {
		t.Fatalf("downloaded %d bytes, not the %d uploaded", len(b), len(body))
	}
	if g := state(t, tok, id); g.State != sluice.GrantComplete || g.Method != sluice.MethodTus {
		t.Errorf("grant: %+v", g)
	}
	// Done: HEAD says so (a client resuming a finished upload stops), and
	// no multipart upload is left.
	if code, off := tusOffset(t, tok, u); code != 200 || off != int64(len(body)) {
		t.Errorf("HEAD after the end: %d offset %d", code, off)
	}
	if _, uploads := userObjects(t, "yann"); len(uploads) != 0 {
		t.Errorf("multipart uploads left: %v", uploads)
	}
	// A finished upload is a file: it is deleted as one, not terminated.
	if a := tusDo(t, tok, "DELETE", u, nil, nil); a.code != http.StatusConflict {
		t.Errorf("DELETE of a finished upload: %d, want 409", a.code)
	}
	if !objectExists(t, f.Key) {
		t.Error("terminating a finished upload removed its file")
	}
}

func grantID(u string) string {
	id := u[strings.LastIndex(u, "/")+1:]
	return id[:strings.LastIndex(id, "+")]
}

func TestTusOtherUserRefused(t *testing.T) {
	alice, bob := tokenFor(t, "zoe"), tokenFor(t, "zoe-neighbour")
	body := bigPNG(1 << 20)
	u := tusCreate(t, alice, len(body), map[string]string{"filetype": "image/png"})
	if a := tusPatch(t, alice, u, 0, body[:1000], nil); a.code != http.StatusNoContent {
		t.Fatalf("first chunk: %d %+v", a.code, a.err)
	}
	for _, r := range []struct {
		method  string
		headers map[string]string
		body    []byte
	}{
		{"HEAD", nil, nil},
		{"PATCH", map[string]string{"Upload-Offset": "1000"}, body[1000:]},
		{"DELETE", nil, nil},
	} {
		if a := tusDo(t, bob, r.method, u, r.headers, r.body); a.code != http.StatusNotFound {
			t.Errorf("bob's %s of alice's upload: %d, want 404", r.method, a.code)
		}
	}
	if code, off := tusOffset(t, alice, u); code != 200 || off != 1000 {
		t.Fatalf("alice's upload after bob: %d offset %d, want 1000", code, off)
	}
	if a := tusPatch(t, alice, u, 1000, body[1000:], nil); a.code != http.StatusNoContent || a.header.Get("Sluice-File-Id") == "" {
		t.Fatalf("alice's last chunk: %d %+v", a.code, a.err)
	}
}

func TestTusPolicyAtCreation(t *testing.T) {
	tok := tokenFor(t, "abel")
	max := srv.Config.Policy.MaxSize
	cases := []struct {
		name    string
		headers map[string]string
		code    int
		err     string
	}{
		{"over the maximum", map[string]string{"Upload-Length": strconv.FormatInt(max+1, 10), "Upload-Metadata": tusMeta(map[string]string{"filetype": "image/png"})}, 413, "too_large"},
		{"type not allowed", map[string]string{"Upload-Length": "100", "Upload-Metadata": tusMeta(map[string]string{"filetype": "text/html"})}, 415, "content_type_not_allowed"},
		{"no type", map[string]string{"Upload-Length": "100"}, 415, "content_type_not_allowed"},
		{"bad sha256", map[string]string{"Upload-Length": "100", "Upload-Metadata": tusMeta(map[string]string{"filetype": "image/png", "sha256": "abc"})}, 400, "invalid_checksum"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := tusDo(t, tok, "POST", srv.APIURL+"/v1/tus/", c.headers, nil)
			if a.code != c.code || a.err.Error.Code != c.err || a.header.Get("Location") != "" {
				t.Errorf("%d %+v Location %q, want %d %s and no upload", a.code, a.err, a.header.Get("Location"), c.code, c.err)
			}
		})
	}
	if a := tusDo(t, tok, "POST", srv.APIURL+"/v1/tus/", map[string]string{"Upload-Defer-Length": "1", "Upload-Metadata": tusMeta(map[string]string{"filetype": "image/png"})}, nil); a.code < 400 {
		t.Errorf("deferred length: %d, want a refusal", a.code)
	}
	nothingLeft(t, "abel")
}

func TestTusVerifiedAtTheEnd(t *testing.T) {
	tok := tokenFor(t, "bea")
	png := pngBytes(t, 60)
	cases := []struct {
		name string
		meta map[string]string
		body []byte
		code string
	}{
		{"bytes not of the declared type", map[string]string{"filetype": "image/jpeg"}, png, "content_mismatch"},
		{"sha256 of other bytes", map[string]string{"filetype": "image/png", "sha256": sum(jpegBytes(t, 61))}, png, "checksum_mismatch"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			u := tusCreate(t, tok, len(c.body), c.meta)
			a := tusPatch(t, tok, u, 0, c.body, nil)
			if a.code != http.StatusUnprocessableEntity || a.err.Error.Code != c.code {
				t.Fatalf("last chunk: %d %+v, want 422 %s", a.code, a.err, c.code)
			}
			if g := state(t, tok, grantID(u)); g.State != sluice.GrantRejected || g.Error == nil || string(g.Error.Code) != c.code {
				t.Errorf("grant: %+v", g)
			}
			if code, _ := tusOffset(t, tok, u); code < 400 {
				t.Errorf("HEAD of a rejected upload: %d, want a refusal", code)
			}
			key := "users/bea/" + grantID(u)
			if left := staging(t, key); len(left) != 0 {
				t.Errorf("bookkeeping left: %v", left)
			}
		})
	}
	nothingLeft(t, "bea")
}

func TestTusChecksumExtension(t *testing.T) {
	tok := tokenFor(t, "cruz")
	body := bigPNG(3 << 20)
	u := tusCreate(t, tok, len(body), map[string]string{"filetype": "image/png", "sha256": sum(body)})
	first := body[:1<<20]

	bad := bytes.Clone(first)
	bad[500] ^= 1
	a := tusPatch(t, tok, u, 0, bad, map[string]string{"Upload-Checksum": sha256Header(first)})
	if a.code != 460 || a.err.Error.Code != "checksum_mismatch" {
		t.Fatalf("chunk damaged on the way: %d %+v, want 460 checksum_mismatch", a.code, a.err)
	}
	if _, off := tusOffset(t, tok, u); off != 0 {
		t.Fatalf("offset after a refused chunk: %d, want 0: nothing may be appended", off)
	}
	if a := tusPatch(t, tok, u, 0, first, map[string]string{"Upload-Checksum": "md4 AAAA"}); a.code != 400 {
		t.Errorf("unsupported algorithm: %d, want 400", a.code)
	}
	if a := tusPatch(t, tok, u, 0, first, map[string]string{"Upload-Checksum": sha256Header(first)}); a.code != http.StatusNoContent {
		t.Fatalf("good chunk: %d %+v", a.code, a.err)
	}
	rest := body[1<<20:]
	if a := tusPatch(t, tok, u, 1<<20, rest, map[string]string{"Upload-Checksum": "sha1 " + sha1B64(rest)}); a.code != http.StatusNoContent || a.header.Get("Sluice-File-Id") == "" {
		t.Fatalf("last chunk with sha1: %d %+v", a.code, a.err)
	}
	if b := download(t, tok, grantID(u)); !bytes.Equal(b, body) {
		t.Error("downloaded bytes differ")
	}
}

func TestTusTermination(t *testing.T) {
	tok := tokenFor(t, "dina")
	body := bigPNG(6 << 20)
	u := tusCreate(t, tok, len(body), map[string]string{"filetype": "image/png"})
	// More than a part: a multipart upload exists in the store.
	if a := tusPatch(t, tok, u, 0, body[:5<<20+100], nil); a.code != http.StatusNoContent {
		t.Fatalf("chunk: %d %+v", a.code, a.err)
	}
	if a := tusDo(t, tok, "DELETE", u, nil, nil); a.code != http.StatusNoContent {
		t.Fatalf("DELETE: %d %+v", a.code, a.err)
	}
	if code, _ := tusOffset(t, tok, u); code < 400 {
		t.Errorf("HEAD after termination: %d, want a refusal", code)
	}
	if g := state(t, tok, grantID(u)); g.State != sluice.GrantRejected || g.Error == nil || g.Error.Code != sluice.CodeUploadIncomplete {
		t.Errorf("grant after termination: %+v", g)
	}
	if left := staging(t, "users/dina/"+grantID(u)); len(left) != 0 {
		t.Errorf("bookkeeping left: %v", left)
	}
	nothingLeft(t, "dina")
}

// TestTusGoClientResumes uses the Go client: an upload stopped by the
// caller (context cancelled mid-way) is taken up again from its URL.
func TestTusGoClientResumes(t *testing.T) {
	tok := tokenFor(t, "emil")
	body := bigPNG(9 << 20)
	cl := client.New(srv.APIURL, tok)
	ctx, cancel := context.WithCancel(context.Background())
	var url string
	_, err := cl.Resumable(ctx, "movie.png", bytes.NewReader(body), int64(len(body)), client.ResumableOptions{
		ChunkSize: 1 << 20,
		OnCreate:  func(u string) { url = u },
		UploadOptions: client.UploadOptions{Progress: func(sent, total int64) {
			if sent > 3<<20 {
				cancel()
			}
		}},
	})
	if err == nil || url == "" {
		t.Fatalf("interrupted upload: err %v, url %q", err, url)
	}
	_, off := tusOffset(t, tok, url)
	if off <= 0 || off >= int64(len(body)) {
		t.Fatalf("offset after the interruption: %d", off)
	}
	var resumedFrom int64 = -1
	f, err := cl.Resumable(context.Background(), "movie.png", bytes.NewReader(body), int64(len(body)), client.ResumableOptions{
		URL: url,
		UploadOptions: client.UploadOptions{Progress: func(sent, total int64) {
			if resumedFrom < 0 {
				resumedFrom = sent
			}
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if resumedFrom < off {
		t.Errorf("the resumed upload started at byte %d; the server had %d", resumedFrom, off)
	}
	if f.SHA256 != sum(body) || f.Size != int64(len(body)) {
		t.Errorf("file: %+v", f)
	}
	if b := download(t, tok, f.ID); !bytes.Equal(b, body) {
		t.Error("downloaded bytes differ")
	}
}

func sha1B64(b []byte) string {
	s := sha1.Sum(b)
	return base64.StdEncoding.EncodeToString(s[:])
}
