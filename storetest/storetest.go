// Package storetest is the conformance suite every sluice.Store passes. It
// speaks real HTTP to the URLs a store signs, so it proves what an attacker
// holding a leaked URL can and cannot do against that store.
package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
)

// Capabilities are what a store guarantees beyond the baseline every store
// must meet (signature, expiry, bound length and type, head/read/delete).
// A store declares them; the suite runs every case a declared capability
// calls for, and skips, naming the consequence, the cases of one it lacks.
// The service's protections lean on them: see docs/deploy.md.
type Capabilities struct {
	// ConditionalWrite: a PUT with If-None-Match: * answers 412 once the
	// key exists, atomically: of concurrent PUTs to one key exactly one
	// succeeds. Without it a leaked URL can overwrite an upload until the
	// URL expires (complete still verifies whatever is there).
	ConditionalWrite bool
	// ChecksumBinding: the store refuses a body whose SHA-256 is not the
	// signed x-amz-checksum-sha256 (PUT header or POST policy field), and
	// reports the checksum on HEAD. Without it wrong bytes are stored, and
	// only complete, by hashing the object, finds and deletes them.
	ChecksumBinding bool
	// PostPolicy: the store accepts POST policy form uploads and enforces
	// the policy's conditions. The Store must then be a
	// sluice.PostPresigner, and must not be one without it: a store that
	// hands out forms its backend refuses gives users broken URLs.
	PostPolicy bool
}

// Full is every capability: AWS S3, versitygw and SeaweedFS (4.53, with
// static keys) have them all.
var Full = Capabilities{ConditionalWrite: true, ChecksumBinding: true, PostPolicy: true}

// Run runs the suite against st holding it to every capability, POST
// policies included when st is a sluice.PostPresigner. Each test writes
// under prefix, which should be unique per run (e.g. "storetest/<random>/").
func Run(t *testing.T, st sluice.Store, prefix string) {
	t.Helper()
	caps := Full
	_, caps.PostPolicy = st.(sluice.PostPresigner)
	RunWith(t, st, prefix, caps)
}

// RunWith runs the suite against st, which declares caps.
func RunWith(t *testing.T, st sluice.Store, prefix string, caps Capabilities) {
	t.Helper()
	ctx := context.Background()
	if err := st.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	pp, isPoster := st.(sluice.PostPresigner)
	if isPoster != caps.PostPolicy {
		t.Fatalf("store is a PostPresigner: %v, but declares PostPolicy: %v", isPoster, caps.PostPolicy)
	}
	n := 0
	key := func(ext string) string { n++; return fmt.Sprintf("%sobj-%d%s", prefix, n, ext) }
	needs := func(t *testing.T, has bool, name, without string) {
		t.Helper()
		if !has {
			t.Skipf("store declares no %s: %s", name, without)
		}
	}
	conditional := func(t *testing.T) {
		needs(t, caps.ConditionalWrite, "ConditionalWrite", "a leaked PUT URL can overwrite the upload until it expires")
	}
	checksums := func(t *testing.T) {
		needs(t, caps.ChecksumBinding, "ChecksumBinding", "wrong bytes are stored and only complete finds them")
	}

	t.Run("PutRoundTrip", func(t *testing.T) { testPut(t, st, key(".png"), caps) })
	t.Run("PutOnce", func(t *testing.T) { conditional(t); testPutOnce(t, st, key(".png")) })
	t.Run("PutOnceConcurrent", func(t *testing.T) { conditional(t); testPutOnceConcurrent(t, st, key(".png")) })
	t.Run("PutRefusesOtherBodies", func(t *testing.T) { testPutRefusals(t, st, key, caps) })
	t.Run("PutChecksumLargeObject", func(t *testing.T) { checksums(t); testPutLarge(t, st, key(".png")) })
	t.Run("PutWithoutChecksum", func(t *testing.T) { testPutNoChecksum(t, st, key(".png")) })
	t.Run("SubjectCharactersInKeys", func(t *testing.T) { testSubjectKeys(t, st, prefix, caps) })
	t.Run("ExpiredAndTamperedURLs", func(t *testing.T) { testExpiredTampered(t, st, key) })
	t.Run("HeadReadDelete", func(t *testing.T) { testHeadReadDelete(t, st, key(".png")) })
	t.Run("GetURL", func(t *testing.T) { testGetURL(t, st, key(".png")) })
	t.Run("PostPolicy", func(t *testing.T) {
		needs(t, caps.PostPolicy, "PostPolicy", "method POST answers method_not_supported; clients use PUT")
		testPost(t, st, pp, key, caps)
	})
	// Optional: stores that take bytes through sluice (proxied uploads).
	if sp, ok := st.(sluice.StreamPutter); ok {
		t.Run("Stream", func(t *testing.T) { testStream(t, st, sp, prefix, key, caps) })
	}
}

