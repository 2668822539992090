package app_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/cli"
	"github.com/sluicehq/sluice/httpapi"
)

// The proxy benchmarks run `sluice serve` as a process of its own, so that
// its memory (VmHWM) is the server's alone and its CPU is not the
// benchmark client's; the client sends from memory over loopback.
//
//	go test -run '^$' -bench 'Proxy' -benchtime 10x ./app/

const benchPayload = 64 << 20

// pkgDir is this package's directory, taken before TestMain starts the
// embedded store, whose backend changes the process's working directory.
var pkgDir, _ = os.Getwd()

// serverProc is a `sluice serve` process.
type serverProc struct {
	cmd  *exec.Cmd
	url  string
	data string
	once sync.Once
}

// sluiceBin builds the sluice binary once per test binary, at one fixed
// place that each run overwrites (go build's cache makes it quick).
var sluiceBin = sync.OnceValues(func() (string, error) {
	dir := filepath.Join(os.TempDir(), "sluice-bench-bin")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "sluice")
	build := exec.Command("go", "build", "-o", bin, "./cmd/sluice")
	build.Dir = filepath.Dir(pkgDir)
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// startServerProc starts `sluice serve` on a data directory of its own,
// with a maximum size that fits the payload and a per-user limit that
// does not get in the way, and returns once it is ready.
func startServerProc(b *testing.B) *serverProc {
	b.Helper()
	bin, err := sluiceBin()
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	addr, s3addr := freeAddr(), freeAddr()
	data := filepath.Join(dir, "data")
	cmd := exec.Command(bin, "serve", "--data", data, "--addr", addr, "--s3-addr", s3addr,
		"--max-size", strconv.Itoa(2*benchPayload), "--max-concurrent-uploads", "64", "--log-level", "warn")
	cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	p := &serverProc{cmd: cmd, url: "http://" + addr, data: data}
	b.Cleanup(p.stop)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get(p.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
		if time.Now().After(deadline) {
			b.Fatal("sluice serve did not become ready")
		}
	}
}

// stop interrupts the server and waits for it; calling it again is harmless.
func (p *serverProc) stop() {
	p.once.Do(func() {
		p.cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { p.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			p.cmd.Process.Kill()
		}
	})
}

// token mints a development token with `sluice token --dev`.
func (p *serverProc) token(b *testing.B, sub string) string {
	b.Helper()
	var out, errw bytes.Buffer
	e := &cli.Env{Stdout: &out, Stderr: &errw, Stdin: strings.NewReader(""), Getenv: func(string) string { return "" }}
	if code := cli.Run(context.Background(), e, []string{"token", "--dev", "--data", p.data, "--sub", sub}); code != 0 {
		b.Fatalf("sluice token: %s", errw.String())
	}
	return strings.TrimSpace(out.String())
}

// status reads a field of /proc/<pid>/status in KiB (VmRSS, VmHWM).
func (p *serverProc) status(b *testing.B, field string) int64 {
	b.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	b.Fatalf("no %s in /proc/%d/status", field, p.cmd.Process.Pid)
	return 0
}

// resetHWM makes VmHWM start again from the current RSS.
func (p *serverProc) resetHWM(b *testing.B) {
	b.Helper()
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", p.cmd.Process.Pid), []byte("5"), 0); err != nil {
		b.Fatalf("reset VmHWM: %v", err)
	}
}

var benchClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}}

// benchProxy uploads payload with POST /v1/files.
func benchProxy(b *testing.B, p *serverProc, tok string, payload []byte, sha string) string {
	req, _ := http.NewRequest("POST", p.url+"/v1/files", bytes.NewReader(payload))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "image/png")
	req.Header.Set("X-Checksum-Sha256", sha)
	resp, err := benchClient.Do(req)
	if err != nil {
		b.Error(err)
		return ""
	}
	defer resp.Body.Close()
	var f struct{ ID string }
	json.NewDecoder(resp.Body).Decode(&f)
	if resp.StatusCode != http.StatusCreated {
		b.Errorf("proxy upload: %d", resp.StatusCode)
	}
	return f.ID
}

