package embedded

import (
	"net/url"
	"testing"
)

// The operations a hosted store would bill, told apart as S3 routes them.
func TestClassify(t *testing.T) {
	for _, c := range []struct {
		method, target string
		ranged         bool
		want           string
	}{
		{"PUT", "/b/users/a/1.png", false, OpPutObject},
		{"PUT", "/b/users/a/1.png?partNumber=2&uploadId=x", false, OpUploadPart},
		{"PUT", "/b/users/a/1.png?tagging", false, OpOther},
		{"PUT", "/b", false, OpOther},
		{"POST", "/b", false, OpPostObject},
		{"POST", "/b?delete", false, OpOther},
		{"POST", "/b/k?uploads", false, OpCreateMultipart},
		{"POST", "/b/k?uploadId=x", false, OpCompleteMulti},
		{"HEAD", "/b/k", false, OpHeadObject},
		{"HEAD", "/b", false, OpOther},
		{"GET", "/b/k", false, OpGetObject},
		{"GET", "/b/k", true, OpGetObjectRange},
		{"GET", "/b/k?uploadId=x", false, OpListParts},
		{"GET", "/b?list-type=2&prefix=users/", false, OpList},
		{"GET", "/b", false, OpList},
		{"GET", "/b?cors", false, OpOther},
		{"DELETE", "/b/k", false, OpDeleteObject},
		{"DELETE", "/b/k?uploadId=x", false, OpAbortMultipart},
		{"OPTIONS", "/b/k", false, OpOther},
	} {
		u, _ := url.Parse(c.target)
		q := u.Query()
		got := classify(c.method, u.Path, func(k string) bool { return q.Has(k) }, len(q) == 0, c.ranged)
		if got != c.want {
			t.Errorf("%s %s (ranged %v) = %s, want %s", c.method, c.target, c.ranged, got, c.want)
		}
	}
}
