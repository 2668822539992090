package embedded_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/sluicehq/sluice/embedded"
	"github.com/sluicehq/sluice/internal/testutil"
)

// The bucket's CORS rules are the configuration's, at every start: origins
// removed from it lose access.
func TestCORSFollowsConfig(t *testing.T) {
	dir := t.TempDir()
	origin := "http://localhost:3000"
	for _, c := range []struct {
		origins []string
		allowed bool
	}{{[]string{origin}, true}, {nil, false}, {[]string{origin}, true}} {
		s, err := embedded.Start(context.Background(), embedded.Config{Dir: dir, Addr: testutil.FreeAddr(t), Bucket: "sluice", CORSOrigins: c.origins})
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest("OPTIONS", s.Endpoint+"/sluice/users/a/b.png", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "PUT")
		req.Header.Set("Access-Control-Request-Headers", "content-type,if-none-match")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("Access-Control-Allow-Origin") == origin; got != c.allowed {
			t.Errorf("cors_origins %v: %s allowed %v, want %v", c.origins, origin, got, c.allowed)
		}
		http.DefaultClient.CloseIdleConnections()
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
