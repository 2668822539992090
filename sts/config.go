package sts

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// DefaultRoleARN is the role of a deployment that configures none: read,
// write, list and delete under the caller's own users/{sub}/ prefix.
const DefaultRoleARN = "arn:aws:iam::000000000000:role/sluice-uploader"

// Duration bounds, as AWS has them: a session lasts at least 15 minutes,
// one hour unless asked otherwise, and a role allows at most 12 hours.
const (
	MinDuration        = 15 * time.Minute
	DefaultDuration    = time.Hour
	MaxRoleDuration    = 12 * time.Hour
	DefaultMaxDuration = time.Hour
)

// DefaultRevocationCache is how long an instance trusts its last look at a
// session's revocation: the delay before a revocation bites, at most.
const DefaultRevocationCache = 2 * time.Second

// maxRevocationCache bounds the setting: revocation must take seconds, not
// minutes.
const maxRevocationCache = time.Minute

// Config is the sts part of sluice's configuration (YAML key "sts").
type Config struct {
	// Enabled turns the STS endpoint on. Default: on. It needs the embedded
	// store (other stores have their own STS: see docs/option4-aws.md) and
	// a ledger that records credentials.
	Enabled *bool `yaml:"enabled" json:"enabled"`
	// KeyFile is the master key file; default <data>/sts-keys.json, made
	// on first start. Instances that must accept each other's credentials
	// share it (and the ledger).
	KeyFile string `yaml:"key_file" json:"key_file"`
	// RevocationCache is how long a session's revocation state is cached
	// per instance (default 2s, at most 1m): a revocation takes effect
	// within this time.
	RevocationCache time.Duration `yaml:"revocation_cache" json:"revocation_cache"`
	// Roles that may be assumed. Default: one, DefaultRoleARN.
	Roles []Role `yaml:"roles" json:"roles"`
}

// Role is one assumable role.
type Role struct {
	// ARN is what clients pass as RoleArn, e.g.
	// arn:aws:iam::000000000000:role/sluice-uploader.
	ARN string `yaml:"arn" json:"arn"`
	// Issuers, when set, are the only token issuers (iss, exactly) that may
	// assume the role; empty allows every issuer sluice trusts.
	Issuers []string `yaml:"issuers" json:"issuers"`
	// Audiences, when set, requires the token's aud to contain one of
	// them; empty allows any audience sluice accepts for the issuer.
	Audiences []string `yaml:"audiences" json:"audiences"`
	// MaxDuration caps DurationSeconds (15m to 12h; default 1h).
	MaxDuration time.Duration `yaml:"max_duration" json:"max_duration"`
	// Access is what the role grants under users/{sub}/: any of read,
	// write, list, delete. Default: all four.
	Access []string `yaml:"access" json:"access"`
}

// DefaultConfig is the sts configuration of a deployment that sets none.
func DefaultConfig() Config {
	return Config{RevocationCache: DefaultRevocationCache, Roles: []Role{DefaultRole()}}
}

// DefaultRole is the role DefaultRoleARN.
func DefaultRole() Role {
	return Role{ARN: DefaultRoleARN, MaxDuration: DefaultMaxDuration, Access: []string{"read", "write", "list", "delete"}}
}

// On reports whether the endpoint is enabled.
func (c *Config) On() bool { return c.Enabled == nil || *c.Enabled }

// roleARN is an IAM role ARN: a 12-digit account, an optional path and a
// name of AWS's role-name characters.
var roleARN = regexp.MustCompile(`^arn:aws:iam::([0-9]{12}):role/(?:[\w+=,.@-]+/)*([\w+=,.@-]{1,64})$`)

// Validate fills in defaults and names the first bad field, as it is
// spelled in the config file (e.g. "sts.roles[0].max_duration").
func (c *Config) Validate() error {
	if c.RevocationCache == 0 {
		c.RevocationCache = DefaultRevocationCache
	}
	if c.RevocationCache < 0 || c.RevocationCache > maxRevocationCache {
		return fmt.Errorf("sts.revocation_cache: %s is outside 0–%s", c.RevocationCache, maxRevocationCache)
	}
	if len(c.Roles) == 0 {
		if c.On() {
			c.Roles = []Role{DefaultRole()}
		}
		return nil
	}
	seen := map[string]int{}
	for i := range c.Roles {
		r := &c.Roles[i]
		if err := r.validate(); err != nil {
			return fmt.Errorf("sts.roles[%d].%w", i, err)
		}
		if j, dup := seen[r.ARN]; dup {
			return fmt.Errorf("sts.roles[%d].arn: %q is already configured by roles[%d]", i, r.ARN, j)
		}
		seen[r.ARN] = i
	}
	return nil
}

func (r *Role) validate() error {
	if !roleARN.MatchString(r.ARN) {
		return fmt.Errorf("arn: %q is not an IAM role ARN (arn:aws:iam::<12 digits>:role/<name>)", r.ARN)
	}
	if r.MaxDuration == 0 {
		r.MaxDuration = DefaultMaxDuration
	}
	if r.MaxDuration < MinDuration || r.MaxDuration > MaxRoleDuration {
		return fmt.Errorf("max_duration: %s is outside %s–%s", r.MaxDuration, MinDuration, MaxRoleDuration)
	}
	if r.MaxDuration%time.Second != 0 {
		return fmt.Errorf("max_duration: %s is not a whole number of seconds", r.MaxDuration)
	}
	if len(r.Access) == 0 {
		r.Access = DefaultRole().Access
	}
	if _, err := parseAccess(r.Access); err != nil {
		return fmt.Errorf("access: %w", err)
	}
	for _, is := range r.Issuers {
		if is == "" {
			return errors.New("issuers: an issuer must not be empty")
		}
	}
	if slices.Contains(r.Audiences, "") {
		return errors.New("audiences: an audience must not be empty")
	}
	return nil
}

// access is what a role grants under the caller's prefix, as bits.
type access uint8

const (
	accessRead access = 1 << iota
	accessWrite
	accessList
	accessDelete
)

var accessNames = map[string]access{"read": accessRead, "write": accessWrite, "list": accessList, "delete": accessDelete}

func parseAccess(names []string) (access, error) {
	var a access
	for _, n := range names {
		bit, ok := accessNames[strings.ToLower(n)]
		if !ok {
			return 0, fmt.Errorf("%q is not one of read, write, list, delete", n)
		}
		a |= bit
	}
	return a, nil
}

// accountID and roleName split a validated role ARN.
func splitRoleARN(arn string) (account, name string) {
	m := roleARN.FindStringSubmatch(arn)
	if m == nil {
		return "000000000000", arn
	}
	return m[1], m[2]
}
