package oidc

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Firebase's fixed endpoints: every project's ID tokens are signed by the
// same Google service account.
const (
	firebaseIssuerPrefix = "https://securetoken.google.com/"
	firebaseJWKSURL      = "https://www.googleapis.com/service_accounts/v1/jwk/securetoken@system.gserviceaccount.com"
)

// Defaults, in one place.
const (
	DefaultLeeway          = 60 * time.Second
	DefaultJWKSGrace       = time.Hour
	DefaultRefetchInterval = 30 * time.Second
	DefaultMaxTokenSize    = 16 << 10
	DefaultCacheSize       = 10000
	defaultHTTPTimeout     = 10 * time.Second

	// maxLeeway bounds clock-skew tolerance: more than this would keep
	// expired tokens alive for a meaningful time.
	maxLeeway = 5 * time.Minute
)

// IssuerConfig names one token issuer sluice trusts.
//
// Either Issuer (a generic OIDC provider) or Firebase (a project id) must be
// set. Firebase expands, in Validate, to the issuer
// https://securetoken.google.com/<project>, the audience <project> and
// Google's JWKS URL, and turns on Firebase's extra rules: tokens must carry
// a kid and an auth_time in the past.
type IssuerConfig struct {
	// Issuer is compared byte for byte with the token's iss claim, so a
	// trailing slash matters (Auth0's issuers have one).
	Issuer string `yaml:"issuer" json:"issuer"`
	// Audiences: the token's aud must contain at least one of them.
	Audiences []string `yaml:"audiences" json:"audiences"`
	// JWKSURL is where the issuer's public keys are. When empty it is
	// discovered from {issuer}/.well-known/openid-configuration.
	JWKSURL string `yaml:"jwks_url" json:"jwks_url"`
	// Firebase is a Firebase project id; see the type's doc.
	Firebase string `yaml:"firebase" json:"firebase"`
	// FirebaseEmulator makes this Firebase issuer accept the Auth
	// emulator's UNSIGNED tokens (alg none), and only those: anyone who can
	// reach the server can then claim to be anyone. For local development
	// on loopback only; the server refuses to start it elsewhere.
	FirebaseEmulator bool `yaml:"firebase_emulator" json:"firebase_emulator"`
}

// Config configures a Verifier. The zero value of every field but Issuers
// means its default.
type Config struct {
	Issuers []IssuerConfig
	// Leeway is the clock skew tolerated on exp, nbf, iat and auth_time.
	// Default 60s, at most 5m.
	Leeway time.Duration
	// JWKSGrace is how long an issuer's last good keys are still used,
	// past their Cache-Control lifetime, while its JWKS endpoint cannot be
	// reached. After that its tokens fail with CodeIdentityUnavailable.
	// Default 1h.
	JWKSGrace time.Duration
	// RefetchInterval is the least time between two fetches of one
	// issuer's keys that were not due by Cache-Control: those asked for by
	// a token with an unknown kid, and retries after a failed fetch. It is
	// what keeps forged kids from turning into a storm of fetches.
	// Default 30s.
	RefetchInterval time.Duration
	// MaxTokenSize in bytes; longer tokens fail with CodeTokenTooLarge
	// before any parsing. Default 16 KiB.
	MaxTokenSize int
	// CacheSize bounds the cache of verified tokens. 0 means the default
	// (10000), a negative value turns the cache off.
	CacheSize int
	// HTTPClient fetches discovery documents and JWKS. Default: a client
	// with a 10s timeout that follows redirects only to https (or loopback
	// http) URLs.
	HTTPClient *http.Client
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Logger receives key-fetch events; tokens are never logged.
	// Default: discard.
	Logger *slog.Logger
	// OnKeysFetched, when set, is called after every fetch of an issuer's
	// keys with its outcome (metrics). It must not block.
	OnKeysFetched func(issuer string, err error)
}

// projectID is what Firebase allows in project ids; it also keeps the id
// from smuggling a path or host into the issuer URL.
var projectID = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// Validate fills in defaults, expands Firebase shorthands and checks the
// configuration. Its error names the offending field as it is spelled in
// the config file (e.g. "issuers[1].audiences"). Calling it twice is
// harmless.
func (c *Config) Validate() error {
	if len(c.Issuers) == 0 {
		return errors.New("oidc: issuers: at least one issuer is required")
	}
	seen := make(map[string]int, len(c.Issuers))
	for i := range c.Issuers {
		ic := &c.Issuers[i]
		if err := ic.validate(); err != nil {
			return fmt.Errorf("oidc: issuers[%d].%w", i, err)
		}
		if j, dup := seen[ic.Issuer]; dup {
			return fmt.Errorf("oidc: issuers[%d].issuer: %q is already configured by issuers[%d]", i, ic.Issuer, j)
		}
		seen[ic.Issuer] = i
	}
	return c.defaults()
}

