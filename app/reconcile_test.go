package app_test

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/httpapi"
	"github.com/sluicehq/sluice/sqlite"
)

// filesOf lists sub's files through the API, by key.
func filesOf(t *testing.T, sub string) map[string]*sluice.File {
	t.Helper()
	var list httpapi.FileList
	if code, _ := api(t, tokenFor(t, sub), "GET", "/v1/files?limit=1000", nil, &list); code != 200 {
		t.Fatalf("GET /v1/files: %d", code)
	}
	out := map[string]*sluice.File{}
	for _, f := range list.Files {
		out[f.Key] = f
	}
	return out
}

// TestReconcilePlantedOrphans plants every kind of orphan against the real
// server and shows the end state of a reconciliation run: the valid objects
// are files of their users, the rest are gone, no multipart upload is left,
// and every object under users/ is recorded.
func TestReconcilePlantedOrphans(t *testing.T) {
	ctx := context.Background()
	root := rootS3(t)
	defer clock.Set(0)

	// 1. Presigned PUTs whose clients never called complete: one valid,
	// one not; and a grant nobody used.
	tok := tokenFor(t, "forgetful")
	png := pngBytes(t, 501)
	kept := grant(t, tok, httpapi.UploadRequest{ContentType: "image/png", Size: int64(len(png)), SHA256: sum(png)})
	if code := put(t, kept, kept.Headers, png); code != 200 {
		t.Fatalf("PUT: %d", code)
	}
	html := []byte("<!DOCTYPE html><html><script>alert(1)</script></html>")
	fake := grant(t, tok, httpapi.UploadRequest{ContentType: "image/png", Size: int64(len(html)), SHA256: sum(html)})
	if code := put(t, fake, fake.Headers, html); code != 200 {
		t.Fatalf("PUT: %d", code)
	}
	unused := grant(t, tok, httpapi.UploadRequest{ContentType: "image/png", Size: 100})

	// 2. An object no grant asked for, written with the store's root keys.
	rootKey := "users/rootwritten/" + "hand-placed.png"
	if _, err := root.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("sluice"), Key: aws.String(rootKey),
		Body: bytes.NewReader(pngBytes(t, 502)), ContentType: aws.String("image/png")}); err != nil {
		t.Fatal(err)
	}

	// 3. Written with STS credentials (option 4): a real JPEG, and an HTML
	// page under a .jpg name (the store lets its declared type through).
	c := credsS3(assume(t, tokenFor(t, "stsuser")))
	photo, evil := "users/stsuser/photo.jpg", "users/stsuser/evil.jpg"
	for key, body := range map[string][]byte{photo: jpegBytes(t, 503), evil: html} {
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("sluice"), Key: aws.String(key),
			Body: bytes.NewReader(body), ContentType: aws.String("image/jpeg")}); err != nil {
			t.Fatalf("STS PUT %s: %v", key, err)
		}
	}

	// 4. Half a multipart upload.
	mpKey := "users/halfway/big.png"
	mp, err := root.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("sluice"), Key: aws.String(mpKey), ContentType: aws.String("image/png")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := root.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("sluice"), Key: aws.String(mpKey), UploadId: mp.UploadId,
		PartNumber: aws.Int32(1), Body: bytes.NewReader(make([]byte, 5<<20))}); err != nil {
		t.Fatal(err)
	}
	multipartLeft := func() int {
		out, err := root.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String("sluice"), Prefix: aws.String("users/")})
		if err != nil {
			t.Fatal(err)
		}
		return len(out.Uploads)
	}

	// Now: the grants are still live, so their objects are the clients'
	// to complete, and the multipart upload is young. Only the objects no
	// record knows are settled.
	rep, err := srv.Reconcile(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st := state(t, tok, kept.ID); st.State != sluice.GrantPending {
		t.Errorf("a live grant's object was settled before its URL expired: %s", st.State)
	}
	if multipartLeft() == 0 {
		t.Error("a young multipart upload was aborted")
	}

	// A day later: everything is past its bound.
	clock.Set(25 * time.Hour)
	rep2, err := srv.Reconcile(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("first run: %s\nsecond run: %s", rep, rep2)
	for _, r := range append(rep.Errors, rep2.Errors...) {
		t.Errorf("reconcile error: %s", r)
	}

	if st := state(t, tok, kept.ID); st.State != sluice.GrantComplete {
		t.Errorf("expired grant with a valid object: %s, want complete", st.State)
	}
	if st := state(t, tok, fake.ID); st.State != sluice.GrantRejected || st.Error == nil || st.Error.Code != sluice.CodeContentMismatch {
		t.Errorf("expired grant with HTML for a PNG: %+v, want rejected content_mismatch", st)
	}
	if st := state(t, tok, unused.ID); st.State != sluice.GrantExpired {
		t.Errorf("grant never used: %s, want expired", st.State)
	}
	if _, ok := filesOf(t, "forgetful")[kept.Key]; !ok {
		t.Error("the verified object of an expired grant is not in its user's files")
	}
	if f, ok := filesOf(t, "rootwritten")[rootKey]; !ok || f.ContentType != "image/png" {
		t.Errorf("root-written object: %+v, want a file of users/rootwritten", f)
	}
	sts := filesOf(t, "stsuser")
	if f, ok := sts[photo]; !ok || f.ContentType != "image/jpeg" || f.Size == 0 {
		t.Errorf("STS-written JPEG: %+v, want a file of stsuser", f)
	}
	if _, ok := sts[evil]; ok {
		t.Error("STS-written HTML under .jpg was registered as a file")
	}
	for _, key := range []string{fake.Key, evil} {
		if objectExists(t, key) {
			t.Errorf("%s is still in the store", key)
		}
	}
	for _, key := range []string{kept.Key, rootKey, photo} {
		if !objectExists(t, key) {
			t.Errorf("%s, now a file, is gone from the store", key)
		}
	}
	if n := multipartLeft(); n != 0 {
		t.Errorf("%d multipart uploads remain under users/", n)
	}

	// The user whose object was deleted is told (file.rejected), and the
	// one whose object was kept too (file.completed).
	if !waitFor(10*time.Second, func() bool {
		ts := byType(hooks.about("stsuser"))
		return len(ts[sluice.EventFileCompleted]) == 1 && len(ts[sluice.EventFileRejected]) == 1
	}) {
		t.Errorf("webhooks about stsuser: %v, want one file.completed and one file.rejected", byType(hooks.about("stsuser")))
	}

	// The invariant: every object under users/ is known to the ledger (a
	// file; no grant is pending a day later), and a second run finds
	// nothing to do.
	l, err := sqlite.Open(filepath.Join(srv.Config.Data, "ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	in := &s3.ListObjectsV2Input{Bucket: aws.String("sluice"), Prefix: aws.String("users/")}
	objects := 0
	for {
		out, err := root.ListObjectsV2(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range out.Contents {
			objects++
			if known, err := l.KeyKnown(ctx, aws.ToString(o.Key)); err != nil || !known {
				t.Errorf("%s is under users/ with no ledger record (%v)", aws.ToString(o.Key), err)
			}
		}
		if !aws.ToBool(out.IsTruncated) {
			break
		}
		in.ContinuationToken = out.NextContinuationToken
	}
	if objects == 0 {
		t.Fatal("no objects listed")
	}
	rep3, err := srv.Reconcile(ctx)
	if err != nil || rep3.Registered+rep3.Deleted+rep3.Completed+rep3.Rejected+rep3.Aborted != 0 {
		t.Errorf("a third run still did something: %s, %v", rep3, err)
	}
}

// TestReconcileRunsInServe: `sluice serve` reconciles on its own every
// reconcile.interval. The instance has a bucket of its own on the package
// server's gateway, so its fresh ledger never judges srv's objects.
func TestReconcileRunsInServe(t *testing.T) {
	ctx := context.Background()
	root := rootS3(t)
	bucket := fmt.Sprintf("reconcile-loop-%d", time.Now().UnixNano()%1e9) // its own, also on -count=N
	if _, err := root.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	cfg := overEmbedded(t)
	cfg.Store.S3.Bucket = bucket
	cfg.Reconcile.Interval = 100 * time.Millisecond
	n := startNode(t, cfg, nil)

	good, bad := "users/looped/a.png", "users/looped/b.png"
	for key, body := range map[string][]byte{good: pngBytes(t, 601), bad: []byte("<html>not a png</html>")} {
		if _, err := root.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key),
			Body: bytes.NewReader(body), ContentType: aws.String("image/png")}); err != nil {
			t.Fatal(err)
		}
	}
	tok, _ := n.Dev.Mint("looped", "", time.Hour, time.Now())
	// Both outcomes may take separate runs (an object written just after a
	// run listed the bucket waits for the next), so wait for both.
	var list httpapi.FileList
	badGone := func() bool {
		_, err := root.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(bad)})
		return err != nil
	}
	ok := waitFor(10*time.Second, func() bool {
		n.call(tok, "GET", "/v1/files", nil, &list)
		return len(list.Files) == 1 && badGone()
	})
	if len(list.Files) != 1 || list.Files[0].Key != good {
		t.Fatalf("files of looped: %+v, want only %s", list.Files, good)
	}
	if !ok {
		t.Errorf("%s, not a PNG, is still in the store after 10 s of runs every 100 ms", bad)
	}
}
