package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/app"
	"github.com/sluicehq/sluice/httpapi"
	"github.com/sluicehq/sluice/sqlite"
	"github.com/sluicehq/sluice/webhook"
)

// hookSecret signs the package server's webhooks; TestMain hands it over
// in a secret_file, as a deployment should.
const hookSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// hooks receives the package server's webhooks.
var hooks *receiver

// hookConfig is a fast-polling, fast-retrying receiver config whose secret
// is written to secretFile.
func hookConfig(url, secretFile string) app.Webhook {
	if err := os.WriteFile(secretFile, []byte(hookSecret+"\n"), 0o600); err != nil {
		panic(err)
	}
	return app.Webhook{
		Config: webhook.Config{URL: url, Interval: 50 * time.Millisecond, MinBackoff: 100 * time.Millisecond,
			MaxBackoff: 400 * time.Millisecond, Timeout: 5 * time.Second},
		SecretFile: secretFile,
	}
}

// delivery is one POST the receiver acknowledged.
type delivery struct {
	ID     string
	Header http.Header
	Body   []byte
	Type   sluice.EventType
	Data   map[string]any
}

// receiver is a webhook endpoint that checks each signature (with the
// Standard Webhooks Go library) and can be taken down.
type receiver struct {
	*httptest.Server
	mu       sync.Mutex
	down     bool
	refused  int // answered 503 while down
	badSig   int
	received []delivery
}

func startReceiver() *receiver {
	r := &receiver{}
	verifier, err := standardwebhooks.NewWebhook(hookSecret)
	if err != nil {
		panic(err)
	}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.down {
			r.refused++
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
			return
		}
		if err := verifier.Verify(body, req.Header); err != nil {
			r.badSig++
			http.Error(w, "bad signature", http.StatusBadRequest)
			return
		}
		var b struct {
			Type sluice.EventType `json:"type"`
			Data map[string]any   `json:"data"`
		}
		json.Unmarshal(body, &b)
		r.received = append(r.received, delivery{ID: req.Header.Get("webhook-id"), Header: req.Header.Clone(), Body: body, Type: b.Type, Data: b.Data})
	}))
	return r
}

func (r *receiver) setDown(down bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.down = down
}

// about returns the deliveries whose data names subject sub.
func (r *receiver) about(sub string) []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []delivery
	for _, d := range r.received {
		if d.Data["sub"] == sub {
			out = append(out, d)
		}
	}
	return out
}

// byType indexes deliveries by event type, checking that no event ID
// arrived under two types.
func byType(ds []delivery) map[sluice.EventType][]delivery {
	m := map[sluice.EventType][]delivery{}
	for _, d := range ds {
		m[d.Type] = append(m[d.Type], d)
	}
	return m
}

// waitFor polls until cond holds or timeout passes.
func waitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(25 * time.Millisecond)
	}
	return cond()
}

// uploadVia makes one presigned upload through the API at base and
// completes it; it returns the grant and complete's status and file.
func uploadVia(t *testing.T, call func(tok, method, path string, body, out any) int, tok, declared string, body []byte) (httpapi.UploadResponse, int, sluice.File) {
	t.Helper()
	var up httpapi.UploadResponse
	req := httpapi.UploadRequest{Filename: "x", ContentType: declared, Size: int64(len(body)), SHA256: sum(body)}
	if code := call(tok, "POST", "/v1/uploads", req, &up); code != http.StatusCreated {
		t.Fatalf("POST /v1/uploads: %d", code)
	}
	if code := put(t, up, up.Headers, body); code != 200 {
		t.Fatalf("PUT: %d", code)
	}
	var f sluice.File
	code := call(tok, "POST", "/v1/uploads/"+up.ID+"/complete", nil, &f)
	return up, code, f
}

func srvCall(t *testing.T) func(tok, method, path string, body, out any) int {
	return func(tok, method, path string, body, out any) int {
		code, _ := api(t, tok, method, path, body, out)
		return code
	}
}

