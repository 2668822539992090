package oidc

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/sluicehq/sluice"
)

func TestGoodTokens(t *testing.T) {
	k := keys()
	w := newWorld(t)
	cases := []struct {
		name  string
		token func() string
		iss   string
		sub   string
	}{
		{"RS256", func() string { return mint(t, hdr("RS256", "a-rsa"), w.claimsA(), k.rsaA) }, w.a.issuer(), "user-1"},
		{"PS256 key", func() string { return mint(t, hdr("PS256", "a-ps"), w.claimsA(), k.rsaC) }, w.a.issuer(), "user-1"},
		{"ES256, alg derived from curve", func() string { return mint(t, hdr("ES256", "a-ec"), w.claimsA(), k.ec) }, w.a.issuer(), "user-1"},
		{"EdDSA", func() string { return mint(t, hdr("EdDSA", "a-ed"), w.claimsA(), k.ed) }, w.a.issuer(), "user-1"},
		{"second audience, aud as list", func() string {
			return mint(t, hdr("RS256", "a-rsa"), with(w.claimsA(), "aud", []string{"x", "other-aud"}), k.rsaA)
		}, w.a.issuer(), "user-1"},
		{"no kid, one-key JWKS", func() string {
			c := with(w.claimsA(), "iss", w.b.issuer(), "aud", "aud-b", "sub", "b-user")
			return mint(t, hdr("RS256", ""), c, k.rsaB)
		}, w.b.issuer(), "b-user"},
		{"firebase", func() string { return mint(t, hdr("RS256", "fb-rsa"), w.claimsFB(), k.rsaC) }, fbIssuer, "fbuid1"},
		{"sub of 128 bytes", func() string {
			return mint(t, hdr("RS256", "a-rsa"), with(w.claimsA(), "sub", strings.Repeat("s", 128)), k.rsaA)
		}, w.a.issuer(), strings.Repeat("s", 128)},
		{"fractional NumericDate", func() string {
			return mint(t, hdr("RS256", "a-rsa"), with(w.claimsA(), "exp", float64(w.clock.Now().Unix())+3600.5), k.rsaA)
		}, w.a.issuer(), "user-1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			id := verifyOK(t, w.v, c.token())
			if id.Issuer != c.iss || id.Subject != c.sub {
				t.Fatalf("identity %s/%s, want %s/%s", id.Issuer, id.Subject, c.iss, c.sub)
			}
		})
	}
}

func TestIdentityFields(t *testing.T) {
	w := newWorld(t)
	c := with(w.claimsA(), "role", "editor")
	id := verifyOK(t, w.v, mint(t, hdr("RS256", "a-rsa"), c, keys().rsaA))
	want := sluice.Identity{
		Issuer: w.a.issuer(), Subject: "user-1", Email: "u1@example.com", EmailVerified: true,
		ExpiresAt: time.Unix(c["exp"].(int64), 0).UTC(),
	}
	got := *id
	got.Claims = nil
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("identity %+v, want %+v", got, want)
	}
	if id.Claims["role"] != "editor" || id.Claims["iat"] != float64(c["iat"].(int64)) {
		t.Fatalf("claims %v", id.Claims)
	}
}

func TestLeeway(t *testing.T) {
	k := keys()
	w := newWorld(t, func(c *Config) { c.CacheSize = -1 })
	now := w.clock.Now().Unix()
	ok := []map[string]any{
		with(w.claimsA(), "exp", now-59),
		with(w.claimsA(), "nbf", now+59),
		with(w.claimsA(), "iat", now+59),
	}
	for i, c := range ok {
		t.Run(fmt.Sprint("within ", i), func(t *testing.T) { verifyOK(t, w.v, mint(t, hdr("RS256", "a-rsa"), c, k.rsaA)) })
	}
	verifyOK(t, w.v, mint(t, hdr("RS256", "fb-rsa"), with(w.claimsFB(), "auth_time", now+59), k.rsaC))

	refused := map[sluice.Code]map[string]any{
		sluice.CodeTokenExpired:      with(w.claimsA(), "exp", now-60),
		sluice.CodeTokenNotYetValid:  with(w.claimsA(), "nbf", now+61),
		sluice.CodeTokenIssuedFuture: with(w.claimsA(), "iat", now+61),
	}
	for code, c := range refused {
		_, err := w.v.Verify(context.Background(), mint(t, hdr("RS256", "a-rsa"), c, k.rsaA))
		wantCode(t, err, code)
	}
}

