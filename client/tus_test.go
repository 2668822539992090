package client

import (
	"context"
	"testing"

	"github.com/sluicehq/sluice"
)

func TestUploadURLStaysOnTheServer(t *testing.T) {
	c := New("https://uploads.example.com/api", token)
	cases := map[string]string{
		"https://uploads.example.com/api/v1/tus/g1+m1": "https://uploads.example.com/api/v1/tus/g1+m1",
		// A server behind a proxy may not know its public name: the path
		// is kept, the host is the configured one.
		"http://10.0.0.7:8080/api/v1/tus/g1+m1": "https://uploads.example.com/api/v1/tus/g1+m1",
		"/api/v1/tus/g1+m1":                     "https://uploads.example.com/api/v1/tus/g1+m1",
	}
	for loc, want := range cases {
		if got, err := c.uploadURL(loc); err != nil || got != want {
			t.Errorf("uploadURL(%q) = %q %v, want %q", loc, got, err, want)
		}
	}
	if _, err := c.uploadURL("https://uploads.example.com/other"); err == nil {
		t.Error("a Location outside /v1/tus/ was accepted")
	}
	// A URL given by the caller (resume) is refused elsewhere: the token
	// would go with it.
	if _, err := c.tusRequest(context.Background(), "HEAD", "https://evil.example/v1/tus/g1+m1"); !sluice.IsCode(err, sluice.CodeInvalidRequest) {
		t.Errorf("request to another host: %v, want refused", err)
	}
	if got := grantOf("https://uploads.example.com/api/v1/tus/01abc+9f2e-77"); got != "01abc" {
		t.Errorf("grantOf = %q", got)
	}
}

func TestTusMetadata(t *testing.T) {
	got := tusMetadata(map[string]string{"filetype": "image/png", "filename": "a b.png", "sha256": ""})
	if want := "filename YSBiLnBuZw==,filetype aW1hZ2UvcG5n"; got != want {
		t.Errorf("got %q, want %q (sorted, empty values left out)", got, want)
	}
}
