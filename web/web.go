// Package web serves sluice's upload page: a small page built on the
// JavaScript client in clients/js, embedded in the binary so that a fresh
// clone runs it without npm.
//
// dist/ is the bundler's output, committed. Edit clients/js and rebuild
// with `cd clients/js && npm run build`; TestBundleFresh fails while dist/
// is stale.
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/json"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"slices"
	"strings"
	"time"
)

//go:embed dist
var dist embed.FS

// Dist is the built page: index.html, app.js, its chunks and app.css.
func Dist() fs.FS {
	sub, err := fs.Sub(dist, "dist")
	if err != nil {
		panic(err)
	}
	return sub
}

// Options tell the page about the server it is served by.
type Options struct {
	// DevTokens says POST /dev/token is served: the page then offers to
	// sign in as any name.
	DevTokens bool
	// HostOrigins are the origins of apps that may frame the page and hand
	// it an ID token with postMessage: the API's cors_origins.
	HostOrigins []string
	// StoreOrigins are where the page may send bytes and load previews
	// from (its Content-Security-Policy): the store's public origin.
	StoreOrigins []string
	// MaxSize and AllowedTypes are the upload policy, shown to the user.
	MaxSize      int64
	AllowedTypes []string
}

// Config is what the page reads from /web/config.json.
type Config struct {
	DevTokens    bool     `json:"dev_tokens"`
	HostOrigins  []string `json:"host_origins"`
	MaxSize      int64    `json:"max_size"`
	AllowedTypes []string `json:"allowed_types"`
}

// Routes are the page's routes, to mount on the API server: GET / for the
// page and GET /web/ for its assets and configuration.
func Routes(opt Options) map[string]http.Handler {
	cfg, _ := json.Marshal(Config{
		DevTokens: opt.DevTokens, HostOrigins: nonNil(opt.HostOrigins),
		MaxSize: opt.MaxSize, AllowedTypes: nonNil(opt.AllowedTypes),
	})
	files := map[string]asset{"/web/config.json": newAsset("config.json", cfg)}
	fs.WalkDir(Dist(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(Dist(), p)
		if err != nil {
			return err
		}
		if p == "index.html" {
			files["/"] = newAsset(p, b)
		} else {
			files["/web/"+p] = newAsset(p, b)
		}
		return nil
	})
	h := &handler{files: files, csp: csp(opt)}
	return map[string]http.Handler{"GET /{$}": h, "GET /web/": h}
}

type asset struct {
	body  []byte
	ctype string
	etag  string
}

func newAsset(name string, b []byte) asset {
	sum := sha256.Sum256(b)
	ct := mime.TypeByExtension(path.Ext(name))
	if ct == "" {
		ct = "application/octet-stream"
	}
	return asset{body: b, ctype: ct, etag: `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`}
}

type handler struct {
	files map[string]asset
	csp   string
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a, ok := h.files[r.URL.Path]
	if !ok {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte(`{"error":{"code":"route_not_found","message":"no such page asset"}}` + "\n"))
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", a.ctype)
	hd.Set("Cache-Control", "no-cache")
	hd.Set("ETag", a.etag)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Content-Security-Policy", h.csp)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}

// csp lets the page run only its own scripts, talk only to the API and the
// store, and be framed only by the host apps that may hand it tokens.
func csp(opt Options) string {
	stores := strings.Join(opt.StoreOrigins, " ")
	ancestors := "'self'"
	for _, o := range opt.HostOrigins {
		if o == "*" {
			ancestors = "*"
			break
		}
		ancestors += " " + o
	}
	return strings.Join([]string{
		"default-src 'none'",
		"script-src 'self'",
		"style-src 'self'",
		"img-src 'self' blob: data: " + stores,
		"connect-src 'self' " + stores,
		"base-uri 'none'",
		"form-action 'none'",
		"frame-ancestors " + ancestors,
	}, "; ")
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return slices.Clone(s)
}
