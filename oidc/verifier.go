// Package oidc verifies OpenID Connect ID tokens (Firebase Auth, any OIDC
// provider, sluice's own development issuer and, when asked for, the
// Firebase Auth emulator) and implements sluice.Verifier.
//
// What it trusts, and why:
//   - The issuer is picked by the token's iss, read before verification
//     only to choose which configuration applies; the signature is then
//     checked with that issuer's keys alone, which authenticates iss.
//   - The algorithm comes from the key in the issuer's JWKS, never from the
//     token: a token whose header alg is not the key's is refused. Only
//     RS*, PS*, ES* and EdDSA exist here; HMAC keys cannot enter through a
//     JWKS, so a token signed with HS256 under the public key is refused.
//   - A token without kid is matched only to the sole key of a one-key
//     JWKS (generic issuers); Firebase tokens must carry a kid.
//   - alg none is accepted only for an issuer configured with
//     FirebaseEmulator, and that issuer accepts nothing else.
package oidc

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"slices"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/sluicehq/sluice"
)

// maxSubject is Firebase's bound on uids, applied to every issuer since
// the subject becomes part of storage keys. Counted in bytes.
const maxSubject = 128

// Verifier checks ID tokens against a fixed set of issuers. It is safe for
// concurrent use.
type Verifier struct {
	issuers  map[string]*issuer
	order    []*issuer // config order, for Ready
	leeway   time.Duration
	maxSize  int
	now      func() time.Time
	cache    *tokenCache // nil when disabled
	emulator bool
}

var _ sluice.Verifier = (*Verifier)(nil)

// issuer is one validated IssuerConfig with its keys.
type issuer struct {
	cfg      IssuerConfig
	firebase bool
	emulator bool
	keys     *keySet // nil for an emulator issuer: it has no keys
}

// New validates cfg (see Config.Validate) and returns a Verifier. It does
// not fetch any keys; the first Verify or Ready does.
func New(cfg Config) (*Verifier, error) {
	cfg.Issuers = slices.Clone(cfg.Issuers)
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	v := &Verifier{
		issuers: make(map[string]*issuer, len(cfg.Issuers)),
		leeway:  cfg.Leeway,
		maxSize: cfg.MaxTokenSize,
		now:     cfg.Now,
		cache:   newTokenCache(cfg.CacheSize),
	}
	for _, ic := range cfg.Issuers {
		is := &issuer{cfg: ic, firebase: ic.Firebase != "", emulator: ic.FirebaseEmulator}
		if is.emulator {
			v.emulator = true
		} else {
			is.keys = &keySet{
				issuer: ic.Issuer, jwksURL: ic.JWKSURL, client: cfg.HTTPClient,
				now: cfg.Now, log: cfg.Logger, refetch: cfg.RefetchInterval, grace: cfg.JWKSGrace,
				onFetch: cfg.OnKeysFetched,
			}
		}
		v.issuers[ic.Issuer] = is
		v.order = append(v.order, is)
	}
	return v, nil
}

// EmulatorEnabled reports whether some issuer accepts unsigned Firebase
// emulator tokens. A server must refuse to run so off loopback.
func (v *Verifier) EmulatorEnabled() bool { return v.emulator }

// Ready reports whether every issuer's keys are at hand (fetched, or cached
// within their grace), fetching those that are due. Its error has code
// CodeIdentityUnavailable and names the first issuer that is not ready.
func (v *Verifier) Ready(ctx context.Context) error {
	for _, is := range v.order {
		if is.keys == nil {
			continue
		}
		if err := is.keys.ready(ctx); err != nil {
			return err
		}
	}
	return nil
}

