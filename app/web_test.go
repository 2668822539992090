package app

import (
	"flag"
	"io"
	"net"
	"net/http"
	"slices"
	"testing"

	"github.com/sluicehq/sluice/oidc"
)

func TestWebOn(t *testing.T) {
	cfg := Default()
	if !cfg.WebOn() {
		t.Error("the embedded default (development issuer on) must serve the page")
	}
	cfg.Identity.Issuers = []oidc.IssuerConfig{{Issuer: "https://issuer.example", Audiences: []string{"app"}}}
	if cfg.WebOn() {
		t.Error("with a real issuer and no web.enabled, the page must be off")
	}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	Flags(fs, &cfg)
	if err := Load(fs, &cfg, nil, func(k string) string { return map[string]string{"SLUICE_WEB": "true"}[k] }); err != nil {
		t.Fatal(err)
	}
	if !cfg.WebOn() {
		t.Error("SLUICE_WEB=true did not turn the page on")
	}
	if err := fs.Parse([]string{"--web=false"}); err != nil || cfg.WebOn() {
		t.Errorf("--web=false: %v, on %v", err, cfg.WebOn())
	}
}

func TestStoreCORSOrigins(t *testing.T) {
	off := false
	for _, c := range []struct {
		name string
		api  string
		cors []string
		web  *bool
		want []string
	}{
		{"page on loopback", "http://127.0.0.1:8080", []string{"https://app.example"},
			nil, []string{"https://app.example", "http://127.0.0.1:8080", "http://localhost:8080"}},
		{"page off", "http://127.0.0.1:8080", []string{"https://app.example"}, &off, []string{"https://app.example"}},
		{"any origin already", "http://127.0.0.1:8080", []string{"*"}, nil, []string{"*"}},
		{"no duplicates", "http://127.0.0.1:8080", []string{"http://127.0.0.1:8080"},
			nil, []string{"http://127.0.0.1:8080", "http://localhost:8080"}},
		{"not loopback", "http://192.0.2.7:8080", nil, nil, []string{"http://192.0.2.7:8080"}},
	} {
		a := &App{Config: Default(), APIURL: c.api}
		a.Config.CORSOrigins, a.Config.Web.Enabled = c.cors, c.web
		if got := a.storeCORSOrigins(); !slices.Equal(got, c.want) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

type fakeListener struct{ addr net.Addr }

func (l fakeListener) Accept() (net.Conn, error) { return nil, net.ErrClosed }
func (l fakeListener) Close() error              { return nil }
func (l fakeListener) Addr() net.Addr            { return l.addr }

// POST /dev/token mints tokens for anyone: only with the development issuer
// on and the API on loopback.
func TestDevTokenRouteOnlyOnLoopback(t *testing.T) {
	dev, err := oidc.OpenDevIssuer(t.TempDir(), "http://127.0.0.1:8080/dev")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		ip   string
		dev  bool
		want bool
	}{
		{"127.0.0.1", true, true},
		{"::1", true, true},
		{"0.0.0.0", true, false},
		{"192.0.2.7", true, false},
		{"127.0.0.1", false, false},
	} {
		a := &App{Config: Default(), APIURL: "http://127.0.0.1:8080", S3URL: "http://127.0.0.1:8081"}
		if c.dev {
			a.Dev = dev
		}
		mount := map[string]http.Handler{}
		a.mountWeb(fakeListener{&net.TCPAddr{IP: net.ParseIP(c.ip), Port: 8080}}, mount)
		if _, got := mount["POST /dev/token"]; got != c.want {
			t.Errorf("listening on %s, dev issuer %v: POST /dev/token mounted %v, want %v", c.ip, c.dev, got, c.want)
		}
		if _, page := mount["GET /{$}"]; !page {
			t.Errorf("listening on %s: the page is not mounted", c.ip)
		}
	}
}
