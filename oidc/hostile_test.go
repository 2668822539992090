package oidc

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
)

// hmacSecrets are the encodings of issuer a's RSA public key that the
// classic HS256 key-confusion attack uses as the HMAC secret.
func hmacSecrets(t testing.TB, pub *rsa.PublicKey, jwkJSON []byte) map[string][]byte {
	pkix := must(x509.MarshalPKIXPublicKey(pub))
	pkcs1 := x509.MarshalPKCS1PublicKey(pub)
	return map[string][]byte{
		"pem":       pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pkix}),
		"pem-pkcs1": pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: pkcs1}),
		"der":       pkix,
		"jwk-json":  jwkJSON,
	}
}

// TestHostileTokens runs every token against a real JWKS served over HTTP
// and insists on the exact refusal code: an attack and a misconfiguration
// must be told apart in the logs.
func TestHostileTokens(t *testing.T) {
	k := keys()
	type tc struct {
		name  string
		token func(t *testing.T, w *world) string
		code  sluice.Code
	}
	signedA := func(h, c func(w *world) map[string]any) func(*testing.T, *world) string {
		return func(t *testing.T, w *world) string { return mint(t, h(w), c(w), k.rsaA) }
	}
	rsHdr := func(*world) map[string]any { return hdr("RS256", "a-rsa") }
	claimsWith := func(kv ...any) func(w *world) map[string]any {
		return func(w *world) map[string]any { return with(w.claimsA(), kv...) }
	}
	cases := []tc{
		{"empty", func(*testing.T, *world) string { return "" }, sluice.CodeTokenMissing},
		{"huge token", func(t *testing.T, w *world) string {
			return mint(t, hdr("RS256", "a-rsa"), with(w.claimsA(), "pad", strings.Repeat("x", 20000)), k.rsaA)
		}, sluice.CodeTokenTooLarge},
		{"two segments", func(t *testing.T, w *world) string {
			tok := mint(t, hdr("RS256", "a-rsa"), w.claimsA(), k.rsaA)
			return tok[:strings.LastIndex(tok, ".")]
		}, sluice.CodeTokenMalformed},
		{"four segments", func(t *testing.T, w *world) string {
			return mint(t, hdr("RS256", "a-rsa"), w.claimsA(), k.rsaA) + ".AAAA"
		}, sluice.CodeTokenMalformed},
		{"bad base64 in payload", func(t *testing.T, w *world) string {
			parts := strings.Split(mint(t, hdr("RS256", "a-rsa"), w.claimsA(), k.rsaA), ".")
			return parts[0] + ".e30*" + "." + parts[2]
		}, sluice.CodeTokenMalformed},
		{"padded base64", func(t *testing.T, w *world) string {
			parts := strings.Split(mint(t, hdr("RS256", "a-rsa"), w.claimsA(), k.rsaA), ".")
			return parts[0] + "." + base64.URLEncoding.EncodeToString([]byte(`{"iss":"x"}`)) + "." + parts[2]
		}, sluice.CodeTokenMalformed},
		{"bad JSON in header", func(t *testing.T, w *world) string {
			parts := strings.Split(mint(t, hdr("RS256", "a-rsa"), w.claimsA(), k.rsaA), ".")
			return base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256",`)) + "." + parts[1] + "." + parts[2]
		}, sluice.CodeTokenMalformed},
		{"bad JSON in payload", func(t *testing.T, w *world) string {
			parts := strings.Split(mint(t, hdr("RS256", "a-rsa"), w.claimsA(), k.rsaA), ".")
			return parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`["not","an","object"]`)) + "." + parts[2]
		}, sluice.CodeTokenMalformed},
		{"newline inside token", func(t *testing.T, w *world) string {
			tok := mint(t, hdr("RS256", "a-rsa"), w.claimsA(), k.rsaA)
			return tok[:10] + "\n" + tok[10:]
		}, sluice.CodeTokenMalformed},
		{"crit header", signedA(func(*world) map[string]any {
			return with(hdr("RS256", "a-rsa"), "crit", []string{"exp"}, "exp", 1)
		}, func(w *world) map[string]any { return w.claimsA() }), sluice.CodeTokenMalformed},
		{"wrong signature (other key, same kid)", func(t *testing.T, w *world) string {
			return mint(t, hdr("RS256", "a-rsa"), w.claimsA(), k.rsaB)
		}, sluice.CodeTokenSignature},
		{"tampered payload", func(t *testing.T, w *world) string {
			parts := strings.Split(mint(t, hdr("RS256", "a-rsa"), w.claimsA(), k.rsaA), ".")
			return parts[0] + "." + seg(t, with(w.claimsA(), "sub", "admin")) + "." + parts[2]
		}, sluice.CodeTokenSignature},
		{"alg none", func(t *testing.T, w *world) string {
			return mint(t, hdr("none", ""), w.claimsA(), nil)
		}, sluice.CodeTokenAlgorithm},
		{"alg none with kid and a signature", func(t *testing.T, w *world) string {
			tok := mint(t, hdr("none", "a-rsa"), w.claimsA(), nil)
			return tok + "c2ln"
		}, sluice.CodeTokenAlgorithm},
		{"emulator token, emulator not enabled", func(t *testing.T, w *world) string {
			return mint(t, hdr("none", ""), w.claimsFB(), nil)
		}, sluice.CodeTokenAlgorithm},
		{"alg HS256 plain secret", func(t *testing.T, w *world) string {
			return mint(t, hdr("HS256", "a-rsa"), w.claimsA(), []byte("secret"))
		}, sluice.CodeTokenAlgorithm},
		{"alg RS1 (unknown)", func(t *testing.T, w *world) string {
			return mint(t, hdr("RS1", "a-rsa"), w.claimsA(), nil)
		}, sluice.CodeTokenAlgorithm},
		{"RS384 header on an RS256 key", func(t *testing.T, w *world) string {
			return mint(t, hdr("RS384", "a-rsa"), w.claimsA(), k.rsaA)
		}, sluice.CodeTokenAlgorithm},
		{"PS256 header on an RS256 key", func(t *testing.T, w *world) string {
			return mint(t, hdr("PS256", "a-rsa"), w.claimsA(), k.rsaA)
		}, sluice.CodeTokenAlgorithm},
		{"RS256 header on a PS256 key", func(t *testing.T, w *world) string {
			return mint(t, hdr("RS256", "a-ps"), w.claimsA(), k.rsaC)
		}, sluice.CodeTokenAlgorithm},
		{"ES384 header on a P-256 key without alg", func(t *testing.T, w *world) string {
			return mint(t, hdr("ES384", "a-ec"), w.claimsA(), k.ec)
		}, sluice.CodeTokenAlgorithm},
		{"unknown kid", func(t *testing.T, w *world) string {
			return mint(t, hdr("RS256", "no-such-kid"), w.claimsA(), k.rsaA)
		}, sluice.CodeTokenUnknownKey},
		{"kid of another issuer", func(t *testing.T, w *world) string {
			return mint(t, hdr("RS256", "b-rsa"), w.claimsA(), k.rsaB)
		}, sluice.CodeTokenUnknownKey},
		{"no kid, several keys", func(t *testing.T, w *world) string {
			return mint(t, hdr("RS256", ""), w.claimsA(), k.rsaA)
		}, sluice.CodeTokenUnknownKey},
		{"firebase without kid", func(t *testing.T, w *world) string {
			return mint(t, hdr("RS256", ""), w.claimsFB(), k.rsaC)
		}, sluice.CodeTokenUnknownKey},
		{"wrong issuer", signedA(rsHdr, claimsWith("iss", "https://evil.example.com")), sluice.CodeTokenIssuer},
		{"no issuer", signedA(rsHdr, claimsWith("iss", nil)), sluice.CodeTokenIssuer},
		{"issuer differs by trailing slash", func(t *testing.T, w *world) string {
			return mint(t, hdr("RS256", "a-rsa"), with(w.claimsA(), "iss", w.a.issuer()+"/"), k.rsaA)
		}, sluice.CodeTokenIssuer},
		{"expired", func(t *testing.T, w *world) string {
			now := w.clock.Now().Unix()
			return mint(t, hdr("RS256", "a-rsa"), with(w.claimsA(), "iat", now-7200, "exp", now-61), k.rsaA)
		}, sluice.CodeTokenExpired},
		{"not yet valid", func(t *testing.T, w *world) string {
			return mint(t, hdr("RS256", "a-rsa"), with(w.claimsA(), "nbf", w.clock.Now().Unix()+120), k.rsaA)
		}, sluice.CodeTokenNotYetValid},
		{"iat in the future", func(t *testing.T, w *world) string {
			return mint(t, hdr("RS256", "a-rsa"), with(w.claimsA(), "iat", w.clock.Now().Unix()+120), k.rsaA)
		}, sluice.CodeTokenIssuedFuture},
		{"auth_time in the future (firebase)", func(t *testing.T, w *world) string {
			return mint(t, hdr("RS256", "fb-rsa"), with(w.claimsFB(), "auth_time", w.clock.Now().Unix()+3600), k.rsaC)
		}, sluice.CodeTokenAuthFuture},
		{"auth_time missing (firebase)", func(t *testing.T, w *world) string {
			return mint(t, hdr("RS256", "fb-rsa"), with(w.claimsFB(), "auth_time", nil), k.rsaC)
		}, sluice.CodeTokenClaims},
		{"wrong audience", signedA(rsHdr, claimsWith("aud", "https://other.example.com")), sluice.CodeTokenAudience},
		{"audience list without ours", signedA(rsHdr, claimsWith("aud", []string{"x", "y"})), sluice.CodeTokenAudience},
		{"no audience", signedA(rsHdr, claimsWith("aud", nil)), sluice.CodeTokenAudience},
		{"firebase token of another project", func(t *testing.T, w *world) string {
			return mint(t, hdr("RS256", "fb-rsa"), with(w.claimsFB(), "aud", "proj-2"), k.rsaC)
		}, sluice.CodeTokenAudience},
		{"missing sub", signedA(rsHdr, claimsWith("sub", nil)), sluice.CodeTokenSubject},
		{"empty sub", signedA(rsHdr, claimsWith("sub", "")), sluice.CodeTokenSubject},
		{"sub of 129 bytes", signedA(rsHdr, claimsWith("sub", strings.Repeat("s", 129))), sluice.CodeTokenSubject},
		{"exp of wrong type", signedA(rsHdr, claimsWith("exp", "2099-01-01")), sluice.CodeTokenClaims},
		{"exp null", signedA(rsHdr, claimsWith("exp", json.RawMessage("null"))), sluice.CodeTokenClaims},
		{"exp absurdly large", signedA(rsHdr, claimsWith("exp", 1e300)), sluice.CodeTokenClaims},
		{"exp missing", signedA(rsHdr, claimsWith("exp", nil)), sluice.CodeTokenClaims},
		{"iat missing", signedA(rsHdr, claimsWith("iat", nil)), sluice.CodeTokenClaims},
		{"sub of wrong type", signedA(rsHdr, claimsWith("sub", 42)), sluice.CodeTokenClaims},
		{"aud of wrong type", signedA(rsHdr, claimsWith("aud", 42)), sluice.CodeTokenClaims},
		{"email_verified as string", signedA(rsHdr, claimsWith("email_verified", "true")), sluice.CodeTokenClaims},
		{"iss of wrong type", signedA(rsHdr, claimsWith("iss", []string{"x"})), sluice.CodeTokenClaims},
	}
	pubJWK := must(json.Marshal(jwk(k.rsaA, "a-rsa", "RS256")))
	for name, secret := range hmacSecrets(t, &k.rsaA.PublicKey, pubJWK) {
		for _, kid := range []string{"a-rsa", ""} {
			cases = append(cases, tc{"HS256 keyed with the RSA public key as " + name + " kid=" + kid,
				func(t *testing.T, w *world) string { return mint(t, hdr("HS256", kid), w.claimsA(), secret) },
				sluice.CodeTokenAlgorithm})
		}
	}
	if len(cases) < 20 {
		t.Fatalf("only %d hostile cases", len(cases))
	}
	w := newWorld(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := w.v.Verify(context.Background(), c.token(t, w))
			wantCode(t, err, c.code)
		})
	}
	// A forged kid may refetch only once per RefetchInterval, and the clock
	// is frozen: the whole table cost each issuer at most one fetch.
	for name, p := range map[string]*idp{"a": w.a, "b": w.b, "fb": w.fbP} {
		if n := p.jwksHits.Load(); n > 1 {
			t.Errorf("issuer %s: %d JWKS fetches for the whole table; want at most 1", name, n)
		}
	}
}

