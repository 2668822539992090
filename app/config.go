// Package app assembles a running sluice from one Config: store, ledger,
// identity and the HTTP API.
package app

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/oidc"
	"github.com/sluicehq/sluice/reconcile"
	"github.com/sluicehq/sluice/sts"
)

// Config is everything a sluice server is told. Defaults are in Default;
// a YAML file, SLUICE_* environment variables and flags all fill this same
// struct, in that order of precedence (flags win).
type Config struct {
	// Data is the directory for the embedded store, the SQLite ledger and
	// the development issuer's key.
	Data string `yaml:"data"`
	// Addr is the API listener.
	Addr string `yaml:"addr"`
	// S3Addr is the embedded store's S3 listener.
	S3Addr string `yaml:"s3_addr"`
	// PublicS3URL is what presigned URLs point at; default http://S3Addr.
	PublicS3URL string `yaml:"public_s3_url"`
	// Bucket is created on first start.
	Bucket string `yaml:"bucket"`
	Region string `yaml:"region"`
	// CORSOrigins are the browser origins allowed to call the API and the
	// embedded store; "*" allows any.
	CORSOrigins []string `yaml:"cors_origins"`
	// TrustProxy takes client IPs from X-Forwarded-For.
	TrustProxy bool          `yaml:"trust_proxy"`
	Policy     sluice.Policy `yaml:"policy"`
	Identity   Identity      `yaml:"identity"`
	// STS is the AssumeRoleWithWebIdentity endpoint (option 4): roles, the
	// master key file, the revocation cache.
	STS sts.Config `yaml:"sts"`
	// Store selects the object store (see StoreConfig); default embedded.
	Store StoreConfig `yaml:"store"`
	// Ledger selects the ledger (see LedgerConfig); default sqlite.
	Ledger LedgerConfig `yaml:"ledger"`
	// Admin is the admin API and its token (see app/admin.go).
	Admin Admin `yaml:"admin"`
	// Web is the upload page at / (see app/web.go); on with the
	// development issuer, off otherwise unless enabled.
	Web Web `yaml:"web"`
	// Reconcile is the reconciler of orphaned uploads (see reconcile).
	Reconcile reconcile.Config `yaml:"reconcile"`
	// Webhooks receive the outbox's events, signed (see app/reconcile.go).
	Webhooks []Webhook `yaml:"webhooks"`
	// LogFormat is "text" or "json".
	LogFormat string `yaml:"log_format"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `yaml:"log_level"`
}

// Identity configures who may sign in.
type Identity struct {
	Issuers   []oidc.IssuerConfig `yaml:"issuers"`
	Leeway    time.Duration       `yaml:"leeway"`
	JWKSGrace time.Duration       `yaml:"jwks_grace"`
	// DevIssuer turns on the development token issuer. Default: on when
	// no issuer is configured, off otherwise.
	DevIssuer *bool `yaml:"dev_issuer"`
	// SharedSubjects acknowledges that several issuers are trusted whose
	// subjects can never collide. Keys, STS scopes and the reconciler go by
	// users/{sub}/ alone, so the same sub from two issuers would be one
	// folder: the same number at two providers would read each other's
	// files. With more than one issuer sluice refuses to start without it.
	SharedSubjects bool `yaml:"shared_subjects"`
}

// Default is the configuration of `sluice serve` with nothing set: all on
// loopback, everything under ./sluice-data.
func Default() Config {
	return Config{
		Data:      "./sluice-data",
		Addr:      "127.0.0.1:8080",
		S3Addr:    "127.0.0.1:8081",
		Bucket:    "sluice",
		Region:    "us-east-1",
		Policy:    sluice.DefaultPolicy(),
		Identity:  Identity{Leeway: oidc.DefaultLeeway, JWKSGrace: oidc.DefaultJWKSGrace},
		STS:       sts.DefaultConfig(),
		Store:     StoreConfig{Type: StoreEmbedded},
		Ledger:    LedgerConfig{Type: LedgerSQLite},
		Reconcile: reconcile.DefaultConfig(),
		LogFormat: "text",
		LogLevel:  "info",
	}
}

// issuerCount is how many issuers sign tokens this server accepts.
func (c *Config) issuerCount() int {
	n := len(c.Identity.Issuers)
	if c.DevIssuerOn() {
		n++
	}
	return n
}

// DevIssuerOn reports whether the development issuer runs.
func (c *Config) DevIssuerOn() bool {
	if c.Identity.DevIssuer != nil {
		return *c.Identity.DevIssuer
	}
	return len(c.Identity.Issuers) == 0
}

// Validate names the first bad field.
func (c *Config) Validate() error {
	if c.Data == "" {
		return errors.New("data: a data directory is required")
	}
	for name, a := range map[string]string{"addr": c.Addr, "s3_addr": c.S3Addr} {
		if _, _, err := net.SplitHostPort(a); err != nil {
			return fmt.Errorf("%s: %q is not host:port", name, a)
		}
	}
	if c.Bucket == "" {
		return errors.New("bucket: a bucket name is required")
	}
	if err := c.validateBackends(); err != nil {
		return err
	}
	if err := c.Policy.Validate(); err != nil {
		return fmt.Errorf("policy: %s", sluice.ErrorMessage(err))
	}
	if err := c.STS.Validate(); err != nil {
		return err
	}
	if err := c.validateGovernance(); err != nil {
		return err
	}
	if !c.DevIssuerOn() && len(c.Identity.Issuers) == 0 {
		return errors.New("identity.issuers: no issuer configured and the development issuer is off: nobody could sign in")
	}
	if n := c.issuerCount(); n > 1 && !c.Identity.SharedSubjects {
		return fmt.Errorf("identity.shared_subjects: %d issuers are trusted and all share the users/{sub}/ folders, so one sub at two issuers would be one user's files; set it to true only if their subjects cannot collide", n)
	}
	for i, is := range c.Identity.Issuers {
		if is.FirebaseEmulator && !loopbackAddr(c.Addr) {
			return fmt.Errorf("identity.issuers[%d].firebase_emulator: accepts unsigned tokens, so addr must be a loopback address, not %q", i, c.Addr)
		}
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		return fmt.Errorf("log_format: %q is not text or json", c.LogFormat)
	}
	return nil
}

// Load fills cfg from an optional YAML file (--config or SLUICE_CONFIG),
// then SLUICE_* variables, then flags, and validates it. fs must have been
// set up with Flags.
func Load(fs *flag.FlagSet, cfg *Config, args []string, getenv func(string) string) error {
	path := getenv("SLUICE_CONFIG")
	for i, a := range args {
		for _, p := range []string{"-config", "--config"} {
			if a == p && i+1 < len(args) {
				path = args[i+1]
			} else if v, ok := strings.CutPrefix(a, p+"="); ok {
				path = v
			}
		}
	}
	if path != "" {
		if err := loadFile(path, cfg); err != nil {
			return err
		}
	}
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		key := "SLUICE_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := lookup(getenv, key); ok && f.Name != "config" && envErr == nil {
			if err := fs.Set(f.Name, v); err != nil {
				envErr = fmt.Errorf("%s: %w", key, err)
			}
		}
	})
	if envErr != nil {
		return envErr
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return cfg.Validate()
}

func lookup(getenv func(string) string, key string) (string, bool) {
	v := getenv(key)
	return v, v != ""
}

func loadFile(path string, cfg *Config) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	return nil
}

// Flags binds the serve flags to cfg's fields.
func Flags(fs *flag.FlagSet, cfg *Config) {
	fs.String("config", "", "YAML config file (also SLUICE_CONFIG)")
	fs.StringVar(&cfg.Data, "data", cfg.Data, "data directory")
	fs.StringVar(&cfg.Addr, "addr", cfg.Addr, "API listen address")
	fs.StringVar(&cfg.S3Addr, "s3-addr", cfg.S3Addr, "embedded S3 store listen address")
	fs.StringVar(&cfg.PublicS3URL, "public-s3-url", cfg.PublicS3URL, "base URL of the store in presigned URLs (default http://<s3-addr>)")
	fs.StringVar(&cfg.Bucket, "bucket", cfg.Bucket, "bucket name")
	fs.Func("cors-origins", "comma-separated browser origins allowed (\"*\" for any)", func(v string) error {
		cfg.CORSOrigins = splitList(v)
		return nil
	})
	fs.Int64Var(&cfg.Policy.MaxSize, "max-size", cfg.Policy.MaxSize, "largest upload in bytes")
	fs.DurationVar(&cfg.Policy.URLTTL, "url-ttl", cfg.Policy.URLTTL, "lifetime of presigned upload URLs (1s–1h)")
	fs.Func("allowed-types", "comma-separated content types users may upload", func(v string) error {
		cfg.Policy.AllowedTypes = splitList(v)
		return nil
	})
	fs.IntVar(&cfg.Policy.MaxConcurrentUploads, "max-concurrent-uploads", cfg.Policy.MaxConcurrentUploads, "uploads one user may stream through sluice at once (POST /v1/files, tus)")
	fs.StringVar(&cfg.Policy.VerifyAfterUpload, "verify-after-upload", cfg.Policy.VerifyAfterUpload, "what complete reads back: full (HEAD, sniff, hash when the store kept no SHA-256) or head (HEAD only; see docs/COST.md)")
	backendFlags(fs, cfg)
	webFlags(fs, cfg)
	fs.StringVar(&cfg.LogFormat, "log-format", cfg.LogFormat, "log format: text or json")
	fs.StringVar(&cfg.LogLevel, "log-level", cfg.LogLevel, "log level: debug, info, warn, error")
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// loopbackAddr reports whether a listen address can only be reached from
// this machine. "localhost" counts; an empty host (all interfaces) does not.
func loopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