// Body returns n random bytes starting with a PNG signature.
func Body(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	copy(b, "\x89PNG\r\n\x1a\n")
	return b
}

// SHA256 is the lowercase hex SHA-256 of b.
func SHA256(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func params(key string, body []byte, withSum bool) sluice.PutParams {
	now := time.Now().UTC().Truncate(time.Second)
	p := sluice.PutParams{Key: key, ContentType: "image/png", Size: int64(len(body)), MaxSize: int64(len(body)), Now: now, Expires: now.Add(5 * time.Minute)}
	if withSum {
		p.SHA256 = SHA256(body)
	}
	return p
}

// Do sends body to a presigned PUT with the given headers and returns the
// status code and response body.
func Do(t *testing.T, method, u string, headers map[string]string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func presignPut(t *testing.T, st sluice.Store, p sluice.PutParams) *sluice.Presigned {
	t.Helper()
	ps, err := st.PresignPut(context.Background(), p)
	if err != nil {
		t.Fatalf("PresignPut: %v", err)
	}
	return ps
}

func signedHeaders(t *testing.T, raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get("X-Amz-SignedHeaders")
}

// testPut is the baseline: the URL binds length, type and checksum in its
// signature, and the right request stores the object.
func testPut(t *testing.T, st sluice.Store, key string, caps Capabilities) {
	body := Body(4096)
	ps := presignPut(t, st, params(key, body, true))
	sh := signedHeaders(t, ps.URL)
	for _, h := range []string{"content-length", "content-type", "if-none-match", "x-amz-checksum-sha256"} {
		if !strings.Contains(";"+sh+";", ";"+h+";") {
			t.Errorf("X-Amz-SignedHeaders %q does not bind %s", sh, h)
		}
	}
	if code, msg := Do(t, "PUT", ps.URL, ps.Headers, body); code != 200 {
		t.Fatalf("PUT: %d %s", code, msg)
	}
	info, err := st.Head(context.Background(), key)
	if err != nil {
		t.Fatalf("Head: %v", err)
	}
	if info.Size != int64(len(body)) {
		t.Errorf("Head: size %d, want %d", info.Size, len(body))
	}
	if caps.ChecksumBinding && info.SHA256 != SHA256(body) {
		t.Errorf("Head: sha256 %q, want %q", info.SHA256, SHA256(body))
	}
}

func testPutOnce(t *testing.T, st sluice.Store, key string) {
	body := Body(4096)
	ps := presignPut(t, st, params(key, body, true))
	if code, msg := Do(t, "PUT", ps.URL, ps.Headers, body); code != 200 {
		t.Fatalf("first PUT: %d %s", code, msg)
	}
	if code, _ := Do(t, "PUT", ps.URL, ps.Headers, body); code != http.StatusPreconditionFailed {
		t.Errorf("replayed PUT: got %d, want 412", code)
	}
}

// testPutOnceConcurrent races PUTs of different bytes through one URL
// signed without a checksum (the weakest URL sluice hands out): a store
// that checks If-None-Match and then writes, without holding the key in
// between, lets two of them succeed and the last one win.
func testPutOnceConcurrent(t *testing.T, st sluice.Store, key string) {
	const racers = 8
	body := Body(256 << 10)
	ps := presignPut(t, st, params(key, body, false))
	var wg sync.WaitGroup
	codes := make([]int, racers)
	for i := range racers {
		wg.Go(func() {
			b := bytes.Clone(body)
			b[100] = byte(i)
			codes[i], _ = Do(t, "PUT", ps.URL, ps.Headers, b)
		})
	}
	wg.Wait()
	won := 0
	for _, c := range codes {
		switch c {
		case 200:
			won++
		case http.StatusPreconditionFailed, http.StatusConflict:
		default:
			t.Errorf("racing PUT answered %d, want 200, 412 or 409", c)
		}
	}
	if won != 1 {
		t.Errorf("%d of %d racing PUTs succeeded (codes %v), want exactly 1", won, racers, codes)
	}
}

// testPutLarge checks the checksum binding on an object large enough that
// stores split it into chunks (SeaweedFS: 4 MiB) and checksum it on the way.
func testPutLarge(t *testing.T, st sluice.Store, key string) {
	body := Body(6 << 20)
	ps := presignPut(t, st, params(key, body, true))
	other := bytes.Clone(body)
	other[5<<20] ^= 0xff
	if code, _ := Do(t, "PUT", ps.URL, ps.Headers, other); code < 400 {
		t.Fatalf("PUT of other bytes (differing after 5 MiB): %d, want a 4xx", code)
	}
	if _, err := st.Head(context.Background(), key); !sluice.IsCode(err, sluice.CodeNotFound) {
		t.Errorf("refused PUT left an object behind (Head: %v)", err)
	}
	if code, msg := Do(t, "PUT", ps.URL, ps.Headers, body); code != 200 {
		t.Fatalf("PUT: %d %s", code, msg)
	}
	info, err := st.Head(context.Background(), key)
	if err != nil || info.Size != int64(len(body)) || info.SHA256 != SHA256(body) {
		t.Errorf("Head = %+v, %v; want size %d, sha256 %s", info, err, len(body), SHA256(body))
	}
}

// testSubjectKeys writes under a user prefix made of every character
// sluice allows in a subject (sluice.SafeSubject): the store must sign and
// check such keys the way sluice escapes them.
func testSubjectKeys(t *testing.T, st sluice.Store, prefix string, caps Capabilities) {
	ctx := context.Background()
	sub := "auth0|a+b=c,d@e:f_g.h-i"
	if !sluice.SafeSubject(sub) {
		t.Fatalf("%q is no longer a safe subject: update this test", sub)
	}
	key := prefix + "users/" + sub + "/obj.png"
	body := Body(1000)
	ps := presignPut(t, st, params(key, body, true))
	if code, msg := Do(t, "PUT", ps.URL, ps.Headers, body); code != 200 {
		t.Fatalf("PUT %s: %d %s", key, code, msg)
	}
	if info, err := st.Head(ctx, key); err != nil || info.Size != int64(len(body)) {
		t.Fatalf("Head %s: %+v %v", key, info, err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	g, err := st.PresignGet(ctx, key, now, now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if code, got := Do(t, "GET", g.URL, nil, nil); code != 200 || got != string(body) {
		t.Errorf("GET %s: %d, %d bytes", key, code, len(got))
	}
	if pp, ok := st.(sluice.PostPresigner); ok && caps.PostPolicy {
		k := prefix + "users/" + sub + "/form.png"
		ps, err := pp.PresignPost(ctx, params(k, body, true))
		if err != nil {
			t.Fatal(err)
		}
		if code, msg := PostForm(t, ps.URL, ps.Fields, "image/png", body); code/100 != 2 {
			t.Errorf("POST %s: %d %s", k, code, msg)
		}
	}
}

func testPutRefusals(t *testing.T, st sluice.Store, key func(string) string, caps Capabilities) {
	body := Body(2048)
	cases := []struct {
		name   string
		mutate func(h map[string]string, b []byte) []byte
	}{
		{"longer body", func(h map[string]string, b []byte) []byte { return append(b, 'x') }},
		{"shorter body", func(h map[string]string, b []byte) []byte { return b[:len(b)-1] }},
		{"other content type", func(h map[string]string, b []byte) []byte { h["Content-Type"] = "text/html"; return b }},
		{"checksum header dropped", func(h map[string]string, b []byte) []byte { delete(h, "x-amz-checksum-sha256"); return b }},
		{"if-none-match dropped", func(h map[string]string, b []byte) []byte { delete(h, "If-None-Match"); return b }},
	}
	if caps.ChecksumBinding {
		cases = append(cases, struct {
			name   string
			mutate func(h map[string]string, b []byte) []byte
		}{"same size, other bytes", func(h map[string]string, b []byte) []byte {
			c := bytes.Clone(b)
			c[100] ^= 0xff
			return c
		}})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			k := key(".png")
			ps := presignPut(t, st, params(k, body, true))
			h := map[string]string{}
			for k, v := range ps.Headers {
				h[k] = v
			}
			b := c.mutate(h, bytes.Clone(body))
			if code, _ := Do(t, "PUT", ps.URL, h, b); code < 400 {
				t.Fatalf("PUT with %s: got %d, want a 4xx", c.name, code)
			}
			if _, err := st.Head(context.Background(), k); !sluice.IsCode(err, sluice.CodeNotFound) {
				t.Errorf("refused PUT left an object behind (Head: %v)", err)
			}
		})
	}
}

func testPutNoChecksum(t *testing.T, st sluice.Store, key string) {
	body := Body(1000)
	ps := presignPut(t, st, params(key, body, false))
	if _, ok := ps.Headers["x-amz-checksum-sha256"]; ok {
		t.Fatal("a checksum header was signed although none was given")
	}
	if code, msg := Do(t, "PUT", ps.URL, ps.Headers, body); code != 200 {
		t.Fatalf("PUT: %d %s", code, msg)
	}
}

func testExpiredTampered(t *testing.T, st sluice.Store, key func(string) string) {
	body := Body(512)
	t.Run("expired", func(t *testing.T) {
		p := params(key(".png"), body, true)
		p.Now = p.Now.Add(-2 * time.Hour)
		p.Expires = p.Now.Add(time.Minute)
		ps := presignPut(t, st, p)
		if code, _ := Do(t, "PUT", ps.URL, ps.Headers, body); code != http.StatusForbidden {
			t.Errorf("expired URL: got %d, want 403", code)
		}
	})
	tamper := map[string]func(q url.Values, u *url.URL){
		"key changed":     func(q url.Values, u *url.URL) { u.Path = strings.Replace(u.Path, "obj-", "obx-", 1); u.RawPath = "" },
		"expiry extended": func(q url.Values, u *url.URL) { q.Set("X-Amz-Expires", "604800") },
		"signature flipped": func(q url.Values, u *url.URL) {
			s := []byte(q.Get("X-Amz-Signature"))
			s[0] ^= 1
			q.Set("X-Amz-Signature", string(s))
		},
		"headers unbound": func(q url.Values, u *url.URL) { q.Set("X-Amz-SignedHeaders", "host") },
	}
	for name, f := range tamper {
		t.Run(name, func(t *testing.T) {
			ps := presignPut(t, st, params(key(".png"), body, true))
			u, _ := url.Parse(ps.URL)
			q := u.Query()
			f(q, u)
			u.RawQuery = q.Encode()
			if code, _ := Do(t, "PUT", u.String(), ps.Headers, body); code != http.StatusForbidden {
				t.Errorf("tampered URL (%s): got %d, want 403", name, code)
			}
		})
	}
}

func testHeadReadDelete(t *testing.T, st sluice.Store, key string) {
	ctx := context.Background()
	body := Body(10000)
	ps := presignPut(t, st, params(key, body, true))
	if code, msg := Do(t, "PUT", ps.URL, ps.Headers, body); code != 200 {
		t.Fatalf("PUT: %d %s", code, msg)
	}
	info, err := st.Head(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if info.ContentType != "image/png" || info.ETag == "" {
		t.Errorf("Head: content type %q etag %q", info.ContentType, info.ETag)
	}
	for _, r := range []struct{ off, n int64 }{{0, 16}, {100, 50}, {9990, 100}, {0, -1}} {
		rc, err := st.ReadRange(ctx, key, r.off, r.n)
		if err != nil {
			t.Fatalf("ReadRange(%d,%d): %v", r.off, r.n, err)
		}
		got, _ := io.ReadAll(rc)
		rc.Close()
		end := int64(len(body))
		if r.n >= 0 && r.off+r.n < end {
			end = r.off + r.n
		}
		if !bytes.Equal(got, body[r.off:end]) {
			t.Errorf("ReadRange(%d,%d): %d bytes, not the stored ones", r.off, r.n, len(got))
		}
	}
	if err := st.Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Head(ctx, key); !sluice.IsCode(err, sluice.CodeNotFound) {
		t.Errorf("Head after Delete: %v, want not_found", err)
	}
	if _, err := st.ReadRange(ctx, key, 0, 1); !sluice.IsCode(err, sluice.CodeNotFound) {
		t.Errorf("ReadRange after Delete: %v, want not_found", err)
	}
	if err := st.Delete(ctx, key); err != nil {
		t.Errorf("second Delete: %v, want nil", err)
	}
}

func testGetURL(t *testing.T, st sluice.Store, key string) {
	body := Body(3000)
	ps := presignPut(t, st, params(key, body, true))
	if code, msg := Do(t, "PUT", ps.URL, ps.Headers, body); code != 200 {
		t.Fatalf("PUT: %d %s", code, msg)
	}
	now := time.Now().UTC().Truncate(time.Second)
	g, err := st.PresignGet(context.Background(), key, now, now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	code, got := Do(t, "GET", g.URL, nil, nil)
	if code != 200 || got != string(body) {
		t.Errorf("GET: %d, %d bytes (want 200, %d)", code, len(got), len(body))
	}
	old := now.Add(-time.Hour)
	g, _ = st.PresignGet(context.Background(), key, old, old.Add(time.Minute))
	if code, _ := Do(t, "GET", g.URL, nil, nil); code != http.StatusForbidden {
		t.Errorf("expired GET: %d, want 403", code)
	}
}

// PostForm sends a multipart form upload with fields, then the file.
func PostForm(t *testing.T, u string, fields map[string]string, contentType string, body []byte) (int, string) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for k, v := range fields {
		w.WriteField(k, v)
	}
	h := make(map[string][]string)
	h["Content-Disposition"] = []string{`form-data; name="file"; filename="upload"`}
	h["Content-Type"] = []string{contentType}
	fw, _ := w.CreatePart(h)
	fw.Write(body)
	w.Close()
	resp, err := http.Post(u, w.FormDataContentType(), &buf)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func testPost(t *testing.T, st sluice.Store, pp sluice.PostPresigner, key func(string) string, caps Capabilities) {
	ctx := context.Background()
	body := Body(5000)
	sign := func(k string, b []byte) *sluice.Presigned {
		ps, err := pp.PresignPost(ctx, params(k, b, true))
		if err != nil {
			t.Fatalf("PresignPost: %v", err)
		}
		return ps
	}
	t.Run("ok", func(t *testing.T) {
		k := key(".png")
		ps := sign(k, body)
		if code, msg := PostForm(t, ps.URL, ps.Fields, "image/png", body); code/100 != 2 {
			t.Fatalf("POST: %d %s", code, msg)
		}
		info, err := st.Head(ctx, k)
		if err != nil || info.Size != int64(len(body)) || info.ContentType != "image/png" {
			t.Fatalf("Head after POST: %+v %v", info, err)
		}
	})
	refusals := map[string]func(f map[string]string) []byte{
		"too large":  func(f map[string]string) []byte { return append(bytes.Clone(body), make([]byte, 1000)...) },
		"too small":  func(f map[string]string) []byte { return body[:100] },
		"other type": func(f map[string]string) []byte { f["Content-Type"] = "text/html"; return body },
		"other key": func(f map[string]string) []byte {
			f["key"] = strings.Replace(f["key"], "obj-", "obx-", 1)
			return body
		},
	}
	if caps.ChecksumBinding {
		// A form cannot be write-once; the signed checksum is what keeps a
		// replayed or leaked form to the same bytes.
		refusals["same size, other bytes"] = func(f map[string]string) []byte {
			c := bytes.Clone(body)
			c[500] ^= 0xff
			return c
		}
	}
	for name, mutate := range refusals {
		t.Run(name, func(t *testing.T) {
			k := key(".png")
			ps := sign(k, body)
			fields := map[string]string{}
			for a, b := range ps.Fields {
				fields[a] = b
			}
			b := mutate(fields)
			if code, _ := PostForm(t, ps.URL, fields, "image/png", b); code < 400 {
				t.Fatalf("POST (%s): got %d, want 4xx", name, code)
			}
			if _, err := st.Head(ctx, fields["key"]); !sluice.IsCode(err, sluice.CodeNotFound) {
				t.Errorf("refused POST left an object (Head: %v)", err)
			}
		})
	}
}