// TestKeyRotation: a new kid verifies once the set is refetched; the old
// one keeps verifying until it is gone from the JWKS and the cached set has
// expired, and then cached tokens signed by it stop verifying too.
func TestKeyRotation(t *testing.T) {
	k := keys()
	w := newWorld(t)
	old := mint(t, hdr("RS256", "a-rsa"), w.claimsA(), k.rsaA)
	verifyOK(t, w.v, old)

	w.a.set(func(p *idp) { p.keys = append(p.keys, jwk(k.rsaB, "a-new", "RS256")) })
	fresh := mint(t, hdr("RS256", "a-new"), with(w.claimsA(), "sub", "u-new"), k.rsaB)
	_, err := w.v.Verify(context.Background(), fresh)
	wantCode(t, err, sluice.CodeTokenUnknownKey) // refetch not allowed yet
	w.clock.Advance(DefaultRefetchInterval)
	verifyOK(t, w.v, fresh)
	verifyOK(t, w.v, old)
	if n := w.a.jwksHits.Load(); n != 2 {
		t.Fatalf("%d JWKS fetches, want 2", n)
	}

	w.a.set(func(p *idp) { p.keys = p.keys[1:] }) // drop a-rsa
	verifyOK(t, w.v, old)                         // set not expired yet
	w.clock.Advance(10 * time.Minute)             // max-age=600 is over
	_, err = w.v.Verify(context.Background(), old)
	wantCode(t, err, sluice.CodeTokenUnknownKey)
	verifyOK(t, w.v, fresh)
}

// TestForgedKidNoRefetchStorm: a flood of tokens with made-up kids costs
// at most one JWKS fetch per RefetchInterval, also when concurrent.
func TestForgedKidNoRefetchStorm(t *testing.T) {
	k := keys()
	w := newWorld(t, func(c *Config) { c.CacheSize = -1 })
	verifyOK(t, w.v, mint(t, hdr("RS256", "a-rsa"), w.claimsA(), k.rsaA))
	base := w.a.jwksHits.Load()

	forge := func(round int) {
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 250 {
					kid := fmt.Sprintf("forged-%d-%d-%d", round, g, i)
					_, err := w.v.Verify(context.Background(), mint(t, hdr("ES256", kid), w.claimsA(), k.ec))
					if !sluice.IsCode(err, sluice.CodeTokenUnknownKey) {
						t.Errorf("forged kid %s: %v", kid, err)
						return
					}
				}
			}()
		}
		wg.Wait()
	}
	forge(0)
	if n := w.a.jwksHits.Load() - base; n != 0 {
		t.Fatalf("1000 forged kids right after a fetch caused %d fetches, want 0", n)
	}
	w.clock.Advance(DefaultRefetchInterval)
	forge(1)
	if n := w.a.jwksHits.Load() - base; n != 1 {
		t.Fatalf("1000 forged kids after the interval caused %d fetches, want 1", n)
	}
}

func TestCacheControl(t *testing.T) {
	k := keys()
	tok := func(w *world) string {
		return mint(t, hdr("RS256", "a-rsa"), with(w.claimsA(), "exp", w.clock.Now().Add(48*time.Hour).Unix()), k.rsaA)
	}
	cases := []struct {
		header string
		ttl    time.Duration
	}{
		{"public, max-age=600", 600 * time.Second},
		{"max-age=5", minKeyTTL},
		{"no-store", minKeyTTL},
		{"", defaultKeyTTL},
		{"max-age=999999", maxKeyTTL},
	}
	for _, c := range cases {
		t.Run(c.header, func(t *testing.T) {
			w := newWorld(t, func(c *Config) { c.CacheSize = -1 })
			w.a.set(func(p *idp) { p.cacheControl = c.header })
			tk := tok(w)
			verifyOK(t, w.v, tk)
			w.clock.Advance(c.ttl - time.Second)
			verifyOK(t, w.v, tk)
			if n := w.a.jwksHits.Load(); n != 1 {
				t.Fatalf("%d fetches before max-age ran out, want 1", n)
			}
			w.clock.Advance(time.Second)
			verifyOK(t, w.v, tk)
			if n := w.a.jwksHits.Load(); n != 2 {
				t.Fatalf("%d fetches after max-age ran out, want 2", n)
			}
		})
	}
}

