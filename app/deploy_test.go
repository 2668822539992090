package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/app"
	"github.com/sluicehq/sluice/httpapi"
	"github.com/sluicehq/sluice/oidc"
)

// node is one sluice instance under test, spoken to over HTTP.
type node struct {
	*app.App
	t *testing.T
}

// startNode starts an instance with cfg (addr and data filled in) and
// closes it when t ends.
func startNode(t *testing.T, cfg app.Config, logw io.Writer) *node {
	t.Helper()
	if cfg.Data == "" {
		cfg.Data = t.TempDir()
	}
	cfg.Addr = "127.0.0.1:0"
	if logw == nil {
		logw = io.Discard
		if os.Getenv("SLUICE_TEST_LOG") != "" {
			logw = os.Stderr
		}
	}
	a, err := app.Start(context.Background(), cfg, app.NewLogger(cfg, logw))
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() { a.Close(context.Background()) })
	return &node{App: a, t: t}
}

// overEmbedded is a config whose store is the package server's embedded
// gateway reached as an external S3 store (store.type s3): no second
// gateway starts, so any number of these run beside srv.
func overEmbedded(t *testing.T) app.Config {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(srv.Config.Data, "store", "credentials.json"))
	if err != nil {
		t.Fatal(err)
	}
	var keys struct {
		ID     string `json:"access_key_id"`
		Secret string `json:"secret_access_key"`
	}
	if err := json.Unmarshal(raw, &keys); err != nil {
		t.Fatal(err)
	}
	cfg := app.Default()
	// Not the default ./sluice-data: the embedded store has changed the
	// process's directory to its objects, so that would share one ledger
	// between nodes and put it inside the store. startNode picks a temp dir.
	cfg.Data = ""
	cfg.Store.Type = app.StoreS3
	cfg.Store.S3.Endpoint = srv.S3URL
	cfg.Store.S3.Bucket = srv.Config.Bucket
	cfg.Store.S3.PathStyle = true
	cfg.Store.S3.Credentials = credentials.NewStaticCredentialsProvider(keys.ID, keys.Secret, "")
	return cfg
}

// call speaks JSON to the instance's API and returns the status.
func (n *node) call(tok, method, path string, body, out any) int {
	n.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, n.APIURL+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		n.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			n.t.Fatalf("%s %s: %d, not JSON: %s", method, path, resp.StatusCode, raw)
		}
	}
	return resp.StatusCode
}

// grant asks the instance for an upload of body and fails t without one.
func (n *node) grant(tok string, body []byte, method string) httpapi.UploadResponse {
	n.t.Helper()
	var up httpapi.UploadResponse
	req := httpapi.UploadRequest{Filename: "p.png", ContentType: "image/png", Size: int64(len(body)), SHA256: sum(body), Method: method}
	if code := n.call(tok, "POST", "/v1/uploads", req, &up); code != http.StatusCreated {
		n.t.Fatalf("POST /v1/uploads on %s: %d", n.APIURL, code)
	}
	return up
}

// send writes body to the store the way the grant says, as a browser or
// any HTTP client would, and returns the store's status.
func send(t *testing.T, up httpapi.UploadResponse, body []byte) int {
	t.Helper()
	if up.Method == "POST" {
		return postForm(t, up, up.Fields, body)
	}
	return put(t, up, up.Headers, body)
}

// TestPostNeedsStoreCapability: with post_policy off (R2, or SeaweedFS
// reached with temporary keys), POST is refused with a clear 4xx before
// anything is signed, and PUT still works on the same store.
func TestPostNeedsStoreCapability(t *testing.T) {
	cfg := overEmbedded(t)
	cfg.Store.S3.PostPolicy = false
	n := startNode(t, cfg, nil)
	tok, _ := n.Dev.Mint("carol", "", time.Hour, time.Now())
	body := pngBytes(t, 61)

	var e apiError
	req := httpapi.UploadRequest{Filename: "p.png", ContentType: "image/png", Size: int64(len(body)), SHA256: sum(body), Method: "POST"}
	if code := n.call(tok, "POST", "/v1/uploads", req, &e); code != http.StatusBadRequest || e.Error.Code != string(sluice.CodeMethodNotSupported) {
		t.Fatalf("POST upload without the capability: %d %+v, want 400 method_not_supported", code, e)
	}
	if !strings.Contains(e.Error.Message, "PUT") {
		t.Errorf("message %q does not tell the client to use PUT", e.Error.Message)
	}
	up := n.grant(tok, body, "PUT")
	if code := send(t, up, body); code != 200 {
		t.Fatalf("PUT: %d", code)
	}
	if code := n.call(tok, "POST", "/v1/uploads/"+up.ID+"/complete", nil, nil); code != 200 {
		t.Fatalf("complete: %d", code)
	}

	// And on: the same store hands out working forms.
	cfg.Store.S3.PostPolicy = true
	m := startNode(t, cfg, nil)
	tok, _ = m.Dev.Mint("carol", "", time.Hour, time.Now())
	up = m.grant(tok, body, "POST")
	if code := send(t, up, body); code/100 != 2 {
		t.Fatalf("POST form: %d", code)
	}
	if code := m.call(tok, "POST", "/v1/uploads/"+up.ID+"/complete", nil, nil); code != 200 {
		t.Fatalf("complete of a form upload: %d", code)
	}
}

