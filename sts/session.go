package sts

import (
	"context"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/sluicehq/sluice"
)

// Session is a verified temporary credential: what a store needs to check a
// request signed with it.
type Session struct {
	AccessKeyID string
	// Secret is the secret access key, to verify the request's signature.
	Secret         string
	Issuer         string
	Subject        string
	RoleARN        string
	AssumedRoleARN string
	Bucket         string
	Prefix         string
	ExpiresAt      time.Time

	access access
	policy []statement
}

// Session checks a temporary access key and its session token and returns
// the session, for a store to verify the request's signature with
// Session.Secret and its scope with Session.Allowed. It runs on every
// request, so it does no I/O but one cached ledger read.
//
// Errors are *sluice.Error:
//   - CodeNotFound: the access key is not one of ours (the store answers
//     InvalidAccessKeyId);
//   - CodeTokenMissing, CodeTokenMalformed, CodeTokenSignature: no token,
//     or one that does not open for this key (InvalidToken);
//   - CodeTokenExpired: past expiry, or revoked (ExpiredToken);
//   - CodeUnavailable: the ledger cannot be asked about revocation. The
//     check fails closed: no answer about revocation, no access.
func (s *Service) Session(accessKeyID, sessionToken string) (*Session, error) {
	if !plausibleAccessKeyID(accessKeyID) {
		return nil, sluice.Errorf(sluice.CodeNotFound, "the access key is not a sluice session key")
	}
	if sessionToken == "" {
		return nil, sluice.Errorf(sluice.CodeTokenMissing, "a session token is required with a temporary access key")
	}
	c, mk, err := s.keys.open(accessKeyID, sessionToken)
	if err != nil {
		return nil, err
	}
	r := s.roles[c.RoleARN]
	if r == nil || c.Bucket != s.bucket {
		// The role was removed from the configuration (which voids its
		// sessions: the emergency brake), or the token was sealed for
		// another deployment sharing the key.
		return nil, sluice.Errorf(sluice.CodeTokenSignature, "the session token is invalid")
	}
	if !s.now().Before(time.Unix(c.ExpiresAt, 0)) {
		return nil, sluice.Errorf(sluice.CodeTokenExpired, "The provided token has expired.")
	}
	rev, err := s.revs.get(accessKeyID, sluice.Owner{Issuer: c.Issuer, Subject: c.Subject})
	if sluice.IsCode(err, sluice.CodeNotFound) {
		// Authentic but never recorded: not issued through this
		// deployment's ledger.
		return nil, sluice.Errorf(sluice.CodeTokenSignature, "the session token is invalid")
	}
	if err != nil {
		return nil, sluice.Wrap(sluice.CodeUnavailable, err, "cannot check the session's revocation; try again")
	}
	if rev.Revokes(time.Unix(c.IssuedAt, 0)) {
		return nil, sluice.Errorf(sluice.CodeTokenExpired, "The provided token has been revoked.")
	}
	return &Session{
		AccessKeyID: accessKeyID, Secret: secretFor(mk, accessKeyID),
		Issuer: c.Issuer, Subject: c.Subject, RoleARN: c.RoleARN, AssumedRoleARN: r.assumedARN(c.SessionName),
		Bucket: c.Bucket, Prefix: c.Prefix, ExpiresAt: time.Unix(c.ExpiresAt, 0).UTC(),
		access: c.Access, policy: c.Policy,
	}, nil
}

// S3 actions, as IAM and versitygw name them.
const (
	actGetObject           = "s3:GetObject"
	actGetObjectAttributes = "s3:GetObjectAttributes"
	actPutObject           = "s3:PutObject"
	actAbortMultipart      = "s3:AbortMultipartUpload"
	actListParts           = "s3:ListMultipartUploadParts"
	actDeleteObject        = "s3:DeleteObject"
	actListBucket          = "s3:ListBucket"
	actListBucketMultipart = "s3:ListBucketMultipartUploads"
	resourceARNPrefix      = "arn:aws:s3:::"
	conditionPrefix        = "s3:prefix"
)

// objectActions says which access bit grants an action on an object under
// the prefix. HEAD is checked as s3:GetObject; creating, uploading parts of
// and completing a multipart upload are all s3:PutObject.
var objectActions = map[string]access{
	actGetObject:           accessRead,
	actGetObjectAttributes: accessRead,
	actPutObject:           accessWrite,
	actAbortMultipart:      accessWrite,
	actListParts:           accessWrite,
	actDeleteObject:        accessDelete,
}

