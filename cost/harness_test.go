package cost_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/client"
	"github.com/sluicehq/sluice/cost"
)

// The harness runs real uploads, each path with sluice's own Go client,
// against `sluice serve` started as a process of its own (embedded store,
// SQLite ledger), so that the server's CPU can be read from
// /proc/<pid>/stat apart from the client's. Per path it takes deltas of:
//
//   - requests and HTTP body bytes to sluice's API, counted by the
//     client's transport (by host: the store's requests are not sluice's);
//   - sluice_store_requests_total{op} from /metrics: every S3 call the
//     embedded store served, whoever made it, plus sluice's in-process
//     writes; and sluice_proxied_bytes_total;
//   - the server's utime+stime.

var pkgDir, _ = os.Getwd()

// binDir holds the binary this test binary built; TestMain removes it.
var binDir string

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// sluiceBin builds the binary once per test binary, in a directory of its
// own: another test run may be executing its own copy (go build's cache
// makes the build quick).
var sluiceBin = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "sluice-cost-bin-")
	if err != nil {
		return "", err
	}
	binDir = dir
	bin := filepath.Join(dir, "sluice")
	build := exec.Command("go", "build", "-o", bin, "./cmd/sluice")
	build.Dir = filepath.Dir(pkgDir)
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

type server struct {
	cmd  *exec.Cmd
	url  string
	data string
	bin  string
}

func freeAddr(tb testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// harnessConfig turns off what would blur per-upload counts: rate limits
// (the harness is one client at a high rate) and the reconciler's passes,
// whose listing runs on a clock, not per upload (COST.md prices it apart).
const harnessConfig = "policy:\n  rate_limit:\n    per_user_per_minute: 0\n    per_ip_per_minute: 0\nreconcile:\n  interval: 0s\n"

// startServer runs `sluice serve` with harnessConfig and extra flags, and
// returns once it is ready.
func startServer(tb testing.TB, extra ...string) *server {
	return startServerConfig(tb, harnessConfig, extra...)
}

func startServerConfig(tb testing.TB, config string, extra ...string) *server {
	tb.Helper()
	bin, err := sluiceBin()
	if err != nil {
		tb.Fatal(err)
	}
	dir := tb.TempDir()
	conf := filepath.Join(dir, "sluice.yaml")
	if err := os.WriteFile(conf, []byte(config), 0o600); err != nil {
		tb.Fatal(err)
	}
	addr := freeAddr(tb)
	s := &server{url: "http://" + addr, data: filepath.Join(dir, "data"), bin: bin}
	args := append([]string{"serve", "--config", conf, "--data", s.data, "--addr", addr, "--s3-addr", freeAddr(tb),
		"--max-size", strconv.Itoa(128 << 20), "--max-concurrent-uploads", "64", "--log-level", "error"}, extra...)
	s.cmd = exec.Command(bin, args...)
	s.cmd.Stdout, s.cmd.Stderr = io.Discard, os.Stderr
	if err := s.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		s.cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { s.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			s.cmd.Process.Kill()
		}
	})
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get(s.url + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		if time.Now().After(deadline) {
			tb.Fatal("sluice serve did not become ready")
		}
	}
}

func (s *server) token(tb testing.TB, sub string) string {
	tb.Helper()
	out, err := exec.Command(s.bin, "token", "--dev", "--data", s.data, "--sub", sub, "--ttl", "1h").Output()
	if err != nil {
		tb.Fatalf("sluice token: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// cpu is the server's user+system CPU so far, in seconds.
func (s *server) cpu(tb testing.TB) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.cmd.Process.Pid))
	if err != nil {
		tb.Fatal(err)
	}
	// Fields after the command name (which may hold spaces): state is
	// field 3, utime 14, stime 15.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100 // USER_HZ is 100 on Linux
}

// scrape reads the store's request counts and the proxied bytes.
func (s *server) scrape(tb testing.TB) (map[string]float64, float64) {
	resp, err := http.Get(s.url + "/metrics")
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	ops, proxied := map[string]float64{}, 0.0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, `sluice_store_requests_total{op="`); ok {
			op, v, _ := strings.Cut(rest, `"} `)
			ops[op], _ = strconv.ParseFloat(v, 64)
		} else if v, ok := strings.CutPrefix(line, "sluice_proxied_bytes_total "); ok {
			proxied, _ = strconv.ParseFloat(v, 64)
		}
	}
	return ops, proxied
}

