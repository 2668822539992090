package oidc

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/sluicehq/sluice"
)

// Bounds on how long fetched keys are trusted without asking again. The
// floor stops "max-age=0" from turning every request into a fetch; the
// ceiling makes a removed (perhaps compromised) key drop out within a day.
const (
	minKeyTTL     = time.Minute
	maxKeyTTL     = 24 * time.Hour
	defaultKeyTTL = 15 * time.Minute

	fetchTimeout   = 10 * time.Second
	maxFetchBody   = 1 << 20
	minRSABits     = 2048
	initialBackoff = time.Second
)

// key is one verification key from a JWKS, with the single algorithm it
// may be used with.
type key struct {
	kid string
	alg jose.SignatureAlgorithm
	pub any // *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey
}

// jwks is an immutable snapshot of one issuer's usable keys.
type jwks struct {
	byKid map[string][]*key
	all   []*key
}

// find returns the keys a token's kid selects. A token without kid selects
// the only key of a one-key set, and nothing otherwise: guessing among
// several keys would make "which key signed this" ambiguous.
func (s *jwks) find(kid string) []*key {
	switch {
	case s == nil:
		return nil
	case kid != "":
		return s.byKid[kid]
	case len(s.all) == 1:
		return s.all
	}
	return nil
}

// parseJWKS keeps the keys sluice can verify with and drops the rest with a
// log line, so one exotic key does not take its neighbours down.
func parseJWKS(body []byte, log *slog.Logger) (*jwks, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("JWKS is not a JSON object with keys: %w", err)
	}
	set := &jwks{byKid: make(map[string][]*key)}
	for i, raw := range doc.Keys {
		k, err := parseKey(raw)
		if err != nil {
			log.Warn("oidc: ignoring JWKS key", "index", i, "err", err)
			continue
		}
		set.all = append(set.all, k)
		set.byKid[k.kid] = append(set.byKid[k.kid], k)
	}
	if len(set.all) == 0 {
		return nil, errors.New("JWKS has no usable signing key")
	}
	return set, nil
}

func parseKey(raw json.RawMessage) (*key, error) {
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON(raw); err != nil {
		return nil, err
	}
	// Symmetric ("oct") keys are refused here, so that no HMAC secret can
	// ever come out of a JWKS; a published private key is a compromised
	// one and is not trusted either.
	if !jwk.IsPublic() {
		return nil, fmt.Errorf("kid %q: not an asymmetric public key", jwk.KeyID)
	}
	if jwk.Use != "" && jwk.Use != "sig" {
		return nil, fmt.Errorf("kid %q: use is %q, not sig", jwk.KeyID, jwk.Use)
	}
	alg, err := keyAlgorithm(jwk.Key, jose.SignatureAlgorithm(jwk.Algorithm))
	if err != nil {
		return nil, fmt.Errorf("kid %q: %w", jwk.KeyID, err)
	}
	return &key{kid: jwk.KeyID, alg: alg, pub: jwk.Key}, nil
}

var rsaAlgs = []jose.SignatureAlgorithm{jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512}

// keyAlgorithm is the one algorithm a key verifies: its declared alg if
// that suits the key type, else the type's usual one (RS256 for RSA, the
// curve's ES* for EC, EdDSA for Ed25519). Tokens must name exactly this.
func keyAlgorithm(pub any, declared jose.SignatureAlgorithm) (jose.SignatureAlgorithm, error) {
	var fits []jose.SignatureAlgorithm
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < minRSABits {
			return "", fmt.Errorf("RSA key of %d bits, want at least %d", k.N.BitLen(), minRSABits)
		}
		fits = rsaAlgs
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			fits = []jose.SignatureAlgorithm{jose.ES256}
		case elliptic.P384():
			fits = []jose.SignatureAlgorithm{jose.ES384}
		case elliptic.P521():
			fits = []jose.SignatureAlgorithm{jose.ES512}
		default:
			return "", errors.New("unsupported EC curve")
		}
	case ed25519.PublicKey:
		fits = []jose.SignatureAlgorithm{jose.EdDSA}
	default:
		return "", fmt.Errorf("unsupported key type %T", pub)
	}
	if declared == "" {
		return fits[0], nil
	}
	if !slices.Contains(fits, declared) {
		return "", fmt.Errorf("alg %q does not suit the key type", declared)
	}
	return declared, nil
}

