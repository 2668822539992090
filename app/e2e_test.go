package app_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/httpapi"
)

func testImage(seed int) image.Image {
	img := image.NewRGBA(image.Rect(0, 0, 64, 48))
	for x := 0; x < 64; x++ {
		for y := 0; y < 48; y++ {
			img.Set(x, y, color.RGBA{uint8(x * 4), uint8(y * 5), uint8(seed), 255})
		}
	}
	return img
}

func jpegBytes(t testing.TB, seed int) []byte {
	var b bytes.Buffer
	if err := jpeg.Encode(&b, testImage(seed), nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func pngBytes(t testing.TB, seed int) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, testImage(seed)); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// grant asks for an upload and fails the test unless it gets one.
func grant(t *testing.T, tok string, req httpapi.UploadRequest) httpapi.UploadResponse {
	t.Helper()
	var up httpapi.UploadResponse
	if code, _ := api(t, tok, "POST", "/v1/uploads", req, &up); code != http.StatusCreated {
		t.Fatalf("POST /v1/uploads: %d", code)
	}
	return up
}

// put sends body to a presigned PUT exactly as a plain HTTP client would.
func put(t *testing.T, up httpapi.UploadResponse, headers map[string]string, body []byte) int {
	t.Helper()
	req, _ := http.NewRequest("PUT", up.URL, bytes.NewReader(body))
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func complete(t *testing.T, tok, id string) (int, sluice.File, apiError) {
	t.Helper()
	var raw json.RawMessage
	code, _ := api(t, tok, "POST", "/v1/uploads/"+id+"/complete", nil, &raw)
	var f sluice.File
	var e apiError
	if code == 200 {
		json.Unmarshal(raw, &f)
	} else {
		json.Unmarshal(raw, &e)
	}
	return code, f, e
}

func state(t *testing.T, tok, id string) httpapi.GrantResponse {
	t.Helper()
	var g httpapi.GrantResponse
	if code, _ := api(t, tok, "GET", "/v1/uploads/"+id, nil, &g); code != 200 {
		t.Fatalf("GET /v1/uploads/%s: %d", id, code)
	}
	return g
}

// rootS3 is an S3 client with the embedded store's root keys, to look at
// the bucket behind sluice's back and to play a store that enforced less.
func rootS3(t *testing.T) *s3.Client {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(srv.Config.Data, "store", "credentials.json"))
	if err != nil {
		t.Fatal(err)
	}
	var c struct{ AccessKeyID, SecretAccessKey string }
	json.Unmarshal(raw, &struct {
		A *string `json:"access_key_id"`
		S *string `json:"secret_access_key"`
	}{&c.AccessKeyID, &c.SecretAccessKey})
	return s3.New(s3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(srv.S3URL), UsePathStyle: true,
		Credentials:                credentials.NewStaticCredentialsProvider(c.AccessKeyID, c.SecretAccessKey, ""),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
	})
}

func objectExists(t *testing.T, key string) bool {
	t.Helper()
	_, err := rootS3(t).HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String("sluice"), Key: aws.String(key)})
	return err == nil
}

func TestHealth(t *testing.T) {
	for _, p := range []string{"/healthz", "/readyz"} {
		if code, _ := api(t, "", "GET", p, nil, nil); code != 200 {
			t.Errorf("%s: %d", p, code)
		}
	}
}

