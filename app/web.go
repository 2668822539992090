package app

import (
	"flag"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/httpapi"
	"github.com/sluicehq/sluice/web"
)

// Web configures the upload page served at / (docs/clients/web.md).
type Web struct {
	// Enabled serves the page. Default: on with the development issuer
	// (the embedded default), off otherwise; a production page takes ID
	// tokens from the host app instead of the development issuer.
	Enabled *bool `yaml:"enabled"`
}

// WebOn reports whether the upload page is served.
func (c *Config) WebOn() bool {
	if c.Web.Enabled != nil {
		return *c.Web.Enabled
	}
	return c.DevIssuerOn()
}

// webFlags binds --web.
func webFlags(fs *flag.FlagSet, cfg *Config) {
	fs.BoolFunc("web", "serve the upload page at / (default: on with the development issuer)", func(v string) error {
		on, err := strconv.ParseBool(v)
		if err != nil {
			return err
		}
		cfg.Web.Enabled = &on
		return nil
	})
}

// devTokenTTL is the lifetime of tokens from POST /dev/token, as
// `sluice token --dev` mints by default.
const devTokenTTL = time.Hour

// mountWeb adds the page and, when anyone who can reach the API is on this
// machine, POST /dev/token. Minting development tokens over HTTP is only
// safe on loopback: whoever can call it can act as anyone.
func (a *App) mountWeb(ln net.Listener, mount map[string]http.Handler) {
	devTokens := a.Dev != nil && isLoopback(ln.Addr())
	if devTokens {
		dev := a.Dev
		mount["POST /dev/token"] = httpapi.DevToken(func(sub, email string) (string, time.Time, error) {
			now := time.Now()
			tok, err := dev.Mint(sub, email, devTokenTTL, now)
			return tok, now.Add(devTokenTTL), err
		})
	}
	if !a.Config.WebOn() {
		return
	}
	store := a.S3URL
	if a.Config.PublicS3URL != "" {
		store = a.Config.PublicS3URL
	}
	storeOrigins := []string{origin(store)}
	if a.store == nil {
		// An external store may answer presigned URLs on another host
		// than its endpoint (virtual-hosted buckets).
		storeOrigins = append(storeOrigins, "https:")
	}
	for p, h := range web.Routes(web.Options{
		DevTokens: devTokens, HostOrigins: a.Config.CORSOrigins, StoreOrigins: storeOrigins,
		MaxSize: a.Config.Policy.MaxSize, AllowedTypes: a.Config.Policy.AllowedTypes,
	}) {
		mount[p] = h
	}
}

// storeCORSOrigins are the origins the embedded store lets browsers call it
// from: cors_origins, and, when sluice serves the page itself, the page's
// own origin (the API's), so that the page works with no configuration.
func (a *App) storeCORSOrigins() []string {
	origins := slices.Clone(a.Config.CORSOrigins)
	if !a.Config.WebOn() || slices.Contains(origins, "*") {
		return origins
	}
	own := []string{a.APIURL}
	if u, err := url.Parse(a.APIURL); err == nil {
		if ip := net.ParseIP(u.Hostname()); ip != nil && ip.IsLoopback() {
			// The same page opened as localhost is another origin.
			own = append(own, "http://"+net.JoinHostPort("localhost", u.Port()))
		}
	}
	for _, o := range own {
		if !slices.Contains(origins, o) {
			origins = append(origins, o)
		}
	}
	return origins
}

// origin is scheme://host[:port] of a URL.
func origin(raw string) string {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Host == "" {
		return raw
	}
	return u.Scheme + "://" + u.Host
}