func TestKeyTTL(t *testing.T) {
	cases := map[string]time.Duration{
		"max-age=3600":              time.Hour,
		"public, max-age=19845":     19845 * time.Second,
		"max-age=0":                 minKeyTTL,
		`max-age="120"`:             2 * time.Minute,
		"no-cache":                  minKeyTTL,
		"private":                   defaultKeyTTL,
		"max-age=-5":                defaultKeyTTL,
		"max-age=99999999999999999": maxKeyTTL,
	}
	for h, want := range cases {
		if got := keyTTL([]string{h}); got != want {
			t.Errorf("keyTTL(%q) = %s, want %s", h, got, want)
		}
	}
}

func TestTokenCache(t *testing.T) {
	k := keys()
	w := newWorld(t)
	tok := mint(t, hdr("RS256", "a-rsa"), w.claimsA(), k.rsaA)
	first := verifyOK(t, w.v, tok)
	second := verifyOK(t, w.v, tok)
	if first != second || w.v.cache.hits.Load() != 1 {
		t.Fatalf("second Verify was not a cache hit (hits %d)", w.v.cache.hits.Load())
	}

	bad := mint(t, hdr("RS256", "a-rsa"), w.claimsA(), k.rsaB)
	for range 2 {
		_, err := w.v.Verify(context.Background(), bad)
		wantCode(t, err, sluice.CodeTokenSignature)
	}
	if n := w.v.cache.len(); n != 1 {
		t.Fatalf("cache holds %d entries after a refusal, want 1", n)
	}

	w.clock.Advance(time.Hour + DefaultLeeway) // exp + leeway
	_, err := w.v.Verify(context.Background(), tok)
	wantCode(t, err, sluice.CodeTokenExpired)
}

// TestTokenCacheKeyReplaced: an entry is only as good as the key that
// verified it. When the issuer publishes different key material under the
// same kid, cached tokens signed by the old key stop verifying.
func TestTokenCacheKeyReplaced(t *testing.T) {
	k := keys()
	w := newWorld(t)
	tok := mint(t, hdr("RS256", "a-rsa"), w.claimsA(), k.rsaA)
	verifyOK(t, w.v, tok)
	w.a.set(func(p *idp) { p.keys = []jose.JSONWebKey{jwk(k.rsaB, "a-rsa", "RS256")} })
	w.clock.Advance(10 * time.Minute) // the cached set expires
	_, err := w.v.Verify(context.Background(), tok)
	wantCode(t, err, sluice.CodeTokenSignature)
	if w.v.cache.hits.Load() != 0 {
		t.Fatal("served from the cache after the key changed")
	}
}

func TestTokenCacheBounded(t *testing.T) {
	k := keys()
	w := newWorld(t, func(c *Config) { c.CacheSize = 3 })
	for i := range 10 {
		verifyOK(t, w.v, mint(t, hdr("ES256", "a-ec"), with(w.claimsA(), "sub", fmt.Sprint("u", i)), k.ec))
	}
	if n := w.v.cache.len(); n != 3 {
		t.Fatalf("cache holds %d entries, want 3", n)
	}
	off := newWorld(t, func(c *Config) { c.CacheSize = -1 })
	if off.v.cache != nil {
		t.Fatal("negative CacheSize did not disable the cache")
	}
}

func TestJWKSNeverReachable(t *testing.T) {
	w := newWorld(t)
	w.a.set(func(p *idp) { p.down = true })
	_, err := w.v.Verify(context.Background(), mint(t, hdr("RS256", "a-rsa"), w.claimsA(), keys().rsaA))
	wantCode(t, err, sluice.CodeIdentityUnavailable)
	wantCode(t, w.v.Ready(context.Background()), sluice.CodeIdentityUnavailable)
	// Failures back off: an immediate second try does not hit the server.
	hits := w.a.discoHits.Load()
	_, err = w.v.Verify(context.Background(), mint(t, hdr("RS256", "a-rsa"), w.claimsA(), keys().rsaA))
	wantCode(t, err, sluice.CodeIdentityUnavailable)
	if w.a.discoHits.Load() != hits {
		t.Fatal("retried at once after a failure")
	}
}