func TestPresignedPutEndToEnd(t *testing.T) {
	tok := tokenFor(t, "alice")
	body := jpegBytes(t, 1)
	up := grant(t, tok, httpapi.UploadRequest{Filename: "../../etc/holiday.html", ContentType: "image/jpeg", Size: int64(len(body)), SHA256: sum(body)})

	if want := "users/alice/" + up.ID + ".jpg"; up.Key != want {
		t.Errorf("key %q, want %q: the server, not the filename, names the object", up.Key, want)
	}
	if up.Method != "PUT" || up.MaxSize != int64(len(body)) || time.Until(up.ExpiresAt) > 5*time.Minute+time.Second {
		t.Errorf("grant: method %s max_size %d expires_at %s", up.Method, up.MaxSize, up.ExpiresAt)
	}
	if st := state(t, tok, up.ID); st.State != sluice.GrantPending {
		t.Errorf("state before upload: %s", st.State)
	}
	if code := put(t, up, up.Headers, body); code != 200 {
		t.Fatalf("PUT to presigned URL: %d", code)
	}
	code, f, e := complete(t, tok, up.ID)
	if code != 200 {
		t.Fatalf("complete: %d %+v", code, e)
	}
	if f.ID != up.ID || f.Size != int64(len(body)) || f.SHA256 != sum(body) || f.ContentType != "image/jpeg" || f.Filename != "holiday.html" {
		t.Errorf("file record: %+v", f)
	}
	if code, f2, _ := complete(t, tok, up.ID); code != 200 || f2.ID != f.ID || f2.SHA256 != f.SHA256 {
		t.Errorf("second complete: %d %+v, want the same file", code, f2)
	}
	if st := state(t, tok, up.ID); st.State != sluice.GrantComplete || st.FinishedAt == nil {
		t.Errorf("state after complete: %+v", st)
	}

	// Read side: redirect to a presigned GET, and the JSON form.
	code, h := api(t, tok, "GET", "/v1/files/"+up.ID+"/content", nil, nil)
	if code != http.StatusFound {
		t.Fatalf("content: %d", code)
	}
	resp, err := http.Get(h.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Equal(got, body) {
		t.Errorf("downloaded %d bytes, not the uploaded ones", len(got))
	}
	var cu httpapi.ContentURL
	if code, _ := api(t, tok, "GET", "/v1/files/"+up.ID+"/content?redirect=false", nil, &cu); code != 200 || !strings.HasPrefix(cu.URL, srv.S3URL) {
		t.Errorf("content?redirect=false: %d %+v", code, cu)
	}

	// The ledger recorded who asked, from where.
	g, err := srv.Service.Ledger.Grant(context.Background(), up.ID)
	if err != nil {
		t.Fatal(err)
	}
	if g.Issuer != srv.APIURL+"/dev" || g.Subject != "alice" || g.Email != "alice@example.com" || g.ClientIP != "127.0.0.1" ||
		g.UserAgent != "sluice-e2e/1" || g.SHA256 != sum(body) || g.Size != int64(len(body)) || g.ContentType != "image/jpeg" {
		t.Errorf("ledger grant: %+v", g)
	}

	if code, _ := api(t, tok, "DELETE", "/v1/files/"+up.ID, nil, nil); code != http.StatusNoContent {
		t.Fatalf("delete: %d", code)
	}
	if code, _ := api(t, tok, "GET", "/v1/files/"+up.ID, nil, nil); code != 404 {
		t.Errorf("file after delete: %d, want 404", code)
	}
	if objectExists(t, up.Key) {
		t.Error("object still in the store after delete")
	}
}

func TestWriteOnceURLRefusesAttacks(t *testing.T) {
	tok := tokenFor(t, "mallory-victim")
	body := pngBytes(t, 2)
	req := httpapi.UploadRequest{ContentType: "image/png", Size: int64(len(body)), SHA256: sum(body)}
	up := grant(t, tok, req)
	signed := mustQuery(t, up.URL, "X-Amz-SignedHeaders")
	for _, h := range []string{"content-length", "content-type", "if-none-match", "x-amz-checksum-sha256"} {
		if !strings.Contains(";"+signed+";", ";"+h+";") {
			t.Errorf("X-Amz-SignedHeaders %q lacks %s", signed, h)
		}
	}

	other := bytes.Clone(body)
	other[len(other)/2] ^= 0xff
	attacks := []struct {
		name    string
		headers map[string]string
		body    []byte
		want    int
	}{
		{"larger body", up.Headers, append(bytes.Clone(body), 0), 403},
		{"smaller body", up.Headers, body[:len(body)-1], 403},
		{"other content type", with(up.Headers, "Content-Type", "text/html"), body, 403},
		{"wrong checksum, same size", up.Headers, other, 400},
		{"no If-None-Match", without(up.Headers, "If-None-Match"), body, 403},
	}
	for _, a := range attacks {
		if code := put(t, up, a.headers, a.body); code != a.want {
			t.Errorf("%s: %d, want %d", a.name, code, a.want)
		}
	}
	if objectExists(t, up.Key) {
		t.Fatal("a refused PUT left an object")
	}
	if code := put(t, up, up.Headers, body); code != 200 {
		t.Fatalf("genuine PUT: %d", code)
	}
	if code := put(t, up, up.Headers, body); code != http.StatusPreconditionFailed {
		t.Errorf("replayed PUT: %d, want 412", code)
	}

	tampered := grant(t, tok, req)
	tampered.URL = strings.Replace(tampered.URL, tampered.ID, up.ID[:len(up.ID)-1]+"x", 1)
	if code := put(t, tampered, tampered.Headers, body); code != 403 {
		t.Errorf("tampered key: %d, want 403", code)
	}
	stretched := grant(t, tok, req)
	stretched.URL = strings.Replace(stretched.URL, "X-Amz-Expires=300", "X-Amz-Expires=3600", 1)
	if code := put(t, stretched, stretched.Headers, body); code != 403 {
		t.Errorf("stretched expiry: %d, want 403", code)
	}

	clock.Set(-2 * time.Hour)
	expired := grant(t, tok, req)
	clock.Set(0)
	if code := put(t, expired, expired.Headers, body); code != 403 {
		t.Errorf("expired URL: %d, want 403", code)
	}
	if code, _, e := complete(t, tok, expired.ID); code != http.StatusGone || e.Error.Code != "grant_expired" {
		t.Errorf("complete of an expired, empty grant: %d %s", code, e.Error.Code)
	}
	if st := state(t, tok, expired.ID); st.State != sluice.GrantExpired {
		t.Errorf("state: %s, want expired", st.State)
	}
}

func with(h map[string]string, k, v string) map[string]string {
	c := map[string]string{}
	for a, b := range h {
		c[a] = b
	}
	c[k] = v
	return c
}

func without(h map[string]string, k string) map[string]string {
	c := with(h, k, "")
	delete(c, k)
	return c
}

func mustQuery(t *testing.T, raw, key string) string {
	t.Helper()
	i := strings.Index(raw, key+"=")
	if i < 0 {
		t.Fatalf("URL has no %s", key)
	}
	v := raw[i+len(key)+1:]
	if j := strings.IndexByte(v, '&'); j >= 0 {
		v = v[:j]
	}
	return strings.ReplaceAll(v, "%3B", ";")
}

func TestCompleteRejectsWhatWasNotDeclared(t *testing.T) {
	tok := tokenFor(t, "carol")
	ctx := context.Background()

	t.Run("nothing uploaded yet", func(t *testing.T) {
		up := grant(t, tok, httpapi.UploadRequest{ContentType: "image/png", Size: 100})
		if code, _, e := complete(t, tok, up.ID); code != 422 || e.Error.Code != "upload_missing" {
			t.Errorf("%d %s", code, e.Error.Code)
		}
		if st := state(t, tok, up.ID); st.State != sluice.GrantPending {
			t.Errorf("state %s: a missing upload must leave the grant open", st.State)
		}
	})

	sniff := []struct {
		name, declared string
		body           []byte
	}{
		{"PNG declared as JPEG", "image/jpeg", pngBytes(t, 3)},
		{"HTML declared as PNG", "image/png", []byte("<!DOCTYPE html><html><script>alert(1)</script></html>")},
	}
	for _, c := range sniff {
		t.Run(c.name, func(t *testing.T) {
			up := grant(t, tok, httpapi.UploadRequest{ContentType: c.declared, Size: int64(len(c.body)), SHA256: sum(c.body)})
			if code := put(t, up, up.Headers, c.body); code != 200 {
				t.Fatalf("PUT: %d", code)
			}
			for i := 0; i < 2; i++ { // the second call proves complete is idempotent
				if code, _, e := complete(t, tok, up.ID); code != 422 || e.Error.Code != "content_mismatch" {
					t.Errorf("complete #%d: %d %s", i+1, code, e.Error.Code)
				}
			}
			if objectExists(t, up.Key) {
				t.Error("rejected object left in the store")
			}
			st := state(t, tok, up.ID)
			if st.State != sluice.GrantRejected || st.Error == nil || st.Error.Code != "content_mismatch" {
				t.Errorf("state: %+v", st)
			}
		})
	}

	// A store that enforced less than versitygw does (written here with the
	// root keys) must still not get a wrong object past complete.
	behind := []struct {
		name, code string
		declared   []byte
		written    []byte
	}{
		{"size differs", "size_mismatch", jpegBytes(t, 4), jpegBytes(t, 4)[:500]},
		{"checksum differs", "checksum_mismatch", jpegBytes(t, 5), func() []byte { b := jpegBytes(t, 5); b[len(b)-3] ^= 1; return b }()},
	}
	for _, c := range behind {
		t.Run(c.name, func(t *testing.T) {
			up := grant(t, tok, httpapi.UploadRequest{ContentType: "image/jpeg", Size: int64(len(c.declared)), SHA256: sum(c.declared)})
			_, err := rootS3(t).PutObject(ctx, &s3.PutObjectInput{
				Bucket: aws.String("sluice"), Key: aws.String(up.Key), Body: bytes.NewReader(c.written), ContentType: aws.String("image/jpeg"),
			})
			if err != nil {
				t.Fatal(err)
			}
			if code, _, e := complete(t, tok, up.ID); code != 422 || e.Error.Code != c.code {
				t.Errorf("complete: %d %s, want 422 %s", code, e.Error.Code, c.code)
			}
			if objectExists(t, up.Key) {
				t.Error("rejected object left in the store")
			}
		})
	}
}

func TestPresignedPost(t *testing.T) {
	tok := tokenFor(t, "dave")
	body := jpegBytes(t, 6)
	up := grant(t, tok, httpapi.UploadRequest{ContentType: "image/jpeg", Size: int64(len(body)), SHA256: sum(body), Method: "POST", Filename: "cat.jpg"})
	if up.Method != "POST" || up.Fields["key"] != up.Key || up.Fields["policy"] == "" || up.Fields["Content-Type"] != "image/jpeg" {
		t.Fatalf("POST grant: %+v", up)
	}
	policy := decodePolicy(t, up.Fields["policy"])
	if !strings.Contains(policy, `"content-length-range"`) {
		t.Errorf("policy has no content-length-range: %s", policy)
	}

	if code := postForm(t, up, up.Fields, append(bytes.Clone(body), make([]byte, 4096)...)); code < 400 {
		t.Errorf("too-large form upload: %d, want refused", code)
	}
	if code, _, e := complete(t, tok, up.ID); code != 422 || e.Error.Code != "upload_missing" {
		t.Errorf("complete after refused form: %d %s", code, e.Error.Code)
	}
	if code := postForm(t, up, with(up.Fields, "Content-Type", "text/html"), body); code < 400 {
		t.Errorf("form with another content type: %d, want refused", code)
	}
	if code := postForm(t, up, up.Fields, body); code/100 != 2 {
		t.Fatalf("form upload: %d", code)
	}
	if code, f, e := complete(t, tok, up.ID); code != 200 || f.SHA256 != sum(body) {
		t.Errorf("complete: %d %+v %+v", code, f, e)
	}
}

func decodePolicy(t *testing.T, b64 string) string {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatalf("policy is not base64: %v", err)
	}
	return string(raw)
}

