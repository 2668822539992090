// Package embedded runs an S3-compatible store (versitygw) inside the sluice
// process, keeping objects as plain files under the data directory. It is the
// zero-setup default: real SigV4, real presigned URLs and POST policies, real
// conditional writes, with no other process to install.
package embedded

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/versity/versitygw/auth"
	"github.com/versity/versitygw/backend/meta"
	"github.com/versity/versitygw/backend/posix"
	"github.com/versity/versitygw/embedgw"
	"github.com/versity/versitygw/s3api"
	"golang.org/x/sys/unix"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/secretfile"
	"github.com/sluicehq/sluice/s3store"
)

// Config of the embedded store.
type Config struct {
	// Dir is where objects, metadata and the root credentials live. It is
	// made absolute: the posix backend changes the process's working
	// directory to its root.
	Dir string
	// Addr is the S3 listener, e.g. 127.0.0.1:8081.
	Addr string
	// PublicURL is what presigned URLs point at; defaults to http://Addr.
	PublicURL string
	Bucket    string
	Region    string
	// CORSOrigins may call the store from a browser ("*" for any).
	CORSOrigins []string
	// IAM, when set, is the gateway's IAM service: an *IAM makes it honour
	// the STS's temporary credentials. Nil leaves versitygw's single-account
	// mode (root only).
	IAM auth.IAMService
	// SessionLimits, when set, is the upload policy the store enforces on
	// session-signed writes where it can (see SessionLimits).
	SessionLimits *SessionLimits
	// OnRequest, when set, is told the S3 operation (OpPutObject,
	// OpHeadObject, ...) of every request the store serves: those to its
	// S3 listener and the writes sluice makes in-process (proxied uploads).
	// It is called inline and must be quick (a counter).
	OnRequest func(op string)
}

// Server is a running embedded store.
type Server struct {
	Store    sluice.Store
	Endpoint string
	Creds    Credentials
	backend  *posix.Posix
	cancel   context.CancelFunc
	done     chan error
}

// Credentials are the store's root keys, generated on first start.
type Credentials struct {
	AccessKeyID     string `json:"access_key_id"`
	SecretAccessKey string `json:"secret_access_key"`
}

