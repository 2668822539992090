package oidc

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/sluicehq/sluice/internal/secretfile"
)

// DevAudience is the audience of every development token.
const DevAudience = "sluice-dev"

// devKeyFile is the dev issuer's private key in dir, PKCS#8 PEM.
const devKeyFile = "dev-issuer-key.pem"

// DevIssuer is a tiny OIDC issuer for development: it mints RS256 tokens
// and serves the discovery document and JWKS that let a Verifier check
// them exactly as it checks any other issuer's, over HTTP.
type DevIssuer struct {
	issuer string
	path   string // URL path of issuer, without trailing slash
	kid    string
	signer jose.Signer
	disco  []byte
	jwks   []byte
}

// OpenDevIssuer loads the RSA key in dir/dev-issuer-key.pem, creating it
// (2048 bits, mode 0600, in a directory created 0700) on first use, and
// uses issuerURL (e.g. "http://127.0.0.1:8080/dev") as iss. Two processes
// racing to create the key end up with the same one.
func OpenDevIssuer(dir, issuerURL string) (*DevIssuer, error) {
	u, err := url.Parse(issuerURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("oidc: dev issuer URL %q: want http(s)://host[/path]", issuerURL)
	}
	priv, err := loadOrCreateKey(dir)
	if err != nil {
		return nil, err
	}
	return newDevIssuer(priv, issuerURL, strings.TrimSuffix(u.EscapedPath(), "/"))
}

func newDevIssuer(priv *rsa.PrivateKey, issuerURL, path string) (*DevIssuer, error) {
	pub := jose.JSONWebKey{Key: &priv.PublicKey, Algorithm: string(jose.RS256), Use: "sig"}
	tp, err := pub.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("oidc: dev issuer key: %w", err)
	}
	// The RFC 7638 thumbprint as kid changes exactly when the key does.
	pub.KeyID = base64.RawURLEncoding.EncodeToString(tp)
	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: priv, KeyID: pub.KeyID}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return nil, fmt.Errorf("oidc: dev issuer signer: %w", err)
	}
	d := &DevIssuer{issuer: issuerURL, path: path, kid: pub.KeyID, signer: signer}
	base := strings.TrimSuffix(issuerURL, "/")
	if d.disco, err = json.Marshal(map[string]any{
		"issuer":                                issuerURL,
		"jwks_uri":                              base + "/jwks.json",
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"subject_types_supported":               []string{"public"},
		"response_types_supported":              []string{"id_token"},
	}); err != nil {
		return nil, err
	}
	if d.jwks, err = json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{pub}}); err != nil {
		return nil, err
	}
	return d, nil
}

func loadOrCreateKey(dir string) (*rsa.PrivateKey, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("oidc: dev issuer dir: %w", err)
	}
	file := filepath.Join(dir, devKeyFile)
	priv, err := readKey(file)
	if !errors.Is(err, fs.ErrNotExist) {
		return priv, err
	}
	if err := createKey(dir, file); err != nil {
		return nil, err
	}
	return readKey(file)
}

// readKey refuses a key file others can read, as ssh does: anyone who can
// read it can sign in to a dev server as anyone.
func readKey(file string) (*rsa.PrivateKey, error) {
	fi, err := os.Stat(file)
	if err != nil {
		return nil, err
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("oidc: dev issuer key %s has mode %v; it must be 0600", file, fi.Mode().Perm())
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("oidc: dev issuer key %s: not a PKCS#8 PEM private key", file)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("oidc: dev issuer key %s: %w", file, err)
	}
	priv, ok := k.(*rsa.PrivateKey)
	if !ok || priv.N.BitLen() < minRSABits {
		return nil, fmt.Errorf("oidc: dev issuer key %s: want an RSA key of at least %d bits", file, minRSABits)
	}
	return priv, nil
}

// createKey writes a new key to a temporary file and links it into place,
// so the key file never exists half-written and a concurrent creator's key
// is never overwritten (the link fails and both read the winner's).
func createKey(dir, file string) error {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return err
	}
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	if err := secretfile.Create(file, pemKey); err != nil {
		return fmt.Errorf("oidc: dev issuer key: %w", err)
	}
	return nil
}

// Mint returns an RS256 ID token for sub, valid from now for ttl, with the
// claims a Firebase token has (iss, aud=DevAudience, sub, iat, auth_time,
// exp, and email with email_verified=true when email is not empty).
func (d *DevIssuer) Mint(sub, email string, ttl time.Duration, now time.Time) (string, error) {
	if sub == "" || len(sub) > maxSubject {
		return "", fmt.Errorf("oidc: dev token subject must be 1 to %d bytes", maxSubject)
	}
	if ttl < time.Second {
		return "", fmt.Errorf("oidc: dev token ttl %s: want at least 1s", ttl)
	}
	claims := map[string]any{
		"iss": d.issuer, "aud": DevAudience, "sub": sub,
		"iat": now.Unix(), "auth_time": now.Unix(), "exp": now.Add(ttl).Unix(),
	}
	if email != "" {
		claims["email"], claims["email_verified"] = email, true
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	jws, err := d.signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("oidc: signing dev token: %w", err)
	}
	return jws.CompactSerialize()
}

// IssuerConfig is the configuration that trusts this issuer. It leaves
// JWKSURL empty so that the keys are found by discovery, as for a real
// provider.
func (d *DevIssuer) IssuerConfig() IssuerConfig {
	return IssuerConfig{Issuer: d.issuer, Audiences: []string{DevAudience}}
}

// Handler serves GET {path}/.well-known/openid-configuration and
// GET {path}/jwks.json, where path is the issuer URL's path. It expects the
// full request path, as when mounted with mux.Handle(path+"/", h).
func (d *DevIssuer) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body []byte
		switch r.URL.EscapedPath() {
		case d.path + "/.well-known/openid-configuration":
			body = d.disco
		case d.path + "/jwks.json":
			body = d.jwks
		default:
			http.NotFound(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		_, _ = w.Write(body)
	})
}
