package sts

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/sluicehq/sluice"
)

// Session policies (the optional Policy parameter).
//
// A session policy can only narrow: a request is allowed when the role
// allows it AND the session policy allows it (some Allow statement matches
// and no Deny statement does). The role is always checked first and on its
// own, so no policy document, however written, reaches beyond the role's
// users/{sub}/ prefix. sluice understands a documented subset of IAM's
// policy language and refuses the rest with MalformedPolicyDocument rather
// than guess:
//
//   - Version "2012-10-17" (or absent), Statement: one object or a list.
//   - Each statement: Sid (ignored), Effect "Allow" or "Deny", Action
//     (string or list; "s3:..." names, * and ? wildcards, case-insensitive)
//     and Resource (string or list of ARNs; * and ? wildcards).
//   - Not supported, refused: Condition, NotAction, NotResource,
//     Principal, NotPrincipal. (A Condition cannot be ignored safely: an
//     Allow with a condition ignored would allow more than was written.)
//   - At most 2048 bytes, as AWS's plain-text limit.

// MaxPolicySize is the largest Policy accepted, in bytes.
const MaxPolicySize = 2048

// statement is one compiled statement; short JSON names because it rides
// in the session token.
type statement struct {
	Deny      bool     `json:"d,omitempty"`
	Actions   []string `json:"a"`
	Resources []string `json:"r"`
}

// errMalformedPolicy marks a policy refusal, so the STS endpoint answers
// AWS's MalformedPolicyDocument rather than ValidationError.
type errMalformedPolicy struct{ msg string }

func (e errMalformedPolicy) Error() string { return e.msg }

func malformedPolicy(format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	return &sluice.Error{Code: sluice.CodeInvalidRequest, Message: msg, Err: errMalformedPolicy{msg}}
}

// parsePolicy compiles a session policy document. An empty document means
// no session policy.
func parsePolicy(doc string) ([]statement, error) {
	if doc == "" {
		return nil, nil
	}
	if len(doc) > MaxPolicySize {
		return nil, sluice.Errorf(sluice.CodeInvalidRequest,
			"1 validation error detected: Value at 'policy' failed to satisfy constraint: Member must have length less than or equal to %d", MaxPolicySize)
	}
	var raw struct {
		Version   *string         `json:"Version"`
		Id        string          `json:"Id"`
		Statement json.RawMessage `json:"Statement"`
	}
	dec := json.NewDecoder(strings.NewReader(doc))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		return nil, malformedPolicy("the policy is not a JSON object with Version and Statement: %v", err)
	}
	if raw.Version != nil && *raw.Version != "2012-10-17" {
		return nil, malformedPolicy("policy Version must be 2012-10-17")
	}
	var items []json.RawMessage
	switch s := bytes.TrimSpace(raw.Statement); {
	case len(s) == 0:
		return nil, malformedPolicy("the policy has no Statement")
	case s[0] == '[':
		if err := json.Unmarshal(s, &items); err != nil {
			return nil, malformedPolicy("policy Statement: %v", err)
		}
	default:
		items = []json.RawMessage{s}
	}
	if len(items) == 0 {
		return nil, malformedPolicy("the policy's Statement is empty")
	}
	out := make([]statement, 0, len(items))
	for i, it := range items {
		st, err := parseStatement(it)
		if err != nil {
			return nil, malformedPolicy("policy Statement[%d]: %s", i, err.Error())
		}
		out = append(out, st)
	}
	return out, nil
}

func parseStatement(raw json.RawMessage) (statement, error) {
	var s struct {
		Sid      string          `json:"Sid"`
		Effect   string          `json:"Effect"`
		Action   json.RawMessage `json:"Action"`
		Resource json.RawMessage `json:"Resource"`
	}
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(raw, &probe); err != nil {
		return statement{}, fmt.Errorf("not a JSON object")
	}
	for k := range probe {
		switch k {
		case "Sid", "Effect", "Action", "Resource":
		default:
			return statement{}, fmt.Errorf("%s is not supported in sluice session policies (only Effect, Action, Resource)", k)
		}
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return statement{}, err
	}
	var st statement
	switch s.Effect {
	case "Allow":
	case "Deny":
		st.Deny = true
	default:
		return statement{}, fmt.Errorf("Effect must be Allow or Deny")
	}
	var err error
	if st.Actions, err = stringOrList(s.Action, "Action"); err != nil {
		return statement{}, err
	}
	for i, a := range st.Actions {
		svc, _, ok := strings.Cut(a, ":")
		if a != "*" && (!ok || !strings.EqualFold(svc, "s3")) {
			return statement{}, fmt.Errorf("Action %q: only s3 actions apply to these credentials", a)
		}
		st.Actions[i] = strings.ToLower(a)
	}
	if st.Resources, err = stringOrList(s.Resource, "Resource"); err != nil {
		return statement{}, err
	}
	for _, r := range st.Resources {
		if r != "*" && !strings.HasPrefix(r, "arn:aws:s3:::") {
			return statement{}, fmt.Errorf("Resource %q: want an arn:aws:s3::: ARN", r)
		}
	}
	return st, nil
}

func stringOrList(raw json.RawMessage, field string) ([]string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return nil, fmt.Errorf("%s is required", field)
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		if one == "" {
			return nil, fmt.Errorf("%s must not be empty", field)
		}
		return []string{one}, nil
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err != nil || len(list) == 0 || slicesContainsEmpty(list) {
		return nil, fmt.Errorf("%s must be a string or a non-empty list of strings", field)
	}
	return list, nil
}

func slicesContainsEmpty(l []string) bool {
	for _, s := range l {
		if s == "" {
			return true
		}
	}
	return false
}

// policyAllows reports whether the session policy allows action on
// resource: an Allow matches and no Deny does. No policy allows all (the
// role still decides).
func policyAllows(pol []statement, action, resource string) bool {
	if len(pol) == 0 {
		return true
	}
	action = strings.ToLower(action)
	allowed := false
	for _, st := range pol {
		if !anyMatch(st.Actions, action) || !anyMatch(st.Resources, resource) {
			continue
		}
		if st.Deny {
			return false
		}
		allowed = true
	}
	return allowed
}

func anyMatch(patterns []string, s string) bool {
	for _, p := range patterns {
		if wildcardMatch(p, s) {
			return true
		}
	}
	return false
}

// wildcardMatch matches s against an IAM pattern: * is any run of
// characters (slashes included), ? is one character, all else literal.
// Iterative with one backtrack point, so linear-ish and never exponential.
func wildcardMatch(p, s string) bool {
	pi, si := 0, 0
	star, mark := -1, 0
	for si < len(s) {
		switch {
		case pi < len(p) && (p[pi] == '?' || p[pi] == s[si]):
			pi++
			si++
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, si
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			si = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}
