package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// The page and the JavaScript client in real Chromium (playwright-core
// driving Debian's chromium): clients/js/test/browser.mjs does what a user
// does and reports what the page shows; these tests check it against the
// API and the bytes in the store.

// TestBundleFresh fails when web/dist, which the binary embeds, is not what
// clients/js builds today.
func TestBundleFresh(t *testing.T) {
	node := requireNode(t, false, "esbuild", "@aws-sdk/client-sts", "@aws-sdk/s3-request-presigner")
	cmd := exec.Command(node, "build.mjs", "--check")
	cmd.Dir = filepath.Join(repo, "clients", "js")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
}

// TestClientTypes type-checks the client and the page (TypeScript, strict).
func TestClientTypes(t *testing.T) {
	node := requireNode(t, false, "typescript", "@aws-sdk/client-sts", "@aws-sdk/s3-request-presigner")
	cmd := exec.Command(node, filepath.Join("node_modules", "typescript", "bin", "tsc"), "-p", ".")
	cmd.Dir = filepath.Join(repo, "clients", "js")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("tsc: %v\n%s", err, out)
	}
}

// row is one upload as the page shows it.
type row struct {
	Name           string `json:"name"`
	State          string `json:"state"`
	FileID         string `json:"fileId"`
	Key            string `json:"key"`
	SHA256         string `json:"sha256"`
	Code           string `json:"code"`
	Message        string `json:"message"`
	ProgressEvents int    `json:"progressEvents"`
	Loaded         int64  `json:"loaded"`
	Total          int64  `json:"total"`
	Bar            int    `json:"bar"`
}

type fileRecord struct {
	ID          string `json:"id"`
	Key         string `json:"key"`
	Filename    string `json:"filename"`
	ContentType string `json:"content_type"`
	Size        int64  `json:"size"`
	SHA256      string `json:"sha256"`
}

