package oidc

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
)

// serveDev mounts a dev issuer at /dev/ on a mux, as the server does, on a
// real loopback listener, and returns it with its issuer URL.
func serveDev(t *testing.T, dir string) (*DevIssuer, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String() + "/dev"
	d, err := OpenDevIssuer(dir, url)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/dev/", d.Handler())
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: mux}}
	srv.Start()
	t.Cleanup(srv.Close)
	return d, url
}

func TestDevIssuerEndToEnd(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	d, url := serveDev(t, dir)
	v, err := New(Config{Issuers: []IssuerConfig{d.IssuerConfig()}})
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Ready(context.Background()); err != nil {
		t.Fatalf("Ready: %v", err)
	}
	tok, err := d.Mint("dev-user", "dev@example.com", time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	id := verifyOK(t, v, tok)
	if id.Issuer != url || id.Subject != "dev-user" || id.Email != "dev@example.com" || !id.EmailVerified {
		t.Fatalf("identity %+v", id)
	}
	if _, ok := id.Claims["auth_time"]; !ok {
		t.Fatal("no auth_time")
	}
	expired, _ := d.Mint("dev-user", "", time.Minute, time.Now().Add(-time.Hour))
	_, err = v.Verify(context.Background(), expired)
	wantCode(t, err, sluice.CodeTokenExpired)

	// A second open of the same dir reuses the key: tokens stay valid
	// across restarts.
	d2, err := OpenDevIssuer(dir, url)
	if err != nil {
		t.Fatal(err)
	}
	if d2.kid != d.kid {
		t.Fatalf("reopened issuer has kid %s, want %s", d2.kid, d.kid)
	}
	tok2, _ := d2.Mint("other", "", time.Hour, time.Now())
	verifyOK(t, v, tok2)
}

func TestDevIssuerFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	if _, err := OpenDevIssuer(dir, "http://127.0.0.1:1/dev"); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]os.FileMode{dir: 0o700, filepath.Join(dir, devKeyFile): 0o600} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s has mode %v, want %v", path, fi.Mode().Perm(), want)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("dir holds %d files, want only the key", len(entries))
	}
	if err := os.Chmod(filepath.Join(dir, devKeyFile), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenDevIssuer(dir, "http://127.0.0.1:1/dev"); err == nil || !strings.Contains(err.Error(), "0600") {
		t.Fatalf("world-readable key accepted: %v", err)
	}
}

func TestDevIssuerHandler(t *testing.T) {
	d, url := serveDev(t, t.TempDir())
	base := strings.TrimSuffix(url, "/dev")
	cases := []struct {
		method, path string
		status       int
	}{
		{"GET", "/dev/.well-known/openid-configuration", 200},
		{"GET", "/dev/jwks.json", 200},
		{"HEAD", "/dev/jwks.json", 200},
		{"POST", "/dev/jwks.json", 405},
		{"GET", "/dev/other", 404},
		{"GET", "/jwks.json", 404},
	}
	for _, c := range cases {
		req, _ := http.NewRequest(c.method, base+c.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.status {
			t.Errorf("%s %s: %d, want %d", c.method, c.path, resp.StatusCode, c.status)
		}
	}
	if _, err := d.Mint("", "", time.Hour, time.Now()); err == nil {
		t.Error("minted a token without subject")
	}
	if _, err := d.Mint("u", "", 0, time.Now()); err == nil {
		t.Error("minted a token with zero ttl")
	}
	if _, err := OpenDevIssuer(t.TempDir(), "ftp://x/dev"); err == nil {
		t.Error("accepted an ftp issuer URL")
	}
}
