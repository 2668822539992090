package oidc

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/sluicehq/sluice"
)

// Keys are made once per test binary: RSA generation is the slow part.
type testKeys struct {
	rsaA, rsaB, rsaC *rsa.PrivateKey
	ec               *ecdsa.PrivateKey
	ed               ed25519.PrivateKey
}

var keys = sync.OnceValue(func() *testKeys {
	k := &testKeys{}
	for _, p := range []**rsa.PrivateKey{&k.rsaA, &k.rsaB, &k.rsaC} {
		*p = must(rsa.GenerateKey(rand.Reader, 2048))
	}
	k.ec = must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))
	var err error
	if _, k.ed, err = ed25519.GenerateKey(rand.Reader); err != nil {
		panic(err)
	}
	return k
})

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// fakeClock is an injected clock tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// idp is a real HTTP key server: discovery document at
// /.well-known/openid-configuration, JWKS at /jwks, both counted.
type idp struct {
	srv       *httptest.Server
	jwksHits  atomic.Int64
	discoHits atomic.Int64

	mu           sync.Mutex
	keys         []jose.JSONWebKey
	rawJWKS      []byte // when set, served instead of keys
	cacheControl string
	down         bool
	discoIssuer  string        // overrides the issuer the document names
	discoJWKSURI string        // overrides jwks_uri
	hang         chan struct{} // when set, requests wait for it to close
	redirect     string        // when set, /jwks redirects there
}

func newIDP(t testing.TB, ks ...jose.JSONWebKey) *idp {
	p := &idp{keys: ks, cacheControl: "max-age=600"}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *idp) issuer() string  { return p.srv.URL }
func (p *idp) jwksURL() string { return p.srv.URL + "/jwks" }