// Start runs the gateway and returns once it answers, with the bucket made
// and its CORS rules set. Only one can run per process (a versitygw limit).
func Start(ctx context.Context, cfg Config) (*Server, error) {
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, err
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	objects, metaDir := filepath.Join(dir, "objects"), filepath.Join(dir, "meta")
	for _, d := range []string{dir, objects} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	creds, err := loadOrCreateCredentials(filepath.Join(dir, "credentials.json"))
	if err != nil {
		return nil, err
	}
	ms, err := metadataStore(objects, metaDir)
	if err != nil {
		return nil, err
	}
	opts := posix.PosixOpts{Concurrency: 5000, CopyObjectThreshold: 5 << 30}
	opts.SetNewDirPerm(0o700)
	opts.SetNewFilePerm(0o600)
	be, err := posix.New(objects, ms, opts)
	if err != nil {
		return nil, fmt.Errorf("embedded store: %w", err)
	}

	runCtx, cancel := context.WithCancel(context.Background())
	s := &Server{Endpoint: "http://" + cfg.Addr, Creds: creds, backend: be, cancel: cancel, done: make(chan error, 1)}
	go func() {
		s.done <- embedgw.RunVersityGW(runCtx, be, &embedgw.Config{
			RootUserAccess: creds.AccessKeyID, RootUserSecret: creds.SecretAccessKey,
			Region: cfg.Region, Ports: []string{cfg.Addr},
			// Zero means "nothing allowed" in versitygw, not "unlimited".
			MaxConnections: 10000, MaxRequests: 5000, MultipartMaxParts: 10000,
			Quiet: true, KeepAlive: true,
			IAMService: cfg.IAM, S3Options: s3Options(cfg),
			// Never public: anonymous requests on a public bucket skip
			// signature checks altogether.
		})
	}()
	if err := s.waitReady(ctx, cfg.Addr); err != nil {
		s.Close()
		return nil, err
	}
	public := cfg.PublicURL
	if public == "" {
		public = s.Endpoint
	}
	st, err := s3store.New(ctx, s3store.Config{
		Endpoint: s.Endpoint, PublicURL: public, Region: cfg.Region, Bucket: cfg.Bucket,
		PathStyle: true, PostPolicy: true,
		Credentials: credentials.NewStaticCredentialsProvider(creds.AccessKeyID, creds.SecretAccessKey, ""),
	})
	if err != nil {
		s.Close()
		return nil, err
	}
	s.Store = newStore(st, be, cfg.Bucket, cfg.OnRequest)
	if err := s.setupBucket(ctx, cfg); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// metadataStore keeps object metadata in extended attributes where the file
// system has them, else in a sidecar directory beside the objects.
func metadataStore(objects, metaDir string) (meta.MetadataStorer, error) {
	probe := filepath.Join(objects, ".xattr-probe")
	f, err := os.Create(probe)
	if err != nil {
		return nil, err
	}
	f.Close()
	defer os.Remove(probe)
	if unix.Setxattr(probe, "user.sluice-probe", []byte("1"), 0) == nil {
		return meta.XattrMeta{}, nil
	}
	if err := os.MkdirAll(metaDir, 0o700); err != nil {
		return nil, err
	}
	return meta.NewSideCar(metaDir)
}

func (s *Server) waitReady(ctx context.Context, addr string) error {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-s.done:
			s.done <- err
			return fmt.Errorf("embedded store stopped at start: %w", err)
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return fmt.Errorf("embedded store did not start listening on %s", addr)
}

func (s *Server) setupBucket(ctx context.Context, cfg Config) error {
	c := s.Store.(interface{ Client() *s3.Client }).Client()
	_, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(cfg.Bucket)})
	var owned *types.BucketAlreadyOwnedByYou
	var exists *types.BucketAlreadyExists
	if err != nil && !errors.As(err, &owned) && !errors.As(err, &exists) {
		return fmt.Errorf("embedded store: create bucket %q: %w", cfg.Bucket, err)
	}
	if len(cfg.CORSOrigins) == 0 {
		// Rules left by an earlier start must not outlive the config.
		_, err = c.DeleteBucketCors(ctx, &s3.DeleteBucketCorsInput{Bucket: aws.String(cfg.Bucket)})
		if err != nil {
			return fmt.Errorf("embedded store: remove CORS: %w", err)
		}
		return nil
	}
	_, err = c.PutBucketCors(ctx, &s3.PutBucketCorsInput{
		Bucket: aws.String(cfg.Bucket),
		CORSConfiguration: &types.CORSConfiguration{CORSRules: []types.CORSRule{{
			AllowedOrigins: cfg.CORSOrigins,
			AllowedMethods: []string{"GET", "PUT", "POST", "HEAD"},
			AllowedHeaders: []string{"*"},
			ExposeHeaders:  []string{"ETag", "x-amz-checksum-sha256", "x-amz-request-id"},
			MaxAgeSeconds:  aws.Int32(600),
		}}},
	})
	if err != nil {
		return fmt.Errorf("embedded store: set CORS: %w", err)
	}
	return nil
}

// Close stops the gateway and waits for it.
func (s *Server) Close() error {
	// versitygw waits (up to 10 s) for open connections; ours are idle.
	if c, ok := s.Store.(interface{ Close() error }); ok {
		c.Close()
	}
	s.cancel()
	select {
	case err := <-s.done:
		if errors.Is(err, context.Canceled) {
			err = nil
		}
		s.backend.Shutdown()
		return err
	case <-time.After(10 * time.Second):
		return errors.New("embedded store did not stop in time")
	}
}

func loadOrCreateCredentials(path string) (Credentials, error) {
	var c Credentials
	b, err := os.ReadFile(path)
	if err == nil {
		if err := json.Unmarshal(b, &c); err != nil || c.AccessKeyID == "" || c.SecretAccessKey == "" {
			return c, fmt.Errorf("embedded store: %s is damaged; remove it to make new keys", path)
		}
		return c, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return c, err
	}
	c = Credentials{
		AccessKeyID:     "SLUICE" + base32.StdEncoding.EncodeToString(random(10))[:14],
		SecretAccessKey: base64.RawURLEncoding.EncodeToString(random(30)),
	}
	b, _ = json.MarshalIndent(c, "", "  ")
	if err := secretfile.Create(path, b); err != nil {
		return c, err
	}
	// Another process may have created it first: use what is on disk.
	return loadOrCreateCredentials(path)
}

func random(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return b
}

func s3Options(cfg Config) []s3api.Option {
	var opts []s3api.Option
	if cfg.OnRequest != nil {
		// First, so that requests the guard refuses are counted too.
		opts = append(opts, counterOption(cfg.OnRequest))
	}
	if cfg.SessionLimits != nil {
		opts = append(opts, guardOption(*cfg.SessionLimits))
	}
	return opts
}
