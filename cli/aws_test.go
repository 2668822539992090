package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
)

func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errw bytes.Buffer
	env := &Env{Stdout: &out, Stderr: &errw, Stdin: strings.NewReader(""), Getenv: func(string) string { return "" }}
	return Run(context.Background(), env, args), out.String(), errw.String()
}

// The documents name exactly the keys docs/option4-aws.md cites: the
// provider is the issuer URL without https://, and its condition keys and
// policy variable are that name with :aud and :sub.
func TestAWSPolicyFirebase(t *testing.T) {
	code, out, stderr := runCLI(t, "aws", "policy", "--bucket", "photos-prod", "--firebase-project", "my-app-123", "--account-id", "123456789012", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var set awsPolicySet
	if err := json.Unmarshal([]byte(out), &set); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if set.ProviderURL != "https://securetoken.google.com/my-app-123" || len(set.ClientIDs) != 1 || set.ClientIDs[0] != "my-app-123" ||
		set.ProviderARN != "arn:aws:iam::123456789012:oidc-provider/securetoken.google.com/my-app-123" || set.MaxSessionSecs != 3600 {
		t.Errorf("provider: %+v", set)
	}
	trust := set.TrustPolicy.Statement[0]
	cond, _ := json.Marshal(trust.Condition)
	if trust.Action != "sts:AssumeRoleWithWebIdentity" || trust.Principal["Federated"] != set.ProviderARN ||
		!strings.Contains(string(cond), `"StringEquals":{"securetoken.google.com/my-app-123:aud":"my-app-123"}`) ||
		!strings.Contains(string(cond), `"securetoken.google.com/my-app-123:sub":["*${*}*","*${?}*","*${$}*","*/*"]`) {
		t.Errorf("trust statement: %+v", trust)
	}
	perms, _ := json.Marshal(set.PermissionPolicy)
	for _, want := range []string{
		`"Version":"2012-10-17"`,
		`"Resource":"arn:aws:s3:::photos-prod/users/${securetoken.google.com/my-app-123:sub}/*"`,
		`"s3:prefix":"users/${securetoken.google.com/my-app-123:sub}/*"`,
		`"aws:SecureTransport":"false"`,
	} {
		if !strings.Contains(string(perms), want) {
			t.Errorf("permission policy lacks %s:\n%s", want, perms)
		}
	}
	// Nothing wider than the user's prefix is allowed anywhere.
	for _, st := range set.PermissionPolicy.Statement {
		if st.Effect != "Allow" {
			continue
		}
		res, _ := json.Marshal(st.Resource)
		if strings.Contains(string(res), "photos-prod/*") || strings.Contains(string(res), `"*"`) {
			t.Errorf("statement %s allows %s", st.Sid, res)
		}
	}
}

func TestAWSPolicyGenericIssuerAndText(t *testing.T) {
	code, out, stderr := runCLI(t, "aws", "policy", "--bucket", "b-1", "--issuer", "https://tenant.auth0.com/", "--audience", "api://uploads")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{
		"arn:aws:iam::<ACCOUNT_ID>:oidc-provider/tenant.auth0.com/",
		`"tenant.auth0.com/:aud": "api://uploads"`,
		"arn:aws:s3:::b-1/users/${tenant.auth0.com/:sub}/*",
		"aws iam create-open-id-connect-provider --url https://tenant.auth0.com/ --client-id-list api://uploads",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
}

func TestAWSPolicyRefusesBadInput(t *testing.T) {
	cases := [][]string{
		{"aws", "policy", "--firebase-project", "p"},                                            // no bucket
		{"aws", "policy", "--bucket", "Bad_Bucket", "--firebase-project", "p"},                  // bucket name
		{"aws", "policy", "--bucket", "b-1"},                                                    // no issuer
		{"aws", "policy", "--bucket", "b-1", "--firebase-project", "Not/A/Project"},             // project id
		{"aws", "policy", "--bucket", "b-1", "--issuer", "http://x.example", "--audience", "a"}, // not https
		{"aws", "policy", "--bucket", "b-1", "--issuer", "https://x.example:8443", "--audience", "a"},
		{"aws", "policy", "--bucket", "b-1", "--firebase-project", "p", "--account-id", "42"},
		{"aws", "policy", "--bucket", "b-1", "--firebase-project", "p", "--issuer", "https://x.example"},
		{"aws", "policy", "--bucket", "b-1", "--firebase-project", "p", "--max-duration", "13h"},
		{"aws", "other"},
	}
	for _, args := range cases {
		if code, out, _ := runCLI(t, args...); code == 0 || out != "" {
			t.Errorf("%v: exit %d, printed %q; want a refusal", args, code, out)
		}
	}
}
