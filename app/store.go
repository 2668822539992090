package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/postgres"
	"github.com/sluicehq/sluice/s3store"
	"github.com/sluicehq/sluice/sqlite"
)

// Store and ledger types.
const (
	StoreEmbedded  = "embedded"
	StoreS3        = "s3"
	LedgerSQLite   = "sqlite"
	LedgerPostgres = "postgres"
)

// StoreConfig selects the object store.
type StoreConfig struct {
	// Type is "embedded" (default: versitygw in-process, on local disk,
	// configured by data, s3_addr, public_s3_url and bucket) or "s3" (any
	// S3 API: AWS S3, SeaweedFS, R2, configured by S3).
	Type string `yaml:"type"`
	// S3 is the external store for type s3. Credentials come from the
	// standard AWS chain: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, shared
	// config and AWS_PROFILE, web identity, ECS or EC2 instance roles.
	S3 s3store.Config `yaml:"s3"`
}

// LedgerConfig selects where grants and files are recorded.
type LedgerConfig struct {
	// Type is "sqlite" (default: a file in the data directory, one
	// instance only) or "postgres" (shared by any number of instances).
	Type string `yaml:"type"`
	// DSN is the Postgres connection string (postgres://user:pass@host/db?sslmode=verify-full).
	// It holds a password: prefer SLUICE_LEDGER_DSN to a flag, which
	// other local users can see in the process list.
	DSN string `yaml:"dsn"`
}

// validateBackends checks store and ledger. Half-configured backends are
// errors, not silently the default: an instance that quietly falls back to
// its own SQLite file while its siblings share Postgres would split the
// ledger in two.
func (c *Config) validateBackends() error {
	switch c.Store.Type {
	case StoreEmbedded:
		if s3 := c.Store.S3; s3.Endpoint != "" || s3.PublicURL != "" || s3.Region != "" || s3.Bucket != "" || s3.PathStyle || s3.PostPolicy {
			return errors.New("store.s3: set only with store.type: s3 (store.type is embedded)")
		}
	case StoreS3:
		if c.Store.S3.Bucket == "" {
			return errors.New("store.s3.bucket: a bucket is required with store.type: s3")
		}
	default:
		return fmt.Errorf("store.type: %q is not embedded or s3", c.Store.Type)
	}
	switch c.Ledger.Type {
	case LedgerSQLite:
		if c.Ledger.DSN != "" {
			return errors.New("ledger.dsn: set only with ledger.type: postgres (ledger.type is sqlite)")
		}
	case LedgerPostgres:
		if c.Ledger.DSN == "" {
			return errors.New("ledger.dsn: a Postgres DSN is required with ledger.type: postgres (or SLUICE_LEDGER_DSN)")
		}
	default:
		return fmt.Errorf("ledger.type: %q is not sqlite or postgres", c.Ledger.Type)
	}
	return nil
}

// backendFlags binds the store and ledger settings a twelve-factor
// deployment sets from its environment (SLUICE_STORE_TYPE, SLUICE_S3_*,
// SLUICE_LEDGER_TYPE, SLUICE_LEDGER_DSN).
func backendFlags(fs *flag.FlagSet, cfg *Config) {
	fs.StringVar(&cfg.Store.Type, "store-type", cfg.Store.Type, "object store: embedded or s3")
	fs.StringVar(&cfg.Store.S3.Endpoint, "s3-endpoint", cfg.Store.S3.Endpoint, "S3 API URL sluice calls (store-type s3; empty: AWS S3)")
	fs.StringVar(&cfg.Store.S3.PublicURL, "s3-public-url", cfg.Store.S3.PublicURL, "S3 base URL clients reach, in presigned URLs (default: the endpoint)")
	fs.StringVar(&cfg.Store.S3.Region, "s3-region", cfg.Store.S3.Region, "S3 region (default us-east-1)")
	fs.StringVar(&cfg.Store.S3.Bucket, "s3-bucket", cfg.Store.S3.Bucket, "S3 bucket (store-type s3)")
	fs.BoolVar(&cfg.Store.S3.PathStyle, "s3-path-style", cfg.Store.S3.PathStyle, "address the bucket as ENDPOINT/bucket (SeaweedFS, MinIO) rather than bucket.ENDPOINT")
	fs.BoolVar(&cfg.Store.S3.PostPolicy, "s3-post-policy", cfg.Store.S3.PostPolicy, "the store accepts POST policy (browser form) uploads (AWS S3: yes; R2: no)")
	fs.StringVar(&cfg.Ledger.Type, "ledger-type", cfg.Ledger.Type, "ledger: sqlite or postgres")
	fs.StringVar(&cfg.Ledger.DSN, "ledger-dsn", cfg.Ledger.DSN, "Postgres DSN (ledger-type postgres; prefer SLUICE_LEDGER_DSN)")
}

// openS3 connects to the external store of store.type s3. No gateway runs
// in this process: the bucket and its CORS rules are the operator's (see
// docs/deploy.md; `sluice doctor` checks them). It is not pinged here: an
// unreachable store fails /readyz, and the instance serves once it is back.
func (a *App) openS3(ctx context.Context) (sluice.Store, error) {
	st, err := s3store.New(ctx, a.Config.Store.S3)
	if err != nil {
		return nil, fmt.Errorf("store.s3: %w", err)
	}
	return st, nil
}

// OpenLedger opens the configured ledger, applying any migrations it
// lacks. `sluice migrate` uses it alone.
func OpenLedger(ctx context.Context, cfg Config) (sluice.Ledger, error) {
	if cfg.Ledger.Type == LedgerPostgres {
		return postgres.Open(ctx, cfg.Ledger.DSN)
	}
	data, err := filepath.Abs(cfg.Data)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(data, 0o700); err != nil {
		return nil, err
	}
	return sqlite.Open(filepath.Join(data, "ledger.db"))
}