func TestDiscovery(t *testing.T) {
	k := keys()
	t.Run("issuer mismatch", func(t *testing.T) {
		w := newWorld(t)
		w.a.set(func(p *idp) { p.discoIssuer = "https://evil.example.com" })
		_, err := w.v.Verify(context.Background(), mint(t, hdr("RS256", "a-rsa"), w.claimsA(), k.rsaA))
		wantCode(t, err, sluice.CodeIdentityUnavailable)
		if w.a.jwksHits.Load() != 0 {
			t.Fatal("fetched keys named by a document for another issuer")
		}
	})
	t.Run("plain http jwks_uri off loopback", func(t *testing.T) {
		w := newWorld(t)
		w.a.set(func(p *idp) { p.discoJWKSURI = "http://keys.example.com/jwks" })
		_, err := w.v.Verify(context.Background(), mint(t, hdr("RS256", "a-rsa"), w.claimsA(), k.rsaA))
		wantCode(t, err, sluice.CodeIdentityUnavailable)
	})
	t.Run("redirect to plain http off loopback", func(t *testing.T) {
		w := newWorld(t)
		w.a.set(func(p *idp) { p.redirect = "http://keys.example.com/jwks" })
		_, err := w.v.Verify(context.Background(), mint(t, hdr("RS256", "a-rsa"), w.claimsA(), k.rsaA))
		wantCode(t, err, sluice.CodeIdentityUnavailable)
		if !strings.Contains(err.Error(), "must be https") {
			t.Fatalf("error %v", err)
		}
	})
	t.Run("once per process", func(t *testing.T) {
		w := newWorld(t)
		verifyOK(t, w.v, mint(t, hdr("RS256", "a-rsa"), w.claimsA(), k.rsaA))
		w.clock.Advance(time.Hour)
		verifyOK(t, w.v, mint(t, hdr("RS256", "a-rsa"), w.claimsA(), k.rsaA))
		if d, j := w.a.discoHits.Load(), w.a.jwksHits.Load(); d != 1 || j != 2 {
			t.Fatalf("%d discovery and %d JWKS fetches, want 1 and 2", d, j)
		}
	})
}

