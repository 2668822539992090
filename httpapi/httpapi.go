// Package httpapi is sluice's HTTP API: routes, authentication, JSON and the
// mapping of sluice error codes to HTTP answers.
package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
)

// Server serves the API. Build it with New.
type Server struct {
	svc      *sluice.Service
	verifier sluice.Verifier
	log      *slog.Logger
	cfg      Options
	mux      *http.ServeMux
}

// Options tune the server.
type Options struct {
	// CORSOrigins may call the API from a browser; "*" allows any.
	CORSOrigins []string
	// TrustProxy takes the client IP from X-Forwarded-For (only behind a
	// load balancer that sets it).
	TrustProxy bool
	// Mount adds extra handlers, e.g. the development issuer at "/dev/".
	Mount map[string]http.Handler
	// Ready holds named checks beyond the store and the ledger, e.g.
	// "identity" for the issuers' keys.
	Ready map[string]func(context.Context) error
	// Observe, when set, is called once per request after it is answered,
	// with the route pattern that matched (r.Pattern, so IDs in paths do
	// not make a metric series each), the status, the error code (empty
	// on success) and the time taken.
	Observe func(route, method string, status int, code sluice.Code, d time.Duration)
	// Resumable, when set, serves resumable uploads (tus) at /v1/tus/.
	Resumable Resumable
	// AdminToken, when set, turns on the admin API at /admin/v1/ behind
	// this bearer token (see admin.go).
	AdminToken string
	// DefaultIssuer is the issuer the admin API assumes when a request
	// names none (set when exactly one is trusted).
	DefaultIssuer string
}

// New builds the API server over svc, authenticating with v.
func New(svc *sluice.Service, v sluice.Verifier, log *slog.Logger, opt Options) *Server {
	if log == nil {
		log = slog.Default()
	}
	s := &Server{svc: svc, verifier: v, log: log, cfg: opt, mux: http.NewServeMux()}
	s.routes()
	return s
}

func (s *Server) routes() {
	m := s.mux
	m.HandleFunc("GET /healthz", s.healthz)
	m.HandleFunc("GET /readyz", s.readyz)
	m.Handle("POST /v1/uploads", s.authed(s.createUpload))
	m.Handle("GET /v1/uploads/{id}", s.authed(s.getUpload))
	m.Handle("POST /v1/uploads/{id}/complete", s.authed(s.completeUpload))
	m.Handle("GET /v1/files", s.authed(s.listFiles))
	m.Handle("POST /v1/files", s.authed(s.uploadFile))
	m.Handle("GET /v1/files/{id}", s.authed(s.getFile))
	m.Handle("GET /v1/files/{id}/content", s.authed(s.fileContent))
	m.Handle("DELETE /v1/files/{id}", s.authed(s.deleteFile))
	if s.cfg.Resumable != nil {
		m.Handle("/v1/tus", s.resumable())
		m.Handle("/v1/tus/", s.resumable())
	}
	s.adminRoutes()
	for p, h := range s.cfg.Mount {
		m.Handle(p, h)
	}
	m.HandleFunc("/", s.noRoute)
}

// noRoute answers what the mux could not route, in JSON: 405 with Allow when
// the path exists for other methods, else 404.
func (s *Server) noRoute(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, method := range []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"} {
		probe := r.Clone(r.Context())
		probe.Method = method
		if _, pattern := s.mux.Handler(probe); pattern != "/" && pattern != "" {
			allow = append(allow, method)
		}
	}
	if len(allow) > 0 && r.Method != http.MethodOptions {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		writeError(w, sluice.Errorf(sluice.CodeMethodNotAllowed, "%s is not allowed on %s; use %s", r.Method, r.URL.Path, strings.Join(allow, ", ")))
		return
	}
	writeError(w, sluice.Errorf(sluice.CodeRouteNotFound, "no route for %s %s", r.Method, r.URL.Path))
}

// ServeHTTP wraps every request in request ids, CORS, panic recovery and an
// access log line.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rid := r.Header.Get("X-Request-Id")
	if rid == "" || len(rid) > 64 {
		rid = newRequestID()
	}
	w.Header().Set("X-Request-Id", rid)
	rec := &recorder{ResponseWriter: w, status: 200}
	info := &reqInfo{id: rid}
	r = r.WithContext(context.WithValue(r.Context(), infoKey{}, info))
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("panic", "request_id", rid, "panic", p)
			if !rec.wrote {
				writeError(rec, sluice.Errorf(sluice.CodeInternal, "internal error"))
			}
		}
		// The path is logged without its query: presigned URLs and tokens
		// never appear in logs.
		s.log.LogAttrs(r.Context(), slog.LevelInfo, "request",
			slog.String("request_id", rid), slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Int("status", rec.status), slog.String("sub", info.sub), slog.String("code", info.code),
			slog.Duration("duration", time.Since(start)))
		if s.cfg.Observe != nil {
			s.cfg.Observe(r.Pattern, r.Method, rec.status, sluice.Code(info.code), time.Since(start))
		}
	}()
	if s.cors(rec, r) {
		return
	}
	s.mux.ServeHTTP(rec, r)
}

