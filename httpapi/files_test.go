package httpapi

import (
	"net/http"
	"testing"

	"github.com/sluicehq/sluice"
)

func TestDeclaredSHA256(t *testing.T) {
	const hexSum = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08" // sha256("test")
	const b64Sum = "n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg="
	cases := []struct {
		name    string
		headers map[string][]string
		want    string
		code    sluice.Code
	}{
		{"none", nil, "", ""},
		{"X-Checksum-Sha256", map[string][]string{"X-Checksum-Sha256": {hexSum}}, hexSum, ""},
		{"X-Checksum-Sha256 upper case", map[string][]string{"X-Checksum-Sha256": {"9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08"}}, hexSum, ""},
		{"Content-Digest", map[string][]string{"Content-Digest": {"sha-256=:" + b64Sum + ":"}}, hexSum, ""},
		{"Content-Digest among others", map[string][]string{"Content-Digest": {"sha-512=:AAAA:, sha-256=:" + b64Sum + ":"}}, hexSum, ""},
		{"Content-Digest over two fields", map[string][]string{"Content-Digest": {"sha-512=:AAAA:", "sha-256=:" + b64Sum + ":"}}, hexSum, ""},
		{"both, agreeing", map[string][]string{"Content-Digest": {"sha-256=:" + b64Sum + ":"}, "X-Checksum-Sha256": {hexSum}}, hexSum, ""},
		{"both, disagreeing", map[string][]string{"Content-Digest": {"sha-256=:" + b64Sum + ":"}, "X-Checksum-Sha256": {"00" + hexSum[2:]}}, "", sluice.CodeInvalidChecksum},
		{"no sha-256", map[string][]string{"Content-Digest": {"sha-512=:AAAA:"}}, "", sluice.CodeInvalidChecksum},
		{"not a byte sequence", map[string][]string{"Content-Digest": {"sha-256=" + b64Sum}}, "", sluice.CodeInvalidChecksum},
		{"wrong length", map[string][]string{"Content-Digest": {"sha-256=:AAAA:"}}, "", sluice.CodeInvalidChecksum},
		{"hex not 64 long", map[string][]string{"X-Checksum-Sha256": {"abc"}}, "", sluice.CodeInvalidChecksum},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := http.Header{}
			for k, vs := range c.headers {
				for _, v := range vs {
					h.Add(k, v)
				}
			}
			got, err := declaredSHA256(h)
			if got != c.want || sluice.ErrorCode(err) != c.code {
				t.Errorf("got %q %v, want %q %q", got, err, c.want, c.code)
			}
		})
	}
}