// TestReadyzNamesTheStore: an instance whose store is unreachable starts
// (a load balancer keeps it out of rotation) but is not ready, and says
// which dependency failed.
func TestReadyzNamesTheStore(t *testing.T) {
	cfg := overEmbedded(t)
	cfg.Store.S3.Endpoint = "http://" + freeAddr() // nothing listens there
	n := startNode(t, cfg, nil)
	var body struct {
		Status string            `json:"status"`
		Failed map[string]string `json:"failed"`
	}
	if code := n.call("", "GET", "/readyz", nil, &body); code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz with the store down: %d, want 503", code)
	}
	if _, ok := body.Failed["store"]; !ok || len(body.Failed) != 1 {
		t.Errorf("/readyz failed = %v, want only the store", body.Failed)
	}
	if code := n.call("", "GET", "/healthz", nil, nil); code != 200 {
		t.Errorf("/healthz: %d; the process is alive and must say so", code)
	}
}

// TestGracefulShutdownFinishesInFlight: Close stops taking new requests
// but lets one that is still arriving finish and get its answer.
func TestGracefulShutdownFinishesInFlight(t *testing.T) {
	n := startNode(t, overEmbedded(t), nil)
	tok, _ := n.Dev.Mint("dave", "", time.Hour, time.Now())
	body := pngBytes(t, 62)
	raw, _ := json.Marshal(httpapi.UploadRequest{Filename: "p.png", ContentType: "image/png", Size: int64(len(body)), SHA256: sum(body)})

	// The request's body arrives slowly: half now, half after Close began.
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("POST", n.APIURL+"/v1/uploads", pr)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	req.ContentLength = int64(len(raw))
	type answer struct {
		code int
		err  error
	}
	answered := make(chan answer, 1)
	go func() {
		resp, err := (&http.Client{}).Do(req)
		if err != nil {
			answered <- answer{err: err}
			return
		}
		resp.Body.Close()
		answered <- answer{code: resp.StatusCode}
	}()
	// Once the first half is written the request is on the wire; give the
	// server a moment to accept the connection and start reading it.
	pw.Write(raw[:len(raw)/2])
	time.Sleep(200 * time.Millisecond)

	closed := make(chan error, 1)
	go func() { closed <- n.Close(context.Background()) }()
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) while a request was still arriving", err)
	case <-time.After(300 * time.Millisecond):
	}
	if _, err := http.Get(n.APIURL + "/healthz"); err == nil {
		t.Error("a new connection was accepted after Close began")
	}
	pw.Write(raw[len(raw)/2:])
	pw.Close()
	select {
	case a := <-answered:
		if a.err != nil || a.code != http.StatusCreated {
			t.Errorf("in-flight request: %d %v, want 201", a.code, a.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("in-flight request never answered")
	}
	if err := <-closed; err != nil {
		t.Errorf("Close: %v", err)
	}
}

// scrape returns the instance's /metrics text.
func scrape(t *testing.T, n *node) string {
	t.Helper()
	resp, err := http.Get(n.APIURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics: %d %s", resp.StatusCode, b)
	}
	return string(b)
}

// syncBuffer collects log output written from many goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestLogsAndMetricsOfAnUpload runs an upload through an instance with JSON
// logs captured, then checks what an operator sees: structured lines with
// request id and subject, no token or presigned signature anywhere, and
// /metrics counting what happened.
func TestLogsAndMetricsOfAnUpload(t *testing.T) {
	logs := &syncBuffer{}
	cfg := overEmbedded(t)
	cfg.LogFormat, cfg.LogLevel = "json", "debug"
	n := startNode(t, cfg, logs)
	tok, _ := n.Dev.Mint("erin", "erin@example.com", time.Hour, time.Now())

	body := pngBytes(t, 63)
	up := n.grant(tok, body, "PUT")
	if code := send(t, up, body); code != 200 {
		t.Fatalf("PUT: %d", code)
	}
	var f sluice.File
	if code := n.call(tok, "POST", "/v1/uploads/"+up.ID+"/complete", nil, &f); code != 200 {
		t.Fatalf("complete: %d", code)
	}
	if code := n.call(tok, "GET", "/v1/files/"+f.ID+"/content", nil, nil); code != http.StatusFound {
		t.Fatalf("content: %d", code)
	}
	var link httpapi.ContentURL
	n.call(tok, "GET", "/v1/files/"+f.ID+"/content?redirect=false", nil, &link)
	bad := pngBytes(t, 64)
	up2 := n.grant(tok, bad, "PUT")
	send(t, up2, bad)
	n.call(tok, "POST", "/v1/uploads/"+up2.ID+"/complete", nil, nil) // fine: it is what was declared
	n.call("", "GET", "/v1/files", nil, nil)                         // token_missing
	n.call(tamper(tok), "GET", "/v1/files", nil, nil)                // token_signature
	n.call(tok, "GET", "/v1/files?limit=0&X-Amz-Signature=zzz", nil, nil)

	out := logs.String()
	sig := mustQuery(t, up.URL, "X-Amz-Signature")
	for what, secret := range map[string]string{
		"the ID token":                      tok,
		"the token's signature":             tok[strings.LastIndexByte(tok, '.')+1:],
		"the upload URL's signature":        sig,
		"the download URL's signature":      mustQuery(t, link.URL, "X-Amz-Signature"),
		"X-Amz-Signature":                   "X-Amz-Signature",
		"X-Amz-Credential":                  "X-Amz-Credential",
		"the store's secret key (any part)": secretKeyPrefix(t, cfg),
	} {
		if strings.Contains(out, secret) {
			t.Errorf("logs contain %s", what)
		}
	}

	var requests int
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		if rec["msg"] != "request" {
			continue
		}
		requests++
		if id, _ := rec["request_id"].(string); id == "" {
			t.Errorf("request log without request_id: %s", line)
		}
		if p, _ := rec["path"].(string); strings.HasPrefix(p, "/v1/uploads") && rec["status"] != float64(401) && rec["sub"] != "erin" {
			t.Errorf("authenticated request logged without its subject: %s", line)
		}
	}
	if requests < 8 {
		t.Errorf("%d request lines logged, want one per request", requests)
	}

	m := scrape(t, n)
	for _, want := range []string{
		`sluice_grants_issued_total{method="PUT"} 2`,
		`sluice_grants_issued_total{method="POST"} 0`,
		`sluice_grants_finished_total{code="",state="complete"} 2`,
		`sluice_http_rejects_total{code="token_missing"} 1`,
		`sluice_http_rejects_total{code="token_signature"} 1`,
		`sluice_http_rejects_total{code="invalid_request"} 1`,
		`sluice_http_request_duration_seconds_count{method="POST",route="POST /v1/uploads",status="201"} 2`,
		`sluice_http_request_duration_seconds_count{method="POST",route="POST /v1/uploads/{id}/complete",status="200"} 2`,
		`sluice_jwks_refreshes_total{issuer="` + n.APIURL + `/dev",result="ok"} 1`,
		`sluice_proxied_bytes_total 0`,
	} {
		if !strings.Contains(m, want+"\n") {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(m, up.ID) {
		t.Error("/metrics has a series per upload ID; routes must be patterns")
	}
}

// tamper flips one character in the middle of a token's signature.
func tamper(tok string) string {
	b := []byte(tok)
	i := len(b) - 20
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

func secretKeyPrefix(t *testing.T, cfg app.Config) string {
	c, err := cfg.Store.S3.Credentials.Retrieve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return c.SecretAccessKey[:12]
}

// testIssuer is an OIDC issuer served by the test itself, trusted by
// several instances at once (each instance's own development issuer would
// name itself, so its tokens would be good on that instance only).
type testIssuer struct {
	*oidc.DevIssuer
	srv *httptest.Server
}

func startIssuer(t *testing.T) *testIssuer {
	t.Helper()
	mux := http.NewServeMux()
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	dev, err := oidc.OpenDevIssuer(t.TempDir(), ts.URL+"/idp")
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle("/idp/", dev.Handler())
	return &testIssuer{DevIssuer: dev, srv: ts}
}

func (is *testIssuer) token(t *testing.T, sub string) string {
	t.Helper()
	tok, err := is.Mint(sub, sub+"@example.com", time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (is *testIssuer) trust(cfg *app.Config) {
	off := false
	cfg.Identity.DevIssuer = &off
	cfg.Identity.Issuers = []oidc.IssuerConfig{is.IssuerConfig()}
}
