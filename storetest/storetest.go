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
	"testing"
	"time"

	"github.com/sluicehq/sluice"
)

// Run runs the suite against st. Each test writes under prefix, which should
// be unique per run (e.g. "storetest/<random>/").
func Run(t *testing.T, st sluice.Store, prefix string) {
	t.Helper()
	ctx := context.Background()
	if err := st.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	n := 0
	key := func(ext string) string { n++; return fmt.Sprintf("%sobj-%d%s", prefix, n, ext) }

	t.Run("PutOnceRoundTrip", func(t *testing.T) { testPutOnce(t, st, key(".png")) })
	t.Run("PutRefusesOtherBodies", func(t *testing.T) { testPutRefusals(t, st, key) })
	t.Run("PutWithoutChecksum", func(t *testing.T) { testPutNoChecksum(t, st, key(".png")) })
	t.Run("ExpiredAndTamperedURLs", func(t *testing.T) { testExpiredTampered(t, st, key) })
	t.Run("HeadReadDelete", func(t *testing.T) { testHeadReadDelete(t, st, key(".png")) })
	t.Run("GetURL", func(t *testing.T) { testGetURL(t, st, key(".png")) })
	if pp, ok := st.(sluice.PostPresigner); ok {
		t.Run("PostPolicy", func(t *testing.T) { testPost(t, st, pp, key) })
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

func testPutOnce(t *testing.T, st sluice.Store, key string) {
	body := Body(4096)
	ps := presignPut(t, st, params(key, body, true))
	sh := signedHeaders(t, ps.URL)
	for _, h := range []string{"content-length", "content-type", "if-none-match", "x-amz-checksum-sha256"} {
		if !strings.Contains(";"+sh+";", ";"+h+";") {
			t.Errorf("X-Amz-SignedHeaders %q does not bind %s", sh, h)
		}
	}
	if code, msg := Do(t, "PUT", ps.URL, ps.Headers, body); code != 200 {
		t.Fatalf("first PUT: %d %s", code, msg)
	}
	if code, _ := Do(t, "PUT", ps.URL, ps.Headers, body); code != http.StatusPreconditionFailed {
		t.Errorf("replayed PUT: got %d, want 412", code)
	}
	info, err := st.Head(context.Background(), key)
	if err != nil {
		t.Fatalf("Head: %v", err)
	}
	if info.Size != int64(len(body)) || info.SHA256 != SHA256(body) {
		t.Errorf("Head = size %d sha %q, want %d %q", info.Size, info.SHA256, len(body), SHA256(body))
	}
}

func testPutRefusals(t *testing.T, st sluice.Store, key func(string) string) {
	body := Body(2048)
	cases := []struct {
		name   string
		mutate func(h map[string]string, b []byte) []byte
	}{
		{"longer body", func(h map[string]string, b []byte) []byte { return append(b, 'x') }},
		{"shorter body", func(h map[string]string, b []byte) []byte { return b[:len(b)-1] }},
		{"other content type", func(h map[string]string, b []byte) []byte { h["Content-Type"] = "text/html"; return b }},
		{"same size, other bytes", func(h map[string]string, b []byte) []byte {
			c := bytes.Clone(b)
			c[100] ^= 0xff
			return c
		}},
		{"checksum header dropped", func(h map[string]string, b []byte) []byte { delete(h, "x-amz-checksum-sha256"); return b }},
		{"if-none-match dropped", func(h map[string]string, b []byte) []byte { delete(h, "If-None-Match"); return b }},
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

func testPost(t *testing.T, st sluice.Store, pp sluice.PostPresigner, key func(string) string) {
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
