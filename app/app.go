package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/embedded"
	"github.com/sluicehq/sluice/httpapi"
	"github.com/sluicehq/sluice/metrics"
	"github.com/sluicehq/sluice/oidc"
	"github.com/sluicehq/sluice/reconcile"
	"github.com/sluicehq/sluice/sts"
)

// App is a running sluice server.
type App struct {
	Config  Config
	Service *sluice.Service
	// APIURL is the base URL of the API, e.g. http://127.0.0.1:8080.
	APIURL string
	// S3URL is the store's S3 endpoint (the embedded one, or store.s3's).
	S3URL string
	// Metrics are the server's Prometheus series, served at /metrics.
	Metrics *metrics.Metrics
	// Dev is the development issuer, nil when off.
	Dev *oidc.DevIssuer
	// STS is the AssumeRoleWithWebIdentity endpoint, nil when off.
	STS *sts.Service
	// Reconciler settles orphans every reconcile.interval; nil when the
	// ledger cannot be reconciled.
	Reconciler *reconcile.Reconciler
	Log        *slog.Logger

	store   *embedded.Server // nil unless store.type is embedded
	iam     *embedded.IAM    // the embedded store's, nil with an external store
	objects sluice.Store     // the store in use, embedded or external
	ledger  sluice.Ledger
	http    *http.Server
	done    chan error
	bg      *background // reconciler and webhook dispatcher
}

// DevIssuerDir is where the development issuer keeps its key and URL.
func DevIssuerDir(data string) string { return filepath.Join(data, "dev-issuer") }

// NewLogger builds the process logger from the config.
func NewLogger(cfg Config, w io.Writer) *slog.Logger {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		lvl = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: lvl}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// Start brings up the store, ledger, identity and API, and returns once
// the API is listening. Close stops it all.
func Start(ctx context.Context, cfg Config, log *slog.Logger) (*App, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	data, err := filepath.Abs(cfg.Data)
	if err != nil {
		return nil, err
	}
	cfg.Data = data
	if err := os.MkdirAll(data, 0o700); err != nil {
		return nil, err
	}
	a := &App{Config: cfg, Log: log, Metrics: metrics.New(), done: make(chan error, 1)}
	ok := false
	defer func() {
		if !ok {
			a.Close(context.Background())
		}
	}()

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("addr: %w", err)
	}
	a.APIURL = localURL(ln.Addr())

	// versitygw runs once per process; with store.type s3 none is started,
	// so several instances can share a process (the multi-instance tests).
	if cfg.Store.Type == StoreS3 {
		a.objects, err = a.openS3(ctx)
		a.S3URL = cfg.Store.S3.Endpoint
	} else {
		a.iam = embedded.NewIAM() // honours the STS's credentials once startSTS attaches it
		a.store, err = embedded.Start(ctx, embedded.Config{
			Dir: filepath.Join(data, "store"), Addr: cfg.S3Addr, PublicURL: cfg.PublicS3URL,
			Bucket: cfg.Bucket, Region: cfg.Region, CORSOrigins: a.storeCORSOrigins(), IAM: a.iam,
			SessionLimits: &embedded.SessionLimits{MaxSize: cfg.Policy.MaxSize, AllowedTypes: cfg.Policy.AllowedTypes},
			OnRequest:     a.Metrics.StoreRequest,
		})
		if err == nil {
			a.objects, a.S3URL = a.store.Store, a.store.Endpoint
		}
	}
	if err != nil {
		ln.Close()
		return nil, err
	}

	a.ledger, err = OpenLedger(ctx, cfg)
	if err != nil {
		ln.Close()
		return nil, err
	}

	verifier, mount, err := a.identity(ln)
	if err != nil {
		ln.Close()
		return nil, err
	}
	a.mountWeb(ln, mount)

	a.Service = &sluice.Service{Store: a.objects, Ledger: a.ledger, Policy: cfg.Policy, Log: log, Observer: a.Metrics}
	a.Service.Observer = observer{a.Metrics}
	// The per-user upload limit is counted in the shared ledger, so it
	// holds across instances; a ledger without slots counts per process.
	if slots, ok := a.ledger.(sluice.SlotLedger); ok {
		a.Service.Limiter = &sluice.LedgerLimiter{Ledger: slots, PerUser: cfg.Policy.ConcurrentUploads()}
	} else {
		a.Service.Limiter = sluice.NewLocalLimiter(cfg.Policy.ConcurrentUploads())
	}
	resumable, err := a.resumable()
	if err != nil {
		ln.Close()
		return nil, err
	}
	mount["GET /metrics"] = a.Metrics.Handler()
	if err := a.startSTS(verifier, mount); err != nil {
		ln.Close()
		return nil, err
	}
	adminToken, err := a.governance()
	if err != nil {
		ln.Close()
		return nil, err
	}
	api := httpapi.New(a.Service, verifier, log, httpapi.Options{
		CORSOrigins: cfg.CORSOrigins, TrustProxy: cfg.TrustProxy, Mount: mount,
		Ready:      map[string]func(context.Context) error{"identity": verifier.Ready},
		Observe:    a.Metrics.ObserveRequest,
		Resumable:  resumable,
		AdminToken: adminToken, DefaultIssuer: a.defaultIssuer(),
	})
	if err := a.startBackground(); err != nil {
		ln.Close()
		return nil, err
	}
	a.http = &http.Server{Handler: api, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	go func() { a.done <- a.http.Serve(ln) }()
	ok = true
	return a, nil
}

