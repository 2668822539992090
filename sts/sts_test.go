package sts

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/oidc"
	"github.com/sluicehq/sluice/sqlite"
)

// env is a real identity provider (sluice's development issuer over HTTP),
// a real SQLite ledger and a key file: what a Service runs on.
type env struct {
	t       *testing.T
	dev     *oidc.DevIssuer
	iss     string
	ledger  *sqlite.Ledger
	keyFile string
	now     atomic.Int64 // unix nanoseconds of the injected clock
}

func newEnv(t *testing.T) *env {
	t.Helper()
	var h atomic.Value
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.Load().(http.Handler).ServeHTTP(w, r) }))
	t.Cleanup(ts.Close)
	dir := t.TempDir()
	dev, err := oidc.OpenDevIssuer(filepath.Join(dir, "dev"), ts.URL+"/dev")
	if err != nil {
		t.Fatal(err)
	}
	h.Store(dev.Handler())
	l, err := sqlite.Open(filepath.Join(dir, "ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	e := &env{t: t, dev: dev, iss: ts.URL + "/dev", ledger: l, keyFile: filepath.Join(dir, "keys", "sts-keys.json")}
	e.now.Store(time.Now().UnixNano())
	return e
}

func (e *env) clock() time.Time { return time.Unix(0, e.now.Load()) }

func (e *env) advance(d time.Duration) { e.now.Add(int64(d)) }

// service builds an instance on the shared key file and ledger, with cfg
// (DefaultConfig when nil).
func (e *env) service(cfg *Config) *Service {
	e.t.Helper()
	keys, err := LoadKeyring(e.keyFile)
	if err != nil {
		e.t.Fatal(err)
	}
	v, err := oidc.New(oidc.Config{Issuers: []oidc.IssuerConfig{e.dev.IssuerConfig()}})
	if err != nil {
		e.t.Fatal(err)
	}
	c := DefaultConfig()
	if cfg != nil {
		c = *cfg
	}
	s, err := New(c, Deps{Keys: keys, Verifier: v, Ledger: e.ledger, Bucket: "sluice"})
	if err != nil {
		e.t.Fatal(err)
	}
	s.Now = e.clock
	return s
}

func (e *env) token(sub string) string {
	e.t.Helper()
	tok, err := e.dev.Mint(sub, sub+"@example.com", time.Hour, time.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

func (e *env) assume(s *Service, sub string, mod ...func(*Request)) *Result {
	e.t.Helper()
	req := Request{RoleARN: DefaultRoleARN, RoleSessionName: "test-session", WebIdentityToken: e.token(sub)}
	for _, m := range mod {
		m(&req)
	}
	res, err := s.AssumeRoleWithWebIdentity(context.Background(), req, sluice.RequestMeta{ClientIP: "192.0.2.1", UserAgent: "sts-test"})
	if err != nil {
		e.t.Fatalf("AssumeRoleWithWebIdentity: %v", err)
	}
	return res
}

func wantCode(t *testing.T, what string, err error, code sluice.Code) {
	t.Helper()
	if !sluice.IsCode(err, code) {
		t.Errorf("%s: %v (code %q), want code %q", what, err, sluice.ErrorCode(err), code)
	}
}

func TestKeyFileCreatedPrivateAndReused(t *testing.T) {
	e := newEnv(t)
	a := e.service(nil)
	fi, err := os.Stat(e.keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	if di, _ := os.Stat(filepath.Dir(e.keyFile)); di.Mode().Perm() != 0o700 {
		t.Errorf("key directory mode %v, want 0700", di.Mode().Perm())
	}
	// A second load (another instance, or a restart) reads the same key.
	b := e.service(nil)
	if a.keys.CurrentKeyID() != b.keys.CurrentKeyID() {
		t.Errorf("reloaded key id %q, first %q", b.keys.CurrentKeyID(), a.keys.CurrentKeyID())
	}
	os.Chmod(e.keyFile, 0o644)
	if _, err := LoadKeyring(e.keyFile); err == nil || !strings.Contains(err.Error(), "0600") {
		t.Errorf("a key file others can read was accepted: %v", err)
	}
}

func TestNewKeyringRefusesBadFiles(t *testing.T) {
	good := NewKeyFile(time.Now())
	cases := map[string]func(*KeyFile){
		"no keys":            func(k *KeyFile) { k.Keys = nil },
		"current not listed": func(k *KeyFile) { k.Current = "other" },
		"short key":          func(k *KeyFile) { k.Keys[0].Key = base64.StdEncoding.EncodeToString(make([]byte, 16)) },
		"not base64":         func(k *KeyFile) { k.Keys[0].Key = "!!!" },
		"id with a dot":      func(k *KeyFile) { k.Keys[0].ID, k.Current = "a.b", "a.b" },
		"duplicate id":       func(k *KeyFile) { k.Keys = append(k.Keys, k.Keys[0]) },
	}
	for name, mod := range cases {
		kf := good
		kf.Keys = append([]KeyFileKey(nil), good.Keys...)
		mod(&kf)
		if _, err := NewKeyring(kf); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := NewKeyring(good); err != nil {
		t.Errorf("good key file: %v", err)
	}
}

// Instances sharing the key file and the ledger accept each other's
// credentials: the secret and the session come from the akid and the
// token alone.
func TestInstancesAcceptEachOthersCredentials(t *testing.T) {
	e := newEnv(t)
	a, b := e.service(nil), e.service(nil)
	res := e.assume(a, "alice")
	sess, err := b.Session(res.Credentials.AccessKeyID, res.Credentials.SessionToken)
	if err != nil {
		t.Fatalf("instance b refused instance a's credentials: %v", err)
	}
	if sess.Secret != res.Credentials.SecretAccessKey || sess.Subject != "alice" || sess.Prefix != "users/alice/" ||
		sess.Issuer != e.iss || !sess.ExpiresAt.Equal(res.Credentials.Expiration) {
		t.Errorf("session on b: %+v", sess)
	}
	// An instance with another key file accepts none of it.
	other := newEnv(t)
	other.ledger = e.ledger
	if _, err := other.service(nil).Session(res.Credentials.AccessKeyID, res.Credentials.SessionToken); !sluice.IsCode(err, sluice.CodeTokenSignature) {
		t.Errorf("instance with another master key: %v, want token_signature", err)
	}
}

func TestKeyRotation(t *testing.T) {
	e := newEnv(t)
	old := e.service(nil)
	res := e.assume(old, "alice")

	// Add a key and make it current: old sessions still open, new ones
	// are sealed with the new key.
	kf, err := readKeyFile(e.keyFile)
	if err != nil {
		t.Fatal(err)
	}
	fresh := NewKeyFile(time.Now())
	fresh.Keys[0].ID = "rotated"
	kf.Keys = append(kf.Keys, fresh.Keys[0])
	oldID := kf.Current
	kf.Current = "rotated"
	rotated, err := NewKeyring(kf)
	if err != nil {
		t.Fatal(err)
	}
	s := e.service(nil)
	s.keys = rotated
	if _, err := s.Session(res.Credentials.AccessKeyID, res.Credentials.SessionToken); err != nil {
		t.Errorf("session sealed with the previous key: %v", err)
	}
	res2 := e.assume(s, "alice")
	if !strings.HasPrefix(res2.Credentials.SessionToken, "v1.rotated.") {
		t.Errorf("new token %q… not sealed with the current key", res2.Credentials.SessionToken[:12])
	}

	// Remove the old key: its sessions are void.
	kf.Keys = kf.Keys[1:]
	if kf.Keys[0].ID == oldID {
		t.Fatal("removed the wrong key")
	}
	pruned, err := NewKeyring(kf)
	if err != nil {
		t.Fatal(err)
	}
	s.keys = pruned
	_, err = s.Session(res.Credentials.AccessKeyID, res.Credentials.SessionToken)
	wantCode(t, "session of a removed key", err, sluice.CodeTokenSignature)
	if _, err := s.Session(res2.Credentials.AccessKeyID, res2.Credentials.SessionToken); err != nil {
		t.Errorf("session of the current key: %v", err)
	}
}

// Every byte of the sealed part of the token is covered: changing any one
// voids it, and so does presenting it with another access key.
func TestSessionTokenIsBoundAndTamperProof(t *testing.T) {
	e := newEnv(t)
	s := e.service(nil)
	a, b := e.assume(s, "alice"), e.assume(s, "bob")
	akid, tok := a.Credentials.AccessKeyID, a.Credentials.SessionToken
	body := tok[strings.LastIndex(tok, ".")+1:]
	raw, _ := base64.RawURLEncoding.DecodeString(body)
	for i := range raw {
		bad := append([]byte(nil), raw...)
		bad[i] ^= 0x80
		forged := tok[:len(tok)-len(body)] + base64.RawURLEncoding.EncodeToString(bad)
		if _, err := s.Session(akid, forged); err == nil {
			t.Fatalf("byte %d flipped: accepted", i)
		}
	}
	cases := map[string][2]string{
		"alice's token with bob's key": {b.Credentials.AccessKeyID, tok},
		"bob's token with alice's key": {akid, b.Credentials.SessionToken},
		"truncated":                    {akid, tok[:len(tok)-5]},
		"other version":                {akid, "v2" + tok[2:]},
		"unknown key id":               {akid, "v1.nosuchkey." + body},
		"empty":                        {akid, ""},
		"huge":                         {akid, tok + strings.Repeat("A", maxTokenLength)},
	}
	for name, c := range cases {
		if _, err := s.Session(c[0], c[1]); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	_, err := s.Session("AKIAIOSFODNN7EXAMPLE", tok)
	wantCode(t, "permanent-looking key", err, sluice.CodeNotFound)
}

// A token sealed with the right key but never recorded in the ledger (a
// stolen master key) opens nothing.
func TestUnrecordedSessionRefused(t *testing.T) {
	e := newEnv(t)
	s := e.service(nil)
	now := e.clock()
	c := &claims{AccessKeyID: newAccessKeyID(), Issuer: e.iss, Subject: "alice", RoleARN: DefaultRoleARN, SessionName: "x",
		Bucket: "sluice", Prefix: "users/alice/", Access: accessRead | accessWrite,
		IssuedAt: now.Unix(), ExpiresAt: now.Add(time.Hour).Unix()}
	tok, err := s.keys.seal(c)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Session(c.AccessKeyID, tok)
	wantCode(t, "unrecorded session", err, sluice.CodeTokenSignature)
}

func TestSessionExpiresWithoutSleeping(t *testing.T) {
	e := newEnv(t)
	s := e.service(nil)
	res := e.assume(s, "alice", func(r *Request) { r.DurationSeconds = 900 })
	if d := res.Credentials.Expiration.Sub(e.clock()); d > 15*time.Minute || d < 15*time.Minute-time.Second {
		t.Errorf("900s credentials expire in %s", d)
	}
	e.advance(15*time.Minute - 2*time.Second)
	if _, err := s.Session(res.Credentials.AccessKeyID, res.Credentials.SessionToken); err != nil {
		t.Errorf("just before expiry: %v", err)
	}
	e.advance(2 * time.Second)
	_, err := s.Session(res.Credentials.AccessKeyID, res.Credentials.SessionToken)
	wantCode(t, "at expiry", err, sluice.CodeTokenExpired)
}

// Another instance's revocation is seen once the cache entry lapses, and
// not before: the cache is what bounds the ledger reads.
func TestRevocationCacheBoundsTheDelay(t *testing.T) {
	e := newEnv(t)
	cfg := DefaultConfig()
	cfg.RevocationCache = 2 * time.Second
	s := e.service(&cfg)
	res := e.assume(s, "alice")
	akid, tok := res.Credentials.AccessKeyID, res.Credentials.SessionToken
	if _, err := s.Session(akid, tok); err != nil { // caches "not revoked"
		t.Fatal(err)
	}
	if err := e.ledger.RevokeCredential(context.Background(), akid, e.clock()); err != nil { // by another instance
		t.Fatal(err)
	}
	e.advance(time.Second)
	if _, err := s.Session(akid, tok); err != nil {
		t.Errorf("within the cache time: %v (the cache is not being used)", err)
	}
	e.advance(time.Second)
	_, err := s.Session(akid, tok)
	wantCode(t, "after the cache time", err, sluice.CodeTokenExpired)
}

func TestRevokeUserVoidsCredentialsAndOldTokens(t *testing.T) {
	e := newEnv(t)
	s := e.service(nil)
	oldTok := e.token("alice")
	res := e.assume(s, "alice")
	bob := e.assume(s, "bob")
	if err := s.RevokeUser(context.Background(), sluice.Owner{Issuer: e.iss, Subject: "alice"}); err != nil {
		t.Fatal(err)
	}
	_, err := s.Session(res.Credentials.AccessKeyID, res.Credentials.SessionToken)
	wantCode(t, "alice's credential after RevokeUser", err, sluice.CodeTokenExpired)
	if _, err := s.Session(bob.Credentials.AccessKeyID, bob.Credentials.SessionToken); err != nil {
		t.Errorf("bob's credential: %v", err)
	}
	_, err = s.AssumeRoleWithWebIdentity(context.Background(),
		Request{RoleARN: DefaultRoleARN, RoleSessionName: "again", WebIdentityToken: oldTok}, sluice.RequestMeta{})
	wantCode(t, "STS with a token issued before the revocation", err, sluice.CodeForbidden)
}

// The revocation check fails closed: no answer from the ledger, no access.
func TestSessionFailsClosedWhenLedgerIsDown(t *testing.T) {
	e := newEnv(t)
	s := e.service(nil)
	res := e.assume(s, "alice")
	e.ledger.Close()
	_, err := s.Session(res.Credentials.AccessKeyID, res.Credentials.SessionToken)
	wantCode(t, "session with the ledger closed", err, sluice.CodeUnavailable)
	_, err = s.AssumeRoleWithWebIdentity(context.Background(),
		Request{RoleARN: DefaultRoleARN, RoleSessionName: "x1", WebIdentityToken: e.token("alice")}, sluice.RequestMeta{})
	wantCode(t, "issuance with the ledger closed", err, sluice.CodeUnavailable)
}

func TestCredentialRecorded(t *testing.T) {
	e := newEnv(t)
	s := e.service(nil)
	res := e.assume(s, "alice", func(r *Request) { r.RoleSessionName = "alice@example.com" })
	c, err := e.ledger.Credential(context.Background(), res.Credentials.AccessKeyID)
	if err != nil {
		t.Fatal(err)
	}
	if c.Issuer != e.iss || c.Subject != "alice" || c.Email != "alice@example.com" || c.SessionName != "alice@example.com" ||
		c.ClientIP != "192.0.2.1" || c.UserAgent != "sts-test" || c.Prefix != "users/alice/" || c.RoleARN != DefaultRoleARN ||
		!c.ExpiresAt.Equal(res.Credentials.Expiration) {
		t.Errorf("record: %+v", c)
	}
}

func TestRoleTrustAndDuration(t *testing.T) {
	e := newEnv(t)
	cfg := Config{Roles: []Role{
		{ARN: "arn:aws:iam::123456789012:role/short", MaxDuration: 30 * time.Minute},
		{ARN: "arn:aws:iam::123456789012:role/other-issuer", Issuers: []string{"https://elsewhere.example"}},
		{ARN: "arn:aws:iam::123456789012:role/other-aud", Audiences: []string{"not-sluice-dev"}},
		{ARN: "arn:aws:iam::123456789012:role/path/read-only", Access: []string{"read"}},
	}}
	s := e.service(&cfg)
	res := e.assume(s, "alice", func(r *Request) { r.RoleARN = "arn:aws:iam::123456789012:role/short" })
	if d := res.Credentials.Expiration.Sub(e.clock()); d > 30*time.Minute {
		t.Errorf("default duration on a 30m role: %s, want at most 30m", d)
	}
	req := func(arn string, dur int64) error {
		_, err := s.AssumeRoleWithWebIdentity(context.Background(),
			Request{RoleARN: arn, RoleSessionName: "s1", WebIdentityToken: e.token("alice"), DurationSeconds: dur}, sluice.RequestMeta{})
		return err
	}
	wantCode(t, "over the role's max duration", req("arn:aws:iam::123456789012:role/short", 1801), sluice.CodeInvalidTTL)
	wantCode(t, "issuer the role does not trust", req("arn:aws:iam::123456789012:role/other-issuer", 0), sluice.CodeForbidden)
	wantCode(t, "audience the role does not accept", req("arn:aws:iam::123456789012:role/other-aud", 0), sluice.CodeForbidden)
	wantCode(t, "default role when not configured", req(DefaultRoleARN, 0), sluice.CodeForbidden)

	ro := e.assume(s, "alice", func(r *Request) { r.RoleARN = "arn:aws:iam::123456789012:role/path/read-only" })
	if ro.AssumedRoleARN != "arn:aws:sts::123456789012:assumed-role/read-only/test-session" {
		t.Errorf("assumed role ARN %q", ro.AssumedRoleARN)
	}
	sess, err := s.Session(ro.Credentials.AccessKeyID, ro.Credentials.SessionToken)
	if err != nil {
		t.Fatal(err)
	}
	obj := "arn:aws:s3:::sluice/users/alice/x"
	if !sess.Allowed(actGetObject, obj, nil) || sess.Allowed(actPutObject, obj, nil) || sess.Allowed(actDeleteObject, obj, nil) ||
		sess.Allowed(actListBucket, "arn:aws:s3:::sluice", map[string][]string{"s3:prefix": {"users/alice/"}}) {
		t.Error("a read-only role's session may do more than read")
	}

	// Removing a role from the configuration voids its sessions.
	s2 := e.service(&Config{Roles: []Role{{ARN: "arn:aws:iam::123456789012:role/short"}}})
	_, err = s2.Session(ro.Credentials.AccessKeyID, ro.Credentials.SessionToken)
	wantCode(t, "session of a removed role", err, sluice.CodeTokenSignature)
}

func TestAllowedConfinesToPrefix(t *testing.T) {
	s := &Session{Bucket: "sluice", Prefix: "users/alice/", access: accessRead | accessWrite | accessList | accessDelete}
	obj := func(k string) string { return "arn:aws:s3:::sluice/" + k }
	pfx := func(p ...string) map[string][]string { return map[string][]string{"s3:prefix": p} }
	cases := []struct {
		action, resource string
		cond             map[string][]string
		want             bool
	}{
		{actPutObject, obj("users/alice/x"), nil, true},
		{actGetObject, obj("users/alice/a/b/c"), nil, true},
		{actDeleteObject, obj("users/alice/x"), nil, true},
		{actAbortMultipart, obj("users/alice/x"), nil, true},
		{actListParts, obj("users/alice/x"), nil, true},
		{actGetObjectAttributes, obj("users/alice/x"), nil, true},
		{actListBucket, "arn:aws:s3:::sluice", pfx("users/alice/"), true},
		{actListBucket, "arn:aws:s3:::sluice", pfx("users/alice/photos/"), true},
		{actListBucketMultipart, "arn:aws:s3:::sluice", pfx("users/alice/"), true},

		{actPutObject, obj("users/alice/"), nil, false}, // the prefix itself
		{actPutObject, obj("users/alice"), nil, false},
		{actPutObject, obj("users/alicex/y"), nil, false},
		{actPutObject, obj("users/bob/x"), nil, false},
		{actPutObject, obj("x"), nil, false},
		{actPutObject, obj("users/alice/../bob/x"), nil, false},
		{actPutObject, obj("users/alice/./x"), nil, false},
		{actPutObject, obj("users/alice/a/.."), nil, false},
		{actPutObject, "arn:aws:s3:::sluicex/users/alice/x", nil, false}, // another bucket
		{actPutObject, "arn:aws:s3:::other/users/alice/x", nil, false},
		{actListBucket, "arn:aws:s3:::sluice", nil, false},
		{actListBucket, "arn:aws:s3:::sluice", pfx("users/"), false},
		{actListBucket, "arn:aws:s3:::sluice", pfx("users/alice"), false},
		{actListBucket, "arn:aws:s3:::sluice", pfx("users/alicex/"), false},
		{actListBucket, "arn:aws:s3:::sluice", pfx("users/alice/", "users/bob/"), false},
		{actListBucket, "arn:aws:s3:::other", pfx("users/alice/"), false},
		{actListBucket, obj("users/alice/"), pfx("users/alice/"), false},
		{"s3:PutObjectAcl", obj("users/alice/x"), nil, false},
		{"s3:GetObjectAcl", obj("users/alice/x"), nil, false},
		{"s3:PutObjectTagging", obj("users/alice/x"), nil, false},
		{"s3:PutBucketPolicy", "arn:aws:s3:::sluice", nil, false},
		{"s3:CreateBucket", "arn:aws:s3:::users", nil, false},
		{"s3:ListAllMyBuckets", "arn:aws:s3:::*", nil, false},
		{"s3:*", obj("users/alice/x"), nil, false},
	}
	for _, c := range cases {
		if got := s.Allowed(c.action, c.resource, c.cond); got != c.want {
			t.Errorf("Allowed(%s, %s, %v) = %v, want %v", c.action, c.resource, c.cond, got, c.want)
		}
	}
}

func TestSessionPolicy(t *testing.T) {
	pol, err := parsePolicy(`{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":["s3:PutObject","s3:Get*"],"Resource":"arn:aws:s3:::sluice/users/alice/photos/*"},
		{"Sid":"no-raw","Effect":"Deny","Action":"s3:*","Resource":"arn:aws:s3:::sluice/users/alice/photos/raw/*"}]}`)
	if err != nil {
		t.Fatal(err)
	}
	s := &Session{Bucket: "sluice", Prefix: "users/alice/", access: accessRead | accessWrite | accessList | accessDelete, policy: pol}
	obj := func(k string) string { return "arn:aws:s3:::sluice/" + k }
	cases := []struct {
		action, key string
		want        bool
	}{
		{actPutObject, "users/alice/photos/a.jpg", true},
		{"S3:PUTOBJECT", "users/alice/photos/a.jpg", false}, // versitygw sends canonical names; the role table is exact
		{actGetObject, "users/alice/photos/a.jpg", true},
		{actDeleteObject, "users/alice/photos/a.jpg", false},
		{actPutObject, "users/alice/docs/a.pdf", false},
		{actPutObject, "users/alice/photos/raw/a.dng", false},
		{actPutObject, "users/bob/photos/a.jpg", false},
	}
	for _, c := range cases {
		if got := s.Allowed(c.action, obj(c.key), nil); got != c.want {
			t.Errorf("%s %s: %v, want %v", c.action, c.key, got, c.want)
		}
	}

	refused := map[string]string{
		"not JSON":      `{`,
		"no Statement":  `{"Version":"2012-10-17"}`,
		"empty list":    `{"Statement":[]}`,
		"old Version":   `{"Version":"2008-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*"}}`,
		"Condition":     `{"Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"StringLike":{"s3:prefix":"x"}}}}`,
		"NotAction":     `{"Statement":{"Effect":"Allow","NotAction":"s3:DeleteObject","Resource":"*"}}`,
		"NotResource":   `{"Statement":{"Effect":"Allow","Action":"s3:*","NotResource":"arn:aws:s3:::x"}}`,
		"Principal":     `{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*"}}`,
		"bad Effect":    `{"Statement":{"Effect":"allow","Action":"s3:*","Resource":"*"}}`,
		"other service": `{"Statement":{"Effect":"Allow","Action":"iam:*","Resource":"*"}}`,
		"bad Resource":  `{"Statement":{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:iam::1:role/x"}}`,
		"no Resource":   `{"Statement":{"Effect":"Allow","Action":"s3:*"}}`,
		"unknown field": `{"Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*"},"Extra":1}`,
	}
	for name, doc := range refused {
		if _, err := parsePolicy(doc); !sluice.IsCode(err, sluice.CodeInvalidRequest) {
			t.Errorf("%s: %v, want invalid_request", name, err)
		}
	}
}

func TestWildcardMatch(t *testing.T) {
	cases := []struct {
		p, s string
		want bool
	}{
		{"*", "", true}, {"*", "anything/at/all", true}, {"a*c", "abbbc", true}, {"a*c", "abbbd", false},
		{"a?c", "abc", true}, {"a?c", "ac", false}, {"users/*/x", "users/a/b/x", true}, {"abc", "abcd", false},
		{"*a*a*a*a*a*b", strings.Repeat("a", 100), false},
	}
	for _, c := range cases {
		if got := wildcardMatch(c.p, c.s); got != c.want {
			t.Errorf("wildcardMatch(%q, %q) = %v", c.p, c.s, got)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	bad := map[string]Config{
		"bad ARN":            {Roles: []Role{{ARN: "arn:aws:iam::1:role/x"}}},
		"user ARN":           {Roles: []Role{{ARN: "arn:aws:iam::000000000000:user/x"}}},
		"duration too short": {Roles: []Role{{ARN: DefaultRoleARN, MaxDuration: time.Minute}}},
		"duration too long":  {Roles: []Role{{ARN: DefaultRoleARN, MaxDuration: 13 * time.Hour}}},
		"unknown access":     {Roles: []Role{{ARN: DefaultRoleARN, Access: []string{"admin"}}}},
		"duplicate ARN":      {Roles: []Role{{ARN: DefaultRoleARN}, {ARN: DefaultRoleARN}}},
		"cache too long":     {RevocationCache: time.Hour},
	}
	for name, c := range bad {
		if err := c.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	c := Config{}
	if err := c.Validate(); err != nil || len(c.Roles) != 1 || c.Roles[0].ARN != DefaultRoleARN || c.RevocationCache != DefaultRevocationCache {
		t.Errorf("empty config: %v %+v", err, c)
	}
}

func TestRequestValidation(t *testing.T) {
	e := newEnv(t)
	s := e.service(nil)
	tok := e.token("alice")
	base := Request{RoleARN: DefaultRoleARN, RoleSessionName: "ok-name", WebIdentityToken: tok}
	cases := map[string]struct {
		mod  func(*Request)
		code sluice.Code
	}{
		"session name of 1":    {func(r *Request) { r.RoleSessionName = "a" }, sluice.CodeInvalidRequest},
		"session name of 65":   {func(r *Request) { r.RoleSessionName = strings.Repeat("b", 65) }, sluice.CodeInvalidRequest},
		"session name unicode": {func(r *Request) { r.RoleSessionName = "Zoë" }, sluice.CodeInvalidRequest},
		"session name newline": {func(r *Request) { r.RoleSessionName = "a\nb" }, sluice.CodeInvalidRequest},
		"duration 899":         {func(r *Request) { r.DurationSeconds = 899 }, sluice.CodeInvalidTTL},
		"duration negative":    {func(r *Request) { r.DurationSeconds = -1 }, sluice.CodeInvalidTTL},
		"duration over role":   {func(r *Request) { r.DurationSeconds = 3601 }, sluice.CodeInvalidTTL},
		"token too short":      {func(r *Request) { r.WebIdentityToken = "abc" }, sluice.CodeInvalidRequest},
		"role ARN too short":   {func(r *Request) { r.RoleARN = "arn:aws:iam::1:r" }, sluice.CodeInvalidRequest},
		"unknown role":         {func(r *Request) { r.RoleARN = "arn:aws:iam::000000000000:role/admin" }, sluice.CodeForbidden},
		"tampered token":       {func(r *Request) { r.WebIdentityToken = tok[:len(tok)-4] + "AAAA" }, sluice.CodeTokenSignature},
	}
	for name, c := range cases {
		r := base
		c.mod(&r)
		_, err := s.AssumeRoleWithWebIdentity(context.Background(), r, sluice.RequestMeta{})
		wantCode(t, name, err, c.code)
	}
	for _, name := range []string{"ab", strings.Repeat("c", 64), `a_b+c=d,e.f@g-h`} {
		r := base
		r.RoleSessionName = name
		if _, err := s.AssumeRoleWithWebIdentity(context.Background(), r, sluice.RequestMeta{}); err != nil {
			t.Errorf("session name %q: %v", name, err)
		}
	}
	for _, d := range []int64{900, 3600} {
		r := base
		r.DurationSeconds = d
		if _, err := s.AssumeRoleWithWebIdentity(context.Background(), r, sluice.RequestMeta{}); err != nil {
			t.Errorf("duration %d: %v", d, err)
		}
	}
}
