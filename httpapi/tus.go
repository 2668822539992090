package httpapi

import (
	"net/http"

	"github.com/sluicehq/sluice"
)

// Resumable serves the tus protocol at /v1/tus/ for an authenticated user
// (id is nil only for OPTIONS, protocol discovery, which needs no token).
type Resumable interface {
	ServeResumable(w http.ResponseWriter, r *http.Request, id *sluice.Identity, meta sluice.RequestMeta)
}

// The headers of uploads through sluice (tus, POST /v1/files) that
// browsers must be allowed to send and to read (CORS).
const (
	uploadAllowHeaders  = "Tus-Resumable, Upload-Length, Upload-Offset, Upload-Metadata, Upload-Checksum, Upload-Defer-Length, Upload-Concat, X-HTTP-Method-Override"
	uploadExposeHeaders = "Tus-Resumable, Tus-Version, Tus-Extension, Tus-Max-Size, Tus-Checksum-Algorithm, Upload-Offset, Upload-Length, Upload-Metadata, Upload-Expires, Sluice-File-Id, Sluice-Upload-Id"
)

// resumable authenticates every tus request but discovery, then hands it
// to the tus handler with the caller's identity.
func (s *Server) resumable() http.Handler {
	authed := s.authed(func(w http.ResponseWriter, r *http.Request, id *sluice.Identity) {
		s.cfg.Resumable.ServeResumable(w, r, id, s.meta(r))
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodOptions {
			s.cfg.Resumable.ServeResumable(w, r, nil, s.meta(r))
			return
		}
		// tus clients look for it on every answer, refusals included.
		w.Header().Set("Tus-Resumable", "1.0.0")
		authed.ServeHTTP(w, r)
	})
}