// clientErr is a SluiceError as the browser saw it.
type clientErr struct {
	OK      bool   `json:"ok"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Status  int    `json:"status"`
}

func TestBrowser(t *testing.T) {
	node := requireBrowser(t)

	modes := []struct{ mode, via string }{
		{"presigned", "pick"},
		{"post", "drop"},
		{"proxy", "pick"},
		{"direct", "pick"},
	}
	for i, m := range modes {
		t.Run("mode="+m.mode, func(t *testing.T) {
			skipUnlessServed(t, m.mode)
			img := noisePNG(t, 320, 240, uint64(i+1))
			name := m.mode + "-photo.png"
			path := writeFile(t, t.TempDir(), name, img)
			sub := "web-" + m.mode
			var res struct {
				Row            row    `json:"row"`
				ListedSHA256   string `json:"listedSha256"`
				PreviewWidth   int    `json:"previewWidth"`
				DownloadName   string `json:"downloadName"`
				DownloadSHA256 string `json:"downloadSha256"`
			}
			runCase(t, node, map[string]any{"case": "mode", "mode": m.mode, "via": m.via, "sub": sub, "file": path}, &res)
			r, want := res.Row, sum(img)
			if r.State != "done" {
				t.Fatalf("the page shows the upload %s: %q (%s)", r.State, r.Message, r.Code)
			}
			size := int64(len(img))
			if r.ProgressEvents < 1 || r.Loaded != size || r.Total != size || r.Bar != 100 {
				t.Errorf("progress: %d events, last %d/%d bytes, bar at %d%%; want events ending at %d/%d and 100%%",
					r.ProgressEvents, r.Loaded, r.Total, r.Bar, size, size)
			}
			if !strings.HasPrefix(r.Key, "users/"+sub+"/") || !strings.HasSuffix(r.Key, ".png") {
				t.Errorf("key %q: want users/%s/<id>.png", r.Key, sub)
			}
			if got, err := storedSum(t, r.Key); err != nil || got != want {
				t.Errorf("the store holds %s at %s (%v); want the uploaded image's %s", got, r.Key, err, want)
			}
			if res.PreviewWidth != 320 {
				t.Errorf("preview is %d px wide; want the image's 320", res.PreviewWidth)
			}
			if m.mode == "direct" {
				return // the server records direct uploads later (its reconciler)
			}
			var f fileRecord
			if code := jsonCall(t, tokenFor(t, sub), "GET", "/v1/files/"+r.FileID, nil, &f); code != 200 {
				t.Fatalf("GET /v1/files/%s: %d", r.FileID, code)
			}
			if f.SHA256 != want || f.Size != size || f.Key != r.Key || f.Filename != name || f.ContentType != "image/png" {
				t.Errorf("file record %+v; want sha256 %s, %d bytes, %s, image/png, key %s", f, want, size, name, r.Key)
			}
			if r.SHA256 != want || res.ListedSHA256 != want {
				t.Errorf("the page shows sha256 %s (upload) and %s (list); want %s", r.SHA256, res.ListedSHA256, want)
			}
			if res.DownloadSHA256 != want || res.DownloadName != name {
				t.Errorf("download: %q with sha256 %s; want %q, %s", res.DownloadName, res.DownloadSHA256, name, want)
			}
		})
	}

	t.Run("refused", func(t *testing.T) {
		dir := t.TempDir()
		big := bytes.Repeat([]byte{0xff, 0xd8, 0xff, 0xe0}, (maxSize+1<<20)/4)
		notes := []byte("shopping list: milk, eggs\n")
		fake := bytes.Repeat([]byte("this is not a JPEG at all\n"), 40)
		files := []string{writeFile(t, dir, "big.jpg", big), writeFile(t, dir, "notes.txt", notes), writeFile(t, dir, "fake.jpg", fake)}
		// What the server says to the same requests.
		check := tokenFor(t, "web-refused-check")
		want := map[string]apiError{
			"big.jpg":   refusedGrant(t, check, "big.jpg", "image/jpeg", big, 413),
			"notes.txt": refusedGrant(t, check, "notes.txt", "text/plain", notes, 415),
			"fake.jpg":  refusedComplete(t, check, "fake.jpg", "image/jpeg", fake),
		}
		var res struct {
			Rows []row `json:"rows"`
		}
		runCase(t, node, map[string]any{"case": "refused", "sub": "web-refused", "files": files}, &res)
		if len(res.Rows) != 3 {
			t.Fatalf("%d rows", len(res.Rows))
		}
		for _, r := range res.Rows {
			w := want[r.Name]
			if r.State != "error" || r.Code != w.Error.Code || r.Message != w.Error.Message {
				t.Errorf("%s: the page shows %s %q (%s); want the server's %q (%s)", r.Name, r.State, r.Message, r.Code, w.Error.Message, w.Error.Code)
			}
		}
	})

	t.Run("delete", func(t *testing.T) {
		img := noisePNG(t, 64, 48, 40)
		path := writeFile(t, t.TempDir(), "to-delete.png", img)
		var res struct {
			Row    row    `json:"row"`
			Status string `json:"status"`
		}
		runCase(t, node, map[string]any{"case": "delete", "sub": "web-delete", "file": path}, &res)
		if res.Row.State != "done" {
			t.Fatalf("upload: %s %q", res.Row.State, res.Row.Message)
		}
		var e apiError
		if code := jsonCall(t, tokenFor(t, "web-delete"), "GET", "/v1/files/"+res.Row.FileID, nil, &e); code != 404 || e.Error.Code != "not_found" {
			t.Errorf("after delete, GET /v1/files/%s: %d %s", res.Row.FileID, code, e.Error.Code)
		}
		if _, err := rootS3(t).HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(srv.Config.Bucket), Key: aws.String(res.Row.Key)}); err == nil {
			t.Errorf("after delete, %s is still in the store", res.Row.Key)
		}
		if res.Status != "No files yet." {
			t.Errorf("list status %q after deleting the only file", res.Status)
		}
	})

	t.Run("cors", func(t *testing.T) {
		img := noisePNG(t, 96, 64, 50)
		path := writeFile(t, t.TempDir(), "cors.png", img)
		sub := "web-cors"
		tok := tokenFor(t, sub)
		var grant struct {
			ID      string            `json:"id"`
			Key     string            `json:"key"`
			URL     string            `json:"url"`
			Headers map[string]string `json:"headers"`
		}
		if code := jsonCall(t, tok, "POST", "/v1/uploads", map[string]any{
			"filename": "cors.png", "content_type": "image/png", "size": len(img), "sha256": sum(img),
		}, &grant); code != 201 {
			t.Fatalf("grant: %d", code)
		}
		cross := []string{"presigned", "post"}
		for _, m := range []string{"proxy", "direct"} {
			if ok, _ := served(t, m); ok {
				cross = append(cross, m)
			}
		}
		var res struct {
			Denied struct {
				API   clientErr `json:"api"`
				Store struct {
					OK     bool `json:"ok"`
					Status int  `json:"status"`
				} `json:"store"`
			} `json:"denied"`
			Allowed map[string]struct {
				OK      bool       `json:"ok"`
				Code    string     `json:"code"`
				Message string     `json:"message"`
				File    fileRecord `json:"file"`
				Events  int        `json:"events"`
			} `json:"allowed"`
		}
		runCase(t, node, map[string]any{
			"case": "cors", "token": tok, "file": path, "modes": cross,
			"allowedPort": allowedPort, "deniedPort": deniedPort,
			"put": map[string]any{"url": grant.URL, "headers": grant.Headers},
		}, &res)

		d := res.Denied
		if d.API.OK || d.API.Code != "unavailable" || d.API.Status != 0 || !strings.Contains(d.API.Message, "CORS") {
			t.Errorf("the API from an origin not allowed: %+v; want refused by the browser (unavailable, naming CORS)", d.API)
		}
		if d.Store.OK {
			t.Errorf("a presigned PUT from an origin not allowed got an answer the page could read: %d", d.Store.Status)
		}
		if _, err := rootS3(t).HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(srv.Config.Bucket), Key: aws.String(grant.Key)}); err == nil {
			t.Errorf("the PUT from an origin not allowed wrote %s", grant.Key)
		}

		want := sum(img)
		for _, m := range cross {
			a, ok := res.Allowed[m]
			if !ok || !a.OK {
				t.Errorf("%s from the allowed origin %s: %s %q", m, allowedOrigin(), a.Code, a.Message)
				continue
			}
			if a.Events < 1 || a.File.SHA256 != want {
				t.Errorf("%s from the allowed origin: %d progress events, sha256 %s; want events and %s", m, a.Events, a.File.SHA256, want)
			}
			if got, err := storedSum(t, a.File.Key); err != nil || got != want {
				t.Errorf("%s: the store holds %s at %s (%v)", m, got, a.File.Key, err)
			}
		}
	})

	// The production way in: no development sign-in, the host app hands the
	// page its user's ID token.
	t.Run("host-token", func(t *testing.T) {
		img := noisePNG(t, 80, 60, 70)
		path := writeFile(t, t.TempDir(), "framed.png", img)
		var res struct {
			Fragment struct {
				Who         string `json:"who"`
				URLHasToken bool   `json:"urlHasToken"`
			} `json:"fragment"`
			Framed struct {
				Who, State, Key, Message string
			} `json:"framed"`
			DeniedFrame  bool `json:"deniedFrame"`
			DeniedFramed bool `json:"deniedFramed"`
		}
		runCase(t, node, map[string]any{
			"case": "host", "fragmentToken": tokenFor(t, "web-fragment"), "token": tokenFor(t, "web-framed"), "file": path,
			"allowedPort": allowedPort, "deniedPort": deniedPort,
		}, &res)
		if res.Fragment.Who != "Signed in as web-fragment." || res.Fragment.URLHasToken {
			t.Errorf("#token=: the page shows %q, token left in the address bar: %v", res.Fragment.Who, res.Fragment.URLHasToken)
		}
		if res.Framed.Who != "Signed in as web-framed." {
			t.Errorf("framed by %s, the postMessage token: the page shows %q", allowedOrigin(), res.Framed.Who)
		}
		if res.Framed.State != "done" {
			t.Fatalf("upload in the framed page: %s %q", res.Framed.State, res.Framed.Message)
		}
		if got, err := storedSum(t, res.Framed.Key); err != nil || got != sum(img) || !strings.HasPrefix(res.Framed.Key, "users/web-framed/") {
			t.Errorf("framed upload: %s holds %s (%v)", res.Framed.Key, got, err)
		}
		if !res.DeniedFrame || res.DeniedFramed {
			t.Error("a page on an origin outside cors_origins could frame the upload page")
		}
	})

	t.Run("uppy", func(t *testing.T) {
		dir := t.TempDir()
		imgs := map[string][]byte{"uppy-a.png": noisePNG(t, 200, 150, 60), "uppy-b.png": noisePNG(t, 150, 200, 61)}
		var files []string
		for n, b := range imgs {
			files = append(files, writeFile(t, dir, n, b))
		}
		sub := "web-uppy"
		var res struct {
			Successful []string `json:"successful"`
			Failed     []struct {
				Name  string `json:"name"`
				Error string `json:"error"`
			} `json:"failed"`
			Completed []struct {
				Name  string     `json:"name"`
				OK    bool       `json:"ok"`
				Error string     `json:"error"`
				File  fileRecord `json:"file"`
			} `json:"completed"`
		}
		runCase(t, node, map[string]any{"case": "uppy", "token": tokenFor(t, sub), "files": files, "allowedPort": allowedPort}, &res)
		if len(res.Successful) != 2 || len(res.Failed) != 0 {
			t.Fatalf("Uppy: successful %v, failed %+v", res.Successful, res.Failed)
		}
		if len(res.Completed) != 2 {
			t.Fatalf("%d completes, want 2", len(res.Completed))
		}
		for _, c := range res.Completed {
			want := sum(imgs[c.Name])
			if !c.OK {
				t.Errorf("%s: complete refused: %s", c.Name, c.Error)
				continue
			}
			var f fileRecord
			if code := jsonCall(t, tokenFor(t, sub), "GET", "/v1/files/"+c.File.ID, nil, &f); code != 200 || f.SHA256 != want || f.Filename != c.Name {
				t.Errorf("%s: GET /v1/files/%s: %d %+v; want sha256 %s", c.Name, c.File.ID, code, f, want)
			}
			if got, err := storedSum(t, c.File.Key); err != nil || got != want {
				t.Errorf("%s: the store holds %s (%v)", c.Name, got, err)
			}
		}
	})
}

// runCase runs one case of browser.mjs and decodes its report into out.
// Screenshots go to a directory kept, and named in the log, when the test
// fails.
func runCase(t *testing.T, node string, in map[string]any, out any) {
	t.Helper()
	in["api"] = srv.APIURL
	in["outDir"] = outDir(t)
	b, _ := json.Marshal(in)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join("test", "browser.mjs"))
	cmd.Dir = filepath.Join(repo, "clients", "js")
	cmd.Stdin = bytes.NewReader(b) // tokens never go on a command line
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("browser case %v: %v\n%s", in["case"], err, stderr.String())
	}
	if err := json.Unmarshal(stdout.Bytes(), out); err != nil {
		t.Fatalf("browser case %v: report is not JSON (%v): %.500s", in["case"], err, stdout.String())
	}
}

func outDir(t *testing.T) string {
	t.Helper()
	base := os.Getenv("SLUICE_BROWSER_OUT")
	if base != "" {
		d := filepath.Join(base, strings.NewReplacer("/", "_", "=", "-").Replace(t.Name()))
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshots in %s", d)
		return d
	}
	d, err := os.MkdirTemp("", "sluice-browser-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("screenshots of the page kept in %s", d)
			return
		}
		os.RemoveAll(d)
	})
	return d
}

// refusedGrant asks for a grant the server must refuse with status, and
// returns its error.
func refusedGrant(t *testing.T, tok, name, ctype string, body []byte, status int) apiError {
	t.Helper()
	var e apiError
	if code := jsonCall(t, tok, "POST", "/v1/uploads", map[string]any{
		"filename": name, "content_type": ctype, "size": len(body), "sha256": sum(body), "method": "PUT",
	}, &e); code != status {
		t.Fatalf("grant for %s: %d, want %d", name, code, status)
	}
	return e
}

// refusedComplete uploads body as ctype and returns complete's refusal.
func refusedComplete(t *testing.T, tok, name, ctype string, body []byte) apiError {
	t.Helper()
	var g struct {
		ID      string            `json:"id"`
		URL     string            `json:"url"`
		Headers map[string]string `json:"headers"`
	}
	if code := jsonCall(t, tok, "POST", "/v1/uploads", map[string]any{
		"filename": name, "content_type": ctype, "size": len(body), "sha256": sum(body), "method": "PUT",
	}, &g); code != 201 {
		t.Fatalf("grant for %s: %d", name, code)
	}
	req, _ := http.NewRequest("PUT", g.URL, bytes.NewReader(body))
	for k, v := range g.Headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var e apiError
	if code := jsonCall(t, tok, "POST", "/v1/uploads/"+g.ID+"/complete", nil, &e); code != 422 {
		t.Fatalf("complete of %s: %d, want 422", name, code)
	}
	return e
}

// served reports whether the server side of a mode is there: proxy needs
// POST /v1/files (option 1), direct needs the STS (option 4).
func served(t *testing.T, mode string) (bool, string) {
	t.Helper()
	switch mode {
	case "proxy":
		var e apiError
		code := call(t, tokenFor(t, "web-probe"), "POST", "/v1/files?filename=probe.png", http.Header{"Content-Type": {"image/png"}}, nil, &e)
		if code == 405 || (code == 404 && e.Error.Code == "route_not_found") {
			return false, "POST /v1/files (option 1, proxied uploads) is not served yet"
		}
	case "direct":
		if srv.STS == nil {
			return false, "POST /sts (option 4, AssumeRoleWithWebIdentity) is not running"
		}
		if code := jsonCall(t, "", "GET", "/v1/sts/config", nil, nil); code != 200 {
			return false, "GET /v1/sts/config (option 4's discovery) is not served"
		}
	}
	return true, ""
}

func skipUnlessServed(t *testing.T, mode string) {
	t.Helper()
	if ok, why := served(t, mode); !ok {
		t.Skipf("mode %q: %s", mode, why)
	}
}
