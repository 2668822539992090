package embedded

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v3"
	"github.com/versity/versitygw/s3api"
	"github.com/versity/versitygw/s3api/controllers"
	"github.com/versity/versitygw/s3err"

	"github.com/sluicehq/sluice"
)

// SessionLimits are the upload policy the store enforces, where it can, on
// requests signed with STS session credentials. versitygw's policy hook
// sees no Content-Length or Content-Type, so this is a middleware on the S3
// listener that looks at the request before versitygw authenticates it. It
// only ever refuses, so a request that lies about being a session gains
// nothing.
//
// What it enforces, for session requests:
//   - PutObject: Content-Length (or X-Amz-Decoded-Content-Length for
//     aws-chunked bodies) at most MaxSize, and required; Content-Type one
//     of AllowedTypes. A copy that replaces metadata must also name an
//     allowed type; a plain copy keeps its source's, already in the
//     prefix.
//   - Multipart uploads are refused: parts could add up past MaxSize.
//     Objects up to MaxSize go in one PUT (S3 takes up to 5 GiB).
//
// And for every request: a browser form (POST) upload may be at most
// MaxSize plus the form's overhead. The form's fields, and so whether it is
// a session's, are in the body; sluice's own POST grants are never larger.
//
// What it cannot enforce: the content type of a form upload (a field of
// the body), and that the bytes are of the declared type. Those are the
// reconciler's to check.
type SessionLimits struct {
	MaxSize      int64
	AllowedTypes []string
}

// formOverhead is what a form upload may carry beyond the file: the policy
// document, signature and other fields.
const formOverhead = 64 << 10

// guardOption mounts the guard on the S3 listener, with versitygw's own
// error rendering.
func guardOption(lim SessionLimits) s3api.Option {
	return s3api.WithMiddleware("/", controllers.WrapMiddleware(sessionGuard(lim), nil, nil))
}

// sessionGuard returns nil to let a request through: versitygw's
// WrapMiddleware, which renders its errors, calls Next itself.
func sessionGuard(lim SessionLimits) fiber.Handler {
	pol := sluice.Policy{AllowedTypes: lim.AllowedTypes, MaxSize: lim.MaxSize}
	return func(c fiber.Ctx) error {
		method := c.Method()
		if method == http.MethodPost && strings.HasPrefix(strings.ToLower(c.Get("Content-Type")), "multipart/form-data") &&
			int64(c.Request().Header.ContentLength()) > lim.MaxSize+formOverhead {
			return tooLarge(lim.MaxSize)
		}
		if !isSession(c) {
			return nil
		}
		args := c.Request().URI().QueryArgs()
		switch {
		case method == http.MethodPost && args.Has("uploads"),
			method == http.MethodPut && (args.Has("partNumber") || args.Has("uploadId")):
			return s3err.APIError{Code: "AccessDenied", HTTPStatusCode: http.StatusForbidden, Description: fmt.Sprintf(
				"Multipart uploads are not available to session credentials: send objects of at most %d bytes with one PUT.", lim.MaxSize)}
		case method != http.MethodPut || !hasKey(c.Path()) || hasSubresource(c):
			// Not a PutObject (subresources such as ?acl or ?tagging are
			// refused by the policy hook).
			return nil
		}
		if c.Get("X-Amz-Copy-Source") != "" {
			if strings.EqualFold(c.Get("X-Amz-Metadata-Directive"), "REPLACE") {
				if err := checkType(pol, c.Get("Content-Type")); err != nil {
					return err
				}
			}
			return nil
		}
		if err := checkLength(c, lim.MaxSize); err != nil {
			return err
		}
		if err := checkType(pol, c.Get("Content-Type")); err != nil {
			return err
		}
		return nil
	}
}

// isSession reports whether the request is signed, or claims to be, with
// temporary credentials: an ASIA access key (header or presigned query) or
// a session token.
func isSession(c fiber.Ctx) bool {
	if c.Get("X-Amz-Security-Token") != "" || c.Query("X-Amz-Security-Token") != "" {
		return true
	}
	if strings.HasPrefix(c.Query("X-Amz-Credential"), "ASIA") {
		return true
	}
	_, cred, ok := strings.Cut(c.Get("Authorization"), "Credential=")
	return ok && strings.HasPrefix(cred, "ASIA")
}

// objectSubresources are the PUT-on-an-object requests that are not
// PutObject. They carry no object body, and the policy hook refuses them to
// sessions anyway.
var objectSubresources = []string{"acl", "tagging", "retention", "legal-hold", "restore", "torrent", "select"}

// hasSubresource reports whether the query names one of
// objectSubresources. Any other query (a presigned signature, the SDKs'
// x-id=PutObject, or junk added to slip past this check) leaves the
// request a PutObject, checked as one.
func hasSubresource(c fiber.Ctx) bool {
	args := c.Request().URI().QueryArgs()
	for _, k := range objectSubresources {
		if args.Has(k) {
			return true
		}
	}
	return false
}

// hasKey reports whether a path-style path names an object (/bucket/key),
// not just a bucket.
func hasKey(path string) bool {
	_, key, ok := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	return ok && key != ""
}

func checkLength(c fiber.Ctx, max int64) error {
	n := int64(c.Request().Header.ContentLength())
	if d := c.Get("X-Amz-Decoded-Content-Length"); d != "" {
		v, err := strconv.ParseInt(d, 10, 64)
		if err != nil || v < 0 {
			return s3err.GetAPIError(s3err.ErrInvalidRequest)
		}
		n = v
	}
	if n < 0 { // chunked without a declared length: nothing to hold it to
		return s3err.GetAPIError(s3err.ErrMissingContentLength)
	}
	if n > max {
		return tooLarge(max)
	}
	return nil
}

func checkType(pol sluice.Policy, ct string) error {
	if _, err := pol.ContentType(ct); err != nil {
		return s3err.APIError{Code: "AccessDenied", HTTPStatusCode: http.StatusForbidden,
			Description: "Content-Type " + strconvQuote(ct) + " is not allowed for uploads with session credentials; allowed: " + strings.Join(pol.AllowedTypes, ", ")}
	}
	return nil
}

func tooLarge(max int64) error {
	return s3err.APIError{Code: "EntityTooLarge", HTTPStatusCode: http.StatusBadRequest,
		Description: fmt.Sprintf("Your proposed upload exceeds the maximum allowed size of %d bytes.", max)}
}

// strconvQuote quotes a client-sent header for a message, bounded.
func strconvQuote(s string) string {
	if len(s) > 100 {
		s = s[:100]
	}
	return strconv.Quote(s)
}
