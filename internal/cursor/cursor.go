// Package cursor is the file-listing cursor every ledger hands out: the last
// listed file's sort key, so a client paging through a deployment that moves
// from one ledger to another is not thrown off.
package cursor

import (
	"encoding/base64"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
)

// Encode makes the cursor that resumes after the file created at createdAt
// with id. It is opaque to clients but readable by an operator who decodes
// it: "<created_at µs>:<id>".
func Encode(createdAt time.Time, id string) string {
	key := strconv.FormatInt(createdAt.UnixMicro(), 10) + ":" + id
	return base64.RawURLEncoding.EncodeToString([]byte(key))
}

// Decode reads a cursor made by Encode; anything else is
// CodeInvalidRequest.
func Decode(c string) (createdAt time.Time, id string, err error) {
	bad := sluice.Errorf(sluice.CodeInvalidRequest, "invalid cursor")
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return time.Time{}, "", bad
	}
	at, id, ok := strings.Cut(string(b), ":")
	if !ok || id == "" {
		return time.Time{}, "", bad
	}
	us, err := strconv.ParseInt(at, 10, 64)
	if err != nil {
		return time.Time{}, "", bad
	}
	return time.UnixMicro(us).UTC(), id, nil
}
