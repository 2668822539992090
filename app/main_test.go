package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/app"
)

// One server for the whole package: versitygw allows one embedded gateway
// per process, and a real server is what these tests are about.
var (
	srv   *app.App
	clock offsetClock
)

// offsetClock lets a test move the server's clock without sleeping.
type offsetClock struct{ off atomic.Int64 }

func (c *offsetClock) Now() time.Time      { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *offsetClock) Set(d time.Duration) { c.off.Store(int64(d)) }

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sluice-e2e-")
	if err != nil {
		panic(err)
	}
	cfg := app.Default()
	cfg.Data = filepath.Join(dir, "data")
	cfg.Addr = "127.0.0.1:0"
	cfg.S3Addr = freeAddr()
	cfg.CORSOrigins = []string{"http://app.example"}
	// Rate limits on, but out of reach: every test issues grants from
	// 127.0.0.1, and the benchmarks by the thousand. TestRateLimit* lower
	// them for a while.
	cfg.Policy.RateLimit = sluice.RateLimits{PerUserPerMinute: 1 << 40, PerIPPerMinute: 1 << 40}
	cfg.Reconcile.Interval = 0 // TestReconcile* run it when they choose
	hooks = startReceiver()
	cfg.Webhooks = []app.Webhook{hookConfig(hooks.URL, filepath.Join(dir, "webhook-secret"))}
	logw := io.Discard
	if os.Getenv("SLUICE_TEST_LOG") != "" {
		logw = os.Stderr
	}
	srv, err = app.Start(context.Background(), cfg, slog.New(slog.NewTextHandler(logw, nil)))
	if err != nil {
		fmt.Fprintln(os.Stderr, "start:", err)
		os.Exit(1)
	}
	srv.Service.Now = clock.Now
	if srv.STS != nil {
		srv.STS.Now = clock.Now
	}
	code := m.Run()
	http.DefaultClient.CloseIdleConnections()
	srv.Close(context.Background())
	hooks.Close()
	os.RemoveAll(dir)
	os.Exit(code)
}

func freeAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// tokenFor mints a development token for sub through the server's own
// development issuer.
func tokenFor(t testing.TB, sub string) string {
	t.Helper()
	tok, err := srv.Dev.Mint(sub, sub+"@example.com", time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// api calls the sluice API and decodes the JSON answer into out (if not nil).
func api(t testing.TB, tok, method, path string, body any, out any) (int, http.Header) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, srv.APIURL+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	req.Header.Set("User-Agent", "sluice-e2e/1")
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: %d, not JSON: %s", method, path, resp.StatusCode, raw)
		}
	}
	return resp.StatusCode, resp.Header
}

var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// apiError is the error shape every refusal must have.
type apiError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}
