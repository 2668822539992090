package s3store_test

import (
	"context"
	"testing"

	"github.com/sluicehq/sluice/internal/testutil"
	"github.com/sluicehq/sluice/s3store"
	"github.com/sluicehq/sluice/storetest"
)

// TestConformanceSeaweedFS runs the store suite against a real SeaweedFS:
// the second S3 implementation sluice is tested on, beside versitygw.
func TestConformanceSeaweedFS(t *testing.T) {
	w := testutil.StartSeaweedFS(t)
	w.CreateBucket(t, "sluice-test")
	st, err := s3store.New(context.Background(), s3store.Config{
		Endpoint: w.Endpoint, Region: w.Region, Bucket: "sluice-test", PathStyle: true, PostPolicy: true,
		Credentials: w.Credentials(),
	})
	if err != nil {
		t.Fatal(err)
	}
	// Measured on SeaweedFS 4.53 with static keys: every capability holds.
	storetest.RunWith(t, st, "storetest/", storetest.Full)
}
