package app

import (
	"encoding/json"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sts"
)

// STSKeyFile is the master key file of the STS when sts.key_file is unset.
func STSKeyFile(data string) string { return filepath.Join(data, "sts-keys.json") }

// startSTS brings up AssumeRoleWithWebIdentity at /sts and its discovery
// document at /v1/sts/config, and attaches it to the embedded store's IAM.
// It is off when disabled, and (unless enabled explicitly, then an error)
// when the store is not the embedded one or the ledger cannot record
// credentials.
func (a *App) startSTS(v sluice.Verifier, mount map[string]http.Handler) error {
	cfg := a.Config.STS
	if !cfg.On() {
		return nil
	}
	explicit := cfg.Enabled != nil
	if a.iam == nil {
		if explicit {
			return errors.New("sts.enabled: sluice's STS works with the embedded store only; an external store has its own (see docs/option4-aws.md)")
		}
		a.Log.Info("sts: off (an external store has its own STS; see docs/option4-aws.md)")
		return nil
	}
	cl, ok := a.ledger.(sluice.CredentialLedger)
	if !ok {
		if explicit {
			return errors.New("sts.enabled: the configured ledger cannot record STS credentials")
		}
		a.Log.Warn("sts: off (the configured ledger cannot record STS credentials)")
		return nil
	}
	keyFile := cfg.KeyFile
	if keyFile == "" {
		keyFile = STSKeyFile(a.Config.Data)
	}
	keys, err := sts.LoadKeyring(keyFile)
	if err != nil {
		return err
	}
	svc, err := sts.New(cfg, sts.Deps{
		Keys: keys, Verifier: v, Ledger: cl, Bucket: a.Config.Bucket,
		RequireEmailVerified: a.Config.Policy.RequireEmailVerified, Log: a.Log, Gate: a.Service,
	})
	if err != nil {
		return err
	}
	a.STS = svc
	a.iam.Attach(svc)
	h := svc.Handler(sts.HandlerOptions{TrustProxy: a.Config.TrustProxy, Log: a.Log})
	mount["/sts"] = h
	mount["/sts/"] = h // SDKs configured with a trailing slash
	mount["GET /v1/sts/config"] = a.stsDiscovery()
	return nil
}

// stsDiscovery serves sts.Discovery, built once: it changes only with the
// configuration.
func (a *App) stsDiscovery() http.Handler {
	cfg := a.Config
	roles := a.STS.Roles()
	maxDur := sts.DefaultMaxDuration
	for _, r := range cfg.STS.Roles {
		if r.ARN == roles[0] {
			maxDur = r.MaxDuration
		}
	}
	s3url := a.S3URL
	if cfg.PublicS3URL != "" {
		s3url = strings.TrimRight(cfg.PublicS3URL, "/")
	}
	d := sts.Discovery{
		RoleARN: roles[0], Roles: roles,
		S3Endpoint: s3url, Bucket: cfg.Bucket, Region: cfg.Region, KeyPrefix: sts.KeyPrefixPattern,
		MaxSize: cfg.Policy.MaxSize, AllowedTypes: cfg.Policy.AllowedTypes,
		MaxDurationSeconds: int64(maxDur / time.Second),
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d := d
		// The STS is wherever the client reached this API: the server does
		// not know its public name behind a proxy, the request does.
		scheme := "http"
		if r.TLS != nil || (cfg.TrustProxy && r.Header.Get("X-Forwarded-Proto") == "https") {
			scheme = "https"
		}
		d.STSEndpoint = scheme + "://" + r.Host + "/sts"
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		json.NewEncoder(w).Encode(d)
	})
}
