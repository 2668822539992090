package embedded

import (
	"crypto/hmac"
	"crypto/sha256"
	"net/http"
	"slices"
	"sync/atomic"

	"github.com/versity/versitygw/auth"
	"github.com/versity/versitygw/s3err"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sts"
)

// IAM is the embedded store's IAM service: it makes versitygw honour the
// temporary credentials of sluice's STS. Besides auth.IAMService it
// implements the two optional capabilities versitygw type-asserts for (see
// ../shared/STS-NOTES.md):
//
//   - auth.SigningKeyProvider: versitygw hands over the access key and the
//     X-Amz-Security-Token (header, presigned query or POST form field) of
//     every request not signed with the root key; IAM checks the session
//     and returns the SigV4 signing key, and versitygw verifies the
//     signature with it.
//   - auth.PolicyEvaluator: versitygw asks, for every bucket and object
//     operation, whether the identity may perform these actions on these
//     resources. Anything outside the session's scope is an explicit Deny,
//     so no bucket policy or ACL can widen a session.
//
// The root key never comes here: versitygw handles it itself. There are no
// other accounts, so account management is refused.
//
// The store starts before the identity layer the STS needs, so the STS is
// attached later; until then (and for good when the STS is off) every key
// but root's is unknown. Pass IAM to Config.IAM as it is: wrapping it (in
// versitygw's IAM cache, say) would hide the optional interfaces and turn
// every session away.
type IAM struct {
	sts atomic.Pointer[sts.Service]
}

var (
	_ auth.IAMService         = (*IAM)(nil)
	_ auth.SigningKeyProvider = (*IAM)(nil)
	_ auth.PolicyEvaluator    = (*IAM)(nil)
)

// NewIAM returns an IAM with no STS attached.
func NewIAM() *IAM { return &IAM{} }

// Attach makes the store honour s's credentials.
func (i *IAM) Attach(s *sts.Service) { i.sts.Store(s) }

// Decisions of auth.PolicyEvaluation. The type is unexported in versitygw
// (NoMatch=0, Allow=1, Deny=2, by iota order), so untyped constants fill it.
// The end-to-end tests pin their meaning: re-run them on every versitygw
// upgrade.
const (
	decisionAllow = 1
	decisionDeny  = 2
)

func (i *IAM) session(access, token string) (*sts.Session, error) {
	s := i.sts.Load()
	if s == nil {
		return nil, auth.ErrNoSuchUser
	}
	sess, err := s.Session(access, token)
	if err != nil {
		return nil, gatewayError(err)
	}
	return sess, nil
}

// DeriveSigningKey implements auth.SigningKeyProvider.
func (i *IAM) DeriveSigningKey(access, sessionToken, date, region, service string) ([]byte, auth.Account, error) {
	sess, err := i.session(access, sessionToken)
	if err != nil {
		return nil, auth.Account{}, err
	}
	return signingKey(sess.Secret, date, region, service), auth.Account{
		Access: access, Role: auth.RoleUser,
		// EvaluatePolicy receives the token back through the account.
		SessionToken: sessionToken, IsSession: true,
		Arn: sess.AssumedRoleARN, RoleArn: sess.RoleARN,
	}, nil
}

// EvaluatePolicy implements auth.PolicyEvaluator: Allow where the session
// allows, explicit Deny everywhere else.
func (i *IAM) EvaluatePolicy(access, sessionToken string, actions []auth.Action, resources []string, condition map[string][]string) (auth.PolicyEvaluation, error) {
	sess, err := i.session(access, sessionToken)
	if err != nil {
		return auth.PolicyEvaluation{}, err
	}
	ev := auth.PolicyEvaluation{PrincipalArn: sess.AssumedRoleARN}
	// The element type is unexported: slices.Grow and untyped constants
	// build the matrix without naming it.
	ev.Decisions = slices.Grow(ev.Decisions, len(resources))
	for r, res := range resources {
		ev.Decisions = append(ev.Decisions, nil)
		ev.Decisions[r] = slices.Grow(ev.Decisions[r], len(actions))
		for _, a := range actions {
			if sess.Allowed(string(a), res, condition) {
				ev.Decisions[r] = append(ev.Decisions[r], decisionAllow)
			} else {
				ev.Decisions[r] = append(ev.Decisions[r], decisionDeny)
			}
		}
	}
	return ev, nil
}

// gatewayError translates a session refusal into the S3 error versitygw
// answers with. A key that is not ours is "no such user" (versitygw says
// InvalidAccessKeyId); the rest are 403s but for a ledger that cannot be
// asked about revocation, which is 503 so that SDKs retry.
func gatewayError(err error) error {
	msg := sluice.ErrorMessage(err)
	switch c := sluice.ErrorCode(err); {
	case c == sluice.CodeNotFound:
		return auth.ErrNoSuchUser
	case c == sluice.CodeTokenExpired:
		return s3err.APIError{Code: "ExpiredToken", Description: msg, HTTPStatusCode: http.StatusForbidden}
	case c == sluice.CodeUnavailable:
		return s3err.APIError{Code: "ServiceUnavailable", Description: msg, HTTPStatusCode: http.StatusServiceUnavailable}
	case sluice.HTTPStatus(c) == http.StatusUnauthorized: // the other token_* codes
		return s3err.APIError{Code: "InvalidToken", Description: msg, HTTPStatusCode: http.StatusForbidden}
	default:
		return s3err.APIError{Code: "InternalError", Description: "We encountered an internal error. Please try again.", HTTPStatusCode: http.StatusInternalServerError}
	}
}

// signingKey is SigV4's derived key: an HMAC chain over "AWS4"+secret, the
// date, region, service and "aws4_request".
func signingKey(secret, date, region, service string) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), date)
	k = hmacSHA256(k, region)
	k = hmacSHA256(k, service)
	return hmacSHA256(k, "aws4_request")
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

// CreateAccount is refused: the embedded store has no accounts but root.
func (*IAM) CreateAccount(auth.Account) error {
	return s3err.GetAPIError(s3err.ErrAdminMethodNotSupported)
}

// GetUserAccount finds no permanent account: sessions come through
// DeriveSigningKey.
func (*IAM) GetUserAccount(string) (auth.Account, error) { return auth.Account{}, auth.ErrNoSuchUser }

// ResolveAccounts returns the ids that do not exist: all of them.
func (*IAM) ResolveAccounts(ids []string) ([]string, error) { return ids, nil }

// UpdateUserAccount is refused.
func (*IAM) UpdateUserAccount(string, auth.MutableProps) error {
	return s3err.GetAPIError(s3err.ErrAdminMethodNotSupported)
}

// DeleteUserAccount is refused.
func (*IAM) DeleteUserAccount(string) error {
	return s3err.GetAPIError(s3err.ErrAdminMethodNotSupported)
}

// ListUserAccounts lists none.
func (*IAM) ListUserAccounts() ([]auth.Account, error) { return nil, nil }

// Shutdown has nothing to release.
func (*IAM) Shutdown() error { return nil }
