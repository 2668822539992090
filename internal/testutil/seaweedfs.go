package testutil

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// SeaweedFS is a `weed mini` (master, volume, filer and S3 gateway in one
// process) started for one test, on loopback ports of its own. Its S3
// gateway is given an identities file, so only AccessKey/SecretKey get in:
// without one, SeaweedFS lets anybody do anything.
type SeaweedFS struct {
	Endpoint  string // the S3 API, http://127.0.0.1:PORT
	Region    string
	AccessKey string
	SecretKey string
	Dir       string
	cmd       *exec.Cmd
	exited    chan struct{}
}

// WeedBinary returns the `weed` binary named by SLUICE_WEED. Without it the
// test is skipped, unless SLUICE_REQUIRE_SEAWEEDFS=1 (CI), where that is a
// failure. ../shared/tools/seaweedfs-build builds and caches one.
func WeedBinary(t testing.TB) string {
	t.Helper()
	bin := os.Getenv("SLUICE_WEED")
	if bin == "" {
		if os.Getenv("SLUICE_REQUIRE_SEAWEEDFS") == "1" {
			t.Fatal("SLUICE_REQUIRE_SEAWEEDFS=1 but SLUICE_WEED is not set")
		}
		t.Skip("SLUICE_WEED is not set: no SeaweedFS to test against (build one with ../shared/tools/seaweedfs-build)")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("SLUICE_WEED: %v", err)
	}
	return bin
}

// StartSeaweedFS starts SeaweedFS for t and stops it when t ends. It
// returns once the S3 gateway answers signed requests.
func StartSeaweedFS(t testing.TB) *SeaweedFS {
	t.Helper()
	bin := WeedBinary(t)
	dir, err := os.MkdirTemp("", "sluice-weed-")
	if err != nil {
		t.Fatal(err)
	}
	w := &SeaweedFS{
		Region: "us-east-1", Dir: dir,
		AccessKey: "SLUICETEST" + strings.ToUpper(hex.EncodeToString(random(5))),
		SecretKey: hex.EncodeToString(random(20)),
		exited:    make(chan struct{}),
	}
	identities := map[string]any{"identities": []any{map[string]any{
		"name":        "sluice",
		"credentials": []any{map[string]string{"accessKey": w.AccessKey, "secretKey": w.SecretKey}},
		"actions":     []string{"Admin", "Read", "Write", "List", "Tagging"},
	}}}
	b, _ := json.Marshal(identities)
	if err := os.WriteFile(filepath.Join(dir, "s3.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o700); err != nil {
		t.Fatal(err)
	}
	// Every listener gets a port of its own: the defaults (8333, 9333,
	// 8888...) would collide with another test's SeaweedFS.
	port := func() string { a := FreeAddr(t); return a[strings.LastIndexByte(a, ':')+1:] }
	args := []string{"mini", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-dir=" + filepath.Join(dir, "data"),
		"-master.telemetry=false", "-webdav=false", "-admin.ui=false", "-s3.port.iceberg=0", "-s3.port.lance=0",
		"-admin.port.legacy=0", "-s3.config=" + filepath.Join(dir, "s3.json")}
	for _, p := range []string{"master.port", "master.port.grpc", "volume.port", "volume.port.grpc",
		"filer.port", "filer.port.grpc", "s3.port.grpc", "admin.port", "admin.port.grpc"} {
		args = append(args, "-"+p+"="+port())
	}
	s3port := port()
	args = append(args, "-s3.port="+s3port)
	w.Endpoint = "http://127.0.0.1:" + s3port

	logf, err := os.Create(filepath.Join(dir, "weed.log"))
	if err != nil {
		t.Fatal(err)
	}
	w.cmd = exec.Command(bin, args...)
	w.cmd.Dir = dir
	w.cmd.Stdout, w.cmd.Stderr = logf, logf
	w.cmd.SysProcAttr = procAttr()
	if err := w.cmd.Start(); err != nil {
		t.Fatalf("start weed: %v", err)
	}
	go func() { w.cmd.Wait(); logf.Close(); close(w.exited) }()
	t.Cleanup(func() { w.stop(t) })

	if err := w.waitReady(90 * time.Second); err != nil {
		t.Fatalf("SeaweedFS did not become ready: %v\n--- weed.log (tail) ---\n%s", err, w.logTail())
	}
	return w
}

func random(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// Client returns an S3 client with the gateway's credentials.
func (w *SeaweedFS) Client() *s3.Client {
	return s3.New(s3.Options{
		Region: w.Region, BaseEndpoint: aws.String(w.Endpoint), UsePathStyle: true,
		Credentials:                aws.NewCredentialsCache(w.Credentials()),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
}

// Credentials are the gateway's one identity.
func (w *SeaweedFS) Credentials() aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider(w.AccessKey, w.SecretKey, "")
}

// CreateBucket makes a bucket, failing t if it cannot.
func (w *SeaweedFS) CreateBucket(t testing.TB, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := w.Client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("create bucket %s: %v", name, err)
	}
}

// waitReady polls a signed ListBuckets: the S3 port opens before the filer
// behind it can answer.
func (w *SeaweedFS) waitReady(limit time.Duration) error {
	c := w.Client()
	deadline := time.Now().Add(limit)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-w.exited:
			return errors.New("weed exited")
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, last = c.ListBuckets(ctx, &s3.ListBucketsInput{})
		cancel()
		if last == nil {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("after %v: %v", limit, last)
}

func (w *SeaweedFS) logTail() string {
	b, _ := os.ReadFile(filepath.Join(w.Dir, "weed.log"))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(bytes.TrimSpace(b))
}

// stop ends the whole process group gently, then firmly, and removes its
// files.
func (w *SeaweedFS) stop(t testing.TB) {
	pgid := w.cmd.Process.Pid
	syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-w.exited:
	case <-time.After(15 * time.Second):
		syscall.Kill(-pgid, syscall.SIGKILL)
		<-w.exited
	}
	if t.Failed() && os.Getenv("SLUICE_TEST_LOG") != "" {
		t.Logf("--- weed.log (tail) ---\n%s", w.logTail())
	}
	os.RemoveAll(w.Dir)
}