// benchDirect uploads payload the presigned way: grant, PUT to the store,
// complete.
func benchDirect(b *testing.B, p *serverProc, tok string, payload []byte, sha string) string {
	call := func(method, path string, in, out any) int {
		var body io.Reader
		if in != nil {
			j, _ := json.Marshal(in)
			body = bytes.NewReader(j)
		}
		req, _ := http.NewRequest(method, p.url+path, body)
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		resp, err := benchClient.Do(req)
		if err != nil {
			b.Error(err)
			return 0
		}
		defer resp.Body.Close()
		if out != nil {
			json.NewDecoder(resp.Body).Decode(out)
		}
		return resp.StatusCode
	}
	var up httpapi.UploadResponse
	if code := call("POST", "/v1/uploads", httpapi.UploadRequest{ContentType: "image/png", Size: int64(len(payload)), SHA256: sha}, &up); code != 201 {
		b.Errorf("grant: %d", code)
		return ""
	}
	req, _ := http.NewRequest("PUT", up.URL, bytes.NewReader(payload))
	for k, v := range up.Headers {
		req.Header.Set(k, v)
	}
	resp, err := benchClient.Do(req)
	if err != nil {
		b.Error(err)
		return ""
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		b.Errorf("presigned PUT: %d", resp.StatusCode)
	}
	if code := call("POST", "/v1/uploads/"+up.ID+"/complete", nil, nil); code != 200 {
		b.Errorf("complete: %d", code)
	}
	return up.ID
}

func (p *serverProc) remove(tok, id string) {
	req, _ := http.NewRequest("DELETE", p.url+"/v1/files/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	if resp, err := benchClient.Do(req); err == nil {
		resp.Body.Close()
	}
}

// BenchmarkProxyVsPresigned times a 64 MiB upload through POST /v1/files
// and the same bytes by the presigned route (grant, PUT to the store,
// complete), alternately, to the same store in the same run. Both declare
// the SHA-256. Reports MB/s (10^6 bytes) of each and their ratio; the
// target is proxy >= 0.85x direct.
func BenchmarkProxyVsPresigned(b *testing.B) {
	p := startServerProc(b)
	payload := bigPNG(benchPayload)
	sha := sum(payload)
	for _, conc := range []int{1, 8} {
		b.Run(fmt.Sprintf("concurrent-%d", conc), func(b *testing.B) {
			toks := make([]string, conc)
			for i := range toks {
				toks[i] = p.token(b, fmt.Sprintf("bench-%d", i))
			}
			round := func(up func(*testing.B, *serverProc, string, []byte, string) string) time.Duration {
				var wg sync.WaitGroup
				start := time.Now()
				ids := make([]string, conc)
				for i := 0; i < conc; i++ {
					wg.Add(1)
					go func() { defer wg.Done(); ids[i] = up(b, p, toks[i], payload, sha) }()
				}
				wg.Wait()
				d := time.Since(start)
				for i, id := range ids {
					p.remove(toks[i], id)
				}
				return d
			}
			round(benchDirect) // warm-up, not counted
			round(benchProxy)
			var direct, proxy time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				direct += round(benchDirect)
				proxy += round(benchProxy)
			}
			b.StopTimer()
			bytes := float64(b.N) * float64(conc) * benchPayload
			b.ReportMetric(bytes/direct.Seconds()/1e6, "direct-MB/s")
			b.ReportMetric(bytes/proxy.Seconds()/1e6, "proxy-MB/s")
			b.ReportMetric(direct.Seconds()/proxy.Seconds(), "proxy/direct")
		})
	}
}

// BenchmarkProxyRSS measures the server's peak RSS (VmHWM, reset first)
// with 32 concurrent 64 MiB proxy uploads, minus its RSS when idle after a
// warm-up upload, per upload. Each iteration starts a fresh server: a
// second round would start from the buffers the first one left behind.
func BenchmarkProxyRSS(b *testing.B) {
	const conc = 32
	payload := bigPNG(benchPayload)
	sha := sum(payload)
	var total float64
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		p := startServerProc(b)
		toks := make([]string, conc)
		for j := range toks {
			toks[j] = p.token(b, fmt.Sprintf("rss-%d", j))
		}
		p.remove(toks[0], benchProxy(b, p, toks[0], payload, sha)) // warm-up
		time.Sleep(time.Second)
		idle := p.status(b, "VmRSS")
		p.resetHWM(b)
		b.StartTimer()
		var wg sync.WaitGroup
		ids := make([]string, conc)
		for j := 0; j < conc; j++ {
			wg.Add(1)
			go func() { defer wg.Done(); ids[j] = benchProxy(b, p, toks[j], payload, sha) }()
		}
		wg.Wait()
		b.StopTimer()
		peak := p.status(b, "VmHWM")
		per := float64(peak-idle) / conc
		total += per
		b.Logf("round %d: idle %d KiB, peak %d KiB: %.0f KiB per upload", i+1, idle, peak, per)
		p.stop()
	}
	b.ReportMetric(total/float64(b.N), "KiB/upload")
}
