package app

import (
	"path/filepath"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sluicehq/sluice/httpapi"
	"github.com/sluicehq/sluice/metrics"
	"github.com/sluicehq/sluice/tus"
)

// observer is the metrics as the service's Observer, counting the bytes
// of uploads through sluice as well (sluice.ByteCounter).
type observer struct{ *metrics.Metrics }

func (o observer) BytesThrough(n int64) { o.BytesProxied.Add(float64(n)) }

// resumable builds the tus handler, which writes with tusd's S3 store
// through the sluice store's own S3 client and bucket; nil when the store
// offers no S3 API.
func (a *App) resumable() (httpapi.Resumable, error) {
	st, ok := a.Service.Store.(interface {
		Client() *s3.Client
		Bucket() string
	})
	if !ok {
		return nil, nil
	}
	h, err := tus.New(tus.Config{
		Service: a.Service, S3: st.Client(), Bucket: st.Bucket(), BasePath: "/v1/tus/",
		TempDir: filepath.Join(a.Config.Data, "tmp", "tus"), TrustProxy: a.Config.TrustProxy, Log: a.Log,
	})
	if err != nil {
		return nil, err
	}
	return h, nil
}