// keySet holds one issuer's keys and fetches them again when Cache-Control
// says so, when a token names a kid it does not know, and after failures,
// never more often than the rate limit allows.
type keySet struct {
	issuer  string
	client  *http.Client
	now     func() time.Time
	log     *slog.Logger
	refetch time.Duration
	grace   time.Duration
	onFetch func(issuer string, err error) // may be nil

	mu          sync.Mutex
	jwksURL     string        // configured, or found by discovery
	keys        *jwks         // last good set; nil until the first success
	expires     time.Time     // keys are stale from then on
	nextAttempt time.Time     // no fetch before then
	backoff     time.Duration // after consecutive failures
	lastErr     error         // of the last fetch; nil after a success
	inflight    chan struct{} // closed when the running fetch ends
}

// find returns the keys for kid, fetching first when the set is stale, or
// does not know kid, and the rate limit allows. It returns
// CodeIdentityUnavailable when there is no set or its grace is over, and
// CodeTokenUnknownKey for a kid the usable set does not hold.
func (s *keySet) find(ctx context.Context, kid string) ([]*key, error) {
	s.mu.Lock()
	if done := s.fetchForLocked(kid); done != nil {
		s.mu.Unlock()
		if err := wait(ctx, done); err != nil {
			return nil, sluice.Wrap(sluice.CodeIdentityUnavailable, err, "keys of issuer %s are being fetched", s.issuer)
		}
		s.mu.Lock()
	}
	defer s.mu.Unlock()
	if err := s.usableLocked(); err != nil {
		return nil, err
	}
	found := s.keys.find(kid)
	if len(found) == 0 {
		return nil, sluice.Errorf(sluice.CodeTokenUnknownKey, "issuer %s has no key %q", s.issuer, kid)
	}
	return found, nil
}

// fetchForLocked starts a fetch if kid calls for one and the rate limit
// allows, and returns what the caller must wait for; nil means answer from
// the set as it is. While the endpoint is failing, a stale set still within
// its grace answers at once and the retry runs in the background, so an
// outage does not stall every request for the fetch timeout.
func (s *keySet) fetchForLocked(kid string) <-chan struct{} {
	now := s.now()
	found := s.keys.find(kid)
	stale := s.keys == nil || !now.Before(s.expires)
	if (!stale && len(found) > 0) || now.Before(s.nextAttempt) {
		return nil
	}
	done := s.startFetchLocked()
	if len(found) > 0 && s.lastErr != nil && s.usableLocked() == nil {
		return nil
	}
	return done
}