func TestReady(t *testing.T) {
	w := newWorld(t)
	if err := w.v.Ready(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, p := range []*idp{w.a, w.b, w.fbP} {
		if p.jwksHits.Load() != 1 {
			t.Fatalf("Ready fetched %s %d times, want 1", p.issuer(), p.jwksHits.Load())
		}
	}
	w.b.set(func(p *idp) { p.down = true })
	w.clock.Advance(10*time.Minute + DefaultJWKSGrace)
	err := w.v.Ready(context.Background())
	wantCode(t, err, sluice.CodeIdentityUnavailable)
	if !strings.Contains(err.Error(), w.b.issuer()) {
		t.Fatalf("error %v does not name the issuer", err)
	}
}

// TestJWKSKeyFiltering: keys sluice must never verify with are dropped
// from a JWKS, and the rest of the set still works.
func TestJWKSKeyFiltering(t *testing.T) {
	k := keys()
	small := must(rsaKey(1024))
	raw := fmt.Sprintf(`{"keys":[
		{"kty":"oct","kid":"sym","alg":"HS256","k":"c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTEyMzQ1Ng"},
		%s, %s, %s, %s,
		{"kty":"EC","kid":"bad-alg","crv":"P-256","alg":"RS256","x":%q,"y":%q},
		{"kty":"XYZ","kid":"alien"}
	]}`,
		jsonOf(t, jwk(k.rsaA, "a-rsa", "RS256")),
		strings.Replace(jsonOf(t, jwk(k.rsaB, "enc", "")), `"use":"sig"`, `"use":"enc"`, 1),
		jsonOf(t, jwk(small, "small", "RS256")),
		jsonOf(t, privateJWK(k.rsaC, "private")),
		b64u(k.ec.X.FillBytes(make([]byte, 32))), b64u(k.ec.Y.FillBytes(make([]byte, 32))))
	set, err := parseJWKS([]byte(raw), discard)
	if err != nil {
		t.Fatal(err)
	}
	var kids []string
	for _, key := range set.all {
		kids = append(kids, key.kid)
	}
	if !reflect.DeepEqual(kids, []string{"a-rsa"}) {
		t.Fatalf("usable keys %v, want [a-rsa]", kids)
	}

	w := newWorld(t)
	w.a.set(func(p *idp) { p.rawJWKS = []byte(raw) })
	verifyOK(t, w.v, mint(t, hdr("RS256", "a-rsa"), w.claimsA(), k.rsaA))
	for kid, key := range map[string]any{"enc": k.rsaB, "small": small, "private": k.rsaC} {
		_, err := w.v.Verify(context.Background(), mint(t, hdr("RS256", kid), w.claimsA(), key))
		wantCode(t, err, sluice.CodeTokenUnknownKey)
	}
	_, err = w.v.Verify(context.Background(), mint(t, hdr("HS256", "sym"), w.claimsA(), []byte("secret-secret-secret-secret-123456")))
	wantCode(t, err, sluice.CodeTokenAlgorithm)

	if _, err := parseJWKS([]byte(`{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`), discard); err == nil {
		t.Fatal("a JWKS with only an HMAC key was accepted")
	}
}

func TestEmulator(t *testing.T) {
	k := keys()
	clock := newClock()
	v := must(New(Config{
		Issuers: []IssuerConfig{{Firebase: "demo-sluice", FirebaseEmulator: true}},
		Now:     clock.Now,
	}))
	if !v.EmulatorEnabled() {
		t.Fatal("EmulatorEnabled is false")
	}
	now := clock.Now().Unix()
	claims := map[string]any{
		"iss": "https://securetoken.google.com/demo-sluice", "aud": "demo-sluice",
		"sub": "emu-uid", "email": "e@example.com", "email_verified": false,
		"iat": now, "auth_time": now, "exp": now + 3600,
	}
	id := verifyOK(t, v, mint(t, hdr("none", ""), claims, nil))
	if id.Subject != "emu-uid" || id.Email != "e@example.com" || id.EmailVerified {
		t.Fatalf("identity %+v", id)
	}
	if err := v.Ready(context.Background()); err != nil {
		t.Fatalf("Ready with only an emulator issuer: %v", err)
	}
	refusals := map[string]struct {
		token string
		code  sluice.Code
	}{
		"signed token":        {mint(t, hdr("RS256", "k"), claims, k.rsaA), sluice.CodeTokenAlgorithm},
		"unsigned with sig":   {mint(t, hdr("none", ""), claims, nil) + "c2ln", sluice.CodeTokenSignature},
		"auth_time in future": {mint(t, hdr("none", ""), with(claims, "auth_time", now+3600), nil), sluice.CodeTokenAuthFuture},
		"expired":             {mint(t, hdr("none", ""), with(claims, "exp", now-3600), nil), sluice.CodeTokenExpired},
		"other project":       {mint(t, hdr("none", ""), with(claims, "aud", "demo-other"), nil), sluice.CodeTokenAudience},
		"other issuer":        {mint(t, hdr("none", ""), with(claims, "iss", "https://securetoken.google.com/demo-other"), nil), sluice.CodeTokenIssuer},
	}
	for name, r := range refusals {
		t.Run(name, func(t *testing.T) {
			_, err := v.Verify(context.Background(), r.token)
			wantCode(t, err, r.code)
		})
	}
	if newWorld(t).v.EmulatorEnabled() {
		t.Fatal("EmulatorEnabled without an emulator issuer")
	}
}

func TestContextCancelWhileFetching(t *testing.T) {
	block := make(chan struct{})
	defer close(block)
	w := newWorld(t)
	w.a.set(func(p *idp) { p.hang = block })
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := w.v.Verify(ctx, mint(t, hdr("RS256", "a-rsa"), w.claimsA(), keys().rsaA))
	wantCode(t, err, sluice.CodeIdentityUnavailable)
}

// TestOutageDoesNotStall: once a refresh has failed, a stale set within its
// grace answers at once while retries run in the background, rather than
// holding every request for the fetch timeout of a hanging endpoint.
func TestOutageDoesNotStall(t *testing.T) {
	block := make(chan struct{})
	defer close(block)
	w := newWorld(t, func(c *Config) { c.CacheSize = -1 })
	tok := mint(t, hdr("RS256", "a-rsa"), with(w.claimsA(), "exp", w.clock.Now().Add(5*time.Hour).Unix()), keys().rsaA)
	verifyOK(t, w.v, tok)
	w.a.set(func(p *idp) { p.down = true })
	w.clock.Advance(10 * time.Minute)
	verifyOK(t, w.v, tok) // this refresh fails; the old set serves

	w.a.set(func(p *idp) { p.down, p.hang = false, block })
	w.clock.Advance(DefaultRefetchInterval)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := w.v.Verify(ctx, tok); err != nil {
		t.Fatalf("stalled behind a hanging key fetch: %v", err)
	}
}
