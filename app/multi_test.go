package app_test

import (
	"context"
	"io"
	"net/http"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/app"
	"github.com/sluicehq/sluice/httpapi"
	"github.com/sluicehq/sluice/internal/testutil"
)

// TestTwoInstancesShareSeaweedFSAndPostgres is the production shape: two
// stateless sluice instances over one SeaweedFS and one Postgres, trusting
// one issuer. Whatever one instance starts, the other finishes.
func TestTwoInstancesShareSeaweedFSAndPostgres(t *testing.T) {
	dsn := testutil.PostgresDSN(t)
	w := testutil.StartSeaweedFS(t)
	const bucket = "sluice-multi"
	w.CreateBucket(t, bucket)
	issuer := startIssuer(t)

	cfg := app.Default()
	cfg.Data = "" // each node its own temp dir: instances share only store and ledger
	cfg.Store.Type = app.StoreS3
	cfg.Store.S3.Endpoint, cfg.Store.S3.Region, cfg.Store.S3.Bucket = w.Endpoint, w.Region, bucket
	cfg.Store.S3.PathStyle, cfg.Store.S3.PostPolicy = true, true
	cfg.Store.S3.Credentials = w.Credentials()
	cfg.Ledger.Type, cfg.Ledger.DSN = app.LedgerPostgres, dsn
	issuer.trust(&cfg)
	a, b := startNode(t, cfg, nil), startNode(t, cfg, nil)
	alice, bob := issuer.token(t, "alice"), issuer.token(t, "bob")

	for _, n := range []*node{a, b} {
		if code := n.call("", "GET", "/readyz", nil, nil); code != 200 {
			t.Fatalf("%s /readyz: %d", n.APIURL, code)
		}
	}

	var putFile sluice.File
	t.Run("PUT granted by one, completed through the other", func(t *testing.T) {
		body := pngBytes(t, 71)
		up := a.grant(alice, body, "PUT")
		if code := send(t, up, body); code != 200 {
			t.Fatalf("PUT to SeaweedFS: %d", code)
		}
		if code := b.call(alice, "POST", "/v1/uploads/"+up.ID+"/complete", nil, &putFile); code != 200 {
			t.Fatalf("complete through the other instance: %d", code)
		}
		var g httpapi.GrantResponse
		if a.call(alice, "GET", "/v1/uploads/"+up.ID, nil, &g); g.State != sluice.GrantComplete {
			t.Errorf("the issuing instance sees state %q, want complete", g.State)
		}
		head, err := w.Client().HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(up.Key)})
		if err != nil || aws.ToInt64(head.ContentLength) != int64(len(body)) {
			t.Errorf("object in SeaweedFS: %v, %v", head, err)
		}
		var link httpapi.ContentURL
		if code := b.call(alice, "GET", "/v1/files/"+putFile.ID+"/content?redirect=false", nil, &link); code != 200 {
			t.Fatalf("content URL: %d", code)
		}
		resp, err := http.Get(link.URL)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || sum(got) != sum(body) {
			t.Errorf("download: %d, %d bytes; want the uploaded bytes", resp.StatusCode, len(got))
		}
	})

	t.Run("POST form granted by one, completed through the other", func(t *testing.T) {
		body := pngBytes(t, 72)
		up := b.grant(alice, body, "POST")
		if code := send(t, up, body); code/100 != 2 {
			t.Fatalf("POST form to SeaweedFS: %d", code)
		}
		if code := a.call(alice, "POST", "/v1/uploads/"+up.ID+"/complete", nil, nil); code != 200 {
			t.Fatalf("complete: %d", code)
		}
	})

	t.Run("racing completes on both agree", func(t *testing.T) {
		body := pngBytes(t, 73)
		up := a.grant(alice, body, "PUT")
		if code := send(t, up, body); code != 200 {
			t.Fatalf("PUT: %d", code)
		}
		var wg sync.WaitGroup
		files := make([]sluice.File, 8)
		codes := make([]int, 8)
		for i := range files {
			n := []*node{a, b}[i%2]
			wg.Go(func() { codes[i] = n.call(alice, "POST", "/v1/uploads/"+up.ID+"/complete", nil, &files[i]) })
		}
		wg.Wait()
		for i := range files {
			if codes[i] != 200 || files[i].ID != up.ID || files[i].SHA256 != sum(body) {
				t.Errorf("complete %d: %d %+v", i, codes[i], files[i])
			}
		}
	})

	t.Run("a rejection is the same answer everywhere", func(t *testing.T) {
		body := jpegBytes(t, 74) // declared PNG below, no checksum: only sniffing catches it
		var up httpapi.UploadResponse
		req := httpapi.UploadRequest{Filename: "p.png", ContentType: "image/png", Size: int64(len(body))}
		if code := a.call(alice, "POST", "/v1/uploads", req, &up); code != http.StatusCreated {
			t.Fatalf("grant: %d", code)
		}
		if code := send(t, up, body); code != 200 {
			t.Fatalf("PUT: %d", code)
		}
		for _, n := range []*node{b, a} {
			var e apiError
			if code := n.call(alice, "POST", "/v1/uploads/"+up.ID+"/complete", nil, &e); code != http.StatusUnprocessableEntity || e.Error.Code != string(sluice.CodeContentMismatch) {
				t.Errorf("complete on %s: %d %+v, want 422 content_mismatch", n.APIURL, code, e)
			}
		}
	})

	t.Run("one user's files are the same list everywhere, and no one else's", func(t *testing.T) {
		var la, lb httpapi.FileList
		a.call(alice, "GET", "/v1/files", nil, &la)
		b.call(alice, "GET", "/v1/files", nil, &lb)
		if len(la.Files) != 3 || len(lb.Files) != 3 {
			t.Fatalf("alice's files: %d on one instance, %d on the other; want 3 on both", len(la.Files), len(lb.Files))
		}
		if code := b.call(bob, "GET", "/v1/files/"+putFile.ID, nil, nil); code != http.StatusNotFound {
			t.Errorf("bob reading alice's file: %d, want 404", code)
		}
		if code := a.call(alice, "DELETE", "/v1/files/"+putFile.ID, nil, nil); code != http.StatusNoContent {
			t.Fatalf("delete: %d", code)
		}
		if code := b.call(alice, "GET", "/v1/files/"+putFile.ID, nil, nil); code != http.StatusNotFound {
			t.Errorf("file deleted through one instance is still there through the other: %d", code)
		}
	})
}
