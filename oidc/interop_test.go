package oidc

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice"
)

// nodeDir holds package.json (dependency: jose) and mint.mjs.
const nodeDir = "../testdata/node"

// TestInteropNodeJose verifies tokens minted by an independent
// implementation (the npm package jose) and refuses them once a byte of
// signature or payload is changed. Without node or jose it skips, unless
// SLUICE_REQUIRE_NODE=1 (CI), where that is a failure.
func TestInteropNodeJose(t *testing.T) {
	out := runNodeMint(t, "https://interop.example.com/", "interop-api", "node-user")
	var minted struct {
		Keys   []json.RawMessage `json:"keys"`
		Tokens map[string]string `json:"tokens"`
	}
	if err := json.Unmarshal(out, &minted); err != nil {
		t.Fatalf("node output: %v", err)
	}
	p := newIDP(t)
	p.set(func(p *idp) { p.rawJWKS = must(json.Marshal(map[string]any{"keys": minted.Keys})) })
	v := must(New(Config{Issuers: []IssuerConfig{{
		Issuer: "https://interop.example.com/", Audiences: []string{"interop-api"}, JWKSURL: p.jwksURL(),
	}}, CacheSize: -1}))

	for _, alg := range []string{"RS256", "ES256"} {
		t.Run(alg, func(t *testing.T) {
			tok := minted.Tokens[alg]
			if tok == "" {
				t.Fatalf("node minted no %s token", alg)
			}
			id := verifyOK(t, v, tok)
			if id.Subject != "node-user" || id.Email != "node@example.com" || !id.EmailVerified {
				t.Fatalf("identity %+v", id)
			}
			for name, bad := range map[string]string{"signature": flipSignature(tok), "payload": flipPayload(t, tok)} {
				_, err := v.Verify(context.Background(), bad)
				if err == nil {
					t.Fatalf("accepted with one byte of the %s changed", name)
				}
				wantCode(t, err, sluice.CodeTokenSignature)
			}
		})
	}
}

func runNodeMint(t *testing.T, iss, aud, sub string) []byte {
	t.Helper()
	missing := func(why string) {
		if os.Getenv("SLUICE_REQUIRE_NODE") == "1" {
			t.Fatalf("SLUICE_REQUIRE_NODE=1 but %s (run npm ci in testdata/node)", why)
		}
		t.Skipf("skipping: %s (run npm ci in testdata/node to enable)", why)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("node is not on PATH")
	}
	if _, err := os.Stat(filepath.Join(nodeDir, "node_modules", "jose", "package.json")); err != nil {
		missing("the npm package jose is not installed in " + nodeDir)
	}
	cmd := exec.Command(node, "mint.mjs", iss, aud, sub)
	cmd.Dir = nodeDir
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node mint.mjs: %v", err)
	}
	return out
}

// flipSignature changes one byte of the decoded signature.
func flipSignature(tok string) string {
	i := strings.LastIndex(tok, ".")
	sig, _ := base64.RawURLEncoding.DecodeString(tok[i+1:])
	sig[len(sig)/2] ^= 0x01
	return tok[:i+1] + base64.RawURLEncoding.EncodeToString(sig)
}

// flipPayload changes one byte of the decoded payload, inside the subject,
// so the payload stays valid JSON and only the signature can catch it.
func flipPayload(t *testing.T, tok string) string {
	parts := strings.Split(tok, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	i := strings.Index(string(payload), `"node-user"`)
	if i < 0 {
		t.Fatalf("no subject in payload %s", payload)
	}
	payload[i+1] = 'm' // "node-user" -> "mode-user"
	return parts[0] + "." + base64.RawURLEncoding.EncodeToString(payload) + "." + parts[2]
}
