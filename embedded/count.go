package embedded

import (
	"net/http"

	"github.com/gofiber/fiber/v3"
	"github.com/versity/versitygw/s3api"
)

// Store operations as counted by Config.OnRequest: the S3 API calls that a
// hosted store (AWS S3, R2) would bill, by the name of the API call.
const (
	OpPutObject       = "PutObject"
	OpPostObject      = "PostObject" // a browser form upload
	OpCopyObject      = "CopyObject"
	OpHeadObject      = "HeadObject"
	OpGetObject       = "GetObject"      // the whole object
	OpGetObjectRange  = "GetObjectRange" // a ranged GET (sniffing)
	OpDeleteObject    = "DeleteObject"
	OpCreateMultipart = "CreateMultipartUpload"
	OpUploadPart      = "UploadPart"
	OpCompleteMulti   = "CompleteMultipartUpload"
	OpAbortMultipart  = "AbortMultipartUpload"
	OpListParts       = "ListParts"
	OpList            = "List"  // buckets, objects or multipart uploads
	OpOther           = "Other" // bucket configuration, CORS preflight, ...
)

// classify names the S3 operation of a request to the gateway from its
// method, path and query, the way S3 routes it. Only object and listing
// calls are told apart; the rest are OpOther.
// query reports whether the request has a query parameter; noArgs that it
// has none.
func classify(method, path string, query func(string) bool, noArgs, ranged bool) string {
	hasKey := hasKey(path)
	switch method {
	case http.MethodPut:
		switch {
		case !hasKey:
			return OpOther
		case query("partNumber") && query("uploadId"):
			return OpUploadPart
		case query("acl") || query("tagging") || query("retention") || query("legal-hold"):
			return OpOther
		}
		return OpPutObject
	case http.MethodPost:
		switch {
		case hasKey && query("uploads"):
			return OpCreateMultipart
		case hasKey && query("uploadId"):
			return OpCompleteMulti
		case !hasKey && !query("delete"):
			return OpPostObject
		}
		return OpOther
	case http.MethodHead:
		if hasKey {
			return OpHeadObject
		}
		return OpOther
	case http.MethodGet:
		switch {
		case !hasKey && (noArgs || query("uploads") || query("list-type") || query("prefix") || query("delimiter")):
			return OpList
		case !hasKey:
			return OpOther
		case query("uploadId"):
			return OpListParts
		case query("acl") || query("tagging") || query("attributes"):
			return OpOther
		case ranged:
			return OpGetObjectRange
		}
		return OpGetObject
	case http.MethodDelete:
		switch {
		case hasKey && query("uploadId"):
			return OpAbortMultipart
		case hasKey:
			return OpDeleteObject
		}
	}
	return OpOther
}

// counterOption mounts a middleware that reports every request to the
// gateway's S3 listener to count, before anything can refuse it: a refused
// request is still one the store serves (and a hosted store bills).
func counterOption(count func(op string)) s3api.Option {
	return s3api.WithMiddleware("/", func(c fiber.Ctx) error {
		args := c.Request().URI().QueryArgs()
		op := classify(c.Method(), c.Path(), func(k string) bool { return args.Has(k) }, args.Len() == 0, c.Get("Range") != "")
		if c.Method() == http.MethodPut && op == OpPutObject && c.Get("X-Amz-Copy-Source") != "" {
			op = OpCopyObject
		}
		count(op)
		return c.Next()
	})
}