// identity builds the verifier, with the development issuer served on the
// API's own listener so its tokens take the same path as real ones.
func (a *App) identity(ln net.Listener) (*oidc.Verifier, map[string]http.Handler, error) {
	cfg := a.Config
	issuers := append([]oidc.IssuerConfig(nil), cfg.Identity.Issuers...)
	mount := map[string]http.Handler{}
	if cfg.DevIssuerOn() {
		dev, err := oidc.OpenDevIssuer(DevIssuerDir(cfg.Data), a.APIURL+"/dev")
		if err != nil {
			return nil, nil, err
		}
		a.Dev = dev
		// `sluice token --dev` mints for whatever address serve last used.
		if err := os.WriteFile(filepath.Join(DevIssuerDir(cfg.Data), "issuer"), []byte(a.APIURL+"/dev\n"), 0o600); err != nil {
			return nil, nil, err
		}
		issuers = append(issuers, dev.IssuerConfig())
		mount["/dev/"] = dev.Handler()
	}
	v, err := oidc.New(oidc.Config{
		Issuers: issuers, Leeway: cfg.Identity.Leeway, JWKSGrace: cfg.Identity.JWKSGrace, Logger: a.Log,
		OnKeysFetched: a.Metrics.KeysFetched,
	})
	if err != nil {
		return nil, nil, err
	}
	if v.EmulatorEnabled() {
		if !isLoopback(ln.Addr()) {
			return nil, nil, errors.New("identity: firebase_emulator accepts unsigned tokens and is only allowed on a loopback address")
		}
		a.Log.Warn("FIREBASE AUTH EMULATOR MODE: unsigned tokens are accepted; anyone who can reach this server can act as any user. Never use this outside local development.")
	}
	return v, mount, nil
}

// localURL is how a process on this machine reaches addr: a wildcard
// listener is reached on loopback (the development issuer's URL must be).
func localURL(addr net.Addr) string {
	ta, ok := addr.(*net.TCPAddr)
	if !ok {
		return "http://" + addr.String()
	}
	ip := ta.IP
	if ip.IsUnspecified() {
		ip = net.IPv4(127, 0, 0, 1)
		if ta.IP.To4() == nil && ta.IP.Equal(net.IPv6unspecified) {
			ip = net.IPv6loopback
		}
	}
	return "http://" + net.JoinHostPort(ip.String(), strconv.Itoa(ta.Port))
}

func isLoopback(addr net.Addr) bool {
	ta, ok := addr.(*net.TCPAddr)
	return ok && ta.IP.IsLoopback()
}

// Wait blocks until the API server stops.
func (a *App) Wait() error {
	err := <-a.done
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Close stops accepting requests, lets in-flight ones finish (up to ctx),
// then closes the store and ledger.
func (a *App) Close(ctx context.Context) error {
	var errs []error
	if a.http != nil {
		errs = append(errs, a.http.Shutdown(ctx))
	}
	a.bg.stop() // before the ledger they write to closes
	if a.store != nil {
		errs = append(errs, a.store.Close())
	} else if c, ok := a.objects.(interface{ Close() error }); ok {
		errs = append(errs, c.Close())
	}
	if a.ledger != nil {
		errs = append(errs, a.ledger.Close())
	}
	return errors.Join(errs...)
}
