package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// `sluice aws policy` prints what real AWS needs for option 4 without
// sluice in the path: an IAM OIDC identity provider for the app's issuer, a
// role only that issuer's users may assume, and a permission policy that
// confines each of them to users/<sub>/ of one bucket. The reasoning and
// the AWS documentation it rests on are in docs/option4-aws.md.

func init() {
	register(&command{
		name:    "aws",
		usage:   "policy --bucket B (--firebase-project P | --issuer URL --audience A) [--account-id N] [--role-name R] [--json]",
		summary: "print the IAM provider, trust and permission policies for option 4 on real AWS",
		run:     awsCmd,
	})
}

// awsPolicyInput is what the policies are made of.
type awsPolicyInput struct {
	Bucket      string
	Issuer      string // https://..., as the tokens' iss says
	Audience    string
	AccountID   string // 12 digits, or a placeholder
	RoleName    string
	MaxDuration time.Duration
}

// awsPolicySet is the output: what to create, in order.
type awsPolicySet struct {
	ProviderURL      string    `json:"provider_url"`
	ProviderARN      string    `json:"provider_arn"`
	ClientIDs        []string  `json:"client_ids"`
	RoleName         string    `json:"role_name"`
	MaxSessionSecs   int64     `json:"max_session_duration"`
	TrustPolicy      policyDoc `json:"trust_policy"`
	PermissionPolicy policyDoc `json:"permission_policy"`
}

// policyDoc and statement print in the order AWS's documentation writes
// them, so the output reads like the examples it is checked against.
type policyDoc struct {
	Version   string      `json:"Version"`
	Statement []statement `json:"Statement"`
}

type statement struct {
	Sid       string         `json:"Sid"`
	Effect    string         `json:"Effect"`
	Principal map[string]any `json:"Principal,omitempty"`
	Action    any            `json:"Action"`
	Resource  any            `json:"Resource,omitempty"`
	Condition map[string]any `json:"Condition,omitempty"`
}

// accountPlaceholder stands for the AWS account id when none is given.
const accountPlaceholder = "<ACCOUNT_ID>"

var (
	bucketName    = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
	awsAccountID  = regexp.MustCompile(`^[0-9]{12}$`)
	firebaseProj  = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	iamRoleName   = regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)
	errNeedIssuer = errors.New("give --firebase-project, or --issuer and --audience")
)

func awsCmd(ctx context.Context, env *Env, args []string) error {
	if len(args) == 0 || args[0] != "policy" {
		fmt.Fprintln(env.Stderr, "Usage: sluice aws policy --bucket B --firebase-project P [--account-id N] [--role-name R] [--json]")
		return errUsage
	}
	fs := flags(env, commands["aws"])
	in := awsPolicyInput{}
	var project string
	var asJSON bool
	fs.StringVar(&in.Bucket, "bucket", "", "the S3 bucket users upload to")
	fs.StringVar(&project, "firebase-project", "", "Firebase project id (issuer https://securetoken.google.com/<id>, audience <id>)")
	fs.StringVar(&in.Issuer, "issuer", "", "another OIDC issuer URL, exactly as the tokens' iss (instead of --firebase-project)")
	fs.StringVar(&in.Audience, "audience", "", "with --issuer, the audience (client id) the tokens carry")
	fs.StringVar(&in.AccountID, "account-id", accountPlaceholder, "your 12-digit AWS account id")
	fs.StringVar(&in.RoleName, "role-name", "sluice-uploader", "the IAM role to create")
	fs.DurationVar(&in.MaxDuration, "max-duration", time.Hour, "the role's maximum session duration (1h to 12h)")
	fs.BoolVar(&asJSON, "json", false, "print the documents as one JSON object")
	rest, err := parse(fs, args[1:])
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		fmt.Fprintf(env.Stderr, "%s: unexpected argument %q\n", fs.Name(), rest[0])
		return errUsage
	}
	if project != "" {
		if in.Issuer != "" || in.Audience != "" {
			return errors.New("--firebase-project sets the issuer and audience; do not also give --issuer or --audience")
		}
		if !firebaseProj.MatchString(project) {
			return fmt.Errorf("--firebase-project %q is not a Firebase project id", project)
		}
		in.Issuer, in.Audience = "https://securetoken.google.com/"+project, project
	}
	set, err := awsPolicies(in)
	if err != nil {
		return err
	}
	if asJSON {
		return writeJSON(env.Stdout, set)
	}
	return printAWSPolicies(env.Stdout, set)
}

