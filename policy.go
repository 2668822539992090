package sluice

import (
	"encoding/hex"
	"mime"
	"path"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gabriel-vasile/mimetype"
)

// Policy is what one deployment allows an end user to upload.
type Policy struct {
	// AllowedTypes are the content types a user may upload. Each must be
	// known to Extension so the key's extension comes from the type.
	AllowedTypes []string `yaml:"allowed_types" json:"allowed_types"`
	// MaxSize is the largest object in bytes.
	MaxSize int64 `yaml:"max_size" json:"max_size"`
	// URLTTL is how long a presigned upload URL lives (1 s to 1 h).
	URLTTL time.Duration `yaml:"url_ttl" json:"url_ttl"`
	// DownloadTTL is how long a presigned download URL lives (1 s to 1 h).
	DownloadTTL time.Duration `yaml:"download_ttl" json:"download_ttl"`
	// RequireEmailVerified refuses users whose token does not say
	// email_verified: true.
	RequireEmailVerified bool `yaml:"require_email_verified" json:"require_email_verified"`
	// MaxConcurrentUploads bounds the uploads one user streams through
	// sluice at once (POST /v1/files and tus PATCHes); 0 means
	// DefaultConcurrentUploads. Each one holds a connection and a part
	// buffer, so a handful per user is plenty.
	MaxConcurrentUploads int `yaml:"max_concurrent_uploads" json:"max_concurrent_uploads"`
	// Quota bounds what one user may upload and keep (0: unlimited); a
	// user's overrides in the ledger replace it (sluice admin).
	Quota Limits `yaml:"quota" json:"quota"`
	// RateLimit bounds requests for grants, uploads and STS credentials
	// per user and per client IP, across instances.
	RateLimit RateLimits `yaml:"rate_limit" json:"rate_limit"`
	// VerifyAfterUpload is what complete checks of an object a client
	// wrote (presigned and resumable uploads): VerifyFull (the default,
	// also when empty) or VerifyHead. See docs/COST.md.
	VerifyAfterUpload string `yaml:"verify_after_upload" json:"verify_after_upload,omitempty"`
}

// What complete verifies (Policy.VerifyAfterUpload).
const (
	// VerifyFull: one HEAD (exists, size, content type, the store's
	// SHA-256), one ranged GET of the first bytes (magic number), and,
	// when a SHA-256 was declared but the store kept none, a read of the
	// whole object to hash it.
	VerifyFull = "full"
	// VerifyHead: the HEAD only. For stores that enforce the signed
	// length, type and SHA-256 themselves (AWS S3 with sluice's presigned
	// PUT or POST): the magic number goes unchecked, and a declared
	// SHA-256 is compared only when the store reports one.
	VerifyHead = "head"
)

// DefaultConcurrentUploads is MaxConcurrentUploads when the policy sets none.
const DefaultConcurrentUploads = 4

// ConcurrentUploads is the per-user limit on uploads through sluice.
func (p Policy) ConcurrentUploads() int {
	if p.MaxConcurrentUploads > 0 {
		return p.MaxConcurrentUploads
	}
	return DefaultConcurrentUploads
}

// Bounds on TTLs: a presigned URL shorter than a second cannot be used, and
// one longer than an hour is the leak window the seed warns about.
const (
	MinTTL = time.Second
	MaxTTL = time.Hour
)

// DefaultPolicy is the policy of a deployment that sets none.
func DefaultPolicy() Policy {
	return Policy{
		AllowedTypes: []string{"image/jpeg", "image/png", "image/webp", "image/gif", "image/heic", "image/heif", "image/avif"},
		MaxSize:      10 << 20,
		URLTTL:       5 * time.Minute,
		DownloadTTL:  5 * time.Minute,

		MaxConcurrentUploads: DefaultConcurrentUploads,
		RateLimit:            RateLimits{PerUserPerMinute: DefaultUserPerMinute, PerIPPerMinute: DefaultIPPerMinute},
	}
}

// extensions maps each content type sluice can verify to the extension of
// its keys. A type absent here cannot be allowed: sluice would not know how
// to name it or check its magic number.
var extensions = map[string]string{
	"image/jpeg": ".jpg",
	"image/png":  ".png",
	"image/webp": ".webp",
	"image/gif":  ".gif",
	"image/heic": ".heic",
	"image/heif": ".heif",
	"image/avif": ".avif",
}

// aliases are spellings clients send for a type sluice knows by another name.
var aliases = map[string]string{
	"image/jpg":   "image/jpeg",
	"image/pjpeg": "image/jpeg",
	"image/x-png": "image/png",
}

// Extension returns the key extension for a known content type.
func Extension(contentType string) (string, bool) {
	ext, ok := extensions[contentType]
	return ext, ok
}

