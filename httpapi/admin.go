package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/sluicehq/sluice"
)

// The admin API (/admin/v1/...) is for operators: ban, unban, usage, quota
// overrides, purge and the audit log. It takes its own bearer token (the
// admin.token_file), never an end user's ID token, and is off when no
// admin token is configured.

// AdminBan is the body of POST /admin/v1/users/{sub}/ban.
type AdminBan struct {
	Reason      string `json:"reason,omitempty"`
	DeleteFiles bool   `json:"delete_files,omitempty"`
}

// AdminResult answers ban and purge.
type AdminResult struct {
	Issuer  string `json:"iss"`
	Subject string `json:"sub"`
	Deleted int    `json:"deleted"`
}

// AuditList is the answer to GET /admin/v1/audit.
type AuditList struct {
	Events []sluice.AuditEvent `json:"events"`
}

func (s *Server) adminRoutes() {
	if s.cfg.AdminToken == "" {
		return
	}
	m := s.mux
	m.Handle("GET /admin/v1/users/{sub}", s.admin(s.adminUsage))
	m.Handle("POST /admin/v1/users/{sub}/ban", s.admin(s.adminBan))
	m.Handle("POST /admin/v1/users/{sub}/unban", s.admin(s.adminUnban))
	m.Handle("PUT /admin/v1/users/{sub}/limits", s.admin(s.adminLimits))
	m.Handle("POST /admin/v1/users/{sub}/purge", s.admin(s.adminPurge))
	m.Handle("GET /admin/v1/audit", s.admin(s.adminAudit))
}

// admin checks the admin token in constant time (over SHA-256 digests, so
// not even its length leaks) before h runs.
func (s *Server) admin(h http.HandlerFunc) http.Handler {
	want := sha256.Sum256([]byte(s.cfg.AdminToken))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := bearer(r)
		got := sha256.Sum256([]byte(tok))
		if !ok || subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="sluice-admin"`)
			s.fail(w, r, sluice.Errorf(sluice.CodeAdminUnauthorized, "the admin API needs the admin token (admin.token_file), not a user's token"))
			return
		}
		info(r.Context()).sub = "admin"
		h(w, r)
	})
}

// owner is the user a request names: {sub} and ?issuer=, which may be
// left out when the server trusts exactly one issuer.
func (s *Server) owner(r *http.Request) (sluice.Owner, error) {
	o := sluice.Owner{Issuer: r.URL.Query().Get("issuer"), Subject: r.PathValue("sub")}
	if o.Issuer == "" {
		o.Issuer = s.cfg.DefaultIssuer
	}
	if o.Issuer == "" {
		return o, sluice.Errorf(sluice.CodeInvalidRequest, "several issuers are configured: say which with ?issuer=")
	}
	if o.Subject == "" {
		return o, sluice.Errorf(sluice.CodeInvalidRequest, "a subject is required")
	}
	return o, nil
}

func (s *Server) adminUsage(w http.ResponseWriter, r *http.Request) {
	o, err := s.owner(r)
	if err == nil {
		var u *sluice.AdminUser
		if u, err = s.svc.UserUsage(r.Context(), o); err == nil {
			writeJSON(w, http.StatusOK, u)
			return
		}
	}
	s.fail(w, r, err)
}

func (s *Server) adminBan(w http.ResponseWriter, r *http.Request) {
	var req AdminBan
	o, err := s.owner(r)
	if err == nil && r.ContentLength != 0 {
		err = decode(r, &req)
	}
	if err == nil {
		var n int
		if n, err = s.svc.Ban(r.Context(), o, req.Reason, req.DeleteFiles); err == nil {
			writeJSON(w, http.StatusOK, AdminResult{Issuer: o.Issuer, Subject: o.Subject, Deleted: n})
			return
		}
	}
	s.fail(w, r, err)
}

func (s *Server) adminUnban(w http.ResponseWriter, r *http.Request) {
	o, err := s.owner(r)
	if err == nil {
		if err = s.svc.Unban(r.Context(), o); err == nil {
			writeJSON(w, http.StatusOK, AdminResult{Issuer: o.Issuer, Subject: o.Subject})
			return
		}
	}
	s.fail(w, r, err)
}

func (s *Server) adminLimits(w http.ResponseWriter, r *http.Request) {
	var v sluice.LimitsOver
	o, err := s.owner(r)
	if err == nil {
		err = decode(r, &v)
	}
	if err == nil {
		err = s.svc.SetLimits(r.Context(), o, v)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.adminUsage(w, r)
}

func (s *Server) adminPurge(w http.ResponseWriter, r *http.Request) {
	o, err := s.owner(r)
	if err == nil {
		var n int
		if n, err = s.svc.Purge(r.Context(), o); err == nil {
			writeJSON(w, http.StatusOK, AdminResult{Issuer: o.Issuer, Subject: o.Subject, Deleted: n})
			return
		}
	}
	s.fail(w, r, err)
}

func (s *Server) adminAudit(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	aq := sluice.AuditQuery{Owner: sluice.Owner{Issuer: q.Get("issuer"), Subject: q.Get("sub")}}
	if v := q.Get("since"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			s.fail(w, r, sluice.Errorf(sluice.CodeInvalidRequest, "since must be an RFC 3339 time, e.g. 2026-01-02T15:04:05Z"))
			return
		}
		aq.Since = t
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10000 {
			s.fail(w, r, sluice.Errorf(sluice.CodeInvalidRequest, "limit must be a number from 1 to 10000"))
			return
		}
		aq.Limit = n
	}
	events, err := s.svc.AuditLog(r.Context(), aq)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, AuditList{Events: events})
}

// retryAfter sets Retry-After from err, in whole seconds rounded up.
func retryAfter(w http.ResponseWriter, err error) {
	if d := sluice.RetryAfter(err); d > 0 {
		w.Header().Set("Retry-After", strconv.FormatInt(int64(math.Ceil(d.Seconds())), 10))
	}
}
