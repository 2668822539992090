package app_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/app"
)

func TestBackendsDefaultToEmbeddedAndSQLite(t *testing.T) {
	cfg, err := load(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Store.Type != app.StoreEmbedded || cfg.Ledger.Type != app.LedgerSQLite {
		t.Errorf("defaults: store %q, ledger %q; want embedded, sqlite", cfg.Store.Type, cfg.Ledger.Type)
	}
}

// A twelve-factor deployment configures everything from its environment.
func TestBackendsFromEnvironment(t *testing.T) {
	cfg, err := load(t, map[string]string{
		"SLUICE_STORE_TYPE": "s3", "SLUICE_S3_ENDPOINT": "http://weed:8333", "SLUICE_S3_PUBLIC_URL": "https://files.example.com",
		"SLUICE_S3_REGION": "eu-west-1", "SLUICE_S3_BUCKET": "uploads", "SLUICE_S3_PATH_STYLE": "true", "SLUICE_S3_POST_POLICY": "true",
		"SLUICE_LEDGER_TYPE": "postgres", "SLUICE_LEDGER_DSN": "postgres://sluice:pw@db/sluice",
	})
	if err != nil {
		t.Fatal(err)
	}
	s3 := cfg.Store.S3
	if cfg.Store.Type != "s3" || s3.Endpoint != "http://weed:8333" || s3.PublicURL != "https://files.example.com" ||
		s3.Region != "eu-west-1" || s3.Bucket != "uploads" || !s3.PathStyle || !s3.PostPolicy {
		t.Errorf("store from env: %+v", cfg.Store)
	}
	if cfg.Ledger.Type != "postgres" || cfg.Ledger.DSN != "postgres://sluice:pw@db/sluice" {
		t.Errorf("ledger from env: %+v", cfg.Ledger)
	}
}

func TestBackendsFromFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "sluice.yaml")
	os.WriteFile(file, []byte(`
store:
  type: s3
  s3:
    region: us-east-2
    bucket: my-uploads
    post_policy: true
ledger:
  type: postgres
  dsn: postgres://sluice@db.internal/sluice?sslmode=verify-full
`), 0o600)
	cfg, err := load(t, map[string]string{"SLUICE_CONFIG": file})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Store.S3.Bucket != "my-uploads" || cfg.Store.S3.Region != "us-east-2" || !cfg.Store.S3.PostPolicy || cfg.Ledger.Type != "postgres" {
		t.Errorf("from file: %+v %+v", cfg.Store, cfg.Ledger)
	}
}

// Half-configured backends are refused, naming the field: an instance that
// quietly kept its own SQLite file while its siblings share Postgres would
// split the ledger.
func TestBackendMistakesNameTheField(t *testing.T) {
	for _, c := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"SLUICE_STORE_TYPE": "minio"}, "store.type"},
		{map[string]string{"SLUICE_STORE_TYPE": "s3"}, "store.s3.bucket"},
		{map[string]string{"SLUICE_S3_BUCKET": "uploads"}, "store.s3"},
		{map[string]string{"SLUICE_LEDGER_TYPE": "mysql"}, "ledger.type"},
		{map[string]string{"SLUICE_LEDGER_TYPE": "postgres"}, "ledger.dsn"},
		{map[string]string{"SLUICE_LEDGER_DSN": "postgres://db/sluice"}, "ledger.dsn"},
	} {
		_, err := load(t, c.env)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want an error naming %s", c.env, err, c.want)
		}
	}
}
