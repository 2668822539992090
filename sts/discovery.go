package sts

// Discovery is what sluice's GET /v1/sts/config answers: everything a client
// needs to use the STS and sign its own requests to the store, so that it
// needs no configuration but the server's URL. None of it is secret.
type Discovery struct {
	// STSEndpoint is the URL to send AssumeRoleWithWebIdentity to.
	STSEndpoint string `json:"sts_endpoint"`
	// RoleARN is the default role to assume; Roles lists all of them.
	RoleARN string   `json:"role_arn"`
	Roles   []string `json:"roles"`
	// S3Endpoint, Bucket and Region are where the credentials work, with
	// path-style addressing.
	S3Endpoint string `json:"s3_endpoint"`
	Bucket     string `json:"bucket"`
	Region     string `json:"region"`
	// KeyPrefix is the pattern of the only keys a session may touch.
	KeyPrefix string `json:"key_prefix"`
	// MaxSize and AllowedTypes are the deployment's upload policy. The
	// embedded store holds session PUTs to them; what it cannot check
	// (see docs/option4-aws.md) the reconciler does.
	MaxSize      int64    `json:"max_size"`
	AllowedTypes []string `json:"allowed_types"`
	// MaxDurationSeconds is the default role's longest session.
	MaxDurationSeconds int64 `json:"max_duration_seconds"`
}

// KeyPrefixPattern is Discovery.KeyPrefix: {sub} stands for the subject.
const KeyPrefixPattern = "users/{sub}/"