// ready reports whether the set can verify now, fetching first if it is
// stale or missing and the rate limit allows.
func (s *keySet) ready(ctx context.Context) error {
	s.mu.Lock()
	var done <-chan struct{}
	if now := s.now(); (s.keys == nil || !now.Before(s.expires)) && !now.Before(s.nextAttempt) {
		done = s.startFetchLocked()
	}
	s.mu.Unlock()
	if done != nil {
		if err := wait(ctx, done); err != nil {
			return sluice.Wrap(sluice.CodeIdentityUnavailable, err, "keys of issuer %s are being fetched", s.issuer)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.usableLocked()
}

// usableLocked is nil while there is a set and its grace is not over.
func (s *keySet) usableLocked() error {
	if s.keys != nil && s.now().Before(s.expires.Add(s.grace)) {
		return nil
	}
	return sluice.Wrap(sluice.CodeIdentityUnavailable, s.lastErr, "keys of issuer %s are unavailable", s.issuer)
}

func wait(ctx context.Context, done <-chan struct{}) error {
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// startFetchLocked starts a fetch unless one is running, and returns the
// channel closed when it ends. Concurrent callers share one fetch.
func (s *keySet) startFetchLocked() <-chan struct{} {
	if s.inflight == nil {
		s.inflight = make(chan struct{})
		go s.fetch(s.inflight)
	}
	return s.inflight
}

// fetch runs detached from any request: a client hanging up must not
// abort the fetch that other requests are waiting for.
func (s *keySet) fetch(done chan struct{}) {
	ctx, cancel := context.WithTimeout(context.Background(), fetchTimeout)
	defer cancel()
	set, ttl, err := s.download(ctx)
	if s.onFetch != nil {
		s.onFetch(s.issuer, err)
	}

	s.mu.Lock()
	defer close(done)
	defer s.mu.Unlock()
	s.inflight = nil
	now := s.now()
	if err != nil {
		s.lastErr = err
		s.backoff = min(max(2*s.backoff, initialBackoff), s.refetch)
		s.nextAttempt = now.Add(s.backoff)
		s.log.Warn("oidc: fetching keys failed", "issuer", s.issuer, "retry_in", s.backoff, "err", err)
		return
	}
	s.keys, s.expires, s.lastErr, s.backoff = set, now.Add(ttl), nil, 0
	s.nextAttempt = now.Add(s.refetch)
	s.log.Debug("oidc: fetched keys", "issuer", s.issuer, "keys", len(set.all), "ttl", ttl)
}

func (s *keySet) download(ctx context.Context) (*jwks, time.Duration, error) {
	url, err := s.keysURL(ctx)
	if err != nil {
		return nil, 0, err
	}
	body, hdr, err := get(ctx, s.client, url)
	if err != nil {
		return nil, 0, err
	}
	set, err := parseJWKS(body, s.log)
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", url, err)
	}
	return set, keyTTL(hdr.Values("Cache-Control")), nil
}

// keysURL returns the JWKS URL, discovering it on first use. A discovered
// URL is kept for the life of the process.
func (s *keySet) keysURL(ctx context.Context) (string, error) {
	s.mu.Lock()
	u := s.jwksURL
	s.mu.Unlock()
	if u != "" {
		return u, nil
	}
	u, err := discover(ctx, s.client, s.issuer)
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	s.jwksURL = u
	s.mu.Unlock()
	return u, nil
}

// discover reads the issuer's OpenID configuration. Its issuer must be
// the configured one exactly (OpenID Connect Discovery 1.0, section 4.3),
// or a document could point sluice at someone else's keys.
func discover(ctx context.Context, c *http.Client, issuer string) (string, error) {
	url := strings.TrimSuffix(issuer, "/") + "/.well-known/openid-configuration"
	body, _, err := get(ctx, c, url)
	if err != nil {
		return "", err
	}
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return "", fmt.Errorf("%s: not a discovery document: %w", url, err)
	}
	if doc.Issuer != issuer {
		return "", fmt.Errorf("%s: names issuer %q, want %q", url, doc.Issuer, issuer)
	}
	if err := checkURL(doc.JWKSURI); err != nil {
		return "", fmt.Errorf("%s: jwks_uri: %w", url, err)
	}
	return doc.JWKSURI, nil
}

// get fetches a JSON document of bounded size.
func get(ctx context.Context, c *http.Client, url string) ([]byte, http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxFetchBody+1))
	if err != nil {
		return nil, nil, fmt.Errorf("GET %s: %w", url, err)
	}
	if len(body) > maxFetchBody {
		return nil, nil, fmt.Errorf("GET %s: body over %d bytes", url, maxFetchBody)
	}
	return body, resp.Header, nil
}

// keyTTL reads max-age from Cache-Control, clamped to [minKeyTTL,
// maxKeyTTL]. no-cache and no-store get the floor; no usable directive
// gets defaultKeyTTL.
func keyTTL(values []string) time.Duration {
	ttl := time.Duration(-1)
	for _, v := range values {
		for _, d := range strings.Split(v, ",") {
			name, arg, _ := strings.Cut(strings.TrimSpace(d), "=")
			switch strings.ToLower(name) {
			case "no-cache", "no-store":
				return minKeyTTL
			case "max-age":
				if n, err := strconv.ParseInt(strings.Trim(arg, `"`), 10, 64); err == nil && n >= 0 {
					ttl = time.Duration(min(n, int64(maxKeyTTL/time.Second))) * time.Second
				}
			}
		}
	}
	if ttl < 0 {
		return defaultKeyTTL
	}
	return min(max(ttl, minKeyTTL), maxKeyTTL)
}