func (p *idp) serve(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	hang := p.hang
	p.mu.Unlock()
	if hang != nil {
		<-hang
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var body []byte
	switch r.URL.Path {
	case "/.well-known/openid-configuration":
		p.discoHits.Add(1)
		iss, uri := p.issuer(), p.jwksURL()
		if p.discoIssuer != "" {
			iss = p.discoIssuer
		}
		if p.discoJWKSURI != "" {
			uri = p.discoJWKSURI
		}
		body, _ = json.Marshal(map[string]string{"issuer": iss, "jwks_uri": uri})
	case "/jwks":
		p.jwksHits.Add(1)
		if p.redirect != "" {
			http.Redirect(w, r, p.redirect, http.StatusFound)
			return
		}
		body = p.rawJWKS
		if body == nil {
			body, _ = json.Marshal(jose.JSONWebKeySet{Keys: p.keys})
		}
		if p.cacheControl != "" {
			w.Header().Set("Cache-Control", p.cacheControl)
		}
	default:
		http.NotFound(w, r)
		return
	}
	if p.down {
		http.Error(w, "down", http.StatusBadGateway)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(body)
}

func (p *idp) set(f func(p *idp)) {
	p.mu.Lock()
	f(p)
	p.mu.Unlock()
}

// jwk is the public JWK of priv; alg may be empty (the verifier derives it).
func jwk(priv crypto.Signer, kid, alg string) jose.JSONWebKey {
	return jose.JSONWebKey{Key: priv.Public(), KeyID: kid, Algorithm: alg, Use: "sig"}
}

// mint builds a compact JWS by hand, so tests can write any header and
// claims, and signs it with key according to header["alg"]: an RSA, EC or
// Ed25519 private key, a []byte HMAC secret, or nil for an empty signature.
func mint(t testing.TB, header, claims map[string]any, key any) string {
	t.Helper()
	input := seg(t, header) + "." + seg(t, claims)
	alg, _ := header["alg"].(string)
	return input + "." + base64.RawURLEncoding.EncodeToString(signInput(t, alg, key, []byte(input)))
}

func seg(t testing.TB, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func hashOf(alg string) crypto.Hash {
	switch alg[len(alg)-3:] {
	case "384":
		return crypto.SHA384
	case "512":
		return crypto.SHA512
	}
	return crypto.SHA256
}

func signInput(t testing.TB, alg string, key any, input []byte) []byte {
	t.Helper()
	if key == nil {
		return nil
	}
	if k, ok := key.(ed25519.PrivateKey); ok {
		return ed25519.Sign(k, input)
	}
	h := hashOf(alg).New()
	h.Write(input)
	digest := h.Sum(nil)
	var sig []byte
	var err error
	switch k := key.(type) {
	case []byte:
		m := hmac.New(hashOf(alg).New, k)
		m.Write(input)
		return m.Sum(nil)
	case *rsa.PrivateKey:
		if strings.HasPrefix(alg, "PS") {
			sig, err = rsa.SignPSS(rand.Reader, k, hashOf(alg), digest, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		} else {
			sig, err = rsa.SignPKCS1v15(rand.Reader, k, hashOf(alg), digest)
		}
	case *ecdsa.PrivateKey:
		r, s, e := ecdsa.Sign(rand.Reader, k, digest)
		size := (k.Curve.Params().BitSize + 7) / 8
		sig, err = append(r.FillBytes(make([]byte, size)), s.FillBytes(make([]byte, size))...), e
	default:
		t.Fatalf("mint: key type %T", key)
	}
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

// world is a verifier trusting three issuers over real HTTP:
//   - a: generic OIDC, keys by discovery: RSA "a-rsa" (RS256), RSA "a-ps"
//     (PS256), EC "a-ec" (alg left to derive: ES256), Ed25519 "a-ed";
//   - b: generic OIDC with a configured JWKS URL: RSA "b-rsa";
//   - fb: Firebase project "proj-1", its JWKS served by fbIDP: RSA "fb-rsa".
type world struct {
	clock     *fakeClock
	a, b, fbP *idp
	v         *Verifier
}

const (
	audA      = "https://api.example.com"
	fbProject = "proj-1"
	fbIssuer  = "https://securetoken.google.com/proj-1"
)

func newWorld(t testing.TB, mod ...func(*Config)) *world {
	k := keys()
	w := &world{clock: newClock()}
	w.a = newIDP(t, jwk(k.rsaA, "a-rsa", "RS256"), jwk(k.rsaC, "a-ps", "PS256"), jwk(k.ec, "a-ec", ""), jwk(k.ed, "a-ed", "EdDSA"))
	w.b = newIDP(t, jwk(k.rsaB, "b-rsa", "RS256"))
	w.fbP = newIDP(t, jwk(k.rsaC, "fb-rsa", "RS256"))
	cfg := Config{
		Issuers: []IssuerConfig{
			{Issuer: w.a.issuer(), Audiences: []string{audA, "other-aud"}},
			{Issuer: w.b.issuer(), Audiences: []string{"aud-b"}, JWKSURL: w.b.jwksURL()},
			{Firebase: fbProject, JWKSURL: w.fbP.jwksURL()},
		},
		Now: w.clock.Now,
	}
	for _, m := range mod {
		m(&cfg)
	}
	w.v = must(New(cfg))
	return w
}

func (w *world) claimsA() map[string]any {
	now := w.clock.Now().Unix()
	return map[string]any{
		"iss": w.a.issuer(), "aud": audA, "sub": "user-1",
		"email": "u1@example.com", "email_verified": true,
		"iat": now - 10, "exp": now + 3600,
	}
}

func (w *world) claimsFB() map[string]any {
	now := w.clock.Now().Unix()
	return map[string]any{
		"iss": fbIssuer, "aud": fbProject, "sub": "fbuid1", "user_id": "fbuid1",
		"iat": now - 10, "auth_time": now - 100, "exp": now + 3600,
		"firebase": map[string]any{"sign_in_provider": "password", "identities": map[string]any{}},
	}
}

func hdr(alg, kid string) map[string]any {
	h := map[string]any{"alg": alg, "typ": "JWT"}
	if kid != "" {
		h["kid"] = kid
	}
	return h
}

// with returns a copy of m with the changes applied; a nil value deletes.
func with(m map[string]any, kv ...any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
		} else {
			out[kv[i].(string)] = kv[i+1]
		}
	}
	return out
}

func wantCode(t testing.TB, err error, code sluice.Code) {
	t.Helper()
	if err == nil {
		t.Fatalf("accepted; want %s", code)
	}
	var se *sluice.Error
	if !errors.As(err, &se) {
		t.Fatalf("error %v is not a *sluice.Error", err)
	}
	if se.Code != code {
		t.Fatalf("code %s (%v); want %s", se.Code, err, code)
	}
}

func verifyOK(t testing.TB, v *Verifier, token string) *sluice.Identity {
	t.Helper()
	id, err := v.Verify(context.Background(), token)
	if err != nil {
		t.Fatalf("refused: %v", err)
	}
	if id == nil {
		t.Fatal("nil identity without error")
	}
	return id
}

var discard = slog.New(slog.DiscardHandler)

func rsaKey(bits int) (*rsa.PrivateKey, error) { return rsa.GenerateKey(rand.Reader, bits) }

func jsonOf(t testing.TB, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func privateJWK(priv crypto.Signer, kid string) jose.JSONWebKey {
	return jose.JSONWebKey{Key: priv, KeyID: kid, Algorithm: "RS256", Use: "sig"}
}

func b64u(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
