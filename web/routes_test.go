package web_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// What the page and browsers get from a server on the embedded default,
// checked over plain HTTP (no browser needed).

func TestPageServed(t *testing.T) {
	resp, err := http.Get(srv.APIURL + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(string(body), `src="/web/app.js"`) {
		t.Fatalf("GET /: %d %s, %.100s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	csp := resp.Header.Get("Content-Security-Policy")
	for _, want := range []string{"script-src 'self'", "connect-src 'self' " + srv.S3URL, "frame-ancestors 'self' " + allowedOrigin()} {
		if !strings.Contains(csp, want) {
			t.Errorf("Content-Security-Policy %q lacks %q", csp, want)
		}
	}

	for path, ctype := range map[string]string{"/web/app.js": "text/javascript", "/web/app.css": "text/css"} {
		resp, err := http.Get(srv.APIURL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), ctype) {
			t.Errorf("GET %s: %d %s", path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}
	var e apiError
	if code := jsonCall(t, "", "GET", "/web/nothing.js", nil, &e); code != 404 || e.Error.Code != "route_not_found" {
		t.Errorf("GET /web/nothing.js: %d %s", code, e.Error.Code)
	}

	var cfg struct {
		DevTokens   bool     `json:"dev_tokens"`
		HostOrigins []string `json:"host_origins"`
		MaxSize     int64    `json:"max_size"`
	}
	if code := jsonCall(t, "", "GET", "/web/config.json", nil, &cfg); code != 200 || !cfg.DevTokens || cfg.MaxSize != maxSize ||
		len(cfg.HostOrigins) != 1 || cfg.HostOrigins[0] != allowedOrigin() {
		t.Errorf("config.json: %d %+v", code, cfg)
	}
}

func TestDevToken(t *testing.T) {
	var tok struct {
		Token     string `json:"token"`
		ExpiresAt string `json:"expires_at"`
	}
	if code := jsonCall(t, "", "POST", "/dev/token", map[string]string{"sub": "dora"}, &tok); code != 200 || tok.Token == "" {
		t.Fatalf("POST /dev/token: %d", code)
	}
	// The token is a real one: the API takes it.
	if code := jsonCall(t, tok.Token, "GET", "/v1/files", nil, nil); code != 200 {
		t.Errorf("GET /v1/files with the development token: %d", code)
	}

	var e apiError
	if code := jsonCall(t, "", "POST", "/dev/token", map[string]string{"sub": "../etc"}, &e); code != 400 || e.Error.Code != "invalid_request" {
		t.Errorf("sub ../etc: %d %s", code, e.Error.Code)
	}
	// A page on another site whose name resolves to 127.0.0.1 (DNS
	// rebinding) is refused.
	req, _ := http.NewRequest("POST", srv.APIURL+"/dev/token", strings.NewReader(`{"sub":"dora"}`))
	req.Host = "rebind.example:80"
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&e)
	resp.Body.Close()
	if resp.StatusCode != 403 || e.Error.Code != "forbidden" {
		t.Errorf("Host rebind.example: %d %s", resp.StatusCode, e.Error.Code)
	}
}

// preflight sends a CORS preflight and returns the answer's headers.
func preflight(t *testing.T, target, origin, method, headers string) (int, http.Header) {
	t.Helper()
	req, _ := http.NewRequest("OPTIONS", target, nil)
	req.Header.Set("Origin", origin)
	req.Header.Set("Access-Control-Request-Method", method)
	if headers != "" {
		req.Header.Set("Access-Control-Request-Headers", headers)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header
}

func allows(h http.Header, origin, headers string) bool {
	if h.Get("Access-Control-Allow-Origin") != origin && h.Get("Access-Control-Allow-Origin") != "*" {
		return false
	}
	got := strings.ToLower(h.Get("Access-Control-Allow-Headers"))
	for _, want := range strings.Split(headers, ",") {
		if want = strings.TrimSpace(want); want != "" && got != "*" && !strings.Contains(got, want) {
			return false
		}
	}
	return true
}

// The store lets the page's own origin (the API's, as 127.0.0.1 and as
// localhost) and cors_origins send the headers a presigned PUT signs, and
// nobody else.
func TestStoreCORS(t *testing.T) {
	obj := srv.S3URL + "/" + srv.Config.Bucket + "/users/someone/x.png"
	u, _ := url.Parse(srv.APIURL)
	signed := "content-type,if-none-match,x-amz-checksum-sha256"
	for _, o := range []string{srv.APIURL, "http://localhost:" + u.Port(), allowedOrigin()} {
		if code, h := preflight(t, obj, o, "PUT", signed); code/100 != 2 || !allows(h, o, signed) {
			t.Errorf("store preflight from %s: %d %v", o, code, h)
		}
	}
	// Option 4 signs with headers rather than the query when it uses an SDK.
	sdk := "authorization,content-type,x-amz-content-sha256,x-amz-date,x-amz-security-token,x-amz-user-agent"
	if code, h := preflight(t, obj, allowedOrigin(), "PUT", sdk); code/100 != 2 || !allows(h, allowedOrigin(), sdk) {
		t.Errorf("store preflight for SigV4 headers: %d %v", code, h)
	}
	denied := "http://127.0.0.1:1"
	if _, h := preflight(t, obj, denied, "PUT", signed); h.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("the store allowed %s: %v", denied, h)
	}

	// The answer to a real upload exposes ETag to the allowed page.
	tok := tokenFor(t, "cors-etag")
	img := noisePNG(t, 8, 8, 9)
	var g struct {
		URL     string            `json:"url"`
		Headers map[string]string `json:"headers"`
	}
	if code := jsonCall(t, tok, "POST", "/v1/uploads", map[string]any{"content_type": "image/png", "size": len(img), "sha256": sum(img)}, &g); code != 201 {
		t.Fatalf("grant: %d", code)
	}
	req, _ := http.NewRequest("PUT", g.URL, strings.NewReader(string(img)))
	for k, v := range g.Headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Origin", srv.APIURL)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != srv.APIURL ||
		!strings.Contains(strings.ToLower(resp.Header.Get("Access-Control-Expose-Headers")), "etag") {
		t.Errorf("PUT from the page's origin: %d, allow-origin %q, expose %q", resp.StatusCode,
			resp.Header.Get("Access-Control-Allow-Origin"), resp.Header.Get("Access-Control-Expose-Headers"))
	}
}

// The API lets cors_origins send what the client sends: the bearer token,
// the proxied upload's checksum, and the AWS SDK's headers to the STS.
func TestAPICORS(t *testing.T) {
	for _, c := range []struct{ path, method, headers string }{
		{"/v1/uploads", "POST", "authorization,content-type"},
		{"/v1/files", "POST", "authorization,content-type,x-checksum-sha256"},
		{"/v1/files/x", "DELETE", "authorization"},
		{"/sts", "POST", "amz-sdk-invocation-id,amz-sdk-request,content-type,x-amz-user-agent"},
		{"/dev/token", "POST", "content-type"},
	} {
		if code, h := preflight(t, srv.APIURL+c.path, allowedOrigin(), c.method, c.headers); code != 204 || !allows(h, allowedOrigin(), c.headers) ||
			!strings.Contains(h.Get("Access-Control-Allow-Methods"), c.method) {
			t.Errorf("%s %s preflight: %d %v", c.method, c.path, code, h)
		}
		if _, h := preflight(t, srv.APIURL+c.path, "http://127.0.0.1:1", c.method, c.headers); h.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("%s %s: an origin not allowed was allowed", c.method, c.path)
		}
	}
}