// Validate names the first bad field of the policy.
func (p Policy) Validate() error {
	if len(p.AllowedTypes) == 0 {
		return Errorf(CodeInvalidRequest, "policy.allowed_types: at least one type is needed")
	}
	for _, t := range p.AllowedTypes {
		if _, ok := extensions[t]; !ok {
			return Errorf(CodeInvalidRequest, "policy.allowed_types: %q is not a type sluice can verify", t)
		}
	}
	if p.MaxSize < 1 {
		return Errorf(CodeInvalidRequest, "policy.max_size: must be at least 1 byte")
	}
	if p.URLTTL < MinTTL || p.URLTTL > MaxTTL {
		return Errorf(CodeInvalidTTL, "policy.url_ttl: %s is outside %s–%s", p.URLTTL, MinTTL, MaxTTL)
	}
	if p.DownloadTTL < MinTTL || p.DownloadTTL > MaxTTL {
		return Errorf(CodeInvalidTTL, "policy.download_ttl: %s is outside %s–%s", p.DownloadTTL, MinTTL, MaxTTL)
	}
	if p.MaxConcurrentUploads < 0 {
		return Errorf(CodeInvalidRequest, "policy.max_concurrent_uploads: must be 0 (the default, %d) or more", DefaultConcurrentUploads)
	}
	q := p.Quota
	if q.BytesPerDay < 0 || q.FilesPerDay < 0 || q.StoredBytes < 0 || q.PendingGrants < 0 {
		return Errorf(CodeInvalidRequest, "policy.quota: limits must be 0 (unlimited) or more")
	}
	if p.RateLimit.PerUserPerMinute < 0 || p.RateLimit.PerIPPerMinute < 0 {
		return Errorf(CodeInvalidRequest, "policy.rate_limit: limits must be 0 (unlimited) or more")
	}
	if v := p.VerifyAfterUpload; v != "" && v != VerifyFull && v != VerifyHead {
		return Errorf(CodeInvalidRequest, "policy.verify_after_upload: %q is not %s or %s", v, VerifyFull, VerifyHead)
	}
	return nil
}

// ContentType normalises a declared content type and checks it is allowed.
func (p Policy) ContentType(declared string) (string, error) {
	mt, _, err := mime.ParseMediaType(declared)
	if err != nil || declared == "" {
		return "", Errorf(CodeTypeNotAllowed, "content_type %q is not a valid media type", declared)
	}
	if a, ok := aliases[mt]; ok {
		mt = a
	}
	for _, t := range p.AllowedTypes {
		if t == mt {
			return mt, nil
		}
	}
	return "", Errorf(CodeTypeNotAllowed, "content_type %q is not allowed; allowed: %s", mt, strings.Join(p.AllowedTypes, ", "))
}

// CheckSize refuses sizes the policy does not allow.
func (p Policy) CheckSize(size int64) error {
	if size < 1 {
		return Errorf(CodeInvalidSize, "size must be at least 1 byte")
	}
	if size > p.MaxSize {
		return Errorf(CodeTooLarge, "size %d exceeds the maximum of %d bytes", size, p.MaxSize)
	}
	return nil
}

// NormalizeSHA256 checks a hex SHA-256 and returns it lowercased; empty stays
// empty.
func NormalizeSHA256(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 32 {
		return "", Errorf(CodeInvalidChecksum, "sha256 must be 64 hex characters")
	}
	return hex.EncodeToString(b), nil
}

// CleanFilename keeps a client's filename as a label only: it never becomes
// part of a key. It drops any directory part and refuses control characters.
func CleanFilename(name string) (string, error) {
	if name == "" {
		return "", nil
	}
	if len(name) > 255 || !utf8.ValidString(name) {
		return "", Errorf(CodeInvalidFilename, "filename must be valid UTF-8 of at most 255 bytes")
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return "", Errorf(CodeInvalidFilename, "filename must not contain control characters")
		}
	}
	base := path.Base(strings.ReplaceAll(name, `\`, "/"))
	if base == "." || base == "/" || base == ".." {
		return "", nil
	}
	return base, nil
}

// UserPrefix is the key prefix every object of subject lives under. It
// refuses subjects that could break out of their folder or that S3 policy
// variables could not match literally.
func UserPrefix(subject string) (string, error) {
	if !SafeSubject(subject) {
		return "", Errorf(CodeSubjectUnsupported, "this account's subject cannot be used as a storage path")
	}
	return "users/" + subject + "/", nil
}

// SafeSubject reports whether subject may be used as one path segment:
// 1–128 characters of letters, digits and _ . @ | : + = , -, and not "." or
// "..". Firebase uids, Auth0 ("auth0|…"), Google and Cognito subjects pass.
func SafeSubject(subject string) bool {
	if subject == "" || len(subject) > 128 || subject == "." || subject == ".." {
		return false
	}
	for i := 0; i < len(subject); i++ {
		c := subject[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("_.@|:+=,-", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// SniffLen is how many leading bytes Sniff needs.
const SniffLen = 3072

// Sniff reports whether the leading bytes of an object match the declared
// content type. It compares magic numbers, never trusting the declaration.
func Sniff(head []byte, declared string) error {
	got := mimetype.Detect(head)
	if got.Is(declared) {
		return nil
	}
	return Errorf(CodeContentMismatch, "content is %s, not the declared %s", got.String(), declared)
}
