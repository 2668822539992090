package app_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The reconcile and webhooks sections as an operator writes them.
func TestGovernanceConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(yaml string) string {
		p := filepath.Join(dir, "sluice.yaml")
		if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cfg, err := load(t, nil, "--config", write(`
reconcile:
  interval: 0s
  stale_after: 48h
webhooks:
  - url: https://hooks.example/sluice
    secret_file: /run/secrets/sluice-webhook
    max_backoff: 10m
`))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Reconcile.Interval != 0 || cfg.Reconcile.StaleAfter != 48*time.Hour {
		t.Errorf("reconcile = %+v", cfg.Reconcile)
	}
	if len(cfg.Webhooks) != 1 || cfg.Webhooks[0].URL != "https://hooks.example/sluice" ||
		cfg.Webhooks[0].SecretFile != "/run/secrets/sluice-webhook" || cfg.Webhooks[0].MaxBackoff != 10*time.Minute {
		t.Errorf("webhooks = %+v", cfg.Webhooks)
	}
	def, _ := load(t, nil)
	if def.Reconcile.StaleAfter != 24*time.Hour || len(def.Webhooks) != 0 {
		t.Errorf("defaults: %+v, %d webhooks", def.Reconcile, len(def.Webhooks))
	}
	// Listing is free on the embedded store and billed per 1,000 keys on
	// S3, so an unset interval runs often on the one, rarely on the other.
	if got := def.Reconcile.WithStore(false).Interval; got != time.Minute {
		t.Errorf("default interval on the embedded store: %s, want 1m", got)
	}
	if got := def.Reconcile.WithStore(true).Interval; got != time.Hour {
		t.Errorf("default interval on an S3 store: %s, want 1h", got)
	}
	if got := cfg.Reconcile.WithStore(true).Interval; got != 0 {
		t.Errorf("an explicit 0s (off) became %s", got)
	}

	for yaml, field := range map[string]string{
		"reconcile: {stale_after: 5m}": "reconcile.stale_after",
		"reconcile: {interval: -1s}":   "reconcile.interval",
		"webhooks: [{url: 'https://a.example', secret: whsec_x, secret_file: f}]":                  "webhooks[0]",
		"webhooks: [{url: 'https://a.example'}]":                                                   "webhooks[0]",
		"webhooks: [{secret: whsec_x}]":                                                            "webhooks[0].url",
		"webhooks: [{url: 'https://a.example', secret: a}, {url: 'https://b.example', secret: b}]": "webhooks:",
	} {
		_, err := load(t, nil, "--config", write(yaml))
		if err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("%s: %v, want an error naming %s", yaml, err, field)
		}
	}
}
