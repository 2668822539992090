package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/embedded"
	"github.com/sluicehq/sluice/reconcile"
	"github.com/sluicehq/sluice/webhook"
)

// Webhook is one receiver of the outbox's events. The secret comes from
// secret or, better, from secret_file (its first line), never from a flag,
// and is never logged.
type Webhook struct {
	webhook.Config `yaml:",inline"`
	// SecretFile holds the signing secret (whsec_…).
	SecretFile string `yaml:"secret_file"`
}

// secret returns the configured signing secret.
func (w Webhook) secret() (string, error) {
	if w.SecretFile == "" {
		return w.Secret, nil
	}
	b, err := os.ReadFile(w.SecretFile)
	if err != nil {
		return "", fmt.Errorf("webhooks: secret_file: %w", err)
	}
	s, _, _ := strings.Cut(string(b), "\n")
	return strings.TrimSpace(s), nil
}

// validateGovernance checks the reconcile and webhooks sections.
func (c *Config) validateGovernance() error {
	if err := c.Reconcile.Validate(); err != nil {
		return err
	}
	// Delivery is recorded once per event, not per receiver: a second
	// receiver would get only the events the first did not take.
	if len(c.Webhooks) > 1 {
		return errors.New("webhooks: one receiver is supported; fan out from it")
	}
	for i, w := range c.Webhooks {
		if w.URL == "" {
			return fmt.Errorf("webhooks[%d].url: a receiver URL is required", i)
		}
		if (w.Secret == "") == (w.SecretFile == "") {
			return fmt.Errorf("webhooks[%d]: set exactly one of secret and secret_file", i)
		}
	}
	return nil
}

// Issuers are the issuer names the deployment trusts, the development
// issuer's included when it runs.
func (a *App) Issuers() []string {
	var out []string
	for _, is := range a.Config.Identity.Issuers {
		out = append(out, issuerName(is.Issuer, is.Firebase))
	}
	if a.Dev != nil {
		out = append(out, a.APIURL+"/dev")
	}
	return out
}

func issuerName(iss, firebase string) string {
	if iss == "" && firebase != "" {
		return "https://securetoken.google.com/" + firebase
	}
	return iss
}

// background runs the reconciler and the webhook dispatcher until Close.
type background struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func (b *background) stop() {
	if b == nil {
		return
	}
	b.cancel()
	b.wg.Wait()
}

// startBackground builds the reconciler (run every reconcile.interval) and
// the webhook dispatcher, and starts them. They are stopped before the
// ledger closes.
func (a *App) startBackground() error {
	rec, err := reconcile.New(a.Config.Reconcile.WithStore(a.Config.Store.Type == "s3"), a.Service, a.Issuers(), a.Log)
	if err != nil {
		a.Log.Warn("reconcile: off", "reason", err.Error())
	}
	a.Reconciler = rec
	var hooks []*webhook.Dispatcher
	for _, w := range a.Config.Webhooks {
		ob, ok := a.ledger.(sluice.Outbox)
		if !ok {
			return errors.New("webhooks: the configured ledger keeps no outbox")
		}
		secret, err := w.secret()
		if err != nil {
			return err
		}
		cfg := w.Config
		cfg.Secret = secret
		d, err := webhook.New(cfg, ob, a.Log)
		if err != nil {
			return err
		}
		hooks = append(hooks, d)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a.bg = &background{cancel: cancel}
	if rec != nil {
		a.bg.wg.Go(func() { rec.Loop(ctx) })
	}
	for _, d := range hooks {
		a.bg.wg.Go(func() { d.Run(ctx) })
	}
	return nil
}

// Reconcile runs one reconciliation pass now (`sluice reconcile` runs one
// without a server).
func (a *App) Reconcile(ctx context.Context) (*reconcile.Report, error) {
	if a.Reconciler == nil {
		return nil, errors.New("reconcile: the configured ledger cannot be reconciled")
	}
	return a.Reconciler.Run(ctx)
}

// ReconcileOnce opens cfg's store and ledger without serving anything,
// runs one reconciliation pass and closes them. With the embedded store it
// starts the gateway on a free loopback port of its own, so it can run
// beside a serving sluice on the same data directory.
func ReconcileOnce(ctx context.Context, cfg Config, log *slog.Logger) (*reconcile.Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	a := &App{Config: cfg, Log: log}
	defer a.Close(context.Background())
	var err error
	if cfg.Store.Type == StoreS3 {
		a.objects, err = a.openS3(ctx)
	} else {
		var addr string
		if addr, err = freeLoopback(); err == nil {
			a.store, err = embedded.Start(ctx, embedded.Config{
				Dir: filepath.Join(cfg.Data, "store"), Addr: addr, Bucket: cfg.Bucket, Region: cfg.Region,
				CORSOrigins: a.storeCORSOrigins(), // the same rules, or setup would drop the server's
			})
		}
		if err == nil {
			a.objects = a.store.Store
		}
	}
	if err != nil {
		return nil, err
	}
	if a.ledger, err = OpenLedger(ctx, cfg); err != nil {
		return nil, err
	}
	a.Service = &sluice.Service{Store: a.objects, Ledger: a.ledger, Policy: cfg.Policy, Log: log}
	issuers := a.Issuers()
	if cfg.DevIssuerOn() {
		if raw, err := os.ReadFile(filepath.Join(DevIssuerDir(cfg.Data), "issuer")); err == nil {
			issuers = append(issuers, strings.TrimSpace(string(raw)))
		}
	}
	rec, err := reconcile.New(cfg.Reconcile, a.Service, issuers, log)
	if err != nil {
		return nil, err
	}
	return rec.Run(ctx)
}

func freeLoopback() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}