func postForm(t *testing.T, up httpapi.UploadResponse, fields map[string]string, body []byte) int {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for k, v := range fields {
		w.WriteField(k, v)
	}
	fw, _ := w.CreateFormFile("file", "upload.jpg")
	fw.Write(body)
	w.Close()
	resp, err := http.Post(up.URL, w.FormDataContentType(), &buf)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func TestPolicyRefusals(t *testing.T) {
	tok := tokenFor(t, "erin")
	cases := []struct {
		name   string
		body   any
		status int
		code   string
	}{
		{"type not allowed", httpapi.UploadRequest{ContentType: "text/html", Size: 10}, 415, "content_type_not_allowed"},
		{"svg not allowed", httpapi.UploadRequest{ContentType: "image/svg+xml", Size: 10}, 415, "content_type_not_allowed"},
		{"no type", httpapi.UploadRequest{Size: 10}, 415, "content_type_not_allowed"},
		{"empty file", httpapi.UploadRequest{ContentType: "image/png", Size: 0}, 400, "invalid_size"},
		{"negative size", httpapi.UploadRequest{ContentType: "image/png", Size: -5}, 400, "invalid_size"},
		{"over max size", httpapi.UploadRequest{ContentType: "image/png", Size: 10<<20 + 1}, 413, "too_large"},
		{"bad sha256", httpapi.UploadRequest{ContentType: "image/png", Size: 10, SHA256: "abc"}, 400, "invalid_checksum"},
		{"bad method", httpapi.UploadRequest{ContentType: "image/png", Size: 10, Method: "DELETE"}, 400, "method_not_supported"},
		{"POST without sha256", httpapi.UploadRequest{ContentType: "image/png", Size: 10, Method: "POST"}, 400, "invalid_checksum"},
		{"control chars in filename", httpapi.UploadRequest{ContentType: "image/png", Size: 10, Filename: "a\nb.png"}, 400, "invalid_filename"},
		{"not JSON", "just a string", 400, "invalid_request"},
		{"wrong field type", map[string]any{"content_type": "image/png", "size": "ten"}, 400, "invalid_request"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var e apiError
			code, _ := api(t, tok, "POST", "/v1/uploads", c.body, &e)
			if code != c.status || e.Error.Code != c.code || e.Error.Message == "" {
				t.Errorf("got %d %q %q, want %d %q", code, e.Error.Code, e.Error.Message, c.status, c.code)
			}
		})
	}
}