func (c *Config) defaults() error {
	durations := []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"leeway", &c.Leeway, DefaultLeeway},
		{"jwks_grace", &c.JWKSGrace, DefaultJWKSGrace},
		{"refetch_interval", &c.RefetchInterval, DefaultRefetchInterval},
	}
	for _, d := range durations {
		if *d.v < 0 {
			return fmt.Errorf("oidc: %s: must not be negative, got %s", d.name, *d.v)
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	if c.Leeway > maxLeeway {
		return fmt.Errorf("oidc: leeway: at most %s, got %s", maxLeeway, c.Leeway)
	}
	if c.MaxTokenSize < 0 {
		return fmt.Errorf("oidc: max_token_size: must not be negative, got %d", c.MaxTokenSize)
	}
	if c.MaxTokenSize == 0 {
		c.MaxTokenSize = DefaultMaxTokenSize
	}
	if c.CacheSize == 0 {
		c.CacheSize = DefaultCacheSize
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: defaultHTTPTimeout, CheckRedirect: checkRedirect}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// validate checks one issuer; its errors start with the field name so the
// caller can prefix the list index.
func (ic *IssuerConfig) validate() error {
	if ic.Firebase != "" {
		if err := ic.expandFirebase(); err != nil {
			return err
		}
	} else if ic.FirebaseEmulator {
		return errors.New("firebase_emulator: only valid together with firebase")
	}
	if ic.Issuer == "" {
		return errors.New("issuer: required (or firebase)")
	}
	if err := checkURL(ic.Issuer); err != nil {
		return fmt.Errorf("issuer: %w", err)
	}
	if ic.JWKSURL != "" {
		if err := checkURL(ic.JWKSURL); err != nil {
			return fmt.Errorf("jwks_url: %w", err)
		}
	}
	if len(ic.Audiences) == 0 {
		return errors.New("audiences: at least one is required")
	}
	if slices.Contains(ic.Audiences, "") {
		return errors.New("audiences: must not contain an empty string")
	}
	return nil
}

// expandFirebase fills in what a Firebase project id implies. Explicit
// values that contradict it are errors, since such an issuer could never
// accept a real Firebase token; an explicit jwks_url is kept so tests and
// private mirrors can serve the keys.
func (ic *IssuerConfig) expandFirebase() error {
	p := ic.Firebase
	if !projectID.MatchString(p) {
		return fmt.Errorf("firebase: %q is not a Firebase project id", p)
	}
	iss := firebaseIssuerPrefix + p
	if ic.Issuer != "" && ic.Issuer != iss {
		return fmt.Errorf("issuer: firebase project %q implies issuer %q, got %q", p, iss, ic.Issuer)
	}
	if len(ic.Audiences) > 0 && !slices.Equal(ic.Audiences, []string{p}) {
		return fmt.Errorf("audiences: firebase project %q implies audiences [%q], got %q", p, p, ic.Audiences)
	}
	ic.Issuer = iss
	ic.Audiences = []string{p}
	if ic.JWKSURL == "" {
		ic.JWKSURL = firebaseJWKSURL
	}
	return nil
}

// checkURL accepts https URLs, and plain http only to a loopback host:
// keys fetched over plain http from elsewhere could be swapped on the way,
// and whoever swaps them can sign in as anyone.
func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%q is not a URL", raw)
	}
	if u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("%q: want scheme://host[/path] without query, fragment or user", raw)
	}
	return checkScheme(u)
}

func checkScheme(u *url.URL) error {
	if u.Scheme == "https" || u.Scheme == "http" && isLoopback(u.Hostname()) {
		return nil
	}
	return fmt.Errorf("%q: must be https (plain http only to a loopback host)", u.Redacted())
}

// checkRedirect holds redirects to the same rule as configured URLs, so an
// https key URL cannot be bounced to plain http.
func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 5 {
		return errors.New("too many redirects")
	}
	return checkScheme(req.URL)
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
