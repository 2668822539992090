package sts

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"strings"

	"github.com/sluicehq/sluice"
)

// Session credentials, as pure functions of a key and their inputs.
//
//	AccessKeyId     "ASIA" + base32(10 random bytes): 20 characters, the
//	                prefix AWS and versitygw use for temporary keys.
//	SecretAccessKey base64(HMAC-SHA256(kSecret, "sluice-sts-secret-v1|" + akid))[:40]
//	SessionToken    "v1." + keyID + "." + base64url(nonce || AES-256-GCM(kEnc, claims JSON))
//	                with additional data "sluice-sts-v1|" + akid.
//
// The additional data binds a token to its access key: a token presented
// with any other key id fails to open, so tokens cannot be swapped between
// sessions. The claims carry the akid too, checked after opening.

const (
	tokenVersion   = "v1"
	akidPrefix     = "ASIA"
	akidLen        = 20
	secretLen      = 40
	secretLabel    = "sluice-sts-secret-v1|"
	tokenADLabel   = "sluice-sts-v1|"
	maxTokenLength = 8 << 10 // a sealed 2 KiB policy fits with room to spare
)

var akidEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// claims are what a session token carries. Short JSON names keep the token
// small: it rides on every S3 request.
type claims struct {
	AccessKeyID string `json:"akid"`
	Issuer      string `json:"iss"`
	Subject     string `json:"sub"`
	RoleARN     string `json:"role"`
	SessionName string `json:"sn"`
	Bucket      string `json:"bkt"`
	Prefix      string `json:"pfx"`
	// Access is the role's grant at issue time: a role changed later does
	// not widen sessions already out.
	Access access `json:"acc"`
	// IssuedAt and ExpiresAt are Unix seconds.
	IssuedAt  int64 `json:"iat"`
	ExpiresAt int64 `json:"exp"`
	// Policy is the session policy, when the caller narrowed the session.
	Policy []statement `json:"pol,omitempty"`
}

// newAccessKeyID returns a fresh temporary access key id.
func newAccessKeyID() string {
	b := make([]byte, 10)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return akidPrefix + akidEncoding.EncodeToString(b)
}

// plausibleAccessKeyID reports whether akid has the shape of one of ours,
// before any crypto is spent on it.
func plausibleAccessKeyID(akid string) bool {
	if len(akid) != akidLen || !strings.HasPrefix(akid, akidPrefix) {
		return false
	}
	_, err := akidEncoding.DecodeString(akid[len(akidPrefix):])
	return err == nil
}

// secretFor derives the secret access key of akid under key k.
func secretFor(k *masterKey, akid string) string {
	m := hmac.New(sha256.New, k.secret)
	m.Write([]byte(secretLabel))
	m.Write([]byte(akid))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))[:secretLen]
}

// seal returns the session token of c under the keyring's current key.
func (k *Keyring) seal(c *claims) (string, error) {
	plain, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	mk := k.current
	nonce := make([]byte, mk.aead.NonceSize(), mk.aead.NonceSize()+len(plain)+mk.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	sealed := mk.aead.Seal(nonce, nonce, plain, []byte(tokenADLabel+c.AccessKeyID))
	return tokenVersion + "." + mk.id + "." + base64.RawURLEncoding.EncodeToString(sealed), nil
}

// open authenticates and decrypts token for akid, returning its claims and
// the key that sealed it. Every refusal is CodeTokenSignature or
// CodeTokenMalformed with a message that says no more than "invalid": the
// caller learns nothing about which check failed.
func (k *Keyring) open(akid, token string) (*claims, *masterKey, error) {
	invalid := sluice.Errorf(sluice.CodeTokenSignature, "the session token is invalid")
	if len(token) > maxTokenLength {
		return nil, nil, sluice.Errorf(sluice.CodeTokenMalformed, "the session token is invalid")
	}
	ver, rest, ok := strings.Cut(token, ".")
	if !ok || ver != tokenVersion {
		return nil, nil, sluice.Errorf(sluice.CodeTokenMalformed, "the session token is invalid")
	}
	kid, body, ok := strings.Cut(rest, ".")
	if !ok {
		return nil, nil, sluice.Errorf(sluice.CodeTokenMalformed, "the session token is invalid")
	}
	mk := k.byID[kid]
	if mk == nil {
		return nil, nil, invalid // sealed by a key we do not hold (another deployment, or removed)
	}
	raw, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil || len(raw) < mk.aead.NonceSize()+mk.aead.Overhead() {
		return nil, nil, sluice.Errorf(sluice.CodeTokenMalformed, "the session token is invalid")
	}
	n := mk.aead.NonceSize()
	plain, err := mk.aead.Open(nil, raw[:n], raw[n:], []byte(tokenADLabel+akid))
	if err != nil {
		return nil, nil, invalid
	}
	var c claims
	if err := json.Unmarshal(plain, &c); err != nil || c.AccessKeyID != akid {
		// Authentic but not what we seal: a bug or a key misuse, never
		// a session.
		return nil, nil, invalid
	}
	return &c, mk, nil
}
