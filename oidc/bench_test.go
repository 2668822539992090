package oidc

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"math/big"
	"strings"
	"testing"
	"time"
)

// benchToken mints a token with the real clock for a verifier on the real
// clock, primes the verifier (keys fetched) and returns both.
func benchToken(b *testing.B, alg, kid string, key any, cacheSize int) (*Verifier, string) {
	p := newIDP(b, jwk(keys().rsaA, "a-rsa", "RS256"), jwk(keys().ec, "a-ec", "ES256"))
	v := must(New(Config{
		Issuers:   []IssuerConfig{{Issuer: p.issuer(), Audiences: []string{audA}, JWKSURL: p.jwksURL()}},
		CacheSize: cacheSize,
	}))
	now := time.Now().Unix()
	tok := mint(b, hdr(alg, kid), map[string]any{
		"iss": p.issuer(), "aud": audA, "sub": "bench-user", "email": "b@example.com",
		"email_verified": true, "iat": now, "exp": now + 3600,
	}, key)
	verifyOK(b, v, tok)
	return v, tok
}

func benchVerify(b *testing.B, v *Verifier, tok string) {
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyRS256Cold(b *testing.B) {
	v, tok := benchToken(b, "RS256", "a-rsa", keys().rsaA, -1)
	benchVerify(b, v, tok)
}

func BenchmarkVerifyRS256Cached(b *testing.B) {
	v, tok := benchToken(b, "RS256", "a-rsa", keys().rsaA, 0)
	benchVerify(b, v, tok)
}

func BenchmarkVerifyES256Cold(b *testing.B) {
	v, tok := benchToken(b, "ES256", "a-ec", keys().ec, -1)
	benchVerify(b, v, tok)
}

// signingInput splits a token into the SHA-256 of what was signed and the
// signature, for the raw-crypto baselines.
func signingInput(tok string) ([]byte, []byte) {
	i := strings.LastIndex(tok, ".")
	sum := sha256.Sum256([]byte(tok[:i]))
	sig, _ := base64.RawURLEncoding.DecodeString(tok[i+1:])
	return sum[:], sig
}

func BenchmarkRawRSAVerify(b *testing.B) {
	_, tok := benchToken(b, "RS256", "a-rsa", keys().rsaA, -1)
	digest, sig := signingInput(tok)
	pub := &keys().rsaA.PublicKey
	b.ReportAllocs()
	for b.Loop() {
		if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest, sig); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRawECDSAVerify(b *testing.B) {
	_, tok := benchToken(b, "ES256", "a-ec", keys().ec, -1)
	digest, sig := signingInput(tok)
	pub := &keys().ec.PublicKey
	r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
	b.ReportAllocs()
	for b.Loop() {
		if !ecdsa.Verify(pub, digest, r, s) {
			b.Fatal("signature does not verify")
		}
	}
}