// Allowed reports whether the session may perform action on resource (an
// arn:aws:s3::: ARN), given the request's condition keys. It allows only:
//   - object actions the role grants, on keys strictly under the prefix,
//     with no "." or ".." path segment after it;
//   - listing the bucket (s3:ListBucket, and with write access
//     s3:ListBucketMultipartUploads) when the request's prefix parameter
//     starts with the session's prefix;
//
// and then only what the session policy, if any, also allows. Everything
// else is refused, including every bucket-level and account-level action.
func (s *Session) Allowed(action, resource string, cond map[string][]string) bool {
	return s.roleAllows(action, resource, cond) && policyAllows(s.policy, action, resource)
}

func (s *Session) roleAllows(action, resource string, cond map[string][]string) bool {
	bucketARN := resourceARNPrefix + s.Bucket
	if bit, ok := objectActions[action]; ok {
		key, ok := strings.CutPrefix(resource, bucketARN+"/")
		return ok && s.access&bit != 0 && underPrefix(key, s.Prefix)
	}
	switch action {
	case actListBucket:
		if s.access&accessList == 0 {
			return false
		}
	case actListBucketMultipart:
		if s.access&accessWrite == 0 {
			return false
		}
	default:
		return false
	}
	if resource != bucketARN {
		return false
	}
	p := cond[conditionPrefix]
	return len(p) == 1 && strings.HasPrefix(p[0], s.Prefix)
}

// underPrefix reports whether key is strictly below prefix (which ends in
// "/") and has no "." or ".." segment below it. versitygw normalises keys
// before asking, so a traversal never gets here; this is the second lock.
func underPrefix(key, prefix string) bool {
	rest, ok := strings.CutPrefix(key, prefix)
	if !ok || rest == "" {
		return false
	}
	for seg := range strings.SplitSeq(rest, "/") {
		if seg == "." || seg == ".." {
			return false
		}
	}
	return true
}

// lookupTimeout bounds one revocation read: the store's hooks get no
// context, and a request must not hang on a slow ledger.
const lookupTimeout = 2 * time.Second

// sweepAt is the cache size above which expired entries are swept out.
const sweepAt = 10000

// revocationCache remembers, per access key, the ledger's answer about
// revocation for ttl, and makes concurrent misses for one key share one
// read. Only answers are cached, never errors.
type revocationCache struct {
	ledger sluice.CredentialLedger
	ttl    time.Duration
	now    func() time.Time
	group  singleflight.Group

	mu    sync.Mutex
	m     map[string]revEntry
	swept time.Time
}

type revEntry struct {
	rev   sluice.Revocation
	until time.Time
}

func newRevocationCache(l sluice.CredentialLedger, ttl time.Duration, now func() time.Time) *revocationCache {
	return &revocationCache{ledger: l, ttl: ttl, now: now, m: map[string]revEntry{}}
}

func (c *revocationCache) get(akid string, o sluice.Owner) (sluice.Revocation, error) {
	now := c.now()
	c.mu.Lock()
	e, ok := c.m[akid]
	c.mu.Unlock()
	if ok && now.Before(e.until) {
		return e.rev, nil
	}
	v, err, _ := c.group.Do(akid, func() (any, error) {
		ctx, cancel := context.WithTimeout(context.Background(), lookupTimeout)
		defer cancel()
		r, err := c.ledger.Revocation(ctx, akid, o)
		if err != nil {
			return nil, err
		}
		c.put(akid, r, now)
		return r, nil
	})
	if err != nil {
		return sluice.Revocation{}, err
	}
	return v.(sluice.Revocation), nil
}

func (c *revocationCache) put(akid string, r sluice.Revocation, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= sweepAt && now.Sub(c.swept) >= c.ttl {
		for k, e := range c.m {
			if !now.Before(e.until) {
				delete(c.m, k)
			}
		}
		c.swept = now
	}
	c.m[akid] = revEntry{rev: r, until: now.Add(c.ttl)}
}

// forget drops one key, so that this instance sees its revocation at once.
func (c *revocationCache) forget(akid string) {
	c.mu.Lock()
	delete(c.m, akid)
	c.mu.Unlock()
}

// forgetAll drops every entry (after a user's revocation, whose keys this
// instance does not list).
func (c *revocationCache) forgetAll() {
	c.mu.Lock()
	clear(c.m)
	c.mu.Unlock()
}
