package embedded_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/s3store"
	"github.com/sluicehq/sluice/storetest"
)

// TestConformanceS3StoreStreams holds both write paths of proxied uploads to
// the one contract, against the same gateway: the embedded store's
// in-process write, and a plain s3store reaching the gateway over HTTP
// (streamed PUT, multipart upload with abort), as it would reach AWS S3.
func TestConformanceS3StoreStreams(t *testing.T) {
	s := start(t, t.TempDir())
	defer s.Close()
	if _, ok := s.Store.(sluice.StreamPutter); !ok {
		t.Fatal("the embedded store cannot take proxied uploads")
	}
	st, err := s3store.New(context.Background(), s3store.Config{
		Endpoint: s.Endpoint, Bucket: "sluice", PathStyle: true, PostPolicy: true,
		Credentials: credentials.NewStaticCredentialsProvider(s.Creds.AccessKeyID, s.Creds.SecretAccessKey, ""),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer st.(interface{ Close() error }).Close()
	storetest.Run(t, st, "storetest-s3/")
}