func TestAuthentication(t *testing.T) {
	expired, err := srv.Dev.Mint("alice", "", time.Minute, time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	valid := tokenFor(t, "alice")
	parts := strings.Split(valid, ".")
	cases := []struct {
		name, token, code string
	}{
		{"no token", "", "token_missing"},
		{"garbage", "not-a-jwt", "token_malformed"},
		{"expired", expired, "token_expired"},
		{"signature stripped", parts[0] + "." + parts[1] + ".", "token_signature"},
		{"alg none", noneHeader() + "." + parts[1] + ".", "token_algorithm"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var e apiError
			code, h := api(t, c.token, "GET", "/v1/files", nil, &e)
			if code != 401 || e.Error.Code != c.code {
				t.Errorf("got %d %s, want 401 %s", code, e.Error.Code, c.code)
			}
			if h.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
	}
}

func noneHeader() string {
	return base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
}

func TestOtherUsersSeeNothing(t *testing.T) {
	alice, bob := tokenFor(t, "alice"), tokenFor(t, "bob")
	body := jpegBytes(t, 7)
	up := grant(t, alice, httpapi.UploadRequest{ContentType: "image/jpeg", Size: int64(len(body))})
	put(t, up, up.Headers, body)
	for _, r := range []struct{ method, path string }{
		{"GET", "/v1/uploads/" + up.ID},
		{"POST", "/v1/uploads/" + up.ID + "/complete"},
	} {
		var e apiError
		if code, _ := api(t, bob, r.method, r.path, nil, &e); code != 404 || e.Error.Code != "not_found" {
			t.Errorf("bob %s %s: %d %s, want 404", r.method, r.path, code, e.Error.Code)
		}
	}
	if code, _, _ := complete(t, alice, up.ID); code != 200 {
		t.Fatalf("alice's complete: %d", code)
	}
	for _, r := range []struct{ method, path string }{
		{"GET", "/v1/files/" + up.ID},
		{"GET", "/v1/files/" + up.ID + "/content"},
		{"DELETE", "/v1/files/" + up.ID},
	} {
		var e apiError
		if code, _ := api(t, bob, r.method, r.path, nil, &e); code != 404 || e.Error.Code != "not_found" {
			t.Errorf("bob %s %s: %d %s, want 404", r.method, r.path, code, e.Error.Code)
		}
	}
	var list httpapi.FileList
	api(t, bob, "GET", "/v1/files", nil, &list)
	for _, f := range list.Files {
		if f.ID == up.ID {
			t.Error("alice's file is in bob's list")
		}
	}
	if !objectExists(t, up.Key) {
		t.Error("bob's refused delete removed alice's object")
	}
}

func TestUnsafeSubjectRefused(t *testing.T) {
	for _, sub := range []string{"../bob", "a/b", ".."} {
		var e apiError
		code, _ := api(t, tokenFor(t, sub), "POST", "/v1/uploads", httpapi.UploadRequest{ContentType: "image/png", Size: 10}, &e)
		if code != 403 || e.Error.Code != "subject_unsupported" {
			t.Errorf("sub %q: %d %s, want 403 subject_unsupported", sub, code, e.Error.Code)
		}
	}
}

func TestListPagination(t *testing.T) {
	tok := tokenFor(t, "frank")
	want := map[string]bool{}
	for i := 0; i < 5; i++ {
		body := jpegBytes(t, 10+i)
		up := grant(t, tok, httpapi.UploadRequest{ContentType: "image/jpeg", Size: int64(len(body))})
		if code := put(t, up, up.Headers, body); code != 200 {
			t.Fatal(code)
		}
		if code, _, _ := complete(t, tok, up.ID); code != 200 {
			t.Fatal(code)
		}
		want[up.ID] = true
	}
	seen := map[string]bool{}
	cursor, pages := "", 0
	for {
		var list httpapi.FileList
		if code, _ := api(t, tok, "GET", "/v1/files?limit=2&cursor="+cursor, nil, &list); code != 200 {
			t.Fatalf("list: %d", code)
		}
		pages++
		if len(list.Files) > 2 {
			t.Fatalf("page of %d with limit 2", len(list.Files))
		}
		for _, f := range list.Files {
			if seen[f.ID] {
				t.Errorf("%s listed twice", f.ID)
			}
			seen[f.ID] = true
		}
		if list.NextCursor == "" {
			break
		}
		cursor = list.NextCursor
	}
	if len(seen) != len(want) || pages != 3 {
		t.Errorf("walked %d files in %d pages, want %d in 3", len(seen), pages, len(want))
	}
	var e apiError
	if code, _ := api(t, tok, "GET", "/v1/files?limit=0", nil, &e); code != 400 || e.Error.Code != "invalid_request" {
		t.Errorf("limit=0: %d %s", code, e.Error.Code)
	}
}

func TestUnknownRouteIsJSON(t *testing.T) {
	var e apiError
	if code, _ := api(t, "", "GET", "/v2/nothing", nil, &e); code != 404 || e.Error.Code != "route_not_found" {
		t.Errorf("%d %s", code, e.Error.Code)
	}
	e = apiError{}
	code, h := api(t, tokenFor(t, "alice"), "PUT", "/v1/files", nil, &e)
	if code != 405 || e.Error.Code != "method_not_allowed" || !strings.Contains(h.Get("Allow"), "GET") {
		t.Errorf("PUT /v1/files: %d %s, Allow %q; want 405 method_not_allowed naming GET", code, e.Error.Code, h.Get("Allow"))
	}
}

func TestCORSPreflight(t *testing.T) {
	req, _ := http.NewRequest("OPTIONS", srv.APIURL+"/v1/uploads", nil)
	req.Header.Set("Origin", "http://app.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "authorization, content-type")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != "http://app.example" {
		t.Errorf("allowed origin preflight: %d %q", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
	}
	req.Header.Set("Origin", "http://evil.example")
	resp, _ = http.DefaultClient.Do(req)
	resp.Body.Close()
	if resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Error("an origin outside the list was allowed")
	}
}

// A form upload cannot carry If-None-Match, so a leaked POST grant could be
// replayed until it expires. sluice binds its SHA-256 in the policy: a replay
// can only write the very bytes that were verified.
func TestPresignedPostReplayCannotChangeBytes(t *testing.T) {
	tok := tokenFor(t, "gina")
	body := jpegBytes(t, 20)
	up := grant(t, tok, httpapi.UploadRequest{ContentType: "image/jpeg", Size: int64(len(body)), SHA256: sum(body), Method: "POST"})
	if code := postForm(t, up, up.Fields, body); code/100 != 2 {
		t.Fatalf("form upload: %d", code)
	}
	if code, _, e := complete(t, tok, up.ID); code != 200 {
		t.Fatalf("complete: %d %+v", code, e)
	}
	evil := bytes.Clone(body)
	copy(evil[len(evil)-200:], bytes.Repeat([]byte{0x41}, 100))
	code := postForm(t, up, up.Fields, evil)
	t.Logf("replay with other bytes: %d", code)
	out, err := rootS3(t).GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String("sluice"), Key: aws.String(up.Key)})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(out.Body)
	out.Body.Close()
	if !bytes.Equal(got, body) {
		t.Errorf("replayed form (status %d) replaced the verified bytes", code)
	}
}

// Many clients completing the same grant at once all get the one file, and
// the ledger records it once.
func TestConcurrentCompleteAgrees(t *testing.T) {
	tok := tokenFor(t, "henry")
	body := jpegBytes(t, 30)
	up := grant(t, tok, httpapi.UploadRequest{ContentType: "image/jpeg", Size: int64(len(body)), SHA256: sum(body)})
	if code := put(t, up, up.Headers, body); code != 200 {
		t.Fatal(code)
	}
	const n = 8
	type result struct {
		code int
		f    sluice.File
	}
	results := make(chan result, n)
	for i := 0; i < n; i++ {
		go func() {
			code, f, _ := complete(t, tok, up.ID)
			results <- result{code, f}
		}()
	}
	for i := 0; i < n; i++ {
		r := <-results
		if r.code != 200 || r.f.ID != up.ID || r.f.SHA256 != sum(body) {
			t.Errorf("complete #%d: %d %+v", i, r.code, r.f)
		}
	}
	var list httpapi.FileList
	api(t, tok, "GET", "/v1/files", nil, &list)
	if len(list.Files) != 1 {
		t.Errorf("%d files listed, want 1", len(list.Files))
	}
}
