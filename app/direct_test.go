package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/client"
)

// counter is an HTTP transport that counts requests by method, host and
// path, to check how often a client calls sluice and the store.
type counter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *counter) RoundTrip(r *http.Request) (*http.Response, error) {
	c.mu.Lock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[r.Method+" "+r.URL.Host+r.URL.Path]++
	c.mu.Unlock()
	return http.DefaultTransport.RoundTrip(r)
}

// count sums the requests whose key starts with prefix.
func (c *counter) count(prefix string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for k, v := range c.n {
		if strings.HasPrefix(k, prefix) {
			n += v
		}
	}
	return n
}

func hostOf(raw string) string {
	u, _ := url.Parse(raw)
	return u.Host
}

// TestDirectUploadsCostOneSTSCall: N uploads in one credential lifetime
// cost one STS call (and one discovery call), and no other call to sluice.
func TestDirectUploadsCostOneSTSCall(t *testing.T) {
	const n = 5
	var c counter
	cl := client.New(srv.APIURL, tokenFor(t, "direct"), client.WithHTTPClient(&http.Client{Transport: &c}))
	d := cl.Direct(client.CredentialsOptions{})
	dir := t.TempDir()
	for i := range n {
		body := jpegBytes(t, 100+i)
		p := filepath.Join(dir, "photo.jpg")
		os.WriteFile(p, body, 0o644)
		f, err := d.UploadFile(context.Background(), p, client.UploadOptions{})
		if err != nil {
			t.Fatalf("upload %d: %v", i, err)
		}
		if !strings.HasPrefix(f.Key, "users/direct/") || !strings.HasSuffix(f.Key, ".jpg") || f.Key != "users/direct/"+f.ID+".jpg" ||
			f.SHA256 != sum(body) || f.Size != int64(len(body)) || f.ContentType != "image/jpeg" {
			t.Errorf("upload %d: %+v", i, f)
		}
		got, err := getString(rootS3(t), f.Key)
		if err != nil || got != string(body) {
			t.Errorf("upload %d: the store holds %d bytes (%v), not the file", i, len(got), err)
		}
	}
	api, s3 := hostOf(srv.APIURL), hostOf(srv.S3URL)
	if got := c.count("POST " + api + "/sts"); got != 1 {
		t.Errorf("%d uploads made %d STS calls, want 1", n, got)
	}
	if got := c.count("GET " + api + "/v1/sts/config"); got != 1 {
		t.Errorf("%d uploads made %d discovery calls, want 1", n, got)
	}
	if got := c.count("PUT " + s3 + "/sluice/users/direct/"); got != n {
		t.Errorf("%d uploads made %d PUTs to the store, want %d", n, got, n)
	}
	if total := c.count("") - c.count("PUT "+s3); total != 2 {
		t.Errorf("calls other than the PUTs: %d (%v), want 2", total, c.n)
	}
}

// TestDirectUploadRefusals: what the client checks before sending, and
// what the store refuses.
func TestDirectUploadRefusals(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "notes.txt")
	os.WriteFile(text, []byte("hello"), 0o644)
	cl := client.New(srv.APIURL, tokenFor(t, "direct-refused"))
	_, err := cl.Direct(client.CredentialsOptions{}).UploadFile(context.Background(), text, client.UploadOptions{})
	if !sluice.IsCode(err, sluice.CodeTypeNotAllowed) {
		t.Errorf("text file: %v, want content_type_not_allowed", err)
	}

	expired, _ := srv.Dev.Mint("direct-refused", "", time.Minute, time.Now().Add(-time.Hour))
	photo := filepath.Join(dir, "p.jpg")
	os.WriteFile(photo, jpegBytes(t, 9), 0o644)
	_, err = client.New(srv.APIURL, expired).Direct(client.CredentialsOptions{}).UploadFile(context.Background(), photo, client.UploadOptions{})
	if !sluice.IsCode(err, sluice.CodeTokenExpired) {
		t.Errorf("expired ID token: %v, want token_expired", err)
	}
	_, err = cl.Direct(client.CredentialsOptions{RoleARN: "arn:aws:iam::000000000000:role/nope"}).UploadFile(context.Background(), photo, client.UploadOptions{})
	if !sluice.IsCode(err, sluice.CodeForbidden) {
		t.Errorf("unknown role: %v, want forbidden", err)
	}
}

// TestCLIUploadDirect: `sluice upload --direct` signs its own PUT.
func TestCLIUploadDirect(t *testing.T) {
	env := map[string]string{"SLUICE_TOKEN": tokenFor(t, "clidirect"), "SLUICE_SERVER": srv.APIURL}
	photo := filepath.Join(t.TempDir(), "photo.png")
	body := pngBytes(t, 77)
	os.WriteFile(photo, body, 0o644)

	code, out, stderr := sluiceCmd(t, env, "upload", photo, "--direct", "--json")
	if code != 0 {
		t.Fatalf("sluice upload --direct: %d %s", code, stderr)
	}
	var f sluice.File
	if err := json.Unmarshal([]byte(out), &f); err != nil || !strings.HasPrefix(f.Key, "users/clidirect/") || f.SHA256 != sum(body) {
		t.Fatalf("upload --direct printed %q (%v)", out, err)
	}
	got, err := getString(rootS3(t), f.Key)
	if err != nil || !bytes.Equal([]byte(got), body) {
		t.Errorf("the store holds %d bytes (%v), not the file", len(got), err)
	}
	if code, _, stderr := sluiceCmd(t, env, "upload", photo, "--direct", "--method", "POST"); code != 2 || !strings.Contains(stderr, "--direct") {
		t.Errorf("--direct --method POST: %d %q, want a usage error", code, stderr)
	}
}

// TestCLIRevoke: `sluice revoke` writes to the ledger the server reads.
func TestCLIRevoke(t *testing.T) {
	out := assume(t, tokenFor(t, "clirevoke"))
	c := credsS3(out)
	if err := putString(c, "users/clirevoke/a.png", "x"); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := sluiceCmd(t, nil, "revoke", "--data", srv.Config.Data, "--access-key-id", *out.Credentials.AccessKeyId)
	if code != 0 || !strings.Contains(stdout, "clirevoke") {
		t.Fatalf("sluice revoke: %d %s %s", code, stdout, stderr)
	}
	waitRefused(t, c, "users/clirevoke/b.png", "403 ExpiredToken", 3*time.Second)

	if code, _, stderr := sluiceCmd(t, nil, "revoke", "--data", srv.Config.Data, "--access-key-id", "ASIAAAAAAAAAAAAAAAAA"); code != 1 || !strings.Contains(stderr, "not_found") {
		t.Errorf("revoke of an unknown key: %d %q", code, stderr)
	}
	if code, _, stderr := sluiceCmd(t, nil, "revoke", "--data", srv.Config.Data, "--sub", "x"); code != 1 || !strings.Contains(stderr, "--issuer") {
		t.Errorf("revoke --sub without --issuer: %d %q", code, stderr)
	}
}
