package web_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sluicehq/sluice/app"
)

// One real server for the package (versitygw allows one embedded gateway
// per process), with the page on, the development issuer on loopback, and
// one allowed browser origin besides the page's own.
var (
	srv *app.App
	// repo is the repository root, absolute: the embedded store changes
	// the working directory.
	repo string
	// allowedOrigin is in cors_origins; deniedOrigin is not.
	allowedPort, deniedPort int
)

const maxSize = 2 << 20

func allowedOrigin() string { return "http://127.0.0.1:" + strconv.Itoa(allowedPort) }

func TestMain(m *testing.M) {
	wd, err := os.Getwd()
	if err != nil {
		panic(err)
	}
	repo = filepath.Dir(wd)
	dir, err := os.MkdirTemp("", "sluice-web-")
	if err != nil {
		panic(err)
	}
	allowedPort, deniedPort = freePort(), freePort()
	cfg := app.Default()
	cfg.Data = filepath.Join(dir, "data")
	cfg.Addr = "127.0.0.1:0"
	cfg.S3Addr = "127.0.0.1:" + strconv.Itoa(freePort())
	cfg.CORSOrigins = []string{allowedOrigin()}
	cfg.Policy.MaxSize = maxSize
	logw := io.Discard
	if os.Getenv("SLUICE_TEST_LOG") != "" {
		logw = os.Stderr
	}
	srv, err = app.Start(context.Background(), cfg, slog.New(slog.NewTextHandler(logw, nil)))
	if err != nil {
		fmt.Fprintln(os.Stderr, "start:", err)
		os.Exit(1)
	}
	code := m.Run()
	http.DefaultClient.CloseIdleConnections()
	srv.Close(context.Background())
	os.RemoveAll(dir)
	os.Exit(code)
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func tokenFor(t testing.TB, sub string) string {
	t.Helper()
	tok, err := srv.Dev.Mint(sub, sub+"@example.com", time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// apiError is the error shape of every refusal.
type apiError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// call sends a request to the API and decodes a JSON answer into out.
func call(t testing.TB, tok, method, path string, header http.Header, body []byte, out any) int {
	t.Helper()
	req, _ := http.NewRequest(method, srv.APIURL+path, bytes.NewReader(body))
	for k, v := range header {
		req.Header[k] = v
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: %d, not JSON: %.200s", method, path, resp.StatusCode, raw)
		}
	}
	return resp.StatusCode
}

func jsonCall(t testing.TB, tok, method, path string, in, out any) int {
	t.Helper()
	var b []byte
	h := http.Header{}
	if in != nil {
		b, _ = json.Marshal(in)
		h.Set("Content-Type", "application/json")
	}
	return call(t, tok, method, path, h, b, out)
}

// rootS3 reads the bucket behind sluice's back with the store's root keys.
func rootS3(t testing.TB) *s3.Client {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(srv.Config.Data, "store", "credentials.json"))
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		A string `json:"access_key_id"`
		S string `json:"secret_access_key"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	return s3.New(s3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(srv.S3URL), UsePathStyle: true,
		Credentials:                credentials.NewStaticCredentialsProvider(c.A, c.S, ""),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
	})
}

// storedSum is the SHA-256 of the object at key, read from the store.
func storedSum(t testing.TB, key string) (string, error) {
	t.Helper()
	out, err := rootS3(t).GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(srv.Config.Bucket), Key: aws.String(key)})
	if err != nil {
		return "", err
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		return "", err
	}
	return sum(b), nil
}

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// noisePNG is a real image that does not compress, so that its upload
// takes long enough to report progress: w×h pixels of noise from seed.
func noisePNG(t testing.TB, w, h int, seed uint64) []byte {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, seed))
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = uint8(r.Uint32())
	}
	for x := 0; x < w; x++ {
		img.Set(x, 0, color.NRGBA{0, 0, 0, 255})
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// writeFile puts b at dir/name and returns the path.
func writeFile(t testing.TB, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// requireBrowser returns node's path, or skips (fails, with
// SLUICE_REQUIRE_BROWSER=1) when node, Chromium or the npm packages of
// clients/js are missing.
func requireBrowser(t *testing.T) string {
	t.Helper()
	return requireNode(t, true, "playwright-core", "esbuild", "@uppy/aws-s3", "@aws-sdk/client-sts")
}

// requireNode is requireBrowser for node and the given packages of
// clients/js, and Chromium only when chromium is set.
func requireNode(t *testing.T, chromium bool, modules ...string) string {
	t.Helper()
	var missing []string
	node, err := exec.LookPath("node")
	if err != nil {
		missing = append(missing, "node")
	}
	if chromium {
		if _, err := os.Stat(chromiumPath()); err != nil {
			missing = append(missing, chromiumPath()+" (apt-get install chromium)")
		}
	}
	for _, m := range modules {
		if _, err := os.Stat(filepath.Join(repo, "clients", "js", "node_modules", m, "package.json")); err != nil {
			missing = append(missing, "clients/js/node_modules/"+m+" (cd clients/js && npm ci)")
		}
	}
	if len(missing) > 0 {
		if os.Getenv("SLUICE_REQUIRE_BROWSER") == "1" {
			t.Fatalf("SLUICE_REQUIRE_BROWSER=1 but missing: %v", missing)
		}
		t.Skipf("needs %v (.ci/run installs them; SLUICE_REQUIRE_BROWSER=1 turns this skip into a failure)", missing)
	}
	return node
}

func chromiumPath() string {
	if p := os.Getenv("SLUICE_CHROMIUM"); p != "" {
		return p
	}
	return "/usr/bin/chromium"
}