// TestWebhooksReachAReceiverThatWasDown: file.completed, file.rejected and
// file.deleted, committed while the receiver answers 503, all arrive,
// signed, once it is back; until then nothing is lost or skipped.
func TestWebhooksReachAReceiverThatWasDown(t *testing.T) {
	const sub = "hooked"
	tok := tokenFor(t, sub)
	hooks.setDown(true)
	defer hooks.setDown(false)
	hooks.mu.Lock()
	refusedBefore := hooks.refused
	hooks.mu.Unlock()

	_, code, file := uploadVia(t, srvCall(t), tok, "image/png", pngBytes(t, 401))
	if code != 200 {
		t.Fatalf("complete: %d", code)
	}
	html := []byte("<!DOCTYPE html><html><script>alert(1)</script></html>")
	bad, code, _ := uploadVia(t, srvCall(t), tok, "image/png", html)
	if code != 422 {
		t.Fatalf("complete of HTML declared PNG: %d, want 422", code)
	}
	if code, _ := api(t, tok, "DELETE", "/v1/files/"+file.ID, nil, nil); code != http.StatusNoContent && code != 200 {
		t.Fatalf("DELETE: %d", code)
	}

	// Down: the dispatcher keeps trying (and backing off), nothing lands.
	if !waitFor(5*time.Second, func() bool {
		hooks.mu.Lock()
		defer hooks.mu.Unlock()
		return hooks.refused >= refusedBefore+6
	}) {
		t.Fatal("the dispatcher did not retry while the receiver was down")
	}
	if got := hooks.about(sub); len(got) != 0 {
		t.Fatalf("%d deliveries acknowledged while the receiver was down", len(got))
	}

	hooks.setDown(false)
	if !waitFor(10*time.Second, func() bool { return len(byType(hooks.about(sub))) == 3 }) {
		t.Fatalf("after the receiver came back: %v, want file.completed, file.rejected, file.deleted", byType(hooks.about(sub)))
	}
	got := byType(hooks.about(sub))
	for typ, ds := range got {
		if len(ds) != 1 {
			t.Errorf("%s delivered %d times (one event each)", typ, len(ds))
		}
	}
	if d := got[sluice.EventFileCompleted][0]; d.Data["id"] != file.ID || d.Data["key"] != file.Key || d.Data["iss"] != srv.APIURL+"/dev" {
		t.Errorf("file.completed data %v, want file %s", d.Data, file.ID)
	}
	if d := got[sluice.EventFileRejected][0]; d.Data["grant_id"] != bad.ID || d.Data["code"] != string(sluice.CodeContentMismatch) {
		t.Errorf("file.rejected data %v, want grant %s, content_mismatch", d.Data, bad.ID)
	}
	if d := got[sluice.EventFileDeleted][0]; d.Data["id"] != file.ID || d.Data["deleted_at"] == nil {
		t.Errorf("file.deleted data %v, want file %s", d.Data, file.ID)
	}
	for _, ds := range got {
		d := ds[0]
		if !strings.HasPrefix(d.ID, "evt_") || d.Header.Get("webhook-timestamp") == "" || !strings.HasPrefix(d.Header.Get("webhook-signature"), "v1,") {
			t.Errorf("headers %v", d.Header)
		}
	}
	hooks.mu.Lock()
	defer hooks.mu.Unlock()
	if hooks.badSig != 0 {
		t.Errorf("%d deliveries with a bad signature", hooks.badSig)
	}
}