// awsPolicies builds the provider, trust policy and permission policy.
func awsPolicies(in awsPolicyInput) (*awsPolicySet, error) {
	if in.Issuer == "" || in.Audience == "" {
		return nil, errNeedIssuer
	}
	if !bucketName.MatchString(in.Bucket) || strings.Contains(in.Bucket, "..") {
		return nil, fmt.Errorf("--bucket %q is not an S3 bucket name", in.Bucket)
	}
	u, err := url.Parse(in.Issuer)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.Port() != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		// IAM's own rules for an OIDC provider URL.
		return nil, fmt.Errorf("--issuer %q: IAM needs an https URL with no port, query or fragment", in.Issuer)
	}
	if in.AccountID != accountPlaceholder && !awsAccountID.MatchString(in.AccountID) {
		return nil, fmt.Errorf("--account-id %q: want 12 digits", in.AccountID)
	}
	if !iamRoleName.MatchString(in.RoleName) {
		return nil, fmt.Errorf("--role-name %q is not an IAM role name", in.RoleName)
	}
	if in.MaxDuration < time.Hour || in.MaxDuration > 12*time.Hour || in.MaxDuration%time.Second != 0 {
		return nil, fmt.Errorf("--max-duration %s: IAM allows 1h to 12h", in.MaxDuration)
	}
	// IAM names an OIDC provider, and prefixes its condition keys, with the
	// issuer URL minus "https://" (path and any trailing slash kept).
	provider := strings.TrimPrefix(in.Issuer, "https://")
	sub := "${" + provider + ":sub}"
	bucketARN := "arn:aws:s3:::" + in.Bucket
	set := &awsPolicySet{
		ProviderURL:    in.Issuer,
		ProviderARN:    "arn:aws:iam::" + in.AccountID + ":oidc-provider/" + provider,
		ClientIDs:      []string{in.Audience},
		RoleName:       in.RoleName,
		MaxSessionSecs: int64(in.MaxDuration / time.Second),
	}
	set.TrustPolicy = policyDoc{
		Version: "2012-10-17",
		Statement: []statement{{
			Sid:       "AppUsersOnly",
			Effect:    "Allow",
			Principal: map[string]any{"Federated": set.ProviderARN},
			Action:    "sts:AssumeRoleWithWebIdentity",
			Condition: map[string]any{
				// Tokens of this app only: the provider's URL is shared
				// with every other app of the same issuer.
				"StringEquals": map[string]any{provider + ":aud": in.Audience},
				// The subject becomes part of a resource ARN in the
				// permission policy. Refuse subjects that could widen it
				// (wildcards, which IAM writes ${*} and ${?} to match
				// literally) or walk out of the user's folder (/).
				"StringNotLike": map[string]any{provider + ":sub": []string{"*${*}*", "*${?}*", "*${$}*", "*/*"}},
			},
		}},
	}
	set.PermissionPolicy = policyDoc{
		Version: "2012-10-17", // policy variables need this version
		Statement: []statement{
			{
				Sid:    "OwnObjects",
				Effect: "Allow",
				Action: []string{"s3:PutObject", "s3:GetObject", "s3:DeleteObject",
					"s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"},
				Resource: bucketARN + "/users/" + sub + "/*",
			},
			{
				Sid:       "ListOwnPrefix",
				Effect:    "Allow",
				Action:    "s3:ListBucket",
				Resource:  bucketARN,
				Condition: map[string]any{"StringLike": map[string]any{"s3:prefix": "users/" + sub + "/*"}},
			},
			{
				Sid:       "TLSOnly",
				Effect:    "Deny",
				Action:    "s3:*",
				Resource:  []string{bucketARN, bucketARN + "/*"},
				Condition: map[string]any{"Bool": map[string]any{"aws:SecureTransport": "false"}},
			},
		},
	}
	return set, nil
}

func printAWSPolicies(w io.Writer, s *awsPolicySet) error {
	doc := func(v any) string {
		var b strings.Builder
		writeJSON(&b, v)
		return strings.TrimSpace(b.String())
	}
	fmt.Fprintf(w, "# Option 4 on AWS: users trade their ID token for credentials confined to users/<sub>/.\n")
	fmt.Fprintf(w, "# Reasoning and sources: docs/option4-aws.md\n\n")
	fmt.Fprintf(w, "## 1. IAM OIDC identity provider\n\n")
	fmt.Fprintf(w, "Provider URL: %s\nAudience:     %s\nARN:          %s\n\n", s.ProviderURL, s.ClientIDs[0], s.ProviderARN)
	fmt.Fprintf(w, "  aws iam create-open-id-connect-provider --url %s --client-id-list %s\n\n", s.ProviderURL, s.ClientIDs[0])
	fmt.Fprintf(w, "## 2. Role %s: trust policy (trust.json)\n\n%s\n\n", s.RoleName, doc(s.TrustPolicy))
	fmt.Fprintf(w, "  aws iam create-role --role-name %s --max-session-duration %d --assume-role-policy-document file://trust.json\n\n",
		s.RoleName, s.MaxSessionSecs)
	fmt.Fprintf(w, "## 3. Permission policy (permissions.json): each user's own prefix, nothing else\n\n%s\n\n", doc(s.PermissionPolicy))
	fmt.Fprintf(w, "  aws iam put-role-policy --role-name %s --policy-name sluice-own-prefix --policy-document file://permissions.json\n\n", s.RoleName)
	fmt.Fprintf(w, "Not enforceable by IAM on a PUT: object size and content type. Check uploads after the fact\n")
	fmt.Fprintf(w, "(sluice's reconciler), or use presigned POST with content-length-range for hard limits.\n")
	return nil
}

// writeJSON indents v without escaping < and >: the placeholder
// <ACCOUNT_ID> must print as written.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
