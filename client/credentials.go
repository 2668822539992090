package client

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/sluicehq/sluice"
	slsts "github.com/sluicehq/sluice/sts"
)

// CredentialsOptions tune Credentials.
type CredentialsOptions struct {
	// STSEndpoint is the STS URL; default <server>/sts.
	STSEndpoint string
	// RoleARN is the role to assume; default sts.DefaultRoleARN.
	RoleARN string
	// SessionName is the RoleSessionName, a label recorded with the
	// credentials (2–64 of [\w+=,.@-]); default "sluice-client".
	SessionName string
	// Duration of the credentials; 0 leaves it to the server (1 hour by
	// default).
	Duration time.Duration
	// ExpiryWindow is how long before expiry cached credentials are
	// renewed, so that a request never goes out with credentials about to
	// lapse; default 1 minute.
	ExpiryWindow time.Duration
}

// DefaultSessionName is the RoleSessionName of Credentials by default.
const DefaultSessionName = "sluice-client"

// Credentials returns an aws.CredentialsProvider that trades the client's
// ID token for temporary credentials at sluice's STS endpoint
// (AssumeRoleWithWebIdentity), for any aws-sdk-go-v2 client. It is the
// SDK's own web identity provider pointed at sluice, behind the SDK's
// credentials cache: the token is exchanged once per credential lifetime,
// not once per request, and renewed ExpiryWindow before expiry.
//
// The credentials work only under the caller's own users/{sub}/ prefix of
// the server's bucket (see Discovery).
func (c *Client) Credentials(opts CredentialsOptions) aws.CredentialsProvider {
	if opts.STSEndpoint == "" && c.base != nil {
		opts.STSEndpoint = c.base.String() + "/sts"
	}
	if opts.RoleARN == "" {
		opts.RoleARN = slsts.DefaultRoleARN
	}
	if opts.SessionName == "" {
		opts.SessionName = DefaultSessionName
	}
	if opts.ExpiryWindow == 0 {
		opts.ExpiryWindow = time.Minute
	}
	stc := sts.New(sts.Options{
		// STS ignores the region for AssumeRoleWithWebIdentity, which is
		// unsigned; the SDK insists on one.
		Region: "us-east-1", BaseEndpoint: aws.String(opts.STSEndpoint), HTTPClient: c.api,
		AppID: c.userAgent,
	})
	p := stscreds.NewWebIdentityRoleProvider(stc, opts.RoleARN, tokenRetriever{c}, func(o *stscreds.WebIdentityRoleOptions) {
		o.RoleSessionName = opts.SessionName
		o.Duration = opts.Duration
	})
	return aws.NewCredentialsCache(errorTranslator{p, c}, func(o *aws.CredentialsCacheOptions) {
		o.ExpiryWindow = opts.ExpiryWindow
	})
}

// tokenRetriever hands the client's ID token to the SDK's provider.
type tokenRetriever struct{ c *Client }

func (t tokenRetriever) GetIdentityToken() ([]byte, error) {
	if t.c.baseErr != nil {
		return nil, t.c.baseErr
	}
	if t.c.token == "" {
		return nil, sluice.Errorf(sluice.CodeTokenMissing, "no ID token was given; the STS requires one")
	}
	return []byte(t.c.token), nil
}

// errorTranslator turns the SDK's STS errors into *sluice.Error, as every
// error of this package is.
type errorTranslator struct {
	p aws.CredentialsProvider
	c *Client
}

func (e errorTranslator) Retrieve(ctx context.Context) (aws.Credentials, error) {
	cr, err := e.p.Retrieve(ctx)
	if err != nil {
		return cr, stsError(err, e.c)
	}
	return cr, nil
}

// stsCodes map STS's error codes to sluice's.
var stsCodes = map[string]sluice.Code{
	"ExpiredTokenException":   sluice.CodeTokenExpired,
	"InvalidIdentityToken":    sluice.CodeTokenSignature,
	"IDPCommunicationError":   sluice.CodeIdentityUnavailable,
	"AccessDenied":            sluice.CodeForbidden,
	"ValidationError":         sluice.CodeInvalidRequest,
	"MalformedPolicyDocument": sluice.CodeInvalidRequest,
	"PackedPolicyTooLarge":    sluice.CodeInvalidRequest,
	"ServiceUnavailable":      sluice.CodeUnavailable,
}

func stsError(err error, c *Client) error {
	var se *sluice.Error
	if errors.As(err, &se) {
		return err
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code, ok := stsCodes[ae.ErrorCode()]
		if !ok {
			code = sluice.CodeInternal
		}
		return sluice.Wrap(code, err, "the STS refused: %s: %s", ae.ErrorCode(), ae.ErrorMessage())
	}
	host := ""
	if c.base != nil {
		host = c.base.Host
	}
	return sluice.Wrap(sluice.CodeUnavailable, err, "cannot get credentials from the STS at %s: %v", host, cause(err))
}

// Discovery returns the server's STS discovery document: the STS endpoint,
// the roles, and the store, bucket and region the credentials work in. It
// needs no token. CodeRouteNotFound means the server runs no STS.
func (c *Client) Discovery(ctx context.Context) (*slsts.Discovery, error) {
	if c.baseErr != nil {
		return nil, c.baseErr
	}
	u := *c.base
	u.Path += "/v1/sts/config"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, sluice.Wrap(sluice.CodeInvalidRequest, err, "cannot build the request")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	resp, err := c.api.Do(req)
	if err != nil {
		return nil, sluice.Wrap(sluice.CodeUnavailable, err, "cannot reach the sluice server at %s: %v", c.base.Host, cause(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, apiError(resp)
	}
	var d slsts.Discovery
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil {
		return nil, sluice.Wrap(sluice.CodeInternal, err, "the server's STS configuration is not the expected JSON")
	}
	return &d, nil
}