// TestHostileJWKSDownPastGrace: with the endpoint down for longer than the
// grace period, a token that verified before is refused with 503, never
// accepted from stale keys or the token cache.
func TestHostileJWKSDownPastGrace(t *testing.T) {
	w := newWorld(t, func(c *Config) { c.JWKSGrace = 30 * time.Minute })
	w.a.set(func(p *idp) { p.cacheControl = "max-age=60" })
	tok := mint(t, hdr("RS256", "a-rsa"), with(w.claimsA(), "exp", w.clock.Now().Add(10*time.Hour).Unix()), keys().rsaA)
	verifyOK(t, w.v, tok)
	w.a.set(func(p *idp) { p.down = true })

	w.clock.Advance(60*time.Second + 29*time.Minute) // stale, within grace
	verifyOK(t, w.v, tok)
	verifyOK(t, w.v, mint(t, hdr("ES256", "a-ec"), with(w.claimsA(), "sub", "u2"), keys().ec))

	w.clock.Advance(2 * time.Minute) // past grace
	_, err := w.v.Verify(context.Background(), tok)
	wantCode(t, err, sluice.CodeIdentityUnavailable)
	if got := sluice.HTTPStatus(sluice.ErrorCode(err)); got != 503 {
		t.Errorf("status %d, want 503", got)
	}
	wantCode(t, w.v.Ready(context.Background()), sluice.CodeIdentityUnavailable)

	// Back up: after the retry backoff, the same token verifies again.
	w.a.set(func(p *idp) { p.down = false })
	w.clock.Advance(w.v.issuers[w.a.issuer()].keys.refetch)
	verifyOK(t, w.v, tok)
	if err := w.v.Ready(context.Background()); err != nil {
		t.Fatalf("Ready after recovery: %v", err)
	}
}