// Verify checks token and returns the identity it names. Refusals are
// *sluice.Error with a token_* code; CodeIdentityUnavailable means the
// issuer's keys cannot be had. The returned Identity (and its Claims) may
// be shared with other callers through the cache: treat it as read-only.
func (v *Verifier) Verify(ctx context.Context, token string) (*sluice.Identity, error) {
	if token == "" {
		return nil, sluice.Errorf(sluice.CodeTokenMissing, "no token")
	}
	if len(token) > v.maxSize {
		return nil, sluice.Errorf(sluice.CodeTokenTooLarge, "token is over %d bytes", v.maxSize)
	}
	if v.cache == nil {
		id, _, err := v.verify(ctx, token)
		return id, err
	}
	sum := sha256.Sum256([]byte(token))
	if id := v.cached(ctx, sum); id != nil {
		return id, nil
	}
	id, k, err := v.verify(ctx, token)
	if err != nil {
		return nil, err
	}
	if k != nil { // emulator tokens have no key to tie an entry to
		e := &cacheEntry{id: id, iss: v.issuers[id.Issuer], kid: k.kid, key: k, until: id.ExpiresAt.Add(v.leeway)}
		v.cache.put(sum, e, v.now())
	}
	return id, nil
}

// cached returns the identity of a token verified before, if its entry is
// live and the key that verified it is still in its issuer's current set.
func (v *Verifier) cached(ctx context.Context, sum [32]byte) *sluice.Identity {
	e := v.cache.get(sum, v.now())
	if e == nil {
		return nil
	}
	keys, err := e.iss.keys.find(ctx, e.kid)
	if err != nil || !slices.Contains(keys, e.key) {
		v.cache.drop(sum) // re-verify in full; that gives the right error
		return nil
	}
	v.cache.hits.Add(1)
	return e.id
}

// verify checks a token in full and returns the key that verified it
// (nil for an emulator token).
func (v *Verifier) verify(ctx context.Context, token string) (*sluice.Identity, *key, error) {
	p, err := parse(token)
	if err != nil {
		return nil, nil, err
	}
	is, err := v.pickIssuer(p.claims)
	if err != nil {
		return nil, nil, err
	}
	if p.alg == "none" {
		id, err := v.verifyUnsigned(is, p)
		return id, nil, err
	}
	k, payload, err := v.verifySigned(ctx, is, p, token)
	if err != nil {
		return nil, nil, err
	}
	var verified map[string]json.RawMessage
	if err := json.Unmarshal(payload, &verified); err != nil {
		return nil, nil, malformed("payload is not a JSON object")
	}
	id, err := v.checkClaims(is, verified)
	return id, k, err
}

// pickIssuer chooses the configuration by the still-unverified iss. That
// is safe because only this issuer's keys can then verify the token.
func (v *Verifier) pickIssuer(m map[string]json.RawMessage) (*issuer, error) {
	raw, ok := m["iss"]
	if !ok {
		return nil, sluice.Errorf(sluice.CodeTokenIssuer, "token has no issuer")
	}
	var iss string
	if jsonString(raw, &iss) != nil {
		return nil, badClaim("iss", "a string")
	}
	is := v.issuers[iss]
	if is == nil {
		return nil, sluice.Errorf(sluice.CodeTokenIssuer, "issuer %q is not trusted", iss)
	}
	return is, nil
}

// verifyUnsigned accepts a Firebase Auth emulator token, only for an issuer
// configured for the emulator.
func (v *Verifier) verifyUnsigned(is *issuer, p *parsed) (*sluice.Identity, error) {
	if !is.emulator {
		return nil, sluice.Errorf(sluice.CodeTokenAlgorithm, "unsigned tokens are not accepted")
	}
	if len(p.sig) != 0 {
		return nil, sluice.Errorf(sluice.CodeTokenSignature, "unsigned token carries a signature")
	}
	return v.checkClaims(is, p.claims)
}