// meter counts the client's requests and body bytes to sluice's API.
type meter struct {
	host           string
	reqs, in, outB atomic.Int64
	next           http.RoundTripper
}

func (m *meter) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Host != m.host {
		return m.next.RoundTrip(r)
	}
	m.reqs.Add(1)
	if r.ContentLength > 0 {
		m.in.Add(r.ContentLength)
	}
	resp, err := m.next.RoundTrip(r)
	if err == nil {
		resp.Body = &countBody{ReadCloser: resp.Body, n: &m.outB}
	}
	return resp, err
}

type countBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (c *countBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// snapshot is the counters at one moment.
type snapshot struct {
	reqs, in, out int64
	ops           map[string]float64
	proxied, cpu  float64
	at            time.Time
}

func (s *server) snap(tb testing.TB, m *meter) snapshot {
	ops, proxied := s.scrape(tb)
	return snapshot{reqs: m.reqs.Load(), in: m.in.Load(), out: m.outB.Load(), ops: ops, proxied: proxied, cpu: s.cpu(tb), at: time.Now()}
}

// perUpload is the delta b−a divided by n uploads.
func perUpload(path string, size int64, n int, a, b snapshot) cost.Counts {
	d := float64(n)
	c := cost.Counts{
		Path: path, Size: size, Uploads: n,
		SluiceRequests: float64(b.reqs-a.reqs) / d,
		UploadBytes:    (b.proxied - a.proxied) / d,
		BytesIn:        float64(b.in-a.in) / d, BytesOut: float64(b.out-a.out) / d,
		CPUSeconds:  (b.cpu - a.cpu) / d,
		WallSeconds: b.at.Sub(a.at).Seconds() / d,
		Store:       map[string]float64{},
	}
	for op, v := range b.ops {
		if dv := v - a.ops[op]; dv > 0 {
			c.Store[op] = dv / d
		}
	}
	return c
}

func payload(size int64) []byte {
	b := make([]byte, size)
	rand.Read(b)
	copy(b, "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
	return b
}

// measure uploads n files of size by path as user sub and returns the
// counts per upload. For option 4 one more upload is made first, alone,
// and what it cost beyond an ordinary upload is the session's (the
// discovery call and the STS call).
func measure(tb testing.TB, s *server, path string, size int64, n int, sub string) cost.Counts {
	tb.Helper()
	ctx := context.Background()
	host := strings.TrimPrefix(s.url, "http://")
	m := &meter{host: host, next: &http.Transport{MaxIdleConnsPerHost: 16, DisableCompression: true}}
	c := client.New(s.url, s.token(tb, sub), client.WithHTTPClient(&http.Client{Transport: m}))
	body := payload(size)
	var ids []string
	var direct *client.Direct
	upload := func() {
		r := bytes.NewReader(body)
		var f *sluice.File
		var err error
		opts := client.UploadOptions{ContentType: "image/png"}
		switch path {
		case cost.PathProxy:
			f, err = c.Proxy(ctx, "img.png", r, size, opts)
		case cost.PathTus:
			f, err = c.Resumable(ctx, "img.png", r, size, client.ResumableOptions{UploadOptions: opts})
		case cost.PathPUT:
			f, err = c.UploadReader(ctx, "img.png", r, size, opts)
		case cost.PathPOST:
			opts.Method = sluice.MethodPOST
			f, err = c.UploadReader(ctx, "img.png", r, size, opts)
		case cost.PathSTS:
			_, err = direct.UploadReader(ctx, "img.png", r, size, opts)
		}
		if err != nil {
			tb.Fatalf("%s upload of %d bytes: %v", path, size, err)
		}
		if f != nil {
			ids = append(ids, f.ID)
		}
	}
	var session snapshot
	if path == cost.PathSTS {
		direct = c.Direct(client.CredentialsOptions{})
		session = s.snap(tb, m)
		upload()
	} else {
		upload() // warm-up: connections, the token cache
	}
	a := s.snap(tb, m)
	for range n {
		upload()
	}
	b := s.snap(tb, m)
	out := perUpload(path, size, n, a, b)
	if path == cost.PathSTS {
		first := perUpload(path, size, 1, session, a)
		out.SessionRequests = first.SluiceRequests - out.SluiceRequests
		out.SessionCPUSeconds = max(first.CPUSeconds-out.CPUSeconds, 0)
	}
	for _, id := range ids {
		c.Delete(ctx, id) // after the counting: deletes are no part of an upload
	}
	return out
}