type infoKey struct{}

// reqInfo carries what the access log needs back out of the handlers.
type reqInfo struct{ id, sub, code string }

func info(ctx context.Context) *reqInfo {
	if i, ok := ctx.Value(infoKey{}).(*reqInfo); ok {
		return i
	}
	return &reqInfo{}
}

type recorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (r *recorder) WriteHeader(code int) {
	if !r.wrote {
		r.status, r.wrote = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (read
// deadlines of long uploads).
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func newRequestID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// cors answers preflights and marks allowed origins; it returns true when
// the request was a preflight and is done.
func (s *Server) cors(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" || !s.originAllowed(origin) {
		return false
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	h.Add("Vary", "Origin")
	h.Set("Access-Control-Expose-Headers", "X-Request-Id, Location, Retry-After, "+uploadExposeHeaders)
	if r.Method != http.MethodOptions || r.Header.Get("Access-Control-Request-Method") == "" {
		return false
	}
	h.Set("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS, HEAD, PATCH")
	h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, X-Request-Id, Content-Digest, X-Checksum-Sha256, "+uploadAllowHeaders+", "+awsSDKHeaders)
	h.Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
	return true
}

func (s *Server) originAllowed(o string) bool {
	for _, a := range s.cfg.CORSOrigins {
		if a == "*" || a == o {
			return true
		}
	}
	return false
}

type identityKey struct{}

// authed verifies the bearer token before h runs. Every route but health
// goes through it.
func (s *Server) authed(h func(http.ResponseWriter, *http.Request, *sluice.Identity)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := bearer(r)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="sluice"`)
			s.fail(w, r, sluice.Errorf(sluice.CodeTokenMissing, "an Authorization: Bearer <ID token> header is required"))
			return
		}
		id, err := s.verifier.Verify(r.Context(), tok)
		if err != nil {
			if sluice.HTTPStatus(sluice.ErrorCode(err)) == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", `Bearer realm="sluice", error="invalid_token"`)
			}
			s.fail(w, r, err)
			return
		}
		info(r.Context()).sub = id.Subject
		h(w, r, id)
	})
}

func bearer(r *http.Request) (string, bool) {
	a := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(a, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// fail answers err and notes its code for the access log; causes of
// internal errors are logged, never sent.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	code := sluice.ErrorCode(err)
	info(r.Context()).code = string(code)
	retryAfter(w, err)
	if sluice.HTTPStatus(code) >= 500 {
		s.log.LogAttrs(r.Context(), slog.LevelError, "request failed",
			slog.String("request_id", info(r.Context()).id), slog.String("code", string(code)), slog.String("error", err.Error()))
	}
	writeError(w, err)
}

// ErrorBody is the JSON shape of every error answer.
type ErrorBody struct {
	Error struct {
		Code    sluice.Code `json:"code"`
		Message string      `json:"message"`
	} `json:"error"`
}

func writeError(w http.ResponseWriter, err error) {
	var b ErrorBody
	b.Error.Code = sluice.ErrorCode(err)
	b.Error.Message = sluice.ErrorMessage(err)
	writeJSON(w, sluice.HTTPStatus(b.Error.Code), b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// decode reads a small JSON body into v.
func decode(r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return sluice.Errorf(sluice.CodeInvalidRequest, "send JSON with Content-Type: application/json")
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	if err := dec.Decode(v); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.Is(err, io.EOF):
			return sluice.Errorf(sluice.CodeInvalidRequest, "the request body is empty; send a JSON object")
		case errors.As(err, &te):
			return sluice.Errorf(sluice.CodeInvalidRequest, "field %q must be a %s", te.Field, te.Type)
		case errors.As(err, &se):
			return sluice.Errorf(sluice.CodeInvalidRequest, "the body is not valid JSON (at byte %d)", se.Offset)
		default:
			return sluice.Errorf(sluice.CodeInvalidRequest, "the body is not a valid JSON object")
		}
	}
	return nil
}

func (s *Server) meta(r *http.Request) sluice.RequestMeta {
	return sluice.MetaOf(r, s.cfg.TrustProxy)
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz is ready only when the store, the ledger and every extra check
// answer; it names what is not.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	checks := map[string]func(context.Context) error{"store": s.svc.Store.Ping, "ledger": s.svc.Ledger.Ping}
	for name, c := range s.cfg.Ready {
		checks[name] = c
	}
	failed := map[string]string{}
	for name, c := range checks {
		if err := c(ctx); err != nil {
			failed[name] = sluice.ErrorMessage(err)
			s.log.Warn("not ready", "check", name, "error", err.Error())
		}
	}
	if len(failed) > 0 {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "unavailable", "failed": failed})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}