// verifySigned finds the key, insists the token names the key's algorithm
// and checks the signature. It returns the verified payload.
func (v *Verifier) verifySigned(ctx context.Context, is *issuer, p *parsed, token string) (*key, []byte, error) {
	if !asymmetric(p.alg) {
		return nil, nil, sluice.Errorf(sluice.CodeTokenAlgorithm, "algorithm %q is not accepted", p.alg)
	}
	if is.emulator {
		return nil, nil, sluice.Errorf(sluice.CodeTokenAlgorithm, "issuer %s is in emulator mode and takes only unsigned tokens", is.cfg.Issuer)
	}
	if is.firebase && !p.hasKid {
		return nil, nil, sluice.Errorf(sluice.CodeTokenUnknownKey, "Firebase tokens must name their key (kid)")
	}
	keys, err := is.keys.find(ctx, p.kid)
	if err != nil {
		return nil, nil, err
	}
	i := slices.IndexFunc(keys, func(k *key) bool { return string(k.alg) == p.alg })
	if i < 0 {
		return nil, nil, sluice.Errorf(sluice.CodeTokenAlgorithm, "token says %s but key %q is %s", p.alg, keys[0].kid, keys[0].alg)
	}
	k := keys[i]
	jws, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{k.alg})
	if err != nil {
		return nil, nil, sluice.Wrap(sluice.CodeTokenMalformed, err, "token is not a valid JWS")
	}
	payload, err := jws.Verify(k.pub)
	if err != nil {
		return nil, nil, sluice.Errorf(sluice.CodeTokenSignature, "signature does not verify")
	}
	return k, payload, nil
}

func asymmetric(alg string) bool {
	switch jose.SignatureAlgorithm(alg) {
	case jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512,
		jose.ES256, jose.ES384, jose.ES512, jose.EdDSA:
		return true
	}
	return false
}

// checkClaims applies the claim rules to a payload whose signature (if
// any) has been checked: types first, then times, audience and subject.
func (v *Verifier) checkClaims(is *issuer, m map[string]json.RawMessage) (*sluice.Identity, error) {
	c, err := typedClaims(m)
	if err != nil {
		return nil, err
	}
	if c.iss != is.cfg.Issuer { // cannot differ after the peek, but cheap to be sure
		return nil, sluice.Errorf(sluice.CodeTokenIssuer, "issuer %q is not trusted", c.iss)
	}
	if err := v.checkTimes(is, c); err != nil {
		return nil, err
	}
	if !slices.ContainsFunc(c.aud, func(a string) bool { return slices.Contains(is.cfg.Audiences, a) }) {
		return nil, sluice.Errorf(sluice.CodeTokenAudience, "token is not meant for this service")
	}
	if c.sub == "" || len(c.sub) > maxSubject {
		return nil, sluice.Errorf(sluice.CodeTokenSubject, "subject must be 1 to %d bytes", maxSubject)
	}
	return &sluice.Identity{
		Issuer: c.iss, Subject: c.sub, Email: c.email, EmailVerified: c.emailVerified,
		ExpiresAt: c.exp, Claims: rawClaims(m),
	}, nil
}

// checkTimes applies exp, nbf, iat and auth_time, each with the leeway.
func (v *Verifier) checkTimes(is *issuer, c *claims) error {
	switch {
	case !c.hasExp:
		return sluice.Errorf(sluice.CodeTokenClaims, "claim exp is required")
	case !c.hasIat:
		return sluice.Errorf(sluice.CodeTokenClaims, "claim iat is required")
	case is.firebase && !c.hasAuth:
		return sluice.Errorf(sluice.CodeTokenClaims, "claim auth_time is required")
	}
	now := v.now()
	late := now.Add(-v.leeway) // now, as a clock running behind would see it
	early := now.Add(v.leeway) // now, as a clock running ahead would see it
	switch {
	case !late.Before(c.exp):
		return sluice.Errorf(sluice.CodeTokenExpired, "token expired at %s", c.exp.Format(time.RFC3339))
	case c.hasNbf && early.Before(c.nbf):
		return sluice.Errorf(sluice.CodeTokenNotYetValid, "token is not valid before %s", c.nbf.Format(time.RFC3339))
	case early.Before(c.iat):
		return sluice.Errorf(sluice.CodeTokenIssuedFuture, "token is issued in the future (%s)", c.iat.Format(time.RFC3339))
	case c.hasAuth && early.Before(c.authTime):
		// Firebase documents this rule; its Admin SDK does not apply it.
		return sluice.Errorf(sluice.CodeTokenAuthFuture, "token's auth_time is in the future (%s)", c.authTime.Format(time.RFC3339))
	}
	return nil
}