// TestWebhooksSurviveAKilledProcess: an instance commits uploads with no
// dispatcher running and goes away before delivering anything; a new
// dispatcher on the same ledger file delivers every event. One that a
// dying dispatcher had taken (leased) but not acknowledged is delivered
// again once the lease runs out: at least once, each under its own ID.
func TestWebhooksSurviveAKilledProcess(t *testing.T) {
	cfg := overEmbedded(t)
	cfg.Data = t.TempDir()
	cfg.Reconcile.Interval = 0
	n := startNode(t, cfg, nil) // no webhooks: the dispatcher is "stopped"
	tok, _ := n.Dev.Mint("killed", "", time.Hour, time.Now())
	var files []string
	for i := range 3 {
		_, code, f := uploadVia(t, n.call, tok, "image/png", pngBytes(t, 420+i))
		if code != 200 {
			t.Fatalf("complete %d: %d", i, code)
		}
		files = append(files, f.ID)
	}
	if code := n.call(tok, "DELETE", "/v1/files/"+files[0], nil, nil); code/100 != 2 {
		t.Fatalf("DELETE: %d", code)
	}
	n.Close(context.Background()) // killed between commit and delivery

	l, err := sqlite.Open(filepath.Join(cfg.Data, "ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	rcv := startReceiver()
	defer rcv.Close()
	now := time.Now()
	d, err := webhook.New(webhook.Config{URL: rcv.URL, Secret: hookSecret, Timeout: 5 * time.Second}, l, nil)
	if err != nil {
		t.Fatal(err)
	}
	d.Now = func() time.Time { return now }

	// A dispatcher that took one event and died before acknowledging it.
	taken, err := l.DueEvents(context.Background(), now, 1, 10*time.Second)
	if err != nil || len(taken) != 1 {
		t.Fatalf("DueEvents: %v, %v", taken, err)
	}
	if n, err := d.DeliverDue(context.Background()); err != nil || n != 3 {
		t.Fatalf("first pass after restart: %d delivered, %v; want the 3 not leased", n, err)
	}
	now = now.Add(11 * time.Second) // the dead dispatcher's lease ran out
	if n, err := d.DeliverDue(context.Background()); err != nil || n != 1 {
		t.Fatalf("after the lease: %d delivered, %v; want the leased one", n, err)
	}
	if n, _ := d.DeliverDue(context.Background()); n != 0 {
		t.Errorf("%d delivered again after every event was acknowledged", n)
	}
	got := rcv.about("killed")
	ids := map[string]int{}
	for _, x := range got {
		ids[x.ID]++
	}
	types := byType(got)
	if len(ids) != 4 || len(got) != 4 || len(types[sluice.EventFileCompleted]) != 3 || len(types[sluice.EventFileDeleted]) != 1 {
		t.Errorf("received %d deliveries of %d events (%v), want 3 file.completed and 1 file.deleted, each once", len(got), len(ids), ids)
	}
	if rcv.badSig != 0 {
		t.Errorf("%d bad signatures", rcv.badSig)
	}
}

// TestWebhookNodeVerifies checks the server's signed deliveries with the
// reference JavaScript implementation of Standard Webhooks (npm
// standardwebhooks), and that it refuses a tampered body. Without node or
// the package it skips, unless SLUICE_REQUIRE_NODE=1 (CI).
func TestWebhookNodeVerifies(t *testing.T) {
	_, here, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(here), "..", "testdata", "node")
	missing := func(why string) {
		if os.Getenv("SLUICE_REQUIRE_NODE") == "1" {
			t.Fatalf("SLUICE_REQUIRE_NODE=1 but %s (run npm ci in testdata/node)", why)
		}
		t.Skipf("skipping: %s (run npm ci in testdata/node to enable)", why)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("node is not on PATH")
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "standardwebhooks", "package.json")); err != nil {
		missing("the npm package standardwebhooks is not installed")
	}

	const sub = "nodehooks"
	tok := tokenFor(t, sub)
	_, code, file := uploadVia(t, srvCall(t), tok, "image/jpeg", jpegBytes(t, 430))
	if code != 200 {
		t.Fatalf("complete: %d", code)
	}
	api(t, tok, "DELETE", "/v1/files/"+file.ID, nil, nil)
	if !waitFor(10*time.Second, func() bool { return len(hooks.about(sub)) >= 2 }) {
		t.Fatalf("deliveries: %d, want 2", len(hooks.about(sub)))
	}
	type req struct {
		Headers map[string]string `json:"headers"`
		Body    string            `json:"body"`
	}
	var in struct {
		Secret     string `json:"secret"`
		Deliveries []req  `json:"deliveries"`
	}
	in.Secret = hookSecret
	for _, d := range hooks.about(sub) {
		h := map[string]string{}
		for _, k := range []string{"webhook-id", "webhook-timestamp", "webhook-signature"} {
			h[k] = d.Header.Get(k)
		}
		in.Deliveries = append(in.Deliveries, req{h, string(d.Body)})
	}
	last := in.Deliveries[len(in.Deliveries)-1]
	in.Deliveries = append(in.Deliveries, req{last.Headers, strings.Replace(last.Body, sub, "mallory", 1)})

	raw, _ := json.Marshal(in)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "verify.mjs")
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(raw)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node verify.mjs: %v\n%s", err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != len(in.Deliveries) {
		t.Fatalf("node answered %q for %d deliveries", out, len(in.Deliveries))
	}
	for i, l := range lines[:len(lines)-1] {
		if l != "ok" {
			t.Errorf("delivery %d: standardwebhooks says %q", i, l)
		}
	}
	if l := lines[len(lines)-1]; !strings.HasPrefix(l, "refused") {
		t.Errorf("tampered body: standardwebhooks says %q, want refused", l)
	}
}
