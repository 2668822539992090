package oidc

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
)

// b64 is the only encoding accepted in a token: unpadded base64url with
// zero trailing bits, so each token has one spelling.
var b64 = base64.RawURLEncoding.Strict()

// parsed is a compact JWS split and decoded, before anything in it is
// trusted.
type parsed struct {
	alg    string
	kid    string
	hasKid bool
	claims map[string]json.RawMessage // unverified until the signature is
	sig    []byte
}

// parse splits a compact JWS and decodes its header and payload. Every
// failure is CodeTokenMalformed.
func parse(token string) (*parsed, error) {
	if !tokenAlphabet(token) {
		return nil, malformed("token has characters outside base64url and '.'")
	}
	h, rest, _ := strings.Cut(token, ".")
	pl, s, ok := strings.Cut(rest, ".")
	if !ok || strings.Contains(s, ".") {
		return nil, malformed("token must have exactly three dot-separated segments")
	}
	p := &parsed{}
	if err := p.parseHeader(h); err != nil {
		return nil, err
	}
	var err error
	if p.claims, err = decodeObject(pl, "payload"); err != nil {
		return nil, err
	}
	if p.sig, err = b64.DecodeString(s); err != nil {
		return nil, malformed("signature is not base64url")
	}
	return p, nil
}

// tokenAlphabet reports whether s holds only base64url characters and
// dots. The base64 decoder itself skips CR and LF, which would give one
// token many spellings.
func tokenAlphabet(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' ||
			c == '-' || c == '_' || c == '.'
		if !ok {
			return false
		}
	}
	return true
}

func (p *parsed) parseHeader(seg string) error {
	h, err := decodeObject(seg, "header")
	if err != nil {
		return err
	}
	if err := jsonString(h["alg"], &p.alg); err != nil || p.alg == "" {
		return malformed("header alg must be a non-empty string")
	}
	if raw, ok := h["kid"]; ok {
		if err := jsonString(raw, &p.kid); err != nil {
			return malformed("header kid must be a string")
		}
		p.hasKid = p.kid != ""
	}
	// No extension is understood, so none may be critical (RFC 7515
	// 4.1.11); b64=false would change what the signature covers.
	for _, name := range []string{"crit", "b64"} {
		if _, ok := h[name]; ok {
			return malformed("header parameter " + name + " is not supported")
		}
	}
	return nil
}

// decodeObject decodes one base64url segment holding a JSON object, keeping
// member values raw so their types can be checked one by one.
func decodeObject(seg, what string) (map[string]json.RawMessage, error) {
	b, err := b64.DecodeString(seg)
	if err != nil {
		return nil, malformed(what + " is not base64url")
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil || m == nil {
		return nil, malformed(what + " is not a JSON object")
	}
	return m, nil
}

func malformed(msg string) error { return sluice.Errorf(sluice.CodeTokenMalformed, "%s", msg) }

func badClaim(name, want string) error {
	return sluice.Errorf(sluice.CodeTokenClaims, "claim %s must be %s", name, want)
}

var jsonNull = []byte("null")

// jsonString decodes a JSON string. Unlike json.Unmarshal it refuses null,
// which would otherwise leave the target silently empty.
func jsonString(raw json.RawMessage, dst *string) error {
	if bytes.Equal(raw, jsonNull) {
		return errNull
	}
	return json.Unmarshal(raw, dst)
}

// errNull stands for any value of the wrong type or out of range.
var errNull = errors.New("null or out of range")

// claims is the typed view of a payload. has* tell absent from zero.
type claims struct {
	iss, sub, email string
	emailVerified   bool
	aud             []string
	exp, nbf, iat   time.Time
	authTime        time.Time
	hasNbf, hasAuth bool
	hasExp, hasIat  bool
}

// typedClaims checks the types of the registered claims sluice reads;
// every mismatch is CodeTokenClaims. Presence and values are checked later.
func typedClaims(m map[string]json.RawMessage) (*claims, error) {
	c := &claims{}
	strs := []struct {
		name string
		dst  *string
	}{{"iss", &c.iss}, {"sub", &c.sub}, {"email", &c.email}}
	for _, s := range strs {
		if raw, ok := m[s.name]; ok && jsonString(raw, s.dst) != nil {
			return nil, badClaim(s.name, "a string")
		}
	}
	if raw, ok := m["email_verified"]; ok {
		if bytes.Equal(raw, jsonNull) || json.Unmarshal(raw, &c.emailVerified) != nil {
			return nil, badClaim("email_verified", "a boolean")
		}
	}
	var err error
	if c.aud, err = audience(m["aud"]); err != nil {
		return nil, err
	}
	dates := []struct {
		name string
		dst  *time.Time
		has  *bool
	}{
		{"exp", &c.exp, &c.hasExp}, {"nbf", &c.nbf, &c.hasNbf},
		{"iat", &c.iat, &c.hasIat}, {"auth_time", &c.authTime, &c.hasAuth},
	}
	for _, d := range dates {
		if raw, ok := m[d.name]; ok {
			if *d.dst, err = numericDate(raw); err != nil {
				return nil, badClaim(d.name, "a NumericDate (seconds since 1970)")
			}
			*d.has = true
		}
	}
	return c, nil
}

// audience decodes aud, which RFC 7519 allows as one string or an array of
// strings. Absent is nil: the audience check refuses it.
func audience(raw json.RawMessage) ([]string, error) {
	if raw == nil {
		return nil, nil
	}
	var one string
	if jsonString(raw, &one) == nil {
		return []string{one}, nil
	}
	var many []string
	if !bytes.Equal(raw, jsonNull) && json.Unmarshal(raw, &many) == nil {
		return many, nil
	}
	return nil, badClaim("aud", "a string or an array of strings")
}

// maxNumericDate is 9999-12-31T23:59:59Z; later values cannot be real and
// would overflow time arithmetic.
const maxNumericDate = 253402300799

// numericDate decodes a JSON number of seconds since the epoch, fractions
// allowed (RFC 7519 section 2).
func numericDate(raw json.RawMessage) (time.Time, error) {
	var f float64
	if bytes.Equal(raw, jsonNull) {
		return time.Time{}, errNull
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		return time.Time{}, err
	}
	if f < 0 || f > maxNumericDate || math.IsNaN(f) {
		return time.Time{}, errNull
	}
	sec := math.Floor(f)
	return time.Unix(int64(sec), int64((f-sec)*1e9)).UTC(), nil
}

// rawClaims turns the payload into the plain map handed out as
// Identity.Claims (numbers as float64, like encoding/json).
func rawClaims(m map[string]json.RawMessage) map[string]any {
	out := make(map[string]any, len(m))
	for k, raw := range m {
		var v any
		_ = json.Unmarshal(raw, &v) // raw came out of a successful decode
		out[k] = v
	}
	return out
}
